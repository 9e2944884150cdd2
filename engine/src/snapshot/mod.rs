//! The snapshot format: a versioned, checksummed serialization of the keyspace, used for full resync of
//! replicas (and, later, SAVE/BGSAVE files).
//!
//! ```text
//! "FERROSNP" version:u16le flags:u16le
//! record*:
//!   0x01 db:u32le                                   select the database of the following entries
//!   0x02 kind:u8 expire:i64le key:blob value        one key (expire -1 = none); value layout by kind:
//!        0 string  blob
//!        1 hash    count:u32le (field:blob value:blob)*
//!        2 list    count:u32le item:blob*            (head first)
//!        3 set     count:u32le member:blob*
//!        4 zset    count:u32le (member:blob score:f64le)*  (ascending)
//!        5 stream  blob: entries, counters, groups and pending entries (see `keyspace::stream::encode`)
//!   0xFF keys:u64le crc32:u32le                      end; crc32 covers every byte before it
//! blob = len:u32le bytes
//! ```
//!
//! Writing is plain appends to a `Vec<u8>`. Reading is push-based ([`Reader::feed`]) so a replica can load a
//! snapshot while it streams in, chunk by chunk, without holding it all in memory; a truncated or corrupt
//! snapshot is an error, and nothing is considered loaded until the end record's checksum matches.

pub mod file;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::keyspace::entry::Kind;
use crate::keyspace::hash::Hash;
use crate::keyspace::list::List;
use crate::keyspace::object::Object;
use crate::keyspace::set::Set;
use crate::keyspace::stream::{self, Stream};
use crate::keyspace::zset::ZSet;
use crate::keyspace::{Entry, Shard};

const MAGIC: &[u8; 8] = b"FERROSNP";
/// Current format version.
pub const VERSION: u16 = 1;
const HEADER_LEN: usize = 12;
const REC_SELECT: u8 = 0x01;
const REC_ENTRY: u8 = 0x02;
const REC_END: u8 = 0xFF;
const KIND_STR: u8 = 0;
const KIND_HASH: u8 = 1;
const KIND_LIST: u8 = 2;
const KIND_SET: u8 = 3;
const KIND_ZSET: u8 = 4;
const KIND_STREAM: u8 = 5;

/// Why a snapshot could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// The data does not start with the snapshot magic.
    #[error("not a ferrocache snapshot (bad magic)")]
    BadMagic,
    /// Written by a newer version.
    #[error("snapshot format version {0} is not supported (this engine reads version {VERSION})")]
    Version(u16),
    /// The data ended before the end record.
    #[error("snapshot is truncated")]
    Truncated,
    /// The checksum or a record is wrong.
    #[error("snapshot is corrupt: {0}")]
    Corrupt(String),
}

/// Builds a snapshot.
pub struct Writer {
    buf: Vec<u8>,
    hasher: crc32fast::Hasher,
    keys: u64,
}

impl Default for Writer {
    fn default() -> Self {
        Writer::new()
    }
}

impl Writer {
    /// Starts a snapshot with its header.
    pub fn new() -> Writer {
        let mut w = Writer {
            buf: Vec::new(),
            hasher: crc32fast::Hasher::new(),
            keys: 0,
        };
        w.buf.extend_from_slice(MAGIC);
        w.buf.extend_from_slice(&VERSION.to_le_bytes());
        w.buf.extend_from_slice(&0u16.to_le_bytes());
        w
    }

    /// Appends the body records of one shard, serialized separately (see [`serialize_shard`]).
    pub fn append_records(&mut self, records: &[u8], keys: u64) {
        self.buf.extend_from_slice(records);
        self.keys += keys;
    }

    /// Takes the bytes written so far (to stream them), keeping the checksum running.
    pub fn take_chunk(&mut self) -> Vec<u8> {
        self.hasher.update(&self.buf);
        std::mem::take(&mut self.buf)
    }

