//! Command execution: look a command up in the table, check it (arity, authentication, transaction state,
//! memory), lock the shards of its keys, run it, count it.
//!
//! Each command family lives in its own file (`string.rs`, `keys.rs`, `server.rs`, …) as plain functions of a
//! [`Call`]; the table in `table.rs` is data — name, arity, flags, key positions — and drives dispatch, locking
//! and `COMMAND` output alike.

pub mod args;
pub mod connection;
pub mod keys;
pub mod memcache;
pub mod memcache_info;
pub mod memcache_meta;
pub mod server;
pub mod session;
pub mod string;
pub mod table;
pub mod transaction;

use crate::config::Config;
use crate::keyspace::evict::{EvictError, Evictor};
use crate::keyspace::{Clock, Held, Keyspace, LockSet, Shard};
use crate::metering;
use crate::node::Node;
use crate::protocol::reply::Reply;

pub use session::Session;
use table::{Keys, Spec, COMMANDS};

/// An error reply. The message text is exactly what Redis sends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdError {
    /// The key holds another type.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// An argument (or stored value) is not a 64-bit integer.
    #[error("ERR value is not an integer or out of range")]
    NotInteger,
    /// An argument (or stored value) is not a float.
    #[error("ERR value is not a valid float")]
    NotFloat,
    /// Unknown option or bad option combination.
    #[error("ERR syntax error")]
    Syntax,
    /// INCR and friends would overflow.
    #[error("ERR increment or decrement would overflow")]
    Overflow,
    /// The key does not exist (RENAME, …).
    #[error("ERR no such key")]
    NoSuchKey,
    /// Any other error; the text includes its code (`ERR …`, `NOAUTH …`).
    #[error("{0}")]
    Msg(String),
}

impl CmdError {
    /// An `ERR`-prefixed error.
    pub fn err(msg: impl std::fmt::Display) -> CmdError {
        CmdError::Msg(format!("ERR {msg}"))
    }
}

/// What a command handler returns.
pub type CmdResult = Result<(), CmdError>;

/// Everything a command handler may use.
pub struct Call<'a, 'k> {
    /// The node.
    pub node: &'a Node,
    /// The configuration snapshot of this batch.
    pub cfg: &'a Config,
    /// Time and access-clock settings of this batch.
    pub clock: Clock,
    /// The client's session.
    pub session: &'a mut Session,
    /// The reply buffer.
    pub out: &'a mut Reply,
    /// The shards this command locked.
    pub held: &'a mut Held<'k>,
    /// The arguments, the command name first.
    pub args: &'a [&'a [u8]],
}

impl Call<'_, '_> {
    /// The locked shard of `key` in the selected database, and the key's hash.
    #[inline]
    pub fn shard(&mut self, key: &[u8]) -> (&mut Shard, u64) {
        self.held.shard(self.session.db, key)
    }

    /// Records that the command touched `n` elements (charged by commands of the `Elements` cost class).
    #[inline]
    pub fn touched(&mut self, n: usize) {
        self.session.elements += n as u64;
    }

    /// Counts a keyspace read hit or miss.
    #[inline]
    pub fn count_lookup(&self, hit: bool) {
        let c = &self.session.counters;
        if hit {
            c.hits.add(1);
        } else {
            c.misses.add(1);
        }
    }
}

/// Adds the shards a command needs to `set`.
pub fn lock_set(spec: &Spec, args: &[&[u8]], db: usize, ks: &Keyspace, set: &mut LockSet) {
    match spec.keys {
        Keys::None => {}
        Keys::Range { first, last, step } => {
            let last = if last < 0 {
                args.len() as isize + last
            } else {
                last
            };
            let mut i = first;
            while (i as isize) <= last && i < args.len() {
                set.push(ks.shard_id(db, args[i]));
                i += step;
            }
        }
        Keys::AllShards => ks.all_shards(db, set),
        Keys::AllDbs => (0..ks.databases()).for_each(|d| ks.all_shards(d, set)),
        Keys::Custom(f) => f(args, db, ks, set),
    }
}

/// Why a command was refused before running.
fn precheck(spec: &Spec, args: &[&[u8]], session: &Session, cfg: &Config) -> Result<(), CmdError> {
    if !spec.arity_ok(args.len()) {
        return Err(CmdError::err(format_args!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    if !session.authenticated && cfg.requirepass.is_some() && !spec.has(table::NO_AUTH) {
        return Err(CmdError::Msg("NOAUTH Authentication required.".into()));
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
    if cfg.maxmemory == 0 || node.ks.used_memory() <= cfg.maxmemory as usize {
        return Ok(());
    }
    match evictor.make_room(
        &node.ks,
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

/// Executes one command and writes its reply.
pub fn execute(
    node: &Node,
    cfg: &Config,
    clock: Clock,
    session: &mut Session,
    out: &mut Reply,
    args: &[&[u8]],
) {
    let Some(idx) = table::lookup(args[0]) else {
        session.counters.errors.add(1);
        if session.multi.is_some() {
            session.multi_error = true;
        }
        out.error(&unknown_command(args).to_string());
        return;
    };
    let spec = &COMMANDS[idx];
    if let Err(e) = precheck(spec, args, session, cfg) {
        reject(session, out, idx, &e);
        return;
    }
    if session.multi.is_some() && !spec.has(table::TX_CONTROL) {
        if spec.has(table::DENY_OOM) {
            if let Err(e) = ensure_memory(node, cfg, &clock, &mut session.evictor) {
                reject(session, out, idx, &e);
                return;
            }
        }
        transaction::queue(session, idx, args);
        out.simple("QUEUED");
        return;
    }
    if spec.has(table::DENY_OOM) {
        if let Err(e) = ensure_memory(node, cfg, &clock, &mut session.evictor) {
            reject(session, out, idx, &e);
            return;
        }
    }
    let mut set = LockSet::new();
    lock_set(spec, args, session.db, &node.ks, &mut set);
    let mut held = node.ks.lock(&mut set);
    run(node, cfg, clock, session, out, &mut held, idx, args);
}

fn reject(session: &mut Session, out: &mut Reply, idx: usize, e: &CmdError) {
    session.counters.commands[idx].rejected.add(1);
    session.counters.errors.add(1);
    if session.multi.is_some() {
        session.multi_error = true;
    }
    out.error(&e.to_string());
}

/// Runs a checked command with its shards locked, and counts it.
#[allow(clippy::too_many_arguments)]
pub fn run(
    node: &Node,
    cfg: &Config,
    clock: Clock,
    session: &mut Session,
    out: &mut Reply,
    held: &mut Held<'_>,
    idx: usize,
    args: &[&[u8]],
) {
    let spec = &COMMANDS[idx];
    let out_start = out.buf.len();
    session.elements = 0;
    let result = {
        let mut call = Call {
            node,
            cfg,
            clock,
            session: &mut *session,
            out: &mut *out,
            held,
            args,
        };
        (spec.run)(&mut call)
    };
    let counters = &session.counters.commands[idx];
    counters.calls.add(1);
    session.last_command = idx;
    if let Err(e) = result {
        counters.failed.add(1);
        session.counters.errors.add(1);
        out.error(&e.to_string());
    }
    if cfg.metering {
        let request: usize = args.iter().map(|a| a.len()).sum();
        let response = out.buf.len() - out_start;
        let units =
            metering::request_units(spec.cost, request as u64, response as u64, session.elements);
        counters.units.add(units);
        session.counters.units.add(units);
    }
}
