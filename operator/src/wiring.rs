//! Replication wiring of a Redis node group: which node must be promoted, which must follow whom, and which node
//! carries the primary role (on Kubernetes the `role=primary` pod label the primary Service selects; locally the
//! endpoint's primary). A pure function of what the operator observed, so every case is unit-tested; the
//! reconciler and the local run execute the steps in order (the local run fences a failed primary first).
//!
//! Engine pods start as standbys (`--role standby`): they serve no writes and follow nobody until told. The
//! rules, in order:
//! - A labelled primary that answers as a primary is the group's primary; every other answering node that does
//!   not already follow it is told to (`REPLICAOF`).
//! - A labelled primary that answers as a standby is promoted only while no other node of the group holds data
//!   (a new group). Otherwise it restarted empty: promoting it would wipe its replicas, so it is treated as a
//!   failed primary.
//! - A failed primary (its pod gone, silent for the failure window, or restarted empty) is replaced by the
//!   healthy replica with the highest offset (see [`crate::failover`]): the old pod's label goes first (so the
//!   primary Service never selects two pods), then the new pod is labelled and promoted, then the others follow
//!   it — the old primary too, once it answers again, so it returns as a replica and never as an empty primary.

use crate::engine_client::NodeInfo;
use crate::failover::{self, FailoverDecision, FailoverPolicy, PrimaryHealth, ReplicaView};

/// Where a node serves, as the operator and the other nodes reach it: a pod IP, or the pod's DNS name when
/// certificates must be verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or IP address.
    pub host: String,
    /// Client port.
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One pod of a node group as observed.
#[derive(Debug, Clone)]
pub struct Member {
    /// Pod (node) name.
    pub name: String,
    /// It carries the `role=primary` label.
    pub labelled_primary: bool,
    /// Where it serves, once scheduled.
    pub address: Option<Endpoint>,
    /// What it answered; `None` when it did not answer.
    pub info: Option<NodeInfo>,
}

/// One thing to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Set the pod's role label (`true`: primary).
    Label {
        /// Pod name.
        node: String,
        /// Primary or replica.
        primary: bool,
    },
    /// `REPLICAOF NO ONE`.
    Promote {
        /// Pod name.
        node: String,
    },
    /// `REPLICAOF host port`.
    Follow {
        /// Pod name.
        node: String,
        /// The primary's address.
        primary: Endpoint,
    },
}

/// The steps, and what keeps the group from being healthy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Why the group is degraded, if it is.
    pub problem: Option<String>,
    /// A failover is under way: (old primary, new primary).
    pub failover: Option<(String, String)>,
}

fn role_is(info: &Option<NodeInfo>, roles: &[&str]) -> bool {
    info.as_ref()
        .is_some_and(|i| roles.contains(&i.role.as_str()))
}

fn answers_as_primary(m: &Member) -> bool {
    role_is(&m.info, &["primary", "master"])
}

fn answers_as_replica(m: &Member) -> bool {
    role_is(&m.info, &["replica", "slave"])
}

fn holds_data(m: &Member) -> bool {
    answers_as_primary(m) || answers_as_replica(m)
}

/// Followers of `primary`: every other answering member not already following it.
fn follow_steps(members: &[Member], primary: &str, address: &Endpoint, steps: &mut Vec<Step>) {
    for m in members.iter().filter(|m| m.name != primary) {
        let Some(info) = &m.info else { continue };
        let follows = answers_as_replica(m)
            && info.following.as_deref() == Some(address.to_string().as_str());
        if !follows {
            steps.push(Step::Follow {
                node: m.name.clone(),
                primary: address.clone(),
            });
        }
    }
}

