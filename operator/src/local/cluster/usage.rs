//! Metering and the persisted status of a local run.
//!
//! Every metering interval each node's counters are scraped into the [`crate::metering`] accumulator, and
//! the month's usage report — the same `CacheUsageReport` Kubernetes stores — is written to
//! `<state-dir>/<namespace>/<name>/usage/<name>-<yyyy>-<mm>.yaml` when it changed: a restarted local run
//! continues from it, and `ferrocache-operator usage --state-dir` exports it. The cluster's status — the same
//! `CacheClusterStatus` Kubernetes shows, usage included — is written to `status.yaml` beside it at most once
//! per `status_write_interval` (and when the run stops).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::jiff::Timestamp;

use super::LocalCluster;
use crate::api::{
    CacheClusterStatus, CacheUsageReport, CacheUsageReportSpec, ClusterState, Engine, NodeStatus,
    Phase,
};
use crate::metering::UsageAccumulator;
use crate::platform::Presence;

/// File name of the persisted status in the cluster's state directory.
pub const STATUS_FILE: &str = "status.yaml";

pub use crate::metering::parse_interval;

/// Folder of the usage reports in a cluster's state directory.
pub const USAGE_DIR: &str = "usage";

/// The usage reports in `dir` (files that are not reports are skipped).
pub fn read_reports(dir: &std::path::Path) -> Vec<CacheUsageReport> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut reports: Vec<CacheUsageReport> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter_map(|p| serde_yaml::from_str(&std::fs::read_to_string(p).ok()?).ok())
        .collect();
    reports.sort_by(|a, b| a.spec.month.cmp(&b.spec.month));
    reports
}

/// Every usage report under a local state root (`<root>/<namespace>/<name>/usage/`).
pub fn read_all_reports(root: &std::path::Path) -> Vec<CacheUsageReport> {
    let children = |dir: &std::path::Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| p.is_dir())
                    .collect()
            })
            .unwrap_or_default()
    };
    children(root)
        .iter()
        .flat_map(|namespace| children(namespace))
        .flat_map(|cluster| read_reports(&cluster.join(USAGE_DIR)))
        .collect()
}

/// Reads a persisted status; `None` when there is none or it cannot be read.
pub fn read_status(path: &std::path::Path) -> Option<CacheClusterStatus> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_yaml::from_str(&text).ok()
}

impl LocalCluster {
    /// Where the persisted status lives.
    pub fn status_file(&self) -> PathBuf {
        self.state_dir().join(STATUS_FILE)
    }

    /// Billable request units metered this period.
    pub fn ecpu_total(&self) -> u64 {
        self.usage.ecpu_total()
    }

    /// Where the usage reports live.
    pub fn usage_dir(&self) -> PathBuf {
        self.state_dir().join(USAGE_DIR)
    }

    /// Usage as a previous run left it: its reports, else its persisted status.
    pub(super) fn resume_usage(&self) -> UsageAccumulator {
        let reports: Vec<CacheUsageReportSpec> = read_reports(&self.usage_dir())
            .into_iter()
            .map(|r| r.spec)
            .collect();
        let usage = read_status(&self.status_file()).and_then(|s| s.usage);
        UsageAccumulator::resume(usage.as_ref(), &reports)
    }

