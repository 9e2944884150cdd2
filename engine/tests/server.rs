//! Connection and server commands: PING, HELLO, AUTH, CLIENT, CONFIG, COMMAND, INFO, QUIT, SHUTDOWN.

mod common;

use std::io::Write;

use common::{bulk, err, read_to_close, roundtrip, run, Engine};
use redis::Value;

fn info(c: &mut redis::Connection, section: &str) -> String {
    common::cmd("INFO", &[section]).query(c).unwrap()
}

fn field(info: &str, name: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in INFO"))
        .trim()
        .to_string()
}

#[test]
fn ping_echo_time() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "PING", &[]).unwrap(),
        Value::SimpleString("PONG".into())
    );
    assert_eq!(run(&mut c, "PING", &["hi"]).unwrap(), bulk("hi"));
    assert_eq!(run(&mut c, "ECHO", &["x y"]).unwrap(), bulk("x y"));
    let (secs, micros): (u64, u64) = common::cmd("TIME", &[]).query(&mut c).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(secs.abs_diff(now) <= 1 && micros < 1_000_000);
}

#[test]
fn hello_switches_protocol_and_describes_the_server() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    std::io::Write::write_all(&mut s, b"HELLO 3 SETNAME app1\r\nPING\r\n").unwrap();
    let reply = common::read_until(&mut s, b"+PONG\r\n");
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
        "{text}"
    );
    assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
    // RESP3 reply types: null and map.
    assert_eq!(roundtrip(&mut s, b"GET nothing\r\n", 3), b"_\r\n");
    assert_eq!(
        roundtrip(&mut s, b"CONFIG GET maxmemory\r\n", 26),
        b"%1\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n"
    );
    assert_eq!(
        roundtrip(&mut s, b"HELLO 4\r\n", 39),
        b"-NOPROTO unsupported protocol version\r\n"
    );
    let mut c = e.conn();
    let list: String = common::cmd("CLIENT", &["LIST"]).query(&mut c).unwrap();
    assert!(
        list.contains("name=app1") && list.contains("resp=3"),
        "{list}"
    );
}

#[test]
fn requirepass_gates_commands_until_auth() {
    let e = Engine::start(&["--requirepass", "s3cret"]);
    let mut s = e.raw();
    let noauth = b"-NOAUTH Authentication required.\r\n";
    assert_eq!(roundtrip(&mut s, b"GET k\r\n", noauth.len()), noauth);
    let wrong = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(roundtrip(&mut s, b"AUTH nope\r\n", wrong.len()), wrong);
    assert_eq!(
        roundtrip(&mut s, b"AUTH default nope\r\n", wrong.len()),
        wrong
    );
    assert_eq!(roundtrip(&mut s, b"AUTH s3cret\r\n", 5), b"+OK\r\n");
    assert_eq!(roundtrip(&mut s, b"GET k\r\n", 5), b"$-1\r\n");
    let client = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", e.port)).unwrap();
    let mut c = client.get_connection().unwrap();
    assert_eq!(run(&mut c, "SET", &["k", "v"]).unwrap(), Value::Okay);
    let mut s = e.raw();
    let reply = roundtrip(&mut s, b"HELLO 3 AUTH default s3cret\r\n", 4);
    assert_eq!(&reply[..4], b"%7\r\n");
}

#[test]
fn auth_without_a_password_configured_is_an_error() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert!(err(&mut c, "AUTH", &["x"])
        .starts_with("ERR AUTH <password> called without any password configured"));
}

