//! Sharded (cluster mode) clusters on Kubernetes: every node is given the topology, and an edit of
//! `numNodeGroups` reshards online, one migration at a time, as [`crate::sharding::next_step`] plans it for both
//! platforms.
//!
//! Each node group is its own StatefulSet (`<name>-0001`, …) with its own budget; the replication wiring and
//! failover of each group are the same as for one group (see `replication`). After them, every reconcile:
//!
//! 1. observes each node's id (`CLUSTER MYID`) and topology (`CLUSTER GETTOPOLOGY`);
//! 2. takes the slot map from the newest topology a node holds (a migration's flip publishes the next epoch from
//!    the nodes themselves), else from `status.shards` (every node restarted), else spreads the slots evenly (a
//!    new cluster);
//! 3. publishes the next epoch to every node when any node's layout differs (a failover, a replaced pod with a
//!    new address, a new shard, a restarted node);
//! 4. takes one resharding step: follows the migration in `status.slotMigration` to its end, or starts the next
//!    move, or removes shards that own nothing any more (topology without them first, then their objects).
//!
//! Everything the next step needs is in `status` and on the nodes, so an operator restart resumes where it was.

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::DeleteParams;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use super::replication::{pod_gone, Reach};
use super::Context;
use crate::api::{CacheCluster, ShardStatus, SlotMigrationStatus, PROGRESSING};
use crate::engine_client::NodeClient;
use crate::resources::{node_group_id, node_group_name, node_group_of, ROLE, ROLE_PRIMARY};
use crate::sharding::{
    self, Move, NodeEntry, ReshardStep, SlotMap, Topology, TopologyNode, TopologyRole,
};
use crate::Result;

/// Condition reason while slots move between shards.
pub const RESHARDING: &str = "Resharding";

/// Node groups a sharded cluster's objects are built for: the wanted ones, and the leaving ones whose StatefulSet
/// still exists (a leaving shard keeps its nodes until it owns nothing and is removed). `existing` holds the
/// node groups whose StatefulSet the API server lists; not `status`: the cached object may not show the last
/// status yet, and a removed shard must not be created again.
pub fn groups_to_build<V>(cluster: &CacheCluster, existing: &BTreeMap<i32, V>) -> i32 {
    let mut built = cluster.spec.num_node_groups;
    while built < sharding::MAX_SHARDS && existing.contains_key(&built) {
        built += 1;
    }
    built
}

/// What a sharded cluster's reconcile found and did, for its status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every shard of the published topology.
    pub shards: Vec<ShardStatus>,
    /// The epoch of the published topology.
    pub epoch: Option<i64>,
    /// The migration under way.
    pub migration: Option<SlotMigrationStatus>,
    /// What resharding is doing or waiting for.
    pub progress: Option<String>,
    /// What keeps the cluster's layout from being healthy: a topology not delivered.
    pub problem: Option<String>,
    /// Why the asked scale-in is not carried out.
    pub refusal: Option<String>,
}

/// One node as observed.
struct Seen {
    pod: String,
    group: i32,
    client: NodeClient,
    entry: TopologyNode,
    topology: Option<Topology>,
}

