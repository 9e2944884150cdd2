//! Metering on Kubernetes: every `metering.interval` the reconciler scrapes each node's usage counters
//! (`INFO usage` on Redis nodes, `stats` on memcached nodes; see [`crate::metering`]), writes the month's
//! `CacheUsageReport` (`<cluster>-<yyyy>-<mm>`, hourly buckets and the checkpoint a restarted operator continues
//! from) when it changed, and publishes the month's totals in `status.usage` at most every 5 minutes
//! (`--usage-publish-interval`), so status writes stay rare for GitOps tools. The operator also exports the
//! totals as Prometheus counters.
//!
//! Reports carry the label `ferrocache.io/cluster` and no owner reference: they outlive a deleted cluster (a
//! deleted cluster is still billed for its month) until `--usage-report-retention` after their month ends.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};

use super::replication::{Reach, NODE_TIMEOUT};
use super::Context;
use crate::api::{CacheCluster, CacheUsageReport, CacheUsageReportSpec, Engine, UsageStatus};
use crate::engine_client::NodeClient;
use crate::metering::{month_of, parse_interval, UsageAccumulator};
use crate::Result;

/// Label tying a usage report to its cluster.
pub const CLUSTER_LABEL: &str = "ferrocache.io/cluster";
/// Field manager of report writes.
const REPORT_MANAGER: &str = "ferrocache-operator-usage";

/// How long reports are kept after their month ends, by default (about 13 months, a year of invoices).
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(400 * 86_400);

/// Least time between two publications of `status.usage`, by default.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(300);

struct State {
    usage: UsageAccumulator,
    /// The reports as last written, by month.
    written: HashMap<String, CacheUsageReportSpec>,
    scraped: Option<Instant>,
    scrapes: u64,
    published: Option<(Instant, UsageStatus)>,
}

/// Per-cluster metering state kept between reconciles.
#[derive(Default)]
pub struct Meters(Mutex<HashMap<String, State>>);

impl Meters {
    /// Drops the state of a deleted cluster (`<namespace>/<name>`).
    pub fn forget(&self, key: &str) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).remove(key);
    }
}

/// The metering interval of a cluster, when metering is on.
pub fn interval(cluster: &CacheCluster) -> Option<Duration> {
    let m = &cluster.spec.metering;
    if !m.enabled {
        return None;
    }
    Some(parse_interval(&m.interval).unwrap_or(Duration::from_secs(15)))
}

/// Scrapes when due; returns the usage to publish in status (the previous one until 5 minutes passed).
pub async fn meter(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &[Pod],
    reach: &Reach<'_>,
    now: Timestamp,
) -> Result<Option<UsageStatus>> {
    let previous = cluster.status.as_ref().and_then(|s| s.usage.clone());
    let Some(every) = interval(cluster) else {
        return Ok(previous);
    };
    let key = format!("{namespace}/{}", cluster.name_any());
    let due = {
        let meters = ctx.meters.0.lock().unwrap_or_else(|e| e.into_inner());
        meters
            .get(&key)
            .and_then(|s| s.scraped)
            .is_none_or(|at| at.elapsed() >= every)
    };
    // A memcached cluster with an auth token requires SASL: the scrape logs in with the first
    // `user:password` line of the Secret.
    let memcached_login = match (cluster.spec.engine, due) {
        (Engine::Memcached, true) if cluster.spec.auth_token_secret_ref.is_some() => {
            super::auth_rotation::Tokens::load(cluster, ctx, namespace)
                .await?
                .desired
                .and_then(|t| t.lines().next().map(str::to_string))
        }
        _ => None,
    };
    let mut samples = Vec::new();
    if due {
        for pod in pods {
            let sample = match cluster.spec.engine {
                Engine::Redis => match reach.as_ref().and_then(|r| r.as_ref().ok()) {
                    Some(access) => match access.client(pod) {
                        Some((client, _)) => client.usage().await.ok(),
                        None => None,
                    },
                    None => None,
                },
                // Memcached nodes have no TLS on the client port to set up; SASL when they require it.
                Engine::Memcached => match (ctx.node_address)(pod, cluster.spec.client_port()) {
                    Some(socket) => NodeClient::new(pod.name_any(), socket, NODE_TIMEOUT)
                        .with_password(memcached_login.clone())
                        .memcached_usage()
                        .await
                        .ok(),
                    None => None,
                },
            };
            if let Some(sample) = sample {
                samples.push((pod.name_any(), sample));
            }
        }
    }
    let known = ctx
        .meters
        .0
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&key);
    if !known && samples.is_empty() {
        return Ok(previous);
    }
    if !known {
        // Continue from the newest record: this cluster's reports, else its published status.
        let reports = cluster_reports(ctx, namespace, &cluster.name_any(), cluster.uid()).await?;
        let specs: Vec<CacheUsageReportSpec> = reports.iter().map(|r| r.spec.clone()).collect();
        let usage = UsageAccumulator::resume(previous.as_ref(), &specs).with_grace(ctx.usage_grace);
        let written = specs.into_iter().map(|s| (s.month.clone(), s)).collect();
        ctx.meters
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key.clone())
            .or_insert(State {
                usage,
                written,
                scraped: None,
                scrapes: 0,
                published: None,
            });
    }
    let to_write = {
        let mut meters = ctx.meters.0.lock().unwrap_or_else(|e| e.into_inner());
        let Some(state) = meters.get_mut(&key) else {
            return Ok(previous);
        };
        let mut to_write = Vec::new();
        if !samples.is_empty() {
            // A node first seen after this operator has been metering the cluster is new: all its units count.
            let fresh = state.scrapes > 0;
            state.usage.set_node_type(&crate::metering::node_type_name(
                cluster.spec.cache_node_type,
            ));
            for (node, sample) in samples {
                state.usage.observe(&node, sample, now, fresh);
            }
            state
                .usage
                .end_round(now, crate::usage_limits::minimum_storage_gb(&cluster.spec));
            state.scraped = Some(Instant::now());
            state.scrapes += 1;
            let usage = state.usage.usage();
            ctx.metrics.record_usage(
                namespace,
                &cluster.name_any(),
                usage.ecpu_total,
                usage.storage_gb_hours,
            );
            for month in state.usage.months() {
                let report = state.usage.report(
                    &cluster.name_any(),
                    cluster.uid().as_deref().unwrap_or_default(),
                    cluster.spec.engine.as_str(),
                    &month,
                    now,
                );
                // Only what changed is written (a checkpoint alone moves with every scrape: the current
                // month carries it).
                let current = month == month_of(now);
                let same = state.written.get(&month).is_some_and(|w| {
                    w.hours == report.hours && (!current || w.checkpoint == report.checkpoint)
                });
                if !same {
                    to_write.push(report);
                }
            }
        }
        to_write
    };
    for report in &to_write {
        write_report(ctx, namespace, cluster, report).await?;
    }
    if !to_write.is_empty() {
        expire_reports(ctx, namespace, now).await?;
    }
    let mut meters = ctx.meters.0.lock().unwrap_or_else(|e| e.into_inner());
    let Some(state) = meters.get_mut(&key) else {
        return Ok(previous);
    };
    for report in to_write {
        state.written.insert(report.month.clone(), report);
    }
    let publish = state
        .published
        .as_ref()
        .is_none_or(|(at, _)| at.elapsed() >= ctx.usage_publish_every);
    if publish && state.scrapes > 0 {
        let mut usage = state.usage.usage();
        usage.report = Some(report_name(&cluster.name_any(), &month_of(now)));
        state.published = Some((Instant::now(), usage.clone()));
        return Ok(Some(usage));
    }
    Ok(state
        .published
        .as_ref()
        .map(|(_, u)| u.clone())
        .or(previous))
}

