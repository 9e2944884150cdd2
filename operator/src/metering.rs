//! Usage metering: turns the counters each node reports into the cluster's billable totals.
//!
//! Every node counts request units (ECPUs) since it started (`ecpu_total` in `INFO usage`) and tells its
//! process apart by `run_id`. The operator scrapes each node every `metering.interval` and adds the increase
//! since the previous scrape of the same node to the cluster's total. A new `run_id`, or a counter lower than
//! before, means the node restarted: its counter started again from zero, so the whole new value is the
//! increase and nothing counted before is lost. (Units charged between a node's last scrape and its death are
//! the only ones that can escape; the interval bounds them.)
//!
//! The operator's own management commands (health checks, INFO scrapes, REPLICAOF, CONFIG, FAILOVER, and the
//! connection handshake CLIENT/HELLO/COMMAND that client libraries send) are not billed: the engine reports
//! their units per command in `INFO commandstats`, and their increase is taken off. Those per-command counters
//! restart with `CONFIG RESETSTAT` as well as with the process, which is handled the same way.
//!
//! Storage is the dataset's bytes integrated over time (trapezoids between consecutive scrapes of a node) in
//! GB-hours, with 1 GB = 10^9 bytes. Totals belong to a calendar month (UTC): the first scrape in a new month
//! starts a new period from zero.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{tz::TimeZone, Timestamp};
use serde::{Deserialize, Serialize};

use crate::api::{NodeCounters, UsageStatus};

/// Commands whose units are not billed: what the operator and client libraries send to manage a node.
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

/// Bytes in a GB for storage billing.
pub const BYTES_PER_GB: f64 = 1e9;

/// One scrape of one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSample {
    /// The node process' identity; it changes at every start.
    pub run_id: String,
    /// `ecpu_total` of `INFO usage`: every unit the node charged since it started.
    pub ecpu_total: u64,
    /// Units of [`UNBILLED_COMMANDS`] from `INFO commandstats` (since start or the last `CONFIG RESETSTAT`).
    pub unbilled_ecpu: u64,
    /// `dataset_bytes` of `INFO usage`.
    pub dataset_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LastScrape {
    sample: NodeSample,
    at: Timestamp,
}

/// The cluster's usage totals and the last scrape of each node.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UsageAccumulator {
    ecpu_total: u64,
    storage_gb_hours: f64,
    period_start: Option<Timestamp>,
    last_scrape: Option<Timestamp>,
    nodes: BTreeMap<String, LastScrape>,
}

