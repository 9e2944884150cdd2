//! List commands against a real engine.

mod common;

use common::{bulk, bulks, err, expect, resp3, run, Engine};
use redis::Value;

#[test]
fn pushes_pops_and_ranges_follow_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "RPUSH", &["l", "a", "b", "c"]).unwrap(),
        Value::Int(3)
    );
    assert_eq!(
        run(&mut c, "LPUSH", &["l", "y", "z"]).unwrap(),
        Value::Int(5)
    );
    assert_eq!(
        run(&mut c, "LPUSHX", &["none", "a"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(run(&mut c, "EXISTS", &["none"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "LRANGE", &["l", "0", "-1"]).unwrap(),
        bulks(&["z", "y", "a", "b", "c"])
    );
    assert_eq!(
        run(&mut c, "LRANGE", &["l", "-2", "100"]).unwrap(),
        bulks(&["b", "c"])
    );
    assert_eq!(run(&mut c, "LRANGE", &["l", "3", "1"]).unwrap(), bulks(&[]));
    assert_eq!(run(&mut c, "LINDEX", &["l", "-1"]).unwrap(), bulk("c"));
    assert_eq!(run(&mut c, "LINDEX", &["l", "9"]).unwrap(), Value::Nil);
    assert_eq!(run(&mut c, "LPOP", &["l"]).unwrap(), bulk("z"));
    assert_eq!(
        run(&mut c, "RPOP", &["l", "2"]).unwrap(),
        bulks(&["c", "b"])
    );
    assert_eq!(run(&mut c, "LPOP", &["l", "0"]).unwrap(), bulks(&[]));
    assert_eq!(run(&mut c, "LPOP", &["none", "2"]).unwrap(), Value::Nil);
    assert_eq!(
        err(&mut c, "LPOP", &["l", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        run(&mut c, "LPOP", &["l", "5"]).unwrap(),
        bulks(&["y", "a"])
    );
    assert_eq!(
        run(&mut c, "EXISTS", &["l"]).unwrap(),
        Value::Int(0),
        "emptied list is deleted"
    );
}

#[test]
fn lset_linsert_lrem_ltrim_edit_in_place() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "RPUSH", &["l", "a", "x", "b", "x", "c", "x"]).unwrap();
    run(&mut c, "EXPIRE", &["l", "100"]).unwrap();
    assert_eq!(run(&mut c, "LSET", &["l", "0", "A"]).unwrap(), Value::Okay);
    assert_eq!(
        err(&mut c, "LSET", &["l", "10", "A"]),
        "ERR index out of range"
    );
    assert_eq!(err(&mut c, "LSET", &["none", "0", "A"]), "ERR no such key");
    assert_eq!(
        run(&mut c, "LINSERT", &["l", "BEFORE", "b", "B"]).unwrap(),
        Value::Int(7)
    );
    assert_eq!(
        run(&mut c, "LINSERT", &["l", "AFTER", "zz", "B"]).unwrap(),
        Value::Int(-1)
    );
    assert_eq!(
        run(&mut c, "LINSERT", &["none", "AFTER", "a", "B"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        err(&mut c, "LINSERT", &["l", "NEAR", "a", "B"]),
        "ERR syntax error"
    );
    assert_eq!(
        run(&mut c, "LREM", &["l", "-1", "x"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "LRANGE", &["l", "0", "-1"]).unwrap(),
        bulks(&["A", "x", "B", "b", "x", "c"])
    );
    assert_eq!(
        run(&mut c, "LREM", &["l", "0", "x"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "LTRIM", &["l", "1", "-2"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        run(&mut c, "LRANGE", &["l", "0", "-1"]).unwrap(),
        bulks(&["B", "b"])
    );
    assert_eq!(run(&mut c, "TTL", &["l"]).unwrap(), Value::Int(100));
    run(&mut c, "LTRIM", &["l", "5", "9"]).unwrap();
    assert_eq!(run(&mut c, "EXISTS", &["l"]).unwrap(), Value::Int(0));
}

#[test]
fn lpos_options_and_errors() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(
        &mut c,
        "RPUSH",
        &["p", "a", "b", "c", "1", "2", "3", "c", "c"],
    )
    .unwrap();
    assert_eq!(run(&mut c, "LPOS", &["p", "c"]).unwrap(), Value::Int(2));
    assert_eq!(
        run(&mut c, "LPOS", &["p", "c", "RANK", "-1"]).unwrap(),
        Value::Int(7)
    );
    assert_eq!(
        run(&mut c, "LPOS", &["p", "c", "COUNT", "0"]).unwrap(),
        Value::Array(vec![Value::Int(2), Value::Int(6), Value::Int(7)])
    );
    assert_eq!(
        run(&mut c, "LPOS", &["p", "c", "MAXLEN", "2"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, "LPOS", &["p", "c", "RANK", "0"]),
        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative \
         to start from the end of the list"
    );
    assert_eq!(
        err(&mut c, "LPOS", &["p", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        err(&mut c, "LPOS", &["p", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
}

#[test]
fn lmove_rpoplpush_and_lmpop_move_elements() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "RPUSH", &["src", "a", "b", "c"]).unwrap();
    assert_eq!(
        run(&mut c, "LMOVE", &["src", "dst", "LEFT", "RIGHT"]).unwrap(),
        bulk("a")
    );
    assert_eq!(
        run(&mut c, "RPOPLPUSH", &["src", "dst"]).unwrap(),
        bulk("c")
    );
    assert_eq!(
        run(&mut c, "LRANGE", &["dst", "0", "-1"]).unwrap(),
        bulks(&["c", "a"])
    );
    assert_eq!(
        run(&mut c, "LMOVE", &["none", "dst", "LEFT", "LEFT"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "LMOVE", &["dst", "dst", "LEFT", "RIGHT"]).unwrap(),
        bulk("c")
    );
    assert_eq!(
        run(&mut c, "LRANGE", &["dst", "0", "-1"]).unwrap(),
        bulks(&["a", "c"])
    );
    run(&mut c, "SET", &["str", "x"]).unwrap();
    assert_eq!(
        err(&mut c, "LMOVE", &["src", "str", "LEFT", "LEFT"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    assert_eq!(
        run(&mut c, "LLEN", &["src"]).unwrap(),
        Value::Int(1),
        "nothing popped on error"
    );
    assert_eq!(
        run(
            &mut c,
            "LMPOP",
            &["3", "none", "src", "dst", "RIGHT", "COUNT", "5"]
        )
        .unwrap(),
        Value::Array(vec![bulk("src"), bulks(&["b"])])
    );
    assert_eq!(
        run(&mut c, "LMPOP", &["1", "none", "LEFT"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, "LMPOP", &["0", "src", "LEFT"]),
        "ERR numkeys should be greater than 0"
    );
    assert_eq!(
        err(&mut c, "LMPOP", &["1", "dst", "LEFT", "COUNT", "0"]),
        "ERR count should be greater than 0"
    );
    assert_eq!(
        err(&mut c, "LMPOP", &["5", "dst", "LEFT"]),
        "ERR syntax error"
    );
}

#[test]
fn every_list_is_a_quicklist_as_in_redis_7_0() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "RPUSH", &["l", "a"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "l"]).unwrap(),
        bulk("quicklist")
    );
    let big = "x".repeat(1000);
    for _ in 0..10 {
        run(&mut c, "RPUSH", &["l", &big]).unwrap();
    }
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "l"]).unwrap(),
        bulk("quicklist")
    );
    assert_eq!(
        run(&mut c, "TYPE", &["l"]).unwrap(),
        Value::SimpleString("list".into())
    );
}

#[test]
fn resp3_null_replies_of_lists() {
    let e = Engine::start(&[]);
    let mut s = resp3(&e);
    expect(&mut s, "LPOP none", "_\r\n");
    expect(&mut s, "LPOP none 2", "_\r\n");
    expect(&mut s, "LMPOP 1 none LEFT", "_\r\n");
    let mut raw = e.raw();
    expect(&mut raw, "LPOP none", "$-1\r\n");
    expect(&mut raw, "LPOP none 2", "*-1\r\n");
    expect(&mut raw, "LMPOP 1 none LEFT", "*-1\r\n");
}
