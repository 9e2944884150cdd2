//! Memcached server information: `stats` (general, `settings`, `items`, `slabs`, `reset`) and ElastiCache-style
//! auto discovery, `config get cluster`.
//!
//! `stats` answers with memcached's field names where they mean the same here; there are no slab classes, so
//! `stats items` and `stats slabs` describe the whole cache as class 1. Ours on top: `ecpu_total` (request
//! units of every protocol since start) and `ecpu_memcached` (memcached requests, since `stats reset`).
//!
//! Auto discovery: the operator writes the cluster configuration to the file named by `cluster-config` — a
//! version number on the first line, then the nodes as `hostname|ip|port` separated by spaces or newlines —
//! and bumps the version when membership changes. The file is read on every request (the command is rare), so
//! a rewrite takes effect at once. The reply is ElastiCache's:
//!
//! ```text
//! CONFIG cluster 0 <length of the next two lines>\r\n
//! <version>\n
//! <host|ip|port> <host|ip|port> …\n
//! \r\n
//! END\r\n
//! ```

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::memcache_item::{Ctx, DB, MEMCACHED_COMPAT_VERSION};
use crate::clock::now_ms;
use crate::metering::memcache::{Stat, STATS, STAT_NAMES};
use crate::protocol::memcache::Tokens;

/// stats [settings|items|slabs|conns|reset]
pub fn stats(ctx: &mut Ctx, mut args: Tokens<'_>) {
    let mut text = String::new();
    match args.next() {
        None => general(ctx, &mut text),
        Some(b"settings") => settings(ctx, &mut text),
        Some(b"items") => items(ctx, &mut text),
        Some(b"slabs") => slabs(ctx, &mut text),
        Some(b"conns") => conns(ctx, &mut text),
        Some(b"reset") => {
            ctx.node
                .memcache()
                .reset_stats(ctx.node.metering().memcache_totals());
            ctx.put(b"RESET\r\n");
            return;
        }
        Some(_) => {
            ctx.put(b"ERROR\r\n");
            return;
        }
    }
    text.push_str("END\r\n");
    ctx.put(text.as_bytes());
}

/// Memcached counters since the last `stats reset`.
fn counters(ctx: &Ctx) -> [u64; STATS] {
    let mut now = ctx.node.metering().memcache_totals();
    let base = ctx.node.memcache().stats_base();
    for (n, b) in now.iter_mut().zip(base.iter()) {
        *n = n.saturating_sub(*b);
    }
    now
}

fn stat(t: &mut String, name: &str, value: impl std::fmt::Display) {
    let _ = write!(t, "STAT {name} {value}\r\n");
}

fn rusage() -> (f64, f64) {
    // SAFETY: getrusage fills a zeroed struct we own.
    let usage = unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut u);
        u
    };
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

fn general(ctx: &mut Ctx, t: &mut String) {
    let node = ctx.node;
    let c = counters(ctx);
    let totals = node.metering().lifetime();
    let (user, system) = rusage();
    let (expired, evicted) = node.ks().expired_evicted();
    stat(t, "pid", std::process::id());
    stat(t, "uptime", node.uptime().as_secs());
    stat(t, "time", now_ms() / 1000);
    stat(t, "version", MEMCACHED_COMPAT_VERSION);
    stat(t, "ferrocache_version", env!("CARGO_PKG_VERSION"));
    stat(t, "pointer_size", 64);
    stat(t, "rusage_user", format_args!("{user:.6}"));
    stat(t, "rusage_system", format_args!("{system:.6}"));
    stat(t, "max_connections", ctx.cfg.maxclients);
    stat(t, "curr_connections", node.clients().count());
    stat(
        t,
        "total_connections",
        node.clients().received.load(Ordering::Relaxed),
    );
    stat(
        t,
        "rejected_connections",
        node.clients().rejected.load(Ordering::Relaxed),
    );
    for (name, value) in STAT_NAMES.iter().zip(c.iter()) {
        if *name != STAT_NAMES[Stat::TotalItems as usize] {
            stat(t, name, value);
        }
    }
    stat(t, "bytes_read", totals.net_in);
    stat(t, "bytes_written", totals.net_out);
    stat(t, "limit_maxbytes", ctx.cfg.maxmemory);
    stat(t, "accepting_conns", 1);
    stat(t, "threads", ctx.cfg.threads);
    stat(t, "bytes", node.ks().used_memory());
    stat(t, "curr_items", node.ks().dbsize(DB));
    stat(t, "total_items", c[Stat::TotalItems as usize]);
    stat(t, "reclaimed", expired);
    stat(t, "evictions", evicted);
    stat(t, "ecpu_total", totals.units);
    stat(
        t,
        "ecpu_unbilled",
        node.memcache().unbilled_units.load(Ordering::Relaxed),
    );
    stat(t, "run_id", node.run_id());
    t.push_str(&crate::metering::usage_lines(
        node.metering(),
        ctx.cfg,
        "STAT ",
        ' ',
    ));
}

