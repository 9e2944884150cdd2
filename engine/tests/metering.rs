//! Request units (ECPU): exact counts for a scripted workload, read back through INFO usage.

mod common;

use common::{memcached_stat, run, Engine};
use redis::Value;

fn usage(c: &mut redis::Connection) -> (u64, u64) {
    let text: String = common::cmd("INFO", &["usage"]).query(c).unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    // The INFO call itself is charged: its request is "INFO" + "usage", its reply a bulk string.
    let reply = text.len() + text.len().to_string().len() + 5;
    let info_units = (9 + reply as u64).div_ceil(1024).max(1);
    (field("ecpu_total"), info_units)
}

#[test]
fn scripted_workload_costs_exactly_the_documented_units() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let (before, info_units) = usage(&mut c);
    let mut expected = 0;
    for (key, size, set_units, get_units) in [
        ("k10", 10, 1, 1),     // SET: 3+3+10 in, 5 out; GET: 6 in, 17 out
        ("k1000", 1000, 1, 1), // SET: 1008 in, 5 out = 1013; GET: 8 in, 1009 out = 1017
        ("k1025", 1025, 2, 2), // SET: 1033 + 5 = 1038; GET: 8 + 1034 = 1042
        ("k5000", 5000, 5, 5), // SET: 5008 + 5 = 5013; GET: 8 + 5009 = 5017
    ] {
        run(&mut c, "SET", &[key, &"v".repeat(size)]).unwrap();
        run(&mut c, "GET", &[key]).unwrap();
        expected += set_units + get_units;
    }
    // MGET over 250 missing 5-byte keys: elements (250 → 3 units) outweigh bytes (4 + 1250 in, 1259 out → 3).
    let keys: Vec<String> = (0..250).map(|i| format!("m{i:04}")).collect();
    let mut args: Vec<&str> = keys.iter().map(String::as_str).collect();
    run(&mut c, "MGET", &args).unwrap();
    expected += 3;
    // 350 keys: elements give 4 units, bytes (4 + 1750 + 1759) give 4 as well.
    let more: Vec<String> = (0..350).map(|i| format!("n{i:04}")).collect();
    args = more.iter().map(String::as_str).collect();
    run(&mut c, "MGET", &args).unwrap();
    expected += 4;
    // A transaction: MULTI (1), the queued commands when they run (1 each), EXEC (1).
    redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("t")
        .cmd("INCR")
        .arg("t")
        .query::<()>(&mut c)
        .unwrap();
    expected += 1 + 2 + 1;
    // Refused commands cost nothing.
    assert!(run(&mut c, "NOSUCHCOMMAND", &[]).is_err());
    assert!(run(&mut c, "GET", &[]).is_err());
    let (after, _) = usage(&mut c);
    assert_eq!(after - before, expected + info_units);
}

#[test]
fn ecpu_never_decreases_on_resetstat_and_restart_changes_run_id() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 0..100 {
        run(&mut c, "SET", &[&format!("k{i}"), "v"]).unwrap();
    }
    let info =
        |c: &mut redis::Connection| -> String { common::cmd("INFO", &["usage"]).query(c).unwrap() };
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .to_string()
    };
    let first = info(&mut c);
    run(&mut c, "CONFIG", &["RESETSTAT"]).unwrap();
    let second = info(&mut c);
    let (a, b): (u64, u64) = (
        field(&first, "ecpu_total").parse().unwrap(),
        field(&second, "ecpu_total").parse().unwrap(),
    );
    assert!(b > a && a >= 100, "{a} then {b}");
    assert!(field(&second, "dataset_bytes").parse::<u64>().unwrap() > 100 * 16);
    let other = Engine::start(&[]);
    let mut c2 = other.conn();
    assert_ne!(field(&info(&mut c2), "run_id"), field(&first, "run_id"));
}

#[test]
fn metering_can_be_switched_off() {
    let e = Engine::start(&["--set", "metering=no"]);
    let mut c = e.conn();
    run(&mut c, "SET", &["k", "v"]).unwrap();
    let text: String = common::cmd("INFO", &["usage"]).query(&mut c).unwrap();
    assert!(
        text.contains("ecpu_total:0\r\n") && text.contains("metering_enabled:0"),
        "{text}"
    );
}

fn scrape(port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics port");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_string()
}