    /// Writes the reports that changed since they were last written.
    fn write_reports(&mut self, now: Timestamp) {
        let dir = self.usage_dir();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot create the usage report directory");
            return;
        }
        let name = self.cluster.metadata.name.clone().unwrap_or_default();
        let uid = self.cluster.metadata.uid.clone().unwrap_or_default();
        for month in self.usage.months() {
            let spec =
                self.usage
                    .report(&name, &uid, self.cluster.spec.engine.as_str(), &month, now);
            if self.reports_written.get(&month) == Some(&spec) {
                continue;
            }
            let mut report = CacheUsageReport::new(&format!("{name}-{month}"), spec.clone());
            report.metadata.namespace = self.cluster.metadata.namespace.clone();
            let path = dir.join(format!("{name}-{month}.yaml"));
            let temporary = path.with_extension("yaml.tmp");
            let written = serde_yaml::to_string(&report)
                .map_err(std::io::Error::other)
                .and_then(|text| std::fs::write(&temporary, text))
                .and_then(|()| std::fs::rename(&temporary, &path));
            match written {
                Ok(()) => {
                    self.reports_written.insert(month, spec);
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot write the usage report")
                }
            }
        }
    }

    /// Time between metering scrapes.
    pub(super) fn metering_interval(&self) -> Duration {
        self.settings
            .metering_interval
            .or_else(|| parse_interval(&self.cluster.spec.metering.interval))
            .unwrap_or(Duration::from_secs(15))
    }

    /// Scrapes every node's usage counters, and writes the reports that changed.
    pub(super) async fn scrape_usage(&mut self) {
        if !self.cluster.spec.metering.enabled {
            return;
        }
        self.usage.set_node_type(&crate::metering::node_type_name(
            self.cluster.spec.cache_node_type,
        ));
        for node in self.addresses.keys().cloned().collect::<Vec<_>>() {
            self.scrape_node(&node).await;
        }
        let now = Timestamp::now();
        self.usage.end_round(
            now,
            crate::usage_limits::minimum_storage_gb(&self.cluster.spec),
        );
        self.write_reports(now);
    }

    /// Scrapes one node (a node that does not answer is skipped: its counters are read next time, or its
    /// restart is recognised by its run_id).
    pub(super) async fn scrape_node(&mut self, node: &str) {
        if !self.cluster.spec.metering.enabled {
            return;
        }
        let client = self.client(node);
        let sample = match self.cluster.spec.engine {
            Engine::Redis => client.usage().await,
            Engine::Memcached => client.memcached_usage().await,
        };
        if let Ok(sample) = sample {
            // Every node of a local run was started by this run: all it counted is new.
            let now = Timestamp::now();
            self.usage.observe(node, sample, now, true);
        }
    }

    /// Writes the status file, at most once per `status_write_interval` unless `force`.
    pub(super) async fn write_status_file(&mut self, force: bool) {
        let due = self
            .status_written
            .is_none_or(|t| t.elapsed() >= self.settings.status_write_interval);
        if !force && !due {
            return;
        }
        self.status_written = Some(Instant::now());
        let status = self.status().await;
        let path = self.status_file();
        let temporary = path.with_extension("yaml.tmp");
        let written = serde_yaml::to_string(&status)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&temporary, text))
            .and_then(|()| std::fs::rename(&temporary, &path));
        if let Err(e) = written {
            tracing::warn!(file = %path.display(), error = %e, "cannot write the status file");
        }
    }

    /// The cluster's status as Kubernetes would show it.
    pub async fn status(&mut self) -> CacheClusterStatus {
        let endpoints = self.endpoints();
        let mut nodes = Vec::new();
        for name in self.addresses.keys().cloned().collect::<Vec<_>>() {
            let running = self.presence(&name) == Presence::Running;
            let info = match self.cluster.spec.engine {
                Engine::Redis if running => self.client(&name).info().await.ok(),
                _ => None,
            };
            let group = self.specs.get(&name).map_or(0, |s| s.node_group);
            nodes.push(NodeStatus {
                node_group: format!("{:04}", group + 1),
                role: info.as_ref().map_or_else(
                    || {
                        if self.cluster.spec.engine == Engine::Memcached {
                            "memcached".into()
                        } else {
                            "unknown".into()
                        }
                    },
                    |i| i.role.clone(),
                ),
                ready: running && (info.is_some() || self.cluster.spec.engine == Engine::Memcached),
                engine_version: self.running.get(&name).map(|a| a.engine_version.clone()),
                replication_offset: info.and_then(|i| i64::try_from(i.offset).ok()),
                name,
            });
        }
        let ready = nodes.iter().filter(|n| n.ready).count();
        let desired = usize::try_from(self.cluster.spec.desired_nodes()).unwrap_or(0);
        let primaries_ready = self.cluster.spec.engine == Engine::Memcached
            || self.groups.iter().all(|g| {
                g.primary
                    .as_ref()
                    .is_some_and(|p| nodes.iter().any(|n| &n.name == p && n.ready))
            });
        let resharding = self.shards.as_ref().is_some_and(|s| s.resharding);
        let state = ClusterState::of(Phase {
            all_ready: ready == desired && primaries_ready,
            changing: self.patching || self.halted.is_some() || resharding,
            was_available: self.was_available,
            ..Phase::default()
        });
        self.was_available |= matches!(state, ClusterState::Available);
        let address = |a: Option<std::net::SocketAddr>| a.map(|a| a.to_string());
        CacheClusterStatus {
            status: Some(state),
            ready_nodes: Some(format!("{ready}/{}", nodes.len())),
            endpoint: address(endpoints.primary.or(endpoints.configuration)),
            primary_endpoint: address(endpoints.primary),
            reader_endpoint: address(endpoints.reader),
            configuration_endpoint: address(endpoints.configuration),
            nodes,
            pending_modified_values: (!self.pending.is_empty()).then(|| self.pending.clone()),
            usage: self
                .cluster
                .spec
                .metering
                .enabled
                .then(|| self.usage.usage()),
            ..CacheClusterStatus::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metering_intervals_are_seconds_or_minutes() {
        assert_eq!(parse_interval("15s"), Some(Duration::from_secs(15)));
        assert_eq!(parse_interval("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_interval("0s"), None);
        assert_eq!(parse_interval("15"), None);
    }
}
