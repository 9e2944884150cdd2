//! The Memcached protocol over real sockets: every text command with its exact replies and error cases,
//! noreply, CAS conflicts, expiry rules, the item size limit, pipelining, meta commands, `stats`,
//! `config get cluster`, the keyspace shared with the Redis protocol, and a stock client library (pymemcache).

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use common::{
    info_field, memcached_stat, memcached_stats, read_n, read_to_close, read_until, roundtrip, run,
    temp_dir, Engine,
};

/// Sends `request` and asserts the reply is exactly `expected`. End requests with `mn` (reply `MN`) to prove
/// nothing else was sent.
fn ask(s: &mut TcpStream, request: &[u8], expected: &[u8]) {
    let got = roundtrip(s, request, expected.len());
    assert_eq!(
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(expected),
        "reply to {:?}",
        String::from_utf8_lossy(&request[..request.len().min(200)])
    );
}

/// The CAS unique `gets` returns for a key.
fn cas_of(s: &mut TcpStream, key: &str) -> u64 {
    s.write_all(format!("gets {key}\r\n").as_bytes())
        .expect("write");
    let text = String::from_utf8(read_until(s, b"END\r\n")).expect("utf-8");
    let header = text.lines().next().expect("a VALUE line");
    header
        .split(' ')
        .nth(4)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no cas in {text:?}"))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

#[test]
fn storage_commands_reply_like_memcached() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(&mut s, b"set a 5 0 3\r\nabc\r\n", b"STORED\r\n");
    ask(&mut s, b"get a\r\n", b"VALUE a 5 3\r\nabc\r\nEND\r\n");
    ask(&mut s, b"add a 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    ask(&mut s, b"add b 7 0 2\r\nbb\r\n", b"STORED\r\n");
    ask(&mut s, b"replace nothere 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    ask(&mut s, b"replace b 8 0 3\r\nBBB\r\n", b"STORED\r\n");
    ask(&mut s, b"append a 9 9 2\r\nde\r\n", b"STORED\r\n");
    ask(&mut s, b"prepend a 0 0 1\r\n_\r\n", b"STORED\r\n");
    ask(&mut s, b"append nothere 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    ask(&mut s, b"prepend nothere 0 0 1\r\nx\r\n", b"NOT_STORED\r\n");
    // Append and prepend keep the item's flags.
    ask(
        &mut s,
        b"get a b nothere a\r\n",
        b"VALUE a 5 6\r\n_abcde\r\nVALUE b 8 3\r\nBBB\r\nVALUE a 5 6\r\n_abcde\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"set empty 0 0 0\r\n\r\nget empty\r\n",
        b"STORED\r\nVALUE empty 0 0\r\n\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"set f 4294967295 0 1\r\nx\r\nget f\r\n",
        b"STORED\r\nVALUE f 4294967295 1\r\nx\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"delete a\r\ndelete a\r\ndelete b 0\r\n",
        b"DELETED\r\nNOT_FOUND\r\nDELETED\r\n",
    );
    ask(&mut s, b"get a\r\n", b"END\r\n");
    ask(
        &mut s,
        b"touch f 100\r\ntouch nothere 100\r\n",
        b"TOUCHED\r\nNOT_FOUND\r\n",
    );
    ask(&mut s, b"version\r\n", b"VERSION 1.6.18\r\n");
    ask(
        &mut s,
        b"verbosity 1\r\nverbosity 1 noreply\r\nmn\r\n",
        b"OK\r\nMN\r\n",
    );
    // Bare \n line endings are accepted too.
    ask(
        &mut s,
        b"set n 0 0 1\nx\r\nget n\n",
        b"STORED\r\nVALUE n 0 1\r\nx\r\nEND\r\n",
    );
    ask(&mut s, b"flush_all\r\nget f n\r\n", b"OK\r\nEND\r\n");
    s.write_all(b"quit\r\n").expect("write");
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn errors_are_exact_and_keep_the_stream_in_sync() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"bogus\r\n\r\nGET a\r\nget\r\n",
        b"ERROR\r\nERROR\r\nERROR\r\nERROR\r\n",
    );
    ask(
        &mut s,
        b"set a 0 0\r\nset a 0 0 1 x y\r\n",
        b"ERROR\r\nERROR\r\n",
    );
    // A malformed storage line consumes only the line: its data is then read as a command.
    ask(
        &mut s,
        b"set a x 0 1\r\nx\r\n",
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    ask(
        &mut s,
        b"set a 0 0 -1\r\n",
        b"CLIENT_ERROR bad command line format\r\n",
    );
    ask(
        &mut s,
        b"set a 4294967296 0 1\r\nx\r\n",
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    // A data block of the wrong length consumes the announced length plus two bytes.
    ask(
        &mut s,
        b"set a 0 0 1\r\nxyz\r\nget a\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nEND\r\n",
    );
    let long_key = "k".repeat(251);
    ask(
        &mut s,
        format!("set {long_key} 0 0 1\r\nx\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    ask(
        &mut s,
        format!("get {long_key}\r\n").as_bytes(),
        b"CLIENT_ERROR bad command line format\r\n",
    );
    let max_key = "k".repeat(250);
    ask(
        &mut s,
        format!("set {max_key} 0 0 1\r\nx\r\n").as_bytes(),
        b"STORED\r\n",
    );
    ask(
        &mut s,
        b"set bad\x01key 0 0 1\r\nx\r\n",
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    ask(&mut s, b"incr a x\r\nincr a -1\r\n", b"CLIENT_ERROR invalid numeric delta argument\r\nCLIENT_ERROR invalid numeric delta argument\r\n");
    ask(
        &mut s,
        b"touch a x\r\ntouch a\r\n",
        b"CLIENT_ERROR invalid exptime argument\r\nERROR\r\n",
    );
    ask(
        &mut s,
        b"delete a 5\r\n",
        b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n",
    );
    ask(&mut s, b"flush_all x\r\nverbosity\r\nverbosity x\r\n", b"CLIENT_ERROR invalid exptime argument\r\nERROR\r\nCLIENT_ERROR bad command line format\r\n");
    ask(&mut s, b"cas a 0 0 1\r\nx\r\n", b"ERROR\r\nERROR\r\n");
    ask(
        &mut s,
        b"cas a 0 0 1 abc\r\nx\r\n",
        b"CLIENT_ERROR bad command line format\r\nERROR\r\n",
    );
    ask(
        &mut s,
        b"stats nonsense\r\nconfig set x\r\n",
        b"ERROR\r\nERROR\r\n",
    );
    ask(
        &mut s,
        b"gat\r\ngat x a\r\ngat 10\r\n",
        b"ERROR\r\nCLIENT_ERROR invalid exptime argument\r\nEND\r\n",
    );
    ask(&mut s, b"mn\r\n", b"MN\r\n");
}

#[test]
fn endless_lines_and_strangers_close_the_connection() {
    // (The binary protocol is served on the same port: tests/memcached_binary.rs.)
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    s.write_all(&vec![b'x'; 3000]).expect("write");
    assert_eq!(read_to_close(&mut s), b"CLIENT_ERROR line too long\r\n");
    // Strangers are not kept connected: an HTTP request is closed silently (as memcached does), a TLS
    // ClientHello on the plain port after an error.
    let mut s = e.mc();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    assert_eq!(read_to_close(&mut s), b"");
    let mut s = e.mc();
    s.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        .expect("write");
    assert_eq!(read_to_close(&mut s), b"ERROR\r\n");
    // The server is still fine.
    ask(&mut e.mc(), b"version\r\n", b"VERSION 1.6.18\r\n");
}

#[test]
fn impossible_lengths_and_slabs_commands_answer_as_memcached_and_keep_the_stream() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    // A length whose "\r\n" overflows memcached's 32-bit counter is malformed; nothing is swallowed.
    ask(
        &mut s,
        b"set k 0 0 2147483647\r\nset k 0 0 2147483646\r\nmn\r\n",
        b"CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad command line format\r\nMN\r\n",
    );
    // There are no slab classes to move pages between; automove settings are accepted.
    ask(
        &mut s,
        b"slabs automove 1\r\nslabs automove 9\r\nslabs automove x\r\nslabs automove ratio 0.8\r\n\
          slabs reassign 1 2\r\nslabs reassign a b\r\nslabs automove 0 noreply\r\nslabs\r\nmn\r\n",
        b"OK\r\nERROR\r\nCLIENT_ERROR bad command line format\r\nOK\r\n\
          BADCLASS invalid src or dst class id\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n",
    );
}

#[test]
fn noreply_suppresses_every_reply() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"set a 0 0 1 noreply\r\n1\r\nadd a 0 0 1 noreply\r\nx\r\nreplace a 0 0 1 noreply\r\n2\r\n\
          append a 0 0 1 noreply\r\n0\r\nprepend a 0 0 1 noreply\r\n1\r\nincr a 5 noreply\r\n\
          decr a 1 noreply\r\ntouch a 100 noreply\r\nset b 0 0 1 noreply\r\nx\r\ndelete b noreply\r\n\
          delete b 0 noreply\r\nset c 0 0 1 noreply\r\nxyz\r\nmn\r\n",
        // The bad data chunk answers nothing; its last two bytes ("z\r") and "\n" are then read as commands.
        b"ERROR\r\nMN\r\n",
    );
    ask(&mut s, b"get a b\r\n", b"VALUE a 0 3\r\n124\r\nEND\r\n");
    // A legacy hold time other than 0 is a usage error, which noreply silences too (as memcached does): the
    // replies stay in step.
    ask(
        &mut s,
        b"set d 0 0 1 noreply\r\nx\r\ndelete d 5 noreply\r\nget d\r\n",
        b"VALUE d 0 1\r\nx\r\nEND\r\n",
    );
    let cas = cas_of(&mut s, "a");
    ask(
        &mut s,
        format!("cas a 0 0 1 {cas} noreply\r\nz\r\nflush_all noreply\r\nget a\r\n").as_bytes(),
        b"END\r\n",
    );
}

#[test]
fn cas_uniques_differ_across_keys() {
    // Every key's CAS unique is its own: a `gets`/`cas` pair on one key can never match another key's value.
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let keys: Vec<String> = (0..64).map(|i| format!("key{i}")).collect();
    let mut sets = Vec::new();
    for k in &keys {
        sets.extend_from_slice(format!("set {k} 0 0 1 noreply\r\nx\r\n").as_bytes());
    }
    sets.extend_from_slice(b"mn\r\n");
    ask(&mut s, &sets, b"MN\r\n");
    let cas: std::collections::BTreeSet<u64> = keys.iter().map(|k| cas_of(&mut s, k)).collect();
    assert_eq!(cas.len(), keys.len(), "distinct CAS uniques: {cas:?}");
}

#[test]
fn cas_detects_every_intervening_write() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let mut other = e.mc();
    ask(&mut s, b"cas nothere 0 0 1 1\r\nx\r\n", b"NOT_FOUND\r\n");
    ask(&mut s, b"set k 3 0 2\r\nv1\r\n", b"STORED\r\n");
    let first = cas_of(&mut s, "k");
    assert_eq!(cas_of(&mut s, "k"), first, "reads leave the CAS alone");
    ask(&mut other, b"set k 3 0 2\r\nv2\r\n", b"STORED\r\n");
    ask(
        &mut s,
        format!("cas k 0 0 2 {first}\r\nv3\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    let second = cas_of(&mut s, "k");
    assert_ne!(second, first);
    ask(
        &mut s,
        format!("cas k 9 0 2 {second}\r\nv3\r\n").as_bytes(),
        b"STORED\r\n",
    );
    ask(
        &mut s,
        format!("cas k 9 0 2 {second}\r\nv4\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    ask(
        &mut s,
        b"gets nothere\r\nget k\r\n",
        b"END\r\nVALUE k 9 2\r\nv3\r\nEND\r\n",
    );
    // Every kind of modification changes the CAS unique; touch does not.
    for change in [
        &b"append k 0 0 1\r\nx\r\n"[..],
        b"prepend k 0 0 1\r\nx\r\n",
        b"set k 0 0 1\r\n5\r\n",
        b"incr k 1\r\n",
        b"decr k 1\r\n",
    ] {
        let before = cas_of(&mut s, "k");
        s.write_all(change).expect("write");
        read_until(&mut s, b"\r\n");
        assert_ne!(
            cas_of(&mut s, "k"),
            before,
            "{}",
            String::from_utf8_lossy(change)
        );
    }
    let before = cas_of(&mut s, "k");
    ask(&mut s, b"touch k 100\r\n", b"TOUCHED\r\n");
    assert_eq!(cas_of(&mut s, "k"), before);
    // A write through the Redis protocol invalidates a CAS taken before it.
    let mut redis = e.conn();
    run(&mut redis, "SET", &["k", "from-redis"]).expect("SET");
    ask(
        &mut s,
        format!("cas k 0 0 1 {before}\r\nx\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    let after_redis = cas_of(&mut s, "k");
    run(&mut redis, "APPEND", &["k", "!"]).expect("APPEND");
    ask(
        &mut s,
        format!("cas k 0 0 1 {after_redis}\r\nx\r\n").as_bytes(),
        b"EXISTS\r\n",
    );
    let now = cas_of(&mut s, "k");
    ask(
        &mut s,
        format!("cas k 0 0 1 {now}\r\nx\r\n").as_bytes(),
        b"STORED\r\n",
    );
    let c = memcached_stats(&mut s, "");
    assert_eq!(
        (
            c["cas_misses"].as_str(),
            c["cas_hits"].as_str(),
            c["cas_badval"].as_str()
        ),
        ("1", "2", "4")
    );
}

#[test]
fn incr_and_decr_wrap_at_two_to_the_64_and_stop_at_zero() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"incr nothere 1\r\ndecr nothere 1\r\n",
        b"NOT_FOUND\r\nNOT_FOUND\r\n",
    );
    ask(
        &mut s,
        b"set n 5 0 2\r\n10\r\nincr n 5\r\ndecr n 100\r\n",
        b"STORED\r\n15\r\n0\r\n",
    );
    ask(
        &mut s,
        b"incr n 18446744073709551615\r\nincr n 2\r\nget n\r\n",
        b"18446744073709551615\r\n1\r\nVALUE n 5 1\r\n1\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"incr n 18446744073709551616\r\n",
        b"CLIENT_ERROR invalid numeric delta argument\r\n",
    );
    ask(
        &mut s,
        b"set n 0 0 3\r\n100\r\ndecr n 1\r\nget n\r\n",
        b"STORED\r\n99\r\nVALUE n 0 2\r\n99\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"set sp 0 0 2\r\n 5\r\nincr sp 00012\r\n",
        b"STORED\r\n17\r\n",
    );
    ask(
        &mut s,
        b"set s 0 0 3\r\nabc\r\nincr s 1\r\nset big 0 0 21\r\n123456789012345678901\r\ndecr big 1\r\n",
        b"STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n\
          STORED\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n",
    );
    let c = memcached_stats(&mut s, "");
    assert_eq!(
        (c["incr_misses"].as_str(), c["decr_misses"].as_str()),
        ("1", "1")
    );
}

#[test]
fn exptime_is_relative_up_to_thirty_days_then_absolute_and_negative_expires() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let now = unix_now();
    ask(
        &mut s,
        b"set neg 0 -1 1\r\nx\r\nget neg\r\n",
        b"STORED\r\nEND\r\n",
    );
    ask(
        &mut s,
        format!("set past 0 {} 1\r\nx\r\nget past\r\n", now - 10).as_bytes(),
        b"STORED\r\nEND\r\n",
    );
    // 30 days and one second is no longer relative: it is a date in 1970, long past.
    ask(
        &mut s,
        b"set month 0 2592001 1\r\nx\r\nget month\r\n",
        b"STORED\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"set rel 0 2592000 1\r\nx\r\nmg rel t\r\n",
        b"STORED\r\nHD t2592000\r\n",
    );
    s.write_all(format!("set abs 0 {} 1\r\nx\r\nmg abs t\r\n", now + 100).as_bytes())
        .expect("write");
    let reply = String::from_utf8(
        read_until(&mut s, b"\r\nHD t")
            .into_iter()
            .chain(read_until(&mut s, b"\r\n"))
            .collect(),
    )
    .expect("utf-8");
    let ttl: u64 = reply
        .trim_end()
        .rsplit('t')
        .next()
        .and_then(|t| t.parse().ok())
        .expect("ttl");
    assert!((98..=101).contains(&ttl), "{reply:?}");
    ask(
        &mut s,
        b"set short 0 1 1\r\nx\r\nset keep 0 0 1\r\ny\r\n",
        b"STORED\r\nSTORED\r\n",
    );
    ask(
        &mut s,
        b"touch keep 1\r\ngat 100 short\r\n",
        b"TOUCHED\r\nVALUE short 0 1\r\nx\r\nEND\r\n",
    );
    std::thread::sleep(Duration::from_millis(2100));
    // `short` lived on thanks to gat; `keep` expired after its touch.
    ask(
        &mut s,
        b"get short keep\r\n",
        b"VALUE short 0 1\r\nx\r\nEND\r\n",
    );
    ask(
        &mut s,
        b"touch short -1\r\nget short\r\n",
        b"TOUCHED\r\nEND\r\n",
    );
}

#[test]
fn items_around_the_size_limit_are_stored_or_refused_without_losing_sync() {
    let e = Engine::start_memcached(&["--max-item-size", "1mb"], false);
    let mut s = e.mc();
    let limit = 1 << 20;
    // Key "big" plus value may be at most 1 MiB.
    let fits = vec![b'v'; limit - 3];
    let mut request = format!("set big 1 0 {}\r\n", fits.len()).into_bytes();
    request.extend_from_slice(&fits);
    request.extend_from_slice(b"\r\nmg big s\r\n");
    ask(&mut s, &request, b"STORED\r\nHD s1048573\r\n");
    // One byte more is refused, its data swallowed, and the old value removed (as memcached does).
    let over = vec![b'w'; limit - 2];
    let mut request = format!("set big 0 0 {}\r\n", over.len()).into_bytes();
    request.extend_from_slice(&over);
    request.extend_from_slice(b"\r\nget big\r\n");
    ask(
        &mut s,
        &request,
        b"SERVER_ERROR object too large for cache\r\nEND\r\n",
    );
    // A far larger value, sent in pieces, is swallowed as it arrives.
    let header = b"set huge 0 0 8000000\r\n";
    s.write_all(header).expect("write");
    assert_eq!(
        read_n(&mut s, 41),
        b"SERVER_ERROR object too large for cache\r\n"
    );
    let chunk = vec![b'z'; 1 << 20];
    for _ in 0..7 {
        s.write_all(&chunk).expect("write");
    }
    s.write_all(&vec![b'z'; 8_000_000 - 7 * (1 << 20)])
        .expect("write");
    ask(&mut s, b"\r\nmn\r\n", b"MN\r\n");
    ask(&mut s, format!("ms huge {}\r\n", limit).as_bytes(), b"");
    s.write_all(&vec![b'q'; limit]).expect("write");
    ask(
        &mut s,
        b"\r\nmn\r\n",
        b"SERVER_ERROR object too large for cache\r\nMN\r\n",
    );
    // Appending past the limit is refused too.
    let mut request = format!("set big 0 0 {}\r\n", fits.len()).into_bytes();
    request.extend_from_slice(&fits);
    request.extend_from_slice(b"\r\nappend big 0 0 1\r\nx\r\n");
    ask(
        &mut s,
        &request,
        b"STORED\r\nSERVER_ERROR object too large for cache\r\n",
    );
    assert_eq!(memcached_stat(&mut s, "store_too_large"), 4);
}

#[test]
fn pipelined_requests_and_a_hundred_key_multiget_are_answered_in_order() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let mut sets = Vec::new();
    let mut stored = Vec::new();
    for i in 0..100 {
        sets.extend_from_slice(
            format!(
                "set key:{i} {i} 0 {}\r\nvalue-{i}\r\n",
                6 + i.to_string().len()
            )
            .as_bytes(),
        );
        stored.extend_from_slice(b"STORED\r\n");
    }
    ask(&mut s, &sets, &stored);
    let keys: Vec<String> = (0..100).map(|i| format!("key:{i}")).collect();
    let mut expected = Vec::new();
    for i in 0..100 {
        expected.extend_from_slice(
            format!(
                "VALUE key:{i} {i} {}\r\nvalue-{i}\r\n",
                6 + i.to_string().len()
            )
            .as_bytes(),
        );
    }
    expected.extend_from_slice(b"END\r\n");
    ask(
        &mut s,
        format!("get {}\r\n", keys.join(" ")).as_bytes(),
        &expected,
    );
    let mut gets = Vec::new();
    let mut replies = Vec::new();
    for i in (0..100).rev() {
        gets.extend_from_slice(format!("get key:{i}\r\n").as_bytes());
        replies.extend_from_slice(
            format!(
                "VALUE key:{i} {i} {}\r\nvalue-{i}\r\nEND\r\n",
                6 + i.to_string().len()
            )
            .as_bytes(),
        );
    }
    ask(&mut s, &gets, &replies);
    let c = memcached_stats(&mut s, "");
    assert_eq!(
        (c["get_hits"].as_str(), c["cmd_get"].as_str()),
        ("200", "200")
    );
    assert_eq!(c["curr_items"], "100");
}

#[test]
fn meta_get_returns_the_flags_asked_for_in_order() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(&mut s, b"set m 5 0 3\r\nabc\r\n", b"STORED\r\n");
    let cas = cas_of(&mut s, "m");
    ask(
        &mut s,
        b"mg m v f s t k O123 h l q\r\n",
        b"VA 3 f5 s3 t-1 km O123 h1 l0\r\nabc\r\n",
    );
    ask(
        &mut s,
        b"mg m c\r\nmg m\r\n",
        format!("HD c{cas}\r\nHD\r\n").as_bytes(),
    );
    ask(
        &mut s,
        b"mg miss v\r\nmg miss v q\r\nmg miss k q\r\nmn\r\n",
        b"EN\r\nMN\r\n",
    );
    // Flags act in order: `t` before `T` reports the TTL before the change, `T` before `t` the new one.
    ask(
        &mut s,
        b"mg m t T30\r\nmg m t\r\nmg m T60 t\r\n",
        b"HD t-1\r\nHD t30\r\nHD t60\r\n",
    );
    // `u` leaves the fetched bit alone: a read with it does not count as a fetch.
    ask(
        &mut s,
        b"set u 0 0 1\r\nx\r\nmg u s t u h\r\nmg u s t h\r\nmg u h\r\n",
        b"STORED\r\nHD s1 t-1 h0\r\nHD s1 t-1 h0\r\nHD h1\r\n",
    );
    ask(&mut s, b"mg m x\r\nmg m v v\r\nmg m T\r\nmg\r\n", b"CLIENT_ERROR invalid flag\r\nCLIENT_ERROR duplicate flag\r\nCLIENT_ERROR bad token in command line format\r\nERROR\r\n");
    ask(
        &mut s,
        format!("mg m O{}\r\n", "o".repeat(33)).as_bytes(),
        b"CLIENT_ERROR opaque token too long\r\n",
    );
    // Base64 keys: "bQ==" is "m".
    ask(
        &mut s,
        b"mg bQ== b v k\r\nmg !! b\r\n",
        b"VA 3 kbQ== b\r\nabc\r\nCLIENT_ERROR error decoding key\r\n",
    );
    // Vivify on miss: an empty item, and the win token to the first reader only.
    ask(
        &mut s,
        b"mg viv N30 v t\r\nmg viv N30 v t\r\n",
        b"VA 0 t30 W\r\n\r\nVA 0 t30 Z\r\n\r\n",
    );
    // Recache: a win token once the TTL left falls under the threshold.
    ask(
        &mut s,
        b"ms r 1 T10\r\nx\r\nmg r R5\r\nmg r R20\r\nmg r R20\r\n",
        b"HD\r\nHD\r\nHD W\r\nHD Z\r\n",
    );
}

#[test]
fn a_stale_write_keeps_the_expiry_and_the_token_already_handed_out() {
    // Serve-stale: md I marks the item stale, the first mg wins the token to recompute it; a write with I and
    // an older CAS stores, but the item stays stale with its expiry, and nobody wins the token again.
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"ms sk 2 T100\r\nab\r\nmd sk I T30\r\n",
        b"HD\r\nHD\r\n",
    );
    s.write_all(b"mg sk c t v\r\n").expect("write");
    let reply = String::from_utf8(read_until(&mut s, b"ab\r\n")).expect("utf-8");
    let ttl = |reply: &str| -> u64 {
        reply
            .split([' ', '\r'])
            .find_map(|f| f.strip_prefix('t')?.parse().ok())
            .expect("a TTL")
    };
    assert!(
        reply.contains(" X W\r\n") && (29..=30).contains(&ttl(&reply)),
        "{reply}"
    );
    let cas: u64 = reply
        .split(' ')
        .find_map(|f| f.strip_prefix('c')?.parse().ok())
        .expect("a CAS");
    s.write_all(format!("ms sk 2 I T90 C{}\r\nxy\r\nmg sk t v\r\n", cas - 1).as_bytes())
        .expect("write");
    let reply = String::from_utf8(read_until(&mut s, b"xy\r\n")).expect("utf-8");
    assert!(
        reply.starts_with("HD\r\nVA 2 t") && reply.ends_with(" Z X\r\nxy\r\n"),
        "{reply}"
    );
    assert!(
        (29..=30).contains(&ttl(&reply)),
        "the stale item keeps its expiry: {reply}"
    );
}

#[test]
fn meta_set_delete_and_arithmetic_follow_their_modes_and_flags() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"ms a 3 T0 F7\r\nxyz\r\nmg a v f\r\n",
        b"HD\r\nVA 3 f7\r\nxyz\r\n",
    );
    ask(
        &mut s,
        b"ms a 2 q F7\r\nab\r\nms a 2 ME\r\nab\r\nms nope 2 MR\r\nab\r\n",
        b"NS\r\nNS\r\n",
    );
    // A store that did not happen still answers a requested `c`, with 0 (memcached 1.6.18's replies); `md`
    // accepts `c` and answers nothing for it.
    ask(
        &mut s,
        b"ms a 2 c ME k\r\nab\r\nms nope 2 c C5 k O8\r\nab\r\nms a 2 c C18446744073709551615 k\r\nab\r\nmd nope c k\r\n",
        b"NS c0 ka\r\nNF c0 knope O8\r\nEX c0 ka\r\nNF knope\r\n",
    );
    ask(
        &mut s,
        b"ms a 2 MA k O9\r\ncd\r\nms a 1 MP\r\n_\r\nmg a v f\r\n",
        b"HD ka O9\r\nHD\r\nVA 5 f7\r\n_abcd\r\n",
    );
    ask(&mut s, b"ms a 2 MX\r\nab\r\nms a\r\nab\r\n", b"CLIENT_ERROR invalid mode for ms M token\r\nCLIENT_ERROR bad command line format\r\nERROR\r\n");
    ask(
        &mut s,
        b"ms c 1 E555 c\r\nx\r\nmg c c\r\n",
        b"HD c555\r\nHD c555\r\n",
    );
    ask(
        &mut s,
        b"ms c 1 C554\r\ny\r\nms c 1 C555\r\ny\r\nms nope 1 C1\r\ny\r\n",
        b"EX\r\nHD\r\nNF\r\n",
    );
    ask(
        &mut s,
        b"ms x 2\r\nabc\r\nmn\r\n",
        b"CLIENT_ERROR bad data chunk\r\nERROR\r\nMN\r\n",
    );
    // md: quiet hides success only; C compares; I marks stale.
    ask(
        &mut s,
        b"md nope\r\nmd nope q\r\nmd c q\r\nmg c\r\nmn\r\n",
        b"NF\r\nNF\r\nEN\r\nMN\r\n",
    );
    ask(
        &mut s,
        b"ms d 1\r\nx\r\nmd d C999999\r\nmd d k O1\r\n",
        b"HD\r\nEX\r\nHD kd O1\r\n",
    );
    ask(
        &mut s,
        b"ms st 1\r\nx\r\nmd st I T30\r\nmg st v t\r\nmg st v\r\n",
        b"HD\r\nHD\r\nVA 1 t30 X W\r\nx\r\nVA 1 Z X\r\nx\r\n",
    );
    // A new value clears the stale mark.
    ask(
        &mut s,
        b"ms st 1\r\ny\r\nmg st v\r\n",
        b"HD\r\nVA 1\r\ny\r\n",
    );
    ask(
        &mut s,
        b"ms xv 2 F3\r\nab\r\nmd xv x\r\nmg xv v f\r\n",
        b"HD\r\nHD\r\nVA 0 f0\r\n\r\n",
    );
    // ma: modes, delta, vivify with an initial value, quiet mode hiding success.
    ask(
        &mut s,
        b"ma n\r\nma n N0 J13 v\r\nma n v D5\r\nma n MD D100 v t\r\n",
        b"NF\r\nVA 2\r\n13\r\nVA 2\r\n18\r\nVA 1 t-1\r\n0\r\n",
    );
    ask(
        &mut s,
        b"ma n q\r\nma n q v\r\nma n M+ D3 v\r\nma n M- v\r\n",
        b"VA 1\r\n5\r\nVA 1\r\n4\r\n",
    );
    ask(&mut s, b"ma a\r\nma n MX\r\nma n Dx\r\n", b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\nCLIENT_ERROR invalid mode for ma M token\r\nCLIENT_ERROR bad token in command line format\r\n");
    ask(
        &mut s,
        b"mn\r\nmn extra\r\nme\r\nme nope\r\n",
        b"MN\r\nMN\r\nCLIENT_ERROR bad command line format\r\nEN\r\n",
    );
    s.write_all(b"me n\r\n").expect("write");
    let me = String::from_utf8(read_until(&mut s, b"\r\n")).expect("utf-8");
    assert!(
        me.starts_with("ME n exp=-1 la=0 cas=") && me.contains(" fetch=no cls=1 size="),
        "{me}"
    );
}

