//! One client connection: read whatever arrived, execute every complete request in it, answer the whole batch
//! with one write.
//!
//! Pipelining is the main lever on throughput: a client that sends 16 commands in one packet gets 16 replies in
//! one packet, for one `read` and one `write` system call. Requests are parsed in place (arguments are slices of
//! the read buffer), so a command's arguments are never copied unless it is queued in MULTI.

use std::ops::Range;
use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use smallvec::SmallVec;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::read_buffer::ReadBuffer;
use super::replica_feed as primary;
use crate::catalogue::{self, COMMANDS};
use crate::clients::ClientInfo;
use crate::clock::now_ms;
use crate::command::session::Deferred;
use crate::command::{self, Session};
use crate::metering::Counters;
use crate::node::Node;
use crate::protocol::reply::Reply;
use crate::protocol::resp::{self, Parsed};
use crate::replication::PsyncRequest;

/// The reply to a client from another host while protected mode is on and the default user has no password.
const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Running in protected mode: protected mode is enabled and no \
password is set for the default user, so connections are only accepted from the loopback interface. To accept \
other clients, do one of: 1) set a password for the default user (requirepass, or ACL SETUSER default), \
2) CONFIG SET protected-mode no from the loopback interface, if the network is otherwise protected, \
3) start the engine with --set protected-mode=no.\r\n";

/// Buffers and scratch space of one connection.
pub(super) struct Conn {
    input: ReadBuffer,
    out: Reply,
    ranges: Vec<Range<usize>>,
    inline: Vec<Vec<u8>>,
    batch: Vec<u16>,
}

impl Conn {
    pub(super) fn new() -> Conn {
        Conn {
            input: ReadBuffer::new(),
            out: Reply::default(),
            ranges: Vec::new(),
            inline: Vec::new(),
            batch: Vec::new(),
        }
    }

    /// The read buffer.
    #[inline]
    pub(super) fn input(&mut self) -> &mut ReadBuffer {
        &mut self.input
    }

    /// Executes every complete request buffered; replies accumulate in [`Conn::reply`].
    pub(super) fn absorb(&mut self, node: &Arc<Node>, session: &mut Session) {
        session.throttle_waited_us = 0;
        let (consumed, hint) = process(node, session, self);
        self.input.consume(consumed, hint);
        self.input.release_if_empty();
        if self.ranges.capacity() > 4096 {
            self.ranges = Vec::new();
        }
        node.pubsub().tracking.flush();
        let bytes = self.input.capacity() + self.out.buf.capacity();
        session
            .info
            .buffer_bytes
            .store(bytes as u64, Ordering::Relaxed);
    }

    /// True when the unexecuted input passed `client-query-buffer-limit` (the client is then disconnected).
    pub(super) fn over_query_limit(&self, node: &Node, session: &Session) -> bool {
        let limit = node.config().client_query_buffer_limit as usize;
        let over = self.input.len() > limit;
        if over {
            tracing::warn!(
                client = session.info.id,
                "closing client that reached max query buffer length"
            );
        }
        over
    }

    /// The replies waiting to be written.
    pub(super) fn reply(&self) -> &[u8] {
        &self.out.buf
    }

    /// Forgets the replies once written.
    pub(super) fn written(&mut self, session: &Session) {
        super::forget_written(&mut self.out.buf, session);
    }
}

/// True when a session waits for something other than its socket (a blocking command, pub/sub or tracking
/// messages, MONITOR, WAIT, FAILOVER, a replica link): such connections are served by the tokio workers.
pub(super) fn needs_tokio(session: &Session) -> bool {
    session.deferred.is_some() || session.blocking.requested || session.mailbox.is_some()
}

/// A connection handed from an io_uring worker to a tokio worker, with its session and pending replies.
pub struct Resumed {
    pub(super) stream: std::net::TcpStream,
    pub(super) session: Session,
    pub(super) conn: Conn,
}

/// How a connection's command loop ended.
enum Outcome {
    /// The client left, was killed, or must be disconnected.
    Closed,
    /// The client sent PSYNC: the connection now carries the replication stream.
    Replica(PsyncRequest),
}

/// Serves a client until it disconnects, is killed, or sends a protocol error.
/// A client byte stream: plain TCP or TLS over TCP.
pub trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ClientStream for T {}

