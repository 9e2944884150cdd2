//! The state of one client connection that commands read and change: selected database, authentication,
//! protocol version (kept in the reply writer), an open transaction and watched keys.

use std::sync::Arc;

use crate::blocking::BlockState;
use crate::clients::ClientInfo;
use crate::keyspace::evict::Evictor;
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

/// One client's session.
pub struct Session {
    /// What the registry shows of this client.
    pub info: Arc<ClientInfo>,
    /// Selected database.
    pub db: usize,
    /// True after a successful AUTH (or when no password is required).
    pub authenticated: bool,
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
}

impl Session {
    /// A new session for a registered client.
    pub fn new(info: Arc<ClientInfo>, counters: Arc<Counters>, authenticated: bool) -> Session {
        Session {
            info,
            db: 0,
            authenticated,
            multi: None,
            multi_error: false,
            watched: Vec::new(),
            close: false,
            last_command: usize::MAX,
            counters,
            evictor: Evictor::default(),
            elements: 0,
            blocking: BlockState::default(),
        }
    }
}
