//! Reconciling one CacheCluster: resolve its parameters, decide what may restart, apply the built objects,
//! bootstrap pod roles, report status and Events.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::NamespaceResourceScope;
use kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{debug, info};

use super::status::{compute, Blocker, Observation};
use super::{role_changes, Context};
use crate::api::{
    CacheCluster, CacheClusterStatus, CacheParameterGroup, ClusterState, Engine,
    PendingModifiedValues,
};
use crate::maintenance_window::MaintenanceWindow;
use crate::parameters;
use crate::pending_changes::{self, AppliedSpec};
use crate::resources::{self, node_group_name, node_group_of, BuildInput, ClusterObjects, CLUSTER};
use crate::{Error, Result, FIELD_MANAGER};

/// How often an available cluster is looked at without any change (drift repair, status refresh).
const RESYNC: Duration = Duration::from_secs(300);
/// How often a cluster that is still converging is looked at.
const CONVERGING: Duration = Duration::from_secs(15);
/// How soon a cluster with a replication problem (a silent primary) is looked at again.
const PROBLEM_RECHECK: Duration = Duration::from_secs(1);

/// Reconciles one CacheCluster.
pub async fn reconcile(cluster: Arc<CacheCluster>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started("CacheCluster");
    let namespace = resources::namespace(&cluster)?;
    debug!(cluster = %cluster.name_any(), %namespace, "reconciling");
    if cluster.metadata.deletion_timestamp.is_some() {
        return cleanup(&cluster, &ctx, &namespace).await;
    }
    let mut parameters = match resolve_parameters(&cluster, &ctx, &namespace).await? {
        Ok(parameters) => parameters,
        Err(blocker) => return block(&cluster, &ctx, &namespace, blocker).await,
    };
    parameters
        .1
        .extend(crate::usage_limits::parameters(&cluster.spec));
    if let Some(why) = invalid_shard_slots(&cluster, &namespace) {
        return block(&cluster, &ctx, &namespace, Blocker::InvalidShardSlots(why)).await;
    }
    apply(&cluster, &ctx, &namespace, parameters).await
}

/// Why a new sharded cluster's configured slots cannot be its first layout (a running one keeps its own).
pub(super) fn invalid_shard_slots(cluster: &CacheCluster, namespace: &str) -> Option<String> {
    let running = cluster
        .status
        .as_ref()
        .is_some_and(|s| !s.shards.is_empty());
    if !cluster.spec.sharded() || running {
        return None;
    }
    let ids: Vec<String> = (0..cluster.spec.num_node_groups)
        .map(|g| crate::sharding::shard_id(namespace, &cluster.name_any(), g))
        .collect();
    crate::sharding::configured_map(&cluster.spec, &ids).err()
}

/// A cluster being deleted: its children go with it (owner references); say so in status and an Event.
/// Seen only while something else holds the object, e.g. foreground deletion waiting for the children.
async fn cleanup(cluster: &CacheCluster, ctx: &Context, namespace: &str) -> Result<Action> {
    let status = compute(Observation {
        cluster,
        pods: &[],
        pending: PendingModifiedValues::default(),
        blocker: None,
        deleting: true,
        replication_problem: None,
        failing_over: false,
        rollout: None,
        resharding: None,
        refused: None,
        now: (ctx.clock)(),
    });
    publish_transition(cluster, ctx, &status).await?;
    patch_status(cluster, ctx, namespace, &status).await?;
    Ok(Action::await_change())
}

/// The group's parameters split into (static, dynamic), or why they cannot be used.
type Parameters = (BTreeMap<String, String>, BTreeMap<String, String>);

