//! Plain-TCP connections on both I/O paths, over real sockets: io_uring (`io-uring yes`, the default, where the
//! kernel allows it) and epoll (`io-uring no`, and the fallback). A request stream cut at any byte gets the same
//! replies on both, in either protocol; a Redis connection that starts waiting (blocking pop, subscription)
//! keeps its replies in order; a client that stops reading stalls only itself; idle, refused, reset and
//! quitting clients leave the connection count right.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{info_field, read_to_close, read_until, roundtrip, Engine};

const PATHS: [&str; 2] = ["yes", "no"];

/// An engine serving both protocols with `io-uring` set to `io`, on one worker thread (so that every client
/// shares it), plus `flags`.
fn start(io: &str, flags: &[&str]) -> Engine {
    let setting = format!("io-uring={io}");
    let mut all = vec!["--threads", "1", "--set", &setting];
    all.extend_from_slice(flags);
    Engine::start_memcached(&all, false)
}

/// `memcached_multiplexing_api` of INFO server.
fn multiplexing_api(e: &Engine) -> String {
    info_field(e, "server", "memcached_multiplexing_api")
}

/// Whether this kernel and sandbox let a process set up a ring the way the engine does.
fn kernel_allows_io_uring() -> bool {
    io_uring::IoUring::<io_uring::squeue::Entry, io_uring::cqueue::Entry>::builder()
        .setup_single_issuer()
        .setup_coop_taskrun()
        .setup_defer_taskrun()
        .build(8)
        .is_ok()
}

/// The next `n` bytes, no more.
fn exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).expect("read");
    buf
}

fn curr_connections(e: &Engine) -> u64 {
    let mut s = e.mc();
    s.write_all(b"stats\r\n").expect("write");
    let text = String::from_utf8(read_until(&mut s, b"END\r\n")).expect("utf-8");
    text.lines()
        .find_map(|l| l.strip_prefix("STAT curr_connections "))
        .and_then(|v| v.trim().parse().ok())
        .expect("curr_connections")
}

/// Waits up to 5 s for `curr_connections` (which counts the asking connection) to become `n`.
fn await_connections(e: &Engine, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = curr_connections(e);
        if now == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "curr_connections stays {now}, expected {n}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn io_uring_is_used_where_the_kernel_allows_it_and_epoll_otherwise() {
    let uring = start("yes", &[]);
    let expected = if kernel_allows_io_uring() {
        "io_uring"
    } else {
        "epoll"
    };
    assert_eq!(multiplexing_api(&uring), expected);
    assert_eq!(info_field(&uring, "server", "multiplexing_api"), expected);
    let epoll = start("no", &[]);
    assert_eq!(multiplexing_api(&epoll), "epoll");
    assert_eq!(info_field(&epoll, "server", "multiplexing_api"), "epoll");
    // Both answer.
    for e in [&uring, &epoll] {
        let mut s = e.mc();
        let reply = roundtrip(&mut s, b"set k 0 0 1\r\nv\r\nget k\r\n", 27);
        assert_eq!(reply, b"STORED\r\nVALUE k 0 1\r\nv\r\nEND\r\n");
    }
}

/// A session touching every kind of reply: storage, retrieval, arithmetic, errors, a value larger than a
/// read, an item over the size limit (swallowed), a 100-key multi-get, noreply and meta commands; then quit.
fn session_script() -> Vec<u8> {
    let mut s = Vec::new();
    s.extend_from_slice(b"set a 7 0 5\r\nhello\r\nget a\r\nadd a 0 0 1\r\nx\r\n");
    s.extend_from_slice(b"append a 0 0 3\r\n!!!\r\nprepend a 0 0 2\r\n>>\r\nget a\r\n");
    s.extend_from_slice(b"set n 0 0 2\r\n41\r\nincr n 1\r\ndecr n 50\r\nincr missing 1\r\n");
    s.extend_from_slice(b"bogus command\r\nset bad 0 0 notanumber\r\n");
    let big = vec![b'b'; 300_000];
    s.extend_from_slice(b"set big 0 0 300000\r\n");
    s.extend_from_slice(&big);
    s.extend_from_slice(b"\r\nget big\r\n");
    let huge = vec![b'h'; 1_500_000];
    s.extend_from_slice(b"set huge 0 0 1500000\r\n");
    s.extend_from_slice(&huge);
    s.extend_from_slice(b"\r\nget huge\r\n");
    for i in 0..100 {
        s.extend_from_slice(
            format!("set k{i} {i} 0 {}\r\nv{i}\r\n", 1 + i.to_string().len()).as_bytes(),
        );
    }
    s.extend_from_slice(b"get");
    for i in 0..100 {
        s.extend_from_slice(format!(" k{i}").as_bytes());
    }
    s.extend_from_slice(b"\r\nset q 0 0 1 noreply\r\nq\r\ndelete q noreply\r\ndelete q\r\n");
    s.extend_from_slice(
        b"ms m 2 F2\r\nhi\r\nmg m v f\r\nma n v D5\r\nmd m q\r\nmn\r\nquit\r\nget a\r\n",
    );
    s
}

