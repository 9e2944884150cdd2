//! Server commands: INFO, DBSIZE, FLUSHDB, FLUSHALL, SWAPDB, CONFIG, COMMAND, TIME, LASTSAVE, SHUTDOWN.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use super::args::{self, is, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::keys::db_index;
use crate::catalogue::{self, Begin, Find, KeySpec, COMMANDS};
use crate::clock::now_ms;
use crate::config::{self, Config};
use crate::pattern::glob_match;
use crate::snapshot;

/// DBSIZE
pub fn dbsize(c: &mut Call) -> CmdResult {
    let n: usize = c.held.shards_of(c.session.db).map(|s| s.len()).sum();
    c.out.int(n as i64);
    Ok(())
}

/// Reads the optional ASYNC|SYNC argument of FLUSHDB/FLUSHALL; true means free lazily. Later arguments are
/// ignored.
fn flush_mode(a: &mut Args) -> Result<bool, CmdError> {
    match a.optional() {
        None => Ok(false),
        Some(m) if is(m, "async") => Ok(true),
        Some(m) if is(m, "sync") => Ok(false),
        Some(_) => Err(CmdError::Syntax),
    }
}

fn free_later(garbage: Vec<Vec<Option<crate::keyspace::Entry>>>, lazy: bool) {
    if lazy {
        std::thread::spawn(move || drop(garbage));
    }
}

/// FLUSHDB [ASYNC|SYNC]
pub fn flushdb(c: &mut Call) -> CmdResult {
    let lazy = flush_mode(&mut c.args())?;
    let garbage: Vec<_> = c.held.shards_of(c.session.db).map(|s| s.clear()).collect();
    free_later(garbage, lazy);
    c.node.blocking().signal_db(Some(c.session.db));
    c.out.ok();
    Ok(())
}

/// FLUSHALL [ASYNC|SYNC]
pub fn flushall(c: &mut Call) -> CmdResult {
    let lazy = flush_mode(&mut c.args())?;
    let mut garbage = Vec::new();
    for db in 0..c.node.ks().databases() {
        garbage.extend(c.held.shards_of(db).map(|s| s.clear()));
    }
    free_later(garbage, lazy);
    c.node.blocking().signal_db(None);
    c.out.ok();
    Ok(())
}

/// SWAPDB index1 index2
pub fn swapdb(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let first = args::int(a.bytes()?).map_err(|_| CmdError::err("invalid first DB index"))?;
    let second = args::int(a.bytes()?).map_err(|_| CmdError::err("invalid second DB index"))?;
    let first = db_index(itoa::Buffer::new().format(first).as_bytes(), c.node.ks())?;
    let second = db_index(itoa::Buffer::new().format(second).as_bytes(), c.node.ks())?;
    c.held.swap_dbs(first, second);
    c.node.blocking().signal_db(Some(first));
    c.node.blocking().signal_db(Some(second));
    c.out.ok();
    Ok(())
}