#[test]
fn client_commands_name_list_and_kill() {
    let e = Engine::start(&[]);
    let mut a = e.conn();
    let mut b = e.conn();
    let Value::Int(id_b) = run(&mut b, "CLIENT", &["ID"]).unwrap() else {
        panic!()
    };
    assert_eq!(run(&mut a, "CLIENT", &["GETNAME"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut a, "CLIENT", &["SETNAME", "worker-a"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        run(&mut a, "CLIENT", &["GETNAME"]).unwrap(),
        bulk("worker-a")
    );
    assert!(err(&mut a, "CLIENT", &["SETNAME", "has space"]).contains("cannot contain spaces"));
    run(&mut a, "CLIENT", &["SETINFO", "LIB-NAME", "ferro-test"]).unwrap();
    let info: String = common::cmd("CLIENT", &["INFO"]).query(&mut a).unwrap();
    assert!(
        info.contains("name=worker-a") && info.contains("lib-name=ferro-test"),
        "{info}"
    );
    let list: String = common::cmd("CLIENT", &["LIST"]).query(&mut a).unwrap();
    // Both clients are listed (the fixture's readiness probe may still be closing).
    assert!(
        list.contains("name=worker-a") && list.contains(&format!("id={id_b} ")),
        "{list}"
    );
    let only_b: String = common::cmd("CLIENT", &["LIST", "ID", &id_b.to_string()])
        .query(&mut a)
        .unwrap();
    assert_eq!(only_b.lines().count(), 1);
    assert_eq!(
        run(&mut a, "CLIENT", &["KILL", "ID", &id_b.to_string()]).unwrap(),
        Value::Int(1)
    );
    assert!(
        run(&mut b, "PING", &[]).is_err(),
        "killed client is disconnected"
    );
    assert_eq!(
        err(&mut a, "CLIENT", &["KILL", "127.0.0.1:1"]),
        "ERR No such client"
    );
    assert_eq!(
        run(&mut a, "CLIENT", &["NO-EVICT", "on"]).unwrap(),
        Value::Okay
    );
    assert!(err(&mut a, "CLIENT", &["BOGUS"]).contains("Try CLIENT HELP"));
}

#[test]
fn config_get_set_with_globs_and_errors() {
    let e = Engine::start(&["--maxmemory", "10mb"]);
    let mut c = e.conn();
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "maxmemory*"])
        .query(&mut c)
        .unwrap();
    assert!(
        got.windows(2)
            .any(|w| w[0] == "maxmemory" && w[1] == "10485760"),
        "{got:?}"
    );
    assert!(got.contains(&"maxmemory-policy".to_string()));
    run(
        &mut c,
        "CONFIG",
        &["SET", "maxmemory", "1gb", "maxmemory-policy", "allkeys-lru"],
    )
    .unwrap();
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "maxmemory", "maxmemory-policy"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        got,
        ["maxmemory", "1073741824", "maxmemory-policy", "allkeys-lru"]
    );
    assert!(
        err(&mut c, "CONFIG", &["SET", "maxmemory-policy", "sometimes"])
            .contains("possibly related to argument 'maxmemory-policy'")
    );
    assert!(err(&mut c, "CONFIG", &["SET", "nosuch", "1"]).contains("Unknown option"));
    assert!(
        err(&mut c, "CONFIG", &["SET", "daemonize", "yes"]).contains("can't set immutable config")
    );
    // An immutable parameter "set" to the value it has is accepted: re-applying a whole configuration works.
    run(
        &mut c,
        "CONFIG",
        &["SET", "daemonize", "no", "databases", "16"],
    )
    .unwrap();
    // Save points are read back as Redis normalises them, and checked the same way.
    let _: () = common::cmd("CONFIG", &["SET", "save", "3000  5 60 10000"])
        .query(&mut c)
        .unwrap();
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "save"])
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["save", "3000 5 60 10000"]);
    assert!(err(&mut c, "CONFIG", &["SET", "save", "3000"]).contains("Invalid save parameters"));
    let _: () = common::cmd("CONFIG", &["SET", "save", ""])
        .query(&mut c)
        .unwrap();
    // A failed multi-parameter CONFIG SET changes nothing.
    let _ = err(
        &mut c,
        "CONFIG",
        &["SET", "timeout", "5", "maxmemory", "lots"],
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "timeout"])
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["timeout", "0"]);
    // Naming a parameter twice is refused as a whole, in Redis' words.
    assert_eq!(
        err(&mut c, "CONFIG", &["SET", "timeout", "7", "TIMEOUT", "9"]),
        "ERR CONFIG SET failed (possibly related to argument 'TIMEOUT') - duplicate parameter"
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "timeout"])
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["timeout", "0"]);
}

