//! `CacheParameterGroup`: named engine parameters shared by CacheClusters, as ElastiCache parameter groups.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Engine;

/// Engine parameters (`name → value`, as in a redis.conf file) that CacheClusters refer to by name through
/// `cacheParameterGroupName`. The operator validates them against the engine's parameter table and reports
/// invalid ones in status; dynamic parameters reach running nodes without restart, static ones wait for the
/// maintenance window.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "ferrocache.io",
    version = "v1alpha1",
    kind = "CacheParameterGroup",
    namespaced,
    status = "CacheParameterGroupStatus",
    shortname = "cpg",
    category = "ferrocache",
    printcolumn = r#"{"name":"Family","type":"string","jsonPath":".spec.family","description":"Engine family"}"#,
    printcolumn = r#"{"name":"Valid","type":"string","jsonPath":".status.conditions[?(@.type==\"Valid\")].status","description":"Every parameter is valid"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct CacheParameterGroupSpec {
    /// Engine family the parameters are for: `redis7` or `memcached1.6`. A CacheCluster may only use a group of
    /// its engine's family.
    pub family: ParameterGroupFamily,

    /// Free text shown to people.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub description: String,

    /// Parameter values by name, e.g. `maxmemory-policy: allkeys-lru`, `timeout: "300"`. Values are strings,
    /// as in a config file.
    #[serde(default)]
    #[schemars(length(max = 100))]
    pub parameters: BTreeMap<String, String>,
}

/// Engine family of a parameter group.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ParameterGroupFamily {
    /// Redis protocol engines.
    #[serde(rename = "redis7")]
    Redis7,
    /// Memcached protocol engines.
    #[serde(rename = "memcached1.6")]
    Memcached16,
}

impl ParameterGroupFamily {
    /// The engine this family configures.
    pub fn engine(self) -> Engine {
        match self {
            ParameterGroupFamily::Redis7 => Engine::Redis,
            ParameterGroupFamily::Memcached16 => Engine::Memcached,
        }
    }

    /// The family as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            ParameterGroupFamily::Redis7 => "redis7",
            ParameterGroupFamily::Memcached16 => "memcached1.6",
        }
    }
}

/// Observed state of a CacheParameterGroup. Written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheParameterGroupStatus {
    /// `Valid`: every parameter is known and its value acceptable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The valid parameters and how a change to each is applied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParameterStatus>,
    /// Parameters that were refused, with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub invalid_parameters: Vec<InvalidParameter>,
}

/// A valid parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ParameterStatus {
    /// Parameter name.
    pub name: String,
    /// Value, as given.
    pub value: String,
    /// `immediate` (CONFIG SET on running nodes) or `requires-reboot` (rolled out node by node inside the
    /// maintenance window).
    pub change_type: ChangeType,
}

/// How a parameter change reaches running nodes (ElastiCache's ChangeType).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeType {
    /// Applied to running nodes without restart.
    Immediate,
    /// Needs a node restart.
    RequiresReboot,
}

/// A refused parameter.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvalidParameter {
    /// Parameter name, as given.
    pub name: String,
    /// Why it was refused.
    pub message: String,
}