/// Sends `script` over `s` cut into pieces of the given sizes (cycled), pausing between pieces so that the
/// server reads them separately, and returns every byte until the server closes.
fn replay_on(mut s: TcpStream, script: &[u8], pieces: &[usize]) -> Vec<u8> {
    let mut reader = s.try_clone().expect("clone");
    let collector = std::thread::spawn(move || read_to_close(&mut reader));
    let mut pos = 0;
    for &size in pieces.iter().cycle() {
        if pos >= script.len() {
            break;
        }
        let end = (pos + size).min(script.len());
        s.write_all(&script[pos..end]).expect("write");
        pos = end;
        std::thread::sleep(Duration::from_millis(2));
    }
    collector.join().expect("reader")
}

/// Runs `replay` (which returns the replies to a session sent whole, then to the session cut into pieces) on
/// each I/O path; asserts that every path got the first path's replies to the whole session, and returns them.
fn same_on_both_paths(replay: impl Fn(&str) -> (Vec<u8>, Vec<u8>)) -> Vec<u8> {
    let replies: Vec<_> = PATHS.iter().map(|&io| (io, replay(io))).collect();
    let reference = replies[0].1 .0.clone();
    for (io, (whole, cut)) in &replies {
        assert!(
            *whole == reference,
            "io-uring {io}: replies differ from the io-uring yes session"
        );
        assert!(
            *cut == reference,
            "io-uring {io}: a cut stream got other replies"
        );
    }
    reference
}

#[test]
fn a_request_stream_cut_anywhere_gets_the_same_replies_on_both_paths() {
    let script = session_script();
    let reference = same_on_both_paths(|io| {
        let e = start(io, &[]);
        let whole = replay_on(e.mc(), &script, &[script.len()]);
        let cut = replay_on(e.mc(), &script, &[1, 7, 13, 4096, 3, 65_536, 250_000]);
        (whole, cut)
    });
    let text = String::from_utf8_lossy(&reference);
    assert!(
        text.starts_with(
            "STORED\r\nVALUE a 7 5\r\nhello\r\nEND\r\nNOT_STORED\r\nSTORED\r\nSTORED\r\n\
             VALUE a 7 10\r\n>>hello!!!\r\nEND\r\nSTORED\r\n42\r\n0\r\nNOT_FOUND\r\nERROR\r\n\
             CLIENT_ERROR bad command line format\r\n"
        ),
        "{}",
        &text[..text.len().min(400)]
    );
    assert!(text.contains("VALUE big 0 300000\r\n"));
    assert!(text.contains("SERVER_ERROR object too large for cache\r\nEND\r\n"));
    assert_eq!(text.matches("VALUE k").count(), 100);
    assert!(
        text.ends_with("NOT_FOUND\r\nHD\r\nVA 2 f2\r\nhi\r\nVA 1\r\n5\r\nMN\r\n"),
        "{}",
        &text[text.len() - 200..]
    );
}

/// A Redis session: strings, a hash, a list, a transaction, an inline command, a value larger than a read, a
/// protocol error at the end (which closes the connection after its reply).
fn redis_script() -> Vec<u8> {
    fn command(args: &[&[u8]]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }
    let mut s = Vec::new();
    for i in 0..50 {
        let (k, v) = (format!("k{i}"), format!("v{i}"));
        s.extend(command(&[b"SET", k.as_bytes(), v.as_bytes()]));
    }
    let big = vec![b'b'; 300_000];
    s.extend(command(&[b"SET", b"big", &big]));
    s.extend(command(&[b"STRLEN", b"big"]));
    s.extend(command(&[b"GET", b"big"]));
    s.extend(command(&[b"MGET", b"k1", b"k2", b"nope"]));
    s.extend(command(&[b"INCRBY", b"n", b"41"]));
    s.extend(command(&[b"HSET", b"h", b"f", b"1", b"g", b"2"]));
    s.extend(command(&[b"HGETALL", b"h"]));
    s.extend(command(&[b"RPUSH", b"l", b"a", b"b", b"c"]));
    s.extend(command(&[b"LRANGE", b"l", b"0", b"-1"]));
    s.extend(command(&[b"MULTI"]));
    s.extend(command(&[b"INCR", b"n"]));
    s.extend(command(&[b"GET", b"n"]));
    s.extend(command(&[b"EXEC"]));
    s.extend_from_slice(b"PING inline\r\n");
    s.extend(command(&[b"NOSUCHCOMMAND"]));
    s.extend_from_slice(b"*2\r\n$3\r\nGET\r\n+not-a-bulk\r\n");
    s.extend(command(&[b"GET", b"k1"]));
    s
}

