//! Consumer group commands (Redis `t_stream.c`): XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//!
//! A group remembers the last id it delivered and, per entry delivered and not yet acknowledged, the consumer
//! that holds it, when it was delivered and how often (the PEL). Reading and claiming change the PEL with the
//! node's clock, so like Redis these commands replicate as `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n
//! FORCE JUSTID LASTID id` per entry (which recreates exactly that PEL state on a replica), `XGROUP SETID … ENTRIESREAD
//! n` when the group moved on, and `XGROUP CREATECONSUMER` when a consumer appeared.

use super::args::{self, is, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::stream::{
    bound, edit, invalid_id, parse_id, read_args, reply_entry, reply_id, stream_at, strict_id,
};
use crate::keyspace::stream::{Group, Pending, Stream, StreamId};
use crate::protocol::reply::Reply;

/// Commands to replicate instead of the one received.
type Props = Vec<Vec<Vec<u8>>>;

fn nogroup(key: &[u8], group: &[u8]) -> CmdError {
    CmdError::Msg(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        args::text(key),
        args::text(group)
    ))
}

fn argv(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

/// The XCLAIM that recreates a PEL entry (or its removal, when the stream entry is gone) on a replica.
fn claim_prop(key: &[u8], group: &[u8], id: StreamId, p: &Pending, last: StreamId) -> Vec<Vec<u8>> {
    argv(&[
        b"XCLAIM",
        key,
        group,
        &p.consumer,
        b"0",
        id.to_string().as_bytes(),
        b"TIME",
        p.delivered_ms.to_string().as_bytes(),
        b"RETRYCOUNT",
        p.deliveries.to_string().as_bytes(),
        b"FORCE",
        b"JUSTID",
        b"LASTID",
        last.to_string().as_bytes(),
    ])
}

/// The XGROUP SETID that moves a replica's group to where this one is.
fn setid_prop(key: &[u8], group: &[u8], g: &Group) -> Vec<Vec<u8>> {
    argv(&[
        b"XGROUP",
        b"SETID",
        key,
        group,
        g.last_id.to_string().as_bytes(),
        b"ENTRIESREAD",
        g.entries_read
            .map_or(-1, |n| n as i64)
            .to_string()
            .as_bytes(),
    ])
}

/// Runs `f` on the stream and its group `name` (None when there is no such group).
fn with_group<R>(
    s: &mut Stream,
    name: &[u8],
    f: impl FnOnce(&mut Stream, &mut Group) -> R,
) -> Option<R> {
    let (k, mut g) = s.groups.remove_entry(name)?;
    let r = f(s, &mut g);
    s.groups.insert(k, g);
    Some(r)
}

fn set_props(c: &mut Call, props: Props) {
    c.session.rewrite = Some(props);
}

/// A read or claim created its consumer: the `xgroup-createconsumer` keyspace event, as XGROUP CREATECONSUMER
/// emits it.
fn consumer_created(c: &Call, key: &[u8]) {
    c.node.pubsub().notify(
        crate::notify::STREAM,
        "xgroup-createconsumer",
        c.session.db,
        key,
        c.clock.now_ms,
    );
}

fn entries_read_arg(arg: &[u8]) -> Result<Option<u64>, CmdError> {
    let n = args::int(arg)?;
    match n {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(n as u64)),
        _ => Err(CmdError::err(
            "value for ENTRIESREAD must be positive or -1",
        )),
    }
}

/// XGROUP HELP
pub fn xgroup_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.help(&[
        "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CREATE <key> <groupname> <id|$> [option]",
        "    Create a new consumer group. Options are:",
        "    * MKSTREAM",
        "      Create the empty stream if it does not exist.",
        "    * ENTRIESREAD entries_read",
        "      Set the group's entries_read counter (internal use).",
        "CREATECONSUMER <key> <groupname> <consumer>",
        "    Create a new consumer in the specified group.",
        "DELCONSUMER <key> <groupname> <consumer>",
        "    Remove the specified consumer.",
        "DESTROY <key> <groupname>",
        "    Remove the specified group.",
        "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
        "    Set the current group ID and entries_read counter.",
        "HELP",
        "    Print this help.",
    ]);
    Ok(())
}

