//! List commands (Redis `t_list.c`), including the blocking pops and moves.
//!
//! A blocking command that finds every key empty calls [`Call::block`] and writes no reply; it runs again when
//! one of its keys is written or its timeout passes (see `crate::blocking`). Inside MULTI it answers at once as
//! if timed out.

use super::args::{self, is, Args};
use super::call::Call;
use super::collection::{check, keys_then_timeout, read, read_numkeys, timeout_ms, write};
use super::error::{CmdError, CmdResult};
use super::string::range;
use crate::keyspace::list::List;

fn side(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "left") {
        Ok(true)
    } else if is(arg, "right") {
        Ok(false)
    } else {
        Err(CmdError::Syntax)
    }
}

/// Parses a positive pop count (`ERR value is out of range, must be positive`).
pub fn pop_count(arg: &[u8]) -> Result<usize, CmdError> {
    match args::int(arg) {
        Ok(n) if n >= 0 => Ok(n as usize),
        _ => Err(CmdError::err("value is out of range, must be positive")),
    }
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX key element [element …]
pub fn push(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let left = a.called("lpush") || a.called("lpushx");
    let only_existing = a.called("lpushx") || a.called("rpushx");
    let key = a.key()?;
    let items = a.rest();
    let len = write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        !only_existing,
        |l: &mut List| {
            items.iter().for_each(|i| l.push(i, left));
            l.len()
        },
    )?;
    c.touched(items.len());
    c.out.int(len.unwrap_or(0) as i64);
    Ok(())
}

/// LPOP / RPOP key [count]
pub fn pop(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let count = a.optional();
    a.finish()?;
    let left = a.called("lpop");
    let count = count.map(pop_count).transpose()?;
    let popped = write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        false,
        |l: &mut List| {
            (0..count.unwrap_or(1))
                .map_while(|_| l.pop(left))
                .collect::<Vec<_>>()
        },
    )?;
    match (popped, count) {
        (None, Some(_)) => c.out.null_array(),
        (None, None) => c.out.null(),
        (Some(items), None) => c.out.bulk(&items[0]),
        (Some(items), Some(_)) => {
            c.touched(items.len());
            c.out.bulks(items.iter().map(|b| &**b));
        }
    }
    Ok(())
}

/// LLEN key
pub fn llen(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let l = read::<List>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(l.map_or(0, List::len) as i64);
    Ok(())
}

/// LRANGE key start stop
pub fn lrange(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, start, stop) = (a.key()?, a.int()?, a.int()?);
    let l = read::<List>(c.held, c.session.db, key, &c.clock)?;
    let n = match l.and_then(|l| range(start, stop, l.len()).map(|r| (l, r))) {
        Some((l, (s, e))) => {
            c.out.bulks(l.iter().skip(s).take(e - s + 1));
            e - s + 1
        }
        None => {
            c.out.array(0);
            0
        }
    };
    c.touched(n);
    Ok(())
}

/// Resolves a possibly negative list index.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { len as i64 + i } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

/// LINDEX key index
pub fn lindex(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, i) = (a.key()?, a.int()?);
    let l = read::<List>(c.held, c.session.db, key, &c.clock)?;
    match l.and_then(|l| index(i, l.len()).and_then(|i| l.get(i))) {
        Some(v) => c.out.bulk(v),
        None => c.out.null(),
    }
    Ok(())
}

/// LSET key index element
pub fn lset(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, i, item) = (a.key()?, a.int()?, a.bytes()?);
    let r = write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        false,
        |l: &mut List| match index(i, l.len()) {
            Some(i) => {
                l.set(i, item);
                Ok(())
            }
            None => Err(CmdError::err("index out of range")),
        },
    )?;
    r.ok_or(CmdError::NoSuchKey)??;
    c.out.ok();
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element
pub fn linsert(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let after = match a.one_of(&["before", "after"]) {
        Some(i) => i == 1,
        None => return Err(CmdError::Syntax),
    };
    let (pivot, item) = (a.bytes()?, a.bytes()?);
    let r = write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        false,
        |l: &mut List| {
            let at = l.iter().position(|e| e == pivot);
            match at {
                Some(i) => {
                    l.insert(i + after as usize, item);
                    l.len() as i64
                }
                None => -1,
            }
        },
    )?;
    c.out.int(r.unwrap_or(0));
    Ok(())
}

