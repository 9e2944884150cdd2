//! Day-2 operations on the local platform with real `ferrocache-engine` processes: edits of the manifest file
//! the cluster was started from (scaling, dynamic parameters, rolling patches inside and outside the
//! maintenance window, refused edits) and usage metering. Fixtures are in `common/`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    config_get, connection, eventually, info_field, info_in, query, replica_addresses, settings,
    write_manifest, Running, TEST_BUDGET,
};
use ferrocache_operator::local::{self, Event, LocalCluster, LocalSettings};
use ferrocache_operator::rollout::Clock;

/// A CacheCluster and the parameter group it names, in one file.
fn manifest(name: &str, replicas: u32, extra_spec: &str, parameters: &str) -> String {
    let failover = replicas > 0;
    format!(
        "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: {name}\nspec:\n  \
         engine: redis\n  replicasPerNodeGroup: {replicas}\n  automaticFailoverEnabled: {failover}\n  \
         cacheParameterGroupName: {name}-params\n  preferredMaintenanceWindow: sun:05:00-sun:06:00\n{extra_spec}\
         ---\napiVersion: ferrocache.io/v1alpha1\nkind: CacheParameterGroup\nmetadata:\n  name: {name}-params\n\
         spec:\n  family: redis7\n  parameters:\n{parameters}"
    )
}

/// Settings that follow `file`, with a state directory of their own.
fn watching(test: &str, file: &Path) -> LocalSettings {
    let mut settings = settings(test);
    settings.manifest_files = vec![file.to_path_buf()];
    settings.watch_interval = Duration::from_millis(200);
    settings
}

fn manifest_path(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferrocache-day2-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("manifest directory");
    dir.join("cluster.yaml")
}

async fn start(file: &Path, settings: LocalSettings) -> LocalCluster {
    let manifests = local::load(&[file]).expect("manifest loads");
    LocalCluster::start(manifests, settings)
        .await
        .expect("cluster starts")
}

