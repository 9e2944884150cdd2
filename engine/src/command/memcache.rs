//! Memcached commands on the shared keyspace: the text protocol here, meta commands in `memcache_meta.rs`,
//! `stats` and `config get cluster` in `memcache_info.rs`.
//!
//! Items live in database 0 as strings with a memcached item header (client flags, CAS unique; see
//! `keyspace::entry`), so a node serving both protocols shows the same data to both: a Redis `GET` reads a value
//! stored with `set`, and a `gets` after a Redis `SET` returns a new CAS unique (a CAS taken before the Redis
//! write no longer matches). Each request locks only the shard of the key it is working on; a multi-get locks
//! its keys one after the other, like memcached, which never promised a snapshot across keys.
//!
//! Rules taken from memcached 1.6:
//! * exptime: 0 never expires, up to 30 days is relative seconds, beyond that an absolute unix time, negative
//!   means already expired;
//! * incr/decr: the value must be a decimal 64-bit unsigned number (surrounding spaces allowed); incr wraps
//!   around at 2^64, decr stops at 0. The result is stored in its shortest form (memcached pads it with spaces
//!   when it gets shorter; we do not);
//! * an item (key + value) larger than `max-item-size` is refused with `SERVER_ERROR object too large for
//!   cache`, and a refused `set` removes the old value;
//! * over `maxmemory`, writes first evict under the configured policy (allkeys-lru by default on memcached-only
//!   nodes) and answer `SERVER_ERROR out of memory storing object` only when nothing can be evicted;
//! * `noreply` suppresses every reply of the command, errors included.
//!
//! Metering: every request is charged through `metering::request_units` like a Redis command — one unit per
//! started KiB of request line, data and reply; a multi-get is charged by elements (at least one unit per
//! started 100 keys).

use std::sync::atomic::Ordering;

use super::memcache_item::{
    arith_at, expiry, put_value, room_for_write, ArithError, Ctx, DB, MEMCACHED_COMPAT_VERSION,
};
use crate::catalogue::Cost;
use crate::keyspace::entry::ITEM_FETCHED;
use crate::metering::memcache::Stat;
use crate::metering::{self};
use crate::node::Node;
use crate::protocol::memcache::{GetOp, Request, StoreOp, Tokens};

/// Runs every memcached request of a batch through this before executing it: applies a delayed `flush_all`
/// whose time has come.
pub fn before_batch(node: &Node, now_ms: u64) {
    if node.memcache().take_due_flush(now_ms) {
        node.ks().flush_db(DB, true);
    }
}

/// Executes one request and charges it. `request_len` is its size on the wire (line and data block).
pub fn execute(ctx: &mut Ctx, req: &Request, request_len: usize) {
    let out_start = ctx.out.len();
    let management = is_management(req);
    if !management && !within_rate(ctx) {
        ctx.put(b"SERVER_ERROR throttled: request rate over the usage limit\r\n");
        return;
    }
    let mut cost = Cost::Bytes;
    let mut elements = 0;
    match req {
        Request::Get { op, exptime, keys } => {
            cost = Cost::Elements;
            elements = get(ctx, *op, *exptime, *keys);
        }
        Request::Store {
            op,
            key,
            flags,
            exptime,
            cas,
            data,
            noreply,
        } => {
            let reply = store(ctx, *op, key, *flags, *exptime, *cas, data);
            if !noreply {
                ctx.put(reply);
            }
        }
        Request::Delete { key, noreply } => {
            let reply = delete(ctx, key);
            if !noreply {
                ctx.put(reply);
            }
        }
        Request::Arith {
            incr,
            key,
            delta,
            noreply,
        } => arith(ctx, *incr, key, *delta, *noreply),
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            let reply = touch(ctx, key, *exptime);
            if !noreply {
                ctx.put(reply);
            }
        }
        Request::FlushAll { delay, noreply } => {
            flush_all(ctx, *delay);
            if !noreply {
                ctx.put(b"OK\r\n");
            }
        }
        Request::Version => {
            ctx.put(b"VERSION ");
            ctx.put(MEMCACHED_COMPAT_VERSION.as_bytes());
            ctx.put(b"\r\n");
        }
        Request::Verbosity { noreply } => {
            if !noreply {
                ctx.put(b"OK\r\n");
            }
        }
        Request::Quit => ctx.session.close = true,
        Request::Slabs { reply } => ctx.put(reply),
        Request::Stats { args } => super::memcache_info::stats(ctx, *args),
        Request::ConfigGetCluster => super::memcache_info::config_get_cluster(ctx),
        Request::MetaNoop => ctx.put(b"MN\r\n"),
        Request::Meta(m) => super::memcache_meta::execute(ctx, m),
        Request::Reject { reply, unlink, .. } => {
            if reply.starts_with(b"SERVER_ERROR object too large") {
                ctx.count(Stat::StoreTooLarge, 1);
            }
            if let Some(key) = unlink {
                let mut held = ctx.node.ks().lock_key(DB, key);
                let (shard, h) = held.shard(DB, key);
                shard.delete(h, key, ctx.clock.now_ms);
            }
            ctx.put(reply);
        }
    }
    account(ctx, cost, request_len, out_start, elements, management);
}

