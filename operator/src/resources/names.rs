//! Names of the objects a cluster owns, derived from the cluster's name.

use kube::ResourceExt;

use crate::api::CacheCluster;

/// Node group (shard) id as ElastiCache writes it: 1-based, four digits.
pub fn node_group_id(group: i32) -> String {
    format!("{:04}", group + 1)
}

/// StatefulSet and headless Service of a node group: `<cluster>-0001`.
pub fn node_group_name(cluster: &CacheCluster, group: i32) -> String {
    format!("{}-{}", cluster.name_any(), node_group_id(group))
}

/// ConfigMap holding the engine configuration file.
pub fn config_map_name(cluster: &CacheCluster) -> String {
    format!("{}-engine-config", cluster.name_any())
}

/// Service of the primary (read-write) endpoint.
pub fn primary_service_name(cluster: &CacheCluster) -> String {
    format!("{}-primary", cluster.name_any())
}

/// Service of the reader endpoint.
pub fn reader_service_name(cluster: &CacheCluster) -> String {
    format!("{}-reader", cluster.name_any())
}

/// Service of the configuration endpoint (ElastiCache's `.cfg.` endpoint): Memcached, and Redis in cluster mode.
pub fn configuration_service_name(cluster: &CacheCluster) -> String {
    format!("{}-cfg", cluster.name_any())
}

/// `host:port` of a Service in the cluster's namespace.
pub fn service_endpoint(cluster: &CacheCluster, service: &str) -> String {
    let namespace = cluster.namespace().unwrap_or_default();
    format!("{service}.{namespace}.svc:{}", cluster.spec.client_port())
}
