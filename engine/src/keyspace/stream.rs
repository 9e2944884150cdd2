//! Stream values: entries packed into nodes by id range, plus consumer groups with their pending entries.
//!
//! Entries are not heap objects of their own. A node holds up to `stream-node-max-entries` entries (or about
//! `stream-node-max-bytes`, see [`super::limits`]) in one `Vec<u8>`, keyed in a `BTreeMap` by its *master id* — a lower bound of every id
//! in it (the id of the entry that opened it). Each entry is written as
//!
//! ```text
//! ms-delta:varint  seq:varint  flags:u8  [nfields:varint (field:blob)*]  (value:blob)*
//! ```
//!
//! where `ms-delta` is relative to the master id, `seq` is relative to the master's sequence when the
//! millisecond is the same, and flag [`SAME_FIELDS`] says the entry has exactly the field names of the node's
//! master fields (written once at the start of the node), so a stream whose entries share their field names
//! stores only values. A `blob` is a varint length and the bytes. Deleting an entry removes its bytes; an empty
//! node is dropped. The per-stream counters Redis reports (length, last id, max deleted id, entries added,
//! first id) are kept beside the nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// Entry flag: the entry's field names are the node's master fields.
const SAME_FIELDS: u8 = 1;
/// Estimated bytes of a node's map slot and header besides its buffer.
const NODE_OVERHEAD: usize = 64;
/// Estimated bytes of one pending entry (group PEL slot plus the consumer's set slot).
const PENDING_BYTES: usize = 96;
/// Estimated fixed bytes of a consumer group and of a consumer.
const GROUP_BYTES: usize = 160;
const CONSUMER_BYTES: usize = 112;

/// A stream entry id: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Unix time in milliseconds (or any number the client chose).
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest id.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An id.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The id right after this one, if any.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self.ms.checked_add(1).map(|ms| StreamId { ms, seq: 0 }),
        }
    }

    /// The id right before this one, if any.
    pub fn prev(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId { ms: self.ms, seq }),
            None => self
                .ms
                .checked_sub(1)
                .map(|ms| StreamId { ms, seq: u64::MAX }),
        }
    }

    /// True for `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get_varint(buf: &[u8], at: &mut usize) -> u64 {
    let (mut n, mut shift) = (0u64, 0);
    loop {
        let b = buf[*at];
        *at += 1;
        n |= ((b & 0x7f) as u64) << shift;
        if b & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

fn put_blob(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn get_blob<'a>(buf: &'a [u8], at: &mut usize) -> &'a [u8] {
    let n = get_varint(buf, at) as usize;
    let b = &buf[*at..*at + n];
    *at += n;
    b
}

/// A node: packed entries whose ids are at least the node's master id.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    /// Live entries.
    count: u32,
    /// Number of master field names.
    fields: u32,
    /// Master field names, then the entries.
    buf: Vec<u8>,
    /// Where the entries start (end of the master field names).
    head: usize,
}

/// Where one entry sits in its node: its id, where its fields start and where it ends.
#[derive(Debug, Clone, Copy)]
struct Span {
    id: StreamId,
    body: usize,
    end: usize,
}

impl Node {
    fn new(fields: &[&[u8]]) -> Node {
        let mut buf = Vec::with_capacity(256);
        put_varint(&mut buf, fields.len() as u64);
        fields.iter().for_each(|f| put_blob(&mut buf, f));
        let head = buf.len();
        Node {
            count: 0,
            fields: fields.len() as u32,
            buf,
            head,
        }
    }

    /// True when the field names of `pairs` are the master fields.
    fn same_fields(&self, pairs: &[&[u8]]) -> bool {
        if pairs.len() != 2 * self.fields as usize {
            return false;
        }
        let mut at = 0;
        get_varint(&self.buf, &mut at);
        pairs
            .iter()
            .step_by(2)
            .all(|f| get_blob(&self.buf, &mut at) == *f)
    }

