//! The rest of Redis 7.0's parameters: every name real redis-server 7.0 lists in `CONFIG GET *` that has no
//! typed field in [`super::Config`]. Each is checked with Redis' own type, range and error text, stored as text,
//! read back, and written by the config file, `--set` and `CONFIG SET` like any other parameter.
//!
//! Most tune a mechanism the engine does not have; their [`Group`] says which, and README lists them with the
//! reason. The [`Group::Honoured`] ones are read by the engine through [`super::Config::redis_int`].

use std::collections::BTreeMap;

use Group::*;
use Kind::*;

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

const I32: i64 = i32::MAX as i64;
const I64: i64 = i64::MAX;

/// Whether `CONFIG SET` may change a parameter, and whether patterns list it.
#[derive(Clone, Copy)]
enum Access {
    Set,
    Fixed,
    SetHidden,
}
const SET: Access = Access::Set;
const FIXED: Access = Access::Fixed;
const SET_HIDDEN: Access = Access::SetHidden;

/// One row of [`REDIS_PARAMS`].
const fn p(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    access: Access,
    group: Group,
) -> RedisParam {
    RedisParam {
        name,
        kind,
        default,
        mutable: !matches!(access, Access::Fixed),
        hidden: matches!(access, Access::SetHidden),
        group,
    }
}

