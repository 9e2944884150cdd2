//! Sorted-set commands against a real engine, including a 100k-member leaderboard checked against a model.

mod common;

use std::collections::HashMap;

use common::{bulk, bulks, err, expect, resp3, run, Engine};
use redis::Value;

/// The leaderboard order: score, then member bytes.
fn sorted(model: &HashMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

fn with_scores(c: &mut redis::Connection, name: &str, args: &[&str]) -> Vec<(String, f64)> {
    let flat: Vec<String> = common::cmd(name, args).query(c).unwrap();
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].parse().unwrap()))
        .collect()
}

#[test]
fn leaderboard_of_100k_players_matches_a_model() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    fastrand::seed(42);
    let mut model = HashMap::new();
    for chunk in 0..100 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg("board");
        for i in 0..1000 {
            let player = format!("player:{}", chunk * 1000 + i);
            let score = fastrand::u32(..50_000) as f64;
            model.insert(player.clone(), score);
            cmd.arg(score).arg(player);
        }
        assert_eq!(cmd.query::<i64>(&mut c).unwrap(), 1000);
    }
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "board"]).unwrap(),
        bulk("skiplist")
    );
    assert_eq!(
        run(&mut c, "ZCARD", &["board"]).unwrap(),
        Value::Int(100_000)
    );
    // Some players score points.
    for i in (0..100_000).step_by(997) {
        let player = format!("player:{i}");
        let delta = fastrand::u32(..10_000) as f64;
        let now: f64 = common::cmd("ZINCRBY", &["board", &delta.to_string(), &player])
            .query(&mut c)
            .unwrap();
        let entry = model.get_mut(&player).unwrap();
        *entry += delta;
        assert_eq!(now, *entry);
    }
    let order = sorted(&model);
    let n = order.len();
    for rank in (0..n).step_by(4999) {
        let (player, score) = &order[rank];
        assert_eq!(
            run(&mut c, "ZRANK", &["board", player]).unwrap(),
            Value::Int(rank as i64)
        );
        assert_eq!(
            run(&mut c, "ZREVRANK", &["board", player]).unwrap(),
            Value::Int((n - 1 - rank) as i64)
        );
        let got: f64 = common::cmd("ZSCORE", &["board", player])
            .query(&mut c)
            .unwrap();
        assert_eq!(got, *score);
    }
    let top: Vec<(String, f64)> = order.iter().rev().take(10).cloned().collect();
    assert_eq!(
        with_scores(&mut c, "ZREVRANGE", &["board", "0", "9", "WITHSCORES"]),
        top
    );
    let first: Vec<String> = common::cmd("ZRANGE", &["board", "0", "99"])
        .query(&mut c)
        .unwrap();
    assert_eq!(
        first,
        order[..100]
            .iter()
            .map(|(m, _)| m.clone())
            .collect::<Vec<_>>()
    );
    let middle = with_scores(&mut c, "ZRANGE", &["board", "50000", "50049", "WITHSCORES"]);
    assert_eq!(middle, order[50_000..50_050].to_vec());
    let in_range = order
        .iter()
        .filter(|(_, s)| (1000.0..2000.0).contains(s))
        .count();
    assert_eq!(
        run(&mut c, "ZCOUNT", &["board", "1000", "(2000"]).unwrap(),
        Value::Int(in_range as i64)
    );
    let page = with_scores(
        &mut c,
        "ZRANGEBYSCORE",
        &["board", "1000", "(2000", "WITHSCORES", "LIMIT", "10", "5"],
    );
    let want: Vec<_> = order
        .iter()
        .filter(|(_, s)| (1000.0..2000.0).contains(s))
        .skip(10)
        .take(5)
        .cloned()
        .collect();
    assert_eq!(page, want);
}

