//! Sharded (cluster mode) clusters on the local platform: every node is given the topology, shard failovers
//! and restarts publish the next epoch, and an edit of `numNodeGroups` reshards online, one migration at a
//! time, as [`crate::sharding::rebalance`] plans it.
//!
//! Resharding advances with the health checks, so failover keeps working while slots move: each tick either
//! follows the running migration, adds the shards the spec asks for, starts the next move, or removes shards
//! that own nothing any more.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::{Event, LocalCluster, NodeGroup};
use crate::platform::{Platform, Presence};
use crate::resources::node_group_name;
use crate::sharding::{
    self, Move, NodeEntry, ReshardStep, SlotMap, Topology, TopologyNode, TopologyRole,
};
use crate::{Error, Result};

/// How long a failed migration waits before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// The slot layout as the local run knows it.
#[derive(Debug, Default)]
pub(super) struct Shards {
    /// Node ids (`CLUSTER MYID`) by node name.
    node_ids: BTreeMap<String, String>,
    /// Slots of each shard, by shard id.
    map: SlotMap,
    /// Epoch of the last topology published or adopted.
    epoch: u64,
    /// The migration under way.
    moving: Option<Moving>,
    /// No migration starts before this (after a failed one).
    retry_after: Option<Instant>,
    /// The nodes do not have the current topology yet (a publish failed, or a node restarted).
    stale: bool,
    /// An edit asked for another shard count and resharding has not finished yet.
    pub(super) resharding: bool,
    /// The scale-in refused last (reported once).
    refused: Option<String>,
}

#[derive(Debug)]
struct Moving {
    step: Move,
    source: String,
    target_id: String,
}

/// A finished migration, as the source reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveRecord {
    /// Source shard (node group name).
    pub from: String,
    /// Target shard (node group name).
    pub to: String,
    /// Slots moved.
    pub slots: u32,
    /// Keys copied.
    pub keys: u64,
    /// How long writes to the moving slots waited at the flip, in milliseconds.
    pub pause_ms: f64,
    /// How long the migration took.
    pub elapsed: Duration,
}

impl LocalCluster {
    fn sharded(&self) -> bool {
        self.shards.is_some()
    }

    fn shard_ids(&self) -> BTreeMap<i32, String> {
        let namespace = self.cluster.namespace().unwrap_or_else(|| "default".into());
        (0..self.groups.len())
            .map(|g| {
                let g = i32::try_from(g).unwrap_or(i32::MAX);
                (
                    g,
                    sharding::shard_id(&namespace, &self.cluster.name_any(), g),
                )
            })
            .collect()
    }

    fn group_of(&self, shard: &str) -> Option<usize> {
        self.shard_ids()
            .into_iter()
            .find(|(_, id)| id == shard)
            .and_then(|(g, _)| usize::try_from(g).ok())
    }

    fn group_name(&self, g: usize) -> String {
        node_group_name(&self.cluster, i32::try_from(g).unwrap_or(i32::MAX))
    }

    /// The slots of each shard (node group name → slot count), for status and tests.
    pub fn slot_counts(&self) -> BTreeMap<String, u32> {
        let Some(shards) = &self.shards else {
            return BTreeMap::new();
        };
        self.shard_ids()
            .into_iter()
            .map(|(g, id)| {
                let g = usize::try_from(g).unwrap_or(usize::MAX);
                (self.group_name(g), shards.map.count(&id))
            })
            .collect()
    }

    /// First topology of a new cluster: slots spread evenly over its shards.
    pub(super) async fn start_sharding(&mut self) -> Result<()> {
        let ids: Vec<String> = self.shard_ids().into_values().collect();
        // The configured slots were checked when the manifest was loaded.
        let map = sharding::configured_map(&self.cluster.spec, &ids)
            .unwrap_or_else(|_| SlotMap::even(&ids));
        self.shards = Some(Shards {
            map,
            ..Shards::default()
        });
        self.publish_topology().await
    }

    async fn node_id(&mut self, node: &str) -> Result<String> {
        if let Some(id) = self.shards.as_ref().and_then(|s| s.node_ids.get(node)) {
            return Ok(id.clone());
        }
        let id = self.client(node).cluster_id().await?;
        if let Some(shards) = self.shards.as_mut() {
            shards.node_ids.insert(node.to_string(), id.clone());
        }
        Ok(id)
    }

