//! Faults, one at a time in their own test binary (cargo runs test binaries one after another): failover of a
//! killed container, a deleted pod, a hung process and a Kubernetes node going down under the primary (the
//! node fault reaches other namespaces, and the failover times are measured without other tests competing
//! for the machine), and an operator restart in the middle of metering. Faults need the kit (`e2e/kit.sh`).

use std::time::{Duration, Instant};

use ferrocache_e2e::faults::{chaos, fail_over, faults_available, restart_operator};
use ferrocache_e2e::Env;
use ferrocache_operator::api::{CacheUsageReport, ClusterState, UsageStatus};
use kube::api::{DeleteParams, ListParams};
use kube::Api;
use kube::ResourceExt;
use serde_json::json;

const CREATE_TIMEOUT: Duration = Duration::from_secs(180);
const TOKEN: &str = "disruptive-auth-token-0123456789";
/// The operator's failure window.
const FAILOVER_WINDOW: Duration = Duration::from_secs(5);

/// One disruptive scenario at a time.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How the primary is made to fail.
#[derive(Debug, Clone, Copy)]
enum Fault {
    KillContainer,
    DeletePod,
    Hang,
}

/// A fresh namespace for `test` holding the available two-node `orders` cluster; None where faults cannot be
/// injected on this platform (the test is then skipped).
async fn orders_with_faults(test: &str) -> Option<Env> {
    let env = Env::start(test).await?;
    if !faults_available(&env, test) {
        env.finish().await.expect("namespace deleted");
        return None;
    }
    env.apply_redis_with_token("orders", TOKEN, 2, |_| {})
        .await
        .expect("applied");
    env.wait_available("orders", CREATE_TIMEOUT)
        .await
        .expect("available");
    Some(env)
}

/// Injects `fault` into the primary while writing, and checks that writes come back within the failure window
/// plus 3 s with no acknowledged write lost.
async fn fail_over_on(test: &str, fault: Fault) {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(env) = orders_with_faults(test).await else {
        return;
    };
    let ns = env.namespace.clone();
    let pods = env.pods();
    let measured = fail_over(&env, "orders", Some(TOKEN), |primary| async move {
        let name = primary.name_any();
        match fault {
            Fault::KillContainer => chaos(&["kill", &name, "-n", &ns]),
            Fault::Hang => chaos(&["stop", &name, "-n", &ns]),
            Fault::DeletePod => {
                pods.delete(&name, &DeleteParams::default()).await?;
                Ok(())
            }
        }
    })
    .await
    .expect("failover measured");
    let name = measured.old_primary.clone();
    if matches!(fault, Fault::Hang) {
        // The old primary runs again: it must come back as a replica, never as a second primary.
        chaos(&["cont", &name, "-n", &env.namespace]).expect("continued");
    }
    println!(
        "{fault:?} of {name}: writes back after {:.2} s; {} acknowledged writes, {} lost",
        measured.back.as_secs_f64(),
        measured.acknowledged,
        measured.lost.len()
    );
    assert!(
        measured.lost.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        measured.lost.len(),
        measured.acknowledged,
        measured.lost.iter().take(10).collect::<Vec<_>>()
    );
    // A hung primary still accepts connections, so it is replaced only once it has been silent for the whole
    // window, noticed by a health check that runs every second with a 1 s timeout: up to 1 s after the
    // window. A killed or deleted one refuses connections and is replaced at once.
    let noticed = if matches!(fault, Fault::Hang) {
        Duration::from_secs(1)
    } else {
        Duration::ZERO
    };
    let bound = FAILOVER_WINDOW + noticed + Duration::from_secs(3);
    assert!(
        measured.back <= bound,
        "{fault:?}: writes back after {:?}, more than {bound:?}",
        measured.back
    );
    if matches!(fault, Fault::Hang) {
        let cluster = env
            .wait_for("orders", Duration::from_secs(60), "healed", |c| {
                c.status.as_ref().is_some_and(|s| {
                    s.status == Some(ClusterState::Available)
                        && s.nodes
                            .iter()
                            .any(|n| n.name == name && n.role == "replica")
                })
            })
            .await;
        assert!(
            cluster.is_ok(),
            "the old primary returns as a replica: {cluster:?}"
        );
    }
    env.finish().await.expect("namespace deleted");
}

#[tokio::test]
async fn a_killed_primary_container_fails_over_without_losing_acknowledged_writes() {
    fail_over_on("failover_killed_container", Fault::KillContainer).await;
}

#[tokio::test]
async fn a_deleted_primary_pod_fails_over_without_losing_acknowledged_writes() {
    fail_over_on("failover_deleted_pod", Fault::DeletePod).await;
}

#[tokio::test]
async fn a_hung_primary_fails_over_without_losing_acknowledged_writes() {
    fail_over_on("failover_hung_primary", Fault::Hang).await;
}

