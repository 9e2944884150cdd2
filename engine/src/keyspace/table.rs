//! The hash table of one shard: open addressing with linear probing, entries ordered by hash prefix.
//!
//! Two parallel arrays: `tags` (2 bytes a slot: occupied bit, has-TTL bit, 14 hash bits) and `slots` (an 8-byte
//! pointer to the [`Entry`] block). A lookup walks the tag array, which packs 32 slots in a cache line, and only
//! dereferences a block when its tag matches. Deletion shifts the rest of the cluster back (no tombstones).
//!
//! The home slot of a key is the top `bits` bits of its hash, so the table is ordered by hash prefix whatever
//! its size. That gives `SCAN` its guarantee: a cursor is a position in hash space, not a slot number, so a key
//! present for the whole iteration is returned even when the table grows or shrinks in between calls.

use super::entry::Entry;

const OCCUPIED: u16 = 0x8000;
const VOLATILE: u16 = 0x4000;
const TAG_BITS: u16 = 0x3FFF;
const MIN_BITS: u32 = 3;

/// The end of a shard in hash space: a `scan` position past every key.
pub const SCAN_END: u64 = 1 << 32;

/// An open-addressing table of entries.
#[derive(Default)]
pub struct Table {
    tags: Vec<u16>,
    slots: Vec<Option<Entry>>,
    len: usize,
    bits: u32,
}

fn tag_of(hash: u64, volatile: bool) -> u16 {
    OCCUPIED | if volatile { VOLATILE } else { 0 } | ((hash >> 16) as u16 & TAG_BITS)
}