impl UsageAccumulator {
    /// Continues from published totals (a restarted operator), with the nodes' counters published beside
    /// them: a node's next scrape counts its increase since then. A node without published counters only sets
    /// its starting point at its first scrape.
    pub fn resume(usage: &UsageStatus) -> UsageAccumulator {
        let parse = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<Timestamp>().ok());
        let unsigned = |n: i64| u64::try_from(n).unwrap_or(0);
        let nodes = usage
            .nodes
            .iter()
            .filter_map(|(name, c)| {
                let at = c.at.parse::<Timestamp>().ok()?;
                let sample = NodeSample {
                    run_id: c.run_id.clone(),
                    ecpu_total: unsigned(c.ecpu_total),
                    unbilled_ecpu: unsigned(c.unbilled_ecpu),
                    dataset_bytes: unsigned(c.dataset_bytes),
                };
                Some((name.clone(), LastScrape { sample, at }))
            })
            .collect();
        UsageAccumulator {
            ecpu_total: unsigned(usage.ecpu_total),
            storage_gb_hours: usage.storage_gb_hours.max(0.0),
            period_start: parse(&usage.period_start),
            last_scrape: parse(&usage.last_scrape),
            nodes,
        }
    }

    /// Adds what `node` reported at `at`.
    ///
    /// A node seen for the first time counts from zero only when `fresh` (the operator started it, so every
    /// unit it charged is new); otherwise (after an operator restart) its first scrape is only a baseline.
    pub fn observe(&mut self, node: &str, sample: NodeSample, at: Timestamp, fresh: bool) {
        self.roll_period(at);
        let previous = self.nodes.get(node);
        let billed = match previous {
            Some(p) => billable_increase(&p.sample, &sample),
            None if fresh => sample.ecpu_total.saturating_sub(sample.unbilled_ecpu),
            None => 0,
        };
        self.ecpu_total = self.ecpu_total.saturating_add(billed);
        if let Some(p) = previous.filter(|p| p.at < at) {
            let hours = (at.as_millisecond() - p.at.as_millisecond()) as f64 / 3_600_000.0;
            let mean_bytes = (p.sample.dataset_bytes as f64 + sample.dataset_bytes as f64) / 2.0;
            self.storage_gb_hours += mean_bytes / BYTES_PER_GB * hours;
        }
        self.last_scrape = Some(self.last_scrape.map_or(at, |l| l.max(at)));
        self.nodes
            .insert(node.to_string(), LastScrape { sample, at });
    }

    /// Forgets a node that was removed (its counted units stay in the totals).
    pub fn forget(&mut self, node: &str) {
        self.nodes.remove(node);
    }

    /// Units counted this period.
    pub fn ecpu_total(&self) -> u64 {
        self.ecpu_total
    }

    /// Storage this period, in GB-hours.
    pub fn storage_gb_hours(&self) -> f64 {
        self.storage_gb_hours
    }

    /// The totals as published in `status.usage`.
    pub fn usage(&self) -> UsageStatus {
        UsageStatus {
            ecpu_total: i64::try_from(self.ecpu_total).unwrap_or(i64::MAX),
            storage_gb_hours: self.storage_gb_hours,
            period_start: self.period_start.map(|t| t.to_string()),
            last_scrape: self.last_scrape.map(|t| t.to_string()),
            nodes: self
                .nodes
                .iter()
                .map(|(name, last)| {
                    let signed = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                    let counters = NodeCounters {
                        run_id: last.sample.run_id.clone(),
                        ecpu_total: signed(last.sample.ecpu_total),
                        unbilled_ecpu: signed(last.sample.unbilled_ecpu),
                        dataset_bytes: signed(last.sample.dataset_bytes),
                        at: last.at.to_string(),
                    };
                    (name.clone(), counters)
                })
                .collect(),
        }
    }

    /// Starts a new period at the first scrape of a new calendar month (UTC).
    fn roll_period(&mut self, at: Timestamp) {
        let month = month_start(at);
        match self.period_start {
            Some(start) if month_start(start) == month => {}
            Some(_) => {
                self.ecpu_total = 0;
                self.storage_gb_hours = 0.0;
                self.period_start = Some(month);
                // Storage before the new month belongs to the old period: integrate from here on.
                for last in self.nodes.values_mut() {
                    last.at = last.at.max(month);
                }
            }
            None => self.period_start = Some(month),
        }
    }
}

/// `15s`, `1m` (the `metering.interval` format); `None` when malformed or zero.
pub fn parse_interval(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, factor) = if let Some(n) = text.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = text.strip_suffix('m') {
        (n, 60)
    } else {
        return None;
    };
    let n: u64 = number.parse().ok().filter(|n| *n > 0)?;
    Some(Duration::from_secs(n * factor))
}

/// Billable units between two scrapes of one node; a restart or a counter reset counts from zero.
pub fn billable_increase(before: &NodeSample, now: &NodeSample) -> u64 {
    let restarted = before.run_id != now.run_id || now.ecpu_total < before.ecpu_total;
    let (total, unbilled) = if restarted {
        (now.ecpu_total, now.unbilled_ecpu)
    } else {
        let unbilled = if now.unbilled_ecpu >= before.unbilled_ecpu {
            now.unbilled_ecpu - before.unbilled_ecpu
        } else {
            // CONFIG RESETSTAT: the per-command counters started again from zero.
            now.unbilled_ecpu
        };
        (now.ecpu_total - before.ecpu_total, unbilled)
    };
    total.saturating_sub(unbilled)
}

