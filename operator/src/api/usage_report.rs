//! `CacheUsageReport`: the billing record of one CacheCluster for one calendar month (UTC), one bucket per hour.
//!
//! The operator writes it; people and billing systems read it (`kubectl get cacheusagereports -A`, or
//! `ferrocache-operator usage` for CSV / JSON Lines). It is a record, not a wish: everything is in `spec`, and
//! nothing in it is read back to change a cluster. A report is tied to its cluster by the
//! `ferrocache.io/cluster` label and `spec.clusterUID`, not by an owner reference, because a deleted cluster must
//! still be billed for the month: reports outlive their cluster for the operator's retention period.

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Usage of one CacheCluster in one calendar month (UTC), by hour. Named `<cluster>-<yyyy>-<mm>`.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "ferrocache.io",
    version = "v1alpha1",
    kind = "CacheUsageReport",
    namespaced,
    shortname = "cur",
    category = "ferrocache",
    printcolumn = r#"{"name":"Cluster","type":"string","jsonPath":".spec.clusterName","description":"The CacheCluster billed"}"#,
    printcolumn = r#"{"name":"Month","type":"string","jsonPath":".spec.month","description":"Calendar month (UTC)"}"#,
    printcolumn = r#"{"name":"ECPUs","type":"integer","jsonPath":".spec.ecpuTotal","description":"Request units in the month"}"#,
    printcolumn = r#"{"name":"GB-Hours","type":"number","jsonPath":".spec.billedStorageGBHours","description":"Billed data storage (at least the usage limit's minimum)"}"#,
    printcolumn = r#"{"name":"Node-Hours","type":"number","jsonPath":".spec.nodeHoursTotal","description":"Node hours, all node types"}"#,
    printcolumn = r#"{"name":"Final-Through","type":"string","jsonPath":".spec.finalThrough","description":"Hours before this are final"}"#,
    printcolumn = r#"{"name":"Deleted","type":"string","jsonPath":".spec.clusterDeletedAt","priority":1,"description":"When the cluster was deleted"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CacheUsageReportSpec {
    /// Name of the CacheCluster.
    pub cluster_name: String,
    /// UID of the CacheCluster (a cluster deleted and created again under the same name is another cluster).
    #[serde(rename = "clusterUID", default)]
    pub cluster_uid: String,
    /// `redis` or `memcached`.
    #[serde(default)]
    pub engine: String,
    /// The month, `YYYY-MM` (UTC).
    pub month: String,
    /// Request units (ECPUs) in the month: the sum of the hours'.
    #[serde(default)]
    pub ecpu_total: i64,
    /// Data storage measured in the month, GB-hours (1 GB = 10^9 bytes).
    #[serde(rename = "storageGBHours", default)]
    pub storage_gb_hours: f64,
    /// Data storage billed: per hour the larger of the measured storage and `usageLimits.dataStorage.minimum`.
    #[serde(rename = "billedStorageGBHours", default)]
    pub billed_storage_gb_hours: f64,
    /// Node hours in the month by `cacheNodeType`.
    #[serde(default)]
    pub node_hours: BTreeMap<String, f64>,
    /// Node hours in the month, all node types.
    #[serde(default)]
    pub node_hours_total: f64,
    /// Largest dataset seen in the month, bytes (every node's dataset added up).
    #[serde(default)]
    pub peak_dataset_bytes: i64,
    /// Hours that start before this time (RFC 3339) are final: they will not change again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_through: Option<String>,
    /// When the cluster was deleted, if it was (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_deleted_at: Option<String>,
    /// One bucket per UTC hour with usage, oldest first.
    #[serde(default)]
    pub hours: Vec<UsageHour>,
    /// The metering position this report was written at (each node's and each engine run's counters), from
    /// which a restarted operator continues: not for billing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<UsageCheckpoint>,
}

/// Usage in one UTC hour.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageHour {
    /// Start of the hour (RFC 3339, UTC).
    pub start: String,
    /// Request units (ECPUs) charged in the hour.
    #[serde(default)]
    pub ecpu: i64,
    /// Data storage measured in the hour, GB-hours.
    #[serde(rename = "storageGBHours", default)]
    pub storage_gb_hours: f64,
    /// Data storage billed in the hour: the larger of the measured one and the usage limit's minimum.
    #[serde(rename = "billedStorageGBHours", default)]
    pub billed_storage_gb_hours: f64,
    /// Node hours by `cacheNodeType`.
    #[serde(default)]
    pub node_hours: BTreeMap<String, f64>,
    /// Largest dataset seen in the hour, bytes.
    #[serde(default)]
    pub peak_dataset_bytes: i64,
    /// True once the hour and its grace period are over: the bucket will not change again.
    #[serde(default)]
    pub r#final: bool,
}

/// Where metering stood when a report was written.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageCheckpoint {
    /// Time of the last scrape counted (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scrape: Option<String>,
    /// Each node's counters at its last counted scrape.
    #[serde(default)]
    pub nodes: BTreeMap<String, super::NodeCounters>,
    /// Units counted per engine run (`run_id`), so that a run's units reported again (by its ledger after a
    /// restart, or by a replica it shipped them to) are counted once.
    #[serde(default)]
    pub runs: BTreeMap<String, RunCounted>,
}

/// Units counted of one engine run.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCounted {
    /// Billed units of the run counted so far.
    pub billed: i64,
    /// Unix ms at which the run had charged them.
    pub at_ms: i64,
}
