//! The keyspace: `databases` numbered databases, each split into a power-of-two number of shards, each shard a
//! mutex around a [`Table`](table::Table) of [`Entry`] blocks.
//!
//! A key's 64-bit hash (foldhash, seeded randomly per process) picks its shard with its low bits and its slot
//! with its high bits. In cluster mode the low 14 bits are the key's cluster hash slot instead, so every key
//! of a hash slot lives in one shard, and each shard counts its keys per hash slot: counting, listing and
//! moving a hash slot reads one shard, never the whole node. A command locks exactly the shards of the keys it names, in ascending `(db, shard)` order
//! so that multi-key commands and transactions can never deadlock; commands that look at a whole database lock
//! all of its shards. Nothing here knows about sockets or the protocol.

pub mod dict;
pub mod entry;
pub mod evict;
pub mod expire;
pub mod hash;
pub mod integer;
pub mod limits;
pub mod list;
pub mod object;
pub mod ordered;
pub mod pack;
pub mod set;
pub mod shard;
pub mod stream;
pub mod table;
pub mod zset;

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, OnceLock};

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

pub use entry::Entry;
pub use evict::EvictionPolicy;
pub use object::Object;
pub use shard::Shard;

/// Report a shard's memory to the keyspace-wide counter once it drifted by this many bytes.
const MEMORY_SYNC_BYTES: usize = 1024;

/// Expiry is held by `CLIENT PAUSE` (see [`Keyspace::hold_expiry`]).
static EXPIRY_HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// True while `CLIENT PAUSE` holds expiry.
#[inline]
pub(crate) fn expiry_held() -> bool {
    EXPIRY_HELD.load(std::sync::atomic::Ordering::Relaxed)
}

/// Receives deletions the keyspace makes by itself (expiry, eviction), so the write stream to replicas can carry
/// them. Called while the shard's lock is held, which keeps them in order with the commands on the same keys.
pub trait WriteSink: Send + Sync {
    /// `key` of database `db`, at `position` in its shard's hash space (see [`Keyspace::position`]), was
    /// deleted.
    fn deleted(&self, db: usize, key: &[u8], position: u32, why: Removal);
}

/// Why the keyspace deleted a key by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Its TTL passed.
    Expired,
    /// It was evicted to stay under `maxmemory`.
    Evicted,
}

/// A consistent snapshot being taken: every shard is serialized as it was when the snapshot started, by
/// whoever locks it first (the snapshot driver, or a command about to change it).
pub struct SnapshotJob {
    now_ms: u64,
    serialize: Serializer,
    tx: mpsc::Sender<ShardImage>,
}

/// Writes a shard's live entries as snapshot records (at `now_ms`, skipping expired keys); returns how many
/// keys it wrote. The snapshot format is the snapshot module's: the keyspace only decides when a shard is written.
pub type Serializer = fn(db: usize, shard: &Shard, now_ms: u64, out: &mut Vec<u8>) -> u64;

/// The serialized contents of one shard.
pub struct ShardImage {
    /// Snapshot body records.
    pub records: Vec<u8>,
    /// Keys in them.
    pub keys: u64,
}

impl SnapshotJob {
    fn save(&self, db: usize, shard: &Shard) {
        let mut records = Vec::new();
        let keys = (self.serialize)(db, shard, self.now_ms, &mut records);
        let _ = self.tx.send(ShardImage { records, keys });
    }
}

/// One numbered database.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
}

/// All databases of a node.
pub struct Keyspace {
    dbs: Box<[Db]>,
    hasher: foldhash::fast::FixedState,
    shard_mask: usize,
    used: AtomicUsize,
    sink: OnceLock<Arc<dyn WriteSink>>,
    log_changes: std::sync::atomic::AtomicBool,
    /// Cluster mode: the low bits of a key's hash are its hash slot.
    slotted: bool,
}

/// Identifies a shard: (database, shard index).
pub type ShardId = (u32, u32);

/// The shards a command needs, collected before locking.
pub type LockSet = SmallVec<[ShardId; 4]>;

