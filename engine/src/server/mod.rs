//! Listeners, worker threads and background tasks.
//!
//! One acceptor hands each new connection to a worker thread in turn; each worker runs a single-threaded tokio
//! runtime, so a connection never migrates between cores and its task, buffers and counters stay in one CPU's
//! cache. Workers share only the keyspace, whose shards are independently locked. A background thread runs
//! active expiry `hz` times a second and closes idle clients. SIGTERM, SIGINT or SHUTDOWN stop accepting, close
//! every client and exit.

pub mod connection;
pub mod memcache;
pub mod metrics;
pub mod migration;
pub mod primary_link;
mod read_buffer;
pub mod replica_feed;
pub(crate) mod uring;

use std::net::TcpListener as StdListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::clock::now_ms;
use crate::config::Config;
use crate::node::Node;

pub use crate::node::listen::{bind, bind_port};

/// Counts a connection's replies once written and forgets them, giving back the memory a large reply took.
fn forget_written(out: &mut Vec<u8>, session: &crate::command::Session) {
    session.counters.net_out.add(out.len() as u64);
    out.clear();
    if out.capacity() > read_buffer::SHRINK_ABOVE {
        out.shrink_to(read_buffer::READ_CHUNK);
    }
}

/// Raises the open-files soft limit towards what `maxclients` needs, as far as the hard limit allows.
fn raise_fd_limit(maxclients: usize) {
    let want = (maxclients + 64) as libc::rlim_t;
    // SAFETY: getrlimit/setrlimit with a valid struct pointer.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < want {
            lim.rlim_cur = want.min(lim.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur < want {
                tracing::warn!(
                    limit = lim.rlim_cur,
                    maxclients,
                    "open files limit is lower than maxclients needs"
                );
            }
        }
    }
}

/// Opts this process out of transparent huge pages. The allocator asks for huge pages on its arenas, and a
/// worker that first touches one zeroes 2 MiB (or waits for the kernel to compact memory) in the middle of a
/// command: a growing dataset then shows multi-millisecond stalls at p99.
fn disable_transparent_huge_pages() {
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if rc != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "could not turn transparent huge pages off"
        );
    }
}

/// Runs a node until it is told to stop.
pub fn run(config: Config) -> anyhow::Result<()> {
    raise_fd_limit(config.maxclients);
    if config.disable_thp {
        disable_transparent_huge_pages();
    }
    let mut listeners = Vec::new();
    // As in Redis, `port 0` with a TLS port serves TLS only; without one, 0 picks a free port.
    let tls_only = config.port == 0 && config.tls_port != 0;
    if config.protocol.serves_redis() && !tls_only {
        listeners.extend(bind(&config)?.into_iter().map(|l| (l, Wire::Redis)));
    }
    if config.tls_port != 0 && config.protocol.serves_redis() {
        let bound = bind_port(&config, config.tls_port)?;
        listeners.extend(bound.into_iter().map(|l| (l, Wire::RedisTls)));
    }
    let mut memcached_port = None;
    if config.protocol.serves_memcached() {
        let bound = bind_port(&config, config.memcached_port)?;
        memcached_port = bound
            .first()
            .map(|l| l.local_addr())
            .transpose()?
            .map(|a| a.port());
        listeners.extend(bound.into_iter().map(|l| (l, Wire::Memcached)));
        if config.memcached_tls_port != 0 {
            let bound = bind_port(&config, config.memcached_tls_port)?;
            listeners.extend(bound.into_iter().map(|l| (l, Wire::MemcachedTls)));
        }
    }
    let port = listeners
        .iter()
        .find(|(_, wire)| *wire == Wire::Redis)
        .map(|(l, _)| l.local_addr().map(|a| a.port()))
        .transpose()?
        // TLS only: the TLS port is the one replicas announce and clients use.
        .unwrap_or(if tls_only {
            config.tls_port
        } else {
            config.port
        });
    let threads = config.threads;
    let node = Arc::new(Node::new(config).map_err(anyhow::Error::msg)?);
    load_snapshot(&node)?;
    node.set_port(port);
    if let Some(p) = memcached_port {
        node.memcache().port.store(p as u64, Ordering::Relaxed);
        tracing::info!(port = p, "memcached protocol enabled");
    }
    let workers: Vec<_> = (0..threads)
        .map(|i| spawn_worker(node.clone(), i))
        .collect::<anyhow::Result<_>>()?;
    let uring = if node.config().io_uring {
        spawn_uring_workers(&node, &workers)?
    } else {
        Vec::new()
    };
    spawn_cron(node.clone())?;
    tracing::info!(port, threads, shards = node.ks().shards(), run_id = %node.run_id(), "Ready to accept connections tcp");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(accept_until_shutdown(
        node.clone(),
        listeners,
        workers,
        uring,
    ))?;
    node.clients().kill_where(|_| true);
    std::thread::sleep(Duration::from_millis(50));
    tracing::info!("Ferrocache is now ready to exit, bye bye...");
    Ok(())
}

