//! The Helm chart `charts/ferrocache-operator`: its CRDs are the generated ones, its values match
//! values.schema.json, and its templates render (with the subset renderer in `helm_template`) into manifests that
//! validate against the Kubernetes OpenAPI schemas (PyPI `kubernetes-validate`, installed by `.ci/run`) and run
//! the operator the way its binary expects.
//!
//! Not checked here, where Helm is not installed: Helm's own rendering and `helm lint` (`e2e/run.sh` runs both),
//! and the ServiceMonitor against the Prometheus Operator's CRD.

mod helm_template;

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrocache_operator::api::crd_files;
use helm_template::{chart_dir, default_objects, default_values, find, objects, render, set};
use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn chart_crds_are_the_generated_crds() {
    let files = crd_files().expect("CRDs render");
    let dir = chart_dir().join("crds");
    for file in &files {
        let path = dir.join(&file.file_name);
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == file.yaml,
            "{} is stale or missing: run `cargo run --bin crdgen` and commit the result",
            path.display()
        );
        let top_level =
            std::fs::read_to_string(repo().join("crds").join(&file.file_name)).unwrap_or_default();
        assert_eq!(committed, top_level, "the chart's and crds/ copies differ");
    }
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .expect("chart crds/ exists")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    on_disk.sort();
    let mut generated: Vec<String> = files.iter().map(|f| f.file_name.clone()).collect();
    generated.sort();
    assert_eq!(
        on_disk, generated,
        "the chart's crds/ holds files crdgen does not write"
    );
}

fn values_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(chart_dir().join("values.schema.json")).expect("schema");
    let schema: Value = serde_json::from_str(&text).expect("values.schema.json is JSON");
    jsonschema::draft7::new(&schema).expect("values.schema.json is a valid draft-07 schema")
}

#[test]
fn default_values_match_the_values_schema() {
    let validator = values_schema();
    let errors: Vec<String> = validator
        .iter_errors(&default_values())
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "values.yaml: {errors:?}");
}

#[test]
fn the_values_schema_refuses_typos_and_bad_values() {
    let validator = values_schema();
    for (path, value) in [
        ("logFormat", json!("xml")),
        ("replicaCount", json!(-1)),
        ("httpPort", json!(70000)),
        ("image.pullPolicy", json!("Sometimes")),
        ("leaderElection.enabled", json!("yes")),
        ("metrics.serviceMonitor.interval", json!("soon")),
        ("resources.limits.memory", json!("lots")),
        ("imagePullSecret", json!([{"name": "regcred"}])),
    ] {
        let mut values = default_values();
        set(&mut values, path, value.clone());
        assert!(
            !validator.is_valid(&values),
            "{path} = {value} should be refused by values.schema.json"
        );
    }
}

/// Keys of values.yaml whose entries are free-form (Kubernetes objects passed through), documented as a whole.
const FREE_FORM: [&str; 1] = ["resources:"];

#[test]
fn every_value_in_values_yaml_is_documented_by_a_comment() {
    let text = std::fs::read_to_string(chart_dir().join("values.yaml")).expect("values.yaml");
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    // The comment block right above line `i` starts with `# --`.
    let documented = |i: usize| {
        lines[..i]
            .iter()
            .rev()
            .take_while(|l| l.trim_start().starts_with('#'))
            .any(|l| l.trim_start().starts_with("# --"))
    };
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.ends_with(':') {
            continue;
        }
        // A value is documented by a `# --` comment above it; entries of a free-form map whose key is
        // documented (e.g. `resources`) are covered by that comment.
        let mut ok = documented(i);
        let mut threshold = indent(line);
        for j in (0..i).rev() {
            if ok || threshold == 0 {
                break;
            }
            let l = lines[j];
            if !l.trim().is_empty() && !l.trim_start().starts_with('#') && indent(l) < threshold {
                threshold = indent(l);
                ok = FREE_FORM.contains(&l.trim()) && documented(j);
            }
        }
        assert!(
            ok,
            "values.yaml line {}: `{trimmed}` needs a `# -- ` comment above it",
            i + 1
        );
    }
}

