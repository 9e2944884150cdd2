//! Which changes reach the nodes now and which wait for the maintenance window: the one place where every
//! change of a running cluster is classified.
//!
//! - **Gated** (a node must restart to see it): engine version or image, node size or resources, static
//!   parameters, and the node settings of [`NodeSettings`] (port, TLS, at-rest encryption, seccomp profile).
//!   They are written into the StatefulSet's pod template (and the configuration file, and the Services' ports)
//!   only while the maintenance window is open or when `applyImmediately` is set; until then every object is
//!   built from what the nodes run ([`AppliedSpec::effective`]) and the difference is reported in
//!   `status.pendingModifiedValues`. A pod whose recorded [`AppliedSpec`] differs from the template's is
//!   restarted by the rolling patch ([`needs_restart`]), and by nothing else.
//! - **Live** (no restart): dynamic parameters (`CONFIG SET`), auth token rotation, ACL users, replica and node
//!   counts. They never enter the restart record, so they never restart a node.
//! - **Deferred** (scheduling only): `multiAZEnabled` / `automaticFailoverEnabled` placement rules, tolerations,
//!   node selector, priority class, pod labels and annotations. The template changes at once, but no running
//!   node is restarted for it; each node picks it up at its next restart (a patch, a failure, an eviction).
//! - **Refused**: `engine` (CRD rule) and more than one node group for Redis (status condition).
//!
//! The pod template records what it carries in the annotation [`APPLIED_ANNOTATION`], and every pod keeps the
//! copy it was created with, so the decision needs nothing but the observed StatefulSet and pods.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use serde::{Deserialize, Serialize};

use k8s_openapi::api::core::v1::SeccompProfile;

use crate::api::{
    CacheCluster, CacheClusterSpec, CacheNodeType, PendingModifiedValues, SecretKeyRef, TlsSpec,
};

/// Pod template annotation holding the [`AppliedSpec`] as JSON.
pub const APPLIED_ANNOTATION: &str = "ferrocache.io/applied-spec";

/// The part of the spec whose change needs a node restart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedSpec {
    /// Engine version.
    pub engine_version: String,
    /// Engine image.
    pub image: String,
    /// Node size preset.
    pub cache_node_type: CacheNodeType,
    /// Explicit resources, overriding the preset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Static (restart-needing) parameters.
    #[serde(default)]
    pub static_parameters: BTreeMap<String, String>,
    /// Restart-needing node settings; absent in records written before they were recorded (then the desired
    /// ones are taken as running, and never restart a node by themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_settings: Option<NodeSettings>,
}

/// Settings of the engine process that only a restart changes, besides version, size and static parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSettings {
    /// Client port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    /// TLS on the client port.
    #[serde(default)]
    pub transit_encryption_enabled: bool,
    /// Where the TLS certificate comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsSpec>,
    /// Encrypted snapshots.
    #[serde(default)]
    pub at_rest_encryption_enabled: bool,
    /// The snapshot key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_rest_encryption_key_secret_ref: Option<SecretKeyRef>,
    /// The pods' seccomp profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp_profile: Option<SeccompProfile>,
}

impl NodeSettings {
    fn of(spec: &CacheClusterSpec) -> Self {
        NodeSettings {
            port: spec.port,
            transit_encryption_enabled: spec.transit_encryption_enabled,
            tls: spec.tls.clone(),
            at_rest_encryption_enabled: spec.at_rest_encryption_enabled,
            at_rest_encryption_key_secret_ref: spec.at_rest_encryption_key_secret_ref.clone(),
            seccomp_profile: spec
                .pod_template
                .as_ref()
                .and_then(|t| t.seccomp_profile.clone()),
        }
    }

    /// Spec fields (their paths) where `self` and `other` differ.
    fn differences(&self, other: &NodeSettings) -> Vec<String> {
        let mut fields = Vec::new();
        let mut differs = |differ: bool, field: &str| {
            if differ {
                fields.push(field.to_string());
            }
        };
        differs(self.port != other.port, "port");
        differs(
            self.transit_encryption_enabled != other.transit_encryption_enabled
                || self.tls != other.tls,
            "transitEncryptionEnabled/tls",
        );
        differs(
            self.at_rest_encryption_enabled != other.at_rest_encryption_enabled
                || self.at_rest_encryption_key_secret_ref
                    != other.at_rest_encryption_key_secret_ref,
            "atRestEncryptionEnabled/atRestEncryptionKeySecretRef",
        );
        differs(
            self.seccomp_profile != other.seccomp_profile,
            "podTemplate.seccompProfile",
        );
        fields
    }
}

