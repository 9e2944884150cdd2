//! The manifests in `examples/` validate against the generated CRDs, and those in `examples/invalid/` do not.
//!
//! What runs here, without an API server: the API server's defaulting (kube-cel), the OpenAPI v3 constraints
//! (types, enums, patterns, ranges, lengths; checked with the `jsonschema` crate, with unknown fields refused as
//! kubectl's strict field validation does) and the CEL rules (`x-kubernetes-validations`, evaluated by kube-cel,
//! including the transition rule on `engine`). What does not: the API server's CEL cost budget and its exact
//! CEL library version, metadata validation (name format), and admission plugins.

use std::path::{Path, PathBuf};

use ferrocache_operator::api::rules;
use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Errors of the OpenAPI constraints and of the CRD's CEL rules, separately, as the local platform checks them.
fn check(object: &Value, old: Option<&Value>) -> (Vec<String>, Vec<String>) {
    rules::violations(object, old)
}

fn manifests(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("examples dir exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable example");
            (p, text)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_example_is_valid() {
    let examples = manifests(&repo().join("examples"));
    assert!(
        examples.len() >= 4,
        "examples/ should hold the documented manifests"
    );
    for (path, text) in examples {
        let object: Value = serde_yaml::from_str(&text).expect("example parses as YAML");
        let (schema_errors, cel_errors) = check(&object, None);
        assert!(
            schema_errors.is_empty() && cel_errors.is_empty(),
            "{} should be valid: {schema_errors:?} {cel_errors:?}",
            path.display()
        );
    }
}

#[test]
fn every_invalid_example_is_refused_by_the_mechanism_its_comment_names() {
    let invalid = manifests(&repo().join("examples/invalid"));
    assert!(invalid.len() >= 8);
    for (path, text) in invalid {
        let comment = text.lines().next().unwrap_or_default();
        assert!(
            comment.starts_with("# Invalid: "),
            "{} must start with a comment saying why it is invalid",
            path.display()
        );
        let object: Value =
            serde_yaml::from_str(&text).expect("invalid example still parses as YAML");
        let (schema_errors, cel_errors) = check(&object, None);
        eprintln!(
            "{}: schema {schema_errors:?}, CEL {cel_errors:?}",
            path.display()
        );
        if comment.contains("CEL") {
            assert!(
                !cel_errors.is_empty(),
                "{}: a CEL rule should refuse it",
                path.display()
            );
        } else {
            assert!(
                !schema_errors.is_empty(),
                "{}: the OpenAPI schema should refuse it",
                path.display()
            );
        }
    }
}

#[test]
fn engine_cannot_change_after_creation() {
    let text =
        std::fs::read_to_string(repo().join("examples/redis-single-node.yaml")).expect("example");
    let old: Value = serde_yaml::from_str(&text).expect("parses");
    let mut new = old.clone();
    new["spec"]["engine"] = Value::String("memcached".into());
    let (_, cel_errors) = check(&new, Some(&old));
    assert!(
        cel_errors.iter().any(|e| e.contains("engine is immutable")),
        "{cel_errors:?}"
    );
    let (_, unchanged) = check(&old, Some(&old));
    assert!(unchanged.is_empty(), "{unchanged:?}");
}

#[test]
fn maintenance_windows_across_the_week_boundary_are_accepted_by_the_cel_rule() {
    let text =
        std::fs::read_to_string(repo().join("examples/redis-single-node.yaml")).expect("example");
    let mut object: Value = serde_yaml::from_str(&text).expect("parses");
    for (window, ok) in [
        ("sat:23:30-sun:00:30", true),
        ("sat:23:30-sun:00:29", false),
        ("mon:00:00-sun:23:59", true),
        ("tue:10:00-tue:11:00", true),
    ] {
        object["spec"]["preferredMaintenanceWindow"] = Value::String(window.into());
        let (schema_errors, cel_errors) = check(&object, None);
        assert!(schema_errors.is_empty(), "{window}: {schema_errors:?}");
        assert_eq!(cel_errors.is_empty(), ok, "{window}: {cel_errors:?}");
    }
}

#[test]
fn argo_cd_health_fixtures_are_valid_cache_clusters_with_valid_status() {
    // The health check is only as good as its fixtures: they must look like what the API server would hold.
    let fixtures = manifests(&repo().join("charts/ferrocache-operator/argocd/testdata"));
    assert!(!fixtures.is_empty());
    for (path, text) in fixtures {
        let object: Value = serde_yaml::from_str(&text).expect("fixture parses as YAML");
        let (schema_errors, cel_errors) = check(&object, None);
        assert!(
            schema_errors.is_empty() && cel_errors.is_empty(),
            "{} should be valid: {schema_errors:?} {cel_errors:?}",
            path.display()
        );
    }
}

#[test]
fn the_first_cluster_in_the_chart_notes_is_valid() {
    // NOTES.txt, printed by `helm install`, tells the user to paste this manifest.
    let notes =
        std::fs::read_to_string(repo().join("charts/ferrocache-operator/templates/NOTES.txt"))
            .expect("NOTES.txt");
    let manifest: String = notes
        .lines()
        .skip_while(|l| !l.contains("<<YAML"))
        .skip(1)
        .take_while(|l| l.trim() != "YAML")
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect();
    assert!(!manifest.contains("{{"), "the manifest is plain YAML");
    let object: Value = serde_yaml::from_str(&manifest).expect("the NOTES manifest parses");
    assert_eq!(object["kind"], "CacheCluster");
    let (schema_errors, cel_errors) = check(&object, None);
    assert!(
        schema_errors.is_empty() && cel_errors.is_empty(),
        "NOTES.txt manifest should be valid: {schema_errors:?} {cel_errors:?}"
    );
}

#[test]
fn cluster_mode_cannot_change_after_creation() {
    let text =
        std::fs::read_to_string(repo().join("examples/local-redis-sharded.yaml")).expect("example");
    let old: Value = serde_yaml::from_str(&text).expect("parses");
    let mut new = old.clone();
    new["spec"]["clusterMode"] = Value::String("disabled".into());
    new["spec"]["numNodeGroups"] = Value::from(1);
    let (_, cel_errors) = check(&new, Some(&old));
    assert!(
        cel_errors
            .iter()
            .any(|e| e.contains("clusterMode cannot change")),
        "{cel_errors:?}"
    );
    // The shard count of a sharded cluster may change: that is resharding.
    let mut resharded = old.clone();
    resharded["spec"]["numNodeGroups"] = Value::from(5);
    assert_eq!(check(&resharded, Some(&old)), (Vec::new(), Vec::new()));
}
