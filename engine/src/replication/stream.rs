//! The write stream and its backlog.
//!
//! Every write a primary executes is appended here as a RESP command; the offset is the number of stream bytes
//! ever produced. Replicas read from the backlog at their own position, so a replica that reconnects after a
//! short break continues where it stopped (partial resync) as long as its position is still held. The backlog
//! keeps the last `repl-backlog-size` bytes, and more while a connected replica still needs them (a full sync in
//! progress, a slow link), up to a hard cap past which that replica is dropped and must resync.

use std::collections::{BTreeMap, VecDeque};

/// Bytes a lagging replica may hold in the backlog beyond `repl-backlog-size`.
pub const HARD_LIMIT: usize = 256 << 20;

/// The stream of one node.
#[derive(Debug, Default)]
pub struct Stream {
    buf: VecDeque<u8>,
    /// Offset of `buf[0]`.
    start: u64,
    /// Database of the last appended command (a SELECT is emitted when it changes).
    db: Option<usize>,
    /// Whether writes are recorded (a backlog exists).
    active: bool,
    size: usize,
    /// Positions still needed by connected replicas, by replica id.
    pins: BTreeMap<u64, u64>,
}

/// A replica asked for bytes the backlog no longer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooOld;

impl Stream {
    /// An inactive stream starting at `offset`.
    pub fn new(offset: u64, size: usize) -> Stream {
        Stream {
            start: offset,
            size,
            ..Default::default()
        }
    }

    /// Starts recording writes (when the first replica attaches; replicas record what they receive).
    pub fn activate(&mut self) {
        self.active = true;
    }

    /// True when writes are recorded.
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// The offset of the next byte.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// The oldest offset still held.
    pub fn first(&self) -> u64 {
        self.start
    }

    /// Bytes held.
    pub fn held(&self) -> usize {
        self.buf.len()
    }

    /// Configured backlog size.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Changes the backlog size.
    pub fn set_size(&mut self, size: usize) {
        self.size = size;
        self.trim();
    }

    /// Drops everything and restarts at `offset` (after a full sync), keeping the active state.
    pub fn reset(&mut self, offset: u64) {
        self.buf.clear();
        self.start = offset;
        self.db = None;
        self.pins.clear();
    }

    /// Appends one command run in database `db`.
    pub fn append_command(&mut self, db: usize, args: &[&[u8]]) {
        if !self.active {
            return;
        }
        if self.db != Some(db) {
            let n = itoa::Buffer::new().format(db).to_string();
            self.encode(&[b"SELECT", n.as_bytes()]);
            self.db = Some(db);
        }
        self.encode(args);
        self.trim();
    }

    /// Appends a command that is not tied to a database (PING, REPLCONF GETACK).
    pub fn append_global(&mut self, args: &[&[u8]]) {
        if self.active {
            self.encode(args);
            self.trim();
        }
    }

    /// Appends bytes received from the primary verbatim (a replica's own backlog), tracking SELECTs so a
    /// promoted replica continues the stream without a gap.
    pub fn append_raw(&mut self, bytes: &[u8], db: Option<usize>) {
        self.buf.extend(bytes);
        if db.is_some() {
            self.db = db;
        }
        self.trim();
    }

    fn encode(&mut self, args: &[&[u8]]) {
        let mut num = itoa::Buffer::new();
        self.buf.push_back(b'*');
        self.buf.extend(num.format(args.len()).as_bytes());
        self.buf.extend(b"\r\n");
        for a in args {
            self.buf.push_back(b'$');
            self.buf.extend(num.format(a.len()).as_bytes());
            self.buf.extend(b"\r\n");
            self.buf.extend(a.iter());
            self.buf.extend(b"\r\n");
        }
    }

    fn trim(&mut self) {
        let end = self.end();
        let keep_from = end.saturating_sub(self.size as u64);
        let pinned = self.pins.values().min().copied().unwrap_or(u64::MAX);
        let mut target = keep_from.min(pinned);
        if (end - target) as usize > self.size.max(HARD_LIMIT) {
            target = keep_from;
        }
        if target > self.start {
            let n = (target - self.start) as usize;
            self.buf.drain(..n.min(self.buf.len()));
            self.start = target;
        }
    }

    /// Copies up to `max` bytes from `offset`.
    pub fn read(&self, offset: u64, max: usize) -> Result<Vec<u8>, TooOld> {
        if offset < self.start || offset > self.end() {
            return Err(TooOld);
        }
        let from = (offset - self.start) as usize;
        let to = (from + max).min(self.buf.len());
        Ok(self.buf.range(from..to).copied().collect())
    }

    /// True when `offset` can be served.
    pub fn holds(&self, offset: u64) -> bool {
        offset >= self.start && offset <= self.end()
    }

    /// Records the position a replica still needs.
    pub fn pin(&mut self, replica: u64, offset: u64) {
        self.pins.insert(replica, offset);
    }

    /// Forgets a replica's position.
    pub fn unpin(&mut self, replica: u64) {
        self.pins.remove(&replica);
        self.trim();
    }

    /// The database of the last command, for a promoted replica.
    pub fn current_db(&self) -> Option<usize> {
        self.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_encoded_with_select_when_the_database_changes() {
        let mut s = Stream::new(0, 1024);
        s.activate();
        s.append_command(0, &[b"SET", b"k", b"v"]);
        s.append_command(0, &[b"DEL", b"k"]);
        s.append_command(2, &[b"DEL", b"x"]);
        let all = s.read(0, 10_000).expect("held");
        assert_eq!(
            String::from_utf8(all).expect("utf8"),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n\
             *2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*2\r\n$3\r\nDEL\r\n$1\r\nx\r\n"
        );
    }

    #[test]
    fn backlog_keeps_the_configured_size_and_refuses_older_offsets() {
        let mut s = Stream::new(100, 64);
        s.activate();
        for _ in 0..50 {
            s.append_global(&[b"PING"]);
        }
        assert_eq!(s.end(), 100 + 50 * 14);
        assert_eq!(s.held(), 64);
        assert_eq!(s.read(100, 10), Err(TooOld));
        assert!(s.read(s.end() - 14, 100).is_ok());
        assert_eq!(s.read(s.end() + 1, 1), Err(TooOld));
    }

    #[test]
    fn pinned_positions_are_kept_until_released() {
        let mut s = Stream::new(0, 16);
        s.activate();
        s.pin(1, 0);
        for _ in 0..10 {
            s.append_global(&[b"PING"]);
        }
        assert_eq!(s.first(), 0, "a replica still needs offset 0");
        s.unpin(1);
        assert_eq!(s.held(), 16);
    }

    #[test]
    fn inactive_stream_records_nothing() {
        let mut s = Stream::new(0, 1024);
        s.append_command(0, &[b"SET", b"k", b"v"]);
        assert_eq!(s.end(), 0);
    }
}
