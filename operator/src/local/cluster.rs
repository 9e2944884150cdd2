//! Runs one CacheCluster on the local platform: brings the nodes up and wires replication, checks health,
//! fails over, replaces dead nodes, and reports.
//!
//! The decisions come from [`crate::failover`], [`crate::scaling`], [`crate::rollout`] and
//! [`crate::metering`]; this file and its submodules carry them out with the platform (processes, endpoints)
//! and the engine client (REPLICAOF, FAILOVER, CONFIG SET, INFO): [`edits`] follows edits of the manifest
//! files, [`patch`] runs rolling patches, [`shards`] publishes the topology of a sharded cluster and reshards it,
//! [`usage`] meters and writes the persisted status.

mod edits;
mod patch;
mod shards;
mod usage;

pub use shards::MoveRecord;
pub use usage::{read_all_reports, read_reports, read_status, STATUS_FILE, USAGE_DIR};

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use kube::ResourceExt;

use super::manifest::Manifests;
use super::status_line::{NodeObservation, StatusLine};
use super::validation;
use crate::api::{CacheCluster, CacheParameterGroup, Engine, PendingModifiedValues};
use crate::engine_client::NodeClient;
use crate::failover::{FailoverPolicy, PrimaryHealth, SilenceTracker};
use crate::metering::UsageAccumulator;
use crate::pending_changes::AppliedSpec;
use crate::platform::local::{LocalOptions, LocalPlatform};
use crate::platform::{NodeSpec, Platform, Presence, Role};
use crate::resources::{engine_config_file, node_group_name, BuildInput};
use crate::rollout::Clock;
use crate::spec_change::Configured;
use crate::wiring::{self, Endpoint, Member, Step};
use crate::{parameters, Error, Result};

/// How the local run behaves.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// Root of the state directories; a cluster's nodes live in `<root>/<namespace>/<name>/`.
    pub state_root: PathBuf,
    /// First port of the layout (see [`crate::platform::local`]); `None` picks free ports.
    pub base_port: Option<u16>,
    /// The engine binary.
    pub engine_binary: PathBuf,
    /// Time between health checks of each primary.
    pub health_interval: Duration,
    /// How long a primary may miss health checks before a replica replaces it.
    pub failover_window: Duration,
    /// How long a started node may take to answer.
    pub start_timeout: Duration,
    /// How long a new or restarted replica may take to sync with its primary.
    pub sync_timeout: Duration,
    /// The manifest files to watch for edits (none: edits are not followed).
    pub manifest_files: Vec<PathBuf>,
    /// Time between checks of the manifest files.
    pub watch_interval: Duration,
    /// Time between metering scrapes; `None` takes the cluster's `metering.interval`.
    pub metering_interval: Option<Duration>,
    /// Shortest time between two writes of the persisted status file.
    pub status_write_interval: Duration,
    /// The clock maintenance windows are checked against.
    pub clock: Clock,
}

impl LocalSettings {
    /// Defaults: `.ferrocache`, ports from the cluster's port, 1 s health checks, 5 s failover window.
    pub fn new(engine_binary: PathBuf) -> LocalSettings {
        LocalSettings {
            state_root: PathBuf::from(".ferrocache"),
            base_port: None,
            engine_binary,
            health_interval: Duration::from_secs(1),
            failover_window: Duration::from_secs(5),
            start_timeout: Duration::from_secs(10),
            sync_timeout: Duration::from_secs(60),
            manifest_files: Vec::new(),
            watch_interval: Duration::from_secs(1),
            metering_interval: None,
            status_write_interval: Duration::from_secs(300),
            clock: Clock::system(),
        }
    }

    fn check_timeout(&self) -> Duration {
        self.health_interval
            .clamp(Duration::from_millis(200), Duration::from_secs(1))
    }
}

