//! Blocking commands (BLPOP, BLMOVE, BZPOPMIN, …): who waits on which key, and how a waiting client is woken.
//!
//! A command runs synchronously under its shard locks and cannot wait there. When a blocking command finds
//! nothing to serve, its handler registers the client here, per key, in arrival order, and asks the connection
//! to wait ([`BlockState::requested`]); the command stays unconsumed in the connection's read buffer. Every
//! write command that touches a key with waiters wakes the *first* waiter of that key, which runs its command
//! again: it either serves itself (and then wakes the next waiter, in case more is left) or registers again,
//! keeping its place. A client that times out, errors, disconnects or is killed also hands the wake-up on, so
//! none is lost. This gives Redis' fairness: clients blocked on a key are served in the order they blocked.
//! Registration happens under the shard locks of the command that found the keys empty, so a push can never
//! slip in between the check and the registration.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::Notify;
use tokio::time::Instant;

/// One blocked client waiting on a key.
struct Waiter {
    client: u64,
    wake: Arc<Notify>,
}

/// A key in a database.
type DbKey = (usize, Box<[u8]>);

/// The waiters of every key, per database.
#[derive(Default)]
pub struct Registry {
    keys: Mutex<HashMap<DbKey, VecDeque<Waiter>>>,
    clients: AtomicUsize,
    /// `CLIENT UNBLOCK` requests not yet seen by their client: id → answer with an error (else as timed out).
    unblocks: Mutex<HashMap<u64, bool>>,
    /// `CLIENT PAUSE`: unix ms it lasts until (0: not paused).
    pause_until_ms: AtomicU64,
    /// The pause holds every command, not only writes.
    pause_all: AtomicBool,
}

/// The database index clients held by `CLIENT PAUSE` wait in (no real database has it).
pub const PAUSE_DB: usize = usize::MAX;
/// The key clients held by `CLIENT PAUSE` wait on.
pub const PAUSE_KEY: &[u8] = b"client-pause";

impl Registry {
    /// `CLIENT PAUSE`: holds writes (or, with `all`, every command) until `until_ms`. A pause in force is
    /// only ever extended or made stricter, as in Redis.
    pub fn pause(&self, until_ms: u64, all: bool) {
        crate::keyspace::Keyspace::hold_expiry(true);
        self.pause_until_ms.fetch_max(until_ms, Ordering::Relaxed);
        if all {
            self.pause_all.store(true, Ordering::Relaxed);
        }
    }

    /// `CLIENT UNPAUSE`, or the end of a pause: held clients run their commands.
    pub fn unpause(&self) {
        crate::keyspace::Keyspace::hold_expiry(false);
        self.pause_until_ms.store(0, Ordering::Relaxed);
        self.pause_all.store(false, Ordering::Relaxed);
        self.signal_db(Some(PAUSE_DB));
    }

    /// Ends the pause if its time is over; true when it did.
    pub fn end_pause_if_over(&self, now_ms: u64) -> bool {
        let until = self.pause_until_ms.load(Ordering::Relaxed);
        if until != 0 && until <= now_ms {
            self.unpause();
            return true;
        }
        false
    }

    /// `CLIENT UNBLOCK`: wakes `client` if it waits on a key (not on a pause), to answer as timed out or,
    /// with `error`, with an error. False when it does not wait.
    pub fn unblock(&self, client: u64, error: bool) -> bool {
        let map = self.keys.lock();
        let waiter = map
            .iter()
            .filter(|((db, _), _)| *db != PAUSE_DB)
            .flat_map(|(_, q)| q.iter())
            .find(|w| w.client == client);
        match waiter {
            Some(w) => {
                self.unblocks.lock().insert(client, error);
                w.wake.notify_one();
                true
            }
            None => false,
        }
    }

    /// The `CLIENT UNBLOCK` request for `client`, if one came: Some(true) to answer with an error.
    pub fn take_unblock(&self, client: u64) -> Option<bool> {
        self.unblocks.lock().remove(&client)
    }

    /// Whether a command is held now: `write` tells whether it writes (or may be replicated), and is only
    /// asked while a pause is in force.
    #[inline]
    pub fn holds(&self, now_ms: u64, write: impl FnOnce() -> bool) -> bool {
        let until = self.pause_until_ms.load(Ordering::Relaxed);
        until != 0 && until > now_ms && (self.pause_all.load(Ordering::Relaxed) || write())
    }
}

impl Registry {
    /// Number of blocked clients (INFO `blocked_clients`).
    pub fn blocked_clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// True when some client is blocked (the cheap check every write does).
    #[inline]
    pub fn any(&self) -> bool {
        self.clients.load(Ordering::Relaxed) > 0
    }

    fn register(&self, client: u64, wake: &Arc<Notify>, db: usize, keys: &[Vec<u8>]) {
        let mut map = self.keys.lock();
        for key in keys {
            map.entry((db, key.as_slice().into()))
                .or_default()
                .push_back(Waiter {
                    client,
                    wake: wake.clone(),
                });
        }
        self.clients.fetch_add(1, Ordering::Relaxed);
    }

    fn unregister(&self, client: u64, db: usize, keys: &[Vec<u8>]) {
        let mut map = self.keys.lock();
        for key in keys {
            let k = (db, key.as_slice().into());
            if let Some(q) = map.get_mut(&k) {
                q.retain(|w| w.client != client);
                match q.front() {
                    // The key may still hold data this client was woken for: pass the turn on.
                    Some(next) => next.wake.notify_one(),
                    None => {
                        map.remove(&k);
                    }
                }
            }
        }
        self.clients.fetch_sub(1, Ordering::Relaxed);
    }