/// The protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// Redis protocol, plain TCP.
    Redis,
    /// Redis protocol over TLS.
    RedisTls,
    /// Memcached protocol, plain TCP.
    Memcached,
    /// Memcached protocol over TLS.
    MemcachedTls,
}

/// Work for a tokio worker.
pub(crate) enum Assign {
    /// A connection just accepted.
    New(std::net::TcpStream, Wire),
    /// A connection an io_uring worker hands over.
    Resume(Box<connection::Resumed>),
}

/// A tokio worker: where to send it work, and its runtime (commands on io_uring workers that start tasks,
/// such as REPLICAOF, start them there).
#[derive(Clone)]
pub(crate) struct WorkerTx {
    tx: mpsc::UnboundedSender<Assign>,
    runtime: tokio::runtime::Handle,
}

impl WorkerTx {
    /// Hands the worker some work; gives it back if the worker is gone.
    pub(crate) fn send(&self, assign: Assign) -> Result<(), mpsc::error::SendError<Assign>> {
        self.tx.send(assign)
    }

    /// The worker's runtime.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        &self.runtime
    }
}

fn spawn_worker(node: Arc<Node>, index: usize) -> anyhow::Result<WorkerTx> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Assign>();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let runtime = rt.handle().clone();
    std::thread::Builder::new()
        .name(format!("worker-{index}"))
        .spawn(move || {
            let counters = node.metering().register_worker();
            rt.block_on(async move {
                while let Some(assign) = rx.recv().await {
                    let (std_stream, wire) = match assign {
                        Assign::New(stream, wire) => (stream, wire),
                        Assign::Resume(resumed) => {
                            tokio::spawn(connection::resume(node.clone(), *resumed));
                            continue;
                        }
                    };
                    match tokio::net::TcpStream::from_std(std_stream) {
                        Ok(stream) if wire == Wire::Memcached => {
                            tokio::spawn(memcache::serve(node.clone(), stream, counters.clone()));
                        }
                        Ok(stream) if wire == Wire::RedisTls || wire == Wire::MemcachedTls => {
                            let memcached = wire == Wire::MemcachedTls;
                            tokio::spawn(serve_tls(
                                node.clone(),
                                stream,
                                counters.clone(),
                                memcached,
                            ));
                        }
                        Ok(stream) => {
                            tokio::spawn(connection::serve(node.clone(), stream, counters.clone()));
                        }
                        Err(e) => tracing::warn!(error = %e, "cannot register connection"),
                    }
                }
            });
        })?;
    Ok(WorkerTx { tx, runtime })
}

