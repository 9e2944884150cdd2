//! Blocking list and sorted-set commands: wake-ups by other clients, timeouts, fairness, MULTI, clean-up.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{blocked_clients, bulk, expect, read_n, roundtrip, run, send, wait_blocked, Engine};
use redis::Value;

/// Reads exactly the expected reply (nothing more is waited for) and compares it.
fn reply_is(s: &mut TcpStream, want: &str) {
    assert_eq!(String::from_utf8_lossy(&read_n(s, want.len())), want);
}

#[test]
fn blpop_is_woken_by_a_push_from_another_client() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut waiter = e.raw();
    send(&mut waiter, "BLPOP empty queue 0");
    wait_blocked(&mut c, 1);
    assert_eq!(
        run(&mut c, "RPUSH", &["queue", "job"]).unwrap(),
        Value::Int(1)
    );
    let reply = read_n(&mut waiter, "*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n".len());
    assert_eq!(reply, b"*2\r\n$5\r\nqueue\r\n$3\r\njob\r\n");
    assert_eq!(blocked_clients(&mut c), 0);
    assert_eq!(run(&mut c, "EXISTS", &["queue"]).unwrap(), Value::Int(0));
}

#[test]
fn timeouts_answer_null_after_the_deadline() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    let started = Instant::now();
    expect(&mut s, "BLPOP none 0.2", "*-1\r\n");
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(190), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    expect(&mut s, "BLMOVE none dst LEFT LEFT 0.05", "*-1\r\n");
    expect(&mut s, "BZPOPMIN none 0.05", "*-1\r\n");
    expect(&mut s, "BZMPOP 0.05 1 none MIN", "*-1\r\n");
    expect(&mut s, "BLMPOP 0.05 1 none LEFT", "*-1\r\n");
    expect(&mut s, "BLPOP none -1", "-ERR timeout is negative\r\n");
    expect(
        &mut s,
        "BLPOP none abc",
        "-ERR timeout is not a float or out of range\r\n",
    );
    let mut r3 = common::resp3(&e);
    expect(&mut r3, "BRPOP none 0.05", "_\r\n");
}

#[test]
fn clients_blocked_on_a_key_are_served_in_arrival_order() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut waiters: Vec<TcpStream> = (0..3).map(|_| e.raw()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        send(w, "BLPOP q 0");
        wait_blocked(&mut c, i as u64 + 1);
    }
    run(&mut c, "RPUSH", &["q", "first", "second", "third"]).unwrap();
    for (w, item) in waiters.iter_mut().zip(["first", "second", "third"]) {
        let want = format!("*2\r\n$1\r\nq\r\n${}\r\n{item}\r\n", item.len());
        assert_eq!(String::from_utf8_lossy(&read_n(w, want.len())), want);
    }
    wait_blocked(&mut c, 0);
}

#[test]
fn an_element_is_not_lost_to_a_client_that_timed_out_or_left() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut leaving = e.raw();
    send(&mut leaving, "BLPOP q 0");
    wait_blocked(&mut c, 1);
    let mut staying = e.raw();
    send(&mut staying, "BLPOP q 0");
    wait_blocked(&mut c, 2);
    drop(leaving);
    wait_blocked(&mut c, 1);
    run(&mut c, "LPUSH", &["q", "x"]).unwrap();
    reply_is(&mut staying, "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
}

#[test]
fn killed_blocked_clients_are_cleaned_up() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut w = e.raw();
    send(&mut w, "CLIENT SETNAME victim");
    reply_is(&mut w, "+OK\r\n");
    send(&mut w, "BZPOPMAX z 0");
    wait_blocked(&mut c, 1);
    assert_eq!(
        run(
            &mut c,
            "CLIENT",
            &["KILL", "SKIPME", "yes", "TYPE", "normal"]
        )
        .unwrap(),
        Value::Int(1)
    );
    wait_blocked(&mut c, 0);
    assert_eq!(common::read_to_close(&mut w), b"");
    run(&mut c, "ZADD", &["z", "1", "m"]).unwrap();
    assert_eq!(
        run(&mut c, "ZCARD", &["z"]).unwrap(),
        Value::Int(1),
        "nobody took it"
    );
}