#[test]
fn config_get_cluster_serves_the_operator_file_for_auto_discovery() {
    let dir = temp_dir("mc-cluster");
    let file = dir.join("cluster");
    std::fs::write(
        &file,
        "7\nnode-0.cache|10.0.0.1|11211\nnode-1.cache|10.0.0.2|11211\n",
    )
    .expect("write");
    let e = Engine::start_memcached(&["--cluster-config", file.to_str().expect("path")], false);
    let mut s = e.mc();
    let body = "7\nnode-0.cache|10.0.0.1|11211 node-1.cache|10.0.0.2|11211\n";
    ask(
        &mut s,
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).as_bytes(),
    );
    // The operator rewrites the file: the next request sees it.
    std::fs::write(&file, "8 node-0.cache|10.0.0.1|11211").expect("write");
    let body = "8\nnode-0.cache|10.0.0.1|11211\n";
    ask(
        &mut s,
        b"config get cluster\r\n",
        format!("CONFIG cluster 0 {}\r\n{body}\r\nEND\r\n", body.len()).as_bytes(),
    );
    std::fs::write(&file, "garbage").expect("write");
    ask(
        &mut s,
        b"config get cluster\r\n",
        b"SERVER_ERROR cluster configuration unavailable\r\n",
    );
    let plain = Engine::start_memcached(&[], false);
    ask(&mut plain.mc(), b"config get cluster\r\n", b"ERROR\r\n");
}

