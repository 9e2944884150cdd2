//! A packed sequence of byte strings in one allocation: the compact encoding of small hashes, sets and sorted
//! sets (Redis calls its equivalent a listpack).
//!
//! Each item is a LEB128 length followed by its bytes. A million small hashes then cost a million small buffers
//! instead of a million hash tables; operations scan linearly, which is faster than hashing at these sizes
//! (the collections convert to a [`Dict`](super::dict::Dict) past 128 items or 64-byte items).

/// Items at most this long may stay packed.
pub const MAX_ITEM: usize = 64;
/// Collections of at most this many elements may stay packed.
pub const MAX_ITEMS: usize = 128;

/// A packed sequence of byte strings.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    buf: Vec<u8>,
    len: u32,
}

fn varint_len(n: usize) -> usize {
    let mut len = 1;
    let mut n = n >> 7;
    while n > 0 {
        len += 1;
        n >>= 7;
    }
    len
}

fn encode(item: &[u8], out: &mut Vec<u8>) {
    let mut n = item.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(item);
}

impl Pack {
    /// Number of items.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the item at byte offset `at`; returns it and the offset of the next item.
    fn read(&self, at: usize) -> (&[u8], usize) {
        let (mut n, mut shift, mut i) = (0usize, 0, at);
        loop {
            let b = self.buf[i];
            n |= ((b & 0x7f) as usize) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        (&self.buf[i..i + n], i + n)
    }

    /// Items with their byte offsets, in order.
    pub fn iter(&self) -> PackIter<'_> {
        PackIter { pack: self, at: 0 }
    }

    /// Appends an item.
    pub fn push(&mut self, item: &[u8]) {
        self.grow(item.len() + varint_len(item.len()));
        encode(item, &mut self.buf);
        self.len += 1;
    }

    /// Inserts items before the item at byte offset `at` (or at the end when `at` is the length in bytes).
    pub fn insert(&mut self, at: usize, items: &[&[u8]]) {
        let mut bytes = Vec::new();
        for item in items {
            encode(item, &mut bytes);
        }
        self.grow(bytes.len());
        self.buf.splice(at..at, bytes);
        self.len += items.len() as u32;
    }

    /// Removes `n` items starting at byte offset `at`.
    pub fn remove(&mut self, at: usize, n: usize) {
        let mut end = at;
        for _ in 0..n {
            end = self.read(end).1;
        }
        self.buf.drain(at..end);
        self.len -= n as u32;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Makes room for `more` bytes. Packs are small (a few KiB at most) and millions of them may exist, so
    /// the buffer grows to the exact size instead of doubling: a hash of 80 bytes occupies 80, not 128.
    fn grow(&mut self, more: usize) {
        self.buf.reserve_exact(more);
    }

    /// Replaces the item at byte offset `at`.
    pub fn replace(&mut self, at: usize, item: &[u8]) {
        let end = self.read(at).1;
        let mut bytes = Vec::with_capacity(item.len() + 2);
        encode(item, &mut bytes);
        self.buf.splice(at..end, bytes);
    }

    /// Byte length (the offset one past the last item).
    pub fn end(&self) -> usize {
        self.buf.len()
    }
}

/// Iterator over a pack's items and their offsets.
pub struct PackIter<'a> {
    pack: &'a Pack,
    at: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.pack.buf.len() {
            return None;
        }
        let at = self.at;
        let (item, next) = self.pack.read(at);
        self.at = next;
        Some((at, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(p: &Pack) -> Vec<Vec<u8>> {
        p.iter().map(|(_, i)| i.to_vec()).collect()
    }

    #[test]
    fn items_round_trip_through_edits() {
        let mut p = Pack::default();
        let long = vec![b'x'; 300];
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        assert_eq!(items(&p), vec![b"a".to_vec(), long.clone(), vec![]]);
        let second = p.iter().nth(1).expect("item").0;
        p.replace(second, b"bb");
        p.insert(0, &[b"first", b"then"]);
        assert_eq!(p.len(), 5);
        let at = p.iter().nth(1).expect("item").0;
        p.remove(at, 2);
        assert_eq!(items(&p), vec![b"first".to_vec(), b"bb".to_vec(), vec![]]);
        p.insert(p.end(), &[b"last"]);
        assert_eq!(items(&p).last().map(Vec::as_slice), Some(&b"last"[..]));
    }
}
