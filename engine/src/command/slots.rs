//! Cluster-mode admission: every command that names keys (or shard channels) runs only on the node that serves
//! their hash slot, and only if they share one; the others are redirected as Redis Cluster redirects them.

use super::error::CmdError;
use super::session::Session;
use crate::catalogue::{self, Cost, Spec, COMMANDS};
use crate::cluster::{Endpoint, Redirect};
use crate::config::Config;
use crate::node::Node;

/// The one slot of several; CROSSSLOT when they differ.
fn one_slot(slots: impl IntoIterator<Item = u16>) -> Result<Option<u16>, CmdError> {
    let mut one = None;
    for s in slots {
        if one.is_some_and(|prev| prev != s) {
            return Err(CmdError::Msg(
                "CROSSSLOT Keys in request don't hash to the same slot".into(),
            ));
        }
        one = Some(s);
    }
    Ok(one)
}

/// The one hash slot of a set of keys; CROSSSLOT when they span several.
fn common_slot<'a>(keys: impl IntoIterator<Item = &'a [u8]>) -> Result<Option<u16>, CmdError> {
    one_slot(keys.into_iter().map(crate::slot::of))
}

/// How this session's client is told where a node is: `cluster-preferred-endpoint-type`, and the TLS port
/// for a client connected over TLS.
pub fn endpoint<'a>(cfg: &'a Config, session: &Session) -> Endpoint<'a> {
    Endpoint {
        preferred: &cfg.cluster_preferred_endpoint_type,
        tls: cfg.tls_port != 0 && session.info.laddr.port() == cfg.tls_port,
    }
}

/// The one hash slot of the keys (or shard channels) a command routes by.
fn slot_of_command(spec: &Spec, args: &[&[u8]]) -> Result<Option<u16>, CmdError> {
    match spec.name {
        "spublish" => common_slot(args.get(1).copied()),
        "ssubscribe" | "sunsubscribe" => common_slot(args[1..].iter().copied()),
        _ => common_slot(spec.key_args(args)),
    }
}

/// A write's keys in the shard's hash space.
pub type Positions<'a> = Vec<(u32, &'a [u8])>;

/// The hash slot a successful write changed, and its keys with their positions in the shard's hash space
/// (for slot migrations collecting writes).
pub fn write_slot<'a>(
    spec: &Spec,
    args: &[&'a [u8]],
    ks: &crate::keyspace::Keyspace,
) -> Option<(u16, Positions<'a>)> {
    if spec.name == "cluster|restorekeys" {
        // An import: its slot is never one this node exports.
        return None;
    }
    let keys = spec.key_args(args);
    let first = keys.first()?;
    Some((
        crate::slot::of(first),
        keys.iter().map(|k| (ks.position(k), *k)).collect(),
    ))
}

/// Commands that cannot run in cluster mode as such.
fn refused(spec: &Spec, args: &[&[u8]]) -> Option<&'static str> {
    let is = |a: &[u8], w: &str| a.eq_ignore_ascii_case(w.as_bytes());
    match spec.name {
        "select" if args.get(1).is_some_and(|db| !is(db, "0")) => {
            Some("SELECT is not allowed in cluster mode")
        }
        "swapdb" => Some("SWAPDB is not allowed in cluster mode"),
        "move" => Some("MOVE is not allowed in cluster mode"),
        "copy" if args.iter().skip(3).any(|a| is(a, "db")) => {
            Some("Copying to another database is not allowed in cluster mode")
        }
        _ => None,
    }
}

/// Checks that this node runs the command (for EXEC: the transaction it ends), and remembers in the session
/// the hash slot it touches and the topology epoch it was admitted under. Errors are what the client sees:
/// CROSSSLOT, MOVED, CLUSTERDOWN, or a command that cluster mode does not allow.
pub fn admit(
    node: &Node,
    cfg: &Config,
    spec: &Spec,
    args: &[&[u8]],
    session: &mut Session,
) -> Result<(), CmdError> {
    let epoch = node.cluster().epoch();
    let slot = admitted_slot(node, cfg, spec, args, session)?;
    session.cluster.admitted = slot.map(|s| (s, epoch));
    Ok(())
}

fn admitted_slot(
    node: &Node,
    cfg: &Config,
    spec: &Spec,
    args: &[&[u8]],
    session: &mut Session,
) -> Result<Option<u16>, CmdError> {
    if let Some(why) = refused(spec, args) {
        return Err(CmdError::err(why));
    }
    let asking = std::mem::take(&mut session.cluster.asking);
    let (slot, write) = if spec.cost == Cost::Transaction {
        let Some(queued) = &session.multi else {
            return Ok(None);
        };
        let mut slots = Vec::new();
        for q in queued {
            let argv: Vec<&[u8]> = q.args.iter().map(Vec::as_slice).collect();
            slots.extend(slot_of_command(&COMMANDS[q.idx], &argv)?);
        }
        let write = queued.iter().any(|q| COMMANDS[q.idx].has(catalogue::WRITE));
        (one_slot(slots)?, write)
    } else {
        (slot_of_command(spec, args)?, spec.has(catalogue::WRITE))
    };
    let Some(slot) = slot else {
        return Ok(None);
    };
    let readonly_ok = session.cluster.readonly || asking;
    match node
        .cluster()
        .route(slot, write, readonly_ok, endpoint(cfg, session))
    {
        Ok(()) => Ok(Some(slot)),
        Err(r @ Redirect::Moved(..)) | Err(r @ Redirect::Down(_)) => {
            Err(CmdError::Msg(r.to_string()))
        }
    }
}

/// Checks again, with the shards locked, that a command admitted under an older topology epoch may still run
/// here (a slot migration may have handed its slot over while it waited for the locks).
pub fn still_served(
    node: &Node,
    cfg: &Config,
    session: &Session,
    write: bool,
) -> Result<(), CmdError> {
    let Some((slot, epoch)) = session.cluster.admitted else {
        return Ok(());
    };
    if node.cluster().epoch() == epoch {
        return Ok(());
    }
    node.cluster()
        .route(
            slot,
            write,
            session.cluster.readonly,
            endpoint(cfg, session),
        )
        .map_err(|r| CmdError::Msg(r.to_string()))
}
