//! Replication between real engine processes on loopback: full and partial resync, promotion, WAIT,
//! FAILOVER, safe roles.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{err, run, wait_until, Engine};
use redis::Value;

fn info(c: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = common::cmd("INFO", &[section]).query(c).unwrap();
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

fn field(c: &mut redis::Connection, section: &str, name: &str) -> String {
    info(c, section)
        .remove(name)
        .unwrap_or_else(|| panic!("no {name} in INFO {section}"))
}

fn replica_of(primary: &Engine, extra: &[&str]) -> Engine {
    let target = format!("127.0.0.1 {}", primary.port);
    let mut flags = vec!["--replicaof", &target];
    flags.extend_from_slice(extra);
    let r = Engine::start(&flags);
    let mut c = r.conn();
    wait_until("replica link up", || {
        field(&mut c, "replication", "master_link_status") == "up"
    });
    r
}

fn fill(c: &mut redis::Connection, prefix: &str, n: usize) {
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut p = redis::pipe();
        for i in chunk {
            p.cmd("SET")
                .arg(format!("{prefix}:{i}"))
                .arg(format!("value-{i}"))
                .ignore();
        }
        p.query::<()>(c).unwrap();
    }
}

/// Every key and value of db 0, via SCAN + MGET.
fn dump(c: &mut redis::Connection) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, keys): (String, Vec<String>) = common::cmd("SCAN", &[&cursor, "COUNT", "1000"])
            .query(c)
            .unwrap();
        if !keys.is_empty() {
            let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query(c).unwrap();
            for (k, v) in keys.into_iter().zip(values) {
                out.insert(k, v.unwrap_or_default());
            }
        }
        if next == "0" {
            return out;
        }
        cursor = next;
    }
}

fn same_data(a: &mut redis::Connection, b: &mut redis::Connection) -> bool {
    dump(a) == dump(b)
}

#[test]
fn replica_full_syncs_then_follows_the_live_stream() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    fill(&mut pc, "before", 100_000);
    run(&mut pc, "SET", &["ttl", "v", "EX", "1000"]).unwrap();
    run(&mut pc, "SELECT", &["3"]).unwrap();
    run(&mut pc, "SET", &["in-db3", "x"]).unwrap();
    run(&mut pc, "SELECT", &["0"]).unwrap();
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    fill(&mut pc, "after", 10_000);
    run(&mut pc, "INCRBYFLOAT", &["f", "1.5"]).unwrap();
    run(&mut pc, "DEL", &["before:7"]).unwrap();
    wait_until("replica caught up", || {
        field(&mut rc, "replication", "slave_repl_offset")
            == field(&mut pc, "replication", "master_repl_offset")
    });
    assert!(same_data(&mut pc, &mut rc), "datasets differ");
    assert_eq!(run(&mut rc, "DBSIZE", &[]).unwrap(), Value::Int(110_001));
    let Value::Int(ttl) = run(&mut rc, "TTL", &["ttl"]).unwrap() else {
        panic!()
    };
    assert!(
        (990..=1000).contains(&ttl),
        "TTL replicated as an absolute deadline: {ttl}"
    );
    run(&mut rc, "SELECT", &["3"]).unwrap();
    assert_eq!(
        run(&mut rc, "GET", &["in-db3"]).unwrap(),
        Value::BulkString(b"x".to_vec())
    );
    assert_eq!(
        err(&mut rc, "SET", &["k", "v"]),
        "READONLY You can't write against a read only replica."
    );
    assert_eq!(field(&mut pc, "stats", "sync_full"), "1");
}

#[test]
fn a_short_disconnect_resumes_with_a_partial_resync() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    fill(&mut pc, "a", 1000);
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    // Cut the link from the primary's side.
    let list: String = common::cmd("CLIENT", &["LIST"]).query(&mut pc).unwrap();
    let link = list
        .lines()
        .find(|l| l.contains("cmd=psync"))
        .expect("replica link in CLIENT LIST");
    let id = link
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("id=");
    run(&mut pc, "CLIENT", &["KILL", "ID", id]).unwrap();
    fill(&mut pc, "b", 1000);
    wait_until("replica caught up again", || {
        field(&mut rc, "replication", "master_link_status") == "up"
            && field(&mut rc, "replication", "slave_repl_offset")
                == field(&mut pc, "replication", "master_repl_offset")
    });
    assert!(same_data(&mut pc, &mut rc));
    assert_eq!(field(&mut rc, "replication", "master_sync_full_count"), "1");
    assert_eq!(
        field(&mut rc, "replication", "master_sync_partial_count"),
        "1"
    );
    assert_eq!(field(&mut pc, "stats", "sync_partial_ok"), "1");
    assert_eq!(field(&mut pc, "stats", "sync_full"), "1");
}

