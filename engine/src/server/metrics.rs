//! Prometheus metrics of a node, encoded with `prometheus-client` at scrape time from the same counters INFO
//! reads, and served over HTTP on `metrics-port` (`GET /metrics`, OpenMetrics text).

use std::fmt::Error as FmtError;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::catalogue::COMMANDS;
use crate::clock::now_ms;
use crate::node::Node;
use crate::replication::Role;

/// Reads a node's counters on every scrape.
struct NodeCollector(Arc<Node>);

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCollector")
    }
}

fn counter(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), FmtError> {
    let c = ConstCounter::new(v);
    c.encode(e.encode_descriptor(name, help, None, c.metric_type())?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: i64) -> Result<(), FmtError> {
    let g = ConstGauge::new(v);
    g.encode(e.encode_descriptor(name, help, None, g.metric_type())?)
}

impl Collector for NodeCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), FmtError> {
        let node = &self.0;
        let t = node.metering().lifetime();
        for (name, help, v) in counters(node, &t) {
            counter(&mut e, name, help, v)?;
        }
        let per_command = |v: &[u64]| COMMANDS.iter().map(|s| s.name).zip(v.to_vec());
        let calls: Vec<u64> = t.commands.iter().map(|c| c.0).collect();
        labelled_counters(
            &mut e,
            "ferrocache_command_calls",
            "Calls per command since start.",
            per_command(&calls),
        )?;
        labelled_counters(
            &mut e,
            "ferrocache_command_ecpu",
            "Request units charged per command since start.",
            per_command(&t.command_units),
        )?;
        for (name, help, v) in gauges(node) {
            gauge(&mut e, name, help, v)?;
        }
        keys_per_db(&mut e, node)?;
        node_info(&mut e, node)
    }
}

/// The node's lifetime counters: (name, help, value).
fn counters(node: &Node, t: &crate::metering::Totals) -> Vec<(&'static str, &'static str, u64)> {
    let (expired, evicted) = node.ks().expired_evicted();
    let clients = &node.clients();
    vec![
        (
            "ferrocache_ecpu",
            "Request units (ECPU) charged since start.",
            t.units,
        ),
        (
            "ferrocache_ecpu_billed",
            "Billed request units (ECPU) since start: management commands left out.",
            node.metering().ledger().billed(),
        ),
        (
            "ferrocache_usage_throttled",
            "Requests refused by the request-unit rate limit (usage-max-ecpu-per-second).",
            node.metering().throttled(),
        ),
        (
            "ferrocache_commands_processed",
            "Commands executed since start.",
            t.total_commands(),
        ),
        (
            "ferrocache_keyspace_hits",
            "Reads that found their key.",
            t.hits,
        ),
        (
            "ferrocache_keyspace_misses",
            "Reads that did not find their key.",
            t.misses,
        ),
        (
            "ferrocache_net_input_bytes",
            "Bytes read from clients.",
            t.net_in,
        ),
        (
            "ferrocache_net_output_bytes",
            "Bytes written to clients.",
            t.net_out,
        ),
        (
            "ferrocache_expired_keys",
            "Keys deleted because their TTL passed.",
            expired,
        ),
        (
            "ferrocache_evicted_keys",
            "Keys evicted to stay under maxmemory.",
            evicted,
        ),
        ("ferrocache_error_replies", "Error replies sent.", t.errors),
        (
            "ferrocache_connections_received",
            "Connections accepted.",
            clients.received.load(Ordering::Relaxed),
        ),
        (
            "ferrocache_rejected_connections",
            "Connections refused (maxclients).",
            clients.rejected.load(Ordering::Relaxed),
        ),
    ]
}

