//! The seam between day-2 decisions and the world: a platform runs engine nodes and routes the cluster's
//! endpoints to them.
//!
//! Decisions (whom to promote, when) know only this trait; `local` implements it with child processes of
//! `ferrocache-engine` on 127.0.0.1. A platform starts every node as a standby (`--role standby`): it holds no
//! primary role until the operator promotes it, so a restarted node can never come back as an empty primary.
//! Talking to the engine itself (REPLICAOF, INFO) is not the platform's job but [`crate::engine_client`]'s.

pub mod local;

use std::net::SocketAddr;

use crate::api::Engine;
use crate::Result;

/// What a platform needs to run one node.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSpec {
    /// Node name, unique in the cluster: `<cluster>-<node group id>-<index>`.
    pub name: String,
    /// Node group (shard) index, from 0.
    pub node_group: i32,
    /// Position in the node group, from 0.
    pub index: i32,
    /// Protocol the node serves.
    pub engine: Engine,
    /// Engine configuration file text (redis.conf style); the platform adds address, role and directories.
    pub config: String,
}

/// The role a node plays behind the cluster's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Serves writes; behind the primary endpoint.
    Primary,
    /// Follows the primary; behind the reader endpoint.
    Replica,
    /// An independent memcached node; behind the configuration endpoint.
    Memcached,
    /// A replica that is (re)starting or still syncing: behind no endpoint until it has caught up.
    Syncing,
}

impl Role {
    /// The role as shown to people and in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica => "replica",
            Role::Memcached => "memcached",
            Role::Syncing => "syncing",
        }
    }
}

/// Whether a node's process (or pod) exists, as the platform sees it; whether it answers is checked separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Running.
    Running,
    /// Stopped or crashed, with the exit code when there is one.
    Gone(Option<i32>),
}

/// One node as listed by the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// Node name.
    pub name: String,
    /// Node group index.
    pub node_group: i32,
    /// Address clients and replicas use.
    pub address: SocketAddr,
    /// Whether its process exists.
    pub presence: Presence,
    /// The role last set with [`Platform::set_role`], if any.
    pub role: Option<Role>,
}

/// The seam: what day-2 logic needs from where nodes run.
pub trait Platform {
    /// Starts a new node (as a standby) and returns its address.
    fn create_node(&mut self, spec: &NodeSpec) -> Result<SocketAddr>;
    /// Stops a node if it runs and starts it again from `spec`, at the same address, as a standby.
    fn replace_node(&mut self, spec: &NodeSpec) -> Result<SocketAddr>;
    /// Stops a node and forgets it.
    fn delete_node(&mut self, name: &str) -> Result<()>;
    /// Every node with its address and presence, in name order.
    fn list_nodes(&mut self) -> Vec<NodeState>;
    /// Records a node's role and moves the endpoints accordingly (the primary endpoint follows `Primary`).
    fn set_role(&mut self, name: &str, role: Role) -> Result<()>;
}
