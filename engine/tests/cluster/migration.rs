//! Atomic slot migration (`CLUSTER MIGRATESLOTS` on the source primary): under a live load of the `redis`
//! crate's cluster client no operation fails and no acknowledged write is lost, the slots end up on the target
//! alone and every node's slot map says so; and when the target dies mid-way the source keeps everything.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use redis::cluster::{cluster_pipe, ClusterConnection};

use crate::common::{cmd, wait_until};
use crate::fixture::{Cluster, Node};
use crate::keyslot::key_slot;
use crate::observe::{
    cluster_slots, latest_migration, primary_port, total_keys_in_slots, Migration,
};

/// The slots the tests move: the first half of shard 0's.
const MOVED: (u16, u16) = (0, 2730);

fn moved_slots() -> impl Iterator<Item = u16> {
    MOVED.0..=MOVED.1
}

/// Keys `<prefix><i>` whose slot is among the moved ones, `count` of them.
fn keys_in_moved_slots(prefix: &str, count: usize) -> Vec<String> {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|k| (MOVED.0..=MOVED.1).contains(&key_slot(k)))
        .take(count)
        .collect()
}

/// The value the preloaded `key` holds: `size` bytes that end with the key's name.
fn value_of(key: &str, size: usize) -> String {
    format!("{key:>size$}")
}

/// Writes every key with its value straight to `node`, 1000 per pipeline.
fn preload(node: &Node, keys: &[String], size: usize) {
    let mut con = node.conn();
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("SET").arg(key).arg(value_of(key, size)).ignore();
        }
        pipe.query::<()>(&mut con).expect("preload");
    }
}

/// Asserts that `node` holds every key with its value, reading 1000 per pipeline.
fn assert_holds(node: &Node, keys: &[String], size: usize) {
    let mut con = node.conn();
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("GET").arg(key);
        }
        let values: Vec<Option<String>> = pipe.query(&mut con).expect("GET");
        for (key, value) in chunk.iter().zip(values) {
            assert_eq!(
                value.as_deref(),
                Some(value_of(key, size).as_str()),
                "{key} on {}",
                node.port()
            );
        }
    }
}

/// Starts moving the slots from `source` to `target`.
fn migrate(source: &Node, target: &Node) {
    let (start, end) = (MOVED.0.to_string(), MOVED.1.to_string());
    let reply: String = cmd(
        "CLUSTER",
        &[
            "MIGRATESLOTS",
            "SLOTSRANGE",
            &start,
            &end,
            "NODE",
            &target.id,
        ],
    )
    .query(&mut source.conn())
    .expect("CLUSTER MIGRATESLOTS");
    assert_eq!(reply, "OK");
}

/// Polls `node`'s newest migration (every 5 ms, `timeout` at most) until `done` holds for it; returns it.
fn wait_migration(node: &Node, timeout: Duration, done: impl Fn(&Migration) -> bool) -> Migration {
    let mut con = node.conn();
    let deadline = Instant::now() + timeout;
    loop {
        let migration = latest_migration(&mut con);
        if done(&migration) {
            return migration;
        }
        assert!(
            Instant::now() < deadline,
            "migration on {} never got there: {migration:?}",
            node.port()
        );
        thread::sleep(Duration::from_millis(5));
    }
}

/// A writer and reader on the cluster client: `SET k<i> <i>` for i = 0, 1, 2, ..., each followed by a `GET` of
/// an earlier acknowledged key that must return its value, an `INCR` of [`COUNTER`] and an `RPUSH` of `i` to
/// [`LOG`] (both in the moved slots, so that the target must get every later write, not only the snapshot).
struct Load {
    stop: Arc<AtomicBool>,
    writes: Arc<AtomicU64>,
    worker: JoinHandle<LoadReport>,
}

/// The counter the load increments, in the moved slots.
const COUNTER: &str = "{counter12}";
/// The list the load appends to, in the moved slots.
const LOG: &str = "{log0}";

/// What the load saw.
struct LoadReport {
    /// The `i` of every acknowledged `SET k<i> <i>`.
    acknowledged: Vec<u64>,
    /// How many `INCR`s were acknowledged.
    increments: u64,
    /// The `i` of every acknowledged `RPUSH`, in order.
    pushed: Vec<u64>,
    /// Every failed or wrong operation.
    failures: Vec<String>,
}

