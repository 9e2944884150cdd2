//! Day-2 work on a real control plane without losing data: auth-token replication, live parameter changes,
//! placement changes with scale-in, a rolling patch of a one-node cluster, memcached auto discovery, TLS wired
//! from outside the cluster, and the status conditions that say what is wrong. Each test works in a namespace
//! of its own; failover under faults is in `disruptive.rs`.

use std::time::{Duration, Instant};

use ferrocache_e2e::faults::{cluster_pods, pod_redis, run_ids};
use ferrocache_e2e::{wait_for_replicas, Env};
use ferrocache_operator::api::{ClusterState, DEGRADED};
use serde_json::{json, Value};

const CREATE_TIMEOUT: Duration = Duration::from_secs(180);
const TOKEN: &str = "day2-auth-token-0123456789abcdef";

/// The Redis cluster `orders` (see [`Env::apply_redis_with_token`]).
async fn redis_with_token(
    env: &Env,
    replicas: i64,
    secret_value: &str,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> ferrocache_e2e::Result<()> {
    env.apply_redis_with_token("orders", secret_value, replicas, edit)
        .await
}

async fn available_ha(test: &str, replicas: i64) -> Option<Env> {
    let env = Env::start(test).await?;
    redis_with_token(&env, replicas, TOKEN, |_| {})
        .await
        .expect("applied");
    env.wait_available("orders", CREATE_TIMEOUT)
        .await
        .expect("available");
    Some(env)
}

fn condition(
    cluster: &ferrocache_operator::api::CacheCluster,
    type_: &str,
) -> Option<(String, String, String)> {
    cluster
        .status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// Writes `n` keys through the primary Service of `orders` and waits until `replicas` replicas hold them.
async fn write_keys(env: &Env, prefix: &str, n: usize, password: Option<&str>, replicas: i64) {
    let (_address, mut redis) = env
        .redis_via("orders-primary", password)
        .await
        .expect("connects to the primary");
    for i in 0..n {
        let () = redis::cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg(i)
            .query_async(&mut redis)
            .await
            .expect("SET");
    }
    if replicas > 0 {
        assert_eq!(
            wait_for_replicas(&mut redis, replicas).await.expect("WAIT"),
            replicas,
            "every replica acknowledges the writes"
        );
    }
}

/// The keys of `prefix0..n` missing through `svc/<service>`.
async fn missing_keys(
    env: &Env,
    service: &str,
    prefix: &str,
    n: usize,
    password: Option<&str>,
) -> Vec<usize> {
    let (_address, mut redis) = env.redis_via(service, password).await.expect("connects");
    let mut missing = Vec::new();
    for i in 0..n {
        let value: Option<usize> = redis::cmd("GET")
            .arg(format!("{prefix}{i}"))
            .query_async(&mut redis)
            .await
            .expect("GET");
        if value != Some(i) {
            missing.push(i);
        }
    }
    missing
}

#[tokio::test]
async fn an_auth_token_cluster_replicates_even_with_a_newline_in_the_secret() {
    let Some(env) = Env::start("auth_token_replicates").await else {
        return;
    };
    // `kubectl create secret --from-file` keeps the file's trailing newline.
    redis_with_token(&env, 2, &format!("{TOKEN}\n"), |_| {})
        .await
        .expect("applied");
    let cluster = env
        .wait_available("orders", CREATE_TIMEOUT)
        .await
        .expect("available");
    write_keys(&env, "auth-", 20, Some(TOKEN), 2).await;
    let degraded = condition(&cluster, DEGRADED).expect("Degraded condition");
    assert_eq!(degraded.0, "False", "{degraded:?}");
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn a_dynamic_parameter_change_restarts_no_node() {
    let Some(env) = Env::start("dynamic_parameter_no_restart").await else {
        return;
    };
    env.apply_example("parameter-group.yaml", |o| {
        o["spec"]["parameters"]
            .as_object_mut()
            .expect("parameters")
            .remove("databases");
    })
    .await
    .expect("group applied");
    // Outside the maintenance window and without applyImmediately: only what needs no restart may happen.
    redis_with_token(&env, 1, TOKEN, |spec| {
        spec.insert("cacheParameterGroupName".into(), json!("lru-cache"));
        spec.insert("applyImmediately".into(), json!(false));
        spec.insert("multiAZEnabled".into(), json!(false));
    })
    .await
    .expect("applied");
    env.wait_available("orders", CREATE_TIMEOUT)
        .await
        .expect("available");
    write_keys(&env, "dyn-", 50, Some(TOKEN), 1).await;
    let before = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");

    env.apply_example("parameter-group.yaml", |o| {
        let parameters = o["spec"]["parameters"].as_object_mut().expect("parameters");
        parameters.remove("databases");
        parameters.insert("maxmemory-policy".into(), json!("volatile-ttl"));
    })
    .await
    .expect("group changed");
    let started = Instant::now();
    loop {
        let mut applied = true;
        for pod in cluster_pods(&env, "orders").await.expect("pods") {
            let Ok(mut redis) = pod_redis(&pod, Some(TOKEN)).await else {
                applied = false;
                continue;
            };
            let reply: Vec<String> = redis::cmd("CONFIG")
                .arg("GET")
                .arg("maxmemory-policy")
                .query_async(&mut redis)
                .await
                .expect("CONFIG GET");
            applied &= reply.get(1).map(String::as_str) == Some("volatile-ttl");
        }
        if applied {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "maxmemory-policy not set live on every node"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // A restart would follow the change within a few reconciles: watch for one for 10 s.
    let watch = Instant::now();
    while watch.elapsed() < Duration::from_secs(10) {
        let now = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");
        assert_eq!(now, before, "a node restarted for a dynamic parameter");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert!(
        missing_keys(&env, "orders-primary", "dyn-", 50, Some(TOKEN))
            .await
            .is_empty()
    );
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn placement_changes_with_a_scale_in_keep_every_acknowledged_write() {
    let Some(env) = available_ha("placement_and_scale_in", 2).await else {
        return;
    };
    write_keys(&env, "keep-", 300, Some(TOKEN), 2).await;
    let before = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");
    env.patch_spec(
        "orders",
        json!({ "multiAZEnabled": false, "automaticFailoverEnabled": false, "replicasPerNodeGroup": 0 }),
    )
    .await
    .expect("patched");
    let cluster = env
        .wait_for("orders", CREATE_TIMEOUT, "scaled in", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.status == Some(ClusterState::Available)
                    && s.observed_generation == c.metadata.generation
                    && s.nodes.len() == 1
            })
        })
        .await
        .expect("scaled in");
    let survivor = &cluster.status.expect("status").nodes[0].name;
    let after = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");
    assert_eq!(
        after.get(survivor),
        before.get(survivor),
        "the surviving node was not restarted"
    );
    let missing = missing_keys(&env, "orders-primary", "keep-", 300, Some(TOKEN)).await;
    assert!(
        missing.is_empty(),
        "lost {} keys: {missing:?}",
        missing.len()
    );
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn a_rolling_patch_of_a_one_node_cluster_keeps_every_key() {
    let Some(env) = Env::start("single_node_patch").await else {
        return;
    };
    redis_with_token(&env, 0, TOKEN, |spec| {
        spec.insert("multiAZEnabled".into(), json!(false));
        spec.insert("automaticFailoverEnabled".into(), json!(false));
        spec.insert("applyImmediately".into(), json!(true));
    })
    .await
    .expect("applied");
    env.wait_available("orders", CREATE_TIMEOUT)
        .await
        .expect("available");
    write_keys(&env, "one-", 100, Some(TOKEN), 0).await;
    let before = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");
    env.patch_spec("orders", json!({ "engineVersion": "0.1.1" }))
        .await
        .expect("patched");
    let cluster = env
        .wait_for("orders", Duration::from_secs(240), "patched", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.status == Some(ClusterState::Available)
                    && s.observed_generation == c.metadata.generation
                    && s.nodes.len() == 1
                    && s.nodes[0].engine_version.as_deref() == Some("0.1.1")
            })
        })
        .await
        .expect("patched");
    let after = run_ids(&env, "orders", Some(TOKEN)).await.expect("run ids");
    assert_ne!(after, before, "the node restarted with the new version");
    let missing = missing_keys(&env, "orders-primary", "one-", 100, Some(TOKEN)).await;
    assert!(
        missing.is_empty(),
        "lost {} of 100 keys: {missing:?}",
        missing.len()
    );
    println!("{:?}", cluster.status.map(|s| s.nodes));
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn memcached_auto_discovery_lists_every_node() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Some(env) = Env::start("memcached_discovery").await else {
        return;
    };
    env.apply_example("memcached.yaml", |o| {
        o["spec"]["numCacheNodes"] = json!(2);
    })
    .await
    .expect("applied");
    env.wait_available("page-cache", CREATE_TIMEOUT)
        .await
        .expect("available");
    let address = env
        .connect_service("page-cache-cfg", 11211)
        .await
        .expect("configuration endpoint");
    let mut stream = address.tcp().await.expect("connects");
    stream
        .write_all(b"config get cluster\r\n")
        .await
        .expect("write");
    let mut reply = Vec::new();
    while !reply.ends_with(b"END\r\n") {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).await.expect("read");
        assert!(n > 0, "closed after {:?}", String::from_utf8_lossy(&reply));
        reply.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(reply).expect("text");
    assert!(text.starts_with("CONFIG cluster 0 "), "{text}");
    let ns = &env.namespace;
    let nodes: Vec<&str> = text.lines().nth(2).unwrap_or_default().split(' ').collect();
    assert_eq!(
        nodes,
        [
            format!("page-cache-0001-0.page-cache-0001.{ns}.svc.cluster.local||11211"),
            format!("page-cache-0001-1.page-cache-0001.{ns}.svc.cluster.local||11211"),
        ],
        "{text}"
    );
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn pods_that_cannot_be_scheduled_make_the_cluster_degraded_with_the_reason() {
    let Some(env) = Env::start("unschedulable_replicas").await else {
        return;
    };
    // Required one-node-per-pod anti-affinity (multiAZ) with 4 pods on 3 nodes: one pod cannot be placed.
    redis_with_token(&env, 3, TOKEN, |_| {})
        .await
        .expect("applied");
    let cluster = env
        .wait_for("orders", CREATE_TIMEOUT, "degraded", |c| {
            condition(c, DEGRADED)
                .is_some_and(|(status, reason, _)| status == "True" && reason == "Unschedulable")
        })
        .await
        .expect("degraded with the reason");
    let (_, _, message) = condition(&cluster, DEGRADED).expect("condition");
    assert!(message.contains("cannot be scheduled"), "{message}");
    assert_ne!(
        cluster.status.and_then(|s| s.status),
        Some(ClusterState::Available)
    );
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn a_certificate_issuer_without_cert_manager_is_reported_in_status() {
    let Some(env) = Env::start("issuer_without_cert_manager").await else {
        return;
    };
    if env.platform != ferrocache_e2e::Platform::Kit {
        // A kind cluster may have cert-manager installed.
        println!("skipped: needs a cluster without cert-manager (the kit)");
        env.finish().await.expect("namespace deleted");
        return;
    }
    env.apply_example("redis-single-node.yaml", |o| {
        o["spec"]["transitEncryptionEnabled"] = json!(true);
        o["spec"]["tls"] = json!({ "issuerRef": { "name": "ca-issuer", "kind": "ClusterIssuer" } });
    })
    .await
    .expect("applied");
    let cluster = env
        .wait_for("sessions", Duration::from_secs(60), "refused", |c| {
            c.status
                .as_ref()
                .is_some_and(|s| s.status == Some(ClusterState::IncompatibleConfiguration))
        })
        .await
        .expect("incompatible-configuration");
    let (status, reason, message) = condition(&cluster, DEGRADED).expect("condition");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "CertManagerMissing")
    );
    assert!(message.contains("cert-manager"), "{message}");
    env.finish().await.expect("namespace deleted");
}

/// A TLS Secret for cluster `orders` in `namespace`: a CA and a certificate for the nodes' and Services' names.
fn tls_secret(namespace: &str) -> k8s_openapi::api::core::v1::Secret {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("CA");
    let names = vec![
        format!("*.orders-0001.{namespace}.svc"),
        format!("*.orders-0001.{namespace}.svc.cluster.local"),
        format!("orders-primary.{namespace}.svc"),
        format!("orders-reader.{namespace}.svc"),
    ];
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(names)
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("certificate");
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
        "metadata": { "name": "orders-tls", "namespace": namespace },
        "stringData": { "tls.crt": cert.pem(), "tls.key": key.serialize_pem(), "ca.crt": ca.pem() },
    }))
    .expect("secret")
}

