//! Client-side caching support (`CLIENT TRACKING`): the node remembers which keys a tracking client read, and
//! when one of them changes (a write by anyone, expiry, eviction, a flush) it sends that client an
//! invalidation so its local copy is dropped.
//!
//! Default mode remembers keys per client (a key is forgotten once its invalidation is sent, like Redis);
//! broadcasting mode (`BCAST`) remembers nothing and invalidates every changed key that starts with one of the
//! client's prefixes; as in Redis, its invalidations are gathered until the writing client's batch of commands
//! (a pipeline, or a whole EXEC) ends, then sent as one message per prefix. RESP3 clients get `invalidate` push frames on their own connection; RESP2 clients name
//! another connection with `REDIRECT`, which receives them as messages of the `__redis__:invalidate` channel.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::subscriber::{frame, Subscriber};
use crate::config::BufferLimit;

/// The channel RESP2 invalidations are published on.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// How a client asked to be tracked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Client id receiving the invalidations instead of this one.
    pub redirect: Option<u64>,
    /// Broadcasting mode.
    pub bcast: bool,
    /// Prefixes (broadcasting mode).
    pub prefixes: Vec<Vec<u8>>,
    /// Track only keys read right after `CLIENT CACHING yes`.
    pub optin: bool,
    /// Track keys unless read right after `CLIENT CACHING no`.
    pub optout: bool,
    /// Do not send invalidations for the client's own writes.
    pub noloop: bool,
}

struct Tracked {
    options: Options,
    /// Where invalidations go: the client itself (RESP3) or its redirect target's mailbox, when known.
    target: Option<Arc<Subscriber>>,
    /// The client itself, to tell a broken redirection (RESP3).
    own: Arc<Subscriber>,
}

#[derive(Default)]
struct Inner {
    clients: HashMap<u64, Tracked>,
    /// Default mode: key → ids of clients that read it.
    keys: HashMap<Box<[u8]>, HashSet<u64>>,
    /// Broadcasting mode: (client, prefix index, key) not sent yet, in order.
    pending: Vec<(u64, usize, Box<[u8]>)>,
}

/// The tracking table of a node.
#[derive(Default)]
pub struct Tracking {
    inner: Mutex<Inner>,
    count: AtomicUsize,
    /// Broadcast invalidations wait in `pending`.
    pending: AtomicBool,
    /// `tracking-table-max-keys` (0: no limit).
    max_keys: AtomicUsize,
}

fn invalidation(resp3: bool, key: Option<&[u8]>) -> Arc<[u8]> {
    match key {
        Some(key) => invalidation_of(resp3, &[key]),
        None => invalidation_of_all(resp3),
    }
}

fn invalidation_head(resp3: bool) -> Vec<u8> {
    if resp3 {
        b">2\r\n$10\r\ninvalidate\r\n".to_vec()
    } else {
        let mut f = b"*3\r\n$7\r\nmessage\r\n$20\r\n".to_vec();
        f.extend_from_slice(CHANNEL);
        f.extend_from_slice(b"\r\n");
        f
    }
}

/// An invalidation of `keys` (one message).
fn invalidation_of(resp3: bool, keys: &[&[u8]]) -> Arc<[u8]> {
    let mut out = invalidation_head(resp3);
    let parts: Vec<Option<&[u8]>> = keys.iter().map(|k| Some(*k)).collect();
    out.extend_from_slice(&frame(false, &parts));
    out.into()
}

/// An invalidation of every key (a flush).
fn invalidation_of_all(resp3: bool) -> Arc<[u8]> {
    let mut out = invalidation_head(resp3);
    out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" });
    out.into()
}