/// The node's gauges: (name, help, value).
fn gauges(node: &Node) -> Vec<(&'static str, &'static str, i64)> {
    let dataset: usize = (0..node.ks().databases())
        .map(|db| {
            let mut b = 0;
            node.ks().for_each_shard(db, |s| b += s.bytes());
            b
        })
        .sum();
    let uptime = node.uptime().as_secs();
    vec![
        (
            "ferrocache_dataset_bytes",
            "Bytes held by keys and values.",
            dataset as i64,
        ),
        (
            "ferrocache_maxmemory_bytes",
            "The maxmemory limit (0 = none).",
            node.config().maxmemory as i64,
        ),
        (
            "ferrocache_usage_max_storage_bytes",
            "The storage usage limit of this node (0 = none).",
            node.config().usage_max_storage as i64,
        ),
        (
            "ferrocache_usage_max_ecpu_per_second",
            "The request-unit rate limit of this node (0 = none).",
            node.config().usage_max_ecpu_per_second as i64,
        ),
        (
            "ferrocache_resident_memory_bytes",
            "Resident set size of the process.",
            crate::metering::process::rss_bytes() as i64,
        ),
        (
            "ferrocache_connected_clients",
            "Connected clients.",
            node.clients().count() as i64,
        ),
        (
            "ferrocache_replication_offset",
            "Replication stream offset.",
            node.repl().offset() as i64,
        ),
        (
            "ferrocache_connected_replicas",
            "Replicas connected to this primary.",
            node.repl().replicas.lock().len() as i64,
        ),
        (
            "ferrocache_start_time_seconds",
            "Unix time the process started.",
            (now_ms() / 1000 - uptime) as i64,
        ),
        (
            "ferrocache_uptime_seconds",
            "Seconds since start.",
            uptime as i64,
        ),
    ]
}

/// A counter family labelled by command; commands never called are left out.
fn labelled_counters<'a>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    values: impl Iterator<Item = (&'a str, u64)>,
) -> Result<(), FmtError> {
    let mut family =
        e.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (cmd, v) in values.filter(|&(_, v)| v > 0) {
        ConstCounter::new(v).encode(family.encode_family(&[("cmd", cmd)])?)?;
    }
    Ok(())
}

/// `ferrocache_keys{db}`, for the databases that hold keys.
fn keys_per_db(e: &mut DescriptorEncoder, node: &Node) -> Result<(), FmtError> {
    let g = ConstGauge::new(0i64);
    let mut family = e.encode_descriptor(
        "ferrocache_keys",
        "Keys per database.",
        None,
        g.metric_type(),
    )?;
    for db in 0..node.ks().databases() {
        let n = node.ks().dbsize(db);
        if n > 0 {
            let label = db.to_string();
            ConstGauge::new(n as i64).encode(family.encode_family(&[("db", label.as_str())])?)?;
        }
    }
    Ok(())
}

/// `ferrocache_node_info{run_id, role, version} 1`.
fn node_info(e: &mut DescriptorEncoder, node: &Node) -> Result<(), FmtError> {
    let g = ConstGauge::new(1i64);
    let role = match node.repl().role() {
        Role::Primary => "primary",
        Role::Replica => "replica",
        Role::Standby => "standby",
    };
    let mut family = e.encode_descriptor(
        "ferrocache_node_info",
        "Identity of this node process; run_id changes at every start.",
        None,
        g.metric_type(),
    )?;
    let labels = [
        ("run_id", node.run_id()),
        ("role", role),
        ("version", env!("CARGO_PKG_VERSION")),
    ];
    g.encode(family.encode_family(&labels)?)
}

/// Renders the metrics text of a node.
pub fn render(node: &Arc<Node>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(NodeCollector(node.clone())));
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &registry).is_err() {
        text.clear();
    }
    text
}

/// Serves `GET /metrics` until the task is dropped.
pub async fn serve(node: Arc<Node>, listener: TcpListener) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let node = node.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = 0;
            while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") && got < buf.len() {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    socket.read(&mut buf[got..]),
                )
                .await
                {
                    Ok(Ok(n)) if n > 0 => got += n,
                    _ => return,
                }
            }
            let request = String::from_utf8_lossy(&buf[..got]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let response = if request.starts_with("GET ")
                && (path == "/metrics" || path.starts_with("/metrics?"))
            {
                let body = render(&node);
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_string()
            };
            let _ = socket.write_all(response.as_bytes()).await;
        });
    }
}
