//! Streams against a real engine: XADD ids and trimming, ranges, blocking XREAD, consumer groups with pending
//! entries and claims, XINFO, snapshots across a restart, and replication to a replica.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{
    blocked_clients, bulk, bulks, err, read_n, run, send, temp_dir, wait_blocked, wait_until,
    Engine,
};
use redis::Value;

fn xadd(c: &mut redis::Connection, key: &str, id: &str, pairs: &[&str]) -> String {
    let mut args = vec![key, id];
    args.extend_from_slice(pairs);
    match run(c, "XADD", &args).unwrap() {
        Value::BulkString(b) => String::from_utf8(b).unwrap(),
        other => panic!("XADD replied {other:?}"),
    }
}

fn int(v: Value) -> i64 {
    match v {
        Value::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        other => panic!("not a string: {other:?}"),
    }
}

fn items(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

/// The ids of an XRANGE-style reply.
fn ids(v: Value) -> Vec<String> {
    items(v).into_iter().map(|e| text(&items(e)[0])).collect()
}

/// `[id, [field, value, …]]`.
fn entry(id: &str, pairs: &[&str]) -> Value {
    Value::Array(vec![bulk(id), bulks(pairs)])
}

/// A flat RESP2 key/value reply as (key, value) pairs.
fn fields(v: Value) -> Vec<(String, Value)> {
    let a = items(v);
    a.chunks(2).map(|p| (text(&p[0]), p[1].clone())).collect()
}

fn field(v: &[(String, Value)], name: &str) -> Value {
    v.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no field {name} in {v:?}"))
}

#[test]
fn xadd_ids_grow_and_xrange_reads_them_back() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(xadd(&mut c, "s", "1-1", &["f", "a"]), "1-1");
    assert_eq!(xadd(&mut c, "s", "1-*", &["f", "b"]), "1-2");
    assert_eq!(xadd(&mut c, "s", "5", &["f", "c", "g", "x"]), "5-0");
    let auto = xadd(&mut c, "s", "*", &["f", "d"]);
    let (ms, seq) = auto.split_once('-').unwrap();
    assert!(
        ms.parse::<u64>().unwrap() > 1_600_000_000_000 && seq == "0",
        "{auto}"
    );
    let smaller =
        "ERR The ID specified in XADD is equal or smaller than the target stream top item";
    assert_eq!(err(&mut c, "XADD", &["s", "5-0", "f", "v"]), smaller);
    assert_eq!(err(&mut c, "XADD", &["s", "4-*", "f", "v"]), smaller);
    assert_eq!(
        err(&mut c, "XADD", &["new", "0-0", "f", "v"]),
        "ERR The ID specified in XADD must be greater than 0-0"
    );
    assert_eq!(
        int(run(&mut c, "EXISTS", &["new"]).unwrap()),
        0,
        "a refused XADD creates nothing"
    );
    assert_eq!(
        err(&mut c, "XADD", &["s", "1-x", "f", "v"]),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(
        err(&mut c, "XADD", &["s", "*", "f"]),
        "ERR wrong number of arguments for 'xadd' command"
    );
    assert_eq!(int(run(&mut c, "XLEN", &["s"]).unwrap()), 4);
    assert_eq!(int(run(&mut c, "XLEN", &["missing"]).unwrap()), 0);
    assert_eq!(
        run(&mut c, "XRANGE", &["s", "-", "5"]).unwrap(),
        Value::Array(vec![
            entry("1-1", &["f", "a"]),
            entry("1-2", &["f", "b"]),
            entry("5-0", &["f", "c", "g", "x"]),
        ])
    );
    assert_eq!(
        ids(run(&mut c, "XRANGE", &["s", "(1-1", "+", "COUNT", "2"]).unwrap()),
        ["1-2", "5-0"]
    );
    assert_eq!(
        ids(run(&mut c, "XREVRANGE", &["s", "(5", "-"]).unwrap()),
        ["5-0", "1-2", "1-1"]
    );
    assert_eq!(
        ids(run(&mut c, "XREVRANGE", &["s", "+", "1-2", "COUNT", "1"]).unwrap()),
        vec![auto.clone()]
    );
    assert_eq!(
        run(&mut c, "XRANGE", &["s", "-", "+", "COUNT", "0"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "XRANGE", &["missing", "-", "+"]).unwrap(),
        Value::Array(vec![])
    );
    assert_eq!(
        err(&mut c, "XRANGE", &["s", "(-", "+"]),
        "ERR Invalid stream ID specified as stream command argument"
    );
    assert_eq!(int(run(&mut c, "XDEL", &["s", "1-2", "9-9"]).unwrap()), 1);
    assert_eq!(
        ids(run(&mut c, "XRANGE", &["s", "-", "+"]).unwrap()),
        ["1-1", "5-0", &auto]
    );
    assert_eq!(
        run(&mut c, "TYPE", &["s"]).unwrap(),
        Value::SimpleString("stream".into())
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "s"]).unwrap(),
        bulk("stream")
    );
    run(&mut c, "SET", &["str", "x"]).unwrap();
    assert_eq!(
        err(&mut c, "XADD", &["str", "*", "f", "v"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        err(&mut c, "XLEN", &["str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        run(&mut c, "XADD", &["none", "NOMKSTREAM", "*", "f", "v"]).unwrap(),
        Value::Nil
    );
    assert_eq!(int(run(&mut c, "EXISTS", &["none"]).unwrap()), 0);
    // Deleting every entry keeps the key, its last id and the id check.
    for id in ids(run(&mut c, "XRANGE", &["s", "-", "+"]).unwrap()) {
        run(&mut c, "XDEL", &["s", &id]).unwrap();
    }
    assert_eq!(int(run(&mut c, "EXISTS", &["s"]).unwrap()), 1);
    assert_eq!(err(&mut c, "XADD", &["s", "5-0", "f", "v"]), smaller);
}

#[test]
fn maxlen_and_minid_trim_exactly_or_by_whole_nodes() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 1..=10 {
        run(
            &mut c,
            "XADD",
            &["s", "MAXLEN", "5", &format!("{i}-0"), "n", &i.to_string()],
        )
        .unwrap();
    }
    assert_eq!(
        ids(run(&mut c, "XRANGE", &["s", "-", "+"]).unwrap()),
        ["6-0", "7-0", "8-0", "9-0", "10-0"]
    );
    assert_eq!(
        int(run(&mut c, "XTRIM", &["s", "MINID", "=", "8"]).unwrap()),
        2
    );
    assert_eq!(int(run(&mut c, "XLEN", &["s"]).unwrap()), 3);
    let mut p = redis::pipe();
    for i in 1..=250 {
        p.cmd("XADD")
            .arg("big")
            .arg(format!("{i}-0"))
            .arg("f")
            .arg("v")
            .ignore();
    }
    p.query::<()>(&mut c).unwrap();
    // `~` removes whole nodes of 100 entries only, so 150 stay (at least the 120 asked for).
    assert_eq!(
        int(run(&mut c, "XTRIM", &["big", "MAXLEN", "~", "120"]).unwrap()),
        100
    );
    assert_eq!(
        int(run(&mut c, "XTRIM", &["big", "MAXLEN", "~", "120"]).unwrap()),
        0
    );
    assert_eq!(
        int(run(&mut c, "XTRIM", &["big", "MAXLEN", "120"]).unwrap()),
        30
    );
    assert_eq!(
        ids(run(&mut c, "XRANGE", &["big", "-", "+", "COUNT", "1"]).unwrap()),
        ["131-0"]
    );
    assert_eq!(
        int(run(
            &mut c,
            "XTRIM",
            &["big", "MINID", "~", "300", "LIMIT", "10"]
        )
        .unwrap()),
        0
    );
    assert_eq!(
        err(&mut c, "XTRIM", &["big", "MAXLEN", "10", "LIMIT", "5"]),
        "ERR syntax error, LIMIT cannot be used without the special ~ option"
    );
    assert_eq!(
        err(&mut c, "XTRIM", &["big", "MAXLEN", "-1"]),
        "ERR The MAXLEN argument must be >= 0."
    );
    assert_eq!(
        err(
            &mut c,
            "XADD",
            &["big", "MAXLEN", "1", "MINID", "5", "*", "f", "v"]
        ),
        "ERR syntax error, MAXLEN and MINID options at the same time are not compatible"
    );
    assert_eq!(
        int(run(&mut c, "XTRIM", &["missing", "MAXLEN", "0"]).unwrap()),
        0
    );
}

#[test]
fn xread_returns_entries_after_the_given_ids() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    xadd(&mut c, "a", "1-0", &["k", "1"]);
    xadd(&mut c, "a", "2-0", &["k", "2"]);
    xadd(&mut c, "b", "3-0", &["k", "3"]);
    assert_eq!(
        run(
            &mut c,
            "XREAD",
            &["COUNT", "1", "STREAMS", "a", "b", "missing", "0", "0", "0"]
        )
        .unwrap(),
        Value::Array(vec![
            Value::Array(vec![
                bulk("a"),
                Value::Array(vec![entry("1-0", &["k", "1"])])
            ]),
            Value::Array(vec![
                bulk("b"),
                Value::Array(vec![entry("3-0", &["k", "3"])])
            ]),
        ])
    );
    assert_eq!(
        run(&mut c, "XREAD", &["STREAMS", "a", "b", "$", "3-0"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, "XREAD", &["STREAMS", "a", "b", "0"]),
        "ERR Unbalanced 'xread' list of streams: for each stream key an ID or '$' must be specified."
    );
    assert_eq!(
        err(&mut c, "XREAD", &["STREAMS", "a", ">"]),
        "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option."
    );
    // RESP3 replies with a map of stream name to entries.
    let mut r3 = common::resp3(&e);
    common::expect(
        &mut r3,
        "XREAD STREAMS a 1",
        "%1\r\n$1\r\na\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nk\r\n$1\r\n2\r\n",
    );
    common::expect(&mut r3, "XREAD STREAMS a 2", "_\r\n");
}

#[test]
fn xread_block_is_woken_by_xadd_from_another_client() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    xadd(&mut c, "s", "1-0", &["old", "x"]);
    let mut waiter = e.raw();
    send(&mut waiter, "XREAD BLOCK 0 STREAMS s $");
    wait_blocked(&mut c, 1);
    // An entry on another key does not wake it, one on its key does; `$` meant "after 1-0".
    xadd(&mut c, "other", "1-0", &["f", "v"]);
    xadd(&mut c, "s", "2-0", &["new", "y"]);
    let want = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$3\r\nnew\r\n$1\r\ny\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut waiter, want.len())),
        want
    );
    assert_eq!(blocked_clients(&mut c), 0);
}

