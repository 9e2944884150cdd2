//! The state of one running engine node that every connection shares: keyspace, configuration, clients,
//! counters and identity.

pub mod listen;
pub mod memcache;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, Guard};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::blocking::Registry;
use crate::clients::Clients;
use crate::clock::now_ms;
use crate::cluster::Cluster;
use crate::config::Config;
use crate::keyspace::{Clock, Keyspace};
use crate::metering::latency::Monitor as LatencyMonitor;
use crate::metering::slowlog::SlowLog;
use crate::metering::Metering;
use crate::monitor::Monitors;
use crate::pubsub::PubSub;
use crate::replication::{Replication, Role};
use crate::security::tls::Tls;
use crate::security::Acl;
use crate::snapshot::Saves;

/// A running node: the services every connection shares, each reached through a method.
pub struct Node {
    ks: Keyspace,
    config: ArcSwap<Config>,
    clients: Clients,
    metering: Metering,
    slowlog: Mutex<SlowLog>,
    latency: Mutex<LatencyMonitor>,
    monitors: Monitors,
    blocking: Registry,
    acl: Acl,
    tls: Option<Arc<Tls>>,
    pubsub: Arc<PubSub>,
    repl: Arc<Replication>,
    cluster: Arc<Cluster>,
    saves: Saves,
    memcache: memcache::State,
    identity: Identity,
    shutdown: watch::Sender<bool>,
    rebinder: listen::Rebinder,
    memory_peak: AtomicU64,
}

/// Who this process is: fixed at start, except the ports and I/O path it ends up with.
struct Identity {
    /// 40 hex characters, new at every start, so that scrapers can tell a restart (counter reset) apart.
    run_id: String,
    started: Instant,
    /// The Redis port actually bound (differs from the configuration when it asked for port 0).
    port: AtomicU64,
    /// Plain-TCP connections (both protocols) are served on io_uring, else epoll.
    io_uring: AtomicBool,
}

/// Receives the keyspace's own deletions: DELs for the replication stream, `expired`/`evicted` events and
/// client-side caching invalidations.
struct Sink {
    repl: Arc<Replication>,
    pubsub: Arc<PubSub>,
    cluster: Arc<Cluster>,
}

impl crate::keyspace::WriteSink for Sink {
    fn deleted(&self, db: usize, key: &[u8], position: u32, why: crate::keyspace::Removal) {
        self.repl.deleted(db, key, position, why);
        if self.cluster.capturing() {
            self.cluster
                .capture(crate::slot::of(key), &[(position, key)], &[b"DEL", key]);
        }
        self.pubsub.keyspace_deleted(db, key, why, now_ms());
    }
}

impl Node {
    /// Applies the parts of the configuration that live outside it (after start and every CONFIG SET).
    pub fn apply_config(&self, config: &Config) {
        crate::keyspace::limits::apply(&config.limits);
        self.pubsub
            .tracking
            .set_max_keys(config.tracking_table_max_keys);
        self.pubsub.set_notify_flags(config.notify_keyspace_events);
        self.pubsub.set_limit(config.pubsub_buffer_limit);
        self.acl.set_tunables(
            usize::try_from(config.redis_int("acllog-max-len")).unwrap_or(usize::MAX),
            config.redis.get("acl-pubsub-default").map(String::as_str) == Some("allchannels"),
        );
        self.refresh_change_log();
    }

    /// Keeps the keyspace logging changed keys exactly while notifications or tracking need them.
    pub fn refresh_change_log(&self) {
        self.ks.set_log_changes(self.pubsub.wants_changes());
    }