impl Load {
    fn start(mut con: ClusterConnection) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(AtomicU64::new(0));
        let worker = {
            let (stop, writes) = (stop.clone(), writes.clone());
            thread::spawn(move || {
                let mut report = LoadReport {
                    acknowledged: Vec::new(),
                    increments: 0,
                    pushed: Vec::new(),
                    failures: Vec::new(),
                };
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("k{i}");
                    match cmd("SET", &[&key, &i.to_string()]).query::<()>(&mut con) {
                        Ok(()) => report.acknowledged.push(i),
                        Err(e) => report.failures.push(format!("SET {key}: {e}")),
                    }
                    if let Some(&j) = report
                        .acknowledged
                        .get((i as usize).wrapping_mul(7919) % report.acknowledged.len().max(1))
                    {
                        match cmd("GET", &[&format!("k{j}")]).query::<Option<String>>(&mut con) {
                            Ok(Some(v)) if v == j.to_string() => {}
                            other => report.failures.push(format!("GET k{j}: {other:?}")),
                        }
                    }
                    match cmd("INCR", &[COUNTER]).query::<u64>(&mut con) {
                        Ok(n) if n == report.increments + 1 => report.increments = n,
                        other => report.failures.push(format!("INCR {COUNTER}: {other:?}")),
                    }
                    match cmd("RPUSH", &[LOG, &i.to_string()]).query::<u64>(&mut con) {
                        Ok(_) => report.pushed.push(i),
                        Err(e) => report.failures.push(format!("RPUSH {LOG}: {e}")),
                    }
                    i += 1;
                    writes.store(i, Ordering::Relaxed);
                }
                report
            })
        };
        Load {
            stop,
            writes,
            worker,
        }
    }

    /// How many writes were sent so far.
    fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Waits until `n` more writes were sent.
    fn wait_for(&self, n: u64) {
        let target = self.writes.load(Ordering::Relaxed) + n;
        wait_until("the load to make progress", || {
            self.writes.load(Ordering::Relaxed) >= target
        });
    }

    fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        self.worker.join().expect("the load thread")
    }
}

