//! Memcached binary-protocol requests on the shared keyspace, with memcached 1.6's semantics: the same items
//! the text and meta protocols see (client flags, CAS uniques, expiry), and the binary protocol's own rules:
//! every storage command, `delete` and `incr`/`decr` honour a CAS in the header; `add` of an existing key is
//! "key exists", `replace` of a missing one "key not found"; `incr`/`decr` create a missing counter from
//! their initial value unless the expiration is 0xffffffff; quiet variants answer only errors (quiet gets:
//! only hits), so a client pipelines them and ends the batch with a `noop`.

use crate::catalogue::Cost;
use crate::keyspace::entry::ITEM_FETCHED;
use crate::metering::memcache::Stat;
use crate::protocol::memcache::{valid_key, Tokens};
use crate::protocol::memcache_binary::{
    is_storage, op, respond, respond_error, respond_ok, status, Request,
};

use super::memcache_item::{
    arith_at, expiry, put_item, room_for_write, ArithError, Ctx, DB, MEMCACHED_COMPAT_VERSION,
};

/// `incr`/`decr` expiration meaning "do not create a missing counter".
const NO_CREATE: u32 = 0xffff_ffff;

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// An expiration field as the text protocol's exptime (the same 30-day rule).
fn exptime(field: u32) -> i64 {
    i64::from(field)
}

/// Executes one request and charges it; `request_len` is its size on the wire.
pub fn execute(ctx: &mut Ctx, req: &Request, request_len: usize) {
    let out_start = ctx.out.len();
    let h = req.header;
    let (opcode, opaque) = (h.opcode, h.opaque);
    let (extras, key, value) = (req.extras, req.key, req.value);
    let needs_key = !matches!(
        opcode,
        op::QUIT
            | op::QUITQ
            | op::FLUSH
            | op::FLUSHQ
            | op::NOOP
            | op::VERSION
            | op::STAT
            | op::VERBOSITY
    );
    let extras_ok = match opcode {
        op::SET | op::SETQ | op::ADD | op::ADDQ | op::REPLACE | op::REPLACEQ => extras.len() == 8,
        op::INCREMENT | op::INCREMENTQ | op::DECREMENT | op::DECREMENTQ => extras.len() == 20,
        op::TOUCH | op::GAT | op::GATQ | op::GATK | op::GATKQ | op::VERBOSITY => extras.len() == 4,
        op::FLUSH | op::FLUSHQ => extras.is_empty() || extras.len() == 4,
        _ => extras.is_empty(),
    };
    let value_ok = is_storage(opcode) || value.is_empty();
    let key_ok = if needs_key {
        !key.is_empty() && valid_key(key)
    } else {
        key.is_empty() || opcode == op::STAT
    };
    // Every opcode up to GATQ, GATK/GATKQ, and SASL's when it is on.
    let sasl = ctx.cfg.memcached_sasl_pwdb.is_some();
    let sasl_op = matches!(opcode, op::SASL_LIST_MECHS | op::SASL_AUTH | op::SASL_STEP);
    let known = matches!(opcode, 0x00..=0x1e | op::GATK | op::GATKQ) || (sasl && sasl_op);
    let mut cost = Cost::Bytes;
    let mut elements = 0;
    // Requests that manage the connection rather than use the cache: not billed, never throttled.
    let management = matches!(
        opcode,
        op::QUIT
            | op::QUITQ
            | op::NOOP
            | op::VERSION
            | op::STAT
            | op::VERBOSITY
            | op::SASL_LIST_MECHS
            | op::SASL_AUTH
            | op::SASL_STEP
    );
    if !known {
        respond_error(ctx.out, opcode, status::UNKNOWN_COMMAND, opaque);
    } else if !ctx.session.authenticated && !sasl_op && opcode != op::VERSION {
        // Before SASL authentication only the SASL requests and `version` are answered, as in memcached.
        respond_error(ctx.out, opcode, status::AUTH_ERROR, opaque);
    } else if sasl_op {
        sasl_request(ctx, opcode, opaque, key, value);
    } else if !(extras_ok && value_ok && key_ok) {
        respond_error(ctx.out, opcode, status::INVALID_ARGUMENTS, opaque);
    } else if !management && !super::memcache::within_rate(ctx) {
        respond_error(ctx.out, opcode, status::TEMPORARY_FAILURE, opaque);
        return;
    } else {
        match opcode {
            op::GET
            | op::GETQ
            | op::GETK
            | op::GETKQ
            | op::GAT
            | op::GATQ
            | op::GATK
            | op::GATKQ => {
                cost = Cost::Elements;
                elements = 1;
                get(ctx, opcode, opaque, key, extras);
            }
            storage if is_storage(storage) => store(ctx, req),
            op::DELETE | op::DELETEQ => delete(ctx, opcode, opaque, key, h.cas),
            op::INCREMENT | op::INCREMENTQ | op::DECREMENT | op::DECREMENTQ => arith(ctx, req),
            op::TOUCH => touch(ctx, opaque, key, be32(extras)),
            op::QUIT | op::QUITQ => {
                if opcode == op::QUIT {
                    respond_ok(ctx.out, opcode, opaque, &[]);
                }
                ctx.session.close = true;
            }
            op::FLUSH | op::FLUSHQ => {
                let delay = if extras.len() == 4 { be32(extras) } else { 0 };
                super::memcache::flush_all(ctx, exptime(delay));
                if opcode == op::FLUSH {
                    respond_ok(ctx.out, opcode, opaque, &[]);
                }
            }
            op::NOOP | op::VERBOSITY => {
                respond_ok(ctx.out, opcode, opaque, &[]);
            }
            op::VERSION => respond_ok(ctx.out, opcode, opaque, MEMCACHED_COMPAT_VERSION.as_bytes()),
            op::STAT => stat(ctx, opaque, key),
            _ => respond_error(ctx.out, opcode, status::UNKNOWN_COMMAND, opaque),
        }
    }
    super::memcache::account(ctx, cost, request_len, out_start, elements, management);
}

