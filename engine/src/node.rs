//! The state of one running engine node that every connection shares: keyspace, configuration, clients,
//! counters and identity.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::clients::Clients;
use crate::config::Config;
use crate::keyspace::{Clock, Keyspace};
use crate::metering::Metering;

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
    /// 40 hex characters, new at every start, so that scrapers can tell a restart (counter reset) apart.
    pub run_id: String,
    /// When the node started.
    pub started: Instant,
    /// The Redis port actually bound (differs from the configuration when it asked for port 0).
    pub port: AtomicU64,
    /// Memcached protocol state (bound port, pending delayed flush, `stats reset` base).
    pub memcache: crate::command::memcache::State,
    shutdown: watch::Sender<bool>,
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Node {
    /// Creates a node with an empty keyspace.
    pub fn new(config: Config) -> Node {
        let run_id = (0..40)
            .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
            .collect();
        Node {
            ks: Keyspace::new(config.databases, config.shards),
            port: AtomicU64::new(config.port as u64),
            memcache: Default::default(),
            config: ArcSwap::from_pointee(config),
            clients: Clients::default(),
            metering: Metering::default(),
            run_id,
            started: Instant::now(),
            shutdown: watch::channel(false).0,
        }
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