    fn push(&mut self, master: StreamId, id: StreamId, pairs: &[&[u8]]) {
        let same = self.same_fields(pairs);
        put_varint(&mut self.buf, id.ms - master.ms);
        put_varint(
            &mut self.buf,
            if id.ms == master.ms {
                id.seq - master.seq
            } else {
                id.seq
            },
        );
        if same {
            self.buf.push(SAME_FIELDS);
            pairs
                .iter()
                .skip(1)
                .step_by(2)
                .for_each(|v| put_blob(&mut self.buf, v));
        } else {
            self.buf.push(0);
            put_varint(&mut self.buf, (pairs.len() / 2) as u64);
            pairs.iter().for_each(|b| put_blob(&mut self.buf, b));
        }
        self.count += 1;
    }

    /// Reads the id of the entry at `at` and skips over its fields.
    fn span(&self, master: StreamId, at: usize) -> Span {
        let buf = &self.buf;
        let mut at = at;
        let ms = master.ms + get_varint(buf, &mut at);
        let seq = get_varint(buf, &mut at);
        let seq = if ms == master.ms {
            master.seq + seq
        } else {
            seq
        };
        let body = at;
        let flags = buf[at];
        at += 1;
        let blobs = if flags & SAME_FIELDS != 0 {
            self.fields as u64
        } else {
            2 * get_varint(buf, &mut at)
        };
        for _ in 0..blobs {
            let n = get_varint(buf, &mut at) as usize;
            at += n;
        }
        Span {
            id: StreamId { ms, seq },
            body,
            end: at,
        }
    }

    /// The fields and values of the entry whose body starts at `body`, into `out` (cleared first).
    fn pairs<'a>(&'a self, body: usize, out: &mut Vec<&'a [u8]>) {
        out.clear();
        let buf = &self.buf;
        let mut at = body + 1;
        if buf[body] & SAME_FIELDS != 0 {
            let mut names = 0;
            get_varint(buf, &mut names);
            for _ in 0..self.fields {
                out.push(get_blob(buf, &mut names));
                out.push(get_blob(buf, &mut at));
            }
        } else {
            let n = get_varint(buf, &mut at);
            for _ in 0..2 * n {
                out.push(get_blob(buf, &mut at));
            }
        }
    }

    /// Every entry's span, oldest first.
    fn spans(&self, master: StreamId) -> Vec<Span> {
        let mut out = Vec::with_capacity(self.count as usize);
        let mut at = self.head;
        while at < self.buf.len() {
            let s = self.span(master, at);
            at = s.end;
            out.push(s);
        }
        out
    }

    fn is_full(&self) -> bool {
        self.count as usize >= super::limits::stream_entries()
            || self.buf.len() >= super::limits::stream_bytes()
    }

    fn size(&self) -> usize {
        self.buf.capacity() + NODE_OVERHEAD
    }
}

/// An entry waiting for acknowledgement in a consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The consumer it was delivered to.
    pub consumer: Arc<[u8]>,
    /// When it was last delivered, unix ms.
    pub delivered_ms: u64,
    /// How many times it was delivered.
    pub deliveries: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Its name.
    pub name: Arc<[u8]>,
    /// Last time it tried to read or claim, unix ms.
    pub seen_ms: u64,
    /// Last time it read or claimed something, unix ms (None: never).
    pub active_ms: Option<u64>,
    /// Ids delivered to it and not acknowledged.
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    /// The last id delivered to the group.
    pub last_id: StreamId,
    /// Entries the group read (None when unknown, Redis' `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: Option<u64>,
    /// Delivered, unacknowledged entries.
    pub pel: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Box<[u8]>, Consumer>,
}

impl Group {
    /// A group starting after `last_id`.
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    /// The consumer called `name`, created if missing (second value: created); its seen time becomes `now`.
    pub fn consumer(&mut self, name: &[u8], now: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let c = self
            .consumers
            .entry(name.into())
            .or_insert_with(|| Consumer {
                name: name.into(),
                seen_ms: now,
                active_ms: None,
                pending: BTreeSet::new(),
            });
        c.seen_ms = now;
        (c, created)
    }