/// What keeps a group whose wiring needs no step from being healthy: a node that does not answer the operator,
/// a node still a standby, or a replica whose link to its primary is down.
pub fn unhealthy_members(members: &[Member]) -> Option<String> {
    let problems: Vec<String> = members
        .iter()
        .filter(|m| m.address.is_some())
        .filter_map(|m| match &m.info {
            None => Some(format!("{} does not answer the operator", m.name)),
            Some(i) if i.role == "standby" => Some(format!("{} has no role yet (standby)", m.name)),
            Some(i) if i.link_up == Some(false) => Some(format!(
                "the replication link of {} to its primary is down",
                m.name
            )),
            Some(_) => None,
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// Plans a group. `health` is what the health checks say of the labelled primary (ignored when it answers).
pub fn plan(members: &[Member], policy: FailoverPolicy, health: PrimaryHealth) -> Plan {
    let mut out = Plan::default();
    let primary = members.iter().find(|m| m.labelled_primary);
    if let Some(p) = primary {
        if let (true, Some(address)) = (answers_as_primary(p), &p.address) {
            follow_steps(members, &p.name, address, &mut out.steps);
            if out.steps.is_empty() {
                out.problem = unhealthy_members(members);
            }
            return out;
        }
        let fresh_group = !members.iter().any(|m| m.name != p.name && holds_data(m));
        if let (true, true, Some(address)) =
            (fresh_group, role_is(&p.info, &["standby"]), &p.address)
        {
            out.steps.push(Step::Promote {
                node: p.name.clone(),
            });
            follow_steps(members, &p.name, address, &mut out.steps);
            return out;
        }
    }
    // Another node answers as the primary (a switchover handed it the role): the label follows the role.
    if let Some(actual) = members
        .iter()
        .find(|m| !m.labelled_primary && answers_as_primary(m) && m.address.is_some())
    {
        if primary.is_none_or(|p| !answers_as_primary(p)) {
            if let Some(p) = primary {
                out.steps.push(Step::Label {
                    node: p.name.clone(),
                    primary: false,
                });
            }
            out.steps.push(Step::Label {
                node: actual.name.clone(),
                primary: true,
            });
            if let Some(address) = &actual.address {
                follow_steps(members, &actual.name, address, &mut out.steps);
            }
            return out;
        }
    }
    // The primary failed (or no pod carries the label).
    let health = match primary {
        None => PrimaryHealth::Gone,
        // Restarted empty: it answers, but as a standby, while its group holds data.
        Some(p) if p.info.is_some() => PrimaryHealth::Gone,
        Some(_) => health,
    };
    let replicas: Vec<ReplicaView> = members
        .iter()
        .filter(|m| !m.labelled_primary && answers_as_replica(m) && m.address.is_some())
        .map(|m| ReplicaView {
            name: m.name.clone(),
            // It answered; its link is down whenever the primary is, so the link says nothing here.
            healthy: true,
            offset: m.info.as_ref().map_or(0, |i| i.offset),
        })
        .collect();
    let old = primary.map_or_else(|| "(none)".to_string(), |p| p.name.clone());
    match failover::decide(policy, health, &replicas) {
        FailoverDecision::Healthy => {}
        FailoverDecision::Wait { remaining } => {
            out.problem = Some(format!(
                "primary {old} does not answer; failing over in {}s unless it recovers",
                remaining.as_secs().max(1)
            ));
        }
        FailoverDecision::Disabled => {
            out.problem = Some(format!(
                "primary {old} is unavailable and automaticFailoverEnabled is false: waiting for it"
            ));
        }
        FailoverDecision::Degraded => {
            if members.iter().any(holds_data) || primary.is_some() {
                out.problem = Some(format!(
                    "primary {old} is unavailable and no healthy replica can replace it"
                ));
            }
        }
        FailoverDecision::Promote { replica } => {
            let Some(address) = members
                .iter()
                .find(|m| m.name == replica)
                .and_then(|m| m.address.clone())
            else {
                return out;
            };
            if let Some(p) = primary {
                out.steps.push(Step::Label {
                    node: p.name.clone(),
                    primary: false,
                });
            }
            out.steps.push(Step::Label {
                node: replica.clone(),
                primary: true,
            });
            out.steps.push(Step::Promote {
                node: replica.clone(),
            });
            follow_steps(members, &replica, &address, &mut out.steps);
            out.failover = Some((old, replica));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(i: u8) -> Endpoint {
        Endpoint {
            host: format!("10.0.0.{i}"),
            port: 6379,
        }
    }

    fn info(role: &str, offset: u64, following: Option<Endpoint>) -> Option<NodeInfo> {
        Some(NodeInfo {
            role: role.into(),
            offset,
            link_up: (role == "replica").then_some(following.is_some()),
            following: following.map(|a| a.to_string()),
            ..NodeInfo::default()
        })
    }

    fn member(i: u8, primary: bool, info: Option<NodeInfo>) -> Member {
        Member {
            name: format!("c-0001-{i}"),
            labelled_primary: primary,
            address: Some(addr(i)),
            info,
        }
    }

    const POLICY: FailoverPolicy = FailoverPolicy {
        enabled: true,
        window: Duration::from_secs(5),
    };

    #[test]
    fn a_new_group_promotes_its_labelled_primary_and_wires_the_replicas() {
        let members = [
            member(0, true, info("standby", 0, None)),
            member(1, false, info("standby", 0, None)),
            member(2, false, None),
        ];
        let p = plan(&members, POLICY, PrimaryHealth::Answering);
        assert_eq!(
            p.steps,
            [
                Step::Promote {
                    node: "c-0001-0".into()
                },
                Step::Follow {
                    node: "c-0001-1".into(),
                    primary: addr(0)
                },
            ]
        );
        assert_eq!(p.problem, None);
    }

    #[test]
    fn a_wired_group_needs_nothing_and_a_stray_replica_is_re_pointed() {
        let wired = [
            member(0, true, info("primary", 100, None)),
            member(1, false, info("replica", 100, Some(addr(0)))),
        ];
        assert_eq!(
            plan(&wired, POLICY, PrimaryHealth::Answering),
            Plan::default()
        );
        let stray = [
            member(0, true, info("primary", 100, None)),
            member(1, false, info("replica", 100, Some(addr(9)))),
        ];
        assert_eq!(
            plan(&stray, POLICY, PrimaryHealth::Answering).steps,
            [Step::Follow {
                node: "c-0001-1".into(),
                primary: addr(0)
            }]
        );
    }

    #[test]
    fn a_wired_group_reports_silent_nodes_standbys_and_broken_links() {
        let mut broken = info("replica", 90, Some(addr(0)));
        if let Some(i) = broken.as_mut() {
            i.link_up = Some(false);
        }
        let members = [
            member(0, true, info("primary", 100, None)),
            member(1, false, broken),
        ];
        let problem = plan(&members, POLICY, PrimaryHealth::Answering).problem;
        assert!(
            problem
                .as_deref()
                .is_some_and(|p| p.contains("c-0001-1") && p.contains("link")),
            "{problem:?}"
        );
        let mut unknown = member(2, false, None);
        unknown.address = None;
        let scheduling = [member(0, true, info("primary", 100, None)), unknown];
        assert_eq!(
            plan(&scheduling, POLICY, PrimaryHealth::Answering).problem,
            None,
            "a pod without an address yet is not the wiring's problem"
        );
        let silent = [
            member(0, true, info("primary", 100, None)),
            member(3, false, None),
        ];
        let problem = plan(&silent, POLICY, PrimaryHealth::Answering).problem;
        assert!(problem.is_some_and(|p| p.contains("does not answer")));
    }

    #[test]
    fn a_primary_that_restarted_empty_is_replaced_not_promoted() {
        let members = [
            member(0, true, info("standby", 0, None)),
            member(1, false, info("replica", 90, Some(addr(0)))),
            member(2, false, info("replica", 120, Some(addr(0)))),
        ];
        let p = plan(&members, POLICY, PrimaryHealth::Answering);
        assert_eq!(
            p.steps,
            [
                Step::Label {
                    node: "c-0001-0".into(),
                    primary: false
                },
                Step::Label {
                    node: "c-0001-2".into(),
                    primary: true
                },
                Step::Promote {
                    node: "c-0001-2".into()
                },
                Step::Follow {
                    node: "c-0001-0".into(),
                    primary: addr(2)
                },
                Step::Follow {
                    node: "c-0001-1".into(),
                    primary: addr(2)
                },
            ]
        );
        assert_eq!(p.failover, Some(("c-0001-0".into(), "c-0001-2".into())));
    }

    #[test]
    fn a_silent_primary_is_waited_for_then_replaced() {
        let members = [
            member(0, true, None),
            member(1, false, info("replica", 50, Some(addr(0)))),
        ];
        let waiting = plan(
            &members,
            POLICY,
            PrimaryHealth::Silent(Duration::from_secs(2)),
        );
        assert!(waiting.steps.is_empty());
        assert!(waiting.problem.unwrap().contains("failing over in 3s"));
        let after = plan(
            &members,
            POLICY,
            PrimaryHealth::Silent(Duration::from_secs(6)),
        );
        assert_eq!(after.failover, Some(("c-0001-0".into(), "c-0001-1".into())));
    }

    #[test]
    fn a_deleted_primary_pod_is_replaced_at_once_and_failover_can_be_off() {
        let members = [member(1, false, info("replica", 50, Some(addr(0))))];
        let p = plan(&members, POLICY, PrimaryHealth::Answering);
        assert_eq!(p.failover, Some(("(none)".into(), "c-0001-1".into())));
        let off = FailoverPolicy {
            enabled: false,
            ..POLICY
        };
        let p = plan(&members, off, PrimaryHealth::Answering);
        assert!(p.steps.is_empty());
        assert!(p
            .problem
            .unwrap()
            .contains("automaticFailoverEnabled is false"));
    }

    #[test]
    fn the_label_follows_a_node_that_took_the_primary_role_in_a_switchover() {
        let members = [
            member(0, true, info("replica", 100, Some(addr(1)))),
            member(1, false, info("primary", 100, None)),
            member(2, false, info("replica", 100, Some(addr(0)))),
        ];
        let p = plan(&members, POLICY, PrimaryHealth::Answering);
        assert_eq!(
            p.steps,
            [
                Step::Label {
                    node: "c-0001-0".into(),
                    primary: false
                },
                Step::Label {
                    node: "c-0001-1".into(),
                    primary: true
                },
                Step::Follow {
                    node: "c-0001-2".into(),
                    primary: addr(1)
                },
            ]
        );
        assert_eq!(p.failover, None, "a hand-over is not a failover");
    }

    #[test]
    fn without_a_healthy_replica_the_group_is_degraded_and_nothing_is_promoted() {
        let members = [member(0, true, None), member(1, false, None)];
        let p = plan(&members, POLICY, PrimaryHealth::Gone);
        assert!(p.steps.is_empty());
        assert!(p.problem.unwrap().contains("no healthy replica"));
    }
}
