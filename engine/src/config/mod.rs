//! Configuration: one typed struct, filled from defaults, then a redis.conf-style file, then command-line flags.
//!
//! Every parameter is declared once in [`PARAMS`] with its parser and printer, and that table serves the config
//! file, the flags, `CONFIG GET` (glob patterns) and `CONFIG SET`. Memory sizes accept Redis units (`100mb`,
//! `1gb`, `512k`). A running server keeps its configuration in an `ArcSwap`: `CONFIG SET` publishes a new
//! snapshot, connections read one snapshot per batch of commands.

use std::path::PathBuf;

use clap::Parser;

pub mod keyspace_events;
mod policies;
pub mod redis_params;

pub use policies::{BufferLimit, EvictionPolicy};

/// Errors in configuration, with the offending parameter.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// File that failed.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// A line of the configuration file is malformed.
    #[error("config file {path}, line {line}: {message}")]
    Line {
        /// File with the error.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A parameter name is unknown.
    #[error("unknown parameter '{0}'")]
    Unknown(String),
    /// A parameter value is invalid.
    #[error("invalid value for '{name}': {message}")]
    Invalid {
        /// Parameter name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// Command-line flags of `ferrocache-engine`. Each flag maps onto the parameter of the same name.
#[derive(Debug, Parser, Default)]
#[command(
    name = "ferrocache-engine",
    version,
    about = "Ferrocache cache engine (Redis protocol)"
)]
pub struct Args {
    /// A redis.conf-style file: one `name value` per line, `#` comments. Flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Addresses to listen on, space separated (default 127.0.0.1).
    #[arg(long)]
    pub bind: Option<String>,
    /// TCP port for the Redis protocol (default 6379; 0 picks a free port).
    #[arg(long)]
    pub port: Option<String>,
    /// Number of databases (default 16).
    #[arg(long)]
    pub databases: Option<String>,
    /// Memory limit for the dataset, e.g. `100mb` (default 0: no limit).
    #[arg(long)]
    pub maxmemory: Option<String>,
    /// What to do at the limit: noeviction, allkeys-lru, allkeys-lfu, allkeys-random, volatile-lru,
    /// volatile-lfu, volatile-random, volatile-ttl.
    #[arg(long = "maxmemory-policy")]
    pub maxmemory_policy: Option<String>,
    /// Password clients must give with AUTH.
    #[arg(long)]
    pub requirepass: Option<String>,
    /// ACL file of users (Redis `user NAME rules…` syntax).
    #[arg(long)]
    pub aclfile: Option<String>,
    /// Worker threads serving connections (default: one per core but one, at least one).
    #[arg(long)]
    pub threads: Option<String>,
    /// Close connections idle for this many seconds (default 0: never).
    #[arg(long)]
    pub timeout: Option<String>,
    /// debug, verbose, notice or warning.
    #[arg(long)]
    pub loglevel: Option<String>,
    /// TLS port for the Redis protocol (default 0: off).
    #[arg(long = "tls-port")]
    pub tls_port: Option<String>,
    /// TLS port for the Memcached protocol (default 0: off).
    #[arg(long = "memcached-tls-port")]
    pub memcached_tls_port: Option<String>,
    /// PEM certificate chain for TLS.
    #[arg(long = "tls-cert-file")]
    pub tls_cert_file: Option<String>,
    /// PEM private key for TLS.
    #[arg(long = "tls-key-file")]
    pub tls_key_file: Option<String>,
    /// PEM CA certificates for client certificates and TLS replication.
    #[arg(long = "tls-ca-cert-file")]
    pub tls_ca_cert_file: Option<String>,
    /// Client certificates: no, optional or yes.
    #[arg(long = "tls-auth-clients")]
    pub tls_auth_clients: Option<String>,
    /// Replicate over TLS: yes or no.
    #[arg(long = "tls-replication")]
    pub tls_replication: Option<String>,
    /// Allowed TLS versions, e.g. "TLSv1.2 TLSv1.3".
    #[arg(long = "tls-protocols")]
    pub tls_protocols: Option<String>,
    /// HTTP port for Prometheus metrics at /metrics (default 9121; 0 = off).
    #[arg(long = "metrics-port")]
    pub metrics_port: Option<String>,
    /// Role at start: primary (default) or standby (read-only until REPLICAOF or promotion).
    #[arg(long)]
    pub role: Option<String>,
    /// Follow a primary from the start: "HOST PORT".
    #[arg(long)]
    pub replicaof: Option<String>,
    /// Directory of the snapshot file (loaded at start if present).
    #[arg(long)]
    pub dir: Option<String>,
    /// Snapshot file name (default dump.ferro).
    #[arg(long)]
    pub dbfilename: Option<String>,
    /// Key file sealing snapshots with AES-256-GCM (32 bytes or 64 hex characters).
    #[arg(long = "snapshot-key-file")]
    pub snapshot_key_file: Option<String>,
    /// Protocols served: redis, memcached or both (default redis). A memcached-only node defaults to the
    /// allkeys-lru eviction policy.
    #[arg(long)]
    pub protocol: Option<String>,
    /// TCP port for the Memcached protocol (default 11211; 0 picks a free port).
    #[arg(long = "memcached-port")]
    pub memcached_port: Option<String>,
    /// Largest memcached item, key and value together, e.g. `1m` (default 1m, like memcached's `-I`).
    #[arg(long = "max-item-size")]
    pub max_item_size: Option<String>,
    /// File holding the cluster configuration memcached clients get from `config get cluster` (ElastiCache
    /// auto discovery): a version number on the first line, then `host|ip|port` node entries.
    #[arg(long = "cluster-config")]
    pub cluster_config: Option<String>,
    /// Memcached SASL password file (memcached's MEMCACHED_SASL_PWDB: `user:password` lines): with it, binary
    /// clients must authenticate (SASL PLAIN) and the text protocol is refused, as memcached's `-S` does.
    #[arg(long = "memcached-sasl-pwdb")]
    pub memcached_sasl_pwdb: Option<String>,
    /// Redis Cluster mode: keys live in 16384 hash slots and the node serves the slots a topology assigns it
    /// (`CLUSTER SETTOPOLOGY`): yes or no (default no).
    #[arg(long = "cluster-enabled")]
    pub cluster_enabled: Option<String>,
    /// Who may run DEBUG: no (default), yes, or local (loopback clients only).
    #[arg(long = "enable-debug-command")]
    pub enable_debug_command: Option<String>,
    /// Who may CONFIG SET the protected parameters (dir, dbfilename): no (default), yes, or local.
    #[arg(long = "enable-protected-configs")]
    pub enable_protected_configs: Option<String>,
    /// Who may run MODULE: no (default), yes, or local. The engine loads no modules either way.
    #[arg(long = "enable-module-command")]
    pub enable_module_command: Option<String>,
    /// File holding the auth token (surrounding whitespace, such as a trailing newline, is ignored): sets both
    /// `requirepass` (clients must AUTH with it) and `masterauth` (a replica authenticates to its primary with
    /// it). The token stays out of the process arguments.
    #[arg(long = "auth-token-file")]
    pub auth_token_file: Option<PathBuf>,
    /// Any other parameter, as `name=value` (repeatable), e.g. `--set maxmemory-samples=10`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
}

