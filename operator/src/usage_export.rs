//! `ferrocache-operator usage`: the hourly usage records of the reports, as CSV or JSON Lines, for a billing
//! system to import. One record per cluster and UTC hour; the same numbers as the reports' buckets.

use serde::Serialize;

use crate::api::CacheUsageReport;

/// One hour of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsageRecord {
    /// Namespace of the cluster.
    pub namespace: String,
    /// Cluster name.
    pub cluster: String,
    /// Cluster UID.
    pub cluster_uid: String,
    /// `redis` or `memcached`.
    pub engine: String,
    /// Start of the hour (RFC 3339, UTC).
    pub hour: String,
    /// Request units (ECPUs).
    pub ecpu: i64,
    /// Measured storage, GB-hours.
    pub storage_gb_hours: f64,
    /// Billed storage, GB-hours (at least the minimum).
    pub billed_storage_gb_hours: f64,
    /// Node hours, all node types.
    pub node_hours: f64,
    /// Node hours by node type, `type=hours` separated by `;`.
    pub node_hours_by_type: String,
    /// Largest dataset in the hour, bytes.
    pub peak_dataset_bytes: i64,
    /// The hour will not change again.
    pub r#final: bool,
    /// When the cluster was deleted, if it was.
    pub cluster_deleted_at: String,
}

/// Which hours to export: `[from, to)`, RFC 3339 (either may be open).
#[derive(Debug, Clone, Default)]
pub struct Range {
    /// First hour included.
    pub from: Option<k8s_openapi::jiff::Timestamp>,
    /// First hour excluded.
    pub to: Option<k8s_openapi::jiff::Timestamp>,
}

impl Range {
    /// The hours of a month, `YYYY-MM`.
    pub fn month(month: &str) -> Result<Range, String> {
        let first: k8s_openapi::jiff::Timestamp = format!("{month}-01T00:00:00Z")
            .parse()
            .map_err(|_| format!("{month:?} is not a month like 2026-12"))?;
        let next = first
            .to_zoned(k8s_openapi::jiff::tz::TimeZone::UTC)
            .checked_add(k8s_openapi::jiff::Span::new().months(1))
            .map_err(|e| e.to_string())?
            .timestamp();
        Ok(Range {
            from: Some(first),
            to: Some(next),
        })
    }

    fn holds(&self, hour: k8s_openapi::jiff::Timestamp) -> bool {
        self.from.is_none_or(|f| hour >= f) && self.to.is_none_or(|t| hour < t)
    }
}

/// The records of `reports` in `range`, ordered by namespace, cluster and hour.
pub fn records(reports: &[CacheUsageReport], range: &Range) -> Vec<UsageRecord> {
    let mut out: Vec<UsageRecord> = Vec::new();
    for r in reports {
        for h in &r.spec.hours {
            let Ok(hour) = h.start.parse::<k8s_openapi::jiff::Timestamp>() else {
                continue;
            };
            if !range.holds(hour) {
                continue;
            }
            let by_type: Vec<String> = h
                .node_hours
                .iter()
                .map(|(t, n)| format!("{t}={n:.6}"))
                .collect();
            out.push(UsageRecord {
                namespace: r.metadata.namespace.clone().unwrap_or_default(),
                cluster: r.spec.cluster_name.clone(),
                cluster_uid: r.spec.cluster_uid.clone(),
                engine: r.spec.engine.clone(),
                hour: h.start.clone(),
                ecpu: h.ecpu,
                storage_gb_hours: h.storage_gb_hours,
                billed_storage_gb_hours: h.billed_storage_gb_hours,
                node_hours: h.node_hours.values().sum(),
                node_hours_by_type: by_type.join(";"),
                peak_dataset_bytes: h.peak_dataset_bytes,
                r#final: h.r#final,
                cluster_deleted_at: r.spec.cluster_deleted_at.clone().unwrap_or_default(),
            });
        }
    }
    out.sort_by(|a, b| {
        (&a.namespace, &a.cluster, &a.cluster_uid, &a.hour).cmp(&(
            &b.namespace,
            &b.cluster,
            &b.cluster_uid,
            &b.hour,
        ))
    });
    out
}

/// CSV with a header line.
pub fn to_csv(records: &[UsageRecord]) -> String {
    let mut text = String::from(
        "namespace,cluster,cluster_uid,engine,hour,ecpu,storage_gb_hours,billed_storage_gb_hours,node_hours,\
         node_hours_by_type,peak_dataset_bytes,final,cluster_deleted_at\n",
    );
    for r in records {
        let fields = [
            csv_field(&r.namespace),
            csv_field(&r.cluster),
            csv_field(&r.cluster_uid),
            csv_field(&r.engine),
            csv_field(&r.hour),
            r.ecpu.to_string(),
            format!("{:.9}", r.storage_gb_hours),
            format!("{:.9}", r.billed_storage_gb_hours),
            format!("{:.6}", r.node_hours),
            csv_field(&r.node_hours_by_type),
            r.peak_dataset_bytes.to_string(),
            r.r#final.to_string(),
            csv_field(&r.cluster_deleted_at),
        ];
        text.push_str(&fields.join(","));
        text.push('\n');
    }
    text
}

/// One JSON object per line.
pub fn to_json_lines(records: &[UsageRecord]) -> String {
    records
        .iter()
        .filter_map(|r| serde_json::to_string(r).ok())
        .map(|line| line + "\n")
        .collect()
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}
