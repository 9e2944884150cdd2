//! Usage metering: turns the counters each node reports into the cluster's billable totals.
//!
//! Every engine process (a *run*, named by its `run_id`) counts the request units (ECPUs) it billed since it
//! started (`ecpu_billed` in `INFO usage` and memcached's `stats`; management commands — health checks, INFO,
//! REPLICAOF, CONFIG, FAILOVER, the CLIENT/HELLO/COMMAND/AUTH handshake — are left out by the engine). The
//! operator scrapes each node every `metering.interval` and counts, per run, the increase since the run's last
//! counted value. A run's count reaches the operator three ways, all counted once because they are the same
//! counter of the same run:
//! - the node itself, while the run lives;
//! - the run's ledger, read by the next run of the same node after a crash (`usage_run<i>`, `source=ledger`):
//!   the count survives `kill -9` (see the engine's `metering::ledger`);
//! - a replica, which the primary ships its count to every 100 ms and with every WAIT
//!   (`source=replication`): the count survives the loss of the primary's machine, to within 100 ms.
//!
//! Units go into the UTC hour they were charged in: each run reports the count it had at the start of each
//! hour (hour marks), so an increase read after an hour boundary is split at the boundary. An hour is final
//! once it is over plus a grace period; units read later than that (a ledger read long after a crash) go into
//! the current hour, so a final hour never changes.
//!
//! Storage is the dataset's bytes integrated over time (trapezoids between consecutive scrapes of a node) in
//! GB-hours, with 1 GB = 10^9 bytes, split at hour boundaries; node hours are the time between consecutive
//! scrapes of each node, by `cacheNodeType`. `usageLimits.dataStorage.minimum` sets the least storage billed
//! per hour. Totals in status belong to the calendar month (UTC) of the last scrape; the hours of each month
//! are the `CacheUsageReport` of that month.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{tz::TimeZone, Timestamp};
use serde::{Deserialize, Serialize};

use crate::api::{
    CacheUsageReportSpec, NodeCounters, RunCounted, UsageCheckpoint, UsageHour, UsageStatus,
};

/// Bytes in a GB for storage billing.
pub const BYTES_PER_GB: f64 = 1e9;

/// Time after the end of an hour during which late units still go into it.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(15 * 60);

/// Runs remembered (their counted units), newest kept.
const RUNS_KEPT: usize = 512;

/// What one node said about one engine run: its billed count at `at_ms`, and the count at each hour start.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// The run.
    pub run_id: String,
    /// Billed units it charged.
    pub billed: u64,
    /// Unix ms at which it had.
    pub at_ms: u64,
    /// (hour start in unix seconds, billed count then), oldest first.
    pub marks: Vec<(u64, u64)>,
}

/// One scrape of one node.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeSample {
    /// The node process' identity; it changes at every start.
    pub run_id: String,
    /// `ecpu_total` of `INFO usage`: every unit the node charged since it started, management included.
    pub ecpu_total: u64,
    /// Units of management commands among them (`ecpu_total - ecpu_billed`).
    pub unbilled_ecpu: u64,
    /// `dataset_bytes` of `INFO usage`.
    pub dataset_bytes: u64,
    /// `ecpu_billed`: the billed units of this run, as the engine counts them.
    #[serde(default)]
    pub billed: Option<u64>,
    /// `usage_at_ms`: the node's clock when it read its counters.
    #[serde(default)]
    pub at_ms: Option<u64>,
    /// `usage_hour_marks` of this run.
    #[serde(default)]
    pub marks: Vec<(u64, u64)>,
    /// `usage_run<i>`: other runs the node knows the count of (its previous runs, its primaries').
    #[serde(default)]
    pub other_runs: Vec<RunReport>,
    /// `usage_throttled`: requests the rate limit refused since the node started.
    #[serde(default)]
    pub throttled: u64,
}