/// Publishes the topology and takes one resharding step for the first `built` node groups
/// ([`groups_to_build`]); `settled` is false while replication is unhealthy or a rolling patch runs (the
/// topology is still kept current then, but no slot moves).
pub async fn converge(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &[Pod],
    reach: &Reach<'_>,
    built: i32,
    settled: bool,
) -> Result<Outcome> {
    let previous = cluster.status.clone().unwrap_or_default();
    let mut outcome = Outcome {
        shards: previous.shards.clone(),
        epoch: previous.topology_epoch,
        migration: previous.slot_migration.clone(),
        ..Outcome::default()
    };
    let Some(Ok(access)) = reach else {
        return Ok(outcome);
    };
    let name = cluster.name_any();
    let wanted = usize::try_from(cluster.spec.num_node_groups).unwrap_or(1);
    let ids: BTreeMap<i32, String> = (0..built)
        .map(|g| (g, sharding::shard_id(namespace, &name, g)))
        .collect();

    // 1. Observe every running node of the groups that are built.
    let mut candidates = Vec::new();
    for pod in pods.iter().filter(|p| !pod_gone(p)) {
        let (Some(group), Some(role)) = (node_group_of(pod), pod.labels().get(ROLE)) else {
            continue;
        };
        if group >= built {
            continue;
        }
        let Some((client, _)) = access.client(pod) else {
            continue;
        };
        let role = if role == ROLE_PRIMARY {
            TopologyRole::Primary
        } else {
            TopologyRole::Replica
        };
        let address = client.address();
        let tls = cluster.spec.transit_encryption_enabled;
        let entry = TopologyNode {
            id: String::new(),
            ip: address.ip().to_string(),
            port: if tls { 0 } else { address.port() },
            tls_port: if tls { address.port() } else { 0 },
            hostname: format!(
                "{}.{}.{namespace}.svc",
                pod.name_any(),
                node_group_name(cluster, group)
            ),
            role,
        };
        candidates.push((pod.name_any(), group, client, entry));
    }
    let answers = futures::future::join_all(candidates.iter().map(|(_, _, client, _)| async {
        let id = client.cluster_id().await.ok()?;
        let topology = client.topology().await.ok()?;
        Some((id, topology.and_then(|json| Topology::parse(&json).ok())))
    }))
    .await;
    let seen: Vec<Seen> = candidates
        .into_iter()
        .zip(answers)
        .filter_map(|((pod, group, client, mut entry), answer)| {
            let (id, topology) = answer?;
            entry.id = id;
            Some(Seen {
                pod,
                group,
                client,
                entry,
                topology,
            })
        })
        .collect();
    if seen.is_empty() {
        return Ok(outcome);
    }

    // 2. The slot map.
    let status_epoch = previous
        .topology_epoch
        .and_then(|e| u64::try_from(e).ok())
        .unwrap_or(0);
    let newest = seen
        .iter()
        .filter_map(|s| s.topology.as_ref())
        .max_by_key(|t| t.epoch);
    let from_status = slot_map_of(&previous.shards);
    let adopted = newest
        .filter(|t| t.epoch >= status_epoch)
        .map(Topology::slot_map)
        .filter(SlotMap::is_complete);
    let mut map = adopted.or(from_status).unwrap_or_else(|| {
        // A new cluster: the configured slots (checked before anything was built), else an even spread.
        let first: Vec<String> = ids.values().take(wanted).cloned().collect();
        sharding::configured_map(&cluster.spec, &first).unwrap_or_else(|_| SlotMap::even(&first))
    });
    let mut epoch = newest.map_or(0, |t| t.epoch).max(status_epoch);

    // 3. Publish when any node's layout differs.
    let entries: Vec<NodeEntry> = seen
        .iter()
        .map(|s| NodeEntry {
            group: s.group,
            node: s.entry.clone(),
        })
        .collect();
    // A shard that owns slots but has no answering primary (its failover has not happened yet, or a new
    // cluster's nodes are still starting) would be left out of the document with its slots: nothing is
    // published until every such shard has one, and the nodes keep the last topology meanwhile.
    let unserved: Vec<String> = ids
        .iter()
        .filter(|(g, id)| {
            map.count(id) > 0
                && !seen
                    .iter()
                    .any(|s| s.group == **g && s.entry.role == TopologyRole::Primary)
        })
        .map(|(g, _)| node_group_name(cluster, *g))
        .collect();
    // Slots of a shard that is not built any more (its StatefulSet deleted by hand while it still owned them)
    // would drop out of the map too.
    let orphaned = map
        .owners
        .iter()
        .any(|(id, ranges)| !ranges.is_empty() && !ids.values().any(|i| i == id));
    if orphaned {
        outcome.problem = Some(
            "a shard that owns slots has no StatefulSet any more: the topology is kept as it is"
                .into(),
        );
        return Ok(outcome);
    }
    if !unserved.is_empty() {
        debug!(cluster = %name, %namespace, ?unserved, "topology waits for every shard to have a primary");
        return Ok(outcome);
    }
    let mut desired = sharding::document(epoch, &ids, &map, &entries);
    let current = |s: &Seen| {
        s.topology
            .as_ref()
            .is_some_and(|t| t.epoch == epoch && sharding::same_layout(t, &desired))
    };
    if !seen.iter().all(current) {
        epoch += 1;
        desired.epoch = epoch;
        if let Err(problem) = publish(&desired, seen.iter()).await {
            outcome.problem = Some(problem);
        }
        info!(cluster = %name, %namespace, epoch, "cluster topology published");
    }
    outcome.epoch = i64::try_from(epoch).ok();
    outcome.shards = shard_statuses(cluster, &ids, &desired, &seen);

    // 4. One resharding step, once every shard has a primary and the nodes have the topology.
    let served = outcome.shards.len() == ids.len();
    if !settled || !served || outcome.problem.is_some() {
        let asked = !previous.shards.is_empty() && previous.shards.len() != wanted;
        if asked || outcome.migration.is_some() || previous_reason(cluster) == Some(RESHARDING) {
            outcome.progress = Some(format!(
                "resharding to {wanted} shards waits for every shard to have a healthy primary"
            ));
        }
        return Ok(outcome);
    }
    let group_name = |id: &str| {
        ids.iter()
            .find(|(_, i)| i.as_str() == id)
            .map(|(g, _)| node_group_name(cluster, *g))
            .unwrap_or_default()
    };
    if let Some(migration) = outcome.migration.clone() {
        follow(cluster, ctx, &mut outcome, &seen, &migration).await?;
        return Ok(outcome);
    }
    let running: Vec<String> = ids.values().cloned().collect();
    // A layout the user configured (nodeGroupConfiguration slots) stays until the shard count changes.
    if !sharding::reshard_wanted(&cluster.spec, &map, &running, wanted) {
        if previous_reason(cluster) == Some(RESHARDING) {
            resharded(ctx, cluster, wanted, "").await?;
        }
        return Ok(outcome);
    }
    match sharding::next_step(&map, &running, wanted) {
        ReshardStep::AddShards => {
            // Every wanted group is built; its nodes are on their way.
            outcome.progress = Some(format!("resharding to {wanted} shards: starting shards"));
        }
        ReshardStep::Move(step) => {
            if running.len() > wanted {
                let dataset = dataset_bytes(&seen).await;
                let maxmemory = crate::resources::maxmemory(cluster);
                if let Some(refusal) =
                    sharding::scale_in_refusal(dataset, running.len(), wanted, maxmemory)
                {
                    outcome.refusal = Some(refusal);
                    return Ok(outcome);
                }
            }
            start_move(cluster, ctx, &mut outcome, &seen, &step, &group_name).await?;
        }
        ReshardStep::RemoveShards => {
            let staying: BTreeMap<i32, String> = ids
                .iter()
                .filter(|(g, _)| usize::try_from(**g).is_ok_and(|g| g < wanted))
                .map(|(g, id)| (*g, id.clone()))
                .collect();
            for id in ids.values().skip(wanted) {
                map.owners.remove(id);
            }
            epoch += 1;
            let doc = sharding::document(epoch, &staying, &map, &entries);
            if let Err(problem) =
                publish(&doc, seen.iter().filter(|s| staying.contains_key(&s.group))).await
            {
                outcome.problem = Some(problem);
                return Ok(outcome);
            }
            outcome.epoch = i64::try_from(epoch).ok();
            outcome.shards = shard_statuses(cluster, &staying, &doc, &seen);
            for g in (0..built).filter(|g| !staying.contains_key(g)) {
                remove_group(cluster, ctx, namespace, g).await?;
            }
            resharded(ctx, cluster, wanted, "; the leaving shards are removed").await?;
        }
        // Not reached: a balanced map with the wanted shards is not worth resharding (above).
        ReshardStep::Balanced => {}
    }
    Ok(outcome)
}

