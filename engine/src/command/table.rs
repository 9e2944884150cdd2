//! The command table: every command as data — name, arity, flags, key positions, handler, group — driving
//! dispatch, shard locking, transactions, `COMMAND` output and (later) ACL categories and metering.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{
    acl, connection, diagnostics, hash, keys, list, pubsub, replication, server, set, stream,
    stream_group, stream_info, string, transaction, zset, Call, CmdResult,
};
use crate::keyspace::{Keyspace, LockSet};

/// Modifies the dataset.
pub const WRITE: u32 = 1;
/// Only reads the dataset.
pub const READONLY: u32 = 1 << 1;
/// May grow memory: refused (or preceded by eviction) over `maxmemory`.
pub const DENY_OOM: u32 = 1 << 2;
/// O(1) or O(log n).
pub const FAST: u32 = 1 << 3;
/// Administrative.
pub const ADMIN: u32 = 1 << 4;
/// Allowed before authentication.
pub const NO_AUTH: u32 = 1 << 5;
/// Runs immediately inside MULTI instead of being queued.
pub const TX_CONTROL: u32 = 1 << 6;
/// Dangerous without being administrative (KEYS, FLUSHALL, …): in ACL category @dangerous.
pub const DANGEROUS: u32 = 1 << 7;
/// May block the client (ACL category @blocking).
pub const BLOCKING: u32 = 1 << 8;

/// Where a command's keys are.
#[derive(Clone, Copy)]
pub enum Keys {
    /// No keys.
    None,
    /// Arguments `first..=last` every `step` (negative `last` counts from the end).
    Range {
        /// First key index.
        first: usize,
        /// Last key index (negative: from the end).
        last: isize,
        /// Step between keys.
        step: usize,
    },
    /// Every shard of the selected database.
    AllShards,
    /// Every shard of every database.
    AllDbs,
    /// Computed from the arguments.
    Custom(fn(&[&[u8]], usize, &Keyspace, &mut LockSet)),
}

/// A command's handler.
pub type Handler = fn(&mut Call) -> CmdResult;

/// How a command is charged in request units (ECPU); see `metering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One unit per started KiB of request and response payload.
    Bytes,
    /// The larger of the bytes rule and one unit per started 100 elements the command touched.
    Elements,
    /// One unit: EXEC, whose queued commands are charged one by one.
    Transaction,
}

/// One command.
pub struct Spec {
    /// Lowercase name.
    pub name: &'static str,
    /// Redis arity: exact argument count (name included) when positive, minimum when negative.
    pub arity: i32,
    /// Flag bits.
    pub flags: u32,
    /// Key positions.
    pub keys: Keys,
    /// The handler.
    pub run: Handler,
    /// Command group (`string`, `generic`, `server`, `connection`, `transactions`).
    pub group: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// How the command is charged.
    pub cost: Cost,
}

impl Spec {
    /// True when the flag is set.
    #[inline]
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// True when `n` arguments (name included) satisfy the arity.
    #[inline]
    pub fn arity_ok(&self, n: usize) -> bool {
        if self.arity >= 0 {
            n == self.arity as usize
        } else {
            n >= (-self.arity) as usize
        }
    }

