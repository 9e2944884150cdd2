//! Sorted-set commands (Redis `t_zset.c`): leaderboards and priority queues.
//!
//! Ranges by score or by member (lex) are turned into rank intervals with two O(log n) counts on the ordered
//! index, then walked; so every range form costs O(log n + m). Scores are replied in Redis 7.0's `%.17g` form.

use std::collections::HashMap;

use super::args::{self, is};
use super::collection::{numkeys, read, scan_args, store, timeout_ms, write};
use super::list::pop_count;
use super::string::range;
use super::{Call, CmdError, CmdResult};
use crate::keyspace::ordered::compare;
use crate::keyspace::zset::ZSet;
use crate::keyspace::Object;
use crate::protocol::reply::format_g17;

/// One end of a score range.
#[derive(Debug, Clone, Copy)]
struct ScoreBound {
    value: f64,
    exclusive: bool,
}

fn score_bound(arg: &[u8]) -> Result<ScoreBound, CmdError> {
    let invalid = || CmdError::err("min or max is not a float");
    let (text, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    let value = args::float(text).map_err(|_| invalid())?;
    Ok(ScoreBound { value, exclusive })
}

/// One end of a lex range.
#[derive(Debug, Clone)]
enum LexBound<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn lex_bound(arg: &[u8]) -> Result<LexBound<'_>, CmdError> {
    match arg.first() {
        Some(b'-') if arg.len() == 1 => Ok(LexBound::Min),
        Some(b'+') if arg.len() == 1 => Ok(LexBound::Max),
        Some(b'[') => Ok(LexBound::Incl(&arg[1..])),
        Some(b'(') => Ok(LexBound::Excl(&arg[1..])),
        _ => Err(CmdError::err("min or max not valid string range item")),
    }
}

/// The ascending rank interval `[lo, hi)` of the elements with scores between `min` and `max`.
fn score_ranks(z: &ZSet, min: ScoreBound, max: ScoreBound) -> (usize, usize) {
    let lo = z.count_before(|s, _| {
        if min.exclusive {
            s <= min.value
        } else {
            s < min.value
        }
    });
    let hi = z.count_before(|s, _| {
        if max.exclusive {
            s < max.value
        } else {
            s <= max.value
        }
    });
    (lo, hi.max(lo))
}

/// The ascending rank interval of the members between two lex bounds.
fn lex_ranks(z: &ZSet, min: &LexBound, max: &LexBound) -> (usize, usize) {
    let before = |b: &LexBound, lower: bool| -> usize {
        match b {
            LexBound::Min => 0,
            LexBound::Max => z.len(),
            LexBound::Incl(v) if lower => z.count_before(|_, m| m < *v),
            LexBound::Excl(v) if lower => z.count_before(|_, m| m <= *v),
            LexBound::Incl(v) => z.count_before(|_, m| m <= *v),
            LexBound::Excl(v) => z.count_before(|_, m| m < *v),
        }
    };
    let (lo, hi) = (before(min, true), before(max, false));
    (lo, hi.max(lo))
}

/// What a range command selects.
enum By<'a> {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// A parsed range request: ZRANGE and its older forms, ZRANGESTORE, ZREMRANGEBY*.
struct RangeQuery<'a> {
    by: By<'a>,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
}

impl RangeQuery<'_> {
    /// The first rank (in walk direction) and the number of elements selected.
    fn resolve(&self, z: &ZSet) -> (usize, usize) {
        let len = z.len();
        let (first, n) = match &self.by {
            By::Rank(start, stop) => match range(*start, *stop, len) {
                Some((s, e)) => (s, e - s + 1),
                None => (0, 0),
            },
            By::Score(min, max) => {
                let (lo, hi) = score_ranks(z, *min, *max);
                (if self.rev { len - hi } else { lo }, hi - lo)
            }
            By::Lex(min, max) => {
                let (lo, hi) = lex_ranks(z, min, max);
                (if self.rev { len - hi } else { lo }, hi - lo)
            }
        };
        match self.limit {
            None => (first, n),
            Some((offset, _)) if offset < 0 || offset as usize >= n => (0, 0),
            Some((offset, count)) => {
                let left = n - offset as usize;
                let take = if count < 0 {
                    left
                } else {
                    left.min(count as usize)
                };
                (first + offset as usize, take)
            }
        }
    }
}

