//! The state of one running engine node that every connection shares: keyspace, configuration, clients,
//! counters and identity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::blocking::Registry;
use crate::clock::now_ms;

pub mod memcache;
use crate::clients::Clients;
use crate::config::Config;
use crate::keyspace::{Clock, Keyspace};
use crate::metering::Metering;
use crate::replication::{Replication, Role};

/// A running node.
pub struct Node {
    /// The data.
    pub ks: Keyspace,
    /// The configuration; `CONFIG SET` swaps in a new snapshot.
    pub config: ArcSwap<Config>,
    /// Connected clients.
    pub clients: Clients,
    /// Usage counters.
    pub metering: Metering,
    /// Clients blocked on keys (BLPOP …).
    pub blocking: Registry,
    /// ACL users.
    pub acl: crate::security::Acl,
    /// TLS acceptor and connector, when TLS is configured.
    pub tls: Option<Arc<crate::security::tls::Tls>>,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// Pub/sub channels, patterns and their subscribers.
    pub pubsub: Arc<crate::pubsub::PubSub>,
    /// Replication role, stream and links.
    pub repl: std::sync::Arc<Replication>,
    /// 40 hex characters, new at every start, so that scrapers can tell a restart (counter reset) apart.
    pub run_id: String,
    /// When the node started.
    pub started: Instant,
    /// The Redis port actually bound (differs from the configuration when it asked for port 0).
    pub port: AtomicU64,
    /// Unix seconds of the last successful save (or of the start).
    pub last_save: AtomicU64,
    /// A BGSAVE is running.
    pub bgsave_running: std::sync::atomic::AtomicBool,
    /// The last BGSAVE succeeded.
    pub last_bgsave_ok: std::sync::atomic::AtomicBool,
    /// SLOWLOG entries.
    pub slowlog: parking_lot::Mutex<crate::metering::slowlog::SlowLog>,
    /// LATENCY monitor events.
    pub latency: parking_lot::Mutex<crate::metering::latency::Monitor>,
    /// Memcached protocol state (bound port, pending delayed flush, `stats reset` base).
    pub memcache: memcache::State,
    /// Plain-TCP connections (both protocols) are served on io_uring, else epoll.
    pub io_uring: std::sync::atomic::AtomicBool,
    shutdown: watch::Sender<bool>,
}

/// Receives the keyspace's own deletions: DELs for the replication stream, `expired`/`evicted` events and
/// client-side caching invalidations.
struct Sink {
    repl: Arc<Replication>,
    pubsub: Arc<crate::pubsub::PubSub>,
}

impl crate::keyspace::WriteSink for Sink {
    fn deleted(&self, db: usize, key: &[u8], why: crate::keyspace::Removal) {
        self.repl.deleted(db, key, why);
        self.pubsub.keyspace_deleted(db, key, why, now_ms());
    }
}

impl Node {
    /// Applies the parts of the configuration that live outside it (after start and every CONFIG SET).
    pub fn apply_config(&self, config: &Config) {
        self.pubsub.set_notify_flags(config.notify_keyspace_events);
        self.pubsub.set_limit(config.pubsub_buffer_limit);
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
        let acl = crate::security::Acl::new(file_users, config.requirepass.as_deref());
        let tls = crate::security::tls::Tls::from_config(&config)
            .map_err(|e| e.to_string())?
            .map(Arc::new);
        if let Some(t) = &tls {
            t.watch_files();
        }
        let run_id = (0..40)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect();
        let role = if config.role == "standby" || config.replicaof.is_some() {
            Role::Standby
        } else {
            Role::Primary
        };
        let repl = std::sync::Arc::new(Replication::new(role, config.repl_backlog_size as usize));
        let ks = Keyspace::new(config.databases, config.shards);
        let pubsub = Arc::new(crate::pubsub::PubSub::default());
        ks.set_sink(Arc::new(Sink {
            repl: repl.clone(),
            pubsub: pubsub.clone(),
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
            port: AtomicU64::new(config.port as u64),
            last_save: AtomicU64::new(now_ms() / 1000),
            bgsave_running: std::sync::atomic::AtomicBool::new(false),
            last_bgsave_ok: std::sync::atomic::AtomicBool::new(true),
            slowlog: Default::default(),
            latency: Default::default(),
            memcache: Default::default(),
            io_uring: Default::default(),
            config: ArcSwap::from_pointee(config),
            clients: Clients::default(),
            metering: Metering::default(),
            blocking: Registry::default(),
            run_id,
            started: Instant::now(),
            shutdown: watch::channel(false).0,
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

    /// The port clients should use.
    pub fn port(&self) -> u16 {
        self.port.load(Ordering::Relaxed) as u16
    }
}
