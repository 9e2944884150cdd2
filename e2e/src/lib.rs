//! Support for the end-to-end tests: a connection to the cluster `e2e/kit.sh` starts (the local Kubernetes kit in
//! `../shared/kube`) or `e2e/run.sh` creates (kind), a namespace per test, CacheClusters built from `examples/`,
//! waiting on their status, addresses of their Services for the `redis` crate, and client pods for checks that must
//! run inside the cluster (NetworkPolicy).
//!
//! The tests run only when `FERROCACHE_E2E=1` (set by both scripts); otherwise each prints one line saying what
//! is missing and returns, so `cargo test --workspace` passes on machines without a cluster.
//! `FERROCACHE_E2E_PLATFORM` says how the host reaches a Service (see [`Platform`]).

pub mod faults;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use ferrocache_operator::api::{CacheCluster, CacheParameterGroup, ClusterState};
use ferrocache_operator::resources::{CLUSTER, ROLE, ROLE_PRIMARY};
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

pub use anyhow::Result;

/// Field manager of everything the tests apply.
pub const MANAGER: &str = "ferrocache-e2e";
/// Image of the client pods (loaded into kind by `e2e/run.sh`; on the kit their `sh` and `redis-cli` are the
/// host's).
pub const CLIENT_IMAGE: &str = "redis:7.2-alpine";
/// How long [`Env::connect_service`] waits for a Service to have an endpoint that answers.
pub const SERVICE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a Redis command of the tests may take to answer: longer than [`wait_for_replicas`]' `WAIT`.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);

/// The kind of cluster the tests run on, from `FERROCACHE_E2E_PLATFORM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// A kind cluster (`e2e/run.sh`; the default): Services are reached with `kubectl port-forward`.
    Kind,
    /// The local kit of `../shared/kube` (`e2e/kit.sh`, `FERROCACHE_E2E_PLATFORM=kit`): no port-forward, no
    /// ClusterIP routing and no cluster DNS on the host, but pod IPs are reachable, so a Service is reached
    /// through the ready addresses of its EndpointSlices.
    Kit,
}

impl Platform {
    /// The platform named by `FERROCACHE_E2E_PLATFORM` (`kind` when unset).
    pub fn from_env() -> Result<Platform> {
        match std::env::var("FERROCACHE_E2E_PLATFORM").as_deref() {
            Err(_) | Ok("") | Ok("kind") => Ok(Platform::Kind),
            Ok("kit") => Ok(Platform::Kit),
            Ok(other) => bail!("FERROCACHE_E2E_PLATFORM={other:?}: want kind or kit"),
        }
    }
}

