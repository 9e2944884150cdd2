//! TTL expiry (lazy and active) and `maxmemory` eviction under each policy.

mod common;

use std::time::{Duration, Instant};

use common::{info_u64, run, Engine};
use redis::Value;

fn fill(
    c: &mut redis::Connection,
    prefix: &str,
    n: usize,
    value_len: usize,
    ttl_secs: Option<u64>,
) {
    try_fill(c, prefix, n, value_len, ttl_secs).expect("fill");
}

fn try_fill(
    c: &mut redis::Connection,
    prefix: &str,
    n: usize,
    value_len: usize,
    ttl_secs: Option<u64>,
) -> redis::RedisResult<()> {
    let value = "x".repeat(value_len);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let cmd = pipe.cmd("SET").arg(format!("{prefix}:{i}")).arg(&value);
            if let Some(t) = ttl_secs {
                cmd.arg("EX").arg(t);
            }
            cmd.ignore();
        }
        pipe.query::<()>(c)?;
    }
    Ok(())
}

/// Shards report memory to the eviction counter in 1 KiB steps, so the limit holds within 64 shards × 1 KiB,
/// plus the last write.
fn assert_within_limit(used: u64, limit: u64, what: &str) {
    assert!(
        used <= limit + 64 * 1024 + 2048,
        "{what}: used_memory {used} over {limit}"
    );
}

fn count_existing(c: &mut redis::Connection, prefix: &str, n: usize) -> usize {
    let keys: Vec<String> = (0..n).map(|i| format!("{prefix}:{i}")).collect();
    let Value::Int(k) = common::cmd(
        "EXISTS",
        &keys.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .query(c)
    .unwrap() else {
        panic!()
    };
    k as usize
}

#[test]
fn expired_keys_are_invisible_to_reads() {
    let e = Engine::start(&["--set", "hz=1"]);
    let mut c = e.conn();
    run(&mut c, "SET", &["short", "v", "PX", "100"]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(run(&mut c, "GET", &["short"]).unwrap(), Value::Nil);
    assert_eq!(run(&mut c, "TTL", &["short"]).unwrap(), Value::Int(-2));
    assert_eq!(run(&mut c, "EXISTS", &["short"]).unwrap(), Value::Int(0));
    assert_eq!(info_u64(&mut c, "stats", "expired_keys"), 1);
}

#[test]
fn active_expiry_reclaims_keys_nobody_reads() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    fill(&mut c, "gone", 20_000, 10, Some(1));
    fill(&mut c, "kept", 1_000, 10, None);
    assert_eq!(run(&mut c, "DBSIZE", &[]).unwrap(), Value::Int(21_000));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let Value::Int(n) = run(&mut c, "DBSIZE", &[]).unwrap() else {
            panic!()
        };
        if n == 1_000 {
            break;
        }
        assert!(Instant::now() < deadline, "active expiry left {n} keys");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(info_u64(&mut c, "stats", "expired_keys"), 20_000);
    assert_eq!(count_existing(&mut c, "kept", 1_000), 1_000);
}

#[test]
fn noeviction_refuses_writes_over_the_limit_but_serves_reads_and_deletes() {
    let e = Engine::start(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let mut c = e.conn();
    let value = "x".repeat(1000);
    let mut refused = None;
    for i in 0..10_000 {
        if let Err(e) = common::cmd("SET", &[&format!("k:{i}"), &value]).query::<()>(&mut c) {
            refused = Some((
                i,
                format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or("")),
            ));
            break;
        }
    }
    let (at, msg) = refused.expect("writes are refused once over maxmemory");
    assert_eq!(
        msg,
        "OOM command not allowed when used memory > 'maxmemory'."
    );
    assert!(
        at > 1000 && at < 2500,
        "refused after {at} keys of 1 KB with 2 MB"
    );
    assert_eq!(
        run(&mut c, "GET", &["k:0"]).unwrap(),
        Value::BulkString(value.into_bytes())
    );
    assert_eq!(
        run(&mut c, "DEL", &["k:0", "k:1", "k:2"]).unwrap(),
        Value::Int(3)
    );
    assert_eq!(info_u64(&mut c, "stats", "evicted_keys"), 0);
}

#[test]
fn allkeys_policies_keep_memory_under_the_limit() {
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let e = Engine::start(&["--maxmemory", "4mb", "--maxmemory-policy", policy]);
        let mut c = e.conn();
        fill(&mut c, "k", 20_000, 1000, None);
        let used = info_u64(&mut c, "memory", "used_memory_dataset");
        assert_within_limit(used, 4 << 20, policy);
        let evicted = info_u64(&mut c, "stats", "evicted_keys");
        let Value::Int(left) = run(&mut c, "DBSIZE", &[]).unwrap() else {
            panic!()
        };
        assert!(evicted > 15_000, "{policy}: evicted {evicted}");
        assert_eq!(evicted + left as u64, 20_000, "{policy}");
    }
}

