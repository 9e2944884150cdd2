//! Plain-TCP connections served on io_uring.
//!
//! A client at pipeline 1 costs an epoll server three system calls per request (a read, a write, and its share
//! of an `epoll_wait`), and every write that wakes a client is a point where the worker can be preempted. Here
//! each worker thread owns one io_uring: every connection keeps a receive pending in the ring, and one
//! `io_uring_enter` both submits the replies of everything that arrived since the last one and waits for the
//! next arrivals. A busy worker so makes one system call per batch of requests, whatever the batch's size, and
//! is preempted at most once per batch.
//!
//! The request handling is the epoll path's ([`super::memcache::Conn`], [`super::connection::Conn`]): the same
//! buffers, parsers and command code, so both paths answer byte for byte alike. A Redis connection that starts
//! waiting for something other than its socket (a blocking command, pub/sub or tracking messages, MONITOR,
//! WAIT, FAILOVER, a replica link) moves to a tokio worker with its session and unwritten replies, and stays
//! there. New connections come from the acceptor through a channel and an eventfd the ring keeps a read on. A
//! killed client has its socket shut down (as on the epoll path), which completes its pending receive with
//! end-of-stream.
//!
//! io_uring is used when `io-uring` is `yes` (the default) and the kernel allows it; kernels before 6.1,
//! `kernel.io_uring_disabled`, and container seccomp profiles that block `io_uring_setup` make the node fall
//! back to epoll, saying so in its log.

use std::io::Write;
use std::net::TcpStream;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::mpsc;
use std::sync::Arc;

use io_uring::{opcode, squeue, types, IoUring};

use super::connection::{self, Peer, Resumed};
use super::memcache;
use super::read_buffer::ReadBuffer;
use super::{Assign, WorkerTx};
use crate::command::Session;
use crate::metering::Counters;
use crate::node::Node;

/// Submission queue entries per ring; connections beyond this many queue their operations in batches.
const RING_ENTRIES: u32 = 1024;

/// The operation a completion belongs to, in the low bits of its user data; the connection's slot is above.
const OP_RECV: u64 = 0;
const OP_SEND: u64 = 1;
const OP_WAKE: u64 = 2;
const OP_BITS: u32 = 2;

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Redis (RESP).
    Redis,
    /// Memcached text and meta.
    Memcached,
}

/// The acceptor's end of one worker: hands it accepted connections.
pub struct Handoff {
    tx: mpsc::Sender<(TcpStream, Protocol)>,
    wake: Arc<OwnedFd>,
}