#[test]
fn slots_migrate_under_load_without_a_failed_or_lost_operation() {
    let cluster = Cluster::start("migrate");
    let (source, target) = (cluster.primary(0), cluster.primary(1));
    // Data in the moving slots before the migration, so that there is a snapshot to stream.
    let preloaded = keys_in_moved_slots("pre:", 50_000);
    preload(source, &preloaded, 100);

    assert!([COUNTER, LOG]
        .iter()
        .all(|k| moved_slots().any(|s| s == key_slot(k))));
    let load = Load::start(cluster.client());
    load.wait_for(2000);
    let before = load.writes();
    migrate(source, target);
    let done = wait_migration(source, Duration::from_secs(60), |m| {
        matches!(m["state"].as_str(), "success" | "failed" | "cancelled")
    });
    let during = load.writes() - before;
    assert_eq!(done["state"], "success", "{done:?}");
    assert_eq!(done["direction"], "export", "{done:?}");
    assert_eq!(done["peer"], target.id, "{done:?}");
    assert_eq!(done["slot_ranges"], "0-2730", "{done:?}");
    let pause: f64 = done["pause_ms"]
        .parse()
        .unwrap_or_else(|_| panic!("pause_ms is a number: {done:?}"));
    assert!(pause < 1000.0, "writes paused {pause} ms: {done:?}");
    let sent: usize = done["keys"].parse().expect("keys");
    assert!(sent >= preloaded.len(), "{sent} keys sent: {done:?}");
    assert!(
        during >= 50,
        "the load should run during the migration, made {during} writes: {done:?}"
    );
    // Keep the load on after the flip, so that the client meets the new owner too.
    load.wait_for(2000);
    let report = load.stop();
    assert!(
        report.failures.is_empty(),
        "{} failed operations, first: {:?}",
        report.failures.len(),
        &report.failures[..report.failures.len().min(10)]
    );

    // Every acknowledged write is readable with its value through the cluster client.
    let mut con = cluster.client();
    for chunk in report.acknowledged.chunks(1000) {
        let mut pipe = cluster_pipe();
        for i in chunk {
            pipe.cmd("GET").arg(format!("k{i}"));
        }
        let values: Vec<Option<String>> = pipe.query(&mut con).expect("GET after the migration");
        for (i, value) in chunk.iter().zip(values) {
            assert_eq!(value, Some(i.to_string()), "k{i} after the migration");
        }
    }
    let counter: Option<u64> = cmd("GET", &[COUNTER]).query(&mut con).expect("GET");
    assert_eq!(
        counter,
        Some(report.increments),
        "every acknowledged INCR counted"
    );
    let log: Vec<u64> = cmd("LRANGE", &[LOG, "0", "-1"])
        .query(&mut con)
        .expect("LRANGE");
    assert!(
        log == report.pushed,
        "every acknowledged RPUSH, in order: {} of {}",
        log.len(),
        report.pushed.len()
    );

    // The moved keys are on the target alone.
    assert_holds(target, &preloaded, 100);
    let moved_load = report
        .acknowledged
        .iter()
        .filter(|i| (MOVED.0..=MOVED.1).contains(&key_slot(&format!("k{i}"))))
        .count() as u64;
    let expected = preloaded.len() as u64 + moved_load + 2;
    assert_eq!(total_keys_in_slots(&mut source.conn(), moved_slots()), 0);
    assert_eq!(
        total_keys_in_slots(&mut target.conn(), moved_slots()),
        expected
    );
    let imported = latest_migration(&mut target.conn());
    assert_eq!(
        (imported["direction"].as_str(), imported["state"].as_str()),
        ("import", "success"),
        "{imported:?}"
    );
    // Replicas follow: the target's has the keys, the source's dropped them.
    let (source_replica, target_replica) = (cluster.replica(0), cluster.replica(1));
    wait_until("the target's replica to hold the moved keys", || {
        total_keys_in_slots(&mut target_replica.conn(), moved_slots()) == expected
    });
    wait_until("the source's replica to drop the moved keys", || {
        total_keys_in_slots(&mut source_replica.conn(), moved_slots()) == 0
    });
    // Every node's slot map has the moved range on the target, the rest of shard 0 on the source.
    for node in cluster.nodes() {
        wait_until(
            &format!("{}'s slot map to show the move", node.port()),
            || {
                let map = cluster_slots(&mut node.conn());
                moved_slots().all(|s| primary_port(&map, s) == Some(target.port()))
                    && (MOVED.1 + 1..=5460).all(|s| primary_port(&map, s) == Some(source.port()))
            },
        );
    }
}

#[test]
fn a_target_that_dies_mid_migration_leaves_every_key_on_the_source() {
    let mut cluster = Cluster::start("migrate-kill");
    let (source_id, target_id) = (cluster.primary(0).id.clone(), cluster.primary(1).id.clone());
    const SIZE: usize = 1024;
    let keys = keys_in_moved_slots("big:", 200_000);
    preload(cluster.primary(0), &keys, SIZE);

    migrate(cluster.primary(0), cluster.primary(1));
    let running = wait_migration(cluster.primary(0), Duration::from_secs(30), |m| {
        m["state"] != "snapshot" || m["keys"] != "0"
    });
    assert!(
        matches!(running["state"].as_str(), "snapshot" | "streaming"),
        "the migration should still run when the target is killed: {running:?}"
    );
    // INFO shows its progress while it runs.
    let progress = cluster
        .primary(0)
        .info("cluster", "slot_migration0")
        .unwrap_or_default();
    assert!(
        progress.contains(&format!("id={}", running["id"]))
            && progress.contains("direction=export")
            && progress.contains(&format!("peer={target_id}"))
            && progress.contains(&format!("slots={}-{}", MOVED.0, MOVED.1))
            && progress.contains("keys="),
        "{progress}"
    );
    cluster.kill(&target_id);

    let source = cluster.node(&source_id);
    let failed = wait_migration(source, Duration::from_secs(30), |m| {
        !matches!(m["state"].as_str(), "snapshot" | "streaming" | "committing")
    });
    assert_eq!(failed["state"], "failed", "{failed:?}");
    assert!(
        !failed["error"].is_empty(),
        "a failed migration says why: {failed:?}"
    );
    assert_eq!(
        source.info("cluster", "slot_migrations_active").as_deref(),
        Some("0")
    );

    // The source still owns the slots, serves every key with its value and takes writes there.
    let map = cluster_slots(&mut source.conn());
    assert!(moved_slots().all(|s| primary_port(&map, s) == Some(source.port())));
    let dbsize: u64 = cmd("DBSIZE", &[])
        .query(&mut source.conn())
        .expect("DBSIZE");
    assert_eq!(dbsize, keys.len() as u64);
    assert_holds(source, &keys, SIZE);
    let mut con = source.conn();
    cmd("SET", &[&keys[0], "after"])
        .query::<()>(&mut con)
        .expect("a write to a slot whose migration failed");
}

