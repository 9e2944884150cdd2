//! The topology document a control plane gives every node of a cluster: shards, the hash slots each serves,
//! and each shard's nodes with their addresses and roles, under an epoch that only grows.
//!
//! ```json
//! {"epoch": 7,
//!  "shards": [{"id": "<40 hex>", "slots": [[0, 5460]],
//!              "nodes": [{"id": "<40 hex>", "ip": "10.0.0.5", "port": 6379, "tls_port": 0,
//!                         "hostname": "cache-0-0.cache", "role": "primary"}, …]}]}
//! ```

use serde::{Deserialize, Serialize};

use crate::slot::SLOTS;

/// A node's role in its shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// Serves reads and writes of the shard's slots.
    Primary,
    /// Replicates the shard's primary; serves reads to READONLY connections.
    Replica,
}

/// One node of a shard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDoc {
    /// 40 hex characters (`CLUSTER MYID` of the node).
    pub id: String,
    /// Address clients and other nodes reach it at.
    pub ip: String,
    /// Plain-TCP Redis port.
    pub port: u16,
    /// TLS port (0: none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub tls_port: u16,
    /// DNS name (announced with `cluster-preferred-endpoint-type hostname`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// Primary or replica.
    pub role: NodeRole,
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

/// One shard (node group).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShardDoc {
    /// 40 hex characters.
    pub id: String,
    /// Inclusive slot ranges.
    #[serde(default)]
    pub slots: Vec<[u16; 2]>,
    /// The shard's nodes: exactly one primary.
    pub nodes: Vec<NodeDoc>,
}

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Version: a node refuses a document older than the one it has.
    pub epoch: u64,
    /// Every shard.
    pub shards: Vec<ShardDoc>,
}

/// No shard serves the slot.
const UNASSIGNED: u16 = u16::MAX;

/// A validated document, indexed for routing.
#[derive(Debug)]
pub struct Topology {
    /// The document.
    pub doc: Document,
    /// Its JSON text.
    pub json: String,
    owner: Box<[u16]>,
    /// Where this node is: (shard index, node index), if listed.
    pub me: Option<(usize, usize)>,
}

