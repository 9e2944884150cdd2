//! What a control plane relies on when it drives the cluster: a node's id survives a restart on the same
//! directory, republishing the current topology is harmless, a delayed older topology is refused without undoing
//! a newer one, and each node reports the layout it was given (`GETTOPOLOGY`, `MYSHARDID`, `REPLICAS`).

use serde_json::Value;

use crate::common::{cmd, err};
use crate::fixture::{Cluster, Node};

/// The shards of a topology document as (id, slots, nodes as id@ip:port/role), with fields left at their
/// defaults (`hostname` "", `tls_port` 0) read as such whether they are written or not.
fn layout(doc: &Value) -> Vec<(String, String, Vec<String>)> {
    let shards = doc["shards"].as_array().expect("shards");
    shards
        .iter()
        .map(|shard| {
            let nodes = shard["nodes"].as_array().expect("nodes");
            let nodes = nodes
                .iter()
                .map(|n| {
                    format!(
                        "{}@{}:{}/{} tls={} host={}",
                        n["id"].as_str().unwrap_or_default(),
                        n["ip"].as_str().unwrap_or_default(),
                        n["port"],
                        n["role"].as_str().unwrap_or_default(),
                        n["tls_port"].as_u64().unwrap_or(0),
                        n["hostname"].as_str().unwrap_or(""),
                    )
                })
                .collect();
            (shard["id"].to_string(), shard["slots"].to_string(), nodes)
        })
        .collect()
}

#[test]
fn a_node_keeps_its_id_across_a_restart_on_the_same_directory() {
    let node = Node::start("restart");
    let id = node.id.clone();
    let other = Node::start("restart-other");
    assert_ne!(other.id, id, "two directories, two ids");
    let node = node.restart();
    assert_eq!(node.id, id);
}

#[test]
fn the_current_topology_can_be_republished_and_an_older_one_is_refused() {
    let mut cluster = Cluster::start("control-plane");
    let first = cluster.topology();
    for node in cluster.nodes() {
        let reply: String = cmd("CLUSTER", &["SETTOPOLOGY", &first])
            .query(&mut node.conn())
            .expect("the same topology again");
        assert_eq!(reply, "OK");
    }
    cluster.fail_over(0);
    assert_eq!(cluster.epoch(), 2);
    let current: Value = serde_json::from_str(&cluster.topology()).expect("JSON");
    for node in cluster.nodes() {
        assert_eq!(
            err(&mut node.conn(), "CLUSTER", &["SETTOPOLOGY", &first]),
            "ERR stale topology: epoch 1 is older than the current epoch 2"
        );
        let stored: String = cmd("CLUSTER", &["GETTOPOLOGY"])
            .query(&mut node.conn())
            .expect("CLUSTER GETTOPOLOGY");
        let stored: Value = serde_json::from_str(&stored).expect("GETTOPOLOGY is JSON");
        assert_eq!(stored["epoch"], 2, "{stored}");
        assert_eq!(
            layout(&stored),
            layout(&current),
            "GETTOPOLOGY on {}: {stored}",
            node.port()
        );
    }
    // The refused document changed nothing: shard 0's primary is still the promoted replica.
    let (primary, replica) = (cluster.primary(0), cluster.replica(0));
    assert_eq!(
        primary.info("replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        replica.info("replication", "role").as_deref(),
        Some("slave")
    );
    for shard in 0..3 {
        for node in [cluster.primary(shard), cluster.replica(shard)] {
            let id: String = cmd("CLUSTER", &["MYSHARDID"])
                .query(&mut node.conn())
                .expect("CLUSTER MYSHARDID");
            assert_eq!(id, cluster.shard_id(shard), "MYSHARDID of {}", node.port());
        }
        let primary = cluster.primary(shard);
        let replicas: Vec<String> = cmd("CLUSTER", &["REPLICAS", &primary.id])
            .query(&mut primary.conn())
            .expect("CLUSTER REPLICAS");
        assert_eq!(replicas.len(), 1, "{replicas:?}");
        assert!(
            replicas[0].starts_with(&format!(
                "{} 127.0.0.1:{}@",
                cluster.replica(shard).id,
                cluster.replica(shard).port()
            )),
            "CLUSTER REPLICAS of shard {shard}: {replicas:?}"
        );
        assert!(
            replicas[0].contains(&format!(" slave {} ", primary.id)),
            "{replicas:?}"
        );
    }
}
