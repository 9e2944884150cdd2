//! The local platform: every node is a child process of `ferrocache-engine` on 127.0.0.1 with its own port,
//! data directory and log file under a state directory (`.ferrocache/<namespace>/<name>/<node>/`), and every
//! endpoint is a forwarding listener on 127.0.0.1 ([`endpoint::Endpoint`]).
//!
//! Ports: with a base port `B`, the primary (or configuration) endpoint listens on `B`, the reader
//! endpoint on `B + 1`, and node `i` of node group `g` on `B + 2 + 6g + i` (a node group has at most 6 nodes);
//! without one, every listener takes a free port. A replaced node keeps its port, directory and log.

pub mod endpoint;
pub mod engine_binary;
mod process;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Child;

use endpoint::Endpoint;
use process::Launch;

use super::{NodeSpec, NodeState, Platform, Presence, Role};
use crate::api::Engine;
use crate::{Error, Result};

/// Nodes per node group the port layout leaves room for (a primary and up to 5 replicas).
const PORTS_PER_GROUP: u16 = 6;

/// Where and how the local platform runs a cluster.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Directory of this cluster's nodes (created if missing).
    pub state_dir: PathBuf,
    /// First port of the layout described in the module documentation; `None` picks free ports.
    pub base_port: Option<u16>,
    /// The engine binary (see [`engine_binary::locate`]).
    pub engine_binary: PathBuf,
    /// A sharded (cluster mode) Redis cluster: one configuration endpoint over every node instead of primary
    /// and reader endpoints.
    pub sharded: bool,
}

/// The cluster's client endpoints.
#[derive(Debug)]
pub struct Endpoints {
    /// Read-write endpoint (Redis): follows the primary.
    pub primary: Option<Endpoint>,
    /// Read-only endpoint (Redis): balances over the replicas, or the primary when there are none.
    pub reader: Option<Endpoint>,
    /// Configuration endpoint: any node, each answering `config get cluster` (memcached) or `CLUSTER SLOTS`
    /// (sharded Redis).
    pub configuration: Option<Endpoint>,
}

#[derive(Debug)]
struct LocalNode {
    spec: NodeSpec,
    port: u16,
    child: Option<Child>,
    role: Option<Role>,
}

/// Engine processes on 127.0.0.1; every child is stopped when the platform is dropped.
#[derive(Debug)]
pub struct LocalPlatform {
    options: LocalOptions,
    engine: Engine,
    nodes: BTreeMap<String, LocalNode>,
    endpoints: Endpoints,
    cluster_config_version: u64,
}

impl LocalPlatform {
    /// Creates the state directory and binds the cluster's endpoints. Must be called inside a tokio runtime.
    pub fn new(engine: Engine, options: LocalOptions) -> Result<LocalPlatform> {
        std::fs::create_dir_all(&options.state_dir).map_err(|source| Error::Io {
            what: format!("create {}", options.state_dir.display()),
            source,
        })?;
        let port = |offset: u16| options.base_port.map_or(0, |b| b.saturating_add(offset));
        let endpoints = match engine {
            Engine::Redis if options.sharded => Endpoints {
                primary: None,
                reader: None,
                configuration: Some(Endpoint::bind("configuration", port(0))?),
            },
            Engine::Redis => Endpoints {
                primary: Some(Endpoint::bind("primary", port(0))?),
                reader: Some(Endpoint::bind("reader", port(1))?),
                configuration: None,
            },
            Engine::Memcached => Endpoints {
                primary: None,
                reader: None,
                configuration: Some(Endpoint::bind("configuration", port(0))?),
            },
        };
        Ok(LocalPlatform {
            options,
            engine,
            nodes: BTreeMap::new(),
            endpoints,
            cluster_config_version: 0,
        })
    }

