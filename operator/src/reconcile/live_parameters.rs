//! Dynamic parameters reach running Redis nodes at once, with `CONFIG SET`, no restart (ElastiCache applies
//! dynamic parameter group changes the same way). The ConfigMap carries them too, so a node that restarts
//! starts with them. Each pod records the parameter set it runs with in an annotation, so a node is told once
//! per change, and a recreated pod (no annotation) is told again.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::replication::Reach;
use super::{pod_ready, Context};
use crate::api::CacheCluster;
use crate::Result;

/// Pod annotation: the hash of the dynamic parameters the node was last given.
pub const DYNAMIC_PARAMETERS: &str = "ferrocache.io/dynamic-parameters";

/// A stable hash of a parameter set (FNV-1a over names and values).
pub fn parameters_hash(parameters: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in parameters {
        for byte in name.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Ready pods whose annotation `key` does not record `hash` yet (their node has not been given that state).
pub fn stale_pods<'p>(pods: &'p [Pod], key: &str, hash: &str) -> Vec<&'p Pod> {
    pods.iter()
        .filter(|p| pod_ready(p))
        .filter(|p| p.annotations().get(key).map(String::as_str) != Some(hash))
        .collect()
}

/// Applies `dynamic` to every Redis node that does not run with it yet; returns what went wrong, if anything.
pub async fn apply(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &mut [Pod],
    dynamic: &BTreeMap<String, String>,
    reach: &Reach<'_>,
) -> Result<Option<String>> {
    let access = match reach {
        // No Redis node to reach (memcached nodes take their parameters at start only).
        None => return Ok(None),
        Some(Err(problem)) => return Ok(Some(problem.clone())),
        Some(Ok(access)) => access,
    };
    let hash = parameters_hash(dynamic);
    let stale: Vec<String> = stale_pods(pods, DYNAMIC_PARAMETERS, &hash)
        .into_iter()
        .filter(|p| ctx.reachable(cluster, p))
        .map(|p| p.name_any())
        .collect();
    if stale.is_empty() {
        return Ok(None);
    }
    let pairs: Vec<(&str, &str)> = dynamic
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let mut problem = None;
    for name in stale {
        let Some(pod) = pods.iter().find(|p| p.name_any() == name) else {
            continue;
        };
        let Some((client, _)) = access.client(pod) else {
            continue;
        };
        if !pairs.is_empty() {
            if let Err(e) = client.config_set_many(&pairs).await {
                warn!(cluster = %cluster.name_any(), %namespace, node = %name, error = %e, "CONFIG SET failed");
                problem
                    .get_or_insert_with(|| format!("applying dynamic parameters to {name}: {e}"));
                continue;
            }
        }
        let annotation = serde_json::json!({ "annotations": { DYNAMIC_PARAMETERS: hash } });
        super::patch_pod(&api, pods, &name, annotation).await?;
        info!(cluster = %cluster.name_any(), %namespace, node = %name, parameters = pairs.len(), "dynamic parameters applied");
    }
    Ok(problem)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    #[test]
    fn only_ready_pods_without_the_current_set_are_stale() {
        let params = BTreeMap::from([("maxmemory-policy".to_string(), "allkeys-lfu".to_string())]);
        let hash = parameters_hash(&params);
        let mut done = fixtures::pod("c-0001-0", None, true);
        done.annotations_mut()
            .insert(DYNAMIC_PARAMETERS.into(), hash.clone());
        let stale = fixtures::pod("c-0001-1", None, true);
        let starting = fixtures::pod("c-0001-2", None, false);
        let pods = [done, stale, starting];
        let names: Vec<String> = stale_pods(&pods, DYNAMIC_PARAMETERS, &hash)
            .iter()
            .map(|p| p.name_any())
            .collect();
        assert_eq!(names, ["c-0001-1"]);
        let changed = BTreeMap::from([("maxmemory-policy".to_string(), "allkeys-lru".to_string())]);
        assert_ne!(parameters_hash(&changed), hash);
        assert_eq!(
            stale_pods(&pods, DYNAMIC_PARAMETERS, &parameters_hash(&changed)).len(),
            2
        );
    }
}