/// Starts one io_uring worker for plain-TCP connections beside each tokio worker (which takes the Redis
/// connections that start waiting); none when the kernel refuses io_uring (every connection then goes to the
/// epoll workers).
fn spawn_uring_workers(
    node: &Arc<Node>,
    workers: &[WorkerTx],
) -> anyhow::Result<Vec<uring::Handoff>> {
    let mut handoffs = Vec::with_capacity(workers.len());
    for (i, tokio) in workers.iter().enumerate() {
        match uring::spawn(node.clone(), i, tokio.clone())? {
            Some(h) => handoffs.push(h),
            None => break,
        }
    }
    if !handoffs.is_empty() {
        node.set_io_uring(true);
        tracing::info!(
            workers = handoffs.len(),
            "plain-TCP connections are served on io_uring"
        );
    }
    Ok(handoffs)
}

/// Moves the plain Redis listeners (CONFIG SET port / bind). The new port is bound before the old listeners
/// close; when only the addresses change (same port), the old listeners close first, as they hold the port.
/// On failure the old addresses are served again and nothing changes.
async fn move_listeners(
    node: &Arc<Node>,
    m: &crate::node::listen::Move,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    workers: &Arc<Vec<WorkerTx>>,
    uring: &Arc<Vec<uring::Handoff>>,
) -> Result<u16, String> {
    use crate::node::listen::bind_redis;
    let (old_bind, old_port) = (node.config().bind.clone(), node.port());
    let mut bound = bind_redis(&m.bind, m.port);
    let mut closed = false;
    if bound.is_err() && m.port == old_port {
        close_all(tasks).await;
        closed = true;
        bound = bind_redis(&m.bind, m.port);
    }
    let listeners = match bound {
        Ok(l) => l,
        Err(e) => {
            if closed {
                match bind_redis(&old_bind, old_port) {
                    Ok(again) => spawn_all(node, again, tasks, workers, uring),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen on the old addresses again")
                    }
                }
            }
            return Err(e);
        }
    };
    let port = match listeners.first() {
        Some(l) => l.local_addr().map_err(|e| e.to_string())?.port(),
        None => node.config().tls_port,
    };
    close_all(tasks).await;
    spawn_all(node, listeners, tasks, workers, uring);
    tracing::info!(port, "Redis listeners moved");
    Ok(port)
}

async fn close_all(tasks: &mut Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks.drain(..) {
        t.abort();
        let _ = t.await;
    }
}

fn spawn_all(
    node: &Arc<Node>,
    listeners: Vec<StdListener>,
    tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    workers: &Arc<Vec<WorkerTx>>,
    uring: &Arc<Vec<uring::Handoff>>,
) {
    for l in listeners {
        match spawn_acceptor(node, l, Wire::Redis, workers, uring) {
            Ok(t) => tasks.push(t),
            Err(e) => tracing::warn!(error = %e, "cannot serve a Redis listener"),
        }
    }
}

/// Accepts connections on one listener and hands each to a worker (or an io_uring worker).
fn spawn_acceptor(
    node: &Arc<Node>,
    l: StdListener,
    wire: Wire,
    workers: &Arc<Vec<WorkerTx>>,
    uring: &Arc<Vec<uring::Handoff>>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let listener = TcpListener::from_std(l)?;
    let (node, workers, uring) = (node.clone(), workers.clone(), uring.clone());
    Ok(tokio::spawn(async move {
        let mut next = 0usize;
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    set_keepalive(&stream, node.config().redis_int("tcp-keepalive"));
                    let Ok(std_stream) = stream.into_std() else {
                        continue;
                    };
                    let plain = match wire {
                        Wire::Redis => Some(uring::Protocol::Redis),
                        Wire::Memcached => Some(uring::Protocol::Memcached),
                        Wire::RedisTls | Wire::MemcachedTls => None,
                    };
                    match plain {
                        Some(protocol) if !uring.is_empty() => {
                            uring[next % uring.len()].send(std_stream, protocol);
                        }
                        _ => {
                            let _ =
                                workers[next % workers.len()].send(Assign::New(std_stream, wire));
                        }
                    }
                    next = next.wrapping_add(1);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }))
}

