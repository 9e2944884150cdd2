//! MULTI/EXEC/WATCH semantics.

mod common;

use common::{bulk, err, run, Engine};
use redis::Value;

#[test]
fn exec_runs_queued_commands_in_order() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "MULTI", &[]).unwrap(), Value::Okay);
    assert_eq!(
        run(&mut c, "SET", &["a", "1"]).unwrap(),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        run(&mut c, "INCR", &["a"]).unwrap(),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        run(&mut c, "GET", &["a"]).unwrap(),
        Value::SimpleString("QUEUED".into())
    );
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![Value::Okay, Value::Int(2), bulk("2")])
    );
    assert_eq!(err(&mut c, "EXEC", &[]), "ERR EXEC without MULTI");
    assert_eq!(err(&mut c, "DISCARD", &[]), "ERR DISCARD without MULTI");
}

#[test]
fn queueing_errors_abort_the_whole_transaction() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "SET", &["a", "1"]).unwrap();
    assert!(err(&mut c, "NOSUCHCMD", &["x"]).starts_with("ERR unknown command 'NOSUCHCMD'"));
    assert_eq!(
        err(&mut c, "GET", &[]),
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        err(&mut c, "EXEC", &[]),
        "EXECABORT Transaction discarded because of previous errors."
    );
    assert_eq!(run(&mut c, "EXISTS", &["a"]).unwrap(), Value::Int(0));
}

#[test]
fn runtime_errors_do_not_stop_the_other_commands() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    let request = b"SET s text\r\nMULTI\r\nINCR s\r\nSET b 2\r\nEXEC\r\nGET b\r\n";
    let expected: &[u8] = b"+OK\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n-ERR value is not an integer or out of range\r\n+OK\r\n$1\r\n2\r\n";
    let got = common::roundtrip(&mut s, request, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
}

#[test]
fn discard_drops_the_queue_and_nesting_is_refused() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "MULTI", &[]).unwrap();
    assert_eq!(
        err(&mut c, "MULTI", &[]),
        "ERR MULTI calls can not be nested"
    );
    assert_eq!(
        err(&mut c, "WATCH", &["x"]),
        "ERR WATCH inside MULTI is not allowed"
    );
    run(&mut c, "SET", &["a", "1"]).unwrap();
    assert_eq!(run(&mut c, "DISCARD", &[]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "EXISTS", &["a"]).unwrap(), Value::Int(0));
}

#[test]
fn watch_aborts_exec_when_another_client_writes_the_key() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    run(&mut c, "SET", &["balance", "100"]).unwrap();
    run(&mut c, "WATCH", &["balance"]).unwrap();
    run(&mut other, "INCRBY", &["balance", "5"]).unwrap();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "DECRBY", &["balance", "30"]).unwrap();
    assert_eq!(run(&mut c, "EXEC", &[]).unwrap(), Value::Nil);
    assert_eq!(run(&mut c, "GET", &["balance"]).unwrap(), bulk("105"));
    // The watch is gone after EXEC: the retry succeeds.
    run(&mut c, "WATCH", &["balance"]).unwrap();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "DECRBY", &["balance", "30"]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![Value::Int(75)])
    );
}

#[test]
fn watch_sees_deletes_flushes_and_expiry() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    for (setup, action) in [
        (vec!["SET", "k", "v"], vec!["DEL", "k"]),
        (vec!["SET", "k", "v"], vec!["FLUSHALL"]),
        (vec!["SET", "k", "v"], vec!["EXPIRE", "k", "100"]),
        (vec!["DEL", "k"], vec!["SET", "k", "new"]),
    ] {
        run(&mut c, setup[0], &setup[1..]).unwrap();
        run(&mut c, "WATCH", &["k"]).unwrap();
        run(&mut other, action[0], &action[1..]).unwrap();
        run(&mut c, "MULTI", &[]).unwrap();
        run(&mut c, "PING", &[]).unwrap();
        assert_eq!(run(&mut c, "EXEC", &[]).unwrap(), Value::Nil, "{action:?}");
    }
    run(&mut c, "SET", &["t", "v", "PX", "100"]).unwrap();
    run(&mut c, "WATCH", &["t"]).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "PING", &[]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Nil,
        "a watched key that expired aborts EXEC"
    );
}

#[test]
fn unwatched_or_untouched_keys_let_exec_through() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    run(&mut c, "WATCH", &["a", "b"]).unwrap();
    run(&mut other, "SET", &["unrelated", "1"]).unwrap();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "SET", &["a", "1"]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![Value::Okay])
    );
    run(&mut c, "WATCH", &["a"]).unwrap();
    assert_eq!(run(&mut c, "UNWATCH", &[]).unwrap(), Value::Okay);
    run(&mut other, "SET", &["a", "2"]).unwrap();
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "GET", &["a"]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![bulk("2")])
    );
}

