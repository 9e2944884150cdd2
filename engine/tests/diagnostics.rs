//! SLOWLOG, LATENCY, INFO latencystats and per-client ECPU.

mod common;

use common::{run, Engine};
use redis::Value;

#[test]
fn slow_commands_land_in_the_slowlog() {
    let e = Engine::start(&[
        "--set",
        "slowlog-log-slower-than=0",
        "--set",
        "slowlog-max-len=3",
    ]);
    let mut c = e.conn();
    run(&mut c, "CLIENT", &["SETNAME", "reporter"]).unwrap();
    run(&mut c, "SET", &["k", "v"]).unwrap();
    // Under a threshold of 1 ms every command is timed on its own, O(1) ones included, as Redis logs them.
    run(&mut c, "DBSIZE", &[]).unwrap();
    run(&mut c, "KEYS", &["*"]).unwrap();
    let Value::Array(entries) = run(&mut c, "SLOWLOG", &["GET"]).unwrap() else {
        panic!()
    };
    assert_eq!(entries.len(), 3, "slowlog-max-len bounds the log");
    let Value::Array(first) = &entries[0] else {
        panic!()
    };
    assert_eq!(
        first[3],
        Value::Array(vec![
            Value::BulkString(b"KEYS".to_vec()),
            Value::BulkString(b"*".to_vec())
        ]),
        "newest first"
    );
    assert_eq!(first[5], Value::BulkString(b"reporter".to_vec()));
    let Value::Array(second) = &entries[1] else {
        panic!()
    };
    assert_eq!(
        second[3],
        Value::Array(vec![Value::BulkString(b"DBSIZE".to_vec())])
    );
    let Value::Array(third) = &entries[2] else {
        panic!()
    };
    let set: Vec<Value> = ["SET", "k", "v"]
        .iter()
        .map(|a| Value::BulkString(a.as_bytes().to_vec()))
        .collect();
    assert_eq!(third[3], Value::Array(set));
    assert_eq!(run(&mut c, "SLOWLOG", &["LEN"]).unwrap(), Value::Int(3));
    assert_eq!(run(&mut c, "SLOWLOG", &["RESET"]).unwrap(), Value::Okay);
    run(&mut c, "CONFIG", &["SET", "slowlog-log-slower-than", "-1"]).unwrap();
    let before = run(&mut c, "SLOWLOG", &["LEN"]).unwrap();
    run(&mut c, "KEYS", &["*"]).unwrap();
    assert_eq!(
        run(&mut c, "SLOWLOG", &["LEN"]).unwrap(),
        before,
        "a negative threshold logs nothing"
    );
}

