//! Pub/sub, keyspace notifications and client-side caching invalidation, against the real binary.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{expect, read_n, read_until, resp3, run, Engine};
use redis::Value;

fn publish(con: &mut redis::Connection, channel: &str, message: &str) -> i64 {
    common::cmd("PUBLISH", &[channel, message])
        .query(con)
        .unwrap()
}

/// Waits until `channel` has `n` subscribers (subscriptions from other connections are asynchronous to us).
fn wait_numsub(con: &mut redis::Connection, channel: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v: Vec<Value> = common::cmd("PUBSUB", &["NUMSUB", channel])
            .query(con)
            .unwrap();
        if v.get(1) == Some(&Value::Int(n)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{channel} never had {n} subscribers: {v:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_message_fans_out_to_100_subscribers() {
    let e = Engine::start(&[]);
    let mut cons: Vec<redis::Connection> = (0..100).map(|_| e.conn()).collect();
    let mut subs: Vec<redis::PubSub> = cons.iter_mut().map(|c| c.as_pubsub()).collect();
    for s in &mut subs {
        s.subscribe("news").unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    let mut publisher = e.conn();
    wait_numsub(&mut publisher, "news", 100);
    assert_eq!(publish(&mut publisher, "news", "hello"), 100);
    assert_eq!(publish(&mut publisher, "other", "nobody"), 0);
    for s in &mut subs {
        let msg = s.get_message().unwrap();
        assert_eq!(msg.get_channel_name(), "news");
        assert_eq!(msg.get_payload::<String>().unwrap(), "hello");
    }
    let channels: Vec<String> = common::cmd("PUBSUB", &["CHANNELS", "n*"])
        .query(&mut publisher)
        .unwrap();
    assert_eq!(channels, vec!["news"]);
    drop(subs);
    drop(cons);
    wait_numsub(&mut publisher, "news", 0);
}

#[test]
fn pattern_subscribers_get_pmessages_with_the_pattern_until_they_unsubscribe() {
    let e = Engine::start(&[]);
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.psubscribe("user.*").unwrap();
    sub.psubscribe("user.[0-9]").unwrap();
    let mut p = e.conn();
    let numpat: i64 = common::cmd("PUBSUB", &["NUMPAT"]).query(&mut p).unwrap();
    assert_eq!(numpat, 2);
    // One client, two matching patterns: two deliveries, counted like Redis.
    assert_eq!(publish(&mut p, "user.7", "signed-in"), 2);
    let mut patterns = Vec::new();
    for _ in 0..2 {
        let msg = sub.get_message().unwrap();
        assert_eq!(msg.get_channel_name(), "user.7");
        assert_eq!(msg.get_payload::<String>().unwrap(), "signed-in");
        patterns.push(msg.get_pattern::<String>().unwrap());
    }
    patterns.sort();
    assert_eq!(patterns, vec!["user.*", "user.[0-9]"]);
    assert_eq!(publish(&mut p, "order.7", "x"), 0);
    sub.punsubscribe("user.[0-9]").unwrap();
    assert_eq!(publish(&mut p, "user.8", "again"), 1);
    assert_eq!(
        sub.get_message().unwrap().get_pattern::<String>().unwrap(),
        "user.*"
    );
}

#[test]
fn resp2_subscribers_may_only_run_subscriber_commands() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    expect(
        &mut s,
        "SUBSCRIBE a b",
        "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n",
    );
    expect(
        &mut s,
        "GET k",
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    expect(&mut s, "PING", "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    expect(
        &mut s,
        "UNSUBSCRIBE",
        "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n",
    );
    // Out of subscriber mode: ordinary commands again.
    expect(&mut s, "GET k", "$-1\r\n");
    expect(
        &mut s,
        "UNSUBSCRIBE",
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
}

#[test]
fn resp3_subscribers_get_push_frames_and_keep_running_commands() {
    let e = Engine::start(&[]);
    let mut s = resp3(&e);
    expect(
        &mut s,
        "SUBSCRIBE c",
        ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    expect(&mut s, "SET k v", "+OK\r\n");
    let mut p = e.conn();
    assert_eq!(publish(&mut p, "c", "m"), 1);
    let want = ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n";
    assert_eq!(String::from_utf8_lossy(&read_n(&mut s, want.len())), want);
    expect(&mut s, "GET k", "$1\r\nv\r\n");
    // RESET leaves every subscription.
    expect(&mut s, "RESET", "+RESET\r\n");
    assert_eq!(publish(&mut p, "c", "m"), 0);
}

#[test]
fn shard_channels_are_separate_from_channels() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    expect(
        &mut s,
        "SSUBSCRIBE orders",
        "*3\r\n$10\r\nssubscribe\r\n$6\r\norders\r\n:1\r\n",
    );
    let mut p = e.conn();
    assert_eq!(publish(&mut p, "orders", "x"), 0);
    let n: i64 = common::cmd("SPUBLISH", &["orders", "y"])
        .query(&mut p)
        .unwrap();
    assert_eq!(n, 1);
    let want = "*3\r\n$8\r\nsmessage\r\n$6\r\norders\r\n$1\r\ny\r\n";
    assert_eq!(String::from_utf8_lossy(&read_n(&mut s, want.len())), want);
    let v: Vec<Value> = common::cmd("PUBSUB", &["SHARDNUMSUB", "orders"])
        .query(&mut p)
        .unwrap();
    assert_eq!(
        v,
        vec![Value::BulkString(b"orders".to_vec()), Value::Int(1)]
    );
}

#[test]
fn a_subscriber_that_stops_reading_is_disconnected_and_the_others_carry_on() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "client-output-buffer-limit", "pubsub 4mb 1mb 60"],
    )
    .unwrap();
    let limits: Vec<String> = common::cmd("CONFIG", &["GET", "client-output-buffer-limit"])
        .query(&mut admin)
        .unwrap();
    assert!(
        limits[1].contains("pubsub 4194304 1048576 60"),
        "{limits:?}"
    );

    // The slow subscriber asks for a small receive buffer and never reads.
    let slow = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow.set_recv_buffer_size(4096).unwrap();
    slow.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], e.port)).into())
        .unwrap();
    let mut slow: TcpStream = slow.into();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"SUBSCRIBE feed\r\n").unwrap();
    read_until(&mut slow, b":1\r\n");

    // The healthy subscriber reads everything in a thread and counts messages.
    let mut fast = e.raw();
    fast.write_all(b"SUBSCRIBE feed\r\n").unwrap();
    read_until(&mut fast, b":1\r\n");
    wait_numsub(&mut admin, "feed", 2);
    let payload = "x".repeat(10_000);
    let frame_len = format!("*3\r\n$7\r\nmessage\r\n$4\r\nfeed\r\n$10000\r\n{payload}\r\n").len();
    let consumed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let progress = consumed.clone();
    let reader = std::thread::spawn(move || {
        let mut total = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        while total < 2000 * frame_len {
            let n = fast
                .read(&mut buf)
                .expect("the healthy subscriber keeps its connection");
            assert!(n > 0, "the healthy subscriber was disconnected");
            total += n;
            progress.store(total, std::sync::atomic::Ordering::Relaxed);
        }
        (total / frame_len, fast)
    });
    // A healthy subscriber keeps up: the publisher never lets it fall more than 1 MB behind, however the
    // machine schedules its reader thread, while the slow one falls behind without bound.
    for i in 0..2000 {
        let deadline = Instant::now() + Duration::from_secs(30);
        while (i * frame_len).saturating_sub(consumed.load(std::sync::atomic::Ordering::Relaxed))
            > 1 << 20
        {
            assert!(
                Instant::now() < deadline,
                "the healthy subscriber stopped reading"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        publish(&mut admin, "feed", &payload);
    }
    let (received, _fast) = reader.join().unwrap();
    assert_eq!(received, 2000);
    // 20 MB were published; the slow one was cut off once 4 MB waited for it.
    wait_numsub(&mut admin, "feed", 1);
    let mut rest = Vec::new();
    let _ = slow.read_to_end(&mut rest);
    assert!(
        rest.len() < 16 << 20,
        "the slow subscriber got {} bytes",
        rest.len()
    );
}

#[test]
fn expired_keys_publish_exactly_one_expired_event() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "notify-keyspace-events", "Ex"],
    )
    .unwrap();
    let v: Vec<String> = common::cmd("CONFIG", &["GET", "notify-keyspace-events"])
        .query(&mut admin)
        .unwrap();
    assert_eq!(v[1], "xE");
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.subscribe("__keyevent@0__:expired").unwrap();
    // One key expires by the active cycle, the other is touched after its TTL (lazy expiry).
    run(&mut admin, "SET", &["session:1", "a", "PX", "100"]).unwrap();
    run(&mut admin, "SET", &["session:2", "b", "PX", "100"]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let _ = run(&mut admin, "GET", &["session:2"]);
    let mut keys = Vec::new();
    for _ in 0..2 {
        let msg = sub.get_message().unwrap();
        keys.push(msg.get_payload::<String>().unwrap());
    }
    keys.sort();
    assert_eq!(keys, vec!["session:1", "session:2"]);
    // Exactly once: nothing else arrives.
    sub.set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    assert!(sub.get_message().is_err(), "a second expired event arrived");
}