/// The time and access-clock settings a batch of commands runs with (read once per batch, as Redis caches the
/// time once per event-loop iteration).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Unix time in milliseconds.
    pub now_ms: u64,
    /// True when an LFU eviction policy is active: the entry clock then holds a frequency counter.
    pub lfu: bool,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`, in minutes.
    pub lfu_decay_time: u32,
}

impl Clock {
    /// A clock at `now_ms` with LRU accounting.
    pub fn lru(now_ms: u64) -> Clock {
        Clock {
            now_ms,
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
        }
    }

    /// The access clock a new entry starts with.
    pub fn initial(&self) -> u32 {
        if self.lfu {
            evict::lfu_initial(self.now_ms)
        } else {
            evict::lru_clock(self.now_ms)
        }
    }

    /// The access clock after an access to an entry whose clock was `old`.
    #[inline]
    pub fn on_access(&self, old: u32) -> u32 {
        if self.lfu {
            evict::lfu_on_access(old, self.now_ms, self.lfu_log_factor, self.lfu_decay_time)
        } else {
            evict::lru_clock(self.now_ms)
        }
    }
}

impl Keyspace {
    /// Creates `databases` empty databases of `shards` shards each (rounded up to a power of two).
    pub fn new(databases: usize, shards: usize) -> Keyspace {
        Keyspace::build(databases, shards, false)
    }

    /// Creates the one database of a cluster-mode node: `shards` shards (a power of two, at most 16384), each
    /// holding whole hash slots.
    pub fn new_cluster(shards: usize) -> Keyspace {
        Keyspace::build(1, shards.min(crate::slot::SLOTS), true)
    }

    fn build(databases: usize, shards: usize, slotted: bool) -> Keyspace {
        let shards = shards.max(1).next_power_of_two();
        Keyspace {
            dbs: (0..databases.max(1))
                .map(|_| Db {
                    shards: (0..shards)
                        .map(|i| Mutex::new(Shard::new(slotted, i, shards)))
                        .collect(),
                })
                .collect(),
            hasher: foldhash::fast::FixedState::with_seed(fastrand::u64(..)),
            shard_mask: shards - 1,
            used: AtomicUsize::new(0),
            sink: OnceLock::new(),
            log_changes: Default::default(),
            slotted,
        }
    }

    /// The shard of database 0 holding the keys of a hash slot (cluster mode).
    pub fn slot_shard(&self, slot: u16) -> usize {
        slot as usize & self.shard_mask
    }

    /// The shards of database 0 holding the slots marked in `slots` (indexed by slot), ascending (cluster mode).
    pub fn shards_of_slots(&self, slots: &[bool]) -> Vec<usize> {
        let mut shards: Vec<usize> = (0..slots.len())
            .filter(|&s| slots[s])
            .map(|s| self.slot_shard(s as u16))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// Number of keys in a hash slot (cluster mode), read from the shard's per-slot counters.
    pub fn count_in_slot(&self, slot: u16) -> usize {
        self.lock_shard(0, self.slot_shard(slot)).keys_in_slot(slot)
    }

    /// Up to `limit` keys of a hash slot (cluster mode).
    pub fn keys_in_slot(&self, slot: u16, limit: usize) -> Vec<Box<[u8]>> {
        let shard = self.lock_shard(0, self.slot_shard(slot));
        let want = limit.min(shard.keys_in_slot(slot));
        shard
            .iter()
            .filter(|e| crate::slot::of(e.key()) == slot)
            .take(want)
            .map(|e| e.key().into())
            .collect()
    }

    /// Installs the receiver of the keyspace's own deletions (once).
    pub fn set_sink(&self, sink: Arc<dyn WriteSink>) {
        let _ = self.sink.set(sink);
    }

    /// Sends the deletions a shard logged to the sink (under the shard's lock).
    fn drain_deleted(&self, db: usize, shard: &mut Shard) {
        if shard.deleted.is_empty() {
            return;
        }
        match self.sink.get() {
            Some(sink) => shard
                .deleted
                .drain(..)
                .for_each(|(k, position, why)| sink.deleted(db, &k, position, why)),
            None => shard.deleted.clear(),
        }
    }

    /// Holds expiry while clients are paused (`CLIENT PAUSE`): expired keys are hidden, not deleted, so the
    /// dataset and the replication stream do not change until the pause ends.
    pub fn hold_expiry(hold: bool) {
        EXPIRY_HELD.store(hold, std::sync::atomic::Ordering::Relaxed);
    }

    /// Switches replica-style passive expiry on or off for every shard.
    pub fn set_passive_expiry(&self, passive: bool) {
        for db in 0..self.databases() {
            for s in 0..self.shards() {
                self.lock_shard(db, s).passive_expiry = passive;
            }
        }
    }

    /// Starts a consistent snapshot of every database, written by `serialize`. `offset` is called while every shard is locked, so the
    /// value it returns (the replication offset) matches the snapshot exactly. Returns that value, the number
    /// of shard images to expect, and the channel they arrive on; [`Keyspace::drive_snapshot`] makes sure they
    /// all do.
    pub fn begin_snapshot(
        &self,
        now_ms: u64,
        serialize: Serializer,
        offset: impl FnOnce() -> u64,
    ) -> (u64, usize, mpsc::Receiver<ShardImage>) {
        let (tx, rx) = mpsc::channel();
        let job = Arc::new(SnapshotJob {
            now_ms,
            serialize,
            tx,
        });
        let mut set = LockSet::new();
        (0..self.databases()).for_each(|d| self.all_shards(d, &mut set));
        set.sort_unstable();
        let mut guards: Vec<_> = set
            .iter()
            .map(|&(db, s)| self.dbs[db as usize].shards[s as usize].lock())
            .collect();
        let at = offset();
        for (g, &(db, _)) in guards.iter_mut().zip(set.iter()) {
            // A snapshot still in progress must not lose this shard: serialize it for that one first.
            if let Some(previous) = g.snapshot.replace(job.clone()) {
                previous.save(db as usize, g);
            }
        }
        drop(guards);
        (at, set.len(), rx)
    }

    /// Visits every shard so that each pending snapshot image gets produced.
    pub fn drive_snapshot(&self) {
        for db in 0..self.databases() {
            for s in 0..self.shards() {
                drop(self.lock_shard(db, s));
            }
        }
    }

    /// Number of databases.
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Shards per database.
    pub fn shards(&self) -> usize {
        self.shard_mask + 1
    }

    /// The hash of a key.
    #[inline]
    pub fn hash(&self, key: &[u8]) -> u64 {
        let h = self.hasher.hash_one(key);
        if self.slotted {
            h & !(crate::slot::SLOTS as u64 - 1) | crate::slot::of(key) as u64
        } else {
            h
        }
    }

    /// Where a key sits in its shard's hash space: the order [`Shard::scan`] visits keys in, whatever the
    /// table's size (the hash an entry keeps, [`Entry::hash`]).
    #[inline]
    pub fn position(&self, key: &[u8]) -> u32 {
        (self.hash(key) >> 32) as u32
    }

    /// The shard holding a key in `db`.
    #[inline]
    pub fn shard_id(&self, db: usize, key: &[u8]) -> ShardId {
        (
            db as u32,
            (self.hash(key) as usize & self.shard_mask) as u32,
        )
    }

    /// Adds every shard of `db` to a lock set.
    pub fn all_shards(&self, db: usize, set: &mut LockSet) {
        set.extend((0..self.shards()).map(|s| (db as u32, s as u32)));
    }

    /// Locks the shards of a set in ascending order (the set is sorted and deduplicated first).
    pub fn lock(&self, set: &mut LockSet) -> Held<'_> {
        set.sort_unstable();
        set.dedup();
        let log = self.logs_changes();
        let guards = set
            .iter()
            .map(|&(db, s)| {
                let mut g = self.lock_shard(db as usize, s as usize);
                g.log_changes = log;
                ((db, s), g)
            })
            .collect();
        Held { ks: self, guards }
    }

    /// Turns logging of the keys commands change on or off (keyspace notifications and client tracking).
    pub fn set_log_changes(&self, on: bool) {
        self.log_changes.store(on, Ordering::Relaxed);
    }

    /// True while changed keys are logged (see [`Held::take_changes`]).
    #[inline]
    pub fn logs_changes(&self) -> bool {
        self.log_changes.load(Ordering::Relaxed)
    }

    /// Locks the one shard holding `key`.
    pub fn lock_key(&self, db: usize, key: &[u8]) -> Held<'_> {
        let mut set = LockSet::new();
        set.push(self.shard_id(db, key));
        self.lock(&mut set)
    }

    /// Locks a single shard. Every lock goes through here, so a pending snapshot image of the shard is
    /// produced before anyone can change it.
    #[inline]
    pub fn lock_shard(&self, db: usize, shard: usize) -> MutexGuard<'_, Shard> {
        let mut g = self.dbs[db].shards[shard].lock();
        if let Some(job) = g.snapshot.take() {
            job.save(db, &g);
        }
        g
    }

    /// Memory used by the dataset, as last reported by the shards (within a few KiB per shard).
    pub fn used_memory(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    fn report_memory(&self, shard: &mut Shard, force: bool) {
        let now = shard.bytes();
        if force || now.abs_diff(shard.reported) >= MEMORY_SYNC_BYTES {
            if now > shard.reported {
                self.used.fetch_add(now - shard.reported, Ordering::Relaxed);
            } else {
                self.used.fetch_sub(shard.reported - now, Ordering::Relaxed);
            }
            shard.reported = now;
        }
    }

    /// Calls `f` on each shard of `db` in turn, locking one at a time.
    pub fn for_each_shard(&self, db: usize, mut f: impl FnMut(&mut Shard)) {
        for s in 0..self.shards() {
            let mut g = self.lock_shard(db, s);
            f(&mut g);
            self.drain_deleted(db, &mut g);
            self.report_memory(&mut g, true);
        }
    }

    /// Number of keys in `db` (including expired keys not reclaimed yet, like Redis' DBSIZE).
    pub fn dbsize(&self, db: usize) -> usize {
        let mut n = 0;
        self.for_each_shard(db, |s| n += s.len());
        n
    }

    /// Keys in every database.
    pub fn total_keys(&self) -> usize {
        (0..self.databases()).map(|db| self.dbsize(db)).sum()
    }

    /// Deletes every key of `db`. With `lazy`, the memory is freed by a background thread.
    pub fn flush_db(&self, db: usize, lazy: bool) {
        let mut garbage = Vec::new();
        self.for_each_shard(db, |s| garbage.push(s.clear()));
        free_entries(garbage, lazy);
    }

    /// Exchanges the contents of two databases atomically.
    pub fn swap_db(&self, a: usize, b: usize) {
        if a == b {
            return;
        }
        let mut set = LockSet::new();
        self.all_shards(a, &mut set);
        self.all_shards(b, &mut set);
        self.lock(&mut set).swap_dbs(a, b);
    }

    /// Total expired and evicted key counts.
    pub fn expired_evicted(&self) -> (u64, u64) {
        let (mut expired, mut evicted) = (0, 0);
        for db in 0..self.databases() {
            self.for_each_shard(db, |s| {
                expired += s.expired;
                evicted += s.evicted;
            });
        }
        (expired, evicted)
    }
}

fn free_entries(garbage: Vec<Vec<Option<Entry>>>, lazy: bool) {
    if lazy && garbage.iter().map(Vec::len).sum::<usize>() > 1024 {
        std::thread::spawn(move || drop(garbage));
    } else {
        drop(garbage);
    }
}

/// Locked shards, held for the duration of one command (or one transaction).
pub struct Held<'a> {
    ks: &'a Keyspace,
    guards: SmallVec<[(ShardId, MutexGuard<'a, Shard>); 2]>,
}

impl<'a> Held<'a> {
    /// The keyspace these locks belong to.
    pub fn keyspace(&self) -> &'a Keyspace {
        self.ks
    }

    /// The locked shard holding `key` in `db`, and the key's hash.
    ///
    /// # Panics
    /// When the shard was not locked: the command table declared the wrong keys for a command.
    #[inline]
    pub fn shard(&mut self, db: usize, key: &[u8]) -> (&mut Shard, u64) {
        let hash = self.ks.hash(key);
        let id = (db as u32, (hash as usize & self.ks.shard_mask) as u32);
        let pos = if self.guards.len() <= 8 {
            self.guards.iter().position(|(g, _)| *g == id)
        } else {
            self.guards.binary_search_by_key(&id, |(g, _)| *g).ok()
        };
        match pos {
            Some(p) => (&mut self.guards[p].1, hash),
            None => panic!(
                "shard {id:?} of key {:?} was not locked",
                String::from_utf8_lossy(key)
            ),
        }
    }

    /// Exchanges the contents of two databases whose shards are all held.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        let (lo, hi) = (a.min(b), a.max(b));
        let start = |db: usize| self.guards.iter().position(|(id, _)| id.0 as usize == db);
        let (Some(i), Some(j)) = (start(lo), start(hi)) else {
            panic!("databases {lo} and {hi} were not locked");
        };
        if lo == hi {
            return;
        }
        let (left, right) = self.guards.split_at_mut(j);
        for k in 0..self.ks.shards() {
            left[i + k].1.swap_contents(&mut right[k].1);
        }
    }

    /// Sends deletions the locked shards made by themselves (lazy expiry) to the write sink, so that they
    /// precede the command's own effects in the stream.
    pub fn drain_deleted(&mut self) {
        for ((db, _), g) in self.guards.iter_mut() {
            self.ks.drain_deleted(*db as usize, g);
        }
    }

    /// Takes the keys the running command changed: (database, key, removed).
    pub fn take_changes(&mut self) -> Vec<(usize, Box<[u8]>, bool)> {
        let mut out = Vec::new();
        for ((db, _), g) in self.guards.iter_mut() {
            out.extend(
                g.take_changes()
                    .map(|(k, removed)| (*db as usize, k, removed)),
            );
        }
        out
    }

    /// Takes the keys the running command created: (database, key).
    pub fn take_created(&mut self) -> Vec<(usize, Box<[u8]>)> {
        let mut out = Vec::new();
        for ((db, _), g) in self.guards.iter_mut() {
            out.extend(g.take_created().map(|k| (*db as usize, k)));
        }
        out
    }

    /// The locked shards of `db`, in order.
    pub fn shards_of(&mut self, db: usize) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards
            .iter_mut()
            .filter(move |(id, _)| id.0 as usize == db)
            .map(|(_, g)| &mut **g)
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        for ((db, _), g) in self.guards.iter_mut() {
            self.ks.drain_deleted(*db as usize, g);
            self.ks.report_memory(g, false);
            g.changes.clear();
            g.created.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(ks: &Keyspace, db: usize, key: &[u8], value: &[u8], expire: Option<u64>) {
        let mut held = ks.lock_key(db, key);
        let (shard, h) = held.shard(db, key);
        shard.set(
            h,
            Entry::new_str((h >> 32) as u32, key, value, expire, 0),
            1000,
        );
    }

    fn get(ks: &Keyspace, db: usize, key: &[u8], now: u64) -> Option<Vec<u8>> {
        let mut held = ks.lock_key(db, key);
        let (shard, h) = held.shard(db, key);
        shard
            .get(h, key, &Clock::lru(now))
            .map(|e| e.value().to_vec())
    }

    #[test]
    fn databases_are_independent() {
        let ks = Keyspace::new(4, 8);
        set(&ks, 0, b"k", b"zero", None);
        set(&ks, 1, b"k", b"one", None);
        assert_eq!(get(&ks, 0, b"k", 0).as_deref(), Some(&b"zero"[..]));
        assert_eq!(get(&ks, 1, b"k", 0).as_deref(), Some(&b"one"[..]));
        assert_eq!(get(&ks, 2, b"k", 0), None);
        ks.swap_db(0, 1);
        assert_eq!(get(&ks, 0, b"k", 0).as_deref(), Some(&b"one"[..]));
    }

    #[test]
    fn expired_keys_are_invisible_and_reclaimed_on_access() {
        let ks = Keyspace::new(1, 4);
        set(&ks, 0, b"t", b"v", Some(2000));
        assert!(get(&ks, 0, b"t", 2000).is_some());
        assert!(get(&ks, 0, b"t", 2001).is_none());
        assert_eq!(ks.dbsize(0), 0);
        assert_eq!(ks.expired_evicted().0, 1);
    }

    #[test]
    fn memory_accounting_follows_the_dataset() {
        let ks = Keyspace::new(1, 4);
        for i in 0..10_000 {
            set(&ks, 0, format!("key:{i:012}").as_bytes(), &[b'x'; 32], None);
        }
        let used = ks.used_memory();
        assert!(used >= 10_000 * 64, "{used}");
        assert!(used < 10_000 * 100, "{used}");
        ks.flush_db(0, false);
        assert!(
            ks.used_memory() < 4 * MEMORY_SYNC_BYTES,
            "{}",
            ks.used_memory()
        );
    }
}