impl AppliedSpec {
    /// What the spec asks for, with the group's static parameters.
    pub fn desired(spec: &CacheClusterSpec, static_parameters: BTreeMap<String, String>) -> Self {
        AppliedSpec {
            engine_version: spec.engine_version.clone(),
            image: spec.engine_image(),
            cache_node_type: spec.cache_node_type,
            resources: spec.resources.clone(),
            static_parameters,
            node_settings: Some(NodeSettings::of(spec)),
        }
    }

    /// The cluster as its nodes run it: `cluster` with every gated field replaced by this record's value.
    /// Every object and every connection to the nodes is built from it, so a change waiting for the window
    /// reaches neither the pod template nor the configuration file nor the Services.
    pub fn effective(&self, cluster: &CacheCluster) -> CacheCluster {
        let mut effective = cluster.clone();
        let spec = &mut effective.spec;
        spec.engine_version = self.engine_version.clone();
        spec.image = Some(self.image.clone());
        spec.cache_node_type = self.cache_node_type;
        spec.resources = self.resources.clone();
        if let Some(settings) = &self.node_settings {
            spec.port = settings.port;
            spec.transit_encryption_enabled = settings.transit_encryption_enabled;
            spec.tls = settings.tls.clone();
            spec.at_rest_encryption_enabled = settings.at_rest_encryption_enabled;
            spec.at_rest_encryption_key_secret_ref =
                settings.at_rest_encryption_key_secret_ref.clone();
            if settings.seccomp_profile.is_some() || spec.pod_template.is_some() {
                spec.pod_template
                    .get_or_insert_with(Default::default)
                    .seccomp_profile = settings.seccomp_profile.clone();
            }
        }
        effective
    }

    /// Reads the record from a pod template annotation; `None` when absent or unreadable (then the desired
    /// spec is applied, as for a new cluster).
    pub fn from_annotation(value: Option<&String>) -> Option<Self> {
        value.and_then(|v| serde_json::from_str(v).ok())
    }
}

/// The outcome: what the pod templates carry, and what waits.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutPlan {
    /// Values to write into the pod templates.
    pub apply: AppliedSpec,
    /// Values waiting for the maintenance window (empty when nothing waits).
    pub pending: PendingModifiedValues,
}

/// True when a pod created with `running` must restart to run `template`: a gated value differs. Node
/// settings missing from either record (written before they were recorded) count as equal.
pub fn needs_restart(running: &AppliedSpec, template: &AppliedSpec) -> bool {
    running.engine_version != template.engine_version
        || running.image != template.image
        || running.cache_node_type != template.cache_node_type
        || running.resources != template.resources
        || running.static_parameters != template.static_parameters
        || matches!(
            (&running.node_settings, &template.node_settings),
            (Some(a), Some(b)) if a != b
        )
}