#[test]
fn xread_block_times_out_with_a_null_reply() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let started = Instant::now();
    assert_eq!(
        run(&mut c, "XREAD", &["BLOCK", "150", "STREAMS", "s", "$"]).unwrap(),
        Value::Nil
    );
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "{:?}",
        started.elapsed()
    );
    // Inside MULTI nothing blocks.
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "XREAD", &["BLOCK", "0", "STREAMS", "s", "$"]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![Value::Nil])
    );
    assert_eq!(
        err(&mut c, "XREAD", &["BLOCK", "-1", "STREAMS", "s", "$"]),
        "ERR timeout is negative"
    );
}

#[test]
fn three_consumers_of_a_group_get_distinct_entries() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(
            &mut c,
            "XGROUP",
            &["CREATE", "jobs", "workers", "$", "MKSTREAM"]
        )
        .unwrap(),
        Value::Okay
    );
    assert_eq!(
        err(&mut c, "XGROUP", &["CREATE", "jobs", "workers", "$"]),
        "BUSYGROUP Consumer Group name already exists"
    );
    for i in 1..=9 {
        xadd(&mut c, "jobs", &format!("{i}-0"), &["job", &i.to_string()]);
    }
    let mut seen = Vec::new();
    for consumer in ["c1", "c2", "c3"] {
        let reply = run(
            &mut c,
            "XREADGROUP",
            &[
                "GROUP", "workers", consumer, "COUNT", "3", "STREAMS", "jobs", ">",
            ],
        )
        .unwrap();
        let streams = items(reply);
        let got = ids(items(streams[0].clone())[1].clone());
        assert_eq!(got.len(), 3, "{consumer}");
        seen.extend(got);
    }
    let distinct: HashSet<_> = seen.iter().collect();
    assert_eq!(distinct.len(), 9);
    assert_eq!(
        run(
            &mut c,
            "XREADGROUP",
            &["GROUP", "workers", "c1", "STREAMS", "jobs", ">"]
        )
        .unwrap(),
        Value::Nil
    );
    // Each consumer's history holds exactly its own entries.
    let history = run(
        &mut c,
        "XREADGROUP",
        &["GROUP", "workers", "c2", "STREAMS", "jobs", "0"],
    )
    .unwrap();
    assert_eq!(ids(items(items(history)[0].clone())[1].clone()), seen[3..6]);
    assert_eq!(
        run(&mut c, "XPENDING", &["jobs", "workers"]).unwrap(),
        Value::Array(vec![
            Value::Int(9),
            bulk("1-0"),
            bulk("9-0"),
            Value::Array(vec![
                bulks(&["c1", "3"]),
                bulks(&["c2", "3"]),
                bulks(&["c3", "3"])
            ]),
        ])
    );
    assert_eq!(
        int(run(
            &mut c,
            "XACK",
            &["jobs", "workers", "1-0", "2-0", "2-0", "42-0"]
        )
        .unwrap()),
        2
    );
    assert_eq!(
        int(run(&mut c, "XACK", &["jobs", "nogroup", "3-0"]).unwrap()),
        0
    );
    assert_eq!(
        err(
            &mut c,
            "XREADGROUP",
            &["GROUP", "nope", "c1", "STREAMS", "jobs", ">"]
        ),
        "NOGROUP No such key 'jobs' or consumer group 'nope' in XREADGROUP with GROUP option"
    );
    // NOACK delivers without remembering.
    xadd(&mut c, "jobs", "10-0", &["job", "10"]);
    run(
        &mut c,
        "XREADGROUP",
        &["GROUP", "workers", "c1", "NOACK", "STREAMS", "jobs", ">"],
    )
    .unwrap();
    assert_eq!(
        int(items(run(&mut c, "XPENDING", &["jobs", "workers"]).unwrap())[0].clone()),
        7
    );
    assert_eq!(
        int(run(&mut c, "XGROUP", &["DELCONSUMER", "jobs", "workers", "c3"]).unwrap()),
        3
    );
    assert_eq!(
        int(items(run(&mut c, "XPENDING", &["jobs", "workers"]).unwrap())[0].clone()),
        4
    );
}