/// Where a connection comes from: its addresses and the descriptor of its TCP socket (CLIENT KILL shuts it).
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    /// Remote address.
    pub addr: std::net::SocketAddr,
    /// Local address.
    pub local: std::net::SocketAddr,
    /// TCP socket descriptor.
    pub fd: std::os::fd::RawFd,
}

impl Peer {
    /// The addresses of a TCP stream (tokio's or the standard library's).
    pub fn of<S: std::os::fd::AsFd>(stream: &S) -> Option<Peer> {
        let socket = socket2::SockRef::from(stream);
        Some(Peer {
            addr: socket.peer_addr().ok()?.as_socket()?,
            local: socket.local_addr().ok()?.as_socket()?,
            fd: stream.as_fd().as_raw_fd(),
        })
    }
}

/// Serves a plain TCP client.
pub async fn serve(node: Arc<Node>, stream: TcpStream, counters: Arc<Counters>) {
    if let Some(peer) = Peer::of(&stream) {
        serve_stream(node, stream, peer, counters).await;
    }
}

/// Admits a new client: counts it and registers it, or returns the reply that refuses it (past `maxclients`,
/// or from another host while protected mode is on).
pub(super) fn admit(
    node: &Node,
    peer: &Peer,
    counters: Arc<Counters>,
) -> Result<Session, &'static [u8]> {
    let cfg = node.config();
    node.clients().received.fetch_add(1, Ordering::Relaxed);
    if node.clients().count() >= cfg.maxclients {
        node.clients().rejected.fetch_add(1, Ordering::Relaxed);
        return Err(b"-ERR max number of clients reached\r\n");
    }
    if cfg.protected_mode && !peer.addr.ip().is_loopback() && node.acl().default_needs_no_password()
    {
        node.clients().rejected.fetch_add(1, Ordering::Relaxed);
        return Err(PROTECTED_MODE_DENIED);
    }
    let info = register(node, peer);
    tracing::debug!(client = info.id, addr = %peer.addr, "client connected");
    let user = node
        .acl()
        .get("default")
        .unwrap_or_else(|| Arc::new(crate::security::User::default_user()));
    let mut session = Session::new(info, counters, user);
    session.acl_version = node.acl().version.load(Ordering::Relaxed);
    Ok(session)
}

/// Registers an admitted client under a new id.
pub(super) fn register(node: &Node, peer: &Peer) -> Arc<ClientInfo> {
    let info = Arc::new(ClientInfo::new(
        node.clients().next_id(),
        peer.addr,
        peer.local,
        peer.fd,
        now_ms(),
    ));
    node.clients().register(info.clone());
    info
}

/// Releases the command state a connection held: its transaction, blocking and pub/sub state.
fn release(node: &Node, session: &mut Session) {
    let id = session.info.id;
    session.discard_transaction(node.ks());
    crate::command::cluster::import_closed(node, session);
    session.blocking.finish(node.blocking(), id);
    if session.mailbox.is_some() {
        node.pubsub().disconnect(&mut session.subs, id, now_ms());
        node.refresh_change_log();
    }
}

fn unregister(node: &Node, id: u64) {
    node.clients().unregister(id);
    tracing::debug!(client = id, "client disconnected");
}

/// Releases everything a finished connection held, its registration included.
pub(super) fn finish(node: &Node, session: &mut Session) {
    release(node, session);
    unregister(node, session.info.id);
}

/// Serves a client on any stream.
pub async fn serve_stream<S: ClientStream>(
    node: Arc<Node>,
    mut stream: S,
    peer: Peer,
    counters: Arc<Counters>,
) {
    match admit(&node, &peer, counters) {
        Ok(session) => serve_session(node, stream, session, Conn::new(), false).await,
        Err(reply) => {
            let _ = stream.write_all(reply).await;
        }
    }
}

/// Goes on serving a connection an io_uring worker handed over, from the point where it left off: its last
/// batch was executed and its replies are not written yet.
pub async fn resume(node: Arc<Node>, resumed: Resumed) {
    let Resumed {
        stream,
        mut session,
        conn,
    } = resumed;
    match stream
        .set_nonblocking(true)
        .and_then(|()| TcpStream::from_std(stream))
    {
        Ok(stream) => serve_session(node, stream, session, conn, true).await,
        Err(e) => {
            tracing::warn!(client = session.info.id, error = %e, "cannot register connection");
            finish(&node, &mut session);
        }
    }
}

