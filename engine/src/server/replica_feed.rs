//! The primary's side of replication links: serving a replica that sent PSYNC, answering WAIT, and handing
//! over with FAILOVER.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::clock::now_ms;
use crate::node::Node;
use crate::replication::{
    encode_command, partial_offset, PsyncRequest, ReplicaLink, Replication, Role,
};
use crate::snapshot;

/// Stream bytes sent to a replica per write.
const CHUNK: usize = 256 * 1024;

/// Serves a replica on `socket` until it disconnects: partial or full resync, then the live stream.
pub async fn serve_replica<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    node: Arc<Node>,
    mut socket: S,
    ip: String,
    req: PsyncRequest,
) -> std::io::Result<()> {
    let repl = &node.repl();
    if repl.role() != Role::Primary {
        socket
            .write_all(b"-ERR this node is not a primary: replicate from the primary directly\r\n")
            .await?;
        return Ok(());
    }
    repl.activate();
    let mut pos = match partial_offset(repl, &req) {
        Some(offset) => {
            let replid = repl.ids.lock().replid.clone();
            socket
                .write_all(format!("+CONTINUE {replid}\r\n").as_bytes())
                .await?;
            repl.stats.partial_ok.fetch_add(1, Ordering::Relaxed);
            offset
        }
        None => {
            if req.offset.is_some() {
                repl.stats.partial_err.fetch_add(1, Ordering::Relaxed);
            }
            repl.stats.full.fetch_add(1, Ordering::Relaxed);
            full_sync(&node, &mut socket).await?
        }
    };
    let link = repl.add_replica(ip, req.listening_port, pos);
    link.online.store(true, Ordering::Relaxed);
    repl.stream.lock().pin(link.id, pos);
    tracing::info!(replica = %link.ip, port = link.port, offset = pos, "replica attached");
    let result = stream_to_replica(&node, socket, &link, &mut pos).await;
    repl.remove_replica(link.id);
    tracing::info!(replica = %link.ip, port = link.port, "replica detached");
    result
}

/// Sends a consistent snapshot; returns the offset the stream continues from.
async fn full_sync<S: AsyncWrite + Unpin>(
    node: &Arc<Node>,
    socket: &mut S,
) -> std::io::Result<u64> {
    let repl = &node.repl();
    let pin_id = repl.next_id();
    let fresh = repl.ids.lock().fresh && node.ks().total_keys() == 0;
    let (offset, shards, images) =
        node.ks()
            .begin_snapshot(now_ms(), snapshot::serialize_shard, || {
                let mut s = repl.stream.lock();
                let end = s.end();
                // Keep every byte from here on until this replica is streaming.
                s.pin(pin_id, end);
                end
            });
    let replid = repl.ids.lock().replid.clone();
    socket
        .write_all(format!("+FULLRESYNC {replid} {offset} {}\r\n", fresh as u8).as_bytes())
        .await?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Vec<u8>>(8);
    let ks_node = node.clone();
    let producer = tokio::task::spawn_blocking(move || {
        let mut writer = snapshot::Writer::new();
        let _ = tx.blocking_send(writer.take_chunk());
        let driver = {
            let n = ks_node.clone();
            std::thread::spawn(move || n.ks().drive_snapshot())
        };
        for _ in 0..shards {
            let Ok(image) = images.recv() else { break };
            writer.append_records(&image.records, image.keys);
            if tx.blocking_send(writer.take_chunk()).is_err() {
                break;
            }
        }
        let _ = driver.join();
        let _ = tx.blocking_send(writer.finish());
    });
    let started = Instant::now();
    let mut bytes = 0usize;
    while let Some(chunk) = rx.recv().await {
        if chunk.is_empty() {
            continue;
        }
        bytes += chunk.len();
        socket
            .write_all(&(chunk.len() as u32).to_le_bytes())
            .await?;
        socket.write_all(&chunk).await?;
    }
    socket.write_all(&0u32.to_le_bytes()).await?;
    let _ = producer.await;
    repl.stream.lock().unpin(pin_id);
    tracing::info!(
        bytes,
        offset,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "full sync sent"
    );
    Ok(offset)
}

async fn stream_to_replica<S: AsyncRead + AsyncWrite + Unpin>(
    node: &Arc<Node>,
    socket: S,
    link: &ReplicaLink,
    pos: &mut u64,
) -> std::io::Result<()> {
    let repl = &node.repl();
    let (mut reader, mut writer) = tokio::io::split(socket);
    let mut inbuf = Vec::with_capacity(1024);
    let mut readbuf = [0u8; 1024];
    loop {
        let notified = repl.fed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let data = {
            let mut s = repl.stream.lock();
            match s.read(*pos, CHUNK) {
                Ok(d) => {
                    s.pin(link.id, *pos + d.len() as u64);
                    d
                }
                Err(_) => {
                    tracing::warn!(replica = %link.ip, offset = *pos, "replica fell out of the backlog, dropping it");
                    return Ok(());
                }
            }
        };
        if !data.is_empty() {
            writer.write_all(&data).await?;
            *pos += data.len() as u64;
            continue;
        }
        if repl.role() != Role::Primary {
            return Ok(());
        }
        tokio::select! {
            _ = &mut notified => {}
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            n = reader.read(&mut readbuf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                inbuf.extend_from_slice(&readbuf[..n]);
                read_acks(&mut inbuf, link, repl);
            }
        }
    }
}

