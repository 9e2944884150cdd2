//! Hash commands against a real engine: replies, errors, encodings, RESP3 maps, memory accounting.

mod common;

use common::{bulk, bulks, err, expect, resp3, run, used_memory, Engine};
use redis::Value;

#[test]
fn hset_hget_and_friends_reply_like_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "HSET", &["h", "a", "1", "b", "2"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "HSET", &["h", "a", "9", "c", "3"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(run(&mut c, "HMSET", &["h", "d", "4"]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "HGET", &["h", "a"]).unwrap(), bulk("9"));
    assert_eq!(run(&mut c, "HGET", &["h", "zz"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, "HMGET", &["h", "a", "zz", "b"]).unwrap(),
        Value::Array(vec![bulk("9"), Value::Nil, bulk("2")])
    );
    assert_eq!(run(&mut c, "HLEN", &["h"]).unwrap(), Value::Int(4));
    assert_eq!(run(&mut c, "HSTRLEN", &["h", "a"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "HEXISTS", &["h", "d"]).unwrap(), Value::Int(1));
    assert_eq!(
        run(&mut c, "HSETNX", &["h", "d", "x"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "HSETNX", &["h", "e", "5"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "HDEL", &["h", "e", "zz"]).unwrap(),
        Value::Int(1)
    );
    let mut all: Vec<(String, String)> = common::cmd("HGETALL", &["h"]).query(&mut c).unwrap();
    all.sort();
    assert_eq!(
        all,
        [("a", "9"), ("b", "2"), ("c", "3"), ("d", "4")]
            .map(|(f, v)| (f.to_string(), v.to_string()))
    );
    assert_eq!(
        err(&mut c, "HSET", &["h", "a", "1", "b"]),
        "ERR wrong number of arguments for 'hset' command"
    );
    assert_eq!(
        err(&mut c, "HMSET", &["h", "a"]),
        "ERR wrong number of arguments for 'hmset' command"
    );
}

#[test]
fn counters_in_hashes_check_types_and_overflow() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "HINCRBY", &["h", "n", "5"]).unwrap(),
        Value::Int(5)
    );
    assert_eq!(
        run(&mut c, "HINCRBY", &["h", "n", "-7"]).unwrap(),
        Value::Int(-2)
    );
    run(
        &mut c,
        "HSET",
        &["h", "s", "abc", "big", "9223372036854775807"],
    )
    .unwrap();
    assert_eq!(
        err(&mut c, "HINCRBY", &["h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        err(&mut c, "HINCRBY", &["h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        err(&mut c, "HINCRBY", &["h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        run(&mut c, "HINCRBYFLOAT", &["h", "f", "10.5"]).unwrap(),
        bulk("10.5")
    );
    assert_eq!(
        run(&mut c, "HINCRBYFLOAT", &["h", "f", "0.1"]).unwrap(),
        bulk("10.6")
    );
    assert_eq!(
        err(&mut c, "HINCRBYFLOAT", &["h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        err(&mut c, "HINCRBYFLOAT", &["h", "f", "inf"]),
        "ERR value is NaN or Infinity"
    );
    // A failed first increment must not leave an empty hash behind.
    run(&mut c, "HSET", &["t", "v", "x"]).unwrap();
    run(&mut c, "DEL", &["t"]).unwrap();
    let _ = err(&mut c, "HINCRBY", &["fresh", "f", "nope"]);
    assert_eq!(run(&mut c, "EXISTS", &["fresh"]).unwrap(), Value::Int(0));
}

#[test]
fn wrong_types_and_empty_hashes_follow_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["str", "v"]).unwrap();
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(err(&mut c, "HGET", &["str", "a"]), wrong);
    assert_eq!(err(&mut c, "HSET", &["str", "a", "1"]), wrong);
    run(&mut c, "HSET", &["h", "a", "1"]).unwrap();
    assert_eq!(err(&mut c, "GET", &["h"]), wrong);
    assert_eq!(err(&mut c, "INCR", &["h"]), wrong);
    assert_eq!(
        run(&mut c, "TYPE", &["h"]).unwrap(),
        Value::SimpleString("hash".into())
    );
    run(&mut c, "EXPIRE", &["h", "100"]).unwrap();
    run(&mut c, "HSET", &["h", "b", "2"]).unwrap();
    assert_eq!(
        run(&mut c, "TTL", &["h"]).unwrap(),
        Value::Int(100),
        "TTL survives edits"
    );
    assert_eq!(
        run(&mut c, "HDEL", &["h", "a", "b"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "EXISTS", &["h"]).unwrap(),
        Value::Int(0),
        "empty hash is deleted"
    );
    assert_eq!(
        run(&mut c, "HGETALL", &["h"]).unwrap(),
        Value::Array(vec![])
    );
}

#[test]
fn small_hashes_are_listpacks_and_grow_into_hashtables() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 0..128 {
        run(&mut c, "HSET", &["h", &format!("f{i}"), "v"]).unwrap();
    }
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "h"]).unwrap(),
        bulk("listpack")
    );
    run(&mut c, "HSET", &["h", "f128", "v"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "h"]).unwrap(),
        bulk("hashtable")
    );
    run(&mut c, "HSET", &["long", "f", &"x".repeat(65)]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "long"]).unwrap(),
        bulk("hashtable")
    );
}

