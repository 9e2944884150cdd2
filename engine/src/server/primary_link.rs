//! The replica's side: connect to the primary, handshake, load a full snapshot or continue from the backlog,
//! then apply the stream and acknowledge offsets. Reconnects with back-off until told otherwise.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clients::ClientInfo;
use crate::clock::now_ms;
use crate::command::{self, Session};
use crate::keyspace::Clock;
use crate::node::Node;
use crate::protocol::reply::Reply;
use crate::protocol::resp::{self, Parsed};
use crate::replication::{encode_command, LinkState, Role};
use crate::snapshot;

/// Errors of one link attempt.
#[derive(Debug, thiserror::Error)]
enum LinkError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("primary answered: {0}")]
    Refused(String),
    #[error("snapshot: {0}")]
    Snapshot(#[from] snapshot::SnapshotError),
    #[error("link replaced")]
    Stopped,
}

/// Starts the link each time the node is told to follow a primary, until the node stops.
pub async fn supervise(node: Arc<Node>) {
    let mut requests = node.repl().link_requests();
    // A request made before this task subscribed counts too.
    requests.mark_changed();
    while requests.changed().await.is_ok() {
        let generation = *requests.borrow_and_update();
        let master = node.repl().ids.lock().master.clone();
        if let Some((host, port)) = master.filter(|_| current(&node, generation)) {
            start(node.clone(), host, port, generation);
        }
    }
}

/// Starts following `host:port` on the current tokio runtime.
fn start(node: Arc<Node>, host: String, port: u16, generation: u64) {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        while current(&node, generation) {
            match run_link(&node, &host, port, generation).await {
                Ok(()) | Err(LinkError::Stopped) => {}
                Err(e) => {
                    tracing::warn!(primary = %host, port, error = %e, "replication link down");
                    node.repl().ids.lock().link_error = Some(e.to_string());
                }
            }
            if !current(&node, generation) {
                break;
            }
            node.repl().ids.lock().link = LinkState::Connecting;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    });
}

fn current(node: &Node, generation: u64) -> bool {
    node.repl().link_generation.load(Ordering::Relaxed) == generation
        && node.repl().role() == Role::Replica
}

/// Reads one `+…`/`-…` line reply.
async fn read_line<S: LinkStream>(s: &mut S, buf: &mut Vec<u8>) -> Result<String, LinkError> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&buf[..i]).into_owned();
            buf.drain(..i + 2);
            return Ok(line);
        }
        let mut tmp = [0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), s.read(&mut tmp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "primary did not answer")
            })??;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "primary closed the link",
            )
            .into());
        }
        buf.extend_from_slice(&tmp[..n]);
    }
}

async fn command<S: LinkStream>(
    s: &mut S,
    buf: &mut Vec<u8>,
    args: &[&[u8]],
) -> Result<String, LinkError> {
    s.write_all(&encode_command(args)).await?;
    let line = read_line(s, buf).await?;
    if let Some(error) = line.strip_prefix('-') {
        return Err(LinkError::Refused(error.to_string()));
    }
    Ok(line)
}

async fn run_link(
    node: &Arc<Node>,
    host: &str,
    port: u16,
    generation: u64,
) -> Result<(), LinkError> {
    let tcp = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port)))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    tcp.set_nodelay(true)?;
    let addrs = (tcp.peer_addr()?, tcp.local_addr()?);
    let tls = node
        .config()
        .tls_replication
        .then(|| node.tls().clone())
        .flatten();
    match tls {
        Some(tls) => {
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                LinkError::Refused(format!("invalid primary host name for TLS: {e}"))
            })?;
            let stream =
                tokio::time::timeout(Duration::from_secs(10), tls.connector.connect(name, tcp))
                    .await
                    .map_err(|_| {
                        std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")
                    })??;
            follow_over(node, stream, addrs, host, port, generation).await
        }
        None => follow_over(node, tcp, addrs, host, port, generation).await,
    }
}

/// The byte stream to a primary: TCP or TLS.
trait LinkStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> LinkStream for T {}

