//! Handlers registered against the catalogue: which function runs each command row, and the few commands that
//! lock more than their keys. The catalogue (`crate::catalogue`) holds everything else about a command.

use std::sync::LazyLock;

use super::call::Call;
use super::error::CmdResult;
use super::{
    acl, cluster, connection, debug, diagnostics, function, hash, keys, list, pubsub, replication,
    server, set, stream, stream_group, stream_info, string, tracking, transaction, zset,
};
use crate::catalogue::{self, COMMANDS};
use crate::keyspace::{Keyspace, LockSet};

/// A command's handler.
pub type Handler = fn(&mut Call) -> CmdResult;

/// Adds the shards a command locks beyond its keys' shards in the selected database (another database's).
pub type ExtraLock = fn(args: &[&[u8]], db: usize, ks: &Keyspace, set: &mut LockSet);

/// The handler of every row that runs. A container routes to its subcommands' rows instead, and has a handler
/// only when it also runs without one (`COMMAND`).
#[rustfmt::skip]
static REGISTRY: &[(&str, Handler)] = &[
    ("function|flush", function::function_flush),
    ("debug", debug::debug),
    ("cluster|info", cluster::cluster_info),
    ("cluster|myid", cluster::cluster_myid),
    ("cluster|myshardid", cluster::cluster_myshardid),
    ("cluster|slots", cluster::cluster_slots),
    ("cluster|shards", cluster::cluster_shards),
    ("cluster|nodes", cluster::cluster_nodes),
    ("cluster|replicas", cluster::cluster_replicas),
    ("cluster|slaves", cluster::cluster_replicas),
    ("cluster|links", cluster::cluster_links),
    ("cluster|keyslot", cluster::cluster_keyslot),
    ("cluster|countkeysinslot", cluster::cluster_countkeysinslot),
    ("cluster|getkeysinslot", cluster::cluster_getkeysinslot),
    ("cluster|help", cluster::cluster_help),
    ("cluster|settopology", cluster::cluster_settopology),
    ("cluster|gettopology", cluster::cluster_gettopology),
    ("cluster|migrateslots", cluster::cluster_migrateslots),
    ("cluster|getslotmigrations", cluster::cluster_getslotmigrations),
    ("cluster|cancelslotmigrations", cluster::cluster_cancelslotmigrations),
    ("cluster|import", cluster::cluster_import),
    ("cluster|restorekeys", cluster::cluster_restorekeys),
    ("cluster|addslots", cluster::cluster_managed),
    ("cluster|addslotsrange", cluster::cluster_managed),
    ("cluster|delslots", cluster::cluster_managed),
    ("cluster|delslotsrange", cluster::cluster_managed),
    ("cluster|flushslots", cluster::cluster_managed),
    ("cluster|forget", cluster::cluster_managed),
    ("cluster|meet", cluster::cluster_managed),
    ("cluster|replicate", cluster::cluster_managed),
    ("cluster|reset", cluster::cluster_managed),
    ("cluster|saveconfig", cluster::cluster_managed),
    ("cluster|setslot", cluster::cluster_managed),
    ("cluster|failover", cluster::cluster_managed),
    ("cluster|bumpepoch", cluster::cluster_managed),
    ("cluster|set-config-epoch", cluster::cluster_managed),
    ("cluster|count-failure-reports", cluster::cluster_managed),
    ("readonly", cluster::readonly),
    ("readwrite", cluster::readwrite),
    ("asking", cluster::asking),
    ("client|id", connection::client_id),
    ("client|setname", connection::client_setname),
    ("client|getname", connection::client_getname),
    ("client|setinfo", connection::client_setinfo),
    ("client|list", connection::client_list),
    ("client|info", connection::client_info),
    ("client|reply", connection::client_reply),
    ("client|pause", connection::client_pause),
    ("client|unpause", connection::client_unpause),
    ("client|unblock", connection::client_unblock),
    ("client|kill", connection::client_kill),
    ("client|no-evict", connection::client_no_evict),
    ("client|tracking", tracking::client_tracking),
    ("client|caching", tracking::client_caching),
    ("client|getredir", tracking::client_getredir),
    ("client|trackinginfo", tracking::client_trackinginfo),
    ("client|help", connection::client_help),
    ("config|get", server::config_get),
    ("config|set", server::config_set),
    ("config|resetstat", server::config_resetstat),
    ("config|rewrite", server::config_rewrite),
    ("config|help", server::config_help),
    ("command|count", server::command_count),
    ("command|list", server::command_list),
    ("command|info", server::command_info),
    ("command|docs", server::command_docs),
    ("command|getkeys", server::command_getkeys),
    ("command|getkeysandflags", server::command_getkeysandflags),
    ("acl|setuser", acl::acl_setuser),
    ("acl|getuser", acl::acl_getuser),
    ("acl|deluser", acl::acl_deluser),
    ("acl|list", acl::acl_list),
    ("acl|users", acl::acl_users),
    ("acl|whoami", acl::acl_whoami),
    ("acl|cat", acl::acl_cat),
    ("acl|load", acl::acl_load),
    ("acl|save", acl::acl_save),
    ("acl|dryrun", acl::acl_dryrun),
    ("acl|log", acl::acl_log),
    ("acl|genpass", acl::acl_genpass),
    ("slowlog|get", diagnostics::slowlog_get),
    ("slowlog|len", diagnostics::slowlog_len),
    ("slowlog|reset", diagnostics::slowlog_reset),
    ("slowlog|help", diagnostics::slowlog_help),
    ("latency|latest", diagnostics::latency_latest),
    ("latency|history", diagnostics::latency_history),
    ("latency|reset", diagnostics::latency_reset),
    ("latency|help", diagnostics::latency_help),
    ("latency|doctor", diagnostics::latency_doctor),
    ("latency|graph", diagnostics::latency_graph),
    ("pubsub|channels", pubsub::pubsub_channels),
    ("pubsub|numsub", pubsub::pubsub_numsub),
    ("pubsub|numpat", pubsub::pubsub_numpat),
    ("pubsub|shardchannels", pubsub::pubsub_shardchannels),
    ("pubsub|shardnumsub", pubsub::pubsub_shardnumsub),
    ("pubsub|help", pubsub::pubsub_help),
    ("xgroup|create", stream_group::xgroup_create),
    ("xgroup|setid", stream_group::xgroup_setid),
    ("xgroup|destroy", stream_group::xgroup_destroy),
    ("xgroup|createconsumer", stream_group::xgroup_createconsumer),
    ("xgroup|delconsumer", stream_group::xgroup_delconsumer),
    ("xgroup|help", stream_group::xgroup_help),
    ("xinfo|stream", stream_info::xinfo_stream),
    ("xinfo|groups", stream_info::xinfo_groups),
    ("xinfo|consumers", stream_info::xinfo_consumers),
    ("xinfo|help", stream_info::xinfo_help),
    ("get", string::get),
    ("set", string::set),
    ("setnx", string::setnx),
    ("setex", string::setex),
    ("psetex", string::setex),
    ("getset", string::getset),
    ("getdel", string::getdel),
    ("getex", string::getex),
    ("mget", string::mget),
    ("mset", string::mset),
    ("msetnx", string::msetnx),
    ("incr", string::incr),
    ("decr", string::incr),
    ("incrby", string::incr),
    ("decrby", string::incr),
    ("incrbyfloat", string::incrbyfloat),
    ("append", string::append),
    ("strlen", string::strlen),
    ("getrange", string::getrange),
    ("substr", string::getrange),
    ("setrange", string::setrange),
    ("hset", hash::hset),
    ("hmset", hash::hset),
    ("hsetnx", hash::hsetnx),
    ("hget", hash::hget),
    ("hmget", hash::hmget),
    ("hdel", hash::hdel),
    ("hexists", hash::hexists),
    ("hlen", hash::hlen),
    ("hstrlen", hash::hstrlen),
    ("hgetall", hash::hgetall),
    ("hkeys", hash::hgetall),
    ("hvals", hash::hgetall),
    ("hincrby", hash::hincrby),
    ("hincrbyfloat", hash::hincrbyfloat),
    ("hrandfield", hash::hrandfield),
    ("hscan", hash::hscan),
    ("lpush", list::push),
    ("rpush", list::push),
    ("lpushx", list::push),
    ("rpushx", list::push),
    ("lpop", list::pop),
    ("rpop", list::pop),
    ("llen", list::llen),
    ("lrange", list::lrange),
    ("lindex", list::lindex),
    ("lset", list::lset),
    ("linsert", list::linsert),
    ("lrem", list::lrem),
    ("ltrim", list::ltrim),
    ("lpos", list::lpos),
    ("lmove", list::lmove),
    ("rpoplpush", list::lmove),
    ("lmpop", list::lmpop),
    ("blpop", list::bpop),
    ("brpop", list::bpop),
    ("blmove", list::blmove),
    ("brpoplpush", list::blmove),
    ("blmpop", list::blmpop),
    ("sadd", set::sadd),
    ("srem", set::srem),
    ("smembers", set::smembers),
    ("sismember", set::sismember),
    ("smismember", set::smismember),
    ("scard", set::scard),
    ("spop", set::spop),
    ("srandmember", set::srandmember),
    ("sinter", set::sinter),
    ("sunion", set::sinter),
    ("sdiff", set::sinter),
    ("sinterstore", set::sinterstore),
    ("sunionstore", set::sinterstore),
    ("sdiffstore", set::sinterstore),
    ("sintercard", set::sintercard),
    ("smove", set::smove),
    ("sscan", set::sscan),
    ("zadd", zset::zadd),
    ("zincrby", zset::zincrby),
    ("zrem", zset::zrem),
    ("zscore", zset::zscore),
    ("zmscore", zset::zmscore),
    ("zcard", zset::zcard),
    ("zcount", zset::zcount),
    ("zlexcount", zset::zlexcount),
    ("zrange", zset::zrange),
    ("zrangebyscore", zset::zrange_legacy),
    ("zrevrangebyscore", zset::zrange_legacy),
    ("zrangebylex", zset::zrange_legacy),
    ("zrevrangebylex", zset::zrange_legacy),
    ("zrevrange", zset::zrange_legacy),
    ("zrangestore", zset::zrangestore),
    ("zrank", zset::zrank),
    ("zrevrank", zset::zrank),
    ("zpopmin", zset::zpop),
    ("zpopmax", zset::zpop),
    ("bzpopmin", zset::bzpop),
    ("bzpopmax", zset::bzpop),
    ("zmpop", zset::zmpop),
    ("bzmpop", zset::bzmpop),
    ("zremrangebyrank", zset::zremrange),
    ("zremrangebyscore", zset::zremrange),
    ("zremrangebylex", zset::zremrange),
    ("zunion", zset::zunion),
    ("zinter", zset::zunion),
    ("zdiff", zset::zunion),
    ("zunionstore", zset::zunionstore),
    ("zinterstore", zset::zunionstore),
    ("zdiffstore", zset::zunionstore),
    ("zintercard", zset::zintercard),
    ("zrandmember", zset::zrandmember),
    ("zscan", zset::zscan),
    ("xadd", stream::xadd),
    ("xlen", stream::xlen),
    ("xrange", stream::xrange),
    ("xrevrange", stream::xrange),
    ("xdel", stream::xdel),
    ("xtrim", stream::xtrim),
    ("xsetid", stream::xsetid),
    ("xread", stream::xread),
    ("xreadgroup", stream_group::xreadgroup),
    ("xack", stream_group::xack),
    ("xpending", stream_group::xpending),
    ("xclaim", stream_group::xclaim),
    ("xautoclaim", stream_group::xautoclaim),
    ("del", keys::del),
    ("unlink", keys::del),
    ("exists", keys::exists),
    ("touch", keys::touch),
    ("expire", keys::expire),
    ("pexpire", keys::expire),
    ("expireat", keys::expire),
    ("pexpireat", keys::expire),
    ("ttl", keys::ttl),
    ("pttl", keys::ttl),
    ("expiretime", keys::ttl),
    ("pexpiretime", keys::ttl),
    ("persist", keys::persist),
    ("type", keys::type_),
    ("rename", keys::rename),
    ("renamenx", keys::rename),
    ("keys", keys::keys),
    ("scan", keys::scan),
    ("randomkey", keys::randomkey),
    ("copy", keys::copy),
    ("move", keys::move_),
    ("memory|usage", diagnostics::memory_usage),
    ("memory|stats", diagnostics::memory_stats),
    ("memory|doctor", diagnostics::memory_doctor),
    ("memory|malloc-stats", diagnostics::memory_malloc_stats),
    ("memory|purge", diagnostics::memory_purge),
    ("memory|help", diagnostics::memory_help),
    ("object|encoding", keys::object_encoding),
    ("object|freq", keys::object_freq),
    ("object|idletime", keys::object_idletime),
    ("object|refcount", keys::object_refcount),
    ("object|help", keys::object_help),
    ("ping", connection::ping),
    ("subscribe", pubsub::subscribe),
    ("psubscribe", pubsub::subscribe),
    ("ssubscribe", pubsub::subscribe),
    ("unsubscribe", pubsub::unsubscribe),
    ("punsubscribe", pubsub::unsubscribe),
    ("sunsubscribe", pubsub::unsubscribe),
    ("publish", pubsub::publish),
    ("spublish", pubsub::publish),
    ("echo", connection::echo),
    ("hello", connection::hello),
    ("auth", connection::auth),
    ("select", connection::select),
    ("quit", connection::quit),
    ("reset", connection::reset),
    ("info", server::info),
    ("dbsize", server::dbsize),
    ("flushdb", server::flushdb),
    ("flushall", server::flushall),
    ("swapdb", server::swapdb),
    ("command", server::command),
    ("time", server::time),
    ("lastsave", server::lastsave),
    ("monitor", diagnostics::monitor),
    ("save", server::save),
    ("bgsave", server::bgsave),
    ("shutdown", server::shutdown),
    ("replicaof", replication::replicaof),
    ("slaveof", replication::replicaof),
    ("role", replication::role),
    ("replconf", replication::replconf),
    ("psync", replication::psync),
    ("sync", replication::psync),
    ("wait", replication::wait),
    ("failover", replication::failover),
    ("multi", transaction::multi),
    ("exec", transaction::exec),
    ("discard", transaction::discard),
    ("watch", transaction::watch),
    ("unwatch", transaction::unwatch),
];