/// True for 40 hex characters.
pub fn is_node_id(id: &str) -> bool {
    id.len() == 40 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Topology {
    /// Parses and validates a document for the node `my_id`.
    pub fn parse(json: &[u8], my_id: &str) -> Result<Topology, String> {
        let doc: Document =
            serde_json::from_slice(json).map_err(|e| format!("invalid topology document: {e}"))?;
        Topology::new(doc, my_id)
    }

    /// Validates a document for the node `my_id`.
    pub fn new(doc: Document, my_id: &str) -> Result<Topology, String> {
        let bad = |m: String| Err(format!("invalid topology: {m}"));
        let mut owner = vec![UNASSIGNED; SLOTS].into_boxed_slice();
        let mut ids = std::collections::HashSet::new();
        let mut me = None;
        for (si, shard) in doc.shards.iter().enumerate() {
            if !is_node_id(&shard.id) {
                return bad(format!("shard id '{}' is not 40 hex characters", shard.id));
            }
            if !ids.insert(shard.id.as_str()) {
                return bad(format!("id {} appears twice", shard.id));
            }
            let primaries = shard
                .nodes
                .iter()
                .filter(|n| n.role == NodeRole::Primary)
                .count();
            if primaries != 1 {
                return bad(format!(
                    "shard {} has {primaries} primaries (needs exactly one)",
                    shard.id
                ));
            }
            for (ni, n) in shard.nodes.iter().enumerate() {
                if !is_node_id(&n.id) {
                    return bad(format!("node id '{}' is not 40 hex characters", n.id));
                }
                if !ids.insert(n.id.as_str()) {
                    return bad(format!("id {} appears twice", n.id));
                }
                if n.port == 0 && n.tls_port == 0 {
                    return bad(format!("node {} has no port", n.id));
                }
                if n.id.eq_ignore_ascii_case(my_id) {
                    me = Some((si, ni));
                }
            }
            for &[start, end] in &shard.slots {
                if start > end || end as usize >= SLOTS {
                    return bad(format!("slot range {start}-{end} is not within 0-16383"));
                }
                for slot in start..=end {
                    if owner[slot as usize] != UNASSIGNED {
                        return bad(format!("slot {slot} is assigned to two shards"));
                    }
                    owner[slot as usize] = si as u16;
                }
            }
        }
        let json = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
        Ok(Topology {
            doc,
            json,
            owner,
            me,
        })
    }

    /// The shard serving a slot.
    #[inline]
    pub fn owner(&self, slot: u16) -> Option<usize> {
        match self.owner[slot as usize] {
            UNASSIGNED => None,
            s => Some(s as usize),
        }
    }

    /// The primary of a shard.
    pub fn primary(&self, shard: usize) -> &NodeDoc {
        let nodes = &self.doc.shards[shard].nodes;
        nodes
            .iter()
            .find(|n| n.role == NodeRole::Primary)
            .unwrap_or(&nodes[0])
    }

    /// Finds a node by id: (shard index, node).
    pub fn node(&self, id: &str) -> Option<(usize, &NodeDoc)> {
        self.doc.shards.iter().enumerate().find_map(|(si, s)| {
            s.nodes
                .iter()
                .find(|n| n.id.eq_ignore_ascii_case(id))
                .map(|n| (si, n))
        })
    }

    /// Number of slots some shard serves.
    pub fn slots_assigned(&self) -> usize {
        self.owner.iter().filter(|&&o| o != UNASSIGNED).count()
    }

    /// The slots of a shard as inclusive ranges, ascending (merged, whatever the document's order).
    pub fn ranges_of(&self, shard: usize) -> Vec<(u16, u16)> {
        let mut out: Vec<(u16, u16)> = Vec::new();
        for slot in 0..SLOTS as u16 {
            if self.owner[slot as usize] as usize == shard {
                match out.last_mut() {
                    Some((_, end)) if *end + 1 == slot => *end = slot,
                    _ => out.push((slot, slot)),
                }
            }
        }
        out
    }

    /// Every node, with the index of its shard.
    pub fn nodes(&self) -> impl Iterator<Item = (usize, &NodeDoc)> {
        self.doc
            .shards
            .iter()
            .enumerate()
            .flat_map(|(si, s)| s.nodes.iter().map(move |n| (si, n)))
    }

    /// A copy of the document with `slots` moved to shard `to`, at `epoch`.
    pub fn with_slots_moved(&self, slots: &[bool], to: usize, epoch: u64) -> Document {
        let mut doc = self.doc.clone();
        doc.epoch = epoch;
        for (si, shard) in doc.shards.iter_mut().enumerate() {
            shard.slots = (0..SLOTS as u16)
                .filter(|&s| {
                    if slots[s as usize] {
                        si == to
                    } else {
                        self.owner[s as usize] as usize == si
                    }
                })
                .fold(Vec::new(), |mut acc: Vec<[u16; 2]>, s| {
                    match acc.last_mut() {
                        Some([_, end]) if *end + 1 == s => *end = s,
                        _ => acc.push([s, s]),
                    }
                    acc
                });
        }
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(c: char) -> String {
        std::iter::repeat_n(c, 40).collect()
    }

    fn doc() -> String {
        format!(
            r#"{{"epoch": 3, "shards": [
              {{"id": "{}", "slots": [[0, 8191]], "nodes": [
                {{"id": "{}", "ip": "10.0.0.1", "port": 6379, "role": "primary"}},
                {{"id": "{}", "ip": "10.0.0.2", "port": 6379, "role": "replica"}}]}},
              {{"id": "{}", "slots": [[8192, 16383]], "nodes": [
                {{"id": "{}", "ip": "10.0.0.3", "port": 6379, "role": "primary"}}]}}]}}"#,
            id('5'),
            id('a'),
            id('b'),
            id('6'),
            id('c')
        )
    }

    #[test]
    fn a_valid_document_is_indexed_by_slot_and_node() {
        let t = Topology::parse(doc().as_bytes(), &id('b')).expect("valid");
        assert_eq!(t.doc.epoch, 3);
        assert_eq!(t.owner(0), Some(0));
        assert_eq!(t.owner(8192), Some(1));
        assert_eq!(t.me, Some((0, 1)));
        assert_eq!(t.primary(0).ip, "10.0.0.1");
        assert_eq!(t.slots_assigned(), 16384);
        assert_eq!(t.ranges_of(1), vec![(8192, 16383)]);
        let moved = t.with_slots_moved(&(0..16384).map(|s| s < 100).collect::<Vec<_>>(), 1, 4);
        let m = Topology::new(moved, &id('b')).expect("valid");
        assert_eq!(m.owner(99), Some(1));
        assert_eq!(m.owner(100), Some(0));
        assert_eq!(m.ranges_of(1), vec![(0, 99), (8192, 16383)]);
    }

    #[test]
    fn invalid_documents_say_why() {
        let t = |s: String| Topology::parse(s.as_bytes(), &id('a')).unwrap_err();
        assert!(t(doc().replace("8191", "8192")).contains("slot 8192 is assigned to two shards"));
        assert!(t(doc().replace("\"replica\"", "\"primary\"")).contains("2 primaries"));
        assert!(t(doc().replace(&id('c'), "xyz")).contains("not 40 hex"));
        assert!(t(doc().replace("16383", "16384")).contains("not within 0-16383"));
        assert!(t(doc().replace("\"epoch\"", "\"epoc\"")).contains("invalid topology document"));
    }
}