#[tokio::test]
async fn a_node_going_down_under_the_primary_fails_over_without_losing_acknowledged_writes() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(env) = orders_with_faults("failover_node_down").await else {
        return;
    };
    let mut downed = None;
    let measured = fail_over(&env, "orders", Some(TOKEN), |primary| {
        let node = primary
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_default();
        downed = Some(node.clone());
        async move { chaos(&["node-down", &node]) }
    })
    .await;
    if let Some(node) = &downed {
        chaos(&["node-up", node]).expect("node back");
    }
    let measured = measured.expect("failover measured");
    println!(
        "node {} down under {}: writes back after {:.2} s; {} acknowledged writes, {} lost",
        downed.unwrap_or_default(),
        measured.old_primary,
        measured.back.as_secs_f64(),
        measured.acknowledged,
        measured.lost.len()
    );
    assert!(
        measured.lost.is_empty(),
        "lost {:?}",
        measured.lost.iter().take(10).collect::<Vec<_>>()
    );
    let bound = FAILOVER_WINDOW + Duration::from_secs(3);
    assert!(
        measured.back <= bound,
        "writes back after {:?}",
        measured.back
    );
    env.finish().await.expect("namespace deleted");
}

async fn usage(env: &Env, cluster: &str) -> Option<UsageStatus> {
    env.clusters().get(cluster).await.ok()?.status?.usage
}

/// Waits until the published ECPU total is exactly `units`; fails at once if it goes past.
async fn wait_units(env: &Env, cluster: &str, units: i64) {
    let started = Instant::now();
    loop {
        let seen = usage(env, cluster).await.map(|u| u.ecpu_total);
        assert!(
            seen.is_none_or(|s| s <= units),
            "metered {seen:?}, more than the {units} units served"
        );
        if seen == Some(units) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "metered {seen:?}, not {units}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn sets(env: &Env, prefix: &str, n: usize) {
    let (_address, mut redis) = env
        .redis_via("sessions-primary", None)
        .await
        .expect("connects");
    for i in 0..n {
        let () = redis::cmd("SET")
            .arg(format!("{prefix}{i}"))
            .arg("v")
            .query_async(&mut redis)
            .await
            .expect("SET");
    }
}

#[tokio::test]
async fn usage_is_exact_across_an_operator_restart_and_a_deleted_cluster_leaves_no_series() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let Some(env) = Env::start("metering_operator_restart").await else {
        return;
    };
    if !faults_available(&env, "metering_operator_restart") {
        env.finish().await.expect("namespace deleted");
        return;
    }
    env.apply_example("redis-single-node.yaml", |o| {
        o["spec"]["metering"] = json!({ "enabled": true, "interval": "1s" });
    })
    .await
    .expect("applied");
    env.wait_available("sessions", CREATE_TIMEOUT)
        .await
        .expect("available");
    // Management traffic (health checks, scrapes, the client's handshake) is not billed: only SETs count.
    wait_units(&env, "sessions", 0).await;
    sets(&env, "before-", 100).await;
    wait_units(&env, "sessions", 100).await;
    // Served while the operator restarts, and right after.
    restart_operator().await;
    sets(&env, "after-", 50).await;
    wait_units(&env, "sessions", 150).await;
    // Later scrapes add nothing: no unit is counted twice.
    let settle = Instant::now();
    while settle.elapsed() < Duration::from_secs(5) {
        wait_units(&env, "sessions", 150).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("ECPU total exact across the operator restart: 150 of 150");

    // The month's CacheUsageReport holds the same units, hour by hour.
    let reports: Api<CacheUsageReport> = Api::namespaced(env.client.clone(), &env.namespace);
    let selector = ListParams::default().labels("ferrocache.io/cluster=sessions");
    let listed = reports.list(&selector).await.expect("reports listed").items;
    assert_eq!(
        listed.iter().map(|r| r.spec.ecpu_total).sum::<i64>(),
        150,
        "{listed:?}"
    );
    for r in &listed {
        assert_eq!(
            r.spec.hours.iter().map(|h| h.ecpu).sum::<i64>(),
            r.spec.ecpu_total
        );
        assert!(r.spec.node_hours_total > 0.0, "{:?}", r.spec);
    }

    let metrics = std::env::var("FERROCACHE_E2E_OPERATOR_METRICS")
        .expect("FERROCACHE_E2E_OPERATOR_METRICS (set by e2e/kit.sh)");
    let series = format!("namespace=\"{}\",cluster=\"sessions\"", env.namespace);
    let scrape = || async {
        let output = tokio::process::Command::new("curl")
            .args(["-sf", &format!("http://{metrics}/metrics")])
            .output()
            .await
            .expect("curl runs");
        String::from_utf8_lossy(&output.stdout).to_string()
    };
    assert!(scrape().await.contains(&series), "usage series exported");
    env.clusters()
        .delete("sessions", &Default::default())
        .await
        .expect("deleted");
    let started = Instant::now();
    while scrape().await.contains(&series) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the deleted cluster's series remain"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // A deleted cluster is still billed: its report stays, marked with the deletion.
    let started = Instant::now();
    loop {
        let listed = reports.list(&selector).await.expect("reports listed").items;
        assert_eq!(
            listed.iter().map(|r| r.spec.ecpu_total).sum::<i64>(),
            150,
            "the report outlives its cluster"
        );
        if listed.iter().any(|r| r.spec.cluster_deleted_at.is_some()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the report is not marked deleted"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!("the usage report outlives its deleted cluster");
    env.finish().await.expect("namespace deleted");
}
