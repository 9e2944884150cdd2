//! Sorted-set commands (Redis `t_zset.c`): leaderboards and priority queues.
//!
//! Ranges by score or by member (lex) are turned into rank intervals with two O(log n) counts on the ordered
//! index, then walked; so every range form costs O(log n + m). Scores are replied in Redis 7.0's `%.17g` form.

use std::collections::HashMap;

use super::args::{self, is, Args};
use super::call::Call;
use super::collection::{read, read_numkeys, read_scan, remove, store, timeout_ms, write};
use super::error::{CmdError, CmdResult};
use super::list::pop_count;
use super::string::range;
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

/// Parses `min max [BYSCORE|BYLEX] [REV] [LIMIT offset count] [WITHSCORES]` (the ZRANGE form).
fn parse_zrange<'a>(a: &mut Args<'a>, store: bool) -> Result<RangeQuery<'a>, CmdError> {
    let (min, max) = (a.bytes()?, a.bytes()?);
    let (mut byscore, mut bylex, mut rev, mut limit, mut withscores) =
        (false, false, false, None, false);
    while let Some(opt) = a.optional() {
        if is(opt, "byscore") {
            byscore = true;
        } else if is(opt, "bylex") {
            bylex = true;
        } else if is(opt, "rev") {
            rev = true;
        } else if is(opt, "withscores") && !store {
            withscores = true;
        } else if is(opt, "limit") && a.len() >= 2 {
            limit = Some((a.int()?, a.int()?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if byscore && bylex {
        return Err(CmdError::Syntax);
    }
    check_range_options(byscore, bylex, limit.is_some(), withscores)?;
    Ok(RangeQuery {
        by: range_by(min, max, byscore, bylex, rev)?,
        rev,
        limit,
        withscores,
    })
}

/// The range between the `min` and `max` arguments, by rank, score or lex.
fn range_by<'a>(
    min: &'a [u8],
    max: &'a [u8],
    byscore: bool,
    bylex: bool,
    rev: bool,
) -> Result<By<'a>, CmdError> {
    // With REV, score and lex ranges are given as `max min`.
    let (lo, hi) = if rev && (byscore || bylex) {
        (max, min)
    } else {
        (min, max)
    };
    Ok(if byscore {
        By::Score(score_bound(lo)?, score_bound(hi)?)
    } else if bylex {
        By::Lex(lex_bound(lo)?, lex_bound(hi)?)
    } else {
        By::Rank(args::int(min)?, args::int(max)?)
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
fn parse_legacy<'a>(a: &mut Args<'a>) -> Result<RangeQuery<'a>, CmdError> {
    let name = a.name().to_ascii_lowercase();
    let rev = name.starts_with(b"zrev");
    let bylex = name.ends_with(b"bylex");
    let byscore = name.ends_with(b"byscore");
    let (min, max) = (a.bytes()?, a.bytes()?);
    let (mut limit, mut withscores) = (None, false);
    while let Some(opt) = a.optional() {
        if is(opt, "withscores") {
            withscores = true;
        } else if is(opt, "limit") && a.len() >= 2 {
            limit = Some((a.int()?, a.int()?));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    check_range_options(byscore, bylex, limit.is_some(), withscores)?;
    Ok(RangeQuery {
        by: range_by(min, max, byscore, bylex, rev)?,
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
    let mut a = c.args();
    let key = a.key()?;
    let q = parse_zrange(&mut a, false)?;
    let items = run_range(c, key, &q)?;
    c.touched(items.len());
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX, ZREVRANGE
pub fn zrange_legacy(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let q = parse_legacy(&mut a)?;
    let items = run_range(c, key, &q)?;
    c.touched(items.len());
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]
pub fn zrangestore(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (dst, src) = (a.key()?, a.key()?);
    let q = parse_zrange(&mut a, true)?;
    let items = run_range(c, src, &q)?;
    c.touched(items.len());
    let n = items.len();
    store(
        c.held,
        c.session.db,
        dst,
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
    let mut a = c.args();
    let key = a.key()?;
    let mut f = AddFlags::default();
    while let Some(flag) = a.one_of(&["nx", "xx", "gt", "lt", "ch", "incr"]) {
        match flag {
            0 => f.nx = true,
            1 => f.xx = true,
            2 => f.gt = true,
            3 => f.lt = true,
            4 => f.ch = true,
            _ => f.incr = true,
        }
    }
    let pairs = a.rest();
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
        key,
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
    let mut a = c.args();
    let (key, delta, member) = (a.key()?, a.float()?, a.bytes()?);
    let f = AddFlags {
        incr: true,
        ..Default::default()
    };
    let r = write(
        c.held,
        c.session.db,
        key,
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
    let mut a = c.args();
    let (key, members) = (a.key()?, a.rest());
    let n = remove(c.held, c.session.db, key, &c.clock, |z: &mut ZSet| {
        members.iter().filter(|m| z.remove(m).is_some()).count()
    })?;
    c.touched(members.len());
    c.out.int(n as i64);
    Ok(())
}

/// ZSCORE key member
pub fn zscore(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, member) = (a.key()?, a.bytes()?);
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
    match z.and_then(|z| z.score(member)) {
        Some(s) => c.out.double(s),
        None => c.out.null(),
    }
    Ok(())
}

/// ZMSCORE key member [member …]
pub fn zmscore(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, members) = (a.key()?, a.rest());
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
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
    let key = c.args().key()?;
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
    c.out.int(z.map_or(0, ZSet::len) as i64);
    Ok(())
}

/// ZCOUNT key min max
pub fn zcount(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let (min, max) = (score_bound(a.bytes()?)?, score_bound(a.bytes()?)?);
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
    let n = z.map_or(0, |z| {
        let (lo, hi) = score_ranks(z, min, max);
        hi - lo
    });
    c.out.int(n as i64);
    Ok(())
}

/// ZLEXCOUNT key min max
pub fn zlexcount(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let (min, max) = (lex_bound(a.bytes()?)?, lex_bound(a.bytes()?)?);
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
    let n = z.map_or(0, |z| {
        let (lo, hi) = lex_ranks(z, &min, &max);
        hi - lo
    });
    c.out.int(n as i64);
    Ok(())
}

/// ZRANK / ZREVRANK key member [WITHSCORE]
pub fn zrank(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, member) = (a.key()?, a.bytes()?);
    let withscore = a.keyword("withscore");
    a.finish_or(CmdError::Syntax)?;
    let rev = a.called("zrevrank");
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
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
    let mut a = c.args();
    let (key, count) = (a.key()?, a.optional());
    a.finish_or(CmdError::Syntax)?;
    let max = a.called("zpopmax");
    let count = count.map(pop_count).transpose()?;
    let items = write(
        c.held,
        c.session.db,
        key,
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
    let mut a = c.args();
    let max = a.called("bzpopmax");
    let keys = a.take(a.len().saturating_sub(1))?;
    let timeout = timeout_ms(a.bytes()?)?;
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

/// Reads `numkeys key [key …]`: the keys.
fn counted_keys<'a>(a: &mut Args<'a>, command: &str) -> Result<&'a [&'a [u8]], CmdError> {
    let n = read_numkeys(a, command)?;
    a.take(n)
}

/// Parses `numkeys key [key …] MIN|MAX [COUNT count]`: the keys, MAX, the count.
fn mpop_args<'a>(a: &mut Args<'a>) -> Result<(&'a [&'a [u8]], bool, usize), CmdError> {
    let keys = counted_keys(a, "zmpop")?;
    let max = match a.one_of(&["min", "max"]) {
        Some(which) => which == 1,
        None => return Err(CmdError::Syntax),
    };
    let count = match a.rest() {
        [] => 1,
        [opt, count] if is(opt, "count") => match args::int(count) {
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
    let (keys, max, count) = mpop_args(&mut c.args())?;
    match pop_first(c, keys, count, max)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None => c.out.null_array(),
    }
    Ok(())
}

/// BZMPOP timeout numkeys key [key …] MIN|MAX [COUNT count]
pub fn bzmpop(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let timeout = timeout_ms(a.bytes()?)?;
    let (keys, max, count) = mpop_args(&mut a)?;
    match pop_first(c, keys, count, max)? {
        Some((k, items)) => reply_mpop(c, keys[k], &items),
        None if c.may_block() => c.block(keys, timeout),
        None => c.out.null_array(),
    }
    Ok(())
}

/// ZREMRANGEBYRANK / ZREMRANGEBYSCORE / ZREMRANGEBYLEX key min max
pub fn zremrange(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, min, max) = (a.key()?, a.bytes()?, a.bytes()?);
    let byscore = a.called("zremrangebyscore");
    let bylex = a.called("zremrangebylex");
    let by = range_by(min, max, byscore, bylex, false)?;
    let q = RangeQuery {
        by,
        rev: false,
        limit: None,
        withscores: false,
    };
    let n = write(
        c.held,
        c.session.db,
        key,
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

/// Parses `numkeys key [key …] [WEIGHTS …] [AGGREGATE …] [WITHSCORES]` (no WITHSCORES for a `store`).
fn parse_combine<'a>(a: &mut Args<'a>, store: bool) -> Result<Combine<'a>, CmdError> {
    let name = a.name().to_ascii_lowercase();
    let op = if name.starts_with(b"zunion") {
        Op::Union
    } else if name.starts_with(b"zinter") {
        Op::Inter
    } else {
        Op::Diff
    };
    let keys = counted_keys(a, &args::text(&name))?;
    let mut out = Combine {
        op,
        keys,
        weights: vec![1.0; keys.len()],
        how: Aggregate::Sum,
        withscores: false,
    };
    while let Some(opt) = a.optional() {
        if op != Op::Diff && is(opt, "weights") && a.len() >= keys.len() {
            for (w, arg) in out.weights.iter_mut().zip(a.take(keys.len())?) {
                *w = args::float(arg).map_err(|_| CmdError::err("weight value is not a float"))?;
            }
        } else if op != Op::Diff && is(opt, "aggregate") && !a.is_empty() {
            out.how = match a.one_of(&["sum", "min", "max"]) {
                Some(0) => Aggregate::Sum,
                Some(1) => Aggregate::Min,
                Some(_) => Aggregate::Max,
                None => return Err(CmdError::Syntax),
            };
        } else if !store && is(opt, "withscores") {
            out.withscores = true;
        } else {
            return Err(CmdError::Syntax);
        }
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
    let q = parse_combine(&mut c.args(), false)?;
    let items = combine(c, &q)?;
    reply_scored(c, &items, q.withscores, false);
    Ok(())
}

/// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE destination numkeys key [key …] [WEIGHTS …] [AGGREGATE …]
pub fn zunionstore(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let dst = a.key()?;
    let q = parse_combine(&mut a, true)?;
    let items = combine(c, &q)?;
    let n = items.len();
    store(
        c.held,
        c.session.db,
        dst,
        Object::ZSet(build(items)),
        &c.clock,
    );
    c.out.int(n as i64);
    Ok(())
}

/// ZINTERCARD numkeys key [key …] [LIMIT limit]
pub fn zintercard(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let keys = counted_keys(&mut a, "zintercard")?;
    let limit = match a.rest() {
        [] => 0,
        [opt, value] if is(opt, "limit") => match args::int(value) {
            Ok(l) if l >= 0 => l as usize,
            _ => return Err(CmdError::err("LIMIT can't be negative")),
        },
        _ => return Err(CmdError::Syntax),
    };
    let q = Combine {
        op: Op::Inter,
        keys,
        weights: vec![1.0; keys.len()],
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
    let mut a = c.args();
    let key = a.key()?;
    let count = a.optional().map(args::int).transpose()?;
    let withscores = a.keyword("withscores");
    a.finish_or(CmdError::Syntax)?;
    if count.is_some_and(|n| n < -(i64::MAX / 2)) {
        return Err(CmdError::err("value is out of range"));
    }
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
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
    let mut a = c.args();
    let key = a.key()?;
    let scan = read_scan(&mut a)?;
    let z = read::<ZSet>(c.held, c.session.db, key, &c.clock)?;
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
