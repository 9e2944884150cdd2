//! PodDisruptionBudget per node group: voluntary disruptions (node drains) take one node of a group at a time.

use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{node_group_labels, node_group_name, node_group_selector, owned_meta};
use crate::api::CacheCluster;
use crate::Result;

/// The budget of node group `group`.
pub(super) fn pod_disruption_budget(
    cluster: &CacheCluster,
    group: i32,
) -> Result<PodDisruptionBudget> {
    Ok(PodDisruptionBudget {
        metadata: owned_meta(
            cluster,
            node_group_name(cluster, group),
            node_group_labels(cluster, group),
        )?,
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(node_group_selector(cluster, group)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        status: None,
    })
}
