//! Diagnostics commands: SLOWLOG and LATENCY.

use super::args;
use super::call::Call;
use super::error::{CmdError, CmdResult};

/// SLOWLOG GET [count]: the newest entries, 10 by default, all for -1.
pub fn slowlog_get(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (0..=1).contains(&n))?;
    let n = match a.optional() {
        None => 10,
        Some(count) => match args::int(count)? {
            -1 => usize::MAX,
            n if n >= 0 => n as usize,
            _ => return Err(CmdError::err("count should be greater than or equal to -1")),
        },
    };
    let entries = c.node.slowlog().lock().recent(n);
    c.out.array(entries.len());
    for e in entries {
        c.out.array(6);
        c.out.int(e.id as i64);
        c.out.int(e.time as i64);
        c.out.int(e.micros as i64);
        c.out.bulks(e.args.iter().map(Vec::as_slice));
        c.out.bulk(e.client.as_bytes());
        c.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

/// SLOWLOG LEN
pub fn slowlog_len(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.int(c.node.slowlog().lock().len() as i64);
    Ok(())
}

/// SLOWLOG RESET
pub fn slowlog_reset(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.node.slowlog().lock().reset();
    c.out.ok();
    Ok(())
}

/// SLOWLOG HELP
pub fn slowlog_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines = [
        "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
        "HELP",
        "    Print this help.",
    ];
    c.out.help(&lines);
    Ok(())
}

/// LATENCY LATEST: the latest spike of every event.
pub fn latency_latest(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let latest = c.node.latency().lock().latest();
    c.out.array(latest.len());
    for (event, time, ms, max) in latest {
        c.out.array(4);
        c.out.bulk(event.as_bytes());
        c.out.int(time as i64);
        c.out.int(ms as i64);
        c.out.int(max as i64);
    }
    Ok(())
}

/// LATENCY HISTORY event
pub fn latency_history(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..=1).contains(&n))?;
    let history = c.node.latency().lock().history(&args::text(a.bytes()?));
    c.out.array(history.len());
    for s in history {
        c.out.array(2);
        c.out.int(s.time as i64);
        c.out.int(s.ms as i64);
    }
    Ok(())
}

/// LATENCY RESET [event …]: every event when none is named.
pub fn latency_reset(c: &mut Call) -> CmdResult {
    let events: Vec<String> = c.args().rest().iter().map(|e| args::text(e)).collect();
    let n = c.node.latency().lock().reset(&events);
    c.out.int(n as i64);
    Ok(())
}

/// LATENCY HELP
pub fn latency_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines = [
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HELP",
        "    Prints this help.",
    ];
    c.out.help(&lines);
    Ok(())
}

/// LATENCY DOCTOR: not supported (whatever the arguments).
pub fn latency_doctor(_c: &mut Call) -> CmdResult {
    Err(not_supported())
}

/// LATENCY GRAPH event: not supported (whatever the arguments).
pub fn latency_graph(_c: &mut Call) -> CmdResult {
    Err(not_supported())
}

fn not_supported() -> CmdError {
    CmdError::err("LATENCY DOCTOR and GRAPH are not supported; use LATEST and HISTORY")
}

/// MONITOR: from now on the connection receives every command the node runs.
pub fn monitor(c: &mut Call) -> CmdResult {
    if c.session.multi.is_some() {
        return Err(CmdError::err(
            "MONITOR isn't allowed for DISCARD/EXEC/MULTI/WATCH",
        ));
    }
    c.session.deferred = Some(super::session::Deferred::Monitor);
    c.out.ok();
    Ok(())
}

/// Bytes of a hash table slot (tag, hash and pointer) that each key holds in its shard.
const SLOT_BYTES: usize = 16;

/// MEMORY USAGE key [SAMPLES count]: the key's entry, its value's heap and its table slot (the whole value
/// is measured: SAMPLES is accepted and has no effect).
pub fn memory_usage(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    while let Some(opt) = a.optional() {
        if opt.eq_ignore_ascii_case(b"samples") && !a.is_empty() {
            if a.int()? < 0 {
                return Err(CmdError::err("syntax error"));
            }
        } else {
            return Err(CmdError::err("syntax error"));
        }
    }
    let now = c.clock.now_ms;
    let (shard, h) = c.held.shard(c.session.db, key);
    match shard.find(h, key, now) {
        Some(i) => c.out.int((shard.at(i).heap_size() + SLOT_BYTES) as i64),
        None => c.out.null(),
    }
    Ok(())
}

/// MEMORY STATS: the node's memory figures as name/value pairs.
pub fn memory_stats(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let dataset = c.node.ks().used_memory() as i64;
    let rss = crate::metering::process::rss_bytes() as i64;
    let keys: usize = (0..c.node.ks().databases())
        .map(|db| c.node.ks().dbsize(db))
        .sum();
    let clients = c.node.clients().count() as i64;
    let fields: [(&str, i64); 8] = [
        ("peak.allocated", rss),
        ("total.allocated", rss),
        ("startup.allocated", rss.saturating_sub(dataset)),
        ("clients.normal", clients),
        ("keys.count", keys as i64),
        (
            "keys.bytes-per-key",
            if keys > 0 { dataset / keys as i64 } else { 0 },
        ),
        ("dataset.bytes", dataset),
        ("overhead.total", rss.saturating_sub(dataset)),
    ];
    c.out.map(fields.len());
    for (name, value) in fields {
        c.out.bulk(name.as_bytes());
        c.out.int(value);
    }
    Ok(())
}

/// MEMORY DOCTOR.
pub fn memory_doctor(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.verbatim("Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.");
    Ok(())
}

/// MEMORY MALLOC-STATS: the allocator keeps no report to print.
pub fn memory_malloc_stats(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.bulk(b"Stats not supported for the current allocator");
    Ok(())
}

/// MEMORY PURGE: the allocator returns freed pages by itself.
pub fn memory_purge(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.ok();
    Ok(())
}

/// MEMORY HELP.
pub fn memory_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    c.out.help(&lines);
    Ok(())
}
