//! One shard of a database: a [`Table`] plus the bookkeeping every mutation must keep right — bytes used, lazy
//! expiry, the access clock used by eviction, and WATCH versions.
//!
//! Commands never touch the table directly; they go through these methods so that no write path can forget to
//! account memory or to invalidate a watching transaction.

use std::collections::HashMap;

use super::entry::{Entry, Item};
use super::table::Table;
use super::{Clock, Removal};

/// A watched key's modification counter and how many clients watch it.
#[derive(Debug, Default, Clone, Copy)]
struct Watch {
    version: u64,
    watchers: u32,
}

/// A shard: a table and its accounting, always used under its lock.
#[derive(Default)]
pub struct Shard {
    table: Table,
    entry_bytes: usize,
    /// Bytes last reported to the keyspace-wide counter.
    pub(super) reported: usize,
    expire_cursor: usize,
    watched: HashMap<Box<[u8]>, Watch>,
    /// Keys removed because their TTL passed (lazily or by the active cycle).
    pub expired: u64,
    /// Keys removed to stay under `maxmemory`.
    pub evicted: u64,
    /// Keys this shard deleted by itself (expiry, eviction) since the last drain, for the write stream, with
    /// their positions in the shard's hash space.
    pub(super) deleted: Vec<(Box<[u8]>, u32, Removal)>,
    /// Record the keys commands change (keyspace notifications and client tracking need them).
    pub(super) log_changes: bool,
    /// Keys changed by the running command, and whether the change removed the key.
    pub(super) changes: Vec<(Box<[u8]>, bool)>,
    /// Keys the running command created (the `new` keyspace event), when changes are logged.
    pub(super) created: Vec<Box<[u8]>>,
    /// Replica mode: expired keys are hidden from reads but only deleted when the primary says so.
    pub(super) passive_expiry: bool,
    /// A snapshot waits for this shard's contents as they were when it started.
    pub(super) snapshot: Option<std::sync::Arc<super::SnapshotJob>>,
    /// The last memcached CAS unique handed out for a key of this shard (or the shard's lane, before the first).
    cas: u64,
    /// How far apart this shard's CAS uniques are: the number of shards. Shard `i` hands out `i + k × lanes`,
    /// so no two keys anywhere share a CAS unique, and no counter is shared between shards.
    cas_lanes: u64,
    /// Cluster mode: keys per hash slot (indexed by slot).
    slot_counts: Option<Box<[u32]>>,
}

impl Shard {
    /// An empty shard, number `index` of `shards`; in cluster mode (`slotted`) it counts its keys per hash slot.
    pub fn new(slotted: bool, index: usize, shards: usize) -> Shard {
        Shard {
            slot_counts: slotted.then(|| vec![0u32; crate::slot::SLOTS].into_boxed_slice()),
            cas: index as u64,
            cas_lanes: shards.max(1) as u64,
            ..Shard::default()
        }
    }

    /// Keys of a hash slot in this shard (cluster mode; 0 otherwise).
    pub fn keys_in_slot(&self, slot: u16) -> usize {
        self.slot_counts
            .as_ref()
            .map_or(0, |c| c[slot as usize & (crate::slot::SLOTS - 1)] as usize)
    }

    #[inline]
    fn count_added(&mut self, hash: u64) {
        if let Some(c) = &mut self.slot_counts {
            c[hash as usize & (crate::slot::SLOTS - 1)] += 1;
        }
    }

    #[inline]
    fn count_removed(&mut self, key: &[u8]) {
        if let Some(c) = &mut self.slot_counts {
            let n = &mut c[crate::slot::of(key) as usize];
            *n = n.saturating_sub(1);
        }
    }

    /// Number of keys (including logically expired ones not yet reclaimed).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// True when the shard holds no key.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Bytes used by entries and the table.
    pub fn bytes(&self) -> usize {
        self.entry_bytes + self.table.heap_size()
    }

    /// Number of keys with a TTL (walks the tag array; used by INFO keyspace).
    pub fn volatile_count(&self) -> usize {
        (0..self.table.capacity())
            .filter(|&i| self.table.is_volatile(i))
            .count()
    }

