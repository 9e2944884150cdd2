//! A Redis-Cluster-compatible Ferrocache cluster of real engine processes on loopback: three shards of one
//! primary and one replica, each node with its own data directory, brought up the way a control plane does it
//! (start every engine with `--cluster-enabled yes`, read each `CLUSTER MYID`, push the same
//! `CLUSTER SETTOPOLOGY` to every node, wait until every node says `cluster_state:ok` and every replica's link is
//! up).

use std::path::PathBuf;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};

use crate::common::{cmd, temp_dir, wait_until, Engine};
use crate::keyslot::key_slot;
use crate::topology::{document, failed_over, shard_id, Member, Shard, THREE_SHARDS};

/// How long a client waits for a connection or a reply before the test fails instead of hanging.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// One engine in cluster mode.
pub struct Node {
    /// The process (killed when dropped, before the directory goes).
    pub engine: Engine,
    /// Its `CLUSTER MYID`.
    pub id: String,
    _dir: DataDir,
}

/// A node's `--dir`, removed when the node is dropped.
struct DataDir(PathBuf);

impl Drop for DataDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Node {
    /// Starts an engine with `--cluster-enabled yes` in a new directory `name` and reads its id.
    pub fn start(name: &str) -> Node {
        Node::start_in(DataDir(temp_dir(name)))
    }

    /// Stops the engine (SIGTERM) and starts it again, on a new port, with the same directory.
    pub fn restart(self) -> Node {
        let Node { engine, _dir, .. } = self;
        engine.terminate();
        Node::start_in(_dir)
    }

    fn start_in(dir: DataDir) -> Node {
        let engine = Engine::start(&[
            "--cluster-enabled",
            "yes",
            "--dir",
            dir.0.to_str().expect("UTF-8 temporary directory"),
        ]);
        let id: String = cmd("CLUSTER", &["MYID"])
            .query(&mut engine.conn())
            .expect("CLUSTER MYID");
        assert!(
            id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit()),
            "CLUSTER MYID is 40 hex digits: {id:?}"
        );
        Node {
            engine,
            id,
            _dir: dir,
        }
    }

    /// Its Redis port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.engine.port
    }

    /// A plain (not cluster-aware) connection, which sees redirections as errors.
    pub fn conn(&self) -> redis::Connection {
        let con = self.engine.conn();
        con.set_read_timeout(Some(CLIENT_TIMEOUT))
            .expect("read timeout");
        con
    }

    /// The node as a topology names it.
    fn member(&self) -> Member {
        Member {
            id: self.id.clone(),
            port: self.port(),
        }
    }

    /// A field of `CLUSTER INFO`.
    pub fn cluster_info(&self, field: &str) -> Option<String> {
        let text: String = cmd("CLUSTER", &["INFO"])
            .query(&mut self.conn())
            .expect("CLUSTER INFO");
        info_field(&text, field)
    }

    /// A field of `INFO <section>`.
    pub fn info(&self, section: &str, field: &str) -> Option<String> {
        let text: String = cmd("INFO", &[section])
            .query(&mut self.conn())
            .expect("INFO");
        info_field(&text, field)
    }
}

/// The value of `field` in an INFO-style text of `field:value` lines.
pub fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// Three shards of a primary and a replica, with their topology published and every node ready.
pub struct Cluster {
    nodes: Vec<Node>,
    shards: Vec<Shard>,
    epoch: u64,
}

impl Cluster {
    /// Starts six nodes, publishes the three-shard topology at epoch 1 and waits until the cluster is ready.
    /// `name` tells this test's data directories from other tests'.
    pub fn start(name: &str) -> Cluster {
        let nodes: Vec<Node> = (0..2 * THREE_SHARDS.len())
            .map(|i| Node::start(&format!("{name}-node{i}")))
            .collect();
        let shards = THREE_SHARDS
            .iter()
            .enumerate()
            .map(|(i, &range)| Shard {
                id: shard_id(i),
                slots: vec![range],
                primary: nodes[i].member(),
                replicas: vec![nodes[i + THREE_SHARDS.len()].member()],
            })
            .collect();
        let mut cluster = Cluster {
            nodes,
            shards,
            epoch: 0,
        };
        cluster.publish();
        cluster
    }

    /// The topology document last published.
    pub fn topology(&self) -> String {
        document(self.epoch, &self.shards)
    }

