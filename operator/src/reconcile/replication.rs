//! Executes the replication wiring of Redis node groups on Kubernetes (see [`crate::wiring`]): observes every
//! pod over the Redis protocol, plans, then labels pods, promotes and re-points nodes, in that order.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::{Api, ResourceExt};
use tracing::{info, warn};

use super::Context;
use crate::api::{CacheCluster, Engine};
use crate::engine_client::NodeClient;
use crate::failover::{FailoverPolicy, PrimaryHealth, SilenceTracker};
use crate::resources::{NODE_GROUP, ROLE, ROLE_PRIMARY, ROLE_REPLICA};
use crate::wiring::{self, Endpoint, Member, Step};
use crate::Result;

/// How long one node may take to answer the operator (INFO, CONFIG, ROLE commands; a switchover has its own
/// bound).
pub(super) const NODE_TIMEOUT: Duration = Duration::from_secs(1);

/// What the wiring found and did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What keeps replication from being healthy.
    pub problem: Option<String>,
    /// A failover was started.
    pub failed_over: bool,
}

/// Where a pod's engine serves clients: its pod IP and the cluster's port.
pub fn pod_address(pod: &Pod, port: i32) -> Option<SocketAddr> {
    let ip = pod.status.as_ref()?.pod_ip.as_ref()?.parse().ok()?;
    Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
}

/// Since when each group's primary has been silent (the failure window spans reconciles), and whether its
/// last health check was refused outright.
#[derive(Default)]
pub struct Silences(Mutex<HashMap<String, Silence>>);

#[derive(Default)]
struct Silence {
    tracker: SilenceTracker,
    /// Nothing listens on the primary's port: its engine process is gone (killed, crashed, its node down).
    refused: bool,
}

impl Silences {
    /// A health check of the group `key`'s primary went unanswered; `refused` when the connection was refused.
    pub fn missed(&self, key: &str, refused: bool) {
        self.with(key, |s| s.refused = refused);
        self.observe(key, false, refused);
    }

    /// A health check of the group `key`'s primary was answered.
    pub fn answered(&self, key: &str) {
        self.observe(key, true, false);
    }

    /// Whether the primary's port refused the last health check.
    fn refused(&self, key: &str) -> bool {
        self.with(key, |s| s.refused)
    }

    fn observe(&self, key: &str, answered: bool, gone: bool) -> PrimaryHealth {
        self.with(key, |s| {
            s.refused &= !answered;
            s.tracker.observe(answered, gone, Instant::now())
        })
    }

    fn with<R>(&self, key: &str, f: impl FnOnce(&mut Silence) -> R) -> R {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(key.to_string()).or_default())
    }
}

/// How the operator reaches the engine nodes of one cluster: port, auth tokens, TLS trust.
pub struct NodeAccess<'a> {
    cluster: &'a CacheCluster,
    ctx: &'a Context,
    namespace: &'a str,
    /// The tokens in the user's Secret and in the record of what nodes accept.
    pub tokens: super::auth_rotation::Tokens,
    password: Option<String>,
    tls_ca: Option<Vec<u8>>,
}

/// How one reconcile reaches a Redis cluster's nodes: `None` when no node runs yet (or the engine is
/// memcached), else the access or the reason nodes cannot be reached. Read once per reconcile.
pub type Reach<'a> = Option<std::result::Result<NodeAccess<'a>, String>>;

/// Reads what reaching the nodes needs, when there is a node to reach.
pub async fn reach<'a>(
    cluster: &'a CacheCluster,
    ctx: &'a Context,
    namespace: &'a str,
    pods: &[Pod],
) -> Result<Reach<'a>> {
    if cluster.spec.engine != Engine::Redis || !ctx.any_reachable(cluster, pods) {
        return Ok(None);
    }
    Ok(Some(NodeAccess::load(cluster, ctx, namespace).await?))
}