#[test]
fn default_render_has_every_object_the_operator_needs() {
    let objects = default_objects();
    let kinds: Vec<&str> = objects
        .iter()
        .filter_map(|(_, o)| o["kind"].as_str())
        .collect();
    for kind in [
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Deployment",
        "Service",
    ] {
        assert!(kinds.contains(&kind), "no {kind} rendered: {kinds:?}");
    }
    assert!(
        !kinds.contains(&"ServiceMonitor"),
        "the ServiceMonitor is opt-in"
    );
    for (file, object) in &objects {
        assert!(
            object["metadata"]["name"].is_string(),
            "{file}: unnamed object"
        );
        if !["ClusterRole", "ClusterRoleBinding"].contains(&object["kind"].as_str().unwrap_or("")) {
            assert_eq!(
                object["metadata"]["namespace"], "ferrocache-system",
                "{file}: namespaced objects go to the release namespace"
            );
        }
    }
}

#[test]
fn toggles_add_and_remove_objects() {
    let mut values = default_values();
    set(&mut values, "metrics.serviceMonitor.enabled", json!(true));
    set(
        &mut values,
        "metrics.serviceMonitor.labels",
        json!({"release": "prom"}),
    );
    set(&mut values, "leaderElection.enabled", json!(false));
    let rendered = objects(&render(&values, "cache-op", "ops").expect("renders")).expect("parses");
    let monitor = find(&rendered, "ServiceMonitor", Some("cache-op"));
    assert_eq!(monitor["metadata"]["labels"]["release"], "prom");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    let service = find(&rendered, "Service", Some("cache-op-metrics"));
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service["spec"]["ports"][0]["name"]
    );
    assert!(
        !rendered.iter().any(|(_, o)| o["kind"] == "Role"),
        "no Lease access without leader election"
    );
    let deployment = find(&rendered, "Deployment", None);
    let env = &deployment["spec"]["template"]["spec"]["containers"][0]["env"];
    assert!(env
        .as_array()
        .expect("env")
        .iter()
        .any(|e| e["name"] == "FERROCACHE_LEADER_ELECTION" && e["value"] == "false"));
}

fn env_value<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .expect("env list")
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"))
}

#[test]
fn deployment_runs_the_operator_as_its_binary_expects() {
    let objects = default_objects();
    let deployment = find(&objects, "Deployment", Some("ferrocache"));
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["args"], json!(["run"]));
    assert_eq!(
        container["image"],
        "ghcr.io/ferrocache/ferrocache-operator:0.1.0"
    );
    assert_eq!(pod["serviceAccountName"], "ferrocache");

    // The environment variables are the ones `ferrocache-operator run` reads (operator/src/main.rs).
    let main = std::fs::read_to_string(repo().join("operator/src/main.rs")).expect("main.rs");
    for e in container["env"].as_array().expect("env") {
        let name = e["name"].as_str().expect("env name");
        if name != "RUST_LOG" {
            assert!(
                main.contains(&format!("env = \"{name}\"")),
                "the operator reads no {name}"
            );
        }
    }
    assert_eq!(
        env_value(container, "POD_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    assert_eq!(
        env_value(container, "POD_NAMESPACE")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.namespace"
    );
    assert_eq!(
        env_value(container, "FERROCACHE_LEADER_ELECTION")["value"],
        "true"
    );
    assert_eq!(
        env_value(container, "FERROCACHE_HTTP_ADDR")["value"],
        "0.0.0.0:8080"
    );
    assert_eq!(container["ports"][0]["containerPort"], 8080);

    // The probes hit routes the operator serves (operator/src/http.rs).
    let http = std::fs::read_to_string(repo().join("operator/src/http.rs")).expect("http.rs");
    for probe in ["livenessProbe", "readinessProbe"] {
        let path = container[probe]["httpGet"]["path"]
            .as_str()
            .expect("probe path");
        assert!(
            http.contains(&format!(".route(\"{path}\"")),
            "{probe} {path} is not served"
        );
        assert_eq!(container[probe]["httpGet"]["port"], "http");
    }
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");

    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert!(container["resources"]["limits"]["memory"].is_string());

    let service = find(&objects, "Service", Some("ferrocache-metrics"));
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
}

#[test]
fn notes_tell_how_to_create_a_first_cluster() {
    let rendered = render(&default_values(), "ferrocache", "ferrocache-system").expect("renders");
    let notes = rendered
        .iter()
        .find(|r| r.file == "NOTES.txt")
        .expect("NOTES.txt");
    assert!(notes.text.contains("kind: CacheCluster"));
    assert!(notes.text.contains("kubectl get cacheclusters"));
    assert!(notes.text.contains("ferrocache-system"));
}

