//! Memcached meta commands: `mg` (get), `ms` (set), `md` (delete), `ma` (arithmetic), `me` (debug).
//!
//! A meta reply is a two-letter code — `VA <size>` (value follows), `HD` (done), `EN` (miss), `NS` (not
//! stored), `EX` (CAS mismatch), `NF` (not found) — followed by the return flags the client asked for, in the
//! order it asked: `c` CAS, `f` client flags, `h` fetched before, `k` key, `l` seconds since last access,
//! `O` opaque, `s` size, `t` TTL left (-1: none). The quiet flag `q` hides the common outcome (a miss for `mg`,
//! success for `ms`, `md` and `ma`) so clients can pipeline and end with `mn`.
//!
//! Stale-while-revalidate: `md k I` marks an item stale instead of deleting it; `mg` then answers with `X`, and
//! the first reader also gets `W` (it won the right to recompute) while later ones get `Z`. `mg k R30` hands out
//! `W` once when less than 30 s of TTL remain, and `mg k N30` creates an empty item on a miss and hands out `W`.
//! The `E` flag sets the CAS unique explicitly; `b` means the key is base64.

use super::memcache_item::{
    arith_at, expiry, put_item, room_for_write, ttl_seconds, ArithError, Ctx, DB,
};
use crate::keyspace::entry::{ITEM_FETCHED, ITEM_STALE, ITEM_WON};
use crate::keyspace::evict::lru_idle_seconds;
use crate::metering::memcache::Stat;
use crate::protocol::memcache::{
    base64_decode, parse_i64, parse_u64, reply, Meta, MetaOp, KEY_MAX,
};

const NON_NUMERIC: &[u8] = b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";

