//! Set commands (Redis `t_set.c`): membership, random members, and the algebra of several sets.

use std::collections::HashSet;

use super::args::{self, is};
use super::call::Call;
use super::collection::{check, edit, read, read_numkeys, read_scan, remove, store, write};
use super::error::{CmdError, CmdResult};
use super::list::pop_count;
use crate::keyspace::set::Set;
use crate::keyspace::Object;

/// SADD key member [member …]
pub fn sadd(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let members = a.rest();
    let added = write(c.held, c.session.db, key, &c.clock, true, |s: &mut Set| {
        members.iter().filter(|m| s.add(m)).count()
    })?;
    c.touched(members.len());
    c.out.int(added.unwrap_or(0) as i64);
    Ok(())
}

/// SREM key member [member …]
pub fn srem(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let members = a.rest();
    let removed = remove(c.held, c.session.db, key, &c.clock, |s: &mut Set| {
        members.iter().filter(|m| s.remove(m)).count()
    })?;
    c.touched(members.len());
    c.out.int(removed as i64);
    Ok(())
}

/// SMEMBERS key
pub fn smembers(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    let n = s.map_or(0, Set::len);
    c.out.set(n);
    if let Some(s) = s {
        s.iter().for_each(|m| c.out.bulk(&m));
    }
    c.touched(n);
    Ok(())
}

/// SISMEMBER key member
pub fn sismember(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, member) = (a.key()?, a.bytes()?);
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(s.is_some_and(|s| s.contains(member)) as i64);
    Ok(())
}

/// SMISMEMBER key member [member …]
pub fn smismember(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let members = a.rest();
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    c.out.array(members.len());
    for m in members {
        c.out.int(s.is_some_and(|s| s.contains(m)) as i64);
    }
    c.touched(members.len());
    Ok(())
}

/// SCARD key
pub fn scard(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(s.map_or(0, Set::len) as i64);
    Ok(())
}

/// SPOP key [count]
pub fn spop(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let count = a.optional();
    a.finish_or(CmdError::Syntax)?;
    let count = count.map(pop_count).transpose()?;
    let popped = write(c.held, c.session.db, key, &c.clock, false, |s: &mut Set| {
        let mut out = Vec::new();
        for _ in 0..count.unwrap_or(1).min(s.len()) {
            let Some(m) = s.random().map(|m| m.into_owned()) else {
                break;
            };
            s.remove(&m);
            out.push(m);
        }
        out
    })?;
    // Replicas remove exactly the members chosen here, not members of their own random choice.
    match &popped {
        Some(members) => {
            let mut srem: Vec<&[u8]> = vec![b"SREM", key];
            srem.extend(members.iter().map(Vec::as_slice));
            c.replicate_as(&[&srem]);
        }
        None => c.replicate_as(&[]),
    }
    match (popped, count) {
        (None, None) => c.out.null(),
        (None, Some(_)) => c.out.set(0),
        (Some(m), None) => c.out.bulk(&m[0]),
        (Some(m), Some(_)) => {
            c.touched(m.len());
            c.out.set(m.len());
            m.iter().for_each(|m| c.out.bulk(m));
        }
    }
    Ok(())
}

/// SRANDMEMBER key [count]
pub fn srandmember(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let count = a.optional();
    a.finish_or(CmdError::Syntax)?;
    let count = count.map(args::int).transpose()?;
    if count.is_some_and(|n| n < -(i64::MAX / 2)) {
        return Err(CmdError::err("value is out of range"));
    }
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    let Some(count) = count else {
        match s.and_then(Set::random) {
            Some(m) => c.out.bulk(&m),
            None => c.out.null(),
        }
        return Ok(());
    };
    let picks: Vec<Vec<u8>> = match s {
        None => Vec::new(),
        Some(s) if count < 0 => (0..count.unsigned_abs())
            .filter_map(|_| s.random().map(|m| m.into_owned()))
            .collect(),
        Some(s) => {
            let mut all: Vec<Vec<u8>> = s.iter().map(|m| m.into_owned()).collect();
            if (count as usize) < all.len() {
                fastrand::shuffle(&mut all);
                all.truncate(count as usize);
            }
            all
        }
    };
    c.touched(picks.len());
    c.out.bulks(picks.iter().map(Vec::as_slice));
    Ok(())
}

/// The members of a set key (empty when missing).
fn members(c: &mut Call, key: &[u8]) -> Result<Vec<Vec<u8>>, CmdError> {
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    Ok(s.map_or_else(Vec::new, |s| s.iter().map(|m| m.into_owned()).collect()))
}

fn card(c: &mut Call, key: &[u8]) -> Result<usize, CmdError> {
    Ok(read::<Set>(c.held, c.session.db, key, &c.clock)?.map_or(0, Set::len))
}