    /// Finds a live key: an expired key is deleted on the spot (lazy expiry) and reported missing. On a
    /// replica the expired key is only hidden: the primary's DEL removes it.
    #[inline]
    pub fn find(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Option<usize> {
        let i = self.table.find(hash, key)?;
        if self.table.is_volatile(i) {
            if let Some(at) = self.table.entry(i).expire() {
                if now_ms > at {
                    if self.passive_expiry || super::expiry_held() {
                        return None;
                    }
                    let old = self.remove_slot(i, false);
                    self.expired += 1;
                    self.deleted
                        .push((old.key().into(), old.hash(), Removal::Expired));
                    self.table.shrink_to_fit_load();
                    return None;
                }
            }
        }
        Some(i)
    }

    /// Deletes the entry in slot `i` to make room under `maxmemory` (an eviction, not a command's change).
    pub fn evict_at(&mut self, i: usize) -> Entry {
        let old = self.remove_slot(i, false);
        self.deleted
            .push((old.key().into(), old.hash(), Removal::Evicted));
        self.evicted += 1;
        old
    }

    /// Finds a live key and records the access for LRU/LFU eviction.
    #[inline]
    pub fn get(&mut self, hash: u64, key: &[u8], clock: &Clock) -> Option<&Entry> {
        let i = self.find(hash, key, clock.now_ms)?;
        let e = self.table.entry_mut(i);
        e.set_clock(clock.on_access(e.clock()));
        Some(self.table.entry(i))
    }

    /// True when a live (not expired) key is present; reads only (no lazy expiry, no access accounting).
    pub fn contains_live(&self, hash: u64, key: &[u8], now_ms: u64) -> bool {
        self.table
            .find(hash, key)
            .is_some_and(|i| self.table.entry(i).expire().is_none_or(|at| now_ms <= at))
    }

    /// The entry in a slot returned by [`Shard::find`].
    pub fn at(&self, i: usize) -> &Entry {
        self.table.entry(i)
    }

    /// The entry in a slot, to be modified in place without changing its size; counts as a modification
    /// (a memcached item gets a new CAS unique).
    pub fn at_mut(&mut self, i: usize) -> &mut Entry {
        self.touch_watched_at(i);
        let cas = self.next_cas();
        let e = self.table.entry_mut(i);
        e.set_cas(cas);
        e
    }

    /// The entry in a slot, for access bookkeeping only (access clock, memcached item bits): not a
    /// modification, so watchers and the CAS unique are left alone.
    pub fn at_access_mut(&mut self, i: usize) -> &mut Entry {
        self.table.entry_mut(i)
    }

    /// Changes the entry in slot `i` in place through `f` (a collection edit), accounting any change of its
    /// size; counts as a modification.
    pub fn modify<R>(&mut self, i: usize, f: impl FnOnce(&mut Entry) -> R) -> R {
        self.modify_if(i, |e| (f(e), true))
    }

    /// Like [`Shard::modify`], but a modification only when `f` says it changed something (an SREM of a
    /// missing member is none: watchers and notifications do not hear of it).
    pub fn modify_if<R>(&mut self, i: usize, f: impl FnOnce(&mut Entry) -> (R, bool)) -> R {
        let e = self.table.entry_mut(i);
        let before = e.heap_size();
        let (r, changed) = f(e);
        let after = self.table.entry(i).heap_size();
        self.entry_bytes = self.entry_bytes - before + after;
        if changed {
            self.touch_watched_at(i);
        }
        r
    }

    /// A new memcached CAS unique for a key of this shard, unique across every key of the keyspace: each shard
    /// counts in its own lane (see `cas_lanes`), so writers on different shards never share a cache line; a key
    /// always lives in the same shard, so its successive CAS uniques only grow.
    #[inline]
    pub fn next_cas(&mut self) -> u64 {
        self.cas += self.cas_lanes.max(1);
        self.cas
    }

    /// Gives the entry in slot `i` a memcached item header (client flags 0, a fresh CAS unique) if it was
    /// written through the Redis protocol; returns its item header. Not a modification of the value.
    pub fn upgrade_to_item(&mut self, i: usize) -> Item {
        if let Some(item) = self.table.entry(i).item() {
            return item;
        }
        let item = Item {
            flags: 0,
            cas: self.next_cas(),
            bits: 0,
        };
        let (old, new) = self.table.map(i, |e| e.with_item(item));
        self.entry_bytes = self.entry_bytes - old + new;
        item
    }

    /// Stores an entry, replacing any previous value of the key (even a logically expired one, which is never
    /// returned); returns the previous live entry.
    pub fn set(&mut self, hash: u64, entry: Entry, now_ms: u64) -> Option<Entry> {
        self.touch_watched(entry.key());
        self.entry_bytes += entry.heap_size();
        match self.table.find(hash, entry.key()) {
            Some(i) => {
                let old = self.table.replace(i, entry);
                self.entry_bytes -= old.heap_size();
                if old.expire().is_some_and(|at| now_ms > at) {
                    self.expired += 1;
                    self.log_created(i);
                    return None;
                }
                Some(old)
            }
            None => {
                self.count_added(hash);
                let i = self.table.insert_new(hash, entry);
                self.log_created(i);
                None
            }
        }
    }

    /// Stores an entry for a key known to be missing; returns its slot.
    pub fn add(&mut self, hash: u64, entry: Entry) -> usize {
        self.touch_watched(entry.key());
        self.entry_bytes += entry.heap_size();
        self.count_added(hash);
        let i = self.table.insert_new(hash, entry);
        self.log_created(i);
        i
    }

    #[inline]
    fn log_created(&mut self, i: usize) {
        if self.log_changes {
            self.created.push(self.table.entry(i).key().into());
        }
    }

    /// Takes the keys created since the last call (see `log_changes`).
    pub fn take_created(&mut self) -> std::vec::Drain<'_, Box<[u8]>> {
        self.created.drain(..)
    }

