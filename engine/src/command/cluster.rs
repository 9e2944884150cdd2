//! CLUSTER and the connection commands of cluster mode (READONLY, READWRITE, ASKING): what cluster clients read
//! (SLOTS, SHARDS, NODES, INFO …), the topology the control plane sets, and both sides of a slot migration.

use std::sync::Arc;

use super::args::{self, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::session::Session;
use crate::cluster::migration::ranges_text;
use crate::cluster::{Cluster, Direction, Endpoint, Migration, NodeDoc, NodeRole, State, Topology};
use crate::config::Config;
use crate::keyspace::LockSet;
use crate::node::Node;
use crate::replication::Role;
use crate::slot::SLOTS;

fn disabled() -> CmdError {
    CmdError::err("This instance has cluster support disabled")
}

/// The cluster state, or the error a node without cluster mode answers.
fn cluster<'a>(c: &Call<'a, '_>) -> Result<&'a Arc<Cluster>, CmdError> {
    let cl = c.node.cluster();
    if cl.enabled() {
        Ok(cl)
    } else {
        Err(disabled())
    }
}

fn slot_arg(a: &mut Args<'_>) -> Result<u16, CmdError> {
    match a.int() {
        Ok(s) if (0..SLOTS as i64).contains(&s) => Ok(s as u16),
        _ => Err(CmdError::err("Invalid or out of range slot")),
    }
}

/// READONLY
pub fn readonly(c: &mut Call) -> CmdResult {
    cluster(c)?;
    c.session.cluster.readonly = true;
    c.out.ok();
    Ok(())
}

/// READWRITE
pub fn readwrite(c: &mut Call) -> CmdResult {
    cluster(c)?;
    c.session.cluster.readonly = false;
    c.out.ok();
    Ok(())
}

/// ASKING
pub fn asking(c: &mut Call) -> CmdResult {
    cluster(c)?;
    c.session.cluster.asking = true;
    c.out.ok();
    Ok(())
}

/// CLUSTER MYID
pub fn cluster_myid(c: &mut Call) -> CmdResult {
    let id = cluster(c)?.my_id().to_string();
    c.out.bulk(id.as_bytes());
    Ok(())
}

/// CLUSTER MYSHARDID
pub fn cluster_myshardid(c: &mut Call) -> CmdResult {
    let t = cluster(c)?.topology();
    match t
        .as_ref()
        .and_then(|t| t.me.map(|(s, _)| t.doc.shards[s].id.clone()))
    {
        Some(id) => c.out.bulk(id.as_bytes()),
        None => {
            return Err(CmdError::err(
                "This node is in no shard of the cluster topology yet",
            ))
        }
    }
    Ok(())
}

/// CLUSTER KEYSLOT key
pub fn cluster_keyslot(c: &mut Call) -> CmdResult {
    cluster(c)?;
    let key = c.args().bytes()?;
    c.out.int(crate::slot::of(key) as i64);
    Ok(())
}

/// CLUSTER COUNTKEYSINSLOT slot
pub fn cluster_countkeysinslot(c: &mut Call) -> CmdResult {
    cluster(c)?;
    let slot = slot_arg(&mut c.args())?;
    c.out.int(c.node.ks().count_in_slot(slot) as i64);
    Ok(())
}

/// CLUSTER GETKEYSINSLOT slot count
pub fn cluster_getkeysinslot(c: &mut Call) -> CmdResult {
    cluster(c)?;
    let mut a = c.args();
    let (slot, count) = match (a.int(), a.int()) {
        (Ok(s), Ok(n)) if (0..SLOTS as i64).contains(&s) && n >= 0 => (s as u16, n as usize),
        _ => return Err(CmdError::err("Invalid slot or number of keys")),
    };
    let keys = c.node.ks().keys_in_slot(slot, count);
    c.out.array(keys.len());
    keys.iter().for_each(|k| c.out.bulk(k));
    Ok(())
}

/// True when the topology assigns every slot.
fn state_ok(t: Option<&Topology>) -> bool {
    t.is_some_and(|t| t.slots_assigned() == SLOTS)
}

/// CLUSTER INFO
pub fn cluster_info(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?;
    let t = cl.topology();
    let text = info_text(cl, t.as_deref());
    c.out.verbatim(&text);
    Ok(())
}

/// The `CLUSTER INFO` text.
fn info_text(cl: &Cluster, t: Option<&Topology>) -> String {
    let assigned = t.map_or(0, Topology::slots_assigned);
    let known = t.map_or(0, |t| t.nodes().count());
    let size = t.map_or(0, |t| {
        (0..t.doc.shards.len())
            .filter(|&s| !t.ranges_of(s).is_empty())
            .count()
    });
    let epoch = t.map_or(0, |t| t.doc.epoch);
    format!(
        "cluster_state:{}\r\ncluster_slots_assigned:{assigned}\r\ncluster_slots_ok:{assigned}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:{known}\r\n\
         cluster_size:{size}\r\ncluster_current_epoch:{epoch}\r\ncluster_my_epoch:{epoch}\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\n\
         total_cluster_links_buffer_limit_exceeded:0\r\ncluster_topology_epoch:{epoch}\r\n\
         slot_migrations_active:{}\r\n",
        if state_ok(t) { "ok" } else { "fail" },
        cl.active_migrations(),
    )
}

fn write_node_entry(c: &mut Call, n: &NodeDoc, ep: Endpoint<'_>) {
    c.out.array(4);
    c.out.bulk(ep.host(n).as_bytes());
    c.out.int(ep.port(n) as i64);
    c.out.bulk(n.id.as_bytes());
    if n.hostname.is_empty() || ep.preferred == "hostname" {
        c.out.map(0);
    } else {
        c.out.map(1);
        c.out.bulk(b"hostname");
        c.out.bulk(n.hostname.as_bytes());
    }
}

/// CLUSTER SLOTS
pub fn cluster_slots(c: &mut Call) -> CmdResult {
    let t = cluster(c)?.topology();
    let Some(t) = t else {
        c.out.array(0);
        return Ok(());
    };
    let mut ranges: Vec<(u16, u16, usize)> = (0..t.doc.shards.len())
        .flat_map(|s| t.ranges_of(s).into_iter().map(move |(a, b)| (a, b, s)))
        .collect();
    ranges.sort_unstable();
    let ep = super::slots::endpoint(c.cfg, c.session);
    c.out.array(ranges.len());
    for (a, b, s) in ranges {
        let shard = &t.doc.shards[s];
        let primary = t.primary(s);
        let replicas: Vec<&NodeDoc> = shard
            .nodes
            .iter()
            .filter(|n| n.role == NodeRole::Replica)
            .collect();
        c.out.array(3 + replicas.len());
        c.out.int(a as i64);
        c.out.int(b as i64);
        write_node_entry(c, primary, ep);
        for r in replicas {
            write_node_entry(c, r, ep);
        }
    }
    Ok(())
}

/// CLUSTER SHARDS
pub fn cluster_shards(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?.clone();
    let Some(t) = cl.topology() else {
        c.out.array(0);
        return Ok(());
    };
    let ep = super::slots::endpoint(c.cfg, c.session);
    let offset = c.node.repl().offset() as i64;
    c.out.array(t.doc.shards.len());
    for (s, shard) in t.doc.shards.iter().enumerate() {
        c.out.map(2);
        c.out.bulk(b"slots");
        let ranges = t.ranges_of(s);
        c.out.array(ranges.len() * 2);
        for (a, b) in ranges {
            c.out.int(a as i64);
            c.out.int(b as i64);
        }
        c.out.bulk(b"nodes");
        c.out.array(shard.nodes.len());
        for n in &shard.nodes {
            let hostname = !n.hostname.is_empty();
            let ports = (n.port != 0) as usize + (n.tls_port != 0) as usize;
            c.out.map(5 + ports + hostname as usize + 1);
            c.out.bulk(b"id");
            c.out.bulk(n.id.as_bytes());
            if n.port != 0 {
                c.out.bulk(b"port");
                c.out.int(n.port as i64);
            }
            if n.tls_port != 0 {
                c.out.bulk(b"tls-port");
                c.out.int(n.tls_port as i64);
            }
            c.out.bulk(b"ip");
            c.out.bulk(n.ip.as_bytes());
            c.out.bulk(b"endpoint");
            c.out.bulk(ep.host(n).as_bytes());
            if hostname {
                c.out.bulk(b"hostname");
                c.out.bulk(n.hostname.as_bytes());
            }
            c.out.bulk(b"role");
            c.out.bulk(match n.role {
                NodeRole::Primary => b"master".as_slice(),
                NodeRole::Replica => b"replica",
            });
            c.out.bulk(b"replication-offset");
            c.out.int(if n.id == cl.my_id() { offset } else { 0 });
            c.out.bulk(b"health");
            c.out.bulk(b"online");
        }
    }
    Ok(())
}

/// One line of CLUSTER NODES.
fn node_line(t: &Topology, s: usize, n: &NodeDoc, my_id: &str) -> String {
    let mut flags = String::new();
    if n.id == my_id {
        flags.push_str("myself,");
    }
    flags.push_str(match n.role {
        NodeRole::Primary => "master",
        NodeRole::Replica => "slave",
    });
    let master = match n.role {
        NodeRole::Primary => "-".to_string(),
        NodeRole::Replica => t.primary(s).id.clone(),
    };
    let mut addr = format!(
        "{}:{}@0",
        n.ip,
        if n.port != 0 { n.port } else { n.tls_port }
    );
    if !n.hostname.is_empty() {
        addr.push(',');
        addr.push_str(&n.hostname);
    }
    let mut line = format!(
        "{} {addr} {flags} {master} 0 0 {} connected",
        n.id, t.doc.epoch
    );
    let ranges = t.ranges_of(s);
    if n.role == NodeRole::Primary && !ranges.is_empty() {
        line.push(' ');
        line.push_str(&ranges_text(&ranges));
    }
    line.push('\n');
    line
}

/// CLUSTER NODES
pub fn cluster_nodes(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?;
    let text: String = match cl.topology() {
        Some(t) => t
            .nodes()
            .map(|(s, n)| node_line(&t, s, n, cl.my_id()))
            .collect(),
        // Alone, as a Redis node that met no other: itself, without slots.
        None => format!(
            "{} 127.0.0.1:{}@0 myself,master - 0 0 0 connected\n",
            cl.my_id(),
            c.node.port()
        ),
    };
    c.out.verbatim(&text);
    Ok(())
}

/// CLUSTER REPLICAS node-id (and its old name SLAVES)
pub fn cluster_replicas(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?;
    let id = args::text(c.args().bytes()?);
    let t = cl.topology();
    let Some((s, n)) = t.as_ref().and_then(|t| t.node(&id)) else {
        return Err(CmdError::err(format_args!("Unknown node {id}")));
    };
    if n.role != NodeRole::Primary {
        return Err(CmdError::err("The specified node is not a master"));
    }
    let t = t.as_ref().expect("found in it");
    let lines: Vec<String> = t.doc.shards[s]
        .nodes
        .iter()
        .filter(|r| r.role == NodeRole::Replica)
        .map(|r| node_line(t, s, r, cl.my_id()))
        .collect();
    c.out.array(lines.len());
    lines
        .iter()
        .for_each(|l| c.out.bulk(l.trim_end().as_bytes()));
    Ok(())
}

/// CLUSTER LINKS: no gossip bus, so no links.
pub fn cluster_links(c: &mut Call) -> CmdResult {
    cluster(c)?;
    c.out.array(0);
    Ok(())
}

/// CLUSTER subcommands of Redis' gossip protocol, which the control plane replaces here.
pub fn cluster_managed(c: &mut Call) -> CmdResult {
    cluster(c)?;
    Err(CmdError::err(format_args!(
        "CLUSTER {} is not supported: the topology comes from the control plane (CLUSTER SETTOPOLOGY) and slots move with CLUSTER MIGRATESLOTS",
        String::from_utf8_lossy(c.args[1]).to_ascii_uppercase()
    )))
}

/// CLUSTER HELP
pub fn cluster_help(c: &mut Call) -> CmdResult {
    c.out.help(&[
        "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "COUNTKEYSINSLOT <slot>",
        "    Return the number of keys in <slot>.",
        "GETKEYSINSLOT <slot> <count>",
        "    Return key names stored by current node in a slot.",
        "INFO",
        "    Return information about the cluster.",
        "KEYSLOT <key>",
        "    Return the hash slot for <key>.",
        "LINKS",
        "    Return information about all network links between this node and its peers.",
        "MYID",
        "    Return the node id.",
        "MYSHARDID",
        "    Return the node's shard id.",
        "NODES",
        "    Return cluster configuration seen by node. Output format:",
        "    <id> <ip:port@bus-port[,hostname]> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
        "REPLICAS <node-id>",
        "    Return <node-id> replicas.",
        "SHARDS",
        "    Return information about slot range mappings and the nodes associated with them.",
        "SLOTS",
        "    Return information about slots range mappings. Each range is made of:",
        "    start, end, master and replicas IP addresses, ports and ids",
        "SETTOPOLOGY <json>",
        "    Install the topology document of the control plane (a higher or equal epoch only).",
        "GETTOPOLOGY",
        "    Return the topology document in force.",
        "MIGRATESLOTS SLOTSRANGE <start> <end> [<start> <end> ...] NODE <node-id>",
        "    Move slots of this primary to the primary <node-id>, atomically.",
        "GETSLOTMIGRATIONS",
        "    Return the slot migrations this node takes or took part in.",
        "CANCELSLOTMIGRATIONS",
        "    Cancel the slot migrations this node sends.",
    ]);
    Ok(())
}

/// Makes this node's replication follow the topology: a replica follows its shard's primary; a listed primary
/// stops following anyone.
fn align_role(node: &Node, cfg: &Config, t: &Topology) {
    let Some((s, i)) = t.me else {
        return;
    };
    let repl = node.repl();
    match t.doc.shards[s].nodes[i].role {
        NodeRole::Primary => {
            if repl.role() != Role::Primary {
                repl.promote();
                node.ks().set_passive_expiry(false);
                tracing::info!(
                    epoch = t.doc.epoch,
                    "promoted to primary by the cluster topology"
                );
            }
        }
        NodeRole::Replica => {
            let p = t.primary(s);
            let port = if (cfg.tls_replication && p.tls_port != 0) || p.port == 0 {
                p.tls_port
            } else {
                p.port
            };
            let following = repl.role() == Role::Replica
                && repl.ids.lock().master.as_ref() == Some(&(p.ip.clone(), port));
            if !following {
                repl.follow(p.ip.clone(), port);
                node.ks().set_passive_expiry(true);
                tracing::info!(primary = %p.ip, port, epoch = t.doc.epoch, "replicating, as the cluster topology says");
            }
        }
    }
}

/// Installs a topology and aligns this node's role with it.
pub fn install(node: &Node, cfg: &Config, t: Topology) -> Result<bool, String> {
    let changed = node.cluster().set_topology(t)?;
    if let Some(t) = node.cluster().topology() {
        align_role(node, cfg, &t);
    }
    Ok(changed)
}

/// CLUSTER SETTOPOLOGY json
pub fn cluster_settopology(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?;
    let json = c.args().bytes()?;
    let t = Topology::parse(json, cl.my_id()).map_err(CmdError::err)?;
    install(c.node, c.cfg, t).map_err(CmdError::err)?;
    c.out.ok();
    Ok(())
}

/// CLUSTER GETTOPOLOGY
pub fn cluster_gettopology(c: &mut Call) -> CmdResult {
    match cluster(c)?.topology() {
        Some(t) => c.out.bulk(t.json.as_bytes()),
        None => c.out.null(),
    }
    Ok(())
}

/// Parses `<start> <end> [<start> <end> …]` until a word that is not a number.
fn slot_ranges(a: &mut Args<'_>) -> Result<Vec<(u16, u16)>, CmdError> {
    let mut out = Vec::new();
    while a.len() >= 2 && args::int(a.peek().unwrap_or(b"")).is_ok() {
        let (s, e) = (slot_arg(a)?, slot_arg(a)?);
        if s > e {
            return Err(CmdError::err(format_args!(
                "start slot number {s} is greater than end slot number {e}"
            )));
        }
        out.push((s, e));
    }
    if out.is_empty() {
        return Err(CmdError::Syntax);
    }
    Ok(out)
}

/// CLUSTER MIGRATESLOTS SLOTSRANGE start end [start end …] NODE node-id
pub fn cluster_migrateslots(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?.clone();
    let mut a = c.args();
    let (mut ranges, mut target) = (Vec::new(), None);
    while let Some(word) = a.optional() {
        if word.eq_ignore_ascii_case(b"slotsrange") {
            ranges.extend(slot_ranges(&mut a)?);
        } else if word.eq_ignore_ascii_case(b"node") && !a.is_empty() {
            target = Some(args::text(a.bytes()?).to_ascii_lowercase());
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let (Some(target), false) = (target, ranges.is_empty()) else {
        return Err(CmdError::Syntax);
    };
    let Some(t) = cl.topology() else {
        return Err(CmdError::Msg("CLUSTERDOWN The cluster is down".into()));
    };
    let Some((mine, me)) = t.me.map(|(s, n)| (s, &t.doc.shards[s].nodes[n])) else {
        return Err(CmdError::err(
            "This node is in no shard of the cluster topology",
        ));
    };
    if me.role != NodeRole::Primary || c.node.repl().role() != Role::Primary {
        return Err(CmdError::err("Slots can only be migrated from a primary"));
    }
    let Some((theirs, peer)) = t.node(&target) else {
        return Err(CmdError::err(format_args!("Unknown node {target}")));
    };
    if peer.role != NodeRole::Primary || theirs == mine {
        return Err(CmdError::err(
            "The target must be the primary of another shard",
        ));
    }
    let busy = cl.busy_slots();
    for &(s, e) in &ranges {
        for slot in s..=e {
            if t.owner(slot) != Some(mine) {
                return Err(CmdError::err(format_args!(
                    "Slot {slot} is not served by this node"
                )));
            }
            if busy[slot as usize] {
                return Err(CmdError::err(format_args!(
                    "Slot {slot} is already being migrated"
                )));
            }
        }
    }
    let m = Arc::new(Migration::new(
        crate::replication::new_id(),
        Direction::Export,
        target,
        ranges,
        c.node.ks().shards(),
    ));
    cl.request_export(m);
    c.out.ok();
    Ok(())
}

/// CLUSTER GETSLOTMIGRATIONS
pub fn cluster_getslotmigrations(c: &mut Call) -> CmdResult {
    let all = cluster(c)?.migrations();
    c.out.array(all.len());
    for m in all {
        c.out.map(10);
        let fields: [(&[u8], String); 7] = [
            (b"id", m.id.clone()),
            (
                b"direction",
                match m.direction {
                    Direction::Export => "export".into(),
                    Direction::Import => "import".into(),
                },
            ),
            (b"peer", m.peer.clone()),
            (b"slot_ranges", ranges_text(&m.ranges)),
            (b"state", m.state().name().into()),
            (b"error", m.error()),
            (b"keys", String::new()),
        ];
        for (k, v) in &fields[..6] {
            c.out.bulk(k);
            c.out.bulk(v.as_bytes());
        }
        let ordering = std::sync::atomic::Ordering::Relaxed;
        c.out.bulk(b"keys");
        c.out.int(m.keys.load(ordering) as i64);
        c.out.bulk(b"bytes");
        c.out.int(m.bytes.load(ordering) as i64);
        c.out.bulk(b"pause_ms");
        let pause = format!("{:.3}", m.pause_us.load(ordering) as f64 / 1000.0);
        c.out.bulk(pause.as_bytes());
        c.out.bulk(b"elapsed_ms");
        c.out.int(m.elapsed().as_millis() as i64);
    }
    Ok(())
}

/// CLUSTER CANCELSLOTMIGRATIONS
pub fn cluster_cancelslotmigrations(c: &mut Call) -> CmdResult {
    for m in cluster(c)?.migrations() {
        if m.direction == Direction::Export && !m.state().is_final() {
            m.cancel.store(true, std::sync::atomic::Ordering::Release);
        }
    }
    c.out.ok();
    Ok(())
}

/// CLUSTER IMPORT id BEGIN source-id start end [start end …] | COMMIT topology | ABORT — the target's side
/// of a migration, sent by the source on the link it opened.
pub fn cluster_import(c: &mut Call) -> CmdResult {
    let cl = cluster(c)?.clone();
    if c.session.master_link {
        // Nothing for a replica to do: the imported data reaches it as writes.
        c.out.ok();
        return Ok(());
    }
    let mut a = c.args();
    let id = args::text(a.bytes()?);
    let step = a.bytes()?;
    if step.eq_ignore_ascii_case(b"begin") {
        let source = args::text(a.bytes()?).to_ascii_lowercase();
        let ranges = slot_ranges(&mut a)?;
        let t = cl
            .topology()
            .ok_or_else(|| CmdError::Msg("CLUSTERDOWN The cluster is down".into()))?;
        let mine = match t.me {
            Some((s, n)) if t.doc.shards[s].nodes[n].role == NodeRole::Primary => s,
            _ => return Err(CmdError::err("Slots can only be imported by a primary")),
        };
        let busy = cl.busy_slots();
        for &(s, e) in &ranges {
            if (s..=e).any(|slot| t.owner(slot) == Some(mine) || busy[slot as usize]) {
                return Err(CmdError::err(format_args!(
                    "Slots {s}-{e} are served by this node or already being migrated"
                )));
            }
        }
        let m = Arc::new(Migration::new(
            id,
            Direction::Import,
            source,
            ranges,
            c.node.ks().shards(),
        ));
        // Whatever an earlier import of these slots left behind goes first.
        drop_slot_keys(c.node, &m.slots);
        m.set_state(State::Streaming);
        cl.add_migration(m.clone());
        c.session.cluster.import = Some(m);
        c.out.ok();
        return Ok(());
    }
    let Some(m) = c.session.cluster.import.clone().filter(|m| m.id == id) else {
        return Err(CmdError::err(format_args!(
            "No slot import {id} on this connection"
        )));
    };
    if step.eq_ignore_ascii_case(b"commit") {
        let json = a.bytes()?;
        let t = Topology::parse(json, cl.my_id()).map_err(CmdError::err)?;
        let mine = t.me.map(|(s, _)| s);
        if m.slots
            .iter()
            .enumerate()
            .any(|(slot, &moving)| moving && t.owner(slot as u16) != mine)
        {
            return Err(CmdError::err(
                "The committed topology does not give the imported slots to this node",
            ));
        }
        install(c.node, c.cfg, t).map_err(CmdError::err)?;
        m.set_state(State::Success);
        c.session.cluster.import = None;
        tracing::info!(slots = %ranges_text(&m.ranges), source = %m.peer, "slot import committed");
        c.out.ok();
        Ok(())
    } else if step.eq_ignore_ascii_case(b"abort") {
        m.set_state(State::Cancelled);
        import_closed(c.node, c.session);
        c.out.ok();
        Ok(())
    } else {
        Err(CmdError::Syntax)
    }
}

/// Locks the shard of the slot a CLUSTER RESTOREKEYS writes.
pub fn restorekeys_lock(
    args: &[&[u8]],
    _db: usize,
    ks: &crate::keyspace::Keyspace,
    set: &mut LockSet,
) {
    if let Some(slot) = args.get(2).and_then(|s| args::int(s).ok()) {
        if (0..SLOTS as i64).contains(&slot) {
            set.push((0, ks.slot_shard(slot as u16) as u32));
        }
    }
}

/// CLUSTER RESTOREKEYS slot payload — keys of one slot, in the snapshot record format, on a migration link (or
/// from the primary that imported them).
pub fn cluster_restorekeys(c: &mut Call) -> CmdResult {
    cluster(c)?;
    let import = c.session.cluster.import.clone();
    if import.is_none() && !c.session.master_link {
        return Err(CmdError::err(
            "CLUSTER RESTOREKEYS is only accepted on a slot migration link",
        ));
    }
    let mut a = c.args();
    let slot = slot_arg(&mut a)?;
    let payload = a.bytes()?;
    if let Some(m) = &import {
        if !m.slots[slot as usize] {
            return Err(CmdError::err(format_args!(
                "Slot {slot} is not part of this import"
            )));
        }
    }
    let records = crate::snapshot::unpack(payload).map_err(|e| CmdError::err(e.to_string()))?;
    if let Some(r) = records.iter().find(|r| crate::slot::of(&r.key) != slot) {
        return Err(CmdError::err(format_args!(
            "Key '{}' is not in slot {slot}",
            String::from_utf8_lossy(&r.key)
        )));
    }
    let n = records.len();
    let (now, initial) = (c.clock.now_ms, c.clock.initial());
    for r in records {
        let key = r.key.clone();
        let (shard, h) = c.shard(&key);
        shard.set(h, r.into_entry((h >> 32) as u32, initial), now);
    }
    if let Some(m) = &import {
        let o = std::sync::atomic::Ordering::Relaxed;
        m.keys.fetch_add(n as u64, o);
        m.bytes.fetch_add(payload.len() as u64, o);
    }
    c.out.int(n as i64);
    Ok(())
}

/// Deletes every key of the given slots, a shard at a time (each shard rebuilt once, under its lock, so clients
/// of other shards keep being served); each deletion reaches replicas as a DEL and tracking clients as an
/// invalidation. Returns the number of keys deleted.
pub fn drop_slot_keys(node: &Node, slots: &[bool]) -> u64 {
    let ks = node.ks();
    let mut deleted = 0;
    let now = crate::clock::now_ms();
    for s in ks.shards_of_slots(slots) {
        let mut set = LockSet::new();
        set.push((0, s as u32));
        let mut held = ks.lock(&mut set);
        let Some(shard) = held.shards_of(0).next() else {
            continue;
        };
        if (0..SLOTS).all(|slot| !slots[slot] || shard.keys_in_slot(slot as u16) == 0) {
            continue;
        }
        let removed =
            shard.remove_where(|k| ks.hash(k), |e| slots[crate::slot::of(e.key()) as usize]);
        for e in &removed {
            if e.expire().is_none_or(|at| now <= at) {
                deleted += 1;
            }
            if node.pubsub().tracking.clients() > 0 {
                node.pubsub().tracking.invalidate(e.key(), None, now);
            }
            node.repl().propagate(0, &[b"DEL", e.key()]);
        }
        drop(held);
        // Freed after the lock is released.
        drop(removed);
    }
    deleted
}

/// A connection closes (or aborted its import): an import it carried that did not commit is rolled back.
pub fn import_closed(node: &Node, session: &mut Session) {
    let Some(m) = session.cluster.import.take() else {
        return;
    };
    if m.state() == State::Success {
        return;
    }
    if m.state() != State::Cancelled {
        m.fail("the link to the source closed before the migration committed".into());
    }
    // Only slots this node does not serve: a committed topology would have made them ours.
    let t = node.cluster().topology();
    let mine = t.as_ref().and_then(|t| t.me.map(|(s, _)| s));
    let slots: Vec<bool> = (0..SLOTS)
        .map(|s| m.slots[s] && t.as_ref().and_then(|t| t.owner(s as u16)) != mine)
        .collect();
    let n = drop_slot_keys(node, &slots);
    tracing::warn!(slots = %ranges_text(&m.ranges), source = %m.peer, keys = n, "slot import rolled back");
}