/// TIME
pub fn time(c: &mut Call) -> CmdResult {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    c.out.array(2);
    c.out.bulk_int(now.as_secs() as i64);
    c.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

/// LASTSAVE: unix time of the last successful save (the start time before any).
pub fn lastsave(c: &mut Call) -> CmdResult {
    c.out.int(c.node.saves().last_save() as i64);
    Ok(())
}

/// SAVE: writes the snapshot file now. Other clients keep running (shards are captured copy-on-write).
pub fn save(c: &mut Call) -> CmdResult {
    match snapshot::file::save(c.node.ks(), c.cfg, now_ms()) {
        Ok(keys) => {
            c.node.saves().saved(now_ms() / 1000);
            tracing::info!(keys, "DB saved on disk");
            c.out.ok();
            Ok(())
        }
        Err(e) => Err(CmdError::err(e)),
    }
}

/// BGSAVE: writes the snapshot file in the background.
pub fn bgsave(c: &mut Call) -> CmdResult {
    if !c.node.saves().begin_background() {
        return Err(CmdError::err("Background save already in progress"));
    }
    let node = c.node_arc();
    let cfg = c.node.config_arc();
    std::thread::spawn(move || {
        let result = snapshot::file::save(node.ks(), &cfg, now_ms());
        match &result {
            Ok(keys) => {
                node.saves().saved(now_ms() / 1000);
                tracing::info!(keys, "Background saving terminated with success");
            }
            Err(e) => tracing::warn!(error = %e, "Background saving error"),
        }
        node.saves().end_background(result.is_ok());
    });
    c.out.simple("Background saving started");
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE]: stops the node; the client gets no reply, like Redis.
pub fn shutdown(c: &mut Call) -> CmdResult {
    for a in c.args().rest() {
        if !["nosave", "save", "now", "force", "abort"]
            .iter()
            .any(|w| is(a, w))
        {
            return Err(CmdError::Syntax);
        }
    }
    c.node.request_shutdown();
    c.session.close = true;
    Ok(())
}

/// CONFIG GET pattern [pattern …]
pub fn config_get(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    let patterns = a.rest();
    let mut pairs: Vec<(&str, String)> = Vec::new();
    let named = |name: &str| {
        patterns
            .iter()
            .any(|pat| glob_match(pat, name.as_bytes(), true))
    };
    // A hidden parameter is listed only when a pattern names it exactly, as in Redis.
    let exact = |name: &str| {
        patterns
            .iter()
            .any(|pat| pat.eq_ignore_ascii_case(name.as_bytes()))
    };
    for p in config::all().filter(|p| named(p.name()) && (!p.hidden() || exact(p.name()))) {
        pairs.push((p.name(), p.get(c.cfg)));
    }
    for (alias, target) in config::ALIASES.iter().filter(|(a, _)| named(a)) {
        if let Some(p) = config::param(target) {
            pairs.push((alias, p.get(c.cfg)));
        }
    }
    c.out.map(pairs.len());
    for (name, value) in pairs {
        c.out.bulk(name.as_bytes());
        c.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// CONFIG SET parameter value [parameter value …]: all or nothing.
pub fn config_set(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (2..).contains(&n))?;
    if a.given() % 2 != 0 {
        return Err(a.subcommand_error());
    }
    let mut next: Config = (**c.node.config()).clone();
    let local = c.session.info.addr.ip().is_loopback();
    let protected_ok = c.cfg.enable_protected_configs.permits(local);
    let mut seen = Vec::new();
    while let Some(name) = a.optional() {
        let value = a.bytes()?;
        let name = args::text(name);
        // Nothing is applied unless every pair is valid, and naming a parameter twice is not.
        if let Some(p) = config::param(&name) {
            if seen.contains(&p.name()) {
                return Err(CmdError::err(format_args!(
                    "CONFIG SET failed (possibly related to argument '{name}') - duplicate parameter"
                )));
            }
            seen.push(p.name());
            if !protected_ok && config::PROTECTED.contains(&p.name()) {
                return Err(CmdError::err(format_args!(
                    "CONFIG SET failed (possibly related to argument '{}') - can't set protected config",
                    p.name()
                )));
            }
        }
        set_param(&mut next, &name, &args::text(value))?;
    }
    // Moving the listeners is the one step that can fail after validation: it runs before anything is applied.
    let moved = next.port != c.cfg.port || next.bind != c.cfg.bind;
    if moved && c.cfg.protocol.serves_redis() {
        let port = c.node.rebinder().rebind(&next).map_err(|detail| {
            // Redis' words: a new port is "unable to listen", new addresses "failed to bind".
            let (name, what) = if next.port != c.cfg.port {
                ("port", "Unable to listen on this port")
            } else {
                ("bind", "Failed to bind to specified addresses")
            };
            CmdError::err(format_args!(
                "CONFIG SET failed (possibly related to argument '{name}') - {what}: {detail}"
            ))
        })?;
        c.node.set_port(port);
    }
    crate::logging::apply_level(&next.loglevel);
    if next.requirepass != c.cfg.requirepass {
        c.node.acl().set_requirepass(next.requirepass.as_deref());
    }
    c.node.apply_config(&next);
    c.node.set_config(next);
    c.out.ok();
    Ok(())
}

/// Sets one parameter of `next`, with CONFIG SET's errors. An immutable parameter may be "set" to the value it
/// has (tools that re-apply a whole configuration do that); any other value is refused.
fn set_param(next: &mut Config, name: &str, value: &str) -> CmdResult {
    let Some(p) = config::param(name) else {
        return Err(CmdError::err(format_args!(
            "Unknown option or number of arguments for CONFIG SET - '{name}'"
        )));
    };
    let failed = |msg: &str| {
        CmdError::err(format_args!(
            "CONFIG SET failed (possibly related to argument '{}') - {msg}",
            p.name()
        ))
    };
    if !p.mutable() {
        let mut probe = next.clone();
        return match p.set(&mut probe, value) {
            Ok(()) if p.get(&probe) == p.get(next) => Ok(()),
            _ => Err(failed("can't set immutable config")),
        };
    }
    p.set(next, value).map_err(|msg| failed(&msg))
}

/// CONFIG RESETSTAT
pub fn config_resetstat(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.node.metering().reset();
    c.out.ok();
    Ok(())
}

/// CONFIG REWRITE: writes the running configuration into the file the node started from (replaced atomically).
pub fn config_rewrite(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let Some(path) = c.cfg.config_file.clone() else {
        return Err(CmdError::err("The server is running without a config file"));
    };
    let failed = |e: std::io::Error| CmdError::err(format_args!("Rewriting config file: {e}"));
    let text = std::fs::read_to_string(&path).or_else(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Ok(String::new()),
        _ => Err(failed(e)),
    })?;
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, c.cfg.rewrite(&text)).map_err(failed)?;
    std::fs::rename(&tmp, &path).map_err(failed)?;
    c.out.ok();
    Ok(())
}

