//! The `redis` crate's cluster client (`redis::cluster::ClusterClient`) against the cluster: it discovers the
//! slot map from one node, reads back what it wrote over every shard, runs multi-key commands on a hash tag, and
//! the keys really are on the shards the slot map says.

use std::collections::BTreeMap;

use crate::common::cmd;
use crate::fixture::Cluster;
use crate::keyslot::key_slot;
use crate::observe::keys_in_slots;

#[test]
fn the_redis_crate_cluster_client_reads_back_keys_spread_over_every_shard() {
    let cluster = Cluster::start("redis-crate");
    let mut con = cluster.client();
    let keys: Vec<String> = (0..1000).map(|i| format!("user:{i}")).collect();
    for (i, key) in keys.iter().enumerate() {
        cmd("SET", &[key, &format!("value-{i}")])
            .query::<()>(&mut con)
            .unwrap_or_else(|e| panic!("SET {key}: {e}"));
    }
    for (i, key) in keys.iter().enumerate() {
        let value: Option<String> = cmd("GET", &[key]).query(&mut con).expect("GET");
        assert_eq!(value, Some(format!("value-{i}")), "GET {key}");
    }

    cmd("MSET", &["{user1}:a", "1", "{user1}:b", "2"])
        .query::<()>(&mut con)
        .expect("MSET of one hash tag");
    let both: Vec<Option<String>> = cmd("MGET", &["{user1}:a", "{user1}:b"])
        .query(&mut con)
        .expect("MGET of one hash tag");
    assert_eq!(both, [Some("1".to_string()), Some("2".to_string())]);

    // Where each key must be, by our own CRC16: shard -> slot -> count.
    let mut expected: BTreeMap<usize, BTreeMap<u16, u64>> = BTreeMap::new();
    let tagged = ["{user1}:a".to_string(), "{user1}:b".to_string()];
    for key in keys.iter().chain(&tagged) {
        let slot = key_slot(key);
        *expected
            .entry(cluster.shard_of_slot(slot))
            .or_default()
            .entry(slot)
            .or_default() += 1;
    }
    for shard in 0..3 {
        let by_slot = expected.get(&shard).cloned().unwrap_or_default();
        let total: u64 = by_slot.values().sum();
        let mut primary = cluster.primary(shard).conn();
        let dbsize: u64 = cmd("DBSIZE", &[]).query(&mut primary).expect("DBSIZE");
        assert!(dbsize > 0, "shard {shard} holds none of the keys");
        assert_eq!(dbsize, total, "DBSIZE of shard {shard}'s primary");
        let counted: BTreeMap<u16, u64> = keys_in_slots(&mut primary, by_slot.keys().copied())
            .into_iter()
            .collect();
        assert_eq!(counted, by_slot, "CLUSTER COUNTKEYSINSLOT on shard {shard}");
    }
}