    /// Writes the end record and returns the last chunk.
    pub fn finish(mut self) -> Vec<u8> {
        let mut tail = self.take_chunk();
        let mut end = vec![REC_END];
        end.extend_from_slice(&self.keys.to_le_bytes());
        self.hasher.update(&end);
        tail.extend_from_slice(&end);
        tail.extend_from_slice(&self.hasher.finalize().to_le_bytes());
        tail
    }
}

/// Wraps body records (see [`serialize_entries`]) as a complete snapshot: header, records, end record and
/// checksum. A slot migration sends keys this way.
pub fn pack(records: &[u8], keys: u64) -> Vec<u8> {
    let mut w = Writer::new();
    w.append_records(records, keys);
    w.finish()
}

/// Reads a complete snapshot held in memory (as [`pack`] makes them).
pub fn unpack(bytes: &[u8]) -> Result<Vec<Record>, SnapshotError> {
    let mut reader = Reader::new();
    let mut out = Vec::new();
    reader.feed(bytes, &mut out)?;
    reader.finish()?;
    Ok(out)
}

fn blob(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Writes a shard's live entries as records (the keyspace's [`crate::keyspace::Serializer`]).
pub fn serialize_shard(db: usize, shard: &Shard, now_ms: u64, out: &mut Vec<u8>) -> u64 {
    serialize_entries(db, shard.iter(), now_ms, out)
}

/// Serializes the entries of one shard of database `db` as body records; returns the number of live keys.
pub fn serialize_entries<'a>(
    db: usize,
    entries: impl Iterator<Item = &'a Entry>,
    now_ms: u64,
    out: &mut Vec<u8>,
) -> u64 {
    let mut n = 0;
    let mut selected = false;
    for e in entries {
        if e.expire().is_some_and(|at| now_ms > at) {
            continue;
        }
        if !selected {
            out.push(REC_SELECT);
            out.extend_from_slice(&(db as u32).to_le_bytes());
            selected = true;
        }
        out.push(REC_ENTRY);
        let kind_at = out.len();
        out.push(KIND_STR);
        out.extend_from_slice(&e.expire().map_or(-1, |at| at as i64).to_le_bytes());
        blob(out, e.key());
        match (e.kind(), e.object()) {
            (Kind::Object, Some(obj)) => out[kind_at] = serialize_object(obj, out),
            _ => blob(out, e.value()),
        }
        n += 1;
    }
    n
}

/// Writes a collection's elements; returns its kind byte.
fn serialize_object(obj: &Object, out: &mut Vec<u8>) -> u8 {
    if let Object::Stream(s) = obj {
        let mut body = Vec::new();
        stream::encode(s, &mut body);
        blob(out, &body);
        return KIND_STREAM;
    }
    let count = (obj.len() as u32).to_le_bytes();
    out.extend_from_slice(&count);
    match obj {
        Object::Hash(h) => {
            for (f, v) in h.iter() {
                blob(out, f);
                blob(out, v);
            }
            KIND_HASH
        }
        Object::List(l) => {
            l.iter().for_each(|item| blob(out, item));
            KIND_LIST
        }
        Object::Set(set) => {
            set.iter().for_each(|m| blob(out, &m));
            KIND_SET
        }
        Object::ZSet(z) => {
            z.for_each(|m, score| {
                blob(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            });
            KIND_ZSET
        }
        Object::Stream(_) => KIND_STREAM,
    }
}

/// A value read from a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string.
    Str(Vec<u8>),
    /// A hash's fields and values.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// A list's items, head first.
    List(Vec<Vec<u8>>),
    /// A set's members.
    Set(Vec<Vec<u8>>),
    /// A sorted set's members and scores.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// A stream.
    Stream(Box<Stream>),
}

/// One key read from a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Database.
    pub db: usize,
    /// Key name.
    pub key: Vec<u8>,
    /// The value.
    pub value: Value,
    /// Expiry (unix ms).
    pub expire: Option<u64>,
}