#[test]
fn a_blocked_group_reader_is_woken_by_a_new_entry() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "XGROUP", &["CREATE", "q", "g", "$", "MKSTREAM"]).unwrap();
    let mut waiter = e.raw();
    send(
        &mut waiter,
        "XREADGROUP GROUP g alice BLOCK 5000 STREAMS q >",
    );
    wait_blocked(&mut c, 1);
    xadd(&mut c, "q", "7-0", &["f", "v"]);
    let want = "*1\r\n*2\r\n$1\r\nq\r\n*1\r\n*2\r\n$3\r\n7-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut waiter, want.len())),
        want
    );
    let pending = run(&mut c, "XPENDING", &["q", "g", "-", "+", "10"]).unwrap();
    assert_eq!(text(&items(items(pending)[0].clone())[1]), "alice");
}

#[test]
fn a_crashed_consumers_entries_are_claimed_by_another_after_idling() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(
        &mut c,
        "XGROUP",
        &["CREATE", "orders", "billing", "0", "MKSTREAM"],
    )
    .unwrap();
    for i in 1..=3 {
        xadd(
            &mut c,
            "orders",
            &format!("{i}-0"),
            &["order", &i.to_string()],
        );
    }
    // "crashy" reads two entries and never acknowledges them.
    run(
        &mut c,
        "XREADGROUP",
        &[
            "GROUP", "billing", "crashy", "COUNT", "2", "STREAMS", "orders", ">",
        ],
    )
    .unwrap();
    // Not idle long enough yet: nothing is claimed.
    let early = items(
        run(
            &mut c,
            "XAUTOCLAIM",
            &["orders", "billing", "rescuer", "60000", "0"],
        )
        .unwrap(),
    );
    assert_eq!(early[1], Value::Array(vec![]));
    std::thread::sleep(Duration::from_millis(120));
    let claimed = items(
        run(
            &mut c,
            "XAUTOCLAIM",
            &["orders", "billing", "rescuer", "100", "0", "COUNT", "10"],
        )
        .unwrap(),
    );
    assert_eq!(claimed[0], bulk("0-0"));
    assert_eq!(
        claimed[1],
        Value::Array(vec![
            entry("1-0", &["order", "1"]),
            entry("2-0", &["order", "2"])
        ])
    );
    assert_eq!(claimed[2], Value::Array(vec![]));
    let pending = items(run(&mut c, "XPENDING", &["orders", "billing", "-", "+", "10"]).unwrap());
    for row in &pending {
        let row = items(row.clone());
        assert_eq!(
            (text(&row[1]), int(row[3].clone())),
            ("rescuer".to_string(), 2)
        );
        assert!(int(row[2].clone()) < 100, "the claim reset the idle time");
    }
    // XCLAIM by id: JUSTID leaves the delivery count alone; entries deleted meanwhile leave the PEL.
    run(&mut c, "XDEL", &["orders", "2-0"]).unwrap();
    assert_eq!(
        run(
            &mut c,
            "XCLAIM",
            &["orders", "billing", "crashy", "0", "1-0", "2-0", "JUSTID"]
        )
        .unwrap(),
        bulks(&["1-0"])
    );
    let pending = items(run(&mut c, "XPENDING", &["orders", "billing", "-", "+", "10"]).unwrap());
    assert_eq!(pending.len(), 1);
    assert_eq!(items(pending[0].clone())[1..].to_vec()[0], bulk("crashy"));
    assert_eq!(int(items(pending[0].clone())[3].clone()), 2);
    // FORCE creates a pending entry for an existing, never delivered entry.
    assert_eq!(
        run(
            &mut c,
            "XCLAIM",
            &[
                "orders",
                "billing",
                "rescuer",
                "0",
                "3-0",
                "FORCE",
                "RETRYCOUNT",
                "5"
            ]
        )
        .unwrap(),
        Value::Array(vec![entry("3-0", &["order", "3"])])
    );
    assert_eq!(
        err(&mut c, "XCLAIM", &["orders", "billing", "x", "abc", "1-0"]),
        "ERR Invalid min-idle-time argument for XCLAIM"
    );
    assert_eq!(
        err(
            &mut c,
            "XCLAIM",
            &["orders", "billing", "x", "0", "1-0", "BOGUS"]
        ),
        "ERR Unrecognized XCLAIM option 'BOGUS'"
    );
    assert_eq!(
        err(
            &mut c,
            "XAUTOCLAIM",
            &["orders", "billing", "x", "0", "0", "COUNT", "0"]
        ),
        "ERR COUNT must be > 0"
    );
    assert_eq!(
        err(&mut c, "XAUTOCLAIM", &["orders", "nope", "x", "0", "0"]),
        "NOGROUP No such key 'orders' or consumer group 'nope'"
    );
}