    /// The cluster's endpoints.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.options.state_dir
    }

    /// Process id of a running node (for diagnostics and tests).
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.nodes
            .get(name)
            .and_then(|n| n.child.as_ref())
            .map(Child::id)
    }

    /// A node's log file.
    pub fn log_file(&self, name: &str) -> PathBuf {
        self.node_dir(name).join("engine.log")
    }

    /// Stops every node (SIGTERM, then SIGKILL after a grace period) and closes the endpoints' targets.
    pub fn stop_all(&mut self) {
        // Every node is told first, so they stop together rather than one after another.
        for child in self.nodes.values_mut().filter_map(|n| n.child.as_mut()) {
            if process::presence(child) == Presence::Running {
                process::terminate(child);
            }
        }
        for node in self.nodes.values_mut() {
            if let Some(child) = node.child.as_mut() {
                process::stop(child, process::STOP_GRACE);
            }
            node.child = None;
        }
        for endpoint in self.all_endpoints() {
            endpoint.set_targets(Vec::new());
        }
    }

    /// Client connections the endpoints are forwarding to `node` now.
    pub fn open_connections(&self, node: &str) -> usize {
        let Some(n) = self.nodes.get(node) else {
            return 0;
        };
        let address = SocketAddr::from(([127, 0, 0, 1], n.port));
        self.all_endpoints()
            .map(|e| e.open_connections(address))
            .sum()
    }

    fn all_endpoints(&self) -> impl Iterator<Item = &Endpoint> {
        [
            &self.endpoints.primary,
            &self.endpoints.reader,
            &self.endpoints.configuration,
        ]
        .into_iter()
        .flatten()
    }

    fn node_dir(&self, name: &str) -> PathBuf {
        self.options.state_dir.join(name)
    }

    fn cluster_config_path(&self) -> PathBuf {
        self.options.state_dir.join("cluster-config")
    }

    fn port_for(&self, spec: &NodeSpec) -> Result<u16> {
        if let Some(base) = self.options.base_port {
            let group = u16::try_from(spec.node_group).unwrap_or(u16::MAX);
            let index = u16::try_from(spec.index).unwrap_or(u16::MAX);
            let offset = group
                .saturating_mul(PORTS_PER_GROUP)
                .saturating_add(index)
                .saturating_add(2);
            return Ok(base.saturating_add(offset));
        }
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|source| Error::Io {
                what: "find a free port on 127.0.0.1".into(),
                source,
            })
    }

    fn start(&mut self, spec: &NodeSpec, port: u16) -> Result<Child> {
        let dir = self.node_dir(&spec.name);
        let cluster_config = self.cluster_config_path();
        if spec.engine == Engine::Memcached && !cluster_config.exists() {
            self.write_cluster_config()?;
        }
        let launch = Launch {
            binary: &self.options.engine_binary,
            dir: &dir,
            port,
            engine: spec.engine,
            cluster_config: (spec.engine == Engine::Memcached).then_some(cluster_config.as_path()),
        };
        process::spawn(&launch, &spec.config)
    }

    /// Points the endpoints at the nodes holding each role.
    fn route(&mut self) -> Result<()> {
        let with = |role: Role| -> Vec<SocketAddr> {
            self.nodes
                .values()
                .filter(|n| n.role == Some(role))
                .map(|n| SocketAddr::from(([127, 0, 0, 1], n.port)))
                .collect()
        };
        let (primaries, replicas, memcached) = (
            with(Role::Primary),
            with(Role::Replica),
            with(Role::Memcached),
        );
        if let Some(e) = &self.endpoints.primary {
            e.set_targets(primaries.clone());
        }
        if let Some(e) = &self.endpoints.reader {
            e.set_targets(if replicas.is_empty() {
                primaries.clone()
            } else {
                replicas.clone()
            });
        }
        if let Some(e) = &self.endpoints.configuration {
            e.set_targets(if self.options.sharded {
                primaries.iter().chain(&replicas).copied().collect()
            } else {
                memcached
            });
        }
        if self.engine == Engine::Memcached {
            self.write_cluster_config()?;
        }
        Ok(())
    }

    /// The auto-discovery file: a version line, then `hostname|ip|port` per node.
    fn write_cluster_config(&mut self) -> Result<()> {
        self.cluster_config_version += 1;
        let entries: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.role == Some(Role::Memcached))
            .map(|n| format!("{}|127.0.0.1|{}", n.spec.name, n.port))
            .collect();
        let text = format!("{}\n{}\n", self.cluster_config_version, entries.join(" "));
        let path = self.cluster_config_path();
        std::fs::write(&path, text).map_err(|source| Error::Io {
            what: format!("write {}", path.display()),
            source,
        })
    }
}

impl Platform for LocalPlatform {
    fn create_node(&mut self, spec: &NodeSpec) -> Result<SocketAddr> {
        if self.nodes.contains_key(&spec.name) {
            return self.replace_node(spec);
        }
        let port = self.port_for(spec)?;
        let child = self.start(spec, port)?;
        self.nodes.insert(
            spec.name.clone(),
            LocalNode {
                spec: spec.clone(),
                port,
                child: Some(child),
                role: None,
            },
        );
        Ok(SocketAddr::from(([127, 0, 0, 1], port)))
    }

    fn replace_node(&mut self, spec: &NodeSpec) -> Result<SocketAddr> {
        let Some(mut node) = self.nodes.remove(&spec.name) else {
            return self.create_node(spec);
        };
        if let Some(child) = node.child.as_mut() {
            process::stop(child, process::REPLACE_GRACE);
        }
        node.child = None;
        let started = self.start(spec, node.port);
        node.spec = spec.clone();
        let port = node.port;
        let outcome = started.map(|child| {
            node.child = Some(child);
            SocketAddr::from(([127, 0, 0, 1], port))
        });
        self.nodes.insert(spec.name.clone(), node);
        outcome
    }

    fn delete_node(&mut self, name: &str) -> Result<()> {
        if let Some(mut node) = self.nodes.remove(name) {
            if let Some(child) = node.child.as_mut() {
                process::stop(child, process::STOP_GRACE);
            }
        }
        self.route()
    }

    fn list_nodes(&mut self) -> Vec<NodeState> {
        self.nodes
            .values_mut()
            .map(|n| NodeState {
                name: n.spec.name.clone(),
                node_group: n.spec.node_group,
                address: SocketAddr::from(([127, 0, 0, 1], n.port)),
                presence: n
                    .child
                    .as_mut()
                    .map_or(Presence::Gone(None), process::presence),
                role: n.role,
            })
            .collect()
    }

    fn set_role(&mut self, name: &str, role: Role) -> Result<()> {
        let node = self.nodes.get_mut(name).ok_or_else(|| Error::Node {
            node: name.to_string(),
            message: "no such node on the local platform".into(),
        })?;
        node.role = Some(role);
        if role == Role::Primary {
            // One primary per node group: the previous one is no longer routed as such.
            let group = node.spec.node_group;
            for other in self.nodes.values_mut() {
                if other.spec.name != name
                    && other.spec.node_group == group
                    && other.role == Some(Role::Primary)
                {
                    other.role = Some(Role::Replica);
                }
            }
        }
        self.route()
    }
}

impl Drop for LocalPlatform {
    fn drop(&mut self) {
        self.stop_all();
    }
}
