//! MONITOR: every command the node runs, streamed to the clients that asked for it.
//!
//! Feeding costs one relaxed atomic load per command while nobody monitors. Lines look like Redis':
//! `+1700000000.123456 [0 127.0.0.1:50000] "set" "key" "value"`, arguments quoted with C-style escapes;
//! secrets (the arguments of AUTH, HELLO … AUTH, ACL SETUSER, MIGRATE-style passwords) are redacted.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::mpsc;

/// The clients in MONITOR mode.
#[derive(Debug, Default)]
pub struct Monitors {
    active: AtomicBool,
    feeds: Mutex<Vec<(u64, mpsc::UnboundedSender<Vec<u8>>)>>,
}

impl Monitors {
    /// True when at least one client monitors.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Registers a monitoring client; returns the stream of lines for it.
    pub fn subscribe(&self, client: u64) -> mpsc::UnboundedReceiver<Vec<u8>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut feeds = self.feeds.lock();
        feeds.push((client, tx));
        self.active.store(true, Ordering::Relaxed);
        rx
    }

    /// Removes a monitoring client.
    pub fn unsubscribe(&self, client: u64) {
        let mut feeds = self.feeds.lock();
        feeds.retain(|(id, _)| *id != client);
        self.active.store(!feeds.is_empty(), Ordering::Relaxed);
    }

    /// Sends a command line to every monitor.
    pub fn feed(&self, now_us: u64, db: usize, client: &str, args: &[&[u8]]) {
        let line = format_line(now_us, db, client, args);
        let mut feeds = self.feeds.lock();
        feeds.retain(|(_, tx)| tx.send(line.clone()).is_ok());
        self.active.store(!feeds.is_empty(), Ordering::Relaxed);
    }
}

fn redacted(args: &[&[u8]], i: usize) -> bool {
    let name = args[0].to_ascii_lowercase();
    match name.as_slice() {
        b"auth" => i >= 1,
        b"hello" => args.iter().take(i).any(|a| a.eq_ignore_ascii_case(b"auth")),
        b"acl" => {
            args.get(1)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"setuser"))
                && i >= 3
        }
        _ => false,
    }
}

/// Formats one MONITOR line (with its `+` and CRLF).
pub fn format_line(now_us: u64, db: usize, client: &str, args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!(
        "+{}.{:06} [{db} {client}]",
        now_us / 1_000_000,
        now_us % 1_000_000
    )
    .into_bytes();
    for (i, a) in args.iter().enumerate() {
        out.push(b' ');
        if redacted(args, i) {
            out.extend_from_slice(b"\"(redacted)\"");
            continue;
        }
        out.push(b'"');
        for &b in a.iter() {
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                0x20..=0x7e => out.push(b),
                _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_quote_arguments_and_hide_secrets() {
        let line = format_line(
            1_700_000_000_123_456,
            2,
            "127.0.0.1:5000",
            &[b"SET", b"k\"1", b"a\nb\x01"],
        );
        assert_eq!(
            String::from_utf8(line).expect("ascii"),
            "+1700000000.123456 [2 127.0.0.1:5000] \"SET\" \"k\\\"1\" \"a\\nb\\x01\"\r\n"
        );
        let line = format_line(0, 0, "c", &[b"AUTH", b"user", b"secret"]);
        assert!(!String::from_utf8_lossy(&line).contains("secret"));
    }
}