/// Midnight UTC of the first day of `at`'s month.
pub fn month_start(at: Timestamp) -> Timestamp {
    let date = at.to_zoned(TimeZone::UTC).date();
    date.first_of_month()
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(at)
}

/// The units of [`UNBILLED_COMMANDS`] in an `INFO commandstats` reply (`cmdstat_<name>:…,ecpu=<n>`).
pub fn unbilled_units(commandstats: &str) -> u64 {
    commandstats
        .lines()
        .filter_map(|l| l.trim().strip_prefix("cmdstat_"))
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| {
            let base = name.split('|').next().unwrap_or(name);
            UNBILLED_COMMANDS
                .iter()
                .any(|c| c.eq_ignore_ascii_case(base))
        })
        .filter_map(|(_, fields)| {
            fields
                .split(',')
                .find_map(|f| f.strip_prefix("ecpu="))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn sample(run_id: &str, ecpu: u64, unbilled: u64, bytes: u64) -> NodeSample {
        NodeSample {
            run_id: run_id.into(),
            ecpu_total: ecpu,
            unbilled_ecpu: unbilled,
            dataset_bytes: bytes,
        }
    }

    #[test]
    fn increases_of_each_node_add_up_without_the_unbilled_commands() {
        let mut acc = UsageAccumulator::default();
        acc.observe(
            "a",
            sample("r1", 10, 4, 0),
            at("2026-11-25T10:00:00Z"),
            true,
        );
        acc.observe("b", sample("r2", 3, 3, 0), at("2026-11-25T10:00:00Z"), true);
        acc.observe(
            "a",
            sample("r1", 30, 6, 0),
            at("2026-11-25T10:00:15Z"),
            true,
        );
        assert_eq!(acc.ecpu_total(), 6 + 18);
    }

    #[test]
    fn a_new_run_id_counts_from_zero_and_loses_nothing_counted() {
        let mut acc = UsageAccumulator::default();
        acc.observe(
            "a",
            sample("r1", 100, 0, 0),
            at("2026-11-25T10:00:00Z"),
            true,
        );
        // Restarted and already served 7 units, more than nothing but less than before.
        acc.observe("a", sample("r2", 7, 0, 0), at("2026-11-25T10:00:15Z"), true);
        assert_eq!(acc.ecpu_total(), 107);
        // Restarted and served more than before: the run_id still tells.
        acc.observe(
            "a",
            sample("r3", 500, 0, 0),
            at("2026-11-25T10:00:30Z"),
            true,
        );
        assert_eq!(acc.ecpu_total(), 607);
    }

    #[test]
    fn a_counter_going_backwards_is_a_restart_even_with_the_same_run_id() {
        let before = sample("r1", 50, 5, 0);
        assert_eq!(billable_increase(&before, &sample("r1", 8, 2, 0)), 6);
    }

    #[test]
    fn a_statistics_reset_does_not_bill_the_unbilled_commands_again() {
        let before = sample("r1", 50, 20, 0);
        // CONFIG RESETSTAT: unbilled per-command counters from zero, 3 since; 10 units more in all.
        assert_eq!(billable_increase(&before, &sample("r1", 60, 3, 0)), 7);
    }

    #[test]
    fn a_node_first_seen_after_an_operator_restart_is_only_a_baseline() {
        let mut acc = UsageAccumulator::resume(&UsageStatus {
            ecpu_total: 1000,
            storage_gb_hours: 1.5,
            period_start: Some("2026-11-01T00:00:00Z".into()),
            last_scrape: Some("2026-11-25T09:00:00Z".into()),
            ..UsageStatus::default()
        });
        acc.observe(
            "a",
            sample("r1", 40, 0, 0),
            at("2026-11-25T10:00:00Z"),
            false,
        );
        assert_eq!(acc.ecpu_total(), 1000);
        acc.observe(
            "a",
            sample("r1", 45, 0, 0),
            at("2026-11-25T10:00:15Z"),
            false,
        );
        assert_eq!(acc.ecpu_total(), 1005);
        assert_eq!(acc.storage_gb_hours(), 1.5);
    }

    #[test]
    fn published_node_counters_let_a_restarted_operator_count_exactly() {
        let mut before = UsageAccumulator::default();
        before.observe(
            "a",
            sample("r1", 30, 10, 0),
            at("2026-11-25T10:00:00Z"),
            true,
        );
        before.observe(
            "a",
            sample("r1", 50, 12, 0),
            at("2026-11-25T10:00:15Z"),
            true,
        );
        assert_eq!(before.ecpu_total(), 38);
        // The operator restarts; units charged meanwhile (7 billable) are in the node's next scrape.
        let published = serde_json::to_value(before.usage()).expect("serializes");
        let usage: UsageStatus = serde_json::from_value(published).expect("reads back");
        let mut after = UsageAccumulator::resume(&usage);
        after.observe(
            "a",
            sample("r1", 58, 13, 0),
            at("2026-11-25T10:05:00Z"),
            false,
        );
        assert_eq!(after.ecpu_total(), 45);
    }

    #[test]
    fn storage_is_the_time_integral_of_sampled_bytes() {
        let mut acc = UsageAccumulator::default();
        acc.observe(
            "a",
            sample("r1", 0, 0, 2_000_000_000),
            at("2026-11-25T10:00:00Z"),
            true,
        );
        acc.observe(
            "a",
            sample("r1", 0, 0, 4_000_000_000),
            at("2026-11-25T11:00:00Z"),
            true,
        );
        acc.observe(
            "b",
            sample("r2", 0, 0, 1_000_000_000),
            at("2026-11-25T10:00:00Z"),
            true,
        );
        acc.observe(
            "b",
            sample("r2", 0, 0, 1_000_000_000),
            at("2026-11-25T10:30:00Z"),
            true,
        );
        // a: 3 GB on average for an hour; b: 1 GB for half an hour.
        assert!(
            (acc.storage_gb_hours() - 3.5).abs() < 1e-9,
            "{}",
            acc.storage_gb_hours()
        );
    }

    #[test]
    fn a_new_month_starts_a_new_period() {
        let mut acc = UsageAccumulator::default();
        acc.observe(
            "a",
            sample("r1", 10, 0, 1_000_000_000),
            at("2026-11-30T23:00:00Z"),
            true,
        );
        assert_eq!(
            acc.usage().period_start.as_deref(),
            Some("2026-11-01T00:00:00Z")
        );
        acc.observe(
            "a",
            sample("r1", 25, 0, 1_000_000_000),
            at("2026-12-01T01:00:00Z"),
            true,
        );
        let usage = acc.usage();
        assert_eq!(usage.period_start.as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(
            usage.ecpu_total, 15,
            "units of the scrape that crossed the boundary"
        );
        assert!(
            (usage.storage_gb_hours - 1.0).abs() < 1e-9,
            "only December's hour"
        );
        assert_eq!(usage.last_scrape.as_deref(), Some("2026-12-01T01:00:00Z"));
    }

    #[test]
    fn unbilled_units_are_read_from_commandstats() {
        let stats = "# Commandstats\r\n\
            cmdstat_get:calls=5,usec=1,usec_per_call=0.20,rejected_calls=0,failed_calls=0,ecpu=5\r\n\
            cmdstat_info:calls=2,usec=1,usec_per_call=0.50,rejected_calls=0,failed_calls=0,ecpu=6\r\n\
            cmdstat_client|setinfo:calls=2,usec=1,usec_per_call=0.50,rejected_calls=0,failed_calls=0,ecpu=2\r\n\
            cmdstat_ping:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=0,ecpu=1\r\n";
        assert_eq!(unbilled_units(stats), 9);
    }
}
