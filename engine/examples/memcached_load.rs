//! A small Memcached load generator for `bench/compare-memcached.sh`: the same load against any server that
//! speaks the text protocol, or with `--binary 1` the binary protocol (ferrocache-engine, memcached).
//!
//! Each connection runs on its own thread with blocking sockets, sends a batch of `--pipeline` requests,
//! reads every reply, and records the batch's round trip as the latency of each request in it. Requests are
//! gets and sets over a fixed keyspace, mixed at `--get-ratio`; with `--multiget N` a get asks for N keys in
//! one request. Prints one line: `requests=… keys=… seconds=… rps=… p50_us=… p99_us=… errors=…`.
//!
//! `--load N` instead stores keys 0..N once (pipelined) and exits: the memory test and the warm-up.
//!
//! ```sh
//! cargo run --release --example memcached_load -- --port 11211 --conns 50 --seconds 10 --get-ratio 0.9
//! ```

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[derive(Clone)]
struct Opts {
    host: String,
    port: u16,
    conns: usize,
    seconds: f64,
    keys: u64,
    key_size: usize,
    value_size: usize,
    get_ratio: f64,
    multiget: usize,
    pipeline: usize,
    load: Option<u64>,
    binary: bool,
}

fn parse_args() -> Result<Opts, String> {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 11211,
        conns: 50,
        seconds: 10.0,
        keys: 100_000,
        key_size: 32,
        value_size: 100,
        get_ratio: 0.9,
        multiget: 1,
        pipeline: 1,
        load: None,
        binary: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args
            .get(i + 1)
            .ok_or_else(|| format!("{} needs a value", args[i]))?;
        let name = &args[i];
        fn bad<E>(name: &str, value: &str) -> impl FnOnce(E) -> String {
            let message = format!("bad value for {name}: {value}");
            move |_| message
        }
        match args[i].as_str() {
            "--host" => o.host = value.clone(),
            "--port" => o.port = value.parse().map_err(bad(name, value))?,
            "--conns" => o.conns = value.parse().map_err(bad(name, value))?,
            "--seconds" => o.seconds = value.parse().map_err(bad(name, value))?,
            "--keys" => o.keys = value.parse().map_err(bad(name, value))?,
            "--key-size" => o.key_size = value.parse().map_err(bad(name, value))?,
            "--value-size" => o.value_size = value.parse().map_err(bad(name, value))?,
            "--get-ratio" => o.get_ratio = value.parse().map_err(bad(name, value))?,
            "--multiget" => o.multiget = value.parse().map_err(bad(name, value))?,
            "--pipeline" => o.pipeline = value.parse().map_err(bad(name, value))?,
            "--load" => o.load = Some(value.parse().map_err(bad(name, value))?),
            "--binary" => o.binary = value == "1" || value == "yes",
            other => return Err(format!("unknown option {other}")),
        }
        i += 2;
    }
    if o.key_size < 2 || o.conns == 0 || o.pipeline == 0 || o.multiget == 0 {
        return Err("key-size >= 2, conns, pipeline and multiget >= 1".into());
    }
    if o.binary && o.multiget > 1 {
        return Err("--multiget is a text-protocol row".into());
    }
    Ok(o)
}

/// Key number `n`, `size` bytes: `k` then the zero-padded number.
fn key(n: u64, size: usize) -> String {
    format!("k{n:0w$}", w = size - 1)
}