impl Record {
    /// Builds the keyspace entry for this record.
    pub fn into_entry(self, hash: u32, clock: u32) -> Entry {
        let object = match self.value {
            Value::Str(v) => return Entry::new_str(hash, &self.key, &v, self.expire, clock),
            Value::Hash(pairs) => {
                let mut h = Hash::default();
                pairs.iter().for_each(|(f, v)| {
                    h.set(f, v);
                });
                Object::Hash(h)
            }
            Value::List(items) => {
                let mut l = List::default();
                items.iter().for_each(|i| l.push(i, false));
                Object::List(Box::new(l))
            }
            Value::Set(members) => {
                let mut set = Set::default();
                members.iter().for_each(|m| {
                    set.add(m);
                });
                Object::Set(set)
            }
            Value::ZSet(members) => {
                let longest = members.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
                let mut z = ZSet::with_capacity_for(members.len(), longest);
                members.iter().for_each(|(m, s)| {
                    z.insert(m, *s);
                });
                Object::ZSet(z)
            }
            Value::Stream(s) => Object::Stream(s),
        };
        Entry::new_object(hash, &self.key, object, self.expire, clock)
    }
}

/// Parses a snapshot pushed to it in chunks.
pub struct Reader {
    buf: Vec<u8>,
    pos: usize,
    hasher: crc32fast::Hasher,
    header_done: bool,
    db: usize,
    keys: u64,
    done: bool,
}

impl Default for Reader {
    fn default() -> Self {
        Reader::new()
    }
}

impl Reader {
    /// A reader expecting a header first.
    pub fn new() -> Reader {
        Reader {
            buf: Vec::new(),
            pos: 0,
            hasher: crc32fast::Hasher::new(),
            header_done: false,
            db: 0,
            keys: 0,
            done: false,
        }
    }

    /// True once the end record was read and its checksum matched.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Keys read so far.
    pub fn keys(&self) -> u64 {
        self.keys
    }

