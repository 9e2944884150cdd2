//! The StatefulSet of one node group: a primary and its replicas (Redis) or every node (Memcached).
//!
//! `updateStrategy: OnDelete`: Kubernetes never restarts a node on its own; the operator orders restarts
//! (replicas first, then a switchover) so a rollout never loses the primary by surprise.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec, StatefulSetUpdateStrategy};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    NodeAffinity, NodeSelectorRequirement, NodeSelectorTerm, PodAffinityTerm, PodAntiAffinity,
    PodSecurityContext, PodSpec, PodTemplateSpec, PreferredSchedulingTerm, Probe,
    ResourceRequirements, SeccompProfile, SecretVolumeSource, SecurityContext, TCPSocketAction,
    TopologySpreadConstraint, Volume, VolumeMount, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::engine_config::{container_size, CONFIG_DIR, DATA_DIR, SNAPSHOT_KEY_DIR, TLS_DIR};
use super::{
    config_map_name, node_group_labels, node_group_name, node_group_selector, owned_meta,
    BuildInput, CONFIG_FILE_KEY, CONFIG_HASH_ANNOTATION,
};
use crate::api::{CacheCluster, Engine, METRICS_PORT};
use crate::pending_changes::APPLIED_ANNOTATION;
use crate::{Error, Result};

/// UID and GID the engine runs as (no root in the image).
const ENGINE_UID: i64 = 65532;
/// Where the auth token Secret is mounted, and the file name of its key there.
const AUTH_TOKEN_DIR: &str = "/etc/ferrocache/auth";
const AUTH_TOKEN_FILE: &str = "token";

/// The StatefulSet of node group `group`.
pub(super) fn stateful_set(
    input: BuildInput<'_>,
    group: i32,
    config_hash: &str,
) -> Result<StatefulSet> {
    let cluster = input.cluster;
    let name = node_group_name(cluster, group);
    let labels = node_group_labels(cluster, group);
    Ok(StatefulSet {
        metadata: owned_meta(cluster, name.clone(), labels.clone())?,
        spec: Some(StatefulSetSpec {
            replicas: Some(cluster.spec.nodes_in_group(group)),
            service_name: Some(name),
            selector: LabelSelector {
                match_labels: Some(node_group_selector(cluster, group)),
                ..LabelSelector::default()
            },
            // Nodes of a group are independent processes: start them together.
            pod_management_policy: Some("Parallel".into()),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                rolling_update: None,
            }),
            revision_history_limit: Some(5),
            template: pod_template(input, group, labels, config_hash)?,
            ..StatefulSetSpec::default()
        }),
        status: None,
    })
}

fn pod_template(
    input: BuildInput<'_>,
    group: i32,
    labels: BTreeMap<String, String>,
    config_hash: &str,
) -> Result<PodTemplateSpec> {
    let cluster = input.cluster;
    let overrides = cluster.spec.pod_template.clone().unwrap_or_default();
    let mut pod_labels = overrides.labels.clone();
    pod_labels.extend(labels);
    let mut annotations = overrides.annotations.clone();
    annotations.extend([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), METRICS_PORT.to_string()),
        ("prometheus.io/path".to_string(), "/metrics".to_string()),
        (CONFIG_HASH_ANNOTATION.to_string(), config_hash.to_string()),
        (
            APPLIED_ANNOTATION.to_string(),
            serde_json::to_string(input.applied).map_err(|source| Error::Serialize {
                what: "applied spec annotation",
                source,
            })?,
        ),
    ]);
    Ok(PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(pod_labels),
            annotations: Some(annotations),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            containers: vec![engine_container(input)],
            volumes: Some(volumes(cluster)),
            security_context: Some(PodSecurityContext {
                run_as_non_root: Some(true),
                run_as_user: Some(ENGINE_UID),
                run_as_group: Some(ENGINE_UID),
                fs_group: Some(ENGINE_UID),
                seccomp_profile: Some(overrides.seccomp_profile.clone().unwrap_or(
                    SeccompProfile {
                        type_: "RuntimeDefault".into(),
                        localhost_profile: None,
                    },
                )),
                ..PodSecurityContext::default()
            }),
            affinity: Some(affinity(cluster, group)),
            topology_spread_constraints: cluster
                .spec
                .multi_az_enabled
                .then(|| vec![zone_spread(cluster, group)]),
            tolerations: (!overrides.tolerations.is_empty()).then_some(overrides.tolerations),
            node_selector: (!overrides.node_selector.is_empty()).then_some(overrides.node_selector),
            priority_class_name: overrides.priority_class_name,
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            termination_grace_period_seconds: Some(30),
            ..PodSpec::default()
        }),
    })
}