impl Handoff {
    /// Gives the worker a new connection.
    pub fn send(&self, stream: TcpStream, protocol: Protocol) {
        if self.tx.send((stream, protocol)).is_ok() {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer to the eventfd, which `self.wake` keeps open.
            unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
    }
}

/// Starts worker `index` on io_uring, handing Redis connections that start waiting to `tokio`; `Ok(None)` when
/// the kernel refuses io_uring here.
pub(crate) fn spawn(
    node: Arc<Node>,
    index: usize,
    tokio: WorkerTx,
) -> anyhow::Result<Option<Handoff>> {
    // SAFETY: eventfd takes plain integer arguments; a valid result is a new descriptor we own.
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if efd < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: `efd` was just created and nothing else owns it.
    let wake = Arc::new(unsafe { OwnedFd::from_raw_fd(efd) });
    let (tx, rx) = mpsc::channel();
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let worker_wake = wake.clone();
    std::thread::Builder::new()
        .name(format!("mc-uring-{index}"))
        .spawn(move || {
            // The ring belongs to this thread (single issuer): it is created here.
            let ring = IoUring::builder()
                .setup_single_issuer()
                .setup_coop_taskrun()
                .setup_defer_taskrun()
                .build(RING_ENTRIES);
            let ring = match ring {
                Ok(ring) => {
                    let _ = ready_tx.send(Ok(()));
                    ring
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let counters = node.metering().register_worker();
            // Tasks that commands start (a replication link after REPLICAOF) run on the paired tokio worker.
            let runtime = tokio.runtime().clone();
            let _entered = runtime.enter();
            Worker {
                node,
                counters,
                tokio,
                ring,
                links: Vec::new(),
                free: Vec::new(),
                rx,
                wake: worker_wake,
                wake_buf: Box::new([0; 8]),
                done: Vec::new(),
            }
            .run();
        })?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(Some(Handoff { tx, wake })),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "io_uring is not available; connections use epoll");
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}

/// A connection's buffers, by protocol.
enum Wire {
    Redis(connection::Conn),
    Memcached(memcache::Conn),
}

impl Wire {
    /// The connection's read buffer.
    fn input(&mut self) -> &mut ReadBuffer {
        match self {
            Wire::Redis(c) => c.input(),
            Wire::Memcached(c) => c.input(),
        }
    }

    fn reply(&self) -> &[u8] {
        match self {
            Wire::Redis(c) => c.reply(),
            Wire::Memcached(c) => c.reply(),
        }
    }

    fn written(&mut self, session: &Session) {
        match self {
            Wire::Redis(c) => c.written(session),
            Wire::Memcached(c) => c.written(session),
        }
    }
}

/// One connection of a worker.
struct Link {
    stream: TcpStream,
    conn: Wire,
    session: Session,
    /// A receive is pending in the ring (into the read buffer's free tail).
    receiving: bool,
    /// A send is pending in the ring (from the reply buffer).
    sending: bool,
    /// Reply bytes already sent.
    sent: usize,
    /// Bytes that arrived while a send was pending, not yet executed.
    unread: usize,
    /// Tearing down: waiting for pending operations to finish before the slot is freed.
    closing: bool,
}

struct Worker {
    node: Arc<Node>,
    counters: Arc<Counters>,
    /// The tokio worker that takes Redis connections which start waiting.
    tokio: WorkerTx,
    ring: IoUring,
    links: Vec<Option<Box<Link>>>,
    free: Vec<usize>,
    rx: mpsc::Receiver<(TcpStream, Protocol)>,
    wake: Arc<OwnedFd>,
    wake_buf: Box<[u8; 8]>,
    /// Completions of one turn, taken out of the ring before any is handled.
    done: Vec<(u64, i32)>,
}

fn user_data(slot: usize, op: u64) -> u64 {
    ((slot as u64) << OP_BITS) | op
}

impl Worker {
    fn run(mut self) {
        self.arm_wake();
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                Err(e) => {
                    tracing::error!(error = %e, "io_uring worker stopped");
                    return;
                }
            }
            let mut done = std::mem::take(&mut self.done);
            done.extend(self.ring.completion().map(|c| (c.user_data(), c.result())));
            for &(data, result) in &done {
                let slot = (data >> OP_BITS) as usize;
                match data & ((1 << OP_BITS) - 1) {
                    OP_RECV => self.received(slot, result),
                    OP_SEND => self.sent(slot, result),
                    _ => self.woken(),
                }
            }
            done.clear();
            self.done = done;
        }
    }

