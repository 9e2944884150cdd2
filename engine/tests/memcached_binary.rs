//! The memcached binary protocol over real sockets, on the same port as the text protocol: status codes, CAS,
//! quiet requests batched until a noop, counters with initial values, limits checked from the header, SASL
//! PLAIN, memcached's own conformance tool (`memccapable`, Debian's libmemcached-tools) in both modes, and
//! pylibmc in binary mode with and without SASL (`.ci/run` installs both).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use common::{read_to_close, Engine};

const GET: u8 = 0x00;
const SET: u8 = 0x01;
const ADD: u8 = 0x02;
const DELETE: u8 = 0x04;
const INCREMENT: u8 = 0x05;
const QUIT: u8 = 0x07;
const GETQ: u8 = 0x09;
const NOOP: u8 = 0x0a;
const VERSION: u8 = 0x0b;
const GETK: u8 = 0x0c;
const GETKQ: u8 = 0x0d;
const STAT: u8 = 0x10;
const SETQ: u8 = 0x11;
const TOUCH: u8 = 0x1c;
const GAT: u8 = 0x1d;

/// A request frame.
fn frame(opcode: u8, extras: &[u8], key: &[u8], value: &[u8], opaque: u32, cas: u64) -> Vec<u8> {
    let body = (extras.len() + key.len() + value.len()) as u32;
    let mut b = vec![0x80, opcode];
    b.extend_from_slice(&(key.len() as u16).to_be_bytes());
    b.push(extras.len() as u8);
    b.extend_from_slice(&[0, 0, 0]);
    b.extend_from_slice(&body.to_be_bytes());
    b.extend_from_slice(&opaque.to_be_bytes());
    b.extend_from_slice(&cas.to_be_bytes());
    b.extend_from_slice(extras);
    b.extend_from_slice(key);
    b.extend_from_slice(value);
    b
}

/// Extras of a storage request: client flags and expiration.
fn store_extras(flags: u32, exptime: u32) -> Vec<u8> {
    [flags.to_be_bytes(), exptime.to_be_bytes()].concat()
}

/// A response as read back.
#[derive(Debug, Clone, PartialEq)]
struct Response {
    opcode: u8,
    status: u16,
    opaque: u32,
    cas: u64,
    extras: Vec<u8>,
    key: Vec<u8>,
    value: Vec<u8>,
}

fn read_response(s: &mut TcpStream) -> Response {
    let mut h = [0u8; 24];
    s.read_exact(&mut h).expect("a response header");
    assert_eq!(h[0], 0x81, "response magic");
    let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let extras_len = usize::from(h[4]);
    let body_len = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let mut body = vec![0u8; body_len];
    s.read_exact(&mut body).expect("a response body");
    Response {
        opcode: h[1],
        status: u16::from_be_bytes([h[6], h[7]]),
        opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
        cas: u64::from_be_bytes(h[16..24].try_into().expect("8 bytes")),
        extras: body[..extras_len].to_vec(),
        key: body[extras_len..extras_len + key_len].to_vec(),
        value: body[extras_len + key_len..].to_vec(),
    }
}

fn call(s: &mut TcpStream, request: &[u8]) -> Response {
    s.write_all(request).expect("write");
    read_response(s)
}

fn connect(e: &Engine) -> TcpStream {
    let s = e.mc();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    s
}

