//! The encoding thresholds of Redis' configuration (`hash-max-listpack-entries`, `zset-max-listpack-value`,
//! `set-max-intset-entries`, `stream-node-max-entries`, …), read by the collections when they grow.
//!
//! They are process-wide, as in Redis: a node is one process, and a change applies to collections as they
//! next grow (a collection already converted stays converted). Relaxed atomics: a command racing a `CONFIG
//! SET` sees the old or the new value, either of which is valid.

use std::sync::atomic::{AtomicUsize, Ordering};

static HASH_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static HASH_VALUE: AtomicUsize = AtomicUsize::new(64);
static ZSET_ENTRIES: AtomicUsize = AtomicUsize::new(128);
static ZSET_VALUE: AtomicUsize = AtomicUsize::new(64);
static SET_INTS: AtomicUsize = AtomicUsize::new(512);
static STREAM_ENTRIES: AtomicUsize = AtomicUsize::new(100);
static STREAM_BYTES: AtomicUsize = AtomicUsize::new(4096);

/// The thresholds, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `hash-max-listpack-entries`: a hash with more fields is a hash table.
    pub hash_entries: usize,
    /// `hash-max-listpack-value`: a hash with a longer field or value is a hash table.
    pub hash_value: usize,
    /// `zset-max-listpack-entries`: a sorted set with more members is a skip list.
    pub zset_entries: usize,
    /// `zset-max-listpack-value`: a sorted set with a longer member is a skip list.
    pub zset_value: usize,
    /// `set-max-intset-entries`: an integer set with more members is a hash table.
    pub set_ints: usize,
    /// `stream-node-max-entries` (0 = no limit): entries per stream node.
    pub stream_entries: usize,
    /// `stream-node-max-bytes` (0 = no limit): bytes per stream node.
    pub stream_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hash_entries: 128,
            hash_value: 64,
            zset_entries: 128,
            zset_value: 64,
            set_ints: 512,
            stream_entries: 100,
            stream_bytes: 4096,
        }
    }
}

/// Puts `l` in force.
pub fn apply(l: &Limits) {
    HASH_ENTRIES.store(l.hash_entries, Ordering::Relaxed);
    HASH_VALUE.store(l.hash_value, Ordering::Relaxed);
    ZSET_ENTRIES.store(l.zset_entries, Ordering::Relaxed);
    ZSET_VALUE.store(l.zset_value, Ordering::Relaxed);
    SET_INTS.store(l.set_ints, Ordering::Relaxed);
    STREAM_ENTRIES.store(l.stream_entries, Ordering::Relaxed);
    STREAM_BYTES.store(l.stream_bytes, Ordering::Relaxed);
}

/// `hash-max-listpack-entries`.
#[inline]
pub fn hash_entries() -> usize {
    HASH_ENTRIES.load(Ordering::Relaxed)
}

/// `hash-max-listpack-value`.
#[inline]
pub fn hash_value() -> usize {
    HASH_VALUE.load(Ordering::Relaxed)
}

/// `zset-max-listpack-entries`.
#[inline]
pub fn zset_entries() -> usize {
    ZSET_ENTRIES.load(Ordering::Relaxed)
}

/// `zset-max-listpack-value`.
#[inline]
pub fn zset_value() -> usize {
    ZSET_VALUE.load(Ordering::Relaxed)
}

/// `set-max-intset-entries`.
#[inline]
pub fn set_ints() -> usize {
    SET_INTS.load(Ordering::Relaxed)
}

/// `stream-node-max-entries`, `usize::MAX` for 0 (no limit).
#[inline]
pub fn stream_entries() -> usize {
    match STREAM_ENTRIES.load(Ordering::Relaxed) {
        0 => usize::MAX,
        n => n,
    }
}

/// `stream-node-max-bytes`, `usize::MAX` for 0 (no limit).
#[inline]
pub fn stream_bytes() -> usize {
    match STREAM_BYTES.load(Ordering::Relaxed) {
        0 => usize::MAX,
        n => n,
    }
}