/// Every Redis 7.0 parameter without a typed field, sorted by name.
pub const REDIS_PARAMS: &[RedisParam] = &[
    p(
        "acl-pubsub-default",
        Choice(&["allchannels", "resetchannels"]),
        "resetchannels",
        SET,
        Honoured,
    ),
    p("acllog-max-len", Int(0, I64), "128", SET, Honoured),
    p("active-defrag-cycle-max", Int(1, 99), "25", SET, Alloc),
    p("active-defrag-cycle-min", Int(1, 99), "1", SET, Alloc),
    p(
        "active-defrag-ignore-bytes",
        Memory(1, I64),
        "104857600",
        SET,
        Alloc,
    ),
    p(
        "active-defrag-max-scan-fields",
        Int(1, I64),
        "1000",
        SET,
        Alloc,
    ),
    p(
        "active-defrag-threshold-lower",
        Int(0, 1000),
        "10",
        SET,
        Alloc,
    ),
    p(
        "active-defrag-threshold-upper",
        Int(0, 1000),
        "100",
        SET,
        Alloc,
    ),
    p("active-expire-effort", Int(1, 10), "1", SET, Alloc),
    p("activedefrag", Bool, "no", SET, Alloc),
    p("activerehashing", Bool, "yes", SET, Alloc),
    p("always-show-logo", Bool, "no", FIXED, Process),
    p("aof-disable-auto-gc", Bool, "no", SET, Aof),
    p("aof-load-truncated", Bool, "yes", SET, Aof),
    p("aof-rewrite-incremental-fsync", Bool, "yes", SET, Aof),
    p("aof-timestamp-enabled", Bool, "no", SET, Aof),
    p("aof-use-rdb-preamble", Bool, "yes", SET, Aof),
    p("aof_rewrite_cpulist", Text, "", FIXED, Process),
    p("appenddirname", Text, "appendonlydir", FIXED, Aof),
    p("appendfilename", Text, "appendonly.aof", FIXED, Aof),
    p(
        "appendfsync",
        Choice(&["everysec", "always", "no"]),
        "everysec",
        SET,
        Aof,
    ),
    p(
        "auto-aof-rewrite-min-size",
        Memory(0, I64),
        "67108864",
        SET,
        Aof,
    ),
    p("auto-aof-rewrite-percentage", Int(0, I32), "100", SET, Aof),
    p("bgsave_cpulist", Text, "", FIXED, Process),
    p("bind-source-addr", Text, "", SET, Net),
    p("bio_cpulist", Text, "", FIXED, Process),
    p("busy-reply-threshold", Int(0, I64), "5000", SET, Script),
    p(
        "cluster-allow-pubsubshard-when-down",
        Bool,
        "yes",
        SET,
        Cluster,
    ),
    p("cluster-allow-reads-when-down", Bool, "no", SET, Cluster),
    p("cluster-allow-replica-migration", Bool, "yes", SET, Cluster),
    p(
        "cluster-announce-bus-port",
        Int(0, 65535),
        "0",
        SET,
        Cluster,
    ),
    p("cluster-announce-hostname", Text, "", SET, Cluster),
    p("cluster-announce-ip", Text, "", SET, Cluster),
    p("cluster-announce-port", Int(0, 65535), "0", SET, Cluster),
    p(
        "cluster-announce-tls-port",
        Int(0, 65535),
        "0",
        SET,
        Cluster,
    ),
    p("cluster-config-file", Text, "nodes.conf", FIXED, Cluster),
    p(
        "cluster-link-sendbuf-limit",
        Memory(0, I64),
        "0",
        SET,
        Cluster,
    ),
    p("cluster-migration-barrier", Int(0, I32), "1", SET, Cluster),
    p("cluster-node-timeout", Int(0, I64), "15000", SET, Cluster),
    p("cluster-port", Int(0, 65535), "0", FIXED, Cluster),
    p("cluster-replica-no-failover", Bool, "no", SET, Cluster),
    p(
        "cluster-replica-validity-factor",
        Int(0, I32),
        "10",
        SET,
        Cluster,
    ),
    p("cluster-require-full-coverage", Bool, "yes", SET, Cluster),
    p("crash-log-enabled", Bool, "yes", SET, Process),
    p("crash-memcheck-enabled", Bool, "yes", SET, Process),
    p("dynamic-hz", Bool, "yes", SET, Alloc),
    p("hll-sparse-max-bytes", Memory(0, I64), "3000", SET, Types),
    p("ignore-warnings", Text, "", SET, Process),
    p("io-threads", Int(1, 128), "1", FIXED, Net),
    p("io-threads-do-reads", Bool, "no", FIXED, Net),
    p("jemalloc-bg-thread", Bool, "yes", SET, Alloc),
    p("key-load-delay", Int(-I32 - 1, I32), "0", SET_HIDDEN, Rdb),
    p(
        "latency-tracking-info-percentiles",
        Percentiles,
        "50 99 99.9",
        SET,
        Latency,
    ),
    p("lazyfree-lazy-eviction", Bool, "no", SET, Lazyfree),
    p("lazyfree-lazy-expire", Bool, "no", SET, Lazyfree),
    p("lazyfree-lazy-server-del", Bool, "no", SET, Lazyfree),
    p("lazyfree-lazy-user-del", Bool, "no", SET, Lazyfree),
    p("lazyfree-lazy-user-flush", Bool, "no", SET, Lazyfree),
    p(
        "loading-process-events-interval-bytes",
        Int(1024, I32),
        "2097152",
        SET_HIDDEN,
        Rdb,
    ),
    p("logfile", Text, "", FIXED, Process),
    p("masteruser", Text, "", SET, Repl),
    p("maxmemory-eviction-tenacity", Int(0, 100), "10", SET, Alloc),
    p("min-replicas-max-lag", Int(0, I32), "10", SET, Repl),
    p("min-replicas-to-write", Int(0, I32), "0", SET, Repl),
    p("no-appendfsync-on-rewrite", Bool, "no", SET, Aof),
    p(
        "oom-score-adj",
        Choice(&["no", "yes", "relative", "absolute"]),
        "no",
        SET,
        Process,
    ),
    p("oom-score-adj-values", OomValues, "0 200 800", SET, Process),
    p("pidfile", Text, "", FIXED, Process),
    p(
        "proc-title-template",
        Text,
        "{title} {listen-addr} {server-mode}",
        SET,
        Process,
    ),
    p(
        "propagation-error-behavior",
        Choice(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
        SET,
        Repl,
    ),
    p("rdb-del-sync-files", Bool, "no", SET, Rdb),
    p(
        "rdb-key-save-delay",
        Int(-I32 - 1, I32),
        "0",
        SET_HIDDEN,
        Rdb,
    ),
    p("rdb-save-incremental-fsync", Bool, "yes", SET, Rdb),
    p("rdbchecksum", Bool, "yes", FIXED, Rdb),
    p("rdbcompression", Bool, "yes", SET, Rdb),
    p("repl-backlog-ttl", Int(0, I64), "3600", SET, Repl),
    p("repl-disable-tcp-nodelay", Bool, "no", SET, Repl),
    p(
        "repl-diskless-load",
        Choice(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
        SET,
        Repl,
    ),
    p("repl-diskless-sync", Bool, "yes", SET, Repl),
    p("repl-diskless-sync-delay", Int(0, I32), "5", SET, Repl),
    p(
        "repl-diskless-sync-max-replicas",
        Int(0, I32),
        "0",
        SET,
        Repl,
    ),
    p("repl-ping-replica-period", Int(1, I32), "10", SET, Honoured),
    p("repl-timeout", Int(1, I32), "60", SET, Repl),
    p("replica-announce-ip", Text, "", SET, Repl),
    p("replica-announce-port", Int(0, 65535), "0", SET, Repl),
    p("replica-announced", Bool, "yes", SET, Repl),
    p("replica-ignore-disk-write-errors", Bool, "no", SET, Repl),
    p("replica-ignore-maxmemory", Bool, "yes", SET, Repl),
    p("replica-lazy-flush", Bool, "no", SET, Lazyfree),
    p("replica-priority", Int(0, I32), "100", SET, Repl),
    p("replica-read-only", Bool, "yes", SET, Repl),
    p("replica-serve-stale-data", Bool, "yes", SET, Repl),
    p(
        "sanitize-dump-payload",
        Choice(&["no", "yes", "clients"]),
        "no",
        SET,
        Types,
    ),
    p("server_cpulist", Text, "", FIXED, Process),
    p("set-proc-title", Bool, "yes", FIXED, Process),
    p("shutdown-on-sigint", Shutdown, "default", SET, Process),
    p("shutdown-on-sigterm", Shutdown, "default", SET, Process),
    p("shutdown-timeout", Int(0, I32), "10", SET, Process),
    p("socket-mark-id", Int(0, I32), "0", FIXED, Net),
    p("stop-writes-on-bgsave-error", Bool, "yes", SET, Rdb),
    p(
        "supervised",
        Choice(&["upstart", "systemd", "auto", "no"]),
        "no",
        FIXED,
        Process,
    ),
    p("syslog-enabled", Bool, "no", FIXED, Process),
    p(
        "syslog-facility",
        Choice(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
        FIXED,
        Process,
    ),
    p("syslog-ident", Text, "redis", FIXED, Process),
    p("tcp-backlog", Int(0, I32), "511", FIXED, Net),
    p("tcp-keepalive", Int(0, I32), "300", SET, Honoured),
    p("tls-ca-cert-dir", Text, "", SET, Tls),
    p("tls-ciphers", Text, "", SET, Tls),
    p("tls-ciphersuites", Text, "", SET, Tls),
    p("tls-client-cert-file", Text, "", SET, Tls),
    p("tls-client-key-file", Text, "", SET, Tls),
    p("tls-client-key-file-pass", Text, "", SET, Tls),
    p("tls-cluster", Bool, "no", SET, Tls),
    p("tls-dh-params-file", Text, "", SET, Tls),
    p("tls-key-file-pass", Text, "", SET, Tls),
    p("tls-prefer-server-ciphers", Bool, "no", SET, Tls),
    p("tls-session-cache-size", Int(0, I32), "20480", SET, Tls),
    p("tls-session-cache-timeout", Int(0, I32), "300", SET, Tls),
    p("tls-session-caching", Bool, "yes", SET, Tls),
    p("unixsocket", Text, "", FIXED, Net),
    p("unixsocketperm", Int(0, 511), "0", FIXED, Net),
    p("use-exit-on-panic", Bool, "no", SET_HIDDEN, Process),
    p("watchdog-period", Int(0, I32), "0", SET_HIDDEN, Process),
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
