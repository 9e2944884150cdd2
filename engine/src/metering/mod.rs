//! Usage counters: commands, keyspace hits and misses, network bytes, connections.
//!
//! Counting must cost nothing measurable on the hot path, so each worker thread owns a [`Counters`] block that
//! only it writes (a relaxed load and store, no locked instruction, no shared cache line); readers (`INFO`)
//! add up every worker's block. Counters only ever grow; `CONFIG RESETSTAT` records an offset instead of
//! writing to another thread's block.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::command::table::COMMANDS;

/// Per-command counters.
#[derive(Debug, Default)]
pub struct CommandCounters {
    /// Calls that executed.
    pub calls: Counter,
    /// Nanoseconds spent executing (each batch's time spread over its commands).
    pub nanos: Counter,
    /// Calls rejected before execution (arity, auth, OOM).
    pub rejected: Counter,
    /// Calls that executed and replied with an error.
    pub failed: Counter,
}

/// A counter written by one thread only.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning thread may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Reads the value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// The counters of one worker thread.
#[derive(Debug)]
pub struct Counters {
    /// Indexed like [`COMMANDS`].
    pub commands: Box<[CommandCounters]>,
    /// Reads of an existing key.
    pub hits: Counter,
    /// Reads of a missing key.
    pub misses: Counter,
    /// Bytes read from clients.
    pub net_in: Counter,
    /// Bytes written to clients.
    pub net_out: Counter,
    /// Errors replied, all causes.
    pub errors: Counter,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            commands: (0..COMMANDS.len())
                .map(|_| CommandCounters::default())
                .collect(),
            hits: Counter::default(),
            misses: Counter::default(),
            net_in: Counter::default(),
            net_out: Counter::default(),
            errors: Counter::default(),
        }
    }
}

/// Totals across workers.
#[derive(Debug, Default, Clone)]
pub struct Totals {
    /// Per command: (calls, nanoseconds, rejected, failed).
    pub commands: Vec<(u64, u64, u64, u64)>,
    /// Keyspace hits.
    pub hits: u64,
    /// Keyspace misses.
    pub misses: u64,
    /// Bytes in.
    pub net_in: u64,
    /// Bytes out.
    pub net_out: u64,
    /// Error replies.
    pub errors: u64,
}

impl Totals {
    /// Commands processed, all commands together.
    pub fn total_commands(&self) -> u64 {
        self.commands.iter().map(|c| c.0).sum()
    }

    fn minus(mut self, base: &Totals) -> Totals {
        for (c, b) in self.commands.iter_mut().zip(&base.commands) {
            *c = (c.0 - b.0, c.1 - b.1, c.2 - b.2, c.3 - b.3);
        }
        self.hits -= base.hits;
        self.misses -= base.misses;
        self.net_in -= base.net_in;
        self.net_out -= base.net_out;
        self.errors -= base.errors;
        self
    }
}

/// All workers' counters.
#[derive(Debug, Default)]
pub struct Metering {
    workers: Mutex<Vec<Arc<Counters>>>,
    reset_base: Mutex<Option<Totals>>,
}

impl Metering {
    /// Registers a worker thread and returns its counters.
    pub fn register_worker(&self) -> Arc<Counters> {
        let c = Arc::new(Counters::default());
        self.workers.lock().push(c.clone());
        c
    }

    /// Cumulative totals since start (never reset).
    pub fn lifetime(&self) -> Totals {
        let mut t = Totals {
            commands: vec![(0, 0, 0, 0); COMMANDS.len()],
            ..Default::default()
        };
        for w in self.workers.lock().iter() {
            for (acc, c) in t.commands.iter_mut().zip(w.commands.iter()) {
                acc.0 += c.calls.get();
                acc.1 += c.nanos.get();
                acc.2 += c.rejected.get();
                acc.3 += c.failed.get();
            }
            t.hits += w.hits.get();
            t.misses += w.misses.get();
            t.net_in += w.net_in.get();
            t.net_out += w.net_out.get();
            t.errors += w.errors.get();
        }
        t
    }

    /// Totals since the last `CONFIG RESETSTAT`.
    pub fn since_reset(&self) -> Totals {
        let now = self.lifetime();
        match &*self.reset_base.lock() {
            Some(base) => now.minus(base),
            None => now,
        }
    }

    /// `CONFIG RESETSTAT`: later `since_reset` calls count from now.
    pub fn reset(&self) {
        *self.reset_base.lock() = Some(self.lifetime());
    }
}