/// The Event that ends a resharding.
async fn resharded(ctx: &Context, cluster: &CacheCluster, shards: usize, more: &str) -> Result<()> {
    let note = format!("resharding done: slots balanced over {shards} shards{more}");
    super::publish_event(ctx, cluster, false, "Resharded", "Reshard", note).await
}

/// The reason of the cluster's Progressing condition as last written.
fn previous_reason(cluster: &CacheCluster) -> Option<&str> {
    cluster
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == PROGRESSING && c.status == "True")
        .map(|c| c.reason.as_str())
}

/// Hands `doc` to every node in `to`; the error names the nodes that refused or did not answer.
async fn publish<'a>(
    doc: &Topology,
    to: impl Iterator<Item = &'a Seen>,
) -> std::result::Result<(), String> {
    let json = doc.to_json();
    let targets: Vec<&Seen> = to.collect();
    let results =
        futures::future::join_all(targets.iter().map(|s| s.client.set_topology(&json))).await;
    let failed: Vec<String> = targets
        .iter()
        .zip(results)
        .filter_map(|(s, r)| r.err().map(|e| format!("{}: {e}", s.pod)))
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the cluster topology (epoch {}) did not reach every node: {}",
            doc.epoch,
            failed.join("; ")
        ))
    }
}

/// The slot map recorded in status, when it is complete.
fn slot_map_of(shards: &[ShardStatus]) -> Option<SlotMap> {
    let mut map = SlotMap::default();
    for shard in shards {
        map.owners.insert(
            shard.shard_id.clone(),
            sharding::parse_ranges(&shard.slots)?,
        );
    }
    map.is_complete().then_some(map)
}