/// One key of each type, with and without an expiry, in the moved slots: (key, command that writes it).
fn every_type() -> Vec<(String, Vec<&'static str>)> {
    let writes: [(&str, &[&str]); 7] = [
        ("string", &["SET", "{}", "text", "EX", "1000"]),
        ("hash", &["HSET", "{}", "f1", "v1", "f2", "v2"]),
        ("list", &["RPUSH", "{}", "a", "b", "c"]),
        ("set", &["SADD", "{}", "x", "y", "z"]),
        ("zset", &["ZADD", "{}", "1.5", "m1", "-2", "m2"]),
        ("stream", &["XADD", "{}", "1-1", "field", "value"]),
        ("number", &["SET", "{}", "41"]),
    ];
    writes
        .iter()
        .enumerate()
        .map(|(i, (name, args))| {
            let key = crate::keyslot::key_in_slot(&format!("typed:{name}:"), 10 + i as u16 * 300);
            (key, args.to_vec())
        })
        .collect()
}

/// Each typed key as a client sees it: its type, its content and whether it expires.
fn describe(con: &mut redis::Connection, key: &str) -> String {
    let kind: String = cmd("TYPE", &[key]).query(con).expect("TYPE");
    let content: redis::Value = match kind.as_str() {
        "string" => cmd("GET", &[key]),
        "hash" => cmd("HGETALL", &[key]),
        "list" => cmd("LRANGE", &[key, "0", "-1"]),
        "set" => cmd("SMEMBERS", &[key]),
        "zset" => cmd("ZRANGE", &[key, "0", "-1", "WITHSCORES"]),
        "stream" => cmd("XRANGE", &[key, "-", "+"]),
        other => panic!("{key} has type {other}"),
    }
    .query(con)
    .expect("read");
    let ttl: i64 = cmd("TTL", &[key]).query(con).expect("TTL");
    let expiry = match ttl {
        -1 => "persistent",
        990..=1000 => "expires in ~1000 s",
        _ => "wrong expiry",
    };
    format!("{kind} {content:?} {expiry}")
}

#[test]
fn keys_deleted_after_a_failed_migration_stay_deleted_when_the_slots_move_again() {
    let mut cluster = Cluster::start("migrate-again");
    let (source_id, target_id) = (cluster.primary(0).id.clone(), cluster.primary(1).id.clone());
    const SIZE: usize = 1024;
    let keys = keys_in_moved_slots("again:", 100_000);
    preload(cluster.primary(0), &keys, SIZE);
    migrate(cluster.primary(0), cluster.primary(1));
    let running = wait_migration(cluster.primary(0), Duration::from_secs(30), |m| {
        m["keys"].parse::<usize>().unwrap_or(0) >= keys.len() / 4 || m["state"] != "snapshot"
    });
    assert_eq!(running["state"], "snapshot", "{running:?}");
    cluster.kill(&target_id);
    let failed = wait_migration(cluster.node(&source_id), Duration::from_secs(30), |m| {
        !matches!(m["state"].as_str(), "snapshot" | "streaming" | "committing")
    });
    assert_eq!(failed["state"], "failed", "{failed:?}");

    // The user deletes half of the keys; the dead target's shard fails over to its replica, and the slots are
    // moved there again.
    let deleted: Vec<String> = keys.iter().step_by(2).cloned().collect();
    let kept: Vec<String> = keys.iter().skip(1).step_by(2).cloned().collect();
    let mut con = cluster.node(&source_id).conn();
    for chunk in deleted.chunks(1000) {
        let mut pipe = redis::pipe();
        for key in chunk {
            pipe.cmd("DEL").arg(key).ignore();
        }
        pipe.query::<()>(&mut con).expect("DEL");
    }
    cluster.fail_over(1);
    let promoted = cluster.primary(1);
    let held_after_promotion = total_keys_in_slots(&mut promoted.conn(), moved_slots());
    migrate(cluster.node(&source_id), promoted);
    let done = wait_migration(cluster.node(&source_id), Duration::from_secs(60), |m| {
        matches!(m["state"].as_str(), "success" | "failed" | "cancelled")
    });
    assert_eq!(done["state"], "success", "{done:?}");

    let mut on_owner = promoted.conn();
    let mut pipe = redis::pipe();
    for key in &deleted {
        pipe.cmd("EXISTS").arg(key);
    }
    let exist: Vec<u64> = pipe.query(&mut on_owner).expect("EXISTS");
    let resurrected = exist.iter().sum::<u64>();
    assert_eq!(
        resurrected, 0,
        "{resurrected} deleted keys are back on the new owner, which held {held_after_promotion} keys of slots \
         its shard did not own when it was promoted (its dead primary had streamed them to it)"
    );
    assert_eq!(
        total_keys_in_slots(&mut on_owner, moved_slots()),
        kept.len() as u64
    );
    assert_holds(promoted, &kept, SIZE);
}