/// Something that happened to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A replica replaced a failed primary.
    Failover(FailoverRecord),
    /// A primary failed and nothing can replace it.
    Degraded {
        /// The silent primary.
        primary: String,
        /// Why no replica was promoted.
        reason: String,
    },
    /// A dead node was started again and rejoined.
    NodeReplaced {
        /// Node name.
        node: String,
        /// Its role now.
        role: Role,
    },
    /// Something went wrong that the next health check retries.
    Problem(String),
    /// An edit of the manifest files was not applied; the cluster runs as before.
    EditRejected(String),
    /// A replica was added and has synced with its primary.
    ReplicaAdded {
        /// Node name.
        node: String,
    },
    /// A replica was removed.
    ReplicaRemoved {
        /// Node name.
        node: String,
    },
    /// A memcached node was added to the auto-discovery list.
    CacheNodeAdded {
        /// Node name.
        node: String,
    },
    /// A memcached node was removed from the auto-discovery list and stopped.
    CacheNodeRemoved {
        /// Node name.
        node: String,
    },
    /// Dynamic parameters were set on every node without a restart.
    ParametersSet {
        /// The parameters and their values.
        parameters: BTreeMap<String, String>,
        /// Nodes that took them.
        nodes: usize,
    },
    /// Changes that restart nodes wait for the maintenance window.
    Pending {
        /// What waits.
        values: PendingModifiedValues,
        /// When the window opens next (RFC 3339).
        window_opens: String,
    },
    /// A rolling patch started.
    PatchStarted,
    /// A node runs the new configuration.
    NodePatched {
        /// Node name.
        node: String,
    },
    /// The primary role was handed over to an updated replica during a rolling patch.
    Switchover(SwitchoverRecord),
    /// Every node runs the new configuration.
    PatchDone,
    /// A node did not come back; the rolling patch stopped.
    PatchHalted {
        /// Node name.
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// `numNodeGroups` changed: slots are rebalanced online.
    Resharding {
        /// Shards before.
        from: usize,
        /// Shards wanted.
        to: usize,
    },
    /// A shard (node group) was added; it owns no slots until migrations move some to it.
    ShardAdded {
        /// Node group name.
        shard: String,
    },
    /// A migration of slots between shards started.
    MovingSlots {
        /// Source node group.
        from: String,
        /// Target node group.
        to: String,
        /// Slots moving.
        slots: u32,
    },
    /// A migration finished: the target serves the slots.
    SlotsMoved(MoveRecord),
    /// A shard that owned no slots any more was removed.
    ShardRemoved {
        /// Node group name.
        shard: String,
    },
    /// Resharding is done: the slots are balanced over the wanted shards.
    Resharded {
        /// Shards now.
        shards: usize,
    },
}

/// One coordinated switchover, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SwitchoverRecord {
    /// The primary that handed over.
    pub from: String,
    /// The replica that took over.
    pub to: String,
    /// From `FAILOVER` sent until the primary endpoint pointed at the new primary: the write gap.
    pub write_gap: Duration,
}

/// One failover, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverRecord {
    /// The primary that failed.
    pub old_primary: String,
    /// The replica promoted in its place.
    pub new_primary: String,
    /// Replication offset of the promoted replica.
    pub offset: u64,
    /// From the primary's last answered health check until the new primary took writes behind the primary
    /// endpoint.
    pub duration: Duration,
}

