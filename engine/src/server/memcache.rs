//! One Memcached client connection: read whatever arrived, execute every complete request in it, answer the
//! whole batch with one write — the same batching as the Redis connection, so a client pipelining 100 `get`s
//! (or sending one multi-get) costs one `read` and one `write`.
//!
//! The data block of an item too large to store is not buffered: the connection remembers how many bytes to
//! discard and drops them as they arrive, so a 100 MB value sent by mistake neither grows memory nor
//! desynchronises the stream.
//!
//! [`Conn`] is shared by both I/O paths: the tokio loop here (TLS connections, and plain TCP where io_uring
//! is off or refused) and the io_uring workers of [`super::uring`].

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connection::{self, ClientStream, Peer};
use super::read_buffer::{ReadBuffer, READ_CHUNK};

use crate::command::memcache as mc;
use crate::command::memcache_binary as mc_binary;
use crate::command::memcache_item::Ctx;
use crate::command::Session;
use crate::metering::Counters;
use crate::node::Node;
use crate::protocol::memcache::{self, Parsed, Request};
use crate::protocol::memcache_binary as binary;

/// Buffers of one connection.
pub(super) struct Conn {
    input: ReadBuffer,
    out: Vec<u8>,
    /// Bytes of a refused data block still to discard.
    swallow: usize,
}

impl Conn {
    pub(super) fn new() -> Conn {
        Conn {
            input: ReadBuffer::compacting(),
            out: Vec::with_capacity(READ_CHUNK),
            swallow: 0,
        }
    }

    /// The read buffer.
    #[inline]
    pub(super) fn input(&mut self) -> &mut ReadBuffer {
        &mut self.input
    }

    /// Executes every complete request among the buffered bytes (`n` of them just read); replies accumulate
    /// in [`Conn::reply`].
    pub(super) fn absorb(&mut self, node: &Node, session: &mut Session, n: usize) {
        session.counters.net_in.add(n as u64);
        session.throttle_waited_us = 0;
        let (consumed, need) = process(node, session, self);
        self.input.consume(consumed, need);
        node.pubsub().tracking.flush();
    }

    /// The replies waiting to be written.
    pub(super) fn reply(&self) -> &[u8] {
        &self.out
    }

    /// Forgets the replies once written, and gives back the memory a large reply took.
    pub(super) fn written(&mut self, session: &Session) {
        super::forget_written(&mut self.out, session);
    }
}

/// Serves a memcached client over plain TCP.
pub async fn serve(node: Arc<Node>, stream: TcpStream, counters: Arc<Counters>) {
    if let Some(peer) = Peer::of(&stream) {
        serve_stream(node, stream, peer, counters).await;
    }
}

/// Admits a new client: counts it and registers it, or, past `maxclients`, returns the reply that refuses it.
pub(super) fn admit(
    node: &Node,
    peer: Peer,
    counters: Arc<Counters>,
) -> Result<Session, &'static [u8]> {
    let maxclients = node.config().maxclients;
    node.clients().received.fetch_add(1, Ordering::Relaxed);
    if node.clients().count() >= maxclients {
        node.clients().rejected.fetch_add(1, Ordering::Relaxed);
        return Err(b"SERVER_ERROR Too many open connections\r\n");
    }
    let info = connection::register(node, &peer);
    tracing::debug!(client = info.id, addr = %peer.addr, "memcached client connected");
    // The memcached protocol has no users: its sessions run unrestricted, like Redis' default user, once
    // authenticated when SASL is on (`memcached-sasl-pwdb`).
    let mut session = Session::new(
        info,
        counters,
        Arc::new(crate::security::User::default_user()),
    );
    session.authenticated = node.config().memcached_sasl_pwdb.is_none();
    Ok(session)
}

/// Unregisters a client whose connection ended.
pub(super) fn leave(node: &Node, session: &Session) {
    node.clients().unregister(session.info.id);
    tracing::debug!(client = session.info.id, "memcached client disconnected");
}

