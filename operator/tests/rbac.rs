//! The chart's RBAC grants exactly what the operator's code calls: no call is forbidden in a cluster, and no rule
//! grants more than is used.
//!
//! The test reads `operator/src` and finds every `Api<Kind>` / `Api::<Kind>` with what is done with it:
//! - a binding (`let pods: Api<Pod>`, `let clusters = Api::<CacheCluster>::all(…)`, a parameter `api: &Api<Lease>`)
//!   followed, in the same function, by method calls (`pods.list(…)`, `api.patch(…, &Patch::Apply(…))`) or by
//!   `Controller::new(clusters, …)`;
//! - an `Api::<Kind>::all(…)` passed to a Controller's `.owns(…)`/`.watches(…)` (list and watch);
//! - `Api<DynamicObject>` built from an `…_resource()` function whose group, kind and plural are read from it;
//! - the generic `server_side_apply` (applied to every kind of `resources::ClusterObjects`);
//! - the Events `Recorder` (create and patch on events.k8s.io, as kube-runtime documents).
//!
//! A kind, method or usage the tables below do not know fails the test with a message saying what to add, so a new
//! API call cannot ship without its RBAC rule.

mod helm_template;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// (API group, resource, verb).
type Grant = (String, String, String);

fn src_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// API group and plural resource of each kind the operator may use.
fn resource_of(kind: &str) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        "CacheCluster" => ("ferrocache.io", "cacheclusters"),
        "CacheParameterGroup" => ("ferrocache.io", "cacheparametergroups"),
        "CacheUsageReport" => ("ferrocache.io", "cacheusagereports"),
        "StatefulSet" => ("apps", "statefulsets"),
        "Deployment" => ("apps", "deployments"),
        "Service" => ("", "services"),
        "ConfigMap" => ("", "configmaps"),
        "Secret" => ("", "secrets"),
        "Pod" => ("", "pods"),
        "Endpoints" => ("", "endpoints"),
        "PersistentVolumeClaim" => ("", "persistentvolumeclaims"),
        "Namespace" => ("", "namespaces"),
        "PodDisruptionBudget" => ("policy", "poddisruptionbudgets"),
        "NetworkPolicy" => ("networking.k8s.io", "networkpolicies"),
        "Lease" => ("coordination.k8s.io", "leases"),
        "Event" => ("events.k8s.io", "events"),
        _ => return None,
    })
}

/// (subresource, verbs) of an `Api` method; `apply` tells whether the call is a server-side apply.
fn verbs_of(method: &str, apply: bool) -> Option<(Option<&'static str>, Vec<&'static str>)> {
    Some(match method {
        "get" | "get_opt" | "get_metadata" | "get_metadata_opt" => (None, vec!["get"]),
        "list" | "list_metadata" => (None, vec!["list"]),
        "watch" | "watch_metadata" => (None, vec!["watch"]),
        "create" => (None, vec!["create"]),
        "replace" => (None, vec!["update"]),
        "delete" => (None, vec!["delete"]),
        "delete_collection" => (None, vec!["deletecollection"]),
        // Server-side apply creates a missing object, which the API server authorizes as create.
        "patch" if apply => (None, vec!["patch", "create"]),
        "patch" => (None, vec!["patch"]),
        "patch_status" => (Some("status"), vec!["patch"]),
        "replace_status" => (Some("status"), vec!["update"]),
        "get_status" => (Some("status"), vec!["get"]),
        "evict" => (Some("eviction"), vec!["create"]),
        _ => return None,
    })
}

/// Rust sources with comment lines dropped and whitespace collapsed next to punctuation, so `api\n  .patch(` reads
/// `api.patch(`.
fn normalized(text: &str) -> String {
    let code: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect();
    let collapsed = code
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::with_capacity(collapsed.len());
    let chars: Vec<char> = collapsed.chars().collect();
    let tight = |c: char| ".(),:<>&;={}".contains(c);
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let before = i.checked_sub(1).map(|j| chars[j]);
            let after = chars.get(i + 1).copied();
            if before.is_some_and(tight) || after.is_some_and(tight) {
                continue;
            }
        }
        out.push(c);
    }
    out
}

fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .expect("readable source dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).expect("readable source");
                out.push((path.display().to_string(), normalized(&text)));
            }
        }
    }
    let mut out = Vec::new();
    walk(&src_dir(), &mut out);
    out
}

