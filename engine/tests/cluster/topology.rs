//! The document a control plane pushes with `CLUSTER SETTOPOLOGY`, built from a plain description of the shards,
//! and the one change to it the tests make by hand: a failover.

use serde_json::{json, Value};

/// The slot ranges (inclusive) of a three-shard cluster, as `redis-cli --cluster create` splits them.
pub const THREE_SHARDS: [(u16, u16); 3] = [(0, 5460), (5461, 10922), (10923, 16383)];

/// A node as the topology names it; every test node listens on 127.0.0.1.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its `CLUSTER MYID`.
    pub id: String,
    /// Its Redis port.
    pub port: u16,
}

/// A shard: the slots it serves, its primary and its replicas.
#[derive(Clone, Debug, PartialEq)]
pub struct Shard {
    /// 40 hex digits, kept across failovers.
    pub id: String,
    /// Inclusive slot ranges.
    pub slots: Vec<(u16, u16)>,
    /// The node that takes writes.
    pub primary: Member,
    /// The nodes that replicate it.
    pub replicas: Vec<Member>,
}

/// The id of the `index`th shard.
pub fn shard_id(index: usize) -> String {
    format!("{:040x}", 0x5a4d_0000 + index)
}

/// The `CLUSTER SETTOPOLOGY` argument for these shards at this epoch.
pub fn document(epoch: u64, shards: &[Shard]) -> String {
    let shards: Vec<Value> = shards.iter().map(shard_json).collect();
    json!({ "epoch": epoch, "shards": shards }).to_string()
}

fn shard_json(shard: &Shard) -> Value {
    let nodes: Vec<Value> = std::iter::once((&shard.primary, "primary"))
        .chain(shard.replicas.iter().map(|r| (r, "replica")))
        .map(|(member, role)| {
            json!({
                "id": member.id, "ip": "127.0.0.1", "port": member.port, "tls_port": 0,
                "hostname": "", "role": role,
            })
        })
        .collect();
    let slots: Vec<Value> = shard.slots.iter().map(|&(a, b)| json!([a, b])).collect();
    json!({ "id": shard.id, "slots": slots, "nodes": nodes })
}

/// The shard after its first replica took over: that replica is the primary, the old primary its replica.
pub fn failed_over(shard: &Shard) -> Shard {
    let mut next = shard.clone();
    let promoted = next.replicas.remove(0);
    next.replicas
        .insert(0, std::mem::replace(&mut next.primary, promoted));
    next
}

#[cfg(test)]
fn member(id: &str, port: u16) -> Member {
    Member {
        id: id.repeat(40),
        port,
    }
}

#[test]
fn the_document_lists_each_shard_with_its_primary_and_replicas() {
    let shard = Shard {
        id: shard_id(0),
        slots: vec![(0, 99), (200, 300)],
        primary: member("a", 7000),
        replicas: vec![member("b", 7003)],
    };
    let doc: Value = serde_json::from_str(&document(4, &[shard])).expect("JSON");
    assert_eq!(doc["epoch"], 4);
    let s = &doc["shards"][0];
    assert_eq!(s["id"].as_str().map(str::len), Some(40));
    assert_eq!(s["slots"], json!([[0, 99], [200, 300]]));
    assert_eq!(s["nodes"][0]["id"], "a".repeat(40));
    assert_eq!(s["nodes"][0]["role"], "primary");
    assert_eq!(s["nodes"][0]["port"], 7000);
    assert_eq!(s["nodes"][0]["ip"], "127.0.0.1");
    assert_eq!(s["nodes"][1]["role"], "replica");
    assert_eq!(s["nodes"][1]["port"], 7003);
}

#[test]
fn a_failover_swaps_the_primary_and_its_first_replica() {
    let shard = Shard {
        id: shard_id(1),
        slots: vec![(0, 5460)],
        primary: member("a", 7000),
        replicas: vec![member("b", 7003), member("c", 7006)],
    };
    let next = failed_over(&shard);
    assert_eq!(next.primary, member("b", 7003));
    assert_eq!(next.replicas, vec![member("a", 7000), member("c", 7006)]);
    assert_eq!((next.id, next.slots), (shard.id, shard.slots));
}