#[test]
fn every_evicted_key_publishes_one_evicted_event() {
    let e = Engine::start(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-random"]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "notify-keyspace-events", "Ee"],
    )
    .unwrap();
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.subscribe("__keyevent@0__:evicted").unwrap();
    let value = "v".repeat(1000);
    for i in 0..5000 {
        run(&mut admin, "SET", &[&format!("k{i}"), &value]).unwrap();
    }
    let info: String = common::cmd("INFO", &["stats"]).query(&mut admin).unwrap();
    let evicted: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("evicted_keys:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("evicted_keys");
    assert!(evicted > 1000, "only {evicted} keys evicted");
    let mut keys = std::collections::HashSet::new();
    for _ in 0..evicted {
        let key: String = sub.get_message().unwrap().get_payload().unwrap();
        assert!(keys.insert(key.clone()), "{key} was reported evicted twice");
    }
    sub.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(sub.get_message().is_err(), "more events than evicted keys");
    let present: i64 = common::cmd(
        "EXISTS",
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .query(&mut admin)
    .unwrap();
    assert_eq!(present, 0, "a key reported evicted is still there");
}

#[test]
fn keyspace_events_name_what_each_command_did() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "notify-keyspace-events", "KA"],
    )
    .unwrap();
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.psubscribe("__keyspace@0__:*").unwrap();
    let steps: &[(&str, &[&str])] = &[
        ("SET", &["k", "1"]),
        ("INCR", &["k"]),
        ("EXPIRE", &["k", "100"]),
        ("DEL", &["k", "missing"]),
        ("RPUSH", &["q", "a"]),
        ("LPOP", &["q"]),
        ("HSET", &["h", "f", "v"]),
        ("RENAME", &["h", "h2"]),
    ];
    for (name, args) in steps {
        run(&mut admin, name, args).unwrap();
    }
    let want = [
        ("k", "set"),
        ("k", "incrby"),
        ("k", "expire"),
        ("k", "del"),
        ("q", "rpush"),
        ("q", "lpop"),
        ("q", "del"),
        ("h", "hset"),
        ("h", "rename_from"),
        ("h2", "rename_to"),
    ];
    for (key, event) in want {
        let msg = sub.get_message().unwrap();
        assert_eq!(
            (
                msg.get_channel_name(),
                msg.get_payload::<String>().unwrap().as_str()
            ),
            (format!("__keyspace@0__:{key}").as_str(), event)
        );
    }
    // A DEL of a missing key changes nothing and says nothing; neither does removing a missing member.
    run(&mut admin, "DEL", &["missing"]).unwrap();
    run(&mut admin, "SADD", &["s", "a"]).unwrap();
    run(&mut admin, "ZADD", &["z", "1", "a"]).unwrap();
    run(&mut admin, "HSET", &["h3", "f", "v"]).unwrap();
    for (key, event) in [("s", "sadd"), ("z", "zadd"), ("h3", "hset")] {
        let msg = sub.get_message().unwrap();
        assert_eq!(msg.get_payload::<String>().unwrap(), event, "{key}");
    }
    run(&mut admin, "SREM", &["s", "nosuch"]).unwrap();
    run(&mut admin, "ZREM", &["z", "nosuch"]).unwrap();
    run(&mut admin, "HDEL", &["h3", "nosuch"]).unwrap();
    sub.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(sub.get_message().is_err());
}