    /// Records that `id` was delivered (or claimed) to `consumer` at `at_ms`, with a delivery count.
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], at_ms: u64, deliveries: u64) {
        if let Some(old) = self.pel.get(&id) {
            if &*old.consumer != consumer {
                if let Some(c) = self.consumers.get_mut(&*old.consumer) {
                    c.pending.remove(&id);
                }
            }
        }
        let Some(c) = self.consumers.get_mut(consumer) else {
            return;
        };
        c.pending.insert(id);
        let name = c.name.clone();
        self.pel.insert(
            id,
            Pending {
                consumer: name,
                delivered_ms: at_ms,
                deliveries,
            },
        );
    }

    /// Acknowledges `id`; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        match self.pel.remove(&id) {
            Some(p) => {
                if let Some(c) = self.consumers.get_mut(&*p.consumer) {
                    c.pending.remove(&id);
                }
                true
            }
            None => false,
        }
    }

    /// Deletes a consumer and its pending entries; returns how many it had (None: no such consumer).
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pel.remove(id);
        }
        Some(c.pending.len())
    }

    fn size(&self, name: &[u8]) -> usize {
        GROUP_BYTES
            + name.len()
            + self.pel.len() * PENDING_BYTES
            + self
                .consumers
                .keys()
                .map(|n| CONSUMER_BYTES + 2 * n.len())
                .sum::<usize>()
    }
}

/// How XADD and XTRIM trim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trim {
    /// Keep at most this many entries.
    MaxLen(u64),
    /// Remove entries with smaller ids.
    MinId(StreamId),
}

/// A stream value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    nodes: BTreeMap<StreamId, Node>,
    len: u64,
    /// The id of the last entry ever added (or set with XSETID).
    pub last_id: StreamId,
    /// The id of the first entry (0-0 when empty).
    pub first_id: StreamId,
    /// The largest id ever deleted with XDEL.
    pub max_deleted: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Box<[u8]>, Group>,
    node_bytes: usize,
}

impl Stream {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True when the stream holds no entry (the key still exists, unlike other empty collections).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of nodes (XINFO `radix-tree-keys`).
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// Heap bytes used, entries, groups and pending entries included (estimated for map slots).
    pub fn heap_size(&self) -> usize {
        self.node_bytes + self.groups.iter().map(|(n, g)| g.size(n)).sum::<usize>()
    }

    /// Appends an entry (`pairs` alternates fields and values); `id` must be greater than `last_id`.
    pub fn append(&mut self, id: StreamId, pairs: &[&[u8]]) {
        debug_assert!(id > self.last_id || self.len == 0);
        let open = self
            .nodes
            .last_key_value()
            .is_some_and(|(_, n)| !n.is_full());
        if !open {
            if let Some((_, last)) = self.nodes.last_key_value() {
                // A full node never grows again: give back its spare capacity.
                let before = last.size();
                if let Some(mut last) = self.nodes.last_entry() {
                    last.get_mut().buf.shrink_to_fit();
                    self.node_bytes = self.node_bytes - before + last.get().size();
                }
            }
            let fields: Vec<&[u8]> = pairs.iter().step_by(2).copied().collect();
            let node = Node::new(&fields);
            self.node_bytes += node.size();
            self.nodes.insert(id, node);
        }
        if let Some(mut last) = self.nodes.last_entry() {
            let master = *last.key();
            let before = last.get().size();
            last.get_mut().push(master, id, pairs);
            self.node_bytes = self.node_bytes - before + last.get().size();
        }
        if self.len == 0 {
            self.first_id = id;
        }
        self.len += 1;
        self.last_id = id;
        self.entries_added += 1;
    }

