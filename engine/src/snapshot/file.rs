//! Snapshot files: SAVE/BGSAVE write one, the engine loads it at start.
//!
//! A file is written to a temporary name and renamed into place, so a crash mid-save never leaves a truncated
//! snapshot where the good one was. With a key file (`snapshot-key-file`: 32 raw bytes or 64 hex characters)
//! the whole snapshot is sealed with AES-256-GCM:
//!
//! ```text
//! "FERROENC" version:u16le nonce:12 bytes ciphertext+tag
//! ```
//!
//! A wrong key, a tampered file and a truncated file are all refused with an error that says so; nothing is
//! loaded unless the whole file checks out.

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};

use super::{Reader, Record, SnapshotError, Writer};
use crate::keyspace::{Clock, Keyspace};

const ENC_MAGIC: &[u8; 8] = b"FERROENC";
const ENC_VERSION: u16 = 1;

/// Errors reading or writing snapshot files.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is unusable.
    #[error("snapshot key file {0}: must hold 32 bytes or 64 hex characters")]
    BadKey(PathBuf),
    /// Decryption failed.
    #[error("cannot decrypt {0}: wrong snapshot key or damaged file")]
    Decrypt(PathBuf),
    /// The file is encrypted but no key was given.
    #[error("{0} is encrypted: start the engine with snapshot-key-file")]
    NeedsKey(PathBuf),
    /// The snapshot inside is invalid.
    #[error("{path}: {source}")]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: SnapshotError,
    },
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads an AES-256 key from a file.
pub fn read_key(path: &Path) -> Result<[u8; 32], FileError> {
    let raw = std::fs::read(path).map_err(io(path))?;
    let text = String::from_utf8_lossy(&raw);
    let trimmed = text.trim();
    if trimmed.len() == 64 && trimmed.chars().all(|c| c.is_ascii_hexdigit()) {
        let mut key = [0u8; 32];
        for (i, k) in key.iter_mut().enumerate() {
            *k = u8::from_str_radix(&trimmed[i * 2..i * 2 + 2], 16)
                .map_err(|_| FileError::BadKey(path.into()))?;
        }
        return Ok(key);
    }
    raw.try_into().map_err(|_| FileError::BadKey(path.into()))
}

/// Takes a consistent snapshot of the keyspace into memory (without stopping other clients: shards are
/// captured copy-on-write). Returns the bytes and the number of keys.
pub fn capture(ks: &Keyspace, now_ms: u64) -> (Vec<u8>, u64) {
    let (_, shards, images) = ks.begin_snapshot(now_ms, super::serialize_shard, || 0);
    let driver = std::thread::scope(|scope| {
        scope.spawn(|| ks.drive_snapshot());
        let mut w = Writer::new();
        let mut out = w.take_chunk();
        let mut keys = 0;
        for _ in 0..shards {
            let Ok(image) = images.recv() else { break };
            keys += image.keys;
            w.append_records(&image.records, image.keys);
            out.extend(w.take_chunk());
        }
        out.extend(w.finish());
        (out, keys)
    });
    driver
}

/// Writes `bytes` (a snapshot) to `path` atomically, sealed with `key` if given.
pub fn write(path: &Path, bytes: &[u8], key: Option<&[u8; 32]>) -> Result<(), FileError> {
    let body = match key {
        None => bytes.to_vec(),
        Some(k) => {
            let cipher = Aes256Gcm::new(k.into());
            let nonce_bytes: [u8; 12] = std::array::from_fn(|_| fastrand::u8(..));
            let sealed = cipher
                .encrypt(Nonce::from_slice(&nonce_bytes), bytes)
                .map_err(|_| FileError::Decrypt(path.into()))?;
            let mut out = Vec::with_capacity(sealed.len() + 22);
            out.extend_from_slice(ENC_MAGIC);
            out.extend_from_slice(&ENC_VERSION.to_le_bytes());
            out.extend_from_slice(&nonce_bytes);
            out.extend_from_slice(&sealed);
            out
        }
    };
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, &body).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// Reads and verifies a snapshot file; returns its records (nothing is loaded anywhere yet).
pub fn read(path: &Path, key: Option<&[u8; 32]>) -> Result<Vec<Record>, FileError> {
    let raw = std::fs::read(path).map_err(io(path))?;
    let plain = if raw.starts_with(ENC_MAGIC) {
        let key = key.ok_or_else(|| FileError::NeedsKey(path.into()))?;
        if raw.len() < 22 {
            return Err(FileError::Decrypt(path.into()));
        }
        let cipher = Aes256Gcm::new(key.into());
        cipher
            .decrypt(Nonce::from_slice(&raw[10..22]), &raw[22..])
            .map_err(|_| FileError::Decrypt(path.into()))?
    } else {
        raw
    };
    let snapshot_error = |source| FileError::Snapshot {
        path: path.into(),
        source,
    };
    let mut reader = Reader::new();
    let mut records = Vec::new();
    reader.feed(&plain, &mut records).map_err(snapshot_error)?;
    reader.finish().map_err(snapshot_error)?;
    Ok(records)
}

