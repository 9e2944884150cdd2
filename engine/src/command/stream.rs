//! Stream commands (Redis `t_stream.c`): XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XREAD, XSETID, and the
//! id and entry forms the group commands (`stream_group.rs`) and XINFO (`stream_info.rs`) share.
//!
//! Ids are `ms-seq`; `-` and `+` are the smallest and largest ids, `(id` an exclusive bound. XADD's `*` and
//! `ms-*` ids and `~` trimming depend on the node's clock and layout, so XADD and XTRIM propagate the resolved id
//! and an exact trim (`MAXLEN = n` / `MINID = id`) to replicas, as Redis does. XREAD blocks like BLPOP (see
//! `crate::blocking`), with `$` resolved once, when it first blocks.

use super::args::{self, is};
use super::collection::{read, write};
use super::{Call, CmdError, CmdResult};
use crate::keyspace::stream::{Stream, StreamId, Trim, NODE_MAX_ENTRIES};
use crate::keyspace::{Keyspace, LockSet};
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
    /// Argument indexes of the `~`/`=` marker (if given) and the threshold, for the replicated rewrite.
    marker: Option<usize>,
    threshold: usize,
}

/// Options parsed from XADD / XTRIM.
#[derive(Default)]
struct AddArgs {
    nomkstream: bool,
    trim: Option<TrimArgs>,
    /// Index of XADD's id argument.
    id_at: usize,
}

