//! A cluster endpoint on 127.0.0.1: a TCP listener that forwards each client connection to one of its current
//! targets (round robin), the local stand-in for a Kubernetes Service.
//!
//! Moving an endpoint (after a failover) changes the targets of new connections; connections already forwarded
//! stay where they are, as with a Service. The endpoint counts the connections it forwards to each target, so a
//! node taken out of it can be stopped once they are done.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// A forwarding listener; stops listening when dropped.
#[derive(Debug)]
pub struct Endpoint {
    address: SocketAddr,
    targets: Arc<RwLock<Vec<SocketAddr>>>,
    open: Connections,
    task: JoinHandle<()>,
}

/// Connections being forwarded, by target.
type Connections = Arc<std::sync::Mutex<HashMap<SocketAddr, usize>>>;

/// One forwarded connection, counted while it lives.
struct Counted {
    open: Connections,
    target: SocketAddr,
}

impl Counted {
    fn new(open: &Connections, target: SocketAddr) -> Counted {
        *open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target)
            .or_default() += 1;
        Counted {
            open: open.clone(),
            target,
        }
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.target) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.target);
            }
        }
    }
}

impl Endpoint {
    /// Listens on `127.0.0.1:port` (0 picks a free port). Must be called inside a tokio runtime.
    pub fn bind(name: &str, port: u16) -> Result<Endpoint> {
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", port))
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| Error::Io {
                what: format!("{name} endpoint on 127.0.0.1:{port} (is the port in use? choose another with --base-port)"),
                source,
            })?;
        let address = std_listener.local_addr().map_err(|source| Error::Io {
            what: format!("{name} endpoint address"),
            source,
        })?;
        let listener = TcpListener::from_std(std_listener).map_err(|source| Error::Io {
            what: format!("{name} endpoint on {address}"),
            source,
        })?;
        let targets = Arc::new(RwLock::new(Vec::new()));
        let open = Connections::default();
        let task = tokio::spawn(accept_loop(listener, targets.clone(), open.clone()));
        Ok(Endpoint {
            address,
            targets,
            open,
            task,
        })
    }

    /// Where clients connect.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Replaces the nodes new connections go to.
    pub fn set_targets(&self, targets: Vec<SocketAddr>) {
        if let Ok(mut t) = self.targets.write() {
            *t = targets;
        }
    }

    /// Connections this endpoint is forwarding to `target` now.
    pub fn open_connections(&self, target: SocketAddr) -> usize {
        self.open
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&target)
            .copied()
            .unwrap_or(0)
    }

    /// The nodes new connections go to.
    pub fn targets(&self) -> Vec<SocketAddr> {
        self.targets.read().map(|t| t.clone()).unwrap_or_default()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    targets: Arc<RwLock<Vec<SocketAddr>>>,
    open: Connections,
) {
    let next = AtomicUsize::new(0);
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors or a similar passing condition: do not spin.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            continue;
        };
        let target = targets.read().ok().and_then(|t| {
            (!t.is_empty()).then(|| t[next.fetch_add(1, Ordering::Relaxed) % t.len()])
        });
        // No target (every node down): closing the connection is the honest answer.
        let Some(target) = target else { continue };
        // Counted from the moment it is routed, so a drain cannot miss it.
        tokio::spawn(forward(client, target, Counted::new(&open, target)));
    }
}

async fn forward(mut client: TcpStream, target: SocketAddr, _counted: Counted) {
    let _ = client.set_nodelay(true);
    if let Ok(mut upstream) = TcpStream::connect(target).await {
        let _ = upstream.set_nodelay(true);
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}
