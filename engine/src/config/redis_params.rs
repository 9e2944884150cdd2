//! The rest of Redis 7.0's parameters: every name real redis-server 7.0 lists in `CONFIG GET *` that has no
//! typed field in [`super::Config`]. Each is checked with Redis' own type, range and error text, stored as text,
//! read back, and written by the config file, `--set` and `CONFIG SET` like any other parameter.
//!
//! Most tune a mechanism the engine does not have; their [`Group`] says which, and README lists them with the
//! reason. The [`Group::Honoured`] ones are read by the engine through [`super::Config::redis_int`].

use std::collections::BTreeMap;

/// What a parameter's value may be, as Redis types it.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// `yes` or `no`.
    Bool,
    /// An integer in the inclusive range.
    Int(i64, i64),
    /// A memory size with Redis units, stored in bytes, in the inclusive range.
    Memory(i64, i64),
    /// One of the listed words.
    Choice(&'static [&'static str]),
    /// Any text.
    Text,
    /// `oom-score-adj-values`: three integers from -2000 to 2000.
    OomValues,
    /// `latency-tracking-info-percentiles`: percentiles from 0 to 100.
    Percentiles,
    /// `shutdown-on-sigint` / `shutdown-on-sigterm`: `default`, or flags out of save, nosave, now, force.
    Shutdown,
}

/// Why a parameter has no effect here (README's table uses the same groups).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Read by the engine.
    Honoured,
    /// The append-only file: durability here is snapshots plus replicas.
    Aof,
    /// Allocator, defragmentation and Redis' incremental rehashing and expiry cycles.
    Alloc,
    /// Redis' RDB file: the engine's snapshot is its own format, always checksummed.
    Rdb,
    /// Process management (logo, title, syslog, pid file, CPU lists, OOM score): the platform runs the process.
    Process,
    /// Listener details the engine does not offer (Unix socket, I/O threads, socket marks).
    Net,
    /// Tunables of Redis' replication protocol the engine's replication does not have.
    Repl,
    /// Redis Cluster's gossip bus: cluster topology here is set by the operator.
    Cluster,
    /// Lazy freeing: values are freed by the shard that deletes them, as part of the deletion.
    Lazyfree,
    /// TLS options rustls does not offer, or sets itself.
    Tls,
    /// Scripting (not in the engine yet).
    Script,
    /// Data types or payload checks not in the engine yet.
    Types,
    /// Per-command latency percentiles in INFO (the engine reports its own histogram).
    Latency,
}

/// One Redis 7.0 parameter without a typed field.
#[derive(Debug)]
pub struct RedisParam {
    /// Name, as Redis spells it.
    pub name: &'static str,
    /// Type and range.
    pub kind: Kind,
    /// Redis 7.0's default, as `CONFIG GET` prints it.
    pub default: &'static str,
    /// True when `CONFIG SET` may change it.
    pub mutable: bool,
    /// True when `CONFIG GET` with a pattern leaves it out (only its exact name finds it), as in Redis.
    pub hidden: bool,
    /// What it would tune.
    pub group: Group,
}