    /// Adds bytes and returns every complete record they finish. Bytes after the end record are an error.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<Record>) -> Result<(), SnapshotError> {
        if self.done {
            return if chunk.is_empty() {
                Ok(())
            } else {
                Err(SnapshotError::Corrupt("data after the end record".into()))
            };
        }
        self.buf.extend_from_slice(chunk);
        loop {
            match self.next_record()? {
                Some(Some(r)) => out.push(r),
                Some(None) => {}
                None => break,
            }
            if self.done {
                break;
            }
        }
        // Forget consumed bytes (they are already in the checksum).
        self.buf.drain(..self.pos);
        self.pos = 0;
        if self.done && !self.buf.is_empty() {
            return Err(SnapshotError::Corrupt("data after the end record".into()));
        }
        Ok(())
    }

    /// Declares the input finished: an error unless the end record was read.
    pub fn finish(&self) -> Result<(), SnapshotError> {
        if self.done {
            Ok(())
        } else {
            Err(SnapshotError::Truncated)
        }
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.buf.len() - self.pos < n {
            return None;
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Some(s)
    }

    /// Parses one record: Ok(None) = need more bytes (nothing consumed), Ok(Some(None)) = a non-key record.
    #[allow(clippy::type_complexity)]
    fn next_record(&mut self) -> Result<Option<Option<Record>>, SnapshotError> {
        let start = self.pos;
        let result = self.parse_record();
        match result {
            Ok(None) => {
                self.pos = start;
                Ok(None)
            }
            Ok(Some(r)) => {
                if !self.done {
                    self.hasher.update(&self.buf[start..self.pos]);
                }
                Ok(Some(r))
            }
            Err(e) => Err(e),
        }
    }

    #[allow(clippy::type_complexity)]
    fn parse_record(&mut self) -> Result<Option<Option<Record>>, SnapshotError> {
        if !self.header_done {
            let Some(h) = self.take(HEADER_LEN) else {
                return Ok(None);
            };
            if &h[..8] != MAGIC {
                return Err(SnapshotError::BadMagic);
            }
            let version = u16::from_le_bytes([h[8], h[9]]);
            if version != VERSION {
                return Err(SnapshotError::Version(version));
            }
            self.header_done = true;
            return Ok(Some(None));
        }
        let Some(&[tag]) = self.take(1) else {
            return Ok(None);
        };
        match tag {
            REC_SELECT => {
                let Some(b) = self.take(4) else {
                    return Ok(None);
                };
                self.db = u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
                Ok(Some(None))
            }
            REC_ENTRY => {
                let Some(&[kind]) = self.take(1) else {
                    return Ok(None);
                };
                let Some(e) = self.take(8) else {
                    return Ok(None);
                };
                let expire = i64::from_le_bytes(e.try_into().unwrap_or([0; 8]));
                let Some(key) = self.blob() else {
                    return Ok(None);
                };
                let Some(value) = self.value(kind)? else {
                    return Ok(None);
                };
                self.keys += 1;
                Ok(Some(Some(Record {
                    db: self.db,
                    key,
                    value,
                    expire: (expire >= 0).then_some(expire as u64),
                })))
            }
            REC_END => {
                let end_start = self.pos - 1;
                let Some(k) = self.take(8) else {
                    return Ok(None);
                };
                let keys = u64::from_le_bytes(k.try_into().unwrap_or([0; 8]));
                let Some(c) = self.take(4) else {
                    return Ok(None);
                };
                let crc = u32::from_le_bytes(c.try_into().unwrap_or([0; 4]));
                let mut h = self.hasher.clone();
                h.update(&self.buf[end_start..end_start + 9]);
                if h.finalize() != crc {
                    return Err(SnapshotError::Corrupt("checksum mismatch".into()));
                }
                if keys != self.keys {
                    return Err(SnapshotError::Corrupt(format!(
                        "end record counts {keys} keys, {} were read",
                        self.keys
                    )));
                }
                self.done = true;
                Ok(Some(None))
            }
            other => Err(SnapshotError::Corrupt(format!(
                "unknown record type {other:#x}"
            ))),
        }
    }

    fn count(&mut self) -> Option<usize> {
        self.take(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize)
    }

    /// Reads a value of `kind`: Ok(None) when more bytes are needed.
    fn value(&mut self, kind: u8) -> Result<Option<Value>, SnapshotError> {
        if kind == KIND_STR {
            return Ok(self.blob().map(Value::Str));
        }
        if kind == KIND_STREAM {
            let Some(body) = self.blob() else {
                return Ok(None);
            };
            return match stream::decode(&body) {
                Some(s) => Ok(Some(Value::Stream(Box::new(s)))),
                None => Err(SnapshotError::Corrupt("invalid stream value".into())),
            };
        }
        if !(KIND_HASH..=KIND_ZSET).contains(&kind) {
            return Err(SnapshotError::Corrupt(format!("unknown value kind {kind}")));
        }
        let Some(n) = self.count() else {
            return Ok(None);
        };
        // Each element takes at least 4 bytes: a count larger than what is left of any sane input is corrupt
        // data, not a reason to allocate.
        let cap = n.min(1 << 16);
        Ok(match kind {
            KIND_HASH => {
                let mut pairs = Vec::with_capacity(cap);
                for _ in 0..n {
                    let (Some(f), Some(v)) = (self.blob(), self.blob()) else {
                        return Ok(None);
                    };
                    pairs.push((f, v));
                }
                Some(Value::Hash(pairs))
            }
            KIND_ZSET => {
                let mut members = Vec::with_capacity(cap);
                for _ in 0..n {
                    let Some(m) = self.blob() else {
                        return Ok(None);
                    };
                    let Some(s) = self.take(8) else {
                        return Ok(None);
                    };
                    let score = f64::from_le_bytes(s.try_into().unwrap_or([0; 8]));
                    if score.is_nan() {
                        return Err(SnapshotError::Corrupt("NaN score".into()));
                    }
                    members.push((m, score));
                }
                Some(Value::ZSet(members))
            }
            _ => {
                let mut items = Vec::with_capacity(cap);
                for _ in 0..n {
                    let Some(i) = self.blob() else {
                        return Ok(None);
                    };
                    items.push(i);
                }
                Some(if kind == KIND_LIST {
                    Value::List(items)
                } else {
                    Value::Set(items)
                })
            }
        })
    }

    fn blob(&mut self) -> Option<Vec<u8>> {
        let len = self.take(4)?;
        let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
        self.take(len).map(<[u8]>::to_vec)
    }
}