/// Decides what to apply. `applied` is what the running StatefulSet carries (`None` for a new cluster);
/// `may_restart` is true inside the maintenance window or with `applyImmediately`.
pub fn plan(desired: AppliedSpec, applied: Option<AppliedSpec>, may_restart: bool) -> RolloutPlan {
    let applied = applied.map(|mut a| {
        if a.node_settings.is_none() {
            a.node_settings = desired.node_settings.clone();
        }
        a
    });
    let Some(applied) = applied.filter(|_| !may_restart) else {
        return RolloutPlan {
            apply: desired,
            pending: PendingModifiedValues::default(),
        };
    };
    let mut pending = PendingModifiedValues::default();
    if desired.engine_version != applied.engine_version || desired.image != applied.image {
        pending.engine_version = Some(desired.engine_version.clone());
    }
    if desired.cache_node_type != applied.cache_node_type || desired.resources != applied.resources
    {
        pending.cache_node_type = Some(desired.cache_node_type);
    }
    for (name, value) in &desired.static_parameters {
        if applied.static_parameters.get(name) != Some(value) {
            pending.parameters.insert(name.clone(), value.clone());
        }
    }
    for name in applied.static_parameters.keys() {
        if !desired.static_parameters.contains_key(name) {
            // Removed from the group: the engine default returns at the next restart.
            pending
                .parameters
                .insert(name.clone(), "(engine default)".into());
        }
    }
    if let (Some(want), Some(have)) = (&desired.node_settings, &applied.node_settings) {
        pending.settings = want.differences(have);
    }
    RolloutPlan {
        apply: applied,
        pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(version: &str, statics: &[(&str, &str)]) -> AppliedSpec {
        AppliedSpec {
            engine_version: version.into(),
            image: format!("engine:{version}"),
            cache_node_type: CacheNodeType::Small,
            resources: None,
            static_parameters: statics
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            node_settings: Some(NodeSettings {
                port: None,
                transit_encryption_enabled: false,
                tls: None,
                at_rest_encryption_enabled: false,
                at_rest_encryption_key_secret_ref: None,
                seccomp_profile: None,
            }),
        }
    }

    #[test]
    fn a_new_cluster_gets_the_desired_spec_at_once() {
        let p = plan(spec("2", &[]), None, false);
        assert_eq!(p.apply, spec("2", &[]));
        assert!(p.pending.is_empty());
    }

    #[test]
    fn outside_the_window_a_version_change_waits_and_is_reported() {
        let p = plan(spec("2", &[]), Some(spec("1", &[])), false);
        assert_eq!(p.apply, spec("1", &[]));
        assert_eq!(p.pending.engine_version.as_deref(), Some("2"));
    }

    #[test]
    fn inside_the_window_or_with_apply_immediately_everything_applies() {
        let p = plan(
            spec("2", &[("databases", "32")]),
            Some(spec("1", &[])),
            true,
        );
        assert_eq!(p.apply, spec("2", &[("databases", "32")]));
        assert!(p.pending.is_empty());
    }

    #[test]
    fn static_parameter_changes_and_removals_wait() {
        let p = plan(
            spec("1", &[("databases", "32")]),
            Some(spec("1", &[("threads", "2")])),
            false,
        );
        assert_eq!(p.pending.parameters["databases"], "32");
        assert_eq!(p.pending.parameters["threads"], "(engine default)");
        assert!(p.pending.engine_version.is_none());
    }

    #[test]
    fn a_port_change_waits_and_is_named() {
        let mut desired = spec("1", &[]);
        desired.node_settings.as_mut().unwrap().port = Some(7000);
        let p = plan(desired.clone(), Some(spec("1", &[])), false);
        assert_eq!(p.pending.settings, vec!["port".to_string()]);
        assert_eq!(p.apply, spec("1", &[]));
        assert!(needs_restart(&spec("1", &[]), &desired));
    }

    #[test]
    fn records_without_node_settings_take_the_desired_ones_and_restart_nothing() {
        let mut old = spec("1", &[]);
        old.node_settings = None;
        let mut desired = spec("1", &[]);
        desired
            .node_settings
            .as_mut()
            .unwrap()
            .transit_encryption_enabled = true;
        let p = plan(desired.clone(), Some(old.clone()), false);
        assert!(p.pending.is_empty(), "{:?}", p.pending);
        assert_eq!(p.apply, desired);
        assert!(!needs_restart(&old, &desired));
    }

    #[test]
    fn only_gated_values_restart_a_pod() {
        assert!(!needs_restart(&spec("1", &[]), &spec("1", &[])));
        assert!(needs_restart(&spec("1", &[]), &spec("2", &[])));
        assert!(needs_restart(
            &spec("1", &[]),
            &spec("1", &[("databases", "32")])
        ));
    }

    #[test]
    fn the_effective_cluster_keeps_what_the_nodes_run() {
        let mut cluster = crate::fixtures::cluster(crate::fixtures::REDIS_SINGLE_NODE);
        cluster.spec.engine_version = "2".into();
        cluster.spec.port = Some(7000);
        cluster.spec.replicas_per_node_group = 3;
        let effective = spec("1", &[]).effective(&cluster);
        assert_eq!(effective.spec.engine_version, "1");
        assert_eq!(effective.spec.port, None);
        assert_eq!(effective.spec.engine_image(), "engine:1");
        assert_eq!(effective.spec.replicas_per_node_group, 3, "not gated");
    }

    #[test]
    fn the_annotation_round_trips() {
        let text = serde_json::to_string(&spec("1", &[("databases", "2")])).unwrap();
        assert_eq!(
            AppliedSpec::from_annotation(Some(&text)),
            Some(spec("1", &[("databases", "2")]))
        );
        assert_eq!(
            AppliedSpec::from_annotation(Some(&"garbage".to_string())),
            None
        );
    }
}