/// Every Redis 7.0 parameter without a typed field, sorted by name.
pub const REDIS_PARAMS: &[RedisParam] = &[
    RedisParam {
        name: "acl-pubsub-default",
        kind: Kind::Choice(&["allchannels", "resetchannels"]),
        default: "resetchannels",
        mutable: true,
        hidden: false,
        group: Group::Honoured,
    },
    RedisParam {
        name: "acllog-max-len",
        kind: Kind::Int(0, 9223372036854775807),
        default: "128",
        mutable: true,
        hidden: false,
        group: Group::Honoured,
    },
    RedisParam {
        name: "active-defrag-cycle-max",
        kind: Kind::Int(1, 99),
        default: "25",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-defrag-cycle-min",
        kind: Kind::Int(1, 99),
        default: "1",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-defrag-ignore-bytes",
        kind: Kind::Memory(1, 9223372036854775807),
        default: "104857600",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-defrag-max-scan-fields",
        kind: Kind::Int(1, 9223372036854775807),
        default: "1000",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-defrag-threshold-lower",
        kind: Kind::Int(0, 1000),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-defrag-threshold-upper",
        kind: Kind::Int(0, 1000),
        default: "100",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "active-expire-effort",
        kind: Kind::Int(1, 10),
        default: "1",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "activedefrag",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "activerehashing",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "always-show-logo",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "aof-disable-auto-gc",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "aof-load-truncated",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "aof-rewrite-incremental-fsync",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "aof-timestamp-enabled",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "aof-use-rdb-preamble",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "aof_rewrite_cpulist",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "appenddirname",
        kind: Kind::Text,
        default: "appendonlydir",
        mutable: false,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "appendfilename",
        kind: Kind::Text,
        default: "appendonly.aof",
        mutable: false,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "appendfsync",
        kind: Kind::Choice(&["everysec", "always", "no"]),
        default: "everysec",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "auto-aof-rewrite-min-size",
        kind: Kind::Memory(0, 9223372036854775807),
        default: "67108864",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "auto-aof-rewrite-percentage",
        kind: Kind::Int(0, 2147483647),
        default: "100",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "bgsave_cpulist",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "bind-source-addr",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "bio_cpulist",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "busy-reply-threshold",
        kind: Kind::Int(0, 9223372036854775807),
        default: "5000",
        mutable: true,
        hidden: false,
        group: Group::Script,
    },
    RedisParam {
        name: "cluster-allow-pubsubshard-when-down",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-allow-reads-when-down",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-allow-replica-migration",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-announce-bus-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-announce-hostname",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-announce-ip",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-announce-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-announce-tls-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-config-file",
        kind: Kind::Text,
        default: "nodes.conf",
        mutable: false,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-link-sendbuf-limit",
        kind: Kind::Memory(0, 9223372036854775807),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-migration-barrier",
        kind: Kind::Int(0, 2147483647),
        default: "1",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-node-timeout",
        kind: Kind::Int(0, 9223372036854775807),
        default: "15000",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        mutable: false,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-replica-no-failover",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-replica-validity-factor",
        kind: Kind::Int(0, 2147483647),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "cluster-require-full-coverage",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Cluster,
    },
    RedisParam {
        name: "crash-log-enabled",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "crash-memcheck-enabled",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "dynamic-hz",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "hll-sparse-max-bytes",
        kind: Kind::Memory(0, 9223372036854775807),
        default: "3000",
        mutable: true,
        hidden: false,
        group: Group::Types,
    },
    RedisParam {
        name: "ignore-warnings",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "io-threads",
        kind: Kind::Int(1, 128),
        default: "1",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "io-threads-do-reads",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "jemalloc-bg-thread",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "key-load-delay",
        kind: Kind::Int(-2147483648, 2147483647),
        default: "0",
        mutable: true,
        hidden: true,
        group: Group::Rdb,
    },
    RedisParam {
        name: "latency-tracking-info-percentiles",
        kind: Kind::Percentiles,
        default: "50 99 99.9",
        mutable: true,
        hidden: false,
        group: Group::Latency,
    },
    RedisParam {
        name: "lazyfree-lazy-eviction",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "lazyfree-lazy-expire",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "lazyfree-lazy-server-del",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "lazyfree-lazy-user-del",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "lazyfree-lazy-user-flush",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "loading-process-events-interval-bytes",
        kind: Kind::Int(1024, 2147483647),
        default: "2097152",
        mutable: true,
        hidden: true,
        group: Group::Rdb,
    },
    RedisParam {
        name: "logfile",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "masteruser",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "maxmemory-eviction-tenacity",
        kind: Kind::Int(0, 100),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Alloc,
    },
    RedisParam {
        name: "min-replicas-max-lag",
        kind: Kind::Int(0, 2147483647),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "min-replicas-to-write",
        kind: Kind::Int(0, 2147483647),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "no-appendfsync-on-rewrite",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Aof,
    },
    RedisParam {
        name: "oom-score-adj",
        kind: Kind::Choice(&["no", "yes", "relative", "absolute"]),
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "oom-score-adj-values",
        kind: Kind::OomValues,
        default: "0 200 800",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "pidfile",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "proc-title-template",
        kind: Kind::Text,
        default: "{title} {listen-addr} {server-mode}",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "propagation-error-behavior",
        kind: Kind::Choice(&["ignore", "panic", "panic-on-replicas"]),
        default: "ignore",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "rdb-del-sync-files",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Rdb,
    },
    RedisParam {
        name: "rdb-key-save-delay",
        kind: Kind::Int(-2147483648, 2147483647),
        default: "0",
        mutable: true,
        hidden: true,
        group: Group::Rdb,
    },
    RedisParam {
        name: "rdb-save-incremental-fsync",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Rdb,
    },
    RedisParam {
        name: "rdbchecksum",
        kind: Kind::Bool,
        default: "yes",
        mutable: false,
        hidden: false,
        group: Group::Rdb,
    },
    RedisParam {
        name: "rdbcompression",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Rdb,
    },
    RedisParam {
        name: "repl-backlog-ttl",
        kind: Kind::Int(0, 9223372036854775807),
        default: "3600",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-disable-tcp-nodelay",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-diskless-load",
        kind: Kind::Choice(&["disabled", "on-empty-db", "swapdb"]),
        default: "disabled",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-diskless-sync",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-diskless-sync-delay",
        kind: Kind::Int(0, 2147483647),
        default: "5",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-diskless-sync-max-replicas",
        kind: Kind::Int(0, 2147483647),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "repl-ping-replica-period",
        kind: Kind::Int(1, 2147483647),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Honoured,
    },
    RedisParam {
        name: "repl-timeout",
        kind: Kind::Int(1, 2147483647),
        default: "60",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-announce-ip",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-announce-port",
        kind: Kind::Int(0, 65535),
        default: "0",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-announced",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-ignore-disk-write-errors",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-ignore-maxmemory",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-lazy-flush",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Lazyfree,
    },
    RedisParam {
        name: "replica-priority",
        kind: Kind::Int(0, 2147483647),
        default: "100",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-read-only",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "replica-serve-stale-data",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Repl,
    },
    RedisParam {
        name: "sanitize-dump-payload",
        kind: Kind::Choice(&["no", "yes", "clients"]),
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Types,
    },
    RedisParam {
        name: "server_cpulist",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "set-proc-title",
        kind: Kind::Bool,
        default: "yes",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "shutdown-on-sigint",
        kind: Kind::Shutdown,
        default: "default",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "shutdown-on-sigterm",
        kind: Kind::Shutdown,
        default: "default",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "shutdown-timeout",
        kind: Kind::Int(0, 2147483647),
        default: "10",
        mutable: true,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "socket-mark-id",
        kind: Kind::Int(0, 2147483647),
        default: "0",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "stop-writes-on-bgsave-error",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Rdb,
    },
    RedisParam {
        name: "supervised",
        kind: Kind::Choice(&["upstart", "systemd", "auto", "no"]),
        default: "no",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "syslog-enabled",
        kind: Kind::Bool,
        default: "no",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "syslog-facility",
        kind: Kind::Choice(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        default: "local0",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "syslog-ident",
        kind: Kind::Text,
        default: "redis",
        mutable: false,
        hidden: false,
        group: Group::Process,
    },
    RedisParam {
        name: "tcp-backlog",
        kind: Kind::Int(0, 2147483647),
        default: "511",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "tcp-keepalive",
        kind: Kind::Int(0, 2147483647),
        default: "300",
        mutable: true,
        hidden: false,
        group: Group::Honoured,
    },
    RedisParam {
        name: "tls-ca-cert-dir",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-ciphers",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-ciphersuites",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-client-cert-file",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-client-key-file",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-client-key-file-pass",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-cluster",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-dh-params-file",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-key-file-pass",
        kind: Kind::Text,
        default: "",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-prefer-server-ciphers",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-session-cache-size",
        kind: Kind::Int(0, 2147483647),
        default: "20480",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-session-cache-timeout",
        kind: Kind::Int(0, 2147483647),
        default: "300",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "tls-session-caching",
        kind: Kind::Bool,
        default: "yes",
        mutable: true,
        hidden: false,
        group: Group::Tls,
    },
    RedisParam {
        name: "unixsocket",
        kind: Kind::Text,
        default: "",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "unixsocketperm",
        kind: Kind::Int(0, 511),
        default: "0",
        mutable: false,
        hidden: false,
        group: Group::Net,
    },
    RedisParam {
        name: "use-exit-on-panic",
        kind: Kind::Bool,
        default: "no",
        mutable: true,
        hidden: true,
        group: Group::Process,
    },
    RedisParam {
        name: "watchdog-period",
        kind: Kind::Int(0, 2147483647),
        default: "0",
        mutable: true,
        hidden: true,
        group: Group::Process,
    },
];

/// Values set away from their defaults, by parameter name.
pub type Values = BTreeMap<&'static str, String>;

impl RedisParam {
    /// The value `CONFIG GET` prints.
    pub fn get(&self, values: &Values) -> String {
        values
            .get(self.name)
            .cloned()
            .unwrap_or_else(|| self.default.to_string())
    }

    /// Checks `v` with Redis' rules and stores its normal form.
    pub fn set(&'static self, values: &mut Values, v: &str) -> Result<(), String> {
        let normal = self.check(v)?;
        if self.name == "activedefrag" && normal == "yes" {
            return Err(
                "Active defragmentation cannot be enabled: the engine has no defragmenter".into(),
            );
        }
        if normal == self.default {
            values.remove(self.name);
        } else {
            values.insert(self.name, normal);
        }
        Ok(())
    }

    fn check(&self, v: &str) -> Result<String, String> {
        let words = || v.split_whitespace().map(str::to_ascii_lowercase);
        match self.kind {
            Kind::Bool => super::yes_no(v).map(|b| if b { "yes" } else { "no" }.to_string()),
            Kind::Int(lo, hi) => {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
                in_range(n, lo, hi)
            }
            Kind::Memory(lo, hi) => {
                let n = super::parse_memory(v)?;
                in_range(i64::try_from(n).unwrap_or(i64::MAX), lo, hi)
            }
            Kind::Choice(options) => {
                let w = v.trim().to_ascii_lowercase();
                options
                    .iter()
                    .find(|o| **o == w)
                    .map(|o| o.to_string())
                    .ok_or_else(|| one_of(options))
            }
            Kind::Text => Ok(v.to_string()),
            Kind::OomValues => {
                let parts: Vec<String> = words().collect();
                if parts.len() != 3 {
                    return Err("wrong number of arguments".into());
                }
                for p in &parts {
                    match p.parse::<i32>() {
                        Ok(n) if (-2000..=2000).contains(&n) => {}
                        _ => return Err("Invalid oom-score-adj-values value".into()),
                    }
                }
                Ok(parts.join(" "))
            }
            Kind::Percentiles => {
                let mut out = Vec::new();
                for p in words() {
                    let n: f64 = p.parse().map_err(|_| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                    if !(0.0..=100.0).contains(&n) {
                        return Err(
                            "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                                .into(),
                        );
                    }
                    out.push(n.to_string());
                }
                Ok(out.join(" "))
            }
            Kind::Shutdown => {
                const FLAGS: &[&str] = &["default", "save", "nosave", "now", "force"];
                let parts: Vec<String> = words().collect();
                if parts.is_empty() || parts.iter().any(|p| !FLAGS.contains(&p.as_str())) {
                    return Err(one_of(FLAGS));
                }
                if parts.len() > 1 && parts.iter().any(|p| p == "default") {
                    return Err(one_of(FLAGS));
                }
                Ok(FLAGS
                    .iter()
                    .filter(|f| parts.iter().any(|p| p == *f))
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" "))
            }
        }
    }
}

fn in_range(n: i64, lo: i64, hi: i64) -> Result<String, String> {
    if (lo..=hi).contains(&n) {
        Ok(n.to_string())
    } else {
        Err(format!("argument must be between {lo} and {hi} inclusive"))
    }
}

fn one_of(options: &[&str]) -> String {
    format!(
        "argument(s) must be one of the following: {}",
        options.join(", ")
    )
}

/// Finds an inert parameter by name (any case).
pub fn find(name: &str) -> Option<&'static RedisParam> {
    REDIS_PARAMS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_sorted_unique_and_unknown_to_the_typed_table() {
        for w in REDIS_PARAMS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for p in REDIS_PARAMS {
            assert!(
                !super::super::PARAMS.iter().any(|q| q.name == p.name),
                "{} is declared twice",
                p.name
            );
            assert_eq!(p.check(p.default).as_deref(), Ok(p.default), "{}", p.name);
        }
    }

    #[test]
    fn values_are_checked_with_redis_rules_and_texts() {
        let mut v = Values::new();
        let keepalive = find("TCP-KEEPALIVE").expect("known");
        assert_eq!(
            keepalive.set(&mut v, "-1"),
            Err("argument must be between 0 and 2147483647 inclusive".into())
        );
        keepalive.set(&mut v, "60").expect("valid");
        assert_eq!(keepalive.get(&v), "60");
        let fsync = find("appendfsync").expect("known");
        assert_eq!(
            fsync.set(&mut v, "sometimes"),
            Err("argument(s) must be one of the following: everysec, always, no".into())
        );
        let size = find("auto-aof-rewrite-min-size").expect("known");
        size.set(&mut v, "1mb").expect("valid");
        assert_eq!(size.get(&v), "1048576");
        let oom = find("oom-score-adj-values").expect("known");
        assert_eq!(
            oom.set(&mut v, "1 2"),
            Err("wrong number of arguments".into())
        );
        let sig = find("shutdown-on-sigint").expect("known");
        sig.set(&mut v, "now save").expect("valid");
        assert_eq!(sig.get(&v), "save now");
        assert!(sig.set(&mut v, "default now").is_err());
        let pct = find("latency-tracking-info-percentiles").expect("known");
        pct.set(&mut v, "50 99.99").expect("valid");
        assert_eq!(pct.get(&v), "50 99.99");
        assert!(pct.set(&mut v, "101").is_err());
        keepalive.set(&mut v, "300").expect("valid");
        assert!(!v.contains_key("tcp-keepalive"), "a default is not stored");
    }
}
