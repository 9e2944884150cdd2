//! `CacheCluster`: one Redis replication group or Memcached cluster, as ElastiCache describes it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, SeccompProfile, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Default `preferredMaintenanceWindow`: one hour early on Sunday, UTC.
pub const DEFAULT_MAINTENANCE_WINDOW: &str = "sun:05:00-sun:06:00";
/// Default `engineVersion`: the engine release this operator was built with.
pub const DEFAULT_ENGINE_VERSION: &str = "0.1.0";
/// Image repository of the engine; the tag is the engine version.
pub const DEFAULT_IMAGE_REPOSITORY: &str = "ghcr.io/ferrocache/ferrocache-engine";
/// Port of the Redis protocol unless `spec.port` says otherwise.
pub const REDIS_PORT: i32 = 6379;
/// Port of the Memcached protocol unless `spec.port` says otherwise.
pub const MEMCACHED_PORT: i32 = 11211;
/// Port of the engine's Prometheus metrics endpoint.
pub const METRICS_PORT: i32 = 9121;

/// Pattern of a maintenance window, `ddd:hh24:mi-ddd:hh24:mi` in UTC with lowercase day names.
pub const MAINTENANCE_WINDOW_PATTERN: &str = "^(sun|mon|tue|wed|thu|fri|sat):([01][0-9]|2[0-3]):[0-5][0-9]-(sun|mon|tue|wed|thu|fri|sat):([01][0-9]|2[0-3]):[0-5][0-9]$";

/// CEL: a well-formed window lasts at least 60 minutes (it may wrap around the end of the week).
const MAINTENANCE_WINDOW_LENGTH_RULE: &str = "!self.matches('^(sun|mon|tue|wed|thu|fri|sat):([01][0-9]|2[0-3]):[0-5][0-9]-(sun|mon|tue|wed|thu|fri|sat):([01][0-9]|2[0-3]):[0-5][0-9]$') || (({'sun':0,'mon':1440,'tue':2880,'wed':4320,'thu':5760,'fri':7200,'sat':8640}[self.substring(10,13)] + int(self.substring(14,16)) * 60 + int(self.substring(17,19)) - {'sun':0,'mon':1440,'tue':2880,'wed':4320,'thu':5760,'fri':7200,'sat':8640}[self.substring(0,3)] - int(self.substring(4,6)) * 60 - int(self.substring(7,9)) + 10080) % 10080) >= 60";

/// A managed cache: a Redis-protocol replication group (node groups of one primary and its replicas) or a
/// Memcached cluster, run by the Ferrocache engine.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ferrocache.io",
    version = "v1alpha1",
    kind = "CacheCluster",
    namespaced,
    status = "CacheClusterStatus",
    shortname = "cc",
    category = "ferrocache",
    printcolumn = r#"{"name":"Engine","type":"string","jsonPath":".spec.engine","description":"Cache engine"}"#,
    printcolumn = r#"{"name":"Version","type":"string","jsonPath":".spec.engineVersion","description":"Engine version"}"#,
    printcolumn = r#"{"name":"Shards","type":"integer","jsonPath":".spec.numNodeGroups","description":"Node groups (shards) asked for","priority":0}"#,
    printcolumn = r#"{"name":"Nodes","type":"string","jsonPath":".status.readyNodes","description":"Ready nodes / desired nodes"}"#,
    printcolumn = r#"{"name":"Status","type":"string","jsonPath":".status.status","description":"ElastiCache-style status"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoint","description":"Endpoint clients connect to first"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.engine != 'memcached' || (self.replicasPerNodeGroup == 0 && self.numNodeGroups == 1)").message("memcached has no replicas and no node groups: use numCacheNodes, with replicasPerNodeGroup 0 and numNodeGroups 1"),
    validation = Rule::new("self.clusterMode == 'enabled' || self.numNodeGroups == 1").message("numNodeGroups above 1 needs clusterMode: enabled"),
    validation = Rule::new("self.engine != 'memcached' || self.clusterMode == 'disabled'").message("memcached has no cluster mode: clients shard over the nodes; use clusterMode: disabled"),
    validation = Rule::new("self.engine != 'memcached' || size(self.users) == 0").message("users are Redis ACL users; memcached authenticates with SASL credentials from authTokenSecretRef"),
    validation = Rule::new("!self.transitEncryptionEnabled || has(self.tls)").message("transitEncryptionEnabled needs a certificate source: set tls.secretName or tls.issuerRef"),
    validation = Rule::new("!self.atRestEncryptionEnabled || has(self.atRestEncryptionKeySecretRef)").message("atRestEncryptionEnabled needs atRestEncryptionKeySecretRef (a Secret holding the snapshot key)"),
    validation = Rule::new("!self.automaticFailoverEnabled || self.replicasPerNodeGroup >= 1").message("automaticFailoverEnabled needs at least one replica per node group"),
    validation = Rule::new("!self.automaticFailoverEnabled || !has(self.nodeGroupConfiguration) || self.nodeGroupConfiguration.all(g, !has(g.replicaCount) || g.replicaCount >= 1)").message("automaticFailoverEnabled needs at least one replica in every node group: a nodeGroupConfiguration replicaCount is 0"),
    validation = Rule::new("!has(self.nodeGroupConfiguration) || size(self.nodeGroupConfiguration) == 0 || self.clusterMode == 'enabled'").message("nodeGroupConfiguration configures the shards of clusterMode: enabled"),
    validation = Rule::new("!self.multiAZEnabled || self.automaticFailoverEnabled").message("multiAZEnabled needs automaticFailoverEnabled")
)]
pub struct CacheClusterSpec {
    /// Cache engine protocol: `redis` (replication groups, persistence of nothing but snapshots) or `memcached`
    /// (independent nodes, client-side sharding). Immutable.
    #[x_kube(validation = Rule::new("self == oldSelf").message("engine is immutable: create a new CacheCluster instead"))]
    pub engine: Engine,

