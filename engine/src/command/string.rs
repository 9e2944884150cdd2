//! String commands: GET/SET and their variants, counters, ranges.
//!
//! Strings are byte arrays; integers and floats are strings in canonical decimal form, parsed on use (INCR
//! rewrites the block in place when the new number has the same width).

use super::args::{self, is};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use crate::keyspace::entry::Kind;
use crate::keyspace::{Clock, Entry, Shard};
use crate::protocol::reply::format_double;

/// What happens to a key's TTL when it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ttl {
    /// Remove any TTL (plain SET).
    Clear,
    /// Keep the current TTL (KEEPTTL).
    Keep,
    /// Expire at this unix time in ms.
    At(u64),
}

/// Parses the value of an EX/PX/EXAT/PXAT option into an absolute unix time in ms.
pub fn expire_at(option: &[u8], value: &[u8], now_ms: u64, command: &str) -> Result<u64, CmdError> {
    let invalid = || CmdError::err(format_args!("invalid expire time in '{command}' command"));
    let n = args::int(value)?;
    if n <= 0 {
        return Err(invalid());
    }
    let n = n as u64;
    let at = if is(option, "ex") {
        n.checked_mul(1000).and_then(|ms| ms.checked_add(now_ms))
    } else if is(option, "px") {
        n.checked_add(now_ms)
    } else if is(option, "exat") {
        n.checked_mul(1000)
    } else {
        Some(n)
    };
    match at {
        Some(at) if at <= i64::MAX as u64 => Ok(at),
        _ => Err(invalid()),
    }
}

/// The string value of a live key; WRONGTYPE for other types.
fn string_of<'e>(
    shard: &'e mut Shard,
    hash: u64,
    key: &[u8],
    clock: &Clock,
) -> Result<Option<&'e Entry>, CmdError> {
    match shard.get(hash, key, clock) {
        Some(e) if e.kind() != Kind::Str => Err(CmdError::WrongType),
        other => Ok(other),
    }
}

/// True for the options that take an expiry time: EX, PX, EXAT, PXAT.
fn is_expire_option(opt: &[u8]) -> bool {
    ["ex", "px", "exat", "pxat"].iter().any(|o| is(opt, o))
}

/// The `key value [key value …]` arguments of MSET and MSETNX; the arity error when a value is missing.
fn key_value_pairs<'a>(c: &Call<'a, '_>) -> Result<&'a [&'a [u8]], CmdError> {
    let mut a = c.args();
    let pairs = a.rest();
    match pairs.len() % 2 {
        0 => Ok(pairs),
        _ => Err(a.arity_error()),
    }
}

/// Writes a string, applying `ttl` relative to the previous entry.
pub fn store(shard: &mut Shard, hash: u64, key: &[u8], value: &[u8], ttl: Ttl, clock: &Clock) {
    let expire = match ttl {
        Ttl::Clear => None,
        Ttl::At(at) => Some(at),
        Ttl::Keep => shard
            .find(hash, key, clock.now_ms)
            .and_then(|i| shard.at(i).expire()),
    };
    let entry = Entry::new_str((hash >> 32) as u32, key, value, expire, clock.initial());
    shard.set(hash, entry, clock.now_ms);
}

/// GET key
pub fn get(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let (shard, h) = c.held.shard(c.session.db, key);
    let hit = match string_of(shard, h, key, &c.clock)? {
        Some(e) => {
            c.out.bulk(e.value());
            true
        }
        None => {
            c.out.null();
            false
        }
    };
    c.count_lookup(hit);
    Ok(())
}

/// SET key value [NX|XX] [GET] [EX s|PX ms|EXAT t|PXAT t|KEEPTTL]
pub fn set(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, value) = (a.key()?, a.bytes()?);
    let (mut nx, mut xx, mut want_old) = (false, false, false);
    let mut ttl = Ttl::Clear;
    let mut has_ttl_option = false;
    while let Some(opt) = a.optional() {
        if is(opt, "nx") && !xx {
            nx = true;
        } else if is(opt, "xx") && !nx {
            xx = true;
        } else if is(opt, "get") {
            want_old = true;
        } else if is(opt, "keepttl") && !has_ttl_option {
            has_ttl_option = true;
            ttl = Ttl::Keep;
        } else if is_expire_option(opt) && !has_ttl_option && !a.is_empty() {
            has_ttl_option = true;
            ttl = Ttl::At(expire_at(opt, a.bytes()?, c.clock.now_ms, "set")?);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    let existing = shard.find(h, key, clock.now_ms);
    if want_old {
        match existing.map(|i| shard.at(i)) {
            Some(e) if e.kind() != Kind::Str => return Err(CmdError::WrongType),
            Some(e) => c.out.bulk(e.value()),
            None => c.out.null(),
        }
    }
    if (nx && existing.is_some()) || (xx && existing.is_none()) {
        if !want_old {
            c.out.null();
        }
        return Ok(());
    }
    store(shard, h, key, value, ttl, &clock);
    if !want_old {
        c.out.ok();
    }
    if let Ttl::At(at) = ttl {
        // Replicas get the absolute deadline, not a relative TTL counted from their own clock.
        let at = at.to_string();
        c.replicate_as(&[&[b"SET", key, value, b"PXAT", at.as_bytes()]]);
    }
    Ok(())
}

/// SETNX key value
pub fn setnx(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, value) = (a.key()?, a.bytes()?);
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    if shard.find(h, key, clock.now_ms).is_some() {
        c.out.int(0);
    } else {
        store(shard, h, key, value, Ttl::Clear, &clock);
        c.out.int(1);
    }
    Ok(())
}