/// Appends what the socket has to `buf`; the end of the stream is an error (a reply was still expected).
fn read_more(s: &mut TcpStream, buf: &mut Vec<u8>, chunk: &mut [u8]) -> std::io::Result<()> {
    let n = s.read(chunk)?;
    if n == 0 {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

/// Reads replies until `count` complete ones (END / STORED / an error line) arrived; returns errors seen.
fn read_replies(s: &mut TcpStream, buf: &mut Vec<u8>, count: usize) -> std::io::Result<u64> {
    let mut done = 0;
    let mut errors = 0;
    let mut pos = 0;
    let mut chunk = [0u8; 65536];
    loop {
        // Parse what is buffered.
        while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
            let line = &buf[pos..pos + nl + 1];
            if let Some(rest) = line.strip_prefix(b"VALUE ") {
                let len: usize = std::str::from_utf8(rest)
                    .ok()
                    .and_then(|r| r.split_whitespace().nth(2))
                    .and_then(|l| l.parse().ok())
                    .unwrap_or(0);
                if buf.len() < pos + nl + 1 + len + 2 {
                    break;
                }
                pos += nl + 1 + len + 2;
                continue;
            }
            if !(line == b"END\r\n" || line == b"STORED\r\n") {
                errors += 1;
            }
            pos += nl + 1;
            done += 1;
            if done == count {
                buf.drain(..pos);
                return Ok(errors);
            }
        }
        read_more(s, buf, &mut chunk)?;
    }
}

/// A binary-protocol request: GET (opcode 0) of `key`, or SET (opcode 1) of `key` to `value`.
fn binary_request(out: &mut Vec<u8>, set: bool, key: &[u8], value: &[u8]) {
    let extras: &[u8] = if set { &[0; 8] } else { &[] };
    let body = (extras.len() + key.len() + if set { value.len() } else { 0 }) as u32;
    out.extend_from_slice(&[0x80, u8::from(set)]);
    out.extend_from_slice(&(key.len() as u16).to_be_bytes());
    out.extend_from_slice(&[extras.len() as u8, 0, 0, 0]);
    out.extend_from_slice(&body.to_be_bytes());
    out.extend_from_slice(&[0; 12]);
    out.extend_from_slice(extras);
    out.extend_from_slice(key);
    if set {
        out.extend_from_slice(value);
    }
}

/// Reads `count` binary responses; returns the errors among them (a GET miss is not one).
fn read_binary_replies(s: &mut TcpStream, buf: &mut Vec<u8>, count: usize) -> std::io::Result<u64> {
    let (mut done, mut errors, mut pos) = (0, 0, 0);
    let mut chunk = [0u8; 65536];
    loop {
        while buf.len() >= pos + 24 {
            let h = &buf[pos..pos + 24];
            let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
            if buf.len() < pos + 24 + body {
                break;
            }
            let status = u16::from_be_bytes([h[6], h[7]]);
            if !(status == 0 || (status == 1 && h[1] == 0)) {
                errors += 1;
            }
            pos += 24 + body;
            done += 1;
            if done == count {
                buf.drain(..pos);
                return Ok(errors);
            }
        }
        read_more(s, buf, &mut chunk)?;
    }
}

struct Outcome {
    requests: u64,
    keys: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

fn run_connection(o: &Opts, seed: u64, deadline: Instant) -> std::io::Result<Outcome> {
    let mut s = TcpStream::connect((o.host.as_str(), o.port))?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let value = vec![b'x'; o.value_size];
    let mut out = Vec::with_capacity(64 * 1024);
    let mut inbuf = Vec::with_capacity(64 * 1024);
    let mut result = Outcome {
        requests: 0,
        keys: 0,
        errors: 0,
        latencies_us: Vec::new(),
    };
    while Instant::now() < deadline {
        out.clear();
        let mut keys = 0;
        for _ in 0..o.pipeline {
            if o.binary {
                let set = rng.f64() >= o.get_ratio;
                let k = key(rng.u64(..o.keys), o.key_size);
                binary_request(&mut out, set, k.as_bytes(), &value);
                keys += 1;
            } else if rng.f64() < o.get_ratio {
                out.extend_from_slice(b"get");
                for _ in 0..o.multiget {
                    out.push(b' ');
                    out.extend_from_slice(key(rng.u64(..o.keys), o.key_size).as_bytes());
                }
                out.extend_from_slice(b"\r\n");
                keys += o.multiget as u64;
            } else {
                let k = key(rng.u64(..o.keys), o.key_size);
                write!(out, "set {k} 0 0 {}\r\n", value.len())?;
                out.extend_from_slice(&value);
                out.extend_from_slice(b"\r\n");
                keys += 1;
            }
        }
        let started = Instant::now();
        s.write_all(&out)?;
        result.errors += if o.binary {
            read_binary_replies(&mut s, &mut inbuf, o.pipeline)?
        } else {
            read_replies(&mut s, &mut inbuf, o.pipeline)?
        };
        let us = started.elapsed().as_micros().min(u32::MAX as u128) as u32;
        result
            .latencies_us
            .extend(std::iter::repeat_n(us, o.pipeline));
        result.requests += o.pipeline as u64;
        result.keys += keys;
    }
    Ok(result)
}

fn load(o: &Opts, n: u64) -> std::io::Result<()> {
    let per = n.div_ceil(o.conns as u64);
    let threads: Vec<_> = (0..o.conns as u64)
        .map(|c| {
            let o = o.clone();
            std::thread::spawn(move || -> std::io::Result<u64> {
                let mut s = TcpStream::connect((o.host.as_str(), o.port))?;
                s.set_nodelay(true)?;
                let value = vec![b'v'; o.value_size];
                let (start, end) = (c * per, ((c + 1) * per).min(n));
                let mut out = Vec::new();
                let mut inbuf = Vec::new();
                let mut errors = 0;
                let mut i = start;
                while i < end {
                    out.clear();
                    let batch = (end - i).min(100);
                    for k in i..i + batch {
                        write!(out, "set {} 0 0 {}\r\n", key(k, o.key_size), value.len())?;
                        out.extend_from_slice(&value);
                        out.extend_from_slice(b"\r\n");
                    }
                    s.write_all(&out)?;
                    errors += read_replies(&mut s, &mut inbuf, batch as usize)?;
                    i += batch;
                }
                Ok(errors)
            })
        })
        .collect();
    let mut errors = 0;
    for t in threads {
        errors += t
            .join()
            .map_err(|_| std::io::Error::other("thread panicked"))??;
    }
    println!("loaded={n} errors={errors}");
    Ok(())
}

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("memcached_load: {e}");
            std::process::exit(2);
        }
    };
    if let Some(n) = o.load {
        if let Err(e) = load(&o, n) {
            eprintln!("memcached_load: {e}");
            std::process::exit(1);
        }
        return;
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(o.seconds);
    let threads: Vec<_> = (0..o.conns)
        .map(|c| {
            let o = o.clone();
            std::thread::spawn(move || run_connection(&o, 0x5eed + c as u64, deadline))
        })
        .collect();
    let mut total = Outcome {
        requests: 0,
        keys: 0,
        errors: 0,
        latencies_us: Vec::new(),
    };
    for t in threads {
        match t.join() {
            Ok(Ok(r)) => {
                total.requests += r.requests;
                total.keys += r.keys;
                total.errors += r.errors;
                total.latencies_us.extend(r.latencies_us);
            }
            Ok(Err(e)) => {
                eprintln!("memcached_load: connection failed: {e}");
                std::process::exit(1);
            }
            Err(_) => std::process::exit(1),
        }
    }
    let secs = started.elapsed().as_secs_f64();
    total.latencies_us.sort_unstable();
    let pct = |p: f64| {
        let v = &total.latencies_us;
        if v.is_empty() {
            0.0
        } else {
            v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0
        }
    };
    println!(
        "requests={} keys={} seconds={secs:.2} rps={:.0} p50_ms={:.3} p99_ms={:.3} errors={}",
        total.requests,
        total.keys,
        total.requests as f64 / secs,
        pct(0.50),
        pct(0.99),
        total.errors
    );
}
