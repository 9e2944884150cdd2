//! The live status line of a local run: one line per report with the cluster's metered ECPU total, what waits
//! for the maintenance window, and every node's role, link, offset and ECPU counter.

use std::fmt;

use crate::engine_client::NodeInfo;

/// What one node reported.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeObservation {
    /// A Redis-protocol node and its replication and usage state.
    Redis {
        /// Node name.
        name: String,
        /// What INFO said.
        info: NodeInfo,
    },
    /// A memcached node that answered `version`.
    Memcached {
        /// Node name.
        name: String,
    },
    /// A node that did not answer.
    Down {
        /// Node name.
        name: String,
    },
}

/// Every node of a cluster at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusLine {
    /// Cluster name.
    pub cluster: String,
    /// The nodes, in name order.
    pub nodes: Vec<NodeObservation>,
    /// Billable request units metered this period (when metering is on).
    pub ecpu_total: Option<u64>,
    /// Changes waiting for the maintenance window, summarised.
    pub pending: Option<String>,
    /// Why a rolling patch stopped.
    pub halted: Option<String>,
}

impl StatusLine {
    /// `available` when every node answers, `degraded` otherwise.
    pub fn state(&self) -> &'static str {
        if self.halted.is_some() {
            "patch-stopped"
        } else if self
            .nodes
            .iter()
            .any(|n| matches!(n, NodeObservation::Down { .. }))
        {
            "degraded"
        } else {
            "available"
        }
    }
}

impl fmt::Display for StatusLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.cluster, self.state())?;
        if let Some(ecpu) = self.ecpu_total {
            write!(f, " ecpuTotal={ecpu}")?;
        }
        if let Some(pending) = &self.pending {
            write!(f, " pending[{pending}]")?;
        }
        if let Some(halted) = &self.halted {
            write!(f, " ({halted})")?;
        }
        for node in &self.nodes {
            match node {
                NodeObservation::Redis { name, info } => {
                    write!(f, " | {name} {}", info.role)?;
                    if let Some(up) = info.link_up {
                        write!(f, " link={}", if up { "up" } else { "down" })?;
                    }
                    write!(f, " offset={}", info.offset)?;
                    if let Some(ecpu) = info.ecpu_total {
                        write!(f, " ecpu={ecpu}")?;
                    }
                }
                NodeObservation::Memcached { name } => write!(f, " | {name} up")?,
                NodeObservation::Down { name } => write!(f, " | {name} DOWN")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_usage_pending_changes_and_each_node() {
        let line = StatusLine {
            cluster: "orders".into(),
            nodes: vec![
                NodeObservation::Redis {
                    name: "orders-0001-0".into(),
                    info: NodeInfo {
                        role: "primary".into(),
                        offset: 120,
                        ecpu_total: Some(7),
                        ..NodeInfo::default()
                    },
                },
                NodeObservation::Redis {
                    name: "orders-0001-1".into(),
                    info: NodeInfo {
                        role: "replica".into(),
                        link_up: Some(true),
                        offset: 120,
                        ecpu_total: Some(1),
                        ..NodeInfo::default()
                    },
                },
                NodeObservation::Down {
                    name: "orders-0001-2".into(),
                },
            ],
            ecpu_total: Some(1234),
            pending: Some("databases=32".into()),
            halted: None,
        };
        assert_eq!(
            line.to_string(),
            "orders degraded ecpuTotal=1234 pending[databases=32] | orders-0001-0 primary offset=120 ecpu=7 \
             | orders-0001-1 replica link=up offset=120 ecpu=1 | orders-0001-2 DOWN"
        );
    }
}
