//! The local platform with real `ferrocache-engine` processes on 127.0.0.1: bring-up and replication wiring,
//! failover after `kill -9` of the primary, memcached auto discovery.
//!
//! Fixtures are in `common/`.

mod common;

use std::time::{Duration, Instant};

use common::{connection, eventually, info_field, query, redis_cluster, settings, TEST_BUDGET};
use ferrocache_operator::local::{self, Event, LocalCluster, Report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bring_up_wires_a_primary_and_replicas_behind_the_endpoints() {
    tokio::time::timeout(TEST_BUDGET, async {
        let cluster = LocalCluster::start(redis_cluster("bring-up", 2), settings("bring-up"))
            .await
            .expect("cluster starts");
        let endpoints = cluster.endpoints();
        assert_eq!(endpoints.nodes.len(), 3);
        let primary = endpoints.primary.expect("primary endpoint");
        let _: () = query(primary, redis::cmd("SET").arg("greeting").arg("hello"))
            .await
            .expect("write through the primary endpoint");
        let acked: i64 = query(primary, redis::cmd("WAIT").arg(2).arg(5000))
            .await
            .unwrap();
        assert_eq!(acked, 2, "both replicas acknowledge");
        let primary_node = cluster.primary(0).expect("a primary").to_string();
        for (name, address) in &endpoints.nodes {
            let value: Option<String> = query(*address, redis::cmd("GET").arg("greeting"))
                .await
                .unwrap();
            assert_eq!(value.as_deref(), Some("hello"), "{name} has the write");
            let role = info_field(*address, "ferrocache_role").await;
            let expected = if *name == primary_node {
                "primary"
            } else {
                "replica"
            };
            assert_eq!(role.as_deref(), Some(expected), "{name}");
        }
        let reader = endpoints.reader.expect("reader endpoint");
        let value: Option<String> = query(reader, redis::cmd("GET").arg("greeting"))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some("hello"));
        let refused = query::<()>(reader, redis::cmd("SET").arg("k").arg("v")).await;
        assert!(refused.is_err(), "the reader endpoint serves replicas only");
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_primary_promotes_a_replica_and_keeps_acknowledged_writes() {
    tokio::time::timeout(TEST_BUDGET, async {
        let cluster = LocalCluster::start(redis_cluster("failover", 2), settings("failover"))
            .await
            .expect("cluster starts");
        let endpoints = cluster.endpoints();
        let primary = endpoints.primary.expect("primary endpoint");
        let old_primary = cluster.primary(0).expect("a primary").to_string();
        let old_pid = cluster.pid(&old_primary).expect("primary runs");
        let old_address = endpoints
            .nodes
            .iter()
            .find(|(n, _)| *n == old_primary)
            .map(|(_, a)| *a)
            .expect("primary address");

        let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runner = tokio::spawn(cluster.run(
            Duration::from_secs(3600),
            async move {
                let _ = stop_rx.await;
            },
            move |report| {
                if let Report::Event(event) = report {
                    let _ = events_tx.send(event);
                }
            },
        ));

        let mut acknowledged = Vec::new();
        let mut con = connection(primary)
            .await
            .expect("connect to the primary endpoint");
        for i in 0..200 {
            let key = format!("order:{i}");
            let _: () = redis::cmd("SET")
                .arg(&key)
                .arg("paid")
                .query_async(&mut con)
                .await
                .unwrap();
            if i % 20 == 19 {
                let acked: i64 = redis::cmd("WAIT")
                    .arg(1)
                    .arg(2000)
                    .query_async(&mut con)
                    .await
                    .unwrap();
                assert!(acked >= 1, "a replica acknowledges");
                acknowledged.push(key);
            }
        }
        drop(con);

        let pid = libc::pid_t::try_from(old_pid).expect("pid fits");
        // SAFETY: kill(2) on a child process id of this test with a valid signal.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let killed = Instant::now();
        let mut attempts = 0;
        let recovered = loop {
            attempts += 1;
            let write =
                query::<()>(primary, redis::cmd("SET").arg("after-failover").arg("yes")).await;
            if write.is_ok() {
                break killed.elapsed();
            }
            assert!(
                killed.elapsed() < Duration::from_secs(10),
                "writes did not resume within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        println!(
            "writes resumed {:.2} s after kill -9 of the primary ({attempts} attempts)",
            recovered.as_secs_f64()
        );

        let event = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match events.recv().await {
                    Some(Event::Failover(record)) => return record,
                    Some(_) => continue,
                    None => panic!("runner stopped"),
                }
            }
        })
        .await
        .expect("a failover event");
        println!("failover event: {}", Event::Failover(event.clone()));
        assert_eq!(event.old_primary, old_primary);
        assert_ne!(event.new_primary, old_primary);

        for key in &acknowledged {
            let value: Option<String> = query(primary, redis::cmd("GET").arg(key)).await.unwrap();
            assert_eq!(
                value.as_deref(),
                Some("paid"),
                "{key} was acknowledged and must survive"
            );
        }

        eventually(
            "the old primary to return as a replica",
            Duration::from_secs(10),
            async || {
                info_field(old_address, "ferrocache_role").await.as_deref() == Some("replica")
                    && info_field(old_address, "master_link_status")
                        .await
                        .as_deref()
                        == Some("up")
            },
        )
        .await;
        let value: Option<String> = query(old_address, redis::cmd("GET").arg("after-failover"))
            .await
            .unwrap();
        assert_eq!(
            value.as_deref(),
            Some("yes"),
            "the old primary follows the new one"
        );

        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(20), runner)
            .await
            .expect("the runner stops")
            .expect("the runner does not panic");
        assert!(
            connection(old_address).await.is_err(),
            "every node is stopped after shutdown"
        );
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memcached_nodes_are_listed_for_auto_discovery() {
    tokio::time::timeout(TEST_BUDGET, async {
        let yaml = "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: pages\nspec:\n  \
                    engine: memcached\n  numCacheNodes: 2\n";
        let manifests = local::parse(&[("test.yaml".into(), yaml.into())]).unwrap();
        let cluster = LocalCluster::start(manifests, settings("memcached")).await.expect("cluster starts");
        let endpoints = cluster.endpoints();
        let configuration = endpoints.configuration.expect("configuration endpoint");
        let mut stream = tokio::net::TcpStream::connect(configuration).await.unwrap();
        stream.write_all(b"config get cluster\r\n").await.unwrap();
        let mut reply = Vec::new();
        while !reply.ends_with(b"END\r\n") {
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "configuration endpoint closed early");
            reply.extend_from_slice(&buf[..n]);
        }
        let reply = String::from_utf8_lossy(&reply);
        for (name, address) in &endpoints.nodes {
            assert!(
                reply.contains(&format!("{name}|127.0.0.1|{}", address.port())),
                "{name} listed in {reply:?}"
            );
        }
    })
    .await
    .expect("test finishes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_primary_is_replaced_after_the_failover_window() {
    tokio::time::timeout(TEST_BUDGET, async {
        let settings = settings("hung");
        let window = settings.failover_window;
        let cluster = LocalCluster::start(redis_cluster("hung", 1), settings)
            .await
            .expect("cluster starts");
        let primary = cluster.endpoints().primary.expect("primary endpoint");
        let old_primary = cluster.primary(0).expect("a primary").to_string();
        let pid = libc::pid_t::try_from(cluster.pid(&old_primary).expect("primary runs"))
            .expect("pid fits");
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let runner = tokio::spawn(cluster.run(
            Duration::from_secs(3600),
            async move {
                let _ = stop_rx.await;
            },
            |_| {},
        ));
        let _: () = query(primary, redis::cmd("SET").arg("before").arg("1"))
            .await
            .unwrap();
        let _: i64 = query(primary, redis::cmd("WAIT").arg(1).arg(2000))
            .await
            .unwrap();

        // SAFETY: kill(2) on a child process id of this test with a valid signal.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
        let hung = Instant::now();
        loop {
            if query::<()>(primary, redis::cmd("SET").arg("after").arg("1"))
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                hung.elapsed() < Duration::from_secs(15),
                "writes did not resume"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let gap = hung.elapsed();
        println!(
            "writes resumed {:.2} s after the primary hung (window {window:?})",
            gap.as_secs_f64()
        );
        assert!(
            gap >= window,
            "a silent primary keeps its role for the whole window"
        );
        let value: Option<String> = query(primary, redis::cmd("GET").arg("before"))
            .await
            .unwrap();
        assert_eq!(value.as_deref(), Some("1"));

        let _ = stop_tx.send(());
        tokio::time::timeout(Duration::from_secs(20), runner)
            .await
            .expect("the runner stops")
            .expect("the runner does not panic");
    })
    .await
    .expect("test finishes in time");
}