/// Serves a memcached client (TCP or TLS) until it disconnects, quits, is killed, or breaks the protocol.
pub async fn serve_stream<S: ClientStream>(
    node: Arc<Node>,
    mut stream: S,
    peer: Peer,
    counters: Arc<Counters>,
) {
    let mut session = match admit(&node, peer, counters) {
        Ok(session) => session,
        Err(reply) => {
            let _ = stream.write_all(reply).await;
            return;
        }
    };
    let mut conn = Conn::new();
    if let Err(e) = run(&node, &mut stream, &mut session, &mut conn).await {
        tracing::debug!(client = session.info.id, error = %e, "memcached connection ended with an error");
    }
    leave(&node, &session);
}

async fn run<S: ClientStream>(
    node: &Node,
    stream: &mut S,
    session: &mut Session,
    conn: &mut Conn,
) -> std::io::Result<()> {
    loop {
        conn.input.reserve();
        let n = stream.read_buf(conn.input.vec_mut()).await?;
        if n == 0 || session.info.is_killed() {
            return Ok(());
        }
        conn.absorb(node, session, n);
        if !conn.out.is_empty() {
            stream.write_all(&conn.out).await?;
        }
        conn.written(session);
        if session.close {
            return Ok(());
        }
    }
}

/// Executes every complete request in the read buffer; returns the bytes consumed and, when a partial request
/// announced its size, the buffer length it needs.
fn process(node: &Node, session: &mut Session, conn: &mut Conn) -> (usize, usize) {
    let cfg = node.config();
    let clock = node.clock(&cfg);
    mc::before_batch(node, clock.now_ms);
    let buf = conn.input.bytes();
    let mut pos = 0;
    let mut need = 0;
    let mut ctx = Ctx {
        node,
        cfg: &cfg,
        clock,
        session,
        out: &mut conn.out,
    };
    while pos < buf.len() && !ctx.session.close {
        if conn.swallow > 0 {
            let n = conn.swallow.min(buf.len() - pos);
            conn.swallow -= n;
            pos += n;
            continue;
        }
        if buf[pos] != binary::REQUEST_MAGIC && cfg.memcached_sasl_pwdb.is_some() {
            // SASL is binary-only: the text protocol cannot authenticate, so it is refused (memcached's `-S`
            // serves no text at all).
            ctx.put(b"CLIENT_ERROR unauthenticated\r\n");
            ctx.session.close = true;
            pos = buf.len();
            break;
        }
        if buf[pos] == binary::REQUEST_MAGIC {
            match binary::parse(&buf[pos..], cfg.max_item_size as usize) {
                binary::Parsed::Request { req, len } => {
                    mc_binary::execute(&mut ctx, &req, len);
                    pos += len;
                }
                binary::Parsed::Refused {
                    header,
                    status,
                    swallow,
                    close,
                } => {
                    binary::respond_error(ctx.out, header.opcode, status, header.opaque);
                    pos += binary::HEADER;
                    conn.swallow = swallow;
                    if close {
                        ctx.session.close = true;
                        pos = buf.len();
                    }
                }
                binary::Parsed::Incomplete { need: n } => {
                    need = n;
                    break;
                }
            }
            continue;
        }
        match memcache::parse(&buf[pos..], cfg.max_item_size as usize) {
            Parsed::Request { req, len } => {
                if let Request::Reject { swallow, .. } = req {
                    conn.swallow = swallow;
                }
                mc::execute(&mut ctx, &req, len);
                pos += len;
            }
            Parsed::Incomplete { need: n } => {
                need = n;
                break;
            }
            Parsed::Close { reply } => {
                ctx.put(reply);
                ctx.session.close = true;
                pos = buf.len();
            }
        }
    }
    ctx.session
        .info
        .last_interaction_ms
        .store(clock.now_ms, Ordering::Relaxed);
    (pos, need)
}