async fn resolve_parameters(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
) -> Result<Result<Parameters, Blocker>> {
    let Some(name) = &cluster.spec.cache_parameter_group_name else {
        return Ok(Ok(Parameters::default()));
    };
    let groups: Api<CacheParameterGroup> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(group) = groups.get_opt(name).await? else {
        return Ok(Err(Blocker::MissingParameterGroup(name.clone())));
    };
    if group.spec.family.engine() != cluster.spec.engine {
        return Ok(Err(Blocker::ParameterGroupFamilyMismatch {
            group: name.clone(),
            family: group.spec.family.as_str().into(),
        }));
    }
    let validated = parameters::validate(&group.spec.parameters);
    if !validated.invalid.is_empty() {
        let problems = validated
            .invalid
            .iter()
            .map(|p| format!("{}: {}", p.name, p.message))
            .collect();
        return Ok(Err(Blocker::InvalidParameterGroup {
            group: name.clone(),
            problems,
        }));
    }
    Ok(Ok(validated.split_by_change_type()))
}

/// The cluster cannot be built as specified: leave running objects alone, explain in status and an Event.
async fn block(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    blocker: Blocker,
) -> Result<Action> {
    info!(cluster = %cluster.name_any(), %namespace, reason = blocker.reason(), "cluster blocked");
    let status = compute(Observation {
        cluster,
        pods: &[],
        pending: PendingModifiedValues::default(),
        blocker: Some(blocker),
        deleting: false,
        replication_problem: None,
        failing_over: false,
        rollout: None,
        resharding: None,
        refused: None,
        now: (ctx.clock)(),
    });
    publish_transition(cluster, ctx, &status).await?;
    patch_status(cluster, ctx, namespace, &status).await?;
    Ok(Action::requeue(RESYNC))
}

