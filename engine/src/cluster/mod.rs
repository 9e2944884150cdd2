//! Cluster mode: this node's identity, the topology the control plane gave it, routing of keys to shards, and
//! the slot migrations it takes part in.
//!
//! There is no gossip: the control plane (the operator, or whoever runs `CLUSTER SETTOPOLOGY`) is the authority
//! on which shard serves which slots and which node is each shard's primary, and a node only accepts a topology
//! whose epoch is at least the one it has. A slot migration is the one change nodes make between themselves: the
//! source and the target flip the slots' owner under a new epoch, and the source hands that topology to every
//! node it knows.

pub mod migration;
pub mod topology;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use parking_lot::Mutex;

pub use migration::{Direction, Migration, State};
pub use topology::{Document, NodeDoc, NodeRole, Topology};

/// Where a key's command must go instead of here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redirect {
    /// No topology yet, or the slot is served by no shard.
    Down(&'static str),
    /// Another node serves the slot: `MOVED <slot> <endpoint>`.
    Moved(u16, String),
}

impl std::fmt::Display for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Redirect::Down(why) => write!(f, "CLUSTERDOWN {why}"),
            Redirect::Moved(slot, at) => write!(f, "MOVED {slot} {at}"),
        }
    }
}

/// How a node names another in redirections: `cluster-preferred-endpoint-type`, and whether the client came
/// over TLS (then the TLS port is announced).
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    /// `ip`, `hostname` or `unknown-endpoint`.
    pub preferred: &'a str,
    /// The client's connection is TLS.
    pub tls: bool,
}

impl Endpoint<'_> {
    /// The host part for a node.
    pub fn host<'n>(&self, n: &'n NodeDoc) -> &'n str {
        match self.preferred {
            "hostname" if !n.hostname.is_empty() => &n.hostname,
            "unknown-endpoint" => "?",
            _ => &n.ip,
        }
    }

    /// The port a client of this kind connects to.
    pub fn port(&self, n: &NodeDoc) -> u16 {
        if (self.tls && n.tls_port != 0) || n.port == 0 {
            n.tls_port
        } else {
            n.port
        }
    }

    /// `host:port`.
    pub fn of(&self, n: &NodeDoc) -> String {
        format!("{}:{}", self.host(n), self.port(n))
    }
}

/// The cluster state of a node (inert when cluster mode is off).
pub struct Cluster {
    enabled: bool,
    my_id: String,
    topology: ArcSwapOption<Topology>,
    /// Serializes topology changes (a check of the epoch and the store are one step).
    change: Mutex<()>,
    /// Shards of the keyspace, minus one (a slot's shard is `slot & shard_mask`).
    shard_mask: usize,
    migrations: Mutex<Vec<Arc<Migration>>>,
    /// Some export is collecting writes to its slots.
    capturing: AtomicBool,
    /// Counts exports asked for; the server floor's supervisor starts a driver for each.
    exports: tokio::sync::watch::Sender<u64>,
}

/// How many finished migrations `CLUSTER GETSLOTMIGRATIONS` keeps showing.
const MIGRATION_HISTORY: usize = 32;

impl Cluster {
    /// The cluster state of a node: off, or on with the node id kept in `dir` (created at first start).
    pub fn new(enabled: bool, dir: &Path, shards: usize) -> Result<Cluster, String> {
        let my_id = if enabled {
            load_or_create_id(dir)?
        } else {
            String::new()
        };
        Ok(Cluster {
            enabled,
            my_id,
            topology: ArcSwapOption::empty(),
            change: Mutex::new(()),
            shard_mask: shards.max(1).next_power_of_two().min(crate::slot::SLOTS) - 1,
            migrations: Mutex::new(Vec::new()),
            capturing: AtomicBool::new(false),
            exports: tokio::sync::watch::channel(0).0,
        })
    }

    /// True in cluster mode.
    #[inline]
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// This node's id (40 hex characters).
    pub fn my_id(&self) -> &str {
        &self.my_id
    }

    /// The current topology.
    #[inline]
    pub fn topology(&self) -> Option<Arc<Topology>> {
        self.topology.load_full()
    }

    /// The current epoch (0 without a topology).
    pub fn epoch(&self) -> u64 {
        self.topology.load().as_ref().map_or(0, |t| t.doc.epoch)
    }

    /// Installs a topology unless it is older than the current one. Returns whether it changed anything.
    pub fn set_topology(&self, t: Topology) -> Result<bool, String> {
        let _g = self.change.lock();
        if let Some(cur) = self.topology.load().as_ref() {
            if t.doc.epoch < cur.doc.epoch {
                return Err(format!(
                    "stale topology: epoch {} is older than the current epoch {}",
                    t.doc.epoch, cur.doc.epoch
                ));
            }
            if t.doc.epoch == cur.doc.epoch {
                if t.doc == cur.doc {
                    return Ok(false);
                }
                return Err(format!(
                    "topology epoch {} is already in use with other contents: a changed topology needs a higher epoch",
                    t.doc.epoch
                ));
            }
        }
        self.topology.store(Some(Arc::new(t)));
        Ok(true)
    }