#[test]
fn storage_retrieval_and_cas_answer_with_memcached_status_codes() {
    let e = Engine::start_memcached(&[], false);
    let mut s = connect(&e);
    let set = call(&mut s, &frame(SET, &store_extras(7, 0), b"k", b"v1", 11, 0));
    assert_eq!((set.opcode, set.status, set.opaque), (SET, 0, 11));
    assert_ne!(set.cas, 0, "a stored item has a CAS");
    let got = call(&mut s, &frame(GET, &[], b"k", b"", 12, 0));
    assert_eq!(
        (got.status, got.value.as_slice(), got.cas),
        (0, &b"v1"[..], set.cas)
    );
    assert_eq!(got.extras, 7u32.to_be_bytes(), "client flags");
    assert!(got.key.is_empty(), "GET does not echo the key");
    let getk = call(&mut s, &frame(GETK, &[], b"k", b"", 13, 0));
    assert_eq!(getk.key, b"k");
    // CAS: a stale one is refused, the current one replaces.
    let stale = call(
        &mut s,
        &frame(SET, &store_extras(0, 0), b"k", b"v2", 14, set.cas + 1),
    );
    assert_eq!(stale.status, 0x0002, "key exists");
    assert_eq!(stale.value, b"Data exists for key.");
    let swapped = call(
        &mut s,
        &frame(SET, &store_extras(0, 0), b"k", b"v2", 15, set.cas),
    );
    assert_eq!(swapped.status, 0);
    let missing = call(
        &mut s,
        &frame(SET, &store_extras(0, 0), b"nope", b"x", 16, 5),
    );
    assert_eq!(missing.status, 0x0001, "CAS on a missing key: not found");
    // add of an existing key, delete with a wrong CAS, then a real delete and a miss.
    assert_eq!(
        call(&mut s, &frame(ADD, &store_extras(0, 0), b"k", b"x", 17, 0)).status,
        0x0002
    );
    assert_eq!(
        call(&mut s, &frame(DELETE, &[], b"k", b"", 18, 1)).status,
        0x0002
    );
    assert_eq!(
        call(&mut s, &frame(DELETE, &[], b"k", b"", 19, 0)).status,
        0
    );
    let miss = call(&mut s, &frame(GET, &[], b"k", b"", 20, 0));
    assert_eq!(
        (miss.status, miss.value.as_slice()),
        (0x0001, &b"Not found"[..])
    );
    // The text protocol sees the same items.
    call(
        &mut s,
        &frame(SET, &store_extras(3, 0), b"shared", b"both", 21, 0),
    );
    let mut text = e.mc();
    text.write_all(b"get shared\r\n").expect("write");
    let mut reply = vec![0u8; 32];
    let n = text.read(&mut reply).expect("read");
    assert_eq!(&reply[..n], b"VALUE shared 3 4\r\nboth\r\nEND\r\n");
}

#[test]
fn quiet_requests_answer_only_what_matters_until_the_noop() {
    let e = Engine::start_memcached(&[], false);
    let mut s = connect(&e);
    let mut batch = Vec::new();
    for (i, key) in [b"a", b"b", b"c"].iter().enumerate() {
        batch.extend(frame(SETQ, &store_extras(0, 0), *key, b"x", i as u32, 0));
    }
    batch.extend(frame(GETKQ, &[], b"a", b"", 10, 0));
    batch.extend(frame(GETQ, &[], b"missing", b"", 11, 0));
    batch.extend(frame(GETKQ, &[], b"c", b"", 12, 0));
    batch.extend(frame(NOOP, &[], b"", b"", 13, 0));
    s.write_all(&batch).expect("write");
    // Stores succeed silently, the miss says nothing: two hits, then the noop.
    let replies: Vec<(u8, u32, Vec<u8>)> = (0..3)
        .map(|_| read_response(&mut s))
        .map(|r| (r.opcode, r.opaque, r.key))
        .collect();
    assert_eq!(
        replies,
        vec![
            (GETKQ, 10, b"a".to_vec()),
            (GETKQ, 12, b"c".to_vec()),
            (NOOP, 13, Vec::new())
        ]
    );
}

