//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS and XINFO HELP, with Redis 7.2's fields.
//! Replies are maps (RESP3) or flat key/value arrays (RESP2), like Redis.

use super::args::{self, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::stream::{reply_entry, reply_id, stream_at};
use crate::keyspace::stream::{Group, Stream, StreamId};
use crate::protocol::reply::Reply;

/// XINFO HELP
pub fn xinfo_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.help(&[
        "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CONSUMERS <key> <groupname>",
        "    Show consumers of <groupname>.",
        "GROUPS <key>",
        "    Show the stream consumer groups.",
        "STREAM <key> [FULL [COUNT <count>]",
        "    Show information about the stream.",
        "HELP",
        "    Print this help.",
    ]);
    Ok(())
}

/// Reads `[FULL [COUNT n]]`: None without FULL, else how many of each list to show (0: all).
fn full_count(a: &mut Args) -> Result<Option<usize>, CmdError> {
    if a.is_empty() {
        return Ok(None);
    }
    if !a.keyword("full") {
        return Err(CmdError::Syntax);
    }
    if a.is_empty() {
        return Ok(Some(10));
    }
    if a.len() != 2 || !a.keyword("count") {
        return Err(CmdError::Syntax);
    }
    Ok(Some(a.int()?.max(0) as usize))
}

/// XINFO STREAM key [FULL [COUNT count]]
pub fn xinfo_stream(c: &mut Call) -> CmdResult {
    let mut a = c.args().checked(|n| n >= 1)?;
    let key = a.key()?;
    let full = full_count(&mut a)?;
    describe(c, key, |out, s| match full {
        None => {
            stream_summary(out, s);
            Ok(1)
        }
        Some(count) => Ok(stream_full(out, s, count)),
    })
}

/// Writes what `f` says about the stream at `key` (`ERR no such key` when there is none) and counts the
/// elements it touched.
fn describe(
    c: &mut Call,
    key: &[u8],
    f: impl FnOnce(&mut Reply, &Stream) -> Result<usize, CmdError>,
) -> CmdResult {
    let resp3 = c.out.resp3;
    let Some(s) = stream_at(c, key)? else {
        return Err(CmdError::NoSuchKey);
    };
    let mut out = Reply {
        buf: Vec::new(),
        resp3,
    };
    let touched = f(&mut out, s)?;
    c.out.buf.extend_from_slice(&out.buf);
    c.touched(touched);
    Ok(())
}

/// XINFO GROUPS key
pub fn xinfo_groups(c: &mut Call) -> CmdResult {
    let key = c.args().checked(|n| n == 1)?.key()?;
    describe(c, key, |out, s| {
        out.array(s.groups.len());
        for (name, g) in &s.groups {
            group_summary(out, s, name, g);
        }
        Ok(s.groups.len())
    })
}

/// XINFO CONSUMERS key group
pub fn xinfo_consumers(c: &mut Call) -> CmdResult {
    let mut a = c.args().checked(|n| n == 2)?;
    let (key, group) = (a.key()?, a.bytes()?);
    let now = c.clock.now_ms;
    describe(c, key, |out, s| {
        let Some(g) = s.groups.get(group) else {
            return Err(CmdError::Msg(format!(
                "NOGROUP No such consumer group '{}' for key name '{}'",
                args::text(group),
                args::text(key)
            )));
        };
        out.array(g.consumers.len());
        for cons in g.consumers.values() {
            out.map(4);
            out.bulk(b"name");
            out.bulk(&cons.name);
            out.bulk(b"pending");
            out.int(cons.pending.len() as i64);
            out.bulk(b"idle");
            out.int(now.saturating_sub(cons.seen_ms) as i64);
            out.bulk(b"inactive");
            out.int(cons.active_ms.map_or(-1, |t| now.saturating_sub(t) as i64));
        }
        Ok(g.consumers.len())
    })
}

/// The counters every XINFO STREAM form starts with.
fn stream_counters(out: &mut Reply, s: &Stream) {
    out.bulk(b"length");
    out.int(s.len() as i64);
    out.bulk(b"radix-tree-keys");
    out.int(s.node_count() as i64);
    out.bulk(b"radix-tree-nodes");
    out.int((s.node_count() + 1) as i64);
    out.bulk(b"last-generated-id");
    reply_id(out, s.last_id);
    out.bulk(b"max-deleted-entry-id");
    reply_id(out, s.max_deleted);
    out.bulk(b"entries-added");
    out.int(s.entries_added as i64);
    out.bulk(b"recorded-first-entry-id");
    reply_id(out, s.first_id);
}