    /// Checks that this node serves `slot` for a command: a primary serves its shard's slots; a replica serves
    /// reads of them to a connection that sent READONLY; anything else is redirected.
    #[inline]
    pub fn route(
        &self,
        slot: u16,
        write: bool,
        readonly_ok: bool,
        endpoint: Endpoint<'_>,
    ) -> Result<(), Redirect> {
        let guard = self.topology.load();
        let Some(t) = guard.as_ref() else {
            return Err(Redirect::Down("The cluster is down"));
        };
        let Some(owner) = t.owner(slot) else {
            return Err(Redirect::Down("Hash slot not served"));
        };
        if let Some((mine, node)) = t.me {
            if mine == owner {
                let role = t.doc.shards[mine].nodes[node].role;
                if role == NodeRole::Primary || (readonly_ok && !write) {
                    return Ok(());
                }
            }
        }
        Err(Redirect::Moved(slot, endpoint.of(t.primary(owner))))
    }

    /// The keyspace shard of a slot.
    pub fn shard_of(&self, slot: u16) -> usize {
        slot as usize & self.shard_mask
    }

    /// Records a new migration.
    pub fn add_migration(&self, m: Arc<Migration>) {
        let mut all = self.migrations.lock();
        all.push(m);
        // Forget the oldest finished ones beyond the history length.
        while all.len() > MIGRATION_HISTORY {
            match all.iter().position(|m| m.state().is_final()) {
                Some(i) => {
                    all.remove(i);
                }
                None => break,
            }
        }
    }

    /// Records an export asked for and wakes whoever drives exports.
    pub fn request_export(&self, m: Arc<Migration>) {
        self.add_migration(m);
        self.refresh_capture();
        self.exports.send_modify(|n| *n += 1);
    }

    /// Changes whenever an export is asked for.
    pub fn export_requests(&self) -> tokio::sync::watch::Receiver<u64> {
        self.exports.subscribe()
    }

    /// Every migration remembered, oldest first.
    pub fn migrations(&self) -> Vec<Arc<Migration>> {
        self.migrations.lock().clone()
    }

    /// The slots running migrations move (indexed by slot).
    pub fn busy_slots(&self) -> Vec<bool> {
        let mut busy = vec![false; crate::slot::SLOTS];
        for m in self.migrations.lock().iter() {
            if !m.state().is_final() {
                for (b, &s) in busy.iter_mut().zip(m.slots.iter()) {
                    *b |= s;
                }
            }
        }
        busy
    }

    /// Number of migrations not finished.
    pub fn active_migrations(&self) -> usize {
        self.migrations
            .lock()
            .iter()
            .filter(|m| !m.state().is_final())
            .count()
    }

    /// Re-reads whether some export collects writes (after one starts or stops).
    pub fn refresh_capture(&self) {
        let any = self
            .migrations
            .lock()
            .iter()
            .any(|m| m.direction == Direction::Export && m.collects());
        self.capturing.store(any, Ordering::Release);
    }

    /// True while some export collects the writes to its slots.
    #[inline]
    pub fn capturing(&self) -> bool {
        self.capturing.load(Ordering::Acquire)
    }

    /// Gives a write to the exports collecting its slot (called with the key's shard locked, so it is in order
    /// with the export's copy of that shard); each key comes with its place in the shard's hash space.
    pub fn capture(&self, slot: u16, keys: &[(u32, &[u8])], args: &[&[u8]]) {
        let shard = self.shard_of(slot);
        for m in self.migrations.lock().iter() {
            if m.direction == Direction::Export && m.collects() {
                m.collect(shard, slot, keys, args);
            }
        }
    }

    /// A write that names no key (FLUSHALL …) cannot be followed slot by slot: exports collecting writes fail.
    pub fn keyless_write(&self, name: &str) {
        for m in self.migrations.lock().iter() {
            if m.direction == Direction::Export && m.collects() {
                m.fail(format!("{name} ran on the source during the migration"));
            }
        }
    }
}

/// Reads this node's id from `<dir>/node-id`, creating it at first start.
fn load_or_create_id(dir: &Path) -> Result<String, String> {
    let path = dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let id = text.trim().to_ascii_lowercase();
            if topology::is_node_id(&id) {
                return Ok(id);
            }
            Err(format!(
                "{}: not a node id (40 hex characters)",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = crate::replication::new_id();
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(&path, format!("{id}\n")))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}
