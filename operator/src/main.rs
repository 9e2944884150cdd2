//! `ferrocache-operator`: runs the CacheCluster and CacheParameterGroup controllers against a Kubernetes cluster
//! (in-cluster service account or the current kubeconfig context), or runs one CacheCluster as engine processes on
//! this machine (`local`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use ferrocache_operator::http::{self, HttpState};
use ferrocache_operator::leader_election::{self, LeaseSettings};
use ferrocache_operator::local::{self, LocalCluster, LocalSettings, Report};
use ferrocache_operator::metrics::Metrics;
use ferrocache_operator::platform::local::engine_binary;
use ferrocache_operator::reconcile::{self, Context};
use ferrocache_operator::rollout::Clock;
use prometheus_client::registry::Registry;
use tracing::{error, info};

#[derive(Debug, Parser)]
#[command(
    name = "ferrocache-operator",
    version,
    about = "Ferrocache operator: managed caches on Kubernetes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Reconcile CacheClusters and CacheParameterGroups in the Kubernetes cluster of the current context.
    Run(RunArgs),
    /// Run a CacheCluster on this machine: engine processes on 127.0.0.1, endpoints, status, failover.
    Local(LocalArgs),
    /// Export hourly usage records (from the CacheUsageReports of the current context, or of a local state
    /// directory) as CSV or JSON Lines, for a billing system to import.
    Usage(UsageArgs),
}

#[derive(Debug, Args)]
struct UsageArgs {
    /// Only this namespace (default: every namespace).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Only this cluster.
    #[arg(long)]
    cluster: Option<String>,
    /// The hours of this month, `YYYY-MM` (UTC).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    month: Option<String>,
    /// First hour included (RFC 3339).
    #[arg(long, value_parser = parse_timestamp)]
    from: Option<jiff::Timestamp>,
    /// First hour excluded (RFC 3339).
    #[arg(long, value_parser = parse_timestamp)]
    to: Option<jiff::Timestamp>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = UsageFormat::Csv)]
    format: UsageFormat,
    /// Read the reports a local run wrote under this state directory instead of the Kubernetes API.
    #[arg(long)]
    state_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum UsageFormat {
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON object per line.
    Jsonl,
}

#[derive(Debug, Args)]
struct LocalArgs {
    /// Manifest files: one CacheCluster and the CacheParameterGroup it names (repeat -f for several files).
    #[arg(short = 'f', long = "filename", required = true)]
    files: Vec<PathBuf>,
    /// Where node data directories and logs go (`<state-dir>/<namespace>/<name>/<node>/`).
    #[arg(long, default_value = ".ferrocache")]
    state_dir: PathBuf,
    /// Primary (or configuration) endpoint port; the reader endpoint and the nodes take the ports after it.
    /// Defaults to the cluster's port (6379 for redis, 11211 for memcached); 0 picks free ports.
    #[arg(long)]
    base_port: Option<u16>,
    /// Time between health checks of each primary, e.g. `1s` or `500ms`.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    health_interval: Duration,
    /// How long a primary may miss health checks before a replica replaces it.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    failover_window: Duration,
    /// Time between status lines.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    status_interval: Duration,
    /// Time between metering scrapes; defaults to the cluster's `metering.interval` (15s).
    #[arg(long, value_parser = parse_duration)]
    metering_interval: Option<Duration>,
    /// Shortest time between two writes of `<state-dir>/<namespace>/<name>/status.yaml`.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    status_write_interval: Duration,
    /// Pretend it is this time (RFC 3339, e.g. `2024-06-02T05:30:00Z`) when checking the maintenance window,
    /// to try a window without waiting for it.
    #[arg(long, value_parser = parse_timestamp)]
    now: Option<jiff::Timestamp>,
}

fn parse_timestamp(text: &str) -> Result<jiff::Timestamp, String> {
    text.parse()
        .map_err(|e| format!("{text:?} is not an RFC 3339 time like 2024-06-02T05:30:00Z: {e}"))
}

