//! The rows of the catalogue, one per command and subcommand, grouped by family. Adding a command is one row
//! here, one handler registered in `command/table.rs`, and a test.

use super::{
    Cost, KeySpec, Scope, Spec, ADMIN, BLOCKING, CONNECTION_CONTROL, DANGEROUS, DENY_OOM, FAST,
    NO_AUTH, READONLY, TX_CONTROL, WHOLE_DB, WRITE,
};

/// A row's keys and what it locks beyond them.
type Keys = (&'static [KeySpec], Scope);

const NO_KEYS: Keys = (&[], Scope::Keys);
const KEY1: Keys = (&[KeySpec::at(1)], Scope::Keys);
const KEY2: Keys = (&[KeySpec::at(2)], Scope::Keys);
const TWO_KEYS: Keys = (&[KeySpec::range(1, 1, 1)], Scope::Keys);
const ALL_KEYS: Keys = (&[KeySpec::range(1, -1, 1)], Scope::Keys);
/// Every argument but the last (the timeout of BLPOP, BZPOPMIN …).
const KEYS_THEN_TIMEOUT: Keys = (&[KeySpec::range(1, -2, 1)], Scope::Keys);
/// `key value [key value …]`.
const PAIRS: Keys = (&[KeySpec::range(1, -1, 2)], Scope::Keys);
/// `numkeys key [key …]` (LMPOP, ZUNION, SINTERCARD …).
const NUMKEYS_1: Keys = (&[KeySpec::numkeys(1)], Scope::Keys);
/// `timeout numkeys key [key …]` (BLMPOP, BZMPOP).
const NUMKEYS_2: Keys = (&[KeySpec::numkeys(2)], Scope::Keys);
/// `destination numkeys key [key …]` (ZUNIONSTORE …).
const STORE_NUMKEYS: Keys = (&[KeySpec::at(1), KeySpec::numkeys(2)], Scope::Keys);
/// The first half of what follows `STREAMS` (XREAD, XREADGROUP).
const STREAM_KEYS: Keys = (
    &[KeySpec {
        begin: super::Begin::Keyword {
            word: "STREAMS",
            from: 1,
        },
        find: super::Find::Range {
            last: -1,
            step: 1,
            limit: 2,
        },
    }],
    Scope::Keys,
);
/// Every shard of the selected database.
const DB: Keys = (&[], Scope::Db);
/// Every shard of every database.
const ALL_DBS: Keys = (&[], Scope::AllDbs);
const E: Cost = Cost::Elements;

macro_rules! row {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:literal, $summary:literal) => {
        row!($name, $arity, $flags, $keys, $group, $summary, Cost::Bytes)
    };
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $group:literal, $summary:literal, $cost:expr) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys.0,
            scope: $keys.1,
            group: $group,
            summary: $summary,
            cost: $cost,
        }
    };
}