#[test]
fn random_operations_agree_with_a_model_across_encodings() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    fastrand::seed(9);
    let mut model: HashMap<String, f64> = HashMap::new();
    for step in 0..3000 {
        let member = format!("m{}", fastrand::u32(..300));
        let score = (fastrand::i32(-50..50) as f64) / 4.0;
        match fastrand::u8(..4) {
            0 => {
                let removed: i64 = common::cmd("ZREM", &["z", &member]).query(&mut c).unwrap();
                assert_eq!(removed, model.remove(&member).is_some() as i64);
            }
            1 => {
                let got: f64 = common::cmd("ZINCRBY", &["z", &score.to_string(), &member])
                    .query(&mut c)
                    .unwrap();
                let entry = model.entry(member).or_insert(0.0);
                *entry += score;
                assert_eq!(got, *entry);
            }
            _ => {
                let added: i64 = common::cmd("ZADD", &["z", &score.to_string(), &member])
                    .query(&mut c)
                    .unwrap();
                assert_eq!(added, model.insert(member, score).is_none() as i64);
            }
        }
        if step % 100 == 0 {
            let order = sorted(&model);
            assert_eq!(
                with_scores(&mut c, "ZRANGE", &["z", "0", "-1", "WITHSCORES"]),
                order
            );
            let lo = order.iter().filter(|(_, s)| *s > -2.0 && *s <= 3.0).count();
            assert_eq!(
                run(&mut c, "ZCOUNT", &["z", "(-2", "3"]).unwrap(),
                Value::Int(lo as i64),
                "step {step}"
            );
            if let Some((m, _)) = order.get(order.len() / 2) {
                assert_eq!(
                    run(&mut c, "ZRANK", &["z", m]).unwrap(),
                    Value::Int((order.len() / 2) as i64)
                );
            }
        }
    }
}