/// Commands that also lock a key's shard in another database.
static EXTRA_LOCKS: &[(&str, ExtraLock)] = &[
    ("copy", keys::copy_keys),
    ("move", keys::move_keys),
    ("cluster|restorekeys", cluster::restorekeys_lock),
];

/// What runs a catalogue row.
#[derive(Clone, Copy, Default)]
pub struct Registered {
    /// The handler (None for a container that only routes to its subcommands).
    pub run: Option<Handler>,
    /// Shards locked beyond the keys'.
    pub extra_lock: Option<ExtraLock>,
}

/// Indexed like [`COMMANDS`].
static HANDLERS: LazyLock<Vec<Registered>> = LazyLock::new(|| {
    let mut all = vec![Registered::default(); COMMANDS.len()];
    for &(name, run) in REGISTRY {
        if let Some(i) = catalogue::lookup(name.as_bytes()) {
            all[i].run = Some(run);
        }
    }
    for &(name, lock) in EXTRA_LOCKS {
        if let Some(i) = catalogue::lookup(name.as_bytes()) {
            all[i].extra_lock = Some(lock);
        }
    }
    all
});

/// What runs the row at `idx`.
#[inline]
pub fn registered(idx: usize) -> Registered {
    HANDLERS[idx]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_runs_or_routes_and_every_registration_names_a_row() {
        let names = REGISTRY.iter().map(|(n, _)| *n);
        for name in names.chain(EXTRA_LOCKS.iter().map(|(n, _)| *n)) {
            assert!(catalogue::lookup(name.as_bytes()).is_some(), "{name}");
        }
        for (i, spec) in COMMANDS.iter().enumerate() {
            let routes = !catalogue::subcommands(i).is_empty();
            assert!(
                registered(i).run.is_some() || routes,
                "{} has neither a handler nor subcommands",
                spec.name
            );
        }
        let names: std::collections::HashSet<_> = REGISTRY.iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), REGISTRY.len(), "a row is registered twice");
    }
}
