//! A failover the control plane makes: it publishes a topology of the next epoch in which shard 1's replica is
//! the primary and the old primary its replica. Clients are redirected to the new primary, which takes writes,
//! and the old primary follows it.

use redis::Value;

use crate::common::{bulk, err, run, wait_until};
use crate::fixture::Cluster;
use crate::keyslot::{key_in_slot, key_slot};

#[test]
fn after_a_failover_clients_are_moved_to_the_promoted_replica() {
    let mut cluster = Cluster::start("failover");
    let shard = 0;
    let key = key_in_slot("failover:", cluster.slots_of(shard)[0].0 + 42);
    let slot = key_slot(&key);
    let mut client = cluster.client();
    run_cluster(&mut client, "SET", &[&key, "before"]);
    let (old_primary, old_replica) = (
        cluster.primary(shard).id.clone(),
        cluster.replica(shard).id.clone(),
    );
    {
        let mut replica = cluster.node(&old_replica).conn();
        run(&mut replica, "READONLY", &[]).expect("READONLY");
        wait_until("the replica to have the first write", || {
            run(&mut replica, "GET", &[&key]).ok() == Some(bulk("before"))
        });
    }

    cluster.fail_over(shard);
    let new_primary = cluster.node(&old_replica);
    let demoted = cluster.node(&old_primary);
    assert_eq!(cluster.primary(shard).id, new_primary.id);

    let mut to_old = demoted.conn();
    assert_eq!(
        err(&mut to_old, "GET", &[&key]),
        format!("MOVED {slot} 127.0.0.1:{}", new_primary.port())
    );
    assert_eq!(
        err(&mut to_old, "SET", &[&key, "lost"]),
        format!("MOVED {slot} 127.0.0.1:{}", new_primary.port())
    );
    let mut to_new = new_primary.conn();
    assert_eq!(
        run(&mut to_new, "GET", &[&key]).expect("GET"),
        bulk("before")
    );
    assert_eq!(
        run(&mut to_new, "SET", &[&key, "after"]).expect("SET"),
        Value::Okay
    );
    assert_eq!(
        demoted.info("replication", "role").as_deref(),
        Some("slave")
    );
    assert_eq!(
        new_primary.info("replication", "role").as_deref(),
        Some("master")
    );

    run(&mut to_old, "READONLY", &[]).expect("READONLY");
    wait_until(
        "the old primary to have the write made after the failover",
        || run(&mut to_old, "GET", &[&key]).ok() == Some(bulk("after")),
    );
    // A cluster client that knew the old layout follows the redirection on its own.
    run_cluster(&mut client, "SET", &[&key, "by-client"]);
    let value: Option<String> = crate::common::cmd("GET", &[&key])
        .query(&mut client)
        .expect("GET through the cluster client");
    assert_eq!(value.as_deref(), Some("by-client"));
    assert_eq!(
        run(&mut to_new, "GET", &[&key]).expect("GET"),
        bulk("by-client")
    );
}

fn run_cluster(con: &mut redis::cluster::ClusterConnection, name: &str, args: &[&str]) {
    crate::common::cmd(name, args)
        .query::<()>(con)
        .unwrap_or_else(|e| panic!("{name} {args:?} through the cluster client: {e}"));
}
