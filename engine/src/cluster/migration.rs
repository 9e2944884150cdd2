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

/// Commands waiting to be sent to the target.
#[derive(Default)]
pub struct Outbox {
    /// RESP-encoded commands.
    pub bytes: Vec<u8>,
    /// How many.
    pub commands: u64,
}

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
    /// Shards of the source whose keys were copied: writes to them are collected from then on.
    captured: Box<[AtomicBool]>,
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
            captured: (0..shards).map(|_| AtomicBool::new(false)).collect(),
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

    /// Marks a shard copied: writes to its moving slots are collected from now on (call under its lock).
    pub fn mark_captured(&self, shard: usize) {
        if let Some(c) = self.captured.get(shard) {
            c.store(true, Ordering::Release);
        }
    }

    /// Queues a write to `slot` (in keyspace shard `shard`) if the slot moves and its shard was copied.
    pub fn collect(&self, shard: usize, slot: u16, args: &[&[u8]]) {
        if !self.slots[slot as usize]
            || !self
                .captured
                .get(shard)
                .is_some_and(|c| c.load(Ordering::Acquire))
        {
            return;
        }
        self.push(&crate::replication::encode_command(args));
    }

    /// Queues an encoded command for the target.
    pub fn push(&self, command: &[u8]) {
        let mut o = self.outbox.lock();
        o.bytes.extend_from_slice(command);
        o.commands += 1;
        drop(o);
        self.grown.notify_all();
    }

    /// Bytes queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.outbox.lock().bytes.len()
    }

    /// Takes what is queued, waiting up to `wait` for something to arrive when nothing is.
    pub fn take(&self, wait: Duration) -> Outbox {
        let mut o = self.outbox.lock();
        if o.bytes.is_empty() && !self.state().is_final() {
            self.grown.wait_for(&mut o, wait);
        }
        std::mem::take(&mut *o)
    }
}