#[test]
fn hscan_returns_every_field_once_with_a_stable_cursor() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 0..1000 {
        run(&mut c, "HSET", &["h", &format!("f{i}"), &i.to_string()]).unwrap();
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashMap::new();
    loop {
        let (next, page): (String, Vec<String>) =
            common::cmd("HSCAN", &["h", &cursor, "COUNT", "50"])
                .query(&mut c)
                .unwrap();
        for pair in page.chunks(2) {
            assert!(
                seen.insert(pair[0].clone(), pair[1].clone()).is_none(),
                "{} twice",
                pair[0]
            );
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 1000);
    assert_eq!(seen["f7"], "7");
    assert_eq!(err(&mut c, "HSCAN", &["h", "x"]), "ERR invalid cursor");
}

#[test]
fn hrandfield_honours_count_sign_and_withvalues() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "HSET", &["h", "a", "1", "b", "2", "c", "3"]).unwrap();
    let distinct: Vec<String> = common::cmd("HRANDFIELD", &["h", "2"])
        .query(&mut c)
        .unwrap();
    assert_eq!(distinct.len(), 2);
    assert_ne!(distinct[0], distinct[1]);
    let all: Vec<String> = common::cmd("HRANDFIELD", &["h", "10"])
        .query(&mut c)
        .unwrap();
    assert_eq!(all.len(), 3);
    let repeated: Vec<String> = common::cmd("HRANDFIELD", &["h", "-10"])
        .query(&mut c)
        .unwrap();
    assert_eq!(repeated.len(), 10);
    let pairs: Vec<String> = common::cmd("HRANDFIELD", &["h", "1", "WITHVALUES"])
        .query(&mut c)
        .unwrap();
    assert_eq!(pairs.len(), 2);
    assert_eq!(run(&mut c, "HRANDFIELD", &["none"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, "HRANDFIELD", &["none", "3"]).unwrap(),
        bulks(&[])
    );
    assert_eq!(
        err(&mut c, "HRANDFIELD", &["h", "1", "WITHVALS"]),
        "ERR syntax error"
    );
}

