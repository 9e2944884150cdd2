//! One slot migration as either side sees it: which slots, how far it got, and (on the source) the writes to
//! those slots collected for the target since each shard was copied.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// Which side of the migration this node is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The source: it sends the slots.
    Export,
    /// The target: it receives them.
    Import,
}

/// Where a migration is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// The slots' keys are being copied.
    Snapshot,
    /// Copied; the writes since are being sent until the target has caught up.
    Streaming,
    /// Writes to the slots are paused while the owner flips.
    Committing,
    /// The target owns the slots.
    Success,
    /// Rolled back after an error: the source kept the slots.
    Failed,
    /// Rolled back on request: the source kept the slots.
    Cancelled,
}

impl State {
    /// True once nothing more happens.
    pub fn is_final(self) -> bool {
        matches!(self, State::Success | State::Failed | State::Cancelled)
    }

    /// The name `CLUSTER GETSLOTMIGRATIONS` shows.
    pub fn name(self) -> &'static str {
        match self {
            State::Snapshot => "snapshot",
            State::Streaming => "streaming",
            State::Committing => "committing",
            State::Success => "success",
            State::Failed => "failed",
            State::Cancelled => "cancelled",
        }
    }

    fn from_u8(v: u8) -> State {
        match v {
            0 => State::Snapshot,
            1 => State::Streaming,
            2 => State::Committing,
            3 => State::Success,
            4 => State::Failed,
            _ => State::Cancelled,
        }
    }
}

/// Part of what waits to be sent to the target, in order.
pub enum Piece {
    /// RESP-encoded commands, and how many.
    Commands(Vec<u8>, u64),
    /// Snapshot records of keys of one slot, and how many keys: encoded (as `CLUSTER RESTOREKEYS`) when sent,
    /// so that a copy step holds its shard's lock only to serialize.
    Records(u16, Vec<u8>, u64),
}

/// What waits to be sent to the target.
#[derive(Default)]
pub struct Outbox {
    /// In order.
    pub pieces: Vec<Piece>,
    /// Bytes in them.
    pub bytes: usize,
}

/// A key not copied yet that a collected write touched: (shard, position, key).
type Touched = (usize, u32, Box<[u8]>);

/// A migration of some slots between two primaries.
pub struct Migration {
    /// Identifier shared by both sides (40 hex characters).
    pub id: String,
    /// This node's side.
    pub direction: Direction,
    /// The other side's node id.
    pub peer: String,
    /// The slots, as given.
    pub ranges: Vec<(u16, u16)>,
    /// The slots, indexed by slot.
    pub slots: Box<[bool]>,
    state: AtomicU8,
    /// Keys copied (export) or received (import).
    pub keys: AtomicU64,
    /// Bytes sent or received.
    pub bytes: AtomicU64,
    /// Longest pause of writes to the slots, in microseconds (export).
    pub pause_us: AtomicU64,
    started: Instant,
    elapsed_us: AtomicU64,
    error: Mutex<String>,
    /// How far each shard of the source was copied, as a position in its hash space: writes to keys below it
    /// are collected, keys above it are copied later as they are then.
    copied: Box<[AtomicU64]>,
    /// Keys not copied yet that a collected write touched (it named a copied key too), per shard, with their
    /// positions: when the copy reaches one that no longer exists, the target is told to delete it.
    touched: Mutex<Vec<Touched>>,
    outbox: Mutex<Outbox>,
    grown: Condvar,
    /// Cancellation asked (`CLUSTER CANCELSLOTMIGRATIONS`).
    pub cancel: AtomicBool,
    /// An export's driver was started.
    pub driven: AtomicBool,
}

