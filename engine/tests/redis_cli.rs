//! The stock `redis-cli` (Debian redis-tools) against the engine.

mod common;

use std::process::Command;

use common::Engine;

fn cli(e: &Engine, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &e.port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed (Debian package redis-tools; .ci/run installs it)");
    assert!(
        out.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn redis_cli_talks_to_the_engine() {
    let e = Engine::start(&[]);
    assert_eq!(cli(&e, &["PING"]), "PONG");
    assert_eq!(cli(&e, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(cli(&e, &["GET", "greeting"]), "hello world");
    assert_eq!(cli(&e, &["INCRBY", "n", "5"]), "5");
    assert_eq!(cli(&e, &["GET", "missing"]), "");
    assert!(
        cli(&e, &["NOSUCH"]).starts_with("ERR unknown command 'NOSUCH', with args beginning with:")
    );
    assert!(cli(&e, &["INFO", "server"]).contains("redis_version:"));
    let hello = cli(&e, &["-3", "HELLO", "3"]);
    assert!(
        hello.starts_with("server redis") && hello.contains("\nproto 3\n"),
        "{hello}"
    );
}

#[test]
fn redis_cli_pipe_mode_loads_data() {
    let e = Engine::start(&[]);
    let mut input = String::new();
    for i in 0..10_000 {
        input.push_str(&format!("SET key:{i:06} value-{i}\r\n"));
    }
    let mut child = Command::new("redis-cli")
        .args(["-p", &e.port.to_string(), "--pipe"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("redis-cli");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("errors: 0, replies: 10000"), "{text}");
    assert_eq!(cli(&e, &["DBSIZE"]), "10000");
    assert_eq!(cli(&e, &["GET", "key:004242"]), "value-4242");
}

#[test]
fn redis_cli_scan_iterates_every_key() {
    let e = Engine::start(&[]);
    for i in 0..300 {
        cli(&e, &["SET", &format!("user:{i}"), "x"]);
    }
    let listed = cli(&e, &["--scan", "--pattern", "user:1*"]);
    assert_eq!(listed.lines().count(), 111);
}