/// With transit encryption, an operator that cannot resolve pod names (it runs outside the cluster, as here)
/// still wires the group: it dials pod IPs and verifies each certificate for the pod's DNS name; the replicas
/// sync over TLS, and status reports no problem.
#[tokio::test]
async fn a_tls_cluster_is_wired_by_an_operator_outside_the_cluster() {
    use kube::api::{Patch, PatchParams};
    let Some(env) = Env::start("tls_outside_operator").await else {
        return;
    };
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(env.client.clone(), &env.namespace);
    secrets
        .patch(
            "orders-tls",
            &PatchParams::apply(ferrocache_e2e::MANAGER).force(),
            &Patch::Apply(&tls_secret(&env.namespace)),
        )
        .await
        .expect("TLS secret");
    redis_with_token(&env, 2, TOKEN, |spec| {
        spec.insert("transitEncryptionEnabled".into(), json!(true));
        spec.insert("tls".into(), json!({ "secretName": "orders-tls" }));
    })
    .await
    .expect("applied");
    let cluster = env
        .wait_for("orders", CREATE_TIMEOUT, "wired over TLS", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.status == Some(ClusterState::Available)
                    && s.nodes.iter().filter(|n| n.role == "replica").count() == 2
            }) && condition(c, DEGRADED).is_some_and(|(status, _, _)| status == "False")
        })
        .await
        .expect("available, one primary and two linked replicas");
    let roles: Vec<String> = cluster
        .status
        .expect("status")
        .nodes
        .into_iter()
        .map(|n| n.role)
        .collect();
    assert_eq!(
        roles.iter().filter(|r| *r == "primary").count(),
        1,
        "{roles:?}"
    );
    env.finish().await.expect("namespace deleted");
}
