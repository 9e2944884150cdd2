//! Fixtures of the local platform tests: the engine binary, settings with a private state directory and
//! quick timings, manifests, and small `redis` crate helpers with timeouts.
//!
//! The engine binary is another package's, so `CARGO_BIN_EXE_*` cannot name it: it is looked up in the target
//! directory of this test binary and built with cargo when missing.
#![allow(dead_code)] // each test file uses its own subset

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ferrocache_operator::local::status_line::StatusLine;
use ferrocache_operator::local::{self, Event, LocalCluster, LocalSettings, Report};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Every test must finish within this.
pub const TEST_BUDGET: Duration = Duration::from_secs(90);

static BUILD: Mutex<()> = Mutex::new(());

/// `target/<profile>/ferrocache-engine`, built if missing.
pub fn engine_binary() -> PathBuf {
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps directory");
    let profile_dir = deps.parent().expect("profile directory");
    let binary = profile_dir.join("ferrocache-engine");
    if !binary.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .args([
                "build",
                "-p",
                "ferrocache-engine",
                "--bin",
                "ferrocache-engine",
            ]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building ferrocache-engine failed");
    }
    assert!(
        binary.exists(),
        "{} missing after the build",
        binary.display()
    );
    binary
}

pub fn settings(test: &str) -> LocalSettings {
    let mut settings = LocalSettings::new(engine_binary());
    let root = std::env::temp_dir().join(format!("ferrocache-local-{}-{test}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    settings.state_root = root;
    settings.base_port = None;
    settings.health_interval = Duration::from_millis(500);
    settings.failover_window = Duration::from_secs(2);
    settings
}

pub fn redis_cluster(name: &str, replicas: u32) -> local::Manifests {
    let yaml = format!(
        "apiVersion: ferrocache.io/v1alpha1\nkind: CacheCluster\nmetadata:\n  name: {name}\nspec:\n  \
         engine: redis\n  replicasPerNodeGroup: {replicas}\n  automaticFailoverEnabled: true\n"
    );
    local::parse(&[("test.yaml".into(), yaml)]).expect("test manifest parses")
}

pub async fn connection(
    address: SocketAddr,
) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{address}/"))?;
    match tokio::time::timeout(
        Duration::from_secs(1),
        client.get_multiplexed_async_connection(),
    )
    .await
    {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
    }
}

pub async fn query<T: redis::FromRedisValue>(
    address: SocketAddr,
    cmd: &redis::Cmd,
) -> redis::RedisResult<T> {
    let mut con = connection(address).await?;
    match tokio::time::timeout(Duration::from_secs(3), cmd.query_async(&mut con)).await {
        Ok(result) => result,
        Err(_) => Err(std::io::Error::from(std::io::ErrorKind::TimedOut).into()),
    }
}

pub async fn info_field(address: SocketAddr, name: &str) -> Option<String> {
    let text: String = query(address, redis::cmd("INFO").arg("replication"))
        .await
        .ok()?;
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

pub async fn eventually(what: &str, within: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A field of any INFO section.
pub async fn info_in(address: SocketAddr, section: &str, name: &str) -> Option<String> {
    let text: String = query(address, redis::cmd("INFO").arg(section)).await.ok()?;
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// `CONFIG GET name` on one node.
pub async fn config_get(address: SocketAddr, name: &str) -> Option<String> {
    let pair: Vec<String> = query(address, redis::cmd("CONFIG").arg("GET").arg(name))
        .await
        .ok()?;
    pair.get(1).cloned()
}

/// The replicas a primary lists in `INFO replication` (`slaveN:ip=…,port=…`).
pub async fn replica_addresses(primary: SocketAddr) -> Vec<SocketAddr> {
    let text: String = query(primary, redis::cmd("INFO").arg("replication"))
        .await
        .unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("slave") && l.contains("ip="))
        .filter_map(|l| {
            let field = |k: &str| {
                l.split([':', ','])
                    .find_map(|f| f.strip_prefix(k).map(str::to_string))
            };
            format!("{}:{}", field("ip=")?, field("port=")?)
                .parse()
                .ok()
        })
        .collect()
}

/// Writes a manifest file the cluster is started from (and later edited).
pub fn write_manifest(path: &std::path::Path, yaml: &str) {
    // Write then rename, as editors do, so the watcher never reads half a file.
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, yaml).expect("write the manifest");
    std::fs::rename(&temporary, path).expect("replace the manifest");
}

/// A cluster running in the background, its events and status lines collected.
pub struct Running {
    events: mpsc::UnboundedReceiver<Event>,
    /// The last status line.
    pub line: watch::Receiver<Option<StatusLine>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    /// Runs `cluster` with a status line every `status_interval`.
    pub fn start(cluster: LocalCluster, status_interval: Duration) -> Running {
        let (events_tx, events) = mpsc::unbounded_channel();
        let (line_tx, line) = watch::channel(None);
        let (stop, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(cluster.run(
            status_interval,
            async move {
                let _ = stop_rx.await;
            },
            move |report| match report {
                Report::Event(event) => {
                    println!("event: {event}");
                    let _ = events_tx.send(event);
                }
                Report::Status(status) => {
                    let _ = line_tx.send(Some(status));
                }
            },
        ));
        Running {
            events,
            line,
            stop: Some(stop),
            task,
        }
    }

    /// Waits for the first event matching `wanted`, skipping others; fails on `EditRejected` and
    /// `PatchHalted` unless `wanted` accepts them.
    pub async fn event(
        &mut self,
        what: &str,
        within: Duration,
        wanted: impl Fn(&Event) -> bool,
    ) -> Event {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let event = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .expect("the cluster stopped");
            if wanted(&event) {
                return event;
            }
            assert!(
                !matches!(event, Event::EditRejected(_) | Event::PatchHalted { .. }),
                "unexpected while waiting for {what}: {event}"
            );
        }
    }

    /// Events already reported, without waiting.
    pub fn drain(&mut self) -> Vec<Event> {
        let mut out = Vec::new();
        while let Ok(e) = self.events.try_recv() {
            out.push(e);
        }
        out
    }

    /// Stops the run (every node stops) and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the run stops")
            .expect("the run does not panic");
    }
}