#[test]
fn client_tracking_invalidates_a_resp3_reader_after_another_clients_write() {
    let e = Engine::start(&[]);
    let mut reader = resp3(&e);
    expect(&mut reader, "CLIENT TRACKING ON", "+OK\r\n");
    expect(&mut reader, "SET user:1 alice", "+OK\r\n");
    // Its own write happened before the read: nothing is tracked yet.
    expect(&mut reader, "GET user:1", "$5\r\nalice\r\n");
    let mut writer = e.conn();
    run(&mut writer, "SET", &["user:1", "bob"]).unwrap();
    let want = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:1\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
    // Invalidated once: the next write is not reported until the key is read again.
    run(&mut writer, "SET", &["user:1", "carol"]).unwrap();
    expect(&mut reader, "GET user:1", "$5\r\ncarol\r\n");
    run(&mut writer, "DEL", &["user:1"]).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
    // Expiry invalidates too.
    expect(&mut reader, "SET t 1 PX 50", "+OK\r\n");
    expect(&mut reader, "GET t", "$1\r\n1\r\n");
    let want = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nt\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
    // FLUSHALL invalidates everything with a null.
    expect(&mut reader, "GET x", "_\r\n");
    run(&mut writer, "FLUSHALL", &[]).unwrap();
    let want = ">2\r\n$10\r\ninvalidate\r\n_\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
}

