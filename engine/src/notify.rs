//! Keyspace notifications (`notify-keyspace-events`): every change to a key can be published on
//! `__keyspace@<db>__:<key>` (message: the event) and `__keyevent@<db>__:<event>` (message: the key), so
//! applications can invalidate their own caches or react to expiry.
//!
//! Events are named like Redis': a command's event is its own name except where Redis uses another
//! (`incrby` for INCR/DECR, `set` for SETEX/MSET, `expire` for PEXPIRE, `zincr` for ZINCRBY, `rename_from` /
//! `rename_to` …); a command that leaves a collection empty also emits `del`; the keyspace's own deletions
//! emit `expired` and `evicted`.

use std::borrow::Cow;

/// `K`: publish on `__keyspace@<db>__:<key>`.
pub const KEYSPACE: u32 = 1;
/// `E`: publish on `__keyevent@<db>__:<event>`.
pub const KEYEVENT: u32 = 1 << 1;
/// `g`: generic commands (DEL, EXPIRE, RENAME, …).
pub const GENERIC: u32 = 1 << 2;
/// `$`: string commands.
pub const STRING: u32 = 1 << 3;
/// `l`: list commands.
pub const LIST: u32 = 1 << 4;
/// `s`: set commands.
pub const SET: u32 = 1 << 5;
/// `h`: hash commands.
pub const HASH: u32 = 1 << 6;
/// `z`: sorted set commands.
pub const ZSET: u32 = 1 << 7;
/// `x`: a key expired.
pub const EXPIRED: u32 = 1 << 8;
/// `e`: a key was evicted.
pub const EVICTED: u32 = 1 << 9;
/// `t`: stream commands.
pub const STREAM: u32 = 1 << 10;
/// `m`: a read missed (accepted, not emitted).
pub const KEY_MISS: u32 = 1 << 11;
/// `d`: module events (accepted, never emitted).
pub const MODULE: u32 = 1 << 12;
/// `n`: a key was created (accepted, not emitted).
pub const NEW: u32 = 1 << 13;
/// `A`: alias for `g$lshzxetd`.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

const LETTERS: &[(u8, u32)] = &[
    (b'g', GENERIC),
    (b'$', STRING),
    (b'l', LIST),
    (b's', SET),
    (b'h', HASH),
    (b'z', ZSET),
    (b'x', EXPIRED),
    (b'e', EVICTED),
    (b't', STREAM),
    (b'd', MODULE),
];

/// Parses a `notify-keyspace-events` value. Without `K` or `E` nothing is published, so the result is 0.
pub fn parse(text: &str) -> Result<u32, String> {
    let mut flags = 0;
    for b in text.bytes() {
        flags |= match b {
            b'A' => ALL,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b'm' => KEY_MISS,
            b'n' => NEW,
            _ => match LETTERS.iter().find(|(l, _)| *l == b) {
                Some(&(_, f)) => f,
                None => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
            },
        };
    }
    if flags & (KEYSPACE | KEYEVENT) == 0 {
        return Ok(0);
    }
    Ok(flags)
}

/// The canonical text of a flag set, as CONFIG GET shows it.
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for &(l, f) in LETTERS {
            if flags & f != 0 {
                out.push(l as char);
            }
        }
    }
    for (f, l) in [
        (KEYSPACE, 'K'),
        (KEYEVENT, 'E'),
        (KEY_MISS, 'm'),
        (NEW, 'n'),
    ] {
        if flags & f != 0 {
            out.push(l);
        }
    }
    out
}

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
