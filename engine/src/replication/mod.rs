//! Replication: a primary streams its writes to replicas; replicas apply them and acknowledge offsets.
//!
//! A node is a primary, a replica, or a standby. A standby (the default for cluster nodes) serves no writes
//! and does not claim to be a primary until told `REPLICAOF host port` or promoted with `REPLICAOF NO ONE`, so
//! a node that restarts empty can never overwrite its replicas by accident. A replica connects with
//! `PSYNC <replid> <offset>` and gets either a partial resync from the backlog or a full snapshot followed by
//! the live stream. A promoted replica keeps its former primary's id as `replid2`, so the other replicas
//! re-pointed at it continue with a partial resync.

pub mod stream;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{watch, Notify};

use crate::keyspace::WriteSink;
use stream::Stream;

/// What a node does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    /// Accepts writes and streams them to replicas.
    Primary = 0,
    /// Follows a primary; read-only.
    Replica = 1,
    /// Read-only and follows nobody until told to.
    Standby = 2,
}

/// State of a replica's link to its primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected.
    Connecting,
    /// Receiving a full snapshot.
    Sync,
    /// Streaming.
    Connected,
}

/// Identity and link details, changed only on role transitions.
#[derive(Debug, Clone)]
pub struct Ids {
    /// The current replication id.
    pub replid: String,
    /// The previous primary's id, accepted for partial resync up to `second_offset`.
    pub replid2: String,
    /// Last offset of the history named by `replid2`.
    pub second_offset: Option<u64>,
    /// The primary followed (replica role).
    pub master: Option<(String, u16)>,
    /// Link state (replica role).
    pub link: LinkState,
    /// Unix ms of the last byte received from the primary.
    pub last_io_ms: u64,
    /// Full syncs this node performed as a replica.
    pub full_syncs_done: u64,
    /// Partial resyncs this node performed as a replica.
    pub partial_syncs_done: u64,
    /// Why the link is down, if it is.
    pub link_error: Option<String>,
    /// True until this node held or received any data: a fresh empty primary must not full-sync replicas that
    /// hold data.
    pub fresh: bool,
}

/// A replica connected to this primary.
#[derive(Debug)]
pub struct ReplicaLink {
    /// Unique id (also its pin in the backlog).
    pub id: u64,
    /// Peer IP.
    pub ip: String,
    /// The port it listens on (REPLCONF listening-port).
    pub port: u16,
    /// Offset it acknowledged.
    pub ack: AtomicU64,
    /// True once its full sync was sent.
    pub online: AtomicBool,
    /// Unix ms of its last acknowledgement.
    pub last_ack_ms: AtomicU64,
}

/// Counters of the primary side.
#[derive(Debug, Default)]
pub struct SyncStats {
    /// Full resyncs served.
    pub full: AtomicU64,
    /// Partial resyncs accepted.
    pub partial_ok: AtomicU64,
    /// Partial resyncs refused (then served as full).
    pub partial_err: AtomicU64,
}

/// What a replica asked for with PSYNC.
#[derive(Debug, Clone)]
pub struct PsyncRequest {
    /// Replication id it last followed (`?` for none).
    pub replid: String,
    /// The next offset it needs.
    pub offset: Option<u64>,
    /// The port it listens on.
    pub listening_port: u16,
}

/// Decides between a partial resync (Some(offset)) and a full one.
pub fn partial_offset(repl: &Replication, req: &PsyncRequest) -> Option<u64> {
    let offset = req.offset?;
    let ids = repl.ids.lock();
    let stream = repl.stream.lock();
    let same_history = req.replid == ids.replid
        || (req.replid == ids.replid2 && ids.second_offset.is_some_and(|s| offset <= s));
    (same_history && stream.is_active() && stream.holds(offset)).then_some(offset)
}

/// The replication state of a node.
pub struct Replication {
    role: AtomicU8,
    /// Identity and link details.
    pub ids: Mutex<Ids>,
    /// The write stream.
    pub stream: Mutex<Stream>,
    active: AtomicBool,
    /// Woken when the stream grows.
    pub fed: Notify,
    /// The stream grew since replicas were last woken.
    grown: AtomicBool,
    /// Bumped when a replica acknowledges.
    pub acks: watch::Sender<u64>,
    /// Connected replicas.
    pub replicas: Mutex<Vec<Arc<ReplicaLink>>>,
    /// Incremented to stop the current link to a primary.
    pub link_generation: AtomicU64,
    /// The generation of the link to a primary that should run; the server starts it.
    links: watch::Sender<u64>,
    /// Writes are refused while a FAILOVER hands over.
    pub writes_paused: AtomicBool,
    /// Primary-side counters.
    pub stats: SyncStats,
    next_replica_id: AtomicU64,
}

/// A new random id of 40 hex characters, as Redis makes them: replication ids, run ids, cluster node ids and
/// slot migration ids.
pub fn new_id() -> String {
    (0..40)
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect()
}

