//! `maxmemory` eviction: the eight Redis policies, with Redis' approximations.
//!
//! Each entry carries a 24-bit access clock. Under an LRU policy it is the time of last access in seconds (mod
//! 2^24, like Redis' `LRU_CLOCK`); under an LFU policy it is 16 bits of "last decrement" time in minutes and an
//! 8-bit logarithmic counter, incremented with probability `1 / ((counter - 5) * lfu-log-factor + 1)` and halved
//! every `lfu-decay-time` minutes of idleness. Eviction samples `maxmemory-samples` random keys, keeps the best
//! candidates in a small pool across rounds (as Redis' eviction pool does), and deletes the best one until
//! memory is under the limit.

use super::{Clock, Keyspace};
pub use crate::config::EvictionPolicy;

const CLOCK_MASK: u32 = (1 << 24) - 1;
const LFU_INIT: u32 = 5;

/// The LRU clock at `now_ms`: seconds, modulo 2^24.
pub fn lru_clock(now_ms: u64) -> u32 {
    ((now_ms / 1000) as u32) & CLOCK_MASK
}

/// Seconds since the access recorded in an LRU clock value.
pub fn lru_idle_seconds(clock: u32, now_ms: u64) -> u64 {
    (lru_clock(now_ms).wrapping_sub(clock) & CLOCK_MASK) as u64
}

fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) as u32) & 0xFFFF
}

/// The LFU clock of a new key: counter 5, so new keys are not evicted first.
pub fn lfu_initial(now_ms: u64) -> u32 {
    (minutes(now_ms) << 8) | LFU_INIT
}

/// The LFU counter after decay for idleness.
pub fn lfu_decayed(clock: u32, now_ms: u64, decay_time: u32) -> u32 {
    let counter = clock & 0xFF;
    if decay_time == 0 {
        return counter;
    }
    let last = (clock >> 8) & 0xFFFF;
    let elapsed = minutes(now_ms).wrapping_sub(last) & 0xFFFF;
    counter.saturating_sub(elapsed / decay_time)
}

/// The LFU clock after one access.
pub fn lfu_on_access(clock: u32, now_ms: u64, log_factor: u32, decay_time: u32) -> u32 {
    let mut counter = lfu_decayed(clock, now_ms, decay_time);
    if counter < 255 {
        let base = counter.saturating_sub(LFU_INIT) as f64;
        let p = 1.0 / (base * log_factor as f64 + 1.0);
        if fastrand::f64() < p {
            counter += 1;
        }
    }
    (minutes(now_ms) << 8) | counter
}

/// A candidate for eviction: higher `score` is evicted first.
#[derive(Debug, Clone)]
struct Candidate {
    score: u64,
    db: usize,
    key: Box<[u8]>,
}

/// Size of the pool of best candidates kept across sampling rounds.
const POOL: usize = 16;

/// The eviction pool of one thread.
#[derive(Debug, Default)]
pub struct Evictor {
    pool: Vec<Candidate>,
}

/// Why memory could not be brought under the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictError {
    /// The policy is `noeviction`.
    NoEviction,
    /// No key eligible under the policy is left.
    NothingToEvict,
}

impl Evictor {
    /// Evicts keys until the dataset is under `maxmemory`; returns how many keys were evicted.
    pub fn make_room(
        &mut self,
        ks: &Keyspace,
        maxmemory: usize,
        policy: EvictionPolicy,
        samples: usize,
        clock: &Clock,
    ) -> Result<usize, EvictError> {
        let mut evicted = 0;
        while ks.used_memory() > maxmemory {
            if policy == EvictionPolicy::NoEviction {
                return Err(EvictError::NoEviction);
            }
            if !self.evict_one(ks, policy, samples, clock) {
                return Err(EvictError::NothingToEvict);
            }
            evicted += 1;
        }
        Ok(evicted)
    }

    fn evict_one(
        &mut self,
        ks: &Keyspace,
        policy: EvictionPolicy,
        samples: usize,
        clock: &Clock,
    ) -> bool {
        for _ in 0..4 {
            self.sample_into_pool(ks, policy, samples.max(1), clock);
            while let Some(best) = self.pool.pop() {
                if delete_candidate(ks, &best, clock.now_ms) {
                    return true;
                }
            }
        }
        false
    }