#[test]
fn stats_report_memcached_fields_and_reset() {
    let e = Engine::start_memcached(&["--maxmemory", "64mb"], false);
    let mut s = e.mc();
    ask(
        &mut s,
        b"set a 0 0 1\r\nx\r\nget a nothere\r\ndelete nothere\r\n",
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nNOT_FOUND\r\n",
    );
    let c = memcached_stats(&mut s, "");
    for field in [
        "pid",
        "uptime",
        "time",
        "version",
        "curr_connections",
        "total_connections",
        "cmd_get",
        "cmd_set",
        "get_hits",
        "get_misses",
        "curr_items",
        "total_items",
        "bytes",
        "evictions",
        "threads",
        "limit_maxbytes",
        "ecpu_total",
        "ecpu_memcached",
        "reclaimed",
    ] {
        assert!(c.contains_key(field), "missing {field}: {c:?}");
    }
    assert_eq!(c["version"], "1.6.18");
    assert_eq!(c["pid"], e_pid_of(&e));
    let get = |k: &str| c[k].as_str();
    assert_eq!(
        (
            get("cmd_get"),
            get("cmd_set"),
            get("get_hits"),
            get("get_misses"),
            get("delete_misses")
        ),
        ("2", "1", "1", "1", "1")
    );
    assert_eq!(
        (get("curr_items"), get("total_items"), get("limit_maxbytes")),
        ("1", "1", "67108864")
    );
    assert!(c["bytes"].parse::<u64>().expect("bytes") > 0);
    assert!(c["curr_connections"].parse::<u64>().expect("n") >= 1);
    ask(&mut s, b"stats reset\r\n", b"RESET\r\n");
    let c = memcached_stats(&mut s, "");
    assert_eq!(
        (
            c["get_hits"].as_str(),
            c["cmd_get"].as_str(),
            c["curr_items"].as_str()
        ),
        ("0", "0", "1")
    );
    let settings = memcached_stats(&mut s, "settings");
    assert_eq!(settings["item_size_max"], "1048576");
    assert_eq!(settings["tcpport"], e.memcached_port.to_string());
    assert_eq!(settings["cas_enabled"], "yes");
    assert_eq!(memcached_stats(&mut s, "items")["items:1:number"], "1");
    assert_eq!(memcached_stats(&mut s, "slabs")["active_slabs"], "1");
}