impl std::fmt::Display for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Failover(r) => write!(
                f,
                "failover: {} failed; promoted {} (offset {}) {:.2} s after its last answered health check",
                r.old_primary,
                r.new_primary,
                r.offset,
                r.duration.as_secs_f64()
            ),
            Event::Degraded { primary, reason } => {
                write!(f, "degraded: primary {primary} failed and {reason}")
            }
            Event::NodeReplaced { node, role } => {
                write!(f, "node {node} restarted and rejoined as {}", role.as_str())
            }
            Event::Problem(message) => write!(f, "problem: {message}"),
            Event::EditRejected(message) => {
                write!(f, "edit not applied, the cluster is unchanged: {message}")
            }
            Event::ReplicaAdded { node } => write!(f, "replica {node} added and in sync"),
            Event::ReplicaRemoved { node } => write!(f, "replica {node} removed"),
            Event::CacheNodeAdded { node } => write!(f, "memcached node {node} added"),
            Event::CacheNodeRemoved { node } => write!(f, "memcached node {node} removed"),
            Event::ParametersSet { parameters, nodes } => {
                let list: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
                write!(f, "parameters {} set on {nodes} node(s) without restart", list.join(" "))
            }
            Event::Pending {
                values,
                window_opens,
            } => write!(
                f,
                "pending until the maintenance window opens at {window_opens} (or set applyImmediately): {}",
                pending_summary(values)
            ),
            Event::PatchStarted => write!(f, "rolling patch started, one node at a time"),
            Event::NodePatched { node } => write!(f, "node {node} runs the new configuration"),
            Event::Switchover(r) => write!(
                f,
                "switchover: {} handed the primary role to {}; writes paused {:.3} s",
                r.from,
                r.to,
                r.write_gap.as_secs_f64()
            ),
            Event::PatchDone => write!(f, "rolling patch done: every node runs the new configuration"),
            Event::PatchHalted { node, reason } => {
                write!(f, "rolling patch stopped: {node} did not come back: {reason}")
            }
            Event::Resharding { from, to } => {
                write!(f, "resharding from {from} to {to} shards, online")
            }
            Event::ShardAdded { shard } => write!(f, "shard {shard} added, owning no slots yet"),
            Event::MovingSlots { from, to, slots } => {
                write!(f, "moving {slots} slots from {from} to {to}")
            }
            Event::SlotsMoved(r) => write!(
                f,
                "moved {} slots ({} keys) from {} to {} in {:.2} s; writes to them paused {:.3} ms",
                r.slots,
                r.keys,
                r.from,
                r.to,
                r.elapsed.as_secs_f64(),
                r.pause_ms
            ),
            Event::ShardRemoved { shard } => {
                write!(f, "shard {shard} removed: it owned no slots any more")
            }
            Event::Resharded { shards } => {
                write!(f, "resharding done: slots balanced over {shards} shards")
            }
        }
    }
}

#[derive(Debug)]
struct NodeGroup {
    primary: Option<String>,
    members: Vec<String>,
    silence: SilenceTracker,
    degraded_reported: bool,
}

/// The endpoints a user connects to.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointSummary {
    /// Read-write endpoint (Redis).
    pub primary: Option<SocketAddr>,
    /// Read-only endpoint (Redis).
    pub reader: Option<SocketAddr>,
    /// Configuration endpoint (memcached auto discovery).
    pub configuration: Option<SocketAddr>,
    /// Every node's own address.
    pub nodes: Vec<(String, SocketAddr)>,
}

/// Pending values in one line, e.g. `engineVersion=0.2.0 databases=32`.
pub fn pending_summary(values: &PendingModifiedValues) -> String {
    let mut parts = Vec::new();
    if let Some(v) = &values.engine_version {
        parts.push(format!("engineVersion={v}"));
    }
    if let Some(t) = values.cache_node_type {
        let name = serde_json::to_value(t)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        parts.push(format!("cacheNodeType={name}"));
    }
    parts.extend(values.parameters.iter().map(|(k, v)| format!("{k}={v}")));
    parts.join(" ")
}

/// A CacheCluster running on the local platform. Dropping it stops every node.
#[derive(Debug)]
pub struct LocalCluster {
    cluster: CacheCluster,
    parameter_group: Option<CacheParameterGroup>,
    settings: LocalSettings,
    policy: FailoverPolicy,
    platform: LocalPlatform,
    specs: BTreeMap<String, NodeSpec>,
    addresses: BTreeMap<String, SocketAddr>,
    groups: Vec<NodeGroup>,
    notes: Vec<String>,
    /// What the manifests ask for (the last accepted edit).
    configured: Configured,
    /// The restart-needing configuration nodes are brought to (the rolling patch's target).
    target: AppliedSpec,
    /// What each node runs.
    running: BTreeMap<String, AppliedSpec>,
    /// Changes waiting for the maintenance window.
    pending: PendingModifiedValues,
    /// Why the rolling patch stopped, if it did.
    halted: Option<String>,
    /// Fingerprint of the manifest files' content as last applied or rejected.
    manifest_fingerprint: Option<u64>,
    /// A rolling patch is under way.
    patching: bool,
    usage: UsageAccumulator,
    /// The usage reports as last written, by month.
    reports_written: BTreeMap<String, crate::api::CacheUsageReportSpec>,
    status_written: Option<Instant>,
    /// The slot layout of a sharded cluster.
    shards: Option<shards::Shards>,
    /// The cluster has been available (later gaps are `modifying`, not `creating`).
    was_available: bool,
}