    /// Version of the Ferrocache engine; selects the image tag unless `image` is set. A change is a rolling patch
    /// applied inside `preferredMaintenanceWindow` unless `applyImmediately`.
    #[serde(default = "default_engine_version")]
    #[schemars(length(min = 1, max = 64))]
    pub engine_version: String,

    /// Size of each node, from the preset table (`cache.small`: 0.5 CPU / 1 GiB, `cache.medium`: 1 CPU / 2 GiB,
    /// `cache.large`: 2 CPU / 4 GiB, `cache.xlarge`: 4 CPU / 8 GiB; `maxmemory` is 75% of the memory). Ignored for
    /// CPU and memory when `resources` is set.
    #[serde(default)]
    pub cache_node_type: CacheNodeType,

    /// Explicit CPU and memory of each node's engine container, instead of the `cacheNodeType` preset. With a
    /// memory limit, `maxmemory` is 75% of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Cluster mode (Redis): `enabled` shards the keyspace over `numNodeGroups` node groups by hash slot, as
    /// Redis Cluster does, and clients connect through the configuration endpoint with a cluster-aware client;
    /// `disabled` is one node group behind primary and reader endpoints. Cannot change on a running cluster.
    /// Memcached: `disabled`.
    #[serde(default)]
    #[x_kube(validation = Rule::new("self == oldSelf").message("clusterMode cannot change on a running cluster (keys are addressed differently): create a new CacheCluster and move the data"))]
    pub cluster_mode: ClusterMode,

    /// Number of node groups (shards) of a Redis cluster, 1-500; above 1 needs `clusterMode: enabled`. With
    /// cluster mode, a change reshards online: new shards take an even share of the slots, and leaving shards
    /// hand theirs over before they are removed. Memcached: 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 500))]
    pub num_node_groups: i32,

    /// Replicas of each node group's primary (Redis only, 0-5).
    #[serde(default)]
    #[schemars(range(min = 0, max = 5))]
    pub replicas_per_node_group: i32,

    /// Optional configuration of each shard, in node group order (`<name>-0001` first), as ElastiCache's
    /// NodeGroupConfiguration: the slots it owns at creation, its replica count and its preferred zones. Shards
    /// beyond the list take the cluster-wide values. Cluster mode only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 500))]
    pub node_group_configuration: Vec<NodeGroupConfiguration>,

