//! List values: a deque of chunks, each chunk one buffer of elements stored back to back (Redis' quicklist of
//! listpacks, in spirit).
//!
//! A chunk holds up to 8 KiB or 256 elements (one larger element gets a chunk of its own) and keeps the start
//! offset of each element, so both ends push and pop in O(1) without an allocation per element, and an element
//! costs its bytes plus four. A chunk has free room at both ends: pushing at the head fills it downwards, at the
//! tail upwards. Indexing walks chunk by chunk from the nearer end (O(n / 256), as LINDEX is O(n) in Redis);
//! changes in the middle (LSET of another length, LINSERT, LREM) rewrite one chunk.
//!
//! `OBJECT ENCODING` reports `quicklist`, as Redis 7.0 does for every list.

use std::collections::VecDeque;

/// Bytes of elements per chunk.
const CHUNK_BYTES: usize = 8 * 1024;
/// Elements per chunk.
const CHUNK_ITEMS: usize = 256;

/// Elements stored back to back in `buf[head..tail]`.
#[derive(Clone, Default)]
struct Chunk {
    buf: Box<[u8]>,
    head: u32,
    tail: u32,
    /// Offset in `buf` of each element; an element ends where the next starts (the last at `tail`).
    starts: VecDeque<u32>,
}

impl Chunk {
    fn len(&self) -> usize {
        self.starts.len()
    }

    fn used(&self) -> usize {
        (self.tail - self.head) as usize
    }

    /// Heap bytes.
    fn heap(&self) -> usize {
        self.buf.len() + self.starts.capacity() * 4
    }

    fn item(&self, i: usize) -> &[u8] {
        let start = self.starts[i] as usize;
        let end = self.starts.get(i + 1).map_or(self.tail, |&e| e) as usize;
        &self.buf[start..end]
    }

    /// An empty chunk of full size, to be filled from its tail downwards (`front`) or from its head.
    fn full_size(front: bool) -> Chunk {
        let at = if front { CHUNK_BYTES as u32 } else { 0 };
        Chunk {
            buf: vec![0u8; CHUNK_BYTES].into_boxed_slice(),
            head: at,
            tail: at,
            starts: VecDeque::with_capacity(64),
        }
    }

    /// True when an element of `n` bytes may join (an empty chunk takes anything).
    fn fits(&self, n: usize) -> bool {
        self.starts.is_empty() || (self.len() < CHUNK_ITEMS && self.used() + n <= CHUNK_BYTES)
    }

    /// Moves the elements into a larger buffer with room for `n` more bytes at the head (`front`) or tail.
    fn grow(&mut self, n: usize, front: bool) {
        let used = self.used();
        let cap = (used + n).max((self.buf.len() * 2).clamp(64, CHUNK_BYTES));
        let mut buf = vec![0u8; cap].into_boxed_slice();
        let free = cap - used;
        let head = if cap == self.buf.len() {
            // At full size already, pushed from both ends: the free room is shared between them.
            if front {
                free - (free - n) / 2
            } else {
                (free - n) / 2
            }
        } else if front {
            free
        } else {
            0
        };
        buf[head..head + used].copy_from_slice(&self.buf[self.head as usize..self.tail as usize]);
        let shift = head as i64 - self.head as i64;
        for s in &mut self.starts {
            *s = (*s as i64 + shift) as u32;
        }
        self.buf = buf;
        self.head = head as u32;
        self.tail = (head + used) as u32;
    }

    fn push(&mut self, item: &[u8], front: bool) {
        let n = item.len();
        if front {
            if (self.head as usize) < n {
                self.grow(n, true);
            }
            let at = self.head as usize - n;
            self.buf[at..at + n].copy_from_slice(item);
            self.head = at as u32;
            self.starts.push_front(at as u32);
        } else {
            if self.buf.len() - (self.tail as usize) < n {
                self.grow(n, false);
            }
            let at = self.tail as usize;
            self.buf[at..at + n].copy_from_slice(item);
            self.tail = (at + n) as u32;
            self.starts.push_back(at as u32);
        }
    }

    fn pop(&mut self, front: bool) -> Option<Box<[u8]>> {
        if front {
            let item: Box<[u8]> = self.item(0).into();
            self.starts.pop_front();
            self.head = self.starts.front().map_or(self.tail, |&s| s);
            Some(item)
        } else {
            let item: Box<[u8]> = self.item(self.len().checked_sub(1)?).into();
            self.tail = self.starts.pop_back()?;
            Some(item)
        }
    }
}

