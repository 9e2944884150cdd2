//! Custom resource types of the `ferrocache.io/v1alpha1` API: [`CacheCluster`], [`CacheParameterGroup`] and
//! [`CacheUsageReport`].
//!
//! Field names follow Amazon ElastiCache where one exists, so an ElastiCache user recognises them. Every field has a
//! doc comment, which becomes its description in the CRD (`kubectl explain cachecluster.spec`). Defaults live in
//! the schema (the API server fills them in, so GitOps tools never see drift), and rules the schema cannot express
//! are CEL expressions (`x-kubernetes-validations`) checked by the API server. The CRD YAML in `crds/` is generated
//! from these types by `cargo run --bin crdgen`.

mod cache_cluster;
mod conditions;
mod crds;
mod parameter_group;
pub mod rules;
mod usage_report;

pub use cache_cluster::*;
pub use conditions::*;
pub use crds::{crd_files, CrdFile};
pub use parameter_group::*;
pub use usage_report::*;

/// API group of every Ferrocache resource.
pub const GROUP: &str = "ferrocache.io";
/// API version of the resources in this module.
pub const VERSION: &str = "v1alpha1";
