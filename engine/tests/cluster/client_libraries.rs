//! Cluster clients of other languages, each driven by a small script that exits non-zero on any mismatch:
//! redis-py's `RedisCluster` and ioredis' `Cluster`, both discovering the cluster from one node's port.

use std::time::Duration;

use crate::fixture::Cluster;
use crate::process::{run_tool, scripts_dir};

#[test]
fn redis_py_cluster_client_works_over_every_slot() {
    let cluster = Cluster::start("redis-py");
    let port = cluster.seed_port().to_string();
    let run = run_tool(
        "python3",
        &["redis_py_cluster.py", &port],
        scripts_dir(),
        Duration::from_secs(60),
        "install Python 3 and the redis package (pip install redis; .ci/run does)",
    );
    assert!(run.success, "redis-py RedisCluster: {}", run.transcript());
    assert!(
        run.stdout.contains("redis-py cluster: ok"),
        "{}",
        run.transcript()
    );
}

#[test]
fn ioredis_cluster_client_works_over_every_shard() {
    let cluster = Cluster::start("ioredis");
    assert!(
        scripts_dir().join("node_modules/ioredis").is_dir(),
        "ioredis is not installed: run `npm ci` in engine/tests/cluster (.ci/run does)"
    );
    let port = cluster.seed_port().to_string();
    let run = run_tool(
        "node",
        &["ioredis_cluster.js", &port],
        scripts_dir(),
        Duration::from_secs(60),
        "install Node.js and npm, then run npm ci in engine/tests/cluster (.ci/run does)",
    );
    assert!(run.success, "ioredis Cluster: {}", run.transcript());
    assert!(
        run.stdout.contains("ioredis cluster: ok"),
        "{}",
        run.transcript()
    );
}
