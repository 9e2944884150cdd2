//! Counters of the Memcached protocol: the per-command hit and miss fields memcached's `stats` reports.
//!
//! Like the Redis counters, each worker thread owns one block and only it writes there; `stats` adds every
//! worker's block up, and `stats reset` records the totals of that moment as a base to subtract.

use super::{Counter, Metering};

/// What a memcached counter counts; the name is the `stats` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub enum Stat {
    /// Retrieval keys requested (get, gets, gat, gats, mg).
    CmdGet,
    /// Storage commands (set, add, replace, append, prepend, cas, ms).
    CmdSet,
    /// flush_all commands.
    CmdFlush,
    /// touch, gat, gats commands.
    CmdTouch,
    /// Meta commands.
    CmdMeta,
    /// Retrieval keys found.
    GetHits,
    /// Retrieval keys missing.
    GetMisses,
    /// delete of an existing key.
    DeleteHits,
    /// delete of a missing key.
    DeleteMisses,
    /// incr of an existing key.
    IncrHits,
    /// incr of a missing key.
    IncrMisses,
    /// decr of an existing key.
    DecrHits,
    /// decr of a missing key.
    DecrMisses,
    /// cas that stored.
    CasHits,
    /// cas of a missing key.
    CasMisses,
    /// cas refused because the item changed.
    CasBadval,
    /// touch of an existing key.
    TouchHits,
    /// touch of a missing key.
    TouchMisses,
    /// Items refused as larger than `max-item-size`.
    StoreTooLarge,
    /// Items refused for lack of memory.
    StoreNoMemory,
    /// Items stored.
    TotalItems,
    /// Request units (ECPU) charged to memcached commands.
    Units,
}

/// Number of [`Stat`]s.
pub const STATS: usize = Stat::Units as usize + 1;

/// The `stats` field names, indexed by [`Stat`].
pub const STAT_NAMES: [&str; STATS] = [
    "cmd_get",
    "cmd_set",
    "cmd_flush",
    "cmd_touch",
    "cmd_meta",
    "get_hits",
    "get_misses",
    "delete_hits",
    "delete_misses",
    "incr_hits",
    "incr_misses",
    "decr_hits",
    "decr_misses",
    "cas_hits",
    "cas_misses",
    "cas_badval",
    "touch_hits",
    "touch_misses",
    "store_too_large",
    "store_no_memory",
    "total_items",
    "ecpu_memcached",
];

/// One worker's memcached counters.
#[derive(Debug, Default)]
pub struct MemcacheCounters([Counter; STATS]);

impl MemcacheCounters {
    /// Adds `n` to a counter. Only the owning thread may call this.
    #[inline]
    pub fn add(&self, stat: Stat, n: u64) {
        self.0[stat as usize].add(n);
    }
}

impl Metering {
    /// Memcached counters summed over every worker, since start.
    pub fn memcache_totals(&self) -> [u64; STATS] {
        let mut t = [0; STATS];
        for w in self.workers.lock().iter() {
            for (acc, c) in t.iter_mut().zip(w.memcache.0.iter()) {
                *acc += c.get();
            }
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_add_up_every_worker() {
        let m = Metering::default();
        let (a, b) = (m.register_worker(), m.register_worker());
        a.memcache.add(Stat::GetHits, 2);
        b.memcache.add(Stat::GetHits, 3);
        b.memcache.add(Stat::Units, 1);
        let t = m.memcache_totals();
        assert_eq!((t[Stat::GetHits as usize], t[Stat::Units as usize]), (5, 1));
        assert_eq!(STAT_NAMES[Stat::Units as usize], "ecpu_memcached");
    }
}
