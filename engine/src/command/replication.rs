//! Replication commands: REPLICAOF/SLAVEOF, ROLE, REPLCONF, PSYNC, WAIT, FAILOVER.

use super::args::{self, is};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::session::Deferred;
use crate::replication::{PsyncRequest, Role};

/// REPLICAOF host port | REPLICAOF NO ONE (also SLAVEOF)
pub fn replicaof(c: &mut Call) -> CmdResult {
    if c.session.master_link {
        return Err(CmdError::err(
            "Command is not valid when client is a replica.",
        ));
    }
    let mut a = c.args();
    let (host, port) = (a.bytes()?, a.bytes()?);
    let repl = &c.node.repl();
    if is(host, "no") && is(port, "one") {
        if repl.role() != Role::Primary {
            repl.promote();
            c.node.ks().set_passive_expiry(false);
            tracing::info!("promoted to primary (REPLICAOF NO ONE)");
        }
        c.out.ok();
        return Ok(());
    }
    let host = args::text(host);
    let port = match args::int(port) {
        Ok(p @ 1..=65535) => p as u16,
        _ => return Err(CmdError::err("Invalid master port")),
    };
    if repl.role() == Role::Replica && repl.ids.lock().master == Some((host.clone(), port)) {
        c.out.simple("OK Already connected to specified master");
        return Ok(());
    }
    if repl.role() == Role::Primary && !repl.replicas.lock().is_empty() {
        tracing::info!("primary becomes a replica: its replicas will follow the new history");
    }
    repl.follow(host.clone(), port);
    c.node.ks().set_passive_expiry(true);
    tracing::info!(primary = %host, port, "replicating");
    c.out.ok();
    Ok(())
}

/// ROLE
pub fn role(c: &mut Call) -> CmdResult {
    let repl = &c.node.repl();
    let offset = repl.offset() as i64;
    match repl.role() {
        Role::Primary => {
            let replicas = repl.replicas.lock();
            c.out.array(3);
            c.out.bulk(b"master");
            c.out.int(offset);
            c.out.array(replicas.len());
            for r in replicas.iter() {
                c.out.array(3);
                c.out.bulk(r.ip.as_bytes());
                c.out.bulk(r.port.to_string().as_bytes());
                c.out.bulk(
                    r.ack
                        .load(std::sync::atomic::Ordering::Relaxed)
                        .to_string()
                        .as_bytes(),
                );
            }
        }
        role => {
            let ids = repl.ids.lock();
            let (host, port) = ids.master.clone().unwrap_or_default();
            let state = match (role, ids.link) {
                (Role::Standby, _) => "none",
                (_, crate::replication::LinkState::Connecting) => "connect",
                (_, crate::replication::LinkState::Sync) => "sync",
                (_, crate::replication::LinkState::Connected) => "connected",
            };
            c.out.array(5);
            c.out.bulk(if role == Role::Standby {
                b"standby"
            } else {
                b"slave"
            });
            c.out.bulk(host.as_bytes());
            c.out.int(port as i64);
            c.out.bulk(state.as_bytes());
            c.out.int(offset);
        }
    }
    Ok(())
}

/// REPLCONF option value …: what a replica tells its primary during the handshake.
pub fn replconf(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    // Options come in pairs; an odd last argument is ignored.
    while a.len() >= 2 {
        let (opt, value) = (a.bytes()?, a.bytes()?);
        if is(opt, "listening-port") {
            let port = args::int(value)?;
            c.session.replica_port =
                u16::try_from(port).map_err(|_| CmdError::err("Invalid listening-port"))?;
        } else if !(is(opt, "capa") || is(opt, "ip-address") || is(opt, "ack") || is(opt, "getack"))
        {
            return Err(CmdError::err(format_args!(
                "Unrecognized REPLCONF option: {}",
                args::text(opt)
            )));
        }
    }
    c.out.ok();
    Ok(())
}

/// PSYNC replid offset (SYNC = full sync): the connection becomes a replica link.
pub fn psync(c: &mut Call) -> CmdResult {
    if c.node.repl().role() != Role::Primary {
        return Err(CmdError::err(
            "Can't SYNC while not connected with my master",
        ));
    }
    let mut a = c.args();
    // SYNC has no arguments: a full sync.
    let (replid, offset) = match (a.optional(), a.optional()) {
        (Some(replid), Some(offset)) => (
            args::text(replid),
            args::int(offset).ok().filter(|o| *o >= 0).map(|o| o as u64),
        ),
        _ => ("?".to_string(), None),
    };
    c.session.deferred = Some(Deferred::Psync(PsyncRequest {
        replid,
        offset,
        listening_port: c.session.replica_port,
    }));
    Ok(())
}

/// WAIT numreplicas timeout
pub fn wait(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let wanted = a.uint()?;
    let timeout = a.int()?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let repl = &c.node.repl();
    if repl.role() != Role::Primary {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    // The billed count travels with every WAIT: what WAIT confirms includes the units charged so far.
    crate::server::ship_usage(c.node);
    let offset = repl.offset();
    let acked = repl.acked(offset);
    if acked >= wanted || repl.replicas.lock().is_empty() && wanted == 0 {
        c.out.int(acked as i64);
        return Ok(());
    }
    repl.propagate_global(&[b"REPLCONF", b"GETACK", b"*"]);
    c.session.deferred = Some(Deferred::Wait {
        offset,
        wanted,
        timeout_ms: timeout as u64,
    });
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] [ABORT]
pub fn failover(c: &mut Call) -> CmdResult {
    let (mut target, mut timeout_ms, mut force) = (None, 0u64, false);
    let mut a = c.args();
    while let Some(opt) = a.optional() {
        if is(opt, "to") && a.len() >= 2 {
            let host = a.bytes()?;
            let port = match a.int() {
                Ok(p @ 1..=65535) => p as u16,
                _ => return Err(CmdError::err("Invalid port")),
            };
            target = Some((args::text(host), port));
        } else if is(opt, "timeout") && !a.is_empty() {
            timeout_ms = match a.int() {
                Ok(t) if t > 0 => t as u64,
                _ => return Err(CmdError::err("FAILOVER timeout must be greater than 0")),
            };
        } else if is(opt, "force") {
            force = true;
        } else if is(opt, "abort") {
            return Err(CmdError::err("No failover in progress."));
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if force && (target.is_none() || timeout_ms == 0) {
        return Err(CmdError::err(
            "FAILOVER with force option requires both a timeout and target HOST and IP.",
        ));
    }
    c.session.deferred = Some(Deferred::Failover {
        target,
        timeout_ms,
        force,
    });
    Ok(())
}
