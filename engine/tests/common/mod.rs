//! Test fixture: a real `ferrocache-engine` process on a free loopback port, stopped when dropped.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running engine.
pub struct Engine {
    child: Child,
    /// Its Redis port on 127.0.0.1.
    pub port: u16,
    /// Its Memcached port on 127.0.0.1 (0 unless started with [`Engine::start_memcached`]).
    pub memcached_port: u16,
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Engine {
    /// Starts an engine with extra flags and waits until it answers PING.
    pub fn start(flags: &[&str]) -> Engine {
        (0..5)
            .find_map(|_| Engine::launch(flags, None))
            .unwrap_or_else(|| panic!("ferrocache-engine did not start"))
    }

    /// Starts an engine serving both protocols (`--protocol both`, or `memcached` when `only` is true), with
    /// extra flags, and waits until the Memcached port answers `version` (or refuses text, under SASL).
    pub fn start_memcached(flags: &[&str], only: bool) -> Engine {
        (0..5)
            .find_map(|_| Engine::launch(flags, Some(only)))
            .unwrap_or_else(|| {
                panic!("ferrocache-engine did not start with the memcached protocol")
            })
    }

    /// Starts an engine on free ports, serving Memcached too unless `memcached` is `None` (only Memcached when
    /// it is `Some(true)`), and waits until it answers; `None` if it exits first (a port was taken between
    /// probe and bind) or does not answer within 10 s.
    fn launch(flags: &[&str], memcached: Option<bool>) -> Option<Engine> {
        let port = free_port();
        let memcached_port = memcached.map_or(0, |_| free_port());
        let mut command = Command::new(env!("CARGO_BIN_EXE_ferrocache-engine"));
        command.args(["--port", &port.to_string(), "--loglevel", "warning"]);
        if let Some(only) = memcached {
            command
                .args(["--memcached-port", &memcached_port.to_string()])
                .args(["--protocol", if only { "memcached" } else { "both" }]);
        }
        // Many engines run at once: metrics stay off unless a test asks for them.
        if !flags.contains(&"--metrics-port") {
            command.args(["--metrics-port", "0"]);
        }
        let mut child = command
            .args(flags)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ferrocache-engine");
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !matches!(child.try_wait(), Ok(Some(_))) {
            if answers(port, memcached_port) {
                return Some(Engine {
                    child,
                    port,
                    memcached_port,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// A raw TCP connection to the Memcached port.
    pub fn mc(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.memcached_port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    /// A `redis` crate client for this engine.
    pub fn client(&self) -> redis::Client {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port)).expect("client")
    }

    /// A synchronous connection.
    pub fn conn(&self) -> redis::Connection {
        self.client().get_connection().expect("connection")
    }

    /// A raw TCP connection, for protocol-level tests.
    pub fn raw(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait");
        std::mem::forget(self);
        status
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when a starting engine serves requests: the Memcached port answers `version` (when there is one), or
/// the Redis port answers PING (PONG, or NOAUTH when a password is required).
fn answers(port: u16, memcached_port: u16) -> bool {
    if memcached_port != 0 {
        // `version`, or the refusal of the text protocol by a node that requires SASL.
        reply_to(memcached_port, b"version\r\n", 8)
            .is_some_and(|r| r == b"VERSION " || r == b"CLIENT_E")
    } else {
        reply_to(port, b"PING\r\n", 1).is_some_and(|r| r[0] == b'+' || r[0] == b'-')
    }
}

/// The first `n` bytes of the reply to `request` on a new connection to `port`, if they come.
fn reply_to(port: u16, request: &[u8], n: usize) -> Option<Vec<u8>> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let _ = s.write_all(request);
    let mut reply = vec![0u8; n];
    s.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// The value of `field` in `INFO <section>`.
pub fn info_field(e: &Engine, section: &str, field: &str) -> String {
    let mut con = e.conn();
    let info: String = redis::cmd("INFO")
        .arg(section)
        .query(&mut con)
        .expect("INFO");
    let prefix = format!("{field}:");
    info.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {field} in INFO {section}"))
        .trim()
        .to_string()
}

/// Sends raw bytes and reads until `expected` bytes arrived (or the peer closed).
pub fn roundtrip(s: &mut TcpStream, request: &[u8], expected: usize) -> Vec<u8> {
    s.write_all(request).expect("write");
    read_n(s, expected)
}

/// Reads exactly `n` bytes unless the connection closes first.
pub fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while out.len() < n {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

/// Sends a request and reads until the reply ends with `suffix`.
pub fn roundtrip_until(s: &mut TcpStream, request: &[u8], suffix: &[u8]) -> Vec<u8> {
    s.write_all(request).expect("write");
    read_until(s, suffix)
}

/// Reads until the bytes read end with `suffix` (or the peer closes).
pub fn read_until(s: &mut TcpStream, suffix: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    while !out.ends_with(suffix) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(k) => out.extend_from_slice(&buf[..k]),
        }
    }
    out
}

/// Reads until the peer closes the connection; returns everything read.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Shorthand for a command with arguments.
pub fn cmd(name: &str, args: &[&str]) -> redis::Cmd {
    let mut c = redis::cmd(name);
    for a in args {
        c.arg(*a);
    }
    c
}

/// Runs a command and returns its reply as a `redis::Value`.
pub fn run(
    con: &mut redis::Connection,
    name: &str,
    args: &[&str],
) -> redis::RedisResult<redis::Value> {
    cmd(name, args).query(con)
}

/// Runs a command that must fail and returns the error text (code and message).
pub fn err(con: &mut redis::Connection, name: &str, args: &[&str]) -> String {
    match cmd(name, args).query::<redis::Value>(con) {
        Ok(v) => panic!("{name} {args:?} succeeded with {v:?}"),
        Err(e) => format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
            .trim()
            .to_string(),
    }
}

/// A raw connection switched to RESP3 (the HELLO reply read and dropped).
pub fn resp3(e: &Engine) -> TcpStream {
    let mut s = e.raw();
    s.write_all(b"HELLO 3\r\nPING\r\n").expect("write");
    read_until(&mut s, b"+PONG\r\n");
    s
}

/// Sends an inline request and asserts the exact reply bytes.
pub fn expect(s: &mut TcpStream, request: &str, reply: &str) {
    let got = roundtrip(s, format!("{request}\r\n").as_bytes(), reply.len());
    assert_eq!(String::from_utf8_lossy(&got), reply, "reply to {request}");
}

/// A `Value` for a bulk string.
pub fn bulk(s: &str) -> redis::Value {
    redis::Value::BulkString(s.as_bytes().to_vec())
}

/// A `Value` array of bulk strings.
pub fn bulks(items: &[&str]) -> redis::Value {
    redis::Value::Array(items.iter().map(|s| bulk(s)).collect())
}

/// A numeric field of `INFO <section>`.
pub fn info_u64(c: &mut redis::Connection, section: &str, name: &str) -> u64 {
    let info: String = cmd("INFO", &[section]).query(c).expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no numeric {name} in INFO {section}"))
}

/// Reads `used_memory_dataset` of INFO memory: the bytes of keys and values, which `maxmemory` bounds.
pub fn used_memory(c: &mut redis::Connection) -> u64 {
    info_u64(c, "memory", "used_memory_dataset")
}

/// How many clients wait in a blocking command.
pub fn blocked_clients(c: &mut redis::Connection) -> u64 {
    info_u64(c, "clients", "blocked_clients")
}

/// Waits (5 s at most) until exactly `n` clients wait in a blocking command.
pub fn wait_blocked(c: &mut redis::Connection, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while blocked_clients(c) != n {
        assert!(
            Instant::now() < deadline,
            "never reached {n} blocked clients"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits (15 s at most) until `f` holds; `what` names it if it never does.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends an inline request without reading its reply.
pub fn send(s: &mut TcpStream, request: &str) {
    s.write_all(format!("{request}\r\n").as_bytes())
        .expect("write");
}

/// A new empty directory `name` of this test process, under the system's temporary directory.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ferro-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

/// The statistics `stats <group>` reports on a Memcached connection (`group` empty: the general ones).
pub fn memcached_stats(s: &mut TcpStream, group: &str) -> HashMap<String, String> {
    let line = if group.is_empty() {
        "stats\r\n".to_string()
    } else {
        format!("stats {group}\r\n")
    };
    s.write_all(line.as_bytes()).expect("write");
    let text = String::from_utf8(read_until(s, b"END\r\n")).expect("utf-8");
    text.lines()
        .filter_map(|l| l.strip_prefix("STAT "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A numeric statistic of `stats` on a Memcached connection.
pub fn memcached_stat(s: &mut TcpStream, name: &str) -> u64 {
    memcached_stats(s, "")[name].parse().expect("number")
}

/// A real redis-server on a free loopback port, for tests that compare the engine with it; killed when dropped.
pub struct RedisServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl RedisServer {
    /// Starts redis-server (Debian's package; `.ci/run` installs it) and waits until it answers PING.
    pub fn start() -> RedisServer {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is needed for this test (apt-get install redis-server)");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                .and_then(|c| c.get_connection())
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                .is_ok();
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl RedisServer {
    /// A connection to it.
    pub fn conn(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection())
            .expect("connect to redis-server")
    }
}

/// xorshift64*: the same sequence on every run, so a difference found by a randomized test is reproducible.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One of `items`.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}
