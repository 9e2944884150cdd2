//! The committed CRDs in `crds/` are exactly what `crdgen` generates, and they are structural schemas the API
//! server accepts.

use std::path::PathBuf;

use ferrocache_operator::api::crd_files;
use serde_json::Value;

fn crds_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../crds")
}

#[test]
fn committed_crds_match_the_api_types() {
    let files = crd_files().expect("CRDs render");
    for file in &files {
        let path = crds_dir().join(&file.file_name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.yaml,
            "{} is stale or missing: run `cargo run --bin crdgen` and commit the result",
            path.display()
        );
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(crds_dir())
        .expect("crds/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = files.iter().map(|f| f.file_name.clone()).collect();
    generated.sort();
    assert_eq!(
        on_disk, generated,
        "crds/ holds files crdgen does not write"
    );
}

/// Walks a schema and collects the paths of nodes that break the structural-schema rules: every node has a
/// type (unless int-or-string or preserve-unknown-fields), and no `$ref`, `oneOf`/`anyOf` with types, or
/// `additionalProperties` next to `properties`.
fn structural_violations(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    let flagged = |k: &str| obj.get(k).and_then(Value::as_bool) == Some(true);
    if !obj.contains_key("type")
        && !flagged("x-kubernetes-int-or-string")
        && !flagged("x-kubernetes-preserve-unknown-fields")
    {
        out.push(format!("{path}: no type"));
    }
    if obj.contains_key("$ref") {
        out.push(format!("{path}: $ref"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!("{path}: properties with additionalProperties"));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for (i, branch) in obj
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if branch.get("type").is_some() && !flagged("x-kubernetes-int-or-string") {
                out.push(format!("{path}.{key}[{i}]: typed branch"));
            }
        }
    }
    for (name, child) in obj
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        structural_violations(child, &format!("{path}.{name}"), out);
    }
    if let Some(items) = obj.get("items") {
        structural_violations(items, &format!("{path}[]"), out);
    }
    if let Some(extra) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        structural_violations(extra, &format!("{path}{{}}"), out);
    }
}

#[test]
fn generated_schemas_are_structural() {
    for file in crd_files().expect("CRDs render") {
        let crd: Value = serde_yaml::from_str(&file.yaml).expect("CRD YAML parses");
        for version in crd["spec"]["versions"].as_array().expect("versions") {
            let schema = &version["schema"]["openAPIV3Schema"];
            let mut violations = Vec::new();
            structural_violations(schema, &file.file_name, &mut violations);
            assert!(violations.is_empty(), "{violations:#?}");
        }
    }
}

#[test]
fn cache_cluster_crd_has_short_names_status_and_printer_columns() {
    let files = crd_files().expect("CRDs render");
    let file = files
        .iter()
        .find(|f| f.file_name == "cacheclusters.ferrocache.io.yaml")
        .expect("CacheCluster CRD");
    let crd: Value = serde_yaml::from_str(&file.yaml).expect("CRD YAML parses");
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "cc");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let version = &crd["spec"]["versions"][0];
    assert_eq!(version["name"], "v1alpha1");
    assert!(version["subresources"]["status"].is_object());
    let columns: Vec<&str> = version["additionalPrinterColumns"]
        .as_array()
        .expect("printer columns")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(
        columns,
        ["Engine", "Version", "Shards", "Nodes", "Status", "Endpoint", "Age"]
    );
}

#[test]
fn every_spec_field_has_a_description() {
    fn undocumented(node: &Value, path: &str, out: &mut Vec<String>) {
        for (name, child) in node
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let child_path = format!("{path}.{name}");
            if child.get("description").is_none() {
                out.push(child_path.clone());
            }
            undocumented(child, &child_path, out);
        }
        if let Some(items) = node.get("items") {
            undocumented(items, &format!("{path}[]"), out);
        }
    }
    for file in crd_files().expect("CRDs render") {
        let crd: Value = serde_yaml::from_str(&file.yaml).expect("CRD YAML parses");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let mut missing = Vec::new();
        undocumented(&schema["properties"]["spec"], "spec", &mut missing);
        undocumented(&schema["properties"]["status"], "status", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: fields without description: {missing:#?}",
            file.file_name
        );
    }
}

#[test]
fn crdgen_help_prints_usage_and_writes_nothing() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_crdgen"))
        .arg("--help")
        .output()
        .expect("crdgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains("Usage") && stdout.contains("--stdout"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("wrote"),
        "--help rewrote the CRDs: {stdout}"
    );
}