#[test]
fn latency_monitor_records_spikes_over_the_threshold() {
    let e = Engine::start(&["--set", "latency-monitor-threshold=1"]);
    let mut c = e.conn();
    let mut p = redis::pipe();
    for i in 0..200_000 {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    p.query::<()>(&mut c).unwrap();
    run(&mut c, "KEYS", &["*"]).unwrap();
    let Value::Array(latest) = run(&mut c, "LATENCY", &["LATEST"]).unwrap() else {
        panic!()
    };
    assert!(!latest.is_empty(), "KEYS over 200k keys takes over 1 ms");
    let Value::Array(history) = run(&mut c, "LATENCY", &["HISTORY", "command"]).unwrap() else {
        panic!()
    };
    assert!(!history.is_empty());
    let Value::Int(n) = run(&mut c, "LATENCY", &["RESET"]).unwrap() else {
        panic!()
    };
    assert!(n >= 1);
    assert_eq!(
        run(&mut c, "LATENCY", &["LATEST"]).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn latencystats_and_client_ecpu_are_reported() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 0..100 {
        run(&mut c, "SET", &[&format!("k{i}"), "v"]).unwrap();
    }
    let text: String = common::cmd("INFO", &["latencystats"])
        .query(&mut c)
        .unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .expect("set percentiles");
    assert!(
        line.contains("p50=") && line.contains("p99=") && line.contains("p99.9="),
        "{line}"
    );
    let list: String = common::cmd("CLIENT", &["LIST"]).query(&mut c).unwrap();
    let ecpu: u64 = list
        .split_whitespace()
        .find_map(|f| f.strip_prefix("ecpu="))
        .and_then(|v| v.parse().ok())
        .expect("ecpu field");
    assert!(ecpu >= 100, "{list}");
}

#[test]
fn monitor_streams_other_clients_commands() {
    let e = Engine::start(&["--requirepass", "pw"]);
    let mut m = e.raw();
    let ok = common::roundtrip(&mut m, b"AUTH pw\r\nMONITOR\r\n", 10);
    assert_eq!(ok, b"+OK\r\n+OK\r\n");
    let client = redis::Client::open(format!("redis://:pw@127.0.0.1:{}/", e.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    run(&mut c, "SET", &["greeting", "hello \"world\""]).unwrap();
    run(&mut c, "SELECT", &["3"]).unwrap();
    run(&mut c, "GET", &["x"]).unwrap();
    let text = String::from_utf8(common::read_until(&mut m, b"\"GET\" \"x\"\r\n")).unwrap();
    assert!(
        text.contains("[0 127.0.0.1:")
            && text.contains("\"SET\" \"greeting\" \"hello \\\"world\\\"\""),
        "{text}"
    );
    assert!(text.contains("[3 127.0.0.1:"), "{text}");
    assert!(
        text.contains("\"(redacted)\"") && !text.contains("\"pw\""),
        "AUTH is redacted: {text}"
    );
    assert!(text.lines().all(|l| l.starts_with('+')), "{text}");
}

/// The `THP_enabled` line of a process' status (Linux 6.0+ reports it; older kernels do not).
fn thp_enabled(pid: u32) -> Option<String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:").map(|v| v.trim().to_string()))
}

#[test]
fn transparent_huge_pages_are_off_unless_asked_for() {
    let on = Engine::start(&[]);
    let Some(state) = thp_enabled(on.pid()) else {
        eprintln!("skipped: this kernel does not report THP_enabled in /proc/PID/status");
        return;
    };
    assert_eq!(state, "0", "disable-thp yes is the default");
    let mut c = on.conn();
    let v: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("disable-thp")
        .query(&mut c)
        .unwrap();
    assert_eq!(v, ["disable-thp", "yes"]);
    let kept = Engine::start(&["--set", "disable-thp=no"]);
    assert_eq!(thp_enabled(kept.pid()).as_deref(), Some("1"));
}

#[test]
fn monitor_shows_a_transaction_in_the_order_it_ran() {
    let e = Engine::start(&[]);
    let mut m = e.raw();
    assert_eq!(common::roundtrip(&mut m, b"MONITOR\r\n", 5), b"+OK\r\n");
    let mut c = e.conn();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "SET", &["foo", "bar"]).unwrap();
    run(&mut c, "INCR", &["n"]).unwrap();
    run(&mut c, "EXEC", &[]).unwrap();
    run(&mut c, "PING", &[]).unwrap();
    let text = String::from_utf8(common::read_until(&mut m, b"\"PING\"\r\n")).unwrap();
    let order: Vec<&str> = [
        "\"MULTI\"",
        "\"SET\" \"foo\" \"bar\"",
        "\"INCR\" \"n\"",
        "\"EXEC\"",
        "\"PING\"",
    ]
    .into_iter()
    .map(|needle| {
        text.lines()
            .find(|l| l.ends_with(needle))
            .unwrap_or_else(|| panic!("{needle} missing from {text}"))
    })
    .collect();
    let positions: Vec<usize> = order
        .iter()
        .map(|l| text.find(l).unwrap_or(usize::MAX))
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
}

#[test]
fn memory_usage_measures_a_key_and_memory_subcommands_answer() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["small", "x"]).unwrap();
    run(&mut c, "SET", &["big", &"x".repeat(10_000)]).unwrap();
    let usage =
        |c: &mut redis::Connection, key: &str| match run(c, "MEMORY", &["USAGE", key]).unwrap() {
            Value::Int(n) => n,
            other => panic!("{other:?}"),
        };
    let (small, big) = (usage(&mut c, "small"), usage(&mut c, "big"));
    assert!(small > 0 && small < 200, "{small}");
    assert!((10_000..11_000).contains(&big), "{big}");
    assert_eq!(
        run(&mut c, "MEMORY", &["USAGE", "missing"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "MEMORY", &["USAGE", "big", "SAMPLES", "0"]).unwrap(),
        Value::Int(big)
    );
    assert!(run(&mut c, "MEMORY", &["USAGE", "big", "BOGUS"]).is_err());
    let Value::Array(stats) = run(&mut c, "MEMORY", &["STATS"]).unwrap() else {
        panic!("MEMORY STATS is a map")
    };
    assert!(stats.contains(&Value::BulkString(b"keys.count".to_vec())));
    assert_eq!(run(&mut c, "MEMORY", &["PURGE"]).unwrap(), Value::Okay);
}

#[test]
fn client_reply_off_skip_and_on_silence_replies_as_redis_does() {
    use std::io::{Read, Write};
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.write_all(
        b"CLIENT REPLY OFF\r\nSET a 1\r\nCLIENT REPLY ON\r\nGET a\r\nCLIENT REPLY SKIP\r\nPING\r\nPING x\r\n",
    )
    .unwrap();
    let want = b"+OK\r\n$1\r\n1\r\n$1\r\nx\r\n";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
}

#[test]
fn command_list_filters_and_getkeys_of_subcommands() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let list = |c: &mut redis::Connection, args: &[&str]| -> Vec<String> {
        redis::from_redis_value(run(c, "COMMAND", args).unwrap()).unwrap()
    };
    let all = list(&mut c, &["LIST"]);
    assert!(all.contains(&"client|list".to_string()) && all.contains(&"get".to_string()));
    assert_eq!(
        list(&mut c, &["LIST", "FILTERBY", "PATTERN", "set"]),
        vec!["set"]
    );
    assert!(list(&mut c, &["LIST", "FILTERBY", "MODULE", "m"]).is_empty());
    assert!(list(&mut c, &["LIST", "FILTERBY", "ACLCAT", "nope"]).is_empty());
    let hashes = list(&mut c, &["LIST", "FILTERBY", "ACLCAT", "hash"]);
    assert!(hashes.contains(&"hset".to_string()) && !hashes.contains(&"get".to_string()));
    assert!(run(&mut c, "COMMAND", &["LIST", "bad"]).is_err());
    assert_eq!(
        list(&mut c, &["GETKEYS", "XGROUP", "CREATE", "s", "g", "$"]),
        vec!["s"]
    );
    assert_eq!(
        list(&mut c, &["GETKEYS", "MEMORY", "USAGE", "k"]),
        vec!["k"]
    );
    let err = run(&mut c, "PING", &["a", "b"]).unwrap_err().to_string();
    assert!(
        err.contains("wrong number of arguments for 'ping' command"),
        "{err}"
    );
    let err = run(&mut c, "CLIENT", &["KILL", "TYPE", "bogus"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("Unknown client type 'bogus'"), "{err}");
    assert_eq!(
        run(&mut c, "CLIENT", &["KILL", "TYPE", "pubsub"]).unwrap(),
        Value::Int(0)
    );
}

#[test]
fn errorstats_count_error_replies_by_code_and_reset_with_resetstat() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let stats = |c: &mut redis::Connection| -> String {
        redis::from_redis_value(run(c, "INFO", &["errorstats"]).unwrap()).unwrap()
    };
    assert!(run(&mut c, "GET", &[]).is_err());
    assert!(run(&mut c, "NOSUCHCOMMAND", &[]).is_err());
    run(&mut c, "SET", &["s", "x"]).unwrap();
    assert!(run(&mut c, "LPUSH", &["s", "a"]).is_err());
    let text = stats(&mut c);
    assert!(text.contains("errorstat_ERR:count=2"), "{text}");
    assert!(text.contains("errorstat_WRONGTYPE:count=1"), "{text}");
    let all: String = redis::from_redis_value(run(&mut c, "INFO", &[]).unwrap()).unwrap();
    assert!(
        all.contains("# Errorstats"),
        "errorstats is a default section"
    );
    run(&mut c, "CONFIG", &["RESETSTAT"]).unwrap();
    assert!(!stats(&mut c).contains("errorstat_"));
}
