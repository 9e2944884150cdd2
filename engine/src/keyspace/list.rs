//! List values: a double-ended queue of byte strings.
//!
//! The deque keeps pushes and pops at both ends O(1) and indexing O(1). `OBJECT ENCODING` reports the name
//! Redis 7.2 would use for the same contents (`listpack` while the list would fit one 8 KiB listpack,
//! `quicklist` beyond, converting back below half that size, as Redis does).

use std::collections::VecDeque;

use super::dict::alloc_size;

/// Size limit of a Redis listpack-encoded list (`list-max-listpack-size -2`).
const LISTPACK_BYTES: usize = 8 * 1024;

/// A list value.
#[derive(Clone, Default)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
    bytes: usize,
    packed_bytes: usize,
    quicklist: bool,
}

fn packed_size(item: &[u8]) -> usize {
    item.len() + if item.len() < 64 { 2 } else { 4 }
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.items.capacity() * 16 + self.bytes
    }

    /// Redis' name for the encoding of a list of this size.
    pub fn encoding(&self) -> &'static str {
        if self.quicklist {
            "quicklist"
        } else {
            "listpack"
        }
    }

    fn added(&mut self, item: &[u8]) {
        self.bytes += alloc_size(item.len());
        self.packed_bytes += packed_size(item);
        if self.packed_bytes > LISTPACK_BYTES {
            self.quicklist = true;
        }
    }

    fn removed(&mut self, item: &[u8]) {
        self.bytes -= alloc_size(item.len());
        self.packed_bytes -= packed_size(item);
        self.settle();
    }

    /// Follows removals: back to the listpack name below half its limit, and a smaller deque.
    fn settle(&mut self) {
        if self.packed_bytes <= LISTPACK_BYTES / 2 {
            self.quicklist = false;
        }
        if self.items.capacity() > 64 && self.items.len() * 4 < self.items.capacity() {
            self.items.shrink_to(self.items.len() * 2);
        }
    }

    /// Adds an element at the head (`left`) or tail.
    pub fn push(&mut self, item: &[u8], left: bool) {
        self.added(item);
        if left {
            self.items.push_front(item.into());
        } else {
            self.items.push_back(item.into());
        }
    }

    /// Removes an element from the head (`left`) or tail.
    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        let item = if left {
            self.items.pop_front()
        } else {
            self.items.pop_back()
        }?;
        self.removed(&item);
        Some(item)
    }

    /// The element at an index.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|b| &**b)
    }

    /// Replaces the element at an index (which must exist).
    pub fn set(&mut self, i: usize, item: &[u8]) {
        self.added(item);
        let old = std::mem::replace(&mut self.items[i], item.into());
        self.removed(&old);
    }

    /// Inserts an element before index `i`.
    pub fn insert(&mut self, i: usize, item: &[u8]) {
        self.added(item);
        self.items.insert(i, item.into());
    }

    /// Removes the element at index `i`.
    pub fn remove(&mut self, i: usize) {
        if let Some(old) = self.items.remove(i) {
            self.removed(&old);
        }
    }

    /// Keeps only indexes `start..=end` (everything when None is given: the list empties).
    pub fn trim(&mut self, keep: Option<(usize, usize)>) {
        let (start, end) = keep.unwrap_or((self.items.len(), self.items.len()));
        let tail: Vec<_> = self
            .items
            .drain((end + 1).min(self.items.len())..)
            .collect();
        let head: Vec<_> = self.items.drain(..start.min(self.items.len())).collect();
        for item in head.iter().chain(&tail) {
            self.removed(item);
        }
    }

    /// Removes up to `limit` elements equal to `item` (all when `limit` is 0), scanning from the tail when
    /// `from_tail`; returns how many were removed.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let n = self.items.len();
        let mut doomed = vec![false; n];
        let mut removed = 0;
        for k in 0..n {
            let i = if from_tail { n - 1 - k } else { k };
            if removed < limit && &*self.items[i] == item {
                doomed[i] = true;
                removed += 1;
            }
        }
        if removed > 0 {
            let mut i = 0;
            self.items.retain(|_| {
                i += 1;
                !doomed[i - 1]
            });
            self.bytes -= removed * alloc_size(item.len());
            self.packed_bytes -= removed * packed_size(item);
            self.settle();
        }
        removed
    }

    /// Every element, head first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|b| &**b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_follows_redis_listpack_limit_with_hysteresis() {
        let mut l = List::default();
        let item = [b'x'; 100];
        while l.encoding() == "listpack" {
            l.push(&item, false);
        }
        assert_eq!(l.len(), 8192 / 104 + 1);
        l.pop(true);
        assert_eq!(l.encoding(), "quicklist");
        l.trim(Some((0, 20)));
        assert_eq!(l.len(), 21);
        assert_eq!(l.encoding(), "listpack");
    }

    #[test]
    fn trim_keeps_the_requested_range() {
        let mut l = List::default();
        for i in 0..10u8 {
            l.push(&[i], false);
        }
        l.trim(Some((2, 4)));
        assert_eq!(l.iter().collect::<Vec<_>>(), [&[2u8][..], &[3], &[4]]);
        l.trim(None);
        assert!(l.is_empty());
        assert_eq!(l.heap_size(), l.items.capacity() * 16);
    }
}