impl NodeSample {
    /// What the sample says about its own run.
    pub fn own_run(&self, at: Timestamp) -> RunReport {
        RunReport {
            run_id: self.run_id.clone(),
            billed: self
                .billed
                .unwrap_or_else(|| self.ecpu_total.saturating_sub(self.unbilled_ecpu)),
            at_ms: self
                .at_ms
                .unwrap_or_else(|| u64::try_from(at.as_millisecond()).unwrap_or(0)),
            marks: self.marks.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LastScrape {
    sample: NodeSample,
    at: Timestamp,
}

/// One hour's usage.
#[derive(Debug, Clone, PartialEq, Default)]
struct Hour {
    ecpu: u64,
    storage_gb_hours: f64,
    minimum_gb_hours: f64,
    node_hours: BTreeMap<String, f64>,
    peak_dataset_bytes: u64,
}

/// The cluster's usage by hour, and where each node and run stood at its last counted scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageAccumulator {
    last_scrape: Option<Timestamp>,
    last_round: Option<(Timestamp, u64)>,
    nodes: BTreeMap<String, LastScrape>,
    runs: BTreeMap<String, RunCounted>,
    /// By hour start (unix seconds).
    hours: BTreeMap<i64, Hour>,
    grace: Duration,
    node_type: String,
    ecpu_per_second: Option<f64>,
}

impl Default for UsageAccumulator {
    fn default() -> Self {
        UsageAccumulator {
            last_scrape: None,
            last_round: None,
            nodes: BTreeMap::new(),
            runs: BTreeMap::new(),
            hours: BTreeMap::new(),
            grace: DEFAULT_GRACE,
            node_type: String::new(),
            ecpu_per_second: None,
        }
    }
}

fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

fn signed(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn hour_of_ms(ms: u64) -> i64 {
    i64::try_from(ms / 3_600_000 * 3600).unwrap_or(0)
}

fn hour_of(at: Timestamp) -> i64 {
    at.as_second().div_euclid(3600) * 3600
}

fn timestamp(second: i64) -> Timestamp {
    Timestamp::from_second(second).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// The name of a node type as the API writes it (`cache.large`).
pub fn node_type_name(node_type: crate::api::CacheNodeType) -> String {
    serde_json::to_value(node_type)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// `YYYY-MM` of a time (UTC).
pub fn month_of(at: Timestamp) -> String {
    at.to_zoned(TimeZone::UTC).strftime("%Y-%m").to_string()
}

impl UsageAccumulator {
    /// Continues from what was published: the reports' hours and the newest checkpoint (a report's, else the
    /// node counters of `status.usage`). A status written before reports existed seeds its month's totals into
    /// the hour of its last scrape.
    pub fn resume(
        usage: Option<&UsageStatus>,
        reports: &[CacheUsageReportSpec],
    ) -> UsageAccumulator {
        let mut acc = UsageAccumulator::default();
        for report in reports {
            for h in &report.hours {
                let Ok(start) = h.start.parse::<Timestamp>() else {
                    continue;
                };
                acc.hours.insert(
                    hour_of(start),
                    Hour {
                        ecpu: unsigned(h.ecpu),
                        storage_gb_hours: h.storage_gb_hours,
                        minimum_gb_hours: h.billed_storage_gb_hours,
                        node_hours: h.node_hours.clone(),
                        peak_dataset_bytes: unsigned(h.peak_dataset_bytes),
                    },
                );
            }
        }
        let checkpoint = reports
            .iter()
            .filter_map(|r| r.checkpoint.as_ref())
            .max_by_key(|c| c.last_scrape.clone());
        let (nodes, last_scrape) = match (checkpoint, usage) {
            (Some(c), _) => {
                acc.runs = c.runs.clone();
                (&c.nodes, c.last_scrape.clone())
            }
            (None, Some(u)) => {
                if let Some(at) = u.last_scrape.as_deref().and_then(|t| t.parse().ok()) {
                    let hour = acc.hours.entry(hour_of(at)).or_default();
                    hour.ecpu += unsigned(u.ecpu_total);
                    hour.storage_gb_hours += u.storage_gb_hours.max(0.0);
                }
                (&u.nodes, u.last_scrape.clone())
            }
            (None, None) => return acc,
        };
        acc.last_scrape = last_scrape.and_then(|t| t.parse().ok());
        acc.nodes = nodes
            .iter()
            .filter_map(|(name, c)| {
                let at = c.at.parse::<Timestamp>().ok()?;
                let sample = NodeSample {
                    run_id: c.run_id.clone(),
                    ecpu_total: unsigned(c.ecpu_total),
                    unbilled_ecpu: unsigned(c.unbilled_ecpu),
                    dataset_bytes: unsigned(c.dataset_bytes),
                    ..NodeSample::default()
                };
                Some((name.clone(), LastScrape { sample, at }))
            })
            .collect();
        // A node's own run continues from its published counters when the checkpoint has no runs (a status
        // written before runs were recorded).
        for last in acc.nodes.values() {
            let own = last.sample.own_run(last.at);
            acc.runs.entry(own.run_id.clone()).or_insert(RunCounted {
                billed: signed(own.billed),
                at_ms: signed(own.at_ms),
            });
        }
        acc
    }

    /// Sets the grace period after an hour during which late units still go into it.
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The `cacheNodeType` that node hours are counted under from now on.
    pub fn set_node_type(&mut self, node_type: &str) {
        node_type.clone_into(&mut self.node_type);
    }

    /// Adds what `node` reported at `at`.
    ///
    /// A run seen for the first time counts from zero only when `fresh` (the operator has been metering the
    /// cluster since before the run could have started, so every unit it charged is new); otherwise (after an
    /// operator restart) its first report is only a baseline.
    pub fn observe(&mut self, node: &str, sample: NodeSample, at: Timestamp, fresh: bool) {
        self.count_run(&sample.own_run(at), at, fresh);
        for run in &sample.other_runs {
            self.count_run(run, at, fresh);
        }
        if let Some(p) = self.nodes.get(node).filter(|p| p.at < at).cloned() {
            let (from, to) = (p.at.as_millisecond(), at.as_millisecond());
            let (b0, b1) = (p.sample.dataset_bytes as f64, sample.dataset_bytes as f64);
            let node_type = self.node_type.clone();
            self.spread(from, to, |hour, a, b, span| {
                // The bytes at a and b on the line from b0 to b1, integrated over [a, b].
                let at_a = b0 + (b1 - b0) * (a - from) as f64 / span;
                let at_b = b0 + (b1 - b0) * (b - from) as f64 / span;
                let hours = (b - a) as f64 / 3_600_000.0;
                hour.storage_gb_hours += (at_a + at_b) / 2.0 / BYTES_PER_GB * hours;
                *hour.node_hours.entry(node_type.clone()).or_default() += hours;
            });
        }
        self.last_scrape = Some(self.last_scrape.map_or(at, |l| l.max(at)));
        self.nodes
            .insert(node.to_string(), LastScrape { sample, at });
        let dataset = self.dataset_bytes();
        let hour = self.hours.entry(hour_of(at)).or_default();
        hour.peak_dataset_bytes = hour.peak_dataset_bytes.max(dataset);
    }

    /// Ends a scrape round at `at`: the least billed storage (`minimum_gb`) accrues since the previous round,
    /// and the request rate since then is computed.
    pub fn end_round(&mut self, at: Timestamp, minimum_gb: Option<f64>) {
        let total = self.ecpu_total_all();
        if let Some((previous, units)) = self.last_round.filter(|(p, _)| *p < at) {
            let seconds = (at.as_millisecond() - previous.as_millisecond()) as f64 / 1000.0;
            self.ecpu_per_second = Some(total.saturating_sub(units) as f64 / seconds);
            if let Some(gb) = minimum_gb.filter(|g| *g > 0.0) {
                self.spread(
                    previous.as_millisecond(),
                    at.as_millisecond(),
                    |hour, a, b, _| {
                        hour.minimum_gb_hours += gb * (b - a) as f64 / 3_600_000.0;
                    },
                );
            }
        }
        self.last_round = Some((at, total));
        self.prune(at);
    }

    /// Calls `f(hour, from, to, span)` for each hour piece of [from_ms, to_ms] (the hour being final or not:
    /// measured storage and node time belong where they were measured).
    fn spread(&mut self, from_ms: i64, to_ms: i64, mut f: impl FnMut(&mut Hour, i64, i64, f64)) {
        let span = (to_ms - from_ms).max(1) as f64;
        let mut a = from_ms;
        while a < to_ms {
            let hour = a.div_euclid(3_600_000) * 3600;
            let b = ((hour + 3600) * 1000).min(to_ms);
            f(self.hours.entry(hour).or_default(), a, b, span);
            a = b;
        }
    }

    /// Counts a run's report: the units since the run's last counted value, each in the hour it was charged in.
    fn count_run(&mut self, run: &RunReport, now: Timestamp, fresh: bool) {
        let (from, from_ms) = match self.runs.get(&run.run_id) {
            Some(c) => (unsigned(c.billed), unsigned(c.at_ms)),
            None if fresh => (0, 0),
            None => {
                self.runs.insert(
                    run.run_id.clone(),
                    RunCounted {
                        billed: signed(run.billed),
                        at_ms: signed(run.at_ms),
                    },
                );
                return;
            }
        };
        if run.billed <= from {
            return;
        }
        let boundaries: Vec<(i64, u64)> = run
            .marks
            .iter()
            .map(|&(h, v)| (i64::try_from(h).unwrap_or(0), v))
            .filter(|&(h, _)| h * 1000 > i64::try_from(from_ms).unwrap_or(0))
            .filter(|&(h, _)| h * 1000 <= i64::try_from(run.at_ms).unwrap_or(i64::MAX))
            .collect();
        let mut hour = if from_ms > 0 {
            hour_of_ms(from_ms)
        } else {
            boundaries
                .first()
                .map_or_else(|| hour_of_ms(run.at_ms), |b| b.0)
        };
        let mut cursor = from;
        for (start, count) in boundaries {
            let count = count.clamp(cursor, run.billed);
            self.add_units(hour, count - cursor, now);
            cursor = count;
            hour = start;
        }
        self.add_units(hour, run.billed - cursor, now);
        self.runs.insert(
            run.run_id.clone(),
            RunCounted {
                billed: signed(run.billed),
                at_ms: signed(run.at_ms),
            },
        );
    }

    /// Adds units to an hour, or to the current hour when that one is final already.
    fn add_units(&mut self, hour: i64, units: u64, now: Timestamp) {
        if units == 0 {
            return;
        }
        let hour = if self.is_final(hour, now) {
            hour_of(now)
        } else {
            hour
        };
        self.hours.entry(hour).or_default().ecpu += units;
    }

    fn is_final(&self, hour: i64, now: Timestamp) -> bool {
        let grace = i64::try_from(self.grace.as_secs()).unwrap_or(i64::MAX);
        now.as_second() >= hour + 3600 + grace
    }

    /// Forgets a node that was removed (its counted units stay in the totals).
    pub fn forget(&mut self, node: &str) {
        self.nodes.remove(node);
    }

    fn prune(&mut self, now: Timestamp) {
        // Hours of the month before the previous one are final and reported: drop them.
        let keep_from = hour_of(now) - 62 * 24 * 3600;
        self.hours.retain(|h, _| *h >= keep_from);
        if self.runs.len() > RUNS_KEPT {
            let mut by_age: Vec<(i64, String)> = self
                .runs
                .iter()
                .map(|(id, c)| (c.at_ms, id.clone()))
                .collect();
            by_age.sort();
            for (_, id) in by_age.iter().take(self.runs.len() - RUNS_KEPT) {
                self.runs.remove(id);
            }
        }
    }

    fn month_hours(&self, month: &str) -> impl Iterator<Item = (&i64, &Hour)> {
        let month = month.to_string();
        self.hours
            .iter()
            .filter(move |(h, _)| month_of(timestamp(**h)) == month)
    }

    fn current_month(&self) -> Option<String> {
        self.last_scrape.map(month_of)
    }

    fn ecpu_total_all(&self) -> u64 {
        self.hours.values().map(|h| h.ecpu).sum()
    }

    /// Units counted in the month of the last scrape.
    pub fn ecpu_total(&self) -> u64 {
        self.current_month()
            .map_or(0, |m| self.month_hours(&m).map(|(_, h)| h.ecpu).sum())
    }

    /// Measured storage in the month of the last scrape, in GB-hours.
    pub fn storage_gb_hours(&self) -> f64 {
        self.current_month().map_or(0.0, |m| {
            self.month_hours(&m).map(|(_, h)| h.storage_gb_hours).sum()
        })
    }

    /// Every node's latest dataset, added up.
    pub fn dataset_bytes(&self) -> u64 {
        self.nodes.values().map(|n| n.sample.dataset_bytes).sum()
    }

    /// Months that have hours, oldest first.
    pub fn months(&self) -> Vec<String> {
        let mut months: Vec<String> = self.hours.keys().map(|h| month_of(timestamp(*h))).collect();
        months.dedup();
        months
    }

    fn checkpoint(&self) -> UsageCheckpoint {
        UsageCheckpoint {
            last_scrape: self.last_scrape.map(|t| t.to_string()),
            nodes: self.node_counters(),
            runs: self.runs.clone(),
        }
    }

    fn node_counters(&self) -> BTreeMap<String, NodeCounters> {
        self.nodes
            .iter()
            .map(|(name, last)| {
                let counters = NodeCounters {
                    run_id: last.sample.run_id.clone(),
                    ecpu_total: signed(last.sample.ecpu_total),
                    unbilled_ecpu: signed(last.sample.unbilled_ecpu),
                    dataset_bytes: signed(last.sample.dataset_bytes),
                    at: last.at.to_string(),
                };
                (name.clone(), counters)
            })
            .collect()
    }

    /// The report of `month` (`YYYY-MM`) as of `now`, with the checkpoint to resume from.
    pub fn report(
        &self,
        cluster: &str,
        uid: &str,
        engine: &str,
        month: &str,
        now: Timestamp,
    ) -> CacheUsageReportSpec {
        let hours: Vec<UsageHour> = self
            .month_hours(month)
            .map(|(start, h)| UsageHour {
                start: timestamp(*start).to_string(),
                ecpu: signed(h.ecpu),
                storage_gb_hours: h.storage_gb_hours,
                billed_storage_gb_hours: h.storage_gb_hours.max(h.minimum_gb_hours),
                node_hours: h.node_hours.clone(),
                peak_dataset_bytes: signed(h.peak_dataset_bytes),
                r#final: self.is_final(*start, now),
            })
            .collect();
        let mut node_hours: BTreeMap<String, f64> = BTreeMap::new();
        for h in &hours {
            for (t, n) in &h.node_hours {
                *node_hours.entry(t.clone()).or_default() += n;
            }
        }
        let grace = i64::try_from(self.grace.as_secs()).unwrap_or(0);
        let final_through = timestamp(hour_of(timestamp(now.as_second() - grace)));
        CacheUsageReportSpec {
            cluster_name: cluster.into(),
            cluster_uid: uid.into(),
            engine: engine.into(),
            month: month.into(),
            ecpu_total: hours.iter().map(|h| h.ecpu).sum(),
            storage_gb_hours: hours.iter().map(|h| h.storage_gb_hours).sum(),
            billed_storage_gb_hours: hours.iter().map(|h| h.billed_storage_gb_hours).sum(),
            node_hours_total: node_hours.values().sum(),
            node_hours,
            peak_dataset_bytes: hours
                .iter()
                .map(|h| h.peak_dataset_bytes)
                .max()
                .unwrap_or(0),
            final_through: Some(final_through.to_string()),
            cluster_deleted_at: None,
            hours,
            checkpoint: Some(self.checkpoint()),
        }
    }

    /// The totals as published in `status.usage` (the month of the last scrape).
    pub fn usage(&self) -> UsageStatus {
        let month_start = self.last_scrape.map(month_start);
        UsageStatus {
            ecpu_total: signed(self.ecpu_total()),
            storage_gb_hours: self.storage_gb_hours(),
            period_start: month_start.map(|t| t.to_string()),
            last_scrape: self.last_scrape.map(|t| t.to_string()),
            nodes: self.node_counters(),
            dataset_bytes: self.last_scrape.map(|_| signed(self.dataset_bytes())),
            ecpu_per_second: self.ecpu_per_second,
            throttled_requests: self
                .last_scrape
                .map(|_| signed(self.nodes.values().map(|n| n.sample.throttled).sum())),
            report: None,
        }
    }
}

/// Parses an engine's `usage_hour_marks` value (`hour:count;…`, or `-` for none).
pub fn parse_marks(text: &str) -> Vec<(u64, u64)> {
    text.split(';')
        .filter_map(|m| {
            let (h, v) = m.split_once(':')?;
            Some((h.trim().parse().ok()?, v.trim().parse().ok()?))
        })
        .collect()
}

/// Parses a `usage_run<i>` value: `run_id=…,billed=…,at_ms=…,source=…,marks=…`.
pub fn parse_run(text: &str) -> Option<RunReport> {
    let mut run = RunReport::default();
    for field in text.trim().split(',') {
        let (k, v) = field.split_once('=')?;
        match k {
            "run_id" => run.run_id = v.to_string(),
            "billed" => run.billed = v.parse().ok()?,
            "at_ms" => run.at_ms = v.parse().ok()?,
            "marks" => run.marks = parse_marks(v),
            _ => {}
        }
    }
    (!run.run_id.is_empty()).then_some(run)
}

impl NodeSample {
    /// Adds the billing fields of a node's usage lines (`INFO usage` or memcached `stats`, by name).
    pub fn with_billing_fields(mut self, fields: &BTreeMap<String, String>) -> Self {
        let number = |k: &str| fields.get(k).and_then(|v| v.trim().parse::<u64>().ok());
        self.billed = number("ecpu_billed");
        self.at_ms = number("usage_at_ms");
        self.marks = fields
            .get("usage_hour_marks")
            .map(|m| parse_marks(m))
            .unwrap_or_default();
        self.other_runs = fields
            .iter()
            .filter(|(k, _)| k.starts_with("usage_run") && k.as_str() != "usage_runs")
            .filter_map(|(_, v)| parse_run(v))
            .collect();
        self.throttled = number("usage_throttled").unwrap_or(0);
        self
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

/// Midnight UTC of the first day of `at`'s month.
pub fn month_start(at: Timestamp) -> Timestamp {
    let date = at.to_zoned(TimeZone::UTC).date();
    date.first_of_month()
        .to_zoned(TimeZone::UTC)
        .map(|z| z.timestamp())
        .unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn ms(text: &str) -> u64 {
        at(text).as_millisecond() as u64
    }

    fn secs(text: &str) -> u64 {
        at(text).as_second() as u64
    }

    /// A node's report of its own run: `billed` units at `when`, with hour marks.
    fn sample(
        run_id: &str,
        billed: u64,
        when: &str,
        marks: &[(&str, u64)],
        bytes: u64,
    ) -> NodeSample {
        NodeSample {
            run_id: run_id.into(),
            ecpu_total: billed + 3,
            unbilled_ecpu: 3,
            dataset_bytes: bytes,
            billed: Some(billed),
            at_ms: Some(ms(when)),
            marks: marks.iter().map(|(h, v)| (secs(h), *v)).collect(),
            ..NodeSample::default()
        }
    }

    fn run(run_id: &str, billed: u64, when: &str) -> RunReport {
        RunReport {
            run_id: run_id.into(),
            billed,
            at_ms: ms(when),
            marks: vec![],
        }
    }

    fn hours(acc: &UsageAccumulator, month: &str, now: &str) -> Vec<(String, i64)> {
        acc.report("c", "u", "redis", month, at(now))
            .hours
            .into_iter()
            .filter(|h| h.ecpu > 0)
            .map(|h| (h.start, h.ecpu))
            .collect()
    }

    #[test]
    fn each_runs_increase_counts_once_from_the_engines_billed_counter() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-25T10:00:00Z";
        acc.observe("a", sample("r1", 10, t0, &[], 0), at(t0), true);
        acc.observe("b", sample("r2", 3, t0, &[], 0), at(t0), true);
        let t1 = "2026-11-25T10:00:15Z";
        acc.observe("a", sample("r1", 30, t1, &[], 0), at(t1), true);
        assert_eq!(acc.ecpu_total(), 30 + 3);
    }

    #[test]
    fn a_restarted_operator_takes_a_runs_first_report_as_a_baseline() {
        let mut acc = UsageAccumulator::default();
        let t = "2026-11-25T10:00:00Z";
        acc.observe("a", sample("r1", 40, t, &[], 0), at(t), false);
        assert_eq!(acc.ecpu_total(), 0);
        let t = "2026-11-25T10:00:15Z";
        acc.observe("a", sample("r1", 45, t, &[], 0), at(t), false);
        assert_eq!(acc.ecpu_total(), 5);
    }

    #[test]
    fn a_killed_runs_ledger_and_its_replicas_copy_count_its_last_units_once() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-25T10:00:00Z";
        acc.observe("p", sample("r1", 100, t0, &[], 0), at(t0), true);
        // r1 charged 200 more and was killed before the next scrape. Its replica holds 290 of them (shipped
        // 100 ms before the kill); the restarted node reads 300 from r1's ledger.
        let t1 = "2026-11-25T10:00:15Z";
        let mut replica = sample("r2", 0, t1, &[], 0);
        replica.other_runs = vec![run("r1", 290, t1)];
        acc.observe("q", replica, at(t1), true);
        assert_eq!(acc.ecpu_total(), 290);
        let mut restarted = sample("r3", 2, t1, &[], 0);
        restarted.other_runs = vec![run("r1", 300, t1)];
        acc.observe("p", restarted.clone(), at(t1), true);
        assert_eq!(acc.ecpu_total(), 302);
        // Reported again at the next scrape: nothing more.
        acc.observe("p", restarted, at("2026-11-25T10:00:30Z"), true);
        acc.observe(
            "q",
            NodeSample {
                other_runs: vec![run("r1", 290, t1)],
                ..sample("r2", 0, t1, &[], 0)
            },
            at("2026-11-25T10:00:30Z"),
            true,
        );
        assert_eq!(acc.ecpu_total(), 302);
    }

    #[test]
    fn units_read_after_an_hour_boundary_go_into_the_hour_they_were_charged_in() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-25T10:59:50Z";
        acc.observe(
            "a",
            sample("r1", 100, t0, &[("2026-11-25T10:00:00Z", 0)], 0),
            at(t0),
            true,
        );
        // At 11:00 the run had 130; 25 more since.
        let t1 = "2026-11-25T11:00:05Z";
        let marks = [("2026-11-25T10:00:00Z", 0), ("2026-11-25T11:00:00Z", 130)];
        acc.observe("a", sample("r1", 155, t1, &marks, 0), at(t1), true);
        assert_eq!(
            hours(&acc, "2026-11", t1),
            vec![
                ("2026-11-25T10:00:00Z".to_string(), 130),
                ("2026-11-25T11:00:00Z".to_string(), 25)
            ]
        );
        let report = acc.report("c", "u", "redis", "2026-11", at(t1));
        assert_eq!(report.ecpu_total, 155);
        assert_eq!(
            report.hours.iter().map(|h| h.ecpu).sum::<i64>(),
            report.ecpu_total
        );
        assert!(!report.hours[0].r#final, "10:00 is within its grace period");
        let later = acc.report("c", "u", "redis", "2026-11", at("2026-11-25T11:20:00Z"));
        assert!(later.hours[0].r#final && !later.hours[1].r#final);
        assert_eq!(later.final_through.as_deref(), Some("2026-11-25T11:00:00Z"));
    }

    #[test]
    fn units_learnt_after_their_hour_is_final_go_into_the_current_hour() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-25T10:00:00Z";
        acc.observe("a", sample("r1", 10, t0, &[], 0), at(t0), true);
        // Hours later a ledger says r1 ended at 15 at 10:00:10.
        let t1 = "2026-11-25T13:00:00Z";
        let mut restarted = sample("r2", 0, t1, &[], 0);
        restarted.other_runs = vec![run("r1", 15, "2026-11-25T10:00:10Z")];
        acc.observe("a", restarted, at(t1), true);
        assert_eq!(
            hours(&acc, "2026-11", t1),
            vec![
                ("2026-11-25T10:00:00Z".to_string(), 10),
                ("2026-11-25T13:00:00Z".to_string(), 5)
            ]
        );
    }

    #[test]
    fn storage_is_the_time_integral_of_sampled_bytes_split_by_hour() {
        let mut acc = UsageAccumulator::default();
        acc.set_node_type("cache.large");
        let gb = 1_000_000_000;
        acc.observe(
            "a",
            sample("r1", 0, "2026-11-25T10:30:00Z", &[], 2 * gb),
            at("2026-11-25T10:30:00Z"),
            true,
        );
        acc.observe(
            "a",
            sample("r1", 0, "2026-11-25T11:30:00Z", &[], 4 * gb),
            at("2026-11-25T11:30:00Z"),
            true,
        );
        // 2 → 4 GB over an hour: 3 GB-hours, 1.25 in the first half hour and 1.75 in the second.
        let report = acc.report("c", "u", "redis", "2026-11", at("2026-11-25T11:30:00Z"));
        let storage: Vec<f64> = report.hours.iter().map(|h| h.storage_gb_hours).collect();
        assert!(
            (storage[0] - 1.25).abs() < 1e-9 && (storage[1] - 1.75).abs() < 1e-9,
            "{storage:?}"
        );
        assert!((report.storage_gb_hours - 3.0).abs() < 1e-9);
        assert!((report.node_hours["cache.large"] - 1.0).abs() < 1e-9);
        assert_eq!(report.peak_dataset_bytes, 4 * gb as i64);
    }

    #[test]
    fn at_least_the_minimum_storage_is_billed() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-25T10:00:00Z";
        acc.observe("a", sample("r1", 0, t0, &[], 500_000_000), at(t0), true);
        acc.end_round(at(t0), Some(2.0));
        let t1 = "2026-11-25T10:30:00Z";
        acc.observe("a", sample("r1", 0, t1, &[], 500_000_000), at(t1), true);
        acc.end_round(at(t1), Some(2.0));
        let report = acc.report("c", "u", "redis", "2026-11", at(t1));
        assert!((report.storage_gb_hours - 0.25).abs() < 1e-9);
        assert!((report.billed_storage_gb_hours - 1.0).abs() < 1e-9);
    }

    #[test]
    fn a_restarted_operator_continues_exactly_from_its_last_report() {
        let mut before = UsageAccumulator::default();
        let t0 = "2026-11-25T10:00:00Z";
        before.observe("a", sample("r1", 30, t0, &[], 0), at(t0), true);
        let t1 = "2026-11-25T10:00:15Z";
        before.observe("a", sample("r1", 50, t1, &[], 0), at(t1), true);
        let report = before.report("c", "u", "redis", "2026-11", at(t1));
        let stored: CacheUsageReportSpec =
            serde_json::from_value(serde_json::to_value(&report).unwrap()).unwrap();
        let mut after = UsageAccumulator::resume(Some(&before.usage()), &[stored]);
        assert_eq!(after.ecpu_total(), 50);
        let t2 = "2026-11-25T10:05:00Z";
        after.observe("a", sample("r1", 57, t2, &[], 0), at(t2), false);
        assert_eq!(after.ecpu_total(), 57);
    }

    #[test]
    fn a_status_from_before_reports_seeds_its_totals() {
        let usage = UsageStatus {
            ecpu_total: 45,
            storage_gb_hours: 1.5,
            last_scrape: Some("2026-11-25T10:00:00Z".into()),
            nodes: BTreeMap::from([(
                "a".to_string(),
                NodeCounters {
                    run_id: "r1".into(),
                    ecpu_total: 48,
                    unbilled_ecpu: 3,
                    dataset_bytes: 0,
                    at: "2026-11-25T10:00:00Z".into(),
                },
            )]),
            ..UsageStatus::default()
        };
        let mut acc = UsageAccumulator::resume(Some(&usage), &[]);
        assert_eq!(acc.ecpu_total(), 45);
        let t = "2026-11-25T10:00:15Z";
        acc.observe("a", sample("r1", 50, t, &[], 0), at(t), false);
        assert_eq!(acc.ecpu_total(), 50);
    }

    #[test]
    fn totals_belong_to_the_month_of_the_last_scrape() {
        let mut acc = UsageAccumulator::default();
        let t0 = "2026-11-30T23:00:00Z";
        acc.observe("a", sample("r1", 10, t0, &[], 0), at(t0), true);
        // Read within the grace period of November's last hour.
        let t1 = "2026-12-01T00:10:00Z";
        let marks = [("2026-12-01T00:00:00Z", 20)];
        acc.observe("a", sample("r1", 25, t1, &marks, 0), at(t1), true);
        let usage = acc.usage();
        assert_eq!(usage.period_start.as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(usage.ecpu_total, 5);
        assert_eq!(
            acc.months(),
            vec!["2026-11".to_string(), "2026-12".to_string()]
        );
        assert_eq!(
            acc.report("c", "u", "redis", "2026-11", at(t1)).ecpu_total,
            20
        );
    }

    #[test]
    fn engine_usage_lines_are_parsed() {
        let fields: BTreeMap<String, String> = [
            ("ecpu_billed", "42"),
            ("usage_at_ms", "1796650768646"),
            ("usage_hour_marks", "1796648400:0;1796652000:40"),
            ("usage_throttled", "7"),
            ("usage_runs", "1"),
            (
                "usage_run0",
                "run_id=abc,billed=51,at_ms=1796650768311,source=ledger,marks=1796648400:0",
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = NodeSample::default().with_billing_fields(&fields);
        assert_eq!(s.billed, Some(42));
        assert_eq!(s.marks, vec![(1796648400, 0), (1796652000, 40)]);
        assert_eq!(s.throttled, 7);
        assert_eq!(
            s.other_runs,
            vec![RunReport {
                run_id: "abc".into(),
                billed: 51,
                at_ms: 1796650768311,
                marks: vec![(1796648400, 0)]
            }]
        );
        assert!(parse_marks("-").is_empty());
    }
}