/// Handshake, sync and stream over an established link.
async fn follow_over<S: LinkStream>(
    node: &Arc<Node>,
    mut s: S,
    addrs: (std::net::SocketAddr, std::net::SocketAddr),
    host: &str,
    port: u16,
    generation: u64,
) -> Result<(), LinkError> {
    let mut buf = Vec::new();
    if let Some(pass) = node.config().masterauth.clone() {
        command(&mut s, &mut buf, &[b"AUTH", pass.as_bytes()]).await?;
    }
    command(&mut s, &mut buf, &[b"PING"]).await?;
    let my_port = node.port().to_string();
    command(
        &mut s,
        &mut buf,
        &[b"REPLCONF", b"listening-port", my_port.as_bytes()],
    )
    .await?;
    command(&mut s, &mut buf, &[b"REPLCONF", b"capa", b"psync2"]).await?;
    // Always offer our history: a node with none has a random id the primary won't know, which means a full
    // sync, exactly like `PSYNC ? -1`.
    let (replid, offset) = {
        let ids = node.repl().ids.lock();
        (
            ids.replid.clone(),
            node.repl().stream.lock().end().to_string(),
        )
    };
    let answer = command(
        &mut s,
        &mut buf,
        &[b"PSYNC", replid.as_bytes(), offset.as_bytes()],
    )
    .await?;
    if !current(node, generation) {
        return Err(LinkError::Stopped);
    }
    let words: Vec<&str> = answer.trim_start_matches('+').split_whitespace().collect();
    match words.as_slice() {
        ["FULLRESYNC", id, off, fresh] => {
            let off: u64 = off
                .parse()
                .map_err(|_| LinkError::Refused(answer.clone()))?;
            load_full_sync(node, &mut s, &mut buf, id, off, *fresh == "1").await?;
        }
        ["CONTINUE", id] => {
            let mut ids = node.repl().ids.lock();
            if ids.replid != *id {
                // The primary was promoted: its history continues ours under a new id.
                ids.replid2 = std::mem::replace(&mut ids.replid, id.to_string());
                ids.second_offset = Some(node.repl().stream.lock().end());
            }
            ids.partial_syncs_done += 1;
            tracing::info!(primary = %host, port, "partial resync accepted");
        }
        _ => return Err(LinkError::Refused(answer)),
    }
    {
        let mut ids = node.repl().ids.lock();
        ids.link = LinkState::Connected;
        ids.link_error = None;
        ids.last_io_ms = now_ms();
    }
    apply_stream(node, s, addrs, buf, generation).await
}

async fn load_full_sync<S: LinkStream>(
    node: &Arc<Node>,
    s: &mut S,
    buf: &mut Vec<u8>,
    replid: &str,
    offset: u64,
    primary_fresh: bool,
) -> Result<(), LinkError> {
    let holds_data = node.ks().total_keys() > 0;
    if primary_fresh && holds_data {
        // Never let an empty, newly started primary wipe a replica that holds data.
        return Err(LinkError::Refused(
            "primary is empty and freshly started while this replica holds data; refusing the full sync \
             (promote this replica, or FLUSHALL it to accept)"
                .into(),
        ));
    }
    node.repl().ids.lock().link = LinkState::Sync;
    let mut reader = snapshot::Reader::new();
    let mut records = Vec::new();
    let mut flushed = false;
    let started = std::time::Instant::now();
    let clock = Clock::lru(now_ms());
    loop {
        let len = read_exact_buf(s, buf, 4).await?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        if len == 0 {
            break;
        }
        let chunk = read_exact_buf(s, buf, len).await?;
        records.clear();
        reader.feed(&chunk, &mut records)?;
        if !flushed {
            for db in 0..node.ks().databases() {
                node.ks().flush_db(db, true);
            }
            flushed = true;
        }
        for r in records.drain(..) {
            if r.db >= node.ks().databases() {
                continue;
            }
            let mut held = node.ks().lock_key(r.db, &r.key);
            let (shard, h) = held.shard(r.db, &r.key);
            let entry = r.into_entry((h >> 32) as u32, clock.initial());
            shard.set(h, entry, 0);
        }
    }
    reader.finish()?;
    {
        let mut ids = node.repl().ids.lock();
        ids.replid = replid.to_string();
        ids.replid2 = "0".repeat(40);
        ids.second_offset = None;
        ids.full_syncs_done += 1;
        ids.fresh = false;
    }
    node.repl().stream.lock().reset(offset);
    tracing::info!(
        keys = reader.keys(),
        offset,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "full sync loaded"
    );
    Ok(())
}