/// get, getq, getk, getkq, and the get-and-touch variants.
fn get(ctx: &mut Ctx, opcode: u8, opaque: u32, key: &[u8], extras: &[u8]) {
    let touch = matches!(opcode, op::GAT | op::GATQ | op::GATK | op::GATKQ);
    let quiet = matches!(opcode, op::GETQ | op::GETKQ | op::GATQ | op::GATKQ);
    let with_key = matches!(opcode, op::GETK | op::GETKQ | op::GATK | op::GATKQ);
    let clock = ctx.clock;
    ctx.count(Stat::CmdGet, 1);
    if touch {
        ctx.count(Stat::CmdTouch, 1);
    }
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, hash) = held.shard(DB, key);
    let Some(i) = shard.find(hash, key, clock.now_ms) else {
        drop(held);
        ctx.count_lookup(false);
        if touch {
            ctx.count(Stat::TouchMisses, 1);
        }
        if !quiet {
            let echoed: &[u8] = if with_key { key } else { &[] };
            let message = status::message(status::KEY_NOT_FOUND);
            respond(
                ctx.out,
                opcode,
                status::KEY_NOT_FOUND,
                opaque,
                0,
                &[],
                echoed,
                if with_key { &[] } else { message },
            );
        }
        return;
    };
    if touch {
        let expire = expiry(exptime(be32(extras)), clock.now_ms);
        shard.update_at(i, |e| e.with_expire(expire));
    }
    let item = shard.upgrade_to_item(i);
    let e = shard.at_access_mut(i);
    e.set_clock(clock.on_access(e.clock()));
    if item.bits & ITEM_FETCHED == 0 {
        e.set_item_bits(item.bits | ITEM_FETCHED);
    }
    let value = shard.at(i).value();
    respond(
        ctx.out,
        opcode,
        status::OK,
        opaque,
        item.cas,
        &item.flags.to_be_bytes(),
        if with_key { key } else { &[] },
        value,
    );
    drop(held);
    ctx.count_lookup(true);
    if touch {
        ctx.count(Stat::TouchHits, 1);
    }
}