/// `500ms`, `2s`, `1m` or a bare number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => text.split_at(i),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 500ms, 2s or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("{text:?}: {e}"))
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Address of the health (/healthz, /readyz) and metrics (/metrics) endpoints.
    #[arg(long, env = "FERROCACHE_HTTP_ADDR", default_value = "0.0.0.0:8080")]
    http_addr: SocketAddr,
    /// Elect a leader through a Lease, so only one replica reconciles.
    #[arg(long, env = "FERROCACHE_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    leader_election: bool,
    /// Name of the leader election Lease.
    #[arg(
        long,
        env = "FERROCACHE_LEASE_NAME",
        default_value = "ferrocache-operator"
    )]
    lease_name: String,
    /// Namespace of the Lease (the operator's own namespace; defaults to the client's namespace).
    #[arg(long, env = "POD_NAMESPACE")]
    lease_namespace: Option<String>,
    /// This replica's identity in the Lease and in Events (the pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Log format.
    #[arg(long, env = "FERROCACHE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    log_format: LogFormat,
    /// Least time between two writes of a cluster's `status.usage` (scrapes happen every `metering.interval`
    /// regardless), e.g. `5m` or `30s`.
    #[arg(long, env = "FERROCACHE_USAGE_PUBLISH_INTERVAL", default_value = "5m", value_parser = parse_duration)]
    usage_publish_interval: Duration,
    /// Days a CacheUsageReport is kept after its month ends (also when its cluster was deleted).
    #[arg(
        long,
        env = "FERROCACHE_USAGE_REPORT_RETENTION_DAYS",
        default_value_t = 400
    )]
    usage_report_retention_days: u64,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// One JSON object per line, for log collectors.
    Json,
    /// Human-readable lines.
    Text,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run(args) => run(args).await,
        Command::Local(args) => run_local(args).await,
        Command::Usage(args) => export_usage(args).await,
    }
}

async fn export_usage(args: UsageArgs) -> anyhow::Result<()> {
    use ferrocache_operator::api::CacheUsageReport;
    use ferrocache_operator::usage_export::{self, Range};
    use kube::Api;
    let range = match &args.month {
        Some(month) => Range::month(month).map_err(anyhow::Error::msg)?,
        None => Range {
            from: args.from,
            to: args.to,
        },
    };
    let mut reports: Vec<CacheUsageReport> = match &args.state_dir {
        Some(dir) => local::read_all_reports(dir),
        None => {
            let client = kube::Client::try_default()
                .await
                .context("no Kubernetes client configuration (in-cluster or kubeconfig)")?;
            let api: Api<CacheUsageReport> = match &args.namespace {
                Some(ns) => Api::namespaced(client, ns),
                None => Api::all(client),
            };
            api.list(&Default::default())
                .await
                .context("listing CacheUsageReports")?
                .items
        }
    };
    reports.retain(|r| {
        args.namespace
            .as_deref()
            .is_none_or(|ns| r.metadata.namespace.as_deref() == Some(ns))
            && args
                .cluster
                .as_deref()
                .is_none_or(|c| r.spec.cluster_name == c)
    });
    let records = usage_export::records(&reports, &range);
    let text = match args.format {
        UsageFormat::Csv => usage_export::to_csv(&records),
        UsageFormat::Jsonl => usage_export::to_json_lines(&records),
    };
    print!("{text}");
    Ok(())
}

async fn run_local(args: LocalArgs) -> anyhow::Result<()> {
    init_logging(LogFormat::Text);
    let manifests = local::load(&args.files)?;
    let mut settings = LocalSettings::new(engine_binary::locate_or_build()?);
    settings.state_root = args.state_dir;
    settings.base_port = match args.base_port {
        Some(0) => None,
        Some(port) => Some(port),
        None => u16::try_from(manifests.cluster.spec.client_port()).ok(),
    };
    settings.health_interval = args.health_interval;
    settings.failover_window = args.failover_window;
    settings.manifest_files = args.files.clone();
    settings.metering_interval = args.metering_interval;
    settings.status_write_interval = args.status_write_interval;
    if let Some(now) = args.now {
        settings.clock = Clock::fixed(now);
    }
    let spec = manifests.cluster.spec.clone();
    let cluster = LocalCluster::start(manifests, settings).await?;
    print_endpoints(&cluster, &spec);
    cluster
        .run(
            args.status_interval,
            shutdown_signal(),
            |report| match report {
                Report::Status(line) => println!("[{}] {line}", clock()),
                Report::Event(event) => println!("[{}] {event}", clock()),
            },
        )
        .await;
    println!("[{}] every node stopped", clock());
    Ok(())
}

