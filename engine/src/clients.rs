//! The registry of connected clients, behind `CLIENT LIST`, `CLIENT KILL`, `INFO clients` and the idle timeout.
//!
//! Each connection publishes a [`ClientInfo`] whose fields the connection updates cheaply (relaxed atomics, a
//! small mutex for the names). Killing a client shuts its socket down: the connection's pending read then ends
//! and the connection task cleans up by itself, so no cross-thread wake-up machinery sits on the hot path.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

/// Names a client gave itself.
#[derive(Debug, Default, Clone)]
pub struct ClientNames {
    /// `CLIENT SETNAME`.
    pub name: String,
    /// `CLIENT SETINFO LIB-NAME`.
    pub lib_name: String,
    /// `CLIENT SETINFO LIB-VER`.
    pub lib_ver: String,
    /// The ACL user the connection is authenticated as (empty: `default`).
    pub user: String,
}

/// What the rest of the node can see of one connection.
#[derive(Debug)]
pub struct ClientInfo {
    /// Unique, increasing client id.
    pub id: u64,
    /// Peer address.
    pub addr: SocketAddr,
    /// Local address.
    pub laddr: SocketAddr,
    fd: RawFd,
    /// When the connection was accepted.
    pub created: Instant,
    /// Unix ms of the last command.
    pub last_interaction_ms: AtomicU64,
    /// Selected database.
    pub db: AtomicUsize,
    /// Protocol version (2 or 3).
    pub resp: AtomicUsize,
    /// Index in the command table of the last command.
    pub last_command: AtomicUsize,
    /// True while a MULTI is open.
    pub in_multi: AtomicBool,
    /// Commands queued in the open MULTI.
    pub multi_len: AtomicUsize,
    /// CLIENT NO-EVICT.
    pub no_evict: AtomicBool,
    /// Names set by the client.
    pub names: Mutex<ClientNames>,
    /// Request units (ECPU) this connection was charged.
    pub ecpu: AtomicU64,
    /// Bytes of the connection's buffers.
    pub buffer_bytes: AtomicU64,
    /// Subscriptions: channels, patterns, shard channels.
    pub subscriptions: [AtomicUsize; 3],
    killed: AtomicBool,
}

impl ClientInfo {
    /// Describes a new connection.
    pub fn new(id: u64, addr: SocketAddr, laddr: SocketAddr, fd: RawFd, now_ms: u64) -> ClientInfo {
        ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_interaction_ms: AtomicU64::new(now_ms),
            db: AtomicUsize::new(0),
            resp: AtomicUsize::new(2),
            last_command: AtomicUsize::new(usize::MAX),
            in_multi: AtomicBool::new(false),
            multi_len: AtomicUsize::new(0),
            no_evict: AtomicBool::new(false),
            names: Mutex::new(ClientNames::default()),
            ecpu: AtomicU64::new(0),
            buffer_bytes: AtomicU64::new(0),
            subscriptions: Default::default(),
            killed: AtomicBool::new(false),
        }
    }

    /// True when the connection speaks RESP3.
    pub fn is_resp3(&self) -> bool {
        self.resp.load(Ordering::Relaxed) == 3
    }

    /// True once the client was killed.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// True while the client is subscribed to any channel, pattern or shard channel.
    pub fn is_subscriber(&self) -> bool {
        self.subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
    }

    /// The `flags=` field of CLIENT LIST: x in MULTI, e no-evict, P subscriber, N none.
    fn flags(&self, in_multi: bool) -> String {
        let mut f = String::new();
        if in_multi {
            f.push('x');
        }
        if self.no_evict.load(Ordering::Relaxed) {
            f.push('e');
        }
        if self
            .subscriptions
            .iter()
            .any(|n| n.load(Ordering::Relaxed) > 0)
        {
            f.push('P');
        }
        if f.is_empty() {
            f.push('N');
        }
        f
    }

    /// The `CLIENT LIST`/`CLIENT INFO` line for this client.
    pub fn describe(&self, now_ms: u64, command_name: &str, qbuf: usize) -> String {
        let names = self.names.lock().clone();
        let in_multi = self.in_multi.load(Ordering::Relaxed);
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} \
             qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem={} events=r \
             cmd={} user={} redir=-1 resp={} lib-name={} lib-ver={} ecpu={}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            names.name,
            self.created.elapsed().as_secs(),
            now_ms.saturating_sub(self.last_interaction_ms.load(Ordering::Relaxed)) / 1000,
            self.flags(in_multi),
            self.db.load(Ordering::Relaxed),
            self.subscriptions[0].load(Ordering::Relaxed),
            self.subscriptions[1].load(Ordering::Relaxed),
            self.subscriptions[2].load(Ordering::Relaxed),
            if in_multi {
                self.multi_len.load(Ordering::Relaxed) as i64
            } else {
                -1
            },
            qbuf,
            self.buffer_bytes.load(Ordering::Relaxed),
            command_name,
            if names.user.is_empty() {
                "default"
            } else {
                &names.user
            },
            self.resp.load(Ordering::Relaxed),
            names.lib_name,
            names.lib_ver,
            self.ecpu.load(Ordering::Relaxed),
        )
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct Clients {
    map: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
    next_id: AtomicU64,
    /// Connections accepted since start.
    pub received: AtomicU64,
    /// Connections refused (maxclients).
    pub rejected: AtomicU64,
}

impl Clients {
    /// The next client id.
    pub fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Adds a client.
    pub fn register(&self, info: Arc<ClientInfo>) {
        self.map.lock().insert(info.id, info);
    }

    /// Removes a client (before its socket is closed, so `kill` never touches a reused descriptor).
    pub fn unregister(&self, id: u64) {
        self.map.lock().remove(&id);
    }

    /// True while the client with this id is connected.
    pub fn exists(&self, id: u64) -> bool {
        self.map.lock().contains_key(&id)
    }

    /// How many clients are connected.
    pub fn count(&self) -> usize {
        self.map.lock().len()
    }

    /// A snapshot of every client, in id order.
    pub fn all(&self) -> Vec<Arc<ClientInfo>> {
        self.map.lock().values().cloned().collect()
    }

    /// Kills the clients matching `pred`; returns how many.
    pub fn kill_where(&self, pred: impl Fn(&ClientInfo) -> bool) -> usize {
        let map = self.map.lock();
        let mut n = 0;
        for c in map.values().filter(|c| pred(c)) {
            c.killed.store(true, Ordering::Relaxed);
            // SAFETY: the descriptor stays open while the client is registered, and we hold the registry lock,
            // which the connection takes to unregister before closing its socket.
            let fd = unsafe { BorrowedFd::borrow_raw(c.fd) };
            let _ = socket2::SockRef::from(&fd).shutdown(std::net::Shutdown::Both);
            n += 1;
        }
        n
    }
}
