//! Reconciler tests against the mocked API server: each scenario lists the calls the reconciler must make, in
//! order, with checks on what it sends.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::ResourceExt;
use serde_json::{json, Value};

use super::mock_api::{finished, path, Call, Reply};
use super::{cluster_error_policy, reconcile_cluster, reconcile_parameter_group, Context};
use crate::api::{CacheCluster, CacheClusterStatus, CacheParameterGroup, ClusterState};
use crate::fixtures;
use crate::pending_changes::AppliedSpec;
use crate::resources::{self, BuildInput, ROLE, ROLE_PRIMARY, ROLE_REPLICA};

/// The situations a CacheCluster reconcile meets, each with the calls it must make.
enum Scenario {
    /// A new cluster without parameter group: every object applied, no pods yet, status `creating`.
    Create(CacheCluster),
    /// Pods exist without roles: ordinal 0 becomes primary, the others replicas; all ready → `available`.
    RolesBootstrapped(CacheCluster, Vec<Pod>),
    /// The engine version changed outside the maintenance window: the StatefulSet keeps the running version and
    /// the new one shows in pendingModifiedValues.
    SpecChangeOutsideWindow(CacheCluster, CacheParameterGroup, AppliedSpec, Vec<Pod>),
    /// The group changed a dynamic parameter (reaches the ConfigMap now) and a static one (waits).
    ParameterGroupChange(CacheCluster, CacheParameterGroup, AppliedSpec, Vec<Pod>),
    /// The named group does not exist: nothing is applied, status and a Warning say why.
    MissingParameterGroup(CacheCluster),
    /// A new sharded cluster: a StatefulSet, headless Service and budget per shard, one configuration endpoint.
    CreateSharded(CacheCluster),
    /// The cluster is being deleted: an Event and status `deleting`, nothing applied.
    Deletion(CacheCluster),
}