impl Replication {
    /// State for a node starting in `role` with a backlog of `backlog_size` bytes.
    pub fn new(role: Role, backlog_size: usize) -> Replication {
        Replication {
            role: AtomicU8::new(role as u8),
            ids: Mutex::new(Ids {
                replid: new_id(),
                replid2: "0".repeat(40),
                second_offset: None,
                master: None,
                link: LinkState::Connecting,
                last_io_ms: 0,
                full_syncs_done: 0,
                partial_syncs_done: 0,
                link_error: None,
                fresh: true,
            }),
            stream: Mutex::new(Stream::new(0, backlog_size)),
            active: AtomicBool::new(false),
            fed: Notify::new(),
            grown: AtomicBool::new(false),
            acks: watch::channel(0).0,
            replicas: Mutex::new(Vec::new()),
            link_generation: AtomicU64::new(0),
            links: watch::channel(0).0,
            writes_paused: AtomicBool::new(false),
            stats: SyncStats::default(),
            next_replica_id: AtomicU64::new(1),
        }
    }

    /// The node's role.
    #[inline]
    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            0 => Role::Primary,
            1 => Role::Replica,
            _ => Role::Standby,
        }
    }

    /// Changes the role.
    pub fn set_role(&self, role: Role) {
        self.role.store(role as u8, Ordering::Relaxed);
    }

    /// True when this node must refuse client writes.
    #[inline]
    pub fn refuses_writes(&self) -> bool {
        self.role.load(Ordering::Relaxed) != Role::Primary as u8
            || self.writes_paused.load(Ordering::Relaxed)
    }

    /// True when a primary records its writes (a backlog exists).
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Starts recording writes.
    pub fn activate(&self) {
        self.stream.lock().activate();
        self.active.store(true, Ordering::Relaxed);
    }

    /// Appends a command to the stream (call with the command's shards still locked).
    pub fn propagate(&self, db: usize, args: &[&[u8]]) {
        if !self.is_recording() || self.role() != Role::Primary {
            return;
        }
        self.stream.lock().append_command(db, args);
        self.grown.store(true, Ordering::Relaxed);
    }

    /// Wakes the replica feeders if the stream grew. Connections call this once per batch of commands, so a
    /// pipelined batch costs one wake-up, not one per write.
    #[inline]
    pub fn wake_feeders(&self) {
        if self.grown.load(Ordering::Relaxed) && self.grown.swap(false, Ordering::Relaxed) {
            self.fed.notify_waiters();
        }
    }

    /// Appends a database-independent command (PING heartbeats, REPLCONF GETACK).
    pub fn propagate_global(&self, args: &[&[u8]]) {
        if !self.is_recording() || self.role() != Role::Primary {
            return;
        }
        self.stream.lock().append_global(args);
        self.fed.notify_waiters();
    }

    /// The current stream offset.
    pub fn offset(&self) -> u64 {
        self.stream.lock().end()
    }

    /// Registers a connected replica.
    pub fn add_replica(&self, ip: String, port: u16, offset: u64) -> Arc<ReplicaLink> {
        let link = Arc::new(ReplicaLink {
            id: self.next_replica_id.fetch_add(1, Ordering::Relaxed),
            ip,
            port,
            ack: AtomicU64::new(offset),
            online: AtomicBool::new(false),
            last_ack_ms: AtomicU64::new(crate::clock::now_ms()),
        });
        self.replicas.lock().push(link.clone());
        link
    }

    /// Removes a replica.
    pub fn remove_replica(&self, id: u64) {
        self.replicas.lock().retain(|r| r.id != id);
        self.stream.lock().unpin(id);
        self.acks.send_modify(|n| *n += 1);
    }

    /// Replicas that acknowledged at least `offset`.
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.ack.load(Ordering::Relaxed) >= offset)
            .count()
    }

    /// Promotes this node to primary (REPLICAOF NO ONE): the history so far stays valid for partial resyncs
    /// under the old id.
    pub fn promote(&self) {
        let mut ids = self.ids.lock();
        let offset = self.stream.lock().end();
        if self.role() == Role::Replica {
            ids.replid2 = std::mem::replace(&mut ids.replid, new_id());
            ids.second_offset = Some(offset);
        }
        ids.master = None;
        ids.link_error = None;
        self.link_generation.fetch_add(1, Ordering::Relaxed);
        self.set_role(Role::Primary);
        drop(ids);
        self.activate();
    }

    /// Starts following a primary: returns the generation the new link must carry. The server's link supervisor
    /// sees the request and connects.
    pub fn follow(&self, host: String, port: u16) -> u64 {
        let mut ids = self.ids.lock();
        ids.master = Some((host, port));
        ids.link = LinkState::Connecting;
        ids.link_error = None;
        self.set_role(Role::Replica);
        // A replica records what it receives, so that it can serve partial resyncs once promoted.
        self.stream.lock().activate();
        self.active.store(true, Ordering::Relaxed);
        let generation = self.link_generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.links.send_replace(generation);
        generation
    }

    /// Changes whenever a new link to a primary is wanted (REPLICAOF, or `replicaof` at start).
    pub fn link_requests(&self) -> watch::Receiver<u64> {
        self.links.subscribe()
    }

    /// Next replica id.
    pub fn next_id(&self) -> u64 {
        self.next_replica_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The `# Replication` INFO section.
    pub fn info(&self, now_ms: u64) -> String {
        let ids = self.ids.lock().clone();
        let (end, first, held, size) = {
            let s = self.stream.lock();
            (s.end(), s.first(), s.held(), s.size())
        };
        let mut t = String::from("# Replication\r\n");
        match self.role() {
            Role::Primary => {
                let replicas = self.replicas.lock();
                let _ = write!(t, "role:master\r\nconnected_slaves:{}\r\n", replicas.len());
                for (i, r) in replicas.iter().enumerate() {
                    let _ = write!(
                        t,
                        "slave{i}:ip={},port={},state={},offset={},lag={}\r\n",
                        r.ip,
                        r.port,
                        if r.online.load(Ordering::Relaxed) {
                            "online"
                        } else {
                            "wait_bgsave"
                        },
                        r.ack.load(Ordering::Relaxed),
                        now_ms.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000
                    );
                }
                let _ = write!(t, "ferrocache_role:primary\r\n");
            }
            role => {
                let (host, port) = ids.master.clone().unwrap_or_default();
                let up = ids.link == LinkState::Connected;
                let _ = write!(
                    t,
                    "role:slave\r\nmaster_host:{host}\r\nmaster_port:{port}\r\nmaster_link_status:{}\r\n\
                     master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\nslave_read_repl_offset:{end}\r\n\
                     slave_repl_offset:{end}\r\nslave_priority:100\r\nslave_read_only:1\r\nreplica_announced:1\r\n\
                     connected_slaves:0\r\nmaster_sync_full_count:{}\r\nmaster_sync_partial_count:{}\r\n\
                     master_link_error:{}\r\nferrocache_role:{}\r\n",
                    if up { "up" } else { "down" },
                    if up { now_ms.saturating_sub(ids.last_io_ms) as i64 / 1000 } else { -1 },
                    (ids.link == LinkState::Sync) as u8,
                    ids.full_syncs_done,
                    ids.partial_syncs_done,
                    ids.link_error.clone().unwrap_or_default(),
                    if role == Role::Standby { "standby" } else { "replica" },
                );
            }
        }
        let _ = write!(
            t,
            "master_failover_state:{}\r\nmaster_replid:{}\r\nmaster_replid2:{}\r\nmaster_repl_offset:{end}\r\n\
             second_repl_offset:{}\r\nrepl_backlog_active:{}\r\nrepl_backlog_size:{size}\r\n\
             repl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{held}\r\n",
            if self.writes_paused.load(Ordering::Relaxed) { "failover-in-progress" } else { "no-failover" },
            ids.replid,
            ids.replid2,
            ids.second_offset.map_or(-1, |o| o as i64),
            self.is_recording() as u8,
        );
        t
    }
}