/// The node's record of snapshot saves: SAVE, BGSAVE and `LASTSAVE`/`INFO persistence` read and write it.
#[derive(Debug)]
pub struct Saves {
    last_save: AtomicU64,
    running: AtomicBool,
    last_ok: AtomicBool,
}

impl Saves {
    /// A record that counts `now_secs` (the start) as the last save.
    pub fn new(now_secs: u64) -> Saves {
        Saves {
            last_save: AtomicU64::new(now_secs),
            running: AtomicBool::new(false),
            last_ok: AtomicBool::new(true),
        }
    }

    /// Unix seconds of the last successful save (or of the start).
    pub fn last_save(&self) -> u64 {
        self.last_save.load(Ordering::Relaxed)
    }

    /// Records a successful save at `secs`.
    pub fn saved(&self, secs: u64) {
        self.last_save.store(secs, Ordering::Relaxed);
    }

    /// Claims the one background save slot; false when a BGSAVE already runs.
    pub fn begin_background(&self) -> bool {
        !self.running.swap(true, Ordering::SeqCst)
    }

    /// Ends the background save, recording whether it succeeded.
    pub fn end_background(&self, ok: bool) {
        self.last_ok.store(ok, Ordering::Relaxed);
        self.running.store(false, Ordering::SeqCst);
    }

    /// True while a BGSAVE runs.
    pub fn background_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// True when the last BGSAVE succeeded.
    pub fn last_background_ok(&self) -> bool {
        self.last_ok.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let entries = [
            Entry::new_str(1, b"a", b"alpha", None, 0),
            Entry::new_str(2, b"b", b"", Some(9_999_999_999_999), 0),
            Entry::new_str(3, b"gone", b"x", Some(5), 0),
        ];
        let mut w = Writer::new();
        let mut body = Vec::new();
        let n = serialize_entries(3, entries.iter(), 1000, &mut body);
        w.append_records(&body, n);
        let mut bytes = w.take_chunk();
        bytes.extend(w.finish());
        bytes
    }

    fn read_all(bytes: &[u8], chunk: usize) -> Result<Vec<Record>, SnapshotError> {
        let mut r = Reader::new();
        let mut out = Vec::new();
        for c in bytes.chunks(chunk.max(1)) {
            r.feed(c, &mut out)?;
        }
        r.finish()?;
        Ok(out)
    }

    #[test]
    fn round_trip_in_any_chunking_skips_expired_keys() {
        let bytes = sample();
        for chunk in [1, 3, 7, 64, bytes.len()] {
            let recs = read_all(&bytes, chunk).expect("valid snapshot");
            assert_eq!(recs.len(), 2);
            assert_eq!((recs[0].db, &recs[0].key[..]), (3, &b"a"[..]));
            assert_eq!(recs[0].value, Value::Str(b"alpha".to_vec()));
            assert_eq!(recs[1].expire, Some(9_999_999_999_999));
        }
    }

    #[test]
    fn truncated_snapshots_are_refused() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let result = read_all(&bytes[..cut], 5);
            assert!(result.is_err(), "cut at {cut} accepted");
        }
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x20;
            assert!(read_all(&bad, 16).is_err(), "flip at {i} accepted");
        }
    }

    #[test]
    fn other_files_and_versions_are_named() {
        assert_eq!(
            read_all(b"REDIS0011xxxxxxxxx", 4),
            Err(SnapshotError::BadMagic)
        );
        let mut v2 = sample();
        v2[8] = 2;
        assert_eq!(read_all(&v2, 64), Err(SnapshotError::Version(2)));
    }
}