impl Tracking {
    /// Number of tracking clients.
    #[inline]
    pub fn clients(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Starts (or changes) tracking for client `id`; `target` is where invalidations go.
    pub fn enable(
        &self,
        id: u64,
        own: Arc<Subscriber>,
        target: Option<Arc<Subscriber>>,
        options: Options,
    ) {
        let mut inner = self.inner.lock();
        inner.clients.insert(
            id,
            Tracked {
                options,
                target,
                own,
            },
        );
        self.count.store(inner.clients.len(), Ordering::Relaxed);
    }

    /// Stops tracking client `id` and forgets the keys it read.
    pub fn disable(&self, id: u64) {
        let mut inner = self.inner.lock();
        if inner.clients.remove(&id).is_none() {
            return;
        }
        inner.keys.retain(|_, ids| {
            ids.remove(&id);
            !ids.is_empty()
        });
        self.count.store(inner.clients.len(), Ordering::Relaxed);
    }

    /// The options client `id` is tracked with.
    pub fn options(&self, id: u64) -> Option<Options> {
        self.inner
            .lock()
            .clients
            .get(&id)
            .map(|t| t.options.clone())
    }

    /// Remembers that client `id` read `keys` (default mode).
    pub fn remember<'a>(&self, id: u64, keys: impl IntoIterator<Item = &'a [u8]>) {
        let mut inner = self.inner.lock();
        for key in keys {
            match inner.keys.get_mut(key) {
                Some(ids) => {
                    ids.insert(id);
                }
                None => {
                    inner.keys.insert(key.into(), HashSet::from([id]));
                }
            }
        }
    }

    /// Sets `tracking-table-max-keys`.
    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    /// Keeps the table within `tracking-table-max-keys`: keys past the limit are forgotten and their readers
    /// told to drop them, as if they had changed (the cron calls this).
    pub fn enforce_limit(&self, now_ms: u64) {
        let max = self.max_keys.load(Ordering::Relaxed);
        if max == 0 || self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let evicted: Vec<Box<[u8]>> = {
            let inner = self.inner.lock();
            let over = inner.keys.len().saturating_sub(max);
            inner.keys.keys().take(over).cloned().collect()
        };
        for key in evicted {
            self.invalidate(&key, None, now_ms);
        }
    }

    /// (keys remembered, (key, client) pairs remembered, broadcast prefixes), as `INFO stats` reports them.
    pub fn totals(&self) -> (usize, usize, usize) {
        let inner = self.inner.lock();
        let items = inner.keys.values().map(HashSet::len).sum();
        let mut prefixes: HashSet<&[u8]> = HashSet::new();
        for t in inner.clients.values().filter(|t| t.options.bcast) {
            if t.options.prefixes.is_empty() {
                prefixes.insert(b"");
            }
            prefixes.extend(t.options.prefixes.iter().map(Vec::as_slice));
        }
        (inner.keys.len(), items, prefixes.len())
    }

    /// Number of keys remembered (default mode).
    pub fn keys(&self) -> usize {
        self.inner.lock().keys.len()
    }

    /// `key` changed (by client `by`, if a client did it): invalidates it for every client that read it and
    /// for broadcasting clients with a matching prefix.
    pub fn invalidate(&self, key: &[u8], by: Option<u64>, now_ms: u64) {
        let mut guard = self.inner.lock();
        let readers = guard.keys.remove(key);
        let inner = &*guard;
        let send = |id: u64, t: &Tracked| {
            if t.options.noloop && by == Some(id) {
                return;
            }
            if let Some(target) = &t.target {
                target.deliver(
                    invalidation(target.resp3(), Some(key)),
                    BufferLimit::UNLIMITED,
                    now_ms,
                );
            }
        };
        for id in readers.into_iter().flatten() {
            if let Some(t) = inner.clients.get(&id) {
                send(id, t);
            }
        }
        let mut gathered = Vec::new();
        for (&id, t) in &inner.clients {
            if !t.options.bcast || (t.options.noloop && by == Some(id)) {
                continue;
            }
            if t.options.prefixes.is_empty() {
                gathered.push((id, 0, key.into()));
            }
            for (i, p) in t.options.prefixes.iter().enumerate() {
                if key.starts_with(p) {
                    gathered.push((id, i, key.into()));
                }
            }
        }
        if !gathered.is_empty() {
            guard.pending.extend(gathered);
            self.pending.store(true, Ordering::Relaxed);
        }
    }

