//! Stream commands (Redis `t_stream.c`): XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XSETID, and the
//! id and entry forms the group commands (`stream_group.rs`) and XINFO (`stream_info.rs`) share.
//!
//! Ids are `ms-seq`; `-` and `+` are the smallest and largest ids, `(id` an exclusive bound. XADD's `*` and
//! `ms-*` ids and `~` trimming depend on the node's clock and layout, so XADD and XTRIM propagate the resolved id
//! and an exact trim (`MAXLEN = n` / `MINID = id`) to replicas, as Redis does. XREAD blocks like BLPOP (see
//! `crate::blocking`), with `$` resolved once, when it first blocks.

use super::args::{self, is, Args};
use super::call::Call;
use super::collection::{read, write};
use super::error::{CmdError, CmdResult};
use crate::keyspace::stream::{Stream, StreamId, Trim};
use crate::protocol::reply::Reply;

/// `ERR Invalid stream ID specified as stream command argument`.
pub fn invalid_id() -> CmdError {
    CmdError::err("Invalid stream ID specified as stream command argument")
}

fn number(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// Parses `ms-seq`, `ms` (sequence `missing_seq`), and unless `strict` also `-` and `+`.
pub fn parse_id(arg: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, CmdError> {
    if !strict && arg == b"-" {
        return Ok(StreamId::MIN);
    }
    if !strict && arg == b"+" {
        return Ok(StreamId::MAX);
    }
    let (ms, seq) = match arg.iter().position(|&b| b == b'-') {
        Some(dash) => (
            number(&arg[..dash]),
            number(&arg[dash + 1..]).ok_or_else(invalid_id)?,
        ),
        None => (number(arg), missing_seq),
    };
    Ok(StreamId::new(ms.ok_or_else(invalid_id)?, seq))
}

/// Parses a strict id (`ms-seq` or `ms`, sequence 0), as XACK, XCLAIM and group commands take.
pub fn strict_id(arg: &[u8]) -> Result<StreamId, CmdError> {
    parse_id(arg, 0, true)
}

/// Parses a range bound: `-`, `+`, `id`, or exclusive `(id`; a missing sequence is 0 for a start and the
/// largest for an end.
pub fn bound(arg: &[u8], end: bool) -> Result<StreamId, CmdError> {
    let missing = if end { u64::MAX } else { 0 };
    match arg.strip_prefix(b"(") {
        Some(rest) => {
            let id = parse_id(rest, missing, true)?;
            let moved = if end { id.prev() } else { id.next() };
            moved.ok_or_else(|| {
                CmdError::err(if end {
                    "invalid end ID for the interval"
                } else {
                    "invalid start ID for the interval"
                })
            })
        }
        None => parse_id(arg, missing, false),
    }
}

/// Writes an id as a bulk string.
pub fn reply_id(out: &mut Reply, id: StreamId) {
    let mut buf = itoa::Buffer::new();
    let mut text = Vec::with_capacity(24);
    text.extend_from_slice(buf.format(id.ms).as_bytes());
    text.push(b'-');
    text.extend_from_slice(buf.format(id.seq).as_bytes());
    out.bulk(&text);
}

/// Writes one entry: `[id, [field, value, …]]`.
pub fn reply_entry(out: &mut Reply, id: StreamId, pairs: &[&[u8]]) {
    out.array(2);
    reply_id(out, id);
    out.bulks(pairs.iter().copied());
}

/// Writes entries `start..=end` (newest first with `rev`), at most `count` (0: all); returns how many.
pub fn reply_range(
    out: &mut Reply,
    s: &Stream,
    start: StreamId,
    end: StreamId,
    rev: bool,
    count: usize,
) -> usize {
    let mut body = Reply {
        buf: Vec::new(),
        resp3: out.resp3,
    };
    let mut n = 0;
    s.for_range(start, end, rev, |id, pairs| {
        reply_entry(&mut body, id, pairs);
        n += 1;
        count == 0 || n < count
    });
    out.array(n);
    out.buf.extend_from_slice(&body.buf);
    n
}

/// The stream at `key`, or None; WRONGTYPE for another type.
pub fn stream_at<'h>(c: &'h mut Call, key: &[u8]) -> Result<Option<&'h Stream>, CmdError> {
    read::<Stream>(c.held, c.session.db, key, &c.clock)
}

/// Edits the stream at `key` (created first when `create`); None when missing.
pub fn edit<R>(
    c: &mut Call,
    key: &[u8],
    create: bool,
    f: impl FnOnce(&mut Stream) -> R,
) -> Result<Option<R>, CmdError> {
    write(c.held, c.session.db, key, &c.clock, create, f)
}

