//! Test fixtures: the example manifests of `examples/` as typed objects, with the fields the API server would
//! have filled in (namespace, uid, generation).

use std::collections::BTreeMap;

use crate::api::{CacheCluster, CacheParameterGroup};
use crate::pending_changes::AppliedSpec;
use crate::resources::BuildInput;

/// `examples/redis-single-node.yaml`: redis, 1 node group × 0 replicas.
pub const REDIS_SINGLE_NODE: &str = include_str!("../../examples/redis-single-node.yaml");
/// `examples/redis-ha.yaml`: redis 1 × 2, multi-AZ, TLS, auth, parameter group, allowedClients.
pub const REDIS_HA: &str = include_str!("../../examples/redis-ha.yaml");
/// `examples/memcached.yaml`: memcached with 3 nodes.
pub const MEMCACHED: &str = include_str!("../../examples/memcached.yaml");
/// `examples/parameter-group.yaml`.
pub const PARAMETER_GROUP: &str = include_str!("../../examples/parameter-group.yaml");

/// A cluster from an example manifest, as the API server would return it (the test namespace is `testns`).
pub fn cluster(manifest: &str) -> CacheCluster {
    let mut cluster: CacheCluster =
        serde_yaml::from_str(manifest).expect("example manifest parses");
    cluster.metadata.namespace = Some("testns".into());
    cluster.metadata.uid = Some("3f1e0c4a-0000-4000-8000-000000000001".into());
    cluster.metadata.generation = Some(1);
    cluster
}

/// The example parameter group, as the API server would return it.
pub fn parameter_group() -> CacheParameterGroup {
    let mut group: CacheParameterGroup =
        serde_yaml::from_str(PARAMETER_GROUP).expect("example manifest parses");
    group.metadata.namespace = Some("testns".into());
    group.metadata.uid = Some("3f1e0c4a-0000-4000-8000-000000000002".into());
    group.metadata.generation = Some(1);
    group
}

/// Desired applied spec of a cluster with the given static parameters.
pub fn applied(cluster: &CacheCluster, statics: &[(&str, &str)]) -> AppliedSpec {
    AppliedSpec::desired(
        &cluster.spec,
        statics
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// Build input of a cluster.
pub fn input<'a>(
    cluster: &'a CacheCluster,
    applied: &'a AppliedSpec,
    dynamic: &'a BTreeMap<String, String>,
) -> BuildInput<'a> {
    BuildInput {
        cluster,
        applied,
        dynamic_parameters: dynamic,
    }
}

/// A pod of node group `0001` in `testns`, with an optional role label and its Ready condition.
pub fn pod(name: &str, role: Option<&str>, ready: bool) -> k8s_openapi::api::core::v1::Pod {
    use k8s_openapi::api::core::v1::{Pod, PodCondition, PodStatus};
    use kube::ResourceExt;
    let mut pod = Pod::default();
    pod.metadata.name = Some(name.into());
    pod.metadata.namespace = Some("testns".into());
    pod.labels_mut()
        .insert(crate::resources::NODE_GROUP.into(), "0001".into());
    if let Some(role) = role {
        pod.labels_mut()
            .insert(crate::resources::ROLE.into(), role.into());
    }
    pod.status = Some(PodStatus {
        conditions: Some(vec![PodCondition {
            type_: "Ready".into(),
            status: if ready { "True" } else { "False" }.into(),
            ..PodCondition::default()
        }]),
        ..PodStatus::default()
    });
    pod
}
