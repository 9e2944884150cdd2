//! Test fixture: a real `ferrocache-engine` process on a free loopback port, stopped when dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
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
        for _ in 0..5 {
            let port = free_port();
            // Many engines run at once: metrics stay off unless a test asks for them.
            let metrics: &[&str] = if flags.contains(&"--metrics-port") {
                &[]
            } else {
                &["--metrics-port", "0"]
            };
            let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache-engine"))
                .args(["--port", &port.to_string(), "--loglevel", "warning"])
                .args(metrics)
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start ferrocache-engine");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken between probe and bind: retry with another
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                    // Any reply (PONG, or NOAUTH when a password is required) means it serves requests.
                    let _ = s.write_all(b"PING\r\n");
                    let mut buf = [0u8; 1];
                    if s.read_exact(&mut buf).is_ok() && (buf[0] == b'+' || buf[0] == b'-') {
                        return Engine {
                            child,
                            port,
                            memcached_port: 0,
                        };
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("ferrocache-engine did not start");
    }

    /// Starts an engine serving both protocols (`--protocol both`, or `memcached` when `only` is true), with
    /// extra flags, and waits until the Memcached port answers `version`.
    pub fn start_memcached(flags: &[&str], only: bool) -> Engine {
        for _ in 0..5 {
            let (port, memcached_port) = (free_port(), free_port());
            let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache-engine"))
                .args(["--port", &port.to_string(), "--loglevel", "warning"])
                .args(["--memcached-port", &memcached_port.to_string()])
                .args(["--protocol", if only { "memcached" } else { "both" }])
                .args(if flags.contains(&"--metrics-port") {
                    &[][..]
                } else {
                    &["--metrics-port", "0"][..]
                })
                .args(flags)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("start ferrocache-engine");
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // a port was taken between probe and bind: retry with others
                }
                if let Ok(mut s) = TcpStream::connect(("127.0.0.1", memcached_port)) {
                    let _ = s.write_all(b"version\r\n");
                    let mut buf = [0u8; 8];
                    if s.read_exact(&mut buf).is_ok() && &buf == b"VERSION " {
                        return Engine {
                            child,
                            port,
                            memcached_port,
                        };
                    }
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("ferrocache-engine did not start with the memcached protocol");
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

/// Reads the `used_memory` field of INFO memory.
pub fn used_memory(c: &mut redis::Connection) -> u64 {
    let info: String = cmd("INFO", &["memory"]).query(c).expect("info");
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("used_memory field")
}