fn e_pid_of(e: &Engine) -> String {
    info_field(e, "server", "process_id")
}

#[test]
fn requests_are_charged_request_units_like_redis_commands() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    // `stats reset` takes the base before it is charged itself: one unit.
    ask(&mut s, b"stats reset\r\n", b"RESET\r\n");
    // A multi-get of 250 missing keys: about 1.7 KiB, but 250 elements -> 3 units.
    let keys: Vec<String> = (0..250).map(|i| format!("k{i}")).collect();
    ask(
        &mut s,
        format!("get {}\r\n", keys.join(" ")).as_bytes(),
        b"END\r\n",
    );
    s.write_all(b"stats\r\n").expect("write");
    let stats = read_until(&mut s, b"END\r\n");
    let text = String::from_utf8_lossy(&stats);
    let charged: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("STAT ecpu_memcached "))
        .and_then(|v| v.trim().parse().ok())
        .expect("ecpu_memcached");
    assert_eq!(charged, 1 + 3);
    // That stats request cost its bytes, like any request (one unit per started KiB).
    let stats_cost = (b"stats\r\n".len() + stats.len()).div_ceil(1024) as u64;
    // A 5000-byte set: 5,024 bytes of request and reply -> 5 units.
    let mut request = b"set big 0 0 5000\r\n".to_vec();
    request.extend_from_slice(&[b'x'; 5000]);
    request.extend_from_slice(b"\r\n");
    ask(&mut s, &request, b"STORED\r\n");
    assert_eq!(
        memcached_stat(&mut s, "ecpu_memcached"),
        1 + 3 + stats_cost + 5
    );
    let mut redis = e.conn();
    let info: String = redis::cmd("INFO")
        .arg("usage")
        .query(&mut redis)
        .expect("INFO");
    assert!(
        info.contains("ecpu") || info.contains("request_units"),
        "{info}"
    );
}

