//! ACL permissions compared with real redis-server 7.0: random users (categories, commands, subcommands, `~`,
//! `%R~`, `%W~` key patterns, channels) and random commands over keys those patterns do and do not cover. Both
//! servers judge every (user, command) pair with `ACL DRYRUN`; every verdict must be the same, word for word.
//!
//! Needs `redis-server` on PATH (Debian's `redis-server` package; `.ci/run` installs it).

mod common;

use common::{Engine, RedisServer, Rng};

const CATEGORIES: &[&str] = &[
    "read",
    "write",
    "keyspace",
    "string",
    "list",
    "hash",
    "set",
    "sortedset",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "dangerous",
    "connection",
    "transaction",
    "blocking",
];
const COMMANDS: &[&str] = &[
    "get",
    "set",
    "incr",
    "del",
    "type",
    "exists",
    "rename",
    "copy",
    "dbsize",
    "lpush",
    "lmove",
    "zunionstore",
    "sintercard",
    "xread",
    "publish",
    "config|get",
    "config|set",
    "client|list",
    "object|encoding",
    "xlen",
    "flushdb",
    "keys",
    "scan",
    "info",
    "hset",
    "expire",
];
const PREFIXES: &[&str] = &["a", "b", "c", "pub", "sec"];

/// One random ACL rule.
fn rule(rng: &mut Rng) -> String {
    match rng.below(10) {
        0..=2 => format!(
            "{}@{}",
            if rng.below(4) == 0 { "-" } else { "+" },
            rng.pick(CATEGORIES)
        ),
        3..=4 => format!(
            "{}{}",
            if rng.below(3) == 0 { "-" } else { "+" },
            rng.pick(COMMANDS)
        ),
        5 => format!("~{}:*", rng.pick(PREFIXES)),
        6 => format!("%R~{}:*", rng.pick(PREFIXES)),
        7 => format!("%W~{}:*", rng.pick(PREFIXES)),
        8 => [
            "allkeys",
            "&news*",
            "allchannels",
            "resetkeys",
            "+@all",
            "-@all",
        ][rng.below(6)]
        .to_string(),
        _ => format!("%RW~{}:*", rng.pick(PREFIXES)),
    }
}

/// One random command: a template whose `K` become random keys.
fn command(rng: &mut Rng) -> Vec<String> {
    const TEMPLATES: &[&str] = &[
        "GET K",
        "SET K v",
        "SET K v GET",
        "SET K v NX",
        "INCR K",
        "APPEND K v",
        "STRLEN K",
        "GETDEL K",
        "GETEX K PERSIST",
        "MGET K K",
        "MSET K v K v",
        "MSETNX K v K v",
        "DEL K K",
        "UNLINK K",
        "EXISTS K K",
        "TYPE K",
        "TTL K",
        "EXPIRE K 10",
        "PERSIST K",
        "TOUCH K",
        "RENAME K K",
        "RENAMENX K K",
        "COPY K K",
        "OBJECT ENCODING K",
        "OBJECT FREQ K",
        "MEMORY USAGE K",
        "LPUSH K v",
        "LPOP K",
        "LRANGE K 0 -1",
        "LLEN K",
        "LMOVE K K LEFT RIGHT",
        "RPOPLPUSH K K",
        "LPOS K v",
        "HSET K f v",
        "HGET K f",
        "HGETALL K",
        "HDEL K f",
        "HINCRBY K f 1",
        "SADD K m",
        "SMEMBERS K",
        "SINTERSTORE K K K",
        "SUNION K K",
        "SINTERCARD 2 K K",
        "SMOVE K K m",
        "SPOP K",
        "ZADD K 1 m",
        "ZRANGE K 0 -1",
        "ZUNIONSTORE K 2 K K",
        "ZRANGESTORE K K 0 -1",
        "ZINTERCARD 2 K K",
        "ZMPOP 2 K K MIN",
        "LMPOP 2 K K LEFT",
        "ZSCORE K m",
        "ZINCRBY K 1 m",
        "XADD K * f v",
        "XLEN K",
        "XRANGE K - +",
        "XREAD STREAMS K K 0 0",
        "XTRIM K MAXLEN 1",
        "XDEL K 1-1",
        "DBSIZE",
        "FLUSHDB",
        "KEYS *",
        "SCAN 0",
        "RANDOMKEY",
        "PUBLISH news.1 m",
        "PUBLISH other m",
        "SUBSCRIBE news.1",
        "CONFIG GET maxmemory",
        "CONFIG SET maxmemory 0",
        "INFO",
        "PING",
        "CLIENT LIST",
        "CLIENT ID",
        "ECHO x",
        "SETRANGE K 0 v",
        "GETRANGE K 0 1",
        "GETSET K v",
        "SETNX K v",
        "PSETEX K 100 v",
        "SMISMEMBER K a b",
        "HRANDFIELD K",
        "ZRANDMEMBER K",
        "EXPIRETIME K",
        "MOVE K 1",
        "SWAPDB 0 1",
        "FLUSHALL",
        "SELECT 1",
        "WAIT 0 0",
        "BLPOP K K 1",
        "BZPOPMIN K 1",
        "XGROUP CREATE K g $",
        "XINFO STREAM K",
        "HELLO",
        "TIME",
    ];
    rng.pick(TEMPLATES)
        .split(' ')
        .map(|w| {
            if w == "K" {
                format!("{}:{}", rng.pick(PREFIXES), rng.below(4))
            } else {
                w.to_string()
            }
        })
        .collect()
}

