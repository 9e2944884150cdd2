//! Reconciling a CacheParameterGroup: validate its parameters and publish the verdict in its status.

use std::sync::Arc;

use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};

use super::Context;
use crate::api::{condition, is_true, CacheParameterGroup, CacheParameterGroupStatus, VALID};
use crate::parameters;
use crate::{Error, Result, FIELD_MANAGER};

/// Validates one parameter group into its status.
pub async fn reconcile(group: Arc<CacheParameterGroup>, ctx: Arc<Context>) -> Result<Action> {
    let _timer = ctx.metrics.reconcile_started("CacheParameterGroup");
    let namespace = group.namespace().ok_or(Error::MissingObjectKey {
        kind: "CacheParameterGroup",
        field: "metadata.namespace",
    })?;
    let status = compute(&group, (ctx.clock)());
    if group.status.as_ref() == Some(&status) {
        return Ok(Action::await_change());
    }
    let was_valid = group
        .status
        .as_ref()
        .is_some_and(|s| is_true(&s.conditions, VALID));
    let valid = is_true(&status.conditions, VALID);
    if valid != was_valid || group.status.is_none() {
        let message = status.conditions.first().map(|c| c.message.clone());
        let event = Event {
            type_: if valid {
                EventType::Normal
            } else {
                EventType::Warning
            },
            reason: if valid { "Valid" } else { "InvalidParameters" }.into(),
            note: message,
            action: "Validate".into(),
            secondary: None,
        };
        ctx.recorder.publish(&event, &group.object_ref(&())).await?;
    }
    let api: Api<CacheParameterGroup> = Api::namespaced(ctx.client.clone(), &namespace);
    let patch = serde_json::json!({
        "apiVersion": CacheParameterGroup::api_version(&()),
        "kind": CacheParameterGroup::kind(&()),
        "status": status,
    });
    api.patch_status(
        &group.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(Action::await_change())
}

/// The status of a group: valid parameters with their change type, refused ones with the reason.
pub fn compute(
    group: &CacheParameterGroup,
    now: k8s_openapi::jiff::Timestamp,
) -> CacheParameterGroupStatus {
    let validated = parameters::validate(&group.spec.parameters);
    let previous = group.status.clone().unwrap_or_default();
    let valid = validated.invalid.is_empty();
    let message = if valid {
        format!("{} parameters valid", validated.valid.len())
    } else {
        let names: Vec<&str> = validated.invalid.iter().map(|p| p.name.as_str()).collect();
        format!("invalid parameters: {}", names.join(", "))
    };
    let reason = if valid {
        "ParametersValid"
    } else {
        "InvalidParameters"
    };
    CacheParameterGroupStatus {
        conditions: vec![condition(
            &previous.conditions,
            VALID,
            valid,
            reason,
            message,
            group.metadata.generation,
            now,
        )],
        observed_generation: group.metadata.generation,
        parameters: validated.valid,
        invalid_parameters: validated.invalid,
    }
}
