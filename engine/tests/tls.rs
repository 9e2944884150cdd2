//! TLS in transit: redis-cli over TLS, mutual TLS, certificate rotation without dropping clients, and
//! replication over TLS with a password.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{run, Engine};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use redis::Value;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

struct Pki {
    dir: PathBuf,
    ca_cert: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = common::temp_dir(&format!("tls-{name}"));
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "ferrocache test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = params.self_signed(&ca_key).unwrap();
        std::fs::write(dir.join("ca.pem"), ca_cert.pem()).unwrap();
        Pki {
            dir,
            ca_cert,
            ca_key,
        }
    }

    /// Issues a certificate for localhost/127.0.0.1 into `<name>.pem` / `<name>.key`.
    fn issue(&self, name: &str, common_name: &str) -> (PathBuf, PathBuf) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.ca_cert, &self.ca_key).unwrap();
        let (c, k) = (
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
}

fn pem_certs(path: &Path) -> Vec<CertificateDer<'static>> {
    rustls_pemfile::certs(&mut std::fs::read(path).unwrap().as_slice())
        .map(|c| c.unwrap())
        .collect()
}

fn pem_key(path: &Path) -> PrivateKeyDer<'static> {
    rustls_pemfile::private_key(&mut std::fs::read(path).unwrap().as_slice())
        .unwrap()
        .unwrap()
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

/// A TLS client; `client` is a certificate/key pair to present.
fn connect(port: u16, ca: &Path, client: Option<(&Path, &Path)>) -> std::io::Result<Tls> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for c in pem_certs(ca) {
        roots.add(c).unwrap();
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let config = match client {
        Some((c, k)) => builder
            .with_client_auth_cert(pem_certs(c), pem_key(k))
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    let conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::try_from("localhost").unwrap())
            .unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.flush()?;
    Ok(tls)
}

fn ping(tls: &mut Tls) -> std::io::Result<Vec<u8>> {
    tls.write_all(b"PING\r\n")?;
    let mut buf = [0u8; 7];
    tls.read_exact(&mut buf)?;
    Ok(buf.to_vec())
}

fn peer_common_name(tls: &Tls) -> String {
    let cert = &tls.conn.peer_certificates().expect("server certificate")[0];
    let text = String::from_utf8_lossy(cert.as_ref()).into_owned();
    ["server-one", "server-two"]
        .iter()
        .find(|n| text.contains(*n))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

fn tls_engine(pki: &Pki, cert: &(PathBuf, PathBuf), extra: &[&str]) -> (Engine, u16) {
    let tls_port = common::free_port();
    let port = tls_port.to_string();
    let ca = pki.ca();
    let mut flags = vec![
        "--tls-port",
        &port,
        "--tls-cert-file",
        cert.0.to_str().unwrap(),
        "--tls-key-file",
        cert.1.to_str().unwrap(),
        "--tls-ca-cert-file",
        ca.to_str().unwrap(),
    ];
    flags.extend_from_slice(extra);
    let e = Engine::start(&flags);
    (e, tls_port)
}

#[test]
fn redis_cli_speaks_to_the_tls_port() {
    let pki = Pki::new("cli");
    let server = pki.issue("server", "server-one");
    let (_e, tls_port) = tls_engine(&pki, &server, &[]);
    let cli = |args: &[&str]| {
        let out = Command::new("redis-cli")
            .args([
                "--tls",
                "--cacert",
                pki.ca().to_str().unwrap(),
                "-h",
                "127.0.0.1",
                "-p",
                &tls_port.to_string(),
            ])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(&["PING"]), "PONG");
    assert_eq!(cli(&["SET", "secret", "over-tls"]), "OK");
    assert_eq!(cli(&["GET", "secret"]), "over-tls");
}

#[test]
fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let pki = Pki::new("mtls");
    let server = pki.issue("server", "server-one");
    let client = pki.issue("client", "app");
    let (_e, tls_port) = tls_engine(&pki, &server, &["--tls-auth-clients", "yes"]);
    let mut with_cert = connect(tls_port, &pki.ca(), Some((&client.0, &client.1))).unwrap();
    assert_eq!(ping(&mut with_cert).unwrap(), b"+PONG\r\n");
    let refused = connect(tls_port, &pki.ca(), None).and_then(|mut t| ping(&mut t));
    assert!(
        refused.is_err(),
        "a client without certificate must be refused"
    );
    let stranger = Pki::new("stranger");
    let foreign = stranger.issue("client", "intruder");
    let refused =
        connect(tls_port, &pki.ca(), Some((&foreign.0, &foreign.1))).and_then(|mut t| ping(&mut t));
    assert!(
        refused.is_err(),
        "a certificate from another CA must be refused"
    );
}