/// Trimming options of XADD and XTRIM.
#[derive(Debug, Clone, Copy)]
struct TrimArgs {
    trim: Trim,
    approx: bool,
    limit: usize,
    /// Indexes among the options of the `~`/`=` marker (if given) and the threshold, for the replicated rewrite.
    marker: Option<usize>,
    threshold: usize,
}

/// Options parsed from XADD / XTRIM.
#[derive(Default)]
struct AddArgs<'a> {
    nomkstream: bool,
    trim: Option<TrimArgs>,
    /// The options as given (the arguments between the key and XADD's id).
    options: &'a [&'a [u8]],
}

/// What the trimming options ask for, as they are read.
#[derive(Default)]
struct TrimOptions {
    maxlen: Option<u64>,
    minid: Option<StreamId>,
    limit: Option<usize>,
    approx: bool,
    marker: Option<usize>,
    threshold: usize,
}

/// Parses `[NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]` after the key; XADD stops at the first
/// other argument (its id), XTRIM refuses it.
fn add_args<'a>(a: &mut Args<'a>, xadd: bool) -> Result<AddArgs<'a>, CmdError> {
    let mut options = *a;
    let given = options.len();
    // Where the next argument is among the options.
    let at = |a: &Args| given - a.len();
    let mut out = AddArgs::default();
    let mut t = TrimOptions::default();
    while let Some(opt) = a.optional() {
        if xadd && is(opt, "nomkstream") {
            out.nomkstream = true;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && !a.is_empty() {
            if a.len() >= 2 && matches!(a.peek(), Some(b"~" | b"=")) {
                t.approx = a.peek() == Some(&b"~"[..]);
                t.marker = Some(at(a));
                a.bytes()?;
            }
            t.threshold = at(a);
            trim_threshold(a, is(opt, "maxlen"), &mut t)?;
        } else if is(opt, "limit") && !a.is_empty() {
            let n = a.int()?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            t.limit = Some(n as usize);
        } else if xadd {
            a.back();
            break;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    out.options = options.take(at(a))?;
    out.trim = trim_args(t)?;
    if !xadd && out.trim.is_none() {
        return Err(CmdError::Syntax);
    }
    Ok(out)
}

/// Reads the threshold of MAXLEN (`max`) or MINID.
fn trim_threshold(a: &mut Args, max: bool, t: &mut TrimOptions) -> CmdResult {
    if max {
        let n = a.int()?;
        if n < 0 {
            return Err(CmdError::err("The MAXLEN argument must be >= 0."));
        }
        t.maxlen = Some(n as u64);
    } else {
        t.minid = Some(parse_id(a.bytes()?, 0, true)?);
    }
    Ok(())
}

/// Checks the trimming options read together: the trim they ask for, if any.
fn trim_args(t: TrimOptions) -> Result<Option<TrimArgs>, CmdError> {
    if t.maxlen.is_some() && t.minid.is_some() {
        return Err(CmdError::err(
            "syntax error, MAXLEN and MINID options at the same time are not compatible",
        ));
    }
    if t.limit.is_some() && !t.approx {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    let trim = match (t.maxlen, t.minid) {
        (Some(n), _) => Trim::MaxLen(n),
        (_, Some(id)) => Trim::MinId(id),
        _ => return Ok(None),
    };
    Ok(Some(TrimArgs {
        trim,
        approx: t.approx,
        limit: if t.approx {
            t.limit
                .unwrap_or(100usize.saturating_mul(crate::keyspace::limits::stream_entries()))
        } else {
            0
        },
        marker: t.marker,
        threshold: t.threshold,
    }))
}

/// The options to replicate for an approximate trim: `~` becomes `=`, the threshold what the trim left, and
/// LIMIT goes (it is only valid with `~`).
fn exact_trim_rewrite(options: &[&[u8]], t: &TrimArgs, s: &Stream) -> Vec<Vec<u8>> {
    let threshold = match t.trim {
        Trim::MaxLen(_) => s.len().to_string(),
        Trim::MinId(min) => s.edge_id(false).unwrap_or(min).to_string(),
    };
    let mut out = Vec::with_capacity(options.len());
    let mut words = options.iter().enumerate();
    while let Some((i, word)) = words.next() {
        if Some(i) == t.marker {
            out.push(b"=".to_vec());
        } else if i == t.threshold {
            out.push(threshold.clone().into_bytes());
        } else if is(word, "limit") {
            words.next();
        } else {
            out.push(word.to_vec());
        }
    }
    out
}

/// The id XADD's id argument asks for, given the stream's last id: `*`, `ms-*` or explicit.
fn next_id(arg: &[u8], last: StreamId, now_ms: u64) -> Result<StreamId, CmdError> {
    let smaller = || {
        CmdError::err(
            "The ID specified in XADD is equal or smaller than the target stream top item",
        )
    };
    let exhausted =
        || CmdError::err("The stream has exhausted the last possible ID, unable to add more items");
    let id = if arg == b"*" {
        if last == StreamId::MAX {
            return Err(exhausted());
        }
        if now_ms > last.ms {
            StreamId::new(now_ms, 0)
        } else {
            last.next().ok_or_else(exhausted)?
        }
    } else if let Some(ms) = arg.strip_suffix(b"-*") {
        let ms = number(ms).ok_or_else(invalid_id)?;
        if ms == last.ms {
            if last.seq == u64::MAX {
                return Err(smaller());
            }
            StreamId::new(ms, last.seq + 1)
        } else {
            StreamId::new(ms, 0)
        }
    } else {
        let id = parse_id(arg, 0, true)?;
        if id.is_zero() {
            return Err(CmdError::err(
                "The ID specified in XADD must be greater than 0-0",
            ));
        }
        id
    };
    if id <= last {
        return Err(smaller());
    }
    Ok(id)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value [field value …]
pub fn xadd(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let opts = add_args(&mut a, true)?;
    let id_arg = a.bytes()?;
    let pairs = a.rest();
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(a.arity_error());
    }
    // The id is validated before the key is looked at, as Redis does.
    if id_arg != b"*" && !id_arg.ends_with(b"-*") && parse_id(id_arg, 0, true)?.is_zero() {
        return Err(CmdError::err(
            "The ID specified in XADD must be greater than 0-0",
        ));
    }
    let now = c.clock.now_ms;
    let trim = opts.trim;
    let added = edit(c, key, !opts.nomkstream, |s: &mut Stream| {
        let id = next_id(id_arg, s.last_id, now)?;
        s.append(id, pairs);
        let rewrite = trim.map(|t| {
            s.trim(t.trim, t.approx, t.limit);
            t.approx.then(|| exact_trim_rewrite(opts.options, &t, s))
        });
        Ok::<_, CmdError>((id, rewrite.flatten()))
    })?;
    let Some(added) = added else {
        c.out.null();
        c.replicate_as(&[]);
        return Ok(());
    };
    let (id, rewrite) = added?;
    // Replicas get the id this node chose (and the exact trim).
    let options = rewrite.unwrap_or_else(|| opts.options.iter().map(|o| o.to_vec()).collect());
    let id_text = id.to_string();
    let mut argv: Vec<&[u8]> = vec![a.name(), key];
    argv.extend(options.iter().map(Vec::as_slice));
    argv.push(id_text.as_bytes());
    argv.extend_from_slice(pairs);
    c.replicate_as(&[&argv]);
    reply_id(c.out, id);
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let opts = add_args(&mut a, false)?;
    let Some(t) = opts.trim else {
        return Err(CmdError::Syntax);
    };
    // A trim with nothing to remove changes nothing (no write, no keyspace event), as in Redis.
    let needed = stream_at(c, key)?.is_some_and(|s| match t.trim {
        Trim::MaxLen(max) => s.len() as u64 > max,
        Trim::MinId(min) => s.edge_id(false).is_some_and(|first| first < min),
    });
    if !needed {
        c.out.int(0);
        return Ok(());
    }
    let done = edit(c, key, false, |s: &mut Stream| {
        let n = s.trim(t.trim, t.approx, t.limit);
        (n, t.approx.then(|| exact_trim_rewrite(opts.options, &t, s)))
    })?;
    let (n, rewrite) = done.unwrap_or((0, None));
    if let Some(options) = rewrite {
        let mut argv: Vec<&[u8]> = vec![a.name(), key];
        argv.extend(options.iter().map(Vec::as_slice));
        c.replicate_as(&[&argv]);
    }
    c.touched(n as usize);
    c.out.int(n as i64);
    Ok(())
}

/// XLEN key
pub fn xlen(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let n = stream_at(c, key)?.map_or(0, Stream::len);
    c.out.int(n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT count] / XREVRANGE key end start [COUNT count]
pub fn xrange(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let rev = a.called("xrevrange");
    let (key, first, second) = (a.key()?, a.bytes()?, a.bytes()?);
    let (start_arg, end_arg) = if rev {
        (second, first)
    } else {
        (first, second)
    };
    let mut count = None;
    while let Some(opt) = a.optional() {
        if is(opt, "count") && !a.is_empty() {
            count = Some(a.int()?.max(0) as usize);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let start = bound(start_arg, false)?;
    let end = bound(end_arg, true)?;
    let out_resp3 = c.out.resp3;
    let Some(s) = stream_at(c, key)? else {
        c.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        c.out.null_array();
        return Ok(());
    }
    let mut body = Reply {
        buf: Vec::new(),
        resp3: out_resp3,
    };
    let n = reply_range(&mut body, s, start, end, rev, count.unwrap_or(0));
    c.out.buf.extend_from_slice(&body.buf);
    c.touched(n);
    Ok(())
}

/// XDEL key id [id …]
pub fn xdel(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let ids = a
        .rest()
        .iter()
        .map(|id| strict_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    // Deleting nothing changes nothing (no write, no keyspace event), as in Redis.
    let any = stream_at(c, key)?.is_some_and(|s| ids.iter().any(|id| s.contains(*id)));
    let n = if any {
        edit(c, key, false, |s: &mut Stream| {
            ids.iter().filter(|id| s.delete(**id)).count()
        })?
        .unwrap_or(0)
    } else {
        0
    };
    c.touched(ids.len());
    c.out.int(n as i64);
    Ok(())
}

/// XSETID key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]
pub fn xsetid(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let id = strict_id(a.bytes()?)?;
    let (mut added, mut max_deleted) = (None, None);
    while let Some(opt) = a.optional() {
        if is(opt, "entriesadded") && !a.is_empty() {
            let n = a.int()?;
            if n < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if is(opt, "maxdeletedid") && !a.is_empty() {
            let m = strict_id(a.bytes()?)?;
            if id < m {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let done = edit(c, key, false, |s: &mut Stream| {
        if added.is_some_and(|n| (s.len() as u64) > n) {
            return Err(CmdError::err(
                "The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
        if !s.is_empty() && s.edge_id(true).is_some_and(|top| id < top) {
            return Err(CmdError::err(
                "The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        s.last_id = id;
        if let Some(n) = added {
            s.entries_added = n;
        }
        if let Some(m) = max_deleted {
            s.max_deleted = m;
        }
        Ok(())
    })?;
    done.ok_or(CmdError::NoSuchKey)??;
    c.out.ok();
    Ok(())
}

/// The options of XREAD and XREADGROUP.
pub struct ReadArgs<'a> {
    /// COUNT (0: no limit).
    pub count: usize,
    /// BLOCK in ms: None without BLOCK, Some(None) forever.
    pub block: Option<Option<u64>>,
    /// GROUP group consumer.
    pub group: Option<(&'a [u8], &'a [u8])>,
    /// NOACK.
    pub noack: bool,
    /// The stream keys.
    pub keys: &'a [&'a [u8]],
    /// Their ids, as given.
    pub ids: &'a [&'a [u8]],
}

/// Parses XREAD / XREADGROUP options with Redis' errors.
pub fn read_args<'a>(a: &mut Args<'a>, group: bool) -> Result<ReadArgs<'a>, CmdError> {
    let mut out = ReadArgs {
        count: 0,
        block: None,
        group: None,
        noack: false,
        keys: &[],
        ids: &[],
    };
    let mut streams = false;
    while let Some(opt) = a.optional() {
        let more = a.len();
        if is(opt, "block") && more > 0 {
            let ms = args::int(a.bytes()?)
                .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            out.block = Some((ms > 0).then_some(ms as u64));
        } else if is(opt, "count") && more > 0 {
            out.count = a.int()?.max(0) as usize;
        } else if is(opt, "streams") && more > 0 {
            (out.keys, out.ids) = read_streams(a, group)?;
            streams = true;
            break;
        } else if is(opt, "group") && more >= 2 {
            only_xreadgroup(group, "GROUP")?;
            out.group = Some((a.bytes()?, a.bytes()?));
        } else if is(opt, "noack") {
            only_xreadgroup(group, "NOACK")?;
            out.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if !streams {
        return Err(CmdError::Syntax);
    }
    if group && out.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    Ok(out)
}

/// The stream keys after STREAMS, and their ids.
type StreamsAndIds<'a> = (&'a [&'a [u8]], &'a [&'a [u8]]);

/// Reads the keys and ids after STREAMS, as many of each.
fn read_streams<'a>(a: &mut Args<'a>, group: bool) -> Result<StreamsAndIds<'a>, CmdError> {
    let rest = a.rest();
    if rest.len() % 2 != 0 {
        return Err(CmdError::err(format_args!(
            "Unbalanced '{}' list of streams: for each stream key an ID or '{}' must be \
             specified.",
            if group { "xreadgroup" } else { "xread" },
            if group { '>' } else { '$' }
        )));
    }
    Ok(rest.split_at(rest.len() / 2))
}

/// The error for an XREADGROUP option given to XREAD.
fn only_xreadgroup(group: bool, option: &str) -> CmdResult {
    match group {
        true => Ok(()),
        false => Err(CmdError::err(format_args!(
            "The {option} option is only supported by XREADGROUP. You called XREAD instead."
        ))),
    }
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key …] id [id …]
pub fn xread(c: &mut Call) -> CmdResult {
    let r = read_args(&mut c.args(), false)?;
    // Resolve every id first (type errors and bad ids are reported before anything is served).
    let saved = c.session.blocking.stream_after.take();
    let mut after = Vec::with_capacity(r.keys.len());
    // Woken while blocked: a key that became another type is passed over, and the client keeps waiting.
    let woken = c.session.blocking.is_retry();
    for (k, (key, arg)) in r.keys.iter().zip(r.ids).enumerate() {
        let s = match stream_at(c, key) {
            Err(CmdError::WrongType) if woken => None,
            other => other?,
        };
        let id = if let Some(saved) = saved.as_ref().and_then(|v| v.get(k)) {
            *saved
        } else if *arg == b"$" {
            s.map_or(StreamId::MIN, |s| s.last_id)
        } else if *arg == b">" {
            return Err(CmdError::err(
                "The > ID can be specified only when calling XREADGROUP using the GROUP <group> \
                 <consumer> option.",
            ));
        } else {
            strict_id(arg)?
        };
        after.push(id);
    }
    let resp3 = c.out.resp3;
    let mut body = Reply {
        buf: Vec::new(),
        resp3,
    };
    let (mut served, mut touched) = (0, 0);
    for (key, gt) in r.keys.iter().zip(&after) {
        let Some(s) = (match stream_at(c, key) {
            Err(CmdError::WrongType) if woken => None,
            other => other?,
        }) else {
            continue;
        };
        let Some(start) = gt.next() else {
            continue;
        };
        if s.is_empty() || s.edge_id(true).is_none_or(|top| top <= *gt) {
            continue;
        }
        if !resp3 {
            body.array(2);
        }
        body.bulk(key);
        touched += reply_range(&mut body, s, start, StreamId::MAX, false, r.count);
        served += 1;
    }
    c.touched(touched);
    if served > 0 {
        if resp3 {
            c.out.map(served);
        } else {
            c.out.array(served);
        }
        c.out.buf.extend_from_slice(&body.buf);
        return Ok(());
    }
    match r.block {
        Some(timeout) if c.may_block() => {
            c.session.blocking.stream_after = Some(after);
            let keys = r.keys;
            c.block(keys, timeout);
        }
        _ => c.out.null_array(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_id(b"5-3", 0, true), Ok(StreamId::new(5, 3)));
        assert_eq!(parse_id(b"5", 7, true), Ok(StreamId::new(5, 7)));
        assert_eq!(parse_id(b"-", 0, false), Ok(StreamId::MIN));
        assert_eq!(parse_id(b"+", 0, false), Ok(StreamId::MAX));
        for bad in [&b"-"[..], b"+", b"x", b"1-", b"-1", b"1-2-3", b"1-x", b""] {
            assert_eq!(parse_id(bad, 0, true), Err(invalid_id()), "{bad:?}");
        }
        assert_eq!(bound(b"(5-3", false), Ok(StreamId::new(5, 4)));
        // As in Redis, a bare `ms` end means `ms-<max>` before the exclusive step.
        assert_eq!(bound(b"(5", true), Ok(StreamId::new(5, u64::MAX - 1)));
        assert!(bound(b"(0-0", true).is_err());
        assert_eq!(bound(b"7", true), Ok(StreamId::new(7, u64::MAX)));
    }

    #[test]
    fn generated_ids_only_grow() {
        let last = StreamId::new(100, 5);
        assert_eq!(next_id(b"*", last, 200), Ok(StreamId::new(200, 0)));
        assert_eq!(next_id(b"*", last, 50), Ok(StreamId::new(100, 6)));
        assert_eq!(next_id(b"100-*", last, 0), Ok(StreamId::new(100, 6)));
        assert_eq!(next_id(b"101-*", last, 0), Ok(StreamId::new(101, 0)));
        assert!(next_id(b"99-*", last, 0).is_err());
        assert!(next_id(b"100-5", last, 0).is_err());
        assert!(next_id(b"0-0", StreamId::MIN, 0).is_err());
        assert!(next_id(b"*", StreamId::MAX, 0).is_err());
    }
}