/// LREM key count element
pub fn lrem(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, count, item) = (a.key()?, a.int()?, a.bytes()?);
    let n = write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        false,
        |l: &mut List| {
            let touched = l.len();
            (
                l.remove_matching(item, count.unsigned_abs() as usize, count < 0),
                touched,
            )
        },
    )?;
    let (removed, touched) = n.unwrap_or((0, 0));
    c.touched(touched);
    c.out.int(removed as i64);
    Ok(())
}

/// LTRIM key start stop
pub fn ltrim(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, start, stop) = (a.key()?, a.int()?, a.int()?);
    write(
        c.held,
        c.session.db,
        key,
        &c.clock,
        false,
        |l: &mut List| {
            let keep = range(start, stop, l.len());
            l.trim(keep);
        },
    )?;
    c.out.ok();
    Ok(())
}

/// The options of LPOS: RANK (1 when absent), COUNT (None when absent), MAXLEN (0: no limit).
fn lpos_options(a: &mut Args) -> Result<(i64, Option<usize>, usize), CmdError> {
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    while let Some(option) = a.optional() {
        let Some(value) = a.optional() else {
            return Err(CmdError::Syntax);
        };
        let n = args::int(value)?;
        if is(option, "rank") {
            if n == 0 {
                return Err(CmdError::err(
                    "RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
                     or use negative to start from the end of the list",
                ));
            }
            if n == i64::MIN {
                return Err(CmdError::err("value is out of range"));
            }
            rank = n;
        } else if is(option, "count") {
            if n < 0 {
                return Err(CmdError::err("COUNT can't be negative"));
            }
            count = Some(n as usize);
        } else if is(option, "maxlen") {
            if n < 0 {
                return Err(CmdError::err("MAXLEN can't be negative"));
            }
            maxlen = n as usize;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok((rank, count, maxlen))
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
pub fn lpos(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, item) = (a.key()?, a.bytes()?);
    let (rank, count, maxlen) = lpos_options(&mut a)?;
    let l = read::<List>(c.held, c.session.db, key, &c.clock)?;
    let mut found = Vec::new();
    let mut scanned = 0;
    if let Some(l) = l {
        let len = l.len();
        let limit = if maxlen == 0 { len } else { maxlen.min(len) };
        let want = match count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let mut skip = rank.unsigned_abs() - 1;
        let order: Box<dyn Iterator<Item = (usize, &[u8])>> = if rank > 0 {
            Box::new(l.iter().enumerate())
        } else {
            Box::new(l.iter().enumerate().rev())
        };
        for (i, e) in order.take(limit) {
            scanned += 1;
            if e == item {
                if skip > 0 {
                    skip -= 1;
                } else {
                    found.push(i as i64);
                    if found.len() >= want {
                        break;
                    }
                }
            }
        }
    }
    match count {
        Some(_) => {
            c.out.array(found.len());
            found.iter().for_each(|&i| c.out.int(i));
        }
        None => match found.first() {
            Some(&i) => c.out.int(i),
            None => c.out.null(),
        },
    }
    c.touched(scanned);
    Ok(())
}

/// Pops from `src` and pushes onto `dst`; None when `src` is empty. Both keys are type-checked first.
fn move_element(
    c: &mut Call,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> Result<Option<Box<[u8]>>, CmdError> {
    let db = c.session.db;
    let now = c.clock.now_ms;
    if !check::<List>(c.held, db, src, now)? {
        return Ok(None);
    }
    check::<List>(c.held, db, dst, now)?;
    let item = write(c.held, db, src, &c.clock, false, |l: &mut List| {
        l.pop(from_left)
    })?
    .flatten();
    if let Some(item) = &item {
        write(c.held, db, dst, &c.clock, true, |l: &mut List| {
            l.push(item, to_left)
        })?;
    }
    Ok(item)
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT / RPOPLPUSH source destination
pub fn lmove(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (src, dst) = (a.key()?, a.key()?);
    let (from, to) = if a.called("rpoplpush") {
        (false, true)
    } else {
        (side(a.bytes()?)?, side(a.bytes()?)?)
    };
    match move_element(c, src, dst, from, to)? {
        Some(item) => c.out.bulk(&item),
        None => c.out.null(),
    }
    Ok(())
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout / BRPOPLPUSH source destination timeout
pub fn blmove(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (src, dst) = (a.key()?, a.key()?);
    let (from, to) = if a.called("brpoplpush") {
        (false, true)
    } else {
        (side(a.bytes()?)?, side(a.bytes()?)?)
    };
    let timeout = timeout_ms(a.bytes()?)?;
    match move_element(c, src, dst, from, to)? {
        Some(item) => c.out.bulk(&item),
        None if c.may_block() => c.block(&[src], timeout),
        // Redis answers a timeout with a null array, but a non-blocking call (inside MULTI) with a null bulk.
        None if c.session.blocking.timed_out => c.out.null_array(),
        None => c.out.null(),
    }
    Ok(())
}

/// Which of the keys was popped from, and the elements.
type Popped = (usize, Vec<Box<[u8]>>);

/// Pops up to `count` elements from the first non-empty list of `keys`; WRONGTYPE stops the search.
fn pop_first(
    c: &mut Call,
    keys: &[&[u8]],
    left: bool,
    count: usize,
) -> Result<Option<Popped>, CmdError> {
    let db = c.session.db;
    // A blocked client woken by a write is served only by lists: a key that became another type (LPUSH,
    // DEL, SET) is passed over and the client keeps waiting, as in Redis.
    let woken = c.session.blocking.is_retry();
    for (k, key) in keys.iter().enumerate() {
        let popped = match write(c.held, db, key, &c.clock, false, |l: &mut List| {
            (0..count).map_while(|_| l.pop(left)).collect::<Vec<_>>()
        }) {
            Err(CmdError::WrongType) if woken => None,
            other => other?,
        };
        if let Some(items) = popped {
            return Ok(Some((k, items)));
        }
    }
    Ok(None)
}

/// BLPOP / BRPOP key [key …] timeout
pub fn bpop(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let left = a.called("blpop");
    let (keys, timeout) = keys_then_timeout(&mut a)?;
    match pop_first(c, keys, left, 1)? {
        Some((k, items)) => {
            c.out.array(2);
            c.out.bulk(keys[k]);
            c.out.bulk(&items[0]);
        }
        None if c.may_block() => c.block(keys, timeout),
        None => c.out.null_array(),
    }
    Ok(())
}

/// Reads `numkeys key [key …] LEFT|RIGHT [COUNT count]`, the rest of the arguments: (keys, left, count).
fn mpop_args<'a>(a: &mut Args<'a>) -> Result<(&'a [&'a [u8]], bool, usize), CmdError> {
    let n = read_numkeys(a, "lmpop")?;
    let keys = a.take(n)?;
    let Some(dir) = a.optional() else {
        return Err(CmdError::Syntax);
    };
    let left = side(dir)?;
    let count = match a.rest() {
        [] => 1,
        [option, n] if is(option, "count") => match args::int(n) {
            Ok(n) if n > 0 => n as usize,
            _ => return Err(CmdError::err("count should be greater than 0")),
        },
        _ => return Err(CmdError::Syntax),
    };
    Ok((keys, left, count))
}

fn reply_mpop(c: &mut Call, key: &[u8], items: &[Box<[u8]>]) {
    c.out.array(2);
    c.out.bulk(key);
    c.out.bulks(items.iter().map(|b| &**b));
    c.touched(items.len());
}

/// LMPOP numkeys key [key …] LEFT|RIGHT [COUNT count]
pub fn lmpop(c: &mut Call) -> CmdResult {
    let (keys, left, count) = mpop_args(&mut c.args())?;
    match pop_first(c, keys, left, count)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None => c.out.null_array(),
    }
    Ok(())
}

/// BLMPOP timeout numkeys key [key …] LEFT|RIGHT [COUNT count]
pub fn blmpop(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let timeout = timeout_ms(a.bytes()?)?;
    let (keys, left, count) = mpop_args(&mut a)?;
    match pop_first(c, keys, left, count)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None if c.may_block() => c.block(keys, timeout),
        None => c.out.null_array(),
    }
    Ok(())
}
