//! String commands against a real engine, through the `redis` crate.

mod common;

use common::{bulk, err, run, Engine};
use redis::Value;

#[test]
fn set_and_get_round_trip_binary_values() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let value: Vec<u8> = (0..=255u8).chain(b"\r\n\0".iter().copied()).collect();
    redis::cmd("SET")
        .arg(b"bin\x00key")
        .arg(&value)
        .query::<()>(&mut c)
        .unwrap();
    let got: Vec<u8> = redis::cmd("GET").arg(b"bin\x00key").query(&mut c).unwrap();
    assert_eq!(got, value);
    assert_eq!(run(&mut c, "GET", &["missing"]).unwrap(), Value::Nil);
}

#[test]
fn set_honours_nx_xx_get_and_keepttl() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "SET", &["k", "1", "NX"]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "SET", &["k", "2", "NX"]).unwrap(), Value::Nil);
    assert_eq!(
        run(&mut c, "SET", &["other", "2", "XX"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "SET", &["k", "3", "XX", "GET"]).unwrap(),
        bulk("1")
    );
    assert_eq!(
        run(&mut c, "SET", &["fresh", "x", "GET"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        run(&mut c, "SET", &["k", "4", "EX", "100"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        run(&mut c, "SET", &["k", "5", "KEEPTTL"]).unwrap(),
        Value::Okay
    );
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(100));
    assert_eq!(run(&mut c, "SET", &["k", "6"]).unwrap(), Value::Okay);
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(-1));
    assert_eq!(
        err(&mut c, "SET", &["k", "v", "NX", "XX"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, "SET", &["k", "v", "EX", "10", "PX", "100"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, "SET", &["k", "v", "EX", "0"]),
        "ERR invalid expire time in 'set' command"
    );
    assert_eq!(
        err(&mut c, "SET", &["k", "v", "EX", "ten"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn set_expiry_options_set_the_right_deadline() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    run(&mut c, "SET", &["a", "v", "PX", "50000"]).unwrap();
    let Value::Int(pttl) = run(&mut c, "PTTL", &["a"]).unwrap() else {
        panic!()
    };
    assert!((49_000..=50_000).contains(&pttl), "{pttl}");
    let at = (now + 1000).to_string();
    run(&mut c, "SET", &["b", "v", "EXAT", &at]).unwrap();
    assert_eq!(
        run(&mut c, "EXPIRETIME", &["b"]).unwrap(),
        Value::Int(now as i64 + 1000)
    );
    let past = ((now - 10) * 1000).to_string();
    run(&mut c, "SET", &["c", "v", "PXAT", &past]).unwrap();
    assert_eq!(run(&mut c, "EXISTS", &["c"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "SETEX", &["d", "100", "v"]).unwrap(),
        Value::Okay
    );
    assert_eq!(run(&mut c, "TTL", &["d"]).unwrap(), Value::Int(100));
    run(&mut c, "PSETEX", &["e", "100000", "v"]).unwrap();
    assert_eq!(run(&mut c, "TTL", &["e"]).unwrap(), Value::Int(100));
    assert_eq!(
        err(&mut c, "SETEX", &["d", "-1", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
}

#[test]
fn counters_increment_and_refuse_non_integers() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "INCR", &["n"]).unwrap(), Value::Int(1));
    assert_eq!(run(&mut c, "INCRBY", &["n", "41"]).unwrap(), Value::Int(42));
    assert_eq!(run(&mut c, "DECR", &["n"]).unwrap(), Value::Int(41));
    assert_eq!(
        run(&mut c, "DECRBY", &["n", "100"]).unwrap(),
        Value::Int(-59)
    );
    assert_eq!(run(&mut c, "GET", &["n"]).unwrap(), bulk("-59"));
    run(&mut c, "SET", &["s", "abc"]).unwrap();
    assert_eq!(
        err(&mut c, "INCR", &["s"]),
        "ERR value is not an integer or out of range"
    );
    run(&mut c, "SET", &["z", "007"]).unwrap();
    assert_eq!(
        err(&mut c, "INCR", &["z"]),
        "ERR value is not an integer or out of range"
    );
    run(&mut c, "SET", &["max", "9223372036854775807"]).unwrap();
    assert_eq!(
        err(&mut c, "INCR", &["max"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        run(&mut c, "GET", &["max"]).unwrap(),
        bulk("9223372036854775807")
    );
    run(&mut c, "SET", &["t", "10", "EX", "100"]).unwrap();
    run(&mut c, "INCRBY", &["t", "1000"]).unwrap();
    assert_eq!(
        run(&mut c, "TTL", &["t"]).unwrap(),
        Value::Int(100),
        "INCR keeps the TTL"
    );
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "SET", &["f", "10.50"]).unwrap();
    assert_eq!(
        run(&mut c, "INCRBYFLOAT", &["f", "0.1"]).unwrap(),
        bulk("10.6")
    );
    assert_eq!(
        run(&mut c, "INCRBYFLOAT", &["f", "-5"]).unwrap(),
        bulk("5.6")
    );
    run(&mut c, "SET", &["g", "5.0e3"]).unwrap();
    assert_eq!(
        run(&mut c, "INCRBYFLOAT", &["g", "2.0e2"]).unwrap(),
        bulk("5200")
    );
    assert_eq!(
        err(&mut c, "INCRBYFLOAT", &["g", "nan"]),
        "ERR value is not a valid float"
    );
    run(&mut c, "SET", &["h", "1e308"]).unwrap();
    assert_eq!(
        err(&mut c, "INCRBYFLOAT", &["h", "1e308"]),
        "ERR increment would produce NaN or Infinity"
    );
}

#[test]
fn append_strlen_and_ranges() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "APPEND", &["s", "Hello"]).unwrap(),
        Value::Int(5)
    );
    assert_eq!(
        run(&mut c, "APPEND", &["s", " World"]).unwrap(),
        Value::Int(11)
    );
    assert_eq!(run(&mut c, "STRLEN", &["s"]).unwrap(), Value::Int(11));
    assert_eq!(run(&mut c, "STRLEN", &["none"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "GETRANGE", &["s", "0", "4"]).unwrap(),
        bulk("Hello")
    );
    assert_eq!(
        run(&mut c, "GETRANGE", &["s", "-5", "-1"]).unwrap(),
        bulk("World")
    );
    assert_eq!(run(&mut c, "GETRANGE", &["s", "5", "1"]).unwrap(), bulk(""));
    assert_eq!(
        run(&mut c, "GETRANGE", &["s", "0", "100"]).unwrap(),
        bulk("Hello World")
    );
    assert_eq!(
        run(&mut c, "SETRANGE", &["s", "6", "Redis"]).unwrap(),
        Value::Int(11)
    );
    assert_eq!(run(&mut c, "GET", &["s"]).unwrap(), bulk("Hello Redis"));
    assert_eq!(
        run(&mut c, "SETRANGE", &["pad", "3", "x"]).unwrap(),
        Value::Int(4)
    );
    assert_eq!(
        run(&mut c, "GET", &["pad"]).unwrap(),
        Value::BulkString(b"\0\0\0x".to_vec())
    );
    assert_eq!(
        run(&mut c, "SETRANGE", &["nothing", "3", ""]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(run(&mut c, "EXISTS", &["nothing"]).unwrap(), Value::Int(0));
    assert_eq!(
        err(&mut c, "SETRANGE", &["s", "-1", "x"]),
        "ERR offset is out of range"
    );
}

#[test]
fn multi_key_string_commands() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "MSET", &["a", "1", "b", "2", "c", "3"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        run(&mut c, "MGET", &["a", "nope", "c"]).unwrap(),
        Value::Array(vec![bulk("1"), Value::Nil, bulk("3")])
    );
    assert_eq!(
        run(&mut c, "MSETNX", &["x", "1", "a", "9"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(run(&mut c, "EXISTS", &["x"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "MSETNX", &["x", "1", "y", "2"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        err(&mut c, "MSET", &["a", "1", "b"]),
        "ERR wrong number of arguments for 'mset' command"
    );
}

#[test]
fn getset_getdel_getex() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(run(&mut c, "GETSET", &["k", "1"]).unwrap(), Value::Nil);
    assert_eq!(run(&mut c, "GETSET", &["k", "2"]).unwrap(), bulk("1"));
    assert_eq!(run(&mut c, "GETEX", &["k", "EX", "50"]).unwrap(), bulk("2"));
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(50));
    assert_eq!(run(&mut c, "GETEX", &["k", "PERSIST"]).unwrap(), bulk("2"));
    assert_eq!(run(&mut c, "TTL", &["k"]).unwrap(), Value::Int(-1));
    assert_eq!(run(&mut c, "GETDEL", &["k"]).unwrap(), bulk("2"));
    assert_eq!(run(&mut c, "GETDEL", &["k"]).unwrap(), Value::Nil);
    assert_eq!(err(&mut c, "GETEX", &["k", "EX"]), "ERR syntax error");
}