#[test]
fn resp3_hgetall_is_a_map_and_hrandfield_pairs_are_nested() {
    let e = Engine::start(&[]);
    let mut s = resp3(&e);
    expect(&mut s, "HSET h a 1", ":1\r\n");
    expect(&mut s, "HGETALL h", "%1\r\n$1\r\na\r\n$1\r\n1\r\n");
    expect(
        &mut s,
        "HRANDFIELD h 1 WITHVALUES",
        "*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
    expect(&mut s, "HGET h zz", "_\r\n");
    let mut raw = e.raw();
    expect(&mut raw, "HGETALL h", "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    expect(
        &mut raw,
        "HRANDFIELD h 1 WITHVALUES",
        "*2\r\n$1\r\na\r\n$1\r\n1\r\n",
    );
}

#[test]
fn memory_accounting_follows_hash_growth_and_deletion() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let before = used_memory(&mut c);
    let mut pipe = redis::pipe();
    for i in 0..20_000 {
        pipe.cmd("HSET")
            .arg("big")
            .arg(format!("field:{i}"))
            .arg("some value bytes")
            .ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let grown = used_memory(&mut c);
    assert!(grown > before + 20_000 * 40, "{before} -> {grown}");
    run(&mut c, "DEL", &["big"]).unwrap();
    let after = used_memory(&mut c);
    assert!(after < before + 64 * 1024, "{before} -> {grown} -> {after}");
}

#[test]
fn copy_is_deep_and_rename_moves_the_value() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "HSET", &["src", "f", "v"]).unwrap();
    assert_eq!(run(&mut c, "COPY", &["src", "dst"]).unwrap(), Value::Int(1));
    run(&mut c, "HSET", &["dst", "f", "changed"]).unwrap();
    assert_eq!(run(&mut c, "HGET", &["src", "f"]).unwrap(), bulk("v"));
    run(&mut c, "RENAME", &["src", "moved"]).unwrap();
    assert_eq!(run(&mut c, "HGET", &["moved", "f"]).unwrap(), bulk("v"));
    assert_eq!(run(&mut c, "EXISTS", &["src"]).unwrap(), Value::Int(0));
    assert_eq!(run(&mut c, "MOVE", &["moved", "1"]).unwrap(), Value::Int(1));
    run(&mut c, "SELECT", &["1"]).unwrap();
    assert_eq!(run(&mut c, "HGET", &["moved", "f"]).unwrap(), bulk("v"));
    let keys: (String, Vec<String>) = common::cmd("SCAN", &["0", "TYPE", "hash"])
        .query(&mut c)
        .unwrap();
    assert_eq!(keys.1, vec!["moved".to_string()]);
}

#[test]
fn encoding_thresholds_are_configurable_under_both_names() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let encoding =
        |c: &mut redis::Connection, key: &str| run(c, "OBJECT", &["ENCODING", key]).unwrap();
    run(&mut c, "CONFIG", &["SET", "hash-max-ziplist-entries", "2"]).unwrap();
    assert_eq!(
        run(&mut c, "CONFIG", &["GET", "hash-max-listpack-entries"]).unwrap(),
        Value::Array(vec![bulk("hash-max-listpack-entries"), bulk("2")])
    );
    run(&mut c, "HSET", &["h", "a", "1", "b", "2"]).unwrap();
    assert_eq!(encoding(&mut c, "h"), bulk("listpack"));
    run(&mut c, "HSET", &["h", "c", "3"]).unwrap();
    assert_eq!(encoding(&mut c, "h"), bulk("hashtable"));
    run(&mut c, "CONFIG", &["SET", "hash-max-listpack-value", "4"]).unwrap();
    run(&mut c, "HSET", &["v", "a", "12345"]).unwrap();
    assert_eq!(encoding(&mut c, "v"), bulk("hashtable"));
    run(&mut c, "CONFIG", &["SET", "zset-max-ziplist-entries", "1"]).unwrap();
    run(&mut c, "ZADD", &["z", "1", "a"]).unwrap();
    assert_eq!(encoding(&mut c, "z"), bulk("listpack"));
    run(&mut c, "ZADD", &["z", "2", "b"]).unwrap();
    assert_eq!(encoding(&mut c, "z"), bulk("skiplist"));
    run(&mut c, "CONFIG", &["SET", "set-max-intset-entries", "2"]).unwrap();
    run(&mut c, "SADD", &["s", "1", "2"]).unwrap();
    assert_eq!(encoding(&mut c, "s"), bulk("intset"));
    run(&mut c, "SADD", &["s", "3"]).unwrap();
    assert_eq!(encoding(&mut c, "s"), bulk("hashtable"));
    // Accepted and read back; lists are chunked by bytes whatever they say.
    run(&mut c, "CONFIG", &["SET", "list-max-ziplist-size", "1"]).unwrap();
    run(&mut c, "CONFIG", &["SET", "list-compress-depth", "2"]).unwrap();
    assert_eq!(
        run(&mut c, "CONFIG", &["GET", "list-max-listpack-size"]).unwrap(),
        Value::Array(vec![bulk("list-max-listpack-size"), bulk("1")])
    );
    // Stream nodes split at the configured size and XRANGE still sees every entry.
    run(&mut c, "CONFIG", &["SET", "stream-node-max-entries", "2"]).unwrap();
    for i in 1..=7 {
        run(&mut c, "XADD", &["st", &format!("{i}-0"), "f", "v"]).unwrap();
    }
    let Value::Array(entries) = run(&mut c, "XRANGE", &["st", "-", "+"]).unwrap() else {
        panic!("XRANGE reply")
    };
    assert_eq!(entries.len(), 7);
}