async fn serve_session<S: ClientStream>(
    node: Arc<Node>,
    mut stream: S,
    mut session: Session,
    mut conn: Conn,
    executed: bool,
) {
    let id = session.info.id;
    let result = run(&node, &mut stream, &mut session, &mut conn, executed).await;
    let replica_host = session.info.addr.ip().to_string();
    release(&node, &mut session);
    match result {
        Ok(Outcome::Replica(req)) => {
            if let Err(e) = primary::serve_replica(node.clone(), stream, replica_host, req).await {
                tracing::info!(client = id, error = %e, "replica link ended");
            }
        }
        Ok(Outcome::Closed) => {}
        Err(e) => tracing::debug!(client = id, error = %e, "connection ended with an error"),
    }
    // A replica link stays a registered client (CLIENT LIST, shutdown) for as long as it lasts.
    unregister(&node, id);
}

/// The command loop; `executed` skips the first execution (the buffered requests already ran).
async fn run<S: ClientStream>(
    node: &Arc<Node>,
    stream: &mut S,
    session: &mut Session,
    conn: &mut Conn,
    mut executed: bool,
) -> std::io::Result<Outcome> {
    loop {
        if !executed && !conn.input.is_empty() {
            conn.absorb(node, session);
        }
        executed = false;
        if let Some(deferred) = session.deferred.take() {
            // A monitor is registered before its OK goes out, so it sees every command sent after the OK.
            let lines = matches!(deferred, Deferred::Monitor)
                .then(|| node.monitors().subscribe(session.info.id));
            flush(stream, session, conn).await?;
            match deferred {
                Deferred::Psync(req) => return Ok(Outcome::Replica(req)),
                Deferred::Monitor => {
                    if let Some(lines) = lines {
                        return monitor(node, stream, session, lines).await;
                    }
                }
                Deferred::Wait {
                    offset,
                    wanted,
                    timeout_ms,
                } => {
                    let n = primary::wait_for_acks(
                        node.repl(),
                        offset,
                        wanted,
                        Duration::from_millis(timeout_ms),
                    )
                    .await;
                    conn.out.int(n as i64);
                }
                Deferred::Failover {
                    target,
                    timeout_ms,
                    force,
                } => match primary::failover(
                    node.clone(),
                    target,
                    Duration::from_millis(timeout_ms),
                    force,
                )
                .await
                {
                    Ok(()) => conn.out.ok(),
                    Err(e) => conn.out.error(&e),
                },
            }
            continue;
        }
        flush(stream, session, conn).await?;
        if session.close {
            return Ok(Outcome::Closed);
        }
        if session.blocking.requested {
            // Blocked: wait for a push to one of the keys (or the timeout), then run the command again.
            if !session.blocking.wait(stream, conn.input.vec_mut()).await?
                || session.info.is_killed()
            {
                return Ok(Outcome::Closed);
            }
            continue;
        }
        if conn.over_query_limit(node, session) {
            return Ok(Outcome::Closed);
        }
        conn.input.reserve();
        let n = match session.mailbox.as_mut() {
            None => stream.read_buf(conn.input.vec_mut()).await?,
            // Subscribed or tracking: published messages may arrive while the client is silent.
            Some(mailbox) => {
                let sub = mailbox.sub.clone();
                tokio::select! {
                    n = stream.read_buf(conn.input.vec_mut()) => n?,
                    alive = mailbox.recv_into(&mut conn.out.buf) => {
                        if !alive {
                            return Ok(Outcome::Closed);
                        }
                        continue;
                    }
                    _ = sub.kill.notified() => return Ok(Outcome::Closed),
                }
            }
        };
        if n == 0 || session.info.is_killed() {
            return Ok(Outcome::Closed);
        }
        session.counters.net_in.add(n as u64);
    }
}

/// MONITOR mode: forwards the command stream until the client leaves (or sends QUIT/RESET, which end it).
async fn monitor<S: ClientStream>(
    node: &Arc<Node>,
    stream: &mut S,
    session: &Session,
    mut lines: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
) -> std::io::Result<Outcome> {
    let id = session.info.id;
    let mut input = [0u8; 1024];
    let result = loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(line) => {
                    if let Err(e) = stream.write_all(&line).await {
                        break Err(e);
                    }
                }
                None => break Ok(Outcome::Closed),
            },
            n = stream.read(&mut input) => match n {
                Ok(0) | Err(_) => break Ok(Outcome::Closed),
                Ok(n) => {
                    let text = String::from_utf8_lossy(&input[..n]).to_ascii_lowercase();
                    if text.contains("quit") || text.contains("reset") {
                        let _ = stream.write_all(b"+OK\r\n").await;
                        break Ok(Outcome::Closed);
                    }
                }
            },
        }
        if session.info.is_killed() {
            break Ok(Outcome::Closed);
        }
    };
    node.monitors().unsubscribe(id);
    result
}