    /// Number of Memcached nodes (Memcached only; Redis counts nodes as node groups × (1 + replicas)).
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 60))]
    pub num_cache_nodes: i32,

    /// Name of a CacheParameterGroup in the same namespace whose parameters configure every node. Without one,
    /// the engine defaults apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub cache_parameter_group_name: Option<String>,

    /// Promote a replica when a primary fails (Redis, needs replicas).
    #[serde(default)]
    pub automatic_failover_enabled: bool,

    /// Spread the nodes of each node group over availability zones (`topology.kubernetes.io/zone`) and keep a
    /// primary and its replicas on different Kubernetes nodes. Needs automaticFailoverEnabled.
    #[serde(default, rename = "multiAZEnabled")]
    pub multi_az_enabled: bool,

    /// Serve clients over TLS only. Needs a certificate source in `tls`.
    #[serde(default)]
    pub transit_encryption_enabled: bool,

    /// Where the TLS certificate comes from, when transitEncryptionEnabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,

    /// Encrypt snapshots (full resyncs and backups) with AES-256-GCM, keyed by atRestEncryptionKeySecretRef.
    #[serde(default)]
    pub at_rest_encryption_enabled: bool,

    /// Secret key holding the 32-byte snapshot encryption key, when atRestEncryptionEnabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_rest_encryption_key_secret_ref: Option<SecretKeyRef>,

    /// Secret key holding the password of the default user (Redis AUTH). A change is rotated without restart:
    /// the new token is accepted alongside the old until every node has it. Memcached: the key holds SASL
    /// credentials, `user:password` lines; clients log in over the binary protocol (SASL PLAIN) and the text
    /// protocol is refused, as memcached's `-S` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_token_secret_ref: Option<SecretKeyRef>,

    /// Additional ACL users (Redis only), each with a password from a Secret.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub users: Vec<UserSpec>,

    /// Weekly window for changes that restart nodes, `ddd:hh24:mi-ddd:hh24:mi` in UTC, at least 60 minutes,
    /// e.g. `sun:05:00-sun:06:00`.
    #[serde(default = "default_maintenance_window")]
    #[schemars(length(max = 19), pattern(MAINTENANCE_WINDOW_PATTERN))]
    #[x_kube(validation = Rule::new(MAINTENANCE_WINDOW_LENGTH_RULE).message("preferredMaintenanceWindow must last at least 60 minutes"))]
    pub preferred_maintenance_window: String,

    /// Apply changes that restart nodes at once instead of waiting for the maintenance window.
    #[serde(default)]
    pub apply_immediately: bool,

    /// Who may connect (the security-group equivalent). When set, a NetworkPolicy admits only these peers (plus
    /// the cluster's own nodes and the operator). When absent, every pod may connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50))]
    pub allowed_clients: Option<Vec<AllowedClient>>,

    /// Client port. Defaults to 6379 for redis and 11211 for memcached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i32>,

    /// Engine image, overriding the one chosen by engineVersion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub image: Option<String>,

    /// Usage metering (request units and storage) for pay-per-use billing.
    #[serde(default)]
    pub metering: MeteringSpec,

    /// Caps on what the cluster may use, as ElastiCache Serverless' `CacheUsageLimits`: data storage (writes
    /// that grow memory are refused past the maximum; at least the minimum is billed) and request units per
    /// second (requests past the rate wait briefly, then are refused). Changes apply to running nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_limits: Option<UsageLimits>,

    /// Scheduling and metadata added to every node's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template: Option<PodTemplateOverrides>,
}

fn one() -> i32 {
    1
}

fn default_engine_version() -> String {
    DEFAULT_ENGINE_VERSION.to_string()
}

fn default_maintenance_window() -> String {
    DEFAULT_MAINTENANCE_WINDOW.to_string()
}

/// Cache engine protocol.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Redis protocol (RESP2/RESP3), with replication.
    Redis,
    /// Memcached protocol, independent nodes.
    Memcached,
}

impl Engine {
    /// The engine's name as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Redis => "redis",
            Engine::Memcached => "memcached",
        }
    }
}

/// Whether a Redis cluster is sharded by hash slot.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClusterMode {
    /// One node group: a primary and its replicas behind primary and reader endpoints.
    #[default]
    Disabled,
    /// Node groups own hash slots; cluster-aware clients route each key (Redis Cluster).
    Enabled,
}

/// Node size preset; see `node_types` for the table.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, JsonSchema)]
pub enum CacheNodeType {
    /// 0.5 CPU, 1 GiB memory.
    #[default]
    #[serde(rename = "cache.small")]
    Small,
    /// 1 CPU, 2 GiB memory.
    #[serde(rename = "cache.medium")]
    Medium,
    /// 2 CPU, 4 GiB memory.
    #[serde(rename = "cache.large")]
    Large,
    /// 4 CPU, 8 GiB memory.
    #[serde(rename = "cache.xlarge")]
    Xlarge,
}