#[test]
fn renewed_certificates_are_served_without_dropping_clients() {
    let pki = Pki::new("rotate");
    let server = pki.issue("server", "server-one");
    let (_e, tls_port) = tls_engine(&pki, &server, &[]);
    let mut old = connect(tls_port, &pki.ca(), None).unwrap();
    assert_eq!(ping(&mut old).unwrap(), b"+PONG\r\n");
    assert_eq!(peer_common_name(&old), "server-one");
    std::thread::sleep(Duration::from_millis(1100)); // a different modification time
    let renewed = pki.issue("renewed", "server-two");
    std::fs::copy(&renewed.0, &server.0).unwrap();
    std::fs::copy(&renewed.1, &server.1).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let fresh = connect(tls_port, &pki.ca(), None).unwrap();
        let mut fresh = fresh;
        assert_eq!(ping(&mut fresh).unwrap(), b"+PONG\r\n");
        if peer_common_name(&fresh) == "server-two" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        ping(&mut old).unwrap(),
        b"+PONG\r\n",
        "the connection made before the renewal still works"
    );
}

#[test]
fn replicas_sync_over_tls_with_a_password() {
    let pki = Pki::new("repl");
    let cert = pki.issue("node", "server-one");
    let (p, p_tls) = tls_engine(&pki, &cert, &["--requirepass", "s3cret"]);
    let primary = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", p.port)).unwrap();
    let mut pc = primary.get_connection().unwrap();
    run(&mut pc, "SET", &["before", "1"]).unwrap();
    let replica_of = format!("127.0.0.1 {p_tls}");
    let (r, _) = tls_engine(
        &pki,
        &cert,
        &[
            "--tls-replication",
            "yes",
            "--set",
            "masterauth=s3cret",
            "--replicaof",
            &replica_of,
        ],
    );
    let mut rc = r.conn();
    let deadline = Instant::now() + Duration::from_secs(15);
    while run(&mut rc, "GET", &["before"]).unwrap() != Value::BulkString(b"1".to_vec()) {
        assert!(Instant::now() < deadline, "replica never synced over TLS");
        std::thread::sleep(Duration::from_millis(50));
    }
    run(&mut pc, "SET", &["after", "2"]).unwrap();
    assert_eq!(run(&mut pc, "WAIT", &["1", "5000"]).unwrap(), Value::Int(1));
    assert_eq!(
        run(&mut rc, "GET", &["after"]).unwrap(),
        Value::BulkString(b"2".to_vec())
    );
    let info: String = common::cmd("INFO", &["replication"])
        .query(&mut pc)
        .unwrap();
    assert!(info.contains("connected_slaves:1"), "{info}");
}