/// Reads CREATE's `[MKSTREAM]` (with `mkstream`) and `[ENTRIESREAD n]` options: MKSTREAM, entries read.
fn group_options(a: &mut Args, mkstream: bool) -> Result<(bool, Option<u64>), CmdError> {
    let (mut mkstream_given, mut entries_read) = (false, None);
    while let Some(opt) = a.optional() {
        if mkstream && is(opt, "mkstream") {
            mkstream_given = true;
        } else if is(opt, "entriesread") && !a.is_empty() {
            entries_read = entries_read_arg(a.bytes()?)?;
        } else {
            return Err(a.subcommand_error());
        }
    }
    Ok((mkstream_given, entries_read))
}

/// True when the stream at `key` has `group`; the key must exist (unless `mkstream`).
fn has_group(c: &mut Call, key: &[u8], group: &[u8], mkstream: bool) -> Result<bool, CmdError> {
    match stream_at(c, key)? {
        Some(s) => Ok(s.groups.contains_key(group)),
        None if mkstream => Ok(false),
        None => Err(CmdError::err(
            "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the \
             MKSTREAM option to create an empty stream automatically.",
        )),
    }
}

/// Ok when the stream at `key` exists and has `group`.
fn need_group(c: &mut Call, key: &[u8], group: &[u8]) -> CmdResult {
    match has_group(c, key, group, false)? {
        true => Ok(()),
        false => Err(CmdError::Msg(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            args::text(group),
            args::text(key)
        ))),
    }
}

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD entries-read]
pub fn xgroup_create(c: &mut Call) -> CmdResult {
    let mut a = c.args().checked(|n| (3..=6).contains(&n))?;
    let (key, group, id_arg) = (a.key()?, a.bytes()?, a.bytes()?);
    let (mkstream, entries_read) = group_options(&mut a, true)?;
    has_group(c, key, group, mkstream)?;
    let id = match id_arg {
        b"$" => None,
        id => Some(strict_id(id)?),
    };
    let created = edit(c, key, true, |s: &mut Stream| {
        if s.groups.contains_key(group) {
            return false;
        }
        let g = Group::new(id.unwrap_or(s.last_id), entries_read);
        s.groups.insert(group.into(), g);
        true
    })?;
    if created != Some(true) {
        return Err(CmdError::Msg(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    c.out.ok();
    Ok(())
}

/// XGROUP SETID key group id|$ [ENTRIESREAD entries-read]
pub fn xgroup_setid(c: &mut Call) -> CmdResult {
    let mut a = c.args().checked(|n| n == 3 || n == 5)?;
    let (key, group, id_arg) = (a.key()?, a.bytes()?, a.bytes()?);
    let (_, entries_read) = group_options(&mut a, false)?;
    need_group(c, key, group)?;
    let id = match id_arg {
        b"$" => None,
        id => Some(parse_id(id, 0, false)?),
    };
    edit(c, key, false, |s: &mut Stream| {
        let last = id.unwrap_or(s.last_id);
        if let Some(g) = s.groups.get_mut(group) {
            g.last_id = last;
            g.entries_read = entries_read;
        }
    })?;
    c.out.ok();
    Ok(())
}

/// XGROUP DESTROY key group
pub fn xgroup_destroy(c: &mut Call) -> CmdResult {
    let mut a = c.args().checked(|n| n == 2)?;
    let (key, group) = (a.key()?, a.bytes()?);
    // Destroying no group changes nothing (no write, no keyspace event), as in Redis.
    if !has_group(c, key, group, false)? {
        c.replicate_as(&[]);
        c.out.int(0);
        return Ok(());
    }
    let gone = edit(c, key, false, |s: &mut Stream| {
        s.groups.remove(group).is_some()
    })?;
    c.out.int(gone.unwrap_or(false) as i64);
    Ok(())
}

/// The key, group and consumer of CREATECONSUMER and DELCONSUMER; the group must exist.
fn consumer_args<'a>(c: &mut Call<'a, '_>) -> Result<[&'a [u8]; 3], CmdError> {
    let mut a = c.args().checked(|n| n == 3)?;
    let (key, group, consumer) = (a.key()?, a.bytes()?, a.bytes()?);
    need_group(c, key, group)?;
    Ok([key, group, consumer])
}

/// True when `group` of the stream at `key` has `consumer`.
fn has_consumer(c: &mut Call, key: &[u8], group: &[u8], consumer: &[u8]) -> Result<bool, CmdError> {
    Ok(stream_at(c, key)?
        .and_then(|s| s.groups.get(group))
        .is_some_and(|g| g.consumers.contains_key(consumer)))
}

/// XGROUP CREATECONSUMER key group consumer
pub fn xgroup_createconsumer(c: &mut Call) -> CmdResult {
    let [key, group, consumer] = consumer_args(c)?;
    // Creating a consumer that exists changes nothing (no write, no keyspace event), as in Redis.
    if has_consumer(c, key, group, consumer)? {
        c.replicate_as(&[]);
        c.out.int(0);
        return Ok(());
    }
    let now = c.clock.now_ms;
    let created = edit(c, key, false, |s: &mut Stream| {
        s.groups
            .get_mut(group)
            .is_some_and(|g| g.consumer(consumer, now).1)
    })?;
    c.out.int(created.unwrap_or(false) as i64);
    Ok(())
}

/// XGROUP DELCONSUMER key group consumer
pub fn xgroup_delconsumer(c: &mut Call) -> CmdResult {
    let [key, group, consumer] = consumer_args(c)?;
    // Deleting no consumer changes nothing (no write, no keyspace event), as in Redis.
    if !has_consumer(c, key, group, consumer)? {
        c.replicate_as(&[]);
        c.out.int(0);
        return Ok(());
    }
    let pending = edit(c, key, false, |s: &mut Stream| {
        s.groups
            .get_mut(group)
            .and_then(|g| g.delete_consumer(consumer))
            .unwrap_or(0)
    })?;
    c.out.int(pending.unwrap_or(0) as i64);
    Ok(())
}

/// What XREADGROUP serves from one stream.
enum ReadFrom {
    /// `>`: entries never delivered to the group.
    New,
    /// The consumer's own pending entries after this id.
    History(StreamId),
}

/// XREADGROUP GROUP group consumer [COUNT count] [BLOCK ms] [NOACK] STREAMS key [key …] id [id …]
pub fn xreadgroup(c: &mut Call) -> CmdResult {
    let r = read_args(&mut c.args(), true)?;
    let Some((group, consumer)) = r.group else {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    };
    let mut from = Vec::with_capacity(r.keys.len());
    for (key, arg) in r.keys.iter().zip(r.ids) {
        // Woken while blocked, and the stream is gone (deleted, flushed or replaced by another type).
        let gone = || CmdError::Msg("UNBLOCKED the stream key no longer exists".into());
        let retry = c.session.blocking.is_retry();
        let has_group = match stream_at(c, key) {
            Ok(None) | Err(_) if retry => return Err(gone()),
            found => found?.map(|s| s.groups.contains_key(group)),
        };
        if has_group != Some(true) {
            return Err(CmdError::Msg(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                args::text(key),
                args::text(group)
            )));
        }
        from.push(match *arg {
            b">" => ReadFrom::New,
            b"$" => {
                return Err(CmdError::err(
                    "The $ ID is meaningless in the context of XREADGROUP: you want to read the history of \
                     this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID \
                     would just return an empty result set.",
                ))
            }
            id => ReadFrom::History(strict_id(id)?),
        });
    }
    let now = c.clock.now_ms;
    let resp3 = c.out.resp3;
    let mut body = Reply {
        buf: Vec::new(),
        resp3,
    };
    let mut props: Props = Vec::new();
    let (mut served, mut touched) = (0, 0);
    // A consumer created by a call that then blocked and timed out was never replicated: do it now.
    let announce = c.session.blocking.timed_out;
    for (key, from) in r.keys.iter().zip(&from) {
        let mut part = Reply {
            buf: Vec::new(),
            resp3,
        };
        let mut created = false;
        let n = edit(c, key, false, |s: &mut Stream| {
            with_group(s, group, |s, g| {
                let fresh = g.consumer(consumer, now).1;
                created |= fresh;
                if fresh || announce {
                    props.push(argv(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]));
                }
                match from {
                    ReadFrom::History(after) => Some(serve_history(
                        s, g, key, group, consumer, *after, r.count, now, &mut part, &mut props,
                    )),
                    ReadFrom::New => {
                        let fresh = s.edge_id(true).is_some_and(|top| top > g.last_id);
                        fresh.then(|| {
                            serve_new(
                                s, g, key, group, consumer, r.count, r.noack, now, &mut part,
                                &mut props,
                            )
                        })
                    }
                }
            })
            .flatten()
        })?
        .flatten();
        if created {
            consumer_created(c, key);
        }
        if let Some(n) = n {
            if !resp3 {
                body.array(2);
            }
            body.bulk(key);
            body.buf.extend_from_slice(&part.buf);
            served += 1;
            touched += n;
        }
    }
    c.touched(touched);
    if served > 0 {
        if resp3 {
            c.out.map(served);
        } else {
            c.out.array(served);
        }
        c.out.buf.extend_from_slice(&body.buf);
        set_props(c, props);
        return Ok(());
    }
    match r.block {
        Some(timeout) if c.may_block() => {
            let keys = r.keys;
            c.block(keys, timeout);
        }
        _ => c.out.null_array(),
    }
    set_props(c, props);
    Ok(())
}