    /// Takes the newest topology the primaries hold when it is newer than ours: a migration's flip publishes
    /// the next epoch from the nodes themselves.
    async fn adopt_newer_topology(&mut self) {
        let primaries: Vec<String> = self
            .groups
            .iter()
            .filter_map(|g| g.primary.clone())
            .collect();
        for primary in primaries {
            let Ok(Some(json)) = self.client(&primary).topology().await else {
                continue;
            };
            let Ok(doc) = Topology::parse(&json) else {
                continue;
            };
            let Some(shards) = self.shards.as_mut() else {
                return;
            };
            // A document that left out a shard without a primary does not say who owns its slots: only its
            // epoch is taken then.
            if doc.epoch > shards.epoch {
                shards.epoch = doc.epoch;
                if !doc.slot_map().is_complete() {
                    continue;
                }
                let mut map = doc.slot_map();
                for id in shards.map.owners.keys() {
                    map.owners.entry(id.clone()).or_default();
                }
                shards.map = map;
            }
        }
    }

    /// Hands every running node the topology at the next epoch: each node group with a primary is a shard, its
    /// running members its nodes.
    pub(super) async fn publish_topology(&mut self) -> Result<()> {
        if !self.sharded() {
            return Ok(());
        }
        self.adopt_newer_topology().await;
        let running: Vec<String> = self
            .platform
            .list_nodes()
            .into_iter()
            .filter(|n| n.presence == Presence::Running)
            .map(|n| n.name)
            .collect();
        let mut entries = Vec::new();
        for (g, group) in self.groups.iter().enumerate() {
            for member in &group.members {
                if running.contains(member) {
                    entries.push((g, member.clone(), group.primary.as_deref() == Some(member)));
                }
            }
        }
        let mut nodes = Vec::new();
        for (g, name, primary) in entries {
            let Ok(id) = self.node_id(&name).await else {
                continue; // not answering: left out until the next publish
            };
            let address = self.address(&name)?;
            nodes.push((
                name,
                NodeEntry {
                    group: i32::try_from(g).unwrap_or(i32::MAX),
                    node: TopologyNode {
                        id,
                        ip: address.ip().to_string(),
                        port: address.port(),
                        tls_port: 0,
                        hostname: String::new(),
                        role: if primary {
                            TopologyRole::Primary
                        } else {
                            TopologyRole::Replica
                        },
                    },
                },
            ));
        }
        let ids = self.shard_ids();
        let Some(shards) = self.shards.as_mut() else {
            return Ok(());
        };
        let entries: Vec<NodeEntry> = nodes.iter().map(|(_, e)| e.clone()).collect();
        let doc = sharding::document(shards.epoch + 1, &ids, &shards.map, &entries);
        let json = doc.to_json();
        shards.epoch = doc.epoch;
        shards.stale = true;
        let mut failure = None;
        for (name, _) in nodes {
            if let Err(e) = self.client(&name).set_topology(&json).await {
                failure.get_or_insert(e);
            }
        }
        match failure {
            Some(e) => Err(e),
            None => {
                if let Some(shards) = self.shards.as_mut() {
                    shards.stale = false;
                }
                Ok(())
            }
        }
    }

    /// After a change of roles or a node's restart: publishes the topology now, or at the next health check
    /// when that fails.
    pub(super) async fn topology_changed(&mut self) -> Option<Event> {
        if !self.sharded() {
            return None;
        }
        self.publish_topology()
            .await
            .err()
            .map(|e| Event::Problem(format!("publishing the cluster topology: {e}")))
    }