    /// Sends the gathered broadcast invalidations: one message per client and prefix with its keys. Called when
    /// a client's batch of commands ends (and by the cron, for expiry).
    #[inline]
    pub fn flush(&self) {
        if self.pending.load(Ordering::Relaxed) && self.pending.swap(false, Ordering::Relaxed) {
            self.flush_pending(crate::clock::now_ms());
        }
    }

    fn flush_pending(&self, now_ms: u64) {
        let mut inner = self.inner.lock();
        let mut pending = std::mem::take(&mut inner.pending);
        // Stable: keys keep the order they changed in.
        pending.sort_by_key(|(id, prefix, _)| (*id, *prefix));
        for group in pending.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let Some(target) = inner
                .clients
                .get(&group[0].0)
                .and_then(|t| t.target.as_ref())
            else {
                continue;
            };
            let keys: Vec<&[u8]> = group.iter().map(|(_, _, k)| &k[..]).collect();
            target.deliver(
                invalidation_of(target.resp3(), &keys),
                BufferLimit::UNLIMITED,
                now_ms,
            );
        }
    }

    /// Every key changed (FLUSHALL, FLUSHDB): every tracking client drops its whole cache.
    pub fn invalidate_all(&self, now_ms: u64) {
        let mut inner = self.inner.lock();
        inner.keys.clear();
        for t in inner.clients.values() {
            if let Some(target) = &t.target {
                target.deliver(
                    invalidation(target.resp3(), None),
                    BufferLimit::UNLIMITED,
                    now_ms,
                );
            }
        }
    }

    /// Client `id` (a redirect target) left: clients redirecting to it are told, like Redis, with a
    /// `tracking-redir-broken` push (RESP3 only).
    pub fn target_gone(&self, id: u64, now_ms: u64) {
        let mut inner = self.inner.lock();
        for t in inner.clients.values_mut() {
            if t.options.redirect == Some(id) && t.target.take().is_some() && t.own.resp3() {
                let mut f = b">2\r\n$21\r\ntracking-redir-broken\r\n:".to_vec();
                f.extend_from_slice(id.to_string().as_bytes());
                f.extend_from_slice(b"\r\n");
                t.own.deliver(f.into(), BufferLimit::UNLIMITED, now_ms);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pubsub::Mailbox;

    #[test]
    fn a_read_key_is_invalidated_once_then_forgotten() {
        let t = Tracking::default();
        let mut mb = Mailbox::new(7, true);
        t.enable(7, mb.sub.clone(), Some(mb.sub.clone()), Options::default());
        t.remember(7, [&b"k"[..]]);
        t.invalidate(b"other", None, 0);
        assert!(mb.drained().is_empty());
        t.invalidate(b"k", None, 0);
        assert_eq!(
            mb.drained(),
            b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n".to_vec()
        );
        t.invalidate(b"k", None, 0);
        assert!(mb.drained().is_empty(), "sent once, until read again");
    }

    #[test]
    fn noloop_skips_own_writes_and_bcast_matches_prefixes() {
        let t = Tracking::default();
        let mut mb = Mailbox::new(1, true);
        let options = Options {
            bcast: true,
            prefixes: vec![b"user:".to_vec()],
            noloop: true,
            ..Options::default()
        };
        t.enable(1, mb.sub.clone(), Some(mb.sub.clone()), options);
        t.invalidate(b"user:1", Some(1), 0);
        t.invalidate(b"order:1", Some(2), 0);
        t.flush();
        assert!(mb.drained().is_empty());
        // Gathered until the writer's batch ends, then one message with every key.
        t.invalidate(b"user:2", Some(2), 0);
        t.invalidate(b"user:3", Some(2), 0);
        assert!(mb.drained().is_empty());
        t.flush();
        let sent = mb.drained();
        assert_eq!(
            sent,
            b">2\r\n$10\r\ninvalidate\r\n*2\r\n$6\r\nuser:2\r\n$6\r\nuser:3\r\n"
        );
        t.disable(1);
        assert_eq!(t.clients(), 0);
    }

    #[test]
    fn resp2_redirect_targets_get_channel_messages() {
        let frame = invalidation(false, Some(b"k"));
        assert_eq!(
            &frame[..],
            b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
        );
    }
}
