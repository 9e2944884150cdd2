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
pub mod ledger;
pub mod memcache;
pub mod process;
pub mod slowlog;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use crate::catalogue::{Cost, COMMANDS};
use ledger::{Ledger, RunUsage};

/// Commands whose units are charged but not billed: what operators and client libraries send to manage or
/// observe a node (health checks, INFO scrapes, REPLICAOF, CONFIG, FAILOVER, the CLIENT/HELLO/COMMAND/AUTH
/// handshake). Their units still appear in `ecpu_total` and `INFO commandstats`; `ecpu_billed` leaves them out.
pub const UNBILLED_COMMANDS: &[&str] = &[
    "ping",
    "info",
    "config",
    "replicaof",
    "slaveof",
    "role",
    "failover",
    "replconf",
    "psync",
    "sync",
    "client",
    "hello",
    "command",
    "auth",
];

/// Per command (indexed like [`COMMANDS`]): true when its units are billed.
pub static BILLED: LazyLock<Box<[bool]>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .map(|c| !UNBILLED_COMMANDS.contains(&c.container().unwrap_or(c.name)))
        .collect()
});

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
#[repr(transparent)]
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
    /// Billed request units: a slot of the usage ledger, or a heap counter past its slots.
    pub billed: &'static Counter,
    /// True when `billed` is not a ledger slot (the cron folds it into the ledger's overflow).
    pub billed_on_heap: bool,
    /// Memcached protocol counters.
    pub memcache: memcache::MemcacheCounters,
}

impl Default for Counters {
    fn default() -> Self {
        Counters::with_billed(None)
    }
}