#[test]
fn counters_start_from_their_initial_value_and_refuse_non_numbers() {
    let e = Engine::start_memcached(&[], false);
    let mut s = connect(&e);
    let incr = |delta: u64, initial: u64, exptime: u32| {
        [delta.to_be_bytes(), initial.to_be_bytes()]
            .concat()
            .into_iter()
            .chain(exptime.to_be_bytes())
            .collect::<Vec<u8>>()
    };
    // 0xffffffff: do not create.
    let refused = call(
        &mut s,
        &frame(INCREMENT, &incr(1, 10, u32::MAX), b"n", b"", 1, 0),
    );
    assert_eq!(refused.status, 0x0001);
    let created = call(&mut s, &frame(INCREMENT, &incr(1, 10, 0), b"n", b"", 2, 0));
    assert_eq!(
        (created.status, created.value.as_slice()),
        (0, &10u64.to_be_bytes()[..])
    );
    let next = call(&mut s, &frame(INCREMENT, &incr(5, 10, 0), b"n", b"", 3, 0));
    assert_eq!(next.value, 15u64.to_be_bytes());
    call(
        &mut s,
        &frame(SET, &store_extras(0, 0), b"word", b"abc", 4, 0),
    );
    let word = call(
        &mut s,
        &frame(INCREMENT, &incr(1, 0, 0), b"word", b"", 5, 0),
    );
    assert_eq!(word.status, 0x0006, "non-numeric value");
}