#[test]
fn management_requests_are_counted_apart_so_that_metering_bills_only_cache_use() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let before = memcached_stats(&mut s, "");
    s.write_all(b"version\r\nmn\r\nverbosity 1\r\n")
        .expect("write");
    let reply = read_until(&mut s, b"MN\r\nOK\r\n");
    assert!(reply.starts_with(b"VERSION "));
    ask(
        &mut s,
        b"set a 0 0 1\r\nx\r\nget a\r\n",
        b"STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\n",
    );
    let after = memcached_stats(&mut s, "");
    let n = |m: &HashMap<String, String>, k: &str| -> u64 { m[k].parse().expect(k) };
    let total = n(&after, "ecpu_total") - n(&before, "ecpu_total");
    let unbilled = n(&after, "ecpu_unbilled") - n(&before, "ecpu_unbilled");
    // The first stats (charged after it answered), version, mn and verbosity are management; the set and the
    // get are the only billable units.
    assert!(unbilled >= 4, "unbilled {unbilled}");
    assert_eq!(total - unbilled, 2);
    // The node's identity is the one INFO usage shows, so a restart is recognised from either protocol.
    let run_id = info_field(&e, "usage", "run_id");
    assert_eq!(after["run_id"], run_id);
    assert_eq!(run_id.len(), 40);
}