/// TLS certificate source: an existing Secret or a cert-manager issuer. Exactly one.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.secretName) != has(self.issuerRef)").message("set exactly one of tls.secretName and tls.issuerRef"))]
pub struct TlsSpec {
    /// Name of a `kubernetes.io/tls` Secret (keys `tls.crt`, `tls.key`, optionally `ca.crt`) in the cluster's
    /// namespace. Renewed certificates are picked up by the engine without restart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: Option<String>,

    /// A cert-manager issuer; the operator requests a Certificate for the cluster's Services and mounts its Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer_ref: Option<IssuerRef>,
}

/// Reference to a cert-manager Issuer or ClusterIssuer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IssuerRef {
    /// Issuer name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `Issuer` (namespaced) or `ClusterIssuer`.
    #[serde(default = "default_issuer_kind")]
    #[schemars(length(min = 1, max = 63))]
    pub kind: String,
    /// API group of the issuer.
    #[serde(default = "default_issuer_group")]
    #[schemars(length(min = 1, max = 253))]
    pub group: String,
}

fn default_issuer_kind() -> String {
    "Issuer".to_string()
}

fn default_issuer_group() -> String {
    "cert-manager.io".to_string()
}

/// A key of a Secret in the cluster's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key within the Secret.
    #[serde(default = "default_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

fn default_secret_key() -> String {
    "token".to_string()
}

/// An ACL user.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserSpec {
    /// User name (not `default`, which authTokenSecretRef configures).
    #[schemars(length(min = 1, max = 64), pattern("^[A-Za-z0-9_.-]+$"))]
    pub name: String,
    /// Secret key holding the user's password.
    pub password_secret_ref: SecretKeyRef,
    /// Redis ACL rules, e.g. `on ~app:* +@read +@write -@dangerous`.
    #[serde(default = "default_access_string")]
    #[schemars(length(min = 1, max = 1024))]
    pub access_string: String,
}

fn default_access_string() -> String {
    "on ~* +@all".to_string()
}

/// Peers admitted by the cluster's NetworkPolicy: selectors (ANDed when both are set, as in a NetworkPolicy
/// peer) or an ipBlock on its own.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.namespaceSelector) || has(self.podSelector) || has(self.ipBlock)").message("an allowed client needs namespaceSelector, podSelector or ipBlock"),
    validation = Rule::new("!has(self.ipBlock) || !(has(self.namespaceSelector) || has(self.podSelector))").message("ipBlock cannot be combined with selectors: list it as a separate allowed client")
)]
pub struct AllowedClient {
    /// Namespaces whose pods may connect (with podSelector: only those pods in those namespaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelector>,
    /// Pods that may connect (in the cluster's namespace unless namespaceSelector is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_selector: Option<LabelSelector>,
    /// A CIDR that may connect, e.g. `10.0.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 43))]
    pub ip_block: Option<String>,
}

/// Usage limits (ElastiCache Serverless `CacheUsageLimits`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageLimits {
    /// Data storage limits, in GB (10^9 bytes) of dataset across the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_storage: Option<DataStorageLimit>,
    /// Request-unit rate limit.
    #[serde(
        rename = "ecpuPerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ecpu_per_second: Option<EcpuPerSecondLimit>,
}

/// Data storage limits of a cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.maximum) || !has(self.minimum) || self.minimum <= self.maximum").message("dataStorage.minimum must not exceed dataStorage.maximum"))]
pub struct DataStorageLimit {
    /// Most data the cluster may hold, GB. Each shard's primary may hold `maximum / shards`; past it, commands
    /// that can grow memory get `-OOM` (memcached: `SERVER_ERROR out of memory`), while reads and deletes go on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub maximum: Option<i64>,
    /// Least data storage billed per hour, GB, whatever the cluster holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000))]
    pub minimum: Option<i64>,
    /// Unit of `maximum` and `minimum`; only `GB`.
    #[serde(default = "gb")]
    #[schemars(regex(pattern = "^GB$"))]
    pub unit: String,
}

fn gb() -> String {
    "GB".into()
}