/// SETEX key seconds value / PSETEX key milliseconds value
pub fn setex(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (unit, name): (&[u8], _) = match a.called("psetex") {
        true => (b"px", "psetex"),
        false => (b"ex", "setex"),
    };
    let key = a.key()?;
    let at = expire_at(unit, a.bytes()?, c.clock.now_ms, name)?;
    let value = a.bytes()?;
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    store(shard, h, key, value, Ttl::At(at), &clock);
    c.out.ok();
    let at = at.to_string();
    c.replicate_as(&[&[b"SET", key, value, b"PXAT", at.as_bytes()]]);
    Ok(())
}

/// GETSET key value
pub fn getset(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, value) = (a.key()?, a.bytes()?);
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    match string_of(shard, h, key, &clock)? {
        Some(e) => c.out.bulk(e.value()),
        None => c.out.null(),
    }
    store(shard, h, key, value, Ttl::Clear, &clock);
    Ok(())
}

/// GETDEL key
pub fn getdel(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    match string_of(shard, h, key, &clock)? {
        Some(e) => {
            c.out.bulk(e.value());
            shard.delete(h, key, clock.now_ms);
        }
        None => c.out.null(),
    }
    Ok(())
}

/// GETEX key [EX s|PX ms|EXAT t|PXAT t|PERSIST]
pub fn getex(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let mut change: Option<Option<u64>> = None;
    while let Some(opt) = a.optional() {
        if is(opt, "persist") && change.is_none() {
            change = Some(None);
        } else if is_expire_option(opt) && change.is_none() && !a.is_empty() {
            change = Some(Some(expire_at(opt, a.bytes()?, c.clock.now_ms, "getex")?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    let Some(e) = string_of(shard, h, key, &clock)? else {
        c.out.null();
        c.replicate_as(&[]);
        return Ok(());
    };
    c.out.bulk(e.value());
    let Some(expire) = change else {
        c.replicate_as(&[]);
        return Ok(());
    };
    if let Some(i) = shard.find(h, key, clock.now_ms) {
        match expire {
            Some(at) if at <= clock.now_ms => {
                shard.delete(h, key, clock.now_ms);
            }
            _ => shard.update_at(i, |e| e.with_expire(expire)),
        }
    }
    match expire {
        Some(at) if at <= clock.now_ms => c.replicate_as(&[&[b"DEL", key]]),
        Some(at) => c.replicate_as(&[&[b"PEXPIREAT", key, at.to_string().as_bytes()]]),
        None => c.replicate_as(&[&[b"PERSIST", key]]),
    }
    Ok(())
}

/// MGET key [key …]
pub fn mget(c: &mut Call) -> CmdResult {
    let keys = c.args().rest();
    c.touched(keys.len());
    c.out.array(keys.len());
    for &key in keys {
        let (shard, h) = c.held.shard(c.session.db, key);
        match shard.get(h, key, &c.clock) {
            Some(e) if e.kind() == Kind::Str => {
                c.out.bulk(e.value());
                c.session.counters.hits.add(1);
            }
            _ => {
                c.out.null();
                c.session.counters.misses.add(1);
            }
        }
    }
    Ok(())
}

/// MSET key value [key value …]
pub fn mset(c: &mut Call) -> CmdResult {
    let pairs = key_value_pairs(c)?;
    let clock = c.clock;
    for pair in pairs.chunks(2) {
        let (shard, h) = c.held.shard(c.session.db, pair[0]);
        store(shard, h, pair[0], pair[1], Ttl::Clear, &clock);
    }
    c.out.ok();
    Ok(())
}

/// MSETNX key value [key value …]: all or nothing.
pub fn msetnx(c: &mut Call) -> CmdResult {
    let pairs = key_value_pairs(c)?;
    let clock = c.clock;
    for pair in pairs.chunks(2) {
        let (shard, h) = c.held.shard(c.session.db, pair[0]);
        if shard.find(h, pair[0], clock.now_ms).is_some() {
            c.out.int(0);
            return Ok(());
        }
    }
    for pair in pairs.chunks(2) {
        let (shard, h) = c.held.shard(c.session.db, pair[0]);
        store(shard, h, pair[0], pair[1], Ttl::Clear, &clock);
    }
    c.out.int(1);
    Ok(())
}

/// INCR, DECR, INCRBY, DECRBY
pub fn incr(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let delta = if a.called("incr") {
        1
    } else if a.called("decr") {
        -1
    } else if a.called("incrby") {
        a.int()?
    } else {
        match a.int()?.checked_neg() {
            Some(d) => d,
            None => return Err(CmdError::err("decrement would overflow")),
        }
    };
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    let slot = shard.find(h, key, clock.now_ms);
    let current = match slot.map(|i| shard.at(i)) {
        Some(e) if e.kind() != Kind::Str => return Err(CmdError::WrongType),
        Some(e) => args::canonical_i64(e.value()).ok_or(CmdError::NotInteger)?,
        None => 0,
    };
    let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
    let mut buf = itoa::Buffer::new();
    let text = buf.format(next).as_bytes();
    match slot {
        Some(i) if shard.at(i).value().len() == text.len() => {
            shard.at_mut(i).value_mut().copy_from_slice(text);
        }
        _ => store(shard, h, key, text, Ttl::Keep, &clock),
    }
    c.out.int(next);
    Ok(())
}

/// INCRBYFLOAT key increment
pub fn incrbyfloat(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, delta) = (a.key()?, a.float()?);
    let clock = c.clock;
    let (shard, h) = c.held.shard(c.session.db, key);
    let current = match string_of(shard, h, key, &clock)? {
        Some(e) => args::float(e.value())?,
        None => 0.0,
    };
    let next = current + delta;
    if !next.is_finite() {
        return Err(CmdError::err("increment would produce NaN or Infinity"));
    }
    let text = format_double(next);
    store(shard, h, key, text.as_bytes(), Ttl::Keep, &clock);
    c.out.bulk(text.as_bytes());
    c.replicate_as(&[&[b"SET", key, text.as_bytes(), b"KEEPTTL"]]);
    Ok(())
}

/// APPEND key value
pub fn append(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, value) = (a.key()?, a.bytes()?);
    let clock = c.clock;
    let max = c.cfg.proto_max_bulk_len as usize;
    let (shard, h) = c.held.shard(c.session.db, key);
    let len = match string_of(shard, h, key, &clock)? {
        Some(e) => {
            let len = e.value().len() + value.len();
            if len > max {
                return Err(CmdError::err(
                    "string exceeds maximum allowed size (proto-max-bulk-len)",
                ));
            }
            let expire = e.expire();
            let joined = Entry::new_str_parts(
                (h >> 32) as u32,
                key,
                &[e.value(), value],
                expire,
                e.clock(),
            );
            shard.set(h, joined, clock.now_ms);
            len
        }
        None => {
            store(shard, h, key, value, Ttl::Clear, &clock);
            value.len()
        }
    };
    c.out.int(len as i64);
    Ok(())
}

/// STRLEN key
pub fn strlen(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let (shard, h) = c.held.shard(c.session.db, key);
    let n = string_of(shard, h, key, &c.clock)?.map_or(0, |e| e.value().len());
    c.out.int(n as i64);
    Ok(())
}

/// Resolves a Redis `start end` pair (negative counts from the end) against `len`; None when empty.
pub fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { len + end } else { end.min(len - 1) };
    if start > end || start >= len || end < 0 {
        None
    } else {
        Some((start as usize, end as usize))
    }
}

/// GETRANGE key start end
pub fn getrange(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let (start, end) = (a.int()?, a.int()?);
    let (shard, h) = c.held.shard(c.session.db, key);
    let value = string_of(shard, h, key, &c.clock)?.map_or(&[][..], |e| e.value());
    if start < 0 && end < 0 && start > end {
        c.out.bulk(b"");
        return Ok(());
    }
    match range(start, end, value.len()) {
        Some((s, e)) => c.out.bulk(&value[s..=e]),
        None => c.out.bulk(b""),
    }
    Ok(())
}

/// SETRANGE key offset value
pub fn setrange(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let offset = a.int()?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let value = a.bytes()?;
    let offset = offset as usize;
    let clock = c.clock;
    let max = c.cfg.proto_max_bulk_len as usize;
    let (shard, h) = c.held.shard(c.session.db, key);
    let current = string_of(shard, h, key, &clock)?;
    let old_len = current.map_or(0, |e| e.value().len());
    if value.is_empty() {
        c.out.int(old_len as i64);
        return Ok(());
    }
    if offset.checked_add(value.len()).is_none_or(|end| end > max) {
        return Err(CmdError::err(
            "string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    let new_len = old_len.max(offset + value.len());
    let mut buf = current.map_or_else(Vec::new, |e| e.value().to_vec());
    buf.resize(new_len, 0);
    buf[offset..offset + value.len()].copy_from_slice(value);
    store(shard, h, key, &buf, Ttl::Keep, &clock);
    c.out.int(new_len as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::range;

    #[test]
    fn ranges_resolve_negative_indexes() {
        assert_eq!(range(0, -1, 5), Some((0, 4)));
        assert_eq!(range(-3, -2, 5), Some((2, 3)));
        assert_eq!(range(2, 100, 5), Some((2, 4)));
        assert_eq!(range(4, 2, 5), None);
        assert_eq!(range(0, -1, 0), None);
        assert_eq!(range(-100, 0, 5), Some((0, 0)));
    }
}