fn settings(ctx: &mut Ctx, t: &mut String) {
    let cfg = ctx.cfg;
    stat(t, "maxbytes", cfg.maxmemory);
    stat(t, "maxconns", cfg.maxclients);
    stat(
        t,
        "tcpport",
        ctx.node.memcache().port.load(Ordering::Relaxed),
    );
    stat(t, "udpport", 0);
    stat(t, "inter", cfg.bind.join(","));
    stat(
        t,
        "evictions",
        if cfg.maxmemory_policy == crate::keyspace::EvictionPolicy::NoEviction {
            "off"
        } else {
            "on"
        },
    );
    stat(t, "maxmemory_policy", cfg.maxmemory_policy.name());
    stat(t, "num_threads", cfg.threads);
    stat(t, "cas_enabled", "yes");
    stat(t, "binding_protocol", "ascii");
    stat(t, "item_size_max", cfg.max_item_size);
    stat(t, "idle_timeout", cfg.timeout);
    stat(t, "protocol", cfg.protocol.name());
    stat(t, "metering", if cfg.metering { "yes" } else { "no" });
}

fn items(ctx: &mut Ctx, t: &mut String) {
    let (expired, evicted) = ctx.node.ks().expired_evicted();
    stat(t, "items:1:number", ctx.node.ks().dbsize(DB));
    stat(t, "items:1:evicted", evicted);
    stat(t, "items:1:reclaimed", expired);
    stat(t, "items:1:mem_requested", ctx.node.ks().used_memory());
}

fn slabs(ctx: &mut Ctx, t: &mut String) {
    let bytes = ctx.node.ks().used_memory();
    stat(t, "1:used_chunks", ctx.node.ks().dbsize(DB));
    stat(t, "1:mem_requested", bytes);
    stat(t, "active_slabs", 1);
    stat(t, "total_malloced", bytes);
}

/// `stats conns`: every open connection as memcached lists it, by client id: its address, the address it
/// reached, and seconds since its last request. (The state is always `conn_parse_cmd`: a request is handled
/// whole once it has arrived.)
fn conns(ctx: &mut Ctx, t: &mut String) {
    let now = ctx.clock.now_ms;
    let mut clients = ctx.node.clients().all();
    clients.sort_by_key(|c| c.id);
    for c in clients {
        let id = c.id;
        stat(t, &format!("{id}:addr"), format!("tcp:{}", c.addr));
        stat(t, &format!("{id}:listen_addr"), format!("tcp:{}", c.laddr));
        stat(t, &format!("{id}:state"), "conn_parse_cmd");
        let idle = now.saturating_sub(
            c.last_interaction_ms
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        stat(t, &format!("{id}:secs_since_last_cmd"), idle / 1000);
    }
}

/// Builds the `config get cluster` body from the configuration file's text: `<version>\n<nodes>\n`.
pub fn cluster_body(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let version: u64 = words.next()?.parse().ok()?;
    let nodes: Vec<&str> = words.collect();
    if nodes.iter().any(|n| n.split('|').count() != 3) {
        return None;
    }
    Some(format!("{version}\n{}\n", nodes.join(" ")))
}

/// config get cluster
pub fn config_get_cluster(ctx: &mut Ctx) {
    let Some(path) = &ctx.cfg.cluster_config else {
        ctx.put(b"ERROR\r\n");
        return;
    };
    let body = match std::fs::read_to_string(path) {
        Ok(text) => cluster_body(&text),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the cluster configuration");
            None
        }
    };
    let Some(body) = body else {
        ctx.put(b"SERVER_ERROR cluster configuration unavailable\r\n");
        return;
    };
    ctx.put(format!("CONFIG cluster 0 {}\r\n", body.len()).as_bytes());
    ctx.put(body.as_bytes());
    ctx.put(b"\r\nEND\r\n");
}

#[cfg(test)]
mod tests {
    use super::cluster_body;

    #[test]
    fn cluster_body_is_version_then_nodes() {
        assert_eq!(
            cluster_body("12\nnode-0.cache|10.0.0.1|11211\nnode-1.cache|10.0.0.2|11211\n")
                .as_deref(),
            Some("12\nnode-0.cache|10.0.0.1|11211 node-1.cache|10.0.0.2|11211\n")
        );
        assert_eq!(cluster_body(""), None);
        assert_eq!(cluster_body("x\na|b|1"), None);
        assert_eq!(cluster_body("3\nnot-a-node"), None);
    }
}
