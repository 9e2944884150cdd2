//! The CacheCluster status as a pure function of what was observed: pods, the rollout plan, and any reason the
//! cluster cannot be built.

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::api::{
    condition, CacheCluster, CacheClusterStatus, ClusterState, Engine, NodeStatus,
    PendingModifiedValues, Phase, DEGRADED, PROGRESSING, READY,
};
use crate::pending_changes::{AppliedSpec, APPLIED_ANNOTATION};
use crate::resources::{
    configuration_service_name, primary_service_name, reader_service_name, service_endpoint,
    NODE_GROUP, ROLE, ROLE_PRIMARY,
};

/// Why a cluster is not built, reported as its status instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Blocker {
    /// `cacheParameterGroupName` names no group in the namespace.
    MissingParameterGroup(String),
    /// The group is of another engine's family.
    ParameterGroupFamilyMismatch {
        /// Group name.
        group: String,
        /// The group's family.
        family: String,
    },
    /// The group has parameters the engine refuses.
    InvalidParameterGroup {
        /// Group name.
        group: String,
        /// `name: reason` of each refused parameter.
        problems: Vec<String>,
    },
    /// `tls.issuerRef` asks cert-manager for the certificate, but its Certificate API is not installed.
    CertManagerMissing,
    /// `nodeGroupConfiguration` slots of a new sharded cluster do not give every slot to exactly one shard.
    InvalidShardSlots(String),
}

impl Blocker {
    /// Condition reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Blocker::MissingParameterGroup(_) => "ParameterGroupNotFound",
            Blocker::ParameterGroupFamilyMismatch { .. } => "ParameterGroupFamilyMismatch",
            Blocker::InvalidParameterGroup { .. } => "InvalidParameters",
            Blocker::CertManagerMissing => "CertManagerMissing",
            Blocker::InvalidShardSlots(_) => "InvalidShardSlots",
        }
    }

    /// What a user reads in the condition and the Event.
    pub fn message(&self) -> String {
        match self {
            Blocker::MissingParameterGroup(name) => {
                format!("CacheParameterGroup {name} does not exist in this namespace; create it or fix cacheParameterGroupName")
            }
            Blocker::ParameterGroupFamilyMismatch { group, family } => {
                format!("CacheParameterGroup {group} is of family {family}, which does not match the cluster's engine")
            }
            Blocker::InvalidParameterGroup { group, problems } => {
                format!("CacheParameterGroup {group} has invalid parameters: {}", problems.join("; "))
            }
            Blocker::InvalidShardSlots(why) => why.clone(),
            Blocker::CertManagerMissing => "tls.issuerRef needs cert-manager, whose Certificate API (cert-manager.io/v1) is not installed in this cluster; install cert-manager or use tls.secretName".to_string(),
        }
    }

    /// The ElastiCache-style state it puts the cluster in.
    pub fn state(&self) -> ClusterState {
        match self {
            Blocker::CertManagerMissing | Blocker::InvalidShardSlots(_) => {
                ClusterState::IncompatibleConfiguration
            }
            _ => ClusterState::IncompatibleParameters,
        }
    }
}

/// What the status is computed from.
pub struct Observation<'a> {
    /// The cluster, with its previous status.
    pub cluster: &'a CacheCluster,
    /// Its pods (empty when blocked before anything was built).
    pub pods: &'a [Pod],
    /// Changes waiting for the maintenance window.
    pub pending: PendingModifiedValues,
    /// Why the cluster is not built, if it is not.
    pub blocker: Option<Blocker>,
    /// The cluster is being deleted.
    pub deleting: bool,
    /// What keeps replication from being healthy (primary down, failover off or impossible).
    pub replication_problem: Option<String>,
    /// A failover was started by this reconcile.
    pub failing_over: bool,
    /// What a rolling patch (or a node group kept at its size until its primary moves) is doing or waiting for.
    pub rollout: Option<String>,
    /// What resharding (a sharded cluster's slots moving between shards) is doing or waiting for.
    pub resharding: Option<String>,
    /// Why an asked change is not carried out (a scale-in whose data would not fit).
    pub refused: Option<String>,
    /// Now.
    pub now: Timestamp,
}