    /// Flag names as `COMMAND INFO` prints them.
    pub fn flag_names(&self) -> Vec<&'static str> {
        [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (DENY_OOM, "denyoom"),
            (ADMIN, "admin"),
            (NO_AUTH, "no_auth"),
            (FAST, "fast"),
            (BLOCKING, "blocking"),
        ]
        .iter()
        .filter(|(f, _)| self.has(*f))
        .map(|&(_, n)| n)
        .collect()
    }

    /// (first, last, step) as `COMMAND INFO` prints them.
    pub fn key_positions(&self) -> (i64, i64, i64) {
        match self.keys {
            Keys::Range { first, last, step } => (first as i64, last as i64, step as i64),
            Keys::Custom(_) => (1, 1, 1),
            _ => (0, 0, 0),
        }
    }

    /// The key arguments of a call (COMMAND GETKEYS).
    pub fn key_args<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        match self.keys {
            Keys::Range { first, last, step } => {
                let last = if last < 0 {
                    args.len() as isize + last
                } else {
                    last
                };
                (first..args.len())
                    .step_by(step)
                    .filter(|&i| i as isize <= last)
                    .map(|i| args[i])
                    .collect()
            }
            Keys::Custom(_) if self.name == "xread" || self.name == "xreadgroup" => {
                stream::read_keys(args)
            }
            // MOVE key db names one key; COPY source destination two.
            Keys::Custom(_) if self.name == "move" => {
                args.iter().skip(1).take(1).copied().collect()
            }
            Keys::Custom(_) => args.iter().skip(1).take(2).copied().collect(),
            _ => Vec::new(),
        }
    }

    /// ACL categories, from flags and group.
    pub fn categories(&self) -> Vec<&'static str> {
        let mut cats = Vec::new();
        if self.has(WRITE) {
            cats.push("@write");
        }
        if self.has(READONLY) {
            cats.push("@read");
        }
        if self.has(ADMIN) {
            cats.extend(["@admin", "@dangerous"]);
        } else if self.has(DANGEROUS) {
            cats.push("@dangerous");
        }
        if self.has(BLOCKING) {
            cats.push("@blocking");
        }
        match self.group {
            "string" => cats.push("@string"),
            "generic" => cats.push("@keyspace"),
            "connection" => cats.push("@connection"),
            "transactions" => cats.push("@transaction"),
            "hash" => cats.push("@hash"),
            "list" => cats.push("@list"),
            "set" => cats.push("@set"),
            "sorted_set" | "sorted-set" | "sortedset" | "zset" => cats.push("@sortedset"),
            "stream" => cats.push("@stream"),
            "pubsub" => cats.push("@pubsub"),
            _ => {}
        }
        cats.push(if self.has(FAST) { "@fast" } else { "@slow" });
        cats
    }
}

const fn key(first: usize) -> Keys {
    Keys::Range {
        first,
        last: first as isize,
        step: 1,
    }
}

const ALL_KEYS: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 1,
};

const TWO_KEYS: Keys = Keys::Range {
    first: 1,
    last: 2,
    step: 1,
};

/// Every argument but the last (the timeout of BLPOP, BZPOPMIN …).
const KEYS_THEN_TIMEOUT: Keys = Keys::Range {
    first: 1,
    last: -2,
    step: 1,
};

const NUMKEYS_1: Keys = Keys::Custom(list::numkeys_at_1);
const NUMKEYS_2: Keys = Keys::Custom(list::numkeys_at_2);
const STORE_NUMKEYS: Keys = Keys::Custom(list::store_numkeys);
const E: Cost = Cost::Elements;
/// The keys after XREAD / XREADGROUP's STREAMS.
const STREAM_KEYS: Keys = Keys::Custom(stream::read_lock_set);

const PAIRS: Keys = Keys::Range {
    first: 1,
    last: -1,
    step: 2,
};

macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $run:path, $group:literal, $summary:literal) => {
        cmd!(
            $name,
            $arity,
            $flags,
            $keys,
            $run,
            $group,
            $summary,
            Cost::Bytes
        )
    };
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $run:path, $group:literal, $summary:literal, $cost:expr) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            run: $run,
            group: $group,
            summary: $summary,
            cost: $cost,
        }
    };
}