impl LocalCluster {
    /// Checks the manifests, starts every node and wires replication. Must be called inside a tokio runtime.
    pub async fn start(manifests: Manifests, settings: LocalSettings) -> Result<LocalCluster> {
        let Manifests {
            cluster,
            parameter_group,
        } = manifests;
        let findings = validation::check(&cluster, None, parameter_group.as_ref());
        if !findings.problems.is_empty() {
            return Err(Error::Unsupported {
                problems: findings.problems,
            });
        }
        let configured = configured(&cluster, parameter_group.as_ref());
        let target = configured.applied_spec();
        let config = engine_config(&cluster, &target, &configured.dynamic_parameters);
        let namespace = cluster.namespace().unwrap_or_else(|| "default".into());
        let state_dir = settings.state_root.join(namespace).join(cluster.name_any());
        let platform = LocalPlatform::new(
            cluster.spec.engine,
            LocalOptions {
                state_dir,
                base_port: settings.base_port,
                engine_binary: settings.engine_binary.clone(),
                sharded: cluster.spec.sharded(),
            },
        )?;
        let policy = FailoverPolicy {
            enabled: cluster.spec.automatic_failover_enabled,
            window: settings.failover_window,
        };
        let manifest_fingerprint = edits::fingerprint(&settings.manifest_files);
        let mut this = LocalCluster {
            cluster,
            parameter_group,
            settings,
            policy,
            platform,
            specs: BTreeMap::new(),
            addresses: BTreeMap::new(),
            groups: Vec::new(),
            notes: findings.notes,
            configured,
            target,
            running: BTreeMap::new(),
            pending: PendingModifiedValues::default(),
            halted: None,
            manifest_fingerprint,
            patching: false,
            usage: UsageAccumulator::default(),
            reports_written: BTreeMap::new(),
            status_written: None,
            shards: None,
            was_available: false,
        };
        this.usage = this.resume_usage();
        this.create_nodes(&config)?;
        for name in this.specs.keys().cloned().collect::<Vec<_>>() {
            this.wait_ready(&name).await?;
        }
        match this.cluster.spec.engine {
            Engine::Redis => {
                for g in 0..this.groups.len() {
                    this.wire_group(g).await?;
                }
                if this.cluster.spec.sharded() {
                    this.start_sharding().await?;
                }
            }
            Engine::Memcached => {
                for name in this.specs.keys().cloned().collect::<Vec<_>>() {
                    this.platform.set_role(&name, Role::Memcached)?;
                }
            }
        }
        Ok(this)
    }

    fn create_nodes(&mut self, config: &str) -> Result<()> {
        for group in 0..self.cluster.spec.node_groups() {
            self.create_group(group, config)?;
        }
        Ok(())
    }

    /// Starts every node of node group `group` (as standbys) and returns their names.
    fn create_group(&mut self, group: i32, config: &str) -> Result<Vec<String>> {
        let mut members = Vec::new();
        for index in 0..self.cluster.spec.nodes_in_group(group) {
            let node = NodeSpec {
                name: format!("{}-{index}", node_group_name(&self.cluster, group)),
                node_group: group,
                index,
                engine: self.cluster.spec.engine,
                config: config.to_string(),
            };
            members.push(node.name.clone());
            self.create_node(node)?;
        }
        self.groups.push(NodeGroup {
            primary: None,
            members: members.clone(),
            silence: SilenceTracker::default(),
            degraded_reported: false,
        });
        Ok(members)
    }

    fn create_node(&mut self, node: NodeSpec) -> Result<()> {
        let address = self.platform.create_node(&node)?;
        self.addresses.insert(node.name.clone(), address);
        self.running.insert(node.name.clone(), self.target.clone());
        self.specs.insert(node.name.clone(), node);
        Ok(())
    }