    /// A write touched `key`: wakes the first client blocked on it.
    pub fn signal(&self, db: usize, key: &[u8]) {
        let map = self.keys.lock();
        if let Some(w) = map.get(&(db, key.into())).and_then(VecDeque::front) {
            w.wake.notify_one();
        }
    }
}

impl Registry {
    /// Wakes every client blocked on a key of `db` (every database when `None`): FLUSHDB, FLUSHALL and
    /// SWAPDB change keys without writing them one by one, and a woken command runs again to see.
    pub fn signal_db(&self, db: Option<usize>) {
        self.signal_where(|d, _| db.is_none_or(|db| db == d));
    }

    /// Wakes every client blocked on a key that `moved` picks (its slot moved to another node: run again, the
    /// command is redirected, as Redis Cluster redirects blocked clients).
    pub fn signal_matching(&self, mut moved: impl FnMut(&[u8]) -> bool) {
        self.signal_where(|_, key| moved(key));
    }

    /// Wakes every client blocked on a (database, key) that `pick` chooses.
    fn signal_where(&self, mut pick: impl FnMut(usize, &[u8]) -> bool) {
        let map = self.keys.lock();
        for ((db, key), q) in map.iter() {
            if pick(*db, key) {
                q.iter().for_each(|w| w.wake.notify_one());
            }
        }
    }
}

/// Where a blocked client waits.
#[derive(Debug)]
struct Waiting {
    db: usize,
    keys: Vec<Vec<u8>>,
    deadline: Option<Instant>,
}

/// A session's blocking state.
#[derive(Debug, Default)]
pub struct BlockState {
    /// Woken by writes to the keys waited on.
    wake: Arc<Notify>,
    waiting: Option<Waiting>,
    /// The command just run found nothing and asked to wait: the connection must not consume it.
    pub requested: bool,
    /// The deadline passed: the command, run once more, must answer as timed out.
    pub timed_out: bool,
    /// Commands run inside EXEC, where nothing may block.
    pub in_exec: bool,
    /// XREAD's ids as resolved when it first blocked (`$` means the last id at that moment, not at the retry).
    pub stream_after: Option<Vec<crate::keyspace::stream::StreamId>>,
}

impl BlockState {
    /// True while the session waits in the registry: the command runs again because it was woken.
    pub fn is_retry(&self) -> bool {
        self.waiting.is_some()
    }

    /// True when a command that finds nothing may block rather than answer as timed out.
    pub fn may_block(&self) -> bool {
        !self.in_exec && !self.timed_out
    }

    /// Registers the client (first time only: a retry keeps its place and deadline) and asks to wait.
    pub fn block(
        &mut self,
        registry: &Registry,
        client: u64,
        db: usize,
        keys: &[&[u8]],
        timeout_ms: Option<u64>,
    ) {
        self.requested = true;
        if self.waiting.is_some() {
            return;
        }
        let mut owned: Vec<Vec<u8>> = keys.iter().map(|k| k.to_vec()).collect();
        owned.sort();
        owned.dedup();
        registry.register(client, &self.wake, db, &owned);
        self.waiting = Some(Waiting {
            db,
            keys: owned,
            deadline: timeout_ms.map(|ms| Instant::now() + std::time::Duration::from_millis(ms)),
        });
    }

    /// After a command ran without blocking: a client that was waiting is served (or timed out) and leaves
    /// the registry.
    pub fn finish(&mut self, registry: &Registry, client: u64) {
        self.timed_out = false;
        self.stream_after = None;
        if let Some(w) = self.waiting.take() {
            registry.unregister(client, w.db, &w.keys);
        }
    }

    /// Waits until woken, timed out (then sets `timed_out`) or the client sends EOF (returns false). Input that
    /// arrives meanwhile is appended to `rbuf`, to be run once the blocking command is answered.
    pub async fn wait<S: AsyncRead + Unpin>(
        &mut self,
        stream: &mut S,
        rbuf: &mut Vec<u8>,
    ) -> std::io::Result<bool> {
        let wake = self.wake.clone();
        let deadline = self.waiting.as_ref().and_then(|w| w.deadline);
        let timeout = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(timeout);
        loop {
            rbuf.reserve(4096);
            tokio::select! {
                _ = wake.notified() => return Ok(true),
                _ = &mut timeout => {
                    self.timed_out = true;
                    return Ok(true);
                }
                n = stream.read_buf(rbuf) => {
                    if n? == 0 {
                        return Ok(false);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_are_woken_in_arrival_order_and_pass_the_turn_on() {
        let reg = Registry::default();
        let (mut a, mut b) = (BlockState::default(), BlockState::default());
        a.block(&reg, 1, 0, &[b"q"], None);
        b.block(&reg, 2, 0, &[b"q", b"other"], None);
        assert_eq!(reg.blocked_clients(), 2);
        reg.signal(0, b"q");
        // Only the first waiter holds a wake-up.
        let woken = |s: &BlockState| futures_now(s.wake.notified());
        assert!(woken(&a));
        assert!(!woken(&b));
        a.finish(&reg, 1);
        assert!(woken(&b));
        b.finish(&reg, 2);
        assert_eq!(reg.blocked_clients(), 0);
        assert!(reg.keys.lock().is_empty());
    }

    /// True when a `notified()` future completes immediately (a stored permit).
    fn futures_now(f: tokio::sync::futures::Notified<'_>) -> bool {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        f.as_mut().poll(&mut cx).is_ready()
    }

    use std::future::Future;
}