/// Serves entries after the group's last id; returns how many.
#[allow(clippy::too_many_arguments)]
fn serve_new(
    s: &Stream,
    g: &mut Group,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    count: usize,
    noack: bool,
    now: u64,
    out: &mut Reply,
    props: &mut Props,
) -> usize {
    let start = g.last_id.next().unwrap_or(StreamId::MAX);
    let mut entries = Reply {
        buf: Vec::new(),
        resp3: out.resp3,
    };
    let mut ids = Vec::new();
    s.for_range(start, StreamId::MAX, false, |id, pairs| {
        reply_entry(&mut entries, id, pairs);
        ids.push(id);
        count == 0 || ids.len() < count
    });
    for &id in &ids {
        s.advance_group(g, id);
        if !noack {
            g.assign(id, consumer, now, 1);
            if let Some(p) = g.pel.get(&id) {
                props.push(claim_prop(key, group, id, p, g.last_id));
            }
        }
    }
    if !ids.is_empty() {
        if let Some(c) = g.consumers.get_mut(consumer) {
            c.active_ms = Some(now);
        }
        props.push(setid_prop(key, group, g));
    }
    out.array(ids.len());
    out.buf.extend_from_slice(&entries.buf);
    ids.len()
}

/// Serves the consumer's pending entries after `after` again (deleted ones as `[id, nil]`); returns how many.
#[allow(clippy::too_many_arguments)]
fn serve_history(
    s: &Stream,
    g: &mut Group,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    after: StreamId,
    count: usize,
    now: u64,
    out: &mut Reply,
    props: &mut Props,
) -> usize {
    let ids: Vec<StreamId> = match (g.consumers.get(consumer), after.next()) {
        (Some(c), Some(start)) => c
            .pending
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect(),
        _ => Vec::new(),
    };
    out.array(ids.len());
    for &id in &ids {
        match s.get(id) {
            Some(pairs) => {
                let refs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
                reply_entry(out, id, &refs);
            }
            None => {
                out.array(2);
                reply_id(out, id);
                out.null_array();
            }
        }
        if let Some(p) = g.pel.get_mut(&id) {
            p.delivered_ms = now;
            p.deliveries += 1;
            props.push(claim_prop(key, group, id, p, g.last_id));
        }
    }
    ids.len()
}