impl Table {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the table holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.tags.len()
    }

    /// Heap bytes used by the slot arrays (not the entries).
    pub fn heap_size(&self) -> usize {
        self.tags.capacity() * 2 + self.slots.capacity() * 8
    }

    fn mask(&self) -> usize {
        self.tags.len() - 1
    }

    fn home(&self, hash32: u32) -> usize {
        (hash32 as u64 >> (32 - self.bits)) as usize
    }

    fn home_of(&self, i: usize) -> usize {
        self.home(self.entry(i).hash())
    }

    /// The entry in an occupied slot.
    pub fn entry(&self, i: usize) -> &Entry {
        match &self.slots[i] {
            Some(e) => e,
            None => unreachable!("slot {i} is empty"),
        }
    }

    /// The entry in an occupied slot, mutably.
    pub fn entry_mut(&mut self, i: usize) -> &mut Entry {
        match &mut self.slots[i] {
            Some(e) => e,
            None => unreachable!("slot {i} is empty"),
        }
    }

    /// True when the slot holds an entry with a TTL (read from the tag, without touching the entry).
    pub fn is_volatile(&self, i: usize) -> bool {
        self.tags[i] & VOLATILE != 0
    }

    /// Finds the slot holding `key`.
    #[inline]
    pub fn find(&self, hash: u64, key: &[u8]) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let want = tag_of(hash, false) & !VOLATILE;
        let mask = self.mask();
        let mut i = self.home((hash >> 32) as u32);
        // The tag and the slot pointer of the home position are in two arrays: fetch both cache lines at once
        // rather than one after the other (on a large table each is a miss).
        #[cfg(target_arch = "x86_64")]
        // SAFETY: SSE is part of the x86_64 baseline, and a prefetch of any address has no effect but on caches
        // (this one is in bounds: `i` indexes `slots`).
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                self.slots[i..].as_ptr() as *const i8,
            );
        }
        loop {
            let tag = self.tags[i];
            if tag == 0 {
                return None;
            }
            if tag & !VOLATILE == want && self.entry(i).key() == key {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts an entry whose key is not in the table; returns its slot.
    pub fn insert_new(&mut self, hash: u64, entry: Entry) -> usize {
        if (self.len + 1) * 8 > self.capacity() * 7 {
            let bits = if self.bits == 0 {
                MIN_BITS
            } else {
                self.bits + 1
            };
            self.resize(bits);
        }
        self.len += 1;
        self.place(tag_of(hash, entry.expire().is_some()), entry)
    }

    fn place(&mut self, tag: u16, entry: Entry) -> usize {
        let mask = self.mask();
        let mut i = self.home(entry.hash());
        while self.tags[i] != 0 {
            i = (i + 1) & mask;
        }
        self.tags[i] = tag;
        self.slots[i] = Some(entry);
        i
    }

    /// Replaces the entry in slot `i` with one for the same key; returns the old entry.
    pub fn replace(&mut self, i: usize, entry: Entry) -> Entry {
        let volatile = entry.expire().is_some();
        self.tags[i] = (self.tags[i] & !VOLATILE) | if volatile { VOLATILE } else { 0 };
        match self.slots[i].replace(entry) {
            Some(old) => old,
            None => unreachable!("slot {i} is empty"),
        }
    }

    /// Rebuilds the entry in slot `i` (same key) with `f`; returns the old and new heap sizes.
    pub fn map(&mut self, i: usize, f: impl FnOnce(Entry) -> Entry) -> (usize, usize) {
        let Some(old) = self.slots[i].take() else {
            unreachable!("slot {i} is empty")
        };
        let old_size = old.heap_size();
        let new = f(old);
        let new_size = new.heap_size();
        self.replace_empty(i, new);
        (old_size, new_size)
    }

    fn replace_empty(&mut self, i: usize, entry: Entry) {
        let volatile = entry.expire().is_some();
        self.tags[i] = (self.tags[i] & !VOLATILE) | if volatile { VOLATILE } else { 0 };
        self.slots[i] = Some(entry);
    }

    /// Removes the entry in slot `i`, shifting the rest of its cluster back. Never shrinks the table, so slot
    /// numbers stay valid for a caller walking it (call [`Table::shrink_to_fit_load`] afterwards).
    pub fn remove(&mut self, i: usize) -> Entry {
        let mask = self.mask();
        let removed = match self.slots[i].take() {
            Some(e) => e,
            None => unreachable!("slot {i} is empty"),
        };
        self.tags[i] = 0;
        self.len -= 1;
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            if self.tags[j] == 0 {
                break;
            }
            let home = self.home_of(j);
            // The entry at j may stay if its home lies cyclically in (hole, j].
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.tags[hole] = self.tags[j];
                self.slots[hole] = self.slots[j].take();
                self.tags[j] = 0;
                hole = j;
            }
        }
        removed
    }

    /// Shrinks the table once it is less than 1/8 full, to a size at most half full, so memory follows the
    /// dataset down after deletions.
    pub fn shrink_to_fit_load(&mut self) {
        if self.len == 0 && self.bits > 0 {
            *self = Table::default();
            return;
        }
        if self.bits <= MIN_BITS || self.len * 8 >= self.capacity() {
            return;
        }
        let mut bits = MIN_BITS;
        while (1usize << bits) < self.len * 2 {
            bits += 1;
        }
        self.resize(bits);
    }

    fn resize(&mut self, bits: u32) {
        let cap = 1usize << bits;
        let old_tags = std::mem::replace(&mut self.tags, vec![0; cap]);
        let old_slots = std::mem::replace(&mut self.slots, (0..cap).map(|_| None).collect());
        self.bits = bits;
        for (tag, slot) in old_tags.into_iter().zip(old_slots) {
            if let Some(entry) = slot {
                self.place(tag, entry);
            }
        }
    }

    /// Removes every entry, returning them (so they can be freed elsewhere, as FLUSHALL ASYNC does).
    pub fn take_all(&mut self) -> Vec<Option<Entry>> {
        let slots = std::mem::take(&mut self.slots);
        *self = Table::default();
        slots
    }

    /// An occupied slot chosen from a random starting point, or None when the table is empty.
    pub fn random_slot(&self, random: u64) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = random as usize & mask;
        while self.tags[i] == 0 {
            i = (i + 1) & mask;
        }
        Some(i)
    }

    /// Calls `f` for every entry whose hash position lies in a range starting at `from` (a position in
    /// `0..SCAN_END`) chosen to hold about `want` entries; returns where the next call starts, or [`SCAN_END`].
    pub fn scan(&self, from: u64, want: usize, mut f: impl FnMut(&Entry)) -> u64 {
        if self.len == 0 || from >= SCAN_END {
            return SCAN_END;
        }
        let cap = self.capacity();
        let shift = 32 - self.bits;
        let start = (from >> shift) as usize;
        let span = (want.max(1) * cap).div_ceil(self.len).max(1);
        let end = (start + span).min(cap);
        let mask = self.mask();
        let mut i = start;
        loop {
            let slot = i & mask;
            if self.tags[slot] == 0 {
                if i >= end {
                    break;
                }
            } else {
                let home = self.home_of(slot);
                if home >= start && home < end {
                    f(self.entry(slot));
                }
            }
            i += 1;
            // Each slot is looked at once per call, even when the cluster wraps around the end.
            if i >= start + cap {
                break;
            }
        }
        if end == cap {
            SCAN_END
        } else {
            (end as u64) << shift
        }
    }

    /// Next occupied slot with a TTL at or after `from`, looking at no more than `budget` slots; returns the
    /// slot (if any) and where to continue.
    pub fn next_volatile(&self, from: usize, budget: usize) -> (Option<usize>, usize) {
        let cap = self.capacity();
        if cap == 0 {
            return (None, 0);
        }
        let mut i = from & self.mask();
        for _ in 0..budget.min(cap) {
            if self.tags[i] & VOLATILE != 0 {
                return (Some(i), i);
            }
            i = (i + 1) & self.mask();
        }
        (None, i)
    }

    /// Iterates over every entry.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::hash::BuildHasher;

    fn hash(k: &[u8]) -> u64 {
        foldhash::fast::FixedState::with_seed(7).hash_one(k)
    }

    fn insert(t: &mut Table, k: &str) {
        let h = hash(k.as_bytes());
        let e = Entry::new_str((h >> 32) as u32, k.as_bytes(), b"v", None, 0);
        t.insert_new(h, e);
    }

    fn remove(t: &mut Table, k: &str) {
        let i = t.find(hash(k.as_bytes()), k.as_bytes()).expect("present");
        t.remove(i);
    }

    fn scan_all(t: &Table, want: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos != SCAN_END {
            pos = t.scan(pos, want, |e| {
                out.push(String::from_utf8_lossy(e.key()).into_owned())
            });
        }
        out
    }

    #[test]
    fn inserted_keys_are_found_and_removed_keys_are_not() {
        let mut t = Table::default();
        for i in 0..10_000 {
            insert(&mut t, &format!("key:{i}"));
        }
        for i in (0..10_000).step_by(2) {
            remove(&mut t, &format!("key:{i}"));
        }
        t.shrink_to_fit_load();
        assert_eq!(t.len(), 5_000);
        for i in 0..10_000 {
            let k = format!("key:{i}");
            assert_eq!(
                t.find(hash(k.as_bytes()), k.as_bytes()).is_some(),
                i % 2 == 1,
                "{k}"
            );
        }
    }

    #[test]
    fn table_shrinks_when_mostly_empty() {
        let mut t = Table::default();
        for i in 0..4096 {
            insert(&mut t, &i.to_string());
        }
        let big = t.capacity();
        for i in 0..4000 {
            remove(&mut t, &i.to_string());
        }
        t.shrink_to_fit_load();
        assert!(t.capacity() < big / 8, "{} vs {big}", t.capacity());
        assert_eq!(scan_all(&t, 10).len(), 96);
    }

    #[test]
    fn scan_returns_every_key_exactly_once() {
        let mut t = Table::default();
        for i in 0..3000 {
            insert(&mut t, &i.to_string());
        }
        let keys = scan_all(&t, 10);
        let unique: HashSet<_> = keys.iter().collect();
        assert_eq!(keys.len(), 3000);
        assert_eq!(unique.len(), 3000);
    }

    #[test]
    fn scan_asking_for_more_than_the_table_holds_returns_each_key_once() {
        for n in [1, 5, 7, 47, 100] {
            let mut t = Table::default();
            for i in 0..n {
                insert(&mut t, &format!("k{i}"));
            }
            let keys = scan_all(&t, 1000);
            assert_eq!(keys.len(), n, "{n} keys");
            assert_eq!(keys.iter().collect::<HashSet<_>>().len(), n);
        }
    }

    #[test]
    fn scan_never_misses_stable_keys_while_the_table_resizes() {
        let mut t = Table::default();
        for i in 0..500 {
            insert(&mut t, &format!("stable:{i}"));
        }
        let mut seen = HashSet::new();
        let mut pos = 0;
        let mut round = 0;
        while pos != SCAN_END {
            pos = t.scan(pos, 10, |e| {
                seen.insert(String::from_utf8_lossy(e.key()).into_owned());
            });
            // Grow the table a lot, then shrink it, between cursor calls.
            if round < 20 {
                for j in 0..200 {
                    insert(&mut t, &format!("churn:{round}:{j}"));
                }
            } else if round < 40 {
                for j in 0..200 {
                    remove(&mut t, &format!("churn:{}:{j}", round - 20));
                }
                t.shrink_to_fit_load();
            }
            round += 1;
        }
        for i in 0..500 {
            assert!(seen.contains(&format!("stable:{i}")), "missed stable:{i}");
        }
    }

    #[test]
    fn random_slot_finds_an_entry() {
        let mut t = Table::default();
        assert_eq!(t.random_slot(3), None);
        insert(&mut t, "only");
        for r in 0..20 {
            let i = t.random_slot(r).expect("one entry");
            assert_eq!(t.entry(i).key(), b"only");
        }
    }
}
