//! Metering on Kubernetes: every `metering.interval` the reconciler scrapes each node's usage counters
//! (`INFO usage` on Redis nodes, `stats` on memcached nodes; see [`crate::metering`]) and publishes the totals
//! in `status.usage` at most every 5 minutes (`--usage-publish-interval`), so status writes stay rare for
//! GitOps tools. The totals are published with each node's counters as of the last counted scrape, so after an
//! operator restart each node's next scrape counts exactly what it charged since; the operator also exports
//! the totals as Prometheus counters.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use super::replication::{Reach, NODE_TIMEOUT};
use super::Context;
use crate::api::{CacheCluster, Engine, UsageStatus};
use crate::engine_client::NodeClient;
use crate::metering::{parse_interval, UsageAccumulator};
use crate::Result;

/// Least time between two publications of `status.usage`, by default.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(300);

struct State {
    usage: UsageAccumulator,
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
    let mut meters = ctx.meters.0.lock().unwrap_or_else(|e| e.into_inner());
    let state = meters.entry(key).or_insert_with(|| State {
        usage: previous
            .as_ref()
            .map(UsageAccumulator::resume)
            .unwrap_or_default(),
        scraped: None,
        scrapes: 0,
        published: None,
    });
    if !samples.is_empty() {
        // A node first seen after this operator has been metering the cluster is new: all its units count.
        let fresh = state.scrapes > 0;
        for (node, sample) in samples {
            state.usage.observe(&node, sample, now, fresh);
        }
        state.scraped = Some(Instant::now());
        state.scrapes += 1;
        let usage = state.usage.usage();
        ctx.metrics.record_usage(
            namespace,
            &cluster.name_any(),
            usage.ecpu_total,
            usage.storage_gb_hours,
        );
    }
    let publish = state
        .published
        .as_ref()
        .is_none_or(|(at, _)| at.elapsed() >= ctx.usage_publish_every);
    if publish && state.scrapes > 0 {
        let usage = state.usage.usage();
        state.published = Some((Instant::now(), usage.clone()));
        return Ok(Some(usage));
    }
    Ok(state
        .published
        .as_ref()
        .map(|(_, u)| u.clone())
        .or(previous))
}