/// The text between `open` at `start` and its matching `close`.
fn balanced(text: &str, start: usize, open: char, close: char) -> &str {
    let mut depth = 0;
    for (i, c) in text[start..].char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return &text[start + 1..start + i];
            }
        }
    }
    panic!("unbalanced {open}{close} in {}", &text[start..]);
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn trailing_ident(text: &str) -> &str {
    let start = text
        .char_indices()
        .rev()
        .find(|&(_, c)| !is_ident(c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    &text[start..]
}

/// Positions of `word` in `text` not preceded by an identifier character.
fn occurrences<'a>(text: &'a str, word: &'a str) -> impl Iterator<Item = usize> + 'a {
    text.match_indices(word)
        .map(|(i, _)| i)
        .filter(move |&i| !text[..i].chars().next_back().is_some_and(is_ident))
}

/// The kinds listed in `resources::ClusterObjects`, which the generic `server_side_apply` applies.
fn cluster_object_kinds(all: &[(String, String)]) -> Vec<String> {
    let (_, text) = all
        .iter()
        .find(|(_, t)| t.contains("pub struct ClusterObjects{"))
        .expect("resources::ClusterObjects exists");
    let start =
        text.find("pub struct ClusterObjects{").expect("found") + "pub struct ClusterObjects".len();
    balanced(text, start, '{', '}')
        .split(',')
        .filter_map(|field| field.split_once(':').map(|(_, ty)| ty))
        .map(|ty| {
            let inner = ty
                .trim_start_matches("Vec<")
                .trim_start_matches("Option<")
                .trim_end_matches('>');
            inner.rsplit("::").next().unwrap_or(inner).to_string()
        })
        .filter(|kind| kind != "DynamicObject") // handled through its ApiResource
        .collect()
}

/// (group, plural) of the ApiResource a `…_resource()` function builds, from its string literals.
fn dynamic_resource(all: &[(String, String)], function: &str) -> (String, String) {
    let needle = format!("fn {function}()");
    let (_, text) = all
        .iter()
        .find(|(_, t)| t.contains(&needle))
        .unwrap_or_else(|| panic!("no definition of {function}()"));
    let start = text.find(&needle).expect("found");
    let body_start = start + text[start..].find('{').expect("body");
    let body = balanced(text, body_start, '{', '}');
    let literals: Vec<&str> = body.split('"').skip(1).step_by(2).collect();
    assert!(
        body.contains("GroupVersionKind::gvk(") && literals.len() == 4,
        "{function}() should build GroupVersionKind::gvk(group, version, kind) with a plural; found {literals:?}"
    );
    (literals[0].to_string(), literals[3].to_string())
}

/// Everything the operator's code needs the API server to allow.
fn required_grants() -> BTreeSet<Grant> {
    let all = sources();
    let mut grants = BTreeSet::new();
    let mut grant = |group: &str, resource: &str, verb: &str| {
        grants.insert((group.to_string(), resource.to_string(), verb.to_string()));
    };
    for (file, text) in &all {
        if text.contains("Recorder::new(") {
            grant("events.k8s.io", "events", "create");
            grant("events.k8s.io", "events", "patch");
        }
        let uses: Vec<usize> = occurrences(text, "Api<")
            .chain(occurrences(text, "Api::<"))
            .collect();
        for at in uses {
            let angle = at + text[at..].find('<').expect("angle");
            let mut kind = balanced(text, angle, '<', '>');
            if let Some(inner) = kind.strip_prefix("PartialObjectMeta<") {
                kind = inner.trim_end_matches('>');
            }
            let kind = kind.rsplit("::").next().unwrap_or(kind).to_string();
            let prefix = &text[..at];
            let context = format!("{file}: Api<{kind}>");

            // Passed straight to a Controller: list and watch.
            if prefix.ends_with(".owns(")
                || prefix.ends_with(".watches(")
                || prefix.ends_with("Controller::new(")
            {
                let (group, resource) = resource_of(&kind).unwrap_or_else(|| {
                    panic!("{context}: add {kind} to resource_of() and grant it in the chart")
                });
                grant(group, resource, "list");
                grant(group, resource, "watch");
                continue;
            }
            // A binding: `let name: Api<K>`, `let name = Api::<K>`, or a parameter `name: &Api<K>`.
            let head = prefix
                .trim_end_matches('&')
                .trim_end_matches(':')
                .trim_end_matches('=');
            let name = trailing_ident(head);
            assert!(
                !name.is_empty() && head.len() < prefix.len(),
                "{context}: an Api used neither through a binding nor by a Controller; extend tests/rbac.rs"
            );
            let scope_end = occurrences(&text[at..], "fn ")
                .next()
                .map_or(text.len(), |i| at + i);
            let scope = &text[at..scope_end];

            // Which kinds the binding stands for.
            let kinds: Vec<(String, String)> = if kind == "DynamicObject" {
                let statement = &scope[..scope.find(';').unwrap_or(scope.len())];
                let function = statement
                    .split(&['&', ':', '(', ',', '.'][..])
                    .find(|part| part.ends_with("_resource"))
                    .unwrap_or_else(|| {
                        panic!("{context}: no …_resource() names the DynamicObject's type")
                    });
                vec![dynamic_resource(&all, function)]
            } else if kind.len() == 1 {
                // A generic applier: only `server_side_apply`, over the kinds of ClusterObjects.
                let function = prefix
                    .rfind("fn ")
                    .map(|i| {
                        trailing_ident(&prefix[i + 3..][..prefix[i + 3..].find('<').unwrap_or(0)])
                    })
                    .unwrap_or_default();
                assert_eq!(
                    function, "server_side_apply",
                    "{context}: a generic Api in {function}(); tell tests/rbac.rs which kinds it is used with"
                );
                cluster_object_kinds(&all)
                    .iter()
                    .map(|k| {
                        let (g, r) =
                            resource_of(k).unwrap_or_else(|| panic!("add {k} to resource_of()"));
                        (g.to_string(), r.to_string())
                    })
                    .collect()
            } else {
                let (g, r) = resource_of(&kind).unwrap_or_else(|| {
                    panic!("{context}: add {kind} to resource_of() and grant it in the chart")
                });
                vec![(g.to_string(), r.to_string())]
            };

            let mut used = false;
            if occurrences(scope, &format!("Controller::new({name},"))
                .next()
                .is_some()
            {
                used = true;
                for (g, r) in &kinds {
                    grant(g, r, "list");
                    grant(g, r, "watch");
                }
            }
            let call = format!("{name}.");
            for i in occurrences(scope, &call) {
                let after = &scope[i + call.len()..];
                let method = &after[..after.find(|c: char| !is_ident(c)).unwrap_or(after.len())];
                if !after[method.len()..].starts_with('(') {
                    continue; // a field or a chained value, not an Api call
                }
                let arguments = balanced(after, method.len(), '(', ')');
                let (subresource, verbs) = verbs_of(method, arguments.contains("Patch::Apply("))
                    .unwrap_or_else(|| {
                        panic!("{context}: method {method} is not in verbs_of(); add it")
                    });
                used = true;
                for (g, r) in &kinds {
                    let resource = match subresource {
                        Some(sub) => format!("{r}/{sub}"),
                        None => r.clone(),
                    };
                    for verb in &verbs {
                        grant(g, &resource, verb);
                    }
                }
            }
            // Handed to a helper as an argument: the helper's own `name: &Api<K>` parameter is scanned like
            // any binding, so the calls it makes are granted there.
            if !used {
                used = [
                    format!("(&{name},"),
                    format!("(&{name})"),
                    format!("({name},"),
                ]
                .iter()
                .any(|arg| scope.contains(arg.as_str()));
            }
            assert!(
                used,
                "{context} bound to `{name}`: no call found in the same function; extend tests/rbac.rs"
            );
        }
    }
    grants
}

/// What the chart's ClusterRole and Role allow.
fn granted() -> BTreeSet<Grant> {
    let objects = helm_template::default_objects();
    let mut out = BTreeSet::new();
    for (_, object) in objects
        .iter()
        .filter(|(_, o)| o["kind"] == "ClusterRole" || o["kind"] == "Role")
    {
        for rule in object["rules"].as_array().expect("rules") {
            let strings = |field: &str| -> Vec<String> {
                rule[field]
                    .as_array()
                    .unwrap_or_else(|| panic!("rule without {field}: {rule}"))
                    .iter()
                    .map(|v| v.as_str().expect("string").to_string())
                    .collect()
            };
            for group in strings("apiGroups") {
                for resource in strings("resources") {
                    for verb in strings("verbs") {
                        assert!(
                            group != "*" && resource != "*" && verb != "*",
                            "wildcards are not least privilege: {rule}"
                        );
                        out.insert((group.clone(), resource.clone(), verb));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn chart_rbac_grants_every_api_call_the_operator_makes() {
    let required = required_grants();
    let granted = granted();
    let missing: Vec<&Grant> = required.difference(&granted).collect();
    assert!(
        missing.is_empty(),
        "the operator calls these but the chart does not grant them (group, resource, verb): {missing:#?}"
    );
}

#[test]
fn chart_rbac_grants_nothing_the_operator_does_not_use() {
    let required = required_grants();
    let granted = granted();
    let extra: Vec<&Grant> = granted.difference(&required).collect();
    assert!(
        extra.is_empty(),
        "the chart grants these but the operator never uses them (group, resource, verb): {extra:#?}"
    );
}

#[test]
fn the_scan_sees_the_calls_it_must_see() {
    // Guards the scanner itself: if these disappear, it has stopped reading the code, not the code its calls.
    let required = required_grants();
    let has = |g: &str, r: &str, v: &str| required.contains(&(g.into(), r.into(), v.into()));
    assert!(
        has("apps", "statefulsets", "create"),
        "server-side apply of StatefulSets"
    );
    assert!(has("", "pods", "patch"), "pod role labels");
    assert!(has("ferrocache.io", "cacheclusters/status", "patch"));
    assert!(has("coordination.k8s.io", "leases", "update"));
    assert!(has("cert-manager.io", "certificates", "patch"));
    assert!(has("", "secrets", "watch"));
    assert!(
        !has("ferrocache.io", "cacheclusters", "patch"),
        "spec is never written"
    );
}

#[test]
fn leases_are_granted_only_in_the_release_namespace() {
    let objects = helm_template::default_objects();
    let cluster_role = helm_template::find(&objects, "ClusterRole", None);
    let leases_cluster_wide = cluster_role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .any(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.contains(&Value::from("leases")))
        });
    assert!(
        !leases_cluster_wide,
        "Lease access belongs in the namespaced Role"
    );
    let role = helm_template::find(&objects, "Role", None);
    assert_eq!(role["metadata"]["namespace"], "ferrocache-system");
}