#[test]
fn every_redis_7_parameter_is_known_with_redis_types_and_hidden_ones_only_by_name() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let all: Vec<String> = common::cmd("CONFIG", &["GET", "*"]).query(&mut c).unwrap();
    let names: Vec<&str> = all.iter().step_by(2).map(String::as_str).collect();
    for name in [
        "appendfsync",
        "activedefrag",
        "lazyfree-lazy-user-del",
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        "busy-reply-threshold",
        "lua-time-limit",
        "tcp-keepalive",
        "oom-score-adj-values",
    ] {
        assert!(names.contains(&name), "{name} missing from CONFIG GET *");
    }
    assert!(
        !names.contains(&"key-load-delay"),
        "a hidden parameter is listed"
    );
    let hidden: Vec<String> = common::cmd("CONFIG", &["GET", "key-load-delay"])
        .query(&mut c)
        .unwrap();
    assert_eq!(hidden, ["key-load-delay", "0"]);
    // Types, ranges and Redis' error texts.
    assert_eq!(
        err(&mut c, "CONFIG", &["SET", "appendfsync", "sometimes"]),
        "ERR CONFIG SET failed (possibly related to argument 'appendfsync') - argument(s) must be one of the following: everysec, always, no"
    );
    assert_eq!(
        err(&mut c, "CONFIG", &["SET", "tcp-keepalive", "-1"]),
        "ERR CONFIG SET failed (possibly related to argument 'tcp-keepalive') - argument must be between 0 and 2147483647 inclusive"
    );
    assert!(err(&mut c, "CONFIG", &["SET", "activedefrag", "yes"])
        .contains("Active defragmentation cannot be enabled"));
    run(
        &mut c,
        "CONFIG",
        &[
            "SET",
            "auto-aof-rewrite-min-size",
            "1mb",
            "lua-time-limit",
            "250",
        ],
    )
    .unwrap();
    let got: Vec<String> = common::cmd(
        "CONFIG",
        &["GET", "auto-aof-rewrite-min-size", "busy-reply-threshold"],
    )
    .query(&mut c)
    .unwrap();
    assert_eq!(
        got,
        [
            "auto-aof-rewrite-min-size",
            "1048576",
            "busy-reply-threshold",
            "250"
        ]
    );
    // acllog-max-len is honoured: the log keeps that many entries.
    run(&mut c, "CONFIG", &["SET", "acllog-max-len", "2"]).unwrap();
    for i in 0..4 {
        let _ = err(&mut c, "AUTH", &[&format!("nobody{i}"), "wrong"]);
    }
    let log: Vec<redis::Value> = common::cmd("ACL", &["LOG"]).query(&mut c).unwrap();
    assert_eq!(log.len(), 2);
    // acl-pubsub-default allchannels: a new user may use every channel.
    run(
        &mut c,
        "CONFIG",
        &["SET", "acl-pubsub-default", "allchannels"],
    )
    .unwrap();
    run(
        &mut c,
        "ACL",
        &["SETUSER", "pub", "on", "nopass", "+publish"],
    )
    .unwrap();
    let rules: String = common::cmd("ACL", &["DRYRUN", "pub", "PUBLISH", "news", "x"])
        .query(&mut c)
        .unwrap();
    assert_eq!(rules, "OK");
}

