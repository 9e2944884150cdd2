//! The state of one client connection that commands read and change: selected database, authentication,
//! protocol version (kept in the reply writer), an open transaction and watched keys.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::blocking::BlockState;
use crate::clients::ClientInfo;
use crate::keyspace::evict::Evictor;
use crate::keyspace::Keyspace;
use crate::metering::Counters;

/// A command queued inside MULTI.
#[derive(Debug, Clone)]
pub struct Queued {
    /// Index in the command table.
    pub idx: usize,
    /// Owned copy of the arguments.
    pub args: Vec<Vec<u8>>,
}

/// A key watched with WATCH.
#[derive(Debug, Clone)]
pub struct Watched {
    /// Database of the key.
    pub db: usize,
    /// The key.
    pub key: Vec<u8>,
    /// Its modification counter when watched.
    pub version: u64,
    /// Whether it existed (unexpired) when watched: expiring afterwards aborts the transaction.
    pub existed: bool,
}

/// `CLIENT REPLY` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    /// Replies are sent.
    On,
    /// No reply is sent.
    Off,
    /// CLIENT REPLY SKIP just ran: neither it nor the next command is answered.
    SkipArmed,
    /// The next command is not answered.
    SkipNext,
}

/// One client's session.
pub struct Session {
    /// What the registry shows of this client.
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// True after a successful AUTH (or when the default user needs no password).
    pub authenticated: bool,
    /// The ACL user the connection runs as.
    pub user: Arc<crate::security::User>,
    /// ACL version `user` was read at (refreshed when users change).
    pub acl_version: u64,
    /// Failed AUTH attempts on this connection.
    pub auth_failures: u32,
    /// Commands queued since MULTI, when a transaction is open.
    pub multi: Option<Vec<Queued>>,
    /// A command failed to queue: EXEC will answer EXECABORT.
    pub multi_error: bool,
    /// Keys watched by WATCH.
    pub watched: Vec<Watched>,
    /// Close the connection once the pending replies are written (QUIT, protocol errors).
    pub close: bool,
    /// Index of the last command run.
    pub last_command: usize,
    /// This worker thread's counters.
    pub counters: Arc<Counters>,
    /// This connection's eviction pool.
    pub evictor: Evictor,
    /// Elements touched by the running command (for request-unit charging).
    pub elements: u64,
    /// Blocking-command state (BLPOP …).
    pub blocking: BlockState,
    /// Nanoseconds of the commands of the current batch that were timed one by one.
    pub batch_timed_nanos: u64,
    /// True for the session applying a primary's stream on a replica.
    pub master_link: bool,
    /// Microseconds this connection's current batch waited for the request-unit rate limit.
    pub throttle_waited_us: u64,
    /// `CLIENT REPLY`: whether replies are sent.
    pub reply_mode: ReplyMode,
    /// The port a replica announced with REPLCONF listening-port.
    pub replica_port: u16,
    /// What to write to the replication stream instead of the command as received (relative TTLs made
    /// absolute, floats resolved); an empty list propagates nothing.
    pub rewrite: Option<Vec<Vec<Vec<u8>>>>,
    /// Work the connection must finish asynchronously before replying (WAIT, FAILOVER, PSYNC).
    pub deferred: Option<Deferred>,
    /// Where published messages and invalidations for this connection arrive (created on first use).
    pub mailbox: Option<crate::pubsub::Mailbox>,
    /// Channels and patterns subscribed to.
    pub subs: crate::pubsub::Subscriptions,
    /// CLIENT TRACKING options, while tracking is on.
    pub tracking: Option<crate::pubsub::tracking::Options>,
    /// CLIENT CACHING yes|no, for the next command only.
    pub caching: Option<bool>,
    /// Cluster mode: READONLY, ASKING, and the slot import this connection carries.
    pub cluster: ClusterConn,
}

/// A connection's cluster-mode state.
#[derive(Default)]
pub struct ClusterConn {
    /// READONLY: a replica serves this connection reads of its shard's slots.
    pub readonly: bool,
    /// ASKING: the next command may touch a slot being imported.
    pub asking: bool,
    /// This connection is a source's link carrying a slot migration to this node: its commands write the
    /// importing slots and are not redirected.
    pub import: Option<Arc<crate::cluster::Migration>>,
    /// The hash slot the running command was admitted for, and the topology epoch it was admitted under.
    pub admitted: Option<(u16, u64)>,
}

/// A command whose reply needs waiting.
#[derive(Debug, Clone)]
pub enum Deferred {
    /// WAIT: until `wanted` replicas acknowledged `offset`, or the timeout.
    Wait {
        /// Stream offset to be acknowledged.
        offset: u64,
        /// Replicas wanted.
        wanted: usize,
        /// Timeout in ms (0 = forever).
        timeout_ms: u64,
    },
    /// MONITOR: the connection streams every command the node runs.
    Monitor,
    /// PSYNC: the connection becomes a replica link.
    Psync(crate::replication::PsyncRequest),
    /// FAILOVER: a coordinated switchover.
    Failover {
        /// Replica to promote (default: the most up-to-date).
        target: Option<(String, u16)>,
        /// Timeout in ms (0 = default).
        timeout_ms: u64,
        /// Promote even if the target did not catch up.
        force: bool,
    },
}

impl Session {
    /// Adds a command to the open transaction (MULTI … EXEC).
    pub fn queue(&mut self, idx: usize, args: &[&[u8]]) {
        if let Some(q) = &mut self.multi {
            q.push(Queued {
                idx,
                args: args.iter().map(|a| a.to_vec()).collect(),
            });
            self.info.multi_len.store(q.len(), Ordering::Relaxed);
        }
    }

    /// Forgets watched keys, taking each key's shard lock in turn (the caller holds no lock).
    pub fn unwatch_all(&mut self, ks: &Keyspace) {
        for w in self.watched.drain(..) {
            let mut held = ks.lock_key(w.db, &w.key);
            held.shard(w.db, &w.key).0.unwatch(&w.key);
        }
    }

    /// Leaves any open transaction and forgets watched keys (DISCARD, RESET, a closing connection).
    pub fn discard_transaction(&mut self, ks: &Keyspace) {
        self.multi = None;
        self.multi_error = false;
        self.info.in_multi.store(false, Ordering::Relaxed);
        self.unwatch_all(ks);
    }

    /// A new session for a registered client.
    pub fn new(
        info: Arc<ClientInfo>,
        counters: Arc<Counters>,
        user: Arc<crate::security::User>,
    ) -> Session {
        Session {
            info,
            db: 0,
            authenticated: user.check_password(b""),
            user,
            acl_version: 0,
            auth_failures: 0,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            close: false,
            last_command: usize::MAX,
            counters,
            evictor: Evictor::default(),
            elements: 0,
            blocking: BlockState::default(),
            batch_timed_nanos: 0,
            master_link: false,
            throttle_waited_us: 0,
            reply_mode: ReplyMode::On,
            replica_port: 0,
            rewrite: None,
            deferred: None,
            mailbox: None,
            subs: Default::default(),
            tracking: None,
            caching: None,
            cluster: ClusterConn::default(),
        }
    }
}
