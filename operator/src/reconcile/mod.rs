//! The kube-runtime controllers: CacheCluster (owns the objects of `resources`, watches parameter groups and the
//! Secrets clusters refer to) and CacheParameterGroup (validates parameters into its status).
//!
//! Each reconcile reads what it needs, applies the built objects with server-side apply under one field manager,
//! and writes only `status` (never `spec`, so GitOps tools see no drift). Children carry a controller owner
//! reference, so Kubernetes garbage-collects them with the cluster; nothing outside the cluster's objects needs
//! cleaning up, so there is no finalizer (an operator uninstalled before its clusters cannot block their
//! deletion).

pub mod acl_users;
pub mod auth_rotation;
mod cluster;
pub mod health;
pub mod live_parameters;
mod parameter_group;
pub mod replication;
mod roles;
pub mod rolling;
pub mod scale_in;
mod shards;
mod status;
pub mod usage;

#[cfg(test)]
mod mock_api;
#[cfg(test)]
mod sharded_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::jiff::Timestamp;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use tracing::{info, warn};

pub use cluster::reconcile as reconcile_cluster;
pub use parameter_group::reconcile as reconcile_parameter_group;
pub use roles::role_changes;
pub use status::{compute as compute_status, pod_ready, Blocker, Observation};

use crate::api::{CacheCluster, CacheParameterGroup};
use crate::metrics::Metrics;
use crate::{Error, FIELD_MANAGER};

/// What every reconcile needs.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Publishes Events about the reconciled objects.
    pub recorder: Recorder,
    /// Operator metrics.
    pub metrics: Metrics,
    /// The current time (fixed in tests, so maintenance windows are deterministic).
    pub clock: fn() -> Timestamp,
    /// Where a pod's engine answers (its pod IP; tests map pods to local engines).
    pub node_address: fn(&k8s_openapi::api::core::v1::Pod, i32) -> Option<std::net::SocketAddr>,
    /// How long each node group's primary has been silent.
    pub silences: replication::Silences,
    /// Usage metering state per cluster.
    pub meters: usage::Meters,
    /// The primaries the health-check loop checks.
    pub health: health::Targets,
    /// Least time between two publications of `status.usage`.
    pub usage_publish_every: Duration,
    /// Time after an hour during which late usage still goes into it.
    pub usage_grace: Duration,
    /// How long usage reports are kept after their month ends.
    pub usage_retention: Duration,
}

impl Context {
    /// A context reporting Events as `ferrocache-operator` from `instance` (the pod name, when known).
    pub fn new(client: Client, metrics: Metrics, instance: Option<String>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.into(),
            instance,
        };
        Context {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            clock: Timestamp::now,
            node_address: replication::pod_address,
            silences: Default::default(),
            meters: Default::default(),
            health: Default::default(),
            usage_publish_every: usage::PUBLISH_EVERY,
            usage_grace: crate::metering::DEFAULT_GRACE,
            usage_retention: usage::DEFAULT_RETENTION,
        }
    }
}

/// Publishes an Event about `cluster`.
pub(crate) async fn publish_event(
    ctx: &Context,
    cluster: &CacheCluster,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) -> crate::Result<()> {
    use kube::runtime::events::{Event, EventType};
    use kube::Resource;
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    ctx.recorder
        .publish(&event, &cluster.object_ref(&()))
        .await?;
    Ok(())
}

/// Merges `metadata` (labels, annotations) into pod `name`; the updated pod replaces its copy in `pods`.
pub(crate) async fn patch_pod(
    api: &Api<k8s_openapi::api::core::v1::Pod>,
    pods: &mut [k8s_openapi::api::core::v1::Pod],
    name: &str,
    metadata: serde_json::Value,
) -> crate::Result<()> {
    use kube::api::{Patch, PatchParams};
    let patch = serde_json::json!({ "metadata": metadata });
    let updated = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    if let Some(slot) = pods.iter_mut().find(|p| p.name_any() == name) {
        *slot = updated;
    }
    Ok(())
}

/// Sets pod `name`'s `ferrocache.io/role` label (what the primary and reader Services select on).
pub(crate) async fn set_role(
    api: &Api<k8s_openapi::api::core::v1::Pod>,
    pods: &mut [k8s_openapi::api::core::v1::Pod],
    name: &str,
    role: &str,
) -> crate::Result<()> {
    let labels = serde_json::json!({ "labels": { crate::resources::ROLE: role } });
    patch_pod(api, pods, name, labels).await
}

impl Context {
    /// True when the pod's engine has an address the operator can reach (it is scheduled and running).
    pub fn reachable(&self, cluster: &CacheCluster, pod: &k8s_openapi::api::core::v1::Pod) -> bool {
        (self.node_address)(pod, cluster.spec.client_port()).is_some()
    }