#[test]
fn config_set_port_and_bind_move_the_listeners_or_change_nothing() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    // A port in use: refused with Redis' words, every other pair rolled back, the old port still served.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port().to_string();
    let msg = err(
        &mut c,
        "CONFIG",
        &["SET", "maxmemory", "10000001", "port", &busy_port],
    );
    assert!(
        msg.starts_with("ERR CONFIG SET failed (possibly related to argument 'port') - Unable to listen on this port"),
        "{msg}"
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "maxmemory"])
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["maxmemory", "0"]);
    let pong: String = redis::cmd("PING").query(&mut e.conn()).unwrap();
    assert_eq!(pong, "PONG");
    // A free port: new clients connect there, the old port is closed, this connection lives on.
    let new_port = common::free_port();
    run(&mut c, "CONFIG", &["SET", "port", &new_port.to_string()]).unwrap();
    let mut moved = redis::Client::open(format!("redis://127.0.0.1:{new_port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let pong: String = redis::cmd("PING").query(&mut moved).unwrap();
    assert_eq!(pong, "PONG");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", e.port)).is_err(),
        "the old port still accepts"
    );
    let info: String = redis::cmd("INFO").arg("server").query(&mut c).unwrap();
    assert!(info.contains(&format!("tcp_port:{new_port}")), "{info}");
    // bind on the same port: both addresses answer; an address this host lacks changes nothing.
    run(
        &mut moved,
        "CONFIG",
        &["SET", "bind", "127.0.0.1 127.0.0.2"],
    )
    .unwrap();
    let mut second = redis::Client::open(format!("redis://127.0.0.2:{new_port}/"))
        .unwrap()
        .get_connection()
        .unwrap();
    let pong: String = redis::cmd("PING").query(&mut second).unwrap();
    assert_eq!(pong, "PONG");
    let msg = err(&mut moved, "CONFIG", &["SET", "bind", "192.0.2.1"]);
    assert!(msg.contains("argument 'bind') - Failed to bind"), "{msg}");
    assert!(std::net::TcpStream::connect(("127.0.0.2", new_port)).is_ok());
    drop(busy);
}

#[test]
fn client_kill_of_itself_replies_then_closes_and_subcommand_names_are_not_commands() {
    let e = Engine::start(&[]);
    let mut raw = e.raw();
    let reply = common::roundtrip(&mut raw, b"CLIENT KILL SKIPME no ID 999999\r\n", 4);
    assert_eq!(reply, b":0\r\n");
    let _other = e.raw();
    std::thread::sleep(std::time::Duration::from_millis(50));
    raw.write_all(b"CLIENT KILL SKIPME no\r\n").unwrap();
    let rest = read_to_close(&mut raw);
    assert_eq!(
        rest, b":2\r\n",
        "the killer gets its count, then the connection closes"
    );
    let mut c = e.conn();
    for name in ["GET|", "CONFIG|GET"] {
        let msg = err(&mut c, name, &["x"]);
        assert!(msg.starts_with("ERR unknown command"), "{name}: {msg}");
    }
    assert!(err(&mut c, "CONFIG", &["GET_XX"]).contains("unknown subcommand"));
}

#[test]
fn used_memory_is_what_the_process_allocated_and_is_given_back() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mem = |c: &mut redis::Connection, f: &str| common::info_u64(c, "memory", f);
    let start = mem(&mut c, "used_memory");
    assert!(
        start > 100_000,
        "the process's own structures count: {start}"
    );
    assert_eq!(mem(&mut c, "used_memory_dataset"), 0);
    let members: Vec<String> = (0..100_000).map(|i| i.to_string()).collect();
    let _: i64 = redis::cmd("SADD")
        .arg("myset")
        .arg(&members)
        .query(&mut c)
        .unwrap();
    let peak = mem(&mut c, "used_memory");
    assert!(peak > start + 1_000_000, "{start} -> {peak}");
    assert!(mem(&mut c, "used_memory_peak") >= peak);
    let _: i64 = redis::cmd("UNLINK").arg("myset").query(&mut c).unwrap();
    // The set and the 700 KB request that carried it are both given back.
    let after = mem(&mut c, "used_memory");
    assert!(after < start * 2, "{start} -> {peak} -> {after}");
    assert_eq!(mem(&mut c, "lazyfree_pending_objects"), 0);
}