    fn sample_into_pool(
        &mut self,
        ks: &Keyspace,
        policy: EvictionPolicy,
        samples: usize,
        clock: &Clock,
    ) {
        let dbs = ks.databases();
        let shards = ks.shards();
        let mut found = 0;
        // Bounded attempts: empty shards and databases are skipped, but never forever.
        for _ in 0..samples * 64 {
            if found >= samples {
                break;
            }
            let db = fastrand::usize(..dbs);
            let s = fastrand::usize(..shards);
            let guard = ks.lock_shard(db, s);
            if guard.is_empty() {
                continue;
            }
            let slot = if policy.volatile_only() {
                guard.random_volatile_slot(fastrand::u64(..), 256)
            } else {
                guard.random_slot(fastrand::u64(..))
            };
            let Some(i) = slot else { continue };
            let e = guard.at(i);
            let score = match policy {
                EvictionPolicy::AllKeysLru | EvictionPolicy::VolatileLru => {
                    lru_idle_seconds(e.clock(), clock.now_ms)
                }
                EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu => {
                    255 - lfu_decayed(e.clock(), clock.now_ms, clock.lfu_decay_time) as u64
                }
                EvictionPolicy::VolatileTtl => u64::MAX - e.expire().unwrap_or(u64::MAX),
                EvictionPolicy::AllKeysRandom
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::NoEviction => 0,
            };
            found += 1;
            if self.pool.iter().any(|c| c.db == db && *c.key == *e.key()) {
                continue;
            }
            self.pool.push(Candidate {
                score,
                db,
                key: e.key().into(),
            });
        }
        // Best candidate last, so `pop` takes it.
        self.pool.sort_by_key(|c| c.score);
        if self.pool.len() > POOL {
            self.pool.drain(..self.pool.len() - POOL);
        }
    }
}

fn delete_candidate(ks: &Keyspace, c: &Candidate, now_ms: u64) -> bool {
    let mut held = ks.lock_key(c.db, &c.key);
    let (shard, hash) = held.shard(c.db, &c.key);
    let Some(i) = shard.find(hash, &c.key, now_ms) else {
        return false;
    };
    shard.evict_at(i);
    shard.shrink();
    ks.report_memory(shard, true);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Entry;

    fn fill(ks: &Keyspace, n: usize, ttl: impl Fn(usize) -> Option<u64>, clock: &Clock) {
        for i in 0..n {
            let key = format!("key:{i}");
            let mut held = ks.lock_key(0, key.as_bytes());
            let (shard, h) = held.shard(0, key.as_bytes());
            let mut e = Entry::new_str((h >> 32) as u32, key.as_bytes(), &[0; 100], ttl(i), 0);
            e.set_clock(clock.initial());
            shard.set(h, e, clock.now_ms);
        }
    }

    #[test]
    fn policies_parse_from_their_names() {
        for p in EvictionPolicy::ALL {
            assert_eq!(p.name().parse::<EvictionPolicy>(), Ok(p));
        }
        assert!("allkeys-fifo".parse::<EvictionPolicy>().is_err());
    }

    #[test]
    fn noeviction_refuses_and_others_bring_memory_under_the_limit() {
        let clock = Clock::lru(1_000_000);
        for policy in EvictionPolicy::ALL {
            let ks = Keyspace::new(2, 8);
            fill(&ks, 2000, |_| Some(5_000_000), &clock);
            let limit = ks.used_memory() / 2;
            let result = Evictor::default().make_room(&ks, limit, policy, 5, &clock);
            if policy == EvictionPolicy::NoEviction {
                assert_eq!(result, Err(EvictError::NoEviction));
            } else {
                assert!(result.is_ok(), "{policy:?}");
                assert!(ks.used_memory() <= limit, "{policy:?}");
            }
        }
    }

    #[test]
    fn volatile_policies_never_evict_keys_without_ttl() {
        let clock = Clock::lru(1_000_000);
        let ks = Keyspace::new(1, 8);
        fill(&ks, 1000, |i| (i % 2 == 0).then_some(5_000_000), &clock);
        let limit = ks.used_memory() / 4;
        let result =
            Evictor::default().make_room(&ks, limit, EvictionPolicy::VolatileLru, 5, &clock);
        assert_eq!(result, Err(EvictError::NothingToEvict));
        assert_eq!(ks.dbsize(0), 500);
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let mut c = lfu_initial(0);
        for _ in 0..1000 {
            c = lfu_on_access(c, 0, 10, 1);
        }
        let counter = c & 0xFF;
        assert!(counter > 10 && counter < 60, "{counter}");
        assert_eq!(lfu_decayed(c, 10 * 60_000, 1), counter.saturating_sub(10));
    }
}