    /// Replaces the entry in slot `i` (same key) with the result of `f`.
    pub fn update_at(&mut self, i: usize, f: impl FnOnce(Entry) -> Entry) {
        self.touch_watched_at(i);
        let (old, new) = self.table.map(i, f);
        self.entry_bytes = self.entry_bytes - old + new;
    }

    /// Deletes the entry in slot `i`.
    pub fn remove_at(&mut self, i: usize) -> Entry {
        self.remove_slot(i, true)
    }

    fn remove_slot(&mut self, i: usize, by_command: bool) -> Entry {
        if by_command {
            self.touch_watched_at(i);
            if let Some((_, removed)) = self.changes.last_mut().filter(|_| self.log_changes) {
                *removed = true;
            }
        } else {
            self.bump_watch_at(i);
        }
        let old = self.table.remove(i);
        self.entry_bytes -= old.heap_size();
        self.count_removed(old.key());
        old
    }

    /// Deletes a key if it exists (and has not expired); returns the entry.
    pub fn delete(&mut self, hash: u64, key: &[u8], now_ms: u64) -> Option<Entry> {
        let i = self.find(hash, key, now_ms)?;
        let old = self.remove_at(i);
        self.table.shrink_to_fit_load();
        Some(old)
    }

    /// Gives the table back memory after deletions.
    pub fn shrink(&mut self) {
        self.table.shrink_to_fit_load();
    }

    /// Removes every key, returning the entries so the caller may free them elsewhere. Watchers of the keys that
    /// existed see a change; a watched key that did not exist is left alone (as Redis' FLUSHALL does).
    pub fn clear(&mut self) -> Vec<Option<Entry>> {
        let entries = self.table.take_all();
        if let Some(c) = &mut self.slot_counts {
            c.fill(0);
        }
        if !self.watched.is_empty() {
            for e in entries.iter().flatten() {
                if let Some(w) = self.watched.get_mut(e.key()) {
                    w.version += 1;
                }
            }
        }
        self.entry_bytes = 0;
        entries
    }

    /// Deletes every key `gone` picks by rebuilding the table from the others (`hash` gives a key's hash):
    /// one pass, where deleting many keys one by one would shift the table's clusters again for each. Watchers
    /// of the deleted keys see a change; the deleted entries are returned, to be freed elsewhere.
    pub fn remove_where(
        &mut self,
        hash: impl Fn(&[u8]) -> u64,
        mut gone: impl FnMut(&Entry) -> bool,
    ) -> Vec<Entry> {
        let all = self.table.take_all();
        self.entry_bytes = 0;
        if let Some(c) = &mut self.slot_counts {
            c.fill(0);
        }
        let mut removed = Vec::new();
        for e in all.into_iter().flatten() {
            if gone(&e) {
                self.touch_watched(e.key());
                removed.push(e);
            } else {
                let h = hash(e.key());
                self.entry_bytes += e.heap_size();
                self.count_added(h);
                self.table.insert_new(h, e);
            }
        }
        removed
    }

