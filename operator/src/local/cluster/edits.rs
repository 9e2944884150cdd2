//! Following edits of the manifest files: the files are read again when their content changes; an edit that
//! does not parse, breaks a rule or asks for a refused change is reported and the running cluster is left as
//! it is. Accepted edits scale replicas and set dynamic parameters at once; a new shard count is rebalanced by
//! the health checks ([`super::shards`]); changes that restart nodes are left to the rolling patch
//! ([`super::patch`]).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::time::Duration;

use kube::ResourceExt;

use super::{configured, engine_config, Event, LocalCluster};
use crate::api::Engine;
use crate::local::manifest::{self, Manifests};
use crate::local::validation;
use crate::platform::{NodeSpec, Platform, Role};
use crate::resources::node_group_name;
use crate::scaling::{self, Member};
use crate::spec_change;

/// How long a replica leaving the reader endpoint keeps serving connections already made to it.
pub(super) const DRAIN: Duration = Duration::from_millis(500);
/// The longest a removed node waits for connections routed to it to finish.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// A hash of the files' content; `None` when there are no files. An unreadable file hashes its error, so a
/// file that becomes readable again counts as changed.
pub(super) fn fingerprint(files: &[PathBuf]) -> Option<u64> {
    if files.is_empty() {
        return None;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    for file in files {
        file.hash(&mut hasher);
        match std::fs::read(file) {
            Ok(bytes) => bytes.hash(&mut hasher),
            Err(e) => e.kind().to_string().hash(&mut hasher),
        }
    }
    Some(hasher.finish())
}

impl LocalCluster {
    /// Reads the manifest files again when their content changed and applies the edit.
    pub(super) async fn check_manifests(&mut self) -> Vec<Event> {
        let now = fingerprint(&self.settings.manifest_files);
        if now.is_none() || now == self.manifest_fingerprint {
            return Vec::new();
        }
        self.manifest_fingerprint = now;
        match manifest::load(&self.settings.manifest_files) {
            Ok(manifests) => self.apply_edit(manifests).await,
            Err(e) => vec![Event::EditRejected(e.to_string())],
        }
    }

    /// Applies edited manifests to the running cluster: refused as a whole when anything in them cannot be
    /// applied, otherwise replicas are scaled and dynamic parameters set now, and restart-needing changes are
    /// handed to the rolling patch.
    pub async fn apply_edit(&mut self, manifests: Manifests) -> Vec<Event> {
        let Manifests {
            cluster,
            parameter_group,
        } = manifests;
        if cluster.name_any() != self.cluster.name_any()
            || cluster.namespace() != self.cluster.namespace()
        {
            return vec![Event::EditRejected(format!(
                "the files now describe CacheCluster {}/{}, not the running {}/{}; start another local run for it",
                cluster.namespace().unwrap_or_default(),
                cluster.name_any(),
                self.cluster.namespace().unwrap_or_default(),
                self.cluster.name_any()
            ))];
        }
        let findings = validation::check(&cluster, Some(&self.cluster), parameter_group.as_ref());
        if !findings.problems.is_empty() {
            return vec![Event::EditRejected(findings.problems.join("; "))];
        }
        let new = configured(&cluster, parameter_group.as_ref());
        let change = spec_change::classify(&self.configured, &new);
        if !change.refused.is_empty() {
            return vec![Event::EditRejected(change.refused.join("; "))];
        }
        self.policy.enabled = cluster.spec.automatic_failover_enabled;
        self.cluster = cluster;
        self.parameter_group = parameter_group;
        self.configured = new;
        // A new edit is a new attempt at a rolling patch that stopped.
        self.halted = None;
        let mut events = Vec::new();
        if !change.set_parameters.is_empty() || !change.removed_parameters.is_empty() {
            self.refresh_node_configs();
        }
        if !change.set_parameters.is_empty() {
            events.extend(self.set_parameters(&change.set_parameters).await);
        }
        if change.replicas.is_some() {
            events.extend(self.scale_replicas().await);
            events.extend(self.topology_changed().await);
        }
        if let Some(shards) = change.node_groups {
            // Each health check advances it (shards::advance_resharding), so failover keeps working meanwhile.
            if let Some(state) = self.shards.as_mut() {
                state.resharding = true;
            }
            events.push(Event::Resharding {
                from: self.groups.len(),
                to: usize::try_from(shards).unwrap_or(1),
            });
        }
        if let Some(nodes) = change.cache_nodes {
            events.extend(self.scale_memcached(nodes).await);
        }
        events
    }

    /// Rewrites every node's configuration file text (used at its next restart) with the current dynamic
    /// parameters and what the node runs.
    fn refresh_node_configs(&mut self) {
        for (name, spec) in self.specs.iter_mut() {
            let applied = self.running.get(name).unwrap_or(&self.target);
            spec.config =
                engine_config(&self.cluster, applied, &self.configured.dynamic_parameters);
        }
    }

    /// `CONFIG SET` of every parameter on every node at once.
    async fn set_parameters(&mut self, parameters: &BTreeMap<String, String>) -> Vec<Event> {
        if self.cluster.spec.engine == Engine::Memcached {
            return vec![Event::Problem(
                "memcached nodes take parameter changes when they next restart".into(),
            )];
        }
        let clients: Vec<_> = self.addresses.keys().map(|n| self.client(n)).collect();
        let outcomes = futures::future::join_all(clients.iter().map(|client| async move {
            for (name, value) in parameters {
                client.config_set(name, value).await?;
            }
            Ok::<_, crate::Error>(())
        }))
        .await;
        let mut events = Vec::new();
        let mut nodes = 0;
        for outcome in outcomes {
            match outcome {
                Ok(()) => nodes += 1,
                Err(e) => events.push(Event::Problem(format!("CONFIG SET: {e}"))),
            }
        }
        events.push(Event::ParametersSet {
            parameters: parameters.clone(),
            nodes,
        });
        events
    }

    /// Brings every node group to its replica count (`replicasPerNodeGroup`, or its own `replicaCount`): new
    /// ones count once they have synced; removed ones leave only when the remaining replicas hold every write
    /// the primary has.
    async fn scale_replicas(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for g in 0..self.groups.len() {
            let replicas = self
                .cluster
                .spec
                .replicas_in_group(i32::try_from(g).unwrap_or(i32::MAX));
            let members = self.members(g);
            let plan = scaling::plan(&members, self.groups[g].primary.as_deref(), replicas);
            for index in plan.add {
                events.push(match self.add_replica(g, index).await {
                    Ok(node) => Event::ReplicaAdded { node },
                    Err(e) => Event::Problem(format!("add a replica: {e}")),
                });
            }
            for node in plan.remove {
                events.push(match self.remove_replica(g, &node).await {
                    Ok(()) => Event::ReplicaRemoved { node },
                    Err(e) => Event::Problem(format!("remove replica {node}: {e}")),
                });
            }
        }
        events
    }

    /// Brings a memcached cluster to `nodes` nodes; the configuration endpoint's node list follows.
    async fn scale_memcached(&mut self, nodes: i32) -> Vec<Event> {
        let members = self.members(0);
        let plan = scaling::plan_memcached(&members, nodes);
        let mut events = Vec::new();
        for index in plan.add {
            let outcome = async {
                let node = self.new_node(0, index)?;
                self.wait_ready(&node).await?;
                self.platform.set_role(&node, Role::Memcached)?;
                Ok::<_, crate::Error>(node)
            };
            events.push(match outcome.await {
                Ok(node) => Event::CacheNodeAdded { node },
                Err(e) => Event::Problem(format!("add a memcached node: {e}")),
            });
        }
        for node in plan.remove {
            events.push(match self.delete_member(0, &node).await {
                Ok(()) => Event::CacheNodeRemoved { node },
                Err(e) => Event::Problem(format!("remove memcached node {node}: {e}")),
            });
        }
        events
    }

    fn members(&self, g: usize) -> Vec<Member> {
        self.groups[g]
            .members
            .iter()
            .filter_map(|name| {
                self.specs.get(name).map(|s| Member {
                    name: name.clone(),
                    index: s.index,
                })
            })
            .collect()
    }

    /// Creates the node at position `index` of group `g` with the current configuration.
    fn new_node(&mut self, g: usize, index: i32) -> crate::Result<String> {
        let group = i32::try_from(g).unwrap_or(i32::MAX);
        let spec = NodeSpec {
            name: format!("{}-{index}", node_group_name(&self.cluster, group)),
            node_group: group,
            index,
            engine: self.cluster.spec.engine,
            config: engine_config(
                &self.cluster,
                &self.target,
                &self.configured.dynamic_parameters,
            ),
        };
        let name = spec.name.clone();
        self.create_node(spec)?;
        self.groups[g].members.push(name.clone());
        self.groups[g].members.sort();
        Ok(name)
    }

    async fn add_replica(&mut self, g: usize, index: i32) -> crate::Result<String> {
        let name = self.new_node(g, index)?;
        // Ready only after its full sync (follow_primary waits until it has caught up).
        self.follow_primary(&name).await?;
        Ok(name)
    }

    async fn remove_replica(&mut self, g: usize, node: &str) -> crate::Result<()> {
        let primary = self.groups[g].primary.clone();
        let staying: Vec<String> = self.groups[g]
            .members
            .iter()
            .filter(|m| m.as_str() != node && Some(m.as_str()) != primary.as_deref())
            .cloned()
            .collect();
        // A write acknowledged by this replica alone must first reach another one, so a later failover does
        // not lose it. Without other replicas the primary holds every acknowledged write.
        if let Some(primary) = &primary {
            for other in &staying {
                self.wait_caught_up(other, primary).await?;
            }
        }
        self.delete_member(g, node).await
    }

    /// Takes a node out of its endpoints, lets connections already made drain, counts its usage, stops it.
    async fn delete_member(&mut self, g: usize, node: &str) -> crate::Result<()> {
        self.platform.set_role(node, Role::Syncing)?;
        tokio::time::sleep(DRAIN).await;
        // Connections the endpoints routed to it before it left them finish first (bounded).
        let deadline = std::time::Instant::now() + DRAIN_LIMIT;
        while self.platform.open_connections(node) > 0 && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.scrape_node(node).await;
        self.platform.delete_node(node)?;
        self.groups[g].members.retain(|m| m != node);
        self.forget(node);
        Ok(())
    }

    /// Drops what the run knows of a stopped node (its usage was counted before it stopped).
    pub(super) fn forget(&mut self, node: &str) {
        self.specs.remove(node);
        self.addresses.remove(node);
        self.running.remove(node);
        self.usage.forget(node);
    }
}