/// Intersection of the sets at `keys`, stopping at `limit` members (0: no limit); walks the smallest set.
fn inter(c: &mut Call, keys: &[&[u8]], limit: usize) -> Result<Vec<Vec<u8>>, CmdError> {
    let mut sized = Vec::with_capacity(keys.len());
    for &k in keys {
        sized.push((card(c, k)?, k));
    }
    if sized.iter().any(|(n, _)| *n == 0) {
        return Ok(Vec::new());
    }
    sized.sort_by_key(|(n, _)| *n);
    let mut result = members(c, sized[0].1)?;
    c.touched(result.len());
    for &(_, k) in &sized[1..] {
        if let Some(s) = read::<Set>(c.held, c.session.db, k, &c.clock)? {
            result.retain(|m| s.contains(m));
        }
    }
    if limit > 0 {
        result.truncate(limit);
    }
    Ok(result)
}

/// Union (`diff` false) or difference (first minus the others) of the sets at `keys`.
fn union_or_diff(c: &mut Call, keys: &[&[u8]], diff: bool) -> Result<Vec<Vec<u8>>, CmdError> {
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut result = Vec::new();
    for (i, &k) in keys.iter().enumerate() {
        let ms = members(c, k)?;
        c.touched(ms.len());
        if diff && i == 0 && ms.is_empty() {
            // Later keys must still be sets for the command to succeed.
            for &k in &keys[1..] {
                check::<Set>(c.held, c.session.db, k, c.clock.now_ms)?;
            }
            return Ok(Vec::new());
        }
        for m in ms {
            if diff && i > 0 {
                seen.remove(&m);
            } else if seen.insert(m.clone()) {
                result.push(m);
            }
        }
    }
    if diff {
        result.retain(|m| seen.contains(m));
    }
    Ok(result)
}

/// The intersection, union or difference of the sets at `keys`, as the command's name says.
fn algebra(c: &mut Call, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>, CmdError> {
    let name = c.args().name().to_ascii_lowercase();
    if name.starts_with(b"sinter") {
        inter(c, keys, 0)
    } else {
        union_or_diff(c, keys, name.starts_with(b"sdiff"))
    }
}

/// SINTER / SUNION / SDIFF key [key …]
pub fn sinter(c: &mut Call) -> CmdResult {
    let keys = c.args().rest();
    let result = algebra(c, keys)?;
    c.out.set(result.len());
    result.iter().for_each(|m| c.out.bulk(m));
    Ok(())
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key [key …]
pub fn sinterstore(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let dst = a.key()?;
    let result = algebra(c, a.rest())?;
    let mut set = Set::default();
    result.iter().for_each(|m| {
        set.add(m);
    });
    let n = set.len();
    store(c.held, c.session.db, dst, Object::Set(set), &c.clock);
    c.out.int(n as i64);
    Ok(())
}

/// SINTERCARD numkeys key [key …] [LIMIT limit]
pub fn sintercard(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let n = read_numkeys(&mut a, "sintercard")?;
    let keys = a.take(n)?;
    let limit = match a.rest() {
        [] => 0,
        [opt, value] if is(opt, "limit") => match args::int(value) {
            Ok(l) if l >= 0 => l as usize,
            _ => return Err(CmdError::err("LIMIT can't be negative")),
        },
        _ => return Err(CmdError::Syntax),
    };
    let result = inter(c, keys, limit)?;
    c.out.int(result.len() as i64);
    Ok(())
}

/// SMOVE source destination member
pub fn smove(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (src, dst, member) = (a.key()?, a.key()?, a.bytes()?);
    let (db, now) = (c.session.db, c.clock.now_ms);
    if !check::<Set>(c.held, db, src, now)? {
        check::<Set>(c.held, db, dst, now)?;
        c.out.int(0);
        return Ok(());
    }
    check::<Set>(c.held, db, dst, now)?;
    if src == dst {
        let s = read::<Set>(c.held, db, src, &c.clock)?;
        c.out.int(s.is_some_and(|s| s.contains(member)) as i64);
        return Ok(());
    }
    let moved = write(c.held, db, src, &c.clock, false, |s: &mut Set| {
        s.remove(member)
    })?;
    if moved == Some(true) {
        // A member the destination already holds changes nothing there (a WATCH on it stays intact).
        edit(c.held, db, dst, &c.clock, true, |s: &mut Set| {
            let added = s.add(member);
            (added, added)
        })?;
    }
    c.out.int((moved == Some(true)) as i64);
    Ok(())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count]
pub fn sscan(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let scan = read_scan(&mut a)?;
    let s = read::<Set>(c.held, c.session.db, key, &c.clock)?;
    let mut found = Vec::new();
    let mut visited = 0;
    let next = s.map_or(0, |s| {
        s.scan(scan.cursor, scan.count, |m| {
            visited += 1;
            if scan.matches(&m) {
                found.push(m);
            }
        })
    });
    c.out.array(2);
    c.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    c.out.bulks(found.iter().map(Vec::as_slice));
    c.touched(visited);
    Ok(())
}