/// CONFIG HELP
pub fn config_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Print this help.",
    ];
    c.out.help(&lines);
    Ok(())
}

fn write_command_info(c: &mut Call, idx: usize) {
    let spec = &COMMANDS[idx];
    let flags = spec.flag_names();
    let (first, last, step) = spec.key_positions();
    c.out.array(10);
    c.out.bulk(spec.name.as_bytes());
    c.out.int(spec.arity as i64);
    c.out.set(flags.len());
    flags.iter().for_each(|f| c.out.simple(f));
    c.out.int(first);
    c.out.int(last);
    c.out.int(step);
    let cats = spec.categories();
    c.out.set(cats.len());
    cats.iter().for_each(|cat| c.out.simple(cat));
    c.out.set(0);
    c.out.array(spec.keys.len());
    let flags = spec.spec_flags();
    for (n, k) in spec.keys.iter().enumerate() {
        write_key_spec(c, k, flags.get(n).copied().unwrap_or(0));
    }
    let subs = catalogue::subcommands(idx);
    c.out.array(subs.len());
    subs.iter().for_each(|&s| write_command_info(c, s));
}

/// A keyword `begin_search` of `COMMAND INFO`.
fn write_keyword(c: &mut Call, word: &str, startfrom: i64) {
    c.out.bulk(b"keyword");
    c.out.bulk(b"spec");
    c.out.map(2);
    c.out.bulk(b"keyword");
    c.out.bulk(word.as_bytes());
    c.out.bulk(b"startfrom");
    c.out.int(startfrom);
}

/// One key specification as `COMMAND INFO` shows it (Redis 7's `begin_search` / `find_keys` maps).
fn write_key_spec(c: &mut Call, k: &KeySpec, flags: u16) {
    c.out.map(3);
    c.out.bulk(b"flags");
    write_key_flags(c, flags);
    c.out.bulk(b"begin_search");
    c.out.map(2);
    c.out.bulk(b"type");
    match k.begin {
        Begin::Index(i) => {
            c.out.bulk(b"index");
            c.out.bulk(b"spec");
            c.out.map(1);
            c.out.bulk(b"index");
            c.out.int(i as i64);
        }
        Begin::Keyword { word, from } => write_keyword(c, word, from as i64),
        // Redis' form: a keyword searched backwards from the last argument.
        Begin::LastKeyword { word, .. } => write_keyword(c, word, -1),
    }
    c.out.bulk(b"find_keys");
    c.out.map(2);
    c.out.bulk(b"type");
    let fields: [(&[u8], i64); 3] = match k.find {
        Find::Range { last, step, limit } => {
            c.out.bulk(b"range");
            [
                (b"lastkey", last as i64),
                (b"keystep", step as i64),
                (b"limit", limit as i64),
            ]
        }
        Find::Keynum { count, first, step } => {
            c.out.bulk(b"keynum");
            [
                (b"keynumidx", count as i64),
                (b"firstkey", first as i64),
                (b"keystep", step as i64),
            ]
        }
    };
    c.out.bulk(b"spec");
    c.out.map(3);
    for (name, v) in fields {
        c.out.bulk(name);
        c.out.int(v);
    }
}