async fn read_exact_buf<S: LinkStream>(
    s: &mut S,
    buf: &mut Vec<u8>,
    n: usize,
) -> Result<Vec<u8>, LinkError> {
    while buf.len() < n {
        let mut tmp = vec![0u8; (n - buf.len()).clamp(4096, 1 << 20)];
        let got = tokio::time::timeout(Duration::from_secs(60), s.read(&mut tmp))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "full sync stalled")
            })??;
        if got == 0 {
            return Err(snapshot::SnapshotError::Truncated.into());
        }
        buf.extend_from_slice(&tmp[..got]);
    }
    Ok(buf.drain(..n).collect())
}

/// Applies the live stream until the link breaks or is replaced.
async fn apply_stream<S: LinkStream>(
    node: &Arc<Node>,
    mut s: S,
    (peer, local): (std::net::SocketAddr, std::net::SocketAddr),
    mut buf: Vec<u8>,
    generation: u64,
) -> Result<(), LinkError> {
    let info = Arc::new(ClientInfo::new(
        node.clients().next_id(),
        peer,
        local,
        -1,
        now_ms(),
    ));
    let user = Arc::new(crate::security::User::default_user());
    let mut session = Session::new(info, node.metering().register_worker(), user);
    session.master_link = true;
    // Blocking commands in the stream (BLPOP …) found their data on the primary: here they never wait.
    session.blocking.in_exec = true;
    let mut out = Reply::default();
    let mut ranges = Vec::new();
    let mut inline = Vec::new();
    let mut ack_timer = tokio::time::interval(Duration::from_secs(1));
    let mut tmp = vec![0u8; 64 * 1024];
    loop {
        // Apply every complete command received.
        let mut pos = 0;
        let mut acks_due = false;
        loop {
            ranges.clear();
            inline.clear();
            let parsed = resp::parse(&buf[pos..], usize::MAX >> 1, &mut ranges, &mut inline);
            let len = match parsed {
                Ok(Parsed::Multibulk { len }) => {
                    let base = pos;
                    let args: Vec<&[u8]> = ranges
                        .iter()
                        .map(|r| &buf[base + r.start..base + r.end])
                        .collect();
                    if args.len() >= 2
                        && args[0].eq_ignore_ascii_case(b"replconf")
                        && args[1].eq_ignore_ascii_case(b"getack")
                    {
                        acks_due = true;
                    } else if args.len() >= 2
                        && args[0].eq_ignore_ascii_case(b"replconf")
                        && args[1].eq_ignore_ascii_case(b"usage")
                    {
                        if let Some(run) = crate::replication::parse_usage(&args[2..]) {
                            node.metering().record_upstream(run);
                        }
                    } else {
                        let cfg = node.config();
                        let clock = Clock {
                            now_ms: 0,
                            ..node.clock(&cfg)
                        };
                        command::execute(node, &cfg, clock, &mut session, &mut out, &args);
                        out.buf.clear();
                    }
                    len
                }
                Ok(Parsed::Inline { len } | Parsed::Empty { len }) => len,
                Ok(Parsed::Incomplete { .. }) => break,
                Err(e) => return Err(LinkError::Refused(format!("bad stream from primary: {e}"))),
            };
            let db = session.db;
            node.repl()
                .stream
                .lock()
                .append_raw(&buf[pos..pos + len], Some(db));
            pos += len;
        }
        buf.drain(..pos);
        if acks_due {
            send_ack(node, &mut s).await?;
        }
        tokio::select! {
            n = s.read(&mut tmp) => {
                let n = n?;
                if n == 0 {
                    return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "primary closed the link").into());
                }
                buf.extend_from_slice(&tmp[..n]);
                node.repl().ids.lock().last_io_ms = now_ms();
            }
            _ = ack_timer.tick() => {
                if !current(node, generation) {
                    return Err(LinkError::Stopped);
                }
                send_ack(node, &mut s).await?;
            }
        }
    }
}

async fn send_ack<S: LinkStream>(node: &Node, s: &mut S) -> Result<(), LinkError> {
    let offset = node.repl().stream.lock().end().to_string();
    s.write_all(&encode_command(&[b"REPLCONF", b"ACK", offset.as_bytes()]))
        .await?;
    Ok(())
}
