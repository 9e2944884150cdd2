//! The memcached request context and the item rules every memcached command shares: exptime, storing with
//! `max-item-size`, counters for incr/decr, eviction before a write.

use super::dispatch::ensure_memory;
use super::session::Session;
use crate::config::Config;
use crate::keyspace::entry::Item;
use crate::keyspace::{Clock, Entry, Shard};
use crate::metering::memcache::Stat;
use crate::node::Node;

/// The memcached version clients are told (they pick features, such as meta commands, by it).
pub const MEMCACHED_COMPAT_VERSION: &str = "1.6.18";
/// The database memcached items live in.
pub const DB: usize = 0;
/// Longest relative exptime, in seconds (30 days); larger values are absolute unix times.
const RELATIVE_EXPTIME_MAX: i64 = 60 * 60 * 24 * 30;

/// Everything a memcached request may use.
pub struct Ctx<'a> {
    /// The node.
    pub node: &'a Node,
    /// The configuration snapshot of this batch.
    pub cfg: &'a Config,
    /// Time and access-clock settings of this batch.
    pub clock: Clock,
    /// The connection's session (counters, eviction pool, close flag).
    pub session: &'a mut Session,
    /// The reply buffer.
    pub out: &'a mut Vec<u8>,
}

impl Ctx<'_> {
    /// Counts a memcached statistic.
    #[inline]
    pub fn count(&self, stat: Stat, n: u64) {
        self.session.counters.memcache.add(stat, n);
    }

    /// Counts a read hit or miss, in both the memcached and the keyspace counters.
    #[inline]
    pub fn count_lookup(&self, hit: bool) {
        let c = &self.session.counters;
        if hit {
            c.memcache.add(Stat::GetHits, 1);
            c.hits.add(1);
        } else {
            c.memcache.add(Stat::GetMisses, 1);
            c.misses.add(1);
        }
    }

    /// Appends bytes to the reply.
    #[inline]
    pub fn put(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }

    /// Appends a number to the reply.
    #[inline]
    pub fn put_num(&mut self, n: impl itoa::Integer) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }
}

/// The absolute expiry (unix ms) of a memcached exptime; `Some(0)` means already expired.
pub fn expiry(exptime: i64, now_ms: u64) -> Option<u64> {
    match exptime {
        0 => None,
        e if e < 0 => Some(0),
        e if e <= RELATIVE_EXPTIME_MAX => Some(now_ms + e as u64 * 1000),
        e => Some((e as u64).saturating_mul(1000)),
    }
}

/// Seconds left before an expiry, rounded up; -1 when the key never expires.
pub fn ttl_seconds(expire: Option<u64>, now_ms: u64) -> i64 {
    match expire {
        None => -1,
        Some(at) => at.saturating_sub(now_ms).div_ceil(1000) as i64,
    }
}

/// Stores an item, replacing any value of the key; returns its CAS unique (`cas`, or a fresh one).
#[allow(clippy::too_many_arguments)]
pub fn put_item(
    shard: &mut Shard,
    hash: u64,
    key: &[u8],
    parts: &[&[u8]],
    flags: u32,
    expire: Option<u64>,
    clock: &Clock,
    cas: Option<u64>,
) -> u64 {
    let cas = cas.unwrap_or_else(|| shard.next_cas());
    let item = Item {
        flags,
        cas,
        bits: 0,
    };
    let entry = Entry::new_item(
        (hash >> 32) as u32,
        key,
        parts,
        expire,
        clock.initial(),
        item,
    );
    shard.set(hash, entry, clock.now_ms);
    cas
}

/// Stores a value for a text storage command. Items with client flags 0 are stored as plain strings, 16 bytes
/// smaller: their CAS unique is assigned on first demand (`gets`, `mg c`) from the shard's increasing counter,
/// so it still differs from every CAS handed out for the key before.
#[allow(clippy::too_many_arguments)]
pub fn put_value(
    shard: &mut Shard,
    hash: u64,
    key: &[u8],
    parts: &[&[u8]],
    flags: u32,
    expire: Option<u64>,
    clock: &Clock,
) {
    if flags != 0 {
        put_item(shard, hash, key, parts, flags, expire, clock, None);
        return;
    }
    let entry = Entry::new_str_parts((hash >> 32) as u32, key, parts, expire, clock.initial());
    shard.set(hash, entry, clock.now_ms);
}

/// Why an incr/decr failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithError {
    /// The key does not exist.
    NotFound,
    /// The value is not a 64-bit unsigned decimal number.
    NonNumeric,
}

/// Parses a stored counter value: decimal digits, optionally surrounded by spaces.
fn counter_value(value: &[u8]) -> Option<u64> {
    crate::protocol::memcache::parse_u64(value.trim_ascii())
}

/// incr/decr on the live item in slot `i`: returns the new value. The item keeps its flags and TTL and gets a
/// new CAS unique (`cas`, or a fresh one).
pub fn arith_at(
    shard: &mut Shard,
    hash: u64,
    i: usize,
    incr: bool,
    delta: u64,
    clock: &Clock,
    cas: Option<u64>,
) -> Result<u64, ArithError> {
    let e = shard.at(i);
    let current = counter_value(e.value()).ok_or(ArithError::NonNumeric)?;
    let next = if incr {
        current.wrapping_add(delta)
    } else {
        current.saturating_sub(delta)
    };
    let mut buf = itoa::Buffer::new();
    let text = buf.format(next).as_bytes();
    if e.value().len() == text.len() {
        let e = shard.at_mut(i);
        e.value_mut().copy_from_slice(text);
        if let Some(c) = cas {
            e.set_cas(c);
        }
    } else {
        let (flags, expire) = (e.item().map_or(0, |it| it.flags), e.expire());
        let key = e.key().to_vec();
        put_item(shard, hash, &key, &[text], flags, expire, clock, cas);
    }
    Ok(next)
}

/// Makes room under `maxmemory` before a write; false when nothing could be evicted.
pub fn room_for_write(ctx: &mut Ctx) -> bool {
    let ok = ensure_memory(ctx.node, ctx.cfg, &ctx.clock, &mut ctx.session.evictor).is_ok();
    if !ok {
        ctx.count(Stat::StoreNoMemory, 1);
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exptime_is_relative_up_to_thirty_days_then_absolute() {
        let now = 1_700_000_000_000;
        assert_eq!(expiry(0, now), None);
        assert_eq!(expiry(-1, now), Some(0));
        assert_eq!(expiry(10, now), Some(now + 10_000));
        assert_eq!(
            expiry(RELATIVE_EXPTIME_MAX, now),
            Some(now + RELATIVE_EXPTIME_MAX as u64 * 1000)
        );
        assert_eq!(
            expiry(RELATIVE_EXPTIME_MAX + 1, now),
            Some((RELATIVE_EXPTIME_MAX as u64 + 1) * 1000)
        );
        assert_eq!(expiry(1_800_000_000, now), Some(1_800_000_000_000));
    }

    #[test]
    fn ttl_rounds_up_and_reports_minus_one_without_expiry() {
        assert_eq!(ttl_seconds(None, 5), -1);
        assert_eq!(ttl_seconds(Some(10_000), 1), 10);
        assert_eq!(ttl_seconds(Some(10), 20), 0);
    }

    #[test]
    fn counters_accept_surrounding_spaces_only() {
        assert_eq!(counter_value(b" 5"), Some(5));
        assert_eq!(counter_value(b"1   "), Some(1));
        assert_eq!(counter_value(b"abc"), None);
        assert_eq!(counter_value(b"123456789012345678901"), None);
    }
}