/// XACK key group id [id …]
pub fn xack(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, group) = (a.key()?, a.bytes()?);
    let ids = a
        .rest()
        .iter()
        .map(|id| strict_id(id))
        .collect::<Result<Vec<_>, _>>()?;
    let n = edit(c, key, false, |s: &mut Stream| {
        s.groups
            .get_mut(group)
            .map_or(0, |g| ids.iter().filter(|id| g.ack(**id)).count())
    })?
    .unwrap_or(0);
    c.touched(ids.len());
    c.out.int(n as i64);
    Ok(())
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
/// XPENDING's extended form: `[IDLE min-idle-time] start end count [consumer]`.
struct PendingRange<'a> {
    min_idle: i64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<&'a [u8]>,
}

/// Parses XPENDING's extended form (the arguments after the group, 3 to 6 of them).
fn pending_range<'a>(a: &mut Args<'a>) -> Result<PendingRange<'a>, CmdError> {
    let mut min_idle = 0;
    if a.keyword("idle") {
        min_idle = a.int()?;
        if a.len() < 3 {
            return Err(CmdError::Syntax);
        }
    }
    let (start, end) = (a.bytes()?, a.bytes()?);
    let count = a.int()?.max(0) as usize;
    let (start, end) = (bound(start, false)?, bound(end, true)?);
    let consumer = a.optional();
    a.finish_or(CmdError::Syntax)?;
    Ok(PendingRange {
        min_idle,
        start,
        end,
        count,
        consumer,
    })
}