/// Charges a request (`request_len` bytes in, the reply from `out_start` on out); a `management` request's
/// units are counted apart as unbilled. Shared by the text, meta and binary protocols.
pub fn account(
    ctx: &Ctx,
    cost: Cost,
    request_len: usize,
    out_start: usize,
    elements: u64,
    management: bool,
) {
    let units = charge(ctx, cost, request_len, ctx.out.len() - out_start, elements);
    if units > 0 && management {
        ctx.node
            .memcache()
            .unbilled_units
            .fetch_add(units, Ordering::Relaxed);
    } else {
        ctx.session.counters.billed.add(units);
    }
}

/// False when the request-unit rate limit (`usage-max-ecpu-per-second`) refuses a request after its bounded
/// wait; refused requests are not charged.
pub fn within_rate(ctx: &mut Ctx) -> bool {
    let limit = ctx.cfg.usage_max_ecpu_per_second;
    limit == 0
        || ctx
            .node
            .metering()
            .admit(limit, &mut ctx.session.throttle_waited_us)
}

/// Requests that manage or observe the node rather than use the cache.
fn is_management(req: &Request) -> bool {
    matches!(
        req,
        Request::Version
            | Request::Verbosity { .. }
            | Request::Quit
            | Request::Slabs { .. }
            | Request::Stats { .. }
            | Request::ConfigGetCluster
            | Request::MetaNoop
    )
}

/// Charges a request its units; returns them (0 with metering off).
fn charge(ctx: &Ctx, cost: Cost, request: usize, response: usize, elements: u64) -> u64 {
    if !ctx.cfg.metering {
        return 0;
    }
    let units = metering::request_units(cost, request as u64, response as u64, elements);
    ctx.session.counters.units.add(units);
    if ctx.cfg.usage_max_ecpu_per_second > 0 {
        ctx.node.metering().spend(units);
    }
    ctx.count(Stat::Units, units);
    units
}

/// get, gets, gat, gats: returns the number of keys asked for.
fn get(ctx: &mut Ctx, op: GetOp, exptime: i64, keys: Tokens<'_>) -> u64 {
    let touch = matches!(op, GetOp::Gat | GetOp::Gats);
    let with_cas = matches!(op, GetOp::Gets | GetOp::Gats);
    let clock = ctx.clock;
    let expire = expiry(exptime, clock.now_ms);
    let mut n = 0;
    for key in keys {
        n += 1;
        let mut held = ctx.node.ks().lock_key(DB, key);
        let (shard, h) = held.shard(DB, key);
        let Some(i) = shard.find(h, key, clock.now_ms) else {
            ctx.count_lookup(false);
            if touch {
                ctx.count(Stat::TouchMisses, 1);
            }
            continue;
        };
        ctx.count_lookup(true);
        if touch {
            ctx.count(Stat::TouchHits, 1);
            shard.update_at(i, |e| e.with_expire(expire));
        }
        let item = if with_cas {
            Some(shard.upgrade_to_item(i))
        } else {
            shard.at(i).item()
        };
        let e = shard.at_access_mut(i);
        e.set_clock(clock.on_access(e.clock()));
        if let Some(it) = item.filter(|it| it.bits & ITEM_FETCHED == 0) {
            e.set_item_bits(it.bits | ITEM_FETCHED);
        }
        let e = shard.at(i);
        let value = e.value();
        let out = &mut *ctx.out;
        out.reserve(value.len() + key.len() + 48);
        out.extend_from_slice(b"VALUE ");
        out.extend_from_slice(key);
        out.push(b' ');
        let mut num = itoa::Buffer::new();
        out.extend_from_slice(num.format(item.map_or(0, |it| it.flags)).as_bytes());
        out.push(b' ');
        out.extend_from_slice(num.format(value.len()).as_bytes());
        if let Some(it) = item.filter(|_| with_cas) {
            out.push(b' ');
            out.extend_from_slice(num.format(it.cas).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    ctx.put(b"END\r\n");
    ctx.count(Stat::CmdGet, n);
    if touch {
        ctx.count(Stat::CmdTouch, n);
    }
    n
}

/// set, add, replace, append, prepend, cas: returns the reply line.
fn store(
    ctx: &mut Ctx,
    op: StoreOp,
    key: &[u8],
    flags: u32,
    exptime: i64,
    cas: u64,
    data: &[u8],
) -> &'static [u8] {
    ctx.count(Stat::CmdSet, 1);
    if !room_for_write(ctx) {
        return b"SERVER_ERROR out of memory storing object\r\n";
    }
    let clock = ctx.clock;
    let expire = expiry(exptime, clock.now_ms);
    let max_item = ctx.cfg.max_item_size as usize;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let existing = shard.find(h, key, clock.now_ms);
    let reply: &'static [u8] = match (op, existing) {
        (StoreOp::Set, _) | (StoreOp::Add, None) | (StoreOp::Replace, Some(_)) => {
            put_value(shard, h, key, &[data], flags, expire, &clock);
            b"STORED\r\n"
        }
        (StoreOp::Add, Some(i)) => {
            // memcached bumps the existing item in the LRU when an add fails.
            let e = shard.at_access_mut(i);
            e.set_clock(clock.on_access(e.clock()));
            b"NOT_STORED\r\n"
        }
        (StoreOp::Replace | StoreOp::Append | StoreOp::Prepend, None) => b"NOT_STORED\r\n",
        (StoreOp::Append | StoreOp::Prepend, Some(i)) => {
            let e = shard.at(i);
            if key.len() + e.value().len() + data.len() > max_item {
                ctx.session.counters.memcache.add(Stat::StoreTooLarge, 1);
                return b"SERVER_ERROR object too large for cache\r\n";
            }
            let (old, item_flags, old_expire) = (
                e.value().to_vec(),
                e.item().map_or(0, |it| it.flags),
                e.expire(),
            );
            let parts: [&[u8]; 2] = if op == StoreOp::Append {
                [&old, data]
            } else {
                [data, &old]
            };
            put_value(shard, h, key, &parts, item_flags, old_expire, &clock);
            b"STORED\r\n"
        }
        (StoreOp::Cas, None) => {
            ctx.session.counters.memcache.add(Stat::CasMisses, 1);
            return b"NOT_FOUND\r\n";
        }
        (StoreOp::Cas, Some(i)) => {
            if shard.at(i).item().map(|it| it.cas) != Some(cas) {
                ctx.session.counters.memcache.add(Stat::CasBadval, 1);
                return b"EXISTS\r\n";
            }
            ctx.session.counters.memcache.add(Stat::CasHits, 1);
            put_value(shard, h, key, &[data], flags, expire, &clock);
            b"STORED\r\n"
        }
    };
    if reply == b"STORED\r\n" {
        ctx.session.counters.memcache.add(Stat::TotalItems, 1);
    }
    reply
}

fn delete(ctx: &mut Ctx, key: &[u8]) -> &'static [u8] {
    let now = ctx.clock.now_ms;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    if shard.delete(h, key, now).is_some() {
        ctx.count(Stat::DeleteHits, 1);
        b"DELETED\r\n"
    } else {
        ctx.count(Stat::DeleteMisses, 1);
        b"NOT_FOUND\r\n"
    }
}

