//! Talking to engine nodes over the Redis protocol with the `redis` crate: health checks, replication state,
//! usage counters, the role commands (`REPLICAOF NO ONE`, `REPLICAOF host port`, `FAILOVER TO`) and `CONFIG SET`.
//!
//! Connections are kept in one process-wide pool, keyed by address, password and TLS name, so the operator's
//! health checks and scrapes do not authenticate again every second (each new connection is an AUTH and a
//! client handshake on the node). Every call is bounded by a timeout, so a hung node costs one timeout and
//! never blocks the caller; a pooled connection that fails or times out is dropped, and one that the node
//! closed (it restarted) is replaced by a fresh one at once, so a restarted node is seen as it is now.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::metering::NodeSample;
use crate::{Error, Result};

/// Replication and usage state of one node, from `INFO replication` and `INFO usage`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodeInfo {
    /// `primary`, `replica` or `standby` (`ferrocache_role`), else Redis' `master`/`slave`.
    pub role: String,
    /// Replicas: whether the link to the primary is up.
    pub link_up: Option<bool>,
    /// Replication offset: `master_repl_offset` on a primary, `slave_repl_offset` on a replica.
    pub offset: u64,
    /// Request units (ECPU) counted since the node started.
    pub ecpu_total: Option<u64>,
    /// Bytes of the dataset.
    pub dataset_bytes: Option<u64>,
    /// Replicas: the primary they follow, `host:port`.
    pub following: Option<String>,
}

/// A client of one node.
#[derive(Debug, Clone)]
pub struct NodeClient {
    name: String,
    address: SocketAddr,
    timeout: Duration,
    password: Option<String>,
    /// TLS: the name to connect to and verify, and the CA certificates (PEM) to trust.
    tls: Option<(String, Vec<u8>)>,
}

impl NodeClient {
    /// A client of the node `name` at `address`; every call is bounded by `timeout`.
    pub fn new(name: impl Into<String>, address: SocketAddr, timeout: Duration) -> NodeClient {
        NodeClient {
            name: name.into(),
            address,
            timeout,
            password: None,
            tls: None,
        }
    }