/// Parses `REPLCONF ACK <offset>` commands a replica sends back.
fn read_acks(buf: &mut Vec<u8>, link: &ReplicaLink, repl: &Replication) {
    let mut ranges = Vec::new();
    let mut inline = Vec::new();
    let mut pos = 0;
    loop {
        ranges.clear();
        inline.clear();
        match crate::protocol::resp::parse(&buf[pos..], 1 << 20, &mut ranges, &mut inline) {
            Ok(crate::protocol::resp::Parsed::Multibulk { len }) => {
                let args: Vec<&[u8]> = ranges
                    .iter()
                    .map(|r| &buf[pos + r.start..pos + r.end])
                    .collect();
                if args.len() == 3 && args[1].eq_ignore_ascii_case(b"ack") {
                    if let Some(off) = crate::protocol::resp::parse_i64(args[2]) {
                        link.ack.store(off.max(0) as u64, Ordering::Relaxed);
                        link.last_ack_ms.store(now_ms(), Ordering::Relaxed);
                        repl.acks.send_modify(|n| *n += 1);
                    }
                }
                pos += len;
            }
            Ok(
                crate::protocol::resp::Parsed::Inline { len }
                | crate::protocol::resp::Parsed::Empty { len },
            ) => pos += len,
            _ => break,
        }
    }
    buf.drain(..pos);
}

/// WAIT: how many replicas acknowledged `target` within `timeout` (0 = forever).
pub async fn wait_for_acks(
    repl: &Replication,
    target: u64,
    wanted: usize,
    timeout: Duration,
) -> usize {
    let deadline = (!timeout.is_zero()).then(|| tokio::time::Instant::now() + timeout);
    let mut acks = repl.acks.subscribe();
    loop {
        let n = repl.acked(target);
        if n >= wanted {
            return n;
        }
        let changed = acks.changed();
        match deadline {
            Some(d) => {
                if tokio::time::timeout_at(d, changed).await.is_err() {
                    return repl.acked(target);
                }
            }
            None => {
                let _ = changed.await;
            }
        }
    }
}

/// The outcome of FAILOVER.
pub type FailoverResult = Result<(), String>;

/// Coordinated switchover: pause writes, wait for the target to catch up, promote it, follow it.
pub async fn failover(
    node: Arc<Node>,
    target: Option<(String, u16)>,
    timeout: Duration,
    force: bool,
) -> FailoverResult {
    let repl = &node.repl();
    if repl.role() != Role::Primary {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    let chosen = {
        let replicas = repl.replicas.lock();
        if replicas.is_empty() {
            return Err("ERR FAILOVER requires connected replicas.".into());
        }
        match &target {
            Some((host, port)) => replicas
                .iter()
                .find(|r| r.port == *port && (r.ip == *host || host == "localhost"))
                .cloned()
                .ok_or_else(|| "ERR FAILOVER target HOST and PORT is not a replica.".to_string())?,
            None => replicas
                .iter()
                .max_by_key(|r| r.ack.load(Ordering::Relaxed))
                .cloned()
                .ok_or_else(|| "ERR FAILOVER requires connected replicas.".to_string())?,
        }
    };
    if repl.writes_paused.swap(true, Ordering::SeqCst) {
        return Err("ERR FAILOVER already in progress.".into());
    }
    let result = hand_over(&node, &chosen, timeout, force).await;
    repl.writes_paused.store(false, Ordering::SeqCst);
    result
}

async fn hand_over(
    node: &Arc<Node>,
    to: &ReplicaLink,
    timeout: Duration,
    force: bool,
) -> FailoverResult {
    let repl = &node.repl();
    // Writes are paused: after this GETACK the stream stops growing, so the target can match it exactly and
    // this node can later continue from the same offset as its replica.
    repl.propagate_global(&[b"REPLCONF", b"GETACK", b"*"]);
    let target = repl.offset();
    let deadline = Instant::now()
        + if timeout.is_zero() {
            Duration::from_secs(60)
        } else {
            timeout
        };
    while to.ack.load(Ordering::Relaxed) < target {
        if Instant::now() >= deadline {
            if force {
                break;
            }
            return Err(
                "ERR FAILOVER target replica did not catch up in time, failover aborted.".into(),
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let auth = node.config().masterauth.clone();
    promote_remote(&to.ip, to.port, auth.as_deref())
        .await
        .map_err(|e| format!("ERR FAILOVER could not promote the target: {e}"))?;
    repl.follow(to.ip.clone(), to.port);
    node.ks().set_passive_expiry(true);
    tracing::info!(new_primary = %to.ip, port = to.port, offset = target, "failover complete, now a replica");
    Ok(())
}

/// Sends `REPLICAOF NO ONE` to another node.
async fn promote_remote(host: &str, port: u16, auth: Option<&str>) -> std::io::Result<()> {
    let mut s =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect((host, port))).await??;
    let mut req = Vec::new();
    if let Some(pass) = auth {
        req.extend(encode_command(&[b"AUTH", pass.as_bytes()]));
    }
    req.extend(encode_command(&[b"REPLICAOF", b"NO", b"ONE"]));
    s.write_all(&req).await?;
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let wanted = if auth.is_some() { 2 } else { 1 };
    while got.iter().filter(|&&b| b == b'\n').count() < wanted {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await??;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    if got.windows(3).all(|w| w != b"+OK") || got.contains(&b'-') {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&got).trim().to_string(),
        ));
    }
    Ok(())
}