/// A list value.
#[derive(Clone, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// Heap bytes of the chunks' buffers and offsets.
    chunk_heap: usize,
}

impl List {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Chunk>() + self.chunk_heap
    }

    /// Redis' name for the encoding of a list of this size.
    pub fn encoding(&self) -> &'static str {
        // Redis 7.0 encodes every list as a quicklist.
        "quicklist"
    }

    fn added(&mut self) {
        self.len += 1;
    }

    fn removed(&mut self) {
        self.len -= 1;
    }

    /// Changes chunk `ci` with `f`, keeping the heap count; drops the chunk if it ends empty.
    fn edit<R>(&mut self, ci: usize, f: impl FnOnce(&mut Chunk) -> R) -> R {
        let c = &mut self.chunks[ci];
        let before = c.heap();
        let r = f(c);
        let after = c.heap();
        let empty = c.starts.is_empty();
        self.chunk_heap = self.chunk_heap + after - before;
        if empty {
            self.chunk_heap -= after;
            self.chunks.remove(ci);
            if self.chunks.capacity() > 16 && self.chunks.len() * 4 < self.chunks.capacity() {
                self.chunks.shrink_to(self.chunks.len() * 2);
            }
        }
        r
    }

    /// Adds an element at the head (`left`) or tail.
    pub fn push(&mut self, item: &[u8], left: bool) {
        self.added();
        let end = if left {
            self.chunks.front()
        } else {
            self.chunks.back()
        };
        if !end.is_some_and(|c| c.fits(item.len())) {
            // The first chunk starts small and grows with the list; once a list spans chunks, new ones are
            // made at full size rather than grown step by step.
            let fresh = if self.chunks.is_empty() {
                Chunk::default()
            } else {
                Chunk::full_size(left)
            };
            self.chunk_heap += fresh.heap();
            if left {
                self.chunks.push_front(fresh);
            } else {
                self.chunks.push_back(fresh);
            }
        }
        let ci = if left { 0 } else { self.chunks.len() - 1 };
        self.edit(ci, |c| c.push(item, left));
    }

    /// Removes an element from the head (`left`) or tail.
    pub fn pop(&mut self, left: bool) -> Option<Box<[u8]>> {
        if self.chunks.is_empty() {
            return None;
        }
        let ci = if left { 0 } else { self.chunks.len() - 1 };
        let item = self.edit(ci, |c| c.pop(left))?;
        self.removed();
        Some(item)
    }

    /// The chunk and position within it of index `i` (< len), walking from the nearer end.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut k = i;
            for (ci, c) in self.chunks.iter().enumerate() {
                if k < c.len() {
                    return (ci, k);
                }
                k -= c.len();
            }
        } else {
            let mut k = self.len - 1 - i;
            for (ci, c) in self.chunks.iter().enumerate().rev() {
                if k < c.len() {
                    return (ci, c.len() - 1 - k);
                }
                k -= c.len();
            }
        }
        unreachable!("index {i} within a list of {}", self.len)
    }

    /// The element at an index.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (ci, j) = self.locate(i);
        Some(self.chunks[ci].item(j))
    }

    /// Replaces chunk `ci` by chunks holding its elements as `f` rewrites them.
    fn rewrite(&mut self, ci: usize, f: impl FnOnce(&mut Vec<Box<[u8]>>)) {
        let old = &self.chunks[ci];
        let mut items: Vec<Box<[u8]>> = (0..old.len()).map(|j| old.item(j).into()).collect();
        f(&mut items);
        let mut fresh: Vec<Chunk> = Vec::new();
        for item in &items {
            if !fresh.last().is_some_and(|c| c.fits(item.len())) {
                fresh.push(Chunk::default());
            }
            if let Some(c) = fresh.last_mut() {
                c.push(item, false);
            }
        }
        self.chunk_heap -= self.chunks[ci].heap();
        self.chunk_heap += fresh.iter().map(Chunk::heap).sum::<usize>();
        self.chunks.remove(ci);
        for (k, c) in fresh.into_iter().enumerate() {
            self.chunks.insert(ci + k, c);
        }
    }

    /// Replaces the element at an index (which must exist).
    pub fn set(&mut self, i: usize, item: &[u8]) {
        let (ci, j) = self.locate(i);
        let old = self.chunks[ci].item(j);
        let old_len = old.len();
        if old_len == item.len() {
            let c = &mut self.chunks[ci];
            let start = c.starts[j] as usize;
            c.buf[start..start + old_len].copy_from_slice(item);
        } else {
            self.rewrite(ci, |items| items[j] = item.into());
        }
    }

    /// Inserts an element before index `i` (`i == len` appends).
    pub fn insert(&mut self, i: usize, item: &[u8]) {
        if i == 0 || i >= self.len {
            self.push(item, i == 0);
            return;
        }
        let (ci, j) = self.locate(i);
        self.added();
        self.rewrite(ci, |items| items.insert(j, item.into()));
    }

    /// Removes the element at index `i`.
    pub fn remove(&mut self, i: usize) {
        if i >= self.len {
            return;
        }
        let (ci, j) = self.locate(i);
        self.removed();
        if self.chunks[ci].len() == 1 {
            self.edit(ci, |c| c.pop(true));
        } else {
            self.rewrite(ci, |items| {
                items.remove(j);
            });
        }
    }

    /// Keeps only indexes `start..=end` (everything when None is given: the list empties).
    pub fn trim(&mut self, keep: Option<(usize, usize)>) {
        let (start, end) = keep.unwrap_or((self.len, self.len));
        let mut drop_back = self.len.saturating_sub(end.saturating_add(1));
        let mut drop_front = start.min(self.len - drop_back);
        // Whole chunks first, then single elements.
        for left in [true, false] {
            let n = if left {
                &mut drop_front
            } else {
                &mut drop_back
            };
            while *n > 0 {
                let ci = if left { 0 } else { self.chunks.len() - 1 };
                let c = &self.chunks[ci];
                if c.len() <= *n {
                    *n -= c.len();
                    self.len -= c.len();
                    self.chunk_heap -= c.heap();
                    if left {
                        self.chunks.pop_front();
                    } else {
                        self.chunks.pop_back();
                    }
                } else {
                    self.pop(left);
                    *n -= 1;
                }
            }
        }
        self.removed_many();
    }

    /// Follows removals of many elements: the chunk deque's size.
    fn removed_many(&mut self) {
        if self.chunks.capacity() > 16 && self.chunks.len() * 4 < self.chunks.capacity() {
            self.chunks.shrink_to(self.chunks.len() * 2);
        }
    }

    /// Removes up to `limit` elements equal to `item` (all when `limit` is 0), scanning from the tail when
    /// `from_tail`; returns how many were removed.
    pub fn remove_matching(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let n = self.len;
        let mut doomed = vec![false; n];
        let mut removed = 0;
        let mut mark = |i: usize, e: &[u8]| {
            if removed < limit && e == item {
                doomed[i] = true;
                removed += 1;
            }
        };
        if from_tail {
            self.iter().enumerate().rev().for_each(|(i, e)| mark(i, e));
        } else {
            self.iter().enumerate().for_each(|(i, e)| mark(i, e));
        }
        if removed > 0 {
            let mut kept = List::default();
            for (i, e) in self.iter().enumerate() {
                if !doomed[i] {
                    kept.push(e, false);
                }
            }
            *self = kept;
        }
        removed
    }

    /// Every element, head first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            list: self,
            front: (0, 0),
            back: (self.chunks.len(), 0),
            left: self.len,
        }
    }
}