/// Request-unit rate limit of a cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EcpuPerSecondLimit {
    /// Most request units per second. Each node may serve `maximum / shards` per second, with one second of
    /// burst; a request over it waits up to 100 ms and is then refused with `-THROTTLED`.
    #[schemars(range(min = 1, max = 15_000_000))]
    pub maximum: i64,
}

/// Usage metering settings.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeteringSpec {
    /// Count request units (ECPUs) on every node and publish usage in status.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How often the operator scrapes each node's counters, e.g. `15s` or `1m`.
    #[serde(default = "default_metering_interval")]
    #[schemars(pattern("^[0-9]+(s|m)$"), length(max = 8))]
    pub interval: String,
}

impl Default for MeteringSpec {
    fn default() -> Self {
        MeteringSpec {
            enabled: true,
            interval: default_metering_interval(),
        }
    }
}

fn yes() -> bool {
    true
}

fn default_metering_interval() -> String {
    "15s".to_string()
}

/// Scheduling, metadata and the seccomp profile of the node pods.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplateOverrides {
    /// Tolerations added to every node pod.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// Node labels a node pod's Kubernetes node must have.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// PriorityClass of the node pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<String>,
    /// Extra labels on the node pods (the operator's own `ferrocache.io/*` labels win).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Extra annotations on the node pods.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Seccomp profile of the node pods (default `RuntimeDefault`). The `RuntimeDefault` profile of
    /// containerd 2.0+ blocks io_uring, so nodes serve on epoll; a `Localhost` profile that also
    /// allows `io_uring_setup`, `io_uring_enter` and `io_uring_register` lets them use io_uring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(
        validation = Rule::new("self.type in ['RuntimeDefault', 'Localhost', 'Unconfined']").message("seccompProfile.type must be RuntimeDefault, Localhost or Unconfined"),
        validation = Rule::new("(self.type == 'Localhost') == has(self.localhostProfile)").message("seccompProfile.localhostProfile is required with type Localhost, and only with it")
    )]
    pub seccomp_profile: Option<SeccompProfile>,
}

/// Observed state of a CacheCluster. Written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheClusterStatus {
    /// ElastiCache-style summary: creating, available, modifying, snapshotting, failing-over, deleting,
    /// incompatible-parameters or incompatible-configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClusterState>,
    /// Ready, Progressing and Degraded, with reasons and messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready nodes / desired nodes, e.g. `3/3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_nodes: Option<String>,
    /// The endpoint clients use first: primaryEndpoint for redis, configurationEndpoint for memcached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// host:port of the primary (read-write) Service (Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_endpoint: Option<String>,
    /// host:port of the reader Service, balancing over replicas (Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader_endpoint: Option<String>,
    /// host:port of the configuration endpoint (Memcached auto-discovery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration_endpoint: Option<String>,
    /// Every node, with its role and replication state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeStatus>,
    /// Changes waiting for the maintenance window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_modified_values: Option<PendingModifiedValues>,
    /// Metered usage of the current period (filled by metering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageStatus>,
    /// Sharded clusters: every shard of the topology the nodes were given, with its slots and nodes. The
    /// operator restores the slot map from here when every node has restarted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shards: Vec<ShardStatus>,
    /// Sharded clusters: the epoch of the topology the nodes were given last (it grows with every change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_epoch: Option<i64>,
    /// Sharded clusters: the slot migration under way (at most one at a time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_migration: Option<SlotMigrationStatus>,
}

/// The configuration of one shard (node group) of a sharded cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeGroupConfiguration {
    /// Hash slots the shard owns when the cluster is created, as ElastiCache writes them: `0-5460`, or ranges
    /// separated by commas (`0-100,200-5460`). Given for one shard, it must be given for every shard, and the
    /// ranges must cover 0-16383 exactly once. Later resharding spreads slots evenly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[0-9]{1,5}(-[0-9]{1,5})?(,[0-9]{1,5}(-[0-9]{1,5})?)*$"))]
    pub slots: Option<String>,
    /// Replicas of this shard's primary (0-5), instead of `replicasPerNodeGroup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 5))]
    pub replica_count: Option<i32>,
    /// Zone (`topology.kubernetes.io/zone`) the shard's nodes prefer most: where its primary starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub primary_availability_zone: Option<String>,
    /// Further zones the shard's replicas prefer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 5))]
    pub replica_availability_zones: Vec<String>,
}

