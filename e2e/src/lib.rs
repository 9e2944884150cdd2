//! Support for the end-to-end tests: a connection to the kind cluster `e2e/run.sh` creates, a namespace per test,
//! CacheClusters built from `examples/`, waiting on their status, `kubectl port-forward` to their Services for the
//! `redis` crate, and client pods for checks that must run inside the cluster (NetworkPolicy).
//!
//! The tests run only when `FERROCACHE_E2E=1` (set by `e2e/run.sh`); otherwise each prints one line saying what
//! is missing and returns, so `cargo test --workspace` passes on machines without kind and Docker.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use ferrocache_operator::api::{CacheCluster, CacheParameterGroup, ClusterState};
use ferrocache_operator::resources::{CLUSTER, ROLE, ROLE_PRIMARY};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret};
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub use anyhow::Result;

/// Field manager of everything the tests apply.
pub const MANAGER: &str = "ferrocache-e2e";
/// Image of the client pods (loaded into kind by `e2e/run.sh`).
pub const CLIENT_IMAGE: &str = "redis:7.2-alpine";

/// Why the end-to-end tests cannot run here, if they cannot.
pub fn missing_requirement() -> Option<String> {
    if std::env::var("FERROCACHE_E2E").as_deref() != Ok("1") {
        return Some(
            "FERROCACHE_E2E is not set: end-to-end tests need a kind cluster; run e2e/run.sh"
                .into(),
        );
    }
    let found = |tool: &str| {
        std::process::Command::new(tool)
            .arg("version")
            .arg("--client")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    (!found("kubectl")).then(|| "kubectl is not on PATH".to_string())
}

/// One test's view of the cluster: a client and a namespace of its own.
pub struct Env {
    /// Kubernetes client (current kubeconfig context: the kind cluster).
    pub client: Client,
    /// The test's namespace.
    pub namespace: String,
}

impl Env {
    /// Connects and creates the namespace `e2e-<test>`; `None` (after printing why) when e2e tests cannot run.
    pub async fn start(test: &str) -> Option<Env> {
        if let Some(reason) = missing_requirement() {
            println!("skipped {test}: {reason}");
            return None;
        }
        let client = Client::try_default()
            .await
            .expect("FERROCACHE_E2E=1 but no Kubernetes client configuration");
        let namespace = format!("e2e-{}", test.replace('_', "-"));
        let namespace = namespace[..namespace.len().min(63)]
            .trim_end_matches('-')
            .to_string();
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": namespace }
        }))
        .expect("namespace object");
        namespaces
            .patch(
                &namespace,
                &PatchParams::apply(MANAGER),
                &Patch::Apply(&object),
            )
            .await
            .expect("namespace created");
        Some(Env { client, namespace })
    }

    /// Deletes the test's namespace (and so everything in it).
    pub async fn finish(self) -> Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        namespaces
            .delete(&self.namespace, &DeleteParams::default())
            .await?;
        Ok(())
    }

    /// CacheClusters of the namespace.
    pub fn clusters(&self) -> Api<CacheCluster> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Pods of the namespace.
    pub fn pods(&self) -> Api<Pod> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Applies the manifest `examples/<file>` in the test's namespace after `edit`.
    pub async fn apply_example(&self, file: &str, edit: impl FnOnce(&mut Value)) -> Result<Value> {
        let mut object = example(file)?;
        object["metadata"]["namespace"] = Value::String(self.namespace.clone());
        edit(&mut object);
        self.apply(&object).await?;
        Ok(object)
    }

    /// Server-side applies a CacheCluster or CacheParameterGroup.
    pub async fn apply(&self, object: &Value) -> Result<()> {
        let name = object["metadata"]["name"]
            .as_str()
            .ok_or_else(|| anyhow!("manifest without a name"))?;
        let params = PatchParams::apply(MANAGER).force();
        match object["kind"].as_str() {
            Some("CacheCluster") => {
                let cluster: CacheCluster = serde_json::from_value(object.clone())?;
                self.clusters()
                    .patch(name, &params, &Patch::Apply(&cluster))
                    .await?;
            }
            Some("CacheParameterGroup") => {
                let group: CacheParameterGroup = serde_json::from_value(object.clone())?;
                let api: Api<CacheParameterGroup> =
                    Api::namespaced(self.client.clone(), &self.namespace);
                api.patch(name, &params, &Patch::Apply(&group)).await?;
            }
            other => bail!("cannot apply kind {other:?}"),
        }
        Ok(())
    }

    /// Merge-patches a CacheCluster's spec (a user's `kubectl patch`).
    pub async fn patch_spec(&self, name: &str, spec: Value) -> Result<()> {
        self.clusters()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": spec })),
            )
            .await?;
        Ok(())
    }

    /// Creates a Secret with one key.
    pub async fn secret(&self, name: &str, key: &str, value: &str) -> Result<()> {
        let secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": { "name": name, "namespace": self.namespace },
            "stringData": { key: value },
        }))?;
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        api.patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&secret),
        )
        .await?;
        Ok(())
    }

    /// Polls the cluster until `done` holds, or fails after `timeout` with its last status.
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&CacheCluster) -> bool,
    ) -> Result<CacheCluster> {
        let started = Instant::now();
        loop {
            let cluster = self.clusters().get_opt(name).await?;
            if let Some(cluster) = &cluster {
                if done(cluster) {
                    return Ok(cluster.clone());
                }
            }
            if started.elapsed() > timeout {
                let status = cluster.and_then(|c| c.status);
                bail!("{name}: not {what} after {timeout:?}; last status: {status:?}");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }

    /// Waits until the cluster is `available` with its generation observed.
    pub async fn wait_available(&self, name: &str, timeout: Duration) -> Result<CacheCluster> {
        self.wait_for(name, timeout, "available", |c| {
            c.status.as_ref().is_some_and(|s| {
                s.status == Some(ClusterState::Available)
                    && s.observed_generation == c.metadata.generation
            })
        })
        .await
    }

    /// The pod labelled primary of the cluster, if any.
    pub async fn primary_pod(&self, cluster: &str) -> Result<Option<Pod>> {
        let selector = format!("{CLUSTER}={cluster},{ROLE}={ROLE_PRIMARY}");
        let pods = self
            .pods()
            .list(&ListParams::default().labels(&selector))
            .await?;
        Ok(pods.items.into_iter().next())
    }

    /// Names of the objects of `kind` (kubectl resource name) labelled with the cluster, via kubectl.
    pub async fn labelled_objects(&self, kind: &str, cluster: &str) -> Result<Vec<String>> {
        let output = Command::new("kubectl")
            .args(["-n", &self.namespace, "get", kind, "-l"])
            .arg(format!("{CLUSTER}={cluster}"))
            .args(["-o", "name"])
            .output()
            .await?;
        if !output.status.success() {
            bail!(
                "kubectl get {kind}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(String::from_utf8(output.stdout)?
            .lines()
            .map(String::from)
            .collect())
    }

    /// Forwards a free local port to `svc/<service>:<port>`; stops when dropped.
    pub async fn port_forward(&self, service: &str, port: u16) -> Result<PortForward> {
        let mut child = Command::new("kubectl")
            .args(["-n", &self.namespace, "port-forward"])
            .arg(format!("svc/{service}"))
            .arg(format!(":{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting kubectl port-forward")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        // "Forwarding from 127.0.0.1:40123 -> 6379"
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("kubectl port-forward did not start within 20 s")??
            .ok_or_else(|| anyhow!("kubectl port-forward exited"))?;
        let local = line
            .split_whitespace()
            .nth(2)
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or_else(|| anyhow!("unexpected port-forward output {line:?}"))?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(PortForward {
            _child: child,
            port: local,
        })
    }

    /// A Redis connection to `svc/<service>:6379` through a port-forward (kept open as long as the returned
    /// forward lives).
    pub async fn redis_via(
        &self,
        service: &str,
        password: Option<&str>,
    ) -> Result<(PortForward, redis::aio::MultiplexedConnection)> {
        let forward = self.port_forward(service, 6379).await?;
        let connection = forward.redis(password).await?;
        Ok((forward, connection))
    }

    /// Runs a pod with `labels` that executes `script` in the client image, waits for it to finish and returns
    /// (succeeded, logs).
    pub async fn run_client_pod(
        &self,
        name: &str,
        labels: Value,
        script: &str,
    ) -> Result<(bool, String)> {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": name, "namespace": self.namespace, "labels": labels },
            "spec": {
                "restartPolicy": "Never",
                "containers": [{
                    "name": "client", "image": CLIENT_IMAGE, "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                }],
            },
        }))?;
        self.pods().create(&PostParams::default(), &pod).await?;
        let started = Instant::now();
        let phase = loop {
            let pod = self.pods().get(name).await?;
            let phase = pod.status.and_then(|s| s.phase).unwrap_or_default();
            if phase == "Succeeded" || phase == "Failed" {
                break phase;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("client pod {name} still {phase} after 120 s");
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        };
        let logs = self.pods().logs(name, &LogParams::default()).await?;
        Ok((phase == "Succeeded", logs))
    }
}

/// A running `kubectl port-forward`.
pub struct PortForward {
    _child: Child,
    /// The local port.
    pub port: u16,
}

impl PortForward {
    /// A Redis connection through the forward, authenticated with `password` when given.
    pub async fn redis(&self, password: Option<&str>) -> Result<redis::aio::MultiplexedConnection> {
        let url = match password {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        };
        let client = redis::Client::open(url)?;
        Ok(client.get_multiplexed_async_connection().await?)
    }
}

/// `WAIT replicas 5000`: how many replicas acknowledged the connection's writes.
pub async fn wait_for_replicas(
    connection: &mut redis::aio::MultiplexedConnection,
    replicas: i64,
) -> Result<i64> {
    Ok(redis::cmd("WAIT")
        .arg(replicas)
        .arg(5000)
        .query_async(connection)
        .await?)
}

/// Node names of the pods of a cluster, for messages.
pub fn names(pods: &[Pod]) -> Vec<String> {
    pods.iter().map(|p| p.name_any()).collect()
}

/// The manifest `examples/<file>` as JSON.
pub fn example(file: &str) -> Result<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(file);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    Ok(serde_yaml::from_str(&text)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_the_flag_the_tests_say_what_is_missing() {
        if std::env::var("FERROCACHE_E2E").is_err() {
            let reason = missing_requirement().expect("a reason");
            assert!(reason.contains("e2e/run.sh"), "{reason}");
        }
    }

    #[test]
    fn examples_used_by_the_tests_exist() {
        for file in [
            "redis-single-node.yaml",
            "redis-ha.yaml",
            "memcached.yaml",
            "parameter-group.yaml",
        ] {
            let object = example(file).expect("example parses");
            assert!(object["metadata"]["name"].is_string(), "{file}");
        }
    }
}
