//! Set commands against a real engine.

mod common;

use std::collections::BTreeSet;

use common::{bulk, err, expect, resp3, run, Engine};
use redis::Value;

fn members(c: &mut redis::Connection, name: &str, args: &[&str]) -> BTreeSet<String> {
    common::cmd(name, args).query(c).unwrap()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn membership_commands_follow_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "SADD", &["s", "1", "2", "a", "a"]).unwrap(),
        Value::Int(3)
    );
    assert_eq!(
        run(&mut c, "SREM", &["s", "2", "zz"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(run(&mut c, "SCARD", &["s"]).unwrap(), Value::Int(2));
    assert_eq!(
        run(&mut c, "SISMEMBER", &["s", "1"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "SISMEMBER", &["s", "01"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "SMISMEMBER", &["s", "a", "b"]).unwrap(),
        Value::Array(vec![Value::Int(1), Value::Int(0)])
    );
    assert_eq!(members(&mut c, "SMEMBERS", &["s"]), set(&["1", "a"]));
    assert_eq!(
        run(&mut c, "SREM", &["s", "1", "a"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(run(&mut c, "EXISTS", &["s"]).unwrap(), Value::Int(0));
    run(&mut c, "SET", &["str", "x"]).unwrap();
    assert_eq!(
        err(&mut c, "SADD", &["str", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn algebra_and_store_forms() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SADD", &["a", "1", "2", "3", "x"]).unwrap();
    run(&mut c, "SADD", &["b", "2", "3", "4"]).unwrap();
    run(&mut c, "SADD", &["c", "3", "x"]).unwrap();
    assert_eq!(members(&mut c, "SINTER", &["a", "b", "c"]), set(&["3"]));
    assert_eq!(
        members(&mut c, "SUNION", &["a", "b"]),
        set(&["1", "2", "3", "4", "x"])
    );
    assert_eq!(members(&mut c, "SDIFF", &["a", "b", "c"]), set(&["1"]));
    assert_eq!(members(&mut c, "SINTER", &["a", "none"]), set(&[]));
    assert_eq!(
        run(&mut c, "SINTERSTORE", &["d", "a", "b"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(members(&mut c, "SMEMBERS", &["d"]), set(&["2", "3"]));
    assert_eq!(
        run(&mut c, "SUNIONSTORE", &["d", "b", "c"]).unwrap(),
        Value::Int(4)
    );
    assert_eq!(
        run(&mut c, "SDIFFSTORE", &["d", "a", "a"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "EXISTS", &["d"]).unwrap(),
        Value::Int(0),
        "empty result deletes"
    );
    assert_eq!(
        run(&mut c, "SINTERCARD", &["2", "a", "b"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "SINTERCARD", &["2", "a", "b", "LIMIT", "1"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        err(&mut c, "SINTERCARD", &["3", "a", "b"]),
        "ERR Number of keys can't be greater than number of args"
    );
    assert_eq!(
        err(&mut c, "SINTERCARD", &["2", "a", "b", "LIMIT", "-1"]),
        "ERR LIMIT can't be negative"
    );
    run(&mut c, "SET", &["str", "x"]).unwrap();
    assert_eq!(
        err(&mut c, "SUNION", &["a", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn smove_spop_and_srandmember() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SADD", &["src", "a", "b", "c"]).unwrap();
    assert_eq!(
        run(&mut c, "SMOVE", &["src", "dst", "a"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "SMOVE", &["src", "dst", "zz"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "SMOVE", &["src", "src", "b"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(members(&mut c, "SMEMBERS", &["dst"]), set(&["a"]));
    let popped: Vec<String> = common::cmd("SPOP", &["src", "5"]).query(&mut c).unwrap();
    assert_eq!(
        popped.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["b", "c"])
    );
    assert_eq!(run(&mut c, "EXISTS", &["src"]).unwrap(), Value::Int(0));
    assert_eq!(run(&mut c, "SPOP", &["src"]).unwrap(), Value::Nil);
    assert_eq!(
        err(&mut c, "SPOP", &["dst", "-1"]),
        "ERR value is out of range, must be positive"
    );
    run(&mut c, "SADD", &["r", "1", "2", "3"]).unwrap();
    let distinct: Vec<String> = common::cmd("SRANDMEMBER", &["r", "2"])
        .query(&mut c)
        .unwrap();
    assert_eq!(distinct.iter().collect::<BTreeSet<_>>().len(), 2);
    let repeated: Vec<String> = common::cmd("SRANDMEMBER", &["r", "-7"])
        .query(&mut c)
        .unwrap();
    assert_eq!(repeated.len(), 7);
    assert_eq!(run(&mut c, "SCARD", &["r"]).unwrap(), Value::Int(3));
}

#[test]
fn encodings_follow_redis_thresholds() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let ints: Vec<String> = (0..512).map(|i| i.to_string()).collect();
    let mut args = vec!["ints"];
    args.extend(ints.iter().map(String::as_str));
    run(&mut c, "SADD", &args).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "ints"]).unwrap(),
        bulk("intset")
    );
    run(&mut c, "SADD", &["ints", "512"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "ints"]).unwrap(),
        bulk("hashtable")
    );
    // Redis 7.0 keeps sets of strings in hash tables, however small.
    run(&mut c, "SADD", &["words", "a", "b"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "words"]).unwrap(),
        bulk("hashtable")
    );
    assert_eq!(
        run(&mut c, "TYPE", &["words"]).unwrap(),
        Value::SimpleString("set".into())
    );
}

#[test]
fn sscan_walks_a_large_set_once() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.cmd("SADD").arg("s").arg(format!("m{i}")).ignore();
    }
    pipe.query::<()>(&mut c).unwrap();
    let (mut cursor, mut seen) = ("0".to_string(), Vec::new());
    loop {
        let (next, page): (String, Vec<String>) =
            common::cmd("SSCAN", &["s", &cursor, "COUNT", "100"])
                .query(&mut c)
                .unwrap();
        seen.extend(page);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (2000, 2000));
}

#[test]
fn resp3_smembers_is_a_set() {
    let e = Engine::start(&[]);
    let mut s = resp3(&e);
    expect(&mut s, "SADD s a", ":1\r\n");
    expect(&mut s, "SMEMBERS s", "~1\r\n$1\r\na\r\n");
    expect(&mut s, "SINTER s s", "~1\r\n$1\r\na\r\n");
    let mut raw = e.raw();
    expect(&mut raw, "SMEMBERS s", "*1\r\n$1\r\na\r\n");
}

#[test]
fn counted_key_commands_name_the_bad_argument_as_redis_does() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let error = |c: &mut redis::Connection, cmd: &str, args: &[&str]| {
        run(c, cmd, args).unwrap_err().to_string()
    };
    for (cmd, args) in [
        ("SINTERCARD", vec!["a", "s"]),
        ("SINTERCARD", vec!["0", "s"]),
        ("ZMPOP", vec!["a", "z", "MIN"]),
        ("LMPOP", vec!["-1", "l", "LEFT"]),
    ] {
        let e = error(&mut c, cmd, &args);
        assert!(
            e.contains("numkeys should be greater than 0"),
            "{cmd} {args:?}: {e}"
        );
    }
    for (cmd, args) in [
        ("SINTERCARD", vec!["1", "s", "LIMIT", "-1"]),
        ("ZINTERCARD", vec!["1", "z", "LIMIT", "a"]),
    ] {
        let e = error(&mut c, cmd, &args);
        assert!(e.contains("LIMIT can't be negative"), "{cmd} {args:?}: {e}");
    }
}