/// A meta command failed before touching the keyspace.
struct Refused(&'static [u8]);

/// The numeric tokens of a meta command, checked up front.
#[derive(Default)]
struct Tokens {
    ttl: Option<i64>,
    vivify: Option<i64>,
    recache: Option<i64>,
    compare: Option<u64>,
    explicit_cas: Option<u64>,
    flags: Option<u32>,
    initial: Option<u64>,
    delta: Option<u64>,
}

fn tokens(m: &Meta) -> Result<Tokens, Refused> {
    let signed = |l: u8| -> Result<Option<i64>, Refused> {
        m.flags
            .token(l)
            .map(|t| parse_i64(t).ok_or(Refused(reply::BAD_TOKEN)))
            .transpose()
    };
    let unsigned = |l: u8| -> Result<Option<u64>, Refused> {
        m.flags
            .token(l)
            .map(|t| parse_u64(t).ok_or(Refused(reply::BAD_TOKEN)))
            .transpose()
    };
    let flags = match unsigned(b'F')? {
        Some(f) => Some(u32::try_from(f).map_err(|_| Refused(reply::BAD_TOKEN))?),
        None => None,
    };
    Ok(Tokens {
        ttl: signed(b'T')?,
        vivify: signed(b'N')?,
        recache: signed(b'R')?,
        compare: unsigned(b'C')?,
        explicit_cas: unsigned(b'E')?,
        flags,
        initial: unsigned(b'J')?,
        delta: unsigned(b'D')?,
    })
}

/// The key a meta command works on: the token itself, or its base64 decoding with the `b` flag.
fn key_of(m: &Meta) -> Result<Vec<u8>, Refused> {
    if !m.flags.has(b'b') {
        return Ok(m.key.to_vec());
    }
    let mut key = Vec::with_capacity(m.key.len());
    match base64_decode(m.key, &mut key) {
        Some(()) if !key.is_empty() && key.len() <= KEY_MAX => Ok(key),
        _ => Err(Refused(b"CLIENT_ERROR error decoding key\r\n")),
    }
}

/// Executes one meta command.
pub fn execute(ctx: &mut Ctx, m: &Meta) {
    ctx.count(Stat::CmdMeta, 1);
    let result = tokens(m).and_then(|t| {
        let key = key_of(m)?;
        match m.op {
            MetaOp::Get => get(ctx, m, &key, &t),
            MetaOp::Set => set(ctx, m, &key, &t),
            MetaOp::Delete => delete(ctx, m, &key, &t),
            MetaOp::Arith => arith(ctx, m, &key, &t),
            MetaOp::Debug => debug(ctx, m, &key),
        }
    });
    if let Err(Refused(line)) = result {
        ctx.put(line);
    }
}

/// What a reply's return flags can tell about its item; `None` where the reply does not carry that flag.
#[derive(Default)]
struct ReturnFlags {
    cas: Option<u64>,
    client_flags: Option<u32>,
    fetched: Option<bool>,
    idle: Option<u64>,
    size: Option<usize>,
    ttl: Option<i64>,
}

/// Appends the return flags the client asked for, in its order: `k` (with `b`) and `O` on every reply, the
/// others where `item` has them.
fn put_flags(ctx: &mut Ctx, m: &Meta, item: &ReturnFlags) {
    for (letter, token) in m.flags.iter() {
        match letter {
            b'c' => put_number_flag(ctx, b" c", item.cas),
            b'f' => put_number_flag(ctx, b" f", item.client_flags),
            b'h' => {
                if let Some(fetched) = item.fetched {
                    ctx.put(if fetched { b" h1" } else { b" h0" });
                }
            }
            b'l' => put_number_flag(ctx, b" l", item.idle),
            b's' => put_number_flag(ctx, b" s", item.size),
            b't' => put_number_flag(ctx, b" t", item.ttl),
            b'k' => {
                ctx.put(b" k");
                ctx.put(m.key);
                if m.flags.has(b'b') {
                    ctx.put(b" b");
                }
            }
            b'O' => {
                ctx.put(b" O");
                ctx.put(token);
            }
            _ => {}
        }
    }
}

/// Appends a numeric return flag the reply carries.
fn put_number_flag(ctx: &mut Ctx, flag: &[u8], value: Option<impl itoa::Integer>) {
    if let Some(value) = value {
        ctx.put(flag);
        ctx.put_num(value);
    }
}

/// Appends a reply without a value: `code`, then the return flags.
fn put_status(ctx: &mut Ctx, m: &Meta, code: &[u8], item: &ReturnFlags) {
    ctx.put(code);
    put_flags(ctx, m, item);
    ctx.put(b"\r\n");
}

/// Appends the reply of an item found: `VA <size>` with the value when the client asked for it (`v`), `HD`
/// otherwise, then the return flags and `marks` (the stale-while-revalidate flags).
fn put_found(ctx: &mut Ctx, m: &Meta, value: &[u8], item: &ReturnFlags, marks: &[u8]) {
    let with_value = m.flags.has(b'v');
    if with_value {
        ctx.put(b"VA ");
        ctx.put_num(value.len());
    } else {
        ctx.put(b"HD");
    }
    put_flags(ctx, m, item);
    ctx.put(marks);
    ctx.put(b"\r\n");
    if with_value {
        ctx.put(value);
        ctx.put(b"\r\n");
    }
}

fn get(ctx: &mut Ctx, m: &Meta, key: &[u8], t: &Tokens) -> Result<(), Refused> {
    ctx.count(Stat::CmdGet, 1);
    let clock = ctx.clock;
    let now = clock.now_ms;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let (i, vivified) = match shard.find(h, key, now) {
        Some(i) => (i, false),
        None => {
            ctx.count_lookup(false);
            let Some(ttl) = t.vivify else {
                if !m.flags.has(b'q') {
                    ctx.put(b"EN\r\n");
                }
                return Ok(());
            };
            if !room_for_write(ctx) {
                return Err(Refused(b"SERVER_ERROR out of memory storing object\r\n"));
            }
            put_item(shard, h, key, &[], 0, expiry(ttl, now), &clock, None);
            match shard.find(h, key, now) {
                Some(i) => (i, true),
                None => {
                    // Vivified with a TTL already past: nothing to return.
                    ctx.put(b"EN\r\n");
                    return Ok(());
                }
            }
        }
    };
    if !vivified {
        ctx.count_lookup(true);
    }
    let mut item = shard.upgrade_to_item(i);
    let e = shard.at(i);
    let ttl_before = ttl_seconds(e.expire(), now);
    let idle = if clock.lfu {
        0
    } else {
        lru_idle_seconds(e.clock(), now)
    };
    let fetched_before = item.bits & ITEM_FETCHED != 0;
    let won_before = item.bits & ITEM_WON != 0;
    let mut win_flags: &[u8] = b"";
    if vivified {
        win_flags = b" W";
        item.bits |= ITEM_WON;
    } else if item.bits & ITEM_STALE != 0 {
        win_flags = if won_before { b" Z X" } else { b" X W" };
        item.bits |= ITEM_WON;
    } else if won_before {
        win_flags = b" Z";
    } else if matches!(t.recache, Some(r) if ttl_before != -1 && ttl_before < r) {
        win_flags = b" W";
        item.bits |= ITEM_WON;
    }
    // Flags act in their order, as memcached's do: `T` before `t` reports the new TTL, `t` before `T` the old.
    let mut ttl_reported = ttl_before;
    if let Some(ttl) = t.ttl {
        let expire = expiry(ttl, now);
        shard.update_at(i, |e| e.with_expire(expire));
        let position = |letter: u8| m.flags.iter().position(|(l, _)| l == letter);
        if position(b'T') < position(b't') {
            ttl_reported = ttl_seconds(expire, now);
        }
    }
    let e = shard.at_access_mut(i);
    // `u`: neither the LRU clock nor the fetched bit moves.
    let fetched = if m.flags.has(b'u') {
        0
    } else {
        e.set_clock(clock.on_access(e.clock()));
        ITEM_FETCHED
    };
    e.set_item_bits(item.bits | fetched);
    let value = shard.at(i).value();
    let returned = ReturnFlags {
        cas: Some(item.cas),
        client_flags: Some(item.flags),
        fetched: Some(fetched_before),
        idle: Some(idle),
        size: Some(value.len()),
        ttl: Some(ttl_reported),
    };
    put_found(ctx, m, value, &returned, win_flags);
    Ok(())
}

/// The storage mode of `ms`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
}