#[test]
fn a_promoted_replica_lets_the_other_replica_resync_partially() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    fill(&mut pc, "k", 5000);
    let r1 = replica_of(&p, &[]);
    let r2 = replica_of(&p, &[]);
    let (mut c1, mut c2) = (r1.conn(), r2.conn());
    let end = field(&mut pc, "replication", "master_repl_offset");
    wait_until("both caught up", || {
        field(&mut c1, "replication", "slave_repl_offset") == end
            && field(&mut c2, "replication", "slave_repl_offset") == end
    });
    drop(p);
    assert_eq!(
        run(&mut c1, "REPLICAOF", &["NO", "ONE"]).unwrap(),
        Value::Okay
    );
    assert_eq!(field(&mut c1, "replication", "role"), "master");
    run(&mut c2, "REPLICAOF", &["127.0.0.1", &r1.port.to_string()]).unwrap();
    wait_until("re-pointed replica up", || {
        field(&mut c2, "replication", "master_link_status") == "up"
    });
    run(&mut c1, "SET", &["after-promotion", "1"]).unwrap();
    wait_until("write reaches the re-pointed replica", || {
        run(&mut c2, "GET", &["after-promotion"]).unwrap() == Value::BulkString(b"1".to_vec())
    });
    assert_eq!(
        field(&mut c2, "replication", "master_sync_full_count"),
        "1",
        "no second full sync"
    );
    assert_eq!(
        field(&mut c2, "replication", "master_sync_partial_count"),
        "1"
    );
    assert!(same_data(&mut c1, &mut c2));
}

#[test]
fn wait_counts_acknowledging_replicas() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    assert_eq!(run(&mut pc, "WAIT", &["0", "100"]).unwrap(), Value::Int(0));
    let _r = replica_of(&p, &[]);
    run(&mut pc, "SET", &["k", "v"]).unwrap();
    assert_eq!(run(&mut pc, "WAIT", &["1", "5000"]).unwrap(), Value::Int(1));
    let started = Instant::now();
    assert_eq!(run(&mut pc, "WAIT", &["2", "300"]).unwrap(), Value::Int(1));
    assert!(
        started.elapsed() >= Duration::from_millis(290),
        "WAIT honours its timeout"
    );
}

#[test]
fn writes_acknowledged_by_wait_survive_a_primary_crash() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    let r = replica_of(&p, &[]);
    let mut acked = Vec::new();
    for i in 0..200 {
        let key = format!("order:{i}");
        run(&mut pc, "SET", &[&key, "paid"]).unwrap();
        if i % 20 == 19 {
            assert_eq!(run(&mut pc, "WAIT", &["1", "2000"]).unwrap(), Value::Int(1));
            acked.push(key);
        }
    }
    drop(pc);
    drop(p); // kill -9
    let mut rc = r.conn();
    run(&mut rc, "REPLICAOF", &["NO", "ONE"]).unwrap();
    for key in acked {
        assert_eq!(
            run(&mut rc, "GET", &[&key]).unwrap(),
            Value::BulkString(b"paid".to_vec()),
            "{key} lost"
        );
    }
    run(&mut rc, "SET", &["writable", "yes"]).unwrap();
}

#[test]
fn a_standby_serves_no_writes_until_promoted() {
    let s = Engine::start(&["--role", "standby"]);
    let mut c = s.conn();
    assert_eq!(
        err(&mut c, "SET", &["k", "v"]),
        "READONLY You can't write against a read only replica."
    );
    assert_eq!(field(&mut c, "replication", "ferrocache_role"), "standby");
    let Value::Array(role) = run(&mut c, "ROLE", &[]).unwrap() else {
        panic!()
    };
    assert_eq!(role[0], Value::BulkString(b"standby".to_vec()));
    run(&mut c, "REPLICAOF", &["NO", "ONE"]).unwrap();
    assert_eq!(run(&mut c, "SET", &["k", "v"]).unwrap(), Value::Okay);
}

#[test]
fn an_empty_restarted_primary_never_wipes_a_replica_holding_data() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    fill(&mut pc, "precious", 500);
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    wait_until("replica has the data", || {
        run(&mut rc, "DBSIZE", &[]).unwrap() == Value::Int(500)
    });
    drop(pc);
    drop(p);
    // A new, empty node is (wrongly) promoted and the replica pointed at it.
    let empty = Engine::start(&["--role", "standby"]);
    let mut ec = empty.conn();
    run(&mut ec, "REPLICAOF", &["NO", "ONE"]).unwrap();
    run(
        &mut rc,
        "REPLICAOF",
        &["127.0.0.1", &empty.port.to_string()],
    )
    .unwrap();
    wait_until("refusal reported", || {
        field(&mut rc, "replication", "master_link_error").contains("refusing the full sync")
    });
    assert_eq!(
        run(&mut rc, "DBSIZE", &[]).unwrap(),
        Value::Int(500),
        "data kept"
    );
}

