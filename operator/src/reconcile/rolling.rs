//! Rolling patches on Kubernetes. StatefulSets use `updateStrategy: OnDelete`, so a changed pod template
//! (engine version, node type, static parameters — applied to the template only inside the maintenance
//! window or with `applyImmediately`, see `pending_changes`) restarts nothing by itself: this step deletes
//! outdated pods one at a time in the order [`crate::rollout::next_step`] gives — replicas first, each only
//! once every node is healthy and caught up, then a coordinated switchover (`FAILOVER TO` the most advanced
//! updated replica, so writes pause only for the hand-over and no acknowledged write is lost), then the old
//! primary. One step per reconcile; an unhealthy node holds the rollout until it recovers.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use std::time::Duration;
use tracing::info;

use super::replication::{NodeAccess, Reach};
use super::{pod_ready, Context};
use crate::api::{CacheCluster, Engine};
use crate::resources::{
    node_group_id, node_group_name, NODE_GROUP, ROLE, ROLE_PRIMARY, ROLE_REPLICA,
};
use crate::rollout::{next_step, RolloutGroup, RolloutMember, RolloutStep};
use crate::Result;

/// Pod label the StatefulSet controller sets to the revision a pod was created from.
const REVISION: &str = "controller-revision-hash";
/// A replica this far behind its primary (bytes of stream) is still catching up.
const CAUGHT_UP_BYTES: u64 = 1 << 20;
/// How long a switchover may wait for the target to catch up.
const SWITCHOVER_TIMEOUT: Duration = Duration::from_secs(10);

async fn event(
    ctx: &Context,
    cluster: &CacheCluster,
    warning: bool,
    reason: &str,
    note: String,
) -> Result<()> {
    super::publish_event(ctx, cluster, warning, reason, "RollingPatch", note).await
}

/// A coordinated switchover: `from` (the primary) pauses writes until `to` has every one of them, hands it
/// the primary role and follows it (`FAILOVER TO`); the role labels follow. False when either node has no
/// address yet.
pub(super) async fn hand_over(
    cluster: &CacheCluster,
    ctx: &Context,
    access: &NodeAccess<'_>,
    api: &Api<Pod>,
    from: &Pod,
    to: &Pod,
) -> Result<bool> {
    let (Some((client, _)), Some(target)) = (
        access.client(from),
        (ctx.node_address)(to, cluster.spec.client_port()),
    ) else {
        return Ok(false);
    };
    client.failover_to(target, SWITCHOVER_TIMEOUT).await?;
    super::set_role(api, &mut [], &from.name_any(), ROLE_REPLICA).await?;
    super::set_role(api, &mut [], &to.name_any(), ROLE_PRIMARY).await?;
    Ok(true)
}

/// Takes the next step of any node group whose pods are not all on the StatefulSet's current revision;
/// returns what the rollout is doing or waiting for, while one is under way.
pub async fn roll(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &[Pod],
    reach: &Reach<'_>,
) -> Result<Option<String>> {
    if !ctx.any_reachable(cluster, pods) {
        // No node is running yet: nothing to roll.
        return Ok(None);
    }
    let stateful_sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    let pod_api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    for g in 0..cluster.spec.node_groups() {
        let Some(sts) = stateful_sets.get_opt(&node_group_name(cluster, g)).await? else {
            continue;
        };
        let Some(revision) = sts.status.and_then(|s| s.update_revision) else {
            continue;
        };
        let id = node_group_id(g);
        let group: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.labels().get(NODE_GROUP) == Some(&id))
            .collect();
        let updated = |p: &Pod| p.labels().get(REVISION) == Some(&revision);
        if group.iter().all(|p| updated(p)) {
            continue;
        }
        if cluster.spec.engine == Engine::Memcached {
            // Independent nodes: one outdated node at a time, while every other node serves.
            if let Some(down) = group.iter().find(|p| !pod_ready(p)) {
                return Ok(Some(format!(
                    "rolling patch: waiting for {}",
                    down.name_any()
                )));
            }
            let stale = group.iter().find(|p| !updated(p)).expect("checked above");
            pod_api
                .delete(&stale.name_any(), &DeleteParams::default())
                .await?;
            event(
                ctx,
                cluster,
                false,
                "NodeRestarted",
                format!("{} restarts with the new configuration", stale.name_any()),
            )
            .await?;
            return Ok(Some(format!(
                "rolling patch: restarting {}",
                stale.name_any()
            )));
        }
        let access = match reach {
            None => return Ok(None),
            Some(Err(problem)) => return Ok(Some(problem.clone())),
            Some(Ok(access)) => access,
        };
        let mut members = Vec::new();
        let mut primary = None;
        for pod in &group {
            let info = match access.client(pod) {
                Some((client, _)) if pod_ready(pod) => client.info().await.ok(),
                _ => None,
            };
            let is_primary = pod.labels().get(ROLE).map(String::as_str) == Some(ROLE_PRIMARY);
            let member = RolloutMember {
                name: pod.name_any(),
                updated: updated(pod),
                healthy: info.as_ref().is_some_and(|i| {
                    if is_primary {
                        matches!(i.role.as_str(), "primary" | "master")
                    } else {
                        i.link_up == Some(true)
                    }
                }),
                offset: info.as_ref().map_or(0, |i| i.offset),
            };
            if is_primary {
                primary = Some(member);
            } else {
                members.push(member);
            }
        }
        let Some(primary) = primary else {
            return Ok(Some(
                "rolling patch: waiting for the node group to have a primary".into(),
            ));
        };
        // A replica still catching up counts as not healthy yet.
        for m in &mut members {
            if primary.offset.saturating_sub(m.offset) > CAUGHT_UP_BYTES {
                m.healthy = false;
            }
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let step = next_step(&RolloutGroup {
            primary,
            replicas: members,
        });
        info!(cluster = %cluster.name_any(), %namespace, ?step, "rolling patch");
        match step {
            RolloutStep::Done => continue,
            RolloutStep::Wait(why) => return Ok(Some(format!("rolling patch: {why}"))),
            RolloutStep::RestartReplica(name) => {
                pod_api.delete(&name, &DeleteParams::default()).await?;
                event(
                    ctx,
                    cluster,
                    false,
                    "NodeRestarted",
                    format!("replica {name} restarts with the new configuration"),
                )
                .await?;
                return Ok(Some(format!("rolling patch: restarting replica {name}")));
            }
            RolloutStep::Switchover { from, to } => {
                let find = |name: &str| group.iter().find(|p| p.name_any() == name).copied();
                let (Some(from_pod), Some(to_pod)) = (find(&from), find(&to)) else {
                    continue;
                };
                if !hand_over(cluster, ctx, access, &pod_api, from_pod, to_pod).await? {
                    return Ok(Some("rolling patch: waiting for node addresses".into()));
                }
                event(
                    ctx,
                    cluster,
                    false,
                    "Switchover",
                    format!("primary role handed from {from} to {to} for the rolling patch"),
                )
                .await?;
                return Ok(Some(format!("rolling patch: {to} took over from {from}")));
            }
            RolloutStep::RestartPrimary(name) => {
                event(ctx, cluster, true, "NodeRestarted", format!("{name} is the only node of its group: it restarts empty (add a replica to keep data across patches)")).await?;
                pod_api.delete(&name, &DeleteParams::default()).await?;
                return Ok(Some(format!("rolling patch: restarting {name}")));
            }
        }
    }
    Ok(None)
}
