//! Pure builders: a CacheCluster (with its parameters and the rollout plan) → the Kubernetes objects that run it.
//!
//! Nothing here talks to the API server; the reconciler applies what these functions return. Each file builds
//! one kind of object, and the snapshot tests in `tests/resources.rs` pin their exact output.

mod certificate;
mod disruption_budget;
mod engine_config;
mod labels;
mod names;
mod network_policy;
mod services;
mod stateful_set;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::DynamicObject;
use kube::{Resource, ResourceExt};

pub use certificate::{certificate_resource, issued_secret_name};
pub use engine_config::{config_hash, engine_config_file, maxmemory, CONFIG_FILE_KEY};
pub use labels::*;
pub use names::*;
pub use stateful_set::tls_secret_name;

use crate::api::CacheCluster;
use crate::pending_changes::AppliedSpec;
use crate::{Error, Result};

/// What the builders need besides the cluster.
#[derive(Debug, Clone, Copy)]
pub struct BuildInput<'a> {
    /// The cluster.
    pub cluster: &'a CacheCluster,
    /// Restart-gated values the pods carry (see `pending_changes`).
    pub applied: &'a AppliedSpec,
    /// Dynamic parameters of the cluster's parameter group (applied to running nodes without restart).
    pub dynamic_parameters: &'a BTreeMap<String, String>,
}

/// Every object a cluster consists of.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterObjects {
    /// The engine configuration file.
    pub config_map: ConfigMap,
    /// One StatefulSet per node group.
    pub stateful_sets: Vec<StatefulSet>,
    /// Headless Services per node group, then the client endpoints.
    pub services: Vec<Service>,
    /// One budget per node group.
    pub disruption_budgets: Vec<PodDisruptionBudget>,
    /// Present when the spec lists allowedClients.
    pub network_policy: Option<NetworkPolicy>,
    /// cert-manager Certificate, present when TLS comes from `tls.issuerRef`.
    pub certificate: Option<DynamicObject>,
}

/// Builds every object of the cluster.
pub fn build(input: BuildInput<'_>) -> Result<ClusterObjects> {
    let config_map = engine_config::config_map(input)?;
    // Dynamic parameters are set live on running nodes: they stay out of the hash on the pod template, so
    // changing one does not even make a new template revision.
    // The auto-discovery file changes with membership, which needs no restart either.
    let no_dynamic = BTreeMap::new();
    let mut restart_relevant = engine_config::config_map(BuildInput {
        dynamic_parameters: &no_dynamic,
        ..input
    })?;
    if let Some(data) = restart_relevant.data.as_mut() {
        data.remove(engine_config::CLUSTER_FILE_KEY);
    }
    let hash = config_hash(&restart_relevant);
    let groups = 0..input.cluster.spec.node_groups();
    let stateful_sets = groups
        .clone()
        .map(|g| stateful_set::stateful_set(input, g, &hash))
        .collect::<Result<Vec<_>>>()?;
    let mut services = groups
        .clone()
        .map(|g| services::headless(input.cluster, g))
        .collect::<Result<Vec<_>>>()?;
    services.extend(services::endpoints(input.cluster)?);
    let disruption_budgets = groups
        .map(|g| disruption_budget::pod_disruption_budget(input.cluster, g))
        .collect::<Result<Vec<_>>>()?;
    let network_policy = network_policy::network_policy(input.cluster)?;
    let certificate = certificate::certificate(input.cluster)?;
    Ok(ClusterObjects {
        config_map,
        stateful_sets,
        services,
        disruption_budgets,
        network_policy,
        certificate,
    })
}

/// Metadata of an object owned by the cluster: name, namespace, labels, controller owner reference.
/// Metadata of an object the cluster owns (deleted with it).
pub fn owned_meta(
    cluster: &CacheCluster,
    name: String,
    labels: BTreeMap<String, String>,
) -> Result<ObjectMeta> {
    Ok(ObjectMeta {
        name: Some(name),
        namespace: Some(namespace(cluster)?),
        labels: Some(labels),
        owner_references: Some(vec![owner_reference(cluster)?]),
        ..ObjectMeta::default()
    })
}

/// The cluster's namespace (always set on objects read from the API server).
pub fn namespace(cluster: &CacheCluster) -> Result<String> {
    cluster.namespace().ok_or(Error::MissingObjectKey {
        kind: "CacheCluster",
        field: "metadata.namespace",
    })
}

fn owner_reference(cluster: &CacheCluster) -> Result<OwnerReference> {
    cluster
        .controller_owner_ref(&())
        .ok_or(Error::MissingObjectKey {
            kind: "CacheCluster",
            field: "metadata.uid",
        })
}

#[cfg(test)]
mod tests;
