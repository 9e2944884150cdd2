//! What a node says about the cluster, read into plain values: the slot map of `CLUSTER SLOTS`, key counts per
//! slot, and the slot migrations of `CLUSTER GETSLOTMIGRATIONS`.

use std::collections::HashMap;

use redis::Value;

use crate::common::cmd;

/// One range of `CLUSTER SLOTS`.
#[derive(Debug)]
pub struct SlotRange {
    /// First slot.
    pub start: u16,
    /// Last slot (inclusive).
    pub end: u16,
    /// The ports of its nodes, primary first.
    pub ports: Vec<u16>,
}

/// The text of a scalar reply (bulk, simple or verbatim string, integer, double, OK).
pub fn text(value: &Value) -> String {
    match value {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        Value::Int(i) => i.to_string(),
        Value::Double(d) => d.to_string(),
        Value::Okay => "OK".to_string(),
        other => panic!("expected a scalar reply, got {other:?}"),
    }
}

fn int(value: &Value) -> i64 {
    text(value)
        .parse()
        .unwrap_or_else(|_| panic!("expected an integer, got {value:?}"))
}

fn items(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) | Value::Set(items) => items,
        other => panic!("expected an array, got {other:?}"),
    }
}

/// `CLUSTER SLOTS` of this connection's node.
pub fn cluster_slots(con: &mut redis::Connection) -> Vec<SlotRange> {
    let reply: Value = cmd("CLUSTER", &["SLOTS"])
        .query(con)
        .expect("CLUSTER SLOTS");
    items(&reply)
        .iter()
        .map(|range| {
            let fields = items(range);
            assert!(fields.len() >= 3, "CLUSTER SLOTS range {range:?}");
            SlotRange {
                start: int(&fields[0]) as u16,
                end: int(&fields[1]) as u16,
                ports: fields[2..]
                    .iter()
                    .map(|node| int(&items(node)[1]) as u16)
                    .collect(),
            }
        })
        .collect()
}

/// The port of the primary serving `slot` in a `CLUSTER SLOTS` map, if any serves it.
pub fn primary_port(ranges: &[SlotRange], slot: u16) -> Option<u16> {
    ranges
        .iter()
        .find(|r| (r.start..=r.end).contains(&slot))
        .map(|r| r.ports[0])
}

/// `CLUSTER COUNTKEYSINSLOT` for each slot, pipelined.
pub fn keys_in_slots(
    con: &mut redis::Connection,
    slots: impl IntoIterator<Item = u16>,
) -> Vec<(u16, u64)> {
    let slots: Vec<u16> = slots.into_iter().collect();
    let mut pipe = redis::pipe();
    for slot in &slots {
        pipe.cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(*slot);
    }
    let counts: Vec<u64> = pipe.query(con).expect("CLUSTER COUNTKEYSINSLOT");
    slots.into_iter().zip(counts).collect()
}

/// The keys a node holds in these slots.
pub fn total_keys_in_slots(
    con: &mut redis::Connection,
    slots: impl IntoIterator<Item = u16>,
) -> u64 {
    keys_in_slots(con, slots).iter().map(|&(_, n)| n).sum()
}

/// One migration of `CLUSTER GETSLOTMIGRATIONS`, field name to value (`state`, `direction`, `keys`, ...).
pub type Migration = HashMap<String, String>;

/// `CLUSTER GETSLOTMIGRATIONS` of this connection's node, oldest first.
pub fn slot_migrations(con: &mut redis::Connection) -> Vec<Migration> {
    let reply: Value = cmd("CLUSTER", &["GETSLOTMIGRATIONS"])
        .query(con)
        .expect("CLUSTER GETSLOTMIGRATIONS");
    items(&reply).iter().map(migration).collect()
}

fn migration(value: &Value) -> Migration {
    match value {
        Value::Map(pairs) => pairs.iter().map(|(k, v)| (text(k), text(v))).collect(),
        flat => items(flat)
            .chunks(2)
            .map(|pair| (text(&pair[0]), text(&pair[1])))
            .collect(),
    }
}

/// The newest migration of this node; the test fails if there is none.
pub fn latest_migration(con: &mut redis::Connection) -> Migration {
    slot_migrations(con)
        .pop()
        .expect("CLUSTER GETSLOTMIGRATIONS lists the migration")
}