#[test]
fn blocking_commands_inside_multi_answer_at_once() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    expect(&mut s, "MULTI", "+OK\r\n");
    expect(&mut s, "BLPOP none 0", "+QUEUED\r\n");
    expect(&mut s, "BLMOVE none d LEFT LEFT 0", "+QUEUED\r\n");
    expect(&mut s, "BZPOPMIN none 0", "+QUEUED\r\n");
    expect(&mut s, "EXEC", "*3\r\n*-1\r\n$-1\r\n*-1\r\n");
}

#[test]
fn blmove_bzpopmin_bzmpop_and_blmpop_are_woken() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut w = e.raw();
    send(&mut w, "BLMOVE src dst RIGHT LEFT 5");
    wait_blocked(&mut c, 1);
    run(&mut c, "RPUSH", &["src", "a", "b"]).unwrap();
    reply_is(&mut w, "$1\r\nb\r\n");
    assert_eq!(
        run(&mut c, "LRANGE", &["dst", "0", "-1"]).unwrap(),
        Value::Array(vec![bulk("b")])
    );
    send(&mut w, "BZPOPMIN z1 z2 5");
    wait_blocked(&mut c, 1);
    run(&mut c, "ZADD", &["z2", "2.5", "m"]).unwrap();
    reply_is(&mut w, "*3\r\n$2\r\nz2\r\n$1\r\nm\r\n$3\r\n2.5\r\n");
    send(&mut w, "BZMPOP 5 1 z MAX COUNT 2");
    wait_blocked(&mut c, 1);
    run(&mut c, "ZADD", &["z", "1", "a", "2", "b", "3", "c"]).unwrap();
    let want = "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n";
    assert_eq!(String::from_utf8_lossy(&read_n(&mut w, want.len())), want);
    send(&mut w, "BLMPOP 5 2 l1 l2 LEFT COUNT 3");
    wait_blocked(&mut c, 1);
    run(&mut c, "RPUSH", &["l2", "x", "y"]).unwrap();
    let want = "*2\r\n$2\r\nl2\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n";
    assert_eq!(String::from_utf8_lossy(&read_n(&mut w, want.len())), want);
}

#[test]
fn commands_pipelined_after_a_blocking_one_wait_for_it() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut w = e.raw();
    w.write_all(b"BLPOP q 5\r\nPING\r\n").unwrap();
    wait_blocked(&mut c, 1);
    run(&mut c, "RPUSH", &["q", "v"]).unwrap();
    let reply = roundtrip(&mut w, b"", "*2\r\n$1\r\nq\r\n$1\r\nv\r\n+PONG\r\n".len());
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "*2\r\n$1\r\nq\r\n$1\r\nv\r\n+PONG\r\n"
    );
}

#[test]
fn client_pause_write_holds_writes_until_unpause_and_lets_reads_through() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    run(&mut admin, "CLIENT", &["PAUSE", "100000", "WRITE"]).unwrap();
    let mut writer = e.conn();
    let held = std::thread::spawn(move || run(&mut writer, "SET", &["k", "v"]));
    std::thread::sleep(Duration::from_millis(200));
    assert!(!held.is_finished(), "a write is held");
    assert_eq!(run(&mut admin, "GET", &["k"]).unwrap(), Value::Nil);
    let info: String =
        redis::from_redis_value(run(&mut admin, "INFO", &["clients"]).unwrap()).unwrap();
    assert!(info.contains("blocked_clients:1"), "{info}");
    // A bad command is answered at once.
    assert!(run(&mut admin, "SET", &["k"]).is_err());
    run(&mut admin, "CLIENT", &["UNPAUSE"]).unwrap();
    assert_eq!(held.join().unwrap().unwrap(), Value::Okay);
    assert_eq!(
        run(&mut admin, "GET", &["k"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    // A pause ends by itself.
    run(&mut admin, "CLIENT", &["PAUSE", "200", "WRITE"]).unwrap();
    let started = std::time::Instant::now();
    run(&mut admin, "SET", &["k", "w"]).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[test]
fn a_blocked_pop_keeps_waiting_when_its_key_becomes_another_type() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut blocked = e.conn();
    let waiter = std::thread::spawn(move || run(&mut blocked, "BLPOP", &["l", "0"]));
    std::thread::sleep(Duration::from_millis(200));
    let mut tx = redis::pipe();
    tx.atomic()
        .cmd("LPUSH")
        .arg("l")
        .arg("a")
        .cmd("DEL")
        .arg("l")
        .cmd("SET")
        .arg("l")
        .arg("x");
    tx.query::<()>(&mut c).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!waiter.is_finished(), "woken by a string");
    run(&mut c, "DEL", &["l"]).unwrap();
    run(&mut c, "RPUSH", &["l", "b"]).unwrap();
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::Array(vec![
            Value::BulkString(b"l".to_vec()),
            Value::BulkString(b"b".to_vec())
        ])
    );
}

