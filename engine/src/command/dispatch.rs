//! Dispatch: look a command up in the catalogue (routing a container to its subcommand's row), check it
//! (arity, authentication, ACL, transaction state, memory), lock the shards of its keys, run its handler, and
//! count, charge, announce and replicate what it did.

use std::sync::Arc;

use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::session::{ReplyMode, Session};
use super::{pubsub, slots, table, tracking};
use crate::catalogue::{self, Cost, Scope, Spec, COMMANDS};
use crate::config::Config;
use crate::keyspace::evict::{EvictError, Evictor};
use crate::keyspace::{Clock, Held, Keyspace, LockSet};
use crate::metering;
use crate::node::Node;
use crate::protocol::reply::Reply;

/// Adds the shards the command at `idx` locks to `set`: its keys' shards, from the catalogue's key specs.
pub fn lock_set(idx: usize, args: &[&[u8]], db: usize, ks: &Keyspace, set: &mut LockSet) {
    let spec = &COMMANDS[idx];
    match spec.scope {
        Scope::Keys => spec.each_key_position(args, |i| set.push(ks.shard_id(db, args[i]))),
        Scope::Db => ks.all_shards(db, set),
        Scope::AllDbs => (0..ks.databases()).for_each(|d| ks.all_shards(d, set)),
    }
    if let Some(extra) = table::registered(idx).extra_lock {
        extra(args, db, ks, set);
    }
}

/// The row a container's call runs (`XGROUP CREATE …` runs `xgroup|create`), or why there is none.
fn route(idx: usize, args: &[&[u8]]) -> Result<usize, CmdError> {
    let Some(&sub) = args.get(1) else {
        return Err(CmdError::err(format_args!(
            "wrong number of arguments for '{}' command",
            COMMANDS[idx].name
        )));
    };
    catalogue::lookup_subcommand(idx, sub).ok_or_else(|| {
        CmdError::err(format_args!(
            "unknown subcommand '{}'. Try {} HELP.",
            String::from_utf8_lossy(&sub[..sub.len().min(128)]),
            COMMANDS[idx].name.to_ascii_uppercase()
        ))
    })
}

