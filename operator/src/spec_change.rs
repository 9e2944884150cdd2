//! What an edit of a running CacheCluster (or its parameter group) asks for, sorted by how it is applied:
//! refused (the cluster stays as it is), replicas to add or remove, dynamic parameters to set live with
//! `CONFIG SET`, and changes that restart nodes (engine version, node type, static parameters), which go through
//! a rolling patch gated by the maintenance window ([`crate::pending_changes`], [`crate::rollout`]).

use std::collections::BTreeMap;

use crate::api::CacheClusterSpec;
use crate::pending_changes::AppliedSpec;

/// The spec and the group's parameters split by change type.
#[derive(Debug, Clone, PartialEq)]
pub struct Configured {
    /// The CacheCluster spec.
    pub spec: CacheClusterSpec,
    /// Parameters that need a restart.
    pub static_parameters: BTreeMap<String, String>,
    /// Parameters applied live.
    pub dynamic_parameters: BTreeMap<String, String>,
}

impl Configured {
    /// The restart-needing part of the configuration.
    pub fn applied_spec(&self) -> AppliedSpec {
        AppliedSpec::desired(&self.spec, self.static_parameters.clone())
    }
}

/// The edit, classified.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpecChange {
    /// Changes that cannot be made to a running cluster, each saying why; when any is present nothing applies.
    pub refused: Vec<String>,
    /// The new `replicasPerNodeGroup`, when it or a node group's own `replicaCount` changed.
    pub replicas: Option<i32>,
    /// The new `numNodeGroups` of a sharded cluster, when it changed: slots are rebalanced online.
    pub node_groups: Option<i32>,
    /// The new `numCacheNodes` of a memcached cluster, when it changed.
    pub cache_nodes: Option<i32>,
    /// Dynamic parameters to `CONFIG SET` on every node (new or changed values).
    pub set_parameters: BTreeMap<String, String>,
    /// Dynamic parameters removed from the group: the engine default returns when each node next restarts.
    pub removed_parameters: Vec<String>,
    /// The restart-needing configuration changed.
    pub needs_restart: bool,
}

impl SpecChange {
    /// True when the edit changes nothing the nodes see.
    pub fn is_empty(&self) -> bool {
        self.refused.is_empty()
            && self.replicas.is_none()
            && self.node_groups.is_none()
            && self.cache_nodes.is_none()
            && self.set_parameters.is_empty()
            && self.removed_parameters.is_empty()
            && !self.needs_restart
    }
}