    fn push(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: every buffer an entry points to lives in a `Link` (or `wake_buf`) that is kept, unmoved on
            // the heap and untouched, until the entry's completion arrives.
            if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                return;
            }
            // The queue is full: hand what it holds to the kernel to make room.
            if let Err(e) = self.ring.submit() {
                if !matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) {
                    tracing::error!(error = %e, "io_uring submit failed");
                }
            }
        }
    }

    fn arm_wake(&mut self) {
        let entry = opcode::Read::new(
            types::Fd(self.wake.as_raw_fd()),
            self.wake_buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(OP_WAKE);
        self.push(entry);
    }

    /// The acceptor has new connections.
    fn woken(&mut self) {
        while let Ok((stream, protocol)) = self.rx.try_recv() {
            self.open(stream, protocol);
        }
        self.arm_wake();
    }

    fn open(&mut self, stream: TcpStream, protocol: Protocol) {
        // The ring waits for readiness itself; the socket stays blocking so that io_uring never hands back EAGAIN.
        if stream.set_nonblocking(false).is_err() {
            return;
        }
        let Some(peer) = Peer::of(&stream) else {
            return;
        };
        let counters = self.counters.clone();
        let admitted = match protocol {
            Protocol::Redis => connection::admit(&self.node, &peer, counters)
                .map(|s| (s, Wire::Redis(connection::Conn::new()))),
            Protocol::Memcached => memcache::admit(&self.node, peer, counters)
                .map(|s| (s, Wire::Memcached(memcache::Conn::new()))),
        };
        let (session, conn) = match admitted {
            Ok(admitted) => admitted,
            Err(reply) => {
                let _ = (&stream).write_all(reply);
                return;
            }
        };
        let link = Box::new(Link {
            stream,
            conn,
            session,
            receiving: false,
            sending: false,
            sent: 0,
            unread: 0,
            closing: false,
        });
        let slot = match self.free.pop() {
            Some(slot) => {
                self.links[slot] = Some(link);
                slot
            }
            None => {
                self.links.push(Some(link));
                self.links.len() - 1
            }
        };
        self.receive(slot);
    }

    fn link(&mut self, slot: usize) -> &mut Link {
        self.links[slot]
            .as_deref_mut()
            .expect("completion for a freed connection")
    }

    /// Queues a receive into the connection's read buffer.
    fn receive(&mut self, slot: usize) {
        let link = self.link(slot);
        let input = link.conn.input();
        input.reserve();
        let (buf, len) = input.read_space();
        let fd = link.stream.as_raw_fd();
        link.receiving = true;
        let len = len.min(u32::MAX as usize) as u32;
        let entry = opcode::Recv::new(types::Fd(fd), buf, len)
            .build()
            .user_data(user_data(slot, OP_RECV));
        self.push(entry);
    }

    /// Queues a send of the reply bytes not yet sent.
    fn send(&mut self, slot: usize) {
        let link = self.link(slot);
        let rest = &link.conn.reply()[link.sent..];
        let (buf, len) = (rest.as_ptr(), rest.len().min(u32::MAX as usize) as u32);
        let fd = link.stream.as_raw_fd();
        link.sending = true;
        let entry = opcode::Send::new(types::Fd(fd), buf, len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .user_data(user_data(slot, OP_SEND));
        self.push(entry);
    }

    fn received(&mut self, slot: usize, result: i32) {
        let link = self.link(slot);
        link.receiving = false;
        if result <= 0 || link.closing || link.session.info.is_killed() {
            return self.close(slot);
        }
        let n = result as usize;
        // SAFETY: the kernel wrote `n` bytes into the read space the receive was given.
        unsafe { link.conn.input().commit_read(n) };
        if link.sending {
            link.unread += n;
        } else {
            self.execute(slot, n);
        }
    }

    fn sent(&mut self, slot: usize, result: i32) {
        let link = self.link(slot);
        link.sending = false;
        if result < 0 || link.closing {
            return self.close(slot);
        }
        link.sent += result as usize;
        if link.sent < link.conn.reply().len() {
            return self.send(slot);
        }
        link.sent = 0;
        link.conn.written(&link.session);
        if link.session.close {
            return self.close(slot);
        }
        if link.unread > 0 {
            let n = std::mem::take(&mut link.unread);
            self.execute(slot, n);
        }
    }

    /// Runs the requests that arrived (`n` new bytes), sends the replies and receives again.
    fn execute(&mut self, slot: usize, n: usize) {
        let node = self.node.clone();
        let link = self.link(slot);
        match &mut link.conn {
            Wire::Memcached(c) => c.absorb(&node, &mut link.session, n),
            Wire::Redis(c) => {
                link.session.counters.net_in.add(n as u64);
                c.absorb(&node, &mut link.session);
                if connection::needs_tokio(&link.session) {
                    return self.hand_over(slot);
                }
                if c.over_query_limit(&node, &link.session) {
                    return self.close(slot);
                }
            }
        }
        let reply = !link.conn.reply().is_empty();
        let quit = link.session.close;
        if reply {
            self.send(slot);
        }
        if quit {
            // Closed once the last reply is out.
            if !reply {
                self.close(slot);
            }
            return;
        }
        self.receive(slot);
    }

    /// Moves a Redis connection that starts waiting to the tokio worker, which writes its replies and goes on
    /// from there. No operation of it is pending in the ring.
    fn hand_over(&mut self, slot: usize) {
        let Some(link) = self.links[slot].take() else {
            return;
        };
        self.free.push(slot);
        let Link {
            stream,
            conn: Wire::Redis(conn),
            session,
            ..
        } = *link
        else {
            unreachable!("only Redis connections are handed over");
        };
        let resumed = Resumed {
            stream,
            session,
            conn,
        };
        if let Err(refused) = self.tokio.send(Assign::Resume(Box::new(resumed))) {
            if let Assign::Resume(mut resumed) = refused.0 {
                connection::finish(&self.node, &mut resumed.session);
            }
        }
    }

    /// Tears a connection down: shuts its socket so that pending operations finish, and frees the slot once
    /// none is left.
    fn close(&mut self, slot: usize) {
        let link = self.link(slot);
        if !link.closing {
            link.closing = true;
            if link.receiving || link.sending {
                shutdown(link.stream.as_raw_fd());
            }
        }
        if link.receiving || link.sending {
            return;
        }
        if let Some(mut link) = self.links[slot].take() {
            match link.conn {
                Wire::Redis(_) => connection::finish(&self.node, &mut link.session),
                Wire::Memcached(_) => memcache::leave(&self.node, &link.session),
            }
            self.free.push(slot);
        }
    }
}

fn shutdown(fd: RawFd) {
    // SAFETY: shutdown on a descriptor the caller keeps open.
    unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
}