/// Writes the pending replies with one write.
async fn flush<S: ClientStream>(
    stream: &mut S,
    session: &Session,
    conn: &mut Conn,
) -> std::io::Result<()> {
    if conn.out.buf.is_empty() {
        return Ok(());
    }
    match &session.mailbox {
        None => stream.write_all(&conn.out.buf).await?,
        // A subscriber that stops reading is disconnected by its output-buffer limit even while this
        // write waits.
        Some(mailbox) => tokio::select! {
            r = stream.write_all(&conn.out.buf) => r?,
            _ = mailbox.sub.kill.notified() => {
                return Err(std::io::Error::other("output buffer limit reached"));
            }
        },
    }
    conn.written(session);
    Ok(())
}

/// Executes every complete request in the read buffer; returns the bytes consumed and, when a partial request
/// announced its size, the buffer length it needs.
fn process(node: &Arc<Node>, session: &mut Session, conn: &mut Conn) -> (usize, usize) {
    let cfg = node.config();
    let clock = node.clock(&cfg);
    let started = Instant::now();
    let mut pos = 0;
    let mut hint = 0;
    conn.batch.clear();
    let buf = conn.input.bytes();
    while pos < buf.len() && !session.close && session.deferred.is_none() {
        conn.ranges.clear();
        conn.inline.clear();
        let parsed = resp::parse(
            &buf[pos..],
            cfg.proto_max_bulk_len as usize,
            &mut conn.ranges,
            &mut conn.inline,
        );
        match parsed {
            Ok(Parsed::Multibulk { len }) => {
                let base = pos;
                let argv: SmallVec<[&[u8]; 8]> = conn
                    .ranges
                    .iter()
                    .map(|r| &buf[base + r.start..base + r.end])
                    .collect();
                command::execute(node, &cfg, clock, session, &mut conn.out, &argv);
                if session.blocking.requested {
                    break; // left in the buffer, to run again when woken
                }
                conn.batch.push(session.last_command as u16);
                pos += len;
            }
            Ok(Parsed::Inline { len }) => {
                let argv: SmallVec<[&[u8]; 8]> = conn.inline.iter().map(Vec::as_slice).collect();
                command::execute(node, &cfg, clock, session, &mut conn.out, &argv);
                if session.blocking.requested {
                    break;
                }
                conn.batch.push(session.last_command as u16);
                pos += len;
            }
            Ok(Parsed::Empty { len }) => pos += len,
            Ok(Parsed::Incomplete { hint: h }) => {
                hint = if h > 0 { pos + h } else { 0 };
                break;
            }
            Err(e) => {
                conn.out.error(&format!("ERR {e}"));
                session.close = true;
                pos = buf.len();
            }
        }
    }
    node.repl().wake_feeders();
    account_batch(node, session, &conn.batch, started, clock.now_ms);
    (pos, hint.saturating_sub(pos))
}

/// Spreads the batch's execution time over its O(1) commands (one clock read per batch, not two per
/// command); the other commands were timed one by one.
fn account_batch(node: &Node, session: &mut Session, batch: &[u16], started: Instant, now_ms: u64) {
    let timed = std::mem::take(&mut session.batch_timed_nanos);
    if batch.is_empty() {
        return;
    }
    let cfg = node.config();
    // Every command was timed on its own.
    let fast = if command::times_each_command(&cfg) {
        0
    } else {
        batch
            .iter()
            .filter(|&&i| {
                COMMANDS
                    .get(i as usize)
                    .is_some_and(|s| s.has(catalogue::FAST))
            })
            .count()
    };
    if fast > 0 {
        let per = (started.elapsed().as_nanos() as u64).saturating_sub(timed) / fast as u64;
        for &idx in batch {
            if COMMANDS
                .get(idx as usize)
                .is_some_and(|s| s.has(catalogue::FAST))
            {
                command::record_latency(node, &cfg, session, idx as usize, per, None);
            }
        }
    }
    session
        .info
        .last_command
        .store(session.last_command, Ordering::Relaxed);
    session
        .info
        .last_interaction_ms
        .store(now_ms, Ordering::Relaxed);
}
