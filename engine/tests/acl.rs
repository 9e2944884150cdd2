//! ACL users: authentication, command categories, key patterns, the ACL commands and ACL LOG.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{err, run, Engine};
use redis::Value;

fn acl_file(name: &str, text: &str) -> PathBuf {
    let path = common::temp_dir(&format!("acl-{name}")).join("users.acl");
    std::fs::write(&path, text).unwrap();
    path
}

const USERS: &str = "\
user default on >admin-pass ~* &* +@all
user reader on >read-pass %R~app:* +@read +@connection
user writer on >write-pass ~app:* +@all -@dangerous
user disabled off >x ~* +@all
";

fn login(e: &Engine, user: &str, pass: &str) -> redis::Connection {
    redis::Client::open(format!("redis://{user}:{pass}@127.0.0.1:{}/", e.port))
        .unwrap()
        .get_connection()
        .unwrap()
}

#[test]
fn users_are_limited_to_their_commands_and_keys() {
    let path = acl_file("limits", USERS);
    let e = Engine::start(&["--aclfile", path.to_str().unwrap()]);
    let mut admin = login(&e, "default", "admin-pass");
    run(&mut admin, "SET", &["app:1", "v"]).unwrap();
    run(&mut admin, "SET", &["secret", "s"]).unwrap();
    let mut reader = login(&e, "reader", "read-pass");
    assert_eq!(
        run(&mut reader, "ACL", &["WHOAMI"]).unwrap_err().code(),
        Some("NOPERM")
    );
    assert_eq!(
        run(&mut reader, "GET", &["app:1"]).unwrap(),
        Value::BulkString(b"v".to_vec())
    );
    assert_eq!(
        err(&mut reader, "GET", &["secret"]),
        "NOPERM No permissions to access a key"
    );
    assert_eq!(
        err(&mut reader, "SET", &["app:1", "x"]),
        "NOPERM User reader has no permissions to run the 'set' command"
    );
    let mut writer = login(&e, "writer", "write-pass");
    assert_eq!(
        run(&mut writer, "SET", &["app:2", "w"]).unwrap(),
        Value::Okay
    );
    assert_eq!(
        err(&mut writer, "MSET", &["app:3", "1", "other", "2"]),
        "NOPERM No permissions to access a key"
    );
    for (cmd, args) in [
        ("FLUSHALL", vec![]),
        ("KEYS", vec!["*"]),
        ("CONFIG", vec!["GET", "maxmemory"]),
    ] {
        assert!(
            err(&mut writer, cmd, &args).starts_with("NOPERM"),
            "{cmd} must be denied by -@dangerous"
        );
    }
    assert_eq!(
        run(&mut admin, "EXISTS", &["other"]).unwrap(),
        Value::Int(0),
        "a denied MSET wrote nothing"
    );
}

#[test]
fn authentication_failures_are_refused_logged_and_limited() {
    let path = acl_file("auth", USERS);
    let e = Engine::start(&["--aclfile", path.to_str().unwrap()]);
    let mut s = e.raw();
    let noauth = b"-NOAUTH Authentication required.\r\n";
    assert_eq!(
        common::roundtrip(&mut s, b"GET k\r\n", noauth.len()),
        noauth
    );
    let wrong = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    assert_eq!(
        common::roundtrip(&mut s, b"AUTH disabled x\r\n", wrong.len()),
        wrong
    );
    for _ in 0..8 {
        assert_eq!(
            common::roundtrip(&mut s, b"AUTH reader nope\r\n", wrong.len()),
            wrong
        );
    }
    // The tenth failure closes the connection.
    std::io::Write::write_all(&mut s, b"AUTH reader nope\r\n").unwrap();
    assert_eq!(common::read_to_close(&mut s), wrong);
    let mut admin = login(&e, "default", "admin-pass");
    let Value::Array(log) = run(&mut admin, "ACL", &["LOG"]).unwrap() else {
        panic!()
    };
    assert_eq!(log.len(), 2, "one entry per distinct denial: {log:?}");
    let text = format!("{log:?}");
    assert!(
        text.contains("auth") && text.contains("reader") && text.contains("disabled"),
        "{text}"
    );
    assert_eq!(
        run(&mut admin, "ACL", &["LOG", "RESET"]).unwrap(),
        Value::Okay
    );
}

