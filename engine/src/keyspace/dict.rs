//! A dictionary of byte-string keys for large collections (hash fields, set members, sorted-set members).
//!
//! Entries live in a slot arena (`Vec` of slots, holes reused through a free list) and a `hashbrown::HashTable`
//! indexes slot numbers by key hash, so each element costs its slot plus four bytes of index. A slot number is
//! stable for the life of its element, which gives the SCAN family its guarantee (the cursor is a slot number:
//! an element present for the whole iteration is returned exactly once) and lets the sorted set's ordered index
//! use slot numbers as node ids. The arena is compacted only when it is mostly holes; [`Dict::compact`] returns
//! the renumbering so that users of slot numbers can follow.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use hashbrown::HashTable;

/// One hasher for every collection of the process, seeded randomly at start (hash flooding resistance).
static HASHER: LazyLock<foldhash::fast::FixedState> =
    LazyLock::new(|| foldhash::fast::FixedState::with_seed(fastrand::u64(..)));

fn hash_of(key: &[u8]) -> u64 {
    HASHER.hash_one(key)
}

/// Heap bytes an allocation of `len` bytes occupies (allocator classes are 8-byte granular for small sizes).
pub fn alloc_size(len: usize) -> usize {
    if len == 0 {
        0
    } else {
        (len + 7) & !7
    }
}

/// Longest key stored inside its slot.
const INLINE: usize = 22;

/// A key: up to 22 bytes inside the slot, longer ones in their own allocation. Short keys (most members and
/// fields) then cost no allocation and a lookup reads the slot only, not a second cache line elsewhere.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE {
            let mut bytes = [0u8; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Key::Heap(key.into())
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }

    /// Heap bytes outside the slot.
    fn heap(key: &[u8]) -> usize {
        if key.len() <= INLINE {
            0
        } else {
            alloc_size(key.len())
        }
    }
}

/// A dictionary from byte strings to `V`, with stable slot numbers.
#[derive(Clone)]
pub struct Dict<V> {
    slots: Vec<Option<(Key, V)>>,
    free: Vec<u32>,
    index: HashTable<u32>,
    len: usize,
    key_bytes: usize,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict {
            slots: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            len: 0,
            key_bytes: 0,
        }
    }
}

