//! Services: a headless Service per node group (stable per-node DNS for replication and discovery) and the
//! client endpoints: `<name>-primary` and `<name>-reader` for Redis, `<name>-cfg` for Memcached and for Redis in
//! cluster mode.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    cluster_selector, common_labels, configuration_service_name, node_group_labels,
    node_group_name, node_group_selector, owned_meta, primary_service_name, reader_service_name,
    role_selector, ROLE_PRIMARY, ROLE_REPLICA,
};
use crate::api::{CacheCluster, Engine, METRICS_PORT};
use crate::Result;

/// Headless Service of a node group; lists not-ready pods too, so replicas find their primary while starting.
pub(super) fn headless(cluster: &CacheCluster, group: i32) -> Result<Service> {
    let mut ports = client_ports(cluster);
    ports.push(ServicePort {
        name: Some("metrics".into()),
        port: METRICS_PORT,
        target_port: Some(IntOrString::String("metrics".into())),
        protocol: Some("TCP".into()),
        ..ServicePort::default()
    });
    Ok(Service {
        metadata: owned_meta(
            cluster,
            node_group_name(cluster, group),
            node_group_labels(cluster, group),
        )?,
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            publish_not_ready_addresses: Some(true),
            selector: Some(node_group_selector(cluster, group)),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

/// The client endpoint Services of the cluster's engine.
pub(super) fn endpoints(cluster: &CacheCluster) -> Result<Vec<Service>> {
    match cluster.spec.engine {
        // Cluster mode: one configuration endpoint on every node, as ElastiCache has; cluster clients start
        // there and learn the shards (`CLUSTER SLOTS`/`SHARDS`), any node answers.
        Engine::Redis if cluster.spec.sharded() => Ok(vec![endpoint(
            cluster,
            configuration_service_name(cluster),
            cluster_selector(cluster),
        )?]),
        Engine::Redis => {
            // Without replicas the reader endpoint reaches the primary, as in ElastiCache.
            let reader_selector = if cluster.spec.replicas_per_node_group > 0 {
                role_selector(cluster, ROLE_REPLICA)
            } else {
                cluster_selector(cluster)
            };
            Ok(vec![
                endpoint(
                    cluster,
                    primary_service_name(cluster),
                    role_selector(cluster, ROLE_PRIMARY),
                )?,
                endpoint(cluster, reader_service_name(cluster), reader_selector)?,
            ])
        }
        Engine::Memcached => Ok(vec![endpoint(
            cluster,
            configuration_service_name(cluster),
            cluster_selector(cluster),
        )?]),
    }
}

fn endpoint(
    cluster: &CacheCluster,
    name: String,
    selector: BTreeMap<String, String>,
) -> Result<Service> {
    let mut labels = common_labels(cluster);
    labels.insert("app.kubernetes.io/component".into(), "endpoint".into());
    Ok(Service {
        metadata: owned_meta(cluster, name, labels)?,
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector),
            ports: Some(client_ports(cluster)),
            ..ServiceSpec::default()
        }),
        status: None,
    })
}

fn client_ports(cluster: &CacheCluster) -> Vec<ServicePort> {
    let name = cluster.spec.engine.as_str();
    vec![ServicePort {
        name: Some(name.into()),
        port: cluster.spec.client_port(),
        target_port: Some(IntOrString::String(name.into())),
        protocol: Some("TCP".into()),
        app_protocol: cluster
            .spec
            .transit_encryption_enabled
            .then(|| "tls".to_string()),
        ..ServicePort::default()
    }]
}