impl Counters {
    fn with_billed(slot: Option<&'static Counter>) -> Self {
        Counters {
            billed: slot.unwrap_or_else(|| Box::leak(Box::default())),
            billed_on_heap: slot.is_none(),
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
#[derive(Debug)]
pub struct Metering {
    workers: Mutex<Vec<Arc<Counters>>>,
    reset_base: Mutex<Option<Totals>>,
    ledger: Ledger,
    /// What the primaries this node replicated from last said about their runs, newest last.
    upstream: Mutex<Vec<RunUsage>>,
    /// The billed count last shipped to replicas.
    shipped: AtomicU64,
    /// The request-unit rate limit's bucket.
    rate: RateBucket,
    /// Error replies by error code (`INFO errorstats`), since start or `CONFIG RESETSTAT`.
    errors: Mutex<std::collections::BTreeMap<String, u64>>,
}

/// Longest a batch of requests (a pipeline, or one request) waits for the request-unit rate to allow it; its
/// requests still over the rate after that are refused.
pub const THROTTLE_MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// The bucket of `usage-max-ecpu-per-second`: units spent against units allowed since `base_ms`, with one
/// second's worth of burst. Touched only while a limit is set.
#[derive(Debug, Default)]
struct RateBucket {
    /// The limit the bucket was started for (a change starts it again).
    limit: AtomicU64,
    base_ms: AtomicU64,
    spent: AtomicU64,
    /// Requests refused by the limit.
    refused: AtomicU64,
}

impl RateBucket {
    fn allowed(&self, limit: u64, now_ms: u64) -> u64 {
        if self.limit.load(Ordering::Relaxed) != limit {
            self.limit.store(limit, Ordering::Relaxed);
            self.base_ms.store(now_ms, Ordering::Relaxed);
            self.spent.store(0, Ordering::Relaxed);
        }
        let elapsed = now_ms.saturating_sub(self.base_ms.load(Ordering::Relaxed));
        limit.saturating_mul(elapsed) / 1000
    }

    /// True when a request may run now: spending stays within one second of burst over the rate.
    fn open(&self, limit: u64, now_ms: u64) -> bool {
        let allowed = self.allowed(limit, now_ms);
        // An idle period does not save up more than the burst.
        self.spent.fetch_max(allowed, Ordering::Relaxed);
        self.spent.load(Ordering::Relaxed) < allowed.saturating_add(limit)
    }
}

impl Default for Metering {
    fn default() -> Self {
        Metering::new(Ledger::in_memory(&"0".repeat(40), crate::clock::now_ms()))
    }
}

/// Upstream runs remembered by a replica.
const UPSTREAM_RUNS_KEPT: usize = 8;

impl Metering {
    /// Counters billing into `ledger`.
    pub fn new(ledger: Ledger) -> Metering {
        Metering {
            workers: Mutex::default(),
            reset_base: Mutex::default(),
            ledger,
            upstream: Mutex::default(),
            shipped: AtomicU64::new(0),
            rate: RateBucket::default(),
            errors: Mutex::default(),
        }
    }

    /// Counts an error reply under its code, the message's first word (`ERR`, `WRONGTYPE`, `NOGROUP` …).
    pub fn count_error(&self, message: &str) {
        let code = message.split(' ').next().unwrap_or("ERR");
        let mut errors = self.errors.lock();
        match errors.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                errors.insert(code.to_string(), 1);
            }
        }
    }

    /// Error replies by code.
    pub fn error_counts(&self) -> Vec<(String, u64)> {
        self.errors
            .lock()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// Waits until the request-unit rate `limit` lets a request run, as long as its batch (a pipeline, or a
    /// single request) has waited less than [`THROTTLE_MAX_WAIT`] in all (`waited_us` accumulates); false
    /// when it still does not, and the request is to be refused. The wait blocks the calling worker: the limit
    /// is the node's, so every connection on the node is over it alike.
    pub fn admit(&self, limit: u64, waited_us: &mut u64) -> bool {
        let max = THROTTLE_MAX_WAIT.as_micros() as u64;
        loop {
            if self.rate.open(limit, crate::clock::now_ms()) {
                return true;
            }
            if *waited_us >= max {
                self.rate.refused.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            let started = std::time::Instant::now();
            std::thread::sleep(std::time::Duration::from_millis(1));
            *waited_us += started.elapsed().as_micros() as u64;
        }
    }

    /// Counts units spent against the rate limit (only while one is set).
    #[inline]
    pub fn spend(&self, units: u64) {
        self.rate.spent.fetch_add(units, Ordering::Relaxed);
    }

    /// Requests refused by the rate limit since start.
    pub fn throttled(&self) -> u64 {
        self.rate.refused.load(Ordering::Relaxed)
    }

    /// Registers a worker thread and returns its counters.
    pub fn register_worker(&self) -> Arc<Counters> {
        let c = Arc::new(Counters::with_billed(self.ledger.slot()));
        self.workers.lock().push(c.clone());
        c
    }

    /// The usage ledger of this run.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The cron's pass over the ledger (every tick: at least ten times a second).
    pub fn tick(&self, now_ms: u64) {
        let overflow = self
            .workers
            .lock()
            .iter()
            .filter(|w| w.billed_on_heap)
            .map(|w| w.billed.get())
            .fold(0, u64::wrapping_add);
        self.ledger.tick(now_ms, overflow);
    }

    /// This run's billed count when it changed since the last call, for shipping to replicas.
    pub fn unshipped(&self) -> Option<RunUsage> {
        let billed = self.ledger.billed();
        (self.shipped.swap(billed, Ordering::Relaxed) != billed).then(|| self.ledger.current())
    }

    /// A replica records what its primary shipped about a run (`REPLCONF USAGE`).
    pub fn record_upstream(&self, run: RunUsage) {
        let mut up = self.upstream.lock();
        up.retain(|r| r.run_id != run.run_id);
        up.push(run);
        let excess = up.len().saturating_sub(UPSTREAM_RUNS_KEPT);
        up.drain(..excess);
    }

    /// Runs this node knows the usage of besides its own: its previous runs (`ledger`) and the primaries it
    /// replicated (`replication`).
    pub fn other_runs(&self) -> Vec<(RunUsage, &'static str)> {
        let mut runs: Vec<(RunUsage, &'static str)> = self
            .ledger
            .past_runs()
            .iter()
            .map(|r| (r.clone(), "ledger"))
            .collect();
        runs.extend(
            self.upstream
                .lock()
                .iter()
                .map(|r| (r.clone(), "replication")),
        );
        runs
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
        self.errors.lock().clear();
        *self.reset_base.lock() = Some(self.lifetime());
    }
}

/// The billing lines of `INFO usage` and memcached's `stats` (`<prefix>name<sep>value` each): this run's billed
/// units with the time they were read and its hour marks, the usage limits, and every other run this node
/// knows the final count of.
pub fn usage_lines(m: &Metering, cfg: &crate::config::Config, prefix: &str, sep: char) -> String {
    use std::fmt::Write as _;
    let own = m.ledger().current();
    let marks: Vec<String> = own.marks.iter().map(|(h, v)| format!("{h}:{v}")).collect();
    let mut t = String::new();
    let mut line = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(t, "{prefix}{name}{sep}{value}\r\n");
    };
    line("ecpu_billed", &own.billed);
    line("usage_at_ms", &crate::clock::now_ms());
    let marks = if marks.is_empty() {
        "-".to_string()
    } else {
        marks.join(";")
    };
    line("usage_hour_marks", &marks);
    line("usage_ledger", &(m.ledger().persistent() as u8));
    line("usage_max_storage", &cfg.usage_max_storage);
    line("usage_max_ecpu_per_second", &cfg.usage_max_ecpu_per_second);
    line("usage_throttled", &m.throttled());
    let others = m.other_runs();
    line("usage_runs", &others.len());
    for (i, (run, source)) in others.iter().enumerate() {
        line(&format!("usage_run{i}"), &run.render(source));
    }
    t
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