#[test]
fn every_data_type_and_expiry_moves_with_its_slot() {
    let cluster = Cluster::start("migrate-types");
    let (source, target) = (cluster.primary(0), cluster.primary(1));
    let mut on_source = source.conn();
    let keys = every_type();
    for (key, args) in &keys {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "{}" { key.as_str() } else { a })
            .collect();
        cmd(args[0], &args[1..])
            .query::<redis::Value>(&mut on_source)
            .expect("write");
    }
    cmd("SADD", &[&keys[3].0, "w"])
        .query::<()>(&mut on_source)
        .expect("SADD");
    let before: Vec<String> = keys
        .iter()
        .map(|(k, _)| describe(&mut on_source, k))
        .collect();
    assert!(before.iter().all(|d| !d.contains("wrong")), "{before:?}");

    migrate(source, target);
    let done = wait_migration(source, Duration::from_secs(30), |m| {
        matches!(m["state"].as_str(), "success" | "failed" | "cancelled")
    });
    assert_eq!(done["state"], "success", "{done:?}");
    let mut on_target = target.conn();
    let after: Vec<String> = keys
        .iter()
        .map(|(k, _)| describe(&mut on_target, k))
        .collect();
    assert_eq!(after, before);
    let counted: i64 = cmd("INCR", &[&keys[6].0])
        .query(&mut on_target)
        .expect("INCR");
    assert_eq!(counted, 42);
}

#[test]
fn a_cancelled_migration_leaves_every_key_on_the_source_and_none_on_the_target() {
    let cluster = Cluster::start("migrate-cancel");
    let (source, target) = (cluster.primary(0), cluster.primary(1));
    const SIZE: usize = 1024;
    let keys = keys_in_moved_slots("cancel:", 100_000);
    preload(source, &keys, SIZE);

    migrate(source, target);
    let running = wait_migration(source, Duration::from_secs(30), |m| {
        m["state"] != "snapshot" || m["keys"] != "0"
    });
    assert!(
        matches!(running["state"].as_str(), "snapshot" | "streaming"),
        "the migration should still run when it is cancelled: {running:?}"
    );
    let reply: String = cmd("CLUSTER", &["CANCELSLOTMIGRATIONS"])
        .query(&mut source.conn())
        .expect("CLUSTER CANCELSLOTMIGRATIONS");
    assert_eq!(reply, "OK");
    let cancelled = wait_migration(source, Duration::from_secs(30), |m| {
        !matches!(m["state"].as_str(), "snapshot" | "streaming" | "committing")
    });
    assert_eq!(cancelled["state"], "cancelled", "{cancelled:?}");

    wait_until("the target to discard what it imported", || {
        total_keys_in_slots(&mut target.conn(), moved_slots()) == 0
    });
    wait_until("the target's replica to discard it too", || {
        total_keys_in_slots(&mut cluster.replica(1).conn(), moved_slots()) == 0
    });
    let imported = latest_migration(&mut target.conn());
    assert_eq!(imported["direction"], "import", "{imported:?}");
    assert!(
        matches!(imported["state"].as_str(), "cancelled" | "failed"),
        "{imported:?}"
    );
    for node in cluster.nodes() {
        let map = cluster_slots(&mut node.conn());
        assert!(
            moved_slots().all(|s| primary_port(&map, s) == Some(source.port())),
            "{}'s slot map after the cancel: {map:?}",
            node.port()
        );
    }
    assert_holds(source, &keys, SIZE);
}