/// Computes the new status.
pub fn compute(o: Observation<'_>) -> CacheClusterStatus {
    let cluster = o.cluster;
    let previous = cluster.status.clone().unwrap_or_default();
    let generation = cluster.metadata.generation;
    let desired = cluster.spec.desired_nodes();
    let nodes = node_statuses(cluster.spec.engine, o.pods);
    let ready = nodes.iter().filter(|n| n.ready).count() as i32;
    let primaries_ready = cluster.spec.engine == Engine::Memcached
        || (0..cluster.spec.node_groups()).all(|g| {
            let id = crate::resources::node_group_id(g);
            nodes
                .iter()
                .any(|n| n.node_group == id && n.role == ROLE_PRIMARY && n.ready)
        });
    let all_ready = o.blocker.is_none() && ready == desired && primaries_ready;
    // A rolling patch, or else resharding: what the cluster is doing while it is being modified.
    let (change, change_reason) = match (&o.rollout, &o.resharding) {
        (Some(rollout), _) => (Some(rollout.clone()), "RollingPatch"),
        (None, Some(resharding)) => (Some(resharding.clone()), "Resharding"),
        (None, None) => (None, "RollingPatch"),
    };
    let unschedulable = unschedulable(o.pods);
    let was_available = matches!(
        previous.status,
        Some(ClusterState::Available | ClusterState::Modifying | ClusterState::FailingOver)
    );
    let state = ClusterState::of(Phase {
        deleting: o.deleting,
        blocked: o.blocker.as_ref().map(Blocker::state),
        failing_over: o.failing_over,
        all_ready,
        changing: change.is_some(),
        was_available,
    });

    let summary = format!("{ready}/{desired} nodes ready");
    let cond = |type_: &str, status: bool, reason: &str, message: String| {
        condition(
            &previous.conditions,
            type_,
            status,
            reason,
            message,
            generation,
            o.now,
        )
    };
    let (ready_reason, progressing, progressing_reason, progressing_message) =
        match (&o.blocker, state) {
            (_, ClusterState::Deleting) => (
                "Deleting",
                true,
                "Deleting",
                "the cluster is being deleted".to_string(),
            ),
            (Some(b), _) => (b.reason(), false, b.reason(), b.message()),
            (None, ClusterState::Available) if !o.pending.is_empty() => (
                "AllNodesReady",
                false,
                "PendingMaintenanceWindow",
                format!(
                    "changes wait for the maintenance window {}",
                    cluster.spec.preferred_maintenance_window
                ),
            ),
            (None, ClusterState::Available) => (
                "AllNodesReady",
                false,
                "Stable",
                "nothing to do".to_string(),
            ),
            (None, ClusterState::Modifying) if change.is_some() => (
                if all_ready {
                    "AllNodesReady"
                } else {
                    "NodesNotReady"
                },
                true,
                change_reason,
                change.clone().unwrap_or_default(),
            ),
            (None, ClusterState::Modifying) => {
                ("NodesNotReady", true, "Modifying", summary.clone())
            }
            (None, _) => ("NodesNotReady", true, "Creating", summary.clone()),
        };
    let degraded = o.blocker.is_some()
        || o.replication_problem.is_some()
        || o.refused.is_some()
        || unschedulable.is_some()
        || (state == ClusterState::Modifying && ready < desired);
    let (degraded_reason, degraded_message) = match (&o.blocker, &o.replication_problem) {
        (Some(b), _) => (b.reason(), b.message()),
        (None, _) if unschedulable.is_some() => {
            ("Unschedulable", unschedulable.clone().unwrap_or_default())
        }
        (None, Some(problem)) => ("ReplicationDegraded", problem.clone()),
        (None, None) if o.refused.is_some() => {
            ("ScaleInRefused", o.refused.clone().unwrap_or_default())
        }
        (None, None) if degraded => ("NodesUnavailable", summary.clone()),
        (None, None) => ("AsExpected", "no problem detected".to_string()),
    };
    let conditions = vec![
        cond(
            READY,
            all_ready && !o.deleting,
            ready_reason,
            summary.clone(),
        ),
        cond(
            PROGRESSING,
            progressing,
            progressing_reason,
            progressing_message,
        ),
        cond(DEGRADED, degraded, degraded_reason, degraded_message),
    ];

    let built = o.blocker.is_none();
    let endpoint_of = |name: String| built.then(|| service_endpoint(cluster, &name));
    let (primary, reader, configuration) = match cluster.spec.engine {
        // A sharded cluster has one configuration endpoint, as ElastiCache's cluster mode: clients learn the
        // shards from it.
        Engine::Redis if cluster.spec.sharded() => {
            (None, None, endpoint_of(configuration_service_name(cluster)))
        }
        Engine::Redis => (
            endpoint_of(primary_service_name(cluster)),
            endpoint_of(reader_service_name(cluster)),
            None,
        ),
        Engine::Memcached => (None, None, endpoint_of(configuration_service_name(cluster))),
    };
    CacheClusterStatus {
        status: Some(state),
        conditions,
        observed_generation: generation,
        ready_nodes: Some(format!("{ready}/{desired}")),
        endpoint: primary.clone().or_else(|| configuration.clone()),
        primary_endpoint: primary,
        reader_endpoint: reader,
        configuration_endpoint: configuration,
        nodes,
        pending_modified_values: (!o.pending.is_empty()).then_some(o.pending),
        usage: previous.usage,
        shards: previous.shards,
        topology_epoch: previous.topology_epoch,
        slot_migration: previous.slot_migration,
    }
}