/// Runs `kubernetes-validate --strict` on `files`: `Some((passed, output))`, or `None` without the tool outside
/// CI (after one line saying so). In CI (`CI=true`) its absence is a failure.
fn kubernetes_validate(files: &[PathBuf]) -> Option<(bool, String)> {
    let installed = Command::new("python3")
        .args(["-c", "import kubernetes_validate"])
        .output()
        .is_ok_and(|o| o.status.success());
    let output = match installed {
        true => Command::new("python3")
            .args([
                "-m",
                "kubernetes_validate",
                "--strict",
                "--kubernetes-version",
                "1.33.0",
            ])
            .args(files)
            .output()
            .expect("python3 runs"),
        false => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "kubernetes-validate is missing in CI: .ci/run installs it from PyPI"
            );
            eprintln!(
                "skipped: kubernetes-validate is not installed (pip install kubernetes-validate)"
            );
            return None;
        }
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Some((output.status.success() && !text.contains("ERROR"), text))
}

fn write_documents(dir: &Path, objects: &[(String, Value)]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).expect("temp dir");
    objects
        .iter()
        .enumerate()
        .map(|(i, (file, object))| {
            let path = dir.join(format!("{i:02}-{file}"));
            std::fs::write(&path, serde_yaml::to_string(object).expect("serialises"))
                .expect("write");
            path
        })
        .collect()
}

#[test]
fn rendered_chart_crds_and_examples_validate_against_the_kubernetes_schemas() {
    let dir = std::env::temp_dir().join(format!("ferrocache-chart-{}", std::process::id()));
    let mut values = default_values();
    set(&mut values, "metrics.serviceMonitor.enabled", json!(true));
    let rendered = objects(&render(&values, "ferrocache", "ferrocache-system").expect("renders"))
        .expect("parses");
    let mut files = write_documents(&dir, &rendered);
    for sub in ["crds", "charts/ferrocache-operator/crds", "examples"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join(sub))
            .expect("dir exists")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let outcome = kubernetes_validate(&files);
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((passed, output)) = outcome {
        assert!(passed, "kubernetes-validate refused a manifest:\n{output}");
        eprintln!("{} manifests validated", files.len());
    }
}

#[test]
fn kubernetes_validate_refuses_a_broken_deployment() {
    // The control for the test above: the validator catches a wrong type and (strict) an unknown field.
    for (field, break_it) in [
        (
            "two",
            (|d: &mut Value| d["spec"]["replicas"] = json!("two")) as fn(&mut Value),
        ),
        ("paht", |d: &mut Value| {
            d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["paht"] =
                json!("/healthz")
        }),
    ] {
        let mut deployment = find(&default_objects(), "Deployment", None).clone();
        break_it(&mut deployment);
        let dir = std::env::temp_dir().join(format!(
            "ferrocache-chart-broken-{field}-{}",
            std::process::id()
        ));
        let files = write_documents(&dir, &[("deployment.yaml".to_string(), deployment)]);
        let outcome = kubernetes_validate(&files);
        let _ = std::fs::remove_dir_all(&dir);
        let Some((passed, output)) = outcome else {
            return;
        };
        assert!(
            !passed && output.contains(field),
            "a broken Deployment passed:\n{output}"
        );
    }
}

#[test]
fn renderer_follows_go_template_trimming_and_conditionals() {
    let root = |values: Value| json!({ "Values": values });
    let source = "a:\n  {{- if .Values.x }}\n  x: {{ .Values.x | quote }}\n  {{- else }}\n  none: true\n  {{- end }}\n";
    assert_eq!(
        helm_template::render_text(source, &root(json!({"x": "1"}))).expect("renders"),
        "a:\n  x: \"1\"\n"
    );
    assert_eq!(
        helm_template::render_text(source, &root(json!({"x": ""}))).expect("renders"),
        "a:\n  none: true\n"
    );
    let labels = "labels:\n  {{- toYaml .Values.l | nindent 2 }}\n";
    assert_eq!(
        helm_template::render_text(labels, &root(json!({"l": {"a": "b", "c": "d"}})))
            .expect("renders"),
        "labels:\n  a: b\n  c: d\n"
    );
}

#[test]
fn renderer_refuses_what_it_does_not_implement() {
    let root = json!({ "Values": {} });
    for source in [
        "{{ range .Values.x }}{{ end }}",
        "{{ .Values.x | upper }}",
        "{{ .Values.missing }}",
        "{{ include \"x\" . }}",
        "{{ if .Values.x }}",
    ] {
        assert!(
            helm_template::render_text(source, &root).is_err(),
            "{source} should be refused"
        );
    }
}
