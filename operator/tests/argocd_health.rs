//! The Argo CD health check `charts/ferrocache-operator/argocd/health.lua`, run by a real Lua 5.1 interpreter
//! (Debian `lua5.1`; Argo CD runs these scripts with gopher-lua, a Lua 5.1 implementation) on the fixtures in Argo
//! CD's layout (`health_test.yaml` + `testdata/`), and on statuses the operator itself computes.
//!
//! The harness converts each object to a Lua table literal bound to the global `obj`, as Argo CD does, runs the
//! script as a function and prints the returned `status` and `message`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use ferrocache_operator::api::{CacheCluster, PendingModifiedValues};
use ferrocache_operator::reconcile::{compute_status, Blocker, Observation};
use serde_json::Value;

fn argocd_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../charts/ferrocache-operator/argocd")
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read_yaml(path: &std::path::Path) -> Value {
    let text =
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A Lua string literal.
fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(byte as char),
            other => out.push_str(&format!("\\{other:03}")),
        }
    }
    out.push('"');
    out
}

/// A Lua expression for a JSON value: objects become tables with string keys, arrays 1-based sequences, null nil.
fn lua_value(value: &Value) -> String {
    match value {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(lua_value).collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect();
            format!("{{{}}}", fields.join(", "))
        }
    }
}

/// Whether `lua5.1` can run here. Missing outside CI: one line and the test passes; missing in CI: failure.
fn lua_available() -> bool {
    let found = Command::new("lua5.1")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "lua5.1 is missing in CI: .ci/run installs the Debian package lua5.1"
        );
        eprintln!("skipped: lua5.1 is not installed (apt-get install lua5.1)");
    }
    found
}