/// Why the end-to-end tests cannot run here, if they cannot.
pub fn missing_requirement() -> Option<String> {
    if std::env::var("FERROCACHE_E2E").as_deref() != Ok("1") {
        return Some(
            "FERROCACHE_E2E is not set: end-to-end tests need a Kubernetes cluster; run e2e/kit.sh \
             (the local kit in ../shared/kube) or e2e/run.sh (kind)"
                .into(),
        );
    }
    if let Err(e) = Platform::from_env() {
        return Some(e.to_string());
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
#[derive(Clone)]
pub struct Env {
    /// Kubernetes client (current kubeconfig context: the kit or the kind cluster).
    pub client: Client,
    /// The test's namespace.
    pub namespace: String,
    /// How Services are reached from the host.
    pub platform: Platform,
}

impl Env {
    /// Connects and creates the namespace `e2e-<test>`; `None` (after printing why) when e2e tests cannot run.
    pub async fn start(test: &str) -> Option<Env> {
        if let Some(reason) = missing_requirement() {
            println!("skipped {test}: {reason}");
            return None;
        }
        let platform = Platform::from_env().expect("checked by missing_requirement");
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
        Some(Env {
            client,
            namespace,
            platform,
        })
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

    /// A highly available Redis `name` from `examples/redis-ha.yaml` that the host's `redis` crate can reach:
    /// without TLS, parameter group or allowedClients, node type cache.small, `replicas` replicas spread over
    /// zones, and an auth token from the Secret `<name>-auth` (key `token`) holding `secret_value`; then `edit`
    /// changes the spec further.
    pub async fn apply_redis_with_token(
        &self,
        name: &str,
        secret_value: &str,
        replicas: i64,
        edit: impl FnOnce(&mut serde_json::Map<String, Value>),
    ) -> Result<()> {
        let secret = format!("{name}-auth");
        self.secret(&secret, "token", secret_value).await?;
        self.apply_example("redis-ha.yaml", |o| {
            o["metadata"]["name"] = json!(name);
            if let Some(spec) = o["spec"].as_object_mut() {
                spec.remove("tls");
                spec.remove("cacheParameterGroupName");
                spec.remove("allowedClients");
                spec.insert("transitEncryptionEnabled".into(), json!(false));
                spec.insert("replicasPerNodeGroup".into(), json!(replicas));
                spec.insert("cacheNodeType".into(), json!("cache.small"));
                spec.insert(
                    "authTokenSecretRef".into(),
                    json!({ "name": secret, "key": "token" }),
                );
                edit(spec);
            }
        })
        .await?;
        Ok(())
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

    /// An address on the host that reaches `svc/<service>:<port>`: on kind a `kubectl port-forward` from a free
    /// local port (stopped when the returned value is dropped), on the kit the first ready endpoint of the
    /// Service that accepts a TCP connection (waiting up to [`SERVICE_TIMEOUT`] for one).
    pub async fn connect_service(&self, service: &str, port: u16) -> Result<ServiceAddress> {
        match self.platform {
            Platform::Kind => self.port_forward(service, port).await,
            Platform::Kit => Ok(ServiceAddress {
                _forward: None,
                addr: self.ready_endpoint(service, port).await?,
            }),
        }
    }

    /// Forwards a free local port to `svc/<service>:<port>` with `kubectl port-forward`.
    async fn port_forward(&self, service: &str, port: u16) -> Result<ServiceAddress> {
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
        Ok(ServiceAddress {
            _forward: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], local)),
        })
    }

    /// The first ready endpoint of `svc/<service>:<port>` (by its EndpointSlices, as kube-proxy would route it)
    /// that accepts a TCP connection; waits up to [`SERVICE_TIMEOUT`] for one.
    async fn ready_endpoint(&self, service: &str, port: u16) -> Result<SocketAddr> {
        let services: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        let slices: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector = format!("kubernetes.io/service-name={service}");
        let started = Instant::now();
        loop {
            let mut tried = Vec::new();
            if let Some(svc) = services.get_opt(service).await? {
                let ports = svc.spec.and_then(|s| s.ports).unwrap_or_default();
                let service_port = ports
                    .iter()
                    .find(|p| p.port == i32::from(port))
                    .ok_or_else(|| anyhow!("service {service} has no port {port}"))?;
                let list = slices
                    .list(&ListParams::default().labels(&selector))
                    .await?;
                tried = endpoint_addresses(&list.items, service_port.name.as_deref());
                for addr in &tried {
                    let connect = TcpStream::connect(addr);
                    if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), connect).await {
                        return Ok(*addr);
                    }
                }
            }
            if started.elapsed() > SERVICE_TIMEOUT {
                bail!(
                    "service {}/{service}: no ready endpoint on port {port} answered within {:?} \
                     (ready endpoints at the last try: {tried:?})",
                    self.namespace,
                    SERVICE_TIMEOUT
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// A Redis connection to `svc/<service>:6379` (through a port-forward on kind, kept open as long as the
    /// returned address lives).
    pub async fn redis_via(
        &self,
        service: &str,
        password: Option<&str>,
    ) -> Result<(ServiceAddress, redis::aio::MultiplexedConnection)> {
        let address = self.connect_service(service, 6379).await?;
        let connection = address.redis(password).await?;
        Ok((address, connection))
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

/// Where the host reaches a Service: a local port forwarded by `kubectl port-forward` (kind; the forward runs as
/// long as this value lives) or a ready endpoint of the Service (the kit).
pub struct ServiceAddress {
    _forward: Option<Child>,
    /// The address to connect to.
    pub addr: SocketAddr,
}

impl ServiceAddress {
    /// A Redis connection to the address, authenticated with `password` when given. Replies may take up to
    /// [`RESPONSE_TIMEOUT`] (the `redis` crate's default, 500 ms, is shorter than a `WAIT` that times out).
    pub async fn redis(&self, password: Option<&str>) -> Result<redis::aio::MultiplexedConnection> {
        let url = match password {
            Some(p) => format!("redis://:{p}@{}/", self.addr),
            None => format!("redis://{}/", self.addr),
        };
        let client = redis::Client::open(url)?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(10)))
            .set_response_timeout(Some(RESPONSE_TIMEOUT));
        Ok(client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// A TCP connection to the address.
    pub async fn tcp(&self) -> Result<TcpStream> {
        TcpStream::connect(self.addr)
            .await
            .with_context(|| format!("connecting to {}", self.addr))
    }
}

/// The ready addresses of EndpointSlices for the Service port named `port_name` (`None`: an unnamed port), with
/// the slices' target port, sorted. An endpoint without a `ready` condition counts as ready, as the API says.
pub fn endpoint_addresses(slices: &[EndpointSlice], port_name: Option<&str>) -> Vec<SocketAddr> {
    let mut out = Vec::new();
    for slice in slices.iter().filter(|s| s.address_type == "IPv4") {
        let Some(port) = slice
            .ports
            .iter()
            .flatten()
            .find(|p| p.name.as_deref().unwrap_or("") == port_name.unwrap_or(""))
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok())
        else {
            continue;
        };
        for endpoint in &slice.endpoints {
            if endpoint.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                continue;
            }
            for ip in &endpoint.addresses {
                if let Ok(ip) = ip.parse() {
                    out.push(SocketAddr::new(ip, port));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
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
            assert!(reason.contains("e2e/kit.sh"), "{reason}");
            assert!(reason.contains("e2e/run.sh"), "{reason}");
        }
    }

    #[test]
    fn a_service_is_reached_through_the_ready_endpoints_of_its_port() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": { "name": "orders-reader-x1", "labels": { "kubernetes.io/service-name": "orders-reader" } },
            "addressType": "IPv4",
            "ports": [{ "name": "metrics", "port": 9121 }, { "name": "redis", "port": 6380 }],
            "endpoints": [
                { "addresses": ["10.244.0.7"], "conditions": { "ready": true } },
                { "addresses": ["10.244.0.5"] },
                { "addresses": ["10.244.0.9"], "conditions": { "ready": false, "terminating": true } },
            ],
        }))
        .expect("slice");
        let ipv6: EndpointSlice = serde_json::from_value(json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": { "name": "orders-reader-x2" },
            "addressType": "IPv6",
            "ports": [{ "name": "redis", "port": 6380 }],
            "endpoints": [{ "addresses": ["fd00::1"] }],
        }))
        .expect("slice");
        let addresses = endpoint_addresses(&[slice.clone(), ipv6], Some("redis"));
        let expected: Vec<SocketAddr> = vec![
            "10.244.0.5:6380".parse().expect("address"),
            "10.244.0.7:6380".parse().expect("address"),
        ];
        assert_eq!(addresses, expected);
        assert!(endpoint_addresses(&[slice], None).is_empty());
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
