//! Faults and measurements for the day-2 tests: the kit's chaos commands (kill or freeze a container, take a
//! node down), direct connections to pods, and a writer that records which writes were acknowledged by a
//! replica (`WAIT 1`) while a fault happens, so a test can check that none of them is lost and measure how
//! long writes were refused.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::ResourceExt;

use crate::{Env, Platform, Result};
use ferrocache_operator::resources::CLUSTER;

/// How long one client command may take before the writer counts it as refused.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(800);

/// Runs `minikubelet.py chaos <args>` of the kit (`FERROCACHE_E2E_KIT_DIR`, state in `KUBE_KIT_STATE`).
pub fn chaos(args: &[&str]) -> Result<()> {
    let kit = std::env::var("FERROCACHE_E2E_KIT_DIR")
        .context("FERROCACHE_E2E_KIT_DIR (set by e2e/kit.sh) names the kit's directory")?;
    let state = std::env::var("KUBE_KIT_STATE").context("KUBE_KIT_STATE (set by e2e/kit.sh)")?;
    let output = std::process::Command::new("python3")
        .arg(format!("{kit}/minikubelet.py"))
        .arg("chaos")
        .args(args)
        .args(["--state-dir", &format!("{state}/mk")])
        .output()
        .context("running minikubelet.py chaos")?;
    if !output.status.success() {
        bail!(
            "chaos {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// True when the tests run on the kit, where faults can be injected; otherwise prints why `test` is skipped.
pub fn faults_available(env: &Env, test: &str) -> bool {
    if env.platform == Platform::Kit {
        return true;
    }
    println!("skipped {test}: fault injection needs the kit (e2e/kit.sh)");
    false
}

/// The pod's address on the host (the kit routes pod IPs to the host).
pub fn pod_address(pod: &Pod, port: u16) -> Result<SocketAddr> {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.as_ref())
        .ok_or_else(|| anyhow!("pod {} has no IP", pod.name_any()))?;
    Ok(SocketAddr::new(ip.parse()?, port))
}

/// A Redis connection straight to a pod.
pub async fn pod_redis(
    pod: &Pod,
    password: Option<&str>,
) -> Result<redis::aio::MultiplexedConnection> {
    let address = pod_address(pod, 6379)?;
    let url = match password {
        Some(p) => format!("redis://:{p}@{address}/"),
        None => format!("redis://{address}/"),
    };
    let client = redis::Client::open(url)?;
    let connect = client.get_multiplexed_async_connection();
    Ok(tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .context("connecting to a pod")??)
}

/// The pods of a cluster, by name.
pub async fn cluster_pods(env: &Env, cluster: &str) -> Result<Vec<Pod>> {
    let selector = format!("{CLUSTER}={cluster}");
    let mut pods = env
        .pods()
        .list(&ListParams::default().labels(&selector))
        .await?
        .items;
    pods.sort_by_key(|p| p.name_any());
    Ok(pods)
}

/// Each pod's engine `run_id` (a new one means the process restarted).
pub async fn run_ids(
    env: &Env,
    cluster: &str,
    password: Option<&str>,
) -> Result<BTreeMap<String, String>> {
    let mut ids = BTreeMap::new();
    for pod in cluster_pods(env, cluster).await? {
        let mut redis = pod_redis(&pod, password).await?;
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut redis)
            .await?;
        let id = info
            .lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .ok_or_else(|| anyhow!("INFO server of {} has no run_id", pod.name_any()))?;
        ids.insert(pod.name_any(), id.trim().to_string());
    }
    Ok(ids)
}

/// What a [`Writer`] saw.
#[derive(Debug, Default)]
pub struct Writes {
    /// Keys whose write a replica acknowledged (`WAIT 1` answered 1), with their values.
    pub acknowledged: BTreeMap<String, String>,
    /// When each successful write completed.
    pub successes: Vec<Instant>,
}

/// Writes `key-<n>` through the cluster's primary Service until stopped, reconnecting whenever a command
/// fails or takes longer than [`COMMAND_TIMEOUT`] (the primary may have moved).
pub struct Writer {
    stop: Arc<AtomicBool>,
    writes: Arc<Mutex<Writes>>,
    task: tokio::task::JoinHandle<()>,
}

impl Writer {
    /// Starts writing to `svc/<service>` of `env`'s namespace.
    pub fn start(env: &Env, service: &str, password: Option<&str>) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let writes = Arc::new(Mutex::new(Writes::default()));
        let (env, service, password) =
            (env.clone(), service.to_string(), password.map(String::from));
        let (stop_flag, log) = (stop.clone(), writes.clone());
        let task = tokio::spawn(async move {
            let mut n = 0u64;
            let mut connection = None;
            while !stop_flag.load(Ordering::Relaxed) {
                if connection.is_none() {
                    let connect = async {
                        let address = env.connect_service(&service, 6379).await?;
                        let redis = address.redis(password.as_deref()).await?;
                        anyhow::Ok((address, redis))
                    };
                    // A connection that does not answer within a command's timeout is to a hung primary: the
                    // next attempt may find the new one (an attempt to the old one must not hold the writer).
                    match tokio::time::timeout(COMMAND_TIMEOUT, connect).await {
                        Ok(Ok(c)) => connection = Some(c),
                        _ => {
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    }
                }
                let Some((_, redis)) = connection.as_mut() else {
                    continue;
                };
                n += 1;
                let (key, value) = (format!("key-{n}"), format!("value-{n}"));
                let write = async {
                    let () = redis::cmd("SET")
                        .arg(&key)
                        .arg(&value)
                        .query_async(redis)
                        .await?;
                    let acked: i64 = redis::cmd("WAIT")
                        .arg(1)
                        .arg(500)
                        .query_async(redis)
                        .await?;
                    anyhow::Ok(acked)
                };
                match tokio::time::timeout(COMMAND_TIMEOUT, write).await {
                    Ok(Ok(acked)) => {
                        let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                        log.successes.push(Instant::now());
                        if acked >= 1 {
                            log.acknowledged.insert(key, value);
                        }
                    }
                    _ => connection = None,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        });
        Writer { stop, writes, task }
    }

    /// Successful writes so far.
    pub fn successes(&self) -> usize {
        self.writes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .successes
            .len()
    }

    /// Waits until at least `n` writes succeeded, or fails after `timeout`.
    pub async fn wait_for_successes(&self, n: usize, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        while self.successes() < n {
            if started.elapsed() > timeout {
                bail!("only {} writes succeeded in {timeout:?}", self.successes());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Stops writing and returns what happened.
    pub async fn stop(self) -> Writes {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.task.await;
        let writes = self.writes.lock().unwrap_or_else(|e| e.into_inner());
        Writes {
            acknowledged: writes.acknowledged.clone(),
            successes: writes.successes.clone(),
        }
    }
}

/// The acknowledged keys missing or changed on the primary behind `svc/<service>`.
pub async fn lost_writes(
    env: &Env,
    service: &str,
    password: Option<&str>,
    acknowledged: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let (_address, mut redis) = env.redis_via(service, password).await?;
    let mut lost = Vec::new();
    for (key, value) in acknowledged {
        let found: Option<String> = redis::cmd("GET").arg(key).query_async(&mut redis).await?;
        if found.as_deref() != Some(value.as_str()) {
            lost.push(key.clone());
        }
    }
    Ok(lost)
}

/// What [`fail_over`] measured.
#[derive(Debug)]
pub struct Failover {
    /// The primary the fault hit.
    pub old_primary: String,
    /// From the fault (once injected) until writes succeeded again on another primary.
    pub back: Duration,
    /// Writes a replica acknowledged, before and after the fault.
    pub acknowledged: usize,
    /// Acknowledged writes the new primary does not have.
    pub lost: Vec<String>,
}

/// Writes continuously through `svc/<cluster>-primary`, calls `inject` with the primary pod, waits until writes
/// succeed on another primary, then reads back every acknowledged write.
pub async fn fail_over<F, Fut>(
    env: &Env,
    cluster: &str,
    password: Option<&str>,
    inject: F,
) -> Result<Failover>
where
    F: FnOnce(Pod) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let service = format!("{cluster}-primary");
    let writer = Writer::start(env, &service, password);
    writer
        .wait_for_successes(30, Duration::from_secs(60))
        .await
        .context("writes before the fault")?;
    let primary = env
        .primary_pod(cluster)
        .await?
        .ok_or_else(|| anyhow!("no primary pod"))?;
    let old_primary = primary.name_any();
    // The fault is in place when `inject` returns (the chaos command starts a Python process and looks the
    // pod up before it signals the container): time is counted from then.
    inject(primary).await?;
    let at = Instant::now();
    let deadline = Duration::from_secs(60);
    let back = loop {
        let before = writer.successes();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if writer.successes() > before {
            let now = env.primary_pod(cluster).await?;
            if now.is_some_and(|p| p.name_any() != old_primary) {
                break at.elapsed();
            }
        }
        if at.elapsed() > deadline {
            bail!("writes not back within {deadline:?} of the fault");
        }
    };
    writer
        .wait_for_successes(writer.successes() + 20, Duration::from_secs(30))
        .await
        .context("writes after the failover")?;
    let writes = writer.stop().await;
    let lost = lost_writes(env, &service, password, &writes.acknowledged).await?;
    Ok(Failover {
        old_primary,
        back,
        acknowledged: writes.acknowledged.len(),
        lost,
    })
}

/// Restarts the operator `e2e/kit.sh` runs (it restarts the operator when the process exits) and waits for the
/// new process.
pub async fn restart_operator() {
    let file = std::env::var("FERROCACHE_E2E_OPERATOR_PID_FILE")
        .expect("FERROCACHE_E2E_OPERATOR_PID_FILE (set by e2e/kit.sh)");
    let read = || {
        std::fs::read_to_string(&file)
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let old = read();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &old])
        .status()
        .expect("kill runs");
    assert!(status.success(), "operator pid {old} not signalled");
    let started = Instant::now();
    while read() == old || read().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the operator did not restart"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
