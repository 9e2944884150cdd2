//! Ferrocache operator: turns `CacheCluster` and `CacheParameterGroup` resources into running engine nodes.
//!
//! The crate is split by job: [`api`] holds the custom resource types (the CRDs are generated from them),
//! [`maintenance_window`], [`node_types`], [`parameters`] and [`pending_changes`] are pure decisions, and
//! [`resources`] builds the Kubernetes objects a cluster needs without talking to anything; [`reconcile`] is the
//! kube-runtime controller that applies them and reports status. The binary adds leader election
//! ([`leader_election`]), health and metrics endpoints ([`http`]) and [`metrics`]. [`platform`] is the seam
//! between day-2 decisions ([`failover`]) and where nodes run; [`local`] runs a cluster as engine processes on
//! this machine, talking to them through [`engine_client`].

pub mod api;
pub mod engine_client;
pub mod error;
pub mod failover;
#[cfg(test)]
mod fixtures;
pub mod http;
pub mod leader_election;
pub mod local;
pub mod maintenance_window;
pub mod metering;
pub mod metrics;
pub mod node_types;
pub mod parameters;
pub mod pending_changes;
pub mod platform;
pub mod reconcile;
pub mod resources;
pub mod rollout;
pub mod scaling;
pub mod sharding;
pub mod spec_change;
pub mod usage_export;
pub mod usage_limits;
pub mod wiring;

pub use error::{Error, Result};

/// Name this operator uses as its server-side apply field manager and event reporter.
pub const FIELD_MANAGER: &str = "ferrocache-operator";
