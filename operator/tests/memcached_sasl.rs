//! Metering a memcached node that requires SASL: the operator's scrape logs in over the binary protocol with
//! the credentials of the cluster's `authTokenSecretRef` (a `user:password` line) and reads the same counters as
//! from a node without login; wrong or missing credentials get no figures. Runs a real engine process.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::engine_binary;
use ferrocache_operator::engine_client::NodeClient;

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn usage_of_a_sasl_node_is_scraped_after_a_plain_login() {
    let dir = std::env::temp_dir().join(format!("ferrocache-sasl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("directory");
    let pwdb = dir.join("token");
    std::fs::write(&pwdb, "meter:m3ter-secret\n").expect("password file");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let node = Node(
        Command::new(engine_binary())
            .args([
                "--protocol",
                "memcached",
                "--memcached-port",
                &port.to_string(),
            ])
            .args(["--metrics-port", "0", "--dir", &dir.display().to_string()])
            .args(["--memcached-sasl-pwdb", &pwdb.display().to_string()])
            .stdout(Stdio::null())
            .spawn()
            .expect("start engine"),
    );
    let address = format!("127.0.0.1:{port}").parse().expect("address");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(address).is_err() {
        assert!(Instant::now() < deadline, "the engine did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let client = |password: Option<&str>| {
        NodeClient::new("node", address, Duration::from_secs(2))
            .with_password(password.map(str::to_string))
    };
    let sample = client(Some("meter:m3ter-secret"))
        .memcached_usage()
        .await
        .expect("usage after the login");
    assert!(!sample.run_id.is_empty());
    assert!(
        sample.unbilled_ecpu > 0,
        "the scrape itself is management, not billed"
    );
    assert!(client(Some("meter:wrong")).memcached_usage().await.is_err());
    assert!(
        client(None).memcached_usage().await.is_err(),
        "text is refused"
    );
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