#[test]
fn resp2_tracking_redirects_invalidations_to_a_subscribed_connection() {
    let e = Engine::start(&[]);
    let mut inval = e.raw();
    let id = {
        let got = common::roundtrip_until(&mut inval, b"CLIENT ID\r\n", b"\r\n");
        String::from_utf8_lossy(&got[1..got.len() - 2]).to_string()
    };
    inval
        .write_all(b"SUBSCRIBE __redis__:invalidate\r\n")
        .unwrap();
    read_until(&mut inval, b":1\r\n");
    let mut reader = e.raw();
    expect(
        &mut reader,
        "CLIENT TRACKING ON REDIRECT 999999",
        "-ERR The client ID you want redirect to does not exist\r\n",
    );
    expect(
        &mut reader,
        &format!("CLIENT TRACKING ON REDIRECT {id}"),
        "+OK\r\n",
    );
    expect(&mut reader, "CLIENT GETREDIR", &format!(":{id}\r\n"));
    expect(&mut reader, "GET k", "$-1\r\n");
    let mut writer = e.conn();
    run(&mut writer, "SET", &["k", "v"]).unwrap();
    let want = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut inval, want.len())),
        want
    );
}

#[test]
fn broadcast_tracking_reports_keys_under_its_prefixes_and_noloop_skips_own_writes() {
    let e = Engine::start(&[]);
    let mut reader = resp3(&e);
    expect(
        &mut reader,
        "CLIENT TRACKING ON BCAST PREFIX user: NOLOOP",
        "+OK\r\n",
    );
    expect(&mut reader, "SET user:me 1", "+OK\r\n");
    let mut writer = e.conn();
    run(&mut writer, "SET", &["order:1", "x"]).unwrap();
    run(&mut writer, "SET", &["user:2", "x"]).unwrap();
    let want = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$6\r\nuser:2\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
    // One command's (or one EXEC's) keys come in one message, as Redis sends them.
    run(
        &mut writer,
        "MSET",
        &["user:a", "1", "order:2", "2", "user:b", "3"],
    )
    .unwrap();
    let want = ">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nuser:a\r\n$6\r\nuser:b\r\n";
    assert_eq!(
        String::from_utf8_lossy(&read_n(&mut reader, want.len())),
        want
    );
    expect(
        &mut reader,
        "CLIENT TRACKING ON PREFIX a",
        "-ERR PREFIX option requires BCAST mode to be enabled\r\n",
    );
}