    /// The epoch of the topology last published.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Pushes the current shards at the next epoch to every node, then waits until the cluster is ready.
    fn publish(&mut self) {
        self.epoch += 1;
        let doc = self.topology();
        for node in &self.nodes {
            let reply: String = cmd("CLUSTER", &["SETTOPOLOGY", &doc])
                .query(&mut node.conn())
                .unwrap_or_else(|e| panic!("CLUSTER SETTOPOLOGY on {}: {e}", node.port()));
            assert_eq!(reply, "OK", "CLUSTER SETTOPOLOGY on {}", node.port());
        }
        self.wait_ready();
    }

    /// Waits until every node reports `cluster_state:ok` and every replica's link to its primary is up.
    pub fn wait_ready(&self) {
        for node in &self.nodes {
            wait_until(&format!("cluster_state:ok on {}", node.port()), || {
                node.cluster_info("cluster_state").as_deref() == Some("ok")
            });
        }
        for shard in &self.shards {
            for replica in &shard.replicas {
                let node = self.node(&replica.id);
                wait_until(&format!("replica {} linked", node.port()), || {
                    node.info("replication", "master_link_status").as_deref() == Some("up")
                });
            }
        }
    }

    /// Makes the first replica of shard `shard` its primary (and the old primary, unless it was killed, its
    /// replica) in a topology of the next epoch, published to every node.
    pub fn fail_over(&mut self, shard: usize) {
        self.shards[shard] = failed_over(&self.shards[shard]);
        self.forget_dead_replicas();
        self.publish();
    }

    /// The node with this id.
    pub fn node(&self, id: &str) -> &Node {
        self.nodes
            .iter()
            .find(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Every node, primaries first (in shard order), then replicas.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The current primary of shard `shard` (0, 1 or 2 in slot order).
    pub fn primary(&self, shard: usize) -> &Node {
        self.node(&self.shards[shard].primary.id)
    }

    /// The current (first) replica of shard `shard`; the test fails if it has none left.
    pub fn replica(&self, shard: usize) -> &Node {
        self.node(&self.shards[shard].replicas[0].id)
    }

    /// The shard that serves `slot` in the published topology.
    pub fn shard_of_slot(&self, slot: u16) -> usize {
        self.shards
            .iter()
            .position(|s| s.slots.iter().any(|&(a, b)| (a..=b).contains(&slot)))
            .unwrap_or_else(|| panic!("slot {slot} is not served"))
    }

    /// The shard that serves `key` in the published topology.
    pub fn shard_of(&self, key: &str) -> usize {
        self.shard_of_slot(key_slot(key))
    }

    /// The shard's id in the published topology.
    pub fn shard_id(&self, shard: usize) -> &str {
        &self.shards[shard].id
    }

    /// The shard's slot ranges in the published topology.
    pub fn slots_of(&self, shard: usize) -> &[(u16, u16)] {
        &self.shards[shard].slots
    }

    /// The port a client starts from: one node, as a user's configuration names it.
    pub fn seed_port(&self) -> u16 {
        self.nodes[0].port()
    }

    /// A connection of the `redis` crate's cluster client that discovers the cluster from the seed node.
    pub fn client(&self) -> ClusterConnection {
        ClusterClient::builder([format!("redis://127.0.0.1:{}/", self.seed_port())])
            .connection_timeout(CLIENT_TIMEOUT)
            .response_timeout(CLIENT_TIMEOUT)
            .build()
            .expect("cluster client")
            .get_connection()
            .expect("cluster connection")
    }

    /// Kills node `id` as a crash would (the fixture's engines die by SIGKILL) and forgets it: it is no
    /// longer one of [`Cluster::nodes`], nor a replica in later topologies. A killed primary stays its shard's
    /// primary until [`Cluster::fail_over`].
    pub fn kill(&mut self, id: &str) {
        let index = self
            .nodes
            .iter()
            .position(|n| n.id == id)
            .unwrap_or_else(|| panic!("no node {id}"));
        drop(self.nodes.remove(index));
        self.forget_dead_replicas();
    }

    fn forget_dead_replicas(&mut self) {
        let alive: Vec<String> = self.nodes.iter().map(|n| n.id.clone()).collect();
        for shard in &mut self.shards {
            shard.replicas.retain(|r| alive.contains(&r.id));
        }
    }
}