#[test]
fn xpending_summarises_and_lists_with_idle_and_consumer_filters() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "XGROUP", &["CREATE", "s", "g", "0", "MKSTREAM"]).unwrap();
    assert_eq!(
        run(&mut c, "XPENDING", &["s", "g"]).unwrap(),
        Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
    );
    for i in 1..=4 {
        xadd(&mut c, "s", &format!("{i}-0"), &["f", "v"]);
    }
    run(
        &mut c,
        "XREADGROUP",
        &["GROUP", "g", "a", "COUNT", "1", "STREAMS", "s", ">"],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(60));
    run(
        &mut c,
        "XREADGROUP",
        &["GROUP", "g", "b", "STREAMS", "s", ">"],
    )
    .unwrap();
    let all = items(run(&mut c, "XPENDING", &["s", "g", "-", "+", "10"]).unwrap());
    assert_eq!(all.len(), 4);
    let only_b = items(run(&mut c, "XPENDING", &["s", "g", "-", "+", "10", "b"]).unwrap());
    assert_eq!(
        only_b
            .iter()
            .map(|r| text(&items(r.clone())[0]))
            .collect::<Vec<_>>(),
        ["2-0", "3-0", "4-0"]
    );
    let idle = items(
        run(
            &mut c,
            "XPENDING",
            &["s", "g", "IDLE", "50", "-", "+", "10"],
        )
        .unwrap(),
    );
    assert_eq!(idle.len(), 1);
    assert_eq!(items(idle[0].clone())[0], bulk("1-0"));
    assert_eq!(
        items(run(&mut c, "XPENDING", &["s", "g", "(1-0", "3", "1"]).unwrap()).len(),
        1
    );
    assert_eq!(
        err(&mut c, "XPENDING", &["s", "g", "IDLE", "10"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, "XPENDING", &["s", "nope"]),
        "NOGROUP No such key 's' or consumer group 'nope'"
    );
}

