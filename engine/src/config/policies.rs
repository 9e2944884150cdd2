//! Policies the configuration chooses between: `maxmemory-policy` and the output-buffer limits of subscriber
//! connections. They are configuration types, so they sit here; the keyspace and pub/sub act on them.

use std::str::FromStr;

/// A `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// Refuse writes with `-OOM` once over the limit.
    NoEviction,
    /// Evict the least recently used key.
    AllKeysLru,
    /// Evict the least frequently used key.
    AllKeysLfu,
    /// Evict a random key.
    AllKeysRandom,
    /// Evict the least recently used key among keys with a TTL.
    VolatileLru,
    /// Evict the least frequently used key among keys with a TTL.
    VolatileLfu,
    /// Evict a random key among keys with a TTL.
    VolatileRandom,
    /// Evict the key with a TTL that expires soonest.
    VolatileTtl,
}

impl EvictionPolicy {
    /// Every policy, in the order Redis documents them.
    pub const ALL: [EvictionPolicy; 8] = [
        EvictionPolicy::NoEviction,
        EvictionPolicy::AllKeysLru,
        EvictionPolicy::AllKeysLfu,
        EvictionPolicy::AllKeysRandom,
        EvictionPolicy::VolatileLru,
        EvictionPolicy::VolatileLfu,
        EvictionPolicy::VolatileRandom,
        EvictionPolicy::VolatileTtl,
    ];

    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            EvictionPolicy::NoEviction => "noeviction",
            EvictionPolicy::AllKeysLru => "allkeys-lru",
            EvictionPolicy::AllKeysLfu => "allkeys-lfu",
            EvictionPolicy::AllKeysRandom => "allkeys-random",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
            EvictionPolicy::VolatileRandom => "volatile-random",
            EvictionPolicy::VolatileTtl => "volatile-ttl",
        }
    }

    /// True for the LFU policies (the entry clock then counts frequency).
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            EvictionPolicy::AllKeysLfu | EvictionPolicy::VolatileLfu
        )
    }

    /// True for the policies that evict only keys with a TTL.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            EvictionPolicy::VolatileLru
                | EvictionPolicy::VolatileLfu
                | EvictionPolicy::VolatileRandom
                | EvictionPolicy::VolatileTtl
        )
    }
}

impl FromStr for EvictionPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EvictionPolicy::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("invalid maxmemory-policy '{s}'"))
    }
}

/// The output-buffer limits of subscriber connections (`client-output-buffer-limit pubsub …`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimit {
    /// Disconnect as soon as this many bytes are queued (0: no limit).
    pub hard: u64,
    /// Disconnect when more than this many bytes stay queued …
    pub soft: u64,
    /// … for this many seconds.
    pub soft_seconds: u64,
}

impl BufferLimit {
    /// No limit (invalidation messages, which are small and must not be lost).
    pub const UNLIMITED: BufferLimit = BufferLimit {
        hard: 0,
        soft: 0,
        soft_seconds: 0,
    };
}

impl Default for BufferLimit {
    fn default() -> BufferLimit {
        BufferLimit {
            hard: 32 << 20,
            soft: 8 << 20,
            soft_seconds: 60,
        }
    }
}
