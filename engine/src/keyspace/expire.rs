//! Active expiry: reclaims keys whose TTL passed even if nobody reads them again.
//!
//! Lazy expiry (a read of an expired key deletes it) is not enough for a cache: keys written once with a TTL
//! would hold memory forever. Ten times a second the cycle walks every shard from where it stopped last time,
//! looking only at slots whose tag says "has TTL", and deletes the expired ones. Like Redis, it keeps going while
//! more than a quarter of the keys it looks at turn out to be expired, within a time budget of 25% of a tick.

use std::time::{Duration, Instant};

use super::Keyspace;

/// Slots looked at per shard per round.
const SLOTS_PER_ROUND: usize = 512;

/// What one cycle did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CycleStats {
    /// Keys with a TTL looked at.
    pub checked: usize,
    /// Keys deleted.
    pub expired: usize,
}

impl Keyspace {
    /// Runs one active-expiry cycle, bounded by `budget` of wall time.
    pub fn active_expire_cycle(&self, now_ms: u64, budget: Duration) -> CycleStats {
        let started = Instant::now();
        let mut total = CycleStats::default();
        loop {
            let mut round = CycleStats::default();
            for db in 0..self.databases() {
                for s in 0..self.shards() {
                    let mut shard = self.lock_shard(db, s);
                    if shard.is_empty() {
                        continue;
                    }
                    let (checked, expired) = shard.expire_step(SLOTS_PER_ROUND, now_ms);
                    round.checked += checked;
                    round.expired += expired;
                    if expired > 0 {
                        self.drain_deleted(db, &mut shard);
                        self.report_memory(&mut shard, false);
                    }
                }
            }
            total.checked += round.checked;
            total.expired += round.expired;
            let mostly_expired = round.expired * 4 > round.checked && round.expired > 0;
            if !mostly_expired || started.elapsed() >= budget {
                return total;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Entry;

    #[test]
    fn active_cycle_reclaims_expired_keys_nobody_reads() {
        let ks = Keyspace::new(1, 4);
        for i in 0..5000u64 {
            let key = format!("k{i}");
            let mut held = ks.lock_key(0, key.as_bytes());
            let (shard, h) = held.shard(0, key.as_bytes());
            let ttl = if i % 5 == 0 { None } else { Some(1000) };
            shard.set(
                h,
                Entry::new_str((h >> 32) as u32, key.as_bytes(), b"v", ttl, 0),
                0,
            );
        }
        let mut expired = 0;
        for _ in 0..20 {
            expired += ks
                .active_expire_cycle(2000, Duration::from_millis(25))
                .expired;
        }
        assert_eq!(expired, 4000);
        assert_eq!(ks.dbsize(0), 1000);
    }
}