impl<'a> NodeAccess<'a> {
    /// Reads the Secrets the nodes' access needs; the inner error says why nodes cannot be reached.
    pub async fn load(
        cluster: &'a CacheCluster,
        ctx: &'a Context,
        namespace: &'a str,
    ) -> Result<std::result::Result<NodeAccess<'a>, String>> {
        let tokens = super::auth_rotation::Tokens::load(cluster, ctx, namespace).await?;
        let password = tokens.passwords().remove(0);
        let tls_ca = match crate::resources::tls_secret_name(cluster) {
            None => None,
            Some(secret) => match tls_ca(ctx, namespace, &secret).await? {
                Some(ca) => Some(ca),
                None => {
                    return Ok(Err(format!(
                    "the TLS Secret {secret} has no ca.crt: the operator cannot verify the nodes"
                )))
                }
            },
        };
        Ok(Ok(NodeAccess {
            cluster,
            ctx,
            namespace,
            tokens,
            password,
            tls_ca,
        }))
    }

    /// A rotation finished: every node accepts only the new token, which the operator now uses too.
    pub fn rotated(&mut self, token: &str) {
        self.tokens.applied = Some(token.to_string());
        self.password = Some(token.to_string());
    }

    /// A client of a pod's engine and the endpoint other nodes reach it at, once the pod has an address.
    /// The operator dials the pod IP; with TLS it verifies the certificate for the pod's DNS name under the
    /// group's headless Service (`*.<group service>.<namespace>.svc`), the name other nodes reach it by.
    pub fn client(&self, pod: &Pod) -> Option<(NodeClient, Endpoint)> {
        self.client_with(pod, self.password.clone())
    }

    /// Like [`NodeAccess::client`], authenticating with `password`.
    pub fn client_with(
        &self,
        pod: &Pod,
        password: Option<String>,
    ) -> Option<(NodeClient, Endpoint)> {
        let socket = (self.ctx.node_address)(pod, self.cluster.spec.client_port())?;
        let name = pod.name_any();
        let mut client = NodeClient::new(&name, socket, NODE_TIMEOUT).with_password(password);
        let host = match (&self.tls_ca, pod.labels().get(NODE_GROUP)) {
            (Some(ca), Some(group)) => {
                let host = format!(
                    "{name}.{}-{group}.{}.svc",
                    self.cluster.name_any(),
                    self.namespace
                );
                client = client.with_tls(host.clone(), ca.clone());
                host
            }
            _ => socket.ip().to_string(),
        };
        Some((
            client,
            Endpoint {
                host,
                port: socket.port(),
            },
        ))
    }
}

/// The CA certificates (`ca.crt`) of the cluster's TLS Secret.
async fn tls_ca(ctx: &Context, namespace: &str, secret: &str) -> Result<Option<Vec<u8>>> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(secrets
        .get(secret)
        .await?
        .data
        .and_then(|d| d.get("ca.crt").map(|v| v.0.clone())))
}

pub(super) fn pod_gone(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
        || pod
            .status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .is_some_and(|phase| phase == "Failed" || phase == "Succeeded")
}

/// Points `node` at its primary; with an auth token, the node first learns to authenticate to it (nodes
/// started with the token file know it already; this also mends nodes started without it).
async fn follow(node: &NodeClient, access: &NodeAccess<'_>, host: &str, port: u16) -> Result<()> {
    if let Some(password) = &access.password {
        node.config_set("masterauth", password).await?;
    }
    node.follow_host(host, port).await
}

