//! The health-check loop: every second, each Redis node group's primary is sent a PING, as the local platform
//! does. A primary that does not answer in time starts (or continues) its silence in the shared failure
//! window ([`super::replication::Silences`]) and its cluster is reconciled at once, so a hung or unreachable
//! primary fails over one failure window after it last answered, not at the next requeue. A primary whose
//! port refuses connections has no engine process (killed, crashed, its node down): it is replaced at once,
//! as a deleted pod is (it would come back empty anyway).
//!
//! Each reconcile registers the primaries it wired ([`Targets::watch`]); the loop drops the targets, metering
//! state and metric series of clusters that no longer exist.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::Context;
use crate::api::CacheCluster;
use crate::engine_client::NodeClient;

/// Time between two health checks of a primary.
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(1);
/// How long a primary may take to answer a health check.
const HEALTH_TIMEOUT: Duration = Duration::from_millis(900);

#[derive(Clone)]
struct Target {
    cluster: ObjectRef<CacheCluster>,
    client: NodeClient,
}

/// The primaries to check, by failure-window key (`<namespace>/<cluster>/<group>`).
#[derive(Default)]
pub struct Targets(Mutex<HashMap<String, Target>>);

impl Targets {
    /// Checks `client` (a group's primary) from now on under `key`, replacing the group's previous primary.
    pub fn watch(&self, key: String, cluster: ObjectRef<CacheCluster>, client: NodeClient) {
        let client = client.with_timeout(HEALTH_TIMEOUT);
        self.lock().insert(key, Target { cluster, client });
    }

    /// Stops checking the group `key` (it has no primary to check).
    pub fn forget(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Target>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn snapshot(&self) -> Vec<(String, Target)> {
        self.lock()
            .iter()
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect()
    }
}

/// Runs the loop until `trigger`'s receiver is gone: failed checks send their cluster to be reconciled.
pub async fn run(
    ctx: Arc<Context>,
    clusters: Store<CacheCluster>,
    trigger: mpsc::Sender<ObjectRef<CacheCluster>>,
) {
    info!(every = ?HEALTH_INTERVAL, "health checks of primaries started");
    let mut tick = tokio::time::interval(HEALTH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if trigger.is_closed() {
            return;
        }
        forget_deleted(&ctx, &clusters);
        let targets = ctx.health.snapshot();
        debug!(targets = targets.len(), "health check round");
        let checks = targets.iter().map(|(key, target)| async move {
            // One bound for the whole check (a lost pooled connection is replaced within it), so a round
            // never outlasts the interval and the last answer stays recent.
            let ping = tokio::time::timeout(HEALTH_TIMEOUT, target.client.ping());
            let answered = matches!(ping.await, Ok(Ok(())));
            let refused = !answered && refused(target.client.address()).await;
            (key, target, answered, refused)
        });
        for (key, target, answered, refused) in join_all(checks).await {
            debug!(group = %key, answered, "health check");
            if answered {
                ctx.silences.answered(key);
                continue;
            }
            info!(group = %key, refused, "primary missed a health check");
            ctx.silences.missed(key, refused);
            let _ = trigger.try_send(target.cluster.clone());
        }
    }
}

/// True when nothing listens at `address` (the connection is refused at once), as opposed to a node that
/// accepts but does not answer, or cannot be reached.
async fn refused(address: std::net::SocketAddr) -> bool {
    let connect = tokio::net::TcpStream::connect(address);
    matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, connect).await,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// Drops what the operator keeps about clusters that are gone. (Targets and usage series exist only for clusters
/// a reconcile saw, so they are in the store unless deleted since.)
fn forget_deleted(ctx: &Context, clusters: &Store<CacheCluster>) {
    let exists = |namespace: &str, name: &str| {
        clusters
            .get(&ObjectRef::new(name).within(namespace))
            .is_some()
    };
    ctx.health.lock().retain(|_, t| {
        exists(
            t.cluster.namespace.as_deref().unwrap_or_default(),
            &t.cluster.name,
        )
    });
    for (namespace, name) in ctx.metrics.clusters_with_usage() {
        if !exists(&namespace, &name) {
            tokio::spawn(super::usage::mark_deleted(
                ctx.client.clone(),
                namespace.clone(),
                name.clone(),
                (ctx.clock)(),
            ));
            ctx.metrics.forget_cluster(&namespace, &name);
            ctx.meters.forget(&format!("{namespace}/{name}"));
        }
    }
}