impl<V> Dict<V> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots (live or free); slot numbers are below this.
    pub fn slot_count(&self) -> usize {
        self.slots.len()
    }

    /// Heap bytes of the arena, the index and the keys (not what `V` itself may own).
    pub fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Option<(Key, V)>>()
            + self.free.capacity() * 4
            + self.index.capacity() * 5
            + self.key_bytes
    }

    /// The slot of `key`.
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.index
            .find(
                hash_of(key),
                |&s| matches!(&slots[s as usize], Some((k, _)) if k.bytes() == key),
            )
            .copied()
    }

    /// The key and value in a live slot.
    ///
    /// # Panics
    /// When the slot is free (a caller bug).
    pub fn at(&self, slot: u32) -> (&[u8], &V) {
        match &self.slots[slot as usize] {
            Some((k, v)) => (k.bytes(), v),
            None => unreachable!("slot {slot} is free"),
        }
    }

    /// The value in a live slot, mutably.
    pub fn value_mut(&mut self, slot: u32) -> &mut V {
        match &mut self.slots[slot as usize] {
            Some((_, v)) => v,
            None => unreachable!("slot {slot} is free"),
        }
    }

    /// The key and value in a slot, if live.
    pub fn get_slot(&self, slot: usize) -> Option<(&[u8], &V)> {
        self.slots
            .get(slot)
            .and_then(|s| s.as_ref().map(|(k, v)| (k.bytes(), v)))
    }

    /// Inserts a key that is not present; returns its slot.
    pub fn insert_new(&mut self, key: &[u8], value: V) -> u32 {
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.slots.push(None);
                (self.slots.len() - 1) as u32
            }
        };
        self.key_bytes += Key::heap(key);
        self.slots[slot as usize] = Some((Key::new(key), value));
        let slots = &self.slots;
        self.index
            .insert_unique(hash_of(key), slot, |&s| match &slots[s as usize] {
                Some((k, _)) => hash_of(k.bytes()),
                None => 0,
            });
        self.len += 1;
        slot
    }

    /// Removes the element in a live slot; returns its value.
    pub fn remove_slot(&mut self, slot: u32) -> V {
        let Some((key, value)) = self.slots[slot as usize].take() else {
            unreachable!("slot {slot} is free")
        };
        let key = key.bytes();
        if let Ok(e) = self.index.find_entry(hash_of(key), |&s| s == slot) {
            e.remove();
        }
        self.key_bytes -= Key::heap(key);
        self.free.push(slot);
        self.len -= 1;
        if self.len == 0 {
            *self = Dict::default();
        }
        value
    }

    /// Live elements in slot order, with their slots.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &[u8], &V)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|(k, v)| (i as u32, k.bytes(), v)))
    }

    /// A random live slot, or None when empty.
    pub fn random_slot(&self) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        // The arena is at least 1/8 live (see `compact`), so this takes a few tries on average.
        loop {
            let i = fastrand::usize(..self.slots.len());
            if self.slots[i].is_some() {
                return Some(i as u32);
            }
        }
    }

    /// Calls `f` for live slots from `cursor` on, until about `count` elements were visited; returns the next
    /// cursor, 0 at the end.
    pub fn scan<'s>(
        &'s self,
        cursor: usize,
        count: usize,
        mut f: impl FnMut(&'s [u8], &'s V),
    ) -> usize {
        let mut seen = 0;
        let mut i = cursor;
        while i < self.slots.len() {
            if let Some((k, v)) = &self.slots[i] {
                f(k.bytes(), v);
                seen += 1;
            }
            i += 1;
            if seen >= count {
                break;
            }
        }
        if i >= self.slots.len() {
            0
        } else {
            i
        }
    }

    /// True when the arena is mostly holes and worth compacting.
    pub fn wants_compaction(&self) -> bool {
        self.slots.len() > 64 && self.len * 8 < self.slots.len()
    }

    /// Moves every element to the front of the arena; returns the old slot → new slot map (`u32::MAX` for
    /// free slots).
    pub fn compact(&mut self) -> Vec<u32> {
        let mut map = vec![u32::MAX; self.slots.len()];
        let old = std::mem::take(&mut self.slots);
        let mut next = 0u32;
        let mut slots = Vec::with_capacity(self.len);
        for (i, s) in old.into_iter().enumerate() {
            if s.is_some() {
                map[i] = next;
                next += 1;
                slots.push(s);
            }
        }
        self.slots = slots;
        self.free = Vec::new();
        self.index = HashTable::with_capacity(self.len);
        for (i, s) in self.slots.iter().enumerate() {
            if let Some((k, _)) = s {
                let h = hash_of(k.bytes());
                self.index.insert_unique(h, i as u32, |_| h);
            }
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_keys_are_found_until_removed() {
        let mut d = Dict::default();
        for i in 0..1000u32 {
            d.insert_new(format!("f{i}").as_bytes(), i);
        }
        for i in (0..1000).step_by(3) {
            let s = d.find(format!("f{i}").as_bytes()).expect("present");
            assert_eq!(d.remove_slot(s), i);
        }
        for i in 0..1000u32 {
            let found = d.find(format!("f{i}").as_bytes()).map(|s| *d.at(s).1);
            assert_eq!(found, (i % 3 != 0).then_some(i), "f{i}");
        }
        assert_eq!(d.len(), 666);
    }

    #[test]
    fn short_keys_live_in_the_slot_and_long_ones_beside_it() {
        assert_eq!(std::mem::size_of::<Option<(Key, ())>>(), 24);
        assert_eq!(std::mem::size_of::<Option<(Key, f64)>>(), 32);
        let mut d = Dict::default();
        let keys: Vec<Vec<u8>> = (0..=40).map(|n| vec![b'k'; n]).collect();
        for (i, k) in keys.iter().enumerate() {
            d.insert_new(k, i);
        }
        // Only the 18 keys longer than 22 bytes take heap bytes of their own.
        let long: usize = (23..=40).map(alloc_size).sum();
        assert_eq!(d.key_bytes, long);
        for (i, k) in keys.iter().enumerate() {
            let s = d.find(k).expect("present");
            assert_eq!(d.at(s), (&k[..], &i));
        }
        for k in &keys[20..25] {
            let s = d.find(k).expect("present");
            d.remove_slot(s);
        }
        assert_eq!(d.key_bytes, long - (23..=24).map(alloc_size).sum::<usize>());
        assert!(d.find(&keys[22]).is_none() && d.find(&keys[25]).is_some());
    }

    #[test]
    fn scan_visits_every_element_once() {
        let mut d = Dict::default();
        for i in 0..500u32 {
            d.insert_new(&i.to_be_bytes(), ());
        }
        let mut seen = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = d.scan(cursor, 7, |k, _| seen.push(k.to_vec()));
            if cursor == 0 {
                break;
            }
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn compaction_keeps_every_element_findable() {
        let mut d = Dict::default();
        for i in 0..1000u32 {
            d.insert_new(&i.to_be_bytes(), i);
        }
        for i in 0..990u32 {
            let s = d.find(&i.to_be_bytes()).expect("present");
            d.remove_slot(s);
        }
        assert!(d.wants_compaction());
        let map = d.compact();
        assert_eq!(map.iter().filter(|&&m| m != u32::MAX).count(), 10);
        for i in 990..1000u32 {
            let s = d.find(&i.to_be_bytes()).expect("present");
            assert_eq!(*d.at(s).1, i);
        }
        assert_eq!(d.slot_count(), 10);
    }
}