    /// True when any of the pods is [`Context::reachable`].
    pub fn any_reachable(
        &self,
        cluster: &CacheCluster,
        pods: &[k8s_openapi::api::core::v1::Pod],
    ) -> bool {
        pods.iter().any(|p| self.reachable(cluster, p))
    }
}

/// Requeue after a failure: soon enough to recover from API hiccups, slow enough not to hammer the server.
const ERROR_REQUEUE: Duration = Duration::from_secs(30);

/// Records a failed CacheCluster reconcile and retries it later.
pub fn cluster_error_policy(
    cluster: Arc<CacheCluster>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    warn!(cluster = %cluster.name_any(), namespace = cluster.namespace().unwrap_or_default(), %error, "reconcile failed");
    ctx.metrics.reconcile_failed("CacheCluster", error);
    Action::requeue(ERROR_REQUEUE)
}

/// Records a failed CacheParameterGroup reconcile and retries it later.
pub fn parameter_group_error_policy(
    group: Arc<CacheParameterGroup>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    warn!(group = %group.name_any(), namespace = group.namespace().unwrap_or_default(), %error, "reconcile failed");
    ctx.metrics.reconcile_failed("CacheParameterGroup", error);
    Action::requeue(ERROR_REQUEUE)
}

/// Runs both controllers until `shutdown` resolves.
pub async fn run(
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });

    let clusters = Api::<CacheCluster>::all(client.clone());
    let cluster_controller = Controller::new(clusters, watcher::Config::default().any_semantic());
    let store = cluster_controller.store();
    let by_group = store.clone();
    let by_secret = store.clone();
    // Failed health checks reconcile their cluster at once.
    let (unhealthy_tx, unhealthy_rx) = tokio::sync::mpsc::channel(256);
    tokio::spawn(health::run(ctx.clone(), store, unhealthy_tx));
    let unhealthy = futures::stream::unfold(unhealthy_rx, |mut rx| async move {
        rx.recv().await.map(|cluster| (cluster, rx))
    });
    let cluster_controller = cluster_controller
        .reconcile_on(unhealthy)
        // A pod that dies, is deleted or changes readiness is looked at at once (pods belong to StatefulSets,
        // so they are mapped to their cluster by label).
        .watches(
            Api::<Pod>::all(client.clone()),
            watcher::Config::default().labels(crate::resources::CLUSTER),
            |pod| {
                let namespace = pod.namespace()?;
                let cluster = pod.labels().get(crate::resources::CLUSTER)?.clone();
                Some(ObjectRef::new(&cluster).within(&namespace))
            },
        )
        .owns(Api::<StatefulSet>::all(client.clone()), watcher::Config::default())
        .owns(Api::<Service>::all(client.clone()), watcher::Config::default())
        .owns(Api::<ConfigMap>::all(client.clone()), watcher::Config::default())
        .owns(Api::<PodDisruptionBudget>::all(client.clone()), watcher::Config::default())
        .owns(Api::<NetworkPolicy>::all(client.clone()), watcher::Config::default())
        .watches(
            Api::<CacheParameterGroup>::all(client.clone()),
            watcher::Config::default(),
            move |group| {
                let (name, namespace) = (group.name_any(), group.namespace());
                by_group
                    .state()
                    .into_iter()
                    .filter(move |c| {
                        c.namespace() == namespace && c.spec.cache_parameter_group_name.as_deref() == Some(name.as_str())
                    })
                    .map(|c| ObjectRef::from_obj(&*c))
            },
        )
        // Secrets are watched through their metadata only: the operator never holds their data.
        .watches(Api::<PartialObjectMeta<Secret>>::all(client.clone()), watcher::Config::default(), move |secret| {
            let (name, namespace) = (secret.name_any(), secret.namespace());
            by_secret
                .state()
                .into_iter()
                .filter(move |c| c.namespace() == namespace && cluster::referenced_secrets(c).contains(&name))
                .map(|c| ObjectRef::from_obj(&*c))
        })
        .graceful_shutdown_on(stopped(stop_rx.clone()))
        .run(reconcile_cluster, cluster_error_policy, ctx.clone())
        .for_each(|result| async move {
            match result {
                Ok((object, _)) => info!(cluster = %object.name, namespace = object.namespace.as_deref().unwrap_or_default(), "reconciled"),
                Err(error) => warn!(%error, "CacheCluster controller"),
            }
        });

    let groups = Api::<CacheParameterGroup>::all(client);
    let group_controller = Controller::new(groups, watcher::Config::default().any_semantic())
        .graceful_shutdown_on(stopped(stop_rx))
        .run(reconcile_parameter_group, parameter_group_error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                warn!(%error, "CacheParameterGroup controller");
            }
        });

    futures::join!(cluster_controller, group_controller);
}
