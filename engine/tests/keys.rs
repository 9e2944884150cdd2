//! Generic key commands: deletion, TTLs, renaming, iteration, databases.

mod common;

use std::collections::HashSet;

use common::{bulk, err, run, Engine};
use redis::Value;

fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut keys = Vec::new();
    loop {
        let mut args = vec![cursor.as_str()];
        args.extend_from_slice(extra);
        let (next, page): (String, Vec<String>) = common::cmd("SCAN", &args).query(c).unwrap();
        keys.extend(page);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

#[test]
fn del_unlink_and_exists_count_keys() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "MSET", &["a", "1", "b", "2", "c", "3"]).unwrap();
    assert_eq!(
        run(&mut c, "EXISTS", &["a", "a", "zz"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(run(&mut c, "DEL", &["a", "zz"]).unwrap(), Value::Int(1));
    assert_eq!(
        run(&mut c, "UNLINK", &["b", "c", "b"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "TYPE", &["a"]).unwrap(),
        Value::SimpleString("none".into())
    );
}

#[test]
fn expire_options_follow_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["k", "v"]).unwrap();
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "100", "XX"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "100", "GT"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "100", "NX"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "200", "NX"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "50", "GT"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "200", "GT"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "EXPIRE", &["k", "300", "LT"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "PEXPIRE", &["k", "150000", "LT"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(150));
    assert_eq!(
        run(&mut c, "EXPIRE", &["missing", "10"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        err(&mut c, "EXPIRE", &["k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "EXPIRE", &["k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "EXPIRE", &["k", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    // A deadline in the past deletes the key.
    assert_eq!(run(&mut c, "EXPIRE", &["k", "-1"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "EXISTS", &["k"]).unwrap(), Value::Int(0));
}

#[test]
fn ttl_family_and_persist() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "TTL", &["nokey"]).unwrap(), Value::Int(-2));
    assert_eq!(run(&mut c, "PTTL", &["nokey"]).unwrap(), Value::Int(-2));
    run(&mut c, "SET", &["k", "v"]).unwrap();
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(-1));
    assert_eq!(run(&mut c, "EXPIRETIME", &["k"]).unwrap(), Value::Int(-1));
    run(&mut c, "EXPIREAT", &["k", "4000000000"]).unwrap();
    assert_eq!(
        run(&mut c, "EXPIRETIME", &["k"]).unwrap(),
        Value::Int(4_000_000_000)
    );
    assert_eq!(
        run(&mut c, "PEXPIRETIME", &["k"]).unwrap(),
        Value::Int(4_000_000_000_000)
    );
    assert_eq!(run(&mut c, "PERSIST", &["k"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "PERSIST", &["k"]).unwrap(), Value::Int(0));
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(-1));
}

#[test]
fn rename_moves_value_and_ttl() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["src", "v", "EX", "100"]).unwrap();
    assert_eq!(run(&mut c, "RENAME", &["src", "dst"]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "GET", &["dst"]).unwrap(), bulk("v"));
    assert_eq!(run(&mut c, "TTL", &["dst"]).unwrap(), Value::Int(100));
    assert_eq!(run(&mut c, "EXISTS", &["src"]).unwrap(), Value::Int(0));
    assert_eq!(err(&mut c, "RENAME", &["src", "x"]), "ERR no such key");
    run(&mut c, "SET", &["other", "o"]).unwrap();
    assert_eq!(
        run(&mut c, "RENAMENX", &["dst", "other"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "RENAMENX", &["dst", "free"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "RENAME", &["free", "free"]).unwrap(),
        Value::Okay
    );
    assert_eq!(run(&mut c, "GET", &["free"]).unwrap(), bulk("v"));
}

#[test]
fn keys_and_scan_find_every_key() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut pipe = redis::pipe();
    for i in 0..5000 {
        pipe.cmd("SET").arg(format!("user:{i}")).arg(i).ignore();
    }
    for i in 0..100 {
        pipe.cmd("SET").arg(format!("other:{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let keys: Vec<String> = common::cmd("KEYS", &["other:*"]).query(&mut c).unwrap();
    assert_eq!(keys.len(), 100);
    let all = scan_all(&mut c, &[]);
    let unique: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(unique.len(), 5100);
    let matched = scan_all(&mut c, &["MATCH", "other:1*", "COUNT", "100"]);
    let want: HashSet<String> = (0..100)
        .map(|i| format!("other:{i}"))
        .filter(|k| k.starts_with("other:1"))
        .collect();
    assert_eq!(matched.into_iter().collect::<HashSet<_>>(), want);
    assert_eq!(scan_all(&mut c, &["TYPE", "hash"]).len(), 0);
    assert_eq!(
        scan_all(&mut c, &["TYPE", "string", "COUNT", "1000"]).len(),
        5100
    );
    assert_eq!(err(&mut c, "SCAN", &["notanumber"]), "ERR invalid cursor");
}

#[test]
fn scan_never_misses_keys_present_throughout_while_others_come_and_go() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut writer = e.conn();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SET").arg(format!("stable:{i}")).arg(1).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let mut cursor = "0".to_string();
    let mut seen = HashSet::new();
    let mut round = 0;
    loop {
        let (next, page): (String, Vec<String>) = common::cmd("SCAN", &[&cursor, "COUNT", "50"])
            .query(&mut c)
            .unwrap();
        seen.extend(page);
        // Between cursor calls, grow the keyspace a lot, then delete it again (tables resize both ways).
        let mut churn = redis::pipe();
        for j in 0..300 {
            if round < 15 {
                churn
                    .cmd("SET")
                    .arg(format!("churn:{round}:{j}"))
                    .arg(1)
                    .ignore();
            } else {
                churn
                    .cmd("DEL")
                    .arg(format!("churn:{}:{j}", round - 15))
                    .ignore();
            }
        }
        churn.query::<()>(&mut writer).unwrap();
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in 0..2000 {
        assert!(
            seen.contains(&format!("stable:{i}")),
            "SCAN missed stable:{i}"
        );
    }
}

#[test]
fn randomkey_touch_type_and_object() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "RANDOMKEY", &[]).unwrap(), Value::Nil);
    run(
        &mut c,
        "MSET",
        &["n", "12345", "s", "short", "l", &"x".repeat(100)],
    )
    .unwrap();
    let Value::BulkString(k) = run(&mut c, "RANDOMKEY", &[]).unwrap() else {
        panic!()
    };
    assert!([&b"n"[..], b"s", b"l"].contains(&k.as_slice()));
    assert_eq!(
        run(&mut c, "TOUCH", &["n", "s", "nope"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "TYPE", &["s"]).unwrap(),
        Value::SimpleString("string".into())
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "n"]).unwrap(),
        bulk("int")
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "s"]).unwrap(),
        bulk("embstr")
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "l"]).unwrap(),
        bulk("raw")
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "nope"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "OBJECT", &["IDLETIME", "s"]).unwrap(),
        Value::Int(0)
    );
    assert!(err(&mut c, "OBJECT", &["FREQ", "s"])
        .starts_with("ERR An LFU maxmemory policy is not selected"));
    run(
        &mut c,
        "CONFIG",
        &["SET", "maxmemory-policy", "allkeys-lfu"],
    )
    .unwrap();
    run(&mut c, "SET", &["f", "v"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["FREQ", "f"]).unwrap(),
        Value::Int(5)
    );
}