/// Why a command was refused before running.
fn precheck(spec: &Spec, args: &[&[u8]], session: &Session) -> Result<(), CmdError> {
    if !spec.arity_ok(args.len()) {
        return Err(CmdError::err(format_args!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    if !session.authenticated && !spec.has(catalogue::NO_AUTH) {
        return Err(CmdError::Msg("NOAUTH Authentication required.".into()));
    }
    if session.subs.any()
        && !session.info.is_resp3()
        && !pubsub::SUBSCRIBER_MODE.contains(&spec.name)
    {
        return Err(pubsub::subscriber_mode_error(spec.name));
    }
    Ok(())
}

/// Checks the session's ACL user may run this command on these keys; records denials in the ACL LOG.
fn authorize(
    node: &Node,
    spec: &Spec,
    idx: usize,
    args: &[&[u8]],
    session: &mut Session,
) -> CmdResult {
    let version = node
        .acl()
        .version
        .load(std::sync::atomic::Ordering::Relaxed);
    if version != session.acl_version {
        session.acl_version = version;
        match node.acl().get(&session.user.name) {
            Some(u) => session.user = u,
            None => {
                // The user was deleted: the connection goes with it.
                session.close = true;
                return Err(CmdError::Msg("NOPERM this user has been deleted".into()));
            }
        }
        if !session.user.enabled && !session.master_link {
            session.close = true;
            return Err(CmdError::Msg("NOPERM this user has been disabled".into()));
        }
    }
    if session.master_link || !session.authenticated || session.user.unrestricted() {
        return Ok(());
    }
    let context = if session.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    let client = session.info.addr.to_string();
    // First-argument rules (`+select|0`) apply to plain commands; a subcommand is a row of its own.
    let first_arg = args.get(1).copied().filter(|_| spec.name_args() == 1);
    if !session.user.may_run(idx, first_arg) {
        node.acl().log(
            "command",
            context,
            spec.name,
            &session.user.name,
            &client,
            crate::clock::now_ms(),
        );
        return Err(CmdError::Msg(format!(
            "NOPERM User {} has no permissions to run the '{}' command",
            session.user.name, spec.name
        )));
    }
    for (key, flags) in spec.keys_with_flags(args) {
        if !session.user.may_access_key(key, flags) {
            let object = String::from_utf8_lossy(key);
            node.acl().log(
                "key",
                context,
                &object,
                &session.user.name,
                &client,
                crate::clock::now_ms(),
            );
            return Err(CmdError::Msg(
                "NOPERM No permissions to access a key".into(),
            ));
        }
    }
    Ok(())
}

/// The `-ERR unknown command` reply, quoting the first arguments like Redis.
pub fn unknown_command(args: &[&[u8]]) -> CmdError {
    let mut quoted = String::new();
    for a in args.iter().skip(1).take(8) {
        quoted.push_str(&format!(
            "'{}' ",
            String::from_utf8_lossy(&a[..a.len().min(128)])
        ));
    }
    CmdError::err(format_args!(
        "unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(&args[0][..args[0].len().min(128)]),
        quoted
    ))
}

/// Makes room under `maxmemory` before a command that may grow the dataset.
pub fn ensure_memory(node: &Node, cfg: &Config, clock: &Clock, evictor: &mut Evictor) -> CmdResult {
    // The usage limit on storage refuses growth whatever the eviction policy: it caps what is billed.
    if cfg.usage_max_storage > 0 && node.ks().used_memory() as u64 >= cfg.usage_max_storage {
        return Err(CmdError::Msg(format!(
            "OOM command not allowed when used memory > 'usage-max-storage' ({} bytes, the dataStorage usage limit).",
            cfg.usage_max_storage
        )));
    }
    if cfg.maxmemory == 0 || node.ks().used_memory() <= cfg.maxmemory as usize {
        return Ok(());
    }
    match evictor.make_room(
        node.ks(),
        cfg.maxmemory as usize,
        cfg.maxmemory_policy,
        cfg.maxmemory_samples,
        clock,
    ) {
        Ok(_) => Ok(()),
        Err(EvictError::NoEviction | EvictError::NothingToEvict) => Err(CmdError::Msg(
            "OOM command not allowed when used memory > 'maxmemory'.".into(),
        )),
    }
}

/// Executes one command and writes its reply, unless `CLIENT REPLY` turned replies off.
pub fn execute(
    node: &Arc<Node>,
    cfg: &Config,
    clock: Clock,
    session: &mut Session,
    out: &mut Reply,
    args: &[&[u8]],
) {
    let start = out.buf.len();
    execute_command(node, cfg, clock, session, out, args);
    if session.reply_mode == ReplyMode::On || is_subscription(args[0]) {
        // Subscription confirmations are pushed like messages: sent whatever CLIENT REPLY says, as in Redis.
        return;
    }
    out.buf.truncate(start);
    session.reply_mode = match session.reply_mode {
        // CLIENT REPLY SKIP is not answered, and the command after it is not either.
        ReplyMode::SkipArmed => ReplyMode::SkipNext,
        ReplyMode::SkipNext => ReplyMode::On,
        mode => mode,
    };
}

/// SUBSCRIBE and its kin, whose replies are pushed like messages.
fn is_subscription(name: &[u8]) -> bool {
    [
        "subscribe",
        "psubscribe",
        "ssubscribe",
        "unsubscribe",
        "punsubscribe",
        "sunsubscribe",
    ]
    .iter()
    .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

fn execute_command(
    node: &Arc<Node>,
    cfg: &Config,
    clock: Clock,
    session: &mut Session,
    out: &mut Reply,
    args: &[&[u8]],
) {
    let Some(mut idx) = catalogue::lookup_command(args[0]) else {
        session.counters.errors.add(1);
        if session.multi.is_some() {
            session.multi_error = true;
        }
        let message = unknown_command(args).to_string();
        node.metering().count_error(&message);
        out.error(&message);
        return;
    };
    // A container routes to its subcommand's row; COMMAND alone runs the container's own handler.
    if !catalogue::subcommands(idx).is_empty()
        && (args.len() > 1 || table::registered(idx).run.is_none())
    {
        match route(idx, args) {
            Ok(sub) => idx = sub,
            Err(e) => return reject(node, session, out, idx, &e),
        }
    }
    let spec = &COMMANDS[idx];
    // CLIENT UNBLOCK woke this blocked client: it answers as timed out, or with an error.
    if session.blocking.is_retry() {
        match node.blocking().take_unblock(session.info.id) {
            Some(true) => {
                let e = CmdError::Msg("UNBLOCKED client unblocked via CLIENT UNBLOCK".into());
                return reject(node, session, out, idx, &e);
            }
            Some(false) => session.blocking.timed_out = true,
            None => {}
        }
    }
    if let Err(e) =
        precheck(spec, args, session).and_then(|_| authorize(node, spec, idx, args, session))
    {
        reject(node, session, out, idx, &e);
        return;
    }
    // Cluster mode: only the keys of slots this node serves, all in one slot.
    session.cluster.admitted = None;
    let gated =
        node.cluster().enabled() && !session.master_link && session.cluster.import.is_none();
    if gated {
        if let Err(e) = slots::admit(node, cfg, spec, args, session) {
            if spec.cost == Cost::Transaction {
                session.discard_transaction(node.ks());
            }
            return reject(node, session, out, idx, &e);
        }
    }
    let limit = cfg.usage_max_ecpu_per_second;
    if limit > 0
        && metering::BILLED[idx]
        && !session.master_link
        && session.cluster.import.is_none()
        && !node
            .metering()
            .admit(limit, &mut session.throttle_waited_us)
    {
        let e = CmdError::Msg(format!(
            "THROTTLED request rate over the usage limit of {limit} ECPUs per second on this node"
        ));
        return reject(node, session, out, idx, &e);
    }
    if spec.has(catalogue::WRITE) && !session.master_link && node.repl().refuses_writes() {
        let e = CmdError::Msg("READONLY You can't write against a read only replica.".into());
        reject(node, session, out, idx, &e);
        return;
    }
    if session.multi.is_some() && !spec.has(catalogue::TX_CONTROL) {
        if spec.has(catalogue::NO_MULTI) {
            let e = CmdError::err("Command not allowed inside a transaction");
            return reject(node, session, out, idx, &e);
        }
        if spec.has(catalogue::DENY_OOM) {
            if let Err(e) = ensure_memory(node, cfg, &clock, &mut session.evictor) {
                reject(node, session, out, idx, &e);
                return;
            }
        }
        session.queue(idx, args);
        out.simple("QUEUED");
        return;
    }
    if spec.has(catalogue::DENY_OOM) && !session.master_link {
        if let Err(e) = ensure_memory(node, cfg, &clock, &mut session.evictor) {
            reject(node, session, out, idx, &e);
            return;
        }
    }
    // CLIENT PAUSE holds the command (the client waits, its command unconsumed) until the pause ends.
    if !session.master_link
        && node
            .blocking()
            .holds(clock.now_ms, || pausable_write(spec, session))
        && session.blocking.may_block()
        && spec.name != "client|unpause"
    {
        let id = session.info.id;
        session.blocking.block(
            node.blocking(),
            id,
            crate::blocking::PAUSE_DB,
            &[crate::blocking::PAUSE_KEY],
            None,
        );
        return;
    }
    // EXEC shows after the commands it ran (each shown as it runs), as Redis orders them.
    let exec = spec.cost == Cost::Transaction;
    if !exec {
        show_to_monitors(node, session, spec, args);
    }
    let mut set = LockSet::new();
    lock_set(idx, args, session.db, node.ks(), &mut set);
    let mut held = node.ks().lock(&mut set);
    // A slot migration may have handed the slot over while this command waited for its shard (EXEC checks
    // its own, once it holds its shards).
    if gated && !exec {
        if let Err(e) = slots::still_served(node, cfg, session, spec.has(catalogue::WRITE)) {
            drop(held);
            return reject(node, session, out, idx, &e);
        }
    }
    run(node, cfg, clock, session, out, &mut held, idx, args);
    if exec {
        show_to_monitors(node, session, spec, args);
    }
}

/// True when every command is timed on its own, so the slow log can record O(1) commands too: when
/// `slowlog-log-slower-than` is under a millisecond. Otherwise O(1) commands share their batch's time (one
/// clock read per batch) and only longer commands are timed, and logged, one by one.
#[inline]
pub fn times_each_command(cfg: &Config) -> bool {
    (0..1000).contains(&cfg.slowlog_log_slower_than)
}

/// Whether `CLIENT PAUSE WRITE` holds a command: writes, commands that reach the replication stream
/// (PUBLISH, PFCOUNT), and an EXEC whose transaction writes.
fn pausable_write(spec: &Spec, session: &Session) -> bool {
    spec.has(catalogue::WRITE)
        || matches!(spec.name, "publish" | "spublish" | "pfcount")
        || (spec.cost == Cost::Transaction
            && session
                .multi
                .as_ref()
                .is_some_and(|q| q.iter().any(|c| COMMANDS[c.idx].has(catalogue::WRITE))))
}

/// Shows a command to clients in MONITOR mode (not administrative commands, not a primary's stream).
pub fn show_to_monitors(node: &Node, session: &Session, spec: &Spec, args: &[&[u8]]) {
    if node.monitors().active() && !session.master_link && !spec.has(catalogue::ADMIN) {
        let now_us = crate::clock::now_us();
        node.monitors()
            .feed(now_us, session.db, &session.info.addr.to_string(), args);
    }
}

fn reject(node: &Node, session: &mut Session, out: &mut Reply, idx: usize, e: &CmdError) {
    // A blocked client whose retried command is now refused (OOM, CLIENT UNBLOCK … ERROR) stops waiting, and
    // its command is answered: it must not be left in the read buffer to run again.
    session.blocking.finish(node.blocking(), session.info.id);
    session.blocking.requested = false;
    session.counters.commands[idx].rejected.add(1);
    session.counters.errors.add(1);
    if session.multi.is_some() {
        session.multi_error = true;
    }
    let message = e.to_string();
    node.metering().count_error(&message);
    out.error(&message);
}

/// Runs a checked command with its shards locked, and counts it.
#[allow(clippy::too_many_arguments)]
pub fn run(
    node: &Arc<Node>,
    cfg: &Config,
    clock: Clock,
    session: &mut Session,
    out: &mut Reply,
    held: &mut Held<'_>,
    idx: usize,
    args: &[&[u8]],
) {
    let spec = &COMMANDS[idx];
    let Some(handler) = table::registered(idx).run else {
        // Containers are routed in `execute`; a queued or replicated call reaches here already routed.
        return;
    };
    let out_start = out.buf.len();
    session.elements = 0;
    session.rewrite = None;
    // O(1) commands are timed per batch by the connection; the others one by one, for SLOWLOG and latency.
    let started =
        (!spec.has(catalogue::FAST) || times_each_command(cfg)).then(std::time::Instant::now);
    session.blocking.requested = false;
    let result = {
        let mut call = Call {
            node,
            cfg,
            clock,
            session: &mut *session,
            out: &mut *out,
            held,
            args,
            first: spec.name_args(),
        };
        handler(&mut call)
    };
    if session.blocking.requested {
        // Blocked: nothing was answered; the command runs again when woken.
        return;
    }
    session.blocking.finish(node.blocking(), session.info.id);
    if result.is_ok() {
        announce(node, session, held, spec, args, clock.now_ms);
    }
    // CLIENT CACHING applies to the next command only (CLIENT itself does not consume it).
    if session.caching.is_some() && !spec.has(catalogue::CONNECTION_CONTROL) {
        session.caching = None;
    }
    if (node.repl().is_recording() || node.cluster().capturing()) && !session.master_link {
        // Deletions the shards made on their own (lazy expiry) come first, then the command's effect.
        held.drain_deleted();
        if result.is_ok() && spec.has(catalogue::WRITE) {
            propagate(node, session, spec, args);
        }
    }
    if let Some(started) = started {
        let nanos = started.elapsed().as_nanos() as u64;
        session.batch_timed_nanos += nanos;
        record_latency(node, cfg, session, idx, nanos, Some(args));
    }
    let counters = &session.counters.commands[idx];
    counters.calls.add(1);
    session.last_command = idx;
    if let Err(e) = result {
        counters.failed.add(1);
        session.counters.errors.add(1);
        let message = e.to_string();
        node.metering().count_error(&message);
        out.error(&message);
    }
    // A replica applying its primary's stream is not charged: the client's request was, on the primary.
    // Nor is a slot migration: the writes it carries were charged on the source.
    if cfg.metering && !session.master_link && session.cluster.import.is_none() {
        let units = charge(session, spec, idx, args, out.buf.len() - out_start);
        if cfg.usage_max_ecpu_per_second > 0 {
            node.metering().spend(units);
        }
    }
}

/// Tells whoever waits on a successful command's keys: blocked clients, keyspace notifications, client-side
/// caching.
fn announce(
    node: &Node,
    session: &mut Session,
    held: &mut Held<'_>,
    spec: &Spec,
    args: &[&[u8]],
    now_ms: u64,
) {
    let write = spec.has(catalogue::WRITE);
    // The keys, found once for whichever of the two readers below needs them.
    let mut keys = None;
    if write && node.blocking().any() {
        for key in keys.get_or_insert_with(|| spec.key_args(args)).iter() {
            node.blocking().signal(session.db, key);
        }
    }
    if write && node.ks().logs_changes() {
        for (db, key) in held.take_created() {
            node.pubsub()
                .notify(crate::notify::NEW, "new", db, &key, now_ms);
        }
        let changes = held.take_changes();
        if !changes.is_empty() {
            let keys = keys.get_or_insert_with(|| spec.key_args(args));
            let id = session.info.id;
            node.pubsub()
                .command_changed(spec.group, keys, args, changes, id, now_ms);
        }
    }
    if let Some(t) = &session.tracking {
        if spec.has(catalogue::READONLY) && tracking::tracks_reads(t, session.caching) {
            node.pubsub()
                .tracking
                .remember(session.info.id, spec.key_args(args));
        }
    }
    if spec.has(catalogue::WHOLE_DB) && node.pubsub().tracking.clients() > 0 {
        node.pubsub().tracking.invalidate_all(now_ms);
    }
}

/// Charges a command's request units to its counters and its client.
fn charge(session: &Session, spec: &Spec, idx: usize, args: &[&[u8]], response: usize) -> u64 {
    let request: usize = args.iter().map(|a| a.len()).sum();
    let units =
        metering::request_units(spec.cost, request as u64, response as u64, session.elements);
    session.counters.commands[idx].units.add(units);
    session.counters.units.add(units);
    if metering::BILLED[idx] {
        session.counters.billed.add(units);
    }
    let ecpu = &session.info.ecpu;
    ecpu.store(
        ecpu.load(std::sync::atomic::Ordering::Relaxed) + units,
        std::sync::atomic::Ordering::Relaxed,
    );
    units
}

/// Appends a write to the replication stream, as rewritten by the command if it asked, and gives it to the
/// slot migrations collecting writes to its slot.
fn propagate(node: &Node, session: &mut Session, spec: &Spec, args: &[&[u8]]) {
    let cluster = node.cluster();
    let slot = if cluster.capturing() {
        if spec.has(catalogue::WHOLE_DB) {
            cluster.keyless_write(spec.name);
        }
        slots::write_slot(spec, args, node.ks())
    } else {
        None
    };
    let emit = |argv: &[&[u8]]| {
        node.repl().propagate(session.db, argv);
        if let Some((slot, keys)) = &slot {
            cluster.capture(*slot, keys, argv);
        }
    };
    match session.rewrite.take() {
        None => emit(args),
        Some(commands) => {
            for c in &commands {
                let argv: Vec<&[u8]> = c.iter().map(Vec::as_slice).collect();
                emit(&argv);
            }
        }
    }
}

/// Records a command's duration: counters, latency histogram, SLOWLOG (when the arguments are known) and the
/// latency monitor.
pub fn record_latency(
    node: &Node,
    cfg: &Config,
    session: &Session,
    idx: usize,
    nanos: u64,
    args: Option<&[&[u8]]>,
) {
    let counters = &session.counters.commands[idx];
    counters.nanos.add(nanos);
    if cfg.latency_tracking {
        counters.latency.record(nanos);
    }
    let micros = nanos / 1000;
    if let Some(args) = args {
        if cfg.slowlog_log_slower_than >= 0 && micros >= cfg.slowlog_log_slower_than as u64 {
            let name = session.info.names.lock().name.clone();
            node.slowlog().lock().push(
                crate::clock::now_ms() / 1000,
                micros,
                args,
                session.info.addr.to_string(),
                name,
                cfg.slowlog_max_len,
            );
        }
    }
    let ms = micros / 1000;
    if cfg.latency_monitor_threshold > 0 && ms >= cfg.latency_monitor_threshold {
        let event = if COMMANDS[idx].has(catalogue::FAST) {
            "fast-command"
        } else {
            "command"
        };
        node.latency()
            .lock()
            .add(event, crate::clock::now_ms() / 1000, ms);
    }
}