#[test]
fn allkeys_lru_keeps_recently_used_keys() {
    let e = Engine::start(&[
        "--maxmemory",
        "4mb",
        "--maxmemory-policy",
        "allkeys-lru",
        "--set",
        "maxmemory-samples=10",
    ]);
    let mut c = e.conn();
    fill(&mut c, "hot", 500, 1000, None);
    // LRU time has a one-second resolution, as in Redis: let the hot keys age, touch them, then flood.
    std::thread::sleep(Duration::from_millis(2100));
    fill(&mut c, "cold", 1500, 1000, None);
    std::thread::sleep(Duration::from_millis(1100));
    for i in 0..500 {
        run(&mut c, "GET", &[&format!("hot:{i}")]).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1100));
    fill(&mut c, "new", 3000, 1000, None);
    let hot = count_existing(&mut c, "hot", 500);
    let cold = count_existing(&mut c, "cold", 1500);
    assert!(
        hot >= 400,
        "only {hot}/500 recently used keys survived (cold survivors: {cold}/1500)"
    );
    assert!(cold < 750, "{cold}/1500 cold keys survived");
}

#[test]
fn volatile_policies_only_evict_keys_with_a_ttl() {
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let e = Engine::start(&["--maxmemory", "4mb", "--maxmemory-policy", policy]);
        let mut c = e.conn();
        fill(&mut c, "pinned", 1000, 1000, None);
        fill(&mut c, "temp", 6000, 1000, Some(3600));
        assert_eq!(count_existing(&mut c, "pinned", 1000), 1000, "{policy}");
        assert!(info_u64(&mut c, "stats", "evicted_keys") > 2000, "{policy}");
        let used = info_u64(&mut c, "memory", "used_memory_dataset");
        assert_within_limit(used, 4 << 20, policy);
        // With nothing volatile left to evict, writes are refused.
        run(&mut c, "FLUSHALL", &[]).unwrap();
        let filled = try_fill(&mut c, "pinned", 5000, 1000, None);
        assert!(
            filled.is_err(),
            "{policy}: 5 MB of keys without TTL cannot fit in 4 MB"
        );
        let oom = common::cmd("SET", &["more", &"x".repeat(1000)]).query::<()>(&mut c);
        assert!(
            oom.is_err(),
            "{policy}: no volatile key left, write must be refused"
        );
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    let e = Engine::start(&[
        "--maxmemory",
        "3mb",
        "--maxmemory-policy",
        "volatile-ttl",
        "--set",
        "maxmemory-samples=10",
    ]);
    let mut c = e.conn();
    fill(&mut c, "soon", 1000, 1000, Some(100));
    fill(&mut c, "late", 1000, 1000, Some(100_000));
    fill(&mut c, "more", 1500, 1000, Some(50_000));
    let soon = count_existing(&mut c, "soon", 1000);
    let late = count_existing(&mut c, "late", 1000);
    assert!(
        soon < late,
        "soon-expiring survivors {soon} should be fewer than late ones {late}"
    );
}

#[test]
fn config_set_maxmemory_applies_at_once() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    fill(&mut c, "k", 5000, 1000, None);
    run(
        &mut c,
        "CONFIG",
        &[
            "SET",
            "maxmemory-policy",
            "allkeys-random",
            "maxmemory",
            "2mb",
        ],
    )
    .unwrap();
    run(&mut c, "SET", &["trigger", "1"]).unwrap();
    let used = info_u64(&mut c, "memory", "used_memory_dataset");
    assert_within_limit(used, 2 << 20, "CONFIG SET");
}