#[test]
fn copy_move_select_swapdb_and_flush() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["k", "v", "EX", "100"]).unwrap();
    assert_eq!(run(&mut c, "COPY", &["k", "k2"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "TTL", &["k2"]).unwrap(), Value::Int(100));
    assert_eq!(run(&mut c, "COPY", &["k", "k2"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "COPY", &["k", "k2", "REPLACE"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "COPY", &["k", "k", "DB", "3"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(run(&mut c, "MOVE", &["k2", "1"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "EXISTS", &["k2"]).unwrap(), Value::Int(0));
    assert_eq!(
        err(&mut c, "MOVE", &["k", "0"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        err(&mut c, "SELECT", &["16"]),
        "ERR DB index is out of range"
    );
    run(&mut c, "SELECT", &["1"]).unwrap();
    assert_eq!(run(&mut c, "GET", &["k2"]).unwrap(), bulk("v"));
    run(&mut c, "SELECT", &["3"]).unwrap();
    assert_eq!(run(&mut c, "GET", &["k"]).unwrap(), bulk("v"));
    run(&mut c, "SELECT", &["0"]).unwrap();
    assert_eq!(run(&mut c, "SWAPDB", &["0", "1"]).unwrap(), Value::Okay);
    assert_eq!(
        run(&mut c, "GET", &["k2"]).unwrap(),
        bulk("v"),
        "db 0 now holds db 1's data"
    );
    assert_eq!(run(&mut c, "EXISTS", &["k"]).unwrap(), Value::Int(0));
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "FLUSHDB", &[]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(0));
    run(&mut c, "SELECT", &["1"]).unwrap();
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "FLUSHALL", &["ASYNC"]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(0));
    run(&mut c, "SELECT", &["3"]).unwrap();
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(0));
    assert_eq!(err(&mut c, "FLUSHALL", &["LATER"]), "ERR syntax error");
}