/// Wires every node group of a Redis cluster; `pods` is updated with the labels set.
pub async fn wire(
    cluster: &CacheCluster,
    ctx: &Context,
    namespace: &str,
    pods: &mut [Pod],
    reach: &Reach<'_>,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    let access = match reach {
        // No pod has an address yet (still being scheduled): nothing to observe.
        None => return Ok(outcome),
        Some(Err(problem)) => {
            outcome.problem = Some(problem.clone());
            return Ok(outcome);
        }
        Some(Ok(access)) => access,
    };
    let policy = FailoverPolicy {
        enabled: cluster.spec.automatic_failover_enabled,
        ..FailoverPolicy::default()
    };
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, pod) in pods.iter().enumerate() {
        if let Some(g) = pod.labels().get(NODE_GROUP) {
            groups.entry(g.clone()).or_default().push(i);
        }
    }
    let api: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
    for (group, indexes) in groups {
        let mut members = Vec::new();
        let mut clients = HashMap::new();
        for &i in &indexes {
            let pod = &pods[i];
            let name = pod.name_any();
            let mut address = None;
            if let Some((client, endpoint)) = access.client(pod).filter(|_| !pod_gone(pod)) {
                address = Some(endpoint);
                clients.insert(name.clone(), client);
            }
            members.push(Member {
                labelled_primary: pod.labels().get(ROLE).map(String::as_str) == Some(ROLE_PRIMARY),
                name,
                address,
                info: None,
            });
        }
        // Every node is asked at once: a hung node costs one timeout, not one per node after it.
        let answers = futures::future::join_all(
            members
                .iter()
                .map(|m| async { clients.get(&m.name)?.info().await.ok() }),
        )
        .await;
        for (member, info) in members.iter_mut().zip(answers) {
            member.info = info;
        }
        if members.iter().all(|m| m.address.is_none()) {
            // No pod of the group has an address yet (still being scheduled): nothing to observe.
            continue;
        }
        let key = format!("{namespace}/{}/{group}", cluster.name_any());
        let health = match members.iter().find(|m| m.labelled_primary) {
            Some(p) => {
                // A refused health check means the process is gone, as a deleted pod does: no window to wait.
                let gone = ctx.silences.refused(&key)
                    || indexes
                        .iter()
                        .any(|&i| pods[i].name_any() == p.name && pod_gone(&pods[i]));
                ctx.silences.observe(&key, p.info.is_some(), gone)
            }
            None => PrimaryHealth::Gone,
        };
        let plan = wiring::plan(&members, policy, health);
        if let Some((old, new)) = &plan.failover {
            warn!(cluster = %cluster.name_any(), %namespace, old, new, "primary failed: failing over");
            super::publish_event(
                ctx,
                cluster,
                true,
                "FailoverStarted",
                "Failover",
                format!("primary {old} is unavailable: promoting {new}, the replica with the highest replication offset"),
            )
            .await?;
            outcome.failed_over = true;
        }
        for step in plan.steps {
            let done = match &step {
                Step::Label { node, primary } => {
                    let role = if *primary { ROLE_PRIMARY } else { ROLE_REPLICA };
                    super::set_role(&api, pods, node, role).await?;
                    Ok(())
                }
                Step::Promote { node } => match clients.get(node) {
                    Some(c) => c.promote().await,
                    None => continue,
                },
                Step::Follow { node, primary } => match clients.get(node) {
                    Some(c) => follow(c, access, &primary.host, primary.port).await,
                    None => continue,
                },
            };
            match done {
                Ok(()) => {
                    info!(cluster = %cluster.name_any(), %namespace, ?step, "replication step done")
                }
                Err(e) => {
                    warn!(cluster = %cluster.name_any(), %namespace, ?step, error = %e, "replication step failed");
                    outcome.problem.get_or_insert_with(|| e.to_string());
                    break;
                }
            }
        }
        if let Some(problem) = plan.problem {
            outcome.problem.get_or_insert(problem);
        }
        // The health-check loop watches whichever pod carries the primary label now.
        let primary = indexes
            .iter()
            .map(|&i| &pods[i])
            .find(|p| p.labels().get(ROLE).map(String::as_str) == Some(ROLE_PRIMARY))
            .filter(|p| !pod_gone(p))
            .and_then(|p| access.client(p));
        match primary {
            Some((client, _)) => ctx.health.watch(
                key,
                kube::runtime::reflector::ObjectRef::from_obj(cluster),
                client,
            ),
            None => ctx.health.forget(&key),
        }
    }
    Ok(outcome)
}