/// Every command.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    // strings
    cmd!("get", 2, READONLY | FAST, key(1), string::get, "string", "Returns the string value of a key."),
    cmd!("set", -3, WRITE | DENY_OOM, key(1), string::set, "string", "Sets the string value of a key."),
    cmd!("setnx", 3, WRITE | DENY_OOM | FAST, key(1), string::setnx, "string", "Sets a key only if it does not exist."),
    cmd!("setex", 4, WRITE | DENY_OOM, key(1), string::setex, "string", "Sets a value and a TTL in seconds."),
    cmd!("psetex", 4, WRITE | DENY_OOM, key(1), string::setex, "string", "Sets a value and a TTL in milliseconds."),
    cmd!("getset", 3, WRITE | DENY_OOM | FAST, key(1), string::getset, "string", "Sets a value, returns the old one."),
    cmd!("getdel", 2, WRITE | FAST, key(1), string::getdel, "string", "Returns a value and deletes the key."),
    cmd!("getex", -2, WRITE | FAST, key(1), string::getex, "string", "Returns a value and changes its TTL."),
    cmd!("mget", -2, READONLY | FAST, ALL_KEYS, string::mget, "string", "Returns the values of several keys.", Cost::Elements),
    cmd!("mset", -3, WRITE | DENY_OOM, PAIRS, string::mset, "string", "Sets several keys.", Cost::Elements),
    cmd!("msetnx", -3, WRITE | DENY_OOM, PAIRS, string::msetnx, "string", "Sets several keys if none exists.", Cost::Elements),
    cmd!("incr", 2, WRITE | DENY_OOM | FAST, key(1), string::incr, "string", "Increments an integer by one."),
    cmd!("decr", 2, WRITE | DENY_OOM | FAST, key(1), string::incr, "string", "Decrements an integer by one."),
    cmd!("incrby", 3, WRITE | DENY_OOM | FAST, key(1), string::incr, "string", "Increments an integer."),
    cmd!("decrby", 3, WRITE | DENY_OOM | FAST, key(1), string::incr, "string", "Decrements an integer."),
    cmd!("incrbyfloat", 3, WRITE | DENY_OOM | FAST, key(1), string::incrbyfloat, "string", "Increments a float."),
    cmd!("append", 3, WRITE | DENY_OOM | FAST, key(1), string::append, "string", "Appends to a string."),
    cmd!("strlen", 2, READONLY | FAST, key(1), string::strlen, "string", "Returns the length of a string."),
    cmd!("getrange", 4, READONLY, key(1), string::getrange, "string", "Returns a substring."),
    cmd!("substr", 4, READONLY, key(1), string::getrange, "string", "Returns a substring."),
    cmd!("setrange", 4, WRITE | DENY_OOM, key(1), string::setrange, "string", "Overwrites part of a string."),
    // hashes
    cmd!("hset", -4, WRITE | DENY_OOM | FAST, key(1), hash::hset, "hash", "Sets fields of a hash.", E),
    cmd!("hmset", -4, WRITE | DENY_OOM | FAST, key(1), hash::hset, "hash", "Sets fields of a hash.", E),
    cmd!("hsetnx", 4, WRITE | DENY_OOM | FAST, key(1), hash::hsetnx, "hash", "Sets a field if it does not exist."),
    cmd!("hget", 3, READONLY | FAST, key(1), hash::hget, "hash", "Returns the value of a field."),
    cmd!("hmget", -3, READONLY | FAST, key(1), hash::hmget, "hash", "Returns the values of fields.", E),
    cmd!("hdel", -3, WRITE | FAST, key(1), hash::hdel, "hash", "Deletes fields.", E),
    cmd!("hexists", 3, READONLY | FAST, key(1), hash::hexists, "hash", "Tells whether a field exists."),
    cmd!("hlen", 2, READONLY | FAST, key(1), hash::hlen, "hash", "Returns the number of fields."),
    cmd!("hstrlen", 3, READONLY | FAST, key(1), hash::hstrlen, "hash", "Returns the length of a field's value."),
    cmd!("hgetall", 2, READONLY, key(1), hash::hgetall, "hash", "Returns every field and value.", E),
    cmd!("hkeys", 2, READONLY, key(1), hash::hgetall, "hash", "Returns every field.", E),
    cmd!("hvals", 2, READONLY, key(1), hash::hgetall, "hash", "Returns every value.", E),
    cmd!("hincrby", 4, WRITE | DENY_OOM | FAST, key(1), hash::hincrby, "hash", "Increments an integer field."),
    cmd!("hincrbyfloat", 4, WRITE | DENY_OOM | FAST, key(1), hash::hincrbyfloat, "hash", "Increments a float field."),
    cmd!("hrandfield", -2, READONLY, key(1), hash::hrandfield, "hash", "Returns random fields.", E),
    cmd!("hscan", -3, READONLY, key(1), hash::hscan, "hash", "Iterates over fields and values.", E),
    // lists
    cmd!("lpush", -3, WRITE | DENY_OOM | FAST, key(1), list::push, "list", "Prepends elements.", E),
    cmd!("rpush", -3, WRITE | DENY_OOM | FAST, key(1), list::push, "list", "Appends elements.", E),
    cmd!("lpushx", -3, WRITE | DENY_OOM | FAST, key(1), list::push, "list", "Prepends elements to an existing list.", E),
    cmd!("rpushx", -3, WRITE | DENY_OOM | FAST, key(1), list::push, "list", "Appends elements to an existing list.", E),
    cmd!("lpop", -2, WRITE | FAST, key(1), list::pop, "list", "Removes and returns the first elements.", E),
    cmd!("rpop", -2, WRITE | FAST, key(1), list::pop, "list", "Removes and returns the last elements.", E),
    cmd!("llen", 2, READONLY | FAST, key(1), list::llen, "list", "Returns the length of a list."),
    cmd!("lrange", 4, READONLY, key(1), list::lrange, "list", "Returns a range of elements.", E),
    cmd!("lindex", 3, READONLY, key(1), list::lindex, "list", "Returns the element at an index."),
    cmd!("lset", 4, WRITE | DENY_OOM, key(1), list::lset, "list", "Sets the element at an index."),
    cmd!("linsert", 5, WRITE | DENY_OOM, key(1), list::linsert, "list", "Inserts an element before or after another.", E),
    cmd!("lrem", 4, WRITE, key(1), list::lrem, "list", "Removes elements equal to a value.", E),
    cmd!("ltrim", 4, WRITE, key(1), list::ltrim, "list", "Keeps only a range of elements."),
    cmd!("lpos", -3, READONLY, key(1), list::lpos, "list", "Returns the indexes of matching elements.", E),
    cmd!("lmove", 5, WRITE | DENY_OOM, TWO_KEYS, list::lmove, "list", "Moves an element between lists."),
    cmd!("rpoplpush", 3, WRITE | DENY_OOM, TWO_KEYS, list::lmove, "list", "Moves the last element to another list's head."),
    cmd!("lmpop", -4, WRITE, NUMKEYS_1, list::lmpop, "list", "Pops elements from the first non-empty list.", E),
    cmd!("blpop", -3, WRITE | BLOCKING, KEYS_THEN_TIMEOUT, list::bpop, "list", "Pops the first element, blocking until one exists."),
    cmd!("brpop", -3, WRITE | BLOCKING, KEYS_THEN_TIMEOUT, list::bpop, "list", "Pops the last element, blocking until one exists."),
    cmd!("blmove", 6, WRITE | DENY_OOM | BLOCKING, TWO_KEYS, list::blmove, "list", "Moves an element, blocking until one exists."),
    cmd!("brpoplpush", 4, WRITE | DENY_OOM | BLOCKING, TWO_KEYS, list::blmove, "list", "RPOPLPUSH, blocking until an element exists."),
    cmd!("blmpop", -5, WRITE | BLOCKING, NUMKEYS_2, list::blmpop, "list", "LMPOP, blocking until an element exists.", E),
    // sets
    cmd!("sadd", -3, WRITE | DENY_OOM | FAST, key(1), set::sadd, "set", "Adds members.", E),
    cmd!("srem", -3, WRITE | FAST, key(1), set::srem, "set", "Removes members.", E),
    cmd!("smembers", 2, READONLY, key(1), set::smembers, "set", "Returns every member.", E),
    cmd!("sismember", 3, READONLY | FAST, key(1), set::sismember, "set", "Tells whether a value is a member."),
    cmd!("smismember", -3, READONLY | FAST, key(1), set::smismember, "set", "Tells which values are members.", E),
    cmd!("scard", 2, READONLY | FAST, key(1), set::scard, "set", "Returns the number of members."),
    cmd!("spop", -2, WRITE | FAST, key(1), set::spop, "set", "Removes and returns random members.", E),
    cmd!("srandmember", -2, READONLY, key(1), set::srandmember, "set", "Returns random members.", E),
    cmd!("sinter", -2, READONLY, ALL_KEYS, set::sinter, "set", "Returns the intersection of sets.", E),
    cmd!("sunion", -2, READONLY, ALL_KEYS, set::sinter, "set", "Returns the union of sets.", E),
    cmd!("sdiff", -2, READONLY, ALL_KEYS, set::sinter, "set", "Returns the difference of sets.", E),
    cmd!("sinterstore", -3, WRITE | DENY_OOM, ALL_KEYS, set::sinterstore, "set", "Stores the intersection of sets.", E),
    cmd!("sunionstore", -3, WRITE | DENY_OOM, ALL_KEYS, set::sinterstore, "set", "Stores the union of sets.", E),
    cmd!("sdiffstore", -3, WRITE | DENY_OOM, ALL_KEYS, set::sinterstore, "set", "Stores the difference of sets.", E),
    cmd!("sintercard", -3, READONLY, NUMKEYS_1, set::sintercard, "set", "Counts the intersection of sets.", E),
    cmd!("smove", 4, WRITE | FAST, TWO_KEYS, set::smove, "set", "Moves a member between sets."),
    cmd!("sscan", -3, READONLY, key(1), set::sscan, "set", "Iterates over members.", E),
    // sorted sets
    cmd!("zadd", -4, WRITE | DENY_OOM | FAST, key(1), zset::zadd, "sorted_set", "Adds members or updates scores.", E),
    cmd!("zincrby", 4, WRITE | DENY_OOM | FAST, key(1), zset::zincrby, "sorted_set", "Increments a member's score."),
    cmd!("zrem", -3, WRITE | FAST, key(1), zset::zrem, "sorted_set", "Removes members.", E),
    cmd!("zscore", 3, READONLY | FAST, key(1), zset::zscore, "sorted_set", "Returns a member's score."),
    cmd!("zmscore", -3, READONLY | FAST, key(1), zset::zmscore, "sorted_set", "Returns several members' scores.", E),
    cmd!("zcard", 2, READONLY | FAST, key(1), zset::zcard, "sorted_set", "Returns the number of members."),
    cmd!("zcount", 4, READONLY | FAST, key(1), zset::zcount, "sorted_set", "Counts members in a score range."),
    cmd!("zlexcount", 4, READONLY | FAST, key(1), zset::zlexcount, "sorted_set", "Counts members in a lex range."),
    cmd!("zrange", -4, READONLY, key(1), zset::zrange, "sorted_set", "Returns members by rank, score or lex range.", E),
    cmd!("zrangebyscore", -4, READONLY, key(1), zset::zrange_legacy, "sorted_set", "Returns members in a score range.", E),
    cmd!("zrevrangebyscore", -4, READONLY, key(1), zset::zrange_legacy, "sorted_set", "Returns members in a score range, high first.", E),
    cmd!("zrangebylex", -4, READONLY, key(1), zset::zrange_legacy, "sorted_set", "Returns members in a lex range.", E),
    cmd!("zrevrangebylex", -4, READONLY, key(1), zset::zrange_legacy, "sorted_set", "Returns members in a lex range, high first.", E),
    cmd!("zrevrange", -4, READONLY, key(1), zset::zrange_legacy, "sorted_set", "Returns members by rank, high first.", E),
    cmd!("zrangestore", -5, WRITE | DENY_OOM, TWO_KEYS, zset::zrangestore, "sorted_set", "Stores a range of members.", E),
    cmd!("zrank", -3, READONLY | FAST, key(1), zset::zrank, "sorted_set", "Returns a member's rank."),
    cmd!("zrevrank", -3, READONLY | FAST, key(1), zset::zrank, "sorted_set", "Returns a member's rank, high first."),
    cmd!("zpopmin", -2, WRITE | FAST, key(1), zset::zpop, "sorted_set", "Removes and returns the lowest members.", E),
    cmd!("zpopmax", -2, WRITE | FAST, key(1), zset::zpop, "sorted_set", "Removes and returns the highest members.", E),
    cmd!("bzpopmin", -3, WRITE | FAST | BLOCKING, KEYS_THEN_TIMEOUT, zset::bzpop, "sorted_set", "ZPOPMIN, blocking until a member exists."),
    cmd!("bzpopmax", -3, WRITE | FAST | BLOCKING, KEYS_THEN_TIMEOUT, zset::bzpop, "sorted_set", "ZPOPMAX, blocking until a member exists."),
    cmd!("zmpop", -4, WRITE, NUMKEYS_1, zset::zmpop, "sorted_set", "Pops members from the first non-empty sorted set.", E),
    cmd!("bzmpop", -5, WRITE | BLOCKING, NUMKEYS_2, zset::bzmpop, "sorted_set", "ZMPOP, blocking until a member exists.", E),
    cmd!("zremrangebyrank", 4, WRITE, key(1), zset::zremrange, "sorted_set", "Removes members in a rank range.", E),
    cmd!("zremrangebyscore", 4, WRITE, key(1), zset::zremrange, "sorted_set", "Removes members in a score range.", E),
    cmd!("zremrangebylex", 4, WRITE, key(1), zset::zremrange, "sorted_set", "Removes members in a lex range.", E),
    cmd!("zunion", -3, READONLY, NUMKEYS_1, zset::zunion, "sorted_set", "Returns the union of sorted sets.", E),
    cmd!("zinter", -3, READONLY, NUMKEYS_1, zset::zunion, "sorted_set", "Returns the intersection of sorted sets.", E),
    cmd!("zdiff", -3, READONLY, NUMKEYS_1, zset::zunion, "sorted_set", "Returns the difference of sorted sets.", E),
    cmd!("zunionstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, zset::zunionstore, "sorted_set", "Stores the union of sorted sets.", E),
    cmd!("zinterstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, zset::zunionstore, "sorted_set", "Stores the intersection of sorted sets.", E),
    cmd!("zdiffstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, zset::zunionstore, "sorted_set", "Stores the difference of sorted sets.", E),
    cmd!("zintercard", -3, READONLY, NUMKEYS_1, zset::zintercard, "sorted_set", "Counts the intersection of sorted sets.", E),
    cmd!("zrandmember", -2, READONLY, key(1), zset::zrandmember, "sorted_set", "Returns random members.", E),
    cmd!("zscan", -3, READONLY, key(1), zset::zscan, "sorted_set", "Iterates over members and scores.", E),
    // streams
    cmd!("xadd", -5, WRITE | DENY_OOM | FAST, key(1), stream::xadd, "stream", "Appends an entry to a stream."),
    cmd!("xlen", 2, READONLY | FAST, key(1), stream::xlen, "stream", "Returns the number of entries of a stream."),
    cmd!("xrange", -4, READONLY, key(1), stream::xrange, "stream", "Returns entries in an id range.", E),
    cmd!("xrevrange", -4, READONLY, key(1), stream::xrange, "stream", "Returns entries in an id range, newest first.", E),
    cmd!("xdel", -3, WRITE | FAST, key(1), stream::xdel, "stream", "Deletes entries.", E),
    cmd!("xtrim", -4, WRITE, key(1), stream::xtrim, "stream", "Trims a stream to a length or a minimum id.", E),
    cmd!("xsetid", -3, WRITE | DENY_OOM | FAST, key(1), stream::xsetid, "stream", "Sets a stream's last id and counters."),
    cmd!("xread", -4, READONLY | BLOCKING, STREAM_KEYS, stream::xread, "stream", "Returns entries after ids, blocking until some exist.", E),
    cmd!("xgroup", -2, WRITE, key(2), stream_group::xgroup, "stream", "Manages consumer groups and their consumers."),
    cmd!("xreadgroup", -7, WRITE | BLOCKING, STREAM_KEYS, stream_group::xreadgroup, "stream", "Reads entries as a consumer of a group.", E),
    cmd!("xack", -4, WRITE | FAST, key(1), stream_group::xack, "stream", "Acknowledges pending entries.", E),
    cmd!("xpending", -3, READONLY, key(1), stream_group::xpending, "stream", "Inspects a group's pending entries.", E),
    cmd!("xclaim", -6, WRITE | FAST, key(1), stream_group::xclaim, "stream", "Transfers pending entries to another consumer.", E),
    cmd!("xautoclaim", -6, WRITE | FAST, key(1), stream_group::xautoclaim, "stream", "Transfers idle pending entries to another consumer.", E),
    cmd!("xinfo", -2, READONLY, key(2), stream_info::xinfo, "stream", "Describes a stream, its groups or consumers.", E),
    // keys
    cmd!("del", -2, WRITE, ALL_KEYS, keys::del, "generic", "Deletes keys.", Cost::Elements),
    cmd!("unlink", -2, WRITE | FAST, ALL_KEYS, keys::del, "generic", "Deletes keys, freeing memory lazily.", Cost::Elements),
    cmd!("exists", -2, READONLY | FAST, ALL_KEYS, keys::exists, "generic", "Counts existing keys.", Cost::Elements),
    cmd!("touch", -2, READONLY | FAST, ALL_KEYS, keys::touch, "generic", "Records an access to keys.", Cost::Elements),
    cmd!("expire", -3, WRITE | FAST, key(1), keys::expire, "generic", "Sets a TTL in seconds."),
    cmd!("pexpire", -3, WRITE | FAST, key(1), keys::expire, "generic", "Sets a TTL in milliseconds."),
    cmd!("expireat", -3, WRITE | FAST, key(1), keys::expire, "generic", "Sets an expiry unix time in seconds."),
    cmd!("pexpireat", -3, WRITE | FAST, key(1), keys::expire, "generic", "Sets an expiry unix time in ms."),
    cmd!("ttl", 2, READONLY | FAST, key(1), keys::ttl, "generic", "Returns the TTL in seconds."),
    cmd!("pttl", 2, READONLY | FAST, key(1), keys::ttl, "generic", "Returns the TTL in milliseconds."),
    cmd!("expiretime", 2, READONLY | FAST, key(1), keys::ttl, "generic", "Returns the expiry unix time in seconds."),
    cmd!("pexpiretime", 2, READONLY | FAST, key(1), keys::ttl, "generic", "Returns the expiry unix time in ms."),
    cmd!("persist", 2, WRITE | FAST, key(1), keys::persist, "generic", "Removes a TTL."),
    cmd!("type", 2, READONLY | FAST, key(1), keys::type_, "generic", "Returns the type of a value."),
    cmd!("rename", 3, WRITE, Keys::Range {
            first: 1, last: 2, step: 1
        }, keys::rename, "generic", "Renames a key."),
    cmd!("renamenx", 3, WRITE | FAST, Keys::Range {
            first: 1, last: 2, step: 1
        }, keys::rename, "generic", "Renames a key if the new name is free."),
    cmd!("keys", 2, READONLY | DANGEROUS, Keys::AllShards, keys::keys, "generic", "Returns keys matching a pattern.", Cost::Elements),
    cmd!("scan", -2, READONLY, Keys::AllShards, keys::scan, "generic", "Iterates over keys.", Cost::Elements),
    cmd!("randomkey", 1, READONLY, Keys::AllShards, keys::randomkey, "generic", "Returns a random key."),
    cmd!("copy", -3, WRITE | DENY_OOM, Keys::Custom(keys::copy_keys), keys::copy, "generic", "Copies a key."),
    cmd!("move", 3, WRITE | FAST, Keys::Custom(keys::move_keys), keys::move_, "generic", "Moves a key to another database."),
    cmd!("object", -2, READONLY, key(2), keys::object, "generic", "Inspects how a key is stored."),
    // connection
    cmd!("ping", -1, FAST, Keys::None, connection::ping, "connection", "Returns PONG."),
    // pub/sub
    cmd!("subscribe", -2, 0, Keys::None, pubsub::subscribe, "pubsub", "Listens for messages published to channels."),
    cmd!("psubscribe", -2, 0, Keys::None, pubsub::subscribe, "pubsub", "Listens for messages published to channels matching patterns."),
    cmd!("ssubscribe", -2, 0, Keys::None, pubsub::subscribe, "pubsub", "Listens for messages published to shard channels."),
    cmd!("unsubscribe", -1, 0, Keys::None, pubsub::unsubscribe, "pubsub", "Stops listening to channels."),
    cmd!("punsubscribe", -1, 0, Keys::None, pubsub::unsubscribe, "pubsub", "Stops listening to channel patterns."),
    cmd!("sunsubscribe", -1, 0, Keys::None, pubsub::unsubscribe, "pubsub", "Stops listening to shard channels."),
    cmd!("publish", 3, FAST, Keys::None, pubsub::publish, "pubsub", "Posts a message to a channel."),
    cmd!("spublish", 3, FAST, Keys::None, pubsub::publish, "pubsub", "Posts a message to a shard channel."),
    cmd!("pubsub", -2, 0, Keys::None, pubsub::pubsub, "pubsub", "Inspects the pub/sub state."),
    cmd!("echo", 2, FAST, Keys::None, connection::echo, "connection", "Returns the given string."),
    cmd!("hello", -1, NO_AUTH | FAST, Keys::None, connection::hello, "connection", "Handshakes with the server."),
    cmd!("auth", -2, NO_AUTH | FAST, Keys::None, connection::auth, "connection", "Authenticates the connection."),
    cmd!("select", 2, FAST, Keys::None, connection::select, "connection", "Selects a database."),
    cmd!("quit", -1, NO_AUTH | FAST | TX_CONTROL, Keys::None, connection::quit, "connection", "Closes the connection."),
    cmd!("reset", 1, NO_AUTH | FAST | TX_CONTROL, Keys::None, connection::reset, "connection", "Resets the connection."),
    cmd!("client", -2, DANGEROUS, Keys::None, connection::client, "connection", "Inspects and manages connections."),
    // server
    cmd!("info", -1, DANGEROUS, Keys::AllDbs, server::info, "server", "Returns information about the server."),
    cmd!("dbsize", 1, READONLY | FAST, Keys::AllShards, server::dbsize, "server", "Returns the number of keys."),
    cmd!("flushdb", -1, WRITE | DANGEROUS, Keys::AllShards, server::flushdb, "server", "Deletes every key of the database."),
    cmd!("flushall", -1, WRITE | DANGEROUS, Keys::AllDbs, server::flushall, "server", "Deletes every key."),
    cmd!("swapdb", 3, WRITE | FAST | DANGEROUS, Keys::AllDbs, server::swapdb, "server", "Swaps two databases."),
    cmd!("config", -2, ADMIN, Keys::None, server::config, "server", "Reads and changes configuration."),
    cmd!("command", -1, 0, Keys::None, server::command, "server", "Describes commands."),
    cmd!("time", 1, FAST, Keys::None, server::time, "server", "Returns the server time."),
    cmd!("lastsave", 1, FAST | DANGEROUS, Keys::None, server::lastsave, "server", "Returns the time of the last save."),
    cmd!("acl", -2, ADMIN, Keys::None, acl::acl, "server", "Manages ACL users."),
    cmd!("monitor", 1, ADMIN, Keys::None, diagnostics::monitor, "server", "Streams every command the node runs."),
    cmd!("slowlog", -2, ADMIN, Keys::None, diagnostics::slowlog, "server", "Reads or resets the slow log."),
    cmd!("latency", -2, ADMIN, Keys::None, diagnostics::latency, "server", "Reads or resets latency spikes."),
    cmd!("save", 1, ADMIN, Keys::None, server::save, "server", "Writes the snapshot file."),
    cmd!("bgsave", -1, ADMIN, Keys::None, server::bgsave, "server", "Writes the snapshot file in the background."),
    cmd!("shutdown", -1, ADMIN, Keys::None, server::shutdown, "server", "Stops the server."),
    // replication
    cmd!("replicaof", 3, ADMIN, Keys::None, replication::replicaof, "server", "Follows a primary, or becomes one."),
    cmd!("slaveof", 3, ADMIN, Keys::None, replication::replicaof, "server", "Follows a primary, or becomes one."),
    cmd!("role", 1, FAST | DANGEROUS, Keys::None, replication::role, "server", "Returns the replication role."),
    cmd!("replconf", -1, ADMIN, Keys::None, replication::replconf, "server", "Replica handshake options."),
    cmd!("psync", -3, ADMIN, Keys::None, replication::psync, "server", "Starts replication from an offset."),
    cmd!("sync", 1, ADMIN, Keys::None, replication::psync, "server", "Starts replication with a full sync."),
    cmd!("wait", 3, 0, Keys::None, replication::wait, "generic", "Waits for replicas to acknowledge writes."),
    cmd!("failover", -1, ADMIN, Keys::None, replication::failover, "server", "Hands the primary role to a replica."),
    // transactions
    cmd!("multi", 1, FAST | TX_CONTROL, Keys::None, transaction::multi, "transactions", "Starts a transaction."),
    cmd!("exec", 1, TX_CONTROL, Keys::None, transaction::exec, "transactions", "Executes a transaction.", Cost::Transaction),
    cmd!("discard", 1, FAST | TX_CONTROL, Keys::None, transaction::discard, "transactions", "Discards a transaction."),
    cmd!("watch", -2, FAST | TX_CONTROL, ALL_KEYS, transaction::watch, "transactions", "Watches keys for changes."),
    cmd!("unwatch", 1, FAST | TX_CONTROL, Keys::None, transaction::unwatch, "transactions", "Forgets watched keys."),
];

static INDEX: LazyLock<HashMap<&'static [u8], usize>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_bytes(), i))
        .collect()
});

/// Finds a command by name, ignoring case.
#[inline]
pub fn lookup(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 32];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    INDEX.get(&buf[..name.len()]).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_lowercase_and_found_in_any_case() {
        for (i, s) in COMMANDS.iter().enumerate() {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert_eq!(
                lookup(s.name.to_ascii_uppercase().as_bytes()),
                Some(i),
                "{}",
                s.name
            );
        }
        assert_eq!(INDEX.len(), COMMANDS.len());
        assert_eq!(lookup(b"nosuchcommand"), None);
    }

    #[test]
    fn write_and_readonly_are_exclusive() {
        for s in COMMANDS {
            assert!(!(s.has(WRITE) && s.has(READONLY)), "{}", s.name);
        }
    }
}
