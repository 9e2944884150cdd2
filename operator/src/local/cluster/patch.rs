//! Rolling patches on the local platform: restart-needing changes (engine version, node type, static
//! parameters) wait for the maintenance window unless `applyImmediately`, then [`crate::rollout::next_step`]
//! says which node restarts next; one step per health-check round, so failures keep being handled between
//! steps. A node that does not come back stops the rollout until the next edit.

use std::time::{Duration, Instant};

use super::edits::DRAIN;
use super::{Event, LocalCluster, SwitchoverRecord};
use crate::api::Engine;
use crate::engine_client::NodeClient;
use crate::maintenance_window::MaintenanceWindow;
use crate::pending_changes;
use crate::platform::{Platform, Role};
use crate::rollout::{self, RolloutGroup, RolloutStep};
use crate::Result;

impl LocalCluster {
    /// Changes waiting for the maintenance window, if any.
    pub fn pending(&self) -> &crate::api::PendingModifiedValues {
        &self.pending
    }

    /// Starts a waiting change when the window is open (or `applyImmediately`), then takes one rollout step.
    pub(super) async fn advance_patch(&mut self) -> Vec<Event> {
        let mut events = self.gate_changes();
        if self.halted.is_some() {
            return events;
        }
        for g in 0..self.groups.len() {
            let step = match self.cluster.spec.engine {
                Engine::Redis => match self.rollout_view(g).await {
                    Some(view) => rollout::next_step(&view),
                    None => continue,
                },
                Engine::Memcached => self.memcached_step(g),
            };
            match step {
                RolloutStep::Done => continue,
                RolloutStep::Wait(_) => return events,
                RolloutStep::RestartReplica(node) => {
                    let outcome = self.restart_replica(&node).await;
                    events.push(self.patched(&node, outcome));
                }
                RolloutStep::Switchover { from, to } => {
                    events.push(match self.switchover(g, &from, &to).await {
                        Ok(record) => Event::Switchover(record),
                        Err(e) => self.halt(&from, e),
                    })
                }
                RolloutStep::RestartPrimary(node) => {
                    let outcome = match self.cluster.spec.engine {
                        Engine::Redis => self.restart_primary(g, &node).await,
                        Engine::Memcached => self.restart_memcached(&node).await,
                    };
                    events.push(self.patched(&node, outcome));
                }
            }
            return events;
        }
        if std::mem::take(&mut self.patching) {
            events.push(Event::PatchDone);
        }
        events
    }

    /// Moves the desired configuration into the rollout target when restarts are allowed now; otherwise
    /// records (and reports, when it changed) what waits.
    fn gate_changes(&mut self) -> Vec<Event> {
        let desired = self.configured.applied_spec();
        if desired == self.target {
            self.pending = Default::default();
            return Vec::new();
        }
        let spec = &self.cluster.spec;
        let now = self.settings.clock.now();
        let window = MaintenanceWindow::parse(&spec.preferred_maintenance_window);
        let open = window
            .as_ref()
            .is_ok_and(|w| rollout::may_restart(w, spec.apply_immediately, now));
        if open || spec.apply_immediately {
            self.target = desired;
            self.pending = Default::default();
            self.patching = true;
            return vec![Event::PatchStarted];
        }
        let pending = pending_changes::plan(desired, Some(self.target.clone()), false).pending;
        if pending == self.pending {
            return Vec::new();
        }
        self.pending = pending.clone();
        let window_opens = window
            .map(|w| w.next_open(now).to_string())
            .unwrap_or_default();
        vec![Event::Pending {
            values: pending,
            window_opens,
        }]
    }

    fn updated(&self, node: &str) -> bool {
        self.running.get(node) == Some(&self.target)
    }

    /// The group as the rollout sees it ([`rollout::group_view`]).
    async fn rollout_view(&self, g: usize) -> Option<RolloutGroup> {
        let primary = self.groups[g].primary.clone()?;
        let mut observed = Vec::new();
        for name in &self.groups[g].members {
            observed.push(rollout::Observed {
                name: name.clone(),
                primary: *name == primary,
                updated: self.updated(name),
                info: self.client(name).info().await.ok(),
            });
        }
        rollout::group_view(observed)
    }