/// XPENDING key group [[IDLE min-idle-time] start end count [consumer]]
pub fn xpending(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, group) = (a.key()?, a.bytes()?);
    if !a.is_empty() && !(3..=6).contains(&a.len()) {
        return Err(CmdError::Syntax);
    }
    let extended = match a.is_empty() {
        true => None,
        false => Some(pending_range(&mut a)?),
    };
    let now = c.clock.now_ms;
    let mut out = Reply {
        buf: Vec::new(),
        resp3: c.out.resp3,
    };
    let s = stream_at(c, key)?;
    let Some(g) = s.and_then(|s| s.groups.get(group)) else {
        return Err(nogroup(key, group));
    };
    let touched = match extended {
        None => pending_summary(&mut out, g),
        Some(r) => pending_entries(&mut out, g, &r, now),
    };
    c.out.buf.extend_from_slice(&out.buf);
    c.touched(touched);
    Ok(())
}

/// Writes XPENDING's summary: count, smallest and largest id, pending entries per consumer; returns how many
/// consumers it looked at.
fn pending_summary(out: &mut Reply, g: &Group) -> usize {
    out.array(4);
    out.int(g.pel.len() as i64);
    let (Some((first, _)), Some((last, _))) = (g.pel.first_key_value(), g.pel.last_key_value())
    else {
        out.null();
        out.null();
        out.null_array();
        return 0;
    };
    reply_id(out, *first);
    reply_id(out, *last);
    let busy: Vec<_> = g
        .consumers
        .values()
        .filter(|c| !c.pending.is_empty())
        .collect();
    out.array(busy.len());
    for cons in busy {
        out.array(2);
        out.bulk(&cons.name);
        out.bulk_int(cons.pending.len() as i64);
    }
    g.consumers.len()
}

/// Writes the pending entries XPENDING's extended form selects; returns how many it looked at.
fn pending_entries(out: &mut Reply, g: &Group, r: &PendingRange, now: u64) -> usize {
    let (start, end) = (r.start, r.end);
    let ids: Box<dyn Iterator<Item = StreamId>> = match r.consumer {
        Some(name) => match g.consumers.get(name) {
            Some(cons) if start <= end => Box::new(cons.pending.range(start..=end).copied()),
            _ => Box::new(std::iter::empty()),
        },
        None if start <= end => Box::new(g.pel.range(start..=end).map(|(id, _)| *id)),
        None => Box::new(std::iter::empty()),
    };
    let mut rows = Reply {
        buf: Vec::new(),
        resp3: out.resp3,
    };
    let (mut n, mut touched) = (0, 0);
    for id in ids {
        if n >= r.count {
            break;
        }
        touched += 1;
        let Some(p) = g.pel.get(&id) else {
            continue;
        };
        let idle = now.saturating_sub(p.delivered_ms);
        if r.min_idle > 0 && (idle as i64) < r.min_idle {
            continue;
        }
        rows.array(4);
        reply_id(&mut rows, id);
        rows.bulk(&p.consumer);
        rows.int(idle as i64);
        rows.int(p.deliveries as i64);
        n += 1;
    }
    out.array(n);
    out.buf.extend_from_slice(&rows.buf);
    touched
}

