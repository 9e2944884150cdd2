//! Snapshot tests of every object built for representative clusters. A changed snapshot is reviewed with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test`) and committed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, SeccompProfile};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;
use crate::api::PodTemplateOverrides;
use crate::fixtures;

fn snapshot(objects: &ClusterObjects) -> String {
    let mut docs = vec![serde_yaml::to_string(&objects.config_map).unwrap()];
    docs.extend(
        objects
            .stateful_sets
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap()),
    );
    docs.extend(
        objects
            .services
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap()),
    );
    docs.extend(
        objects
            .disruption_budgets
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap()),
    );
    docs.extend(
        objects
            .network_policy
            .iter()
            .map(|o| serde_yaml::to_string(o).unwrap()),
    );
    docs.join("---\n")
}

fn build_without_parameters(cluster: &CacheCluster) -> ClusterObjects {
    let applied = fixtures::applied(cluster, &[]);
    build(fixtures::input(cluster, &applied, &BTreeMap::new())).unwrap()
}

fn pod_spec(objects: &ClusterObjects) -> &k8s_openapi::api::core::v1::PodSpec {
    let template = &objects.stateful_sets[0].spec.as_ref().unwrap().template;
    template.spec.as_ref().unwrap()
}

#[test]
fn redis_single_node_is_one_statefulset_of_one_pod_with_primary_and_reader_endpoints() {
    let cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    let applied = fixtures::applied(&cluster, &[]);
    let dynamic = BTreeMap::new();
    let objects = build(fixtures::input(&cluster, &applied, &dynamic)).unwrap();
    assert_eq!(objects.stateful_sets.len(), 1);
    assert!(objects.network_policy.is_none());
    insta::assert_snapshot!(snapshot(&objects));
}

#[test]
fn redis_ha_with_tls_auth_and_parameter_group() {
    let cluster = fixtures::cluster(fixtures::REDIS_HA);
    let group = crate::parameters::validate(&fixtures::parameter_group().spec.parameters);
    assert!(group.invalid.is_empty());
    let (statics, dynamic) = group.split_by_change_type();
    let applied = crate::pending_changes::AppliedSpec::desired(&cluster.spec, statics);
    let objects = build(fixtures::input(&cluster, &applied, &dynamic)).unwrap();
    assert_eq!(
        objects.stateful_sets[0].spec.as_ref().unwrap().replicas,
        Some(3)
    );
    insta::assert_snapshot!(snapshot(&objects));
}

#[test]
fn a_memcached_auth_token_is_mounted_as_the_sasl_password_file() {
    let mut cluster = fixtures::cluster(fixtures::MEMCACHED);
    cluster.spec.auth_token_secret_ref = Some(crate::api::SecretKeyRef {
        name: "page-cache-sasl".into(),
        key: "credentials".into(),
    });
    let applied = fixtures::applied(&cluster, &[]);
    let dynamic = BTreeMap::new();
    let objects = build(fixtures::input(&cluster, &applied, &dynamic)).unwrap();
    let pod = objects.stateful_sets[0]
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let args = pod.containers[0].args.clone().unwrap_or_default();
    let at = args
        .iter()
        .position(|a| a == "--memcached-sasl-pwdb")
        .expect("the SASL password file flag");
    assert_eq!(args[at + 1], "/etc/ferrocache/auth/token");
    assert!(!args.iter().any(|a| a == "--auth-token-file"), "{args:?}");
    let volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "auth-token")
        .expect("the Secret volume");
    assert_eq!(
        volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("page-cache-sasl")
    );
}

#[test]
fn memcached_three_nodes_with_a_configuration_endpoint() {
    let cluster = fixtures::cluster(fixtures::MEMCACHED);
    let applied = fixtures::applied(&cluster, &[]);
    let dynamic = BTreeMap::new();
    let objects = build(fixtures::input(&cluster, &applied, &dynamic)).unwrap();
    let names: Vec<_> = objects
        .services
        .iter()
        .map(|s| s.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["page-cache-0001", "page-cache-cfg"]);
    insta::assert_snapshot!(snapshot(&objects));
}