    /// One step of resharding (and a retry of a failed publish); called with every health check.
    pub(super) async fn advance_resharding(&mut self) -> Vec<Event> {
        let Some(shards) = &self.shards else {
            return Vec::new();
        };
        let mut events = Vec::new();
        if shards.stale {
            events.extend(self.topology_changed().await);
        }
        if self.shards.as_ref().is_some_and(|s| s.moving.is_some()) {
            events.extend(self.follow_migration().await);
            return events;
        }
        if self
            .shards
            .as_ref()
            .and_then(|s| s.retry_after)
            .is_some_and(|t| Instant::now() < t)
        {
            return events;
        }
        let wanted = usize::try_from(self.cluster.spec.num_node_groups).unwrap_or(1);
        let running: Vec<String> = self.shard_ids().into_values().collect();
        // A layout the user configured (nodeGroupConfiguration slots) stays until the shard count changes.
        let step = self.shards.as_ref().map_or(ReshardStep::Balanced, |s| {
            if sharding::reshard_wanted(&self.cluster.spec, &s.map, &running, wanted) {
                sharding::next_step(&s.map, &running, wanted)
            } else {
                ReshardStep::Balanced
            }
        });
        match step {
            ReshardStep::AddShards => events.extend(self.add_shards(wanted).await),
            ReshardStep::Move(step) => match self.scale_in_refusal(running.len(), wanted).await {
                Some(refusal) => {
                    if let Some(shards) = self.shards.as_mut() {
                        if shards.refused.as_deref() != Some(refusal.as_str()) {
                            shards.refused = Some(refusal.clone());
                            events.push(Event::Problem(refusal));
                        }
                    }
                }
                None => events.extend(self.start_move(step).await),
            },
            ReshardStep::RemoveShards => events.extend(self.remove_shards(wanted).await),
            ReshardStep::Balanced => {
                if let Some(shards) = self.shards.as_mut().filter(|s| s.resharding) {
                    shards.resharding = false;
                    events.push(Event::Resharded { shards: wanted });
                }
            }
        }
        events
    }

    /// Why a scale-in from `running` to `wanted` shards is not started: the primaries' data would not fit the
    /// remaining shards' `maxmemory` ([`sharding::scale_in_refusal`]).
    async fn scale_in_refusal(&self, running: usize, wanted: usize) -> Option<String> {
        if wanted >= running {
            return None;
        }
        let mut dataset = 0;
        for primary in self.groups.iter().filter_map(|g| g.primary.as_ref()) {
            dataset += self
                .client(primary)
                .info()
                .await
                .ok()
                .and_then(|i| i.dataset_bytes)
                .unwrap_or(0);
        }
        let maxmemory = crate::resources::maxmemory(&self.cluster);
        sharding::scale_in_refusal(dataset, running, wanted, maxmemory)
    }

    async fn add_shards(&mut self, wanted: usize) -> Vec<Event> {
        let mut events = Vec::new();
        while self.groups.len() < wanted {
            let g = self.groups.len();
            match self.add_shard(g).await {
                Ok(()) => events.push(Event::ShardAdded {
                    shard: self.group_name(g),
                }),
                Err(e) => {
                    events.push(Event::Problem(format!(
                        "adding shard {}: {e}",
                        self.group_name(g)
                    )));
                    return events;
                }
            }
        }
        events.extend(self.topology_changed().await);
        events
    }

    /// Starts a new node group (a primary and its replicas) that owns no slots yet.
    async fn add_shard(&mut self, g: usize) -> Result<()> {
        let config = super::engine_config(
            &self.cluster,
            &self.target,
            &self.configured.dynamic_parameters,
        );
        let members = self.create_group(i32::try_from(g).unwrap_or(i32::MAX), &config)?;
        for name in &members {
            self.wait_ready(name).await?;
        }
        self.wire_group(g).await
    }

    async fn start_move(&mut self, step: Move) -> Vec<Event> {
        let (Some(from), Some(to)) = (self.group_of(&step.from), self.group_of(&step.to)) else {
            return vec![Event::Problem(
                "the slot plan names a shard that does not exist".into(),
            )];
        };
        let (Some(source), Some(target)) = (
            self.groups[from].primary.clone(),
            self.groups[to].primary.clone(),
        ) else {
            return Vec::new(); // a shard without a primary: failover first
        };
        let outcome = async {
            let target_id = self.node_id(&target).await?;
            self.client(&source)
                .cluster(&sharding::migrate_args(&step, &target_id))
                .await?;
            Ok::<_, Error>(target_id)
        }
        .await;
        match outcome {
            Ok(target_id) => {
                let event = Event::MovingSlots {
                    from: self.group_name(from),
                    to: self.group_name(to),
                    slots: step.count(),
                };
                if let Some(shards) = self.shards.as_mut() {
                    shards.moving = Some(Moving {
                        step,
                        source,
                        target_id,
                    });
                }
                vec![event]
            }
            Err(e) => self.migration_failed(from, to, &e.to_string()),
        }
    }