#[test]
fn replicas_hide_expired_keys_and_delete_them_when_the_primary_does() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    run(&mut pc, "SET", &["short", "v", "PX", "300"]).unwrap();
    wait_until("replicated", || {
        run(&mut rc, "EXISTS", &["short"]).unwrap() == Value::Int(1)
    });
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        run(&mut rc, "GET", &["short"]).unwrap(),
        Value::Nil,
        "logically expired on the replica"
    );
    wait_until("primary's expiry reaches the replica", || {
        run(&mut rc, "DBSIZE", &[]).unwrap() == Value::Int(0)
    });
}

#[test]
fn failover_hands_the_primary_role_to_a_caught_up_replica() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    fill(&mut pc, "k", 2000);
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    assert_eq!(
        run(&mut pc, "FAILOVER", &["TIMEOUT", "5000"]).unwrap(),
        Value::Okay
    );
    assert_eq!(field(&mut rc, "replication", "role"), "master");
    wait_until("old primary follows the new one", || {
        field(&mut pc, "replication", "role") == "slave"
            && field(&mut pc, "replication", "master_link_status") == "up"
    });
    assert_eq!(
        err(&mut pc, "SET", &["x", "1"]),
        "READONLY You can't write against a read only replica."
    );
    run(&mut rc, "SET", &["after-failover", "1"]).unwrap();
    wait_until("write flows back to the old primary", || {
        run(&mut pc, "GET", &["after-failover"]).unwrap() == Value::BulkString(b"1".to_vec())
    });
    assert!(same_data(&mut pc, &mut rc));
    assert_eq!(
        field(&mut pc, "replication", "master_sync_full_count"),
        "0",
        "the old primary resynced partially"
    );
}

#[test]
fn collections_replicate_through_full_sync_and_the_stream() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    run(&mut pc, "HSET", &["h", "a", "1"]).unwrap();
    run(&mut pc, "ZADD", &["z", "1", "one"]).unwrap();
    let r = replica_of(&p, &[]);
    let mut rc = r.conn();
    run(&mut pc, "HINCRBY", &["h", "a", "5"]).unwrap();
    run(&mut pc, "RPUSH", &["q", "job1", "job2"]).unwrap();
    run(&mut pc, "BLPOP", &["q", "1"]).unwrap();
    run(&mut pc, "SADD", &["s", "a", "b", "c", "d"]).unwrap();
    let Value::BulkString(popped) = run(&mut pc, "SPOP", &["s"]).unwrap() else {
        panic!()
    };
    run(&mut pc, "ZINCRBY", &["z", "2.5", "one"]).unwrap();
    assert_eq!(run(&mut pc, "WAIT", &["1", "5000"]).unwrap(), Value::Int(1));
    assert_eq!(
        run(&mut rc, "HGET", &["h", "a"]).unwrap(),
        Value::BulkString(b"6".to_vec())
    );
    assert_eq!(
        run(&mut rc, "LRANGE", &["q", "0", "-1"]).unwrap(),
        Value::Array(vec![Value::BulkString(b"job2".to_vec())])
    );
    let popped = String::from_utf8(popped).unwrap();
    assert_eq!(
        run(&mut rc, "SISMEMBER", &["s", &popped]).unwrap(),
        Value::Int(0),
        "SPOP removed the same member"
    );
    assert_eq!(run(&mut rc, "SCARD", &["s"]).unwrap(), Value::Int(3));
    assert_eq!(
        run(&mut rc, "ZSCORE", &["z", "one"]).unwrap(),
        Value::BulkString(b"3.5".to_vec())
    );
}

#[test]
fn messages_published_on_the_primary_reach_subscribers_of_its_replicas() {
    let primary = Engine::start(&[]);
    let replica = replica_of(&primary, &[]);
    let mut rc = replica.conn();
    let mut sub = rc.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.subscribe("prices").unwrap();
    let mut pc = primary.conn();
    let n: i64 = common::cmd("PUBLISH", &["prices", "42"])
        .query(&mut pc)
        .unwrap();
    assert_eq!(n, 0, "nobody subscribes on the primary itself");
    let msg = sub.get_message().unwrap();
    assert_eq!(msg.get_channel_name(), "prices");
    assert_eq!(msg.get_payload::<String>().unwrap(), "42");
}

#[test]
fn replicas_do_not_charge_request_units_for_the_writes_they_apply() {
    let primary = Engine::start(&[]);
    let replica = replica_of(&primary, &[]);
    let mut rc = replica.conn();
    let ecpu =
        |c: &mut redis::Connection| -> u64 { field(c, "usage", "ecpu_total").parse().unwrap() };
    let before = ecpu(&mut rc);
    let mut pc = primary.conn();
    fill(&mut pc, "billed", 500);
    let n: i64 = common::cmd("WAIT", &["1", "5000"]).query(&mut pc).unwrap();
    assert_eq!(n, 1);
    assert!(ecpu(&mut pc) >= 500, "the primary charged the writes");
    // The replica charged only this test's own INFO calls, not the 500 writes it applied.
    let after = ecpu(&mut rc);
    assert!(
        after - before < 10,
        "replica ecpu grew from {before} to {after}"
    );
}