/// Parses OpenMetrics text with the reference Python parser and returns `name{labels} value` lines.
fn parse_with_prometheus_client(text: &str) -> Vec<String> {
    let script = "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
                  for fam in text_string_to_metric_families(sys.stdin.read()):\n\
                  \x20   for s in fam.samples:\n\
                  \x20       labels = ','.join(f'{k}={v}' for k, v in sorted(s.labels.items()))\n\
                  \x20       print(f'{s.name}{{{labels}}} {s.value}')\n";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the Prometheus parser rejected /metrics (pip package prometheus_client is required): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn metrics_endpoint_matches_info_and_parses_as_openmetrics() {
    let port = common::free_port();
    let e = Engine::start(&["--metrics-port", &port.to_string()]);
    let mut c = e.conn();
    for i in 0..50 {
        run(&mut c, "SET", &[&format!("k{i}"), "v"]).unwrap();
    }
    run(&mut c, "GET", &["k1"]).unwrap();
    run(&mut c, "GET", &["nope"]).unwrap();
    let samples = parse_with_prometheus_client(&scrape(port));
    let value = |name: &str| -> f64 {
        samples
            .iter()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|r| r.rsplit(' ').next())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or_else(|| panic!("{name} missing from {samples:?}"))
    };
    assert_eq!(value("ferrocache_keyspace_hits_total{} "), 1.0);
    assert_eq!(value("ferrocache_keyspace_misses_total{} "), 1.0);
    assert_eq!(value("ferrocache_keys{db=0} "), 50.0);
    assert_eq!(value("ferrocache_command_calls_total{cmd=set} "), 50.0);
    let (ecpu, _) = usage(&mut c);
    let scraped = value("ferrocache_ecpu_total{} ");
    assert!(
        scraped >= 53.0 && scraped <= ecpu as f64,
        "{scraped} vs INFO {ecpu}"
    );
    assert!(samples
        .iter()
        .any(|l| l.starts_with("ferrocache_node_info{role=primary,run_id=")));
}

