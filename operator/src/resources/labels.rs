//! Labels and annotations on the objects and pods of a cluster.
//!
//! Selectors use only labels that never change for a pod's life (cluster, node group), except the endpoints,
//! which select on [`ROLE`]: the operator moves that label to change which pod is the primary.

use std::collections::BTreeMap;

use kube::ResourceExt;

use crate::api::CacheCluster;

/// The cluster a pod belongs to.
pub const CLUSTER: &str = "ferrocache.io/cluster";
/// The node group (shard) a pod belongs to, e.g. `0001`.
pub const NODE_GROUP: &str = "ferrocache.io/node-group";
/// `primary` or `replica` (Redis); set on pods by the operator, selected by the endpoint Services.
pub const ROLE: &str = "ferrocache.io/role";
/// Role label value of a primary.
pub const ROLE_PRIMARY: &str = "primary";
/// Role label value of a replica.
pub const ROLE_REPLICA: &str = "replica";
/// Pod template annotation: hash of the engine configuration file the pod was built for.
pub const CONFIG_HASH_ANNOTATION: &str = "ferrocache.io/config-hash";
/// Pod label the operator's own pods carry (admitted by every cluster's NetworkPolicy).
pub const OPERATOR_POD_LABEL: (&str, &str) = ("app.kubernetes.io/name", "ferrocache-operator");

/// Labels on every object of the cluster.
pub fn common_labels(cluster: &CacheCluster) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".into(), "ferrocache".into()),
        ("app.kubernetes.io/instance".into(), cluster.name_any()),
        (
            "app.kubernetes.io/managed-by".into(),
            "ferrocache-operator".into(),
        ),
        (CLUSTER.into(), cluster.name_any()),
    ])
}

/// Labels of a node group's objects and pods.
pub fn node_group_labels(cluster: &CacheCluster, group: i32) -> BTreeMap<String, String> {
    let mut labels = common_labels(cluster);
    labels.insert("app.kubernetes.io/component".into(), "cache-node".into());
    labels.insert(NODE_GROUP.into(), super::node_group_id(group));
    labels
}

/// The node group index (from 0) an object's `ferrocache.io/node-group` label names (`0001` → 0).
pub fn node_group_of(object: &impl kube::Resource) -> Option<i32> {
    let label: i32 = object
        .meta()
        .labels
        .as_ref()?
        .get(NODE_GROUP)?
        .parse()
        .ok()?;
    Some(label - 1)
}

/// Selector of every pod of the cluster.
pub fn cluster_selector(cluster: &CacheCluster) -> BTreeMap<String, String> {
    BTreeMap::from([(CLUSTER.into(), cluster.name_any())])
}

/// Selector of a node group's pods (immutable in the StatefulSet, so kept minimal).
pub fn node_group_selector(cluster: &CacheCluster, group: i32) -> BTreeMap<String, String> {
    let mut selector = cluster_selector(cluster);
    selector.insert(NODE_GROUP.into(), super::node_group_id(group));
    selector
}

/// Selector of the pods in a role.
pub fn role_selector(cluster: &CacheCluster, role: &str) -> BTreeMap<String, String> {
    let mut selector = cluster_selector(cluster);
    selector.insert(ROLE.into(), role.into());
    selector
}
