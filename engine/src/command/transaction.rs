//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands are checked when queued (unknown command, arity, memory) — a failure there makes EXEC answer
//! `EXECABORT`. EXEC locks the shards of every queued command and every watched key at once, in ascending
//! order, then checks the watched versions and runs the queue: no other client can interleave, on any core.
//! WATCH records a per-key version in the shard; every write path of the shard bumps it.

use std::sync::atomic::Ordering;

use super::args::Args;
use super::call::Call;
use super::dispatch::{ensure_memory, lock_set, run, show_to_monitors};
use super::error::{CmdError, CmdResult};
use super::keys::db_index;
use super::session::Watched;
use crate::catalogue::{self, COMMANDS};
use crate::keyspace::LockSet;

/// MULTI
pub fn multi(c: &mut Call) -> CmdResult {
    if c.session.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    c.session.multi = Some(Vec::new());
    c.session.multi_error = false;
    c.session.info.in_multi.store(true, Ordering::Relaxed);
    c.session.info.multi_len.store(0, Ordering::Relaxed);
    c.out.ok();
    Ok(())
}

/// DISCARD
pub fn discard(c: &mut Call) -> CmdResult {
    if c.session.multi.is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    c.session.discard_transaction(c.node.ks());
    c.out.ok();
    Ok(())
}

/// WATCH key [key …]
pub fn watch(c: &mut Call) -> CmdResult {
    if c.session.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let db = c.session.db;
    let now = c.clock.now_ms;
    for &key in c.args().rest() {
        if c.session.watched.iter().any(|w| w.db == db && w.key == key) {
            continue;
        }
        let (shard, h) = c.held.shard(db, key);
        let existed = shard.find(h, key, now).is_some();
        let version = shard.watch(key);
        c.session.watched.push(Watched {
            db,
            key: key.to_vec(),
            version,
            existed,
        });
    }
    c.out.ok();
    Ok(())
}

/// UNWATCH
pub fn unwatch(c: &mut Call) -> CmdResult {
    c.session.unwatch_all(c.node.ks());
    c.out.ok();
    Ok(())
}

/// EXEC
pub fn exec(c: &mut Call) -> CmdResult {
    let Some(queue) = c.session.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    c.session.info.in_multi.store(false, Ordering::Relaxed);
    if std::mem::take(&mut c.session.multi_error) {
        c.session.unwatch_all(c.node.ks());
        return Err(CmdError::Msg(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    if queue
        .iter()
        .any(|q| COMMANDS[q.idx].has(catalogue::DENY_OOM))
    {
        if let Err(e) = ensure_memory(c.node, c.cfg, &c.clock, &mut c.session.evictor) {
            c.session.unwatch_all(c.node.ks());
            return Err(e);
        }
    }
    let ks = c.node.ks();
    let mut set = LockSet::new();
    let mut db = c.session.db;
    let argv: Vec<Vec<&[u8]>> = queue
        .iter()
        .map(|q| q.args.iter().map(Vec::as_slice).collect())
        .collect();
    for (q, args) in queue.iter().zip(&argv) {
        let spec = &COMMANDS[q.idx];
        lock_set(q.idx, args, db, ks, &mut set);
        if spec.name == "select" {
            // Later queued commands lock their keys in the database SELECT will have chosen.
            if let Ok(n) = Args::new(args, 1).bytes().and_then(|n| db_index(n, ks)) {
                db = n;
            }
        }
    }
    for w in &c.session.watched {
        set.push(ks.shard_id(w.db, &w.key));
    }
    let mut held = ks.lock(&mut set);
    let now = c.clock.now_ms;
    let conflict = c.session.watched.iter().any(|w| {
        let (shard, h) = held.shard(w.db, &w.key);
        let changed = shard.watch_version(&w.key) != w.version;
        changed || (w.existed && shard.find(h, &w.key, now).is_none())
    });
    for w in c.session.watched.drain(..) {
        held.shard(w.db, &w.key).0.unwatch(&w.key);
    }
    if conflict {
        c.out.null_array();
        return Ok(());
    }
    let writes = queue.iter().any(|q| COMMANDS[q.idx].has(catalogue::WRITE));
    super::slots::still_served(c.node, c.cfg, c.session, writes)?;
    // The queued writes reach replicas as one transaction too.
    let wrap = c.node.repl().is_recording() && !c.session.master_link && writes;
    if wrap {
        held.drain_deleted();
        c.node.repl().propagate(c.session.db, &[b"MULTI"]);
    }
    c.out.array(queue.len());
    let outer_in_exec = std::mem::replace(&mut c.session.blocking.in_exec, true);
    for (q, args) in queue.iter().zip(&argv) {
        show_to_monitors(c.node, c.session, &COMMANDS[q.idx], args);
        run(
            c.node, c.cfg, c.clock, c.session, c.out, &mut held, q.idx, args,
        );
    }
    c.session.blocking.in_exec = outer_in_exec;
    if wrap {
        c.node.repl().propagate(c.session.db, &[b"EXEC"]);
    }
    Ok(())
}
