//! The source side of a slot migration: copy the slots' keys to the target shard by shard while collecting
//! every later write to them, send those writes until the target has caught up, then pause writes to the
//! slots (by holding their shards' locks) for the moment it takes to send the last ones and flip the owner.
//!
//! The driver is a thread with a blocking socket: it holds shard locks while it waits for the target's
//! acknowledgement, which must not stall an async runtime. Any failure before the flip (the target dies, the
//! link breaks, an error reply, a cancel) rolls back: the source never stopped serving the slots, and the
//! target drops what it imported when the link closes.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::cluster::migration::Piece;
use crate::cluster::{Direction, Migration, NodeDoc, State, Topology};
use crate::keyspace::table::SCAN_END;
use crate::keyspace::LockSet;
use crate::node::Node;
use crate::replication::encode_command;

/// Stop copying more shards while this many bytes wait to be sent or acknowledged.
const WINDOW_BYTES: u64 = 32 << 20;
/// A slot's keys go out in RESTOREKEYS payloads of about this size.
const CHUNK_BYTES: usize = 256 << 10;
/// A collection with more elements than this is sent as commands of [`PIECE_ELEMENTS`] elements.
const BIG_KEY_ELEMENTS: usize = 8192;
const PIECE_ELEMENTS: usize = 1024;
/// Keys a copy step visits under one shard lock.
const STEP_KEYS: usize = 256;
/// Flip once no more than this many bytes of writes are left to send.
const FLIP_BELOW: usize = 256 << 10;
/// How long the flip may keep writes paused waiting for the target before it gives up (and rolls back).
const FLIP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the target may take to answer before the link counts as broken.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Starts a driver thread for every export asked for.
pub async fn supervise(node: Arc<Node>) {
    let mut requests = node.cluster().export_requests();
    loop {
        for m in node.cluster().migrations() {
            if m.direction == Direction::Export && !m.driven.swap(true, Ordering::AcqRel) {
                let node = node.clone();
                let spawned = std::thread::Builder::new()
                    .name("slot-migration".into())
                    .spawn(move || export(node, m));
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a slot migration thread");
                }
            }
        }
        if requests.changed().await.is_err() {
            return;
        }
    }
}

/// Replies the target has given, counted by a reader thread.
#[derive(Default)]
struct Acks {
    replies: AtomicU64,
    error: Mutex<Option<String>>,
}

/// The link to the target.
struct Link {
    stream: TcpStream,
    sent: u64,
    acks: Arc<Acks>,
}