/// Parses `min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` from `at` (the ZRANGE form).
fn parse_zrange<'a>(a: &'a [&'a [u8]], at: usize, store: bool) -> Result<RangeQuery<'a>, CmdError> {
    let (mut byscore, mut bylex, mut rev, mut limit, mut withscores) =
        (false, false, false, None, false);
    let mut i = at + 2;
    while i < a.len() {
        let opt = a[i];
        if is(opt, "byscore") {
            byscore = true;
        } else if is(opt, "bylex") {
            bylex = true;
        } else if is(opt, "rev") {
            rev = true;
        } else if is(opt, "withscores") && !store {
            withscores = true;
        } else if is(opt, "limit") && i + 2 < a.len() {
            limit = Some((args::int(a[i + 1])?, args::int(a[i + 2])?));
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if byscore && bylex {
        return Err(CmdError::Syntax);
    }
    check_range_options(byscore, bylex, limit.is_some(), withscores)?;
    // With REV, score and lex ranges are given as `max min`.
    let (lo, hi) = if rev && (byscore || bylex) {
        (a[at + 1], a[at])
    } else {
        (a[at], a[at + 1])
    };
    let by = if byscore {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(args::int(a[at])?, args::int(a[at + 1])?)
    };
    Ok(RangeQuery {
        by,
        rev,
        limit,
        withscores,
    })
}

fn check_range_options(
    byscore: bool,
    bylex: bool,
    limit: bool,
    withscores: bool,
) -> Result<(), CmdError> {
    if limit && !byscore && !bylex {
        return Err(CmdError::err(
            "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if withscores && bylex {
        return Err(CmdError::err(
            "syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    Ok(())
}

/// Parses the older forms: ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE.
fn parse_legacy<'a>(a: &'a [&'a [u8]]) -> Result<RangeQuery<'a>, CmdError> {
    let name = a[0].to_ascii_lowercase();
    let rev = name.starts_with(b"zrev");
    let bylex = name.ends_with(b"bylex");
    let byscore = name.ends_with(b"byscore");
    let (mut limit, mut withscores) = (None, false);
    let mut i = 4;
    while i < a.len() {
        if is(a[i], "withscores") {
            withscores = true;
        } else if is(a[i], "limit") && i + 2 < a.len() {
            limit = Some((args::int(a[i + 1])?, args::int(a[i + 2])?));
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    check_range_options(byscore, bylex, limit.is_some(), withscores)?;
    let (lo, hi) = if rev && (byscore || bylex) {
        (a[3], a[2])
    } else {
        (a[2], a[3])
    };
    let by = if byscore {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(args::int(a[2])?, args::int(a[3])?)
    };
    Ok(RangeQuery {
        by,
        rev,
        limit,
        withscores,
    })
}

/// Writes member/score pairs: flat in RESP2, `[member, score]` pairs in RESP3 (or always flat with `flat`).
fn reply_scored(c: &mut Call, items: &[(Vec<u8>, f64)], withscores: bool, flat: bool) {
    let nested = withscores && c.out.resp3 && !flat;
    c.out.array(if withscores && !nested {
        items.len() * 2
    } else {
        items.len()
    });
    for (m, s) in items {
        if nested {
            c.out.array(2);
        }
        c.out.bulk(m);
        if withscores {
            c.out.double(*s);
        }
    }
}

fn collect(z: &ZSet, first: usize, n: usize, rev: bool) -> Vec<(Vec<u8>, f64)> {
    let mut out = Vec::with_capacity(n.min(1024));
    z.walk(first, n, rev, |m, s| {
        out.push((m.to_vec(), s));
        true
    });
    out
}

fn run_range(c: &mut Call, key: &[u8], q: &RangeQuery) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
    Ok(z.map_or_else(Vec::new, |z| {
        let (first, n) = q.resolve(z);
        collect(z, first, n, q.rev)
    }))
}

/// ZRANGE key start stop [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
pub fn zrange(c: &mut Call) -> CmdResult {
    let q = parse_zrange(c.args, 2, false)?;
    let items = run_range(c, c.args[1], &q)?;
    c.touched(items.len());
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE
pub fn zrange_legacy(c: &mut Call) -> CmdResult {
    let q = parse_legacy(c.args)?;
    let items = run_range(c, c.args[1], &q)?;
    c.touched(items.len());
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(c: &mut Call) -> CmdResult {
    let q = parse_zrange(c.args, 3, true)?;
    let items = run_range(c, c.args[2], &q)?;
    c.touched(items.len());
    let n = items.len();
    store(
        c.held,
        c.session.db,
        c.args[1],
        Object::ZSet(build(items)),
        &c.clock,
    );
    c.out.int(n as i64);
    Ok(())
}

fn build(items: Vec<(Vec<u8>, f64)>) -> ZSet {
    let longest = items.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
    let mut z = ZSet::with_capacity_for(items.len(), longest);
    for (m, s) in items {
        z.insert(&m, s);
    }
    z
}

/// ZADD options.
#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// The outcome of adding one element.
enum Added {
    New(f64),
    Changed(f64),
    Same(f64),
    Skipped,
}

fn add_one(z: &mut ZSet, f: &AddFlags, member: &[u8], score: f64) -> Result<Added, CmdError> {
    // -0 is stored as 0, as Redis does.
    let score = score + 0.0;
    match z.score(member) {
        Some(cur) => {
            if f.nx {
                return Ok(Added::Skipped);
            }
            let next = if f.incr { cur + score } else { score };
            if next.is_nan() {
                return Err(CmdError::err("resulting score is not a number (NaN)"));
            }
            if (f.gt && next <= cur) || (f.lt && next >= cur) {
                return Ok(Added::Skipped);
            }
            if next == cur {
                return Ok(Added::Same(cur));
            }
            z.insert(member, next);
            Ok(Added::Changed(next))
        }
        None if f.xx => Ok(Added::Skipped),
        None => {
            if score.is_nan() {
                return Err(CmdError::err("resulting score is not a number (NaN)"));
            }
            z.insert(member, score);
            Ok(Added::New(score))
        }
    }
}

/// ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member [score member …]
pub fn zadd(c: &mut Call) -> CmdResult {
    let mut f = AddFlags::default();
    let mut i = 2;
    while i < c.args.len() {
        let a = c.args[i];
        match a.to_ascii_lowercase().as_slice() {
            b"nx" => f.nx = true,
            b"xx" => f.xx = true,
            b"gt" => f.gt = true,
            b"lt" => f.lt = true,
            b"ch" => f.ch = true,
            b"incr" => f.incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &c.args[i..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(CmdError::Syntax);
    }
    if f.nx && f.xx {
        return Err(CmdError::err(
            "XX and NX options at the same time are not compatible",
        ));
    }
    if (f.nx && (f.gt || f.lt)) || (f.gt && f.lt) {
        return Err(CmdError::err(
            "GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if f.incr && pairs.len() > 2 {
        return Err(CmdError::err(
            "INCR option supports a single increment-element pair",
        ));
    }
    let scores = pairs
        .chunks(2)
        .map(|p| args::float(p[0]))
        .collect::<Result<Vec<_>, _>>()?;
    let outcome = write(
        c.held,
        c.session.db,
        c.args[1],
        &c.clock,
        !f.xx,
        |z: &mut ZSet| {
            let (mut added, mut changed, mut last) = (0, 0, None);
            for (p, &score) in pairs.chunks(2).zip(&scores) {
                match add_one(z, &f, p[1], score)? {
                    Added::New(s) => {
                        added += 1;
                        last = Some(s);
                    }
                    Added::Changed(s) => {
                        changed += 1;
                        last = Some(s);
                    }
                    Added::Same(s) => last = Some(s),
                    Added::Skipped => last = None,
                }
            }
            Ok((added, changed, last))
        },
    )?;
    let (added, changed, last) = outcome.unwrap_or(Ok((0, 0, None)))?;
    c.touched(pairs.len() / 2);
    if f.incr {
        match last {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    } else {
        c.out.int(added + if f.ch { changed } else { 0 });
    }
    Ok(())
}

/// ZINCRBY key increment member
pub fn zincrby(c: &mut Call) -> CmdResult {
    let delta = args::float(c.args[2])?;
    let member = c.args[3];
    let f = AddFlags {
        incr: true,
        ..Default::default()
    };
    let r = write(
        c.held,
        c.session.db,
        c.args[1],
        &c.clock,
        true,
        |z: &mut ZSet| match add_one(z, &f, member, delta)? {
            Added::New(s) | Added::Changed(s) | Added::Same(s) => Ok(s),
            Added::Skipped => Ok(0.0),
        },
    )?;
    c.out.double(r.unwrap_or(Ok(0.0))?);
    Ok(())
}

/// ZREM key member [member …]
pub fn zrem(c: &mut Call) -> CmdResult {
    let members = &c.args[2..];
    let n = write(
        c.held,
        c.session.db,
        c.args[1],
        &c.clock,
        false,
        |z: &mut ZSet| members.iter().filter(|m| z.remove(m).is_some()).count(),
    )?;
    c.touched(members.len());
    c.out.int(n.unwrap_or(0) as i64);
    Ok(())
}

/// ZSCORE key member
pub fn zscore(c: &mut Call) -> CmdResult {
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    match z.and_then(|z| z.score(c.args[2])) {
        Some(s) => c.out.double(s),
        None => c.out.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member …]
pub fn zmscore(c: &mut Call) -> CmdResult {
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let members = &c.args[2..];
    c.out.array(members.len());
    for m in members {
        match z.and_then(|z| z.score(m)) {
            Some(s) => c.out.double(s),
            None => c.out.null(),
        }
    }
    c.touched(members.len());
    Ok(())
}

/// ZCARD key
pub fn zcard(c: &mut Call) -> CmdResult {
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    c.out.int(z.map_or(0, ZSet::len) as i64);
    Ok(())
}

/// ZCOUNT key min max
pub fn zcount(c: &mut Call) -> CmdResult {
    let (min, max) = (score_bound(c.args[2])?, score_bound(c.args[3])?);
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let n = z.map_or(0, |z| {
        let (lo, hi) = score_ranks(z, min, max);
        hi - lo
    });
    c.out.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub fn zlexcount(c: &mut Call) -> CmdResult {
    let (min, max) = (lex_bound(c.args[2])?, lex_bound(c.args[3])?);
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let n = z.map_or(0, |z| {
        let (lo, hi) = lex_ranks(z, &min, &max);
        hi - lo
    });
    c.out.int(n as i64);
    Ok(())
}

/// ZRANK / ZREVRANK key member [WITHSCORE]
pub fn zrank(c: &mut Call) -> CmdResult {
    let withscore = match c.args.get(3) {
        Some(a) if is(a, "withscore") && c.args.len() == 4 => true,
        Some(_) => return Err(CmdError::Syntax),
        None => false,
    };
    let rev = is(c.args[0], "zrevrank");
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let member = c.args[2];
    let found = z.and_then(|z| {
        let rank = z.rank(member)?;
        let score = z.score(member)?;
        Some((if rev { z.len() - 1 - rank } else { rank }, score))
    });
    match (found, withscore) {
        (Some((rank, _)), false) => c.out.int(rank as i64),
        (Some((rank, score)), true) => {
            c.out.array(2);
            c.out.int(rank as i64);
            c.out.double(score);
        }
        (None, false) => c.out.null(),
        (None, true) => c.out.null_array(),
    }
    Ok(())
}

/// Pops up to `count` lowest (or highest, with `max`) elements.
fn pop_from(z: &mut ZSet, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
    let items = collect(z, 0, count, max);
    for (m, _) in &items {
        z.remove(m);
    }
    items
}

/// ZPOPMIN / ZPOPMAX key [count]
pub fn zpop(c: &mut Call) -> CmdResult {
    if c.args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let max = is(c.args[0], "zpopmax");
    let count = c.args.get(2).map(|a| pop_count(a)).transpose()?;
    let items = write(
        c.held,
        c.session.db,
        c.args[1],
        &c.clock,
        false,
        |z: &mut ZSet| pop_from(z, count.unwrap_or(1), max),
    )?
    .unwrap_or_default();
    c.touched(items.len());
    // Without a count the reply is flat even in RESP3.
    reply_scored(c, &items, true, count.is_none());
    Ok(())
}

/// Which of the keys was popped from, and the elements with their scores.
type Popped = (usize, Vec<(Vec<u8>, f64)>);

/// Pops from the first non-empty sorted set among `keys`.
fn pop_first(
    c: &mut Call,
    keys: &[&[u8]],
    count: usize,
    max: bool,
) -> Result<Option<Popped>, CmdError> {
    for (k, key) in keys.iter().enumerate() {
        let popped = write(
            c.held,
            c.session.db,
            key,
            &c.clock,
            false,
            |z: &mut ZSet| pop_from(z, count, max),
        )?;
        if let Some(items) = popped {
            return Ok(Some((k, items)));
        }
    }
    Ok(None)
}

/// BZPOPMIN / BZPOPMAX key [key …] timeout
pub fn bzpop(c: &mut Call) -> CmdResult {
    let max = is(c.args[0], "bzpopmax");
    let timeout = timeout_ms(c.args[c.args.len() - 1])?;
    let keys = &c.args[1..c.args.len() - 1];
    match pop_first(c, keys, 1, max)? {
        Some((k, items)) => {
            c.out.array(3);
            c.out.bulk(keys[k]);
            c.out.bulk(&items[0].0);
            c.out.double(items[0].1);
        }
        None if c.may_block() => c.block(keys, timeout),
        None => c.out.null_array(),
    }
    Ok(())
}

fn mpop_args<'a>(a: &'a [&'a [u8]], at: usize) -> Result<(&'a [&'a [u8]], bool, usize), CmdError> {
    let n = numkeys(a, at, "zmpop")?;
    let keys = &a[at + 1..at + 1 + n];
    let rest = &a[at + 1 + n..];
    let max = match rest.first() {
        Some(w) if is(w, "min") => false,
        Some(w) if is(w, "max") => true,
        _ => return Err(CmdError::Syntax),
    };
    let count = match rest.len() {
        1 => 1,
        3 if is(rest[1], "count") => match args::int(rest[2]) {
            Ok(n) if n > 0 => n as usize,
            _ => return Err(CmdError::err("count should be greater than 0")),
        },
        _ => return Err(CmdError::Syntax),
    };
    Ok((keys, max, count))
}

fn reply_mpop(c: &mut Call, key: &[u8], items: &[(Vec<u8>, f64)]) {
    c.out.array(2);
    c.out.bulk(key);
    c.out.array(items.len());
    for (m, s) in items {
        c.out.array(2);
        c.out.bulk(m);
        c.out.double(*s);
    }
    c.touched(items.len());
}

/// ZMPOP numkeys key [key …] MIN|MAX [COUNT count]
pub fn zmpop(c: &mut Call) -> CmdResult {
    let (keys, max, count) = mpop_args(c.args, 1)?;
    match pop_first(c, keys, count, max)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None => c.out.null_array(),
    }
    Ok(())
}

/// BZMPOP timeout numkeys key [key …] MIN|MAX [COUNT count]
pub fn bzmpop(c: &mut Call) -> CmdResult {
    let timeout = timeout_ms(c.args[1])?;
    let (keys, max, count) = mpop_args(c.args, 2)?;
    match pop_first(c, keys, count, max)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None if c.may_block() => c.block(keys, timeout),
        None => c.out.null_array(),
    }
    Ok(())
}

/// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX key min max
pub fn zremrange(c: &mut Call) -> CmdResult {
    let name = c.args[0].to_ascii_lowercase();
    let by = if name.ends_with(b"byrank") {
        By::Rank(args::int(c.args[2])?, args::int(c.args[3])?)
    } else if name.ends_with(b"byscore") {
        By::Score(score_bound(c.args[2])?, score_bound(c.args[3])?)
    } else {
        By::Lex(lex_bound(c.args[2])?, lex_bound(c.args[3])?)
    };
    let q = RangeQuery {
        by,
        rev: false,
        limit: None,
        withscores: false,
    };
    let n = write(
        c.held,
        c.session.db,
        c.args[1],
        &c.clock,
        false,
        |z: &mut ZSet| {
            let (first, n) = q.resolve(z);
            let doomed = collect(z, first, n, false);
            for (m, _) in &doomed {
                z.remove(m);
            }
            doomed.len()
        },
    )?
    .unwrap_or(0);
    c.touched(n);
    c.out.int(n as i64);
    Ok(())
}

/// The scored elements of a sorted set or (score 1) a set; empty when missing.
fn scored(c: &mut Call, key: &[u8]) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let (shard, h) = c.held.shard(c.session.db, key);
    let Some(e) = shard.get(h, key, &c.clock) else {
        return Ok(Vec::new());
    };
    match e.object() {
        Some(Object::ZSet(z)) => {
            let mut out = Vec::with_capacity(z.len());
            z.for_each(|m, s| out.push((m.to_vec(), s)));
            Ok(out)
        }
        Some(Object::Set(s)) => Ok(s.iter().map(|m| (m.into_owned(), 1.0)).collect()),
        _ => Err(CmdError::WrongType),
    }
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

fn aggregate(how: Aggregate, a: f64, b: f64) -> f64 {
    match how {
        Aggregate::Sum => {
            let s = a + b;
            // inf + -inf: Redis stores 0 rather than NaN.
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Aggregate::Min => a.min(b),
        Aggregate::Max => a.max(b),
    }
}

/// Which set operation.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

/// Options of ZUNION/ZINTER/ZDIFF and their STORE forms.
struct Combine<'a> {
    op: Op,
    keys: &'a [&'a [u8]],
    weights: Vec<f64>,
    how: Aggregate,
    withscores: bool,
}

fn parse_combine<'a>(a: &'a [&'a [u8]], at: usize, store: bool) -> Result<Combine<'a>, CmdError> {
    let name = a[0].to_ascii_lowercase();
    let command = args::text(&name);
    let op = if name.starts_with(b"zunion") {
        Op::Union
    } else if name.starts_with(b"zinter") {
        Op::Inter
    } else {
        Op::Diff
    };
    let n = numkeys(a, at, &command)?;
    let keys = &a[at + 1..at + 1 + n];
    let mut out = Combine {
        op,
        keys,
        weights: vec![1.0; n],
        how: Aggregate::Sum,
        withscores: false,
    };
    let mut i = at + 1 + n;
    while i < a.len() {
        let opt = a[i];
        if op != Op::Diff && is(opt, "weights") && i + n < a.len() {
            for w in 0..n {
                out.weights[w] = args::float(a[i + 1 + w])
                    .map_err(|_| CmdError::err("weight value is not a float"))?;
            }
            i += n;
        } else if op != Op::Diff && is(opt, "aggregate") && i + 1 < a.len() {
            out.how = match a[i + 1].to_ascii_lowercase().as_slice() {
                b"sum" => Aggregate::Sum,
                b"min" => Aggregate::Min,
                b"max" => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            i += 1;
        } else if !store && is(opt, "withscores") {
            out.withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(out)
}

fn weighted(score: f64, weight: f64) -> f64 {
    let w = score * weight;
    if w.is_nan() {
        0.0
    } else {
        w
    }
}

/// Computes a union, intersection or difference, sorted by (score, member).
fn combine(c: &mut Call, q: &Combine) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
    for (i, &key) in q.keys.iter().enumerate() {
        let items = scored(c, key)?;
        c.touched(items.len());
        let w = q.weights[i];
        if i == 0 {
            for (m, s) in items {
                acc.insert(m, weighted(s, w));
            }
            continue;
        }
        match q.op {
            Op::Union => {
                for (m, s) in items {
                    let s = weighted(s, w);
                    acc.entry(m)
                        .and_modify(|cur| *cur = aggregate(q.how, *cur, s))
                        .or_insert(s);
                }
            }
            Op::Inter => {
                let other: HashMap<Vec<u8>, f64> = items.into_iter().collect();
                acc.retain(|m, cur| match other.get(m) {
                    Some(&s) => {
                        *cur = aggregate(q.how, *cur, weighted(s, w));
                        true
                    }
                    None => false,
                });
            }
            Op::Diff => {
                for (m, _) in items {
                    acc.remove(&m);
                }
            }
        }
    }
    let mut out: Vec<(Vec<u8>, f64)> = acc.into_iter().collect();
    out.sort_by(|a, b| compare((a.1, &a.0), (b.1, &b.0)));
    Ok(out)
}

/// ZUNION / ZINTER / ZDIFF numkeys key [key …] [WEIGHTS …] [AGGREGATE …] [WITHSCORES]
pub fn zunion(c: &mut Call) -> CmdResult {
    let q = parse_combine(c.args, 1, false)?;
    let items = combine(c, &q)?;
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE destination numkeys key [key …] [WEIGHTS …] [AGGREGATE …]
pub fn zunionstore(c: &mut Call) -> CmdResult {
    let q = parse_combine(c.args, 2, true)?;
    let items = combine(c, &q)?;
    let n = items.len();
    store(
        c.held,
        c.session.db,
        c.args[1],
        Object::ZSet(build(items)),
        &c.clock,
    );
    c.out.int(n as i64);
    Ok(())
}

/// ZINTERCARD numkeys key [key …] [LIMIT limit]
pub fn zintercard(c: &mut Call) -> CmdResult {
    let n = numkeys(c.args, 1, "zintercard")?;
    let keys = &c.args[2..2 + n];
    let limit = match &c.args[2 + n..] {
        [] => 0,
        [opt, value] if is(opt, "limit") => match args::int(value)? {
            l if l < 0 => return Err(CmdError::err("LIMIT can't be negative")),
            l => l as usize,
        },
        _ => return Err(CmdError::Syntax),
    };
    let q = Combine {
        op: Op::Inter,
        keys,
        weights: vec![1.0; n],
        how: Aggregate::Sum,
        withscores: false,
    };
    let found = combine(c, &q)?.len();
    c.out
        .int(if limit > 0 { found.min(limit) } else { found } as i64);
    Ok(())
}

/// ZRANDMEMBER key [count [WITHSCORES]]
pub fn zrandmember(c: &mut Call) -> CmdResult {
    let count = c.args.get(2).map(|a| args::int(a)).transpose()?;
    let withscores = match c.args.get(3) {
        Some(a) if is(a, "withscores") && c.args.len() == 4 => true,
        Some(_) => return Err(CmdError::Syntax),
        None => false,
    };
    if count.is_some_and(|n| n < -(i64::MAX / 2)) {
        return Err(CmdError::err("value is out of range"));
    }
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let Some(count) = count else {
        match z.and_then(ZSet::random) {
            Some((m, _)) => c.out.bulk(m),
            None => c.out.null(),
        }
        return Ok(());
    };
    let picks: Vec<(Vec<u8>, f64)> = match z {
        None => Vec::new(),
        Some(z) if count < 0 => (0..count.unsigned_abs())
            .filter_map(|_| z.random().map(|(m, s)| (m.to_vec(), s)))
            .collect(),
        Some(z) => {
            let mut all = collect(z, 0, z.len(), false);
            if (count as usize) < all.len() {
                fastrand::shuffle(&mut all);
                all.truncate(count as usize);
            }
            all
        }
    };
    c.touched(picks.len());
    reply_scored(c, &picks, withscores, false);
    Ok(())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count]
pub fn zscan(c: &mut Call) -> CmdResult {
    let scan = scan_args(c.args)?;
    let z = read::<ZSet>(c.held, c.session.db, c.args[1], &c.clock)?;
    let mut found: Vec<(&[u8], f64)> = Vec::new();
    let mut visited = 0;
    let next = z.map_or(0, |z| {
        z.scan(scan.cursor, scan.count, |m, s| {
            visited += 1;
            if scan.matches(m) {
                found.push((m, s));
            }
        })
    });
    c.out.array(2);
    c.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    c.out.array(found.len() * 2);
    for (m, s) in found {
        c.out.bulk(m);
        c.out.bulk(format_g17(s).as_bytes());
    }
    c.touched(visited);
    Ok(())
}