/// Who may use a guarded feature (DEBUG, MODULE, protected parameters), as Redis 7's `enable-*` settings say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowed {
    /// Nobody.
    No,
    /// Everybody.
    Yes,
    /// Clients connected from a loopback address.
    Local,
}

impl Allowed {
    fn parse(v: &str) -> Result<Allowed, String> {
        match v.to_ascii_lowercase().as_str() {
            "no" => Ok(Allowed::No),
            "yes" => Ok(Allowed::Yes),
            "local" => Ok(Allowed::Local),
            _ => Err("argument(s) must be one of the following: no, yes, local".into()),
        }
    }

    /// The setting's name.
    pub fn name(self) -> &'static str {
        match self {
            Allowed::No => "no",
            Allowed::Yes => "yes",
            Allowed::Local => "local",
        }
    }

    /// True when a client (`local`: connected from loopback) may use the feature.
    pub fn permits(self, local: bool) -> bool {
        match self {
            Allowed::No => false,
            Allowed::Yes => true,
            Allowed::Local => local,
        }
    }
}

/// Parameters CONFIG SET changes only where `enable-protected-configs` permits (as in Redis 7).
pub const PROTECTED: &[&str] = &["dir", "dbfilename"];

/// Which wire protocols a node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Redis (RESP) only.
    Redis,
    /// Memcached (text and meta) only.
    Memcached,
    /// Both, on their own ports, over the same keyspace.
    Both,
}

impl Protocol {
    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Redis => "redis",
            Protocol::Memcached => "memcached",
            Protocol::Both => "both",
        }
    }

    /// True when the Redis port is served.
    pub fn serves_redis(self) -> bool {
        self != Protocol::Memcached
    }

    /// True when the Memcached port is served.
    pub fn serves_memcached(self) -> bool {
        self != Protocol::Redis
    }
}

impl std::str::FromStr for Protocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Protocol::Redis, Protocol::Memcached, Protocol::Both]
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| "argument must be one of redis, memcached, both".into())
    }
}

/// The engine's configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen addresses.
    pub bind: Vec<String>,
    /// Redis protocol port.
    pub port: u16,
    /// Number of databases.
    pub databases: usize,
    /// Worker threads.
    pub threads: usize,
    /// Shards per database (power of two).
    pub shards: usize,
    /// Dataset memory limit in bytes (0 = none).
    pub maxmemory: u64,
    /// Eviction policy.
    pub maxmemory_policy: EvictionPolicy,
    /// Keys sampled per eviction round.
    pub maxmemory_samples: usize,
    /// LFU counter logarithm factor.
    pub lfu_log_factor: u32,
    /// LFU counter decay period in minutes.
    pub lfu_decay_time: u32,
    /// Password of the default user.
    pub requirepass: Option<String>,
    /// ACL file with `user …` lines (Redis syntax), loaded at start and by ACL LOAD.
    pub aclfile: Option<std::path::PathBuf>,
    /// Idle client timeout in seconds (0 = never).
    pub timeout: u64,
    /// Log verbosity.
    pub loglevel: String,
    /// Background task frequency (active expiry runs `hz` times a second).
    pub hz: u32,
    /// Largest bulk string a client may send.
    pub proto_max_bulk_len: u64,
    /// Largest query buffer of one client.
    pub client_query_buffer_limit: u64,
    /// Keyspace notification classes (`notify-keyspace-events`, see `crate::notify`).
    pub notify_keyspace_events: u32,
    /// Output-buffer limits of the normal, replica and pubsub client classes
    /// (`client-output-buffer-limit`); the pubsub class is enforced on subscribers.
    pub output_buffer_limits: [BufferLimit; 3],
    /// The pubsub class of `output_buffer_limits`.
    pub pubsub_buffer_limit: BufferLimit,
    /// Most simultaneous clients.
    pub maxclients: usize,
    /// Refuse clients from non-loopback addresses while the default user needs no password.
    pub protected_mode: bool,
    /// Turn transparent huge pages off for this process at start (as Redis' `disable-thp`): a first touch of
    /// a huge page zeroes 2 MiB, and may compact memory, inside a command.
    pub disable_thp: bool,
    /// Serve plain-TCP connections (both protocols) on io_uring when the kernel allows it (`io-uring`);
    /// epoll otherwise.
    pub io_uring: bool,
    /// Count request units (ECPU) per command.
    pub metering: bool,
    /// Keep this run's billed units in a file mapped into memory (`<dir>/usage/`), so that no unit is lost
    /// when the process is killed; see `metering::ledger`.
    pub usage_ledger: bool,
    /// Usage limit on the dataset (bytes, 0 = none): past it, writes that can grow memory are refused.
    pub usage_max_storage: u64,
    /// Usage limit on the request-unit rate (units per second, 0 = none): past it, requests wait for a
    /// bounded time and are then refused.
    pub usage_max_ecpu_per_second: u64,
    /// Encoding thresholds of the collections (`hash-max-listpack-entries`, …), see `keyspace::limits`.
    pub limits: crate::keyspace::limits::Limits,
    /// `list-max-listpack-size`: read back as set; lists are chunked by bytes whatever it says.
    pub list_max_listpack_size: i64,
    /// `list-compress-depth`: read back as set; list chunks are never compressed.
    pub list_compress_depth: i64,
    /// `maxmemory-clients`: read back as set (bytes, or a percentage of maxmemory); clients are not evicted
    /// for memory.
    pub maxmemory_clients: String,
    /// `tracking-table-max-keys`: most keys the tracking table remembers (0: no limit).
    pub tracking_table_max_keys: usize,
    /// `daemonize`: always `no` (the process stays in the foreground, as containers expect).
    pub daemonize: bool,
    /// HTTP port of the Prometheus `/metrics` endpoint (0 = off).
    pub metrics_port: u16,
    /// TLS port for the Redis protocol (0 = off).
    pub tls_port: u16,
    /// TLS port for the Memcached protocol (0 = off).
    pub memcached_tls_port: u16,
    /// PEM certificate chain served on the TLS port.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of that certificate.
    pub tls_key_file: Option<PathBuf>,
    /// PEM CA certificates that client certificates (and primaries, for replication) must chain to.
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Client certificates: `no` (default, like ElastiCache in-transit encryption), `optional` or `yes`.
    pub tls_auth_clients: String,
    /// Replicas reach their primary over TLS (REPLICAOF then names the primary's TLS port).
    pub tls_replication: bool,
    /// Allowed TLS versions, e.g. `TLSv1.2 TLSv1.3`.
    pub tls_protocols: String,
    /// Commands slower than this many microseconds go to SLOWLOG (negative: off).
    pub slowlog_log_slower_than: i64,
    /// SLOWLOG length.
    pub slowlog_max_len: usize,
    /// Latency spikes of at least this many milliseconds go to the LATENCY monitor (0: off).
    pub latency_monitor_threshold: u64,
    /// Per-command latency percentiles in INFO latencystats.
    pub latency_tracking: bool,
    /// Role at start: `primary`, or `standby` (read-only until REPLICAOF or promotion; the default for
    /// cluster nodes, so a restarted empty node never acts as a primary on its own).
    pub role: String,
    /// Follow this primary (`host port`) from the start.
    pub replicaof: Option<(String, u16)>,
    /// Replication backlog size in bytes.
    pub repl_backlog_size: u64,
    /// Password to authenticate to the primary.
    pub masterauth: Option<String>,
    /// Directory of the snapshot file.
    pub dir: std::path::PathBuf,
    /// Snapshot file name.
    pub dbfilename: String,
    /// Redis' automatic save points (`seconds changes` pairs), read back as set. Snapshots are taken by SAVE,
    /// BGSAVE, SHUTDOWN and full syncs; save points start none (a cache node keeps its data on its replicas).
    pub save: String,
    /// AES-256 key (32 bytes or 64 hex characters) sealing snapshot files at rest.
    pub snapshot_key_file: Option<std::path::PathBuf>,
    /// Protocols served.
    pub protocol: Protocol,
    /// Memcached protocol port.
    pub memcached_port: u16,
    /// Largest memcached item (key and value) in bytes.
    pub max_item_size: u64,
    /// File with the cluster configuration for `config get cluster` (None: the command answers ERROR).
    pub cluster_config: Option<PathBuf>,
    /// Memcached SASL password file; when set, memcached clients authenticate (binary SASL PLAIN).
    pub memcached_sasl_pwdb: Option<PathBuf>,
    /// Redis Cluster mode (hash slots, redirections, a topology from the control plane).
    pub cluster_enabled: bool,
    /// What MOVED redirections and CLUSTER SLOTS name a node by: `ip`, `hostname` or `unknown-endpoint`.
    pub cluster_preferred_endpoint_type: String,
    /// Who may run DEBUG.
    pub enable_debug_command: Allowed,
    /// Who may change the protected parameters (`dir`, `dbfilename`) with CONFIG SET.
    pub enable_protected_configs: Allowed,
    /// Who may run MODULE.
    pub enable_module_command: Allowed,
    /// True once `maxmemory-policy` was given explicitly (a memcached-only node otherwise uses allkeys-lru).
    policy_explicit: bool,
    /// Redis 7.0 parameters without a typed field, where they differ from Redis' default (see
    /// [`redis_params`]).
    pub redis: redis_params::Values,
    /// The `--config` file the node started from (what `CONFIG REWRITE` writes).
    pub config_file: Option<PathBuf>,
}