    /// The node's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The node's address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Node {
            node: self.name.clone(),
            message: message.to_string(),
        }
    }

    async fn bounded<T>(
        &self,
        what: &str,
        future: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(format!("{what}: {e}"))),
            Err(_) => Err(self.error(format!("{what}: no answer within {:?}", self.timeout))),
        }
    }

    /// The same client with another bound on every call.
    pub fn with_timeout(mut self, timeout: Duration) -> NodeClient {
        self.timeout = timeout;
        self
    }

    /// The same client, authenticating with `password` as the default user.
    pub fn with_password(mut self, password: Option<String>) -> NodeClient {
        self.password = password;
        self
    }

    /// The same client over TLS: it connects to the node's address and verifies its certificate for the name
    /// `host` against `ca_pem`.
    pub fn with_tls(mut self, host: impl Into<String>, ca_pem: Vec<u8>) -> NodeClient {
        self.tls = Some((host.into(), ca_pem));
        self
    }

    fn pool_key(&self) -> PoolKey {
        (
            self.address,
            self.password.clone(),
            self.tls.as_ref().map(|(host, _)| host.clone()),
        )
    }

    async fn connection(&self) -> Result<MultiplexedConnection> {
        let Some((host, ca)) = &self.tls else {
            let auth = match &self.password {
                Some(p) => format!(":{}@", percent_encode(p)),
                None => String::new(),
            };
            let client = redis::Client::open(format!("redis://{auth}{}/", self.address))
                .map_err(|e| self.error(e))?;
            return self
                .bounded("connect", client.get_multiplexed_async_connection())
                .await;
        };
        match tokio::time::timeout(self.timeout, self.tls_connection(host, ca)).await {
            Ok(connection) => connection,
            Err(_) => Err(self.error(format!("connect: no answer within {:?}", self.timeout))),
        }
    }

    /// TLS to the node's address, verifying its certificate for `host` against `ca_pem`: the operator needs
    /// no DNS (it may run outside the cluster, where pod names do not resolve), only the pod IP.
    async fn tls_connection(&self, host: &str, ca_pem: &[u8]) -> Result<MultiplexedConnection> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, ServerName};
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(ca_pem) {
            let cert = cert.map_err(|e| self.error(format!("the TLS CA is not PEM: {e}")))?;
            roots
                .add(cert)
                .map_err(|e| self.error(format!("the TLS CA is unusable: {e}")))?;
        }
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| self.error(e))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| self.error(format!("{host} is not a TLS server name: {e}")))?;
        let tcp = tokio::net::TcpStream::connect(self.address)
            .await
            .map_err(|e| self.error(format!("connect: {e}")))?;
        let stream = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| self.error(format!("TLS handshake: {e}")))?;
        let mut info = redis::RedisConnectionInfo::default();
        if let Some(password) = &self.password {
            info = info.set_password(password);
        }
        let (connection, driver) = redis::aio::MultiplexedConnection::new_with_config(
            &info,
            stream,
            redis::AsyncConnectionConfig::new(),
        )
        .await
        .map_err(|e| self.error(format!("connect: {e}")))?;
        tokio::spawn(driver);
        Ok(connection)
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T> {
        let key = self.pool_key();
        // The pooled connection first; a fresh one when there is none, or when the node closed the pooled one
        // (it restarted, or dropped idle clients).
        let mut pooled = pool().get(&key).cloned();
        loop {
            let reused = pooled.is_some();
            let mut con = match pooled.take() {
                Some(con) => con,
                None => self.connection().await?,
            };
            let outcome = tokio::time::timeout(self.timeout, cmd.query_async::<T>(&mut con)).await;
            // A value or an error reply leaves the connection usable; a lost or silent one is dropped.
            let usable = matches!(&outcome, Ok(Ok(_)))
                || matches!(&outcome, Ok(Err(e)) if !connection_lost(e));
            match (usable, reused) {
                (true, false) => drop(pool().insert(key.clone(), con)),
                (false, true) => drop(pool().remove(&key)),
                _ => {}
            }
            match outcome {
                Ok(Ok(value)) => return Ok(value),
                // Once more, on a fresh connection.
                Ok(Err(e)) if reused && connection_lost(&e) => {}
                Ok(Err(e)) => return Err(self.error(format!("command: {e}"))),
                Err(_) => {
                    return Err(self.error(format!("command: no answer within {:?}", self.timeout)))
                }
            }
        }
    }

    /// Runs a command answered with `+OK`.
    pub async fn command(&self, cmd: &redis::Cmd) -> Result<()> {
        self.query::<String>(cmd).await.map(drop)
    }

    /// Runs a command answered with text (a bulk or status reply).
    pub async fn query_text(&self, cmd: &redis::Cmd) -> Result<String> {
        self.query::<String>(cmd).await
    }

    /// Runs a command answered with an integer.
    pub async fn query_int(&self, cmd: &redis::Cmd) -> Result<i64> {
        self.query::<i64>(cmd).await
    }

    /// PING: the health check of a Redis-protocol node.
    pub async fn ping(&self) -> Result<()> {
        self.query::<String>(&redis::cmd("PING")).await.map(drop)
    }

    /// PING on a new connection: whether the node accepts this client's password now. (Pooled connections
    /// stay authenticated after a password change, as any client's connection does.)
    pub async fn authenticates(&self) -> Result<()> {
        let mut con = self.connection().await?;
        self.bounded("PING", redis::cmd("PING").query_async::<String>(&mut con))
            .await
            .map(drop)
    }

    /// Replication state and usage counters.
    pub async fn info(&self) -> Result<NodeInfo> {
        // One command, so both sections describe the same moment.
        let text: String = self
            .query(redis::cmd("INFO").arg("replication").arg("usage"))
            .await?;
        let fields = parse_info(&text);
        Ok(node_info(&fields, &fields))
    }

    /// `CLUSTER MYID`: the node's 40-hex id, kept in its data directory across restarts.
    pub async fn cluster_id(&self) -> Result<String> {
        self.query(redis::cmd("CLUSTER").arg("MYID")).await
    }

    /// `CLUSTER SETTOPOLOGY`: installs the cluster topology document (JSON).
    pub async fn set_topology(&self, json: &str) -> Result<()> {
        self.command(redis::cmd("CLUSTER").arg("SETTOPOLOGY").arg(json))
            .await
    }

    /// `CLUSTER GETTOPOLOGY`: the document in force, if the node has one.
    pub async fn topology(&self) -> Result<Option<String>> {
        self.query(redis::cmd("CLUSTER").arg("GETTOPOLOGY")).await
    }

    /// `CLUSTER <args…>` answered with `+OK` (MIGRATESLOTS, CANCELSLOTMIGRATIONS).
    pub async fn cluster(&self, args: &[String]) -> Result<()> {
        self.command(redis::cmd("CLUSTER").arg(args)).await
    }

    /// `CLUSTER GETSLOTMIGRATIONS`: every migration the node took part in, oldest first, as field maps.
    pub async fn slot_migrations(&self) -> Result<Vec<BTreeMap<String, String>>> {
        self.query(redis::cmd("CLUSTER").arg("GETSLOTMIGRATIONS"))
            .await
    }

    /// `REPLICAOF NO ONE`: the node becomes a primary, keeping its data.
    pub async fn promote(&self) -> Result<()> {
        self.query::<String>(redis::cmd("REPLICAOF").arg("NO").arg("ONE"))
            .await
            .map(drop)
    }

    /// `REPLICAOF host port`: the node follows `primary`.
    pub async fn follow(&self, primary: SocketAddr) -> Result<()> {
        self.query::<String>(
            redis::cmd("REPLICAOF")
                .arg(primary.ip().to_string())
                .arg(primary.port()),
        )
        .await
        .map(drop)
    }

    /// `REPLICAOF host port` with a host name (TLS replication verifies the primary's certificate for it).
    pub async fn follow_host(&self, host: &str, port: u16) -> Result<()> {
        self.query::<String>(redis::cmd("REPLICAOF").arg(host).arg(port))
            .await
            .map(drop)
    }

    /// `CONFIG SET name value`: changes a dynamic parameter on the running node.
    pub async fn config_set(&self, name: &str, value: &str) -> Result<()> {
        self.query::<String>(redis::cmd("CONFIG").arg("SET").arg(name).arg(value))
            .await
            .map(drop)
    }

    /// `CONFIG SET` of several parameters at once (all or none are applied).
    pub async fn config_set_many(&self, parameters: &[(&str, &str)]) -> Result<()> {
        let mut cmd = redis::cmd("CONFIG");
        cmd.arg("SET");
        for (name, value) in parameters {
            cmd.arg(*name).arg(*value);
        }
        self.query::<String>(&cmd).await.map(drop)
    }

    /// `CONFIG GET name`: the value, if the node knows the parameter.
    pub async fn config_get(&self, name: &str) -> Result<Option<String>> {
        let pairs: Vec<String> = self
            .query(redis::cmd("CONFIG").arg("GET").arg(name))
            .await?;
        Ok(pairs.get(1).cloned())
    }

    /// `FAILOVER TO host port TIMEOUT ms`: the primary pauses writes, waits until `to` has every write, hands
    /// it the primary role and follows it. Answers once the hand-over is done.
    pub async fn failover_to(&self, to: SocketAddr, timeout: Duration) -> Result<()> {
        let millis = u64::try_from(timeout.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        // The node answers once the hand-over is done, up to `timeout` from now.
        let bounded = self.clone().with_timeout(timeout + self.timeout);
        bounded
            .query::<String>(
                redis::cmd("FAILOVER")
                    .arg("TO")
                    .arg(to.ip().to_string())
                    .arg(to.port())
                    .arg("TIMEOUT")
                    .arg(millis),
            )
            .await
            .map(drop)
    }

    /// `SAVE`: writes a snapshot the node loads when it starts again.
    pub async fn save(&self) -> Result<()> {
        self.query::<String>(&redis::cmd("SAVE")).await.map(drop)
    }

    /// The metering counters of `INFO usage`, read by one command so they describe the same moment (the
    /// scrape's own cost shows in the next scrape).
    pub async fn usage(&self) -> Result<NodeSample> {
        let text: String = self.query(redis::cmd("INFO").arg("usage")).await?;
        self.sample(&parse_info(&text), "dataset_bytes", "INFO usage")
    }

    /// A usage sample from a node's usage fields (`INFO usage` or memcached `stats`): the engine counts its
    /// billed units itself (`ecpu_billed`), so an engine without them cannot be metered.
    fn sample(
        &self,
        fields: &BTreeMap<String, String>,
        dataset: &str,
        what: &str,
    ) -> Result<NodeSample> {
        let number = |k: &str| fields.get(k).and_then(|v| v.trim().parse::<u64>().ok());
        let run_id = fields
            .get("run_id")
            .map(|v| v.trim().to_string())
            .ok_or_else(|| self.error(format!("{what} has no run_id")))?;
        let total = number("ecpu_total").unwrap_or(0);
        let billed = number("ecpu_billed").ok_or_else(|| {
            self.error(format!(
                "{what} has no ecpu_billed: the engine predates billing"
            ))
        })?;
        Ok(NodeSample {
            run_id,
            ecpu_total: total,
            unbilled_ecpu: total.saturating_sub(billed),
            dataset_bytes: number(dataset).unwrap_or(0),
            ..NodeSample::default()
        }
        .with_billing_fields(fields))
    }

    /// The memcached health check: `version` answered with `VERSION …`.
    pub async fn memcached_version(&self) -> Result<String> {
        let reply = self.memcached_request("version", b"\r\n").await?;
        let reply = reply.trim().to_string();
        if reply.starts_with("VERSION") {
            Ok(reply)
        } else {
            Err(self.error(format!("unexpected reply to version: {reply}")))
        }
    }

    /// Sends one memcached request and reads its reply up to `end` (or the connection's end), within the
    /// client's timeout.
    async fn memcached_request(&self, request: &str, end: &[u8]) -> Result<String> {
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.address).await?;
            stream
                .write_all(format!("{request}\r\n").as_bytes())
                .await?;
            let mut reply = Vec::new();
            let mut buf = [0u8; 4096];
            while !reply.ends_with(end) && reply.len() < 1 << 20 {
                let n = stream.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&buf[..n]);
            }
            Ok::<_, std::io::Error>(String::from_utf8_lossy(&reply).into_owned())
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(text)) => Ok(text),
            Ok(Err(e)) => Err(self.error(format!("{request}: {e}"))),
            Err(_) => Err(self.error(format!("{request}: no answer within {:?}", self.timeout))),
        }
    }

    /// The metering counters of a memcached node, from `stats`: `ecpu_total`, `ecpu_unbilled` (management
    /// requests: health checks and these scrapes), `bytes` (the dataset) and `run_id`.
    /// With a password (`user:password`, a node that requires SASL), the scrape logs in over the binary
    /// protocol (SASL PLAIN) and reads the same statistics with its `stat` request.
    pub async fn memcached_usage(&self) -> Result<NodeSample> {
        let stats: BTreeMap<String, String> = match &self.password {
            Some(credentials) => self.memcached_binary_stats(credentials).await?,
            None => {
                let text = self.memcached_request("stats", b"END\r\n").await?;
                text.lines()
                    .filter_map(|l| l.strip_prefix("STAT "))
                    .filter_map(|l| l.split_once(' '))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            }
        };
        self.sample(&stats, "bytes", "stats")
    }
}