fn arith(ctx: &mut Ctx, incr: bool, key: &[u8], delta: u64, noreply: bool) {
    let clock = ctx.clock;
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    let result = match shard.find(h, key, clock.now_ms) {
        Some(i) => arith_at(shard, h, i, incr, delta, &clock, None),
        None => Err(ArithError::NotFound),
    };
    drop(held);
    let (hits, misses) = if incr {
        (Stat::IncrHits, Stat::IncrMisses)
    } else {
        (Stat::DecrHits, Stat::DecrMisses)
    };
    ctx.count(
        if matches!(result, Err(ArithError::NotFound)) {
            misses
        } else {
            hits
        },
        1,
    );
    if noreply {
        return;
    }
    match result {
        Ok(n) => {
            ctx.put_num(n);
            ctx.put(b"\r\n");
        }
        Err(ArithError::NotFound) => ctx.put(b"NOT_FOUND\r\n"),
        Err(ArithError::NonNumeric) => {
            ctx.put(b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")
        }
    }
}

fn touch(ctx: &mut Ctx, key: &[u8], exptime: i64) -> &'static [u8] {
    ctx.count(Stat::CmdTouch, 1);
    let now = ctx.clock.now_ms;
    let expire = expiry(exptime, now);
    let mut held = ctx.node.ks().lock_key(DB, key);
    let (shard, h) = held.shard(DB, key);
    match shard.find(h, key, now) {
        Some(i) => {
            shard.update_at(i, |e| e.with_expire(expire));
            ctx.count(Stat::TouchHits, 1);
            b"TOUCHED\r\n"
        }
        None => {
            ctx.count(Stat::TouchMisses, 1);
            b"NOT_FOUND\r\n"
        }
    }
}

/// flush_all, now or after `delay` seconds (an absolute time past 30 days).
pub fn flush_all(ctx: &mut Ctx, delay: i64) {
    ctx.count(Stat::CmdFlush, 1);
    let state = &ctx.node.memcache();
    match expiry(delay, ctx.clock.now_ms) {
        Some(at) if delay > 0 && at > ctx.clock.now_ms => state.schedule_flush(at),
        _ => {
            state.schedule_flush(0);
            ctx.node.ks().flush_db(DB, true);
        }
    }
}