fn print_endpoints(cluster: &LocalCluster, spec: &ferrocache_operator::api::CacheClusterSpec) {
    let endpoints = cluster.endpoints();
    println!(
        "{} ({}, {} node group(s) x {} node(s)) running locally; data and logs in {}",
        cluster.name(),
        spec.engine.as_str(),
        spec.node_groups(),
        spec.nodes_per_group(),
        cluster.state_dir().display()
    );
    for note in cluster.notes() {
        println!("  ignored locally: {note}");
    }
    if let Some(a) = endpoints.primary {
        println!(
            "  primary endpoint        {a}   (read-write: redis-cli -p {})",
            a.port()
        );
    }
    if let Some(a) = endpoints.reader {
        println!("  reader endpoint         {a}   (read-only replicas)");
    }
    if let Some(a) = endpoints.configuration {
        if spec.sharded() {
            println!(
                "  configuration endpoint  {a}   (cluster clients start here: redis-cli -c -p {})",
                a.port()
            );
        } else {
            println!("  configuration endpoint  {a}   (auto discovery: config get cluster)");
        }
    }
    for (shard, slots) in cluster.slot_counts() {
        println!("  shard {shard:<23} {slots} slots");
    }
    let groups = usize::try_from(spec.node_groups()).unwrap_or(1);
    for (name, address) in &endpoints.nodes {
        let role = if (0..groups).any(|g| cluster.primary(g) == Some(name.as_str())) {
            "primary"
        } else if spec.engine == ferrocache_operator::api::Engine::Redis {
            "replica"
        } else {
            "memcached"
        };
        println!("  node {name:<24} {address}   {role}");
    }
    println!("Ctrl-C stops every node.");
}

fn clock() -> String {
    jiff::Timestamp::now().strftime("%H:%M:%S").to_string()
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes client configuration (in-cluster or kubeconfig)")?;
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("ferrocache-operator-{}", std::process::id()));

    let mut registry = Registry::default();
    let metrics = Metrics::default().register(&mut registry);
    let ready = Arc::new(AtomicBool::new(false));
    let state = HttpState {
        registry: Arc::new(registry),
        ready: ready.clone(),
    };
    let http_addr = args.http_addr;
    tokio::spawn(async move {
        if let Err(e) = http::serve(http_addr, state).await {
            error!(error = %e, "health and metrics endpoints stopped");
        }
    });
    info!(addr = %http_addr, "health and metrics endpoints listening");

    let lease = LeaseSettings {
        name: args.lease_name.clone(),
        namespace: args
            .lease_namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string()),
        identity: identity.clone(),
        lease_duration: Duration::from_secs(15),
        renew_interval: Duration::from_secs(5),
    };
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel();
    if args.leader_election {
        info!(lease = %lease.name, namespace = %lease.namespace, %identity, "waiting for leadership");
        leader_election::acquire(&client, &lease).await?;
        let renew_client = client.clone();
        tokio::spawn(async move {
            let _ = lost_tx.send(leader_election::keep(renew_client, lease).await);
        });
    }

    let mut ctx = Context::new(client, metrics, Some(identity));
    ctx.usage_publish_every = args.usage_publish_interval;
    ctx.usage_retention = Duration::from_secs(args.usage_report_retention_days * 86_400);
    let ctx = Arc::new(ctx);
    ready.store(true, Ordering::Relaxed);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let controllers = tokio::spawn(reconcile::run(ctx, async move {
        let _ = stop_rx.await;
    }));
    let outcome = tokio::select! {
        _ = shutdown_signal() => {
            info!("shutting down");
            Ok(())
        }
        lost = lost_rx, if args.leader_election => match lost {
            Ok(error) => Err(anyhow::Error::new(error)),
            Err(_) => Ok(()),
        },
    };
    ready.store(false, Ordering::Relaxed);
    let _ = stop_tx.send(());
    let _ = controllers.await;
    outcome
}

/// SIGTERM (Kubernetes stopping the pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
