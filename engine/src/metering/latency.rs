//! Command latency: a compact per-command histogram for `INFO latencystats` percentiles, and the latency
//! monitor behind `LATENCY LATEST|HISTORY|RESET`.
//!
//! The histogram has four buckets per power of two of nanoseconds (relative error under 19%), written by one
//! worker thread and summed by readers, like every other counter here.

use std::collections::{BTreeMap, VecDeque};

use super::Counter;

const SUB: u32 = 4;
/// Buckets cover 1 ns to 2^48 ns (about 3 days).
pub const BUCKETS: usize = 47 * SUB as usize;

/// Bucket of a duration in nanoseconds: values below 8 have their own bucket, then four per power of two.
pub fn bucket(ns: u64) -> usize {
    if ns < 8 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros();
    let sub = ((ns >> (log - 2)) & (SUB as u64 - 1)) as u32;
    (((log - 1) * SUB + sub) as usize).min(BUCKETS - 1)
}

/// The lower bound of a bucket, in nanoseconds.
pub fn bucket_floor(b: usize) -> u64 {
    if b < 8 {
        return b as u64;
    }
    let b = b as u32;
    let log = b / SUB + 1;
    let sub = (b % SUB) as u64;
    (1u64 << log) + (sub << (log - 2))
}

/// A latency histogram written by one thread.
#[derive(Debug)]
pub struct Histogram {
    counts: Box<[Counter]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| Counter::default()).collect(),
        }
    }
}

impl Histogram {
    /// Records one duration.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.counts[bucket(ns)].add(1);
    }

    /// Adds this histogram's counts to `into`.
    pub fn add_to(&self, into: &mut [u64]) {
        for (acc, c) in into.iter_mut().zip(self.counts.iter()) {
            *acc += c.get();
        }
    }
}

/// The value at percentile `p` (0–100) of summed bucket counts, in microseconds, or None when empty.
pub fn percentile_usec(counts: &[u64], p: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((p / 100.0) * total as f64).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (b, &n) in counts.iter().enumerate() {
        seen += n;
        if seen >= rank {
            let lo = bucket_floor(b);
            let hi = bucket_floor(b + 1).max(lo + 1);
            return Some((lo + hi) as f64 / 2.0 / 1000.0);
        }
    }
    None
}

/// One latency spike.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Unix seconds.
    pub time: u64,
    /// Milliseconds.
    pub ms: u64,
}

/// Latency spikes per event (`command`, `fast-command`, …), the last 160 of each.
#[derive(Debug, Default)]
pub struct Monitor {
    events: BTreeMap<String, (VecDeque<Sample>, u64)>,
}

impl Monitor {
    /// Records a spike of `ms` for `event` at unix time `time`.
    pub fn add(&mut self, event: &str, time: u64, ms: u64) {
        let (history, max) = self.events.entry(event.to_string()).or_default();
        match history.back_mut() {
            // One sample per second: keep the worst.
            Some(last) if last.time == time => last.ms = last.ms.max(ms),
            _ => history.push_back(Sample { time, ms }),
        }
        if history.len() > 160 {
            history.pop_front();
        }
        *max = (*max).max(ms);
    }

    /// `LATENCY LATEST`: (event, time of latest, latest ms, max ms).
    pub fn latest(&self) -> Vec<(String, u64, u64, u64)> {
        self.events
            .iter()
            .filter_map(|(name, (h, max))| h.back().map(|s| (name.clone(), s.time, s.ms, *max)))
            .collect()
    }

    /// `LATENCY HISTORY event`.
    pub fn history(&self, event: &str) -> Vec<Sample> {
        self.events
            .get(event)
            .map(|(h, _)| h.iter().copied().collect())
            .unwrap_or_default()
    }

    /// `LATENCY RESET [event …]`: returns how many events were reset.
    pub fn reset(&mut self, events: &[String]) -> usize {
        if events.is_empty() {
            let n = self.events.len();
            self.events.clear();
            return n;
        }
        events
            .iter()
            .filter(|e| self.events.remove(*e).is_some())
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for ns in [
            0u64,
            1,
            3,
            4,
            5,
            7,
            8,
            100,
            1000,
            1500,
            1_000_000,
            10_000_000_000,
        ] {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            assert!(bucket_floor(b) <= ns, "{ns}: floor {}", bucket_floor(b));
            assert!(ns < bucket_floor(b + 1) || b == BUCKETS - 1, "{ns}");
            last = b;
        }
    }

    #[test]
    fn percentiles_come_from_the_right_buckets() {
        let h = Histogram::default();
        for _ in 0..99 {
            h.record(1_000);
        }
        h.record(1_000_000);
        let mut counts = vec![0; BUCKETS];
        h.add_to(&mut counts);
        let p50 = percentile_usec(&counts, 50.0).expect("samples");
        let p999 = percentile_usec(&counts, 99.9).expect("samples");
        assert!((0.9..1.2).contains(&p50), "{p50}");
        assert!((900.0..1200.0).contains(&p999), "{p999}");
    }

    #[test]
    fn monitor_keeps_latest_max_and_history() {
        let mut m = Monitor::default();
        m.add("command", 10, 50);
        m.add("command", 10, 70);
        m.add("command", 11, 20);
        assert_eq!(m.latest(), vec![("command".to_string(), 11, 20, 70)]);
        assert_eq!(m.history("command").len(), 2);
        assert_eq!(m.reset(&[]), 1);
    }
}
