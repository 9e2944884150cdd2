//! Diagnostics commands: SLOWLOG and LATENCY.

use super::args::{self, is};
use super::{Call, CmdError, CmdResult};

/// SLOWLOG GET [count] | LEN | RESET | HELP
pub fn slowlog(c: &mut Call) -> CmdResult {
    let sub = c.args[1].to_ascii_lowercase();
    match (sub.as_slice(), c.args.len()) {
        (b"get", 2 | 3) => {
            let n = match c.args.get(2) {
                None => 10,
                Some(a) => match args::int(a)? {
                    -1 => usize::MAX,
                    n if n >= 0 => n as usize,
                    _ => return Err(CmdError::err("count should be greater than or equal to -1")),
                },
            };
            let entries = c.node.slowlog.lock().recent(n);
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
        }
        (b"len", 2) => c.out.int(c.node.slowlog.lock().len() as i64),
        (b"reset", 2) => {
            c.node.slowlog.lock().reset();
            c.out.ok();
        }
        (b"help", 2) => {
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
        }
        _ => {
            return Err(CmdError::err(format_args!(
                "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                args::text(c.args[1])
            )))
        }
    }
    Ok(())
}

/// LATENCY LATEST | HISTORY event | RESET [event …] | HELP
pub fn latency(c: &mut Call) -> CmdResult {
    let sub = c.args[1].to_ascii_lowercase();
    match (sub.as_slice(), c.args.len()) {
        (b"latest", 2) => {
            let latest = c.node.latency.lock().latest();
            c.out.array(latest.len());
            for (event, time, ms, max) in latest {
                c.out.array(4);
                c.out.bulk(event.as_bytes());
                c.out.int(time as i64);
                c.out.int(ms as i64);
                c.out.int(max as i64);
            }
        }
        (b"history", 3) => {
            let history = c.node.latency.lock().history(&args::text(c.args[2]));
            c.out.array(history.len());
            for s in history {
                c.out.array(2);
                c.out.int(s.time as i64);
                c.out.int(s.ms as i64);
            }
        }
        (b"reset", _) => {
            let events: Vec<String> = c.args[2..].iter().map(|a| args::text(a)).collect();
            let n = c.node.latency.lock().reset(&events);
            c.out.int(n as i64);
        }
        (b"help", 2) => {
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
        }
        _ if is(c.args[1], "doctor") || is(c.args[1], "graph") => {
            return Err(CmdError::err(
                "LATENCY DOCTOR and GRAPH are not supported; use LATEST and HISTORY",
            ))
        }
        _ => {
            return Err(CmdError::err(format_args!(
                "unknown subcommand or wrong number of arguments for '{}'. Try LATENCY HELP.",
                args::text(c.args[1])
            )))
        }
    }
    Ok(())
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
