//! Listening sockets of the Redis port, and moving them at run time (`CONFIG SET port` / `bind`).

use std::net::{SocketAddr, TcpListener as StdListener};

use anyhow::Context;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::config::Config;

/// Binds the Redis port on every configured address (`port 0` picks one free port shared by all addresses).
pub fn bind(config: &Config) -> anyhow::Result<Vec<StdListener>> {
    bind_port(config, config.port)
}

/// Binds `port` on every configured address (`0` picks one free port shared by all addresses).
pub fn bind_port(config: &Config, port: u16) -> anyhow::Result<Vec<StdListener>> {
    bind_hosts(&config.bind, port)
}

/// Binds `port` on every address of `hosts` (`*` is every IPv4 address, a leading `-` is ignored).
pub fn bind_hosts(hosts: &[String], mut port: u16) -> anyhow::Result<Vec<StdListener>> {
    let mut listeners = Vec::new();
    for host in hosts {
        let host = host.trim_start_matches('-');
        let ip: std::net::IpAddr = if host == "*" {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        } else {
            host.parse()
                .with_context(|| format!("invalid bind address '{host}'"))?
        };
        let addr = SocketAddr::new(ip, port);
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            socket.set_only_v6(true)?;
        }
        socket
            .bind(&addr.into())
            .with_context(|| format!("cannot bind {addr}"))?;
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        let listener: StdListener = socket.into();
        port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    Ok(listeners)
}

/// A request to move the plain Redis listeners to `bind` and `port`; the answer is the port now served.
pub struct Move {
    /// The addresses to listen on.
    pub bind: Vec<String>,
    /// The port (0 with a TLS port: serve TLS only).
    pub port: u16,
    /// Where the accept loop answers: the port bound, or why nothing changed.
    pub reply: std::sync::mpsc::Sender<Result<u16, String>>,
}

/// Connects `CONFIG SET port` / `bind` to the accept loop, which owns the listeners.
#[derive(Default)]
pub struct Rebinder {
    tx: Mutex<Option<mpsc::UnboundedSender<Move>>>,
}

impl Rebinder {
    /// The accept loop's end of the requests.
    pub fn connect(&self) -> mpsc::UnboundedReceiver<Move> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.tx.lock() = Some(tx);
        rx
    }

    /// Asks the accept loop to listen on `cfg.bind` and `cfg.port` instead; returns the port bound. When the
    /// new addresses cannot all be bound, the old ones are kept and the error says why.
    pub fn rebind(&self, cfg: &Config) -> Result<u16, String> {
        if cfg.port == 0 && cfg.tls_port == 0 {
            return Err("port 0 leaves no listener".into());
        }
        let (reply, answer) = std::sync::mpsc::channel();
        let request = Move {
            bind: cfg.bind.clone(),
            port: cfg.port,
            reply,
        };
        let sent = self.tx.lock().as_ref().map(|tx| tx.send(request).is_ok());
        if sent != Some(true) {
            return Err("the node is not serving".into());
        }
        answer
            .recv_timeout(std::time::Duration::from_secs(5))
            .map_err(|_| "the listeners did not answer".to_string())?
    }
}

/// Binds the plain Redis listeners for `port` on `hosts` (none for `port 0`).
pub fn bind_redis(hosts: &[String], port: u16) -> Result<Vec<StdListener>, String> {
    if port == 0 {
        return Ok(Vec::new());
    }
    bind_hosts(hosts, port).map_err(|e| format!("{e:#}"))
}
