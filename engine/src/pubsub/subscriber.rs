//! One connection's side of pub/sub: the mailbox its messages queue in, the handle every registry holds to
//! reach it, and the frame messages are written as (RESP2 arrays or RESP3 pushes).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::{mpsc, Notify};

use crate::config::BufferLimit;

/// The sending side of a connection's mailbox, shared by every registry the connection is in.
pub struct Subscriber {
    /// Client id.
    pub id: u64,
    tx: mpsc::UnboundedSender<Arc<[u8]>>,
    queued: AtomicUsize,
    soft_since_ms: AtomicU64,
    resp3: AtomicBool,
    closed: AtomicBool,
    /// Woken when the subscriber must be disconnected (even while its connection waits on a slow write).
    pub kill: Notify,
}

impl Subscriber {
    /// True when the connection speaks RESP3 (messages are push frames).
    pub fn resp3(&self) -> bool {
        self.resp3.load(Ordering::Relaxed)
    }

    /// True once the subscriber was disconnected for exceeding its output-buffer limit.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    /// Bytes queued and not yet taken by the connection.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Queues a frame; false when the subscriber is (now) over its limit and disconnected.
    pub fn deliver(&self, frame: Arc<[u8]>, limit: BufferLimit, now_ms: u64) -> bool {
        if self.is_closed() {
            return false;
        }
        let queued = self.queued.fetch_add(frame.len(), Ordering::Relaxed) + frame.len();
        let _ = self.tx.send(frame);
        let over_hard = limit.hard > 0 && queued as u64 > limit.hard;
        let over_soft = limit.soft > 0 && queued as u64 > limit.soft;
        let since = self.soft_since_ms.load(Ordering::Relaxed);
        let soft_expired = if over_soft {
            if since == 0 {
                self.soft_since_ms.store(now_ms.max(1), Ordering::Relaxed);
                limit.soft_seconds == 0
            } else {
                now_ms.saturating_sub(since) >= limit.soft_seconds * 1000
            }
        } else {
            if since != 0 {
                self.soft_since_ms.store(0, Ordering::Relaxed);
            }
            false
        };
        if over_hard || soft_expired {
            if !self.closed.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    client = self.id,
                    queued,
                    "disconnecting a pub/sub client over its output buffer limit"
                );
                self.kill.notify_one();
            }
            return false;
        }
        true
    }
}

/// The receiving side of a connection's mailbox, kept in its session.
pub struct Mailbox {
    /// The shared sending side.
    pub sub: Arc<Subscriber>,
    rx: mpsc::UnboundedReceiver<Arc<[u8]>>,
}

impl Mailbox {
    /// A new, empty mailbox for client `id`.
    pub fn new(id: u64, resp3: bool) -> Mailbox {
        let (tx, rx) = mpsc::unbounded_channel();
        Mailbox {
            sub: Arc::new(Subscriber {
                id,
                tx,
                queued: AtomicUsize::new(0),
                soft_since_ms: AtomicU64::new(0),
                resp3: AtomicBool::new(resp3),
                closed: AtomicBool::new(false),
                kill: Notify::new(),
            }),
            rx,
        }
    }

    /// Records the connection's protocol version (HELLO).
    pub fn set_resp3(&self, resp3: bool) {
        self.sub.resp3.store(resp3, Ordering::Relaxed);
    }

    /// Waits for the next frame and appends it, and every other frame already queued, to `out`. False when
    /// the subscriber was disconnected.
    pub async fn recv_into(&mut self, out: &mut Vec<u8>) -> bool {
        let Some(first) = self.rx.recv().await else {
            return false;
        };
        self.take(first, out);
        while let Ok(frame) = self.rx.try_recv() {
            self.take(frame, out);
        }
        !self.sub.is_closed()
    }

    /// Appends every frame already queued to `out` without waiting.
    pub fn drain_into(&mut self, out: &mut Vec<u8>) {
        while let Ok(frame) = self.rx.try_recv() {
            self.take(frame, out);
        }
    }

    /// Everything queued now (tests).
    #[cfg(test)]
    pub(crate) fn drained(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.drain_into(&mut out);
        out
    }

    fn take(&self, frame: Arc<[u8]>, out: &mut Vec<u8>) {
        out.extend_from_slice(&frame);
        self.sub.queued.fetch_sub(frame.len(), Ordering::Relaxed);
    }
}

/// Encodes an array (RESP2) or push (RESP3) frame of bulk strings; `None` parts are nulls.
pub fn frame(resp3: bool, parts: &[Option<&[u8]>]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(16 + parts.iter().flatten().map(|p| p.len() + 16).sum::<usize>());
    let mut num = itoa::Buffer::new();
    out.push(if resp3 { b'>' } else { b'*' });
    out.extend_from_slice(num.format(parts.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for part in parts {
        match part {
            Some(p) => {
                out.push(b'$');
                out.extend_from_slice(num.format(p.len()).as_bytes());
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(p);
                out.extend_from_slice(b"\r\n");
            }
            None if resp3 => out.extend_from_slice(b"_\r\n"),
            None => out.extend_from_slice(b"$-1\r\n"),
        }
    }
    out
}
