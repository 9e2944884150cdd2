//! `spec.usageLimits` as engine parameters, for both platforms: each node enforces its share of the cluster's
//! limits, set live with `CONFIG SET` like any dynamic parameter (and written in the configuration file for
//! nodes that start later).
//!
//! Shares: data lives once per shard (replicas copy it) and requests spread over the shards, so each node gets
//! `maximum / shards` of both limits (a memcached cluster's nodes are its shards). A node refuses writes that
//! can grow memory past its share of `dataStorage.maximum`, and delays, then refuses, requests past its share
//! of `ecpuPerSecond.maximum`. Both parameters are always written (`0` = no limit), so removing a limit
//! reaches running nodes as well.

use std::collections::BTreeMap;

use crate::api::{CacheClusterSpec, Engine};
use crate::metering::BYTES_PER_GB;

/// Engine parameter: the node's storage limit in bytes.
pub const MAX_STORAGE: &str = "usage-max-storage";
/// Engine parameter: the node's request-unit rate limit per second.
pub const MAX_ECPU_PER_SECOND: &str = "usage-max-ecpu-per-second";
/// Engine parameter: keep billed units in a file-backed ledger.
pub const LEDGER: &str = "usage-ledger";

/// The shards the limits are divided over.
pub fn shards(spec: &CacheClusterSpec) -> i64 {
    match spec.engine {
        Engine::Redis => i64::from(spec.node_groups().max(1)),
        Engine::Memcached => i64::from(spec.num_cache_nodes.max(1)),
    }
}

/// The dynamic engine parameters that enforce `spec.usageLimits` on each node.
pub fn parameters(spec: &CacheClusterSpec) -> BTreeMap<String, String> {
    let limits = spec.usage_limits.as_ref();
    let shards = shards(spec);
    let storage = limits
        .and_then(|l| l.data_storage.as_ref())
        .and_then(|d| d.maximum)
        .map_or(0, |gb| (gb as f64 * BYTES_PER_GB / shards as f64) as u64);
    let rate = limits
        .and_then(|l| l.ecpu_per_second.as_ref())
        .map_or(0, |e| (e.maximum.max(0) as u64).div_ceil(shards as u64));
    BTreeMap::from([
        (MAX_STORAGE.to_string(), storage.to_string()),
        (MAX_ECPU_PER_SECOND.to_string(), rate.to_string()),
    ])
}

/// The least storage billed per hour, GB (`dataStorage.minimum`).
pub fn minimum_storage_gb(spec: &CacheClusterSpec) -> Option<f64> {
    spec.usage_limits
        .as_ref()?
        .data_storage
        .as_ref()?
        .minimum
        .map(|gb| gb as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DataStorageLimit, EcpuPerSecondLimit, UsageLimits};
    use crate::fixtures::{cluster, REDIS_SINGLE_NODE};

    #[test]
    fn each_shard_gets_its_share_and_no_limit_is_zero() {
        let mut c = cluster(REDIS_SINGLE_NODE);
        assert_eq!(
            parameters(&c.spec),
            BTreeMap::from([
                (MAX_STORAGE.to_string(), "0".to_string()),
                (MAX_ECPU_PER_SECOND.to_string(), "0".to_string()),
            ])
        );
        c.spec.usage_limits = Some(UsageLimits {
            data_storage: Some(DataStorageLimit {
                maximum: Some(6),
                minimum: Some(1),
                unit: "GB".into(),
            }),
            ecpu_per_second: Some(EcpuPerSecondLimit { maximum: 1000 }),
        });
        c.spec.cluster_mode = crate::api::ClusterMode::Enabled;
        c.spec.num_node_groups = 3;
        let p = parameters(&c.spec);
        assert_eq!(p[MAX_STORAGE], "2000000000");
        assert_eq!(p[MAX_ECPU_PER_SECOND], "334");
        assert_eq!(minimum_storage_gb(&c.spec), Some(1.0));
    }
}
