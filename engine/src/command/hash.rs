//! Hash commands: field/value maps under one key (Redis `t_hash.c`).

use super::args::{self, is};
use super::call::Call;
use super::collection::{read, read_scan, remove, write};
use super::error::{CmdError, CmdResult};
use crate::keyspace::hash::Hash;
use crate::protocol::reply::format_double;

/// HSET key field value [field value …] / HMSET
pub fn hset(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let pairs = a.rest();
    if pairs.len() % 2 != 0 {
        return Err(a.arity_error());
    }
    let added = write(c.held, c.session.db, key, &c.clock, true, |h: &mut Hash| {
        pairs.chunks(2).filter(|p| h.set(p[0], p[1])).count()
    })?
    .unwrap_or(0);
    c.touched(pairs.len() / 2);
    if a.called("hmset") {
        c.out.ok();
    } else {
        c.out.int(added as i64);
    }
    Ok(())
}

/// HSETNX key field value
pub fn hsetnx(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field, value) = (a.key()?, a.bytes()?, a.bytes()?);
    let set = write(c.held, c.session.db, key, &c.clock, true, |h: &mut Hash| {
        h.get(field).is_none() && h.set(field, value)
    })?;
    c.out.int(set.unwrap_or(false) as i64);
    Ok(())
}

/// HGET key field
pub fn hget(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field) = (a.key()?, a.bytes()?);
    match read::<Hash>(c.held, c.session.db, key, &c.clock)?.and_then(|h| h.get(field)) {
        Some(v) => c.out.bulk(v),
        None => c.out.null(),
    }
    Ok(())
}

/// HMGET key field [field …]
pub fn hmget(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let fields = a.rest();
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    c.out.array(fields.len());
    for f in fields {
        match h.and_then(|h| h.get(f)) {
            Some(v) => c.out.bulk(v),
            None => c.out.null(),
        }
    }
    c.touched(fields.len());
    Ok(())
}

/// HDEL key field [field …]
pub fn hdel(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let fields = a.rest();
    let n = remove(c.held, c.session.db, key, &c.clock, |h: &mut Hash| {
        fields.iter().filter(|f| h.remove(f)).count()
    })?;
    c.touched(fields.len());
    c.out.int(n as i64);
    Ok(())
}

/// HEXISTS key field
pub fn hexists(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field) = (a.key()?, a.bytes()?);
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(h.is_some_and(|h| h.get(field).is_some()) as i64);
    Ok(())
}

/// HLEN key
pub fn hlen(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(h.map_or(0, Hash::len) as i64);
    Ok(())
}

/// HSTRLEN key field
pub fn hstrlen(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field) = (a.key()?, a.bytes()?);
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    c.out
        .int(h.and_then(|h| h.get(field)).map_or(0, <[u8]>::len) as i64);
    Ok(())
}

/// HGETALL key / HKEYS key / HVALS key
pub fn hgetall(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let (fields, values) = (!a.called("hvals"), !a.called("hkeys"));
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    let n = h.map_or(0, Hash::len);
    if fields && values {
        c.out.map(n);
    } else {
        c.out.array(n);
    }
    if let Some(h) = h {
        for (f, v) in h.iter() {
            if fields {
                c.out.bulk(f);
            }
            if values {
                c.out.bulk(v);
            }
        }
    }
    c.touched(n);
    Ok(())
}

/// HINCRBY key field increment
pub fn hincrby(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field, delta) = (a.key()?, a.bytes()?, a.int()?);
    let r = write(c.held, c.session.db, key, &c.clock, true, |h: &mut Hash| {
        let current = match h.get(field) {
            Some(v) => args::canonical_i64(v)
                .ok_or_else(|| CmdError::err("hash value is not an integer"))?,
            None => 0,
        };
        let next = current.checked_add(delta).ok_or(CmdError::Overflow)?;
        h.set(field, itoa::Buffer::new().format(next).as_bytes());
        Ok(next)
    })?;
    c.out.int(r.unwrap_or(Ok(0))?);
    Ok(())
}

/// HINCRBYFLOAT key field increment
pub fn hincrbyfloat(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, field, delta) = (a.key()?, a.bytes()?, a.float()?);
    if delta.is_infinite() {
        return Err(CmdError::err("value is NaN or Infinity"));
    }
    let r = write(c.held, c.session.db, key, &c.clock, true, |h: &mut Hash| {
        let current = match h.get(field) {
            Some(v) => args::float(v).map_err(|_| CmdError::err("hash value is not a float"))?,
            None => 0.0,
        };
        let next = current + delta;
        if !next.is_finite() {
            return Err(CmdError::err("increment would produce NaN or Infinity"));
        }
        let text = format_double(next);
        h.set(field, text.as_bytes());
        Ok(text)
    })?;
    c.out
        .bulk(r.unwrap_or_else(|| Ok(String::new()))?.as_bytes());
    Ok(())
}

/// HRANDFIELD key [count [WITHVALUES]]
pub fn hrandfield(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let count = a.optional().map(args::int).transpose()?;
    let with_values = match a.optional() {
        Some(w) if is(w, "withvalues") && a.is_empty() => true,
        Some(_) => return Err(CmdError::Syntax),
        None => false,
    };
    if count.is_some_and(|n| n < -(i64::MAX / 2)) {
        return Err(CmdError::err("value is out of range"));
    }
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    let Some(count) = count else {
        match h.and_then(Hash::random) {
            Some((f, _)) => c.out.bulk(f),
            None => c.out.null(),
        }
        return Ok(());
    };
    let picks: Vec<(&[u8], &[u8])> = match h {
        None => Vec::new(),
        Some(h) if count < 0 => (0..count.unsigned_abs())
            .filter_map(|_| h.random())
            .collect(),
        Some(h) => {
            let mut all: Vec<_> = h.iter().collect();
            if (count as usize) < all.len() {
                fastrand::shuffle(&mut all);
                all.truncate(count as usize);
            }
            all
        }
    };
    let n = picks.len();
    let resp3 = c.out.resp3;
    c.out.array(if with_values && !resp3 { n * 2 } else { n });
    for (f, v) in picks {
        if with_values && resp3 {
            c.out.array(2);
        }
        c.out.bulk(f);
        if with_values {
            c.out.bulk(v);
        }
    }
    c.touched(n);
    Ok(())
}

/// HSCAN key cursor [MATCH pattern] [COUNT count]
pub fn hscan(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let scan = read_scan(&mut a)?;
    let h = read::<Hash>(c.held, c.session.db, key, &c.clock)?;
    let mut found: Vec<(&[u8], &[u8])> = Vec::new();
    let mut visited = 0;
    let next = h.map_or(0, |h| {
        h.scan(scan.cursor, scan.count, |f, v| {
            visited += 1;
            if scan.matches(f) {
                found.push((f, v));
            }
        })
    });
    c.out.array(2);
    c.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    c.out.array(found.len() * 2);
    for (f, v) in found {
        c.out.bulk(f);
        c.out.bulk(v);
    }
    c.touched(visited);
    Ok(())
}
