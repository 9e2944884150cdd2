//! Rolling patches: the order in which the nodes of a node group restart with a new configuration (engine
//! version, node type or static parameters), and whether a restart may happen now.
//!
//! Replicas go first, one at a time, each waiting until it is back and caught up; then a coordinated switchover
//! (the engine's `FAILOVER`) hands the primary role to an updated replica, so writes pause only for the
//! hand-over and no acknowledged write is lost; then the old primary, now a replica, restarts. A node group
//! without replicas can only restart its primary in place (writes and reads stop while it restarts). Restarts
//! happen inside the maintenance window or at once with `applyImmediately`; until then the change is pending.
//!
//! [`next_step`] is a pure function of what the group looks like now, so the executor may stop after any step
//! (a node that does not come back stops the rollout) and the decision is the same when it resumes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::engine_client::NodeInfo;
use crate::maintenance_window::MaintenanceWindow;

/// How long a switchover's `FAILOVER TO` may wait for the updated replica to catch up, on every platform.
pub const SWITCHOVER_TIMEOUT: Duration = Duration::from_secs(10);

/// How far a replica may trail the offset it is measured against and still count as caught up: writes keep
/// arriving while the operator looks, so an in-sync replica is always a little behind; a full sync or a stalled
/// link is far more than this.
pub const CAUGHT_UP_BYTES: u64 = 1 << 20;

/// The one meaning of "caught up", on every platform: the replica's link to its primary is up and its offset
/// is within [`CAUGHT_UP_BYTES`] of `goal` (the primary's offset, read at the same moment or when the wait
/// began).
pub fn caught_up(goal: u64, link_up: Option<bool>, offset: u64) -> bool {
    link_up == Some(true) && goal.saturating_sub(offset) <= CAUGHT_UP_BYTES
}

/// A node of the group as the rollout sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutMember {
    /// Node name.
    pub name: String,
    /// It runs the configuration being rolled out.
    pub updated: bool,
    /// It answers and, for a replica, its link is up.
    pub healthy: bool,
    /// Replication offset.
    pub offset: u64,
}

/// A node group: its primary and every other member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutGroup {
    /// The primary.
    pub primary: RolloutMember,
    /// The replicas, in name order.
    pub replicas: Vec<RolloutMember>,
}

/// One node of a group as observed: its name, whether it holds the primary role, whether it runs the
/// configuration being rolled out, and what it answered (`None`: it did not).
#[derive(Debug, Clone)]
pub struct Observed {
    /// Node name.
    pub name: String,
    /// It holds the primary role.
    pub primary: bool,
    /// It runs the configuration being rolled out.
    pub updated: bool,
    /// Its `INFO`, when it answered.
    pub info: Option<NodeInfo>,
}

/// The group as the rollout sees it, on every platform: a primary is healthy when it answers as a primary, a
/// replica when it has [`caught_up`] with the primary. `None` without a primary (failover handles that).
pub fn group_view(observed: Vec<Observed>) -> Option<RolloutGroup> {
    let offset = |o: &Observed| o.info.as_ref().map_or(0, |i| i.offset);
    let primary = observed.iter().find(|o| o.primary)?;
    let goal = offset(primary);
    let member = |o: &Observed| RolloutMember {
        name: o.name.clone(),
        updated: o.updated,
        healthy: o.info.as_ref().is_some_and(|i| {
            if o.primary {
                matches!(i.role.as_str(), "primary" | "master")
            } else {
                caught_up(goal, i.link_up, i.offset)
            }
        }),
        offset: offset(o),
    };
    let mut replicas: Vec<RolloutMember> =
        observed.iter().filter(|o| !o.primary).map(member).collect();
    replicas.sort_by(|a, b| a.name.cmp(&b.name));
    Some(RolloutGroup {
        primary: member(primary),
        replicas,
    })
}

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutStep {
    /// Every node runs the new configuration.
    Done,
    /// Restart this replica with the new configuration and wait until it has caught up.
    RestartReplica(String),
    /// Hand the primary role over to this updated replica (`FAILOVER TO`).
    Switchover {
        /// The primary now.
        from: String,
        /// The updated replica taking over.
        to: String,
    },
    /// A group without replicas: restart the primary in place.
    RestartPrimary(String),
    /// Something is unhealthy; wait and look again (a rollout never restarts a second node while one is down).
    Wait(String),
}