#[test]
fn command_table_is_introspectable() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let Value::Int(n) = run(&mut c, "COMMAND", &["COUNT"]).unwrap() else {
        panic!()
    };
    assert!(n > 60);
    let Value::Array(info) = run(&mut c, "COMMAND", &["INFO", "get", "mset", "nosuch"]).unwrap()
    else {
        panic!()
    };
    let Value::Array(get) = &info[0] else {
        panic!()
    };
    assert_eq!(get[0], bulk("get"));
    assert_eq!(get[1], Value::Int(2));
    let Value::Array(mset) = &info[1] else {
        panic!()
    };
    assert_eq!(
        (&mset[3], &mset[4], &mset[5]),
        (&Value::Int(1), &Value::Int(-1), &Value::Int(2))
    );
    assert_eq!(info[2], Value::Nil);
    let keys: Vec<String> = common::cmd("COMMAND", &["GETKEYS", "MSET", "a", "1", "b", "2"])
        .query(&mut c)
        .unwrap();
    assert_eq!(keys, ["a", "b"]);
}

#[test]
fn info_reports_stats_keyspace_and_commandstats() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["a", "1", "EX", "100"]).unwrap();
    run(&mut c, "SET", &["b", "1"]).unwrap();
    run(&mut c, "GET", &["a"]).unwrap();
    run(&mut c, "GET", &["missing"]).unwrap();
    let all = info(&mut c, "everything");
    for section in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Commandstats",
        "# Keyspace",
    ] {
        assert!(all.contains(section), "missing {section}");
    }
    assert_eq!(field(&all, "keyspace_hits"), "1");
    assert_eq!(field(&all, "keyspace_misses"), "1");
    assert_eq!(field(&all, "db0"), "keys=2,expires=1,avg_ttl=0");
    assert!(field(&all, "cmdstat_set").starts_with("calls=2,"));
    assert_eq!(field(&all, "role"), "master");
    assert!(field(&all, "used_memory").parse::<u64>().unwrap() > 0);
    let default = info(&mut c, "default");
    assert!(!default.contains("# Commandstats"));
    run(&mut c, "CONFIG", &["RESETSTAT"]).unwrap();
    assert_eq!(field(&info(&mut c, "stats"), "keyspace_hits"), "0");
}

#[test]
fn quit_replies_then_closes() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    std::io::Write::write_all(&mut s, b"QUIT\r\nPING\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"+OK\r\n");
}

#[test]
fn sigterm_and_shutdown_stop_the_server_cleanly() {
    let e = Engine::start(&[]);
    let status = e.terminate();
    assert!(status.success(), "{status:?}");
    let mut e = Engine::start(&[]);
    let mut s = e.raw();
    std::io::Write::write_all(&mut s, b"SHUTDOWN NOSAVE\r\n").unwrap();
    assert_eq!(read_to_close(&mut s), b"");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while e.is_running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(!e.is_running(), "SHUTDOWN stops the process");
}

#[test]
fn config_file_and_flags_configure_the_node() {
    let dir = common::temp_dir("config");
    let file = dir.join("engine.conf");
    std::fs::write(&file, "databases 4\nmaxmemory-policy volatile-ttl\n").unwrap();
    let e = Engine::start(&[
        "--config",
        file.to_str().unwrap(),
        "--set",
        "maxmemory-samples=9",
    ]);
    let mut c = e.conn();
    assert_eq!(
        err(&mut c, "SELECT", &["4"]),
        "ERR DB index is out of range"
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "maxmemory-*"])
        .query(&mut c)
        .unwrap();
    assert!(got
        .windows(2)
        .any(|w| w == ["maxmemory-policy", "volatile-ttl"]));
    assert!(got.windows(2).any(|w| w == ["maxmemory-samples", "9"]));
}