#[test]
fn the_memcached_listener_speaks_tls_too() {
    let pki = Pki::new("memcached");
    let server = pki.issue("server", "server-one");
    let mc_tls = common::free_port();
    let port = mc_tls.to_string();
    let e = Engine::start_memcached(
        &[
            "--memcached-tls-port",
            &port,
            "--tls-cert-file",
            server.0.to_str().unwrap(),
            "--tls-key-file",
            server.1.to_str().unwrap(),
        ],
        false,
    );
    let mut tls = connect(mc_tls, &pki.ca(), None).unwrap();
    tls.write_all(b"set k 5 0 5\r\nhello\r\nget k\r\n").unwrap();
    let expected = b"STORED\r\nVALUE k 5 5\r\nhello\r\nEND\r\n";
    let mut got = vec![0u8; expected.len()];
    tls.read_exact(&mut got).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected)
    );
    let mut plain = e.mc();
    assert_eq!(
        common::roundtrip(&mut plain, b"get k\r\n", expected.len() - 8),
        &expected[8..]
    );
    // The binary protocol over TLS: a binary GET of the same item (flags 5, value "hello").
    let mut binary = connect(mc_tls, &pki.ca(), None).unwrap();
    let mut get = vec![0x80, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 42];
    get.extend_from_slice(&[0; 8]);
    get.push(b'k');
    binary.write_all(&get).unwrap();
    let mut response = vec![0u8; 24 + 4 + 5];
    binary.read_exact(&mut response).unwrap();
    assert_eq!((response[0], response[1]), (0x81, 0x00), "a GET response");
    assert_eq!(&response[6..8], &[0, 0], "status: no error");
    assert_eq!(&response[12..16], &42u32.to_be_bytes(), "opaque echoed");
    assert_eq!(&response[24..28], &5u32.to_be_bytes(), "client flags");
    assert_eq!(&response[28..], b"hello");
}

/// A `redis` crate client over rustls trusting the test CA, optionally presenting a client certificate.
fn redis_tls_client(port: u16, pki: &Pki, client: Option<&(PathBuf, PathBuf)>) -> redis::Client {
    let client_tls = client.map(|(cert, key)| redis::ClientTlsConfig {
        client_cert: std::fs::read(cert).unwrap(),
        client_key: std::fs::read(key).unwrap(),
    });
    redis::Client::build_with_tls(
        format!("rediss://localhost:{port}/"),
        redis::TlsCertificates {
            client_tls,
            root_cert: Some(std::fs::read(pki.ca()).unwrap()),
        },
    )
    .unwrap()
}

#[test]
fn the_redis_crate_works_over_rustls_with_and_without_client_certificates() {
    let pki = Pki::new("crate");
    let server = pki.issue("server", "server-one");
    let (_e, tls_port) = tls_engine(&pki, &server, &[]);
    let mut con = redis_tls_client(tls_port, &pki, None)
        .get_connection()
        .expect("TLS connection with the redis crate");
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("over tls")
        .query(&mut con)
        .unwrap();
    let v: String = redis::cmd("GET").arg("k").query(&mut con).unwrap();
    assert_eq!(v, "over tls");

    // Mutual TLS required: a client without a certificate is refused, one with a CA-signed certificate is not.
    let (_m, mtls_port) = tls_engine(&pki, &server, &["--tls-auth-clients", "yes"]);
    assert!(redis_tls_client(mtls_port, &pki, None)
        .get_connection()
        .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
        .is_err());
    let client_cert = pki.issue("client", "client-one");
    let mut con = redis_tls_client(mtls_port, &pki, Some(&client_cert))
        .get_connection()
        .expect("mTLS connection");
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn port_zero_with_a_tls_port_serves_tls_only() {
    let pki = Pki::new("tlsonly");
    let server = pki.issue("server", "server-one");
    let tls_port = common::free_port();
    let port = tls_port.to_string();
    let ca = pki.ca();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache-engine"))
        .args([
            "--port",
            "0",
            "--metrics-port",
            "0",
            "--loglevel",
            "warning",
        ])
        .args([
            "--tls-port",
            &port,
            "--tls-cert-file",
            server.0.to_str().unwrap(),
        ])
        .args(["--tls-key-file", server.1.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut tls = loop {
        if let Ok(t) = connect(tls_port, &ca, None) {
            break t;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "TLS port never answered"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(ping(&mut tls).unwrap(), b"+PONG\r\n");
    // No plaintext listener: the only TCP port the process owns is the TLS one.
    let pid = child.id();
    let out = Command::new("ss").args(["-ltnpH"]).output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        let ours: Vec<&str> = text
            .lines()
            .filter(|l| l.contains(&format!("pid={pid},")))
            .collect();
        assert!(
            ours.iter().all(|l| l.contains(&format!(":{tls_port} "))),
            "listening sockets: {ours:?}"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