    /// Memcached nodes are independent: each stale node restarts in turn.
    fn memcached_step(&self, g: usize) -> RolloutStep {
        self.groups[g]
            .members
            .iter()
            .find(|n| !self.updated(n))
            .map_or(RolloutStep::Done, |n| {
                RolloutStep::RestartPrimary(n.clone())
            })
    }

    fn patched(&mut self, node: &str, outcome: Result<()>) -> Event {
        match outcome {
            Ok(()) => Event::NodePatched {
                node: node.to_string(),
            },
            Err(e) => self.halt(node, e),
        }
    }

    fn halt(&mut self, node: &str, error: crate::Error) -> Event {
        let reason = error.to_string();
        self.halted = Some(format!("rolling patch stopped at {node}"));
        Event::PatchHalted {
            node: node.to_string(),
            reason,
        }
    }

    /// Writes the target configuration into the node's spec and restarts its process.
    async fn restart_with_target(&mut self, node: &str) -> Result<()> {
        let spec = self.respec_to_target(node)?;
        // Count what it served before its counters restart.
        self.scrape_node(node).await;
        self.platform.replace_node(&spec)?;
        self.wait_ready(node).await
    }

    /// A replica leaves the reader endpoint, restarts with the new configuration, syncs, and comes back.
    async fn restart_replica(&mut self, node: &str) -> Result<()> {
        self.platform.set_role(node, Role::Syncing)?;
        tokio::time::sleep(DRAIN).await;
        self.restart_with_target(node).await?;
        self.follow_primary(node).await?;
        let _ = self.topology_changed().await;
        self.running.insert(node.to_string(), self.target.clone());
        Ok(())
    }

    /// `FAILOVER TO` the updated replica: the primary pauses writes, waits until the replica has all of them,
    /// hands over and follows it; then the endpoint moves and the other replicas follow the new primary.
    async fn switchover(&mut self, g: usize, from: &str, to: &str) -> Result<SwitchoverRecord> {
        let target = self.address(to)?;
        let primary = NodeClient::new(
            from,
            self.address(from)?,
            rollout::SWITCHOVER_TIMEOUT + Duration::from_secs(2),
        );
        let started = Instant::now();
        primary
            .failover_to(target, rollout::SWITCHOVER_TIMEOUT)
            .await?;
        self.platform.set_role(to, Role::Primary)?;
        let write_gap = started.elapsed();
        self.groups[g].primary = Some(to.to_string());
        self.groups[g].silence.reset();
        self.groups[g].degraded_reported = false;
        for other in self.groups[g].members.clone() {
            if other != to && other != from {
                self.client(&other).follow(target).await?;
            }
        }
        let _ = self.topology_changed().await;
        Ok(SwitchoverRecord {
            from: from.to_string(),
            to: to.to_string(),
            write_gap,
        })
    }

    /// A group without replicas: the primary saves a snapshot, restarts with the new configuration, loads it
    /// and is promoted again. Clients get no answer while it restarts.
    async fn restart_primary(&mut self, g: usize, node: &str) -> Result<()> {
        self.client(node).save().await?;
        self.restart_with_target(node).await?;
        self.client(node).promote().await?;
        self.platform.set_role(node, Role::Primary)?;
        self.groups[g].silence.reset();
        let _ = self.topology_changed().await;
        // The snapshot served this restart only; a later local run starts empty as before.
        let _ = std::fs::remove_file(self.state_dir().join(node).join("data").join("dump.ferro"));
        self.running.insert(node.to_string(), self.target.clone());
        Ok(())
    }

    async fn restart_memcached(&mut self, node: &str) -> Result<()> {
        self.restart_with_target(node).await?;
        self.platform.set_role(node, Role::Memcached)?;
        self.running.insert(node.to_string(), self.target.clone());
        Ok(())
    }
}