/// TCP keepalive probes after `secs` idle seconds (`tcp-keepalive`, 0 = off), as Redis sets them.
fn set_keepalive(stream: &tokio::net::TcpStream, secs: i64) {
    if secs > 0 {
        let idle = Duration::from_secs(secs as u64);
        let ka = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(Duration::from_secs((secs as u64 / 3).max(1)))
            .with_retries(3);
        let _ = socket2::SockRef::from(stream).set_tcp_keepalive(&ka);
    }
}

/// Completes a TLS handshake (10 s at most), then serves the client over it (Redis or Memcached protocol).
async fn serve_tls(
    node: Arc<Node>,
    stream: tokio::net::TcpStream,
    counters: Arc<crate::metering::Counters>,
    memcached: bool,
) {
    let (Some(tls), Some(peer)) = (node.tls().clone(), connection::Peer::of(&stream)) else {
        return;
    };
    match tokio::time::timeout(Duration::from_secs(10), tls.acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) if memcached => {
            memcache::serve_stream(node, tls_stream, peer, counters).await
        }
        Ok(Ok(tls_stream)) => connection::serve_stream(node, tls_stream, peer, counters).await,
        Ok(Err(e)) => tracing::debug!(addr = %peer.addr, error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!(addr = %peer.addr, "TLS handshake timed out"),
    }
}

async fn accept_until_shutdown(
    node: Arc<Node>,
    listeners: Vec<(StdListener, Wire)>,
    workers: Vec<WorkerTx>,
    uring: Vec<uring::Handoff>,
) -> anyhow::Result<()> {
    let workers = Arc::new(workers);
    let uring = Arc::new(uring);
    let mut tasks = Vec::new();
    // The plain Redis listeners can move at run time (CONFIG SET port / bind): their tasks are kept apart.
    let mut redis_tasks = Vec::new();
    for (l, wire) in listeners {
        let task = spawn_acceptor(&node, l, wire, &workers, &uring)?;
        if wire == Wire::Redis {
            redis_tasks.push(task);
        } else {
            tasks.push(task);
        }
    }
    let mut moves = node.rebinder().connect();
    {
        let (node, workers, uring) = (node.clone(), workers.clone(), uring.clone());
        tasks.push(tokio::spawn(async move {
            while let Some(m) = moves.recv().await {
                let result = move_listeners(&node, &m, &mut redis_tasks, &workers, &uring).await;
                let _ = m.reply.send(result);
            }
        }));
    }
    let startup = node.config_arc();
    if startup.metrics_port != 0 {
        let host = startup
            .bind
            .first()
            .map_or("127.0.0.1", |b| b.trim_start_matches('-'));
        let addr = (
            if host == "*" { "0.0.0.0" } else { host },
            startup.metrics_port,
        );
        match TcpListener::bind(addr).await {
            Ok(l) => {
                tracing::info!(
                    port = startup.metrics_port,
                    "serving Prometheus metrics on /metrics"
                );
                tasks.push(tokio::spawn(metrics::serve(node.clone(), l)));
            }
            Err(e) => {
                tracing::error!(port = startup.metrics_port, error = %e, "cannot serve metrics")
            }
        }
    }
    tasks.push(tokio::spawn(primary_link::supervise(node.clone())));
    tasks.push(tokio::spawn(migration::supervise(node.clone())));
    if let Some((host, port)) = startup.replicaof.clone() {
        node.repl().follow(host, port);
    }
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut shutdown = node.shutdown_signal();
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("Received SIGTERM scheduling shutdown..."),
        _ = tokio::signal::ctrl_c() => tracing::info!("Received SIGINT scheduling shutdown..."),
        _ = shutdown.wait_for(|stop| *stop) => tracing::info!("User requested shutdown..."),
    }
    for t in tasks {
        t.abort();
    }
    Ok(())
}

