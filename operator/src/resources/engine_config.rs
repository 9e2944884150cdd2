//! The engine configuration file (redis.conf style) in a ConfigMap, and the engine's parameter names for the
//! settings the operator derives from the spec.
//!
//! The file carries the operator-derived settings first (bind, port, TLS, memory, threads, metering), then the
//! parameter group's values: static ones as the rollout plan allows, dynamic ones as the group says. Secrets
//! never enter the file; the auth token reaches the engine through an environment variable.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::ResourceExt;

use super::{common_labels, config_map_name, node_group_name, owned_meta, BuildInput};
use crate::api::{CacheCluster, Engine};
use crate::node_types::{
    maxmemory_for, node_size, parse_cpu_quantity, parse_memory_quantity, threads_for,
};
use crate::Result;

/// Key of the configuration file in the ConfigMap.
pub const CONFIG_FILE_KEY: &str = "engine.conf";
/// Key of the memcached auto-discovery file (`config get cluster`) in the ConfigMap.
pub const CLUSTER_FILE_KEY: &str = "cluster.conf";
/// Where the ConfigMap is mounted in the engine container.
pub const CONFIG_DIR: &str = "/etc/ferrocache/config";
/// Where the TLS Secret is mounted.
pub const TLS_DIR: &str = "/etc/ferrocache/tls";
/// Where the snapshot key Secret is mounted.
pub const SNAPSHOT_KEY_DIR: &str = "/etc/ferrocache/snapshot-key";
/// Engine data directory (snapshots), an emptyDir.
pub const DATA_DIR: &str = "/data";

// Engine parameter names for settings that exist in the engine's table today.
const BIND: &str = "bind";
const PROTECTED_MODE: &str = "protected-mode";
const PORT: &str = "port";
const MAXMEMORY: &str = "maxmemory";
const THREADS: &str = "threads";
const METERING: &str = "metering";
const CLUSTER_CONFIG: &str = "cluster-config";
const CLUSTER_ENABLED: &str = "cluster-enabled";
const PREFERRED_ENDPOINT: &str = "cluster-preferred-endpoint-type";
// TLS and snapshot-encryption parameters, written only when the spec asks for the feature. The metrics listener is expected on its default port, 9121, and snapshots go to the working
// directory (the container's is the writable data volume), so neither needs a parameter.
const TLS_PORT: &str = "tls-port";
const TLS_CERT_FILE: &str = "tls-cert-file";
const TLS_KEY_FILE: &str = "tls-key-file";
const TLS_CA_CERT_FILE: &str = "tls-ca-cert-file";
const TLS_REPLICATION: &str = "tls-replication";
const SNAPSHOT_KEY_FILE: &str = "snapshot-key-file";

/// The ConfigMap with the engine configuration file.
pub(super) fn config_map(input: BuildInput<'_>) -> Result<ConfigMap> {
    let cluster = input.cluster;
    Ok(ConfigMap {
        metadata: owned_meta(cluster, config_map_name(cluster), common_labels(cluster))?,
        data: Some(
            [(CONFIG_FILE_KEY.to_string(), engine_config_file(input))]
                .into_iter()
                .chain(
                    (cluster.spec.engine == Engine::Memcached)
                        .then(|| (CLUSTER_FILE_KEY.to_string(), cluster_config_file(cluster))),
                )
                .collect(),
        ),
        ..ConfigMap::default()
    })
}