fn pod_list(pods: &[Pod]) -> Value {
    json!({ "apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods })
}

fn pods_path() -> String {
    "/api/v1/namespaces/testns/pods".into()
}

/// The applies of a cluster's objects, in the reconciler's order.
fn applies(
    cluster: &CacheCluster,
    config_check: impl FnOnce(&Value) + Send + 'static,
    sts_check: impl FnOnce(&Value) + Send + 'static,
) -> Vec<Call> {
    let name = cluster.name_any();
    let group = format!("{name}-0001");
    let mut calls = vec![
        Call::apply(path::core("configmaps", &format!("{name}-engine-config"))).check(config_check),
    ];
    calls.push(Call::apply(path::core("services", &group)));
    match cluster.spec.engine {
        crate::api::Engine::Redis => {
            calls.push(Call::apply(path::core(
                "services",
                &format!("{name}-primary"),
            )));
            calls.push(Call::apply(path::core(
                "services",
                &format!("{name}-reader"),
            )));
        }
        crate::api::Engine::Memcached => {
            calls.push(Call::apply(path::core("services", &format!("{name}-cfg"))))
        }
    }
    calls.push(Call::apply(path::stateful_set(&group)).check(sts_check));
    calls.push(Call::apply(path::group(
        "policy/v1",
        "poddisruptionbudgets",
        &group,
    )));
    let policy = path::group("networking.k8s.io/v1", "networkpolicies", &name);
    calls.push(match cluster.spec.allowed_clients {
        Some(_) => Call::apply(policy),
        None => Call::new(Method::DELETE, policy, Reply::NotFound),
    });
    calls
}

fn status_check(
    expected: ClusterState,
    extra: impl FnOnce(&Value) + Send + 'static,
) -> impl FnOnce(&Value) + Send + 'static {
    move |body: &Value| {
        assert_eq!(body["kind"], "CacheCluster");
        assert!(body.get("spec").is_none(), "the operator never writes spec");
        let status: CacheClusterStatus =
            serde_json::from_value(body["status"].clone()).expect("a valid status");
        assert_eq!(status.status, Some(expected));
        extra(&body["status"]);
    }
}

/// The status apply; the API server answers with the whole object.
fn status_call(cluster: &CacheCluster) -> Call {
    Call::apply(path::cluster_status(&cluster.name_any()))
        .reply(Reply::Json(serde_json::to_value(cluster).unwrap()))
}

fn running_stateful_set(cluster: &CacheCluster, applied: &AppliedSpec) -> Value {
    let objects = resources::build(BuildInput {
        cluster,
        applied,
        dynamic_parameters: &BTreeMap::new(),
    })
    .expect("buildable");
    serde_json::to_value(&objects.stateful_sets[0]).expect("JSON")
}

/// The calls for an available cluster with a parameter group, whose StatefulSet runs `running`.
fn running_cluster_calls(
    cluster: &CacheCluster,
    group: &CacheParameterGroup,
    running: &AppliedSpec,
    pods: &[Pod],
    config_check: impl FnOnce(&Value) + Send + 'static,
    sts_check: impl FnOnce(&Value) + Send + 'static,
    status_extra: impl FnOnce(&Value) + Send + 'static,
) -> Vec<Call> {
    let mut calls = vec![
        Call::get(
            path::parameter_group(&group.name_any()),
            Reply::Json(serde_json::to_value(group).unwrap()),
        ),
        Call::get(
            path::stateful_set(&format!("{}-0001", cluster.name_any())),
            Reply::Json(running_stateful_set(cluster, running)),
        ),
    ];
    calls.push(Call::get(pods_path(), Reply::Json(pod_list(pods))));
    calls.extend(applies(cluster, config_check, sts_check));
    calls.push(status_call(cluster).check(status_check(ClusterState::Available, status_extra)));
    calls
}

impl Scenario {
    fn cluster(&self) -> &CacheCluster {
        match self {
            Scenario::Create(c)
            | Scenario::RolesBootstrapped(c, _)
            | Scenario::SpecChangeOutsideWindow(c, ..)
            | Scenario::ParameterGroupChange(c, ..)
            | Scenario::MissingParameterGroup(c)
            | Scenario::CreateSharded(c)
            | Scenario::Deletion(c) => c,
        }
    }

    fn calls(self) -> Vec<Call> {
        match self {
            Scenario::Create(cluster) => {
                let mut calls = vec![Call::get(
                    path::stateful_set(&format!("{}-0001", cluster.name_any())),
                    Reply::NotFound,
                )];
                calls.push(Call::get(pods_path(), Reply::Json(pod_list(&[]))));
                calls.extend(applies(
                    &cluster,
                    |cm| {
                        assert!(cm["data"]["engine.conf"]
                            .as_str()
                            .unwrap()
                            .contains("port 6379"))
                    },
                    |sts| assert_eq!(sts["spec"]["updateStrategy"]["type"], "OnDelete"),
                ));
                calls.push(Call::event("Creating"));
                calls.push(status_call(&cluster).check(status_check(
                    ClusterState::Creating,
                    |s| {
                        assert_eq!(s["observedGeneration"], 1);
                        assert_eq!(s["readyNodes"], "0/1");
                        assert_eq!(s["primaryEndpoint"], "sessions-primary.testns.svc:6379");
                    },
                )));
                calls
            }
            Scenario::RolesBootstrapped(cluster, pods) => {
                let group = cluster
                    .spec
                    .cache_parameter_group_name
                    .clone()
                    .expect("example has a group");
                let mut calls = vec![
                    Call::get(
                        path::parameter_group(&group),
                        Reply::Json(serde_json::to_value(fixtures::parameter_group()).unwrap()),
                    ),
                    Call::get(path::stateful_set("orders-cache-0001"), Reply::NotFound),
                ];
                calls.push(Call::get(pods_path(), Reply::Json(pod_list(&pods))));
                calls.extend(applies(&cluster, |_| {}, |_| {}));
                for (pod, role) in pods.iter().zip([ROLE_PRIMARY, ROLE_REPLICA, ROLE_REPLICA]) {
                    let mut labelled = pod.clone();
                    labelled.labels_mut().insert(ROLE.into(), role.into());
                    calls.push(
                        Call::new(
                            Method::PATCH,
                            path::core("pods", &pod.name_any()),
                            Reply::Json(serde_json::to_value(labelled).unwrap()),
                        )
                        .check(move |body| assert_eq!(body["metadata"]["labels"][ROLE], role)),
                    );
                }
                calls.push(Call::event("Available"));
                calls.push(status_call(&cluster).check(status_check(
                    ClusterState::Available,
                    |s| {
                        assert_eq!(s["readyNodes"], "3/3");
                        assert_eq!(s["nodes"][0]["role"], "primary");
                    },
                )));
                calls
            }
            Scenario::SpecChangeOutsideWindow(cluster, group, running, pods) => {
                let running_image = running.image.clone();
                running_cluster_calls(
                    &cluster,
                    &group,
                    &running,
                    &pods,
                    |_| {},
                    move |sts| {
                        let image = &sts["spec"]["template"]["spec"]["containers"][0]["image"];
                        assert_eq!(image, running_image.as_str());
                    },
                    |s| {
                        assert_eq!(s["pendingModifiedValues"]["engineVersion"], "0.1.0");
                        assert_eq!(s["observedGeneration"], 2);
                    },
                )
            }
            Scenario::ParameterGroupChange(cluster, group, running, pods) => running_cluster_calls(
                &cluster,
                &group,
                &running,
                &pods,
                |cm| {
                    let file = cm["data"]["engine.conf"].as_str().unwrap();
                    assert!(
                        file.contains("\ntimeout 10\n"),
                        "dynamic parameter applied now: {file}"
                    );
                    assert!(
                        file.contains("\ndatabases 32\n"),
                        "static parameter waits: {file}"
                    );
                },
                |_| {},
                |s| assert_eq!(s["pendingModifiedValues"]["parameters"]["databases"], "64"),
            ),
            Scenario::MissingParameterGroup(cluster) => vec![
                Call::get(path::parameter_group("lru-cache"), Reply::NotFound),
                Call::event("IncompatibleParameters"),
                status_call(&cluster).check(status_check(
                    ClusterState::IncompatibleParameters,
                    |s| {
                        let degraded = s["conditions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .find(|c| c["type"] == "Degraded")
                            .unwrap();
                        assert_eq!(degraded["reason"], "ParameterGroupNotFound");
                        assert!(degraded["message"].as_str().unwrap().contains("lru-cache"));
                    },
                )),
            ],
            Scenario::CreateSharded(cluster) => {
                let name = cluster.name_any();
                let groups: Vec<String> = (1..=3).map(|g| format!("{name}-{g:04}")).collect();
                let mut calls = vec![
                    Call::get(path::stateful_set(&groups[0]), Reply::NotFound),
                    Call::get(pods_path(), Reply::Json(pod_list(&[]))),
                    // Every shard's StatefulSet, listed once: each shard's size is looked at on its own (a
                    // shrinking shard keeps its primary), and no leaving shard is there beyond the three.
                    Call::get(
                        "/apis/apps/v1/namespaces/testns/statefulsets",
                        Reply::Json(json!({
                            "apiVersion": "apps/v1", "kind": "StatefulSetList", "metadata": {}, "items": [],
                        })),
                    ),
                    Call::apply(path::core("configmaps", &format!("{name}-engine-config"))).check(
                        |cm| {
                            let file = cm["data"]["engine.conf"].as_str().unwrap();
                            assert!(file.contains("\ncluster-enabled yes\n"), "{file}");
                        },
                    ),
                ];
                for group in &groups {
                    calls.push(Call::apply(path::core("services", group)));
                }
                // Only a configuration endpoint, on every node: no primary or reader Service.
                calls.push(
                    Call::apply(path::core("services", &format!("{name}-cfg"))).check(|svc| {
                        let selector = svc["spec"]["selector"].as_object().unwrap();
                        assert_eq!(selector.len(), 1, "every node of the cluster: {selector:?}");
                    }),
                );
                for (g, group) in groups.iter().enumerate() {
                    let id = format!("{:04}", g + 1);
                    calls.push(Call::apply(path::stateful_set(group)).check(move |sts| {
                        // The second shard's own replicaCount (2); the others take replicasPerNodeGroup.
                        assert_eq!(sts["spec"]["replicas"], if g == 1 { 3 } else { 2 });
                        assert_eq!(
                            sts["spec"]["selector"]["matchLabels"]["ferrocache.io/node-group"],
                            id.as_str()
                        );
                        let zones = &sts["spec"]["template"]["spec"]["affinity"]["nodeAffinity"];
                        if g == 1 {
                            let terms = &zones["preferredDuringSchedulingIgnoredDuringExecution"];
                            assert_eq!(terms[0]["weight"], 100);
                            assert_eq!(
                                terms[0]["preference"]["matchExpressions"][0]["values"][0],
                                "zone-b"
                            );
                            assert_eq!(terms[1]["weight"], 50);
                        } else {
                            assert!(zones.is_null(), "no zones configured: {zones}");
                        }
                    }));
                }
                for group in &groups {
                    calls.push(Call::apply(path::group(
                        "policy/v1",
                        "poddisruptionbudgets",
                        group,
                    )));
                }
                calls.push(Call::new(
                    Method::DELETE,
                    path::group("networking.k8s.io/v1", "networkpolicies", &name),
                    Reply::NotFound,
                ));
                calls.push(Call::event("Creating"));
                calls.push(status_call(&cluster).check(status_check(
                    ClusterState::Creating,
                    |s| {
                        assert_eq!(s["readyNodes"], "0/7");
                        assert_eq!(s["configurationEndpoint"], "sessions-cfg.testns.svc:6379");
                        assert_eq!(s["endpoint"], "sessions-cfg.testns.svc:6379");
                        assert!(s.get("primaryEndpoint").is_none());
                    },
                )));
                calls
            }
            Scenario::Deletion(cluster) => vec![
                Call::event("Deleting"),
                status_call(&cluster).check(status_check(ClusterState::Deleting, |_| {})),
            ],
        }
    }
}

async fn run(scenario: Scenario) -> crate::Result<kube::runtime::controller::Action> {
    let (ctx, server) = Context::test();
    let cluster = Arc::new(scenario.cluster().clone());
    let server = server.run(scenario.calls());
    let result = reconcile_cluster(cluster, ctx.clone()).await;
    finished(ctx, server).await;
    result
}

fn ready_pod(name: &str, role: Option<&str>) -> Pod {
    fixtures::pod(name, role, true)
}

fn running_ha_pods() -> Vec<Pod> {
    vec![
        ready_pod("orders-cache-0001-0", Some(ROLE_PRIMARY)),
        ready_pod("orders-cache-0001-1", Some(ROLE_REPLICA)),
        ready_pod("orders-cache-0001-2", Some(ROLE_REPLICA)),
    ]
}

/// The HA example, already available, at generation 2.
fn available_ha() -> CacheCluster {
    let mut cluster = fixtures::cluster(fixtures::REDIS_HA);
    cluster.metadata.generation = Some(2);
    cluster.status = Some(CacheClusterStatus {
        status: Some(ClusterState::Available),
        ..CacheClusterStatus::default()
    });
    cluster
}

#[tokio::test]
async fn a_new_cluster_gets_every_object_and_status_creating() {
    let cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    run(Scenario::Create(cluster))
        .await
        .expect("reconcile succeeds");
}

#[tokio::test]
async fn first_pods_get_roles_and_the_cluster_becomes_available() {
    let cluster = fixtures::cluster(fixtures::REDIS_HA);
    let pods = vec![
        ready_pod("orders-cache-0001-0", None),
        ready_pod("orders-cache-0001-1", None),
        ready_pod("orders-cache-0001-2", None),
    ];
    run(Scenario::RolesBootstrapped(cluster, pods))
        .await
        .expect("reconcile succeeds");
}

#[tokio::test]
async fn a_version_change_outside_the_window_waits_in_pending_modified_values() {
    let cluster = available_ha();
    let statics = BTreeMap::from([("databases".to_string(), "32".to_string())]);
    let mut running = AppliedSpec::desired(&cluster.spec, statics);
    running.engine_version = "0.0.9".into();
    running.image = "ghcr.io/ferrocache/ferrocache-engine:0.0.9".into();
    let scenario = Scenario::SpecChangeOutsideWindow(
        cluster,
        fixtures::parameter_group(),
        running,
        running_ha_pods(),
    );
    run(scenario).await.expect("reconcile succeeds");
}

#[tokio::test]
async fn a_parameter_group_change_applies_dynamic_parameters_and_holds_static_ones() {
    let cluster = available_ha();
    let running = AppliedSpec::desired(
        &cluster.spec,
        BTreeMap::from([("databases".to_string(), "32".to_string())]),
    );
    let mut group = fixtures::parameter_group();
    group.spec.parameters.insert("timeout".into(), "10".into());
    group
        .spec
        .parameters
        .insert("databases".into(), "64".into());
    run(Scenario::ParameterGroupChange(
        cluster,
        group,
        running,
        running_ha_pods(),
    ))
    .await
    .expect("reconcile succeeds");
}

#[tokio::test]
async fn a_missing_parameter_group_is_reported_and_nothing_is_applied() {
    let cluster = fixtures::cluster(fixtures::REDIS_HA);
    run(Scenario::MissingParameterGroup(cluster))
        .await
        .expect("reconcile succeeds");
}

#[tokio::test]
async fn a_new_sharded_cluster_gets_objects_per_shard_and_a_configuration_endpoint() {
    let mut cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    cluster.spec.cluster_mode = crate::api::ClusterMode::Enabled;
    cluster.spec.num_node_groups = 3;
    cluster.spec.replicas_per_node_group = 1;
    cluster.spec.node_group_configuration = vec![
        Default::default(),
        crate::api::NodeGroupConfiguration {
            replica_count: Some(2),
            primary_availability_zone: Some("zone-b".into()),
            replica_availability_zones: vec!["zone-a".into(), "zone-c".into()],
            ..Default::default()
        },
    ];
    run(Scenario::CreateSharded(cluster))
        .await
        .expect("reconcile succeeds");
}

#[test]
fn configured_slots_of_a_new_sharded_cluster_must_cover_every_slot_once() {
    let mut cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    cluster.spec.cluster_mode = crate::api::ClusterMode::Enabled;
    cluster.spec.num_node_groups = 2;
    let slots = |a: &str, b: &str| {
        [a, b]
            .map(|s| crate::api::NodeGroupConfiguration {
                slots: Some(s.into()),
                ..Default::default()
            })
            .to_vec()
    };
    cluster.spec.node_group_configuration = slots("0-9999", "10000-16383");
    assert_eq!(
        super::cluster::invalid_shard_slots(&cluster, "testns"),
        None
    );
    cluster.spec.node_group_configuration = slots("0-9999", "10001-16383");
    let why = super::cluster::invalid_shard_slots(&cluster, "testns").expect("a gap");
    assert!(why.contains("10000"), "{why}");
    let blocker = super::Blocker::InvalidShardSlots(why);
    assert_eq!(blocker.state(), ClusterState::IncompatibleConfiguration);
    // A running cluster keeps its layout: the configured slots only seed a new one.
    cluster.status = Some(CacheClusterStatus {
        shards: vec![Default::default()],
        ..CacheClusterStatus::default()
    });
    assert_eq!(
        super::cluster::invalid_shard_slots(&cluster, "testns"),
        None
    );
}

#[tokio::test]
async fn a_deleted_cluster_reports_deleting_and_applies_nothing() {
    let mut cluster = available_ha();
    cluster.metadata.deletion_timestamp = Some(Time(super::mock_api::tuesday_noon()));
    run(Scenario::Deletion(cluster))
        .await
        .expect("reconcile succeeds");
}

#[tokio::test]
async fn a_failed_reconcile_is_counted_and_requeued() {
    let (ctx, server) = Context::test();
    let server = server.run(vec![]);
    let cluster = Arc::new(fixtures::cluster(fixtures::REDIS_SINGLE_NODE));
    let error = crate::Error::MissingObjectKey {
        kind: "CacheCluster",
        field: "metadata.uid",
    };
    let action = cluster_error_policy(cluster, &error, ctx.clone());
    assert_eq!(
        action,
        kube::runtime::controller::Action::requeue(std::time::Duration::from_secs(30))
    );
    let failures = ctx
        .metrics
        .failures
        .get_or_create(&crate::metrics::FailureLabels {
            kind: "CacheCluster".into(),
            error: "missing_object_key".into(),
        })
        .get();
    assert_eq!(failures, 1);
    finished(ctx, server).await;
}

#[tokio::test]
async fn an_invalid_parameter_group_gets_a_warning_and_its_reasons_in_status() {
    let (ctx, server) = Context::test();
    let mut group = fixtures::parameter_group();
    group
        .spec
        .parameters
        .insert("maxmemory-samples".into(), "1000".into());
    let server = server.run(vec![
        Call::event("InvalidParameters"),
        Call::apply(path::group(
            "ferrocache.io/v1alpha1",
            "cacheparametergroups",
            "lru-cache/status",
        ))
        .reply(Reply::Json(serde_json::to_value(&group).unwrap()))
        .check(|body| {
            assert_eq!(body["status"]["conditions"][0]["status"], "False");
            assert_eq!(
                body["status"]["invalidParameters"][0]["name"],
                "maxmemory-samples"
            );
            assert_eq!(body["status"]["parameters"].as_array().unwrap().len(), 3);
        }),
    ]);
    reconcile_parameter_group(Arc::new(group), ctx.clone())
        .await
        .expect("reconcile succeeds");
    finished(ctx, server).await;
}