    fn migration_failed(&mut self, from: usize, to: usize, why: &str) -> Vec<Event> {
        if let Some(shards) = self.shards.as_mut() {
            shards.moving = None;
            shards.retry_after = Some(Instant::now() + RETRY_AFTER);
        }
        vec![Event::Problem(format!(
            "moving slots from {} to {} failed and is retried: {why}",
            self.group_name(from),
            self.group_name(to)
        ))]
    }

    async fn follow_migration(&mut self) -> Vec<Event> {
        let Some(moving) = self.shards.as_ref().and_then(|s| s.moving.as_ref()) else {
            return Vec::new();
        };
        let (source, target_id, step) = (
            moving.source.clone(),
            moving.target_id.clone(),
            moving.step.clone(),
        );
        let (from, to) = (
            self.group_of(&step.from).unwrap_or(0),
            self.group_of(&step.to).unwrap_or(0),
        );
        let ranges = sharding::ranges_text(&step.slots);
        let entry = match self.client(&source).slot_migrations().await {
            Ok(all) => all.into_iter().rev().find(|m| {
                m.get("direction").map(String::as_str) == Some("export")
                    && m.get("peer") == Some(&target_id)
                    && m.get("slot_ranges") == Some(&ranges)
            }),
            // The source does not answer: its failover decides; the migration failed with it.
            Err(e) => {
                if self.groups[from].primary.as_deref() == Some(source.as_str()) {
                    return Vec::new();
                }
                return self.migration_failed(from, to, &e.to_string());
            }
        };
        let Some(entry) = entry else {
            return self.migration_failed(from, to, "the source restarted");
        };
        let field = |name: &str| entry.get(name).cloned().unwrap_or_default();
        match field("state").as_str() {
            "success" => {
                if let Some(shards) = self.shards.as_mut() {
                    sharding::apply(&mut shards.map, &step);
                    shards.moving = None;
                }
                // The flip published the next epoch from the nodes; take it.
                self.adopt_newer_topology().await;
                vec![Event::SlotsMoved(MoveRecord {
                    from: self.group_name(from),
                    to: self.group_name(to),
                    slots: step.count(),
                    keys: field("keys").parse().unwrap_or(0),
                    pause_ms: field("pause_ms").parse().unwrap_or(0.0),
                    elapsed: Duration::from_millis(field("elapsed_ms").parse().unwrap_or(0)),
                })]
            }
            "failed" | "cancelled" => {
                let why = format!("{} ({})", field("state"), field("error"));
                self.migration_failed(from, to, &why)
            }
            _ => Vec::new(),
        }
    }

    /// Removes the node groups from `wanted` on, which own no slots any more: the topology without them is
    /// published first, then their nodes stop.
    async fn remove_shards(&mut self, wanted: usize) -> Vec<Event> {
        let ids = self.shard_ids();
        let leaving: Vec<String> = ids.values().skip(wanted).cloned().collect();
        if let Some(shards) = &self.shards {
            if leaving.iter().any(|id| shards.map.count(id) > 0) {
                return Vec::new(); // still owns slots: the plan moves them first
            }
        }
        let removed: Vec<NodeGroup> = self.groups.split_off(wanted);
        if let Err(e) = self.publish_topology().await {
            self.groups.extend(removed);
            return vec![Event::Problem(format!(
                "publishing the topology without the leaving shards: {e}"
            ))];
        }
        let mut events = Vec::new();
        for (offset, group) in removed.into_iter().enumerate() {
            for node in &group.members {
                self.scrape_node(node).await;
                if let Err(e) = self.platform.delete_node(node) {
                    events.push(Event::Problem(format!("stopping {node}: {e}")));
                }
                self.forget(node);
            }
            if let Some(shards) = self.shards.as_mut() {
                shards.map.owners.remove(&leaving[offset]);
                for node in &group.members {
                    shards.node_ids.remove(node);
                }
            }
            events.push(Event::ShardRemoved {
                shard: self.group_name(wanted + offset),
            });
        }
        events
    }
}