/// set, add, replace, append, prepend and their quiet variants; a CAS in the header must match.
fn store(ctx: &mut Ctx, req: &Request) {
    let h = req.header;
    let (opcode, opaque, key, data) = (h.opcode, h.opaque, req.key, req.value);
    let quiet = matches!(
        opcode,
        op::SETQ | op::ADDQ | op::REPLACEQ | op::APPENDQ | op::PREPENDQ
    );
    let base = match opcode {
        op::SETQ => op::SET,
        op::ADDQ => op::ADD,
        op::REPLACEQ => op::REPLACE,
        op::APPENDQ => op::APPEND,
        op::PREPENDQ => op::PREPEND,
        other => other,
    };
    ctx.count(Stat::CmdSet, 1);
    let fail = |ctx: &mut Ctx, status: u16| respond_error(ctx.out, opcode, status, opaque);
    if key.len() + data.len() > ctx.cfg.max_item_size as usize {
        ctx.count(Stat::StoreTooLarge, 1);
        return fail(ctx, status::TOO_LARGE);
    }
    if !room_for_write(ctx) {
        return fail(ctx, status::OUT_OF_MEMORY);
    }
    let (flags, expire_field) = if req.extras.len() == 8 {
        (be32(&req.extras[..4]), be32(&req.extras[4..]))
    } else {
        (0, 0)
    };
    let clock = ctx.clock;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, hash) = held.shard(DB, key);
    let existing = shard.find(hash, key, clock.now_ms);
    let current_cas = existing.map(|i| shard.upgrade_to_item(i).cas);
    let outcome = match (base, existing, current_cas) {
        (_, None, _) if h.cas != 0 => Err(status::KEY_NOT_FOUND),
        (_, Some(_), Some(cas)) if h.cas != 0 && h.cas != cas => Err(status::KEY_EXISTS),
        (op::ADD, Some(_), _) => Err(status::KEY_EXISTS),
        (op::REPLACE, None, _) => Err(status::KEY_NOT_FOUND),
        (op::APPEND | op::PREPEND, None, _) => Err(status::NOT_STORED),
        (op::APPEND | op::PREPEND, Some(i), _) => {
            let e = shard.at(i);
            if key.len() + e.value().len() + data.len() > ctx.cfg.max_item_size as usize {
                Err(status::TOO_LARGE)
            } else {
                let old = e.value().to_vec();
                let (item_flags, old_expire) = (e.item().map_or(0, |it| it.flags), e.expire());
                let parts: [&[u8]; 2] = if base == op::APPEND {
                    [&old, data]
                } else {
                    [data, &old]
                };
                Ok(put_item(
                    shard, hash, key, &parts, item_flags, old_expire, &clock, None,
                ))
            }
        }
        _ => {
            let expire = expiry(exptime(expire_field), clock.now_ms);
            Ok(put_item(
                shard,
                hash,
                key,
                &[data],
                flags,
                expire,
                &clock,
                None,
            ))
        }
    };
    drop(held);
    match outcome {
        Ok(cas) => {
            ctx.count(Stat::TotalItems, 1);
            if h.cas != 0 {
                ctx.count(Stat::CasHits, 1);
            }
            if !quiet {
                respond(ctx.out, opcode, status::OK, opaque, cas, &[], &[], &[]);
            }
        }
        Err(code) => {
            if h.cas != 0 {
                ctx.count(
                    if code == status::KEY_NOT_FOUND {
                        Stat::CasMisses
                    } else {
                        Stat::CasBadval
                    },
                    1,
                );
            }
            if code == status::TOO_LARGE {
                ctx.count(Stat::StoreTooLarge, 1);
            }
            fail(ctx, code);
        }
    }
}

/// delete and deleteq; a CAS in the header must match.
fn delete(ctx: &mut Ctx, opcode: u8, opaque: u32, key: &[u8], cas: u64) {
    let now = ctx.clock.now_ms;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, hash) = held.shard(DB, key);
    let result = match shard.find(hash, key, now) {
        None => Err(status::KEY_NOT_FOUND),
        Some(i) if cas != 0 && shard.upgrade_to_item(i).cas != cas => Err(status::KEY_EXISTS),
        Some(_) => {
            shard.delete(hash, key, now);
            Ok(())
        }
    };
    drop(held);
    match result {
        Ok(()) => {
            ctx.count(Stat::DeleteHits, 1);
            if opcode == op::DELETE {
                respond_ok(ctx.out, opcode, opaque, &[]);
            }
        }
        Err(code) => {
            if code == status::KEY_NOT_FOUND {
                ctx.count(Stat::DeleteMisses, 1);
            }
            respond_error(ctx.out, opcode, code, opaque);
        }
    }
}

/// increment and decrement (and their quiet variants): the new value as 8 bytes.
fn arith(ctx: &mut Ctx, req: &Request) {
    let h = req.header;
    let (opcode, opaque, key) = (h.opcode, h.opaque, req.key);
    let incr = matches!(opcode, op::INCREMENT | op::INCREMENTQ);
    let quiet = matches!(opcode, op::INCREMENTQ | op::DECREMENTQ);
    let (delta, initial, expire_field) = (
        be64(&req.extras[..8]),
        be64(&req.extras[8..16]),
        be32(&req.extras[16..]),
    );
    let clock = ctx.clock;
    if !room_for_write(ctx) {
        return respond_error(ctx.out, opcode, status::OUT_OF_MEMORY, opaque);
    }
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, hash) = held.shard(DB, key);
    let result = match shard.find(hash, key, clock.now_ms) {
        None if h.cas != 0 || expire_field == NO_CREATE => Err(status::KEY_NOT_FOUND),
        None => {
            let mut digits = itoa::Buffer::new();
            let text = digits.format(initial).as_bytes();
            let expire = expiry(exptime(expire_field), clock.now_ms);
            let cas = put_item(shard, hash, key, &[text], 0, expire, &clock, None);
            Ok((initial, cas))
        }
        Some(i) if h.cas != 0 && shard.upgrade_to_item(i).cas != h.cas => Err(status::KEY_EXISTS),
        Some(i) => {
            let cas = shard.next_cas();
            match arith_at(shard, hash, i, incr, delta, &clock, Some(cas)) {
                Ok(n) => Ok((n, cas)),
                Err(ArithError::NonNumeric) => Err(status::NON_NUMERIC),
                Err(ArithError::NotFound) => Err(status::KEY_NOT_FOUND),
            }
        }
    };
    drop(held);
    let (hits, misses) = if incr {
        (Stat::IncrHits, Stat::IncrMisses)
    } else {
        (Stat::DecrHits, Stat::DecrMisses)
    };
    match result {
        Ok((n, cas)) => {
            ctx.count(hits, 1);
            if !quiet {
                respond(
                    ctx.out,
                    opcode,
                    status::OK,
                    opaque,
                    cas,
                    &[],
                    &[],
                    &n.to_be_bytes(),
                );
            }
        }
        Err(code) => {
            if code == status::KEY_NOT_FOUND {
                ctx.count(misses, 1);
            }
            respond_error(ctx.out, opcode, code, opaque);
        }
    }
}

