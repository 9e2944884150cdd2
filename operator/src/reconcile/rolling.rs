//! Rolling patches on Kubernetes. StatefulSets use `updateStrategy: OnDelete`, so a changed pod template
//! restarts nothing by itself. A pod is outdated only when the restart record it was created with differs
//! from the template's ([`crate::pending_changes::needs_restart`]: engine version, node type, static
//! parameters, node settings — applied to the template only inside the maintenance window or with
//! `applyImmediately`); a new template revision for anything else (dynamic parameters in the configuration
//! file, placement rules) restarts nothing. This step deletes outdated pods one at a time in the order
//! [`crate::rollout::next_step`] gives — replicas first, each only once every node is healthy and caught up, then a coordinated switchover (`FAILOVER TO` the most advanced
//! updated replica, so writes pause only for the hand-over and no acknowledged write is lost), then the old
//! primary. One step per reconcile; an unhealthy node holds the rollout until it recovers.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use tracing::info;

use super::replication::{NodeAccess, Reach};
use super::{pod_ready, Context};
use crate::api::{CacheCluster, Engine};
use crate::pending_changes::{needs_restart, AppliedSpec, APPLIED_ANNOTATION};
use crate::resources::{
    node_group_id, node_group_name, NODE_GROUP, ROLE, ROLE_PRIMARY, ROLE_REPLICA,
};
use crate::rollout::{self, next_step, RolloutStep};
use crate::Result;

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
    client
        .failover_to(target, rollout::SWITCHOVER_TIMEOUT)
        .await?;
    super::set_role(api, &mut [], &from.name_any(), ROLE_REPLICA).await?;
    super::set_role(api, &mut [], &to.name_any(), ROLE_PRIMARY).await?;
    Ok(true)
}

/// The restart record of a StatefulSet's pod template (what its pods are created with).
pub(super) fn template_record(sts: &StatefulSet) -> Option<AppliedSpec> {
    let annotations = sts
        .spec
        .as_ref()?
        .template
        .metadata
        .as_ref()?
        .annotations
        .as_ref()?;
    AppliedSpec::from_annotation(annotations.get(APPLIED_ANNOTATION))
}

/// A pod must restart for the template: its own record (copied from the template it was created from)
/// differs in a gated value. A pod without a readable record is outdated.
pub fn outdated(pod: &Pod, template: &AppliedSpec) -> bool {
    AppliedSpec::from_annotation(pod.annotations().get(APPLIED_ANNOTATION))
        .is_none_or(|running| needs_restart(&running, template))
}

/// Takes the next step of any node group with an outdated pod (see [`outdated`]);
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
        let Some(template) = template_record(&sts) else {
            continue;
        };
        let id = node_group_id(g);
        let group: Vec<&Pod> = pods
            .iter()
            .filter(|p| p.labels().get(NODE_GROUP) == Some(&id))
            .collect();
        let updated = |p: &Pod| !outdated(p, &template);
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
        let mut observed = Vec::new();
        for pod in &group {
            let info = match access.client(pod) {
                Some((client, _)) if pod_ready(pod) => client.info().await.ok(),
                _ => None,
            };
            observed.push(rollout::Observed {
                name: pod.name_any(),
                primary: pod.labels().get(ROLE).map(String::as_str) == Some(ROLE_PRIMARY),
                updated: updated(pod),
                info,
            });
        }
        let Some(view) = rollout::group_view(observed) else {
            return Ok(Some(
                "rolling patch: waiting for the node group to have a primary".into(),
            ));
        };
        let step = next_step(&view);
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
                // A group without replicas gets a temporary one for the patch (see `reconcile::cluster`): the
                // primary is never restarted with nobody holding its data.
                return Ok(Some(format!(
                    "rolling patch: waiting for a temporary replica to take over from {name}"
                )));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::fixtures;
    use crate::resources::{build, BuildInput};

    /// The StatefulSet built for `cluster` with `dynamic` parameters, and a pod created from its template.
    fn built(
        cluster: &CacheCluster,
        applied: &AppliedSpec,
        dynamic: &[(&str, &str)],
    ) -> (StatefulSet, Pod) {
        let dynamic: BTreeMap<String, String> = dynamic
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let objects = build(BuildInput {
            cluster,
            applied,
            dynamic_parameters: &dynamic,
        })
        .expect("buildable");
        let sts = objects.stateful_sets[0].clone();
        let mut pod = fixtures::pod("orders-cache-0001-0", Some(ROLE_PRIMARY), true);
        let template = sts.spec.as_ref().expect("spec").template.metadata.clone();
        pod.metadata.annotations = template.and_then(|m| m.annotations);
        (sts, pod)
    }

    #[test]
    fn a_dynamic_parameter_change_restarts_no_pod() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let applied = fixtures::applied(&cluster, &[]);
        let (before, pod) = built(&cluster, &applied, &[("maxmemory-policy", "allkeys-lru")]);
        let (after, _) = built(&cluster, &applied, &[("maxmemory-policy", "volatile-ttl")]);
        let hash = |sts: &StatefulSet| {
            let meta = sts
                .spec
                .as_ref()
                .unwrap()
                .template
                .metadata
                .as_ref()
                .unwrap();
            meta.annotations.as_ref().unwrap()[crate::resources::CONFIG_HASH_ANNOTATION].clone()
        };
        assert_eq!(hash(&before), hash(&after), "the template does not change");
        assert!(!outdated(&pod, &template_record(&after).expect("record")));
    }

    #[test]
    fn placement_changes_wait_for_the_next_restart() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let applied = fixtures::applied(&cluster, &[]);
        let (_, pod) = built(&cluster, &applied, &[]);
        let mut relaxed = cluster.clone();
        relaxed.spec.multi_az_enabled = false;
        relaxed.spec.automatic_failover_enabled = false;
        let (after, _) = built(&relaxed, &fixtures::applied(&relaxed, &[]), &[]);
        assert!(!outdated(&pod, &template_record(&after).expect("record")));
    }

    #[test]
    fn gated_changes_restart_pods_and_a_pod_without_a_record_is_outdated() {
        let cluster = fixtures::cluster(fixtures::REDIS_HA);
        let applied = fixtures::applied(&cluster, &[]);
        let (_, pod) = built(&cluster, &applied, &[]);
        let mut newer = cluster.clone();
        newer.spec.engine_version = "0.2.0".into();
        let (after, _) = built(&newer, &fixtures::applied(&newer, &[]), &[]);
        assert!(outdated(&pod, &template_record(&after).expect("record")));
        let statics = fixtures::applied(&cluster, &[("databases", "32")]);
        let (with_statics, _) = built(&cluster, &statics, &[]);
        assert!(outdated(
            &pod,
            &template_record(&with_statics).expect("record")
        ));
        let bare = fixtures::pod("orders-cache-0001-1", None, true);
        assert!(outdated(&bare, &applied));
    }
}