/// Status of each shard of `doc`.
fn shard_statuses(
    cluster: &CacheCluster,
    ids: &BTreeMap<i32, String>,
    doc: &Topology,
    seen: &[Seen],
) -> Vec<ShardStatus> {
    let pod_of: HashMap<&str, &str> = seen
        .iter()
        .map(|s| (s.entry.id.as_str(), s.pod.as_str()))
        .collect();
    doc.shards
        .iter()
        .filter_map(|shard| {
            let (group, _) = ids.iter().find(|(_, id)| **id == shard.id)?;
            let ranges: Vec<sharding::SlotRange> =
                shard.slots.iter().map(|r| (r[0], r[1])).collect();
            let pods = |role| {
                shard
                    .nodes
                    .iter()
                    .filter(move |n| n.role == role)
                    .filter_map(|n| pod_of.get(n.id.as_str()).map(|p| p.to_string()))
            };
            Some(ShardStatus {
                name: node_group_name(cluster, *group),
                shard_id: shard.id.clone(),
                slots: sharding::ranges_text(&ranges),
                slot_count: i32::try_from(sharding::count(&ranges)).unwrap_or(0),
                primary: pods(TopologyRole::Primary).next(),
                replicas: pods(TopologyRole::Replica).collect(),
            })
        })
        .collect()
}

/// Bytes of data on all primaries together.
async fn dataset_bytes(seen: &[Seen]) -> u64 {
    let primaries = seen
        .iter()
        .filter(|s| s.entry.role == TopologyRole::Primary);
    futures::future::join_all(primaries.map(|s| s.client.info()))
        .await
        .into_iter()
        .filter_map(|info| info.ok()?.dataset_bytes)
        .sum()
}

/// Starts `step` on its source shard's primary.
async fn start_move(
    cluster: &CacheCluster,
    ctx: &Context,
    outcome: &mut Outcome,
    seen: &[Seen],
    step: &Move,
    group_name: &impl Fn(&str) -> String,
) -> Result<()> {
    let primary_of = |shard: &str| {
        let group = outcome
            .shards
            .iter()
            .find(|s| s.shard_id == shard)?
            .primary
            .clone()?;
        seen.iter().find(|s| s.pod == group)
    };
    let (from, to) = (group_name(&step.from), group_name(&step.to));
    let (Some(source), Some(target)) = (primary_of(&step.from), primary_of(&step.to)) else {
        outcome.progress = Some(format!(
            "resharding: moving slots from {from} to {to} waits for both primaries to answer"
        ));
        return Ok(());
    };
    let slots = sharding::ranges_text(&step.slots);
    let started = source
        .client
        .cluster(&sharding::migrate_args(step, &target.entry.id))
        .await;
    match started {
        Ok(()) => {
            let note = format!(
                "moving {} slots ({slots}) from {from} to {to}",
                step.count()
            );
            info!(cluster = %cluster.name_any(), "{note}");
            super::publish_event(ctx, cluster, false, "MovingSlots", "Reshard", note.clone())
                .await?;
            outcome.progress = Some(format!("resharding: {note}"));
            outcome.migration = Some(SlotMigrationStatus {
                from,
                to,
                slots,
                slot_count: i32::try_from(step.count()).unwrap_or(0),
                source_pod: source.pod.clone(),
                target_node_id: target.entry.id.clone(),
            });
        }
        Err(e) => {
            warn!(cluster = %cluster.name_any(), error = %e, "starting a slot migration failed");
            outcome.progress = Some(format!(
                "resharding: moving slots from {from} to {to} could not start and is retried: {e}"
            ));
        }
    }
    Ok(())
}