#[test]
fn xinfo_describes_the_stream_its_groups_and_consumers() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    xadd(&mut c, "s", "1-0", &["a", "1"]);
    xadd(&mut c, "s", "2-0", &["b", "2"]);
    xadd(&mut c, "s", "3-0", &["c", "3"]);
    run(&mut c, "XGROUP", &["CREATE", "s", "g", "0"]).unwrap();
    run(
        &mut c,
        "XREADGROUP",
        &["GROUP", "g", "alice", "COUNT", "1", "STREAMS", "s", ">"],
    )
    .unwrap();
    run(&mut c, "XDEL", &["s", "2-0"]).unwrap();
    let info = fields(run(&mut c, "XINFO", &["STREAM", "s"]).unwrap());
    let names: Vec<_> = info.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "length",
            "radix-tree-keys",
            "radix-tree-nodes",
            "last-generated-id",
            "max-deleted-entry-id",
            "entries-added",
            "recorded-first-entry-id",
            "groups",
            "first-entry",
            "last-entry"
        ]
    );
    assert_eq!(field(&info, "length"), Value::Int(2));
    assert_eq!(field(&info, "last-generated-id"), bulk("3-0"));
    assert_eq!(field(&info, "max-deleted-entry-id"), bulk("2-0"));
    assert_eq!(field(&info, "entries-added"), Value::Int(3));
    assert_eq!(field(&info, "groups"), Value::Int(1));
    assert_eq!(field(&info, "first-entry"), entry("1-0", &["a", "1"]));
    assert_eq!(field(&info, "last-entry"), entry("3-0", &["c", "3"]));
    let groups = items(run(&mut c, "XINFO", &["GROUPS", "s"]).unwrap());
    let g = fields(groups[0].clone());
    assert_eq!(field(&g, "name"), bulk("g"));
    assert_eq!(field(&g, "consumers"), Value::Int(1));
    assert_eq!(field(&g, "pending"), Value::Int(1));
    assert_eq!(field(&g, "last-delivered-id"), bulk("1-0"));
    assert_eq!(field(&g, "entries-read"), Value::Int(1));
    // A deletion lies ahead of the group: the lag cannot be known, as in Redis.
    assert_eq!(field(&g, "lag"), Value::Nil);
    let consumers = items(run(&mut c, "XINFO", &["CONSUMERS", "s", "g"]).unwrap());
    let alice = fields(consumers[0].clone());
    assert_eq!(field(&alice, "name"), bulk("alice"));
    assert_eq!(field(&alice, "pending"), Value::Int(1));
    assert!(int(field(&alice, "idle")) >= 0 && int(field(&alice, "inactive")) >= 0);
    let full = fields(run(&mut c, "XINFO", &["STREAM", "s", "FULL", "COUNT", "1"]).unwrap());
    assert_eq!(
        field(&full, "entries"),
        Value::Array(vec![entry("1-0", &["a", "1"])])
    );
    let fg = fields(items(field(&full, "groups"))[0].clone());
    assert_eq!(field(&fg, "pel-count"), Value::Int(1));
    let fc = fields(items(field(&fg, "consumers"))[0].clone());
    assert_eq!(field(&fc, "name"), bulk("alice"));
    assert_eq!(
        items(items(field(&fc, "pending"))[0].clone())[0],
        bulk("1-0")
    );
    assert_eq!(
        err(&mut c, "XINFO", &["STREAM", "missing"]),
        "ERR no such key"
    );
    assert_eq!(
        err(&mut c, "XINFO", &["CONSUMERS", "s", "nope"]),
        "NOGROUP No such consumer group 'nope' for key name 's'"
    );
    assert!(!items(run(&mut c, "XINFO", &["HELP"]).unwrap()).is_empty());
    // RESP3: XINFO STREAM is a map.
    let mut r3 = common::resp3(&e);
    send(&mut r3, "XINFO STREAM s");
    let want = "%10\r\n$6\r\nlength\r\n:2\r\n";
    assert!(String::from_utf8_lossy(&read_n(&mut r3, want.len())).starts_with(want));
}