fn engine_container(input: BuildInput<'_>) -> Container {
    let spec = &input.cluster.spec;
    let port = spec.client_port();
    let mut args = vec![
        "--config".to_string(),
        format!("{CONFIG_DIR}/{CONFIG_FILE_KEY}"),
    ];
    if spec.engine == Engine::Memcached {
        args.extend(["--protocol".into(), "memcached".into()]);
    } else {
        // A Redis node starts as a standby, serving no writes and following nobody, until the operator makes
        // it the primary or points it at one: a pod that restarted empty never claims the primary role.
        args.extend(["--role".into(), "standby".into()]);
    }
    if spec.auth_token_secret_ref.is_some() {
        // Redis: the token is read from the mounted Secret (trimmed as the operator trims it): it is both the
        // password clients give and the one a replica gives its primary. Memcached: the Secret holds SASL
        // credentials, `user:password` lines, and clients log in over the binary protocol. Either stays out of
        // the arguments and the ConfigMap.
        let flag = match spec.engine {
            Engine::Redis => "--auth-token-file",
            Engine::Memcached => "--memcached-sasl-pwdb",
        };
        args.extend([flag.into(), format!("{AUTH_TOKEN_DIR}/{AUTH_TOKEN_FILE}")]);
    }
    let probe = |initial_delay, period, failures| Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::Int(port),
            host: None,
        }),
        initial_delay_seconds: Some(initial_delay),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Probe::default()
    };
    Container {
        name: "engine".into(),
        image: Some(input.applied.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        // The root filesystem is read-only: snapshots land in the working directory, the data volume.
        working_dir: Some(DATA_DIR.into()),
        args: Some(args),
        ports: Some(vec![
            ContainerPort {
                name: Some(spec.engine.as_str().into()),
                container_port: port,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some("metrics".into()),
                container_port: METRICS_PORT,
                protocol: Some("TCP".into()),
                ..ContainerPort::default()
            },
        ]),
        resources: Some(resources(input)),
        readiness_probe: Some(probe(2, 5, 3)),
        liveness_probe: Some(probe(10, 10, 6)),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            run_as_non_root: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".into()]),
                add: None,
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(volume_mounts(input.cluster)),
        ..Container::default()
    }
}

/// Explicit resources as given; otherwise the preset as equal requests and limits (Guaranteed QoS).
fn resources(input: BuildInput<'_>) -> ResourceRequirements {
    if let Some(resources) = &input.applied.resources {
        return resources.clone();
    }
    let (cpu_millis, memory) = container_size(input);
    let quantities = BTreeMap::from([
        ("cpu".to_string(), Quantity(format!("{cpu_millis}m"))),
        (
            "memory".to_string(),
            Quantity(format!("{}Mi", memory.unwrap_or(0) >> 20)),
        ),
    ]);
    ResourceRequirements {
        requests: Some(quantities.clone()),
        limits: Some(quantities),
        ..ResourceRequirements::default()
    }
}