/// Follows the migration in status on its source: done, failed (tried again by the next plan) or running.
async fn follow(
    cluster: &CacheCluster,
    ctx: &Context,
    outcome: &mut Outcome,
    seen: &[Seen],
    migration: &SlotMigrationStatus,
) -> Result<()> {
    let what = format!(
        "{} slots ({}) from {} to {}",
        migration.slot_count, migration.slots, migration.from, migration.to
    );
    let source = seen.iter().find(|s| s.pod == migration.source_pod);
    let entry = match source {
        Some(source) => match source.client.slot_migrations().await {
            Ok(all) => all.into_iter().rev().find(|m| {
                m.get("direction").map(String::as_str) == Some("export")
                    && m.get("peer") == Some(&migration.target_node_id)
                    && m.get("slot_ranges") == Some(&migration.slots)
            }),
            Err(_) => None,
        },
        None => None,
    };
    let field = |name: &str| {
        entry
            .as_ref()
            .and_then(|e| e.get(name).cloned())
            .unwrap_or_default()
    };
    match entry.as_ref().map(|_| field("state")).as_deref() {
        Some("success") => {
            let note = format!(
                "moved {what}: {} keys in {} ms, writes to them paused {} ms",
                field("keys"),
                field("elapsed_ms"),
                field("pause_ms")
            );
            info!(cluster = %cluster.name_any(), "{note}");
            super::publish_event(ctx, cluster, false, "SlotsMoved", "Reshard", note.clone())
                .await?;
            outcome.migration = None;
            outcome.progress = Some(format!("resharding: {note}"));
        }
        Some(state @ ("failed" | "cancelled")) => {
            let note = format!(
                "moving {what} {state} ({}); the next plan tries again",
                field("error")
            );
            warn!(cluster = %cluster.name_any(), "{note}");
            super::publish_event(
                ctx,
                cluster,
                true,
                "SlotMigrationFailed",
                "Reshard",
                note.clone(),
            )
            .await?;
            outcome.migration = None;
            outcome.progress = Some(format!("resharding: {note}"));
        }
        Some(_) => outcome.progress = Some(format!("resharding: moving {what}")),
        None => {
            // The source restarted or lost its primary role: the migration ended with it (the engine keeps
            // slot ownership atomic), and the next plan starts from the layout the nodes hold.
            outcome.migration = None;
            outcome.progress = Some(format!(
                "resharding: moving {what} ended with its source {}; the next plan tries again",
                migration.source_pod
            ));
        }
    }
    Ok(())
}

/// Deletes a removed shard's StatefulSet (its pods go with it), headless Service and budget, and forgets its
/// health checks.
async fn remove_group(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    group: i32,
) -> Result<()> {
    let object = node_group_name(cluster, group);
    let params = DeleteParams::background();
    let gone = |r: std::result::Result<(), kube::Error>| match r {
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        other => other,
    };
    let stateful_sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), namespace);
    gone(stateful_sets.delete(&object, &params).await.map(drop))?;
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), namespace);
    gone(services.delete(&object, &params).await.map(drop))?;
    let budgets: Api<PodDisruptionBudget> = Api::namespaced(ctx.client.clone(), namespace);
    gone(budgets.delete(&object, &params).await.map(drop))?;
    ctx.health.forget(&format!(
        "{namespace}/{}/{}",
        cluster.name_any(),
        node_group_id(group)
    ));
    info!(cluster = %cluster.name_any(), %namespace, shard = %object, "shard removed");
    super::publish_event(
        ctx,
        cluster,
        false,
        "ShardRemoved",
        "Reshard",
        format!("shard {object} owns no slots any more and is removed"),
    )
    .await
}
