//! The stock Redis tools in cluster mode: `redis-cli -c` follows redirections, `redis-cli --cluster check` finds
//! a healthy cluster, and `redis-benchmark --cluster` spreads its load over the shards.

use std::time::Duration;

use crate::fixture::Cluster;
use crate::keyslot::key_in_slot;
use crate::process::{run_tool, scripts_dir, Run};

const REDIS_TOOLS: &str = "install the Debian package redis-tools (.ci/run does)";

fn redis_cli(args: &[&str]) -> Run {
    run_tool(
        "redis-cli",
        args,
        scripts_dir(),
        Duration::from_secs(30),
        REDIS_TOOLS,
    )
}

/// `redis-cli -c -p <port> <command...>`, which must succeed; its output without the final newline.
fn cli_through(port: u16, command: &[&str]) -> String {
    let port = port.to_string();
    let mut args = vec!["-c", "-h", "127.0.0.1", "-p", &port];
    args.extend_from_slice(command);
    let run = redis_cli(&args);
    assert!(run.success, "redis-cli {args:?}: {}", run.transcript());
    run.stdout.trim_end().to_string()
}

#[test]
fn redis_cli_follows_redirections_from_any_node() {
    let cluster = Cluster::start("cli-redirect");
    let nodes = cluster.nodes();
    for (n, node) in nodes.iter().enumerate() {
        let reader = &nodes[(n + 1) % nodes.len()];
        for shard in 0..3 {
            let key = key_in_slot(&format!("cli:{n}:"), cluster.slots_of(shard)[0].0 + 100);
            let value = format!("through-{}", node.port());
            assert_eq!(cli_through(node.port(), &["SET", &key, &value]), "OK");
            assert_eq!(cli_through(reader.port(), &["GET", &key]), value);
        }
    }
}

#[test]
fn redis_cli_cluster_check_finds_every_slot_covered() {
    let cluster = Cluster::start("cli-check");
    let seed = format!("127.0.0.1:{}", cluster.seed_port());
    let run = redis_cli(&["--cluster", "check", &seed]);
    let out = run.transcript();
    assert!(run.success, "redis-cli --cluster check failed: {out}");
    assert!(
        run.stdout.contains("[OK] All 16384 slots covered."),
        "{out}"
    );
    assert!(
        run.stdout
            .contains("[OK] All nodes agree about slots configuration."),
        "{out}"
    );
    assert!(
        !out.contains("[ERR]") && !out.contains("[WARNING]"),
        "{out}"
    );
    // One line per primary: its slots and its one replica.
    let primaries: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains(" slots | "))
        .collect();
    assert_eq!(primaries.len(), 3, "{out}");
    assert!(
        primaries.iter().all(|l| l.ends_with("| 1 slaves.")),
        "{out}"
    );
}

#[test]
fn redis_benchmark_in_cluster_mode_runs_set_and_get() {
    let cluster = Cluster::start("benchmark");
    let port = cluster.seed_port().to_string();
    let args = [
        "--cluster",
        "-h",
        "127.0.0.1",
        "-p",
        &port,
        "-t",
        "set,get",
        "-n",
        "20000",
        "-q",
    ];
    let run = run_tool(
        "redis-benchmark",
        &args,
        scripts_dir(),
        Duration::from_secs(60),
        REDIS_TOOLS,
    );
    let out = run.transcript();
    assert!(run.success, "redis-benchmark {args:?}: {out}");
    for test in ["SET", "GET"] {
        let rate = requests_per_second(&run.stdout, test)
            .unwrap_or_else(|| panic!("no {test} rate in the output: {out}"));
        assert!(
            rate > 0.0,
            "{test} ran at {rate} requests per second: {out}"
        );
    }
    // The load went to every shard.
    for shard in 0..3 {
        let keys = cluster
            .primary(shard)
            .info("keyspace", "db0")
            .unwrap_or_default();
        assert!(
            keys.starts_with("keys="),
            "shard {shard} got no keys: {out}"
        );
    }
}

/// The rate `redis-benchmark -q` printed for `test` (`SET: 12345.67 requests per second, ...`); progress lines
/// end with a carriage return, so lines are split on both.
fn requests_per_second(output: &str, test: &str) -> Option<f64> {
    output
        .split(['\r', '\n'])
        .filter_map(|l| l.trim().strip_prefix(&format!("{test}: ")))
        .filter_map(|rest| rest.split_once(" requests per second"))
        .filter_map(|(rate, _)| rate.trim().parse().ok())
        .next_back()
}

#[test]
fn benchmark_rates_are_read_from_quiet_output() {
    let out = "SET: rps=0.0 (overall: nan) avg_msec=nan\rSET: 41152.26 requests per second, p50=0.599 msec\n\
               GET: 48309.18 requests per second, p50=0.511 msec\n";
    assert_eq!(requests_per_second(out, "SET"), Some(41152.26));
    assert_eq!(requests_per_second(out, "GET"), Some(48309.18));
    assert_eq!(requests_per_second(out, "INCR"), None);
}