/// Iterator over a list's elements.
pub struct Iter<'a> {
    list: &'a List,
    /// Chunk and position of the next element from the front.
    front: (usize, usize),
    /// Chunk and position just past the next element from the back (position 0: the chunk before's end).
    back: (usize, usize),
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let chunks = &self.list.chunks;
        while self.front.1 >= chunks[self.front.0].len() {
            self.front = (self.front.0 + 1, 0);
        }
        let item = chunks[self.front.0].item(self.front.1);
        self.front.1 += 1;
        self.left -= 1;
        Some(item)
    }

    fn nth(&mut self, mut n: usize) -> Option<&'a [u8]> {
        if n >= self.left {
            self.left = 0;
            return None;
        }
        // Whole chunks are skipped by their length.
        let chunks = &self.list.chunks;
        self.left -= n;
        loop {
            let avail = chunks[self.front.0].len() - self.front.1.min(chunks[self.front.0].len());
            if n < avail {
                self.front.1 += n;
                break;
            }
            n -= avail;
            self.front = (self.front.0 + 1, 0);
        }
        self.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let chunks = &self.list.chunks;
        while self.back.1 == 0 {
            self.back.0 -= 1;
            self.back.1 = chunks[self.back.0].len();
        }
        self.back.1 -= 1;
        self.left -= 1;
        Some(chunks[self.back.0].item(self.back.1))
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_list_is_a_quicklist_as_in_redis_7_0() {
        let mut l = List::default();
        l.push(b"x", false);
        assert_eq!(l.encoding(), "quicklist");
        for _ in 0..1000 {
            l.push(&[b'x'; 100], false);
        }
        assert_eq!(l.encoding(), "quicklist");
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
        assert_eq!(
            l.heap_size(),
            l.chunks.capacity() * std::mem::size_of::<Chunk>()
        );
    }

    /// Recomputes the heap count from scratch.
    fn heap_of(l: &List) -> usize {
        l.chunks.iter().map(Chunk::heap).sum()
    }

    #[test]
    fn every_operation_matches_a_deque_model_across_many_chunks() {
        fastrand::seed(3);
        let mut l = List::default();
        let mut model: VecDeque<Vec<u8>> = VecDeque::new();
        let item = |n: usize| -> Vec<u8> {
            // Mostly small elements, sometimes one larger than a chunk.
            let len = if fastrand::u8(..50) == 0 {
                9000
            } else {
                fastrand::usize(..80)
            };
            (0..len).map(|k| (n + k) as u8).collect()
        };
        for round in 0..30_000 {
            let op = fastrand::u8(..12);
            let n = model.len();
            match op {
                0..=2 => {
                    let v = item(round);
                    l.push(&v, true);
                    model.push_front(v);
                }
                3..=5 => {
                    let v = item(round);
                    l.push(&v, false);
                    model.push_back(v);
                }
                6 => assert_eq!(l.pop(true).map(Vec::from), model.pop_front()),
                7 => assert_eq!(l.pop(false).map(Vec::from), model.pop_back()),
                8 if n > 0 => {
                    let (i, v) = (fastrand::usize(..n), item(round));
                    l.set(i, &v);
                    model[i] = v;
                }
                9 => {
                    let (i, v) = (fastrand::usize(..=n), item(round));
                    l.insert(i, &v);
                    model.insert(i, v);
                }
                10 if n > 0 => {
                    let i = fastrand::usize(..n);
                    l.remove(i);
                    model.remove(i);
                }
                11 if n > 0 && round % 50 == 0 => {
                    let target = model[fastrand::usize(..n)].clone();
                    let (limit, tail) = (fastrand::usize(..3), fastrand::bool());
                    let removed = l.remove_matching(&target, limit, tail);
                    let mut want = 0;
                    let mut kept: Vec<Vec<u8>> = model.iter().cloned().collect();
                    let order: Vec<usize> = if tail {
                        (0..n).rev().collect()
                    } else {
                        (0..n).collect()
                    };
                    let mut doomed = vec![false; n];
                    for i in order {
                        if (limit == 0 || want < limit) && kept[i] == target {
                            doomed[i] = true;
                            want += 1;
                        }
                    }
                    let mut k = 0;
                    kept.retain(|_| {
                        k += 1;
                        !doomed[k - 1]
                    });
                    assert_eq!(removed, want);
                    model = kept.into();
                }
                _ => {}
            }
            assert_eq!(l.len(), model.len());
            if round % 1000 == 0 {
                assert!(l.iter().eq(model.iter().map(|v| &v[..])));
                assert!(l.iter().rev().eq(model.iter().rev().map(|v| &v[..])));
                assert_eq!(l.chunk_heap, heap_of(&l));
                for i in (0..model.len()).step_by(7) {
                    assert_eq!(l.get(i), Some(&model[i][..]));
                    assert_eq!(l.iter().nth(i), Some(&model[i][..]));
                }
            }
        }
        let n = model.len();
        assert!(n > 1000, "the model run keeps a long list ({n})");
        l.trim(Some((100, n - 101)));
        let want: Vec<Vec<u8>> = model.iter().skip(100).take(n - 200).cloned().collect();
        assert!(l.iter().eq(want.iter().map(|v| &v[..])));
        assert_eq!(l.chunk_heap, heap_of(&l));
    }

    #[test]
    fn a_pushed_element_costs_its_bytes_plus_a_little() {
        let mut l = List::default();
        for i in 0..100_000u32 {
            l.push(format!("{i:064}").as_bytes(), true);
        }
        let per = l.heap_size() as f64 / 100_000.0;
        assert!(per < 72.0, "{per} bytes per 64-byte element");
    }
}
