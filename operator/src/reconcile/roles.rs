//! Bootstrapping the `ferrocache.io/role` pod labels the endpoint Services select on.
//!
//! Only a node group that has never had roles gets them here: its lowest ordinal becomes the primary, the others
//! replicas. A group that has roles but lost its primary is left alone: choosing a new primary is failover
//! (the day-2 logic promotes the replica with the highest offset), and a recreated, empty pod must never be
//! labelled primary just because it has ordinal 0. New pods in a group with roles become replicas.

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;

use crate::api::Engine;
use crate::resources::{NODE_GROUP, ROLE, ROLE_PRIMARY, ROLE_REPLICA};

/// Labels to set: `(pod name, role)`.
pub fn role_changes(engine: Engine, pods: &[Pod]) -> Vec<(String, &'static str)> {
    if engine != Engine::Redis {
        return Vec::new();
    }
    let mut groups: Vec<&str> = pods
        .iter()
        .filter_map(|p| p.labels().get(NODE_GROUP).map(String::as_str))
        .collect();
    groups.sort_unstable();
    groups.dedup();
    let mut changes = Vec::new();
    for group in groups {
        let mut members: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.labels().get(NODE_GROUP).map(String::as_str) == Some(group))
            .collect();
        members.sort_by_key(|p| ordinal(p));
        let has_roles = members.iter().any(|p| p.labels().contains_key(ROLE));
        let first_is_zero = members.first().is_some_and(|p| ordinal(p) == Some(0));
        if !has_roles && !first_is_zero {
            // A new group without its ordinal 0 yet: wait for it rather than bootstrap around it.
            continue;
        }
        for (i, pod) in members.iter().enumerate() {
            if pod.labels().contains_key(ROLE) {
                continue;
            }
            let role = if !has_roles && i == 0 {
                ROLE_PRIMARY
            } else {
                ROLE_REPLICA
            };
            changes.push((pod.name_any(), role));
        }
    }
    changes
}

/// The StatefulSet ordinal at the end of a pod name.
fn ordinal(pod: &Pod) -> Option<u32> {
    pod.name_any().rsplit('-').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, role: Option<&str>) -> Pod {
        crate::fixtures::pod(name, role, false)
    }

    #[test]
    fn a_new_group_gets_ordinal_zero_as_primary_and_replicas_for_the_rest() {
        let pods = [
            pod("c-0001-1", None),
            pod("c-0001-0", None),
            pod("c-0001-2", None),
        ];
        assert_eq!(
            role_changes(Engine::Redis, &pods),
            [
                ("c-0001-0".to_string(), ROLE_PRIMARY),
                ("c-0001-1".into(), ROLE_REPLICA),
                ("c-0001-2".into(), ROLE_REPLICA)
            ]
        );
    }

    #[test]
    fn a_recreated_pod_in_a_group_with_roles_is_never_made_primary() {
        // The primary (ordinal 0) died and came back empty; ordinal 1 is still a replica: failover decides.
        let pods = [pod("c-0001-0", None), pod("c-0001-1", Some(ROLE_REPLICA))];
        assert_eq!(
            role_changes(Engine::Redis, &pods),
            [("c-0001-0".to_string(), ROLE_REPLICA)]
        );
    }

    #[test]
    fn without_ordinal_zero_a_new_group_waits_for_it() {
        let pods = [pod("c-0001-1", None)];
        assert!(role_changes(Engine::Redis, &pods).is_empty());
    }

    #[test]
    fn memcached_nodes_have_no_roles() {
        assert!(role_changes(Engine::Memcached, &[pod("c-0001-0", None)]).is_empty());
    }
}