    /// Node 0 of group `g` becomes the primary, the others its replicas.
    async fn wire_group(&mut self, g: usize) -> Result<()> {
        let members = self.groups[g].members.clone();
        let Some((first, rest)) = members.split_first() else {
            return Ok(());
        };
        self.client(first).promote().await?;
        self.platform.set_role(first, Role::Primary)?;
        self.groups[g].primary = Some(first.clone());
        let primary = self.address(first)?;
        for replica in rest {
            self.client(replica).follow(primary).await?;
            self.platform.set_role(replica, Role::Replica)?;
        }
        for replica in rest {
            self.wait_link_up(replica).await;
        }
        Ok(())
    }

    /// Settings that were ignored because they mean nothing locally.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The cluster's name.
    pub fn name(&self) -> String {
        self.cluster.name_any()
    }

    /// Where the nodes' directories and logs are.
    pub fn state_dir(&self) -> PathBuf {
        self.platform.state_dir().to_path_buf()
    }

    /// Client endpoints and node addresses.
    pub fn endpoints(&self) -> EndpointSummary {
        let endpoints = self.platform.endpoints();
        EndpointSummary {
            primary: endpoints.primary.as_ref().map(|e| e.address()),
            reader: endpoints.reader.as_ref().map(|e| e.address()),
            configuration: endpoints.configuration.as_ref().map(|e| e.address()),
            nodes: self
                .addresses
                .iter()
                .map(|(n, a)| (n.clone(), *a))
                .collect(),
        }
    }

    /// The current primary of node group `group` (Redis).
    pub fn primary(&self, group: usize) -> Option<&str> {
        self.groups.get(group).and_then(|g| g.primary.as_deref())
    }

    /// Process id of a node (for diagnostics and tests).
    pub fn pid(&self, node: &str) -> Option<u32> {
        self.platform.pid(node)
    }

    fn address(&self, node: &str) -> Result<SocketAddr> {
        self.addresses
            .get(node)
            .copied()
            .ok_or_else(|| Error::Node {
                node: node.to_string(),
                message: "unknown node".into(),
            })
    }

    fn client(&self, node: &str) -> NodeClient {
        let address = self
            .addresses
            .get(node)
            .copied()
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        NodeClient::new(node, address, self.settings.check_timeout())
    }

    async fn answers(&self, node: &str) -> bool {
        let client = self.client(node);
        match self.cluster.spec.engine {
            Engine::Redis => client.ping().await.is_ok(),
            Engine::Memcached => client.memcached_version().await.is_ok(),
        }
    }

    fn presence(&mut self, node: &str) -> Presence {
        self.platform
            .list_nodes()
            .into_iter()
            .find(|n| n.name == node)
            .map_or(Presence::Gone(None), |n| n.presence)
    }