/// touch: a new expiration for an existing item.
fn touch(ctx: &mut Ctx, opaque: u32, key: &[u8], expire_field: u32) {
    ctx.count(Stat::CmdTouch, 1);
    let now = ctx.clock.now_ms;
    let expire = expiry(exptime(expire_field), now);
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, hash) = held.shard(DB, key);
    let found = match shard.find(hash, key, now) {
        Some(i) => {
            shard.update_at(i, |e| e.with_expire(expire));
            Some(shard.upgrade_to_item(i).cas)
        }
        None => None,
    };
    drop(held);
    match found {
        Some(cas) => {
            ctx.count(Stat::TouchHits, 1);
            respond(ctx.out, op::TOUCH, status::OK, opaque, cas, &[], &[], &[]);
        }
        None => {
            ctx.count(Stat::TouchMisses, 1);
            respond_error(ctx.out, op::TOUCH, status::KEY_NOT_FOUND, opaque);
        }
    }
}

/// stat [group]: one response per statistic, then one with an empty key. The statistics are the text
/// protocol's `stats` (every group it has).
fn stat(ctx: &mut Ctx, opaque: u32, group: &[u8]) {
    let start = ctx.out.len();
    super::memcache_info::stats(ctx, Tokens::new(group));
    let text = ctx.out.split_off(start);
    if !text.starts_with(b"STAT ") && !text.starts_with(b"END") && !text.starts_with(b"RESET") {
        return respond_error(ctx.out, op::STAT, status::KEY_NOT_FOUND, opaque);
    }
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(rest) = line.strip_prefix(b"STAT ") else {
            continue;
        };
        let (name, value) = match rest.iter().position(|&b| b == b' ') {
            Some(p) => (&rest[..p], &rest[p + 1..]),
            None => (rest, &b""[..]),
        };
        respond(ctx.out, op::STAT, status::OK, opaque, 0, &[], name, value);
    }
    respond_ok(ctx.out, op::STAT, opaque, &[]);
}

/// SASL with the PLAIN mechanism: `list mechs` answers `PLAIN`; `auth` takes `authzid NUL user NUL password`
/// and checks it against the password file (re-read each time, so a rotated file applies to the next login);
/// PLAIN has no further step.
fn sasl_request(ctx: &mut Ctx, opcode: u8, opaque: u32, mechanism: &[u8], data: &[u8]) {
    match opcode {
        op::SASL_LIST_MECHS => respond_ok(ctx.out, opcode, opaque, b"PLAIN"),
        op::SASL_AUTH if mechanism == b"PLAIN" && plain_login(ctx, data) => {
            ctx.session.authenticated = true;
            respond_ok(ctx.out, opcode, opaque, b"Authenticated");
        }
        _ => respond_error(ctx.out, opcode, status::AUTH_ERROR, opaque),
    }
}

/// Whether a PLAIN message names a user and password of the password file (`user:password` lines).
fn plain_login(ctx: &Ctx, message: &[u8]) -> bool {
    let mut parts = message.split(|&b| b == 0);
    let (Some(_authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(file) = &ctx.cfg.memcached_sasl_pwdb else {
        return false;
    };
    let Ok(text) = std::fs::read(file) else {
        tracing::warn!(file = %file.display(), "cannot read the memcached SASL password file");
        return false;
    };
    text.split(|&b| b == b'\n').any(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match line.iter().position(|&b| b == b':') {
            Some(p) => {
                constant_time_eq(&line[..p], user) & constant_time_eq(&line[p + 1..], password)
            }
            None => false,
        }
    })
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