/// One shard (node group) of a sharded cluster.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ShardStatus {
    /// Node group name, e.g. `orders-0002` (its StatefulSet).
    pub name: String,
    /// The shard id the nodes report (`CLUSTER MYSHARDID`).
    pub shard_id: String,
    /// Hash slot ranges the shard owns, inclusive, e.g. `0-5460` (empty while it owns none).
    #[serde(default)]
    pub slots: String,
    /// Number of hash slots the shard owns.
    pub slot_count: i32,
    /// The primary's pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// The replicas' pods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<String>,
}

/// A migration of hash slots from one shard to another (`CLUSTER MIGRATESLOTS`), followed to its end.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SlotMigrationStatus {
    /// Source shard (node group name).
    pub from: String,
    /// Target shard (node group name).
    pub to: String,
    /// The slot ranges that move, e.g. `4096-5460`.
    pub slots: String,
    /// Number of slots that move.
    pub slot_count: i32,
    /// The source primary's pod, which runs the migration.
    pub source_pod: String,
    /// The target primary's node id.
    pub target_node_id: String,
}

/// ElastiCache-style cluster status.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterState {
    /// Nodes are being created.
    Creating,
    /// Every node is ready.
    Available,
    /// A change is being applied.
    Modifying,
    /// A snapshot is being taken.
    Snapshotting,
    /// A replica is being promoted.
    FailingOver,
    /// The cluster is being deleted.
    Deleting,
    /// The parameter group is missing, invalid or of the wrong family.
    IncompatibleParameters,
    /// The spec asks for something this operator cannot build yet (e.g. Redis with several node groups).
    IncompatibleConfiguration,
}

/// What a cluster's state is decided from, on every platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Phase {
    /// The cluster is being deleted.
    pub deleting: bool,
    /// It cannot be built as specified: the state that says why.
    pub blocked: Option<ClusterState>,
    /// A replica is being promoted.
    pub failing_over: bool,
    /// Every node it should have is ready, and every node group has a ready primary.
    pub all_ready: bool,
    /// A change is under way: a rolling patch, resharding, or a group held at its size.
    pub changing: bool,
    /// It was available (or being modified) before.
    pub was_available: bool,
}

impl ClusterState {
    /// The one status machine of both platforms.
    pub fn of(p: Phase) -> ClusterState {
        if p.deleting {
            ClusterState::Deleting
        } else if let Some(blocked) = p.blocked {
            blocked
        } else if p.failing_over {
            ClusterState::FailingOver
        } else if p.all_ready && !p.changing {
            ClusterState::Available
        } else if p.was_available || p.all_ready {
            ClusterState::Modifying
        } else {
            ClusterState::Creating
        }
    }

    /// The status as written in `status.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ClusterState::Creating => "creating",
            ClusterState::Available => "available",
            ClusterState::Modifying => "modifying",
            ClusterState::Snapshotting => "snapshotting",
            ClusterState::FailingOver => "failing-over",
            ClusterState::Deleting => "deleting",
            ClusterState::IncompatibleParameters => "incompatible-parameters",
            ClusterState::IncompatibleConfiguration => "incompatible-configuration",
        }
    }
}

/// One engine node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStatus {
    /// Pod name.
    pub name: String,
    /// Node group (shard) index, as a 4-digit string like ElastiCache's `0001`.
    pub node_group: String,
    /// `primary`, `replica` or `memcached`.
    pub role: String,
    /// The pod passes its readiness probe.
    pub ready: bool,
    /// Engine version the pod runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Replication offset (Redis), filled by the day-2 logic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_offset: Option<i64>,
}

/// Changes accepted but not yet applied, waiting for the maintenance window.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PendingModifiedValues {
    /// Engine version the nodes will run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine_version: Option<String>,
    /// Node type the nodes will have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_node_type: Option<CacheNodeType>,
    /// Static parameters (restart needed) and their new values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub parameters: BTreeMap<String, String>,
    /// Other restart-needing spec fields that changed (`port`, `transitEncryptionEnabled/tls`, …); the nodes
    /// keep the running values until the change is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
}

impl PendingModifiedValues {
    /// True when nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.engine_version.is_none()
            && self.cache_node_type.is_none()
            && self.parameters.is_empty()
            && self.settings.is_empty()
    }
}

