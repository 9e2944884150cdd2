//! The Kubernetes side of sharded clusters against the mocked API server, with real engine processes as the
//! pods: the topology every node is given, resharding steps and their order (one migration at a time, Events
//! for each), and a removed shard's objects deleted only once it owns nothing. Each step is one call of
//! [`shards::converge`] as a reconcile makes it, with the status it wrote fed back in.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http::Method;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use redis::AsyncCommands;

use super::mock_api::{finished, path, Call, Reply};
use super::shards::{self, Outcome};
use super::{replication, Context};
use crate::api::{CacheCluster, ClusterMode};
use crate::engine_client::NodeClient;
use crate::fixtures;
use crate::resources::{CLUSTER, NODE_GROUP, ROLE_PRIMARY, ROLE_REPLICA};
use crate::sharding::Topology;

/// Three node groups of a primary and a replica, each engine on its own loopback address (the pod IP) and the
/// cluster's port.
struct Nodes {
    port: u16,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ip(group: usize, i: usize) -> String {
    format!("127.0.0.{}", 20 + group * 2 + i)
}

fn pod_name(group: usize, i: usize) -> String {
    format!("sessions-{:04}-{i}", group + 1)
}

impl Nodes {
    fn start() -> Nodes {
        let binary = crate::platform::local::engine_binary::locate_or_build().expect("engine");
        let port = std::net::TcpListener::bind((ip(0, 0).as_str(), 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir =
            std::env::temp_dir().join(format!("ferrocache-sharded-k8s-{}", std::process::id()));
        let mut children = Vec::new();
        for group in 0..3 {
            for i in 0..2 {
                let node_dir = dir.join(pod_name(group, i));
                std::fs::create_dir_all(&node_dir).expect("node directory");
                let child = Command::new(&binary)
                    .args(["--bind", &ip(group, i), "--port", &port.to_string()])
                    .args(["--dir", &node_dir.display().to_string()])
                    .args(["--metrics-port", "0", "--cluster-enabled", "yes"])
                    .args(["--loglevel", "warning"])
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("start engine");
                children.push(child);
            }
        }
        let nodes = Nodes {
            port,
            children,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        for group in 0..3 {
            for i in 0..2 {
                while std::net::TcpStream::connect((ip(group, i).as_str(), port)).is_err() {
                    assert!(
                        Instant::now() < deadline,
                        "{} did not start",
                        pod_name(group, i)
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        nodes
    }

    /// The pods as the API server lists them: labelled with group and role, ready, with their addresses.
    fn pods(&self) -> Vec<Pod> {
        let mut pods = Vec::new();
        for group in 0..3 {
            for i in 0..2 {
                let role = if i == 0 { ROLE_PRIMARY } else { ROLE_REPLICA };
                let mut pod = fixtures::pod(&pod_name(group, i), Some(role), true);
                pod.labels_mut()
                    .insert(NODE_GROUP.into(), format!("{:04}", group + 1));
                pod.labels_mut().insert(CLUSTER.into(), "sessions".into());
                if let Some(status) = pod.status.as_mut() {
                    status.pod_ip = Some(ip(group, i));
                }
                pods.push(pod);
            }
        }
        pods
    }

    fn client(&self, group: usize, i: usize) -> NodeClient {
        let address = format!("{}:{}", ip(group, i), self.port)
            .parse()
            .expect("address");
        NodeClient::new(pod_name(group, i), address, Duration::from_secs(2))
    }

    async fn topology(&self, group: usize, i: usize) -> Option<Topology> {
        let json = self
            .client(group, i)
            .topology()
            .await
            .expect("GETTOPOLOGY")?;
        Some(Topology::parse(&json).expect("a valid document"))
    }
}

fn sharded(shards: i32, port: u16) -> CacheCluster {
    let mut cluster = fixtures::cluster(fixtures::REDIS_SINGLE_NODE);
    cluster.spec.cluster_mode = ClusterMode::Enabled;
    cluster.spec.num_node_groups = shards;
    cluster.spec.replicas_per_node_group = 1;
    cluster.spec.port = Some(i32::from(port));
    cluster
}

/// One reconcile's sharding step with `calls` expected of the API server; the status it computes is kept on
/// `cluster` for the next step.
async fn step(cluster: &mut CacheCluster, nodes: &Nodes, calls: Vec<Call>) -> Outcome {
    let (ctx, server) = Context::test();
    let server = server.run(calls);
    let pods = nodes.pods();
    let outcome = {
        let reach = replication::reach(cluster, &ctx, "testns", &pods)
            .await
            .expect("reach");
        // The StatefulSets that exist: those of the shards in status (a leaving one until it is removed), and
        // the wanted ones.
        let published = cluster.status.as_ref().map_or(0, |s| s.shards.len());
        let existing: std::collections::BTreeMap<i32, ()> = (0..i32::try_from(published)
            .expect("a few"))
            .map(|g| (g, ()))
            .collect();
        let built = shards::groups_to_build(cluster, &existing);
        shards::converge(cluster, &ctx, "testns", &pods, &reach, built, true)
            .await
            .expect("converge")
    };
    finished(ctx, server).await;
    let status = cluster.status.get_or_insert_with(Default::default);
    status.shards = outcome.shards.clone();
    status.topology_epoch = outcome.epoch;
    status.slot_migration = outcome.migration.clone();
    outcome
}

/// Waits until the migration in `outcome` is done on its source.
async fn migration_done(nodes: &Nodes, outcome: &Outcome) {
    let migration = outcome.migration.as_ref().expect("a migration started");
    let group: usize = migration.source_pod["sessions-".len()..][..4]
        .parse::<usize>()
        .expect("group")
        - 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let all = nodes
            .client(group, 0)
            .slot_migrations()
            .await
            .expect("migrations");
        let state = all
            .iter()
            .rev()
            .find(|m| {
                m.get("direction").map(String::as_str) == Some("export")
                    && m.get("peer") == Some(&migration.target_node_id)
                    && m.get("slot_ranges") == Some(&migration.slots)
            })
            .and_then(|m| m.get("state").cloned());
        if state.as_deref() == Some("success") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the migration did not finish: {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The API server's answer to a delete.
fn deleted() -> Reply {
    Reply::Json(serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200,
    }))
}

fn counts(outcome: &Outcome) -> Vec<i32> {
    outcome.shards.iter().map(|s| s.slot_count).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_nodes_get_the_topology_and_reshard_one_migration_at_a_time() {
    let nodes = Nodes::start();
    let mut cluster = sharded(2, nodes.port);

    // A new cluster of two shards: every node of the two built groups gets epoch 1, slots spread evenly; the
    // third group's nodes are not part of it. Nothing is asked of the API server.
    let created = step(&mut cluster, &nodes, vec![]).await;
    assert_eq!(created.epoch, Some(1));
    assert_eq!(counts(&created), [8192, 8192]);
    assert_eq!(
        created.shards[0].primary.as_deref(),
        Some("sessions-0001-0")
    );
    assert_eq!(created.shards[0].replicas, ["sessions-0001-1"]);
    for (group, i) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let doc = nodes.topology(group, i).await.expect("a topology");
        assert_eq!(doc.epoch, 1);
        assert_eq!(doc.shards.len(), 2);
    }
    assert!(nodes.topology(2, 0).await.is_none());
    // Nothing changed: nothing is published again.
    assert_eq!(step(&mut cluster, &nodes, vec![]).await.epoch, Some(1));

    let address = format!("redis://{}:{}/", ip(0, 0), nodes.port);
    let mut con = redis::cluster::ClusterClientBuilder::new(vec![address])
        .retries(12)
        .build()
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("cluster connection");
    for k in 0..2000 {
        let () = con.set(format!("key:{k}"), k).await.expect("SET");
    }

    // Three shards: the new one joins the topology with no slots, then each step moves slots to it, one
    // migration at a time, each announced and reported by an Event.
    cluster.spec.num_node_groups = 3;
    let first = step(&mut cluster, &nodes, vec![Call::event("MovingSlots")]).await;
    assert_eq!(first.epoch, Some(2), "the new shard is published first");
    let moving = first.migration.clone().expect("a migration");
    assert_eq!(moving.to, "sessions-0003");
    assert!(first
        .progress
        .as_deref()
        .is_some_and(|p| p.contains("moving")));
    migration_done(&nodes, &first).await;
    let moved = step(&mut cluster, &nodes, vec![Call::event("SlotsMoved")]).await;
    assert!(moved.migration.is_none());
    let second = step(&mut cluster, &nodes, vec![Call::event("MovingSlots")]).await;
    let next = second.migration.clone().expect("the second migration");
    assert_ne!(next.from, moving.from, "each source gives its own excess");
    migration_done(&nodes, &second).await;
    step(&mut cluster, &nodes, vec![Call::event("SlotsMoved")]).await;
    let balanced = step(&mut cluster, &nodes, vec![]).await;
    assert_eq!(counts(&balanced), [5462, 5461, 5461]);
    assert!(balanced.migration.is_none() && balanced.progress.is_none());
    for k in 0..2000 {
        let value: Option<i64> = con.get(format!("key:{k}")).await.expect("GET");
        assert_eq!(value, Some(k), "key:{k} after scale-out");
    }

    // Back to two: the third shard's slots move back, then it is removed — the topology without it first,
    // then its StatefulSet, headless Service and budget, in that order, with Events.
    cluster.spec.num_node_groups = 2;
    let mut removal = None;
    for _ in 0..6 {
        let drained = cluster
            .status
            .as_ref()
            .and_then(|s| s.shards.get(2))
            .is_some_and(|s| s.slot_count == 0);
        if drained {
            let calls = vec![
                Call::new(
                    Method::DELETE,
                    path::stateful_set("sessions-0003"),
                    deleted(),
                ),
                Call::new(
                    Method::DELETE,
                    path::core("services", "sessions-0003"),
                    deleted(),
                ),
                Call::new(
                    Method::DELETE,
                    path::group("policy/v1", "poddisruptionbudgets", "sessions-0003"),
                    Reply::NotFound,
                ),
                Call::event("ShardRemoved"),
                Call::event("Resharded"),
            ];
            removal = Some(step(&mut cluster, &nodes, calls).await);
            break;
        }
        let outcome = if cluster
            .status
            .as_ref()
            .and_then(|s| s.slot_migration.as_ref())
            .is_some()
        {
            step(&mut cluster, &nodes, vec![Call::event("SlotsMoved")]).await
        } else {
            let outcome = step(&mut cluster, &nodes, vec![Call::event("MovingSlots")]).await;
            assert_eq!(
                outcome.migration.as_ref().map(|m| m.from.as_str()),
                Some("sessions-0003")
            );
            migration_done(&nodes, &outcome).await;
            outcome
        };
        assert!(outcome.refusal.is_none());
    }
    let removed = removal.expect("the third shard drained and removed");
    assert_eq!(counts(&removed), [8192, 8192]);
    let doc = nodes.topology(0, 0).await.expect("topology");
    assert_eq!(
        doc.shards.len(),
        2,
        "the published topology has no third shard"
    );
    assert_eq!(Some(doc.epoch as i64), removed.epoch);
    assert!(doc.slot_map().is_complete());
    for k in 0..2000 {
        let value: Option<i64> = con.get(format!("key:{k}")).await.expect("GET");
        assert_eq!(value, Some(k), "key:{k} after scale-in");
    }
}
