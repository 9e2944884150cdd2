//! One Memcached client connection: read whatever arrived, execute every complete request in it, answer the
//! whole batch with one write — the same batching as the Redis connection, so a client pipelining 100 `get`s
//! (or sending one multi-get) costs one `read` and one `write`.
//!
//! The data block of an item too large to store is not buffered: the connection remembers how many bytes to
//! discard and drops them as they arrive, so a 100 MB value sent by mistake neither grows memory nor
//! desynchronises the stream.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::connection::{ClientStream, Peer};

use crate::clients::ClientInfo;
use crate::command::memcache::{self as mc, Ctx};
use crate::command::Session;
use crate::metering::Counters;
use crate::node::{now_ms, Node};
use crate::protocol::memcache::{self, Parsed, Request};

const READ_CHUNK: usize = 16 * 1024;

/// Buffers of one connection.
struct Conn {
    rbuf: Vec<u8>,
    out: Vec<u8>,
    /// Bytes of a refused data block still to discard.
    swallow: usize,
}

/// Serves a memcached client over plain TCP.
pub async fn serve(node: Arc<Node>, stream: TcpStream, counters: Arc<Counters>) {
    if let Some(peer) = Peer::of(&stream) {
        serve_stream(node, stream, peer, counters).await;
    }
}

/// Serves a memcached client (TCP or TLS) until it disconnects, quits, is killed, or breaks the protocol.
pub async fn serve_stream<S: ClientStream>(
    node: Arc<Node>,
    mut stream: S,
    peer: Peer,
    counters: Arc<Counters>,
) {
    let (peer, local, fd) = (peer.addr, peer.local, peer.fd);
    let maxclients = node.config.load().maxclients;
    node.clients.received.fetch_add(1, Ordering::Relaxed);
    if node.clients.count() >= maxclients {
        node.clients.rejected.fetch_add(1, Ordering::Relaxed);
        let _ = stream
            .write_all(b"SERVER_ERROR Too many open connections\r\n")
            .await;
        return;
    }
    let id = node.clients.next_id();
    let info = Arc::new(ClientInfo::new(id, peer, local, fd, now_ms()));
    node.clients.register(info.clone());
    tracing::debug!(client = id, addr = %peer, "memcached client connected");
    // The memcached protocol has no users: its sessions run unrestricted, like Redis' default user.
    let mut session = Session::new(
        info,
        counters,
        Arc::new(crate::security::User::default_user()),
    );
    let mut conn = Conn {
        rbuf: Vec::with_capacity(READ_CHUNK),
        out: Vec::with_capacity(READ_CHUNK),
        swallow: 0,
    };
    if let Err(e) = run(&node, &mut stream, &mut session, &mut conn).await {
        tracing::debug!(client = id, error = %e, "memcached connection ended with an error");
    }
    node.clients.unregister(id);
    tracing::debug!(client = id, "memcached client disconnected");
}

async fn run<S: ClientStream>(
    node: &Node,
    stream: &mut S,
    session: &mut Session,
    conn: &mut Conn,
) -> std::io::Result<()> {
    let mut want = 0usize;
    loop {
        let spare = conn.rbuf.capacity() - conn.rbuf.len();
        if spare < READ_CHUNK / 4 || want > conn.rbuf.capacity() {
            conn.rbuf
                .reserve(READ_CHUNK.max(want.saturating_sub(conn.rbuf.len())));
        }
        let n = stream.read_buf(&mut conn.rbuf).await?;
        if n == 0 || session.info.is_killed() {
            return Ok(());
        }
        session.counters.net_in.add(n as u64);
        let (consumed, need) = process(node, session, conn);
        conn.rbuf.drain(..consumed);
        want = need;
        if !conn.out.is_empty() {
            stream.write_all(&conn.out).await?;
            session.counters.net_out.add(conn.out.len() as u64);
            conn.out.clear();
            if conn.out.capacity() > 1 << 20 {
                conn.out.shrink_to(READ_CHUNK);
            }
        }
        if session.close {
            return Ok(());
        }
        if conn.rbuf.is_empty() && conn.rbuf.capacity() > 1 << 20 {
            conn.rbuf.shrink_to(READ_CHUNK);
        }
    }
}

/// Executes every complete request in the read buffer; returns the bytes consumed and, when a partial request
/// announced its size, the buffer length it needs.
fn process(node: &Node, session: &mut Session, conn: &mut Conn) -> (usize, usize) {
    let cfg = node.config.load();
    let clock = node.clock(&cfg);
    mc::before_batch(node, clock.now_ms);
    let buf = &conn.rbuf[..];
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
