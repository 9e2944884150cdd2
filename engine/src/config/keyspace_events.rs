//! The `notify-keyspace-events` flags: which classes of key changes are published, as letters (`KEA`, `Ex`, …)
//! in the configuration and as bits in the node.

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