async fn apply(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    parameters: Parameters,
) -> Result<Action> {
    let (static_parameters, dynamic_parameters) = parameters;
    let now = (ctx.clock)();
    let stateful_sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let observed = stateful_sets.get_opt(&node_group_name(cluster, 0)).await?;
    let applied = observed.as_ref().and_then(super::rolling::template_record);
    let window_open = MaintenanceWindow::parse(&cluster.spec.preferred_maintenance_window)
        .map(|w| w.is_open(now))
        .unwrap_or(false);
    let plan = pending_changes::plan(
        AppliedSpec::desired(&cluster.spec, static_parameters),
        applied,
        window_open || cluster.spec.apply_immediately,
    );
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!("{CLUSTER}={}", cluster.name_any());
    let mut pod_list = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    // A Redis group without replicas keeps its data through a rolling patch: while any node must restart, it
    // gets one extra replica on the new configuration, hands the primary role to it, restarts the old node as
    // its replica, then hands back and shrinks (see `rolling`).
    let restart_pending = pod_list
        .iter()
        .any(|p| super::rolling::outdated(p, &plan.apply));
    let surge = temporary_replicas(cluster, restart_pending);
    let surged;
    let cluster = if surge.is_empty() {
        cluster
    } else {
        let mut with_replica = cluster.clone();
        for &g in &surge {
            with_replica.spec.set_replicas_in_group(g, 1);
        }
        surged = with_replica;
        &surged
    };
    // The size of every node group's StatefulSet: the one read above, or for a sharded cluster one list of them
    // all, from the API server (not the cache: a removed shard must not come back).
    let sizes: BTreeMap<i32, i32> = if cluster.spec.sharded() {
        stateful_sets
            .list(&ListParams::default().labels(&selector))
            .await?
            .items
            .iter()
            .filter_map(|s| Some((node_group_of(s)?, s.spec.as_ref()?.replicas.unwrap_or(0))))
            .collect()
    } else {
        let size = observed.as_ref().and_then(|s| s.spec.as_ref()?.replicas);
        size.map(|n| (0, n)).into_iter().collect()
    };
    // Shrinking a group: the primary must not be among the pods that go; until it has handed over, the group
    // keeps its size. Each group (shard) is looked at on its own.
    let mut holding = Vec::new();
    for g in 0..cluster.spec.node_groups() {
        let current = sizes.get(&g).copied().unwrap_or(0);
        let keep = cluster.spec.nodes_in_group(g);
        if keep < current && !super::scale_in::prepare(cluster, ctx, namespace, g, keep).await? {
            holding.push((g, current, keep));
        }
    }
    let held;
    let cluster_to_build = if holding.is_empty() {
        cluster
    } else {
        let mut hold = cluster.clone();
        for &(g, current, _) in &holding {
            hold.spec.set_replicas_in_group(g, current - 1);
        }
        held = hold;
        &held
    };
    // Everything below sees the cluster as its nodes run it: gated changes wait in `plan.pending`.
    let mut effective_to_build = plan.apply.effective(cluster_to_build);
    let built = match cluster.spec.sharded() {
        // A leaving shard keeps its objects until it owns no slot (see `shards`).
        true => super::shards::groups_to_build(cluster, &sizes),
        false => cluster.spec.node_groups(),
    };
    effective_to_build.spec.num_node_groups = built;
    let objects = resources::build(BuildInput {
        cluster: &effective_to_build,
        applied: &plan.apply,
        dynamic_parameters: &dynamic_parameters,
    })?;
    let effective = plan.apply.effective(cluster);
    let cluster = &effective;
    match apply_objects(ctx, namespace, &cluster.name_any(), objects).await {
        Err(Error::CertManagerMissing) => {
            return block(cluster, ctx, namespace, Blocker::CertManagerMissing).await
        }
        other => other?,
    }

    for (pod_name, role) in role_changes(cluster.spec.engine, &pod_list) {
        super::set_role(&pods, &mut pod_list, &pod_name, role).await?;
        info!(cluster = %cluster.name_any(), %namespace, node = %pod_name, role, "pod role assigned");
    }

    // The Secrets that reaching the nodes needs are read once; a finished token rotation updates them.
    let mut reach = super::replication::reach(cluster, ctx, namespace, &pod_list).await?;
    let rotation_problem =
        super::auth_rotation::rotate(cluster, ctx, namespace, &pod_list, &mut reach).await?;
    let mut wiring =
        super::replication::wire(cluster, ctx, namespace, &mut pod_list, &reach).await?;
    let parameters_problem = super::live_parameters::apply(
        cluster,
        ctx,
        namespace,
        &mut pod_list,
        &dynamic_parameters,
        &reach,
    )
    .await?;
    let users_problem =
        super::acl_users::apply(cluster, ctx, namespace, &mut pod_list, &reach).await?;
    wiring.problem = wiring
        .problem
        .or(parameters_problem)
        .or(rotation_problem)
        .or(users_problem);

    // A rolling patch moves only while replication is healthy.
    let rolling = match wiring.problem {
        None => super::rolling::roll(cluster, ctx, namespace, &pod_list, &reach).await?,
        Some(_) => None,
    };
    // A rolling patch that cannot move (replication unhealthy) says so, and so does a group kept at its size
    // until its primary has moved (the end of a one-node patch, or a scale-in): the cluster is still changing.
    let rollout = rolling
        .clone()
        .or_else(|| {
            wiring
                .problem
                .as_ref()
                .filter(|_| restart_pending)
                .map(|problem| format!("rolling patch waits for a healthy node group: {problem}"))
        })
        .or_else(|| {
            holding.first().map(|&(g, current, keep)| {
                format!(
                    "node group {} keeps {current} nodes until its primary has moved to one of the {keep} that stay",
                    node_group_name(cluster, g)
                )
            })
        });
    let sharded = match cluster.spec.sharded() {
        true => {
            let settled = wiring.problem.is_none() && rolling.is_none();
            Some(
                super::shards::converge(cluster, ctx, namespace, &pod_list, &reach, built, settled)
                    .await?,
            )
        }
        false => None,
    };
    let usage = super::usage::meter(cluster, ctx, namespace, &pod_list, &reach, now).await?;
    let resharding = sharded.as_ref().and_then(|s| s.progress.clone());
    let troubled = wiring.problem.is_some()
        || rolling.is_some()
        || sharded
            .as_ref()
            .is_some_and(|s| s.migration.is_some() || s.problem.is_some());
    if let Some(problem) = sharded.as_ref().and_then(|s| s.problem.clone()) {
        wiring.problem.get_or_insert(problem);
    }
    let mut status = compute(Observation {
        cluster,
        pods: &pod_list,
        pending: plan.pending,
        blocker: None,
        deleting: false,
        replication_problem: wiring.problem,
        failing_over: wiring.failed_over,
        rollout,
        resharding,
        refused: sharded.as_ref().and_then(|s| s.refusal.clone()),
        now,
    });
    status.usage = usage;
    if let Some(sharded) = sharded {
        status.shards = sharded.shards;
        status.topology_epoch = sharded.epoch;
        status.slot_migration = sharded.migration;
    }
    publish_transition(cluster, ctx, &status).await?;
    let available = status.status == Some(ClusterState::Available);
    patch_status(cluster, ctx, namespace, &status).await?;
    // A replication problem is looked at again soon (the failure window spans reconciles); metering scrapes on
    // its interval.
    let mut next = if troubled {
        PROBLEM_RECHECK
    } else if available {
        RESYNC
    } else {
        CONVERGING
    };
    if let Some(every) = super::usage::interval(cluster) {
        next = next.min(every);
    }
    Ok(Action::requeue(next))
}