#[test]
fn redis_and_memcached_clients_share_the_keyspace() {
    let e = Engine::start_memcached(&[], false);
    let mut s = e.mc();
    let mut redis = e.conn();
    ask(&mut s, b"set shared 42 0 5\r\nhello\r\n", b"STORED\r\n");
    assert_eq!(
        run(&mut redis, "GET", &["shared"]).expect("GET"),
        redis::Value::BulkString(b"hello".to_vec())
    );
    assert_eq!(
        run(&mut redis, "STRLEN", &["shared"]).expect("STRLEN"),
        redis::Value::Int(5)
    );
    // A TTL change through Redis keeps the item's flags.
    run(&mut redis, "EXPIRE", &["shared", "100"]).expect("EXPIRE");
    ask(
        &mut s,
        b"mg shared f t v\r\n",
        b"VA 5 f42 t100\r\nhello\r\n",
    );
    run(&mut redis, "SET", &["counter", "41"]).expect("SET");
    ask(
        &mut s,
        b"incr counter 1\r\nget counter\r\n",
        b"42\r\nVALUE counter 0 2\r\n42\r\nEND\r\n",
    );
    assert_eq!(
        run(&mut redis, "INCR", &["counter"]).expect("INCR"),
        redis::Value::Int(43)
    );
    ask(&mut s, b"delete shared\r\n", b"DELETED\r\n");
    assert_eq!(
        run(&mut redis, "EXISTS", &["shared"]).expect("EXISTS"),
        redis::Value::Int(0)
    );
}