/// The next step of a group's rollout.
pub fn next_step(group: &RolloutGroup) -> RolloutStep {
    if let Some(down) = std::iter::once(&group.primary)
        .chain(&group.replicas)
        .find(|m| !m.healthy)
    {
        return RolloutStep::Wait(format!("{} is not healthy", down.name));
    }
    if let Some(stale) = group.replicas.iter().find(|r| !r.updated) {
        return RolloutStep::RestartReplica(stale.name.clone());
    }
    if group.primary.updated {
        return RolloutStep::Done;
    }
    // Every replica is updated and healthy: the most advanced one takes over (ties to the lowest name).
    match group
        .replicas
        .iter()
        .min_by(|a, b| b.offset.cmp(&a.offset).then_with(|| a.name.cmp(&b.name)))
    {
        Some(to) => RolloutStep::Switchover {
            from: group.primary.name.clone(),
            to: to.name.clone(),
        },
        None => RolloutStep::RestartPrimary(group.primary.name.clone()),
    }
}

/// Whether restarting changes may be applied at `now`.
pub fn may_restart(window: &MaintenanceWindow, apply_immediately: bool, now: Timestamp) -> bool {
    apply_immediately || window.is_open(now)
}

/// The time as the operator sees it: the system clock, or a set time (tests, and `--now` to try maintenance
/// windows). Clones share the set time.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    fixed: Option<Arc<Mutex<Timestamp>>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stays at `at` until [`Clock::set`].
    pub fn fixed(at: Timestamp) -> Clock {
        Clock {
            fixed: Some(Arc::new(Mutex::new(at))),
        }
    }

    /// Now.
    pub fn now(&self) -> Timestamp {
        match &self.fixed {
            Some(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
            None => Timestamp::now(),
        }
    }

    /// Moves a fixed clock (and its clones) to `at`; a system clock ignores it.
    pub fn set(&self, at: Timestamp) {
        if let Some(t) = &self.fixed {
            *t.lock().unwrap_or_else(|e| e.into_inner()) = at;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, updated: bool, offset: u64) -> RolloutMember {
        RolloutMember {
            name: name.into(),
            updated,
            healthy: true,
            offset,
        }
    }

    fn group(primary: RolloutMember, replicas: Vec<RolloutMember>) -> RolloutGroup {
        RolloutGroup { primary, replicas }
    }

    #[test]
    fn replicas_restart_first_one_at_a_time_in_name_order() {
        let g = group(
            member("n-0", false, 10),
            vec![member("n-1", false, 10), member("n-2", false, 10)],
        );
        assert_eq!(next_step(&g), RolloutStep::RestartReplica("n-1".into()));
        let g = group(
            member("n-0", false, 10),
            vec![member("n-1", true, 10), member("n-2", false, 10)],
        );
        assert_eq!(next_step(&g), RolloutStep::RestartReplica("n-2".into()));
    }

    #[test]
    fn the_primary_hands_over_to_the_most_advanced_updated_replica() {
        let g = group(
            member("n-0", false, 10),
            vec![member("n-1", true, 8), member("n-2", true, 10)],
        );
        assert_eq!(
            next_step(&g),
            RolloutStep::Switchover {
                from: "n-0".into(),
                to: "n-2".into()
            }
        );
    }

    #[test]
    fn after_the_switchover_the_old_primary_restarts_as_a_replica() {
        // n-2 is the primary now; n-0 follows it with the old configuration.
        let g = group(
            member("n-2", true, 20),
            vec![member("n-0", false, 20), member("n-1", true, 20)],
        );
        assert_eq!(next_step(&g), RolloutStep::RestartReplica("n-0".into()));
        let g = group(
            member("n-2", true, 20),
            vec![member("n-0", true, 20), member("n-1", true, 20)],
        );
        assert_eq!(next_step(&g), RolloutStep::Done);
    }

    #[test]
    fn a_group_without_replicas_restarts_its_primary_in_place() {
        let g = group(member("n-0", false, 0), vec![]);
        assert_eq!(next_step(&g), RolloutStep::RestartPrimary("n-0".into()));
    }

    #[test]
    fn an_unhealthy_node_holds_the_rollout() {
        let mut down = member("n-1", true, 0);
        down.healthy = false;
        let g = group(
            member("n-0", false, 10),
            vec![down, member("n-2", false, 10)],
        );
        assert!(matches!(next_step(&g), RolloutStep::Wait(why) if why.contains("n-1")));
    }

    #[test]
    fn restarts_wait_for_the_window_unless_applied_immediately() {
        let window = MaintenanceWindow::parse("sat:23:00-sun:01:00").unwrap();
        // 2024-06-01 is a Saturday; the window wraps into Sunday.
        let before: Timestamp = "2024-06-01T22:59:00Z".parse().unwrap();
        let inside: Timestamp = "2024-06-02T00:30:00Z".parse().unwrap();
        assert!(!may_restart(&window, false, before));
        assert!(may_restart(&window, true, before));
        assert!(may_restart(&window, false, inside));
    }

    #[test]
    fn a_fixed_clock_moves_only_when_set_and_its_clones_follow() {
        let clock = Clock::fixed("2024-06-01T00:00:00Z".parse().unwrap());
        let clone = clock.clone();
        clock.set("2024-06-02T00:00:00Z".parse().unwrap());
        assert_eq!(clone.now().to_string(), "2024-06-02T00:00:00Z");
    }

    #[test]
    fn caught_up_means_a_live_link_within_a_mebibyte_of_the_goal() {
        assert!(caught_up(10_000, Some(true), 10_000));
        assert!(
            caught_up(10_000, Some(true), 20_000),
            "ahead of an older goal"
        );
        assert!(caught_up(CAUGHT_UP_BYTES + 5, Some(true), 5));
        assert!(
            !caught_up(CAUGHT_UP_BYTES + 6, Some(true), 5),
            "a full sync away"
        );
        assert!(!caught_up(10_000, Some(false), 10_000), "link down");
        assert!(!caught_up(10_000, None, 10_000), "not a replica");
    }

    #[test]
    fn a_group_view_counts_a_replica_healthy_only_once_it_has_caught_up() {
        let info = |role: &str, link: Option<bool>, offset| NodeInfo {
            role: role.into(),
            link_up: link,
            offset,
            ..NodeInfo::default()
        };
        let node = |name: &str, primary, info| Observed {
            name: name.into(),
            primary,
            updated: false,
            info,
        };
        let behind = 100 + 2 * CAUGHT_UP_BYTES;
        let view = group_view(vec![
            node("c-2", false, Some(info("replica", Some(true), behind))),
            node(
                "c-0",
                true,
                Some(info("primary", None, behind + 2 * CAUGHT_UP_BYTES)),
            ),
            node(
                "c-1",
                false,
                Some(info("replica", Some(true), behind + 2 * CAUGHT_UP_BYTES)),
            ),
            node("c-3", false, None),
        ])
        .expect("a primary");
        assert!(view.primary.healthy);
        let health: Vec<(&str, bool)> = view
            .replicas
            .iter()
            .map(|r| (r.name.as_str(), r.healthy))
            .collect();
        assert_eq!(health, [("c-1", true), ("c-2", false), ("c-3", false)]);
        assert!(group_view(vec![node("c-1", false, None)]).is_none());
    }
}
