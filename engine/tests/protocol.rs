//! The wire protocol over raw sockets: pipelining, inline commands, malformed input.

mod common;

use std::io::Write;

use common::{read_to_close, read_until, roundtrip, run, Engine};
use redis::Value;

#[test]
fn ten_thousand_pipelined_commands_in_one_write_are_answered_in_order() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    let mut request = Vec::new();
    for i in 0..10_000 {
        let (k, v) = (format!("key:{i}"), format!("value-{i}"));
        request.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n${}\r\n{k}\r\n", k.len()).as_bytes());
    }
    let mut expected = Vec::new();
    for i in 0..10_000 {
        let v = format!("value-{i}");
        expected.extend_from_slice(format!("+OK\r\n${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    let reply = roundtrip(&mut s, &request, expected.len());
    assert!(reply == expected, "pipelined replies differ");
}

#[test]
fn inline_commands_work_like_telnet() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.write_all(b"SET greeting \"hello world\"\r\nGET greeting\nset 'it''s' x\r\n\r\nPING\r\n")
        .unwrap();
    let got = read_until(&mut s, b"+PONG\r\n");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "+OK\r\n$11\r\nhello world\r\n-ERR Protocol error: unbalanced quotes in request\r\n"
    );
}

#[test]
fn unbalanced_quotes_get_an_error_and_the_connection_closes() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.write_all(b"SET k \"unterminated\r\nPING\r\n").unwrap();
    assert_eq!(
        read_to_close(&mut s),
        b"-ERR Protocol error: unbalanced quotes in request\r\n"
    );
}

#[test]
fn malformed_multibulk_requests_get_redis_errors() {
    let e = Engine::start(&["--set", "proto-max-bulk-len=1mb"]);
    let cases: &[(&[u8], &str)] = &[
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\n$-5\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$2000000\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*2\r\n$3\r\nGET\r\n:12\r\n",
            "-ERR Protocol error: expected '$', got ':'\r\n",
        ),
        (
            b"*3000000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
    ];
    for (request, reply) in cases {
        let mut s = e.raw();
        s.write_all(request).unwrap();
        assert_eq!(String::from_utf8_lossy(&read_to_close(&mut s)), *reply);
    }
}

#[test]
fn unknown_commands_and_wrong_arity_keep_the_connection() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.write_all(b"FOO bar baz\r\nGET\r\nPING\r\n").unwrap();
    let got = read_until(&mut s, b"+PONG\r\n");
    assert_eq!(
        String::from_utf8_lossy(&got),
        "-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n\
         -ERR wrong number of arguments for 'get' command\r\n+PONG\r\n"
    );
}

#[test]
fn garbage_does_not_hurt_other_clients() {
    let e = Engine::start(&[]);
    let mut good = e.conn();
    run(&mut good, "SET", &["safe", "1"]).unwrap();
    let mut seed = 0x1234_5678_u64;
    for _ in 0..50 {
        let mut junk = vec![0u8; 4096];
        for b in junk.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        let mut s = e.raw();
        let _ = s.write_all(&junk);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = read_to_close(&mut s);
    }
    let huge_inline = vec![b'a'; 70 * 1024];
    let mut s = e.raw();
    let _ = s.write_all(&huge_inline);
    assert_eq!(
        read_to_close(&mut s),
        b"-ERR Protocol error: too big inline request\r\n"
    );
    assert_eq!(
        run(&mut good, "GET", &["safe"]).unwrap(),
        Value::BulkString(b"1".to_vec())
    );
}

#[test]
fn requests_split_across_many_packets_are_reassembled() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.set_nodelay(true).unwrap();
    let value = "v".repeat(100_000);
    let request = format!(
        "*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n${}\r\n{value}\r\n*2\r\n$6\r\nSTRLEN\r\n$3\r\nbig\r\n",
        value.len()
    );
    for chunk in request.as_bytes().chunks(7777) {
        s.write_all(chunk).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(read_until(&mut s, b":100000\r\n"), b"+OK\r\n:100000\r\n");
}

#[test]
fn resp3_replies_use_native_types() {
    let e = Engine::start(&[]);
    let mut s = e.raw();
    s.write_all(b"HELLO 3\r\nPING\r\n").unwrap();
    read_until(&mut s, b"+PONG\r\n");
    assert_eq!(roundtrip(&mut s, b"GET nothing\r\n", 3), b"_\r\n");
    assert_eq!(roundtrip(&mut s, b"MGET nothing\r\n", 7), b"*1\r\n_\r\n");
    let info = read_until_prefix_len(&mut s, b"INFO server\r\n");
    assert!(info.starts_with(b"="), "INFO is a verbatim string in RESP3");
    let mut s2 = e.raw();
    assert_eq!(roundtrip(&mut s2, b"GET nothing\r\n", 5), b"$-1\r\n");
}

fn read_until_prefix_len(s: &mut std::net::TcpStream, request: &[u8]) -> Vec<u8> {
    s.write_all(request).unwrap();
    common::read_n(s, 1)
}