async fn node_address(cluster: &LocalCluster, node: &str) -> SocketAddr {
    cluster
        .endpoints()
        .nodes
        .iter()
        .find(|(n, _)| n == node)
        .map(|(_, a)| *a)
        .expect("node address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scaling_replicas_one_to_three_to_zero_keeps_the_data() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("scale");
        let params = "    maxmemory-policy: allkeys-lru\n";
        let edit = |replicas: u32| {
            // Without replicas there is no failover; the test keeps the same setting throughout.
            manifest("scale", replicas, "", params).replace(
                "automaticFailoverEnabled: true",
                "automaticFailoverEnabled: false",
            )
        };
        write_manifest(&file, &edit(1));
        let cluster = start(&file, watching("scale", &file)).await;
        let primary = cluster.endpoints().primary.expect("primary endpoint");
        let reader = cluster.endpoints().reader.expect("reader endpoint");
        let primary_node = node_address(&cluster, cluster.primary(0).expect("a primary")).await;
        let mut running = Running::start(cluster, Duration::from_secs(3600));

        let mut con = connection(primary).await.unwrap();
        for i in 0..500 {
            let _: () = redis::cmd("SET")
                .arg(format!("item:{i}"))
                .arg(i)
                .query_async(&mut con)
                .await
                .unwrap();
        }
        let acked: i64 = redis::cmd("WAIT")
            .arg(1)
            .arg(2000)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(acked, 1);

        write_manifest(&file, &edit(3));
        for _ in 0..2 {
            running
                .event("a replica added", Duration::from_secs(30), |e| {
                    matches!(e, Event::ReplicaAdded { .. })
                })
                .await;
        }
        let replicas = replica_addresses(primary_node).await;
        assert_eq!(replicas.len(), 3, "three replicas follow the primary");
        for replica in &replicas {
            assert_eq!(
                info_field(*replica, "master_link_status").await.as_deref(),
                Some("up")
            );
            let value: Option<String> = query(*replica, redis::cmd("GET").arg("item:499"))
                .await
                .unwrap();
            assert_eq!(
                value.as_deref(),
                Some("499"),
                "{replica} has the data after its full sync"
            );
            let keys: i64 = query(*replica, &redis::cmd("DBSIZE")).await.unwrap();
            assert_eq!(keys, 500);
        }

        let acked: i64 = redis::cmd("WAIT")
            .arg(3)
            .arg(2000)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(acked, 3, "every new replica acknowledges writes");
        // Scale in under a read/write load.
        let _: () = redis::cmd("SET")
            .arg("seed")
            .arg("planted")
            .query_async(&mut con)
            .await
            .unwrap();
        let load = Load::start(primary, reader);
        tokio::time::sleep(Duration::from_millis(300)).await;
        write_manifest(&file, &edit(0));
        for _ in 0..3 {
            running
                .event("a replica removed", Duration::from_secs(30), |e| {
                    matches!(e, Event::ReplicaRemoved { .. })
                })
                .await;
        }
        eventually(
            "the primary to list no replica",
            Duration::from_secs(10),
            async || replica_addresses(primary_node).await.is_empty(),
        )
        .await;
        for replica in &replicas {
            assert!(connection(*replica).await.is_err(), "{replica} is stopped");
        }
        let (acked, read_failures, reads, _) = load.finish().await;
        println!(
            "scale-in under load: {reads} reads, {} writes acknowledged by a replica",
            acked.len()
        );
        assert!(
            read_failures.is_empty(),
            "reads failed during the scale-in: {read_failures:?}"
        );
        for key in &acked {
            let value: Option<String> = query(primary, redis::cmd("GET").arg(key)).await.unwrap();
            assert!(
                value.is_some(),
                "{key} was acknowledged and must survive the scale-in"
            );
        }
        let items: Vec<String> = (0..500).map(|i| format!("item:{i}")).collect();
        let values: Vec<Option<String>> = query(primary, redis::cmd("MGET").arg(&items))
            .await
            .unwrap();
        assert!(
            values.iter().all(Option::is_some),
            "the primary kept every key"
        );
        let value: Option<String> = query(reader, redis::cmd("GET").arg("item:7"))
            .await
            .unwrap();
        assert_eq!(
            value.as_deref(),
            Some("7"),
            "the reader endpoint falls back to the primary"
        );
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_parameters_apply_live_and_bad_edits_leave_the_cluster_untouched() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("dynamic");
        write_manifest(&file, &manifest("dynamic", 1, "", "    timeout: \"0\"\n"));
        let cluster = start(&file, watching("dynamic", &file)).await;
        let nodes: Vec<SocketAddr> = cluster.endpoints().nodes.iter().map(|(_, a)| *a).collect();
        let mut run_ids = Vec::new();
        for node in &nodes {
            run_ids.push(info_in(*node, "server", "run_id").await.expect("run_id"));
        }
        let mut running = Running::start(cluster, Duration::from_secs(3600));

        write_manifest(
            &file,
            &manifest(
                "dynamic",
                1,
                "",
                "    timeout: \"300\"\n    maxmemory-policy: allkeys-lfu\n",
            ),
        );
        let event = running
            .event("parameters set", Duration::from_secs(10), |e| {
                matches!(e, Event::ParametersSet { .. })
            })
            .await;
        assert!(
            matches!(event, Event::ParametersSet { nodes: 2, .. }),
            "{event}"
        );
        for (node, run_id) in nodes.iter().zip(&run_ids) {
            assert_eq!(config_get(*node, "timeout").await.as_deref(), Some("300"));
            assert_eq!(
                config_get(*node, "maxmemory-policy").await.as_deref(),
                Some("allkeys-lfu")
            );
            assert_eq!(
                info_in(*node, "server", "run_id").await.as_ref(),
                Some(run_id),
                "{node} was not restarted"
            );
        }

        // Broken YAML, a rule violation, a refused change: each reported, nothing applied.
        for (broken, expect) in [
            ("kind: CacheCluster\nspec: [\n".to_string(), "cluster.yaml"),
            (
                manifest("dynamic", 1, "", "    timeout: \"-5\"\n"),
                "parameter timeout",
            ),
            (
                manifest("dynamic", 1, "  numNodeGroups: 2\n", "    timeout: \"0\"\n"),
                "numNodeGroups",
            ),
            (
                manifest("dynamic", 1, "", "    timeout: \"0\"\n")
                    .replace("engine: redis", "engine: memcached\n  numCacheNodes: 2")
                    .replace("family: redis7", "family: memcached1.6")
                    .replace("replicasPerNodeGroup: 1", "replicasPerNodeGroup: 0")
                    .replace(
                        "automaticFailoverEnabled: true",
                        "automaticFailoverEnabled: false",
                    ),
                // The CRD's transition rule, as the API server would answer.
                "engine is immutable",
            ),
        ] {
            write_manifest(&file, &broken);
            let event = running
                .event("the edit to be rejected", Duration::from_secs(10), |e| {
                    matches!(e, Event::EditRejected(_))
                })
                .await;
            println!("{event}");
            assert!(
                event.to_string().contains(expect),
                "{event} should mention {expect}"
            );
        }
        for (node, run_id) in nodes.iter().zip(&run_ids) {
            assert_eq!(
                config_get(*node, "timeout").await.as_deref(),
                Some("300"),
                "untouched"
            );
            assert_eq!(
                info_in(*node, "server", "run_id").await.as_ref(),
                Some(run_id)
            );
        }
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

/// Writes through the primary endpoint and reads through the reader endpoint until stopped, recording
/// failures and the keys acknowledged with `WAIT 1`.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    read_failures: Arc<Mutex<Vec<String>>>,
    reads: Arc<AtomicU64>,
    longest_write_gap: Arc<Mutex<Duration>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(primary: SocketAddr, reader: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let read_failures = Arc::new(Mutex::new(Vec::new()));
        let reads = Arc::new(AtomicU64::new(0));
        let longest_write_gap = Arc::new(Mutex::new(Duration::ZERO));
        let writer = {
            let (stop, acknowledged, gap) = (
                stop.clone(),
                acknowledged.clone(),
                longest_write_gap.clone(),
            );
            tokio::spawn(async move {
                let mut last_ok = Instant::now();
                let mut con = None;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    if con.is_none() {
                        con = connection(primary).await.ok();
                    }
                    let Some(c) = con.as_mut() else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let key = format!("load:{i}");
                    let set: redis::RedisResult<()> =
                        redis::cmd("SET").arg(&key).arg(i).query_async(c).await;
                    let waited: redis::RedisResult<i64> = match set {
                        Ok(()) => redis::cmd("WAIT").arg(1).arg(1000).query_async(c).await,
                        Err(e) => Err(e),
                    };
                    match waited {
                        Ok(n) if n >= 1 => {
                            let now = Instant::now();
                            let mut longest = gap.lock().unwrap();
                            *longest = (*longest).max(now - last_ok);
                            last_ok = now;
                            acknowledged.lock().unwrap().push(key);
                            i += 1;
                        }
                        Ok(_) => i += 1,
                        // READONLY after the switchover, or a closed connection: reconnect.
                        Err(_) => con = None,
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        let reader_task = {
            let (stop, failures, reads) = (stop.clone(), read_failures.clone(), reads.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    // A new connection per read: each one is routed by the reader endpoint afresh.
                    match query::<Option<String>>(reader, redis::cmd("GET").arg("seed")).await {
                        Ok(Some(v)) if v == "planted" => {
                            reads.fetch_add(1, Ordering::Relaxed);
                        }
                        other => failures.lock().unwrap().push(format!("{other:?}")),
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        Load {
            stop,
            acknowledged,
            read_failures,
            reads,
            longest_write_gap,
            tasks: vec![writer, reader_task],
        }
    }

    async fn finish(self) -> (Vec<String>, Vec<String>, u64, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.expect("load task");
        }
        let acked = self.acknowledged.lock().unwrap().clone();
        let failures = self.read_failures.lock().unwrap().clone();
        let gap = *self.longest_write_gap.lock().unwrap();
        (acked, failures, self.reads.load(Ordering::Relaxed), gap)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_patch_keeps_reads_and_acknowledged_writes() {
    tokio::time::timeout(TEST_BUDGET * 2, async {
        let file = manifest_path("patch");
        write_manifest(&file, &manifest("patch", 2, "", "    databases: \"16\"\n"));
        let cluster = start(&file, watching("patch", &file)).await;
        let endpoints = cluster.endpoints();
        let (primary, reader) = (endpoints.primary.unwrap(), endpoints.reader.unwrap());
        let old_primary = cluster.primary(0).unwrap().to_string();
        let _: () = query(primary, redis::cmd("SET").arg("seed").arg("planted")).await.unwrap();
        let _: i64 = query(primary, redis::cmd("WAIT").arg(2).arg(2000)).await.unwrap();
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        let load = Load::start(primary, reader);
        tokio::time::sleep(Duration::from_millis(500)).await;

        let started = Instant::now();
        write_manifest(
            &file,
            &manifest("patch", 2, "  applyImmediately: true\n", "    databases: \"32\"\n"),
        );
        running
            .event("the patch to start", Duration::from_secs(10), |e| matches!(e, Event::PatchStarted))
            .await;
        let switchover = running
            .event("the switchover", Duration::from_secs(60), |e| matches!(e, Event::Switchover(_)))
            .await;
        running
            .event("the patch to finish", Duration::from_secs(60), |e| matches!(e, Event::PatchDone))
            .await;
        let took = started.elapsed();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (acked, read_failures, reads, write_gap) = load.finish().await;
        let Event::Switchover(record) = switchover else { unreachable!() };
        println!(
            "rolling patch of 3 nodes took {:.2} s; switchover {} -> {}: operator-measured write pause {:.3} s, \
             longest gap between acknowledged writes seen by the client {:.3} s; {} reads, {} acknowledged writes",
            took.as_secs_f64(),
            record.from,
            record.to,
            record.write_gap.as_secs_f64(),
            write_gap.as_secs_f64(),
            reads,
            acked.len()
        );
        assert_eq!(record.from, old_primary);
        assert!(read_failures.is_empty(), "reads failed during the rollout: {read_failures:?}");
        assert!(reads > 50, "the reader kept reading ({reads})");
        assert!(acked.len() > 50, "the writer kept writing ({})", acked.len());
        for key in &acked {
            let value: Option<String> = query(primary, redis::cmd("GET").arg(key)).await.unwrap();
            assert!(value.is_some(), "{key} was acknowledged and must survive the rollout");
        }
        let mut nodes = replica_addresses(primary).await;
        assert_eq!(nodes.len(), 2, "both replicas follow the new primary");
        nodes.push(primary);
        for node in nodes {
            assert_eq!(config_get(node, "databases").await.as_deref(), Some("32"), "{node}");
        }
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outside_the_maintenance_window_a_static_change_waits_until_the_window_opens() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("window");
        write_manifest(&file, &manifest("window", 0, "", "    databases: \"16\"\n"));
        let mut settings = watching("window", &file);
        // Monday noon; the window is Sunday 05:00-06:00.
        let clock = Clock::fixed("2024-06-03T12:00:00Z".parse().unwrap());
        settings.clock = clock.clone();
        settings.status_write_interval = Duration::from_millis(200);
        let cluster = start(&file, settings).await;
        let status_file = cluster.status_file();
        let node = cluster.endpoints().nodes[0].1;
        let primary = cluster.endpoints().primary.unwrap();
        let _: () = query(primary, redis::cmd("SET").arg("kept").arg("yes"))
            .await
            .unwrap();
        let mut running = Running::start(cluster, Duration::from_millis(200));

        write_manifest(&file, &manifest("window", 0, "", "    databases: \"32\"\n"));
        let event = running
            .event("the change to wait", Duration::from_secs(10), |e| {
                matches!(e, Event::Pending { .. })
            })
            .await;
        assert!(
            event.to_string().contains("2024-06-09T05:00:00Z"),
            "{event}"
        );
        eventually(
            "the pending change in the status file",
            Duration::from_secs(10),
            async || {
                std::fs::read_to_string(&status_file).is_ok_and(|t| {
                    t.contains("pendingModifiedValues") && t.contains("databases: '32'")
                })
            },
        )
        .await;
        eventually(
            "the pending change on the status line",
            Duration::from_secs(5),
            async || {
                running
                    .line
                    .borrow()
                    .as_ref()
                    .is_some_and(|l| l.to_string().contains("pending[databases=32]"))
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            config_get(node, "databases").await.as_deref(),
            Some("16"),
            "not applied yet"
        );
        assert!(running
            .drain()
            .iter()
            .all(|e| !matches!(e, Event::PatchStarted)));

        // Sunday 05:10: the window is open.
        clock.set("2024-06-09T05:10:00Z".parse().unwrap());
        running
            .event("the patch to finish", Duration::from_secs(30), |e| {
                matches!(e, Event::PatchDone)
            })
            .await;
        assert_eq!(config_get(node, "databases").await.as_deref(), Some("32"));
        let value: Option<String> = query(primary, redis::cmd("GET").arg("kept")).await.unwrap();
        assert_eq!(
            value.as_deref(),
            Some("yes"),
            "a single node keeps its data over the restart"
        );
        eventually(
            "the status file without pending changes",
            Duration::from_secs(10),
            async || {
                std::fs::read_to_string(&status_file)
                    .is_ok_and(|t| !t.contains("pendingModifiedValues"))
            },
        )
        .await;
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

/// Waits until the status line shows `expected` billable units; fails with the last total seen.
async fn wait_for_ecpu(running: &Running, expected: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen = running.line.borrow().as_ref().and_then(|l| l.ecpu_total);
        if seen == Some(expected) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: metered {seen:?}, expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metering_counts_the_documented_units_across_a_node_restart_and_an_operator_restart() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("metering");
        write_manifest(&file, &manifest("metering", 1, "", "    timeout: \"0\"\n"));
        let mut settings = watching("metering", &file);
        settings.metering_interval = Some(Duration::from_millis(300));
        let state_root = settings.state_root.clone();
        let cluster = start(&file, settings).await;
        let primary_name = cluster.primary(0).unwrap().to_string();
        let primary = node_address(&cluster, &primary_name).await;
        let (replica_name, replica) = cluster
            .endpoints()
            .nodes
            .into_iter()
            .find(|(n, _)| *n != primary_name)
            .unwrap();
        let replica_pid = cluster.pid(&replica_name).unwrap();
        let status_file = cluster.status_file();
        let mut running = Running::start(cluster, Duration::from_millis(200));

        // README "Request units": a GET of a missing key costs 1; an MGET of 250 missing 5-byte keys costs 3
        // (elements rule); a GET of a 5000-byte value costs 5 (bytes rule). Health checks, INFO scrapes and
        // connection set-up are not billed. Reads only: writes would also be charged on the replica applying
        // them.
        async fn workload(node: SocketAddr) -> u64 {
            let mut con = connection(node).await.unwrap();
            for i in 0..40 {
                let _: Option<String> = redis::cmd("GET")
                    .arg(format!("missing:{i}"))
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
            let keys: Vec<String> = (0..250).map(|i| format!("m{i:04}")).collect();
            for _ in 0..2 {
                let _: Vec<Option<String>> = redis::cmd("MGET")
                    .arg(&keys)
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
            40 + 2 * 3
        }
        let mut expected = workload(primary).await + workload(replica).await;
        wait_for_ecpu(&running, expected, "the first workload").await;

        let pid = libc::pid_t::try_from(replica_pid).unwrap();
        // SAFETY: kill(2) on a child process id of this test with a valid signal.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        running
            .event("the replica back", Duration::from_secs(20), |e| {
                matches!(e, Event::NodeReplaced { .. })
            })
            .await;
        expected += workload(replica).await;
        wait_for_ecpu(&running, expected, "the restarted node's units").await;
        let line = running
            .line
            .borrow()
            .as_ref()
            .map(|l| l.to_string())
            .unwrap_or_default();
        assert!(line.contains(&format!("ecpuTotal={expected}")), "{line}");
        running.stop().await;

        let status = local::read_status(&status_file).expect("status file written at shutdown");
        let usage = status.usage.expect("usage in status");
        println!("usage after the run: {usage:?}");
        assert_eq!(usage.ecpu_total, i64::try_from(expected).unwrap());
        assert!(usage.period_start.is_some() && usage.last_scrape.is_some());

        // A new run continues from the persisted totals.
        let mut settings = watching("metering-again", &file);
        settings.state_root = state_root;
        let cluster = start(&file, settings).await;
        assert_eq!(cluster.ecpu_total(), expected);
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_nodes_are_metered_without_their_health_checks_and_scrapes() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("mc-metering");
        write_manifest(
            &file,
            "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: mc-metering\nspec:\n  \
             engine: memcached\n  numCacheNodes: 2\n",
        );
        let mut settings = watching("mc-metering", &file);
        settings.metering_interval = Some(Duration::from_millis(300));
        settings.health_interval = Duration::from_millis(100);
        let cluster = start(&file, settings).await;
        let nodes: Vec<SocketAddr> = cluster.endpoints().nodes.iter().map(|(_, a)| *a).collect();
        assert_eq!(nodes.len(), 2);
        let status_file = cluster.status_file();
        let running = Running::start(cluster, Duration::from_millis(200));

        // README "Request units", memcached side: a get of a missing key costs 1; a multi-get of 250 missing
        // keys 3 (elements rule); a set of a 5000-byte value 5 (bytes rule).
        async fn workload(node: SocketAddr) -> u64 {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut stream = tokio::net::TcpStream::connect(node).await.unwrap();
            let mut request = Vec::new();
            for i in 0..40 {
                request.extend_from_slice(format!("get missing:{i}\r\n").as_bytes());
            }
            let keys: Vec<String> = (0..250).map(|i| format!("m{i:04}")).collect();
            for _ in 0..2 {
                request.extend_from_slice(format!("get {}\r\n", keys.join(" ")).as_bytes());
            }
            request.extend_from_slice(b"set big 0 0 5000\r\n");
            request.extend_from_slice(&[b'x'; 5000]);
            request.extend_from_slice(b"\r\n");
            stream.write_all(&request).await.unwrap();
            let expected = b"END\r\n".repeat(42).into_iter().chain(*b"STORED\r\n").collect::<Vec<u8>>();
            let mut reply = Vec::new();
            while reply.len() < expected.len() {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed early");
                reply.extend_from_slice(&buf[..n]);
            }
            assert_eq!(reply, expected);
            40 + 2 * 3 + 5
        }
        let mut expected = 0;
        for node in &nodes {
            expected += workload(*node).await;
        }
        wait_for_ecpu(&running, expected, "the memcached workload").await;
        // Health checks every 100 ms and scrapes every 300 ms go on; none of them is billed.
        tokio::time::sleep(Duration::from_secs(1)).await;
        wait_for_ecpu(&running, expected, "a second later").await;
        running.stop().await;

        let status = local::read_status(&status_file).expect("status file written at shutdown");
        let usage = status.usage.expect("usage in status");
        assert_eq!(usage.ecpu_total, i64::try_from(expected).unwrap());
        assert!(usage.storage_gb_hours > 0.0, "{usage:?}");
    })
    .await
    .expect("test finishes in time");
}

/// An engine wrapper that refuses to start with `databases 99`: a node that cannot come back.
fn engine_refusing_databases_99(test: &str) -> PathBuf {
    let script = manifest_path(test).with_file_name("engine-wrapper.sh");
    let text = format!(
        "#!/bin/sh\n# $1 is --config, $2 the node's configuration file.\n\
         if grep -q '^databases 99$' \"$2\"; then echo 'refusing databases 99' >&2; exit 1; fi\n\
         exec '{}' \"$@\"\n",
        common::engine_binary().display()
    );
    std::fs::write(&script, text).expect("write the wrapper");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    script
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_does_not_come_back_stops_the_rollout_until_the_next_edit() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("halt");
        write_manifest(&file, &manifest("halt", 2, "", "    databases: \"16\"\n"));
        let mut settings = watching("halt", &file);
        settings.engine_binary = engine_refusing_databases_99("halt");
        let cluster = start(&file, settings).await;
        let primary = cluster.endpoints().primary.unwrap();
        let primary_node = cluster.primary(0).unwrap().to_string();
        let mut running = Running::start(cluster, Duration::from_millis(200));

        let immediately = "  applyImmediately: true\n";
        write_manifest(
            &file,
            &manifest("halt", 2, immediately, "    databases: \"99\"\n"),
        );
        let halted = running
            .event("the rollout to stop", Duration::from_secs(30), |e| {
                matches!(e, Event::PatchHalted { .. })
            })
            .await;
        println!("{halted}");
        let Event::PatchHalted { node, reason } = halted else {
            unreachable!()
        };
        assert_ne!(node, primary_node, "replicas go first");
        assert!(
            reason.contains("refusing databases 99") || reason.contains("exited"),
            "{reason}"
        );
        eventually(
            "the status line to say so",
            Duration::from_secs(5),
            async || {
                running.line.borrow().as_ref().is_some_and(|l| {
                    let line = l.to_string();
                    line.contains("patch-stopped")
                        && line.contains(&format!("(rolling patch stopped at {node})"))
                })
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            running
                .drain()
                .iter()
                .all(|e| !matches!(e, Event::NodePatched { .. } | Event::Switchover(_))),
            "no other node is touched"
        );
        let _: () = query(primary, redis::cmd("SET").arg("still").arg("writable"))
            .await
            .unwrap();
        assert_eq!(
            config_get(primary, "databases").await.as_deref(),
            Some("16")
        );

        // Editing the change away resumes: the stopped node comes back with the configuration asked for now.
        write_manifest(
            &file,
            &manifest("halt", 2, immediately, "    databases: \"16\"\n"),
        );
        running
            .event("the rollout to finish", Duration::from_secs(30), |e| {
                matches!(e, Event::PatchDone)
            })
            .await;
        let replicas = replica_addresses(primary).await;
        assert_eq!(replicas.len(), 2, "both replicas follow the primary again");
        for replica in replicas {
            assert_eq!(
                config_get(replica, "databases").await.as_deref(),
                Some("16")
            );
        }
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

/// The node list a memcached node serves for auto discovery (`config get cluster`).
async fn discovered_nodes(address: SocketAddr) -> Vec<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(b"config get cluster\r\n").await.unwrap();
    let mut reply = Vec::new();
    while !reply.ends_with(b"END\r\n") {
        let mut buf = [0u8; 512];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early");
        reply.extend_from_slice(&buf[..n]);
    }
    // CONFIG cluster 0 <len>\r\n<version>\n<host|ip|port ...>\n\r\nEND\r\n
    let text = String::from_utf8_lossy(&reply).to_string();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .get(2)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_num_cache_nodes_changes_update_auto_discovery() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("pages");
        let yaml = |nodes: u32| {
            format!(
                "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: pages\nspec:\n  \
                 engine: memcached\n  numCacheNodes: {nodes}\n"
            )
        };
        write_manifest(&file, &yaml(2));
        let cluster = start(&file, watching("pages", &file)).await;
        let configuration = cluster.endpoints().configuration.unwrap();
        let mut running = Running::start(cluster, Duration::from_secs(3600));
        assert_eq!(discovered_nodes(configuration).await.len(), 2);

        write_manifest(&file, &yaml(3));
        let added = running
            .event("a node added", Duration::from_secs(20), |e| {
                matches!(e, Event::CacheNodeAdded { .. })
            })
            .await;
        let Event::CacheNodeAdded { node } = added else { unreachable!() };
        let listed = discovered_nodes(configuration).await;
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(listed.iter().any(|n| n.starts_with(&format!("{node}|"))), "{listed:?}");

        write_manifest(&file, &yaml(1));
        for _ in 0..2 {
            running
                .event("a node removed", Duration::from_secs(20), |e| {
                    matches!(e, Event::CacheNodeRemoved { .. })
                })
                .await;
        }
        let listed = discovered_nodes(configuration).await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert!(listed[0].starts_with("pages-0001-0|"), "the first node stays: {listed:?}");
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}

/// The engine process serving `port` (found by its command line).
fn engine_pid(port: u16) -> Option<libc::pid_t> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            let serves = args
                .windows(2)
                .any(|w| w[0] == b"--port" && w[1] == port.to_string().as_bytes());
            (serves
                && args
                    .first()
                    .is_some_and(|a| a.ends_with(b"ferrocache-engine")))
            .then_some(pid)
        })
}

/// The node that answers `role:master`.
async fn current_primary(nodes: &[(String, SocketAddr)]) -> SocketAddr {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for (_, address) in nodes {
            if info_in(*address, "replication", "role").await.as_deref() == Some("master") {
                return *address;
            }
        }
        assert!(Instant::now() < deadline, "no primary answers");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_unit_is_lost_when_the_primary_is_killed_right_after_its_last_reply() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("killed-primary");
        write_manifest(
            &file,
            &manifest("killed-primary", 1, "", "    timeout: \"0\"\n"),
        );
        let mut settings = watching("killed-primary", &file);
        settings.metering_interval = Some(Duration::from_millis(300));
        let state_root = settings.state_root.clone();
        let cluster = start(&file, settings).await;
        let nodes = cluster.endpoints().nodes.clone();
        let mut running = Running::start(cluster, Duration::from_millis(200));
        let mut expected = 0;
        for n in [1u64, 57, 400] {
            let primary = current_primary(&nodes).await;
            // Reads: they never reach the replica's stream, so only the billed counter itself can carry them.
            let mut con = connection(primary).await.unwrap();
            for i in 0..n {
                let _: Option<String> = redis::cmd("GET")
                    .arg(format!("missing:{i}"))
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
            let pid = engine_pid(primary.port()).expect("the primary's process");
            // SAFETY: kill(2) on an engine process this test's cluster started, with a valid signal.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
            expected += n;
            running
                .event("the failover", Duration::from_secs(20), |e| {
                    matches!(e, Event::Failover(_))
                })
                .await;
            // The failover starts the killed node again as a replica; its next run reads the killed run's ledger.
            wait_for_ecpu(&running, expected, &format!("{n} reads before the kill")).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        wait_for_ecpu(&running, expected, "a second later, nothing counted twice").await;
        running.stop().await;

        // The month's report holds the same total, hour by hour, and the export prints it.
        let dir = state_root
            .join("default")
            .join("killed-primary")
            .join(local::USAGE_DIR);
        let reports = local::read_reports(&dir);
        assert_eq!(reports.len(), 1, "one month: {reports:?}");
        let report = &reports[0].spec;
        assert_eq!(report.ecpu_total, i64::try_from(expected).unwrap());
        assert_eq!(
            report.hours.iter().map(|h| h.ecpu).sum::<i64>(),
            report.ecpu_total
        );
        let records = ferrocache_operator::usage_export::records(
            &local::read_all_reports(&state_root),
            &ferrocache_operator::usage_export::Range::default(),
        );
        assert_eq!(
            records.iter().map(|r| r.ecpu).sum::<i64>(),
            i64::try_from(expected).unwrap()
        );
        let csv = ferrocache_operator::usage_export::to_csv(&records);
        assert!(csv.starts_with("namespace,cluster,"), "{csv}");
        assert_eq!(csv.lines().count(), records.len() + 1);
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_limits_refuse_growth_past_storage_and_throttle_past_the_rate_and_change_live() {
    tokio::time::timeout(TEST_BUDGET, async {
        let file = manifest_path("limits");
        let limits = |storage_gb: u32, rate: u32| {
            format!(
                "  usageLimits:\n    dataStorage:\n      maximum: {storage_gb}\n    ecpuPerSecond:\n      \
                 maximum: {rate}\n"
            )
        };
        write_manifest(&file, &manifest("limits", 0, &limits(1, 200), "    timeout: \"0\"\n"));
        let settings = watching("limits", &file);
        let cluster = start(&file, settings).await;
        let primary = node_address(&cluster, cluster.primary(0).unwrap()).await;
        let running = Running::start(cluster, Duration::from_millis(200));
        assert_eq!(config_get(primary, "usage-max-storage").await.as_deref(), Some("1000000000"));

        // Past the rate (200 units a second, one second of burst), a pipeline waits up to 100 ms in all, then
        // its requests still over the rate are refused and counted.
        let mut con = connection(primary).await.unwrap();
        let mut pipe = redis::pipe();
        for i in 0..600 {
            pipe.cmd("GET").arg(format!("k{i}"));
        }
        let failures = pipe
            .query_async::<Vec<redis::Value>>(&mut con)
            .await
            .expect_err("requests over the rate are refused")
            .to_string();
        let refused = failures.matches("THROTTLED").count() as u64;
        assert_eq!(refused, failures.matches("Index ").count() as u64, "{failures}");
        assert!(
            (300..=400).contains(&refused),
            "200 of burst and about 20 in 100 ms pass: {refused} refused"
        );
        // One request at a time is slowed to the rate, not refused.
        let started = Instant::now();
        for i in 0..60 {
            let _: Option<String> = redis::cmd("GET")
                .arg(format!("k{i}"))
                .query_async(&mut con)
                .await
                .unwrap();
        }
        assert!(started.elapsed() >= Duration::from_millis(200), "{:?}", started.elapsed());
        let throttled: u64 = info_in(primary, "usage", "usage_throttled")
            .await
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(throttled, refused);

        // A live edit: a storage limit this small is full at once, the rate limit is gone; no restart.
        let run_id = info_in(primary, "usage", "run_id").await;
        write_manifest(&file, &manifest("limits", 0, &limits(1, 1_000_000), "    timeout: \"0\"\n"));
        eventually("the new rate limit", Duration::from_secs(10), async || {
            config_get(primary, "usage-max-ecpu-per-second").await.as_deref() == Some("1000000")
        })
        .await;
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("usage-max-storage")
            .arg("1000")
            .query_async(&mut con)
            .await
            .unwrap();
        let mut written = 0;
        let refusal = loop {
            let r: redis::RedisResult<()> = redis::cmd("SET")
                .arg(format!("key:{written}"))
                .arg("v".repeat(100))
                .query_async(&mut con)
                .await;
            match r {
                Ok(()) => written += 1,
                Err(e) => break e.to_string(),
            }
            assert!(written < 1000, "writes never refused");
        };
        assert!(refusal.contains("OOM") && refusal.contains("usage-max-storage"), "{refusal}");
        // Reads and deletes still work.
        let v: Option<String> = query(primary, redis::cmd("GET").arg("key:0")).await.unwrap();
        assert_eq!(v.as_deref(), Some(&*"v".repeat(100)));
        let deleted: i64 = query(primary, redis::cmd("DEL").arg("key:0")).await.unwrap();
        assert_eq!(deleted, 1);
        assert_eq!(info_in(primary, "usage", "run_id").await, run_id, "no restart");
        running.stop().await;
    })
    .await
    .expect("test finishes in time");
}
