//! Many clients at once, on every worker thread.

mod common;

use common::Engine;

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid struct pointer.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(30_000);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_connections_each_see_their_own_writes() {
    raise_fd_limit();
    let e = Engine::start(&[]);
    let client = e.client();
    let mut conns = Vec::new();
    for _ in 0..1000 {
        conns.push(
            client
                .get_multiplexed_async_connection()
                .await
                .expect("connect"),
        );
    }
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, mut con)| {
            tokio::spawn(async move {
                for j in 0..20 {
                    let key = format!("c{i}:k{j}");
                    let _: () = redis::cmd("SET")
                        .arg(&key)
                        .arg(i * 1000 + j)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    let v: usize = redis::cmd("GET")
                        .arg(&key)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    assert_eq!(v, i * 1000 + j);
                    let _: i64 = redis::cmd("INCR")
                        .arg("shared")
                        .query_async(&mut con)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client task");
    }
    let mut c = e.conn();
    let total: i64 = redis::cmd("GET").arg("shared").query(&mut c).unwrap();
    assert_eq!(total, 20_000, "no increment lost across threads");
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut c).unwrap();
    assert_eq!(dbsize, 20_001);
    let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
    assert!(info.contains("connected_clients:"), "{info}");
}

#[test]
fn maxclients_refuses_extra_connections_with_an_error() {
    let e = Engine::start(&["--set", "maxclients=3"]);
    let _a = e.raw();
    let _b = e.raw();
    let _c = e.raw();
    std::thread::sleep(std::time::Duration::from_millis(100));
    let mut d = e.raw();
    let reply = common::read_to_close(&mut d);
    assert_eq!(reply, b"-ERR max number of clients reached\r\n");
}

#[test]
fn idle_clients_are_closed_after_timeout() {
    let e = Engine::start(&["--timeout", "1"]);
    let mut idle = e.raw();
    let started = std::time::Instant::now();
    assert_eq!(common::read_to_close(&mut idle), b"");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(900)
            && waited < std::time::Duration::from_secs(5),
        "{waited:?}"
    );
}

#[test]
fn ten_thousand_idle_connections_are_accepted_and_the_next_refused_politely() {
    raise_fd_limit();
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: getrlimit with a valid pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if lim.rlim_cur < 10_200 {
        panic!(
            "this test needs 10,200 open files; the hard limit is {}",
            lim.rlim_max
        );
    }
    let e = Engine::start(&["--set", "maxclients=10001"]);
    let mut admin = e.conn();
    let mut idle = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        idle.push(std::net::TcpStream::connect(("127.0.0.1", e.port)).expect("connect"));
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let info: String = redis::cmd("INFO").arg("clients").query(&mut admin).unwrap();
        if info.contains("connected_clients:10001") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not all idle clients registered: {info}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut extra = e.raw();
    assert_eq!(
        common::read_to_close(&mut extra),
        b"-ERR max number of clients reached\r\n"
    );
    let pong: String = redis::cmd("PING").query(&mut admin).unwrap();
    assert_eq!(pong, "PONG", "existing clients keep working");
}
