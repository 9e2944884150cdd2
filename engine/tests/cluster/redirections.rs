//! What a plain, not cluster-aware, connection sees, byte for byte as Redis Cluster answers it: MOVED to the
//! slot's primary, CROSSSLOT for keys of several slots, CLUSTERDOWN before any topology, SELECT refused, and
//! replicas that serve reads only after READONLY.

use redis::Value;

use crate::common::{bulk, err, expect, run, wait_until};
use crate::fixture::{Cluster, Node};
use crate::keyslot::{key_in_slot, key_slot};

#[test]
fn a_key_sent_to_another_primary_is_moved_to_its_owner() {
    let cluster = Cluster::start("moved");
    for key in ["foo", "bar", "{user1000}.following", "{user1000}.followers"] {
        let slot = key_slot(key);
        let owner = cluster.shard_of_slot(slot);
        let moved = format!(
            "-MOVED {slot} 127.0.0.1:{}\r\n",
            cluster.primary(owner).port()
        );
        let mut any = cluster.primary(0).engine.raw();
        expect(
            &mut any,
            &format!("CLUSTER KEYSLOT {key}"),
            &format!(":{slot}\r\n"),
        );
        for shard in (0..3).filter(|&s| s != owner) {
            let mut other = cluster.primary(shard).engine.raw();
            expect(&mut other, &format!("GET {key}"), &moved);
            expect(&mut other, &format!("SET {key} v"), &moved);
            expect(&mut other, &format!("EXISTS {key}"), &moved);
        }
        let mut owned = cluster.primary(owner).engine.raw();
        expect(&mut owned, &format!("SET {key} value"), "+OK\r\n");
        expect(&mut owned, &format!("GET {key}"), "$5\r\nvalue\r\n");
    }
    assert_eq!(
        key_slot("{user1000}.following"),
        key_slot("{user1000}.followers")
    );
}

#[test]
fn keys_of_different_slots_in_one_command_are_refused_with_crossslot() {
    let cluster = Cluster::start("crossslot");
    let crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    // "foo" (12182) and "bar" (5061) live on different shards; "foo" and "foo{x}"'s tag "x" on different slots.
    for node in cluster.nodes().iter().take(3) {
        let mut s = node.engine.raw();
        expect(&mut s, "MSET foo 1 bar 2", crossslot);
        expect(&mut s, "MGET foo bar", crossslot);
        expect(&mut s, "DEL foo bar", crossslot);
    }
    let owner = cluster.primary(cluster.shard_of("{user1000}.following"));
    let mut s = owner.engine.raw();
    expect(
        &mut s,
        "MSET {user1000}.following a {user1000}.followers b",
        "+OK\r\n",
    );
    expect(
        &mut s,
        "MGET {user1000}.following {user1000}.followers",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    // Two keys of one slot that is not this node's: the client is sent to the owner, not refused.
    let elsewhere = cluster.primary((cluster.shard_of("{user1000}.x") + 1) % 3);
    let slot = key_slot("{user1000}.x");
    expect(
        &mut elsewhere.engine.raw(),
        "MSET {user1000}.x 1 {user1000}.y 2",
        &format!("-MOVED {slot} 127.0.0.1:{}\r\n", owner.port()),
    );
}

#[test]
fn a_node_without_a_topology_is_down_for_keys_but_answers_the_rest() {
    let node = Node::start("no-topology");
    let mut s = node.engine.raw();
    expect(&mut s, "GET foo", "-CLUSTERDOWN The cluster is down\r\n");
    expect(
        &mut s,
        "SET foo bar",
        "-CLUSTERDOWN The cluster is down\r\n",
    );
    expect(&mut s, "PING", "+PONG\r\n");
    expect(&mut s, "CLUSTER GETTOPOLOGY", "$-1\r\n");
    assert_eq!(node.cluster_info("cluster_state").as_deref(), Some("fail"));
    assert_eq!(
        node.info("cluster", "cluster_enabled").as_deref(),
        Some("1")
    );
    assert_eq!(
        node.info("server", "redis_mode").as_deref(),
        Some("cluster")
    );
}

#[test]
fn only_database_zero_exists_in_cluster_mode() {
    let node = Node::start("select");
    let mut s = node.engine.raw();
    expect(
        &mut s,
        "SELECT 1",
        "-ERR SELECT is not allowed in cluster mode\r\n",
    );
    expect(&mut s, "SELECT 0", "+OK\r\n");
}

#[test]
fn a_replica_serves_reads_of_its_shard_only_after_readonly() {
    let cluster = Cluster::start("readonly");
    let shard = 1;
    let (primary, replica) = (cluster.primary(shard), cluster.replica(shard));
    let (start, _) = cluster.slots_of(shard)[0];
    let key = key_in_slot("readonly:", start + 7);
    let slot = key_slot(&key);
    let other_key = key_in_slot("readonly:", cluster.slots_of(2)[0].0);
    run(&mut primary.conn(), "SET", &[&key, "from-primary"]).expect("SET on the primary");

    let mut con = replica.conn();
    let moved = format!("MOVED {slot} 127.0.0.1:{}", primary.port());
    assert_eq!(err(&mut con, "GET", &[&key]), moved);
    assert_eq!(
        run(&mut con, "READONLY", &[]).expect("READONLY"),
        Value::Okay
    );
    wait_until("the replica to serve the key", || {
        run(&mut con, "GET", &[&key]).ok() == Some(bulk("from-primary"))
    });
    // Writes still go to the primary, and keys of other shards to their own primaries.
    assert_eq!(err(&mut con, "SET", &[&key, "x"]), moved);
    assert_eq!(
        err(&mut con, "GET", &[&other_key]),
        format!(
            "MOVED {} 127.0.0.1:{}",
            key_slot(&other_key),
            cluster.primary(2).port()
        )
    );
    assert_eq!(
        run(&mut con, "READWRITE", &[]).expect("READWRITE"),
        Value::Okay
    );
    assert_eq!(err(&mut con, "GET", &[&key]), moved);
}
