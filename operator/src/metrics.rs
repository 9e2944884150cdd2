//! Operator metrics in one Prometheus registry: reconciles, failures by error kind, reconcile durations.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio::time::Instant;

/// Labels of the per-kind counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `CacheCluster` or `CacheParameterGroup`.
    pub kind: String,
}

/// Labels of the failure counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// Resource kind.
    pub kind: String,
    /// Error label (see `Error::metric_label`).
    pub error: String,
}

/// Labels of the usage counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClusterLabels {
    /// Namespace of the CacheCluster.
    pub namespace: String,
    /// Its name.
    pub cluster: String,
}

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
    /// Request units (ECPUs) metered, by cluster (`ferrocache_ecpu_total`).
    pub ecpu: Family<ClusterLabels, Counter>,
    /// Storage metered in GB-hours, by cluster (`ferrocache_storage_gb_hours_total`).
    pub storage_gb_hours: Family<ClusterLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
    /// The usage totals last exported, by cluster: counters grow by the difference.
    exported:
        std::sync::Arc<std::sync::Mutex<std::collections::HashMap<ClusterLabels, (i64, f64)>>>,
    /// Reconciles started, by kind.
    pub reconciles: Family<KindLabels, Counter>,
    /// Reconciles that failed, by kind and error.
    pub failures: Family<FailureLabels, Counter>,
    /// Reconcile durations in seconds, by kind.
    pub duration: Family<KindLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            ecpu: Family::default(),
            storage_gb_hours: Family::default(),
            exported: Default::default(),
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.005, 2.0, 12))
            }),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry` under the `ferrocache_operator` prefix.
    pub fn register(self, registry: &mut Registry) -> Self {
        registry.register(
            "ferrocache_ecpu",
            "Request units (ECPUs) metered on the cluster's nodes",
            self.ecpu.clone(),
        );
        registry.register(
            "ferrocache_storage_gb_hours",
            "Dataset storage metered on the cluster's nodes, in GB-hours",
            self.storage_gb_hours.clone(),
        );
        let sub = registry.sub_registry_with_prefix("ferrocache_operator");
        sub.register("reconciles", "Reconciles started", self.reconciles.clone());
        sub.register(
            "reconcile_failures",
            "Reconciles that failed",
            self.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Duration of reconciles",
            self.duration.clone(),
        );
        self
    }

    /// Exports a cluster's usage totals: the counters grow by what the totals grew since the last export
    /// (a new billing period restarts the totals; the counters keep growing, as counters do).
    pub fn record_usage(&self, namespace: &str, cluster: &str, ecpu_total: i64, gb_hours: f64) {
        let labels = ClusterLabels {
            namespace: namespace.into(),
            cluster: cluster.into(),
        };
        let mut exported = self.exported.lock().unwrap_or_else(|e| e.into_inner());
        let (last_ecpu, last_gbh) = exported.get(&labels).copied().unwrap_or((0, 0.0));
        let ecpu_delta = if ecpu_total >= last_ecpu {
            ecpu_total - last_ecpu
        } else {
            ecpu_total
        };
        let gbh_delta = if gb_hours >= last_gbh {
            gb_hours - last_gbh
        } else {
            gb_hours
        };
        self.ecpu
            .get_or_create(&labels)
            .inc_by(u64::try_from(ecpu_delta).unwrap_or(0));
        self.storage_gb_hours
            .get_or_create(&labels)
            .inc_by(gbh_delta);
        exported.insert(labels, (ecpu_total, gb_hours));
    }

    /// Drops the usage series of a cluster that no longer exists.
    pub fn forget_cluster(&self, namespace: &str, cluster: &str) {
        let labels = ClusterLabels {
            namespace: namespace.into(),
            cluster: cluster.into(),
        };
        self.ecpu.remove(&labels);
        self.storage_gb_hours.remove(&labels);
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&labels);
    }

    /// Namespace and name of every cluster with usage series.
    pub fn clusters_with_usage(&self) -> Vec<(String, String)> {
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .map(|l| (l.namespace.clone(), l.cluster.clone()))
            .collect()
    }

    /// Counts a reconcile of `kind`; the returned guard records its duration when dropped.
    pub fn reconcile_started(&self, kind: &str) -> ReconcileTimer {
        let labels = KindLabels { kind: kind.into() };
        self.reconciles.get_or_create(&labels).inc();
        ReconcileTimer {
            histogram: self.duration.get_or_create(&labels).clone(),
            start: Instant::now(),
        }
    }

    /// Counts a failed reconcile.
    pub fn reconcile_failed(&self, kind: &str, error: &crate::Error) {
        self.failures
            .get_or_create(&FailureLabels {
                kind: kind.into(),
                error: error.metric_label().into(),
            })
            .inc();
    }
}

/// Records a reconcile's duration when dropped.
pub struct ReconcileTimer {
    histogram: Histogram,
    start: Instant,
}

impl Drop for ReconcileTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

#[cfg(test)]
mod usage_tests {
    use super::*;

    #[test]
    fn usage_counters_grow_by_the_totals_growth_and_keep_growing_across_periods() {
        let mut registry = Registry::default();
        let metrics = Metrics::default().register(&mut registry);
        metrics.record_usage("shop", "orders", 10, 0.5);
        metrics.record_usage("shop", "orders", 25, 0.75);
        // A new billing period restarts the totals; the counters go on from where they were.
        metrics.record_usage("shop", "orders", 5, 0.25);
        metrics.record_usage("shop", "gone", 5, 0.25);
        metrics.forget_cluster("shop", "gone");
        assert_eq!(
            metrics.clusters_with_usage(),
            vec![("shop".to_string(), "orders".to_string())]
        );
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            !text.contains("gone"),
            "a deleted cluster's series remain: {text}"
        );
        assert!(
            text.contains(r#"ferrocache_ecpu_total{namespace="shop",cluster="orders"} 30"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"ferrocache_storage_gb_hours_total{namespace="shop",cluster="orders"} 1.0"#
            ),
            "{text}"
        );
    }
}