impl Config {
    /// An integer parameter of [`redis_params::REDIS_PARAMS`] the engine reads (`tcp-keepalive`, `acllog-max-len`, …).
    pub fn redis_int(&self, name: &str) -> i64 {
        redis_params::find(name)
            .map(|p| p.get(&self.redis))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Default for Config {
    fn default() -> Self {
        // One worker per core but one: the kernel's network stack, the background tasks (expiry, replication,
        // snapshots) and co-located processes get a core, and on small nodes a hot key is never contended.
        let threads =
            std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1).max(1));
        Config {
            bind: vec!["127.0.0.1".into()],
            port: 6379,
            databases: 16,
            threads,
            shards: (threads * 32).next_power_of_two(),
            maxmemory: 0,
            maxmemory_policy: EvictionPolicy::NoEviction,
            maxmemory_samples: 5,
            lfu_log_factor: 10,
            lfu_decay_time: 1,
            requirepass: None,
            aclfile: None,
            timeout: 0,
            loglevel: "notice".into(),
            hz: 10,
            proto_max_bulk_len: 512 << 20,
            client_query_buffer_limit: 1 << 30,
            notify_keyspace_events: 0,
            output_buffer_limits: [
                BufferLimit::UNLIMITED,
                BufferLimit {
                    hard: 256 << 20,
                    soft: 64 << 20,
                    soft_seconds: 60,
                },
                BufferLimit::default(),
            ],
            pubsub_buffer_limit: BufferLimit::default(),
            maxclients: 10_000,
            protected_mode: true,
            disable_thp: true,
            io_uring: true,
            metering: true,
            usage_ledger: false,
            usage_max_storage: 0,
            usage_max_ecpu_per_second: 0,
            limits: crate::keyspace::limits::Limits::default(),
            list_max_listpack_size: -2,
            list_compress_depth: 0,
            maxmemory_clients: "0".into(),
            daemonize: false,
            tracking_table_max_keys: 1_000_000,
            metrics_port: 9121,
            tls_port: 0,
            memcached_tls_port: 0,
            tls_cert_file: None,
            tls_key_file: None,
            tls_ca_cert_file: None,
            tls_auth_clients: "no".into(),
            tls_replication: false,
            tls_protocols: "TLSv1.2 TLSv1.3".into(),
            slowlog_log_slower_than: 10_000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            latency_tracking: true,
            role: "primary".into(),
            replicaof: None,
            repl_backlog_size: 1 << 20,
            masterauth: None,
            dir: ".".into(),
            dbfilename: "dump.ferro".into(),
            save: String::new(),
            snapshot_key_file: None,
            protocol: Protocol::Redis,
            memcached_port: 11211,
            max_item_size: 1 << 20,
            cluster_config: None,
            memcached_sasl_pwdb: None,
            cluster_enabled: false,
            cluster_preferred_endpoint_type: "ip".into(),
            enable_debug_command: Allowed::No,
            enable_protected_configs: Allowed::No,
            enable_module_command: Allowed::No,
            policy_explicit: false,
            redis: redis_params::Values::new(),
            config_file: None,
        }
    }
}

/// One configuration parameter: its name, whether `CONFIG SET` may change it, and how to read and write it.
pub struct Param {
    /// Parameter name (as in redis.conf).
    pub name: &'static str,
    /// True when `CONFIG SET` may change it at runtime.
    pub mutable: bool,
    get: fn(&Config) -> String,
    set: fn(&mut Config, &str) -> Result<(), String>,
}

