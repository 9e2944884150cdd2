//! Failover decisions: when a primary counts as failed, and which replica takes over. Pure functions of
//! observations, so they are tested without processes or sockets; the effects (REPLICAOF, moving the endpoint,
//! restarting the old primary as a replica) belong to the platform driver.
//!
//! A primary has failed when its process or pod is gone, or when it has not answered health checks for the
//! whole failure window. The replacement is the healthy replica with the highest replication offset (ties go to
//! the lowest name, so the choice is deterministic). Without automaticFailoverEnabled, or without a healthy
//! replica, nothing is promoted: the cluster is degraded and waits for the primary.

use std::time::{Duration, Instant};

/// When to fail over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailoverPolicy {
    /// `automaticFailoverEnabled` of the cluster.
    pub enabled: bool,
    /// How long a primary may miss health checks before it is replaced.
    pub window: Duration,
}

impl Default for FailoverPolicy {
    fn default() -> Self {
        FailoverPolicy {
            enabled: true,
            window: Duration::from_secs(5),
        }
    }
}

/// What the health checks saw of the primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrimaryHealth {
    /// It answered the last check.
    Answering,
    /// It has not answered for this long (its process exists).
    Silent(Duration),
    /// Its process (pod) is gone: no need to wait for the window.
    Gone,
}

/// A replica as the health checks saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaView {
    /// Node name.
    pub name: String,
    /// It answered its last health check.
    pub healthy: bool,
    /// Its replication offset.
    pub offset: u64,
}

/// The decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailoverDecision {
    /// Nothing to do.
    Healthy,
    /// The primary is silent but the window has not passed.
    Wait {
        /// Time left before failing over.
        remaining: Duration,
    },
    /// Promote this replica.
    Promote {
        /// Node name.
        replica: String,
    },
    /// The primary failed and no healthy replica exists: the cluster is degraded and waits.
    Degraded,
    /// The primary failed but automatic failover is off.
    Disabled,
}

/// Decides what to do about the primary.
pub fn decide(
    policy: FailoverPolicy,
    primary: PrimaryHealth,
    replicas: &[ReplicaView],
) -> FailoverDecision {
    match primary {
        PrimaryHealth::Answering => return FailoverDecision::Healthy,
        PrimaryHealth::Silent(for_how_long) if for_how_long < policy.window => {
            return FailoverDecision::Wait {
                remaining: policy.window - for_how_long,
            }
        }
        PrimaryHealth::Silent(_) | PrimaryHealth::Gone => {}
    }
    if !policy.enabled {
        return FailoverDecision::Disabled;
    }
    match choose_replica(replicas) {
        Some(replica) => FailoverDecision::Promote {
            replica: replica.name.clone(),
        },
        None => FailoverDecision::Degraded,
    }
}

/// The healthy replica with the highest offset; ties go to the lowest name.
pub fn choose_replica(replicas: &[ReplicaView]) -> Option<&ReplicaView> {
    replicas
        .iter()
        .filter(|r| r.healthy)
        .min_by(|a, b| b.offset.cmp(&a.offset).then_with(|| a.name.cmp(&b.name)))
}

/// An answer at most this old starts the silence that follows it.
const RECENT_ANSWER: Duration = Duration::from_secs(3);

/// Remembers since when the primary has been failing its health checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SilenceTracker {
    since: Option<Instant>,
    last_answer: Option<Instant>,
}

impl SilenceTracker {
    /// Records one health check at `now` and returns the primary's health.
    pub fn observe(&mut self, answered: bool, process_gone: bool, now: Instant) -> PrimaryHealth {
        if answered {
            self.since = None;
            self.last_answer = Some(now);
            return PrimaryHealth::Answering;
        }
        // "Silent for the window" means "has not answered for the window": counted from the last answer when
        // it is recent (a check or two ago), else from this first miss.
        let last = self.last_answer;
        let since = *self.since.get_or_insert_with(|| match last {
            Some(answered) if now.saturating_duration_since(answered) <= RECENT_ANSWER => answered,
            _ => now,
        });
        if process_gone {
            PrimaryHealth::Gone
        } else {
            PrimaryHealth::Silent(now.saturating_duration_since(since))
        }
    }

    /// When the primary first failed, if it is failing now.
    pub fn since(&self) -> Option<Instant> {
        self.since
    }

    /// When the primary last answered a health check.
    pub fn last_answer(&self) -> Option<Instant> {
        self.last_answer
    }