#[test]
fn a_memcached_only_node_evicts_instead_of_refusing_writes() {
    let e = Engine::start_memcached(&["--maxmemory", "2mb"], true);
    assert!(
        TcpStream::connect(("127.0.0.1", e.port)).is_err(),
        "the Redis port must stay closed"
    );
    let mut s = e.mc();
    assert_eq!(
        memcached_stats(&mut s, "settings")["maxmemory_policy"],
        "allkeys-lru"
    );
    let value = vec![b'v'; 1000];
    let mut batch = Vec::new();
    let mut expected = Vec::new();
    for i in 0..10_000 {
        batch.extend_from_slice(format!("set key:{i} 0 0 {}\r\n", value.len()).as_bytes());
        batch.extend_from_slice(&value);
        batch.extend_from_slice(b"\r\n");
        expected.extend_from_slice(b"STORED\r\n");
        if i % 500 == 499 {
            ask(&mut s, &batch, &expected);
            batch.clear();
            expected.clear();
        }
    }
    let c = memcached_stats(&mut s, "");
    let items: u64 = c["curr_items"].parse().expect("n");
    let evictions: u64 = c["evictions"].parse().expect("n");
    assert!(items < 10_000 && items > 500, "{items} items");
    assert_eq!(items + evictions, 10_000);
    assert!(c["bytes"].parse::<u64>().expect("n") <= 2 * 1024 * 1024 + 64 * 1024);
    // The newest keys survive.
    ask(&mut s, b"mg key:9999 s\r\n", b"HD s1000\r\n");
}