/// Metered usage since `periodStart`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageStatus {
    /// Request units (ECPUs) consumed.
    pub ecpu_total: i64,
    /// Dataset size integrated over time, in GB-hours.
    #[serde(rename = "storageGBHours")]
    pub storage_gb_hours: f64,
    /// Start of the metering period (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_start: Option<String>,
    /// Time of the last successful scrape (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_scrape: Option<String>,
    /// Each node's counters as of the last scrape counted in these totals: a restarted operator continues
    /// from them, so units charged since are counted exactly once.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, NodeCounters>,
    /// Dataset bytes now, every node added up, against `usageLimits.dataStorage.maximum`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset_bytes: Option<i64>,
    /// Request units per second over the last metering interval, against `usageLimits.ecpuPerSecond`.
    #[serde(
        rename = "ecpuPerSecond",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub ecpu_per_second: Option<f64>,
    /// Requests refused by the request-unit rate limit, since each node started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttled_requests: Option<i64>,
    /// The usage report this usage is recorded in (`CacheUsageReport` name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
}

/// A node's usage counters at one scrape.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeCounters {
    /// The node process' identity (it changes at every start).
    pub run_id: String,
    /// Request units the node charged since it started.
    pub ecpu_total: i64,
    /// Units of unbilled management commands among them.
    pub unbilled_ecpu: i64,
    /// Dataset bytes.
    pub dataset_bytes: i64,
    /// When they were read (RFC 3339).
    pub at: String,
}

impl CacheClusterSpec {
    /// The client port actually used.
    pub fn client_port(&self) -> i32 {
        self.port.unwrap_or(match self.engine {
            Engine::Redis => REDIS_PORT,
            Engine::Memcached => MEMCACHED_PORT,
        })
    }

    /// The engine image actually used.
    pub fn engine_image(&self) -> String {
        self.image
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_IMAGE_REPOSITORY}:{}", self.engine_version))
    }

    /// Pods per StatefulSet: a primary plus its replicas for redis, every node for memcached.
    pub fn nodes_per_group(&self) -> i32 {
        match self.engine {
            Engine::Redis => 1 + self.replicas_per_node_group,
            Engine::Memcached => self.num_cache_nodes,
        }
    }

    /// Whether the keyspace is sharded by hash slot (Redis with cluster mode enabled).
    pub fn sharded(&self) -> bool {
        self.engine == Engine::Redis && self.cluster_mode == ClusterMode::Enabled
    }

    /// Node groups actually built (memcached has one).
    pub fn node_groups(&self) -> i32 {
        match self.engine {
            Engine::Redis => self.num_node_groups,
            Engine::Memcached => 1,
        }
    }

    /// The configuration of node group `group`, when `nodeGroupConfiguration` lists it.
    pub fn group_configuration(&self, group: i32) -> Option<&NodeGroupConfiguration> {
        usize::try_from(group)
            .ok()
            .and_then(|g| self.node_group_configuration.get(g))
    }

    /// Pods of node group `group`: its own `replicaCount` when it has one, else [`Self::nodes_per_group`].
    pub fn nodes_in_group(&self, group: i32) -> i32 {
        match (self.engine, self.group_configuration(group)) {
            (
                Engine::Redis,
                Some(NodeGroupConfiguration {
                    replica_count: Some(replicas),
                    ..
                }),
            ) => 1 + replicas,
            _ => self.nodes_per_group(),
        }
    }

    /// Replicas of node group `group`'s primary (Redis).
    pub fn replicas_in_group(&self, group: i32) -> i32 {
        self.nodes_in_group(group) - 1
    }

    /// Sets node group `group`'s replica count (extending `nodeGroupConfiguration` as needed): how a build is
    /// told to hold a group at its size, or to give it a temporary replica.
    pub fn set_replicas_in_group(&mut self, group: i32, replicas: i32) {
        let Ok(g) = usize::try_from(group) else {
            return;
        };
        if self.node_group_configuration.len() <= g {
            self.node_group_configuration
                .resize(g + 1, NodeGroupConfiguration::default());
        }
        self.node_group_configuration[g].replica_count = Some(replicas);
    }

    /// Every node the cluster should have.
    pub fn desired_nodes(&self) -> i32 {
        (0..self.node_groups())
            .map(|g| self.nodes_in_group(g))
            .sum()
    }
}