#[test]
fn node_pods_run_under_runtime_default_seccomp_unless_the_cluster_names_a_profile() {
    let mut cluster = fixtures::cluster(fixtures::MEMCACHED);
    let profile = |objects: &ClusterObjects| {
        let context = pod_spec(objects).security_context.clone().unwrap();
        context.seccomp_profile.unwrap()
    };
    let default = profile(&build_without_parameters(&cluster));
    assert_eq!(
        (default.type_.as_str(), default.localhost_profile),
        ("RuntimeDefault", None)
    );
    cluster.spec.pod_template = Some(PodTemplateOverrides {
        seccomp_profile: Some(SeccompProfile {
            type_: "Localhost".into(),
            localhost_profile: Some("profiles/ferrocache-io-uring.json".into()),
        }),
        ..PodTemplateOverrides::default()
    });
    let named = profile(&build_without_parameters(&cluster));
    assert_eq!(
        (named.type_.as_str(), named.localhost_profile.as_deref()),
        ("Localhost", Some("profiles/ferrocache-io-uring.json"))
    );
}

#[test]
fn multi_az_redis_with_explicit_resources_spreads_over_zones() {
    let mut cluster = fixtures::cluster(fixtures::REDIS_HA);
    cluster.spec.replicas_per_node_group = 1;
    cluster.spec.transit_encryption_enabled = false;
    cluster.spec.tls = None;
    cluster.spec.auth_token_secret_ref = None;
    cluster.spec.allowed_clients = None;
    cluster.spec.resources = Some(ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_string(), Quantity("1500m".into())),
            ("memory".to_string(), Quantity("3Gi".into())),
        ])),
        ..ResourceRequirements::default()
    });
    let objects = build_without_parameters(&cluster);
    let pod = pod_spec(&objects);
    assert!(pod.topology_spread_constraints.is_some());
    insta::assert_snapshot!(snapshot(&objects));
}

#[test]
fn a_cluster_without_uid_is_an_error_not_a_panic() {
    let mut cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    cluster.metadata.uid = None;
    let applied = fixtures::applied(&cluster, &[]);
    let dynamic = BTreeMap::new();
    assert!(matches!(
        build(fixtures::input(&cluster, &applied, &dynamic)),
        Err(crate::Error::MissingObjectKey { .. })
    ));
}

#[test]
fn the_config_hash_changes_with_the_file_only() {
    let cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    let applied = fixtures::applied(&cluster, &[]);
    let empty = BTreeMap::new();
    let timeout = BTreeMap::from([("timeout".to_string(), "10".to_string())]);
    let a = build(fixtures::input(&cluster, &applied, &empty)).unwrap();
    let b = build(fixtures::input(&cluster, &applied, &empty)).unwrap();
    let c = build(fixtures::input(&cluster, &applied, &timeout)).unwrap();
    assert_eq!(config_hash(&a.config_map), config_hash(&b.config_map));
    assert_ne!(config_hash(&a.config_map), config_hash(&c.config_map));
}

#[test]
fn tls_from_a_cert_manager_issuer_requests_a_certificate_for_every_endpoint() {
    let mut cluster = fixtures::cluster(fixtures::REDIS_HA);
    cluster.spec.tls = Some(crate::api::TlsSpec {
        secret_name: None,
        issuer_ref: Some(crate::api::IssuerRef {
            name: "internal-ca".into(),
            kind: "ClusterIssuer".into(),
            group: "cert-manager.io".into(),
        }),
    });
    let objects = build_without_parameters(&cluster);
    let pod = pod_spec(&objects);
    let tls_volume = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "tls")
        .unwrap();
    assert_eq!(
        tls_volume.secret.as_ref().unwrap().secret_name.as_deref(),
        Some("orders-cache-tls")
    );
    insta::assert_snapshot!(
        serde_yaml::to_string(&objects.certificate.expect("a Certificate")).unwrap()
    );
}