#[test]
fn a_redis_stream_cut_anywhere_gets_the_same_replies_on_both_paths() {
    let script = redis_script();
    // A fresh engine for each replay: the session's counters and lists would carry over.
    let reference = same_on_both_paths(|io| {
        let (first, second) = (start(io, &[]), start(io, &[]));
        let whole = replay_on(first.raw(), &script, &[script.len()]);
        let cut = replay_on(second.raw(), &script, &[1, 5, 17, 4096, 3, 65_536, 200_000]);
        (whole, cut)
    });
    let text = String::from_utf8_lossy(&reference);
    assert!(text.starts_with(&"+OK\r\n".repeat(51)), "{}", &text[..200]);
    assert!(text.contains(":300000\r\n$300000\r\n"));
    assert!(text.contains("*3\r\n$2\r\nv1\r\n$2\r\nv2\r\n$-1\r\n:41\r\n:2\r\n"));
    assert!(text.contains("+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n:42\r\n$2\r\n42\r\n$6\r\ninline\r\n"));
    assert!(text.contains("-ERR unknown command 'NOSUCHCOMMAND'"));
    assert!(
        text.ends_with("\r\n") && text.contains("-ERR Protocol error"),
        "{}",
        &text[text.len() - 300..]
    );
    assert!(
        !text.ends_with("$2\r\nv1\r\n"),
        "nothing runs after a protocol error"
    );
}

#[test]
fn a_redis_connection_that_starts_waiting_keeps_its_replies_in_order() {
    for io in PATHS {
        let e = start(io, &[]);
        let mut s = e.raw();
        // Replies before the pop, the pop that blocks, and commands queued behind it.
        s.write_all(b"SET a 1\r\nBLPOP queue 0\r\nGET a\r\nINCR a\r\n")
            .expect("write");
        assert_eq!(roundtrip(&mut s, b"", 5), b"+OK\r\n");
        std::thread::sleep(Duration::from_millis(100));
        let mut pusher = e.raw();
        assert_eq!(roundtrip(&mut pusher, b"RPUSH queue x\r\n", 4), b":1\r\n");
        let expected = "*2\r\n$5\r\nqueue\r\n$1\r\nx\r\n$1\r\n1\r\n:2\r\n";
        let got = read_until(&mut s, b":2\r\n");
        assert_eq!(String::from_utf8_lossy(&got), expected, "io-uring {io}");

        // A subscription: the confirmation, then messages published from another connection, then the
        // connection goes on in RESP2 subscriber mode.
        s.write_all(b"SUBSCRIBE news\r\n").expect("write");
        let confirm = "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n";
        assert_eq!(
            String::from_utf8_lossy(&read_until(&mut s, b":1\r\n")),
            confirm
        );
        assert_eq!(
            roundtrip(&mut pusher, b"PUBLISH news hello\r\n", 4),
            b":1\r\n"
        );
        let message = "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n";
        assert_eq!(
            String::from_utf8_lossy(&read_until(&mut s, b"hello\r\n")),
            message
        );
        s.write_all(b"UNSUBSCRIBE news\r\n").expect("write");
        let _ = read_until(&mut s, b":0\r\n");
        assert_eq!(
            roundtrip(&mut s, b"GET a\r\n", 7),
            b"$1\r\n2\r\n",
            "io-uring {io}"
        );
    }
}