/// COMMAND: describes every command (its subcommands are rows of their own).
pub fn command(c: &mut Call) -> CmdResult {
    c.args().finish()?;
    let all: Vec<usize> = catalogue::top_level().collect();
    c.out.array(all.len());
    all.into_iter().for_each(|i| write_command_info(c, i));
    Ok(())
}

/// COMMAND COUNT (later arguments are ignored)
pub fn command_count(c: &mut Call) -> CmdResult {
    c.out.int(catalogue::top_level().count() as i64);
    Ok(())
}

/// COMMAND LIST: every command name (filters are ignored).
pub fn command_list(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let filter = match a.optional() {
        None => None,
        Some(f) if is(f, "filterby") && a.len() == 2 => {
            let (kind, value) = (a.bytes()?.to_ascii_lowercase(), a.bytes()?);
            Some((kind, value))
        }
        Some(_) => return Err(CmdError::Syntax),
    };
    if let Some((kind, _)) = &filter {
        if !matches!(kind.as_slice(), b"module" | b"aclcat" | b"pattern") {
            return Err(CmdError::Syntax);
        }
    }
    // Every command and subcommand, as Redis 7.0 lists them.
    let names: Vec<&str> = COMMANDS
        .iter()
        .filter(|spec| match &filter {
            None => true,
            // No module is ever loaded.
            Some((kind, _)) if kind == b"module" => false,
            Some((kind, value)) if kind == b"aclcat" => spec
                .categories()
                .iter()
                .any(|cat| cat[1..].eq_ignore_ascii_case(&args::text(value))),
            Some((_, pattern)) => glob_match(pattern, spec.name.as_bytes(), true),
        })
        .map(|spec| spec.name)
        .collect();
    c.out.array(names.len());
    names.into_iter().for_each(|n| c.out.bulk(n.as_bytes()));
    Ok(())
}

/// COMMAND INFO [command …]: every command when none is named; unknown names get a null.
pub fn command_info(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let names: Vec<Option<usize>> = if a.is_empty() {
        catalogue::top_level().map(Some).collect()
    } else {
        a.rest().iter().map(|n| catalogue::lookup(n)).collect()
    };
    c.out.array(names.len());
    for n in names {
        match n {
            Some(i) => write_command_info(c, i),
            None => c.out.null_array(),
        }
    }
    Ok(())
}

/// COMMAND DOCS [command …]: summary and group of every command, or of the named ones that exist.
pub fn command_docs(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let names: Vec<usize> = if a.is_empty() {
        catalogue::top_level().collect()
    } else {
        a.rest()
            .iter()
            .filter_map(|n| catalogue::lookup(n))
            .collect()
    };
    c.out.map(names.len());
    for i in names {
        let spec = &COMMANDS[i];
        c.out.bulk(spec.name.as_bytes());
        c.out.map(2);
        c.out.bulk(b"summary");
        c.out.bulk(spec.summary.as_bytes());
        c.out.bulk(b"group");
        c.out.bulk(spec.group.as_bytes());
    }
    Ok(())
}

/// COMMAND GETKEYS command [arg …]
pub fn command_getkeys(c: &mut Call) -> CmdResult {
    let keys = inspected_keys(c)?;
    c.out.bulks(keys.iter().map(|(k, _)| k.as_slice()));
    Ok(())
}

/// COMMAND GETKEYSANDFLAGS command [arg …]: each key with its key-spec flags.
pub fn command_getkeysandflags(c: &mut Call) -> CmdResult {
    let keys = inspected_keys(c)?;
    c.out.array(keys.len());
    for (key, flags) in keys {
        c.out.array(2);
        c.out.bulk(&key);
        write_key_flags(c, flags);
    }
    Ok(())
}

