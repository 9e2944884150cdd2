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

/// The operator's metrics.
#[derive(Clone)]
pub struct Metrics {
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
