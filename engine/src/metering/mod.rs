//! Usage counters: request units (ECPU), commands, keyspace hits and misses, network bytes, connections.
//!
//! Request units are the billing contract, implemented once in [`request_units`]: a command costs one unit per
//! started KiB of payload (its arguments' bytes plus its reply's bytes), at least one; a command that works on
//! many elements (MGET, KEYS, SCAN, HGETALL, ZRANGE, …) costs at least one unit per started 100 elements it
//! touched. Commands refused before running (unknown, wrong arity, NOAUTH, OOM) cost nothing.
//!
//! Counting must cost nothing measurable on the hot path, so each worker thread owns a [`Counters`] block that
//! only it writes (a relaxed load and store, no locked instruction, no shared cache line); readers (`INFO`)
//! add up every worker's block. Counters only ever grow; `CONFIG RESETSTAT` records an offset instead of
//! writing to another thread's block.

pub mod latency;
pub mod memcache;
pub mod process;
pub mod slowlog;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::catalogue::{Cost, COMMANDS};

/// Payload bytes per request unit.
pub const BYTES_PER_UNIT: u64 = 1024;
/// Elements per request unit, for commands charged by elements.
pub const ELEMENTS_PER_UNIT: u64 = 100;

/// The request units (ECPU) one executed command costs.
pub fn request_units(cost: Cost, request_bytes: u64, response_bytes: u64, elements: u64) -> u64 {
    let by_bytes = (request_bytes + response_bytes)
        .div_ceil(BYTES_PER_UNIT)
        .max(1);
    match cost {
        Cost::Bytes => by_bytes,
        Cost::Elements => by_bytes.max(elements.div_ceil(ELEMENTS_PER_UNIT)),
        Cost::Transaction => 1,
    }
}

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
    /// Request units charged.
    pub units: Counter,
    /// Latency distribution.
    pub latency: latency::Histogram,
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
    /// Request units charged, all commands.
    pub units: Counter,
    /// Memcached protocol counters.
    pub memcache: memcache::MemcacheCounters,
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
            units: Counter::default(),
            memcache: memcache::MemcacheCounters::default(),
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
    /// Request units (ECPU).
    pub units: u64,
    /// Request units per command.
    pub command_units: Vec<u64>,
    /// Latency histogram bucket counts per command.
    pub latency: Vec<Vec<u64>>,
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
        self.units -= base.units;
        for (c, b) in self.command_units.iter_mut().zip(&base.command_units) {
            *c -= b;
        }
        for (c, b) in self.latency.iter_mut().zip(&base.latency) {
            for (x, y) in c.iter_mut().zip(b) {
                *x -= y;
            }
        }
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
            command_units: vec![0; COMMANDS.len()],
            latency: vec![vec![0; latency::BUCKETS]; COMMANDS.len()],
            ..Default::default()
        };
        for w in self.workers.lock().iter() {
            for (acc, c) in t.command_units.iter_mut().zip(w.commands.iter()) {
                *acc += c.units.get();
            }
            for (acc, c) in t.latency.iter_mut().zip(w.commands.iter()) {
                c.latency.add_to(acc);
            }
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
            t.units += w.units.get();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_units_follow_the_documented_table() {
        // GET of a 10-byte value: ~20 bytes in, ~17 out.
        assert_eq!(request_units(Cost::Bytes, 10, 17, 0), 1);
        // Exactly 1 KiB of payload is one unit; one byte more is two.
        assert_eq!(request_units(Cost::Bytes, 1000, 24, 0), 1);
        assert_eq!(request_units(Cost::Bytes, 1000, 25, 0), 2);
        // SET of a 5000-byte value.
        assert_eq!(request_units(Cost::Bytes, 5011, 5, 0), 5);
        // A range over 1,000 small members: elements dominate.
        assert_eq!(request_units(Cost::Elements, 20, 9000, 1000), 10);
        // An element command touching a few elements pays the bytes rule.
        assert_eq!(request_units(Cost::Elements, 30, 20, 3), 1);
        assert_eq!(request_units(Cost::Elements, 30, 20, 101), 2);
        // EXEC itself is one unit whatever its reply holds.
        assert_eq!(request_units(Cost::Transaction, 4, 100_000, 0), 1);
        // Nothing is free.
        assert_eq!(request_units(Cost::Bytes, 0, 0, 0), 1);
    }
}