/// Where the configured snapshot file is.
pub fn path_of(config: &crate::config::Config) -> PathBuf {
    config.dir.join(&config.dbfilename)
}

/// The configured snapshot key, if any.
pub fn key_of(config: &crate::config::Config) -> Result<Option<[u8; 32]>, FileError> {
    config
        .snapshot_key_file
        .as_deref()
        .map(read_key)
        .transpose()
}

/// SAVE: captures the keyspace and writes the configured file; returns the number of keys saved.
pub fn save(ks: &Keyspace, config: &crate::config::Config, now_ms: u64) -> Result<u64, FileError> {
    let key = key_of(config)?;
    let (bytes, keys) = capture(ks, now_ms);
    write(&path_of(config), &bytes, key.as_ref())?;
    Ok(keys)
}

/// Loads verified records into an empty keyspace; returns how many keys were loaded.
pub fn load(ks: &Keyspace, records: Vec<Record>, clock: &Clock) -> usize {
    let mut n = 0;
    for r in records {
        if r.db >= ks.databases() {
            continue;
        }
        let key = r.key.clone();
        let mut held = ks.lock_key(r.db, &key);
        let (shard, h) = held.shard(r.db, &key);
        shard.set(
            h,
            r.into_entry((h >> 32) as u32, clock.initial()),
            clock.now_ms,
        );
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::Entry;

    fn keyspace_with(n: usize) -> Keyspace {
        let ks = Keyspace::new(2, 4);
        let clock = Clock::lru(1000);
        for i in 0..n {
            let key = format!("k{i}");
            let mut held = ks.lock_key(i % 2, key.as_bytes());
            let (shard, h) = held.shard(i % 2, key.as_bytes());
            shard.set(
                h,
                Entry::new_str((h >> 32) as u32, key.as_bytes(), b"v", None, 0),
                clock.now_ms,
            );
        }
        ks
    }

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ferro-snap-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("dump.ferro")
    }

    #[test]
    fn save_and_load_round_trip_with_and_without_encryption() {
        let ks = keyspace_with(1000);
        let (bytes, keys) = capture(&ks, 1000);
        assert_eq!(keys, 1000);
        for key in [None, Some([7u8; 32])] {
            let path = temp(if key.is_some() { "enc" } else { "plain" });
            write(&path, &bytes, key.as_ref()).expect("write");
            let records = read(&path, key.as_ref()).expect("read");
            let fresh = Keyspace::new(2, 4);
            assert_eq!(load(&fresh, records, &Clock::lru(1000)), 1000);
            assert_eq!(fresh.dbsize(0) + fresh.dbsize(1), 1000);
        }
    }

    #[test]
    fn wrong_key_missing_key_and_damage_are_refused() {
        let ks = keyspace_with(10);
        let (bytes, _) = capture(&ks, 1000);
        let path = temp("bad");
        write(&path, &bytes, Some(&[1; 32])).expect("write");
        assert!(matches!(
            read(&path, Some(&[2; 32])),
            Err(FileError::Decrypt(_))
        ));
        assert!(matches!(read(&path, None), Err(FileError::NeedsKey(_))));
        write(&path, &bytes, None).expect("write");
        let mut raw = std::fs::read(&path).expect("read");
        raw.truncate(raw.len() - 3);
        std::fs::write(&path, &raw).expect("write");
        assert!(matches!(read(&path, None), Err(FileError::Snapshot { .. })));
    }
}