    /// Exchanges the contents of two shards (SWAPDB). A watched key that exists on either side sees a change.
    pub fn swap_contents(&mut self, other: &mut Shard) {
        if !self.watched.is_empty() || !other.watched.is_empty() {
            let present: std::collections::HashSet<&[u8]> = self
                .table
                .iter()
                .chain(other.table.iter())
                .map(Entry::key)
                .collect();
            let touched = |s: &Shard| -> Vec<Box<[u8]>> {
                s.watched
                    .keys()
                    .filter(|k| present.contains(&k[..]))
                    .cloned()
                    .collect()
            };
            let (mine, theirs) = (touched(self), touched(other));
            drop(present);
            for (s, keys) in [(&mut *self, mine), (&mut *other, theirs)] {
                for k in keys {
                    if let Some(w) = s.watched.get_mut(&k) {
                        w.version += 1;
                    }
                }
            }
        }
        std::mem::swap(&mut self.table, &mut other.table);
        std::mem::swap(&mut self.entry_bytes, &mut other.entry_bytes);
        std::mem::swap(&mut self.slot_counts, &mut other.slot_counts);
        // Keys change shards: neither counter may hand out a CAS unique the other already gave.
        let cas = self.cas.max(other.cas);
        (self.cas, other.cas) = (cas, cas);
    }

    /// Iterates over every entry, expired or not.
    pub fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.table.iter()
    }

    /// See [`Table::scan`].
    pub fn scan(&self, from: u64, want: usize, f: impl FnMut(&Entry)) -> u64 {
        self.table.scan(from, want, f)
    }

    /// A random occupied slot.
    pub fn random_slot(&self, random: u64) -> Option<usize> {
        self.table.random_slot(random)
    }

    /// A slot holding a key with a TTL, near a random start, looking at no more than `budget` slots.
    pub fn random_volatile_slot(&self, random: u64, budget: usize) -> Option<usize> {
        self.table.next_volatile(random as usize, budget).0
    }

    /// Active expiry: looks at up to `budget` slots from where the last call stopped and deletes keys whose
    /// TTL has passed. Returns (keys with a TTL looked at, keys deleted).
    pub fn expire_step(&mut self, budget: usize, now_ms: u64) -> (usize, usize) {
        let cap = self.table.capacity();
        if cap == 0 || self.passive_expiry || super::expiry_held() {
            return (0, 0);
        }
        let (mut checked, mut deleted) = (0, 0);
        let mut i = self.expire_cursor & (cap - 1);
        for _ in 0..budget.min(cap) {
            if self.table.is_volatile(i) {
                checked += 1;
                if matches!(self.table.entry(i).expire(), Some(t) if now_ms > t) {
                    let old = self.remove_slot(i, false);
                    self.deleted
                        .push((old.key().into(), old.hash(), Removal::Expired));
                    self.expired += 1;
                    deleted += 1;
                    // The slot now holds the next entry of the cluster (or nothing): look at it again.
                    continue;
                }
            }
            i = (i + 1) & (cap - 1);
        }
        self.expire_cursor = i;
        if deleted > 0 {
            self.table.shrink_to_fit_load();
        }
        (checked, deleted)
    }

    /// Starts watching a key; returns its current version.
    pub fn watch(&mut self, key: &[u8]) -> u64 {
        let w = self.watched.entry(key.into()).or_default();
        w.watchers += 1;
        w.version
    }

    /// Stops watching a key.
    pub fn unwatch(&mut self, key: &[u8]) {
        if let Some(w) = self.watched.get_mut(key) {
            w.watchers -= 1;
            if w.watchers == 0 {
                self.watched.remove(key);
            }
        }
    }

    /// The current version of a watched key.
    pub fn watch_version(&self, key: &[u8]) -> u64 {
        self.watched.get(key).map_or(0, |w| w.version)
    }

    /// A command changes `key`: watchers see a new version, and the change is logged when asked.
    #[inline]
    fn touch_watched(&mut self, key: &[u8]) {
        if !self.watched.is_empty() {
            if let Some(w) = self.watched.get_mut(key) {
                w.version += 1;
            }
        }
        if self.log_changes {
            self.changes.push((key.into(), false));
        }
    }

    #[inline]
    fn touch_watched_at(&mut self, i: usize) {
        self.bump_watch_at(i);
        if self.log_changes {
            self.changes.push((self.table.entry(i).key().into(), false));
        }
    }

    #[inline]
    fn bump_watch_at(&mut self, i: usize) {
        if !self.watched.is_empty() {
            if let Some(w) = self.watched.get_mut(self.table.entry(i).key()) {
                w.version += 1;
            }
        }
    }

    /// Takes the keys changed since the last call (see `log_changes`).
    pub fn take_changes(&mut self) -> std::vec::Drain<'_, (Box<[u8]>, bool)> {
        self.changes.drain(..)
    }
}