fn set(ctx: &mut Ctx, m: &Meta, key: &[u8], t: &Tokens) -> Result<(), Refused> {
    ctx.count(Stat::CmdSet, 1);
    let mode = match m.flags.token(b'M') {
        None => Mode::Set,
        Some([c]) => match c.to_ascii_uppercase() {
            b'S' => Mode::Set,
            b'E' => Mode::Add,
            b'R' => Mode::Replace,
            b'A' => Mode::Append,
            b'P' => Mode::Prepend,
            _ => return Err(Refused(b"CLIENT_ERROR invalid mode for ms M token\r\n")),
        },
        Some(_) => return Err(Refused(b"CLIENT_ERROR invalid mode for ms M token\r\n")),
    };
    if !room_for_write(ctx) {
        return Err(Refused(b"SERVER_ERROR out of memory storing object\r\n"));
    }
    let clock = ctx.clock;
    let now = clock.now_ms;
    let max_item = ctx.cfg.max_item_size as usize;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let existing = shard.find(h, key, now);
    // What a stale write keeps of the item it replaces: its expiry, and whether its win token went out.
    let (kept_expire, kept_won) = match existing {
        Some(i) => {
            let e = shard.at(i);
            let won = e.item().is_some_and(|it| it.bits & ITEM_WON != 0);
            (e.expire(), won)
        }
        None => (None, false),
    };
    let mut stale = false;
    let code: &[u8] = 'code: {
        if let Some(want) = t.compare {
            let Some(i) = existing else {
                break 'code b"NF";
            };
            let current = shard.at(i).item().map_or(0, |it| it.cas);
            if current != want {
                // With I, an older CAS still stores, but the item is marked stale.
                if m.flags.has(b'I') && want < current {
                    stale = true;
                } else {
                    ctx.count(Stat::CasBadval, 1);
                    break 'code b"EX";
                }
            }
        }
        let parts: Vec<&[u8]>;
        let (flags, expire) = match (mode, existing) {
            (Mode::Add, Some(_)) | (Mode::Replace, None) => break 'code b"NS",
            (Mode::Append | Mode::Prepend, None) => match t.vivify {
                Some(ttl) => {
                    parts = vec![m.data];
                    (t.flags.unwrap_or(0), expiry(ttl, now))
                }
                None => break 'code b"NS",
            },
            (Mode::Append | Mode::Prepend, Some(i)) => {
                let e = shard.at(i);
                if key.len() + e.value().len() + m.data.len() > max_item {
                    return Err(Refused(reply::TOO_LARGE));
                }
                let old = e.value();
                parts = if mode == Mode::Append {
                    vec![old, m.data]
                } else {
                    vec![m.data, old]
                };
                (e.item().map_or(0, |it| it.flags), e.expire())
            }
            // A stale write (I with an older CAS) keeps the item's expiry, as memcached does.
            _ if stale => {
                parts = vec![m.data];
                (t.flags.unwrap_or(0), kept_expire)
            }
            _ => {
                parts = vec![m.data];
                (t.flags.unwrap_or(0), t.ttl.and_then(|ttl| expiry(ttl, now)))
            }
        };
        let owned: Vec<u8> = parts.concat();
        let cas = put_item(
            shard,
            h,
            key,
            &[&owned],
            flags,
            expire,
            &clock,
            t.explicit_cas,
        );
        if stale {
            // Still stale, and a win token already handed out stays handed out (no second W).
            let won = if kept_won { ITEM_WON } else { 0 };
            if let Some(i) = shard.find(h, key, now) {
                shard.at_access_mut(i).set_item_bits(ITEM_STALE | won);
            }
        }
        ctx.session.counters.memcache.add(Stat::TotalItems, 1);
        if m.flags.has(b'q') {
            return Ok(());
        }
        let returned = ReturnFlags {
            cas: Some(cas),
            ..ReturnFlags::default()
        };
        put_status(ctx, m, b"HD", &returned);
        return Ok(());
    };
    // Nothing was stored: memcached still answers a requested `c`, with 0.
    let returned = ReturnFlags {
        cas: Some(0),
        ..ReturnFlags::default()
    };
    put_status(ctx, m, code, &returned);
    Ok(())
}