fn edge_entry(out: &mut Reply, s: &Stream, last: bool) {
    let mut found = false;
    s.for_range(StreamId::MIN, StreamId::MAX, last, |id, pairs| {
        reply_entry(out, id, pairs);
        found = true;
        false
    });
    if !found {
        out.null();
    }
}

fn stream_summary(out: &mut Reply, s: &Stream) {
    out.map(10);
    stream_counters(out, s);
    out.bulk(b"groups");
    out.int(s.groups.len() as i64);
    out.bulk(b"first-entry");
    edge_entry(out, s, false);
    out.bulk(b"last-entry");
    edge_entry(out, s, true);
}

fn entries_read(out: &mut Reply, g: &Group) {
    match g.entries_read {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn lag(out: &mut Reply, s: &Stream, g: &Group) {
    match s.lag(g) {
        Some(n) => out.int(n as i64),
        None => out.null(),
    }
}

fn group_summary(out: &mut Reply, s: &Stream, name: &[u8], g: &Group) {
    out.map(6);
    out.bulk(b"name");
    out.bulk(name);
    out.bulk(b"consumers");
    out.int(g.consumers.len() as i64);
    out.bulk(b"pending");
    out.int(g.pel.len() as i64);
    out.bulk(b"last-delivered-id");
    reply_id(out, g.last_id);
    out.bulk(b"entries-read");
    entries_read(out, g);
    out.bulk(b"lag");
    lag(out, s, g);
}

/// XINFO STREAM key FULL [COUNT n]: entries, groups, PELs and consumers, `count` of each list (0: all).
fn stream_full(out: &mut Reply, s: &Stream, count: usize) -> usize {
    let limit = if count == 0 { usize::MAX } else { count };
    let mut touched = 0;
    out.map(9);
    stream_counters(out, s);
    out.bulk(b"entries");
    let mut entries = Reply {
        buf: Vec::new(),
        resp3: out.resp3,
    };
    let mut n = 0;
    s.for_range(StreamId::MIN, StreamId::MAX, false, |id, pairs| {
        if n >= limit {
            return false;
        }
        reply_entry(&mut entries, id, pairs);
        n += 1;
        true
    });
    out.array(n);
    out.buf.extend_from_slice(&entries.buf);
    touched += n;
    out.bulk(b"groups");
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(7);
        out.bulk(b"name");
        out.bulk(name);
        out.bulk(b"last-delivered-id");
        reply_id(out, g.last_id);
        out.bulk(b"entries-read");
        entries_read(out, g);
        out.bulk(b"lag");
        lag(out, s, g);
        out.bulk(b"pel-count");
        out.int(g.pel.len() as i64);
        out.bulk(b"pending");
        let pel: Vec<_> = g.pel.iter().take(limit).collect();
        out.array(pel.len());
        for (id, p) in &pel {
            out.array(4);
            reply_id(out, **id);
            out.bulk(&p.consumer);
            out.int(p.delivered_ms as i64);
            out.int(p.deliveries as i64);
        }
        touched += pel.len();
        out.bulk(b"consumers");
        out.array(g.consumers.len());
        for cons in g.consumers.values() {
            out.map(5);
            out.bulk(b"name");
            out.bulk(&cons.name);
            out.bulk(b"seen-time");
            out.int(cons.seen_ms as i64);
            out.bulk(b"active-time");
            out.int(cons.active_ms.map_or(-1, |t| t as i64));
            out.bulk(b"pel-count");
            out.int(cons.pending.len() as i64);
            out.bulk(b"pending");
            let mine: Vec<_> = cons.pending.iter().take(limit).collect();
            out.array(mine.len());
            for id in mine {
                out.array(3);
                reply_id(out, *id);
                let p = g.pel.get(id);
                out.int(p.map_or(0, |p| p.delivered_ms) as i64);
                out.int(p.map_or(0, |p| p.deliveries) as i64);
            }
        }
    }
    touched
}