#[test]
fn touch_gat_version_stat_and_unknown_opcodes() {
    let e = Engine::start_memcached(&[], false);
    let mut s = connect(&e);
    call(&mut s, &frame(SET, &store_extras(0, 0), b"t", b"v", 1, 0));
    assert_eq!(
        call(
            &mut s,
            &frame(TOUCH, &100u32.to_be_bytes(), b"t", b"", 2, 0)
        )
        .status,
        0
    );
    assert_eq!(
        call(
            &mut s,
            &frame(TOUCH, &100u32.to_be_bytes(), b"gone", b"", 3, 0)
        )
        .status,
        0x0001
    );
    let gat = call(&mut s, &frame(GAT, &100u32.to_be_bytes(), b"t", b"", 4, 0));
    assert_eq!((gat.status, gat.value.as_slice()), (0, &b"v"[..]));
    let version = call(&mut s, &frame(VERSION, &[], b"", b"", 5, 0));
    assert_eq!(version.value, b"1.6.18");
    // stat: one response per statistic, ended by one with an empty key.
    s.write_all(&frame(STAT, &[], b"", b"", 6, 0))
        .expect("write");
    let mut names = Vec::new();
    loop {
        let r = read_response(&mut s);
        if r.key.is_empty() {
            break;
        }
        names.push(String::from_utf8(r.key).expect("utf-8"));
    }
    assert!(names.iter().any(|n| n == "curr_items"), "{names:?}");
    // Every group of the text `stats`: here `conns` lists this very connection.
    s.write_all(&frame(STAT, &[], b"conns", b"", 10, 0))
        .expect("write");
    let mut conns = Vec::new();
    loop {
        let r = read_response(&mut s);
        if r.key.is_empty() {
            break;
        }
        conns.push((String::from_utf8(r.key).expect("utf-8"), r.value));
    }
    let local = s.local_addr().expect("address").to_string();
    assert!(
        conns
            .iter()
            .any(|(k, v)| k.ends_with(":addr") && *v == format!("tcp:{local}").into_bytes()),
        "{conns:?}"
    );
    let unknown_group = call(&mut s, &frame(STAT, &[], b"nosuch", b"", 11, 0));
    assert_eq!(unknown_group.status, 0x0001);
    let unknown = call(&mut s, &frame(0x60, &[], b"", b"", 7, 0));
    assert_eq!(
        (unknown.opcode, unknown.status, unknown.opaque),
        (0x60, 0x0081, 7)
    );
    // Wrong extras for the opcode: invalid arguments, the connection goes on.
    assert_eq!(
        call(&mut s, &frame(SET, &[], b"k", b"v", 8, 0)).status,
        0x0004
    );
    let quit = call(&mut s, &frame(QUIT, &[], b"", b"", 9, 0));
    assert_eq!(quit.status, 0);
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn a_header_claiming_four_gigabytes_is_refused_and_closed_without_allocating() {
    let e = Engine::start_memcached(&[], false);
    let mut s = connect(&e);
    let mut header = frame(GET, &[], b"k", b"", 1, 0);
    header[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
    s.write_all(&header[..24]).expect("write");
    let r = read_response(&mut s);
    assert_eq!(r.status, 0x0003, "too large");
    assert_eq!(read_to_close(&mut s), b"");
    // A storage request merely too large: refused, its body discarded, and the connection goes on.
    let mut s = connect(&e);
    let big = vec![b'x'; 2 * 1024 * 1024];
    let r = call(&mut s, &frame(SET, &store_extras(0, 0), b"big", &big, 2, 0));
    assert_eq!(r.status, 0x0003);
    assert_eq!(call(&mut s, &frame(NOOP, &[], b"", b"", 3, 0)).opaque, 3);
}

/// memcached's own conformance tool, both protocols: every check passes.
#[test]
fn memccapable_passes_in_ascii_and_binary_mode() {
    let e = Engine::start_memcached(&[], false);
    for mode in ["-a", "-b"] {
        let out = Command::new("memccapable")
            .args(["-h", "127.0.0.1", "-p", &e.memcached_port.to_string(), mode])
            .output()
            .expect("memccapable (Debian libmemcached-tools; .ci/run installs it)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("All tests passed") && !text.contains("[FAIL]"),
            "memccapable {mode}:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            text.matches("[pass]").count(),
            27,
            "memccapable {mode}:\n{text}"
        );
    }
}

#[test]
fn with_a_sasl_password_file_clients_log_in_with_plain_and_text_is_refused() {
    let dir = common::temp_dir("mc-sasl");
    let pwdb = dir.join("sasl.pwdb");
    std::fs::write(&pwdb, "reader:not-this-one\nshop:s3cret-token\n").expect("password file");
    let e = Engine::start_memcached(
        &["--memcached-sasl-pwdb", pwdb.to_str().expect("path")],
        false,
    );
    let mut s = connect(&e);
    let auth_error = 0x0020;
    // Before logging in: only SASL and version are answered.
    let denied = call(&mut s, &frame(GET, &[], b"k", b"", 1, 0));
    assert_eq!(
        (denied.status, denied.value.as_slice()),
        (auth_error, &b"Auth failure."[..])
    );
    assert_eq!(call(&mut s, &frame(VERSION, &[], b"", b"", 2, 0)).status, 0);
    let mechs = call(&mut s, &frame(0x20, &[], b"", b"", 3, 0));
    assert_eq!((mechs.status, mechs.value.as_slice()), (0, &b"PLAIN"[..]));
    let wrong = call(&mut s, &frame(0x21, &[], b"PLAIN", b"\0shop\0wrong", 4, 0));
    assert_eq!(wrong.status, auth_error);
    assert_eq!(
        call(&mut s, &frame(0x21, &[], b"CRAM-MD5", b"x", 5, 0)).status,
        auth_error
    );
    let ok = call(
        &mut s,
        &frame(0x21, &[], b"PLAIN", b"\0shop\0s3cret-token", 6, 0),
    );
    assert_eq!((ok.status, ok.value.as_slice()), (0, &b"Authenticated"[..]));
    assert_eq!(
        call(&mut s, &frame(SET, &store_extras(0, 0), b"k", b"v", 7, 0)).status,
        0
    );
    assert_eq!(call(&mut s, &frame(GET, &[], b"k", b"", 8, 0)).value, b"v");
    // Another connection starts unauthenticated.
    let mut other = connect(&e);
    assert_eq!(
        call(&mut other, &frame(GET, &[], b"k", b"", 9, 0)).status,
        auth_error
    );
    // The text protocol cannot authenticate: refused, and the connection closes.
    let mut text = e.mc();
    text.write_all(b"get k\r\n").expect("write");
    assert_eq!(
        read_to_close(&mut text),
        b"CLIENT_ERROR unauthenticated\r\n"
    );
}

/// pylibmc (libmemcached) in binary mode, the way Python applications use it: plain operations, multi-get and
/// multi-set, counters, gets/cas, touch, pickled values and compression, stats; then a SASL login against a
/// node that requires one. Runs the system Python, where Debian's python3-pylibmc lives (`.ci/run` installs it).
#[test]
fn pylibmc_in_binary_mode_works_with_and_without_sasl() {
    let script = r#"
import sys, pylibmc
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
login = {"username": user, "password": password} if user else {}
c = pylibmc.Client(["127.0.0.1:%d" % port], binary=True, behaviors={"cas": True}, **login)
assert c.set("k", "v1")
assert c.get("k") == "v1"
assert c.add("k", "x") is False
assert c.add("n", 10)
assert c.replace("k", "v2")
assert c.incr("n", 5) == 15
assert c.decr("n", 20) == 0
c.set_multi({"a": 1, "b": "two", "c": [1, 2]})
assert c.get_multi(["a", "b", "c", "missing"]) == {"a": 1, "b": "two", "c": [1, 2]}
value, cas = c.gets("k")
assert value == "v2"
assert c.cas("k", "v3", cas)
assert not c.cas("k", "v4", cas)
assert c.touch("k", 100)
big = "x" * 100000
assert c.set("big", big, min_compress_len=1000)
assert c.get("big") == big
assert c.delete("k")
assert c.get("k") is None
stats = c.get_stats()
assert int(stats[0][1]["curr_items"]) >= 4, stats
if user:
    intruder = pylibmc.Client(["127.0.0.1:%d" % port], binary=True, username=user, password="wrong")
    try:
        intruder.get("a")
        raise SystemExit("a wrong password was let in")
    except pylibmc.Error:
        pass
print("ok")
"#;
    let dir = common::temp_dir("pylibmc");
    let pwdb = dir.join("sasl.pwdb");
    std::fs::write(&pwdb, "app:app-s3cret\n").expect("password file");
    let plain = Engine::start_memcached(&[], false);
    let sasl = Engine::start_memcached(
        &["--memcached-sasl-pwdb", pwdb.to_str().expect("path")],
        false,
    );
    for (engine, user, password) in [(&plain, "", ""), (&sasl, "app", "app-s3cret")] {
        let out = Command::new("/usr/bin/python3")
            .args([
                "-c",
                script,
                &engine.memcached_port.to_string(),
                user,
                password,
            ])
            .output()
            .expect("the system python3");
        assert!(
            out.status.success() && out.stdout == b"ok\n",
            "pylibmc (Debian python3-pylibmc; .ci/run installs it), login {user:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// memjs, the usual Node.js memcached client (binary protocol only), with and without a SASL login
/// (`memcached_clients/memjs_client.js`; `.ci/run` installs memjs with `npm ci` there).
#[test]
fn memjs_works_with_and_without_sasl() {
    let dir = common::temp_dir("memjs");
    let pwdb = dir.join("sasl.pwdb");
    std::fs::write(&pwdb, "web:web-s3cret\n").expect("password file");
    let plain = Engine::start_memcached(&[], false);
    let sasl = Engine::start_memcached(
        &["--memcached-sasl-pwdb", pwdb.to_str().expect("path")],
        false,
    );
    let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/memcached_clients");
    for (engine, login) in [(&plain, vec![]), (&sasl, vec!["web", "web-s3cret"])] {
        let out = Command::new("node")
            .current_dir(clients)
            .arg("memjs_client.js")
            .arg(engine.memcached_port.to_string())
            .args(&login)
            .output()
            .expect("node (Node.js) must be installed");
        assert!(
            out.status.success() && out.stdout == b"ok\n",
            "memjs (npm ci in engine/tests/memcached_clients; .ci/run does it), login {login:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