/// Every command and subcommand.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    // strings
    row!("get", 2, READONLY | FAST, KEY1, "string", "Returns the string value of a key."),
    row!("set", -3, WRITE | DENY_OOM, KEY1, "string", "Sets the string value of a key."),
    row!("setnx", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Sets a key only if it does not exist."),
    row!("setex", 4, WRITE | DENY_OOM, KEY1, "string", "Sets a value and a TTL in seconds."),
    row!("psetex", 4, WRITE | DENY_OOM, KEY1, "string", "Sets a value and a TTL in milliseconds."),
    row!("getset", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Sets a value, returns the old one."),
    row!("getdel", 2, WRITE | FAST, KEY1, "string", "Returns a value and deletes the key."),
    row!("getex", -2, WRITE | FAST, KEY1, "string", "Returns a value and changes its TTL."),
    row!("mget", -2, READONLY | FAST, ALL_KEYS, "string", "Returns the values of several keys.", Cost::Elements),
    row!("mset", -3, WRITE | DENY_OOM, PAIRS, "string", "Sets several keys.", Cost::Elements),
    row!("msetnx", -3, WRITE | DENY_OOM, PAIRS, "string", "Sets several keys if none exists.", Cost::Elements),
    row!("incr", 2, WRITE | DENY_OOM | FAST, KEY1, "string", "Increments an integer by one."),
    row!("decr", 2, WRITE | DENY_OOM | FAST, KEY1, "string", "Decrements an integer by one."),
    row!("incrby", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Increments an integer."),
    row!("decrby", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Decrements an integer."),
    row!("incrbyfloat", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Increments a float."),
    row!("append", 3, WRITE | DENY_OOM | FAST, KEY1, "string", "Appends to a string."),
    row!("strlen", 2, READONLY | FAST, KEY1, "string", "Returns the length of a string."),
    row!("getrange", 4, READONLY, KEY1, "string", "Returns a substring."),
    row!("substr", 4, READONLY, KEY1, "string", "Returns a substring."),
    row!("setrange", 4, WRITE | DENY_OOM, KEY1, "string", "Overwrites part of a string."),
    // hashes
    row!("hset", -4, WRITE | DENY_OOM | FAST, KEY1, "hash", "Sets fields of a hash.", E),
    row!("hmset", -4, WRITE | DENY_OOM | FAST, KEY1, "hash", "Sets fields of a hash.", E),
    row!("hsetnx", 4, WRITE | DENY_OOM | FAST, KEY1, "hash", "Sets a field if it does not exist."),
    row!("hget", 3, READONLY | FAST, KEY1, "hash", "Returns the value of a field."),
    row!("hmget", -3, READONLY | FAST, KEY1, "hash", "Returns the values of fields.", E),
    row!("hdel", -3, WRITE | FAST, KEY1, "hash", "Deletes fields.", E),
    row!("hexists", 3, READONLY | FAST, KEY1, "hash", "Tells whether a field exists."),
    row!("hlen", 2, READONLY | FAST, KEY1, "hash", "Returns the number of fields."),
    row!("hstrlen", 3, READONLY | FAST, KEY1, "hash", "Returns the length of a field's value."),
    row!("hgetall", 2, READONLY, KEY1, "hash", "Returns every field and value.", E),
    row!("hkeys", 2, READONLY, KEY1, "hash", "Returns every field.", E),
    row!("hvals", 2, READONLY, KEY1, "hash", "Returns every value.", E),
    row!("hincrby", 4, WRITE | DENY_OOM | FAST, KEY1, "hash", "Increments an integer field."),
    row!("hincrbyfloat", 4, WRITE | DENY_OOM | FAST, KEY1, "hash", "Increments a float field."),
    row!("hrandfield", -2, READONLY, KEY1, "hash", "Returns random fields.", E),
    row!("hscan", -3, READONLY, KEY1, "hash", "Iterates over fields and values.", E),
    // lists
    row!("lpush", -3, WRITE | DENY_OOM | FAST, KEY1, "list", "Prepends elements.", E),
    row!("rpush", -3, WRITE | DENY_OOM | FAST, KEY1, "list", "Appends elements.", E),
    row!("lpushx", -3, WRITE | DENY_OOM | FAST, KEY1, "list", "Prepends elements to an existing list.", E),
    row!("rpushx", -3, WRITE | DENY_OOM | FAST, KEY1, "list", "Appends elements to an existing list.", E),
    row!("lpop", -2, WRITE | FAST, KEY1, "list", "Removes and returns the first elements.", E),
    row!("rpop", -2, WRITE | FAST, KEY1, "list", "Removes and returns the last elements.", E),
    row!("llen", 2, READONLY | FAST, KEY1, "list", "Returns the length of a list."),
    row!("lrange", 4, READONLY, KEY1, "list", "Returns a range of elements.", E),
    row!("lindex", 3, READONLY, KEY1, "list", "Returns the element at an index."),
    row!("lset", 4, WRITE | DENY_OOM, KEY1, "list", "Sets the element at an index."),
    row!("linsert", 5, WRITE | DENY_OOM, KEY1, "list", "Inserts an element before or after another.", E),
    row!("lrem", 4, WRITE, KEY1, "list", "Removes elements equal to a value.", E),
    row!("ltrim", 4, WRITE, KEY1, "list", "Keeps only a range of elements."),
    row!("lpos", -3, READONLY, KEY1, "list", "Returns the indexes of matching elements.", E),
    row!("lmove", 5, WRITE | DENY_OOM, TWO_KEYS, "list", "Moves an element between lists."),
    row!("rpoplpush", 3, WRITE | DENY_OOM, TWO_KEYS, "list", "Moves the last element to another list's head."),
    row!("lmpop", -4, WRITE, NUMKEYS_1, "list", "Pops elements from the first non-empty list.", E),
    row!("blpop", -3, WRITE | BLOCKING, KEYS_THEN_TIMEOUT, "list", "Pops the first element, blocking until one exists."),
    row!("brpop", -3, WRITE | BLOCKING, KEYS_THEN_TIMEOUT, "list", "Pops the last element, blocking until one exists."),
    row!("blmove", 6, WRITE | DENY_OOM | BLOCKING, TWO_KEYS, "list", "Moves an element, blocking until one exists."),
    row!("brpoplpush", 4, WRITE | DENY_OOM | BLOCKING, TWO_KEYS, "list", "RPOPLPUSH, blocking until an element exists."),
    row!("blmpop", -5, WRITE | BLOCKING, NUMKEYS_2, "list", "LMPOP, blocking until an element exists.", E),
    // sets
    row!("sadd", -3, WRITE | DENY_OOM | FAST, KEY1, "set", "Adds members.", E),
    row!("srem", -3, WRITE | FAST, KEY1, "set", "Removes members.", E),
    row!("smembers", 2, READONLY, KEY1, "set", "Returns every member.", E),
    row!("sismember", 3, READONLY | FAST, KEY1, "set", "Tells whether a value is a member."),
    row!("smismember", -3, READONLY | FAST, KEY1, "set", "Tells which values are members.", E),
    row!("scard", 2, READONLY | FAST, KEY1, "set", "Returns the number of members."),
    row!("spop", -2, WRITE | FAST, KEY1, "set", "Removes and returns random members.", E),
    row!("srandmember", -2, READONLY, KEY1, "set", "Returns random members.", E),
    row!("sinter", -2, READONLY, ALL_KEYS, "set", "Returns the intersection of sets.", E),
    row!("sunion", -2, READONLY, ALL_KEYS, "set", "Returns the union of sets.", E),
    row!("sdiff", -2, READONLY, ALL_KEYS, "set", "Returns the difference of sets.", E),
    row!("sinterstore", -3, WRITE | DENY_OOM, ALL_KEYS, "set", "Stores the intersection of sets.", E),
    row!("sunionstore", -3, WRITE | DENY_OOM, ALL_KEYS, "set", "Stores the union of sets.", E),
    row!("sdiffstore", -3, WRITE | DENY_OOM, ALL_KEYS, "set", "Stores the difference of sets.", E),
    row!("sintercard", -3, READONLY, NUMKEYS_1, "set", "Counts the intersection of sets.", E),
    row!("smove", 4, WRITE | FAST, TWO_KEYS, "set", "Moves a member between sets."),
    row!("sscan", -3, READONLY, KEY1, "set", "Iterates over members.", E),
    // sorted sets
    row!("zadd", -4, WRITE | DENY_OOM | FAST, KEY1, "sorted_set", "Adds members or updates scores.", E),
    row!("zincrby", 4, WRITE | DENY_OOM | FAST, KEY1, "sorted_set", "Increments a member's score."),
    row!("zrem", -3, WRITE | FAST, KEY1, "sorted_set", "Removes members.", E),
    row!("zscore", 3, READONLY | FAST, KEY1, "sorted_set", "Returns a member's score."),
    row!("zmscore", -3, READONLY | FAST, KEY1, "sorted_set", "Returns several members' scores.", E),
    row!("zcard", 2, READONLY | FAST, KEY1, "sorted_set", "Returns the number of members."),
    row!("zcount", 4, READONLY | FAST, KEY1, "sorted_set", "Counts members in a score range."),
    row!("zlexcount", 4, READONLY | FAST, KEY1, "sorted_set", "Counts members in a lex range."),
    row!("zrange", -4, READONLY, KEY1, "sorted_set", "Returns members by rank, score or lex range.", E),
    row!("zrangebyscore", -4, READONLY, KEY1, "sorted_set", "Returns members in a score range.", E),
    row!("zrevrangebyscore", -4, READONLY, KEY1, "sorted_set", "Returns members in a score range, high first.", E),
    row!("zrangebylex", -4, READONLY, KEY1, "sorted_set", "Returns members in a lex range.", E),
    row!("zrevrangebylex", -4, READONLY, KEY1, "sorted_set", "Returns members in a lex range, high first.", E),
    row!("zrevrange", -4, READONLY, KEY1, "sorted_set", "Returns members by rank, high first.", E),
    row!("zrangestore", -5, WRITE | DENY_OOM, TWO_KEYS, "sorted_set", "Stores a range of members.", E),
    row!("zrank", -3, READONLY | FAST, KEY1, "sorted_set", "Returns a member's rank."),
    row!("zrevrank", -3, READONLY | FAST, KEY1, "sorted_set", "Returns a member's rank, high first."),
    row!("zpopmin", -2, WRITE | FAST, KEY1, "sorted_set", "Removes and returns the lowest members.", E),
    row!("zpopmax", -2, WRITE | FAST, KEY1, "sorted_set", "Removes and returns the highest members.", E),
    row!("bzpopmin", -3, WRITE | FAST | BLOCKING, KEYS_THEN_TIMEOUT, "sorted_set", "ZPOPMIN, blocking until a member exists."),
    row!("bzpopmax", -3, WRITE | FAST | BLOCKING, KEYS_THEN_TIMEOUT, "sorted_set", "ZPOPMAX, blocking until a member exists."),
    row!("zmpop", -4, WRITE, NUMKEYS_1, "sorted_set", "Pops members from the first non-empty sorted set.", E),
    row!("bzmpop", -5, WRITE | BLOCKING, NUMKEYS_2, "sorted_set", "ZMPOP, blocking until a member exists.", E),
    row!("zremrangebyrank", 4, WRITE, KEY1, "sorted_set", "Removes members in a rank range.", E),
    row!("zremrangebyscore", 4, WRITE, KEY1, "sorted_set", "Removes members in a score range.", E),
    row!("zremrangebylex", 4, WRITE, KEY1, "sorted_set", "Removes members in a lex range.", E),
    row!("zunion", -3, READONLY, NUMKEYS_1, "sorted_set", "Returns the union of sorted sets.", E),
    row!("zinter", -3, READONLY, NUMKEYS_1, "sorted_set", "Returns the intersection of sorted sets.", E),
    row!("zdiff", -3, READONLY, NUMKEYS_1, "sorted_set", "Returns the difference of sorted sets.", E),
    row!("zunionstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, "sorted_set", "Stores the union of sorted sets.", E),
    row!("zinterstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, "sorted_set", "Stores the intersection of sorted sets.", E),
    row!("zdiffstore", -4, WRITE | DENY_OOM, STORE_NUMKEYS, "sorted_set", "Stores the difference of sorted sets.", E),
    row!("zintercard", -3, READONLY, NUMKEYS_1, "sorted_set", "Counts the intersection of sorted sets.", E),
    row!("zrandmember", -2, READONLY, KEY1, "sorted_set", "Returns random members.", E),
    row!("zscan", -3, READONLY, KEY1, "sorted_set", "Iterates over members and scores.", E),
    // streams
    row!("xadd", -5, WRITE | DENY_OOM | FAST, KEY1, "stream", "Appends an entry to a stream."),
    row!("xlen", 2, READONLY | FAST, KEY1, "stream", "Returns the number of entries of a stream."),
    row!("xrange", -4, READONLY, KEY1, "stream", "Returns entries in an id range.", E),
    row!("xrevrange", -4, READONLY, KEY1, "stream", "Returns entries in an id range, newest first.", E),
    row!("xdel", -3, WRITE | FAST, KEY1, "stream", "Deletes entries.", E),
    row!("xtrim", -4, WRITE, KEY1, "stream", "Trims a stream to a length or a minimum id.", E),
    row!("xsetid", -3, WRITE | DENY_OOM | FAST, KEY1, "stream", "Sets a stream's last id and counters."),
    row!("xread", -4, READONLY | BLOCKING, STREAM_KEYS, "stream", "Returns entries after ids, blocking until some exist.", E),
    row!("xgroup", -2, WRITE, KEY2, "stream", "Manages consumer groups and their consumers."),
    row!("xreadgroup", -7, WRITE | BLOCKING, STREAM_KEYS, "stream", "Reads entries as a consumer of a group.", E),
    row!("xack", -4, WRITE | FAST, KEY1, "stream", "Acknowledges pending entries.", E),
    row!("xpending", -3, READONLY, KEY1, "stream", "Inspects a group's pending entries.", E),
    row!("xclaim", -6, WRITE | FAST, KEY1, "stream", "Transfers pending entries to another consumer.", E),
    row!("xautoclaim", -6, WRITE | FAST, KEY1, "stream", "Transfers idle pending entries to another consumer.", E),
    row!("xinfo", -2, READONLY, KEY2, "stream", "Describes a stream, its groups or consumers.", E),
    // keys
    row!("del", -2, WRITE, ALL_KEYS, "generic", "Deletes keys.", Cost::Elements),
    row!("unlink", -2, WRITE | FAST, ALL_KEYS, "generic", "Deletes keys, freeing memory lazily.", Cost::Elements),
    row!("exists", -2, READONLY | FAST, ALL_KEYS, "generic", "Counts existing keys.", Cost::Elements),
    row!("touch", -2, READONLY | FAST, ALL_KEYS, "generic", "Records an access to keys.", Cost::Elements),
    row!("expire", -3, WRITE | FAST, KEY1, "generic", "Sets a TTL in seconds."),
    row!("pexpire", -3, WRITE | FAST, KEY1, "generic", "Sets a TTL in milliseconds."),
    row!("expireat", -3, WRITE | FAST, KEY1, "generic", "Sets an expiry unix time in seconds."),
    row!("pexpireat", -3, WRITE | FAST, KEY1, "generic", "Sets an expiry unix time in ms."),
    row!("ttl", 2, READONLY | FAST, KEY1, "generic", "Returns the TTL in seconds."),
    row!("pttl", 2, READONLY | FAST, KEY1, "generic", "Returns the TTL in milliseconds."),
    row!("expiretime", 2, READONLY | FAST, KEY1, "generic", "Returns the expiry unix time in seconds."),
    row!("pexpiretime", 2, READONLY | FAST, KEY1, "generic", "Returns the expiry unix time in ms."),
    row!("persist", 2, WRITE | FAST, KEY1, "generic", "Removes a TTL."),
    row!("type", 2, READONLY | FAST, KEY1, "generic", "Returns the type of a value."),
    row!("rename", 3, WRITE, TWO_KEYS, "generic", "Renames a key."),
    row!("renamenx", 3, WRITE | FAST, TWO_KEYS, "generic", "Renames a key if the new name is free."),
    row!("keys", 2, READONLY | DANGEROUS, DB, "generic", "Returns keys matching a pattern.", Cost::Elements),
    row!("scan", -2, READONLY, DB, "generic", "Iterates over keys.", Cost::Elements),
    row!("randomkey", 1, READONLY, DB, "generic", "Returns a random key."),
    row!("copy", -3, WRITE | DENY_OOM, TWO_KEYS, "generic", "Copies a key."),
    row!("move", 3, WRITE | FAST, KEY1, "generic", "Moves a key to another database."),
    row!("object", -2, READONLY, KEY2, "generic", "Inspects how a key is stored."),
    // connection
    row!("ping", -1, FAST, NO_KEYS, "connection", "Returns PONG."),
    // pub/sub
    row!("subscribe", -2, 0, NO_KEYS, "pubsub", "Listens for messages published to channels."),
    row!("psubscribe", -2, 0, NO_KEYS, "pubsub", "Listens for messages published to channels matching patterns."),
    row!("ssubscribe", -2, 0, NO_KEYS, "pubsub", "Listens for messages published to shard channels."),
    row!("unsubscribe", -1, 0, NO_KEYS, "pubsub", "Stops listening to channels."),
    row!("punsubscribe", -1, 0, NO_KEYS, "pubsub", "Stops listening to channel patterns."),
    row!("sunsubscribe", -1, 0, NO_KEYS, "pubsub", "Stops listening to shard channels."),
    row!("publish", 3, FAST, NO_KEYS, "pubsub", "Posts a message to a channel."),
    row!("spublish", 3, FAST, NO_KEYS, "pubsub", "Posts a message to a shard channel."),
    row!("pubsub", -2, 0, NO_KEYS, "pubsub", "Inspects the pub/sub state."),
    row!("echo", 2, FAST, NO_KEYS, "connection", "Returns the given string."),
    row!("hello", -1, NO_AUTH | FAST, NO_KEYS, "connection", "Handshakes with the server."),
    row!("auth", -2, NO_AUTH | FAST, NO_KEYS, "connection", "Authenticates the connection."),
    row!("select", 2, FAST, NO_KEYS, "connection", "Selects a database."),
    row!("quit", -1, NO_AUTH | FAST | TX_CONTROL, NO_KEYS, "connection", "Closes the connection."),
    row!("reset", 1, NO_AUTH | FAST | TX_CONTROL, NO_KEYS, "connection", "Resets the connection."),
    row!("client", -2, DANGEROUS | CONNECTION_CONTROL, NO_KEYS, "connection", "Inspects and manages connections."),
    // server
    row!("info", -1, DANGEROUS, ALL_DBS, "server", "Returns information about the server."),
    row!("dbsize", 1, READONLY | FAST, DB, "server", "Returns the number of keys."),
    row!("flushdb", -1, WRITE | DANGEROUS | WHOLE_DB, DB, "server", "Deletes every key of the database."),
    row!("flushall", -1, WRITE | DANGEROUS | WHOLE_DB, ALL_DBS, "server", "Deletes every key."),
    row!("swapdb", 3, WRITE | FAST | DANGEROUS | WHOLE_DB, ALL_DBS, "server", "Swaps two databases."),
    row!("config", -2, ADMIN, NO_KEYS, "server", "Reads and changes configuration."),
    row!("command", -1, 0, NO_KEYS, "server", "Describes commands."),
    row!("time", 1, FAST, NO_KEYS, "server", "Returns the server time."),
    row!("lastsave", 1, FAST | DANGEROUS, NO_KEYS, "server", "Returns the time of the last save."),
    row!("acl", -2, ADMIN, NO_KEYS, "server", "Manages ACL users."),
    row!("monitor", 1, ADMIN, NO_KEYS, "server", "Streams every command the node runs."),
    row!("slowlog", -2, ADMIN, NO_KEYS, "server", "Reads or resets the slow log."),
    row!("latency", -2, ADMIN, NO_KEYS, "server", "Reads or resets latency spikes."),
    row!("save", 1, ADMIN, NO_KEYS, "server", "Writes the snapshot file."),
    row!("bgsave", -1, ADMIN, NO_KEYS, "server", "Writes the snapshot file in the background."),
    row!("shutdown", -1, ADMIN, NO_KEYS, "server", "Stops the server."),
    // replication
    row!("replicaof", 3, ADMIN, NO_KEYS, "server", "Follows a primary, or becomes one."),
    row!("slaveof", 3, ADMIN, NO_KEYS, "server", "Follows a primary, or becomes one."),
    row!("role", 1, FAST | DANGEROUS, NO_KEYS, "server", "Returns the replication role."),
    row!("replconf", -1, ADMIN, NO_KEYS, "server", "Replica handshake options."),
    row!("psync", -3, ADMIN, NO_KEYS, "server", "Starts replication from an offset."),
    row!("sync", 1, ADMIN, NO_KEYS, "server", "Starts replication with a full sync."),
    row!("wait", 3, 0, NO_KEYS, "generic", "Waits for replicas to acknowledge writes."),
    row!("failover", -1, ADMIN, NO_KEYS, "server", "Hands the primary role to a replica."),
    // transactions
    row!("multi", 1, FAST | TX_CONTROL, NO_KEYS, "transactions", "Starts a transaction."),
    row!("exec", 1, TX_CONTROL, NO_KEYS, "transactions", "Executes a transaction.", Cost::Transaction),
    row!("discard", 1, FAST | TX_CONTROL, NO_KEYS, "transactions", "Discards a transaction."),
    row!("watch", -2, FAST | TX_CONTROL, ALL_KEYS, "transactions", "Watches keys for changes."),
    row!("unwatch", 1, FAST | TX_CONTROL, NO_KEYS, "transactions", "Forgets watched keys."),

];