    /// Creates a node with an empty keyspace; fails when the ACL file is unreadable or invalid.
    pub fn new(config: Config) -> Result<Node, String> {
        let file_users = match &config.aclfile {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read aclfile {}: {e}", path.display()))?;
                Some(
                    crate::security::acl::parse_file(&text)
                        .map_err(|e| format!("aclfile {}: {e}", path.display()))?,
                )
            }
        };
        let acl = Acl::new(file_users, config.requirepass.as_deref());
        let tls = Tls::from_config(&config)
            .map_err(|e| e.to_string())?
            .map(Arc::new);
        if let Some(t) = &tls {
            t.watch_files();
        }
        let run_id = crate::replication::new_id();
        let metering = Metering::new(if config.usage_ledger {
            crate::metering::ledger::Ledger::open(&config.dir, &run_id, now_ms())
        } else {
            crate::metering::ledger::Ledger::in_memory(&run_id, now_ms())
        });
        let role = if config.role == "standby" || config.replicaof.is_some() {
            Role::Standby
        } else {
            Role::Primary
        };
        let repl = Arc::new(Replication::new(role, config.repl_backlog_size as usize));
        let cluster = Arc::new(Cluster::new(
            config.cluster_enabled,
            &config.dir,
            config.shards,
        )?);
        let ks = if config.cluster_enabled {
            Keyspace::new_cluster(config.shards)
        } else {
            Keyspace::new(config.databases, config.shards)
        };
        let pubsub = Arc::new(PubSub::default());
        ks.set_sink(Arc::new(Sink {
            repl: repl.clone(),
            pubsub: pubsub.clone(),
            cluster: cluster.clone(),
        }));
        if role != Role::Primary {
            ks.set_passive_expiry(true);
        }
        let node = Node {
            tls,
            acl,
            monitors: Default::default(),
            pubsub,
            ks,
            repl,
            cluster,
            saves: Saves::new(now_ms() / 1000),
            slowlog: Default::default(),
            latency: Default::default(),
            memcache: Default::default(),
            identity: Identity {
                run_id,
                started: Instant::now(),
                port: AtomicU64::new(config.port as u64),
                io_uring: AtomicBool::new(false),
            },
            config: ArcSwap::from_pointee(config),
            clients: Clients::default(),
            metering,
            blocking: Registry::default(),
            shutdown: watch::channel(false).0,
            rebinder: listen::Rebinder::default(),
            memory_peak: AtomicU64::new(0),
        };
        node.apply_config(&node.config.load());
        Ok(node)
    }

    /// The clock commands run with, from the current time and eviction policy.
    pub fn clock(&self, config: &Config) -> Clock {
        Clock {
            now_ms: now_ms(),
            lfu: config.maxmemory_policy.is_lfu(),
            lfu_log_factor: config.lfu_log_factor,
            lfu_decay_time: config.lfu_decay_time,
        }
    }

    /// Asks every listener and connection to stop.
    pub fn request_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// A receiver that turns true when shutdown is requested.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// The Redis port clients should use.
    pub fn port(&self) -> u16 {
        self.identity.port.load(Ordering::Relaxed) as u16
    }

    /// Moves the plain Redis listeners to the configuration's `bind` and `port` (see [`listen::Rebinder`]).
    pub fn rebinder(&self) -> &listen::Rebinder {
        &self.rebinder
    }

    /// The highest `used_memory` seen, after taking `now` into account (INFO's `used_memory_peak`).
    pub fn memory_peak(&self, now: u64) -> u64 {
        self.memory_peak.fetch_max(now, Ordering::Relaxed).max(now)
    }

    /// Records the Redis port actually bound.
    pub fn set_port(&self, port: u16) {
        self.identity.port.store(port as u64, Ordering::Relaxed);
    }

    /// True when plain-TCP connections are served on io_uring.
    pub fn io_uring(&self) -> bool {
        self.identity.io_uring.load(Ordering::Relaxed)
    }

    /// Records that plain-TCP connections are served on io_uring.
    pub fn set_io_uring(&self, on: bool) {
        self.identity.io_uring.store(on, Ordering::Relaxed);
    }

    /// 40 hex characters, new at every start.
    pub fn run_id(&self) -> &str {
        &self.identity.run_id
    }

    /// Time since the node started.
    pub fn uptime(&self) -> Duration {
        self.identity.started.elapsed()
    }

    /// The configuration snapshot in force.
    #[inline]
    pub fn config(&self) -> Guard<Arc<Config>> {
        self.config.load()
    }

    /// The configuration snapshot in force, as an owned handle (for work that outlives a borrow).
    pub fn config_arc(&self) -> Arc<Config> {
        self.config.load_full()
    }

    /// Puts a changed configuration in force (CONFIG SET); the caller then calls [`Node::apply_config`].
    pub fn set_config(&self, config: Config) {
        self.config.store(Arc::new(config));
    }

    /// The data.
    #[inline]
    pub fn ks(&self) -> &Keyspace {
        &self.ks
    }

    /// Connected clients.
    #[inline]
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// Usage counters.
    #[inline]
    pub fn metering(&self) -> &Metering {
        &self.metering
    }

    /// SLOWLOG entries.
    pub fn slowlog(&self) -> &Mutex<SlowLog> {
        &self.slowlog
    }

    /// LATENCY monitor events.
    pub fn latency(&self) -> &Mutex<LatencyMonitor> {
        &self.latency
    }

    /// Clients in MONITOR mode.
    #[inline]
    pub fn monitors(&self) -> &Monitors {
        &self.monitors
    }

    /// Clients blocked on keys (BLPOP …).
    #[inline]
    pub fn blocking(&self) -> &Registry {
        &self.blocking
    }

    /// ACL users.
    #[inline]
    pub fn acl(&self) -> &Acl {
        &self.acl
    }

    /// TLS acceptor and connector, when TLS is configured.
    pub fn tls(&self) -> &Option<Arc<Tls>> {
        &self.tls
    }

    /// Pub/sub channels, patterns, subscribers and client-side caching.
    #[inline]
    pub fn pubsub(&self) -> &Arc<PubSub> {
        &self.pubsub
    }

    /// Replication role, stream and links.
    #[inline]
    pub fn repl(&self) -> &Arc<Replication> {
        &self.repl
    }

    /// Cluster mode: identity, topology, slot migrations.
    #[inline]
    pub fn cluster(&self) -> &Arc<Cluster> {
        &self.cluster
    }

    /// Snapshot saves: when the last one happened, whether one runs.
    pub fn saves(&self) -> &Saves {
        &self.saves
    }

    /// Memcached protocol state (bound port, pending delayed flush, `stats reset` base).
    pub fn memcache(&self) -> &memcache::State {
        &self.memcache
    }
}
