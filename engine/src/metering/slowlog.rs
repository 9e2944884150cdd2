//! SLOWLOG: the last `slowlog-max-len` commands that took at least `slowlog-log-slower-than` microseconds.

use std::collections::VecDeque;

/// Arguments kept per entry, and bytes kept per argument, as Redis does.
const MAX_ARGS: usize = 32;
const MAX_ARG_BYTES: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Increasing id.
    pub id: u64,
    /// Unix seconds when it ran.
    pub time: u64,
    /// Duration in microseconds.
    pub micros: u64,
    /// Its arguments (shortened).
    pub args: Vec<Vec<u8>>,
    /// Client address.
    pub client: String,
    /// Client name.
    pub name: String,
}

/// The slow log.
#[derive(Debug, Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    /// Records a command.
    pub fn push(
        &mut self,
        time: u64,
        micros: u64,
        args: &[&[u8]],
        client: String,
        name: String,
        max_len: usize,
    ) {
        let mut kept: Vec<Vec<u8>> = args
            .iter()
            .take(if args.len() > MAX_ARGS {
                MAX_ARGS - 1
            } else {
                MAX_ARGS
            })
            .map(|a| {
                if a.len() > MAX_ARG_BYTES {
                    let mut v = a[..MAX_ARG_BYTES].to_vec();
                    v.extend_from_slice(
                        format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes(),
                    );
                    v
                } else {
                    a.to_vec()
                }
            })
            .collect();
        if args.len() > MAX_ARGS {
            kept.push(format!("... ({} more arguments)", args.len() - MAX_ARGS + 1).into_bytes());
        }
        self.entries.push_front(Entry {
            id: self.next_id,
            time,
            micros,
            args: kept,
            client,
            name,
        });
        self.next_id += 1;
        self.entries.truncate(max_len);
    }

    /// The `n` most recent entries, newest first.
    pub fn recent(&self, n: usize) -> Vec<Entry> {
        self.entries.iter().take(n).cloned().collect()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry.
    pub fn reset(&mut self) {
        self.entries.clear();
    }
}