#[test]
fn xgroup_and_xsetid_manage_ids_with_redis_errors() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        err(&mut c, "XGROUP", &["CREATE", "s", "g", "$"]),
        "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the \
         MKSTREAM option to create an empty stream automatically."
    );
    xadd(&mut c, "s", "5-0", &["f", "v"]);
    assert_eq!(
        err(
            &mut c,
            "XGROUP",
            &["CREATE", "s", "g", "0", "ENTRIESREAD", "-3"]
        ),
        "ERR value for ENTRIESREAD must be positive or -1"
    );
    run(&mut c, "XGROUP", &["CREATE", "s", "g", "0"]).unwrap();
    assert_eq!(
        int(run(&mut c, "XGROUP", &["CREATECONSUMER", "s", "g", "bob"]).unwrap()),
        1
    );
    assert_eq!(
        int(run(&mut c, "XGROUP", &["CREATECONSUMER", "s", "g", "bob"]).unwrap()),
        0
    );
    assert_eq!(
        err(&mut c, "XGROUP", &["SETID", "s", "nope", "0"]),
        "NOGROUP No such consumer group 'nope' for key name 's'"
    );
    assert_eq!(
        run(&mut c, "XGROUP", &["SETID", "s", "g", "$"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        run(
            &mut c,
            "XREADGROUP",
            &["GROUP", "g", "bob", "STREAMS", "s", ">"]
        )
        .unwrap(),
        Value::Nil
    );
    assert_eq!(
        int(run(&mut c, "XGROUP", &["DESTROY", "s", "g"]).unwrap()),
        1
    );
    assert_eq!(
        int(run(&mut c, "XGROUP", &["DESTROY", "s", "g"]).unwrap()),
        0
    );
    assert!(err(&mut c, "XGROUP", &["FROB", "s", "g"]).contains("Try XGROUP HELP"));
    assert_eq!(
        err(&mut c, "XSETID", &["s", "4-0"]),
        "ERR The ID specified in XSETID is smaller than the target stream top item"
    );
    assert_eq!(
        run(
            &mut c,
            "XSETID",
            &["s", "100-0", "ENTRIESADDED", "10", "MAXDELETEDID", "50-0"]
        )
        .unwrap(),
        Value::Okay
    );
    assert_eq!(
        err(&mut c, "XADD", &["s", "99-0", "f", "v"]),
        "ERR The ID specified in XADD is equal or smaller than the target stream top item"
    );
    assert_eq!(
        err(&mut c, "XSETID", &["missing", "1-0"]),
        "ERR no such key"
    );
}

/// What a stream looks like from outside, idle times left out.
fn stream_state(c: &mut redis::Connection, key: &str, group: &str) -> Vec<Value> {
    let pending: Vec<Value> = items(run(c, "XPENDING", &[key, group, "-", "+", "1000"]).unwrap())
        .into_iter()
        .map(|row| {
            let mut row = items(row);
            row.remove(2);
            Value::Array(row)
        })
        .collect();
    let info = fields(run(c, "XINFO", &["STREAM", key]).unwrap());
    vec![
        run(c, "XRANGE", &[key, "-", "+"]).unwrap(),
        run(c, "XINFO", &["GROUPS", key]).unwrap(),
        Value::Array(pending),
        field(&info, "last-generated-id"),
        field(&info, "max-deleted-entry-id"),
        field(&info, "entries-added"),
    ]
}

fn fill_with_group(c: &mut redis::Connection) {
    let mut p = redis::pipe();
    for i in 0..500 {
        p.cmd("XADD")
            .arg("events")
            .arg("*")
            .arg("seq")
            .arg(i)
            .arg("kind")
            .arg("click")
            .ignore();
    }
    p.query::<()>(c).unwrap();
    let third = ids(run(c, "XRANGE", &["events", "-", "+", "COUNT", "3"]).unwrap()).remove(2);
    run(c, "XDEL", &["events", &third]).unwrap();
    run(c, "XGROUP", &["CREATE", "events", "g", "0"]).unwrap();
    run(
        c,
        "XREADGROUP",
        &["GROUP", "g", "a", "COUNT", "7", "STREAMS", "events", ">"],
    )
    .unwrap();
    run(
        c,
        "XREADGROUP",
        &["GROUP", "g", "b", "COUNT", "5", "STREAMS", "events", ">"],
    )
    .unwrap();
    let first = ids(run(c, "XRANGE", &["events", "-", "+", "COUNT", "1"]).unwrap()).remove(0);
    run(c, "XACK", &["events", "g", &first]).unwrap();
    run(c, "XCLAIM", &["events", "g", "b", "0", &first, "FORCE"]).unwrap();
}

#[test]
fn streams_with_groups_survive_save_and_restart() {
    let dir = temp_dir("snapshot");
    let d = dir.to_str().unwrap();
    let before = {
        let e = Engine::start(&["--dir", d]);
        let mut c = e.conn();
        fill_with_group(&mut c);
        run(
            &mut c,
            "XGROUP",
            &["CREATE", "empty", "g2", "$", "MKSTREAM"],
        )
        .unwrap();
        run(&mut c, "SAVE", &[]).unwrap();
        stream_state(&mut c, "events", "g")
    };
    let e = Engine::start(&["--dir", d]);
    let mut c = e.conn();
    assert_eq!(stream_state(&mut c, "events", "g"), before);
    assert_eq!(int(run(&mut c, "XLEN", &["empty"]).unwrap()), 0);
    assert_eq!(
        items(run(&mut c, "XINFO", &["GROUPS", "empty"]).unwrap()).len(),
        1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_replica_receives_streams_groups_and_pending_entries() {
    let p = Engine::start(&[]);
    let mut pc = p.conn();
    xadd(&mut pc, "before", "1-0", &["f", "v"]);
    let target = format!("127.0.0.1 {}", p.port);
    let r = Engine::start(&["--replicaof", &target]);
    let mut rc = r.conn();
    wait_until("full sync", || {
        run(&mut rc, "XLEN", &["before"]).ok() == Some(Value::Int(1))
    });
    // Live stream: generated ids, approximate trims, group reads, acks and claims all replay identically.
    fill_with_group(&mut pc);
    run(
        &mut pc,
        "XADD",
        &["events", "MAXLEN", "~", "300", "*", "seq", "x"],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(30));
    run(&mut pc, "XAUTOCLAIM", &["events", "g", "c", "10", "0"]).unwrap();
    run(
        &mut pc,
        "XREADGROUP",
        &["GROUP", "g", "a", "STREAMS", "events", "0"],
    )
    .unwrap();
    // A consumer whose first read blocked and timed out exists on the replica too.
    run(
        &mut pc,
        "XGROUP",
        &["CREATE", "quiet", "g", "$", "MKSTREAM"],
    )
    .unwrap();
    let timed_out = run(
        &mut pc,
        "XREADGROUP",
        &["GROUP", "g", "late", "BLOCK", "50", "STREAMS", "quiet", ">"],
    );
    assert_eq!(timed_out.unwrap(), Value::Nil);
    assert_eq!(int(run(&mut pc, "WAIT", &["1", "5000"]).unwrap()), 1);
    let consumers = items(run(&mut rc, "XINFO", &["CONSUMERS", "quiet", "g"]).unwrap());
    assert_eq!(field(&fields(consumers[0].clone()), "name"), bulk("late"));
    assert_eq!(
        stream_state(&mut rc, "events", "g"),
        stream_state(&mut pc, "events", "g")
    );
    assert!(int(run(&mut rc, "XLEN", &["events"]).unwrap()) < 500);
    assert_eq!(
        run(&mut rc, "XINFO", &["CONSUMERS", "events", "g"])
            .map(|v| items(v).len())
            .unwrap(),
        3
    );
}

#[test]
fn a_million_small_entries_take_little_memory() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let before = common::used_memory(&mut c);
    for chunk in 0..100 {
        let mut p = redis::pipe();
        for i in 0..10_000 {
            p.cmd("XADD")
                .arg("s")
                .arg(format!("{}-0", chunk * 10_000 + i + 1))
                .arg("f")
                .arg("v")
                .ignore();
        }
        p.query::<()>(&mut c).unwrap();
    }
    let used = common::used_memory(&mut c) - before;
    assert_eq!(int(run(&mut c, "XLEN", &["s"]).unwrap()), 1_000_000);
    // Packed nodes: a few bytes per entry (Redis needs about 12).
    assert!(used < 10_000_000, "{used} bytes for a million entries");
}

/// The `ecpu=` of a command in INFO ecpustats.
fn command_units(c: &mut redis::Connection, name: &str) -> u64 {
    let text: String = common::cmd("INFO", &["ecpustats"]).query(c).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("ecpustat_{name}:")))
        .and_then(|l| l.split(',').find_map(|f| f.strip_prefix("ecpu=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no ecpu for {name} in {text}"))
}

#[test]
fn stream_commands_are_charged_by_elements_touched() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut p = redis::pipe();
    for i in 1..=250 {
        p.cmd("XADD")
            .arg("s")
            .arg(format!("{i}-0"))
            .arg("f")
            .arg("v")
            .ignore();
    }
    p.query::<()>(&mut c).unwrap();
    // XDEL of 250 ids: 1147 request bytes + 6 reply bytes make 2 units by bytes, 250 elements make 3.
    let ids: Vec<String> = (1..=250).map(|i| format!("{i}-0")).collect();
    let mut args = vec!["s"];
    args.extend(ids.iter().map(String::as_str));
    assert_eq!(int(run(&mut c, "XDEL", &args).unwrap()), 250);
    assert_eq!(command_units(&mut c, "xdel"), 3);
}