/// The name of a cluster's report of `month` (`YYYY-MM`).
pub fn report_name(cluster: &str, month: &str) -> String {
    format!("{cluster}-{month}")
}

/// The reports of a cluster (the one with this UID, when given) in `namespace`.
async fn cluster_reports(
    ctx: &Context,
    namespace: &str,
    cluster: &str,
    uid: Option<String>,
) -> Result<Vec<CacheUsageReport>> {
    let api: Api<CacheUsageReport> = Api::namespaced(ctx.client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("{CLUSTER_LABEL}={cluster}")))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|r| uid.as_deref().is_none_or(|u| r.spec.cluster_uid == u))
        .collect())
}

/// Writes (server-side apply) one month's report.
async fn write_report(
    ctx: &Context,
    namespace: &str,
    cluster: &CacheCluster,
    report: &CacheUsageReportSpec,
) -> Result<()> {
    let api: Api<CacheUsageReport> = Api::namespaced(ctx.client.clone(), namespace);
    let name = report_name(&cluster.name_any(), &report.month);
    let mut object = CacheUsageReport::new(&name, report.clone());
    object.metadata.namespace = Some(namespace.to_string());
    object.metadata.labels = Some(
        [
            (CLUSTER_LABEL.to_string(), cluster.name_any()),
            (
                "app.kubernetes.io/managed-by".to_string(),
                "ferrocache-operator".to_string(),
            ),
        ]
        .into(),
    );
    api.patch(
        &name,
        &PatchParams::apply(REPORT_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await?;
    Ok(())
}

/// Deletes the reports of `namespace` whose month ended more than the retention period ago.
async fn expire_reports(ctx: &Context, namespace: &str, now: Timestamp) -> Result<()> {
    let api: Api<CacheUsageReport> = Api::namespaced(ctx.client.clone(), namespace);
    for report in api.list(&ListParams::default()).await?.items {
        if report_expired(&report.spec.month, now, ctx.usage_retention) {
            api.delete(&report.name_any(), &DeleteParams::default())
                .await?;
        }
    }
    Ok(())
}

/// True when `month` (`YYYY-MM`) ended more than `retention` before `now`.
pub fn report_expired(month: &str, now: Timestamp, retention: Duration) -> bool {
    let Ok(first) = format!("{month}-01T00:00:00Z").parse::<Timestamp>() else {
        return false;
    };
    let Ok(next_month) = first
        .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
        .checked_add(k8s_openapi::jiff::Span::new().months(1))
    else {
        return false;
    };
    let age = now.as_second() - next_month.timestamp().as_second();
    age > i64::try_from(retention.as_secs()).unwrap_or(i64::MAX)
}

/// Marks the current report of a deleted cluster with the time it was deleted.
pub async fn mark_deleted(
    client: kube::Client,
    namespace: String,
    cluster: String,
    now: Timestamp,
) {
    let api: Api<CacheUsageReport> = Api::namespaced(client, &namespace);
    let name = report_name(&cluster, &month_of(now));
    let patch = serde_json::json!({ "spec": { "clusterDeletedAt": now.to_string() } });
    if let Err(e) = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::debug!(%namespace, %cluster, error = %e, "cannot mark the usage report of a deleted cluster");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_expire_a_retention_period_after_their_month() {
        let day = Duration::from_secs(86_400);
        let now: Timestamp = "2026-12-07T10:00:00Z".parse().unwrap();
        assert!(!report_expired("2026-12", now, day));
        assert!(!report_expired("2026-11", now, 7 * day));
        assert!(report_expired("2026-11", now, 6 * day));
        assert!(report_expired("2026-01", now, 90 * day));
    }
}