fn spawn_cron(node: Arc<Node>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("cron".into())
        .spawn(move || {
            let mut last_second = Instant::now();
            let mut seconds = 0u64;
            loop {
                let cfg = node.config_arc();
                let tick = Duration::from_millis(1000 / cfg.hz.max(1) as u64);
                std::thread::sleep(tick);
                node.ks().active_expire_cycle(now_ms(), tick / 4);
                node.repl().wake_feeders();
                node.metering().tick(now_ms());
                ship_usage(&node);
                node.pubsub().tracking.enforce_limit(now_ms());
                node.pubsub().tracking.flush();
                node.blocking().end_pause_if_over(now_ms());
                if last_second.elapsed() >= Duration::from_secs(1) {
                    last_second = Instant::now();
                    node.metering().ledger().flush();
                    if let Some(used) = crate::memory::allocated() {
                        node.memory_peak(used as u64);
                    }
                    close_idle_clients(&node, &cfg);
                    seconds += 1;
                    replication_heartbeat(&node, &cfg, seconds);
                }
            }
        })?;
    Ok(())
}

fn close_idle_clients(node: &Node, cfg: &Config) {
    if cfg.timeout == 0 {
        return;
    }
    let now = now_ms();
    let limit = cfg.timeout * 1000;
    let n = node
        .clients()
        .kill_where(|c| now.saturating_sub(c.last_interaction_ms.load(Ordering::Relaxed)) > limit);
    if n > 0 {
        tracing::debug!(closed = n, "closed idle clients");
    }
}

/// Every cron tick (ten times a second by default): a primary with replicas ships its billed count when it
/// changed, so that a replica that survives the primary knows every unit the primary charged until then.
pub fn ship_usage(node: &Node) {
    let repl = node.repl();
    if repl.role() != crate::replication::Role::Primary
        || repl
            .writes_paused
            .load(std::sync::atomic::Ordering::Relaxed)
        || repl.replicas.lock().is_empty()
    {
        return;
    }
    if let Some(run) = node.metering().unshipped() {
        let args = crate::replication::usage_command(&run);
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        repl.propagate_global(&refs);
    }
}

/// Once a second: ask replicas for their acknowledgements, follow the backlog size, and remember that this node
/// has held data; every `repl-ping-replica-period` seconds, PING them so their links stay alive.
fn replication_heartbeat(node: &Node, cfg: &Config, seconds: u64) {
    let repl = &node.repl();
    if repl.ids.lock().fresh && node.ks().total_keys() > 0 {
        repl.ids.lock().fresh = false;
    }
    repl.stream.lock().set_size(cfg.repl_backlog_size as usize);
    let handing_over = repl
        .writes_paused
        .load(std::sync::atomic::Ordering::Relaxed);
    if repl.role() == crate::replication::Role::Primary
        && !handing_over
        && !repl.replicas.lock().is_empty()
    {
        let period = cfg.redis_int("repl-ping-replica-period").max(1) as u64;
        if seconds % period == 0 {
            repl.propagate_global(&[b"PING"]);
        }
        repl.propagate_global(&[b"REPLCONF", b"GETACK", b"*"]);
    }
}

/// Loads the snapshot file if there is one; a damaged file stops the start (never a partial load).
fn load_snapshot(node: &Node) -> anyhow::Result<()> {
    let cfg = node.config_arc();
    let path = crate::snapshot::file::path_of(&cfg);
    if !path.exists() {
        return Ok(());
    }
    let key = crate::snapshot::file::key_of(&cfg)?;
    let started = Instant::now();
    let records = crate::snapshot::file::read(&path, key.as_ref())
        .with_context(|| format!("refusing to start from snapshot {}", path.display()))?;
    let keys = crate::snapshot::file::load(node.ks(), records, &node.clock(&cfg));
    if keys > 0 {
        node.repl().ids.lock().fresh = false;
    }
    tracing::info!(keys, file = %path.display(), elapsed_ms = started.elapsed().as_millis() as u64, "DB loaded from disk");
    Ok(())
}