    /// Calls `f` with each entry whose id is in `start..=end`, oldest first (newest first with `rev`), until
    /// `f` returns false.
    pub fn for_range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(StreamId, &[&[u8]]) -> bool,
    ) {
        if start > end {
            return;
        }
        // The node holding `start` is the last one whose master id is not above it.
        let from = self
            .nodes
            .range(..=start)
            .next_back()
            .map_or(start, |(k, _)| *k);
        let nodes = self.nodes.range(from..=end);
        let mut pairs = Vec::new();
        if rev {
            for (master, node) in nodes.rev() {
                if !visit(*master, node, start, end, rev, &mut pairs, &mut f) {
                    return;
                }
            }
        } else {
            for (master, node) in nodes {
                if !visit(*master, node, start, end, rev, &mut pairs, &mut f) {
                    return;
                }
            }
        }
    }

    /// The entry with this id, as alternating fields and values.
    pub fn get(&self, id: StreamId) -> Option<Vec<Vec<u8>>> {
        let mut found = None;
        self.for_range(id, id, false, |_, pairs| {
            found = Some(pairs.iter().map(|p| p.to_vec()).collect());
            false
        });
        found
    }

    /// True when an entry with this id exists.
    pub fn contains(&self, id: StreamId) -> bool {
        let mut found = false;
        self.for_range(id, id, false, |_, _| {
            found = true;
            false
        });
        found
    }

    /// The first (or last) entry's id.
    pub fn edge_id(&self, last: bool) -> Option<StreamId> {
        let mut found = None;
        self.for_range(StreamId::MIN, StreamId::MAX, last, |id, _| {
            found = Some(id);
            false
        });
        found
    }

    /// Deletes the entry with this id; true when it existed.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&master, node)) = self.nodes.range_mut(..=id).next_back() else {
            return false;
        };
        let spans = node.spans(master);
        let Some(k) = spans.iter().position(|sp| sp.id == id) else {
            return false;
        };
        let from = if k == 0 { node.head } else { spans[k - 1].end };
        let before = node.size();
        node.buf.drain(from..spans[k].end);
        node.count -= 1;
        let empty = node.count == 0;
        let after = node.size();
        self.node_bytes = self.node_bytes - before + after;
        if empty {
            self.nodes.remove(&master);
            self.node_bytes -= after;
        }
        self.len -= 1;
        if id > self.max_deleted {
            self.max_deleted = id;
        }
        if self.len == 0 {
            self.first_id = StreamId::MIN;
        } else if id == self.first_id {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        true
    }

    /// Removes entries from the head per `trim`. With `approx`, only whole nodes go (and at most `limit`
    /// entries, 0 = no limit), as Redis' `~`; otherwise exactly. Returns the number removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: usize) -> u64 {
        let mut removed = 0u64;
        while let Some(mut first) = self.nodes.first_entry() {
            let master = *first.key();
            let node = first.get_mut();
            let count = node.count as u64;
            let whole = match trim {
                Trim::MaxLen(max) => self.len - count >= max,
                Trim::MinId(min) => node.spans(master).last().is_some_and(|sp| sp.id < min),
            };
            let within_limit = limit == 0 || removed + count <= limit as u64;
            if whole && within_limit {
                self.node_bytes -= node.size();
                first.remove();
                self.len -= count;
                removed += count;
                continue;
            }
            if approx || !within_limit && limit > 0 {
                break;
            }
            // Exact trimming inside the first node: drop its leading entries.
            let entries = node.spans(master);
            let drop = match trim {
                Trim::MaxLen(max) => (self.len.saturating_sub(max) as usize).min(entries.len()),
                Trim::MinId(min) => entries.iter().take_while(|sp| sp.id < min).count(),
            };
            if drop > 0 {
                let end = entries[drop - 1].end;
                drop_prefix(node, end, drop, &mut self.node_bytes);
                self.len -= drop as u64;
                removed += drop as u64;
            }
            break;
        }
        if removed > 0 {
            self.first_id = self.edge_id(false).unwrap_or_default();
        }
        removed
    }

    /// Estimated logical position of `id` among every entry ever added (Redis'
    /// `streamEstimateDistanceFromFirstEverEntry`); None when it cannot be known.
    pub fn entries_before(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.len == 0 && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        }
        if id > self.last_id {
            return None;
        }
        if self.max_deleted.is_zero() || self.max_deleted < self.first_id {
            if id < self.first_id {
                return Some(self.entries_added - self.len);
            }
            if id == self.first_id {
                return Some(self.entries_added - self.len + 1);
            }
        }
        None
    }

    /// True when an XDEL tombstone may lie at or after `from` (Redis' `streamRangeHasTombstones`).
    pub fn has_tombstones_after(&self, from: StreamId) -> bool {
        self.len > 0 && !self.max_deleted.is_zero() && from <= self.max_deleted
    }

    /// The lag of a group: entries added it has not read yet; None when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if let Some(read) = g.entries_read {
            if !self.has_tombstones_after(g.last_id) {
                return Some(self.entries_added.saturating_sub(read));
            }
        }
        self.entries_before(g.last_id)
            .map(|read| self.entries_added.saturating_sub(read))
    }

    /// Moves a group past a newly delivered `id`, updating its read counter like Redis.
    pub fn advance_group(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        g.entries_read = match g.entries_read {
            Some(n) if !self.has_tombstones_after(id) => Some(n + 1),
            _ if self.entries_added > 0 => self.entries_before(id),
            other => other,
        };
        g.last_id = id;
    }
}