/// Options of XCLAIM.
struct ClaimArgs {
    min_idle: u64,
    ids: Vec<StreamId>,
    /// Delivery time to record (None: now).
    time: Option<i64>,
    retrycount: Option<u64>,
    force: bool,
    justid: bool,
    lastid: Option<StreamId>,
}

/// Parses `min-idle-time id [id …]` and the options after them.
fn claim_args(a: &mut Args, now: u64) -> Result<ClaimArgs, CmdError> {
    let min_idle = args::int(a.bytes()?)
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0) as u64;
    let mut ids = Vec::new();
    while let Some(arg) = a.optional() {
        match strict_id(arg) {
            Ok(id) => ids.push(id),
            Err(_) => {
                a.back();
                break;
            }
        }
    }
    if ids.is_empty() {
        return Err(invalid_id());
    }
    let mut out = ClaimArgs {
        min_idle,
        ids,
        time: None,
        retrycount: None,
        force: false,
        justid: false,
        lastid: None,
    };
    while let Some(opt) = a.optional() {
        let more = !a.is_empty();
        if is(opt, "force") {
            out.force = true;
        } else if is(opt, "justid") {
            out.justid = true;
        } else if is(opt, "idle") && more {
            let idle = claim_int(a, "IDLE")?;
            out.time = Some(now as i64 - idle);
        } else if is(opt, "time") && more {
            out.time = Some(claim_int(a, "TIME")?);
        } else if is(opt, "retrycount") && more {
            out.retrycount = Some(claim_int(a, "RETRYCOUNT")?.max(0) as u64);
        } else if is(opt, "lastid") && more {
            out.lastid = Some(strict_id(a.bytes()?)?);
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized XCLAIM option '{}'",
                args::text(opt)
            )));
        }
    }
    Ok(out)
}

/// The integer value of XCLAIM's `option`.
fn claim_int(a: &mut Args, option: &str) -> Result<i64, CmdError> {
    args::int(a.bytes()?)
        .map_err(|_| CmdError::err(format_args!("Invalid {option} option argument for XCLAIM")))
}

/// Writes a claimed entry: its id with JUSTID, else the entry (nothing when it vanished).
fn reply_claimed(s: &Stream, id: StreamId, justid: bool, out: &mut Reply) -> bool {
    if justid {
        reply_id(out, id);
        return true;
    }
    match s.get(id) {
        Some(pairs) => {
            let refs: Vec<&[u8]> = pairs.iter().map(Vec::as_slice).collect();
            reply_entry(out, id, &refs);
            true
        }
        None => false,
    }
}