fn verdict(c: &mut redis::Connection, args: &[String]) -> String {
    match redis::cmd("ACL").arg(args).query::<redis::Value>(c) {
        Ok(redis::Value::Okay) => "OK".into(),
        Ok(redis::Value::SimpleString(s)) => s,
        Ok(redis::Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error: {}", e.detail().unwrap_or_default()),
    }
}

#[test]
fn random_users_and_commands_get_the_same_verdict_as_redis() {
    let redis = RedisServer::start();
    let ours = Engine::start(&[]);
    let mut theirs = redis.conn();
    let mut mine = ours.conn();
    let mut rng = Rng(0x5eed_ac10_0001);
    let (mut checked, mut allowed, mut differences) = (0, 0, Vec::new());
    for u in 0..200 {
        let user = format!("u{u}");
        let mut setuser = vec![
            "SETUSER".to_string(),
            user.clone(),
            "reset".into(),
            "on".into(),
            "nopass".into(),
        ];
        // Half the users start from every command, so key and channel rules decide more of the verdicts.
        if rng.below(2) == 0 {
            setuser.push("+@all".into());
        }
        for _ in 0..1 + rng.below(6) {
            setuser.push(rule(&mut rng));
        }
        let (a, b) = (verdict(&mut theirs, &setuser), verdict(&mut mine, &setuser));
        if a != b {
            differences.push(format!("{setuser:?}\n  redis: {a}\n  ours:  {b}"));
            continue;
        }
        for _ in 0..50 {
            let mut dryrun = vec!["DRYRUN".to_string(), user.clone()];
            dryrun.extend(command(&mut rng));
            let (a, b) = (verdict(&mut theirs, &dryrun), verdict(&mut mine, &dryrun));
            checked += 1;
            allowed += usize::from(a == "OK");
            if a != b {
                differences.push(format!(
                    "{setuser:?} {dryrun:?}\n  redis: {a}\n  ours:  {b}"
                ));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {checked} verdicts differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    // The sample must exercise both outcomes to mean anything.
    assert!(
        allowed > checked / 10 && allowed < checked * 9 / 10,
        "{allowed} of {checked} allowed"
    );
    println!("{checked} verdicts agree ({allowed} allowed)");
}