/// The keys, with their flags, of the call COMMAND GETKEYS / GETKEYSANDFLAGS inspects.
fn inspected_keys(c: &mut Call) -> Result<Vec<(Vec<u8>, u16)>, CmdError> {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    let Some(mut i) = a.peek().and_then(catalogue::lookup_command) else {
        return Err(CmdError::err("Invalid command specified"));
    };
    // The inspected command's whole argv, its name first.
    let inner = a.rest();
    // A container's keys are its subcommand's (XGROUP CREATE, MEMORY USAGE).
    if !catalogue::subcommands(i).is_empty() {
        i = inner
            .get(1)
            .and_then(|sub| catalogue::lookup_subcommand(i, sub))
            .ok_or_else(|| CmdError::err("Invalid command specified"))?;
    }
    if !COMMANDS[i].arity_ok(inner.len()) {
        return Err(CmdError::err(
            "Invalid number of arguments specified for command",
        ));
    }
    let keys = COMMANDS[i].keys_with_flags(inner);
    if keys.is_empty() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    Ok(keys.into_iter().map(|(k, f)| (k.to_vec(), f)).collect())
}

/// Key-spec flags as a set of status words, in Redis' order.
fn write_key_flags(c: &mut Call, flags: u16) {
    let names: Vec<&str> = catalogue::facts::NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(_, n)| *n)
        .collect();
    c.out.set(names.len());
    names.iter().for_each(|n| c.out.simple(n));
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.2}{}", UNITS[u])
    }
}

/// Resident set size of this process, from /proc.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_SELF with a valid pointer.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_stime), secs(ru.ru_utime))
}

const DEFAULT_SECTIONS: [&str; 10] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "errorstats",
    "cluster",
    "keyspace",
];

/// Writes one INFO section.
type InfoSection = fn(&mut Call, &mut String);

/// INFO [section …]
pub fn info(c: &mut Call) -> CmdResult {
    let requested: Vec<String> = c
        .args()
        .rest()
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    let everything = requested.iter().any(|s| s == "all" || s == "everything");
    let wants = |name: &str| {
        if requested.is_empty() || requested.iter().any(|s| s == "default") {
            DEFAULT_SECTIONS.contains(&name)
        } else {
            everything || requested.iter().any(|s| s == name)
        }
    };
    let mut text = String::new();
    let sections: [(&str, InfoSection); 14] = [
        ("server", info_server),
        ("clients", info_clients),
        ("memory", info_memory),
        ("persistence", info_persistence),
        ("stats", info_stats),
        ("replication", info_replication),
        ("cpu", info_cpu),
        ("usage", info_usage),
        ("commandstats", info_commandstats),
        ("ecpustats", info_ecpustats),
        ("latencystats", info_latencystats),
        ("errorstats", info_errorstats),
        ("cluster", info_cluster),
        ("keyspace", info_keyspace),
    ];
    for (name, write) in sections {
        if wants(name) {
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            write(c, &mut text);
        }
    }
    c.out.verbatim(&text);
    Ok(())
}

fn info_server(c: &mut Call, t: &mut String) {
    let uptime = c.node.uptime().as_secs();
    // TLS connections are always served on epoll.
    let api = if c.node.io_uring() {
        "io_uring"
    } else {
        "epoll"
    };
    let _ = write!(
        t,
        "# Server\r\nredis_version:{}\r\nferrocache_version:{}\r\nredis_mode:{}\r\n\
         os:{} {}\r\narch_bits:64\r\nmultiplexing_api:{api}\r\nprocess_id:{}\r\nrun_id:{}\r\ntcp_port:{}\r\n\
         server_time_usec:{}\r\nuptime_in_seconds:{uptime}\r\nuptime_in_days:{}\r\nhz:{}\r\n\
         io_threads_active:0\r\nthreads:{}\r\nshards_per_db:{}\r\nexecutable:{}\r\n",
        catalogue::REDIS_COMPAT_VERSION,
        env!("CARGO_PKG_VERSION"),
        if c.node.cluster().enabled() {
            "cluster"
        } else {
            "standalone"
        },
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::process::id(),
        c.node.run_id(),
        c.node.port(),
        now_ms() * 1000,
        uptime / 86400,
        c.cfg.hz,
        c.cfg.threads,
        c.node.ks().shards(),
        std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
    );
    if c.node.memcache().port.load(Ordering::Relaxed) != 0 {
        let _ = write!(t, "memcached_multiplexing_api:{api}\r\n");
    }
}