/// Parses `[NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]]` from index 2; XADD stops at the first
/// other argument (its id), XTRIM refuses it.
fn add_args(a: &[&[u8]], xadd: bool) -> Result<AddArgs, CmdError> {
    let mut out = AddArgs::default();
    let (mut maxlen, mut minid, mut limit) = (None, None, None);
    let mut approx = false;
    let mut marker = None;
    let mut threshold = 0;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if xadd && is(a[i], "nomkstream") {
            out.nomkstream = true;
        } else if (is(a[i], "maxlen") || is(a[i], "minid")) && more >= 1 {
            let max = is(a[i], "maxlen");
            if more >= 2 && (a[i + 1] == b"~" || a[i + 1] == b"=") {
                approx = a[i + 1] == b"~";
                marker = Some(i + 1);
                i += 1;
            }
            i += 1;
            threshold = i;
            if max {
                let n = args::int(a[i])?;
                if n < 0 {
                    return Err(CmdError::err("The MAXLEN argument must be >= 0."));
                }
                maxlen = Some(n as u64);
            } else {
                minid = Some(parse_id(a[i], 0, true)?);
            }
        } else if is(a[i], "limit") && more >= 1 {
            i += 1;
            let n = args::int(a[i])?;
            if n < 0 {
                return Err(CmdError::err("The LIMIT argument must be >= 0."));
            }
            limit = Some(n as usize);
        } else if xadd {
            break;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    out.id_at = i;
    if maxlen.is_some() && minid.is_some() {
        return Err(CmdError::err(
            "syntax error, MAXLEN and MINID options at the same time are not compatible",
        ));
    }
    if limit.is_some() && !approx {
        return Err(CmdError::err(
            "syntax error, LIMIT cannot be used without the special ~ option",
        ));
    }
    let trim = match (maxlen, minid) {
        (Some(n), _) => Some(Trim::MaxLen(n)),
        (_, Some(id)) => Some(Trim::MinId(id)),
        _ => None,
    };
    out.trim = trim.map(|trim| TrimArgs {
        trim,
        approx,
        limit: if approx {
            limit.unwrap_or(100 * NODE_MAX_ENTRIES)
        } else {
            0
        },
        marker,
        threshold,
    });
    if !xadd && out.trim.is_none() {
        return Err(CmdError::Syntax);
    }
    Ok(out)
}

/// The arguments to replicate for an approximate trim: `~` becomes `=`, the threshold what the trim left, and
/// LIMIT goes (it is only valid with `~`). Options end at `opts_end` (XADD's id).
fn exact_trim_rewrite(a: &[&[u8]], t: &TrimArgs, opts_end: usize, s: &Stream) -> Vec<Vec<u8>> {
    let threshold = match t.trim {
        Trim::MaxLen(_) => s.len().to_string(),
        Trim::MinId(min) => s.edge_id(false).unwrap_or(min).to_string(),
    };
    let mut out = Vec::with_capacity(a.len());
    let mut i = 0;
    while i < a.len() {
        if Some(i) == t.marker {
            out.push(b"=".to_vec());
        } else if i == t.threshold {
            out.push(threshold.clone().into_bytes());
        } else if (2..opts_end).contains(&i) && is(a[i], "limit") {
            i += 2;
            continue;
        } else {
            out.push(a[i].to_vec());
        }
        i += 1;
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
    let a = c.args;
    let opts = add_args(a, true)?;
    let fields = a.len().saturating_sub(opts.id_at + 1);
    if opts.id_at >= a.len() || fields == 0 || fields % 2 != 0 {
        return Err(CmdError::err(
            "wrong number of arguments for 'xadd' command",
        ));
    }
    // The id is validated before the key is looked at, as Redis does.
    if a[opts.id_at] != b"*"
        && !a[opts.id_at].ends_with(b"-*")
        && parse_id(a[opts.id_at], 0, true)?.is_zero()
    {
        return Err(CmdError::err(
            "The ID specified in XADD must be greater than 0-0",
        ));
    }
    let now = c.clock.now_ms;
    let pairs = &a[opts.id_at + 1..];
    let trim = opts.trim;
    let added = edit(c, a[1], !opts.nomkstream, |s: &mut Stream| {
        let id = next_id(a[opts.id_at], s.last_id, now)?;
        s.append(id, pairs);
        let rewrite = trim.map(|t| {
            s.trim(t.trim, t.approx, t.limit);
            t.approx.then(|| exact_trim_rewrite(a, &t, opts.id_at, s))
        });
        Ok::<_, CmdError>((id, rewrite.flatten()))
    })?;
    let Some(added) = added else {
        c.out.null();
        c.replicate_as(&[]);
        return Ok(());
    };
    let (id, rewrite) = added?;
    let mut argv: Vec<Vec<u8>> = rewrite.unwrap_or_else(|| a.iter().map(|x| x.to_vec()).collect());
    // The rewrite drops LIMIT from the options before the id: the id is as far from the end as given.
    let id_at = argv.len() - (a.len() - opts.id_at);
    argv[id_at] = id.to_string().into_bytes();
    let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
    c.replicate_as(&[&refs]);
    reply_id(c.out, id);
    Ok(())
}

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count]
pub fn xtrim(c: &mut Call) -> CmdResult {
    let a = c.args;
    let opts = add_args(a, false)?;
    let Some(t) = opts.trim else {
        return Err(CmdError::Syntax);
    };
    // A trim with nothing to remove changes nothing (no write, no keyspace event), as in Redis.
    let needed = stream_at(c, a[1])?.is_some_and(|s| match t.trim {
        Trim::MaxLen(max) => s.len() as u64 > max,
        Trim::MinId(min) => s.edge_id(false).is_some_and(|first| first < min),
    });
    if !needed {
        c.out.int(0);
        return Ok(());
    }
    let done = edit(c, a[1], false, |s: &mut Stream| {
        let n = s.trim(t.trim, t.approx, t.limit);
        (n, t.approx.then(|| exact_trim_rewrite(a, &t, a.len(), s)))
    })?;
    let (n, rewrite) = done.unwrap_or((0, None));
    if let Some(argv) = rewrite {
        let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
        c.replicate_as(&[&refs]);
    }
    c.touched(n as usize);
    c.out.int(n as i64);
    Ok(())
}

/// XLEN key
pub fn xlen(c: &mut Call) -> CmdResult {
    let n = stream_at(c, c.args[1])?.map_or(0, Stream::len);
    c.out.int(n as i64);
    Ok(())
}

/// XRANGE key start end [COUNT count] / XREVRANGE key end start [COUNT count]
pub fn xrange(c: &mut Call) -> CmdResult {
    let rev = is(c.args[0], "xrevrange");
    let (start_arg, end_arg) = if rev {
        (c.args[3], c.args[2])
    } else {
        (c.args[2], c.args[3])
    };
    let mut count = None;
    let mut i = 4;
    while i < c.args.len() {
        if is(c.args[i], "count") && i + 1 < c.args.len() {
            count = Some(args::int(c.args[i + 1])?.max(0) as usize);
            i += 2;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let start = bound(start_arg, false)?;
    let end = bound(end_arg, true)?;
    let out_resp3 = c.out.resp3;
    let Some(s) = stream_at(c, c.args[1])? else {
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
    let ids = c.args[2..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    // Deleting nothing changes nothing (no write, no keyspace event), as in Redis.
    let any = stream_at(c, c.args[1])?.is_some_and(|s| ids.iter().any(|id| s.contains(*id)));
    let n = if any {
        edit(c, c.args[1], false, |s: &mut Stream| {
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
    let a = c.args;
    let id = strict_id(a[2])?;
    let (mut added, mut max_deleted) = (None, None);
    let mut i = 3;
    while i < a.len() {
        if is(a[i], "entriesadded") && i + 1 < a.len() {
            let n = args::int(a[i + 1])?;
            if n < 0 {
                return Err(CmdError::err("entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if is(a[i], "maxdeletedid") && i + 1 < a.len() {
            let m = strict_id(a[i + 1])?;
            if id < m {
                return Err(CmdError::err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(CmdError::Syntax);
        }
        i += 2;
    }
    let done = edit(c, a[1], false, |s: &mut Stream| {
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

/// Index of the STREAMS argument of XREAD / XREADGROUP, skipping option values.
fn streams_at(a: &[&[u8]]) -> Option<usize> {
    let mut i = 1;
    while i < a.len() {
        if is(a[i], "streams") {
            return Some(i);
        }
        i += if is(a[i], "group") {
            3
        } else if is(a[i], "block") || is(a[i], "count") {
            2
        } else {
            1
        };
    }
    None
}

/// The stream keys of an XREAD / XREADGROUP call.
pub fn read_keys<'a>(a: &[&'a [u8]]) -> Vec<&'a [u8]> {
    match streams_at(a) {
        Some(s) => {
            let n = (a.len() - s - 1) / 2;
            a[s + 1..s + 1 + n].to_vec()
        }
        None => Vec::new(),
    }
}

/// Lock set of XREAD / XREADGROUP: the keys after STREAMS.
pub fn read_lock_set(a: &[&[u8]], db: usize, ks: &Keyspace, set: &mut LockSet) {
    for key in read_keys(a) {
        set.push(ks.shard_id(db, key));
    }
}

/// Parses XREAD / XREADGROUP options with Redis' errors.
pub fn read_args<'a>(a: &'a [&'a [u8]], group: bool) -> Result<ReadArgs<'a>, CmdError> {
    let name = if group { "xreadgroup" } else { "xread" };
    let mut out = ReadArgs {
        count: 0,
        block: None,
        group: None,
        noack: false,
        keys: &[],
        ids: &[],
    };
    let mut streams = None;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - i - 1;
        if is(a[i], "block") && more > 0 {
            i += 1;
            let ms = args::int(a[i])
                .map_err(|_| CmdError::err("timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(CmdError::err("timeout is negative"));
            }
            out.block = Some((ms > 0).then_some(ms as u64));
        } else if is(a[i], "count") && more > 0 {
            i += 1;
            out.count = args::int(a[i])?.max(0) as usize;
        } else if is(a[i], "streams") && more > 0 {
            let n = a.len() - i - 1;
            if n % 2 != 0 {
                return Err(CmdError::err(format_args!(
                    "Unbalanced '{name}' list of streams: for each stream key an ID or '{}' must be \
                     specified.",
                    if group { '>' } else { '$' }
                )));
            }
            streams = Some(i + 1);
            break;
        } else if is(a[i], "group") && more >= 2 {
            if !group {
                return Err(CmdError::err(
                    "The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.group = Some((a[i + 1], a[i + 2]));
            i += 2;
        } else if is(a[i], "noack") {
            if !group {
                return Err(CmdError::err(
                    "The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.noack = true;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    let Some(s) = streams else {
        return Err(CmdError::Syntax);
    };
    if group && out.group.is_none() {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    }
    let n = (a.len() - s) / 2;
    out.keys = &a[s..s + n];
    out.ids = &a[s + n..];
    Ok(out)
}

/// XREAD [COUNT count] [BLOCK ms] STREAMS key [key …] id [id …]
pub fn xread(c: &mut Call) -> CmdResult {
    let r = read_args(c.args, false)?;
    // Resolve every id first (type errors and bad ids are reported before anything is served).
    let saved = c.session.blocking.stream_after.take();
    let mut after = Vec::with_capacity(r.keys.len());
    for (k, (key, arg)) in r.keys.iter().zip(r.ids).enumerate() {
        let s = stream_at(c, key)?;
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
        let Some(s) = stream_at(c, key)? else {
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

    #[test]
    fn stream_keys_are_found_after_streams_skipping_option_values() {
        let a: Vec<&[u8]> = vec![
            b"XREADGROUP",
            b"GROUP",
            b"streams",
            b"c",
            b"COUNT",
            b"2",
            b"STREAMS",
            b"k1",
            b"k2",
            b">",
            b">",
        ];
        assert_eq!(read_keys(&a), vec![&b"k1"[..], b"k2"]);
    }
}
