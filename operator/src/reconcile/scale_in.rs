//! Scale-in without losing the primary: a StatefulSet removes its highest ordinals, and after a failover or a
//! switchover the primary may be one of them. Before the group shrinks, a primary about to be removed hands its
//! role to a replica that stays (`FAILOVER TO`, no acknowledged write lost); until then the StatefulSet keeps
//! its current size. Each node group (shard) is checked on its own.

use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, ResourceExt};
use tracing::info;

use super::replication::NodeAccess;
use super::{pod_ready, Context};
use crate::api::{CacheCluster, Engine};
use crate::resources::{node_group_id, CLUSTER, NODE_GROUP, ROLE, ROLE_PRIMARY, ROLE_REPLICA};
use crate::Result;

/// The StatefulSet ordinal at the end of a pod name.
pub fn ordinal(name: &str) -> Option<i32> {
    name.rsplit('-').next()?.parse().ok()
}

/// The replica to hand the primary role to when the group shrinks to `keep` nodes and the primary would go:
/// a ready replica among those that stay, the lowest ordinal first. `None` when the primary stays.
pub fn handover_target(pods: &[Pod], keep: i32) -> Option<Option<&Pod>> {
    let role = |p: &Pod| p.labels().get(ROLE).cloned();
    let primary = pods
        .iter()
        .find(|p| role(p).as_deref() == Some(ROLE_PRIMARY))?;
    if ordinal(&primary.name_any()).is_none_or(|o| o < keep) {
        return None;
    }
    Some(
        pods.iter()
            .filter(|p| role(p).as_deref() == Some(ROLE_REPLICA) && pod_ready(p))
            .filter(|p| ordinal(&p.name_any()).is_some_and(|o| o < keep))
            .min_by_key(|p| ordinal(&p.name_any())),
    )
}

/// Called when node group `group` is about to shrink to `keep` nodes: true when it may shrink now.
pub async fn prepare(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    group: i32,
    keep: i32,
) -> Result<bool> {
    if cluster.spec.engine != Engine::Redis {
        return Ok(true);
    }
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "{CLUSTER}={},{NODE_GROUP}={}",
        cluster.name_any(),
        node_group_id(group)
    );
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    let Some(target) = handover_target(&list, keep) else {
        return Ok(true);
    };
    let Some(target) = target else {
        info!(cluster = %cluster.name_any(), %namespace, group, "scale-in waits for a ready replica to hand the primary role to");
        return Ok(false);
    };
    let Some(primary) = list
        .iter()
        .find(|p| p.labels().get(ROLE).map(String::as_str) == Some(ROLE_PRIMARY))
    else {
        return Ok(false);
    };
    let access = match NodeAccess::load(cluster, ctx, namespace).await? {
        Ok(access) => access,
        Err(_) => return Ok(false),
    };
    if !super::rolling::hand_over(cluster, ctx, &access, &pods, primary, target).await? {
        return Ok(false);
    }
    let note = format!(
        "primary role handed from {} to {} before the node group shrinks to {keep} nodes",
        primary.name_any(),
        target.name_any()
    );
    info!(cluster = %cluster.name_any(), %namespace, "{note}");
    super::publish_event(ctx, cluster, false, "Switchover", "ScaleIn", note).await?;
    // The next reconcile shrinks the group: the primary is no longer among the nodes that go.
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::pod;

    #[test]
    fn a_primary_among_the_removed_ordinals_hands_over_to_the_lowest_staying_replica() {
        let pods = [
            pod("c-0001-0", Some(ROLE_REPLICA), true),
            pod("c-0001-1", Some(ROLE_REPLICA), true),
            pod("c-0001-2", Some(ROLE_PRIMARY), true),
        ];
        let target = handover_target(&pods, 2).expect("the primary would go");
        assert_eq!(target.map(|p| p.name_any()).as_deref(), Some("c-0001-0"));
        assert!(handover_target(&pods, 3).is_none(), "nothing is removed");
    }

    #[test]
    fn a_primary_that_stays_needs_nothing_and_no_ready_replica_means_waiting() {
        let stays = [
            pod("c-0001-0", Some(ROLE_PRIMARY), true),
            pod("c-0001-1", Some(ROLE_REPLICA), true),
        ];
        assert!(handover_target(&stays, 1).is_none());
        let stuck = [
            pod("c-0001-0", Some(ROLE_REPLICA), false),
            pod("c-0001-1", Some(ROLE_PRIMARY), true),
        ];
        assert_eq!(handover_target(&stuck, 1).map(|t| t.is_none()), Some(true));
    }
}