fn node_statuses(engine: Engine, pods: &[Pod]) -> Vec<NodeStatus> {
    let mut nodes: Vec<NodeStatus> = pods
        .iter()
        .map(|pod| {
            let role = match engine {
                Engine::Memcached => "memcached".to_string(),
                Engine::Redis => pod
                    .labels()
                    .get(ROLE)
                    .cloned()
                    .unwrap_or_else(|| "unassigned".into()),
            };
            NodeStatus {
                name: pod.name_any(),
                node_group: pod.labels().get(NODE_GROUP).cloned().unwrap_or_default(),
                role,
                ready: pod_ready(pod),
                engine_version: AppliedSpec::from_annotation(
                    pod.annotations().get(APPLIED_ANNOTATION),
                )
                .map(|a| a.engine_version),
                replication_offset: None,
            }
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    nodes
}

/// Pods the scheduler cannot place, with its reason (e.g. required anti-affinity with too few nodes).
fn unschedulable(pods: &[Pod]) -> Option<String> {
    let reasons: Vec<String> = pods
        .iter()
        .filter_map(|pod| {
            let condition = pod
                .status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
            (condition.reason.as_deref() == Some("Unschedulable")).then(|| {
                format!(
                    "{} cannot be scheduled: {}",
                    pod.name_any(),
                    condition.message.as_deref().unwrap_or("no node fits")
                )
            })
        })
        .collect();
    (!reasons.is_empty()).then(|| reasons.join("; "))
}

/// The pod's Ready condition is True (and it is not being deleted).
pub fn pod_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::resources::ROLE_REPLICA;

    fn now() -> Timestamp {
        "2024-06-04T12:00:00Z".parse().unwrap()
    }

    fn pod(name: &str, role: Option<&str>, ready: bool) -> Pod {
        fixtures::pod(name, role, ready)
    }

    fn observe<'a>(cluster: &'a CacheCluster, pods: &'a [Pod]) -> Observation<'a> {
        Observation {
            cluster,
            pods,
            pending: PendingModifiedValues::default(),
            blocker: None,
            deleting: false,
            replication_problem: None,
            failing_over: false,
            rollout: None,
            resharding: None,
            refused: None,
            now: now(),
        }
    }

    fn condition_status(status: &CacheClusterStatus, type_: &str) -> (String, String) {
        let c = status.conditions.iter().find(|c| c.type_ == type_).unwrap();
        (c.status.clone(), c.reason.clone())
    }

    #[test]
    fn a_new_cluster_without_ready_pods_is_creating() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let status = compute(observe(&cluster, &[]));
        assert_eq!(status.status, Some(ClusterState::Creating));
        assert_eq!(status.ready_nodes.as_deref(), Some("0/3"));
        assert_eq!(
            condition_status(&status, READY),
            ("False".into(), "NodesNotReady".into())
        );
        assert_eq!(
            condition_status(&status, PROGRESSING),
            ("True".into(), "Creating".into())
        );
        assert_eq!(
            status.primary_endpoint.as_deref(),
            Some("orders-cache-primary.testns.svc:6379")
        );
        assert_eq!(status.endpoint, status.primary_endpoint);
    }

    #[test]
    fn every_node_ready_with_a_primary_is_available() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let pods = [
            pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true),
            pod("orders-cache-0001-1", Some(ROLE_REPLICA), true),
            pod("orders-cache-0001-2", Some(ROLE_REPLICA), true),
        ];
        let status = compute(observe(&cluster, &pods));
        assert_eq!(status.status, Some(ClusterState::Available));
        assert_eq!(
            condition_status(&status, READY),
            ("True".into(), "AllNodesReady".into())
        );
        assert_eq!(
            condition_status(&status, DEGRADED),
            ("False".into(), "AsExpected".into())
        );
        assert_eq!(status.nodes[0].role, "primary");
    }

    #[test]
    fn a_replication_problem_makes_an_available_cluster_degraded() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let pods = [
            pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true),
            pod("orders-cache-0001-1", Some(ROLE_REPLICA), true),
            pod("orders-cache-0001-2", Some(ROLE_REPLICA), true),
        ];
        let mut o = observe(&cluster, &pods);
        o.replication_problem = Some("orders-cache-0001-1 has no role yet (standby)".into());
        let status = compute(o);
        assert_eq!(
            condition_status(&status, DEGRADED),
            ("True".into(), "ReplicationDegraded".into())
        );
    }

    #[test]
    fn unschedulable_pods_are_degraded_with_the_schedulers_reason() {
        use k8s_openapi::api::core::v1::PodCondition;
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let mut stuck = pod("orders-cache-0001-2", Some(ROLE_REPLICA), false);
        stuck.status = Some(k8s_openapi::api::core::v1::PodStatus {
            conditions: Some(vec![PodCondition {
                type_: "PodScheduled".into(),
                status: "False".into(),
                reason: Some("Unschedulable".into()),
                message: Some(
                    "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules"
                        .into(),
                ),
                ..PodCondition::default()
            }]),
            ..Default::default()
        });
        let pods = [
            pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true),
            pod("orders-cache-0001-1", Some(ROLE_REPLICA), true),
            stuck,
        ];
        let status = compute(observe(&cluster, &pods));
        let degraded = status
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED)
            .unwrap();
        assert_eq!(degraded.status, "True");
        assert_eq!(degraded.reason, "Unschedulable");
        assert!(
            degraded.message.contains("anti-affinity"),
            "{}",
            degraded.message
        );
    }

    #[test]
    fn a_rolling_patch_under_way_is_modifying_not_available() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let pods = [
            pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true),
            pod("orders-cache-0001-1", Some(ROLE_REPLICA), true),
            pod("orders-cache-0001-2", Some(ROLE_REPLICA), true),
        ];
        let mut o = observe(&cluster, &pods);
        o.rollout = Some("rolling patch: restarting replica orders-cache-0001-1".into());
        let status = compute(o);
        assert_eq!(status.status, Some(ClusterState::Modifying));
        assert_eq!(
            condition_status(&status, PROGRESSING),
            ("True".into(), "RollingPatch".into())
        );
    }

    #[test]
    fn losing_a_node_after_being_available_is_modifying_and_degraded() {
        let mut cluster = fixtures::cluster(fixtures::REDIS_HA);
        cluster.status = Some(CacheClusterStatus {
            status: Some(ClusterState::Available),
            ..CacheClusterStatus::default()
        });
        let pods = [
            pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true),
            pod("orders-cache-0001-1", Some(ROLE_REPLICA), false),
            pod("orders-cache-0001-2", Some(ROLE_REPLICA), true),
        ];
        let status = compute(observe(&cluster, &pods));
        assert_eq!(status.status, Some(ClusterState::Modifying));
        assert_eq!(
            condition_status(&status, DEGRADED),
            ("True".into(), "NodesUnavailable".into())
        );
    }

    #[test]
    fn a_blocker_sets_the_incompatible_state_and_explains_it_in_conditions() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let mut o = observe(&cluster, &[]);
        o.blocker = Some(Blocker::MissingParameterGroup("lru-cache".into()));
        let status = compute(o);
        assert_eq!(status.status, Some(ClusterState::IncompatibleParameters));
        let degraded = status
            .conditions
            .iter()
            .find(|c| c.type_ == DEGRADED)
            .unwrap();
        assert_eq!(degraded.reason, "ParameterGroupNotFound");
        assert!(degraded.message.contains("lru-cache"));
        assert_eq!(status.primary_endpoint, None);
    }

    #[test]
    fn pending_changes_are_reported_without_leaving_available() {
        let cluster = fixtures::cluster(fixtures::MEMCACHED);
        let pods: Vec<Pod> = (0..3)
            .map(|i| pod(&format!("page-cache-0001-{i}"), None, true))
            .collect();
        let mut o = observe(&cluster, &pods);
        o.pending.engine_version = Some("0.2.0".into());
        let status = compute(o);
        assert_eq!(status.status, Some(ClusterState::Available));
        assert_eq!(
            condition_status(&status, PROGRESSING),
            ("False".into(), "PendingMaintenanceWindow".into())
        );
        assert_eq!(
            status.configuration_endpoint.as_deref(),
            Some("page-cache-cfg.testns.svc:11211")
        );
        assert_eq!(status.nodes[2].role, "memcached");
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let first = compute(observe(&cluster, &[]));
        let mut later = cluster.clone();
        later.status = Some(first.clone());
        let mut o = observe(&later, &[]);
        o.now = "2024-06-04T13:00:00Z".parse().unwrap();
        let second = compute(o);
        assert_eq!(first.conditions, second.conditions);
    }
}