/// Classifies the change from `old` to `new`.
pub fn classify(old: &Configured, new: &Configured) -> SpecChange {
    let (o, n) = (&old.spec, &new.spec);
    let mut change = SpecChange::default();
    if o.engine != n.engine {
        change.refused.push(format!(
            "engine cannot change ({} to {}): create a new cluster and move the data",
            o.engine.as_str(),
            n.engine.as_str()
        ));
    }
    if o.cluster_mode != n.cluster_mode {
        change.refused.push(
            "clusterMode cannot change on a running cluster (keys are addressed differently): create a new CacheCluster and move the data".into(),
        );
    } else if o.num_node_groups != n.num_node_groups && n.sharded() {
        change.node_groups = Some(n.num_node_groups);
    }
    // With another engine the default port changes too; the engine change is what is refused.
    if o.engine == n.engine && o.client_port() != n.client_port() {
        change.refused.push(format!(
            "port cannot change on a running cluster ({} to {}): clients would lose their endpoint",
            o.client_port(),
            n.client_port()
        ));
    }
    if !change.refused.is_empty() {
        return change;
    }
    // Every group the running cluster has; a group's own replicaCount counts too.
    let groups = o.node_groups().max(n.node_groups());
    let redis = n.engine == crate::api::Engine::Redis;
    if o.replicas_per_node_group != n.replicas_per_node_group
        || (redis && (0..groups).any(|g| o.replicas_in_group(g) != n.replicas_in_group(g)))
    {
        change.replicas = Some(n.replicas_per_node_group);
    }
    if n.engine == crate::api::Engine::Memcached && o.num_cache_nodes != n.num_cache_nodes {
        change.cache_nodes = Some(n.num_cache_nodes);
    }
    for (name, value) in &new.dynamic_parameters {
        if old.dynamic_parameters.get(name) != Some(value) {
            change.set_parameters.insert(name.clone(), value.clone());
        }
    }
    change.removed_parameters = old
        .dynamic_parameters
        .keys()
        .filter(|k| !new.dynamic_parameters.contains_key(*k))
        .cloned()
        .collect();
    change.needs_restart = old.applied_spec() != new.applied_spec();
    change
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CacheNodeType, ClusterMode, Engine};
    use crate::fixtures::{cluster, REDIS_SINGLE_NODE};

    fn configured(edit: impl FnOnce(&mut Configured)) -> Configured {
        let mut c = Configured {
            spec: cluster(REDIS_SINGLE_NODE).spec,
            static_parameters: BTreeMap::new(),
            dynamic_parameters: BTreeMap::from([("timeout".into(), "0".into())]),
        };
        edit(&mut c);
        c
    }

    #[test]
    fn replicas_and_dynamic_parameters_apply_without_restart() {
        let old = configured(|_| {});
        let new = configured(|c| {
            c.spec.replicas_per_node_group = 3;
            c.dynamic_parameters.insert("timeout".into(), "300".into());
            c.dynamic_parameters.insert("hz".into(), "20".into());
        });
        let change = classify(&old, &new);
        assert_eq!(change.replicas, Some(3));
        assert_eq!(change.set_parameters.len(), 2);
        assert!(!change.needs_restart);
    }

    #[test]
    fn node_type_version_and_static_parameters_need_a_restart() {
        let old = configured(|_| {});
        for edit in [
            (|c: &mut Configured| c.spec.cache_node_type = CacheNodeType::Large)
                as fn(&mut Configured),
            |c| c.spec.engine_version = "0.2.0".into(),
            |c| {
                c.static_parameters.insert("databases".into(), "32".into());
            },
        ] {
            let change = classify(&old, &configured(edit));
            assert!(
                change.needs_restart && change.refused.is_empty(),
                "{change:?}"
            );
        }
    }

    #[test]
    fn engine_and_cluster_mode_changes_are_refused_and_nothing_else_applies() {
        let old = configured(|_| {});
        let new = configured(|c| {
            c.spec.engine = Engine::Memcached;
            c.spec.cluster_mode = ClusterMode::Enabled;
            c.spec.num_node_groups = 2;
            c.spec.replicas_per_node_group = 2;
        });
        let change = classify(&old, &new);
        assert_eq!(change.refused.len(), 2, "{:?}", change.refused);
        assert!(change.refused[1].contains("clusterMode"));
        assert_eq!((change.replicas, change.node_groups), (None, None));
    }

    #[test]
    fn a_sharded_cluster_reshards_when_its_shard_count_changes() {
        let sharded = |n| {
            configured(move |c| {
                c.spec.cluster_mode = ClusterMode::Enabled;
                c.spec.num_node_groups = n;
            })
        };
        let change = classify(&sharded(3), &sharded(5));
        assert!(change.refused.is_empty(), "{:?}", change.refused);
        assert_eq!(change.node_groups, Some(5));
        assert!(!change.needs_restart && !change.is_empty());
    }

    #[test]
    fn a_removed_dynamic_parameter_waits_for_the_next_restart() {
        let old = configured(|_| {});
        let new = configured(|c| c.dynamic_parameters.clear());
        assert_eq!(classify(&old, &new).removed_parameters, vec!["timeout"]);
    }

    #[test]
    fn a_shard_replica_count_change_scales_replicas() {
        let sharded = |replicas: Option<i32>| {
            configured(move |c| {
                c.spec.cluster_mode = ClusterMode::Enabled;
                c.spec.num_node_groups = 2;
                if let Some(r) = replicas {
                    c.spec.set_replicas_in_group(1, r);
                }
            })
        };
        let change = classify(&sharded(None), &sharded(Some(2)));
        assert!(change.replicas.is_some(), "{change:?}");
        assert!(change.node_groups.is_none() && !change.needs_restart);
        assert!(classify(&sharded(Some(2)), &sharded(Some(2))).is_empty());
    }
}
