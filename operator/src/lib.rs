//! Ferrocache operator: turns `CacheCluster` and `CacheParameterGroup` resources into running engine nodes.
//!
//! The crate is split by job: [`api`] holds the custom resource types (the CRDs are generated from them),
//! [`maintenance_window`], [`node_types`] and [`parameters`] are pure decision tables.

pub mod api;
pub mod error;
pub mod maintenance_window;
pub mod node_types;
pub mod parameters;

pub use error::{Error, Result};

/// Name this operator uses as its server-side apply field manager and event reporter.
pub const FIELD_MANAGER: &str = "ferrocache-operator";