    /// Waits until a started node answers; a node whose process exits is reported with its log file.
    async fn wait_ready(&mut self, node: &str) -> Result<()> {
        let deadline = Instant::now() + self.settings.start_timeout;
        loop {
            if let Presence::Gone(code) = self.presence(node) {
                return Err(self.start_failure(node, &format!("exited (code {code:?})")));
            }
            if self.answers(node).await {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(self.start_failure(node, "did not answer in time"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn start_failure(&self, node: &str, what: &str) -> Error {
        let log = self.platform.log_file(node);
        let tail = std::fs::read_to_string(&log)
            .map(|t| {
                let lines: Vec<&str> = t.lines().collect();
                lines[lines.len().saturating_sub(5)..].join("\n    ")
            })
            .unwrap_or_default();
        Error::Node {
            node: node.to_string(),
            message: format!("{what}; log {}:\n    {tail}", log.display()),
        }
    }

    /// Waits (bounded) until a replica's link to its primary is up; a slow sync is reported by the status line.
    async fn wait_link_up(&self, node: &str) {
        let deadline = Instant::now() + self.settings.start_timeout;
        while Instant::now() < deadline {
            if let Ok(info) = self.client(node).info().await {
                if info.link_up == Some(true) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// One round of health checks: fails over silent primaries, restarts dead nodes.
    pub async fn check_health(&mut self) -> Vec<Event> {
        let mut events = Vec::new();
        for g in 0..self.groups.len() {
            if self.cluster.spec.engine == Engine::Redis {
                if let Some(event) = self.check_primary(g).await {
                    events.push(event);
                }
            }
            events.extend(self.replace_dead_members(g).await);
        }
        events
    }

    async fn check_primary(&mut self, g: usize) -> Option<Event> {
        let primary = self.groups[g].primary.clone()?;
        let gone = matches!(self.presence(&primary), Presence::Gone(_));
        // Answering as a primary: a node that restarted (or was left) as a standby holds no writes.
        let answered = !gone
            && self
                .client(&primary)
                .info()
                .await
                .is_ok_and(|info| info.role == "primary");
        let now = Instant::now();
        let health = self.groups[g].silence.observe(answered, gone, now);
        if health == PrimaryHealth::Answering {
            self.groups[g].degraded_reported = false;
            return None;
        }
        // The same plan the Kubernetes path runs (`wiring::plan`): which replica takes over and who follows it.
        let members = self.wiring_members(g).await;
        let plan = wiring::plan(&members, self.policy, health);
        match plan.failover {
            Some((_, replica)) => {
                let offset = members
                    .iter()
                    .find(|m| m.name == replica)
                    .and_then(|m| m.info.as_ref())
                    .map_or(0, |i| i.offset);
                Some(
                    match self
                        .fail_over(g, &primary, &replica, &plan.steps, offset)
                        .await
                    {
                        Ok(record) => Event::Failover(record),
                        Err(e) => Event::Problem(format!("failover to {replica}: {e}")),
                    },
                )
            }
            None => {
                let waiting = matches!(health, PrimaryHealth::Silent(d) if d < self.policy.window);
                match plan.problem {
                    Some(problem) if !waiting => self.report_degraded(g, &primary, &problem),
                    _ => None,
                }
            }
        }
    }

    fn report_degraded(&mut self, g: usize, primary: &str, reason: &str) -> Option<Event> {
        if std::mem::replace(&mut self.groups[g].degraded_reported, true) {
            return None;
        }
        Some(Event::Degraded {
            primary: primary.to_string(),
            reason: reason.to_string(),
        })
    }

    /// The group's nodes as the wiring plan sees them: the running ones with their address and `INFO`.
    async fn wiring_members(&mut self, g: usize) -> Vec<Member> {
        let mut members = Vec::new();
        for name in self.groups[g].members.clone() {
            let running = self.presence(&name) == Presence::Running;
            let address = self.address(&name).ok().filter(|_| running);
            let info = match address {
                Some(_) => self.client(&name).info().await.ok(),
                None => None,
            };
            members.push(Member {
                labelled_primary: self.groups[g].primary.as_deref() == Some(name.as_str()),
                address: address.map(|a| Endpoint {
                    host: a.ip().to_string(),
                    port: a.port(),
                }),
                info,
                name,
            });
        }
        members
    }

    /// Carries out a failover the wiring plan decided: the old primary is fenced first (restarted as a standby,
    /// which serves no writes, so there is never a second primary), then the plan's steps run in order —
    /// roles, the promotion, every other node following the new primary — and the old primary comes back as a
    /// replica of it.
    async fn fail_over(
        &mut self,
        g: usize,
        old: &str,
        replica: &str,
        steps: &[Step],
        offset: u64,
    ) -> Result<FailoverRecord> {
        self.restart_as_standby(old)?;
        for step in steps {
            match step {
                Step::Label { node, primary } => {
                    if *primary {
                        self.groups[g].primary = Some(node.clone());
                        self.platform.set_role(node, Role::Primary)?;
                    } else if node != old {
                        self.platform.set_role(node, Role::Replica)?;
                    }
                }
                Step::Promote { node } => self.client(node).promote().await?,
                // The old primary follows once it is back (below).
                Step::Follow { node, .. } if node == old => {}
                Step::Follow { node, primary } => {
                    if self
                        .client(node)
                        .follow_host(&primary.host, primary.port)
                        .await
                        .is_ok()
                    {
                        self.platform.set_role(node, Role::Replica)?;
                    }
                }
            }
        }
        let silence = self.groups[g].silence;
        let duration = silence
            .last_answer()
            .or(silence.since())
            .map_or(Duration::ZERO, |t| t.elapsed());
        self.groups[g].silence.reset();
        self.groups[g].degraded_reported = false;
        // Clients learn the new primary from the next epoch (a failed publish is retried by the next check).
        let _ = self.topology_changed().await;
        self.platform.set_role(old, Role::Replica)?;
        self.follow_primary(old).await?;
        Ok(FailoverRecord {
            old_primary: old.to_string(),
            new_primary: replica.to_string(),
            offset,
            duration,
        })
    }

    /// Restarts a node as a standby and points it at its group's primary (or lists it for memcached).
    async fn rejoin(&mut self, node: &str) -> Result<Role> {
        self.restart_as_standby(node)?;
        let role = self.follow_primary(node).await?;
        // A restarted node has no topology until it is given one.
        let _ = self.topology_changed().await;
        Ok(role)
    }

    /// Writes the configuration nodes are being brought to into a node's spec; returns the new spec.
    fn respec_to_target(&mut self, node: &str) -> Result<NodeSpec> {
        let mut spec = self.specs.get(node).cloned().ok_or_else(|| Error::Node {
            node: node.to_string(),
            message: "unknown node".into(),
        })?;
        spec.config = engine_config(
            &self.cluster,
            &self.target,
            &self.configured.dynamic_parameters,
        );
        self.specs.insert(node.to_string(), spec.clone());
        Ok(spec)
    }

    /// Restarts a node as a standby. A node restarting anyway takes the configuration nodes are being brought
    /// to, so a node that failed mid-rollout comes back with whatever the latest edit asks for.
    fn restart_as_standby(&mut self, node: &str) -> Result<()> {
        let spec = self.respec_to_target(node)?;
        self.platform.replace_node(&spec)?;
        self.running.insert(node.to_string(), self.target.clone());
        Ok(())
    }

    /// Waits until a restarted node answers, then makes it a replica of its group's primary.
    async fn follow_primary(&mut self, node: &str) -> Result<Role> {
        self.wait_ready(node).await?;
        let spec = self.specs.get(node).cloned().ok_or_else(|| Error::Node {
            node: node.to_string(),
            message: "unknown node".into(),
        })?;
        if spec.engine == Engine::Memcached {
            self.platform.set_role(node, Role::Memcached)?;
            return Ok(Role::Memcached);
        }
        let group = usize::try_from(spec.node_group).unwrap_or(usize::MAX);
        let primary = self
            .primary(group)
            .map(str::to_string)
            .ok_or_else(|| Error::Node {
                node: node.to_string(),
                message: "its node group has no primary to follow".into(),
            })?;
        self.client(node).follow(self.address(&primary)?).await?;
        self.platform.set_role(node, Role::Syncing)?;
        self.wait_caught_up(node, &primary).await?;
        self.platform.set_role(node, Role::Replica)?;
        Ok(Role::Replica)
    }

    /// Waits until a replica has caught up ([`crate::rollout::caught_up`]) with what its primary had when the
    /// wait began (a full sync included), within the sync timeout.
    async fn wait_caught_up(&self, node: &str, primary: &str) -> Result<()> {
        let deadline = Instant::now() + self.settings.sync_timeout;
        let mut goal = None;
        loop {
            if goal.is_none() {
                goal = self.client(primary).info().await.ok().map(|i| i.offset);
            }
            if let (Some(goal), Ok(info)) = (goal, self.client(node).info().await) {
                if crate::rollout::caught_up(goal, info.link_up, info.offset) {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Node {
                    node: node.to_string(),
                    message: format!(
                        "did not catch up with {primary} within {:?}",
                        self.settings.sync_timeout
                    ),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn replace_dead_members(&mut self, g: usize) -> Vec<Event> {
        let mut events = Vec::new();
        for name in self.groups[g].members.clone() {
            if self.groups[g].primary.as_deref() == Some(name.as_str()) {
                continue; // a primary is replaced only through failover
            }
            if self.presence(&name) == Presence::Running {
                continue;
            }
            events.push(match self.rejoin(&name).await {
                Ok(role) => Event::NodeReplaced { node: name, role },
                Err(e) => Event::Problem(format!("restart {name}: {e}")),
            });
        }
        events
    }

    /// What every node reports now.
    pub async fn observe(&mut self) -> StatusLine {
        let mut nodes = Vec::new();
        for (name, _) in self.addresses.clone() {
            let client = self.client(&name);
            let observation = match self.cluster.spec.engine {
                Engine::Redis => match client.info().await {
                    Ok(info) => NodeObservation::Redis { name, info },
                    Err(_) => NodeObservation::Down { name },
                },
                Engine::Memcached => match client.memcached_version().await {
                    Ok(_) => NodeObservation::Memcached { name },
                    Err(_) => NodeObservation::Down { name },
                },
            };
            nodes.push(observation);
        }
        StatusLine {
            cluster: self.name(),
            nodes,
            ecpu_total: self
                .cluster
                .spec
                .metering
                .enabled
                .then(|| self.usage.ecpu_total()),
            pending: (!self.pending.is_empty()).then(|| pending_summary(&self.pending)),
            halted: self.halted.clone(),
        }
    }

    /// Health checks every `health_interval` and a status line every `status_interval`, each passed to
    /// `report`, until `shutdown` completes; then every node is stopped.
    pub async fn run(
        mut self,
        status_interval: Duration,
        shutdown: impl std::future::Future<Output = ()>,
        mut report: impl FnMut(Report),
    ) {
        let mut health = tokio::time::interval(self.settings.health_interval);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut status = tokio::time::interval(status_interval);
        status.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = tokio::time::interval(self.settings.watch_interval);
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut metering_every = self.metering_interval();
        let mut metering = tokio::time::interval(metering_every);
        metering.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            let events = tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = health.tick() => {
                    let mut events = self.check_health().await;
                    events.extend(self.advance_patch().await);
                    events.extend(self.advance_resharding().await);
                    self.write_status_file(false).await;
                    events
                }
                _ = watch.tick() => {
                    let events = self.check_manifests().await;
                    // An edit of metering.interval takes effect from the next scrape.
                    if self.metering_interval() != metering_every {
                        metering_every = self.metering_interval();
                        metering = tokio::time::interval_at(
                            tokio::time::Instant::now() + metering_every,
                            metering_every,
                        );
                        metering.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                    }
                    events
                }
                _ = metering.tick() => {
                    self.scrape_usage().await;
                    self.write_status_file(false).await;
                    Vec::new()
                }
                _ = status.tick() => {
                    let line = self.observe().await;
                    report(Report::Status(line));
                    Vec::new()
                }
            };
            for event in events {
                report(Report::Event(event));
            }
        }
        // Count what the nodes served since the last scrape before they stop.
        self.scrape_usage().await;
        self.write_status_file(true).await;
        self.stop();
    }

    /// Stops every node cleanly.
    pub fn stop(&mut self) {
        self.platform.stop_all();
    }
}

/// What [`LocalCluster::run`] reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// Something happened.
    Event(Event),
    /// The periodic status.
    Status(StatusLine),
}

/// The spec with its group's parameters split into static and dynamic ones.
fn configured(cluster: &CacheCluster, group: Option<&CacheParameterGroup>) -> Configured {
    let validated = group
        .map(|g| parameters::validate(&g.spec.parameters))
        .unwrap_or_default();
    let (static_parameters, mut dynamic_parameters) = validated.split_by_change_type();
    dynamic_parameters.extend(crate::usage_limits::parameters(&cluster.spec));
    Configured {
        spec: cluster.spec.clone(),
        static_parameters,
        dynamic_parameters,
    }
}

/// A node's engine configuration file: the same text the Kubernetes ConfigMap carries (the local platform's
/// flags override address and role).
fn engine_config(
    cluster: &CacheCluster,
    applied: &AppliedSpec,
    dynamic_parameters: &BTreeMap<String, String>,
) -> String {
    engine_config_file(BuildInput {
        cluster,
        applied,
        dynamic_parameters,
    })
}