#[test]
fn a_client_that_stops_reading_stalls_only_itself() {
    const VALUE: usize = 256 * 1024;
    const GETS: usize = 200;
    for io in PATHS {
        let e = start(io, &[]);
        let mut setter = e.mc();
        let mut set = format!("set big 0 0 {VALUE}\r\n").into_bytes();
        set.extend(std::iter::repeat_n(b'v', VALUE));
        set.extend_from_slice(b"\r\nset small 0 0 2\r\nok\r\n");
        assert_eq!(roundtrip(&mut setter, &set, 16), b"STORED\r\nSTORED\r\n");

        // 50 MB of replies that nobody reads for a while, then more requests behind them.
        let mut slow = e.mc();
        slow.write_all(&b"get big\r\n".repeat(GETS)).expect("write");
        std::thread::sleep(Duration::from_millis(200));
        slow.write_all(b"get small\r\nmn\r\n").expect("write");

        // Another client on the same worker is served meanwhile.
        let mut other = e.mc();
        for i in 0..50 {
            let started = Instant::now();
            let key = format!("o{i}");
            let request = format!("set {key} 0 0 1\r\nx\r\nget {key}\r\n");
            let expected = format!("STORED\r\nVALUE {key} 0 1\r\nx\r\nEND\r\n");
            let got = roundtrip(&mut other, request.as_bytes(), expected.len());
            assert_eq!(String::from_utf8_lossy(&got), expected, "io-uring {io}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "io-uring {io}: a request waited {:?} behind a stalled client",
                started.elapsed()
            );
        }

        // The stalled client gets everything, in order, once it reads.
        let header = format!("VALUE big 0 {VALUE}\r\n");
        for n in 0..GETS {
            let got = exactly(&mut slow, header.len() + VALUE + 7);
            assert!(
                got.starts_with(header.as_bytes()) && got.ends_with(b"\r\nEND\r\n"),
                "io-uring {io}: reply {n} is damaged"
            );
            assert!(got[header.len()..header.len() + VALUE]
                .iter()
                .all(|&b| b == b'v'));
        }
        assert_eq!(
            exactly(&mut slow, 30),
            b"VALUE small 0 2\r\nok\r\nEND\r\nMN\r\n"
        );
    }
}

#[test]
fn a_client_reset_in_the_middle_of_a_reply_is_cleaned_up() {
    for io in PATHS {
        let e = start(io, &[]);
        let mut setter = e.mc();
        let mut set = b"set big 0 0 1000000\r\n".to_vec();
        set.extend(std::iter::repeat_n(b'v', 1_000_000));
        set.extend_from_slice(b"\r\n");
        assert_eq!(roundtrip(&mut setter, &set, 8), b"STORED\r\n");
        drop(setter);
        for _ in 0..3 {
            let s = e.mc();
            (&s).write_all(&b"get big\r\n".repeat(100)).expect("write");
            std::thread::sleep(Duration::from_millis(100));
            // Close with unread data: the kernel answers with a reset.
            socket2::SockRef::from(&s)
                .set_linger(Some(Duration::ZERO))
                .expect("linger");
            drop(s);
        }
        await_connections(&e, 1);
        let mut s = e.mc();
        assert_eq!(roundtrip(&mut s, b"mn\r\n", 4), b"MN\r\n", "io-uring {io}");
    }
}

#[test]
fn idle_clients_are_closed_after_the_timeout() {
    for io in PATHS {
        let e = start(io, &["--timeout", "1"]);
        let mut idle = e.mc();
        idle.write_all(b"version\r\n").expect("write");
        assert!(read_until(&mut idle, b"\r\n").starts_with(b"VERSION "));
        let started = Instant::now();
        let mut byte = [0u8; 1];
        let n = idle
            .read(&mut byte)
            .expect("the server closes, not the read timeout");
        assert_eq!(n, 0, "io-uring {io}: an idle client got data");
        assert!(started.elapsed() < Duration::from_secs(5));
        await_connections(&e, 1);
    }
}

#[test]
fn clients_past_maxclients_are_refused_with_server_error() {
    for io in PATHS {
        let e = start(io, &["--set", "maxclients=3"]);
        // The Redis side's readiness probe has gone; the engine counts clients of both protocols.
        await_connections(&e, 1);
        let mut kept = Vec::new();
        for _ in 0..3 {
            let mut s = e.mc();
            assert_eq!(roundtrip(&mut s, b"mn\r\n", 4), b"MN\r\n");
            kept.push(s);
        }
        let mut refused = e.mc();
        let reply = read_to_close(&mut refused);
        assert_eq!(
            String::from_utf8_lossy(&reply),
            "SERVER_ERROR Too many open connections\r\n",
            "io-uring {io}"
        );
        drop(kept.pop());
        // A place is free again once the server has seen the close.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let mut s = e.mc();
            s.write_all(b"mn\r\n").expect("write");
            let mut buf = [0u8; 4];
            if s.read_exact(&mut buf).is_ok() && &buf == b"MN\r\n" {
                break;
            }
            assert!(Instant::now() < deadline, "io-uring {io}: no place freed");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn quit_flushes_earlier_replies_then_closes() {
    for io in PATHS {
        let e = start(io, &[]);
        let mut s = e.mc();
        s.write_all(b"set a 0 0 1\r\n1\r\nget a\r\nquit\r\nget a\r\n")
            .expect("write");
        assert_eq!(
            String::from_utf8_lossy(&read_to_close(&mut s)),
            "STORED\r\nVALUE a 0 1\r\n1\r\nEND\r\n",
            "io-uring {io}"
        );
        await_connections(&e, 1);
        let _ = TcpStream::connect(("127.0.0.1", e.memcached_port)).expect("still accepting");
    }
}