fn num<T: std::str::FromStr>(v: &str) -> Result<T, String> {
    v.trim()
        .parse()
        .map_err(|_| "argument couldn't be parsed into an integer".to_string())
}

fn replicaof_get(c: &Config) -> String {
    c.replicaof
        .as_ref()
        .map(|(h, p)| format!("{h} {p}"))
        .unwrap_or_default()
}

fn replicaof_set(c: &mut Config, v: &str) -> Result<(), String> {
    let words: Vec<&str> = v.split_whitespace().collect();
    match words.as_slice() {
        [] => c.replicaof = None,
        [host, port] => c.replicaof = Some((host.to_string(), num(port)?)),
        _ => return Err("argument must be 'host port'".into()),
    }
    Ok(())
}

fn yes_no(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn path_text(p: &Option<PathBuf>) -> String {
    p.as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

/// Parses a memory size with Redis units: `k`/`m`/`g` (powers of 1000) and `kb`/`mb`/`gb` (powers of 1024).
pub fn parse_memory(v: &str) -> Result<u64, String> {
    let v = v.trim().to_ascii_lowercase();
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (digits, unit) = v.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| "argument must be a memory value".to_string())?;
    let mul = match unit {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return Err("argument must be a memory value".into()),
    };
    n.checked_mul(mul)
        .ok_or_else(|| "argument must be a memory value".into())
}

/// Every parameter the engine knows. Parameters Redis clients commonly read but that have no effect here
/// (`save`, `appendonly`) are listed read-only so that tools like redis-benchmark find them.
pub const PARAMS: &[Param] = &[
    Param {
        name: "bind",
        mutable: true,
        get: |c| c.bind.join(" "),
        set: |c, v| {
            c.bind = v.split_whitespace().map(str::to_string).collect();
            if c.bind.is_empty() {
                return Err("at least one address is required".into());
            }
            Ok(())
        },
    },
    Param {
        name: "port",
        mutable: true,
        get: |c| c.port.to_string(),
        set: |c, v| num(v).map(|n| c.port = n),
    },
    Param {
        name: "databases",
        mutable: false,
        get: |c| c.databases.to_string(),
        set: |c, v| match num::<usize>(v)? {
            n @ 1..=1_000_000 => {
                c.databases = n;
                Ok(())
            }
            _ => Err("argument must be between 1 and 1000000 inclusive".into()),
        },
    },
    Param {
        name: "threads",
        mutable: false,
        get: |c| c.threads.to_string(),
        set: |c, v| match num::<usize>(v)? {
            n @ 1..=1024 => {
                c.threads = n;
                c.shards = (n * 32).next_power_of_two();
                Ok(())
            }
            _ => Err("argument must be between 1 and 1024 inclusive".into()),
        },
    },
    Param {
        name: "shards",
        mutable: false,
        get: |c| c.shards.to_string(),
        set: |c, v| match num::<usize>(v)? {
            n @ 1..=65536 => {
                c.shards = n.next_power_of_two();
                Ok(())
            }
            _ => Err("argument must be between 1 and 65536 inclusive".into()),
        },
    },
    Param {
        name: "maxmemory",
        mutable: true,
        get: |c| c.maxmemory.to_string(),
        set: |c, v| parse_memory(v).map(|n| c.maxmemory = n),
    },
    Param {
        name: "maxmemory-policy",
        mutable: true,
        get: |c| c.maxmemory_policy.name().into(),
        set: |c, v| v.parse().map(|p| c.maxmemory_policy = p),
    },
    Param {
        name: "maxmemory-samples",
        mutable: true,
        get: |c| c.maxmemory_samples.to_string(),
        set: |c, v| match num::<usize>(v)? {
            n @ 1..=64 => {
                c.maxmemory_samples = n;
                Ok(())
            }
            _ => Err("argument must be between 1 and 64 inclusive".into()),
        },
    },
    Param {
        name: "lfu-log-factor",
        mutable: true,
        get: |c| c.lfu_log_factor.to_string(),
        set: |c, v| num(v).map(|n| c.lfu_log_factor = n),
    },
    Param {
        name: "lfu-decay-time",
        mutable: true,
        get: |c| c.lfu_decay_time.to_string(),
        set: |c, v| num(v).map(|n| c.lfu_decay_time = n),
    },
    Param {
        name: "requirepass",
        mutable: true,
        get: |c| c.requirepass.clone().unwrap_or_default(),
        set: |c, v| {
            c.requirepass = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        },
    },
    Param {
        name: "aclfile",
        mutable: false,
        get: |c| {
            c.aclfile
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: |c, v| {
            c.aclfile = (!v.is_empty()).then(|| v.into());
            Ok(())
        },
    },
    Param {
        name: "timeout",
        mutable: true,
        get: |c| c.timeout.to_string(),
        set: |c, v| num(v).map(|n| c.timeout = n),
    },
    Param {
        name: "loglevel",
        mutable: true,
        get: |c| c.loglevel.clone(),
        set: |c, v| {
            match v.to_ascii_lowercase().as_str() {
            l @ ("debug" | "verbose" | "notice" | "warning" | "nothing") => {
                c.loglevel = l.into();
                Ok(())
            }
            _ => Err("argument(s) must be one of the following: debug, verbose, notice, warning, nothing".into()),
        }
        },
    },
    Param {
        name: "hz",
        mutable: true,
        get: |c| c.hz.to_string(),
        set: |c, v| num::<u32>(v).map(|n| c.hz = n.clamp(1, 500)),
    },
    Param {
        name: "proto-max-bulk-len",
        mutable: true,
        get: |c| c.proto_max_bulk_len.to_string(),
        set: |c, v| match parse_memory(v)? {
            n if n >= 1024 * 1024 => {
                c.proto_max_bulk_len = n;
                Ok(())
            }
            _ => Err("argument must be a memory value of at least 1mb".into()),
        },
    },
    Param {
        name: "client-query-buffer-limit",
        mutable: true,
        get: |c| c.client_query_buffer_limit.to_string(),
        set: |c, v| match parse_memory(v)? {
            n if n >= 1024 * 1024 => {
                c.client_query_buffer_limit = n;
                Ok(())
            }
            _ => Err("argument must be a memory value of at least 1mb".into()),
        },
    },
    Param {
        name: "disable-thp",
        mutable: false,
        get: |c| if c.disable_thp { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.disable_thp = b),
    },
    Param {
        name: "io-uring",
        mutable: false,
        get: |c| if c.io_uring { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.io_uring = b),
    },
    Param {
        name: "protected-mode",
        mutable: true,
        get: |c| if c.protected_mode { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.protected_mode = b),
    },
    Param {
        name: "notify-keyspace-events",
        mutable: true,
        get: |c| keyspace_events::format(c.notify_keyspace_events),
        set: |c, v| keyspace_events::parse(v).map(|f| c.notify_keyspace_events = f),
    },
    Param {
        name: "client-output-buffer-limit",
        mutable: true,
        get: |c| {
            let mut parts = Vec::new();
            for (class, l) in ["normal", "slave", "pubsub"]
                .iter()
                .zip(c.output_buffer_limits)
            {
                parts.push(format!("{class} {} {} {}", l.hard, l.soft, l.soft_seconds));
            }
            parts.join(" ")
        },
        set: |c, v| {
            let words: Vec<&str> = v.split_whitespace().collect();
            if words.is_empty() || words.len() % 4 != 0 {
                return Err("Wrong number of arguments in buffer limit configuration.".into());
            }
            for w in words.chunks(4) {
                let slot = match w[0].to_ascii_lowercase().as_str() {
                    "normal" => 0,
                    "replica" | "slave" => 1,
                    "pubsub" => 2,
                    _ => {
                        return Err(
                            "Invalid client class specified in buffer limit configuration.".into(),
                        )
                    }
                };
                let hard = parse_memory(w[1]).map_err(|_| {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                })?;
                let soft = parse_memory(w[2]).map_err(|_| {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                })?;
                let soft_seconds = w[3].parse::<u64>().map_err(|_| {
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                })?;
                c.output_buffer_limits[slot] = BufferLimit {
                    hard,
                    soft,
                    soft_seconds,
                };
            }
            c.pubsub_buffer_limit = c.output_buffer_limits[2];
            Ok(())
        },
    },
    Param {
        name: "maxclients",
        mutable: true,
        get: |c| c.maxclients.to_string(),
        set: |c, v| match num::<usize>(v)? {
            n @ 1.. => {
                c.maxclients = n;
                Ok(())
            }
            _ => Err("argument must be at least 1".into()),
        },
    },
    Param {
        name: "metering",
        mutable: true,
        get: |c| if c.metering { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.metering = b),
    },
    Param {
        name: "hash-max-listpack-entries",
        mutable: true,
        get: |c| c.limits.hash_entries.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.hash_entries = n),
    },
    Param {
        name: "hash-max-listpack-value",
        mutable: true,
        get: |c| c.limits.hash_value.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.hash_value = n),
    },
    Param {
        name: "zset-max-listpack-entries",
        mutable: true,
        get: |c| c.limits.zset_entries.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.zset_entries = n),
    },
    Param {
        name: "zset-max-listpack-value",
        mutable: true,
        get: |c| c.limits.zset_value.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.zset_value = n),
    },
    Param {
        name: "set-max-intset-entries",
        mutable: true,
        get: |c| c.limits.set_ints.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.set_ints = n),
    },
    Param {
        name: "stream-node-max-entries",
        mutable: true,
        get: |c| c.limits.stream_entries.to_string(),
        set: |c, v| num::<usize>(v).map(|n| c.limits.stream_entries = n),
    },
    Param {
        name: "stream-node-max-bytes",
        mutable: true,
        get: |c| c.limits.stream_bytes.to_string(),
        set: |c, v| {
            parse_memory(v)
                .map(|n| n as usize)
                .map(|n| c.limits.stream_bytes = n)
        },
    },
    Param {
        name: "list-max-listpack-size",
        mutable: true,
        get: |c| c.list_max_listpack_size.to_string(),
        set: |c, v| num::<i64>(v).map(|n| c.list_max_listpack_size = n),
    },
    Param {
        name: "list-compress-depth",
        mutable: true,
        get: |c| c.list_compress_depth.to_string(),
        set: |c, v| match num::<i64>(v)? {
            n @ 0.. => {
                c.list_compress_depth = n;
                Ok(())
            }
            _ => Err("argument must be between 0 and 2147483647 inclusive".into()),
        },
    },
    Param {
        name: "maxmemory-clients",
        mutable: true,
        get: |c| c.maxmemory_clients.clone(),
        set: |c, v| {
            let v = v.trim();
            match v.strip_suffix('%') {
                Some(p) => match num::<u64>(p)? {
                    0..=100 => {}
                    _ => return Err("percentage argument must be less or equal to 100".into()),
                },
                None => {
                    parse_memory(v)?;
                }
            }
            c.maxmemory_clients = v.to_string();
            Ok(())
        },
    },
    Param {
        name: "tracking-table-max-keys",
        mutable: true,
        get: |c| c.tracking_table_max_keys.to_string(),
        set: |c, v| num(v).map(|n| c.tracking_table_max_keys = n),
    },
    Param {
        name: "daemonize",
        mutable: false,
        get: |c| if c.daemonize { "yes" } else { "no" }.into(),
        set: |c, v| match yes_no(v)? {
            false => {
                c.daemonize = false;
                Ok(())
            }
            true => Err("the engine runs in the foreground".into()),
        },
    },
    Param {
        name: "usage-ledger",
        mutable: false,
        get: |c| if c.usage_ledger { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.usage_ledger = b),
    },
    Param {
        name: "usage-max-storage",
        mutable: true,
        get: |c| c.usage_max_storage.to_string(),
        set: |c, v| parse_memory(v).map(|n| c.usage_max_storage = n),
    },
    Param {
        name: "usage-max-ecpu-per-second",
        mutable: true,
        get: |c| c.usage_max_ecpu_per_second.to_string(),
        set: |c, v| num(v).map(|n| c.usage_max_ecpu_per_second = n),
    },
    Param {
        name: "protocol",
        mutable: false,
        get: |c| c.protocol.name().into(),
        set: |c, v| v.parse().map(|p| c.protocol = p),
    },
    Param {
        name: "memcached-port",
        mutable: false,
        get: |c| c.memcached_port.to_string(),
        set: |c, v| num(v).map(|n| c.memcached_port = n),
    },
    Param {
        name: "max-item-size",
        mutable: true,
        get: |c| c.max_item_size.to_string(),
        set: |c, v| match parse_memory(v)? {
            n @ 1024..=1_073_741_824 => {
                c.max_item_size = n;
                Ok(())
            }
            _ => Err("argument must be a memory value between 1kb and 1gb".into()),
        },
    },
    Param {
        name: "cluster-config",
        mutable: true,
        get: |c| {
            c.cluster_config
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: |c, v| {
            c.cluster_config = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Param {
        name: "memcached-sasl-pwdb",
        mutable: false,
        get: |c| {
            c.memcached_sasl_pwdb
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: |c, v| {
            c.memcached_sasl_pwdb = (!v.is_empty()).then(|| PathBuf::from(v));
            Ok(())
        },
    },
    Param {
        name: "tls-port",
        mutable: false,
        get: |c| c.tls_port.to_string(),
        set: |c, v| num(v).map(|n| c.tls_port = n),
    },
    Param {
        name: "memcached-tls-port",
        mutable: false,
        get: |c| c.memcached_tls_port.to_string(),
        set: |c, v| num(v).map(|n| c.memcached_tls_port = n),
    },
    Param {
        name: "tls-cert-file",
        mutable: false,
        get: |c| path_text(&c.tls_cert_file),
        set: |c, v| {
            c.tls_cert_file = (!v.is_empty()).then(|| v.into());
            Ok(())
        },
    },
    Param {
        name: "tls-key-file",
        mutable: false,
        get: |c| path_text(&c.tls_key_file),
        set: |c, v| {
            c.tls_key_file = (!v.is_empty()).then(|| v.into());
            Ok(())
        },
    },
    Param {
        name: "tls-ca-cert-file",
        mutable: false,
        get: |c| path_text(&c.tls_ca_cert_file),
        set: |c, v| {
            c.tls_ca_cert_file = (!v.is_empty()).then(|| v.into());
            Ok(())
        },
    },
    Param {
        name: "tls-auth-clients",
        mutable: false,
        get: |c| c.tls_auth_clients.clone(),
        set: |c, v| match v.to_ascii_lowercase().as_str() {
            m @ ("no" | "optional" | "yes") => {
                c.tls_auth_clients = m.into();
                Ok(())
            }
            _ => Err("argument must be 'no', 'optional' or 'yes'".into()),
        },
    },
    Param {
        name: "enable-debug-command",
        mutable: false,
        get: |c| c.enable_debug_command.name().into(),
        set: |c, v| Allowed::parse(v).map(|a| c.enable_debug_command = a),
    },
    Param {
        name: "enable-protected-configs",
        mutable: false,
        get: |c| c.enable_protected_configs.name().into(),
        set: |c, v| Allowed::parse(v).map(|a| c.enable_protected_configs = a),
    },
    Param {
        name: "enable-module-command",
        mutable: false,
        get: |c| c.enable_module_command.name().into(),
        set: |c, v| Allowed::parse(v).map(|a| c.enable_module_command = a),
    },
    Param {
        name: "cluster-enabled",
        mutable: false,
        get: |c| if c.cluster_enabled { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.cluster_enabled = b),
    },
    Param {
        name: "cluster-preferred-endpoint-type",
        mutable: true,
        get: |c| c.cluster_preferred_endpoint_type.clone(),
        set: |c, v| match v.to_ascii_lowercase().as_str() {
            t @ ("ip" | "hostname" | "unknown-endpoint") => {
                c.cluster_preferred_endpoint_type = t.into();
                Ok(())
            }
            _ => Err(
                "argument(s) must be one of the following: ip, hostname, unknown-endpoint".into(),
            ),
        },
    },
    Param {
        name: "tls-replication",
        mutable: false,
        get: |c| if c.tls_replication { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.tls_replication = b),
    },
    Param {
        name: "tls-protocols",
        mutable: false,
        get: |c| c.tls_protocols.clone(),
        set: |c, v| {
            let lower = v.to_ascii_lowercase();
            if lower
                .split_whitespace()
                .all(|p| p == "tlsv1.2" || p == "tlsv1.3")
                && !lower.trim().is_empty()
            {
                c.tls_protocols = v.into();
                Ok(())
            } else {
                Err("argument must be TLSv1.2 and/or TLSv1.3".into())
            }
        },
    },
    Param {
        name: "metrics-port",
        mutable: false,
        get: |c| c.metrics_port.to_string(),
        set: |c, v| num(v).map(|n| c.metrics_port = n),
    },
    Param {
        name: "slowlog-log-slower-than",
        mutable: true,
        get: |c| c.slowlog_log_slower_than.to_string(),
        set: |c, v| num(v).map(|n| c.slowlog_log_slower_than = n),
    },
    Param {
        name: "slowlog-max-len",
        mutable: true,
        get: |c| c.slowlog_max_len.to_string(),
        set: |c, v| num(v).map(|n| c.slowlog_max_len = n),
    },
    Param {
        name: "latency-monitor-threshold",
        mutable: true,
        get: |c| c.latency_monitor_threshold.to_string(),
        set: |c, v| num(v).map(|n| c.latency_monitor_threshold = n),
    },
    Param {
        name: "latency-tracking",
        mutable: true,
        get: |c| if c.latency_tracking { "yes" } else { "no" }.into(),
        set: |c, v| yes_no(v).map(|b| c.latency_tracking = b),
    },
    Param {
        name: "role",
        mutable: false,
        get: |c| c.role.clone(),
        set: |c, v| match v.to_ascii_lowercase().as_str() {
            r @ ("primary" | "standby") => {
                c.role = r.into();
                Ok(())
            }
            _ => Err("argument must be 'primary' or 'standby'".into()),
        },
    },
    Param {
        name: "replicaof",
        mutable: false,
        get: replicaof_get,
        set: replicaof_set,
    },
    Param {
        name: "repl-backlog-size",
        mutable: true,
        get: |c| c.repl_backlog_size.to_string(),
        set: |c, v| match parse_memory(v)? {
            n if n >= 16 * 1024 => {
                c.repl_backlog_size = n;
                Ok(())
            }
            _ => Err("argument must be a memory value of at least 16kb".into()),
        },
    },
    Param {
        name: "masterauth",
        mutable: true,
        get: |c| c.masterauth.clone().unwrap_or_default(),
        set: |c, v| {
            c.masterauth = (!v.is_empty()).then(|| v.to_string());
            Ok(())
        },
    },
    Param {
        name: "dir",
        mutable: true,
        get: |c| c.dir.display().to_string(),
        set: |c, v| {
            c.dir = v.into();
            Ok(())
        },
    },
    Param {
        name: "dbfilename",
        mutable: true,
        get: |c| c.dbfilename.clone(),
        set: |c, v| {
            if v.is_empty() || v.contains('/') {
                return Err("dbfilename can't be a path, just a filename".into());
            }
            c.dbfilename = v.into();
            Ok(())
        },
    },
    Param {
        name: "snapshot-key-file",
        mutable: false,
        get: |c| {
            c.snapshot_key_file
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        },
        set: |c, v| {
            c.snapshot_key_file = (!v.is_empty()).then(|| v.into());
            Ok(())
        },
    },
    Param {
        name: "save",
        mutable: true,
        get: |c| c.save.clone(),
        set: |c, v| {
            // Pairs of non-negative integers, as Redis checks them; "" means none.
            let numbers: Vec<&str> = v.split_whitespace().collect();
            if numbers.len() % 2 != 0 || numbers.iter().any(|n| n.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            c.save = numbers.join(" ");
            Ok(())
        },
    },
    Param {
        name: "appendonly",
        mutable: true,
        get: |_| "no".into(),
        set: |_, v| match yes_no(v)? {
            false => Ok(()),
            true => Err("append-only files are not supported".into()),
        },
    },
];

/// Other names parameters answer to, as in Redis 7: (alias, parameter). `CONFIG GET` lists them too.
pub const ALIASES: &[(&str, &str)] = &[
    ("slaveof", "replicaof"),
    ("cluster-slave-no-failover", "cluster-replica-no-failover"),
    (
        "cluster-slave-validity-factor",
        "cluster-replica-validity-factor",
    ),
    ("lua-time-limit", "busy-reply-threshold"),
    ("min-slaves-max-lag", "min-replicas-max-lag"),
    ("min-slaves-to-write", "min-replicas-to-write"),
    ("repl-ping-slave-period", "repl-ping-replica-period"),
    ("slave-announce-ip", "replica-announce-ip"),
    ("slave-announce-port", "replica-announce-port"),
    ("slave-ignore-maxmemory", "replica-ignore-maxmemory"),
    ("slave-lazy-flush", "replica-lazy-flush"),
    ("slave-priority", "replica-priority"),
    ("slave-read-only", "replica-read-only"),
    ("slave-serve-stale-data", "replica-serve-stale-data"),
    ("hash-max-ziplist-entries", "hash-max-listpack-entries"),
    ("hash-max-ziplist-value", "hash-max-listpack-value"),
    ("zset-max-ziplist-entries", "zset-max-listpack-entries"),
    ("zset-max-ziplist-value", "zset-max-listpack-value"),
    ("list-max-ziplist-size", "list-max-listpack-size"),
];

/// A parameter of either table: a typed field of [`Config`], or a Redis 7.0 parameter kept as text ([`redis_params`]).
#[derive(Clone, Copy)]
pub enum ParamRef {
    /// A field of [`Config`].
    Typed(&'static Param),
    /// A parameter of [`redis_params::REDIS_PARAMS`].
    Redis(&'static redis_params::RedisParam),
}

/// Looks a parameter up by name or alias (case-insensitive).
pub fn param(name: &str) -> Option<ParamRef> {
    let name = ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(name))
        .map_or(name, |(_, target)| target);
    PARAMS
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(name))
        .map(ParamRef::Typed)
        .or_else(|| redis_params::find(name).map(ParamRef::Redis))
}

/// Every parameter (without aliases): the typed ones, then Redis' others.
pub fn all() -> impl Iterator<Item = ParamRef> {
    PARAMS
        .iter()
        .map(ParamRef::Typed)
        .chain(redis_params::REDIS_PARAMS.iter().map(ParamRef::Redis))
}

impl ParamRef {
    /// The parameter's name.
    pub fn name(self) -> &'static str {
        match self {
            ParamRef::Typed(p) => p.name,
            ParamRef::Redis(p) => p.name,
        }
    }

    /// True when `CONFIG SET` may change it at runtime.
    pub fn mutable(self) -> bool {
        match self {
            ParamRef::Typed(p) => p.mutable,
            ParamRef::Redis(p) => p.mutable,
        }
    }

    /// True when only its exact name lists it in `CONFIG GET`.
    pub fn hidden(self) -> bool {
        matches!(self, ParamRef::Redis(p) if p.hidden)
    }

    /// The current value as text.
    pub fn get(self, c: &Config) -> String {
        match self {
            ParamRef::Typed(p) => (p.get)(c),
            ParamRef::Redis(p) => p.get(&c.redis),
        }
    }

    /// Sets the value from text.
    pub fn set(self, c: &mut Config, v: &str) -> Result<(), String> {
        match self {
            ParamRef::Typed(p) => (p.set)(c, v),
            ParamRef::Redis(p) => p.set(&mut c.redis, v),
        }
    }
}

impl Config {
    /// Builds the configuration from defaults, the `--config` file and the flags, in that order.
    pub fn from_args(args: &Args) -> Result<Config, ConfigError> {
        let mut config = Config::default();
        if let Some(path) = &args.config {
            config.load_file(path)?;
            config.config_file = Some(path.clone());
        }
        let flags = [
            ("bind", &args.bind),
            ("port", &args.port),
            ("databases", &args.databases),
            ("maxmemory", &args.maxmemory),
            ("maxmemory-policy", &args.maxmemory_policy),
            ("requirepass", &args.requirepass),
            ("aclfile", &args.aclfile),
            ("threads", &args.threads),
            ("timeout", &args.timeout),
            ("loglevel", &args.loglevel),
            ("metrics-port", &args.metrics_port),
            ("tls-port", &args.tls_port),
            ("memcached-tls-port", &args.memcached_tls_port),
            ("tls-cert-file", &args.tls_cert_file),
            ("tls-key-file", &args.tls_key_file),
            ("tls-ca-cert-file", &args.tls_ca_cert_file),
            ("tls-auth-clients", &args.tls_auth_clients),
            ("tls-replication", &args.tls_replication),
            ("tls-protocols", &args.tls_protocols),
            ("role", &args.role),
            ("replicaof", &args.replicaof),
            ("dir", &args.dir),
            ("dbfilename", &args.dbfilename),
            ("snapshot-key-file", &args.snapshot_key_file),
            ("protocol", &args.protocol),
            ("memcached-port", &args.memcached_port),
            ("max-item-size", &args.max_item_size),
            ("cluster-config", &args.cluster_config),
            ("memcached-sasl-pwdb", &args.memcached_sasl_pwdb),
            ("cluster-enabled", &args.cluster_enabled),
            ("enable-debug-command", &args.enable_debug_command),
            ("enable-protected-configs", &args.enable_protected_configs),
            ("enable-module-command", &args.enable_module_command),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                config.apply(name, v)?;
            }
        }
        if let Some(path) = &args.auth_token_file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let token = text.trim();
            if token.is_empty() {
                return Err(ConfigError::Invalid {
                    name: "auth-token-file".into(),
                    message: format!("{} holds no token", path.display()),
                });
            }
            config.apply("requirepass", token)?;
            config.apply("masterauth", token)?;
        }
        for pair in &args.set {
            let (name, value) = pair.split_once('=').ok_or_else(|| ConfigError::Invalid {
                name: pair.clone(),
                message: "expected NAME=VALUE".into(),
            })?;
            config.apply(name, value)?;
        }
        // Memcached users expect a full cache to evict, never to refuse writes.
        if config.protocol == Protocol::Memcached && !config.policy_explicit {
            config.maxmemory_policy = EvictionPolicy::AllKeysLru;
        }
        Ok(config)
    }

    /// Sets one parameter by name.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), ConfigError> {
        let p = param(name).ok_or_else(|| ConfigError::Unknown(name.to_string()))?;
        self.policy_explicit |= p.name() == "maxmemory-policy";
        p.set(self, value).map_err(|message| ConfigError::Invalid {
            name: p.name().to_string(),
            message,
        })
    }

    /// The config file's text with the running configuration written into it, as Redis' `CONFIG REWRITE` does:
    /// each line that sets a parameter gets its current value (a parameter set twice keeps its first line), the
    /// other lines stay as they are, and parameters away from their defaults that the file does not set are
    /// appended.
    pub fn rewrite(&self, text: &str) -> String {
        let defaults = Config::default();
        let line_of = |p: ParamRef| {
            let v = p.get(self);
            let needs_quotes = v.is_empty() || v.contains(['"', '\'', '#', '\\']);
            if needs_quotes {
                format!(
                    "{} \"{}\"",
                    p.name(),
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )
            } else {
                format!("{} {v}", p.name())
            }
        };
        let mut written: Vec<&'static str> = Vec::new();
        let mut out = String::new();
        for line in text.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            match param(name).filter(|_| !name.starts_with('#')) {
                Some(p) if written.contains(&p.name()) => continue,
                Some(p) => {
                    written.push(p.name());
                    out.push_str(&line_of(p));
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        let mut header = false;
        for p in all() {
            if written.contains(&p.name()) || p.get(self) == p.get(&defaults) {
                continue;
            }
            if !header {
                out.push_str("# Generated by CONFIG REWRITE\n");
                header = true;
            }
            out.push_str(&line_of(p));
            out.push('\n');
        }
        out
    }

    /// Reads a redis.conf-style file: `name value…` per line, blank lines and `#` comments ignored, values
    /// optionally in double quotes.
    pub fn load_file(&mut self, path: &std::path::Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        for (n, line) in text.lines().enumerate() {
            let mut words = Vec::new();
            let line_err = |message: String| ConfigError::Line {
                path: path.to_path_buf(),
                line: n + 1,
                message,
            };
            crate::quoting::split_args(line.trim().as_bytes(), &mut words)
                .map_err(|e| line_err(e.to_string()))?;
            let Some((name, values)) = words.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name);
            if name.starts_with('#') {
                continue;
            }
            let value = values
                .iter()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            self.apply(&name, &value)
                .map_err(|e| line_err(e.to_string()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_units_follow_redis() {
        assert_eq!(parse_memory("100"), Ok(100));
        assert_eq!(parse_memory("1k"), Ok(1000));
        assert_eq!(parse_memory("1kb"), Ok(1024));
        assert_eq!(parse_memory("2GB"), Ok(2 << 30));
        assert!(parse_memory("12xb").is_err());
        assert!(parse_memory("-1").is_err());
    }

    #[test]
    fn flags_override_the_file() {
        let dir = std::env::temp_dir().join(format!("ferro-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("engine.conf");
        std::fs::write(
            &file,
            "# comment\nport 7000\nmaxmemory 10mb\nmaxmemory-policy allkeys-lru\nbind \"127.0.0.1\" ::1\n",
        )
        .expect("write");
        let args = Args {
            config: Some(file),
            port: Some("7001".into()),
            set: vec!["maxmemory-samples=7".into()],
            ..Default::default()
        };
        let c = Config::from_args(&args).expect("valid");
        assert_eq!(c.port, 7001);
        assert_eq!(c.maxmemory, 10 << 20);
        assert_eq!(c.maxmemory_policy, EvictionPolicy::AllKeysLru);
        assert_eq!(c.maxmemory_samples, 7);
        assert_eq!(c.bind, vec!["127.0.0.1".to_string(), "::1".to_string()]);
    }

    #[test]
    fn an_auth_token_file_sets_both_passwords_without_its_newline() {
        let dir = std::env::temp_dir().join(format!("ferro-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("token");
        std::fs::write(&file, "s3cret-token-0123456789\n").expect("write");
        let args = Args {
            auth_token_file: Some(file.clone()),
            ..Default::default()
        };
        let c = Config::from_args(&args).expect("valid");
        assert_eq!(c.requirepass.as_deref(), Some("s3cret-token-0123456789"));
        assert_eq!(c.masterauth.as_deref(), Some("s3cret-token-0123456789"));
        std::fs::write(&file, "\n").expect("write");
        assert!(
            Config::from_args(&args).is_err(),
            "an empty token is refused"
        );
        let missing = Args {
            auth_token_file: Some(dir.join("absent")),
            ..Default::default()
        };
        assert!(Config::from_args(&missing).is_err());
    }

    #[test]
    fn memcached_nodes_default_to_lru_eviction_unless_told_otherwise() {
        let only = |protocol: &str, policy: Option<&str>| {
            let args = Args {
                protocol: Some(protocol.into()),
                maxmemory_policy: policy.map(Into::into),
                ..Default::default()
            };
            Config::from_args(&args).expect("valid").maxmemory_policy
        };
        assert_eq!(only("memcached", None), EvictionPolicy::AllKeysLru);
        assert_eq!(only("both", None), EvictionPolicy::NoEviction);
        assert_eq!(only("redis", None), EvictionPolicy::NoEviction);
        assert_eq!(
            only("memcached", Some("allkeys-lfu")),
            EvictionPolicy::AllKeysLfu
        );
        assert!("gopher".parse::<Protocol>().is_err());
    }

    #[test]
    fn memcached_parameters_parse_sizes_and_ports() {
        let args = Args {
            protocol: Some("both".into()),
            memcached_port: Some("11311".into()),
            max_item_size: Some("2m".into()),
            ..Default::default()
        };
        let c = Config::from_args(&args).expect("valid");
        assert_eq!(
            (c.protocol, c.memcached_port, c.max_item_size),
            (Protocol::Both, 11311, 2_000_000)
        );
        let bad = Args {
            max_item_size: Some("10".into()),
            ..Default::default()
        };
        assert!(Config::from_args(&bad).is_err());
    }

    #[test]
    fn bad_lines_name_the_file_line_and_parameter() {
        let dir = std::env::temp_dir().join(format!("ferro-conf-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("bad.conf");
        std::fs::write(&file, "port 7000\nmaxmemory lots\n").expect("write");
        let err = Config::default().load_file(&file).expect_err("invalid");
        let msg = err.to_string();
        assert!(msg.contains("line 2") && msg.contains("maxmemory"), "{msg}");
    }
}