fn delete(ctx: &mut Ctx, m: &Meta, key: &[u8], t: &Tokens) -> Result<(), Refused> {
    let now = ctx.clock.now_ms;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let code: &[u8] = match shard.find(h, key, now) {
        None => {
            ctx.count(Stat::DeleteMisses, 1);
            b"NF"
        }
        Some(i)
            if t.compare
                .is_some_and(|c| shard.at(i).item().map_or(0, |it| it.cas) != c) =>
        {
            ctx.count(Stat::CasBadval, 1);
            b"EX"
        }
        Some(i) => {
            ctx.count(Stat::DeleteHits, 1);
            if m.flags.has(b'I') {
                let mut item = shard.upgrade_to_item(i);
                item.bits = (item.bits | ITEM_STALE) & !ITEM_WON;
                item.cas = t.explicit_cas.unwrap_or_else(|| shard.next_cas());
                shard.update_at(i, |e| e.with_item(item));
                if let Some(ttl) = t.ttl {
                    let expire = expiry(ttl, now);
                    shard.update_at(i, |e| e.with_expire(expire));
                }
            } else if m.flags.has(b'x') {
                // The value and client flags go; the key and its TTL stay.
                let expire = shard.at(i).expire();
                let clock = ctx.clock;
                put_item(shard, h, key, &[], 0, expire, &clock, t.explicit_cas);
            } else {
                shard.delete(h, key, now);
            }
            if m.flags.has(b'q') {
                return Ok(());
            }
            b"HD"
        }
    };
    put_status(ctx, m, code, &ReturnFlags::default());
    Ok(())
}

