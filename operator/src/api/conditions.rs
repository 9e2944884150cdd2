//! Status conditions shared by both kinds: the Kubernetes `Condition` shape with this API's types and reasons.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// Condition type: the cluster serves traffic on its endpoints.
pub const READY: &str = "Ready";
/// Condition type: the operator is creating or changing something.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: something is wrong that the operator cannot fix alone.
pub const DEGRADED: &str = "Degraded";
/// Condition type of a parameter group: every parameter is known and valid.
pub const VALID: &str = "Valid";

/// Builds a condition; `last_transition_time` is kept from `previous` when the status did not change, so a
/// reconcile that changes nothing writes an identical status.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: impl Into<String>,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last_transition_time = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or(Time(now));
    Condition {
        type_: type_.to_string(),
        status,
        reason: reason.to_string(),
        message: message.into(),
        observed_generation,
        last_transition_time,
    }
}

/// True when the condition of this type is present and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == "True")
}