#[test]
fn expiry_is_held_while_clients_are_paused() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let expired = |c: &mut redis::Connection| -> u64 {
        let info: String = redis::from_redis_value(run(c, "INFO", &["stats"]).unwrap()).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("expired_keys:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    };
    let before = expired(&mut c);
    run(&mut c, "SET", &["k", "v", "PX", "10"]).unwrap();
    run(&mut c, "CLIENT", &["PAUSE", "50000", "WRITE"]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // Logically gone, not deleted.
    assert_eq!(run(&mut c, "GET", &["k"]).unwrap(), Value::Nil);
    assert_eq!(expired(&mut c), before);
    run(&mut c, "CLIENT", &["UNPAUSE"]).unwrap();
    assert_eq!(run(&mut c, "GET", &["k"]).unwrap(), Value::Nil);
    assert_eq!(expired(&mut c), before + 1);
}

#[test]
fn client_unblock_ends_a_blocking_command_as_timed_out_or_with_an_error() {
    let e = Engine::start(&[]);
    let mut admin = e.conn();
    // One connection through every mode: each unblocking leaves it able to block again.
    let mut blocked = e.conn();
    let id: i64 = redis::from_redis_value(run(&mut blocked, "CLIENT", &["ID"]).unwrap()).unwrap();
    for (mode, want_error) in [
        (None, false),
        (Some("TIMEOUT"), false),
        (Some("ERROR"), true),
    ] {
        let waiter = std::thread::spawn(move || {
            let r = run(&mut blocked, "BLPOP", &["l", "0"]);
            (blocked, r)
        });
        std::thread::sleep(Duration::from_millis(200));
        let id = id.to_string();
        let mut args = vec!["UNBLOCK", id.as_str()];
        args.extend(mode);
        assert_eq!(run(&mut admin, "CLIENT", &args).unwrap(), Value::Int(1));
        let (back, result) = waiter.join().unwrap();
        blocked = back;
        match result {
            Ok(v) => {
                assert!(!want_error, "{mode:?}");
                assert_eq!(v, Value::Nil);
            }
            Err(e) => {
                assert!(want_error, "{mode:?}: {e}");
                let text = e.to_string();
                assert!(
                    text.contains("UNBLOCKED")
                        && text.contains("client unblocked via CLIENT UNBLOCK"),
                    "{text}"
                );
            }
        }
    }
    // After an unblocking with an error, the connection blocks and is served as before.
    let waiter = std::thread::spawn(move || run(&mut blocked, "BLPOP", &["l", "0"]));
    std::thread::sleep(Duration::from_millis(200));
    run(&mut admin, "LPUSH", &["l", "foo"]).unwrap();
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::Array(vec![bulk("l"), bulk("foo")])
    );
    // A client that is not blocked is not unblocked.
    let me: i64 = redis::from_redis_value(run(&mut admin, "CLIENT", &["ID"]).unwrap()).unwrap();
    assert_eq!(
        run(&mut admin, "CLIENT", &["UNBLOCK", &me.to_string()]).unwrap(),
        Value::Int(0)
    );
    assert!(run(&mut admin, "CLIENT", &["UNBLOCK", "asd"]).is_err());
}