#[test]
fn config_rewrite_writes_the_running_configuration_into_the_file() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        err(&mut c, "CONFIG", &["REWRITE"]),
        "ERR The server is running without a config file"
    );
    drop(e);
    let dir = common::temp_dir("rewrite");
    let file = dir.join("engine.conf");
    std::fs::write(
        &file,
        "# cache node\ndatabases 4\nmaxmemory-policy volatile-ttl\nmaxmemory-policy allkeys-lru\n",
    )
    .unwrap();
    let e = Engine::start(&["--config", file.to_str().unwrap()]);
    let mut c = e.conn();
    run(
        &mut c,
        "CONFIG",
        &[
            "SET",
            "maxmemory-policy",
            "allkeys-lfu",
            "save",
            "3600 1 300 100",
            "appendfsync",
            "always",
        ],
    )
    .unwrap();
    run(
        &mut c,
        "CONFIG",
        &["SET", "notify-keyspace-events", "", "tcp-keepalive", "60"],
    )
    .unwrap();
    run(&mut c, "CONFIG", &["REWRITE"]).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# cache node\ndatabases 4\nmaxmemory-policy allkeys-lfu\n"),
        "{text}"
    );
    assert_eq!(text.matches("maxmemory-policy").count(), 1, "{text}");
    assert!(
        text.contains("\nsave 3600 1 300 100\n") && text.contains("\nappendfsync always\n"),
        "{text}"
    );
    // The node starts again from the rewritten file with the same configuration.
    drop(e);
    let e = Engine::start(&["--config", file.to_str().unwrap()]);
    let mut c = e.conn();
    for (name, value) in [
        ("maxmemory-policy", "allkeys-lfu"),
        ("save", "3600 1 300 100"),
        ("appendfsync", "always"),
        ("tcp-keepalive", "60"),
        ("databases", "4"),
    ] {
        let got: Vec<String> = common::cmd("CONFIG", &["GET", name]).query(&mut c).unwrap();
        assert_eq!(got, [name, value]);
    }
}

#[test]
fn function_flush_succeeds_on_a_server_without_libraries_and_checks_its_option() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for args in [&[][..], &["ASYNC"][..], &["sync"][..]] {
        assert_eq!(
            run(&mut c, "FUNCTION", &[&["FLUSH"][..], args].concat()).unwrap(),
            Value::Okay
        );
    }
    let err = run(&mut c, "FUNCTION", &["FLUSH", "LATER"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("FUNCTION FLUSH only supports SYNC|ASYNC option"),
        "{err}"
    );
    // The keyspace is left alone: functions are not keys.
    run(&mut c, "SET", &["k", "v"]).unwrap();
    run(&mut c, "FUNCTION", &["FLUSH"]).unwrap();
    assert_eq!(run(&mut c, "GET", &["k"]).unwrap(), bulk("v"));
}

#[test]
fn debug_and_protected_configs_are_refused_unless_enabled() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert!(
        err(&mut c, "DEBUG", &["HELP"]).starts_with("ERR DEBUG command not allowed."),
        "DEBUG is refused by default"
    );
    assert_eq!(
        err(&mut c, "CONFIG", &["SET", "dir", "/tmp"]),
        "ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config"
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "enable-*"])
        .query(&mut c)
        .unwrap();
    for name in [
        "enable-debug-command",
        "enable-protected-configs",
        "enable-module-command",
    ] {
        assert!(got.windows(2).any(|w| w == [name, "no"]), "{got:?}");
    }
}

#[test]
fn debug_and_protected_configs_work_where_enabled() {
    let dir = common::temp_dir("protected");
    // `local` admits this loopback client.
    let e = Engine::start(&[
        "--enable-debug-command",
        "local",
        "--enable-protected-configs",
        "yes",
    ]);
    let mut c = e.conn();
    let help: Vec<String> = common::cmd("DEBUG", &["HELP"]).query(&mut c).unwrap();
    assert!(help.iter().any(|l| l.starts_with("SLEEP")), "{help:?}");
    assert_eq!(
        run(&mut c, "DEBUG", &["SLEEP", "0.01"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        err(&mut c, "DEBUG", &["NOSUCH"]),
        "ERR unknown subcommand 'NOSUCH'. Try DEBUG HELP."
    );
    let d = dir.to_str().unwrap();
    assert_eq!(
        run(&mut c, "CONFIG", &["SET", "dir", d]).unwrap(),
        Value::Okay
    );
    let got: Vec<String> = common::cmd("CONFIG", &["GET", "dir"])
        .query(&mut c)
        .unwrap();
    assert_eq!(got, ["dir", d]);
    assert_eq!(
        err(&mut c, "CONFIG", &["SET", "enable-debug-command", "no"]),
        "ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config"
    );
}