/// Formats slot ranges as `0-99 200-300` (a single slot as `5`).
pub fn ranges_text(ranges: &[(u16, u16)]) -> String {
    ranges
        .iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

impl Migration {
    /// A migration of `ranges`, seen from `direction`; `shards` is the number of keyspace shards.
    pub fn new(
        id: String,
        direction: Direction,
        peer: String,
        ranges: Vec<(u16, u16)>,
        shards: usize,
    ) -> Migration {
        let mut slots = vec![false; crate::slot::SLOTS].into_boxed_slice();
        for &(a, b) in &ranges {
            for s in a..=b {
                slots[s as usize] = true;
            }
        }
        Migration {
            id,
            direction,
            peer,
            ranges,
            slots,
            state: AtomicU8::new(State::Snapshot as u8),
            keys: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            pause_us: AtomicU64::new(0),
            started: Instant::now(),
            elapsed_us: AtomicU64::new(0),
            error: Mutex::new(String::new()),
            copied: (0..shards).map(|_| AtomicU64::new(0)).collect(),
            touched: Mutex::new(Vec::new()),
            outbox: Mutex::new(Outbox::default()),
            grown: Condvar::new(),
            cancel: AtomicBool::new(false),
            driven: AtomicBool::new(false),
        }
    }

    /// Where it is.
    pub fn state(&self) -> State {
        State::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Moves to a state (a final state is never left).
    pub fn set_state(&self, s: State) {
        let _ = self
            .state
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (!State::from_u8(cur).is_final()).then_some(s as u8)
            });
        if s.is_final() {
            self.elapsed_us
                .store(self.started.elapsed().as_micros() as u64, Ordering::Relaxed);
            self.grown.notify_all();
        }
    }

    /// Ends it as failed, keeping the first reason.
    pub fn fail(&self, why: String) {
        {
            let mut e = self.error.lock();
            if e.is_empty() {
                *e = why;
            }
        }
        self.set_state(State::Failed);
    }

    /// The reason it failed ("" if it did not).
    pub fn error(&self) -> String {
        self.error.lock().clone()
    }

    /// Time it ran (so far, or until it ended).
    pub fn elapsed(&self) -> Duration {
        match self.elapsed_us.load(Ordering::Relaxed) {
            0 => self.started.elapsed(),
            us => Duration::from_micros(us),
        }
    }

    /// True while the source collects writes to the slots.
    pub fn collects(&self) -> bool {
        !self.state().is_final()
    }

    /// How far a shard was copied (a position in its hash space; [`crate::keyspace::table::SCAN_END`] when
    /// all of it).
    pub fn copied(&self, shard: usize) -> u64 {
        self.copied
            .get(shard)
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    /// Records that a shard was copied up to `position` (call under its lock): writes to its moving keys below
    /// it are collected from now on.
    pub fn mark_copied(&self, shard: usize, position: u64) {
        if let Some(c) = self.copied.get(shard) {
            c.store(position, Ordering::Release);
        }
    }

    /// Queues a write to keys of `slot` (in keyspace shard `shard`; each key with its position in the shard's
    /// hash space) if the slot moves and one of the keys was copied already. The keys not copied yet are
    /// remembered: the copy replaces them on the target later, or deletes them there if they are gone by then.
    pub fn collect(&self, shard: usize, slot: u16, keys: &[(u32, &[u8])], args: &[&[u8]]) {
        if !self.slots[slot as usize] {
            return;
        }
        let copied = self.copied(shard);
        if !keys.iter().any(|&(p, _)| (p as u64) < copied) {
            return;
        }
        if keys.iter().any(|&(p, _)| p as u64 >= copied) {
            let mut touched = self.touched.lock();
            for &(p, k) in keys.iter().filter(|&&(p, _)| p as u64 >= copied) {
                touched.push((shard, p, k.into()));
            }
        }
        self.push(&crate::replication::encode_command(args));
    }

    /// Takes the touched keys of `shard` whose positions are below `position` (the copy just passed them).
    pub fn take_touched(&self, shard: usize, position: u64) -> Vec<Box<[u8]>> {
        let mut touched = self.touched.lock();
        let mut out = Vec::new();
        touched.retain(|(s, p, k)| {
            let passed = *s == shard && (*p as u64) < position;
            if passed {
                out.push(k.clone());
            }
            !passed
        });
        out
    }

    /// Queues an encoded command for the target.
    pub fn push(&self, command: &[u8]) {
        let mut o = self.outbox.lock();
        o.bytes += command.len();
        match o.pieces.last_mut() {
            Some(Piece::Commands(bytes, n)) => {
                bytes.extend_from_slice(command);
                *n += 1;
            }
            _ => o.pieces.push(Piece::Commands(command.to_vec(), 1)),
        }
        drop(o);
        self.grown.notify_all();
    }

    /// Queues snapshot records of `keys` keys of `slot`.
    pub fn push_records(&self, slot: u16, records: Vec<u8>, keys: u64) {
        let mut o = self.outbox.lock();
        o.bytes += records.len();
        o.pieces.push(Piece::Records(slot, records, keys));
        drop(o);
        self.grown.notify_all();
    }

    /// Bytes queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.outbox.lock().bytes
    }

    /// Takes what is queued, waiting up to `wait` for something to arrive when nothing is.
    pub fn take(&self, wait: Duration) -> Outbox {
        let mut o = self.outbox.lock();
        if o.pieces.is_empty() && !self.state().is_final() {
            self.grown.wait_for(&mut o, wait);
        }
        std::mem::take(&mut *o)
    }
}