#[test]
fn acl_commands_manage_users_live() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    assert_eq!(
        run(&mut c, "ACL", &["WHOAMI"]).unwrap(),
        Value::BulkString(b"default".to_vec())
    );
    run(
        &mut c,
        "ACL",
        &["SETUSER", "app", "on", ">pw1", "~cache:*", "+get", "+set"],
    )
    .unwrap();
    let users: Vec<String> = common::cmd("ACL", &["USERS"]).query(&mut c).unwrap();
    assert_eq!(users, ["app", "default"]);
    let list: Vec<String> = common::cmd("ACL", &["LIST"]).query(&mut c).unwrap();
    let app = list
        .iter()
        .find(|l| l.starts_with("user app "))
        .expect("app listed");
    assert!(
        app.contains(" on ")
            && app.contains("~cache:*")
            && app.contains("+get")
            && !app.contains("pw1"),
        "{app}"
    );
    assert!(err(&mut c, "ACL", &["SETUSER", "app", "+nosuchcommand"]).contains("Unknown command"));
    assert_eq!(
        run(&mut c, "ACL", &["DRYRUN", "app", "GET", "cache:1"]).unwrap(),
        Value::Okay
    );
    let Value::BulkString(why) = run(&mut c, "ACL", &["DRYRUN", "app", "DEL", "cache:1"]).unwrap()
    else {
        panic!()
    };
    assert!(String::from_utf8_lossy(&why).contains("no permissions to run the 'del' command"));
    let mut app_conn = login(&e, "app", "pw1");
    assert_eq!(
        run(&mut app_conn, "SET", &["cache:1", "v"]).unwrap(),
        Value::Okay
    );
    // Permission changes apply to connected clients at once.
    run(&mut c, "ACL", &["SETUSER", "app", "-set"]).unwrap();
    assert!(err(&mut app_conn, "SET", &["cache:1", "v"]).starts_with("NOPERM"));
    assert_eq!(
        run(&mut c, "ACL", &["DELUSER", "app", "ghost"]).unwrap(),
        Value::Int(1)
    );
    assert!(
        run(&mut app_conn, "GET", &["cache:1"]).is_err(),
        "a deleted user's connection is closed"
    );
    assert!(err(&mut c, "ACL", &["DELUSER", "default"]).contains("cannot be removed"));
    let cats: Vec<String> = common::cmd("ACL", &["CAT"]).query(&mut c).unwrap();
    assert!(cats.contains(&"dangerous".to_string()));
    let dangerous: Vec<String> = common::cmd("ACL", &["CAT", "dangerous"])
        .query(&mut c)
        .unwrap();
    for name in ["flushall", "keys", "config|set"] {
        assert!(dangerous.contains(&name.to_string()), "{name}");
    }
}

#[test]
fn acl_save_and_load_round_trip_through_the_file() {
    let path = acl_file("save", "user default on nopass ~* &* +@all\n");
    let e = Engine::start(&["--aclfile", path.to_str().unwrap()]);
    let mut c = e.conn();
    run(
        &mut c,
        "ACL",
        &["SETUSER", "ops", "on", ">ops-pass", "~*", "+@read"],
    )
    .unwrap();
    run(&mut c, "ACL", &["SAVE"]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("user ops on #") && !text.contains("ops-pass"),
        "passwords are saved hashed: {text}"
    );
    run(&mut c, "ACL", &["DELUSER", "ops"]).unwrap();
    run(&mut c, "ACL", &["LOAD"]).unwrap();
    let mut ops = login(&e, "ops", "ops-pass");
    assert!(err(&mut ops, "SET", &["k", "v"]).starts_with("NOPERM"));
}

/// Runs `redis-cli` as the user `writer` with password `pass`.
fn cli_as_writer(e: &Engine, pass: &str, args: &[&str]) -> std::process::Output {
    Command::new("redis-cli")
        .args([
            "-p",
            &e.port.to_string(),
            "--user",
            "writer",
            "--pass",
            pass,
        ])
        .arg("--no-auth-warning")
        .args(args)
        .output()
        .expect("redis-cli")
}

#[test]
fn redis_cli_authenticates_with_user_and_pass() {
    let path = acl_file("cli", USERS);
    let e = Engine::start(&["--aclfile", path.to_str().unwrap()]);
    let out = cli_as_writer(&e, "write-pass", &["SET", "app:cli", "ok"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    let out = cli_as_writer(&e, "wrong", &["PING"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("WRONGPASS")
            || String::from_utf8_lossy(&out.stderr).contains("WRONGPASS")
    );
}

/// A non-loopback IPv4 address of this machine, if it has one.
fn external_address() -> Option<std::net::Ipv4Addr> {
    let out = Command::new("hostname").arg("-I").output().ok()?;
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|a| a.parse::<std::net::Ipv4Addr>().ok())
        .find(|a| !a.is_loopback())
}

fn first_reply(addr: std::net::Ipv4Addr, port: u16) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect((addr, port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let _ = s.write_all(b"PING\r\n");
    let mut buf = vec![0u8; 4096];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).to_string()
}

#[test]
fn protected_mode_refuses_other_hosts_until_a_password_is_set_or_it_is_turned_off() {
    let Some(addr) = external_address() else {
        eprintln!("skipped: this machine has no non-loopback IPv4 address to connect from");
        return;
    };
    let e = Engine::start(&["--bind", "0.0.0.0"]);
    let reply = first_reply(addr, e.port);
    assert!(
        reply.starts_with("-DENIED Running in protected mode"),
        "{reply}"
    );
    // Loopback clients are always served, and may lift the protection.
    let mut local = e.conn();
    run(&mut local, "CONFIG", &["SET", "protected-mode", "no"]).unwrap();
    assert_eq!(first_reply(addr, e.port), "+PONG\r\n");
    run(&mut local, "CONFIG", &["SET", "protected-mode", "yes"]).unwrap();
    assert!(first_reply(addr, e.port).starts_with("-DENIED"));
    // With a password for the default user, other hosts may connect (and must authenticate).
    run(&mut local, "CONFIG", &["SET", "requirepass", "s3cret"]).unwrap();
    assert!(first_reply(addr, e.port).starts_with("-NOAUTH"));
}