/// The node groups of a Redis cluster that have no replica while a node must restart (`restart_pending`, see
/// [`apply`]): each gets a temporary one.
fn temporary_replicas(cluster: &CacheCluster, restart_pending: bool) -> Vec<i32> {
    if cluster.spec.engine != Engine::Redis || !restart_pending {
        return Vec::new();
    }
    (0..cluster.spec.node_groups())
        .filter(|&g| cluster.spec.replicas_in_group(g) == 0)
        .collect()
}

async fn apply_objects(
    ctx: &Context,
    namespace: &str,
    cluster: &str,
    objects: ClusterObjects,
) -> Result<()> {
    server_side_apply(ctx, namespace, &objects.config_map).await?;
    for service in &objects.services {
        server_side_apply(ctx, namespace, service).await?;
    }
    for stateful_set in &objects.stateful_sets {
        server_side_apply(ctx, namespace, stateful_set).await?;
    }
    for budget in &objects.disruption_budgets {
        server_side_apply(ctx, namespace, budget).await?;
    }
    match &objects.network_policy {
        Some(policy) => server_side_apply(ctx, namespace, policy).await?,
        None => {
            // allowedClients removed (or never set): no policy may remain.
            let policies: Api<NetworkPolicy> = Api::namespaced(ctx.client.clone(), namespace);
            match policies.delete(cluster, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(status)) if status.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    if let Some(certificate) = &objects.certificate {
        let api: Api<DynamicObject> = Api::namespaced_with(
            ctx.client.clone(),
            namespace,
            &resources::certificate_resource(),
        );
        let params = PatchParams::apply(FIELD_MANAGER).force();
        match api
            .patch(&certificate.name_any(), &params, &Patch::Apply(certificate))
            .await
        {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(Error::CertManagerMissing)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

async fn server_side_apply<K>(ctx: &Context, namespace: &str, object: &K) -> Result<()>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Serialize
        + DeserializeOwned
        + Clone
        + Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&object.name_any(), &params, &Patch::Apply(object))
        .await?;
    Ok(())
}

async fn patch_status(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    status: &CacheClusterStatus,
) -> Result<()> {
    if cluster.status.as_ref() == Some(status) {
        return Ok(());
    }
    let api: Api<CacheCluster> = Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({
        "apiVersion": CacheCluster::api_version(&()),
        "kind": CacheCluster::kind(&()),
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&cluster.name_any(), &params, &Patch::Apply(&patch))
        .await?;
    Ok(())
}

/// One Event per change of `status.status`: Normal for progress, Warning for problems.
async fn publish_transition(
    cluster: &CacheCluster,
    ctx: &Context,
    status: &CacheClusterStatus,
) -> Result<()> {
    let before = cluster.status.as_ref().and_then(|s| s.status);
    let Some(after) = status.status.filter(|after| Some(*after) != before) else {
        return Ok(());
    };
    let warning = matches!(
        after,
        ClusterState::IncompatibleParameters | ClusterState::IncompatibleConfiguration
    );
    let note = status
        .conditions
        .iter()
        .find(|c| {
            c.type_
                == if warning {
                    crate::api::DEGRADED
                } else {
                    crate::api::READY
                }
        })
        .map(|c| c.message.clone());
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: state_reason(after).into(),
        note,
        action: "Reconcile".into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &cluster.object_ref(&()))
        .await?;
    Ok(())
}

fn state_reason(state: ClusterState) -> &'static str {
    match state {
        ClusterState::Creating => "Creating",
        ClusterState::Available => "Available",
        ClusterState::Modifying => "Modifying",
        ClusterState::Snapshotting => "Snapshotting",
        ClusterState::FailingOver => "FailingOver",
        ClusterState::Deleting => "Deleting",
        ClusterState::IncompatibleParameters => "IncompatibleParameters",
        ClusterState::IncompatibleConfiguration => "IncompatibleConfiguration",
    }
}

/// Names of the Secrets a cluster refers to (watched so a rotation triggers a reconcile).
pub(super) fn referenced_secrets(cluster: &CacheCluster) -> Vec<String> {
    let spec = &cluster.spec;
    let mut names: Vec<String> = [
        spec.auth_token_secret_ref.as_ref().map(|r| r.name.clone()),
        spec.at_rest_encryption_key_secret_ref
            .as_ref()
            .map(|r| r.name.clone()),
        spec.tls.as_ref().and_then(|t| t.secret_name.clone()),
    ]
    .into_iter()
    .flatten()
    .chain(
        spec.users
            .iter()
            .map(|u| u.password_secret_ref.name.clone()),
    )
    .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;
    use crate::resources::ROLE_PRIMARY;

    #[test]
    fn a_node_group_without_replicas_gets_a_temporary_one_only_while_it_must_restart() {
        let cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
        let running = fixtures::applied(&cluster, &[]);
        let mut pod = fixtures::pod("sessions-0001-0", Some(ROLE_PRIMARY), true);
        pod.annotations_mut().insert(
            crate::pending_changes::APPLIED_ANNOTATION.into(),
            serde_json::to_string(&running).unwrap(),
        );
        let pending = |applied: &AppliedSpec| super::super::rolling::outdated(&pod, applied);
        assert!(temporary_replicas(&cluster, pending(&running)).is_empty());
        let mut newer = cluster.clone();
        newer.spec.engine_version = "0.2.0".into();
        let target = fixtures::applied(&newer, &[]);
        assert_eq!(temporary_replicas(&cluster, pending(&target)), [0]);
        let mut memcached = fixtures::cluster(fixtures::MEMCACHED);
        memcached.spec.num_cache_nodes = 1;
        assert!(temporary_replicas(&memcached, pending(&target)).is_empty());
        let mut with_replica = cluster.clone();
        with_replica.spec.replicas_per_node_group = 1;
        assert!(temporary_replicas(&with_replica, pending(&target)).is_empty());
        // Shards: only the one configured without replicas.
        let mut shards = with_replica.clone();
        shards.spec.cluster_mode = crate::api::ClusterMode::Enabled;
        shards.spec.num_node_groups = 3;
        shards.spec.set_replicas_in_group(1, 0);
        assert_eq!(temporary_replicas(&shards, pending(&target)), [1]);
    }
}