/// Runs health.lua on `object` and returns (status, message).
fn health(object: &Value) -> (String, String) {
    let script = std::fs::read_to_string(argocd_dir().join("health.lua")).expect("health.lua");
    let program = format!(
        "obj = {}\nlocal function check()\n{script}\nend\nlocal hs = check()\nio.write(tostring(hs.status), \"\\n\", tostring(hs.message or \"\"))\n",
        lua_value(object)
    );
    let mut child = Command::new("lua5.1")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("lua5.1 starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(program.as_bytes())
        .expect("program written");
    let output = child.wait_with_output().expect("lua5.1 finishes");
    assert!(
        output.status.success(),
        "health.lua failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8 output");
    let (status, message) = text.split_once('\n').unwrap_or((&text, ""));
    (status.to_string(), message.to_string())
}

#[test]
fn health_check_fixtures_give_the_expected_status_and_message() {
    if !lua_available() {
        return;
    }
    let tests = read_yaml(&argocd_dir().join("health_test.yaml"));
    let tests = tests["tests"].as_array().expect("tests list");
    assert!(tests.len() >= 6);
    for test in tests {
        let input = test["inputPath"].as_str().expect("inputPath");
        let object = read_yaml(&argocd_dir().join(input));
        let (status, message) = health(&object);
        assert_eq!(
            (status.as_str(), message.as_str()),
            (
                test["healthStatus"]["status"].as_str().expect("status"),
                test["healthStatus"]["message"].as_str().unwrap_or_default()
            ),
            "{input}"
        );
    }
}

#[test]
fn every_fixture_is_listed_in_health_test_yaml() {
    let tests = read_yaml(&argocd_dir().join("health_test.yaml"));
    let listed: Vec<String> = tests["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .filter_map(|t| t["inputPath"].as_str().map(String::from))
        .collect();
    for entry in std::fs::read_dir(argocd_dir().join("testdata")).expect("testdata/") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("UTF-8 name");
        assert!(
            listed.contains(&format!("testdata/{name}")),
            "testdata/{name} is not used by health_test.yaml"
        );
    }
}

#[test]
fn fixtures_are_cache_clusters_the_operator_can_read() {
    for entry in std::fs::read_dir(argocd_dir().join("testdata")).expect("testdata/") {
        let path = entry.expect("entry").path();
        let object = read_yaml(&path);
        let parsed: Result<CacheCluster, _> = serde_json::from_value(object);
        assert!(
            parsed.is_ok(),
            "{} does not match the CacheCluster type: {:?}",
            path.display(),
            parsed.err()
        );
    }
}

fn cluster_from_example(name: &str) -> CacheCluster {
    let mut object = read_yaml(&repo().join("examples").join(name));
    object["metadata"]["generation"] = Value::from(1);
    serde_json::from_value(object).expect("example is a CacheCluster")
}

/// The status the operator computes, attached to the cluster, as Argo CD would see it.
fn with_status(mut cluster: CacheCluster, blocker: Option<Blocker>) -> Value {
    let status = compute_status(Observation {
        cluster: &cluster,
        pods: &[],
        pending: PendingModifiedValues::default(),
        blocker,
        deleting: false,
        replication_problem: None,
        failing_over: false,
        rollout: None,
        resharding: None,
        refused: None,
        now: "2026-01-05T10:00:00Z".parse().expect("timestamp"),
    });
    cluster.status = Some(status);
    serde_json::to_value(&cluster).expect("serialises")
}

#[test]
fn statuses_the_operator_computes_map_to_argo_cd_health() {
    if !lua_available() {
        return;
    }
    let cluster = cluster_from_example("redis-ha.yaml");
    let (status, message) = health(&with_status(cluster.clone(), None));
    assert_eq!(status, "Progressing", "{message}");
    assert!(message.starts_with("creating: "), "{message}");

    let blocker = Blocker::MissingParameterGroup("lru-cache".into());
    let expected = blocker.message();
    let (status, message) = health(&with_status(cluster, Some(blocker)));
    assert_eq!(status, "Degraded");
    assert_eq!(message, format!("incompatible-parameters: {expected}"));

    let memcached = cluster_from_example("memcached.yaml");
    let (status, _) = health(&with_status(
        memcached,
        Some(Blocker::ParameterGroupFamilyMismatch {
            group: "lru-cache".into(),
            family: "redis7".into(),
        }),
    ));
    assert_eq!(status, "Degraded");

    // tls.issuerRef without cert-manager: the reason reaches Argo CD, not only the operator log.
    let tls = cluster_from_example("redis-ha.yaml");
    let (status, message) = health(&with_status(tls, Some(Blocker::CertManagerMissing)));
    assert_eq!(status, "Degraded");
    assert!(message.contains("cert-manager"), "{message}");
}

#[test]
fn lua_literals_escape_what_lua_would_misread() {
    assert_eq!(lua_string("a\"b\\c\n"), "\"a\\\"b\\\\c\\010\"");
    assert_eq!(
        lua_value(&serde_json::json!({"a": [1, null, "x"]})),
        "{[\"a\"] = {1, nil, \"x\"}}"
    );
}

/// The example Argo CD Applications point at paths that exist in this repository.
#[test]
fn example_applications_point_at_the_chart_and_the_examples() {
    let dir = repo().join("examples/argocd");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples/argocd/") {
        let path = entry.expect("entry").path();
        let app = read_yaml(&path);
        assert_eq!(
            app["apiVersion"],
            "argoproj.io/v1alpha1",
            "{}",
            path.display()
        );
        assert_eq!(app["kind"], "Application", "{}", path.display());
        let source = &app["spec"]["source"];
        let source_path = source["path"].as_str().expect("spec.source.path");
        assert!(
            repo().join(source_path).is_dir(),
            "{}: spec.source.path {source_path} is not a directory here",
            path.display()
        );
        assert!(app["spec"]["destination"]["namespace"].is_string());
        seen += 1;
    }
    assert_eq!(
        seen, 2,
        "one Application for the chart, one for a CacheCluster"
    );
}
