//! The CRD's rules checked without an API server, from the generated CRD itself: the API server's defaulting,
//! the OpenAPI v3 constraints (types, enums, patterns, ranges, lengths, unknown fields refused as kubectl's
//! strict field validation does) and the CEL rules (`x-kubernetes-validations`, transition rules included when
//! the previous object is given).
//!
//! The local platform checks manifests with this, so both paths enforce one definition of every rule and say
//! the same thing about a broken one. What it does not do: the API server's CEL cost budget, metadata
//! validation (name format) and admission plugins.

use std::sync::OnceLock;

use kube::CustomResourceExt;
use serde_json::Value;

use super::{CacheCluster, CacheParameterGroup};

/// The openAPIV3Schema of the CRD of `kind`.
pub fn schema(kind: &str) -> Option<&'static Value> {
    static SCHEMAS: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        [CacheCluster::crd(), CacheParameterGroup::crd()]
            .into_iter()
            .filter_map(|crd| {
                let version = crd.spec.versions.first()?;
                let schema = version.schema.as_ref()?.open_api_v3_schema.as_ref()?;
                Some((
                    crd.spec.names.kind.clone(),
                    serde_json::to_value(schema).ok()?,
                ))
            })
            .collect()
    });
    schemas.iter().find(|(k, _)| k == kind).map(|(_, s)| s)
}

/// OpenAPI v3 (Kubernetes flavour) as JSON Schema draft 4: `nullable` becomes a `null` type, and objects with
/// declared properties refuse others (kubectl's strict field validation).
pub fn to_json_schema(node: &Value) -> Value {
    match node {
        Value::Object(obj) => {
            let mut out: serde_json::Map<String, Value> = obj
                .iter()
                .map(|(k, v)| (k.clone(), to_json_schema(v)))
                .collect();
            if obj.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(t)) = obj.get("type") {
                    out.insert("type".into(), serde_json::json!([t, "null"]));
                }
            }
            let preserves =
                obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if obj.contains_key("properties")
                && !obj.contains_key("additionalProperties")
                && !preserves
            {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(to_json_schema).collect()),
        other => other.clone(),
    }
}

/// What the API server would refuse in `object` (a whole manifest: apiVersion, kind, metadata, spec), as
/// (OpenAPI errors, CEL errors); `old` is the object it replaces, for transition rules.
pub fn violations(object: &Value, old: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let Some(schema) = object["kind"].as_str().and_then(schema) else {
        return (vec![format!("unknown kind {}", object["kind"])], Vec::new());
    };
    let defaulted = kube_cel::apply_defaults(schema, object);
    let old = old.map(|o| kube_cel::apply_defaults(schema, o));
    // Fields the API server itself defines at the root (metadata is checked by other means).
    let mut full = schema.clone();
    full["properties"]["apiVersion"] = serde_json::json!({"type": "string"});
    full["properties"]["kind"] = serde_json::json!({"type": "string"});
    full["properties"]["metadata"] = serde_json::json!({"type": "object"});
    let schema_errors = match jsonschema::draft4::new(&to_json_schema(&full)) {
        Ok(validator) => validator
            .iter_errors(&defaulted)
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect(),
        Err(e) => vec![format!("the CRD schema does not compile: {e}")],
    };
    let cel_errors = match kube_cel::Validator::new().validate(schema, &defaulted, old.as_ref()) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.to_string()).collect(),
    };
    (schema_errors, cel_errors)
}

/// Every violation of a CacheCluster, in one list.
pub fn cluster_violations(cluster: &CacheCluster, old: Option<&CacheCluster>) -> Vec<String> {
    let as_value = |c: &CacheCluster| serde_json::to_value(c).unwrap_or(Value::Null);
    let (mut schema, cel) = violations(&as_value(cluster), old.map(as_value).as_ref());
    schema.extend(cel);
    schema
}