fn volumes(cluster: &CacheCluster) -> Vec<Volume> {
    let mut volumes = vec![
        Volume {
            name: "config".into(),
            config_map: Some(ConfigMapVolumeSource {
                name: config_map_name(cluster),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    if let Some(secret_name) = tls_secret_name(cluster) {
        volumes.push(secret_volume("tls", secret_name));
    }
    if let Some(token) = &cluster.spec.auth_token_secret_ref {
        volumes.push(secret_key_volume("auth-token", token, AUTH_TOKEN_FILE));
    }
    if let Some(key) = cluster
        .spec
        .at_rest_encryption_key_secret_ref
        .as_ref()
        .filter(|_| cluster.spec.at_rest_encryption_enabled)
    {
        volumes.push(secret_key_volume("snapshot-key", key, "key"));
    }
    volumes
}

/// A volume with one key of a Secret, as the file `path`.
fn secret_key_volume(name: &str, key: &crate::api::SecretKeyRef, path: &str) -> Volume {
    let mut volume = secret_volume(name, key.name.clone());
    if let Some(secret) = volume.secret.as_mut() {
        secret.items = Some(vec![k8s_openapi::api::core::v1::KeyToPath {
            key: key.key.clone(),
            path: path.into(),
            mode: None,
        }]);
    }
    volume
}

fn secret_volume(name: &str, secret_name: String) -> Volume {
    Volume {
        name: name.into(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret_name),
            default_mode: Some(0o440),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }
}

fn volume_mounts(cluster: &CacheCluster) -> Vec<VolumeMount> {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(name != "data"),
        ..VolumeMount::default()
    };
    let mut mounts = vec![mount("config", CONFIG_DIR), mount("data", DATA_DIR)];
    if tls_secret_name(cluster).is_some() {
        mounts.push(mount("tls", TLS_DIR));
    }
    if cluster.spec.auth_token_secret_ref.is_some() {
        mounts.push(mount("auth-token", AUTH_TOKEN_DIR));
    }
    if cluster.spec.at_rest_encryption_enabled
        && cluster.spec.at_rest_encryption_key_secret_ref.is_some()
    {
        mounts.push(mount("snapshot-key", SNAPSHOT_KEY_DIR));
    }
    mounts
}

/// The Secret holding the TLS certificate: the given one, or the one the cert-manager Certificate fills.
pub fn tls_secret_name(cluster: &CacheCluster) -> Option<String> {
    let tls = cluster
        .spec
        .tls
        .as_ref()
        .filter(|_| cluster.spec.transit_encryption_enabled)?;
    Some(
        tls.secret_name
            .clone()
            .unwrap_or_else(|| super::issued_secret_name(cluster)),
    )
}

/// Keep a group's nodes on different Kubernetes nodes: required with multi-AZ (a primary and its replica must
/// not share a failure), preferred otherwise.
fn affinity(cluster: &CacheCluster, group: i32) -> Affinity {
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(node_group_selector(cluster, group)),
            ..LabelSelector::default()
        }),
        topology_key: "kubernetes.io/hostname".into(),
        ..PodAffinityTerm::default()
    };
    let anti_affinity = if cluster.spec.multi_az_enabled {
        PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..PodAntiAffinity::default()
        }
    } else {
        PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: term,
                },
            ]),
            ..PodAntiAffinity::default()
        }
    };
    Affinity {
        pod_anti_affinity: Some(anti_affinity),
        node_affinity: preferred_zones(cluster, group),
        ..Affinity::default()
    }
}

/// The zones `nodeGroupConfiguration` prefers for a shard's nodes: its primary's zone most, then its replicas'.
/// A StatefulSet's pods share one template, so every node of the shard prefers them in that order; the first
/// node (ordinal 0) starts as the primary.
fn preferred_zones(cluster: &CacheCluster, group: i32) -> Option<NodeAffinity> {
    let config = cluster.spec.group_configuration(group)?;
    let zone = |weight: i32, zones: Vec<String>| PreferredSchedulingTerm {
        weight,
        preference: NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: "topology.kubernetes.io/zone".into(),
                operator: "In".into(),
                values: Some(zones),
            }]),
            ..NodeSelectorTerm::default()
        },
    };
    let mut terms = Vec::new();
    if let Some(primary) = &config.primary_availability_zone {
        terms.push(zone(100, vec![primary.clone()]));
    }
    if !config.replica_availability_zones.is_empty() {
        terms.push(zone(50, config.replica_availability_zones.clone()));
    }
    (!terms.is_empty()).then(|| NodeAffinity {
        preferred_during_scheduling_ignored_during_execution: Some(terms),
        ..NodeAffinity::default()
    })
}

fn zone_spread(cluster: &CacheCluster, group: i32) -> TopologySpreadConstraint {
    TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "topology.kubernetes.io/zone".into(),
        when_unsatisfiable: "DoNotSchedule".into(),
        label_selector: Some(LabelSelector {
            match_labels: Some(node_group_selector(cluster, group)),
            ..LabelSelector::default()
        }),
        ..TopologySpreadConstraint::default()
    }
}
