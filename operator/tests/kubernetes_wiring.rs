//! The replication wiring the operator applies to Redis pods on Kubernetes, run against real engine processes
//! started as the StatefulSet starts them (`--role standby`): bootstrap of a new group, failover when the
//! primary's pod is gone, and the old primary's return as a replica (never as an empty primary). Pod labels are
//! kept in the test; the planning and the engine commands are the operator's own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;

use common::engine_binary;
use ferrocache_operator::engine_client::NodeClient;
use ferrocache_operator::failover::{FailoverPolicy, PrimaryHealth};
use ferrocache_operator::wiring::{plan, Endpoint, Member, Step};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// TLS material of a test: a CA and a certificate for `localhost` signed by it, as files.
/// A pod's DNS name under its group's headless Service: what its certificate covers, and what does not resolve
/// outside the cluster.
const POD_DNS_NAME: &str = "orders-0001-0.orders-0001.shop.svc";

struct Tls {
    dir: PathBuf,
    ca_pem: Vec<u8>,
}

impl Tls {
    fn new(test: &str) -> Tls {
        use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
        let dir =
            std::env::temp_dir().join(format!("ferrocache-wiring-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_key = KeyPair::generate().unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["localhost".to_string(), POD_DNS_NAME.to_string()])
            .unwrap()
            .signed_by(&key, &ca, &ca_key)
            .unwrap();
        std::fs::write(dir.join("tls.crt"), cert.pem()).unwrap();
        std::fs::write(dir.join("tls.key"), key.serialize_pem()).unwrap();
        std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
        Tls {
            dir,
            ca_pem: ca.pem().into_bytes(),
        }
    }

    /// The engine flags a TLS pod gets from the operator's configuration file.
    fn flags(&self, port: u16) -> Vec<String> {
        let file = |f: &str| self.dir.join(f).display().to_string();
        vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            file("tls.crt"),
            "--tls-key-file".into(),
            file("tls.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-replication".into(),
            "yes".into(),
        ]
    }
}

/// One "pod": an engine process, its label, its address.
struct Pod {
    name: String,
    port: u16,
    primary_label: bool,
    process: Option<Child>,
    tls: Option<std::sync::Arc<Tls>>,
}

impl Pod {
    /// A pod not started yet, on a free port.
    fn new(name: impl Into<String>, primary_label: bool, tls: Option<std::sync::Arc<Tls>>) -> Pod {
        Pod {
            name: name.into(),
            port: free_port(),
            primary_label,
            process: None,
            tls,
        }
    }

    fn start(&mut self) {
        let listen = match &self.tls {
            Some(tls) => tls.flags(self.port),
            None => vec!["--port".to_string(), self.port.to_string()],
        };
        let child = Command::new(engine_binary())
            .args(listen)
            .args(["--metrics-port", "0", "--role", "standby"])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start engine");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "{} did not start", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Deletes the pod: the process and its labels go.
    fn kill(&mut self) {
        self.primary_label = false;
        if let Some(mut c) = self.process.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// As the operator names it: by IP, or by a name its certificate covers with TLS.
    fn endpoint(&self) -> Endpoint {
        let host = match self.tls {
            Some(_) => "localhost".to_string(),
            None => "127.0.0.1".to_string(),
        };
        Endpoint {
            host,
            port: self.port,
        }
    }

    fn client(&self) -> NodeClient {
        let client = NodeClient::new(&self.name, self.address(), Duration::from_secs(2));
        match &self.tls {
            Some(tls) => client.with_tls("localhost", tls.ca_pem.clone()),
            None => client,
        }
    }

    fn redis(&self) -> redis::Connection {
        redis::Client::open(format!("redis://{}/", self.address()))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Observes every existing pod, plans, executes; returns the steps taken. A deleted pod (no process) is not
/// listed, as on Kubernetes; its replacement starts without a primary label.
async fn reconcile(pods: &mut [Pod]) -> Vec<Step> {
    let mut members = Vec::new();
    for p in pods.iter().filter(|p| p.process.is_some()) {
        members.push(Member {
            name: p.name.clone(),
            labelled_primary: p.primary_label,
            address: Some(p.endpoint()),
            info: p.client().info().await.ok(),
        });
    }
    let planned = plan(
        &members,
        FailoverPolicy::default(),
        PrimaryHealth::Answering,
    );
    for step in &planned.steps {
        match step {
            Step::Label { node, primary } => {
                pods.iter_mut()
                    .find(|p| &p.name == node)
                    .unwrap()
                    .primary_label = *primary;
            }
            Step::Promote { node } => {
                let pod = pods.iter().find(|p| &p.name == node).unwrap();
                pod.client().promote().await.unwrap();
            }
            Step::Follow { node, primary } => {
                let pod = pods.iter().find(|p| &p.name == node).unwrap();
                pod.client()
                    .follow_host(&primary.host, primary.port)
                    .await
                    .unwrap();
            }
        }
    }
    planned.steps
}

async fn role(pod: &Pod) -> (String, Option<String>, Option<bool>) {
    let i = pod.client().info().await.unwrap();
    (i.role, i.following, i.link_up)
}

async fn until_linked(pods: &[Pod], primary: &Pod) {
    let deadline = Instant::now() + Duration::from_secs(20);
    for p in pods
        .iter()
        .filter(|p| p.name != primary.name && p.process.is_some())
    {
        loop {
            let (r, following, link) = role(p).await;
            if r == "replica"
                && following == Some(primary.endpoint().to_string())
                && link == Some(true)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} never linked to {}: {r} {following:?} {link:?}",
                p.name,
                primary.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_bootstrapped_fails_over_and_takes_its_old_primary_back_as_a_replica() {
    let mut pods: Vec<Pod> = (0..3)
        .map(|i| Pod::new(format!("orders-0001-{i}"), i == 0, None))
        .collect();
    for p in &mut pods {
        p.start();
    }
    // Standbys serve no writes until wired.
    let e: redis::RedisResult<()> = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query(&mut pods[0].redis());
    assert!(e.is_err(), "a standby accepted a write");

    let steps = reconcile(&mut pods).await;
    assert_eq!(steps.len(), 3, "promote + two follows: {steps:?}");
    until_linked(&pods, &pods[0]).await;
    assert!(
        reconcile(&mut pods).await.is_empty(),
        "a wired group needs nothing"
    );

    let mut con = pods[0].redis();
    for i in 0..200 {
        let _: () = redis::cmd("SET")
            .arg(format!("key:{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let acked: i64 = redis::cmd("WAIT").arg(2).arg(5000).query(&mut con).unwrap();
    assert_eq!(acked, 2);

    // The primary's pod is deleted: the replica with the highest offset takes over at once.
    pods[0].kill();
    let steps = reconcile(&mut pods).await;
    let promoted = steps
        .iter()
        .find_map(|s| match s {
            Step::Promote { node } => Some(node.clone()),
            _ => None,
        })
        .expect("a replica is promoted");
    let new = pods.iter().position(|p| p.name == promoted).unwrap();
    assert!(pods[new].primary_label);
    until_linked(&pods, &pods[new]).await;
    let mut con = pods[new].redis();
    let n: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(n, 200, "every acknowledged write survived");
    let _: () = redis::cmd("SET")
        .arg("after")
        .arg("failover")
        .query(&mut con)
        .unwrap();

    // The old pod comes back (recreated, empty, standby): it becomes a replica, never the primary.
    pods[0].start();
    reconcile(&mut pods).await;
    until_linked(&pods, &pods[new]).await;
    assert_eq!(role(&pods[0]).await.0, "replica");
    let mut old = pods[0].redis();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n: i64 = redis::cmd("DBSIZE").query(&mut old).unwrap();
        if n == 201 {
            break;
        }
        assert!(Instant::now() < deadline, "the old primary has {n} keys");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_that_restarted_empty_is_replaced_and_its_data_kept() {
    let mut pods: Vec<Pod> = (0..2)
        .map(|i| Pod::new(format!("carts-0001-{i}"), i == 0, None))
        .collect();
    for p in &mut pods {
        p.start();
    }
    reconcile(&mut pods).await;
    until_linked(&pods, &pods[0]).await;
    let mut con = pods[0].redis();
    let _: () = redis::cmd("SET")
        .arg("cart:1")
        .arg("3 items")
        .query(&mut con)
        .unwrap();
    let acked: i64 = redis::cmd("WAIT").arg(1).arg(5000).query(&mut con).unwrap();
    assert_eq!(acked, 1);
    // The container restarts in place (same pod, same label, empty memory).
    pods[0].kill();
    pods[0].primary_label = true;
    pods[0].start();
    let steps = reconcile(&mut pods).await;
    assert_eq!(
        steps.first(),
        Some(&Step::Label {
            node: "carts-0001-0".into(),
            primary: false
        }),
        "the restarted node loses the primary label first: {steps:?}"
    );
    assert!(
        steps.contains(&Step::Promote {
            node: "carts-0001-1".into()
        }),
        "the replica holding the data is promoted: {steps:?}"
    );
    assert!(!steps.contains(&Step::Promote {
        node: "carts-0001-0".into()
    }));
    until_linked(&pods, &pods[1]).await;
    let v: String = redis::cmd("GET")
        .arg("cart:1")
        .query(&mut pods[1].redis())
        .unwrap();
    assert_eq!(v, "3 items");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_only_nodes_are_wired_by_name_and_replicate_over_tls() {
    let tls = std::sync::Arc::new(Tls::new("tls"));
    let mut pods: Vec<Pod> = (0..2)
        .map(|i| Pod::new(format!("secure-0001-{i}"), i == 0, Some(tls.clone())))
        .collect();
    for p in &mut pods {
        p.start();
    }
    let steps = reconcile(&mut pods).await;
    assert_eq!(steps.len(), 2, "{steps:?}");
    until_linked(&pods, &pods[0]).await;
    assert_eq!(pods[0].client().info().await.unwrap().role, "primary");
    assert!(reconcile(&mut pods).await.is_empty());
    let _ = std::fs::remove_dir_all(&tls.dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamic_parameters_reach_a_running_node_without_a_restart() {
    let mut pod = Pod::new("params-0001-0", true, None);
    pod.start();
    let client = pod.client();
    let run_id = |c: NodeClient| async move {
        let mut con = redis::Client::open(format!("redis://{}/", c.address()))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut con)
            .await
            .unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("run_id:"))
            .unwrap()
            .trim()
            .to_string()
    };
    let before = run_id(client.clone()).await;
    client
        .config_set_many(&[("maxmemory-policy", "allkeys-lfu"), ("timeout", "300")])
        .await
        .unwrap();
    assert_eq!(
        client
            .config_get("maxmemory-policy")
            .await
            .unwrap()
            .as_deref(),
        Some("allkeys-lfu")
    );
    assert_eq!(
        client.config_get("timeout").await.unwrap().as_deref(),
        Some("300")
    );
    // All or nothing: one bad value leaves every parameter as it was.
    assert!(client
        .config_set_many(&[("timeout", "60"), ("maxmemory-policy", "no-such-policy")])
        .await
        .is_err());
    assert_eq!(
        client.config_get("timeout").await.unwrap().as_deref(),
        Some("300")
    );
    assert_eq!(run_id(client).await, before, "the node was not restarted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auth_token_rotates_live_accepting_both_tokens_until_every_node_has_the_new_one() {
    use ferrocache_operator::reconcile::auth_rotation::{
        add_token, node_step, only_token, NodeStep,
    };
    let start = |name: &str, token: &str| {
        let port = free_port();
        let child = Command::new(engine_binary())
            .args([
                "--port",
                &port.to_string(),
                "--metrics-port",
                "0",
                "--requirepass",
                token,
            ])
            .args(["--loglevel", "warning"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start engine");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "{name} did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Pod {
            name: name.into(),
            port,
            primary_label: false,
            process: Some(child),
            tls: None,
        }
    };
    // One node still runs with the old token; another restarted with the new one already.
    let nodes = [
        start("auth-0001-0", "old-token"),
        start("auth-0001-1", "new-token"),
    ];
    let with = |p: &Pod, token: &str| p.client().with_password(Some(token.to_string()));
    let url = |p: &Pod, token: &str| format!("redis://:{token}@{}/", p.address());
    // A client connected with the old token before the rotation.
    let mut existing = redis::Client::open(url(&nodes[0], "old-token"))
        .unwrap()
        .get_connection()
        .unwrap();

    let mut steps = Vec::new();
    for n in &nodes {
        let step = node_step(
            with(n, "new-token").authenticates().await.is_ok(),
            with(n, "old-token").authenticates().await.is_ok(),
        );
        if step == NodeStep::AddNew {
            add_token(&with(n, "old-token"), "new-token").await.unwrap();
        }
        steps.push(step);
    }
    assert_eq!(steps, [NodeStep::AddNew, NodeStep::Done]);
    // Mid-rotation the first node takes either token.
    for token in ["old-token", "new-token"] {
        with(&nodes[0], token).ping().await.unwrap();
    }
    for n in &nodes {
        only_token(&with(n, "new-token"), "new-token")
            .await
            .unwrap();
    }
    assert!(
        with(&nodes[0], "old-token").authenticates().await.is_err(),
        "the old token is gone"
    );
    with(&nodes[0], "new-token").ping().await.unwrap();
    let pong: String = redis::cmd("PING").query(&mut existing).unwrap();
    assert_eq!(
        pong, "PONG",
        "connections made with the old token keep working"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_users_are_created_changed_and_deleted_live() {
    use ferrocache_operator::reconcile::acl_users::{delete_user, set_user, DesiredUser};
    let mut pod = Pod::new("users-0001-0", true, None);
    pod.start();
    let admin = pod.client();
    admin.promote().await.unwrap();
    let user = |rules: &str, password: &str| DesiredUser {
        name: "app".into(),
        rules: rules.split_whitespace().map(str::to_string).collect(),
        password: password.into(),
    };
    let login = |password: &str| {
        redis::Client::open(format!("redis://app:{password}@{}/", pod.address()))
            .unwrap()
            .get_connection()
    };
    set_user(&admin, &user("on ~app:* +@all -@dangerous", "first"))
        .await
        .unwrap();
    let mut app = login("first").expect("the user logs in");
    let _: () = redis::cmd("SET")
        .arg("app:1")
        .arg("x")
        .query(&mut app)
        .unwrap();
    let denied: redis::RedisResult<()> = redis::cmd("SET").arg("other").arg("x").query(&mut app);
    assert!(denied.is_err(), "keys outside ~app:* are refused");
    // A new password and narrower rules replace the old ones entirely (reset first).
    set_user(&admin, &user("on ~app:* +@read", "second"))
        .await
        .unwrap();
    assert!(login("first").is_err(), "the old password is gone");
    let mut app = login("second").unwrap();
    let v: String = redis::cmd("GET").arg("app:1").query(&mut app).unwrap();
    assert_eq!(v, "x");
    let write: redis::RedisResult<()> = redis::cmd("SET").arg("app:2").arg("y").query(&mut app);
    assert!(write.is_err(), "+@read only");
    delete_user(&admin, "app").await.unwrap();
    assert!(login("second").is_err(), "a removed user cannot log in");
}

/// The operator's health checks and scrapes reuse one authenticated connection per node, and nothing they
/// send (AUTH included) is billed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_connections_are_pooled_and_unbilled() {
    let port = free_port();
    let mut child = Command::new(engine_binary())
        .args(["--port", &port.to_string(), "--metrics-port", "0"])
        .args([
            "--requirepass",
            "pool-token-0123456789",
            "--loglevel",
            "warning",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start engine");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the engine did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = NodeClient::new(
        "pool-0001-0",
        SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(2),
    )
    .with_password(Some("pool-token-0123456789".into()));
    let connections = |text: &str| -> u64 {
        ferrocache_operator::engine_client::parse_info(text)["total_connections_received"]
            .parse()
            .expect("a count")
    };
    let stats = || redis::cmd("INFO").arg("stats").clone();
    let before: String = client.query_text(&stats()).await.expect("INFO stats");
    for _ in 0..20 {
        client.ping().await.expect("PING");
        client.info().await.expect("INFO");
    }
    let sample = client.usage().await.expect("usage");
    let after: String = client.query_text(&stats()).await.expect("INFO stats");
    // The port probe above is one connection, the pool's another; 41 calls opened no more.
    assert_eq!(connections(&after), connections(&before), "{after}");
    assert_eq!(
        sample.ecpu_total - sample.unbilled_ecpu,
        0,
        "the operator's own commands are billed: {sample:?}"
    );
    let _ = child.kill();
    let _ = child.wait();
}

/// An operator outside the cluster (`--kubeconfig`) cannot resolve pod names: it dials the pod IP and verifies
/// the certificate for the pod's DNS name; a certificate for another name is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_nodes_are_dialled_by_address_and_verified_by_name() {
    let tls = std::sync::Arc::new(Tls::new("by-address"));
    let mut pod = Pod::new("orders-0001-0", true, Some(tls.clone()));
    pod.start();
    let client = |name: &str| {
        NodeClient::new("orders-0001-0", pod.address(), Duration::from_secs(2))
            .with_tls(name, tls.ca_pem.clone())
    };
    client(POD_DNS_NAME)
        .ping()
        .await
        .expect("verified for the pod's DNS name without resolving it");
    let wrong = client("orders-0001-9.orders-0001.shop.svc").ping().await;
    assert!(wrong.is_err(), "a certificate for another name is refused");
}