#[test]
fn zadd_options_and_errors_follow_redis() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "ZADD", &["z", "1", "a", "2", "b"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "CH", "5", "a", "1", "c"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "NX", "9", "a", "3", "d"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "XX", "9", "zz"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "GT", "CH", "1", "a"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "LT", "CH", "1", "a"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "INCR", "2.5", "a"]).unwrap(),
        bulk("3.5")
    );
    assert_eq!(
        run(&mut c, "ZADD", &["z", "NX", "INCR", "1", "a"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, "ZADD", &["z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "ZADD", &["z", "GT", "LT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        err(&mut c, "ZADD", &["z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        err(&mut c, "ZADD", &["z", "1", "a", "2"]),
        "ERR syntax error"
    );
    assert_eq!(
        err(&mut c, "ZADD", &["z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    run(&mut c, "ZADD", &["inf", "+inf", "a"]).unwrap();
    assert_eq!(
        err(&mut c, "ZINCRBY", &["inf", "-inf", "a"]),
        "ERR resulting score is not a number (NaN)"
    );
    assert_eq!(
        run(&mut c, "ZADD", &["xx", "XX", "1", "a"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(run(&mut c, "EXISTS", &["xx"]).unwrap(), Value::Int(0));
}

#[test]
fn scores_are_replied_with_17_significant_digits() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(
        &mut c,
        "ZADD",
        &[
            "z", "0.1", "a", "1e300", "b", "-inf", "c", "+inf", "d", "-0.0", "e",
        ],
    )
    .unwrap();
    assert_eq!(
        run(&mut c, "ZSCORE", &["z", "a"]).unwrap(),
        bulk("0.10000000000000001")
    );
    assert_eq!(
        run(&mut c, "ZSCORE", &["z", "b"]).unwrap(),
        bulk("1.0000000000000001e+300")
    );
    assert_eq!(run(&mut c, "ZSCORE", &["z", "c"]).unwrap(), bulk("-inf"));
    assert_eq!(run(&mut c, "ZSCORE", &["z", "d"]).unwrap(), bulk("inf"));
    assert_eq!(run(&mut c, "ZSCORE", &["z", "e"]).unwrap(), bulk("0"));
    let mut s = resp3(&e);
    expect(&mut s, "ZSCORE z a", ",0.10000000000000001\r\n");
    expect(&mut s, "ZSCORE z d", ",inf\r\n");
    expect(&mut s, "ZSCORE z nope", "_\r\n");
    expect(
        &mut s,
        "ZRANGE z 0 0 WITHSCORES",
        "*1\r\n*2\r\n$1\r\nc\r\n,-inf\r\n",
    );
    expect(&mut s, "ZPOPMIN z", "*2\r\n$1\r\nc\r\n,-inf\r\n");
    expect(&mut s, "ZPOPMIN z 1", "*1\r\n*2\r\n$1\r\ne\r\n,0\r\n");
    expect(
        &mut s,
        "ZRANK z a WITHSCORE",
        "*2\r\n:0\r\n,0.10000000000000001\r\n",
    );
    expect(&mut s, "ZRANK z nope WITHSCORE", "_\r\n");
    let mut raw = e.raw();
    expect(
        &mut raw,
        "ZRANGE z 0 0 WITHSCORES",
        "*2\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n",
    );
    expect(&mut raw, "ZRANK z nope WITHSCORE", "*-1\r\n");
}

#[test]
fn range_forms_by_rank_score_and_lex() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(
        &mut c,
        "ZADD",
        &["z", "1", "a", "2", "b", "3", "c", "4", "d"],
    )
    .unwrap();
    assert_eq!(
        run(&mut c, "ZRANGE", &["z", "(1", "3", "BYSCORE"]).unwrap(),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(
            &mut c,
            "ZRANGE",
            &["z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2"]
        )
        .unwrap(),
        bulks(&["c", "b"])
    );
    assert_eq!(
        run(&mut c, "ZREVRANGEBYSCORE", &["z", "(4", "2"]).unwrap(),
        bulks(&["c", "b"])
    );
    assert_eq!(
        run(&mut c, "ZRANGE", &["z", "-2", "-1", "REV"]).unwrap(),
        bulks(&["b", "a"])
    );
    assert_eq!(
        err(&mut c, "ZRANGE", &["z", "0", "1", "LIMIT", "0", "1"]),
        "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
    );
    assert_eq!(
        err(&mut c, "ZRANGEBYSCORE", &["z", "x", "1"]),
        "ERR min or max is not a float"
    );
    run(
        &mut c,
        "ZADD",
        &["lex", "0", "a", "0", "b", "0", "c", "0", "d"],
    )
    .unwrap();
    assert_eq!(
        run(&mut c, "ZRANGEBYLEX", &["lex", "[b", "(d"]).unwrap(),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(&mut c, "ZREVRANGEBYLEX", &["lex", "+", "(b"]).unwrap(),
        bulks(&["d", "c"])
    );
    assert_eq!(
        run(&mut c, "ZLEXCOUNT", &["lex", "-", "+"]).unwrap(),
        Value::Int(4)
    );
    assert_eq!(
        err(&mut c, "ZRANGEBYLEX", &["lex", "b", "c"]),
        "ERR min or max not valid string range item"
    );
    assert_eq!(
        err(&mut c, "ZRANGE", &["lex", "-", "+", "BYLEX", "WITHSCORES"]),
        "ERR syntax error, WITHSCORES not supported in combination with BYLEX"
    );
    assert_eq!(
        run(&mut c, "ZRANGESTORE", &["dst", "z", "1", "2"]).unwrap(),
        Value::Int(2)
    );
    assert_eq!(
        run(&mut c, "ZRANGE", &["dst", "0", "-1"]).unwrap(),
        bulks(&["b", "c"])
    );
    assert_eq!(
        run(&mut c, "ZREMRANGEBYSCORE", &["z", "-inf", "(2"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "ZREMRANGEBYRANK", &["z", "0", "0"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        run(&mut c, "ZREMRANGEBYLEX", &["lex", "-", "+"]).unwrap(),
        Value::Int(4)
    );
    assert_eq!(run(&mut c, "EXISTS", &["lex"]).unwrap(), Value::Int(0));
}

#[test]
fn union_intersection_and_difference_with_weights() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "ZADD", &["a", "1", "x", "2", "y"]).unwrap();
    run(&mut c, "ZADD", &["b", "10", "y", "20", "z"]).unwrap();
    run(&mut c, "SADD", &["s", "x", "w"]).unwrap();
    assert_eq!(
        with_scores(
            &mut c,
            "ZUNION",
            &["2", "a", "b", "WEIGHTS", "2", "1", "WITHSCORES"]
        ),
        vec![("x".into(), 2.0), ("y".into(), 14.0), ("z".into(), 20.0)]
    );
    assert_eq!(
        with_scores(
            &mut c,
            "ZINTER",
            &["2", "a", "b", "AGGREGATE", "MAX", "WITHSCORES"]
        ),
        vec![("y".into(), 10.0)]
    );
    assert_eq!(
        with_scores(&mut c, "ZUNION", &["2", "a", "s", "WITHSCORES"]),
        vec![("w".into(), 1.0), ("x".into(), 2.0), ("y".into(), 2.0)]
    );
    assert_eq!(
        run(&mut c, "ZDIFF", &["2", "a", "b"]).unwrap(),
        bulks(&["x"])
    );
    assert_eq!(
        run(&mut c, "ZUNIONSTORE", &["d", "2", "a", "b"]).unwrap(),
        Value::Int(3)
    );
    assert_eq!(
        run(&mut c, "ZINTERSTORE", &["d", "2", "a", "none"]).unwrap(),
        Value::Int(0)
    );
    assert_eq!(run(&mut c, "EXISTS", &["d"]).unwrap(), Value::Int(0));
    assert_eq!(
        run(&mut c, "ZINTERCARD", &["2", "a", "b"]).unwrap(),
        Value::Int(1)
    );
    assert_eq!(
        err(&mut c, "ZUNIONSTORE", &["d", "0", "a"]),
        "ERR at least 1 input key is needed for 'zunionstore' command"
    );
    assert_eq!(
        err(&mut c, "ZUNION", &["2", "a", "b", "WEIGHTS", "1", "x"]),
        "ERR weight value is not a float"
    );
    run(&mut c, "SET", &["str", "v"]).unwrap();
    assert_eq!(
        err(&mut c, "ZUNION", &["2", "a", "str"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
}

#[test]
fn pops_and_mpop() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "ZADD", &["z", "1", "a", "2", "b", "3", "c"]).unwrap();
    assert_eq!(run(&mut c, "ZPOPMIN", &["z"]).unwrap(), bulks(&["a", "1"]));
    assert_eq!(
        run(&mut c, "ZPOPMAX", &["z", "5"]).unwrap(),
        bulks(&["c", "3", "b", "2"])
    );
    assert_eq!(run(&mut c, "EXISTS", &["z"]).unwrap(), Value::Int(0));
    run(&mut c, "ZADD", &["z", "1", "a", "2", "b"]).unwrap();
    assert_eq!(
        run(&mut c, "ZMPOP", &["2", "none", "z", "MAX"]).unwrap(),
        Value::Array(vec![bulk("z"), Value::Array(vec![bulks(&["b", "2"])])])
    );
    assert_eq!(
        run(&mut c, "ZMPOP", &["1", "none", "MIN"]).unwrap(),
        Value::Nil
    );
    assert_eq!(
        err(&mut c, "ZPOPMIN", &["z", "-1"]),
        "ERR value is out of range, must be positive"
    );
}

#[test]
fn small_sorted_sets_are_listpacks() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    run(&mut c, "ZADD", &["z", "1", "a"]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "z"]).unwrap(),
        bulk("listpack")
    );
    run(&mut c, "ZADD", &["z", "1", &"m".repeat(65)]).unwrap();
    assert_eq!(
        run(&mut c, "OBJECT", &["ENCODING", "z"]).unwrap(),
        bulk("skiplist")
    );
    assert_eq!(
        run(&mut c, "TYPE", &["z"]).unwrap(),
        Value::SimpleString("zset".into())
    );
}

#[test]
fn sorted_sets_count_towards_maxmemory_and_are_evicted() {
    let e = Engine::start(&["--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru"]);
    let mut c = e.conn();
    for k in 0..100 {
        let mut cmd = redis::cmd("ZADD");
        cmd.arg(format!("board:{k}"));
        for i in 0..1000 {
            cmd.arg(i).arg(format!("member-with-some-length:{i}"));
        }
        cmd.query::<i64>(&mut c).unwrap();
    }
    let used = common::used_memory(&mut c);
    assert!(
        used < 6 * 1024 * 1024,
        "used_memory {used} stays near the 4mb limit"
    );
    let keys: i64 = common::cmd("DBSIZE", &[]).query(&mut c).unwrap();
    assert!(keys < 100, "{keys} sorted sets left: some were evicted");
}