#[test]
fn stream_commands_publish_redis_keyspace_events() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "notify-keyspace-events", "KEA"],
    )
    .unwrap();
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.psubscribe("__keyevent@0__:*").unwrap();
    let steps: &[(&str, &[&str])] = &[
        ("XADD", &["s", "1-0", "f", "v"]),
        ("XADD", &["s", "2-0", "f", "v"]),
        ("XGROUP", &["CREATE", "s", "g", "0"]),
        ("XGROUP", &["CREATECONSUMER", "s", "g", "c"]),
        ("XGROUP", &["CREATECONSUMER", "s", "g", "c"]),
        ("XREADGROUP", &["GROUP", "g", "c", "STREAMS", "s", ">"]),
        ("XACK", &["s", "g", "1-0"]),
        ("XDEL", &["s", "1-0"]),
        ("XDEL", &["s", "9-0"]),
        ("XTRIM", &["s", "MAXLEN", "5"]),
        ("XTRIM", &["s", "MAXLEN", "0"]),
        ("XSETID", &["s", "5-0"]),
        ("XGROUP", &["DELCONSUMER", "s", "g", "c"]),
        ("XGROUP", &["DESTROY", "s", "g"]),
        ("XGROUP", &["DESTROY", "s", "g"]),
        ("SET", &["done", "1"]),
    ];
    for (name, args) in steps {
        run(&mut admin, name, args).unwrap();
    }
    // Group reads, acknowledgements and commands that change nothing publish nothing.
    let want = [
        ("xadd", "s"),
        ("xadd", "s"),
        ("xgroup-create", "s"),
        ("xgroup-createconsumer", "s"),
        ("xdel", "s"),
        ("xtrim", "s"),
        ("xsetid", "s"),
        ("xgroup-delconsumer", "s"),
        ("xgroup-destroy", "s"),
        ("set", "done"),
    ];
    for (event, key) in want {
        let msg = sub.get_message().unwrap();
        assert_eq!(
            (msg.get_channel_name(), msg.get_payload::<String>().unwrap()),
            (format!("__keyevent@0__:{event}").as_str(), key.to_string())
        );
    }
}

#[test]
fn a_blocked_xreadgroup_is_unblocked_when_its_stream_goes() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for (name, change) in [
        ("deleted", vec!["DEL", "s"]),
        ("replaced", vec!["SET", "s", "x"]),
        ("flushed", vec!["FLUSHALL"]),
    ] {
        let _ = run(&mut c, "DEL", &["s"]);
        run(&mut c, "XGROUP", &["CREATE", "s", "g", "$", "MKSTREAM"]).unwrap();
        let mut blocked = e.conn();
        let waiter = std::thread::spawn(move || {
            run(
                &mut blocked,
                "XREADGROUP",
                &["GROUP", "g", "c", "BLOCK", "0", "STREAMS", "s", ">"],
            )
        });
        std::thread::sleep(Duration::from_millis(200));
        run(&mut c, change[0], &change[1..]).unwrap();
        let reply = waiter.join().unwrap();
        let error = reply.expect_err(name).to_string();
        assert!(
            error.contains("UNBLOCKED") && error.contains("the stream key no longer exists"),
            "{name}: {error}"
        );
    }
}
