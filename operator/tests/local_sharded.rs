//! Sharded (cluster mode) clusters on the local platform with real `ferrocache-engine` processes, driven by the
//! `redis` crate's cluster client through the configuration endpoint: creation, online resharding under load,
//! and a shard primary killed under load. Fixtures are in `common/`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{settings, write_manifest, Running};
use ferrocache_operator::local::{self, Event, LocalCluster, LocalSettings};
use redis::cluster_async::ClusterConnection;
use redis::AsyncCommands;

/// Resharding moves 100k keys several times on a 2-core machine: longer than the other local tests.
const BUDGET: Duration = Duration::from_secs(240);

fn manifest(name: &str, shards: u32) -> String {
    format!(
        "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: {name}\nspec:\n  \
         engine: redis\n  clusterMode: enabled\n  numNodeGroups: {shards}\n  replicasPerNodeGroup: 1\n  \
         automaticFailoverEnabled: true\n"
    )
}

fn manifest_path(test: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("ferrocache-sharded-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("manifest directory");
    dir.join("cluster.yaml")
}

fn watching(test: &str, file: &Path) -> LocalSettings {
    let mut settings = settings(test);
    settings.manifest_files = vec![file.to_path_buf()];
    settings.watch_interval = Duration::from_millis(200);
    settings.health_interval = Duration::from_millis(300);
    settings
}

async fn start(file: &Path, settings: LocalSettings) -> LocalCluster {
    let manifests = local::load(&[file]).expect("manifest loads");
    LocalCluster::start(manifests, settings)
        .await
        .expect("cluster starts")
}

/// Writes `manifest` for test `test` and starts the cluster it describes, watching the file for edits; returns
/// the file, the cluster and its configuration endpoint.
async fn start_file(test: &str, manifest: &str) -> (PathBuf, LocalCluster, SocketAddr) {
    let file = manifest_path(test);
    write_manifest(&file, manifest);
    let cluster = start(&file, watching(test, &file)).await;
    let configuration = cluster
        .endpoints()
        .configuration
        .expect("a sharded cluster has a configuration endpoint");
    (file, cluster, configuration)
}

async fn cluster_client(configuration: SocketAddr) -> ClusterConnection {
    redis::cluster::ClusterClientBuilder::new(vec![format!("redis://{configuration}/")])
        .retries(12)
        .connection_timeout(Duration::from_secs(1))
        .response_timeout(Duration::from_secs(2))
        .build()
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("cluster connection")
}

/// `CLUSTER SHARDS` as (slot count, node count) per shard, through the configuration endpoint.
async fn shards(configuration: SocketAddr) -> Vec<(u32, usize)> {
    let client = redis::Client::open(format!("redis://{configuration}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let reply: Vec<BTreeMap<String, redis::Value>> = redis::cmd("CLUSTER")
        .arg("SHARDS")
        .query_async(&mut con)
        .await
        .unwrap();
    reply
        .iter()
        .map(|shard| {
            let slots: Vec<u32> = match shard.get("slots") {
                Some(v) => redis::from_redis_value(v.clone()).unwrap(),
                None => Vec::new(),
            };
            let nodes = match shard.get("nodes") {
                Some(redis::Value::Array(n)) => n.len(),
                _ => 0,
            };
            let count = slots.chunks(2).map(|r| r[1] - r[0] + 1).sum();
            (count, nodes)
        })
        .collect()
}

/// Waits until every shard's replica has acknowledged everything its primary has (`WAIT 1` on each primary,
/// found through `CLUSTER SHARDS`).
async fn replicated(configuration: SocketAddr) {
    let client = redis::Client::open(format!("redis://{configuration}/")).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let reply: Vec<BTreeMap<String, redis::Value>> = redis::cmd("CLUSTER")
        .arg("SHARDS")
        .query_async(&mut con)
        .await
        .unwrap();
    for shard in reply {
        let Some(redis::Value::Array(nodes)) = shard.get("nodes") else {
            continue;
        };
        for node in nodes {
            let node: BTreeMap<String, redis::Value> =
                redis::from_redis_value(node.clone()).unwrap();
            let field = |name: &str| -> String {
                node.get(name)
                    .map(|v| redis::from_redis_value(v.clone()).unwrap())
                    .unwrap_or_default()
            };
            if field("role") != "master" {
                continue;
            }
            let address = format!("redis://{}:{}/", field("ip"), field("port"));
            let primary = redis::Client::open(address).unwrap();
            let mut primary = primary.get_multiplexed_async_connection().await.unwrap();
            let acked: i64 = redis::cmd("WAIT")
                .arg(1)
                .arg(10_000)
                .query_async(&mut primary)
                .await
                .unwrap();
            assert_eq!(acked, 1, "the replica of {} acknowledged", field("port"));
        }
    }
}

/// Clients writing and reading their own keys until stopped; every acknowledged write is remembered and any
/// error the cluster client could not absorb is counted.
struct Load {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<BTreeMap<String, u64>>>,
    failures: Arc<Mutex<Vec<String>>>,
    operations: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(con: &ClusterConnection, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(BTreeMap::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let operations = Arc::new(AtomicU64::new(0));
        let tasks = (0..clients)
            .map(|c| {
                let (stop, acked, failures, operations) = (
                    stop.clone(),
                    acked.clone(),
                    failures.clone(),
                    operations.clone(),
                );
                let mut con = con.clone();
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        let key = format!("load:{c}:{}", n % 500);
                        let outcome: redis::RedisResult<()> = con.set(&key, n).await;
                        match outcome {
                            Ok(()) => drop(acked.lock().unwrap().insert(key.clone(), n)),
                            Err(e) => failures.lock().unwrap().push(format!("SET {key}: {e}")),
                        }
                        let read: redis::RedisResult<Option<u64>> = con.get(&key).await;
                        match read {
                            Ok(Some(v)) if v == n => {}
                            Ok(other) => failures
                                .lock()
                                .unwrap()
                                .push(format!("GET {key}: {other:?}, wanted {n}")),
                            Err(e) => failures.lock().unwrap().push(format!("GET {key}: {e}")),
                        }
                        operations.fetch_add(2, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(2)).await;
                    }
                })
            })
            .collect();
        Load {
            stop,
            acked,
            failures,
            operations,
            tasks,
        }
    }

    async fn stop(self) -> (BTreeMap<String, u64>, Vec<String>, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        let acked = self.acked.lock().unwrap().clone();
        let failures = self.failures.lock().unwrap().clone();
        (acked, failures, self.operations.load(Ordering::Relaxed))
    }
}

/// Writes `count` keys of 100 bytes with several clients at once.
async fn fill(con: &ClusterConnection, count: u64) {
    let writers = 16;
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let mut con = con.clone();
            tokio::spawn(async move {
                for i in (w..count).step_by(writers as usize) {
                    let _: () = con
                        .set(format!("key:{i}"), format!("{i:0>100}"))
                        .await
                        .expect("fill SET");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("fill task");
    }
}

async fn assert_all_present(con: &mut ClusterConnection, count: u64) {
    for i in 0..count {
        let value: Option<String> = con.get(format!("key:{i}")).await.expect("GET");
        assert_eq!(
            value,
            Some(format!("{i:0>100}")),
            "key:{i} survives resharding"
        );
    }
}

async fn reshard(running: &mut Running, file: &Path, test: &str, to: u32) -> Vec<Event> {
    write_manifest(file, &manifest(test, to));
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let event = running
            .event("resharding to finish", BUDGET, |_| true)
            .await;
        assert!(
            !matches!(event, Event::Problem(_)),
            "resharding to {to}: {event}"
        );
        let done = matches!(event, Event::Resharded { shards } if shards == to as usize);
        seen.push(event);
        if done {
            println!(
                "resharded to {to} shards in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_reshard_to_five_and_to_two_under_load_losing_nothing() {
    tokio::time::timeout(BUDGET, async {
        let test = "reshard";
        let (file, cluster, configuration) = start_file(test, &manifest(test, 3)).await;
        assert!(cluster.endpoints().primary.is_none());
        assert_eq!(
            cluster.slot_counts().values().copied().collect::<Vec<_>>(),
            vec![5462, 5461, 5461]
        );
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        assert_eq!(
            shards(configuration).await,
            vec![(5462, 2), (5461, 2), (5461, 2)]
        );

        let mut con = cluster_client(configuration).await;
        let keys = 100_000;
        fill(&con, keys).await;
        let load = Load::start(&con, 4);

        let events = reshard(&mut running, &file, test, 5).await;
        let added = events
            .iter()
            .filter(|e| matches!(e, Event::ShardAdded { .. }))
            .count();
        assert_eq!(added, 2);
        let mut counts: Vec<u32> = shards(configuration).await.iter().map(|s| s.0).collect();
        counts.sort_unstable();
        assert_eq!(counts, vec![3276, 3277, 3277, 3277, 3277]);

        let events = reshard(&mut running, &file, test, 2).await;
        let removed = events
            .iter()
            .filter(|e| matches!(e, Event::ShardRemoved { .. }))
            .count();
        assert_eq!(removed, 3);
        assert_eq!(shards(configuration).await, vec![(8192, 2), (8192, 2)]);

        let (acked, failures, operations) = load.stop().await;
        assert!(operations > 100, "the load ran ({operations} operations)");
        assert!(
            failures.is_empty(),
            "{} of {operations} operations failed, e.g. {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        assert_all_present(&mut con, keys).await;
        for (key, value) in acked {
            let now: Option<u64> = con.get(&key).await.expect("GET");
            assert_eq!(now, Some(value), "{key} keeps its last acknowledged write");
        }
        running.stop().await;
    })
    .await
    .expect("within the test budget");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shard_primary_is_replaced_and_its_slots_take_writes_again() {
    tokio::time::timeout(BUDGET, async {
        let test = "failover";
        let (_, cluster, configuration) = start_file(test, &manifest(test, 3)).await;
        let primary = cluster
            .primary(0)
            .expect("shard 1 has a primary")
            .to_string();
        let pid = cluster.pid(&primary).expect("primary pid");
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        let mut con = cluster_client(configuration).await;
        // A key in the first shard's slots (0-5461): slot of "{a}" is 15495, of "{b}" 3300.
        let key = "{b}:counter";

        // Write steadily; measure the longest time between two acknowledged writes around the kill.
        let writer = {
            let mut con = con.clone();
            tokio::spawn(async move {
                let (mut last, mut gap, mut n) = (Instant::now(), Duration::ZERO, 0u64);
                let deadline = Instant::now() + Duration::from_secs(12);
                while Instant::now() < deadline {
                    if con.set::<_, _, ()>(key, n).await.is_ok() {
                        gap = gap.max(last.elapsed());
                        last = Instant::now();
                        n += 1;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                (gap, n)
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        // SAFETY: kill(2) with a pid of a child this test's cluster started.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        running
            .event("the failover", Duration::from_secs(10), |e| {
                matches!(e, Event::Failover(_))
            })
            .await;
        let (gap, writes) = writer.await.expect("writer");
        println!(
            "longest write gap around the kill: {:.2} s",
            gap.as_secs_f64()
        );
        assert!(writes > 100, "writes went on ({writes})");
        assert!(
            gap < Duration::from_secs(3),
            "writes to the shard came back within 3 s (took {gap:?})"
        );
        let value: Option<u64> = con.get(key).await.expect("GET after failover");
        assert_eq!(value, Some(writes - 1));
        // Every node knows the new primary: each shard still has its two nodes.
        assert_eq!(
            shards(configuration)
                .await
                .iter()
                .map(|s| s.1)
                .collect::<Vec<_>>(),
            vec![2, 2, 2]
        );
        running.stop().await;
    })
    .await
    .expect("within the test budget");
}

/// Every node of every shard killed in turn (kill -9), each time once the one before is back: primaries fail
/// over and return as replicas, replicas are replaced and full-sync; afterwards every key is there and the
/// slots are where they were. (A local run starts empty when it starts again; a node restarting under a running
/// cluster is what keeps data, as pods of a StatefulSet do.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_killed_in_turn_keeps_every_key_and_the_slot_map() {
    tokio::time::timeout(BUDGET, async {
        let test = "restart";
        let (_, cluster, configuration) = start_file(test, &manifest(test, 3)).await;
        let nodes: Vec<(String, u32)> = (1..=3)
            .flat_map(|g| (0..2).map(move |i| format!("{test}-{g:04}-{i}")))
            .map(|node| {
                let pid = cluster.pid(&node).expect("a running node");
                (node, pid)
            })
            .collect();
        let layout = shards(configuration).await;
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        let mut con = cluster_client(configuration).await;
        let keys = 20_000;
        fill(&con, keys).await;

        for (node, pid) in &nodes {
            // Replication is asynchronous: a kill -9 of a primary loses what its replica has not received yet,
            // on Redis as here. Each kill waits until every replica has everything (WAIT on every primary).
            replicated(configuration).await;
            // SAFETY: kill(2) with a pid of a child this test's cluster started.
            assert_eq!(unsafe { libc::kill(*pid as i32, libc::SIGKILL) }, 0);
            running
                .event(&format!("{node} back"), Duration::from_secs(60), |e| {
                    matches!(e, Event::NodeReplaced { node: n, .. } if n == node)
                        || matches!(e, Event::Failover(r) if &r.old_primary == node)
                })
                .await;
        }
        assert_eq!(shards(configuration).await, layout, "the slots stay put");
        assert_all_present(&mut con, keys).await;
        running.stop().await;
    })
    .await
    .expect("within the test budget");
}

/// A scale-in whose data would not fit the remaining shards' `maxmemory` is refused with the numbers: no slot
/// moves and every key stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_in_whose_data_would_not_fit_is_refused_and_nothing_moves() {
    tokio::time::timeout(BUDGET, async {
        let test = "refuse";
        let sized = |shards: u32| {
            format!(
                "{}  resources:\n    limits:\n      memory: 8Mi\n",
                manifest(test, shards)
            )
        };
        let (file, cluster, configuration) = start_file(test, &sized(3)).await;
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        let mut con = cluster_client(configuration).await;
        // About 11.5 MiB of values: more than 90% of two shards' 12 MiB.
        let value = "v".repeat(1000);
        for i in 0..12_000 {
            let () = con.set(format!("big:{i}"), &value).await.expect("SET");
        }
        write_manifest(&file, &sized(2));
        let event = running
            .event("the refusal", Duration::from_secs(30), |e| {
                matches!(e, Event::Problem(_) | Event::MovingSlots { .. })
            })
            .await;
        let Event::Problem(message) = &event else {
            panic!("slots moved instead of a refusal: {event}");
        };
        assert!(message.contains("from 3 to 2 shards refused"), "{message}");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            shards(configuration)
                .await
                .iter()
                .map(|s| s.0)
                .collect::<Vec<_>>(),
            vec![5462, 5461, 5461],
            "no slot moved"
        );
        let kept: Option<String> = con.get("big:11999").await.expect("GET");
        assert_eq!(kept.as_deref(), Some(value.as_str()));
        running.stop().await;
    })
    .await
    .expect("within the test budget");
}

/// `nodeGroupConfiguration`: the configured slots are the first layout, each shard has its own replica count,
/// and editing one shard's count scales only that shard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_shards_start_with_their_slots_and_replica_counts() {
    tokio::time::timeout(BUDGET, async {
        let test = "configured";
        let configured = |second_replicas: u32| {
            format!(
                "{}  nodeGroupConfiguration:\n    - slots: \"0-99,10000-16383\"\n    - slots: \"100-9999\"\n      \
                 replicaCount: {second_replicas}\n",
                manifest(test, 2)
            )
        };
        let (file, cluster, configuration) = start_file(test, &configured(2)).await;
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        assert_eq!(shards(configuration).await, vec![(6484, 2), (9900, 3)]);

        write_manifest(&file, &configured(1));
        running
            .event("a replica removed", Duration::from_secs(30), |e| {
                matches!(e, Event::ReplicaRemoved { .. })
            })
            .await;
        assert_eq!(shards(configuration).await, vec![(6484, 2), (9900, 2)]);
        running.stop().await;
    })
    .await
    .expect("within the test budget");
}