    /// Forgets the failure and the old primary's answers (after a failover).
    pub fn reset(&mut self) {
        *self = SilenceTracker::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(name: &str, healthy: bool, offset: u64) -> ReplicaView {
        ReplicaView {
            name: name.into(),
            healthy,
            offset,
        }
    }

    const POLICY: FailoverPolicy = FailoverPolicy {
        enabled: true,
        window: Duration::from_secs(5),
    };

    #[test]
    fn an_answering_primary_is_left_alone() {
        let replicas = [replica("b", true, 10)];
        assert_eq!(
            decide(POLICY, PrimaryHealth::Answering, &replicas),
            FailoverDecision::Healthy
        );
    }

    #[test]
    fn a_silent_primary_gets_the_whole_window() {
        let replicas = [replica("b", true, 10)];
        assert_eq!(
            decide(
                POLICY,
                PrimaryHealth::Silent(Duration::from_secs(2)),
                &replicas
            ),
            FailoverDecision::Wait {
                remaining: Duration::from_secs(3)
            }
        );
        assert_eq!(
            decide(
                POLICY,
                PrimaryHealth::Silent(Duration::from_secs(5)),
                &replicas
            ),
            FailoverDecision::Promote {
                replica: "b".into()
            }
        );
    }

    #[test]
    fn a_gone_primary_is_replaced_without_waiting() {
        let replicas = [replica("b", true, 10)];
        assert_eq!(
            decide(POLICY, PrimaryHealth::Gone, &replicas),
            FailoverDecision::Promote {
                replica: "b".into()
            }
        );
    }

    #[test]
    fn the_healthy_replica_with_the_highest_offset_is_promoted() {
        let replicas = [
            replica("a", true, 100),
            replica("b", false, 500),
            replica("c", true, 300),
        ];
        assert_eq!(
            choose_replica(&replicas).map(|r| r.name.as_str()),
            Some("c")
        );
    }

    #[test]
    fn equal_offsets_promote_the_lowest_name() {
        let replicas = [replica("c", true, 300), replica("b", true, 300)];
        assert_eq!(
            choose_replica(&replicas).map(|r| r.name.as_str()),
            Some("b")
        );
    }

    #[test]
    fn without_a_healthy_replica_the_cluster_is_degraded() {
        let replicas = [replica("b", false, 10)];
        assert_eq!(
            decide(POLICY, PrimaryHealth::Gone, &replicas),
            FailoverDecision::Degraded
        );
        assert_eq!(
            decide(POLICY, PrimaryHealth::Gone, &[]),
            FailoverDecision::Degraded
        );
    }

    #[test]
    fn no_failover_without_automatic_failover_enabled() {
        let policy = FailoverPolicy {
            enabled: false,
            ..POLICY
        };
        let replicas = [replica("b", true, 10)];
        assert_eq!(
            decide(policy, PrimaryHealth::Gone, &replicas),
            FailoverDecision::Disabled
        );
    }

    #[test]
    fn silence_counts_from_a_recent_last_answer() {
        let start = Instant::now();
        let mut tracker = SilenceTracker::default();
        tracker.observe(true, false, start);
        let missed = start + Duration::from_millis(1900);
        assert_eq!(
            tracker.observe(false, false, missed),
            PrimaryHealth::Silent(Duration::from_millis(1900))
        );
        assert_eq!(tracker.since(), Some(start));
        // An answer long ago says nothing about when the silence began.
        let mut stale = SilenceTracker::default();
        stale.observe(true, false, start);
        let much_later = start + Duration::from_secs(60);
        assert_eq!(
            stale.observe(false, false, much_later),
            PrimaryHealth::Silent(Duration::ZERO)
        );
    }

    #[test]
    fn silence_is_measured_from_the_first_missed_check_and_reset_by_an_answer() {
        let start = Instant::now();
        let mut tracker = SilenceTracker::default();
        assert_eq!(
            tracker.observe(false, false, start),
            PrimaryHealth::Silent(Duration::ZERO)
        );
        let later = start + Duration::from_secs(3);
        assert_eq!(
            tracker.observe(false, false, later),
            PrimaryHealth::Silent(Duration::from_secs(3))
        );
        assert_eq!(tracker.observe(false, true, later), PrimaryHealth::Gone);
        assert_eq!(tracker.since(), Some(start));
        assert_eq!(
            tracker.observe(true, false, later),
            PrimaryHealth::Answering
        );
        assert_eq!(tracker.since(), None);
    }
}
