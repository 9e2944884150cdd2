//! The node's memcached-protocol state that outlives a connection: the bound port, a pending delayed
//! `flush_all`, the counters at the last `stats reset`, and the units of unbilled management requests.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::metering::memcache::STATS;

/// Memcached state shared by the node's connections.
#[derive(Debug, Default)]
pub struct State {
    /// The memcached port actually bound.
    pub port: AtomicU64,
    /// Request units charged since start for management requests (`version`, `stats`, `config`,
    /// `verbosity`, `mn`, `quit`): health checks and scrapes, which metering does not bill.
    pub unbilled_units: AtomicU64,
    /// Unix ms at which a delayed `flush_all` empties the cache (0: none pending).
    flush_at: AtomicU64,
    /// Counter totals at the last `stats reset`.
    reset_base: Mutex<[u64; STATS]>,
}

impl State {
    /// Schedules a delayed `flush_all` at Unix ms `at` (0 cancels a pending one).
    pub fn schedule_flush(&self, at: u64) {
        self.flush_at.store(at, Ordering::Relaxed);
    }

    /// True once, when a scheduled flush is due at `now_ms`: the caller empties the cache.
    pub fn take_due_flush(&self, now_ms: u64) -> bool {
        let at = self.flush_at.load(Ordering::Relaxed);
        at != 0
            && now_ms >= at
            && self
                .flush_at
                .compare_exchange(at, 0, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    /// Records the counter totals `stats reset` starts from.
    pub fn reset_stats(&self, totals: [u64; STATS]) {
        *self.reset_base.lock() = totals;
    }

    /// The counter totals at the last `stats reset`.
    pub fn stats_base(&self) -> [u64; STATS] {
        *self.reset_base.lock()
    }
}