fn arith(ctx: &mut Ctx, m: &Meta, key: &[u8], t: &Tokens) -> Result<(), Refused> {
    let incr = match m.flags.token(b'M') {
        None => true,
        Some([b'I' | b'i' | b'+']) => true,
        Some([b'D' | b'd' | b'-']) => false,
        Some(_) => return Err(Refused(b"CLIENT_ERROR invalid mode for ma M token\r\n")),
    };
    let clock = ctx.clock;
    let now = clock.now_ms;
    let delta = t.delta.unwrap_or(1);
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let (hits, misses) = if incr {
        (Stat::IncrHits, Stat::IncrMisses)
    } else {
        (Stat::DecrHits, Stat::DecrMisses)
    };
    let value = match shard.find(h, key, now) {
        None => match t.vivify {
            Some(ttl) => {
                ctx.count(misses, 1);
                let initial = t.initial.unwrap_or(0);
                let mut buf = itoa::Buffer::new();
                let text = buf.format(initial).as_bytes();
                put_item(
                    shard,
                    h,
                    key,
                    &[text],
                    0,
                    expiry(ttl, now),
                    &clock,
                    t.explicit_cas,
                );
                initial
            }
            None => {
                ctx.count(misses, 1);
                put_status(ctx, m, b"NF", &ReturnFlags::default());
                return Ok(());
            }
        },
        Some(i) => {
            if t.compare
                .is_some_and(|c| shard.at(i).item().map_or(0, |it| it.cas) != c)
            {
                ctx.count(Stat::CasBadval, 1);
                put_status(ctx, m, b"EX", &ReturnFlags::default());
                return Ok(());
            }
            ctx.count(hits, 1);
            match arith_at(shard, h, i, incr, delta, &clock, t.explicit_cas) {
                Ok(v) => v,
                Err(ArithError::NonNumeric | ArithError::NotFound) => {
                    return Err(Refused(NON_NUMERIC))
                }
            }
        }
    };
    let Some(i) = shard.find(h, key, now) else {
        ctx.put(b"NF\r\n");
        return Ok(());
    };
    if let Some(ttl) = t.ttl {
        let expire = expiry(ttl, now);
        shard.update_at(i, |e| e.with_expire(expire));
    }
    if m.flags.has(b'q') {
        return Ok(());
    }
    let returned = ReturnFlags {
        cas: Some(shard.upgrade_to_item(i).cas),
        ttl: Some(ttl_seconds(shard.at(i).expire(), now)),
        ..ReturnFlags::default()
    };
    let mut num = itoa::Buffer::new();
    put_found(ctx, m, num.format(value).as_bytes(), &returned, b"");
    Ok(())
}

fn debug(ctx: &mut Ctx, m: &Meta, key: &[u8]) -> Result<(), Refused> {
    let clock = ctx.clock;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let Some(i) = shard.find(h, key, clock.now_ms) else {
        ctx.put(b"EN\r\n");
        return Ok(());
    };
    let e = shard.at(i);
    let item = e.item().unwrap_or_default();
    let idle = if clock.lfu {
        0
    } else {
        lru_idle_seconds(e.clock(), clock.now_ms)
    };
    let line = format!(
        " exp={} la={idle} cas={} fetch={} cls=1 size={}\r\n",
        ttl_seconds(e.expire(), clock.now_ms),
        item.cas,
        if item.bits & ITEM_FETCHED != 0 {
            "yes"
        } else {
            "no"
        },
        e.heap_size()
    );
    ctx.put(b"ME ");
    ctx.put(m.key);
    ctx.put(line.as_bytes());
    Ok(())
}