impl Link {
    fn connect(
        target: &NodeDoc,
        password: Option<&str>,
        timeout: Duration,
    ) -> Result<Link, String> {
        if target.port == 0 {
            return Err("the target has no plain-TCP port".into());
        }
        let addr = format!("{}:{}", target.ip, target.port);
        let sock = addr
            .parse()
            .map_err(|e| format!("target address {addr}: {e}"))?;
        let stream = TcpStream::connect_timeout(&sock, Duration::from_secs(5))
            .map_err(|e| format!("cannot connect to the target {addr}: {e}"))?;
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(timeout)).ok();
        stream.set_write_timeout(Some(timeout)).ok();
        let acks = Arc::new(Acks::default());
        let mut link = Link {
            stream,
            sent: 0,
            acks,
        };
        if let Some(p) = password {
            link.call(&[b"AUTH", p.as_bytes()])?;
        }
        Ok(link)
    }

    /// Sends one command and waits for its reply (before the reader thread runs).
    fn call(&mut self, args: &[&[u8]]) -> Result<String, String> {
        self.stream
            .write_all(&encode_command(args))
            .map_err(|e| format!("link to the target: {e}"))?;
        let mut reader = BufReader::new(&self.stream);
        read_reply(&mut reader)?.map_err(|e| format!("the target refused: {e}"))
    }

    /// Starts counting replies in the background.
    fn start_reader(&self) -> Result<(), String> {
        // Replies may be far apart (nothing to send): the link's health is judged by `settle`'s deadlines.
        self.stream.set_read_timeout(None).ok();
        let stream = self.stream.try_clone().map_err(|e| e.to_string())?;
        let acks = self.acks.clone();
        std::thread::Builder::new()
            .name("slot-migration-acks".into())
            .spawn(move || {
                yield_to_clients();
                let mut reader = BufReader::with_capacity(64 << 10, stream);
                loop {
                    match read_reply(&mut reader) {
                        Ok(Ok(_)) => {
                            acks.replies.fetch_add(1, Ordering::AcqRel);
                        }
                        Ok(Err(e)) => {
                            *acks.error.lock() = Some(format!("the target refused: {e}"));
                            return;
                        }
                        Err(e) => {
                            acks.error.lock().get_or_insert(e);
                            return;
                        }
                    }
                }
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn send(&mut self, bytes: &[u8], commands: u64) -> Result<(), String> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.stream
            .write_all(bytes)
            .map_err(|e| format!("link to the target: {e}"))?;
        self.sent += commands;
        Ok(())
    }

    fn failed(&self) -> Option<String> {
        self.acks.error.lock().clone()
    }

    fn unacked(&self) -> u64 {
        self.sent - self.acks.replies.load(Ordering::Acquire)
    }

    /// Waits until every command sent was acknowledged, up to `timeout`.
    fn settle(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.failed() {
                return Err(e);
            }
            if self.unacked() == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err("the target did not acknowledge in time".into());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

/// Reads one RESP reply: Ok(Ok(text)) for a success, Ok(Err(message)) for an error reply, Err for a broken link.
fn read_reply(r: &mut impl BufRead) -> Result<Result<String, String>, String> {
    let mut line = String::new();
    let n = r
        .read_line(&mut line)
        .map_err(|e| format!("link to the target: {e}"))?;
    if n == 0 {
        return Err("the target closed the link".into());
    }
    let line = line.trim_end();
    match line.as_bytes().first() {
        Some(b'+') | Some(b':') => Ok(Ok(line[1..].to_string())),
        Some(b'-') => Ok(Err(line[1..].to_string())),
        Some(b'$') => {
            let len: i64 = line[1..].parse().map_err(|_| "bad reply".to_string())?;
            if len < 0 {
                return Ok(Ok(String::new()));
            }
            let mut body = vec![0; len as usize + 2];
            r.read_exact(&mut body)
                .map_err(|e| format!("link to the target: {e}"))?;
            body.truncate(len as usize);
            Ok(Ok(String::from_utf8_lossy(&body).into_owned()))
        }
        _ => Err(format!("unexpected reply from the target: {line}")),
    }
}

/// Lowers the calling thread's scheduling priority: the migration runs in the background, and the threads
/// serving clients get the CPU first whenever they have work.
fn yield_to_clients() {
    // SAFETY: plain system calls on the calling thread; failure only leaves the priority as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

fn export(node: Arc<Node>, m: Arc<Migration>) {
    yield_to_clients();
    tracing::info!(id = %m.id, slots = %crate::cluster::migration::ranges_text(&m.ranges), target = %m.peer, "slot migration started");
    match run(&node, &m) {
        Ok(()) => tracing::info!(
            id = %m.id,
            keys = m.keys.load(Ordering::Relaxed),
            pause_ms = m.pause_us.load(Ordering::Relaxed) as f64 / 1000.0,
            elapsed_ms = m.elapsed().as_millis() as u64,
            "slot migration done"
        ),
        Err(e) => {
            if m.cancel.load(Ordering::Acquire) {
                m.set_state(State::Cancelled);
            } else {
                m.fail(e.clone());
            }
            node.cluster().refresh_capture();
            tracing::warn!(id = %m.id, error = %e, "slot migration rolled back: the source keeps the slots");
        }
    }
}

/// Fails when the migration was cancelled or the link reported an error.
fn check(m: &Migration, link: &Link) -> Result<(), String> {
    if m.cancel.load(Ordering::Acquire) {
        return Err("cancelled".into());
    }
    if let Some(e) = link.failed() {
        return Err(e);
    }
    if m.state().is_final() {
        return Err(m.error());
    }
    Ok(())
}

/// Sends what the migration collected so far.
fn flush(m: &Migration, link: &mut Link, wait: Duration) -> Result<(), String> {
    let out = m.take(wait);
    let mut bytes = Vec::with_capacity(out.bytes + 64 * out.pieces.len());
    let mut commands = 0;
    for piece in out.pieces {
        match piece {
            Piece::Commands(b, n) => {
                bytes.extend_from_slice(&b);
                commands += n;
            }
            Piece::Records(slot, records, keys) => {
                let payload = crate::snapshot::pack(&records, keys);
                let slot = slot.to_string();
                bytes.extend_from_slice(&encode_command(&[
                    b"CLUSTER",
                    b"RESTOREKEYS",
                    slot.as_bytes(),
                    &payload,
                ]));
                commands += 1;
            }
        }
    }
    m.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
    link.send(&bytes, commands)
}

fn run(node: &Arc<Node>, m: &Arc<Migration>) -> Result<(), String> {
    let cluster = node.cluster();
    let t = cluster.topology().ok_or("no topology")?;
    let (target_shard, target) = t
        .node(&m.peer)
        .map(|(s, n)| (s, n.clone()))
        .ok_or_else(|| format!("unknown node {}", m.peer))?;
    let cfg = node.config_arc();
    let mut link = Link::connect(&target, cfg.masterauth.as_deref(), REPLY_TIMEOUT)?;
    let mut begin: Vec<Vec<u8>> = vec![
        b"CLUSTER".to_vec(),
        b"IMPORT".to_vec(),
        m.id.clone().into_bytes(),
        b"BEGIN".to_vec(),
        cluster.my_id().as_bytes().to_vec(),
    ];
    for &(a, b) in &m.ranges {
        begin.push(a.to_string().into_bytes());
        begin.push(b.to_string().into_bytes());
    }
    let argv: Vec<&[u8]> = begin.iter().map(Vec::as_slice).collect();
    link.call(&argv)?;
    link.start_reader()?;

    // 1. Copy the slots' keys, a shard at a time; from each shard's copy on, its writes are collected.
    let ks = node.ks();
    let shards = ks.shards_of_slots(&m.slots);
    for &s in &shards {
        let mut from = 0;
        while from < SCAN_END {
            loop {
                check(m, &link)?;
                flush(m, &mut link, Duration::ZERO)?;
                if link.unacked() * (CHUNK_BYTES as u64) < WINDOW_BYTES {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            from = copy_step(node, m, s, from);
        }
        flush(m, &mut link, Duration::ZERO)?;
    }
    m.set_state(State::Streaming);

    // 2. Send the writes collected since, until little is left and the target has applied the rest.
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        check(m, &link)?;
        flush(m, &mut link, Duration::from_millis(10))?;
        if link.unacked() == 0 && m.queued() < FLIP_BELOW {
            break;
        }
        if Instant::now() > deadline {
            return Err("the target did not catch up within 10 minutes".into());
        }
    }

    // 3. Flip: hold the slots' shards (writes to them wait), send the rest and the new topology.
    m.set_state(State::Committing);
    let mut set = LockSet::new();
    set.extend(shards.iter().map(|&s| (0u32, s as u32)));
    let held = ks.lock(&mut set);
    let paused = Instant::now();
    let current = cluster.topology().ok_or("no topology")?;
    let doc = current.with_slots_moved(&m.slots, target_shard, current.doc.epoch + 1);
    let json = serde_json::to_string(&doc).map_err(|e| e.to_string())?;
    let flipped = flush(m, &mut link, Duration::ZERO)
        .and_then(|_| {
            let commit = encode_command(&[
                b"CLUSTER",
                b"IMPORT",
                m.id.as_bytes(),
                b"COMMIT",
                json.as_bytes(),
            ]);
            link.send(&commit, 1)
        })
        .and_then(|_| link.settle(FLIP_TIMEOUT))
        .and_then(|_| Topology::new(doc, cluster.my_id()))
        .and_then(|topology| cluster.set_topology(topology).map(|_| ()));
    // The pause is over once the locks go (recorded first, so whoever sees the outcome sees the pause too).
    m.pause_us
        .fetch_max(paused.elapsed().as_micros() as u64, Ordering::Relaxed);
    // Writes to the slots stop being collected before anyone may run again.
    if flipped.is_ok() {
        m.set_state(State::Success);
    } else {
        m.fail(flipped.clone().err().unwrap_or_default());
    }
    cluster.refresh_capture();
    drop(held);
    flipped?;
    drop(link);
    // Clients blocked on keys of the slots run again and are redirected.
    node.blocking()
        .signal_matching(|key| m.slots[crate::slot::of(key) as usize]);

    // 4. Tell every other node, then drop the source's copies.
    let t = cluster.topology().ok_or("no topology")?;
    announce(&t, cluster.my_id(), &m.peer, cfg.masterauth.as_deref());
    let dropped = crate::command::cluster::drop_slot_keys(node, &m.slots);
    tracing::debug!(id = %m.id, keys = dropped, "moved keys dropped from the source");
    Ok(())
}

/// Copies the next part of one shard's moving keys (about [`STEP_KEYS`] keys from position `from` of its hash
/// space, under its lock) into RESTOREKEYS commands, and records how far the shard is copied, so that writes
/// to keys below are collected from now on. Returns where the next part starts ([`SCAN_END`]: done).
fn copy_step(node: &Node, m: &Migration, s: usize, from: u64) -> u64 {
    let now = crate::clock::now_ms();
    let ks = node.ks();
    let shard = ks.lock_shard(0, s);
    let mut chunks: std::collections::HashMap<u16, (Vec<u8>, u64)> = Default::default();
    let mut keys = 0;
    let next = shard.scan(from, STEP_KEYS, |e| {
        // A table that shrank since the last step may show keys below `from` again: they were copied.
        if (e.hash() as u64) < from {
            return;
        }
        let slot = crate::slot::of(e.key());
        if !m.slots[slot as usize] {
            return;
        }
        if push_big_key(m, e, now) {
            keys += 1;
            return;
        }
        let (buf, n) = chunks.entry(slot).or_default();
        let written = crate::snapshot::serialize_entries(0, std::iter::once(e), now, buf);
        *n += written;
        keys += written;
        if buf.len() >= CHUNK_BYTES {
            m.push_records(slot, std::mem::take(buf), std::mem::take(n));
        }
    });
    for (slot, (records, count)) in chunks {
        if count > 0 {
            m.push_records(slot, records, count);
        }
    }
    // Keys an earlier collected write created on the target and that are gone here by now.
    for key in m.take_touched(s, next) {
        if !shard.contains_live(ks.hash(&key), &key, now) {
            m.push(&encode_command(&[b"DEL", &key]));
        }
    }
    m.mark_copied(s, next);
    drop(shard);
    m.keys.fetch_add(keys, Ordering::Relaxed);
    next
}

/// Sends a large collection as commands of [`PIECE_ELEMENTS`] elements each (after a DEL, and followed by its
/// deadline), so the target loads it in steps rather than in one command. Returns false for anything else.
fn push_big_key(m: &Migration, e: &crate::keyspace::Entry, now: u64) -> bool {
    use crate::keyspace::Object;
    let Some(obj) = e.object() else {
        return false;
    };
    if obj.len() <= BIG_KEY_ELEMENTS || matches!(obj, Object::Stream(_)) {
        return false;
    }
    if e.expire().is_some_and(|at| now > at) {
        return true;
    }
    let key = e.key();
    m.push(&encode_command(&[b"DEL", key]));
    let verb: &[u8] = match obj {
        Object::Hash(_) => b"HSET",
        Object::List(_) => b"RPUSH",
        Object::Set(_) => b"SADD",
        _ => b"ZADD",
    };
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut add = |parts: &[&[u8]]| {
        args.extend(parts.iter().map(|p| p.to_vec()));
        if args.len() >= PIECE_ELEMENTS * parts.len() {
            push_piece(m, verb, key, &mut args);
        }
    };
    match obj {
        Object::Hash(h) => h.iter().for_each(|(f, v)| add(&[f, v])),
        Object::List(l) => l.iter().for_each(|item| add(&[item])),
        Object::Set(set) => set.iter().for_each(|member| add(&[&member])),
        Object::ZSet(z) => z.for_each(|member, score| add(&[score.to_string().as_bytes(), member])),
        Object::Stream(_) => {}
    }
    push_piece(m, verb, key, &mut args);
    if let Some(at) = e.expire() {
        m.push(&encode_command(&[
            b"PEXPIREAT",
            key,
            at.to_string().as_bytes(),
        ]));
    }
    true
}

fn push_piece(m: &Migration, verb: &[u8], key: &[u8], args: &mut Vec<Vec<u8>>) {
    if args.is_empty() {
        return;
    }
    let mut argv: Vec<&[u8]> = vec![verb, key];
    argv.extend(args.iter().map(Vec::as_slice));
    m.push(&encode_command(&argv));
    args.clear();
}

/// Gives the new topology to every node but this one and the target (which have it), in parallel, best effort:
/// a node that misses it still redirects clients to the source, which redirects them on.
fn announce(t: &Topology, me: &str, target: &str, password: Option<&str>) {
    let json = t.json.clone();
    let handles: Vec<_> = t
        .nodes()
        .filter(|(_, n)| n.id != me && n.id != target)
        .map(|(_, n)| {
            let (n, json, password) = (n.clone(), json.clone(), password.map(str::to_string));
            std::thread::spawn(move || {
                let sent = Link::connect(&n, password.as_deref(), Duration::from_secs(2))
                    .and_then(|mut link| {
                    link.call(&[b"CLUSTER", b"SETTOPOLOGY", json.as_bytes()])
                });
                if let Err(e) = sent {
                    tracing::info!(node = %n.id, error = %e, "could not hand the new topology to a node");
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
}