/// The configuration file text.
pub fn engine_config_file(input: BuildInput<'_>) -> String {
    let spec = &input.cluster.spec;
    // Pods listen on their own address; who may reach them is decided by the NetworkPolicy built from
    // spec.allowedClients (and the auth token when one is set), so the engine's protected mode, which would
    // refuse every non-loopback client of a password-less default user, is off.
    let mut lines: Vec<(String, String)> = vec![
        (BIND.into(), "0.0.0.0".into()),
        (PROTECTED_MODE.into(), "no".into()),
    ];
    let port = spec.client_port().to_string();
    if spec.transit_encryption_enabled {
        lines.push((PORT.into(), "0".into()));
        lines.push((TLS_PORT.into(), port));
        lines.push((TLS_CERT_FILE.into(), format!("{TLS_DIR}/tls.crt")));
        lines.push((TLS_KEY_FILE.into(), format!("{TLS_DIR}/tls.key")));
        // Replicas reach their primary over TLS too, verifying it with the Secret's CA (ca.crt).
        lines.push((TLS_CA_CERT_FILE.into(), format!("{TLS_DIR}/ca.crt")));
        lines.push((TLS_REPLICATION.into(), "yes".into()));
    } else {
        lines.push((PORT.into(), port));
    }
    if spec.at_rest_encryption_enabled {
        lines.push((SNAPSHOT_KEY_FILE.into(), format!("{SNAPSHOT_KEY_DIR}/key")));
    }
    let (cpu_millis, memory_bytes) = container_size(input);
    if let Some(bytes) = memory_bytes {
        lines.push((MAXMEMORY.into(), maxmemory_for(bytes).to_string()));
    }
    if !input.applied.static_parameters.contains_key(THREADS) {
        lines.push((THREADS.into(), threads_for(cpu_millis).to_string()));
    }
    let metering = if spec.metering.enabled { "yes" } else { "no" };
    lines.push((METERING.into(), metering.into()));
    // Billed units survive a killed process in a ledger on the data volume (see the engine's metering::ledger).
    lines.push((crate::usage_limits::LEDGER.into(), metering.into()));
    if spec.sharded() {
        lines.push((CLUSTER_ENABLED.into(), "yes".into()));
        if spec.transit_encryption_enabled {
            // TLS clients verify a node by its DNS name: redirects and CLUSTER SLOTS name nodes by the per-pod
            // DNS name the topology announces.
            lines.push((PREFERRED_ENDPOINT.into(), "hostname".into()));
        }
    }
    if spec.engine == Engine::Memcached {
        lines.push((
            CLUSTER_CONFIG.into(),
            format!("{CONFIG_DIR}/{CLUSTER_FILE_KEY}"),
        ));
    }
    let parameters = input
        .applied
        .static_parameters
        .iter()
        .chain(input.dynamic_parameters.iter());
    lines.extend(parameters.map(|(k, v)| (k.clone(), v.clone())));

    let mut text = format!(
        "# Engine configuration of {} CacheCluster {}/{}, written by ferrocache-operator.\n\
         # Change the CacheCluster or its CacheParameterGroup instead of this file.\n",
        spec.engine.as_str(),
        input.cluster.namespace().unwrap_or_default(),
        input.cluster.name_any(),
    );
    for (name, value) in lines {
        let _ = writeln!(text, "{name} {}", quote(&value));
    }
    if spec.engine == Engine::Memcached {
        text.push_str(
            "# The memcached protocol is selected on the command line (--protocol memcached).\n",
        );
    }
    text
}

/// The memcached auto-discovery file (ElastiCache's `config get cluster`): a version, then every node as
/// `hostname|ip|port`. Nodes are named by their stable DNS name under the group's headless Service, with the
/// IP left empty (clients resolve the name, as they do for ElastiCache entries), so the node list changes
/// only when membership does. The version is the CacheCluster's generation: it grows with every spec change
/// (a client re-reads an unchanged list then), so clients that compare versions see each membership change.
pub fn cluster_config_file(cluster: &CacheCluster) -> String {
    let namespace = cluster.namespace().unwrap_or_default();
    let port = cluster.spec.client_port();
    let nodes: Vec<String> = (0..cluster.spec.node_groups())
        .flat_map(|g| {
            let group = node_group_name(cluster, g);
            let namespace = namespace.clone();
            (0..cluster.spec.nodes_per_group())
                .map(move |i| format!("{group}-{i}.{group}.{namespace}.svc.cluster.local||{port}"))
        })
        .collect();
    format!(
        "{}\n{}\n",
        cluster.metadata.generation.unwrap_or(1),
        nodes.join(" ")
    )
}

/// CPU millicores and memory bytes of the engine container: explicit limits (or requests) win over the preset.
pub(super) fn container_size(input: BuildInput<'_>) -> (u32, Option<u64>) {
    size_of(
        input.applied.cache_node_type,
        input.applied.resources.as_ref(),
    )
}

/// `maxmemory` of each node as the spec sizes it (what the data of a scale-in must fit into); `None` when the
/// memory is not a plain quantity.
pub fn maxmemory(cluster: &CacheCluster) -> Option<u64> {
    size_of(
        cluster.spec.cache_node_type,
        cluster.spec.resources.as_ref(),
    )
    .1
    .map(maxmemory_for)
}

fn size_of(
    node_type: crate::api::CacheNodeType,
    resources: Option<&k8s_openapi::api::core::v1::ResourceRequirements>,
) -> (u32, Option<u64>) {
    let preset = node_size(node_type);
    let Some(resources) = resources else {
        return (preset.cpu_millis, Some(preset.memory_mib << 20));
    };
    let pick = |name: &str| {
        let from = |m: &Option<
            BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
        >| { m.as_ref().and_then(|m| m.get(name)).map(|q| q.0.clone()) };
        from(&resources.limits).or_else(|| from(&resources.requests))
    };
    let cpu = pick("cpu")
        .and_then(|q| parse_cpu_quantity(&q))
        .unwrap_or(preset.cpu_millis);
    let memory = pick("memory").and_then(|q| parse_memory_quantity(&q));
    (cpu, memory)
}

/// Quotes a value when it has spaces or quotes, as the engine's config reader expects.
fn quote(value: &str) -> String {
    if value.is_empty() || value.contains([' ', '"', '\'', '\\']) {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_string()
    }
}

/// A stable hash (FNV-1a, 64 bits, hex) of the ConfigMap's data, put on pod templates so a changed file is
/// visible on the StatefulSet.
pub fn config_hash(config_map: &ConfigMap) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (key, value) in config_map.data.iter().flatten() {
        for byte in key.bytes().chain([0]).chain(value.bytes()).chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