/// Deletions the keyspace makes by itself become DELs in the stream.
impl WriteSink for Replication {
    fn deleted(&self, db: usize, key: &[u8], _position: u32, _why: crate::keyspace::Removal) {
        self.propagate(db, &[b"DEL", key]);
    }
}

/// `REPLCONF USAGE <run_id> <billed> <at_ms> <marks>`: a primary's billed count in its stream, with its last
/// two hour marks (`hour:count;hour:count`).
pub fn usage_command(run: &crate::metering::ledger::RunUsage) -> Vec<Vec<u8>> {
    let marks: Vec<String> = run
        .marks
        .iter()
        .rev()
        .take(2)
        .rev()
        .map(|(h, v)| format!("{h}:{v}"))
        .collect();
    vec![
        b"REPLCONF".to_vec(),
        b"USAGE".to_vec(),
        run.run_id.as_bytes().to_vec(),
        run.billed.to_string().into_bytes(),
        run.at_ms.to_string().into_bytes(),
        marks.join(";").into_bytes(),
    ]
}

/// Reads a `REPLCONF USAGE` command's arguments (after `USAGE`).
pub fn parse_usage(args: &[&[u8]]) -> Option<crate::metering::ledger::RunUsage> {
    let text = |a: &[u8]| std::str::from_utf8(a).ok().map(str::to_string);
    let [run_id, billed, at_ms, marks] = args else {
        return None;
    };
    let marks = text(marks)?
        .split(';')
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (h, v) = m.split_once(':')?;
            Some((h.parse().ok()?, v.parse().ok()?))
        })
        .collect::<Option<Vec<(u64, u64)>>>()?;
    Some(crate::metering::ledger::RunUsage {
        run_id: text(run_id)?,
        billed: text(billed)?.parse().ok()?,
        at_ms: text(at_ms)?.parse().ok()?,
        marks,
    })
}

/// Encodes a command as a RESP array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut num = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(num.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(num.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}