fn info_clients(c: &mut Call, t: &mut String) {
    let _ = write!(
        t,
        "# Clients\r\nconnected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\n",
        c.node.clients().count(),
        c.cfg.maxclients,
        c.node.blocking().blocked_clients(),
        c.node.pubsub().tracking.clients(),
    );
}

/// Bytes of every key and value, summed over the locked shards of every database.
fn dataset_bytes(c: &mut Call) -> u64 {
    (0..c.node.ks().databases())
        .map(|db| c.held.shards_of(db).map(|s| s.bytes() as u64).sum::<u64>())
        .sum()
}

fn info_memory(c: &mut Call, t: &mut String) {
    let dataset = dataset_bytes(c);
    // Everything the process holds, from the allocator (the dataset estimate when it is not counted).
    let used = crate::memory::allocated().map_or(dataset, |a| a as u64);
    let peak = c.node.memory_peak(used);
    let rss = rss_bytes();
    let _ = write!(
        t,
        "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\nused_memory_peak:{peak}\r\nused_memory_peak_human:{}\r\n\
         used_memory_dataset:{dataset}\r\nused_memory_overhead:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\n\
         maxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:mimalloc\r\n\
         mem_not_counted_for_evict:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
        human(used),
        human(rss),
        human(peak),
        used.saturating_sub(dataset),
        c.cfg.maxmemory,
        human(c.cfg.maxmemory),
        c.cfg.maxmemory_policy.name(),
        if used > 0 { rss as f64 / used as f64 } else { 0.0 },
    );
}

fn info_persistence(c: &mut Call, t: &mut String) {
    let _ = write!(
        t,
        "# Persistence\r\nloading:0\r\nrdb_bgsave_in_progress:{}\r\nrdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\naof_enabled:0\r\n",
        c.node.saves().background_running() as u8,
        c.node.saves().last_save(),
        if c.node.saves().last_background_ok() {
            "ok"
        } else {
            "err"
        },
    );
}

fn info_stats(c: &mut Call, t: &mut String) {
    let totals = c.node.metering().since_reset();
    let (tracked_keys, tracked_items, tracked_prefixes) = c.node.pubsub().tracking.totals();
    let (mut expired, mut evicted) = (0, 0);
    for db in 0..c.node.ks().databases() {
        for s in c.held.shards_of(db) {
            expired += s.expired;
            evicted += s.evicted;
        }
    }
    let _ = write!(
        t,
        "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
         total_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\n\
         expired_keys:{expired}\r\nevicted_keys:{evicted}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\n\
         total_error_replies:{}\r\nsync_full:{}\r\nsync_partial_ok:{}\r\nsync_partial_err:{}\r\n\
         tracking_total_keys:{tracked_keys}\r\ntracking_total_items:{tracked_items}\r\n\
         tracking_total_prefixes:{tracked_prefixes}\r\n",
        c.node.clients().received.load(Ordering::Relaxed),
        totals.total_commands(),
        totals.net_in,
        totals.net_out,
        c.node.clients().rejected.load(std::sync::atomic::Ordering::Relaxed),
        totals.hits,
        totals.misses,
        totals.errors,
        c.node.repl().stats.full.load(std::sync::atomic::Ordering::Relaxed),
        c.node.repl().stats.partial_ok.load(std::sync::atomic::Ordering::Relaxed),
        c.node.repl().stats.partial_err.load(std::sync::atomic::Ordering::Relaxed),
    );
}

fn info_replication(c: &mut Call, t: &mut String) {
    t.push_str(&c.node.repl().info(now_ms()));
}

fn info_cpu(_c: &mut Call, t: &mut String) {
    let (sys, user) = cpu_seconds();
    let _ = write!(
        t,
        "# CPU\r\nused_cpu_sys:{sys:.6}\r\nused_cpu_user:{user:.6}\r\n"
    );
}

fn info_usage(c: &mut Call, t: &mut String) {
    let lifetime = c.node.metering().lifetime();
    let dataset = dataset_bytes(c);
    let uptime = c.node.uptime().as_secs();
    let _ = write!(
        t,
        "# Usage\r\necpu_total:{}\r\ndataset_bytes:{dataset}\r\ncommands_total:{}\r\nrun_id:{}\r\n\
         start_time_seconds:{}\r\nuptime_in_seconds:{uptime}\r\nmetering_enabled:{}\r\n",
        lifetime.units,
        lifetime.total_commands(),
        c.node.run_id(),
        now_ms() / 1000 - uptime,
        c.cfg.metering as u8,
    );
    t.push_str(&crate::metering::usage_lines(
        c.node.metering(),
        c.cfg,
        "",
        ':',
    ));
}