/// Calls `f` with the entries of one node within `start..=end`; false once `f` asked to stop or the range
/// ended inside the node.
fn visit<'a>(
    master: StreamId,
    node: &'a Node,
    start: StreamId,
    end: StreamId,
    rev: bool,
    pairs: &mut Vec<&'a [u8]>,
    f: &mut impl FnMut(StreamId, &[&[u8]]) -> bool,
) -> bool {
    if rev {
        for sp in node.spans(master).iter().rev() {
            if sp.id < start {
                return false;
            }
            if sp.id <= end {
                node.pairs(sp.body, pairs);
                if !f(sp.id, pairs) {
                    return false;
                }
            }
        }
        return true;
    }
    let mut at = node.head;
    while at < node.buf.len() {
        let sp = node.span(master, at);
        at = sp.end;
        if sp.id > end {
            return false;
        }
        if sp.id >= start {
            node.pairs(sp.body, pairs);
            if !f(sp.id, pairs) {
                return false;
            }
        }
    }
    true
}

fn drop_prefix(node: &mut Node, end: usize, n: usize, bytes: &mut usize) {
    let before = node.size();
    node.buf.drain(node.head..end);
    node.count -= n as u32;
    *bytes = *bytes - before + node.size();
}

/// Serializes a stream (entries, counters, groups, pending entries, consumers) for snapshots.
pub fn encode(s: &Stream, out: &mut Vec<u8>) {
    let id = |out: &mut Vec<u8>, id: StreamId| {
        out.extend_from_slice(&id.ms.to_le_bytes());
        out.extend_from_slice(&id.seq.to_le_bytes());
    };
    let blob = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_le_bytes());
        out.extend_from_slice(b);
    };
    id(out, s.last_id);
    id(out, s.first_id);
    id(out, s.max_deleted);
    out.extend_from_slice(&s.entries_added.to_le_bytes());
    out.extend_from_slice(&s.len.to_le_bytes());
    s.for_range(StreamId::MIN, StreamId::MAX, false, |e, pairs| {
        id(out, e);
        out.extend_from_slice(&((pairs.len() / 2) as u32).to_le_bytes());
        pairs.iter().for_each(|p| blob(out, p));
        true
    });
    out.extend_from_slice(&(s.groups.len() as u32).to_le_bytes());
    for (name, g) in &s.groups {
        blob(out, name);
        id(out, g.last_id);
        out.extend_from_slice(&g.entries_read.map_or(-1, |n| n as i64).to_le_bytes());
        out.extend_from_slice(&(g.consumers.len() as u32).to_le_bytes());
        for c in g.consumers.values() {
            blob(out, &c.name);
            out.extend_from_slice(&c.seen_ms.to_le_bytes());
            out.extend_from_slice(&c.active_ms.map_or(-1, |t| t as i64).to_le_bytes());
        }
        out.extend_from_slice(&(g.pel.len() as u64).to_le_bytes());
        for (pid, p) in &g.pel {
            id(out, *pid);
            blob(out, &p.consumer);
            out.extend_from_slice(&p.delivered_ms.to_le_bytes());
            out.extend_from_slice(&p.deliveries.to_le_bytes());
        }
    }
}