#[test]
fn transactions_are_atomic_across_threads() {
    // Two clients move units between two counters in transactions while a third checks the invariant.
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "MSET", &["x", "1000", "y", "1000"]).unwrap();
    let movers: Vec<_> = (0..2)
        .map(|_| {
            let mut m = e.conn();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    let _: Vec<i64> = redis::pipe()
                        .atomic()
                        .cmd("DECR")
                        .arg("x")
                        .cmd("INCR")
                        .arg("y")
                        .query(&mut m)
                        .unwrap();
                }
            })
        })
        .collect();
    for _ in 0..300 {
        let (x, y): (i64, i64) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg("x")
            .cmd("GET")
            .arg("y")
            .query(&mut c)
            .unwrap();
        assert_eq!(x + y, 2000, "a reader saw half a transaction");
    }
    movers.into_iter().for_each(|t| t.join().unwrap());
    assert_eq!(run(&mut c, "GET", &["y"]).unwrap(), bulk("2000"));
}

#[test]
fn commands_that_cannot_run_under_exec_locks_are_refused_inside_multi() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    for refused in [
        vec!["SAVE"],
        vec!["SHUTDOWN"],
        vec!["REPLICAOF", "127.0.0.1", "1"],
    ] {
        run(&mut c, "MULTI", &[]).unwrap();
        run(&mut c, "SET", &["a", "1"]).unwrap();
        assert_eq!(
            err(&mut c, refused[0], &refused[1..]),
            "ERR Command not allowed inside a transaction",
            "{refused:?}"
        );
        assert_eq!(
            err(&mut c, "EXEC", &[]),
            "EXECABORT Transaction discarded because of previous errors."
        );
        // Nothing ran, and the node still serves everyone.
        assert_eq!(run(&mut other, "EXISTS", &["a"]).unwrap(), Value::Int(0));
        assert_eq!(
            run(&mut other, "PING", &[]).unwrap(),
            Value::SimpleString("PONG".into())
        );
    }
}

#[test]
fn flushing_touches_only_watched_keys_that_existed() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    for flush in [vec!["FLUSHALL"], vec!["FLUSHDB"], vec!["SWAPDB", "0", "1"]] {
        run(&mut c, "WATCH", &["missing"]).unwrap();
        run(&mut other, "SET", &["unwatched", "1"]).unwrap();
        run(&mut other, flush[0], &flush[1..]).unwrap();
        run(&mut c, "MULTI", &[]).unwrap();
        run(&mut c, "SET", &["x", "1"]).unwrap();
        assert_eq!(
            run(&mut c, "EXEC", &[]).unwrap(),
            Value::Array(vec![Value::Okay]),
            "{flush:?} touched nothing watched"
        );
        run(&mut other, "FLUSHALL", &[]).unwrap();

        run(&mut other, "SET", &["present", "1"]).unwrap();
        run(&mut c, "WATCH", &["present"]).unwrap();
        run(&mut other, flush[0], &flush[1..]).unwrap();
        run(&mut c, "MULTI", &[]).unwrap();
        run(&mut c, "SET", &["x", "1"]).unwrap();
        assert_eq!(
            run(&mut c, "EXEC", &[]).unwrap(),
            Value::Nil,
            "{flush:?} removed a watched key"
        );
        run(&mut other, "FLUSHALL", &[]).unwrap();
    }
}

#[test]
fn removing_a_missing_member_does_not_touch_a_watched_key() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut other = e.conn();
    run(&mut c, "SADD", &["s", "a"]).unwrap();
    run(&mut c, "WATCH", &["s"]).unwrap();
    assert_eq!(
        run(&mut other, "SREM", &["s", "nosuch"]).unwrap(),
        Value::Int(0)
    );
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "SCARD", &["s"]).unwrap();
    assert_eq!(
        run(&mut c, "EXEC", &[]).unwrap(),
        Value::Array(vec![Value::Int(1)])
    );
    run(&mut c, "WATCH", &["s"]).unwrap();
    assert_eq!(run(&mut other, "SREM", &["s", "a"]).unwrap(), Value::Int(1));
    run(&mut c, "MULTI", &[]).unwrap();
    run(&mut c, "SCARD", &["s"]).unwrap();
    assert_eq!(run(&mut c, "EXEC", &[]).unwrap(), Value::Nil);
}