/// XCLAIM key group consumer min-idle-time id [id …] [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE] [JUSTID]
/// [LASTID id]
pub fn xclaim(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, group, consumer) = (a.key()?, a.bytes()?, a.bytes()?);
    let now = c.clock.now_ms;
    let opts = claim_args(&mut a, now)?;
    let delivered = match opts.time {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    let resp3 = c.out.resp3;
    let mut body = Reply {
        buf: Vec::new(),
        resp3,
    };
    let mut props: Props = Vec::new();
    let mut created = false;
    let claimed = edit(c, key, false, |s: &mut Stream| {
        with_group(s, group, |s, g| {
            if let Some(last) = opts.lastid {
                if last > g.last_id {
                    g.last_id = last;
                }
            }
            if g.consumer(consumer, now).1 {
                created = true;
                props.push(argv(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]));
            }
            let mut n = 0;
            for &id in &opts.ids {
                let exists = s.contains(id);
                let known = g.pel.get(&id).map(|p| p.delivered_ms);
                let since = match known {
                    None if opts.force && exists => None,
                    None => continue,
                    Some(_) if !exists => {
                        // The entry was deleted: it leaves the PEL (and the replicas' PELs) too.
                        if let Some(p) = g.pel.get(&id) {
                            props.push(claim_prop(key, group, id, p, g.last_id));
                        }
                        g.ack(id);
                        continue;
                    }
                    Some(t) => Some(t),
                };
                if let Some(t) = since {
                    if opts.min_idle > 0 && now.saturating_sub(t) < opts.min_idle {
                        continue;
                    }
                }
                let previous = g.pel.get(&id).map_or(0, |p| p.deliveries);
                let deliveries = match opts.retrycount {
                    Some(n) => n,
                    None if opts.justid => previous,
                    None => previous + 1,
                };
                g.assign(id, consumer, delivered, deliveries);
                if let Some(cons) = g.consumers.get_mut(consumer) {
                    cons.active_ms = Some(now);
                }
                if let Some(p) = g.pel.get(&id) {
                    props.push(claim_prop(key, group, id, p, g.last_id));
                }
                if reply_claimed(s, id, opts.justid, &mut body) {
                    n += 1;
                }
            }
            n
        })
    })?
    .flatten();
    let Some(n) = claimed else {
        return Err(nogroup(key, group));
    };
    if created {
        consumer_created(c, key);
    }
    c.touched(opts.ids.len());
    c.out.array(n);
    c.out.buf.extend_from_slice(&body.buf);
    set_props(c, props);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (key, group, consumer) = (a.key()?, a.bytes()?, a.bytes()?);
    let min_idle = args::int(a.bytes()?)
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let start = bound(a.bytes()?, false)?;
    let (mut count, mut justid) = (100usize, false);
    while let Some(opt) = a.optional() {
        if is(opt, "count") && !a.is_empty() {
            count = match a.int() {
                Ok(n) if (1..=i64::MAX / 16).contains(&n) => n as usize,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
        } else if is(opt, "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let now = c.clock.now_ms;
    let resp3 = c.out.resp3;
    let mut claimed = Reply {
        buf: Vec::new(),
        resp3,
    };
    let mut props: Props = Vec::new();
    let mut created = false;
    let done = edit(c, key, false, |s: &mut Stream| {
        with_group(s, group, |s, g| {
            if g.consumer(consumer, now).1 {
                created = true;
                props.push(argv(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]));
            }
            let candidates: Vec<StreamId> = g
                .pel
                .range(start..)
                .map(|(id, _)| *id)
                .take(count * 10 + 1)
                .collect();
            let (mut attempts, mut left) = (count * 10, count);
            let (mut n, mut deleted, mut next) = (0, Vec::new(), StreamId::MIN);
            let mut examined = 0;
            for &id in &candidates {
                if attempts == 0 || left == 0 {
                    next = id;
                    break;
                }
                attempts -= 1;
                examined += 1;
                if !s.contains(id) {
                    if let Some(p) = g.pel.get(&id) {
                        props.push(claim_prop(key, group, id, p, g.last_id));
                    }
                    g.ack(id);
                    deleted.push(id);
                    left -= 1;
                    continue;
                }
                let Some(p) = g.pel.get(&id) else {
                    continue;
                };
                if min_idle > 0 && now.saturating_sub(p.delivered_ms) < min_idle {
                    continue;
                }
                let deliveries = p.deliveries + u64::from(!justid);
                g.assign(id, consumer, now, deliveries);
                if let Some(p) = g.pel.get(&id) {
                    props.push(claim_prop(key, group, id, p, g.last_id));
                }
                if reply_claimed(s, id, justid, &mut claimed) {
                    n += 1;
                }
                left -= 1;
            }
            if examined == candidates.len() {
                next = StreamId::MIN;
            }
            if n > 0 {
                if let Some(cons) = g.consumers.get_mut(consumer) {
                    cons.active_ms = Some(now);
                }
            }
            (n, deleted, next, examined)
        })
    })?
    .flatten();
    let Some((n, deleted, next, examined)) = done else {
        return Err(nogroup(key, group));
    };
    if created {
        consumer_created(c, key);
    }
    c.touched(examined);
    c.out.array(3);
    reply_id(c.out, next);
    c.out.array(n);
    c.out.buf.extend_from_slice(&claimed.buf);
    c.out.array(deleted.len());
    deleted.iter().for_each(|id| reply_id(c.out, *id));
    set_props(c, props);
    Ok(())
}
