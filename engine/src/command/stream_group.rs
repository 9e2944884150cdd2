//! Consumer group commands (Redis `t_stream.c`): XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM.
//!
//! A group remembers the last id it delivered and, per entry delivered and not yet acknowledged, the consumer
//! that holds it, when it was delivered and how often (the PEL). Reading and claiming change the PEL with the
//! node's clock, so like Redis these commands replicate as `XCLAIM key group consumer 0 id TIME ms RETRYCOUNT n
//! FORCE JUSTID LASTID id` per entry (which recreates exactly that PEL state on a replica), `XGROUP SETID … ENTRIESREAD
//! n` when the group moved on, and `XGROUP CREATECONSUMER` when a consumer appeared.

use super::args::{self, is};
use super::stream::{
    bound, edit, invalid_id, read_args, reply_entry, reply_id, stream_at, strict_id,
};
use super::{Call, CmdError, CmdResult};
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

fn xgroup_syntax(sub: &[u8]) -> CmdError {
    CmdError::err(format_args!(
        "unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
        args::text(sub)
    ))
}

/// XGROUP CREATE|SETID|DESTROY|CREATECONSUMER|DELCONSUMER|HELP …
pub fn xgroup(c: &mut Call) -> CmdResult {
    let a = c.args;
    let sub = a[1].to_ascii_lowercase();
    if sub == b"help" && a.len() == 2 {
        c.replicate_as(&[]);
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
        return Ok(());
    }
    let arity_ok = match sub.as_slice() {
        b"create" => (5..=8).contains(&a.len()),
        b"setid" => a.len() == 5 || a.len() == 7,
        b"destroy" => a.len() == 4,
        b"createconsumer" | b"delconsumer" => a.len() == 5,
        _ => false,
    };
    if !arity_ok {
        return Err(xgroup_syntax(a[1]));
    }
    let (key, group) = (a[2], a[3]);
    let (mut mkstream, mut entries_read) = (false, None);
    if sub == b"create" || sub == b"setid" {
        let mut i = 5;
        while i < a.len() {
            if sub == b"create" && is(a[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(a[i], "entriesread") && i + 1 < a.len() {
                entries_read = entries_read_arg(a[i + 1])?;
                i += 2;
            } else {
                return Err(xgroup_syntax(a[1]));
            }
        }
    }
    let consumer_exists = a.get(4).is_some_and(|name| {
        stream_at(c, key)
            .ok()
            .flatten()
            .and_then(|s| s.groups.get(group))
            .is_some_and(|g| g.consumers.contains_key(*name))
    });
    let exists = stream_at(c, key)?.map(|s| s.groups.contains_key(group));
    // Subcommands with nothing to do change nothing (no write, no keyspace event), as in Redis.
    let noop = match sub.as_slice() {
        b"destroy" => exists == Some(false),
        b"createconsumer" => consumer_exists,
        b"delconsumer" => !consumer_exists,
        _ => false,
    };
    if noop && exists.is_some() && (exists == Some(true) || sub == b"destroy") {
        c.replicate_as(&[]);
        c.out.int(0);
        return Ok(());
    }
    match exists {
        None if !mkstream => {
            return Err(CmdError::err(
                "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the \
                 MKSTREAM option to create an empty stream automatically.",
            ))
        }
        Some(false) if sub != b"create" && sub != b"destroy" => {
            return Err(CmdError::Msg(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                args::text(group),
                args::text(key)
            )))
        }
        _ => {}
    }
    let now = c.clock.now_ms;
    match sub.as_slice() {
        b"create" => {
            let id = if a[4] == b"$" {
                None
            } else {
                Some(strict_id(a[4])?)
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
        }
        b"setid" => {
            let id = if a[4] == b"$" {
                None
            } else {
                Some(super::stream::parse_id(a[4], 0, false)?)
            };
            edit(c, key, false, |s: &mut Stream| {
                let last = id.unwrap_or(s.last_id);
                if let Some(g) = s.groups.get_mut(group) {
                    g.last_id = last;
                    g.entries_read = entries_read;
                }
            })?;
            c.out.ok();
        }
        b"destroy" => {
            let gone = edit(c, key, false, |s: &mut Stream| {
                s.groups.remove(group).is_some()
            })?;
            c.out.int(gone.unwrap_or(false) as i64);
        }
        b"createconsumer" => {
            let consumer = a[4];
            let created = edit(c, key, false, |s: &mut Stream| {
                s.groups
                    .get_mut(group)
                    .is_some_and(|g| g.consumer(consumer, now).1)
            })?;
            c.out.int(created.unwrap_or(false) as i64);
        }
        _ => {
            let consumer = a[4];
            let pending = edit(c, key, false, |s: &mut Stream| {
                s.groups
                    .get_mut(group)
                    .and_then(|g| g.delete_consumer(consumer))
                    .unwrap_or(0)
            })?;
            c.out.int(pending.unwrap_or(0) as i64);
        }
    }
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
    let r = read_args(c.args, true)?;
    let Some((group, consumer)) = r.group else {
        return Err(CmdError::err("Missing GROUP option for XREADGROUP"));
    };
    let mut from = Vec::with_capacity(r.keys.len());
    for (key, arg) in r.keys.iter().zip(r.ids) {
        let has_group = stream_at(c, key)?.map(|s| s.groups.contains_key(group));
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
        let n = edit(c, key, false, |s: &mut Stream| {
            with_group(s, group, |s, g| {
                if g.consumer(consumer, now).1 || announce {
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
    let ids = c.args[3..]
        .iter()
        .map(|a| strict_id(a))
        .collect::<Result<Vec<_>, _>>()?;
    let group = c.args[2];
    let n = edit(c, c.args[1], false, |s: &mut Stream| {
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
pub fn xpending(c: &mut Call) -> CmdResult {
    let a = c.args;
    if a.len() != 3 && !(6..=9).contains(&a.len()) {
        return Err(CmdError::Syntax);
    }
    let mut extended = None;
    if a.len() > 3 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(a[3], "idle") {
            min_idle = args::int(a[4])?;
            if a.len() < 8 {
                return Err(CmdError::Syntax);
            }
            at += 2;
        }
        let count = args::int(a[at + 2])?.max(0) as usize;
        let start = bound(a[at], false)?;
        let end = bound(a[at + 1], true)?;
        let consumer = a.get(at + 3).copied();
        if at + 4 < a.len() {
            return Err(CmdError::Syntax);
        }
        extended = Some((min_idle, start, end, count, consumer));
    }
    let (key, group) = (a[1], a[2]);
    let now = c.clock.now_ms;
    let mut out = Reply {
        buf: Vec::new(),
        resp3: c.out.resp3,
    };
    let s = stream_at(c, key)?;
    let Some(g) = s.and_then(|s| s.groups.get(group)) else {
        return Err(nogroup(key, group));
    };
    let mut touched = 0;
    match extended {
        None => {
            out.array(4);
            out.int(g.pel.len() as i64);
            match (g.pel.first_key_value(), g.pel.last_key_value()) {
                (Some((first, _)), Some((last, _))) => {
                    reply_id(&mut out, *first);
                    reply_id(&mut out, *last);
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
                    touched = g.consumers.len();
                }
                _ => {
                    out.null();
                    out.null();
                    out.null_array();
                }
            }
        }
        Some((min_idle, start, end, count, consumer)) => {
            let ids: Box<dyn Iterator<Item = StreamId>> = match consumer {
                Some(name) => match g.consumers.get(name) {
                    Some(cons) if start <= end => {
                        Box::new(cons.pending.range(start..=end).copied())
                    }
                    _ => Box::new(std::iter::empty()),
                },
                None if start <= end => Box::new(g.pel.range(start..=end).map(|(id, _)| *id)),
                None => Box::new(std::iter::empty()),
            };
            let mut rows = Reply {
                buf: Vec::new(),
                resp3: out.resp3,
            };
            let mut n = 0;
            for id in ids {
                if n >= count {
                    break;
                }
                touched += 1;
                let Some(p) = g.pel.get(&id) else {
                    continue;
                };
                let idle = now.saturating_sub(p.delivered_ms);
                if min_idle > 0 && (idle as i64) < min_idle {
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
        }
    }
    c.out.buf.extend_from_slice(&out.buf);
    c.touched(touched);
    Ok(())
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

fn claim_args(a: &[&[u8]], now: u64) -> Result<ClaimArgs, CmdError> {
    let min_idle = args::int(a[4])
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XCLAIM"))?
        .max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match strict_id(a[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
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
    while j < a.len() {
        let more = j + 1 < a.len();
        let opt = a[j];
        if is(opt, "force") {
            out.force = true;
        } else if is(opt, "justid") {
            out.justid = true;
        } else if is(opt, "idle") && more {
            j += 1;
            let idle = args::int(a[j])
                .map_err(|_| CmdError::err("Invalid IDLE option argument for XCLAIM"))?;
            out.time = Some(now as i64 - idle);
        } else if is(opt, "time") && more {
            j += 1;
            out.time = Some(
                args::int(a[j])
                    .map_err(|_| CmdError::err("Invalid TIME option argument for XCLAIM"))?,
            );
        } else if is(opt, "retrycount") && more {
            j += 1;
            let n = args::int(a[j])
                .map_err(|_| CmdError::err("Invalid RETRYCOUNT option argument for XCLAIM"))?;
            out.retrycount = Some(n.max(0) as u64);
        } else if is(opt, "lastid") && more {
            j += 1;
            out.lastid = Some(strict_id(a[j])?);
        } else {
            return Err(CmdError::err(format_args!(
                "Unrecognized XCLAIM option '{}'",
                args::text(opt)
            )));
        }
        j += 1;
    }
    Ok(out)
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
    let a = c.args;
    let (key, group, consumer) = (a[1], a[2], a[3]);
    let now = c.clock.now_ms;
    let opts = claim_args(a, now)?;
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
    let claimed = edit(c, key, false, |s: &mut Stream| {
        with_group(s, group, |s, g| {
            if let Some(last) = opts.lastid {
                if last > g.last_id {
                    g.last_id = last;
                }
            }
            if g.consumer(consumer, now).1 {
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
    c.touched(opts.ids.len());
    c.out.array(n);
    c.out.buf.extend_from_slice(&body.buf);
    set_props(c, props);
    Ok(())
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT count] [JUSTID]
pub fn xautoclaim(c: &mut Call) -> CmdResult {
    let a = c.args;
    let (key, group, consumer) = (a[1], a[2], a[3]);
    let min_idle = args::int(a[4])
        .map_err(|_| CmdError::err("Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0) as u64;
    let start = bound(a[5], false)?;
    let (mut count, mut justid) = (100usize, false);
    let mut j = 6;
    while j < a.len() {
        if is(a[j], "count") && j + 1 < a.len() {
            count = match args::int(a[j + 1]) {
                Ok(n) if (1..=i64::MAX / 16).contains(&n) => n as usize,
                _ => return Err(CmdError::err("COUNT must be > 0")),
            };
            j += 1;
        } else if is(a[j], "justid") {
            justid = true;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let now = c.clock.now_ms;
    let resp3 = c.out.resp3;
    let mut claimed = Reply {
        buf: Vec::new(),
        resp3,
    };
    let mut props: Props = Vec::new();
    let done = edit(c, key, false, |s: &mut Stream| {
        with_group(s, group, |s, g| {
            if g.consumer(consumer, now).1 {
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
