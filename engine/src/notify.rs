//! Keyspace notifications (`notify-keyspace-events`): every change to a key can be published on
//! `__keyspace@<db>__:<key>` (message: the event) and `__keyevent@<db>__:<event>` (message: the key), so
//! applications can invalidate their own caches or react to expiry.
//!
//! Events are named like Redis': a command's event is its own name except where Redis uses another
//! (`incrby` for INCR/DECR, `set` for SETEX/MSET, `expire` for PEXPIRE, `zincr` for ZINCRBY, `rename_from` /
//! `rename_to` …); a command that leaves a collection empty also emits `del`; the keyspace's own deletions
//! emit `expired` and `evicted`.

use std::borrow::Cow;

pub use crate::config::keyspace_events::*;

/// The event class of a command group.
pub fn class_of(group: &str) -> u32 {
    match group {
        "string" => STRING,
        "list" => LIST,
        "set" => SET,
        "hash" => HASH,
        "sorted_set" => ZSET,
        "stream" => STREAM,
        _ => GENERIC,
    }
}

fn word_is(args: &[&[u8]], i: usize, word: &str) -> bool {
    args.get(i)
        .is_some_and(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

fn any_word(args: &[&[u8]], word: &str) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
}

/// The event a command emits for its key at position `pos` among its keys (0 = first key).
pub fn event_of(command: &str, pos: usize, args: &[&[u8]]) -> Cow<'static, str> {
    let e: &'static str = match command {
        "incr" | "incrby" | "decr" | "decrby" => "incrby",
        "setex" | "psetex" | "setnx" | "getset" | "mset" | "msetnx" => "set",
        "getdel" | "unlink" => "del",
        "pexpire" | "expireat" | "pexpireat" => "expire",
        "getex" if any_word(args, "persist") => "persist",
        "getex" => "expire",
        "rename" | "renamenx" => ["rename_from", "rename_to"][pos.min(1)],
        "copy" => "copy_to",
        "move" => "move_from",
        "lpushx" => "lpush",
        "rpushx" => "rpush",
        "blpop" => "lpop",
        "brpop" => "rpop",
        "lmove" | "blmove" => {
            let side = if pos == 0 { 3 } else { 4 };
            match (pos, word_is(args, side, "left")) {
                (0, true) => "lpop",
                (0, false) => "rpop",
                (_, true) => "lpush",
                (_, false) => "rpush",
            }
        }
        "rpoplpush" | "brpoplpush" => ["rpop", "lpush"][pos.min(1)],
        "lmpop" | "blmpop" if any_word(args, "right") => "rpop",
        "lmpop" | "blmpop" => "lpop",
        "hmset" | "hsetnx" => "hset",
        "smove" => ["srem", "sadd"][pos.min(1)],
        "zincrby" => "zincr",
        "zadd" if any_word(args, "incr") => "zincr",
        "bzpopmin" => "zpopmin",
        "bzpopmax" => "zpopmax",
        "zmpop" | "bzmpop" if any_word(args, "max") => "zpopmax",
        "zmpop" | "bzmpop" => "zpopmin",
        "sort" | "sort_ro" => "sortstore",
        "xgroup" => match args.get(1).map(|a| a.to_ascii_lowercase()).as_deref() {
            Some(b"create") => "xgroup-create",
            Some(b"setid") => "xgroup-setid",
            Some(b"destroy") => "xgroup-destroy",
            Some(b"createconsumer") => "xgroup-createconsumer",
            Some(b"delconsumer") => "xgroup-delconsumer",
            _ => "",
        },
        // Redis publishes nothing when a group reads, acknowledges or claims.
        "xreadgroup" | "xack" | "xclaim" | "xautoclaim" => "",
        _ => return Cow::Owned(command.to_string()),
    };
    Cow::Borrowed(e)
}

/// True for commands whose changes publish no event (see [`event_of`]).
pub fn is_silent(event: &str) -> bool {
    event.is_empty()
}

/// True for events that already say the key is gone (no extra `del` follows them).
pub fn is_removal(event: &str) -> bool {
    matches!(
        event,
        "del" | "rename_from" | "move_from" | "expired" | "evicted"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_in_canonical_form() {
        assert_eq!(parse("").unwrap(), 0);
        assert_eq!(parse("g$").unwrap(), 0, "no K or E: nothing is published");
        assert_eq!(format(parse("KEA").unwrap()), "AKE");
        assert_eq!(format(parse("Ex").unwrap()), "xE");
        assert_eq!(format(parse("Kg$lshzxetd").unwrap()), "AK");
        assert!(parse("Kq").is_err());
    }

    #[test]
    fn events_follow_redis_names() {
        let args: Vec<&[u8]> = vec![b"lmove", b"a", b"b", b"LEFT", b"RIGHT"];
        assert_eq!(event_of("lmove", 0, &args), "lpop");
        assert_eq!(event_of("lmove", 1, &args), "rpush");
        assert_eq!(event_of("incr", 0, &[]), "incrby");
        assert_eq!(event_of("rename", 1, &[]), "rename_to");
        assert_eq!(event_of("hset", 0, &[]), "hset");
        assert_eq!(class_of("sorted_set"), ZSET);
        let xgroup: Vec<&[u8]> = vec![b"XGROUP", b"CREATECONSUMER", b"s", b"g", b"c"];
        assert_eq!(event_of("xgroup", 0, &xgroup), "xgroup-createconsumer");
        assert!(is_silent(&event_of("xack", 0, &[])));
    }
}