fn info_commandstats(c: &mut Call, t: &mut String) {
    t.push_str("# Commandstats\r\n");
    let totals = c.node.metering().since_reset();
    for (spec, (calls, nanos, rejected, failed)) in COMMANDS.iter().zip(totals.commands) {
        if calls + rejected > 0 {
            let usec = nanos / 1000;
            let per_call = if calls > 0 {
                nanos as f64 / 1000.0 / calls as f64
            } else {
                0.0
            };
            let _ = write!(
                t,
                "cmdstat_{}:calls={calls},usec={usec},usec_per_call={per_call:.2},rejected_calls={rejected},\
                 failed_calls={failed}\r\n",
                spec.name
            );
        }
    }
}

/// Request units charged per command since the last reset (a section of its own, so `commandstats` keeps
/// Redis' exact line format).
fn info_ecpustats(c: &mut Call, t: &mut String) {
    t.push_str("# Ecpustats\r\n");
    let totals = c.node.metering().since_reset();
    for (spec, units) in COMMANDS.iter().zip(totals.command_units) {
        if units > 0 {
            let _ = write!(t, "ecpustat_{}:ecpu={units}\r\n", spec.name);
        }
    }
}

fn info_errorstats(c: &mut Call, t: &mut String) {
    t.push_str("# Errorstats\r\n");
    for (code, count) in c.node.metering().error_counts() {
        let _ = write!(t, "errorstat_{code}:count={count}\r\n");
    }
}

fn info_latencystats(c: &mut Call, t: &mut String) {
    t.push_str("# Latencystats\r\n");
    let totals = c.node.metering().since_reset();
    for (spec, counts) in COMMANDS.iter().zip(&totals.latency) {
        let (Some(p50), Some(p99), Some(p999)) = (
            crate::metering::latency::percentile_usec(counts, 50.0),
            crate::metering::latency::percentile_usec(counts, 99.0),
            crate::metering::latency::percentile_usec(counts, 99.9),
        ) else {
            continue;
        };
        let _ = write!(
            t,
            "latency_percentiles_usec_{}:p50={p50:.3},p99={p99:.3},p99.9={p999:.3}\r\n",
            spec.name
        );
    }
}

fn info_cluster(c: &mut Call, t: &mut String) {
    let cl = c.node.cluster();
    if !cl.enabled() {
        t.push_str("# Cluster\r\ncluster_enabled:0\r\n");
        return;
    }
    let _ = write!(
        t,
        "# Cluster\r\ncluster_enabled:1\r\ncluster_topology_epoch:{}\r\nslot_migrations_active:{}\r\n",
        cl.epoch(),
        cl.active_migrations()
    );
    // Each migration still running, with its progress.
    let o = Ordering::Relaxed;
    for (i, m) in cl
        .migrations()
        .iter()
        .filter(|m| !m.state().is_final())
        .enumerate()
    {
        let _ = write!(
            t,
            "slot_migration{i}:id={},direction={},peer={},slots={},state={},keys={},bytes={},elapsed_ms={}\r\n",
            m.id,
            match m.direction {
                crate::cluster::Direction::Export => "export",
                crate::cluster::Direction::Import => "import",
            },
            m.peer,
            crate::cluster::migration::ranges_text(&m.ranges).replace(' ', ","),
            m.state().name(),
            m.keys.load(o),
            m.bytes.load(o),
            m.elapsed().as_millis()
        );
    }
}

fn info_keyspace(c: &mut Call, t: &mut String) {
    t.push_str("# Keyspace\r\n");
    for db in 0..c.node.ks().databases() {
        let (mut keys, mut expires) = (0, 0);
        for s in c.held.shards_of(db) {
            keys += s.len();
            expires += s.volatile_count();
        }
        if keys > 0 {
            let _ = write!(t, "db{db}:keys={keys},expires={expires},avg_ttl=0\r\n");
        }
    }
}