/// A memcached binary-protocol request frame.
fn memcached_frame(opcode: u8, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut b = vec![0x80, opcode];
    b.extend_from_slice(&(key.len() as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&((key.len() + value.len()) as u32).to_be_bytes());
    b.extend_from_slice(&[0; 12]);
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b
}

impl NodeClient {
    /// `stat` over the binary protocol after a SASL PLAIN login with `user:password`.
    async fn memcached_binary_stats(&self, credentials: &str) -> Result<BTreeMap<String, String>> {
        let (user, password) = credentials
            .split_once(':')
            .ok_or_else(|| self.error("memcached credentials are not user:password"))?;
        let mut request =
            memcached_frame(0x21, b"PLAIN", format!("\0{user}\0{password}").as_bytes());
        request.extend(memcached_frame(0x10, b"", b""));
        let exchange = async {
            let mut stream = tokio::net::TcpStream::connect(self.address).await?;
            stream.write_all(&request).await?;
            let mut stats = BTreeMap::new();
            let mut first = true;
            loop {
                let mut header = [0u8; 24];
                stream.read_exact(&mut header).await?;
                let body =
                    u32::from_be_bytes([header[8], header[9], header[10], header[11]]) as usize;
                if body > 1 << 20 {
                    return Err(std::io::Error::other("oversized memcached response"));
                }
                let mut payload = vec![0u8; body];
                stream.read_exact(&mut payload).await?;
                let status = u16::from_be_bytes([header[6], header[7]]);
                if std::mem::take(&mut first) {
                    if status != 0 {
                        return Err(std::io::Error::other("the SASL login was refused"));
                    }
                    continue;
                }
                let key_len = usize::from(u16::from_be_bytes([header[2], header[3]]));
                let extras = usize::from(header[4]);
                if key_len == 0 {
                    return Ok(stats);
                }
                let key = String::from_utf8_lossy(&payload[extras..extras + key_len]).into_owned();
                let value = String::from_utf8_lossy(&payload[extras + key_len..]).into_owned();
                stats.insert(key, value);
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(stats)) => Ok(stats),
            Ok(Err(e)) => Err(self.error(format!("stat: {e}"))),
            Err(_) => Err(self.error(format!("stat: no answer within {:?}", self.timeout))),
        }
    }
}

/// Address, password and TLS name of a pooled connection.
type PoolKey = (SocketAddr, Option<String>, Option<String>);

/// The process-wide connection pool.
fn pool() -> std::sync::MutexGuard<'static, HashMap<PoolKey, MultiplexedConnection>> {
    static POOL: std::sync::OnceLock<std::sync::Mutex<HashMap<PoolKey, MultiplexedConnection>>> =
        std::sync::OnceLock::new();
    POOL.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// The error says the connection is gone (closed by the node, reset, refused), not that a command failed.
fn connection_lost(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || e.is_unrecoverable_error()
}

/// Escapes a password for the userinfo part of a `redis://` URL.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `name:value` lines of an INFO reply; section headers and blank lines are skipped.
pub fn parse_info(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn node_info(replication: &BTreeMap<String, String>, usage: &BTreeMap<String, String>) -> NodeInfo {
    let number =
        |m: &BTreeMap<String, String>, k: &str| m.get(k).and_then(|v| v.parse::<u64>().ok());
    let role = replication
        .get("ferrocache_role")
        .or_else(|| replication.get("role"))
        .cloned()
        .unwrap_or_default();
    let link_up = replication.get("master_link_status").map(|s| s == "up");
    let offset = if link_up.is_some() {
        number(replication, "slave_repl_offset")
    } else {
        None
    }
    .or_else(|| number(replication, "master_repl_offset"))
    .unwrap_or(0);
    let following = match (
        replication.get("master_host"),
        replication.get("master_port"),
    ) {
        (Some(host), Some(port)) => Some(format!("{host}:{port}")),
        _ => None,
    };
    NodeInfo {
        role,
        link_up,
        offset,
        ecpu_total: number(usage, "ecpu_total"),
        dataset_bytes: number(usage, "dataset_bytes"),
        following,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replica_reports_its_own_offset_and_link() {
        let replication = parse_info(
            "# Replication\r\nrole:slave\r\nferrocache_role:replica\r\nmaster_link_status:up\r\n\
             master_host:10.0.0.7\r\nmaster_port:6379\r\nslave_repl_offset:120\r\nmaster_repl_offset:100\r\n",
        );
        let usage = parse_info("# Usage\r\necpu_total:42\r\ndataset_bytes:1000\r\n");
        assert_eq!(
            node_info(&replication, &usage),
            NodeInfo {
                role: "replica".into(),
                link_up: Some(true),
                offset: 120,
                ecpu_total: Some(42),
                dataset_bytes: Some(1000),
                following: Some("10.0.0.7:6379".into()),
            }
        );
    }

    #[test]
    fn a_primary_reports_the_master_offset_and_no_link() {
        let replication =
            parse_info("role:master\r\nferrocache_role:primary\r\nmaster_repl_offset:77\r\n");
        let info = node_info(&replication, &BTreeMap::new());
        assert_eq!(
            (info.role.as_str(), info.link_up, info.offset),
            ("primary", None, 77)
        );
    }
}
