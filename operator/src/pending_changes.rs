//! Which changes reach the nodes now and which wait for the maintenance window.
//!
//! Changes that restart nodes (engine version or image, node size, static parameters) are "gated": they are
//! written into the StatefulSet's pod template only while the maintenance window is open or when
//! `applyImmediately` is set; until then the template keeps what it had and the difference is reported in
//! `status.pendingModifiedValues`. The pod template records what it carries in the annotation
//! [`APPLIED_ANNOTATION`], so the decision needs nothing but the observed StatefulSet. Dynamic parameters are
//! never gated.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use serde::{Deserialize, Serialize};

use crate::api::{CacheClusterSpec, CacheNodeType, PendingModifiedValues};

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
        }
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

/// Decides what to apply. `applied` is what the running StatefulSet carries (`None` for a new cluster);
/// `may_restart` is true inside the maintenance window or with `applyImmediately`.
pub fn plan(desired: AppliedSpec, applied: Option<AppliedSpec>, may_restart: bool) -> RolloutPlan {
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