#[test]
fn one_ecpu_total_through_info_metrics_and_memcached_stats() {
    let port = common::free_port();
    let e = Engine::start_memcached(&["--metrics-port", &port.to_string()], false);
    let mut c = e.conn();
    let mut p = redis::pipe();
    for i in 0..1000 {
        p.cmd("ZADD")
            .arg("board")
            .arg(i)
            .arg(format!("m{i:03}"))
            .ignore();
    }
    p.query::<()>(&mut c).unwrap();
    let (before, info_units) = usage(&mut c);
    // ZRANGE over 1,000 4-byte members: 14 request bytes, 7 + 1000 × 10 response bytes → 10 units by bytes,
    // and 1,000 elements → 10 units by elements.
    let Value::Array(members) = run(&mut c, "ZRANGE", &["board", "0", "-1"]).unwrap() else {
        panic!()
    };
    assert_eq!(members.len(), 1000);
    // A memcached multi-get of 150 missing 4-byte keys: a 755-byte line and `END` → 1 unit by bytes, 2 by
    // elements.
    let mut mc = e.mc();
    let keys: Vec<String> = (0..150).map(|i| format!("k{i:03}")).collect();
    let line = format!("get {}\r\n", keys.join(" "));
    assert_eq!(common::roundtrip(&mut mc, line.as_bytes(), 5), b"END\r\n");
    let expected = before + info_units + 10 + 2;
    let scraped = scrape(port);
    let metric: u64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix("ferrocache_ecpu_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("ferrocache_ecpu_total");
    assert_eq!(metric, expected, "/metrics");
    let (info, info_units) = usage(&mut c);
    assert_eq!(info, expected, "INFO usage");
    assert_eq!(
        memcached_stat(&mut mc, "ecpu_total"),
        expected + info_units,
        "memcached stats"
    );
}

/// A field of `INFO usage`.
fn usage_field(c: &mut redis::Connection, name: &str) -> Option<String> {
    let text: String = common::cmd("INFO", &["usage"]).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// `billed=` of the `usage_run<i>` line about `run_id`, with its source.
fn reported_run(c: &mut redis::Connection, run_id: &str) -> Option<(u64, String)> {
    let text: String = common::cmd("INFO", &["usage"]).query(c).unwrap();
    text.lines()
        .filter(|l| l.starts_with("usage_run") && !l.starts_with("usage_runs"))
        .find(|l| l.contains(&format!("run_id={run_id},")))
        .map(|l| {
            let field = |k: &str| {
                l.split([':', ','])
                    .find_map(|f| f.strip_prefix(&format!("{k}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            (field("billed").parse().unwrap(), field("source"))
        })
}

fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_replica_knows_every_unit_its_killed_primary_billed_until_the_last_wait() {
    let primary = Engine::start(&[]);
    let target = format!("127.0.0.1 {}", primary.port);
    let replica = Engine::start(&["--replicaof", &target]);
    let mut p = primary.conn();
    let mut r = replica.conn();
    wait_for("the replica links", || {
        usage_field(&mut r, "run_id").is_some()
            && common::cmd("INFO", &["replication"])
                .query::<String>(&mut r)
                .unwrap()
                .contains("master_link_status:up")
    });
    let run_id = usage_field(&mut p, "run_id").unwrap();
    // Reads never reach the replica's stream; billed units do, with WAIT.
    for i in 0..123 {
        let _: Option<String> = common::cmd("GET", &[&format!("missing:{i}")])
            .query(&mut p)
            .unwrap();
    }
    let _: i64 = common::cmd("WAIT", &["1", "2000"]).query(&mut p).unwrap();
    drop(primary); // kill -9
    let (billed, source) = reported_run(&mut r, &run_id).expect("the primary's run");
    assert_eq!((billed, source.as_str()), (123, "replication"));
    // Without WAIT the count travels every 100 ms.
    let _: () = common::cmd("REPLICAOF", &["NO", "ONE"])
        .query(&mut r)
        .unwrap();
    let follower = Engine::start(&["--replicaof", &format!("127.0.0.1 {}", replica.port)]);
    let mut f = follower.conn();
    let second = usage_field(&mut r, "run_id").unwrap();
    wait_for("the follower links", || {
        common::cmd("INFO", &["replication"])
            .query::<String>(&mut f)
            .unwrap()
            .contains("master_link_status:up")
    });
    for i in 0..7 {
        let _: Option<String> = common::cmd("GET", &[&format!("m{i}")])
            .query(&mut r)
            .unwrap();
    }
    wait_for("the shipped count", || {
        reported_run(&mut f, &second).is_some_and(|(b, _)| b == 7)
    });
}

#[test]
fn a_restarted_node_reports_what_its_killed_run_billed_from_the_ledger() {
    let dir = std::env::temp_dir().join(format!("ferrocache-ledger-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let flags = ["--dir", dir.to_str().unwrap(), "--set", "usage-ledger=yes"];
    let first = Engine::start(&flags);
    let mut c = first.conn();
    let run_id = usage_field(&mut c, "run_id").unwrap();
    for i in 0..41 {
        let _: Option<String> = common::cmd("GET", &[&format!("k{i}")])
            .query(&mut c)
            .unwrap();
    }
    drop(first); // kill -9 right after the last reply
    let second = Engine::start(&flags);
    let mut c = second.conn();
    assert_eq!(usage_field(&mut c, "usage_ledger").as_deref(), Some("1"));
    assert_eq!(
        reported_run(&mut c, &run_id),
        Some((41, "ledger".to_string()))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn requests_over_the_rate_limit_are_refused_after_a_bounded_wait_and_counted() {
    let port = common::free_port();
    let e = Engine::start_memcached(
        &[
            "--metrics-port",
            &port.to_string(),
            "--set",
            "usage-max-ecpu-per-second=50",
        ],
        false,
    );
    let mut c = e.conn();
    let mut p = redis::pipe();
    for i in 0..300 {
        p.cmd("GET").arg(format!("k{i}"));
    }
    let started = std::time::Instant::now();
    let refused = p
        .query::<Vec<Value>>(&mut c)
        .expect_err("past one second of burst and 100 ms of wait")
        .to_string()
        .matches("THROTTLED")
        .count() as u64;
    // 50 of burst, about 5 more in the 100 ms the pipeline may wait.
    assert!((240..=250).contains(&refused), "{refused} refused");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    // Management commands are not throttled; the refusals show in INFO and on /metrics.
    assert_eq!(
        usage_field(&mut c, "usage_throttled"),
        Some(refused.to_string())
    );
    let metric = scrape(port)
        .lines()
        .find_map(|l| l.strip_prefix("ferrocache_usage_throttled_total "))
        .map(|v| v.trim().to_string());
    assert_eq!(metric, Some(refused.to_string()));
    // Memcached requests share the node's rate: a batch of 100 gets waits 100 ms, then is refused.
    use std::io::{Read, Write};
    let mut mc = e.mc();
    mc.write_all(&b"get k1\r\n".repeat(100)).unwrap();
    let mut replies = Vec::new();
    let mut buf = [0u8; 8192];
    while replies.iter().filter(|b| **b == b'\n').count() < 100 {
        let n = mc.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed");
        replies.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8(replies).unwrap();
    let throttled = text
        .lines()
        .filter(|l| *l == "SERVER_ERROR throttled: request rate over the usage limit")
        .count();
    assert_eq!(
        throttled + text.lines().filter(|l| *l == "END").count(),
        100,
        "{text}"
    );
    assert!(throttled >= 90, "{throttled} of 100 refused");
    // A live change lifts the limit.
    let _: () = common::cmd("CONFIG", &["SET", "usage-max-ecpu-per-second", "0"])
        .query(&mut c)
        .unwrap();
    let v: Option<String> = common::cmd("GET", &["k1"]).query(&mut c).unwrap();
    assert_eq!(v, None);
}

#[test]
fn past_the_storage_limit_writes_are_refused_and_reads_and_deletes_go_on() {
    let e = Engine::start_memcached(&["--set", "usage-max-storage=2000"], false);
    let mut c = e.conn();
    let mut written = 0;
    let error = loop {
        match common::cmd("SET", &[&format!("k{written}"), &"v".repeat(200)]).query::<()>(&mut c) {
            Ok(()) => written += 1,
            Err(e) => break e.to_string(),
        }
        assert!(written < 100, "never refused");
    };
    assert!(
        error.contains("OOM") && error.contains("'usage-max-storage' (2000 bytes"),
        "{error}"
    );
    let mut mc = e.mc();
    let refused = b"SERVER_ERROR out of memory storing object\r\n";
    assert_eq!(
        common::roundtrip(&mut mc, b"set m 0 0 1\r\nx\r\n", refused.len()),
        refused
    );
    let v: Option<String> = common::cmd("GET", &["k0"]).query(&mut c).unwrap();
    assert_eq!(v.as_deref(), Some(&*"v".repeat(200)));
    let n: i64 = common::cmd("DEL", &["k0"]).query(&mut c).unwrap();
    assert_eq!(n, 1);
}