#[test]
fn pymemcache_works_against_the_engine() {
    let e = Engine::start_memcached(&[], false);
    let script = r#"
import sys
from pymemcache.client.base import Client
c = Client(("127.0.0.1", int(sys.argv[1])))
assert c.set("k", b"v1", expire=100) is True
assert c.get("k") == b"v1"
value, cas = c.gets("k")
assert value == b"v1"
assert c.cas("k", b"v2", cas) is True
assert c.cas("k", b"v3", cas) is False
assert c.get("k") == b"v2"
assert c.add("k", b"x", noreply=False) is False
assert c.add("n", b"10", noreply=False) is True
assert c.incr("n", 5) == 15
assert c.decr("n", 20) == 0
assert c.get_many(["k", "n", "missing"]) == {"k": b"v2", "n": b"0"}
assert c.append("k", b"!", noreply=False) is True
assert c.prepend("k", b"<", noreply=False) is True
assert c.get("k") == b"<v2!"
assert c.touch("k", 10, noreply=False) is True
assert c.delete("k", noreply=False) is True
assert c.get("k") is None
c.set_many({"a": b"1", "b": b"2"})
assert c.get_many(["a", "b"]) == {"a": b"1", "b": b"2"}
stats = c.stats()
assert int(stats[b"curr_items"]) == 3, stats
assert c.version() == b"1.6.18"
assert c.flush_all(noreply=False) is True
assert c.get("a") is None
print("ok")
"#;
    let out = Command::new("python3")
        .args(["-c", script, &e.memcached_port.to_string()])
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success() && out.stdout == b"ok\n",
        "pymemcache (pip package pymemcache; .ci/run installs it): {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