/// A bounds-checked reader over an encoded stream.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.buf.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<Option<u64>> {
        let v = self.take(8)?.try_into().ok().map(i64::from_le_bytes)?;
        Some((v >= 0).then_some(v as u64))
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.u64()?, self.u64()?))
    }

    fn blob(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// Reads a stream written by [`encode`]; None when the bytes are not a valid stream.
pub fn decode(buf: &[u8]) -> Option<Stream> {
    let mut c = Cursor { buf, at: 0 };
    let last_id = c.id()?;
    let first_id = c.id()?;
    let max_deleted = c.id()?;
    let entries_added = c.u64()?;
    let len = c.u64()?;
    let mut s = Stream::default();
    let mut previous = None;
    for _ in 0..len {
        let id = c.id()?;
        if previous.is_some_and(|p| id <= p) || id > last_id {
            return None;
        }
        previous = Some(id);
        let n = c.u32()? as usize;
        let mut pairs = Vec::with_capacity((2 * n).min(1 << 12));
        for _ in 0..2 * n {
            pairs.push(c.blob()?);
        }
        s.append(id, &pairs);
    }
    s.last_id = last_id;
    s.first_id = first_id;
    s.max_deleted = max_deleted;
    s.entries_added = entries_added;
    for _ in 0..c.u32()? {
        let name = c.blob()?;
        let mut g = Group::new(c.id()?, c.i64()?);
        for _ in 0..c.u32()? {
            let cname = c.blob()?;
            let seen = c.u64()?;
            let active = c.i64()?;
            let (consumer, _) = g.consumer(cname, seen);
            consumer.active_ms = active;
        }
        for _ in 0..c.u64()? {
            let id = c.id()?;
            let cname = c.blob()?;
            let (delivered, deliveries) = (c.u64()?, c.u64()?);
            if !g.consumers.contains_key(cname) {
                return None;
            }
            g.assign(id, cname, delivered, deliveries);
        }
        s.groups.insert(name.into(), g);
    }
    (c.at == buf.len()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> StreamId {
        StreamId::new(ms, seq)
    }

    fn ids(s: &Stream, rev: bool) -> Vec<StreamId> {
        let mut out = Vec::new();
        s.for_range(StreamId::MIN, StreamId::MAX, rev, |i, _| {
            out.push(i);
            true
        });
        out
    }

    fn filled(n: u64) -> Stream {
        let mut s = Stream::default();
        for i in 1..=n {
            let v = i.to_string();
            s.append(
                id(1000 + i / 3, i % 3),
                &[b"temp", v.as_bytes(), b"unit", b"c"],
            );
        }
        s
    }

    #[test]
    fn packed_entries_round_trip_with_shared_and_own_field_names() {
        let mut s = Stream::default();
        s.append(id(5, 0), &[b"a", b"1", b"b", b"2"]);
        s.append(id(5, 1), &[b"a", b"3", b"b", b"4"]);
        s.append(id(7, 9), &[b"other", b"x"]);
        s.append(id(7, 10), &[b"a", &[b'v'; 300], b"b", b""]);
        assert_eq!(s.len(), 4);
        assert_eq!(s.node_count(), 1);
        assert_eq!(
            s.get(id(5, 1)),
            Some(vec![
                b"a".to_vec(),
                b"3".to_vec(),
                b"b".to_vec(),
                b"4".to_vec()
            ])
        );
        assert_eq!(
            s.get(id(7, 9)),
            Some(vec![b"other".to_vec(), b"x".to_vec()])
        );
        assert_eq!(s.get(id(7, 10)).map(|p| p[1].len()), Some(300));
        assert_eq!(s.get(id(6, 0)), None);
        assert_eq!(ids(&s, true), vec![id(7, 10), id(7, 9), id(5, 1), id(5, 0)]);
    }

    #[test]
    fn nodes_close_at_the_entry_limit_and_entries_cost_a_few_bytes() {
        let s = filled(1000);
        assert_eq!(
            s.node_count(),
            1000 / super::super::limits::Limits::default().stream_entries
        );
        let per_entry = s.heap_size() / 1000;
        // Delta-encoded ids and shared field names: the values and a few bytes of framing.
        assert!(per_entry <= 12, "{per_entry} bytes per entry");
        let mut n = 0;
        s.for_range(id(1010, 0), id(1020, 1), false, |_, pairs| {
            assert_eq!(pairs[0], b"temp");
            n += 1;
            true
        });
        assert_eq!(n, 32);
    }

    #[test]
    fn deleting_entries_keeps_ranges_and_counters_right() {
        let mut s = filled(250);
        let all = ids(&s, false);
        assert!(s.delete(all[0]));
        assert!(!s.delete(all[0]));
        assert!(s.delete(all[120]));
        assert_eq!(s.len(), 248);
        assert_eq!(s.first_id, all[1]);
        assert_eq!(s.max_deleted, all[120]);
        for i in &all[100..200] {
            s.delete(*i);
        }
        assert_eq!(s.node_count(), 2);
        assert_eq!(ids(&s, false).len(), 149);
        assert_eq!(s.entries_added, 250);
    }

    #[test]
    fn exact_and_approximate_trimming() {
        let mut s = filled(250);
        // Approximate trimming only drops whole nodes.
        assert_eq!(s.trim(Trim::MaxLen(180), true, 0), 0);
        assert_eq!(s.trim(Trim::MaxLen(140), true, 0), 100);
        assert_eq!(s.trim(Trim::MaxLen(7), false, 0), 143);
        assert_eq!(s.len(), 7);
        assert_eq!(s.first_id, ids(&s, false)[0]);
        let mut s = filled(250);
        let all = ids(&s, false);
        assert_eq!(s.trim(Trim::MinId(all[205]), false, 0), 205);
        assert_eq!(ids(&s, false)[0], all[205]);
        let mut s = filled(250);
        assert_eq!(s.trim(Trim::MaxLen(0), true, 150), 100);
    }

    #[test]
    fn snapshot_encoding_round_trips_groups_and_pending_entries() {
        let mut s = filled(120);
        s.delete(id(1001, 1));
        let mut g = Group::new(id(1002, 0), Some(4));
        g.consumer(b"alice", 10);
        g.consumer(b"bob", 11).0.active_ms = Some(12);
        g.assign(id(1001, 2), b"alice", 20, 1);
        g.assign(id(1002, 0), b"bob", 21, 3);
        s.groups.insert(b"g1".as_slice().into(), g);
        let mut buf = Vec::new();
        encode(&s, &mut buf);
        let back = decode(&buf).expect("decodes");
        assert_eq!(ids(&back, false), ids(&s, false));
        assert_eq!(back.groups, s.groups);
        assert_eq!(
            (
                back.last_id,
                back.first_id,
                back.max_deleted,
                back.entries_added
            ),
            (s.last_id, s.first_id, s.max_deleted, s.entries_added)
        );
        assert!(decode(&buf[..buf.len() - 1]).is_none());
    }

    #[test]
    fn lag_follows_reads_and_becomes_unknown_after_deletions_ahead() {
        let mut s = filled(10);
        let all = ids(&s, false);
        let mut g = Group::new(StreamId::MIN, None);
        assert_eq!(s.lag(&g), Some(10));
        s.advance_group(&mut g, all[0]);
        assert_eq!((g.entries_read, s.lag(&g)), (Some(1), Some(9)));
        s.advance_group(&mut g, all[1]);
        assert_eq!(s.lag(&g), Some(8));
        s.delete(all[5]);
        assert_eq!(s.lag(&g), None);
    }
}