#[test]
fn channel_permissions_of_acl_users_are_enforced() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "ACL",
        &["SETUSER", "app", "on", ">pw", "~*", "&orders:*", "+@all"],
    )
    .unwrap();
    let mut s = e.raw();
    expect(&mut s, "AUTH app pw", "+OK\r\n");
    expect(
        &mut s,
        "PUBLISH payments:1 x",
        "-NOPERM No permissions to access a channel\r\n",
    );
    expect(&mut s, "PUBLISH orders:1 x", ":0\r\n");
    expect(
        &mut s,
        "PSUBSCRIBE orders:1*",
        "-NOPERM No permissions to access a channel\r\n",
    );
    expect(
        &mut s,
        "SUBSCRIBE orders:9",
        "*3\r\n$9\r\nsubscribe\r\n$8\r\norders:9\r\n:1\r\n",
    );
}

#[test]
fn broadcast_prefixes_may_not_overlap_and_the_table_keeps_its_limit() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let err =
        |c: &mut redis::Connection, args: &[&str]| run(c, "CLIENT", args).unwrap_err().to_string();
    let e1 = err(
        &mut c,
        &[
            "TRACKING", "ON", "BCAST", "PREFIX", "FOOBAR", "PREFIX", "FOO",
        ],
    );
    assert!(
        e1.contains("Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'"),
        "{e1}"
    );
    run(
        &mut c,
        "CLIENT",
        &["TRACKING", "ON", "BCAST", "PREFIX", "FOO", "PREFIX", "BAR"],
    )
    .unwrap();
    let e2 = err(&mut c, &["TRACKING", "ON", "BCAST", "PREFIX", "FO"]);
    assert!(
        e2.contains("Prefix 'FO' overlaps with an existing prefix 'FOO'"),
        "{e2}"
    );
    run(&mut c, "CLIENT", &["TRACKING", "OFF"]).unwrap();

    // Default mode: past tracking-table-max-keys, remembered keys are dropped with an invalidation.
    let mut reader = resp3(&e);
    expect(&mut reader, "CLIENT TRACKING ON", "+OK\r\n");
    expect(&mut reader, "GET k1", "_\r\n");
    expect(&mut reader, "GET k2", "_\r\n");
    run(&mut c, "CONFIG", &["SET", "tracking-table-max-keys", "1"]).unwrap();
    let frame = String::from_utf8_lossy(&read_n(&mut reader, 31)).to_string();
    assert!(
        frame.starts_with(">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nk"),
        "{frame:?}"
    );
}

#[test]
fn new_keys_and_implicitly_created_consumers_are_announced() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(
        &mut admin,
        "CONFIG",
        &["SET", "notify-keyspace-events", "Ent"],
    )
    .unwrap();
    let mut con = e.conn();
    let mut sub = con.as_pubsub();
    sub.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sub.psubscribe("*").unwrap();
    run(&mut admin, "SET", &["foo", "bar"]).unwrap();
    run(&mut admin, "SET", &["foo", "baz"]).unwrap(); // not new
    run(
        &mut admin,
        "XGROUP",
        &["CREATE", "st", "g", "$", "MKSTREAM"],
    )
    .unwrap();
    let id: String =
        redis::from_redis_value(run(&mut admin, "XADD", &["st", "*", "f", "v"]).unwrap()).unwrap();
    run(
        &mut admin,
        "XREADGROUP",
        &["GROUP", "g", "Alice", "STREAMS", "st", ">"],
    )
    .unwrap();
    run(&mut admin, "XCLAIM", &["st", "g", "Mike", "0", &id]).unwrap();
    // Keyevent channels only: (event, key), in order.
    let mut seen = Vec::new();
    while seen.len() < 6 {
        let msg = sub.get_message().unwrap();
        let event = msg
            .get_channel_name()
            .trim_start_matches("__keyevent@0__:")
            .to_string();
        seen.push((event, msg.get_payload::<String>().unwrap()));
    }
    let want: Vec<(String, String)> = [
        ("new", "foo"),
        ("new", "st"),
        ("xgroup-create", "st"),
        ("xadd", "st"),
        ("xgroup-createconsumer", "st"), // XREADGROUP made Alice
        ("xgroup-createconsumer", "st"), // XCLAIM made Mike
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(seen, want);
}
