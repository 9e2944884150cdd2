//! Publish/subscribe: channels, glob patterns and shard channels, and the mailboxes that carry messages to
//! subscribed connections.
//!
//! A subscribed connection owns a [`Mailbox`]: an unbounded queue of encoded frames plus a byte count. Publishers
//! encode a message once per protocol version and append it to every matching mailbox; the connection writes
//! whatever is queued when it wakes. A subscriber that stops reading cannot grow memory without bound: its queued
//! bytes are checked against `client-output-buffer-limit pubsub <hard> <soft> <seconds>` on every delivery, and
//! a subscriber over the hard limit, or over the soft limit for longer than the given seconds, is disconnected
//! while the others carry on. Keyspace notifications and client-side caching invalidations travel the same way.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::config::BufferLimit;
use crate::keyspace::Removal;
use crate::notify;
use crate::pattern::glob_match;
pub use subscriber::{frame, Mailbox, Subscriber};
use tracking::Tracking;

pub mod subscriber;
pub mod tracking;

/// What one connection is subscribed to.
#[derive(Default)]
pub struct Subscriptions {
    /// Channels (SUBSCRIBE).
    pub channels: HashSet<Vec<u8>>,
    /// Patterns (PSUBSCRIBE).
    pub patterns: HashSet<Vec<u8>>,
    /// Shard channels (SSUBSCRIBE).
    pub shard_channels: HashSet<Vec<u8>>,
}

impl Subscriptions {
    /// Channels plus patterns: the count SUBSCRIBE and friends reply with.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// True when subscribed to anything (RESP2 connections are then in subscriber mode).
    pub fn any(&self) -> bool {
        self.count() + self.shard_channels.len() > 0
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SUBSCRIBE / PUBLISH.
    Channel,
    /// PSUBSCRIBE.
    Pattern,
    /// SSUBSCRIBE / SPUBLISH.
    Shard,
}

type Subscribers = HashMap<Box<[u8]>, Vec<Arc<Subscriber>>>;

#[derive(Default)]
struct Inner {
    channels: Subscribers,
    patterns: Subscribers,
    shard_channels: Subscribers,
}

impl Inner {
    fn map(&mut self, kind: Kind) -> &mut Subscribers {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    fn map_ref(&self, kind: Kind) -> &Subscribers {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }
}

/// The node's subscription registry.
pub struct PubSub {
    inner: RwLock<Inner>,
    /// Patterns or channels exist: PUBLISH has work to do (lets keyspace notifications skip encoding).
    active: AtomicBool,
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
    notify_flags: AtomicU32,
    mailboxes: Mutex<HashMap<u64, std::sync::Weak<Subscriber>>>,
    /// Client-side caching: who read what.
    pub tracking: Tracking,
}

impl Default for PubSub {
    fn default() -> PubSub {
        let limit = BufferLimit::default();
        PubSub {
            inner: RwLock::default(),
            active: AtomicBool::new(false),
            hard: AtomicU64::new(limit.hard),
            soft: AtomicU64::new(limit.soft),
            soft_seconds: AtomicU64::new(limit.soft_seconds),
            notify_flags: AtomicU32::new(0),
            mailboxes: Mutex::default(),
            tracking: Tracking::default(),
        }
    }
}

/// A message encoded lazily, once per protocol version.
struct Encoded<'a> {
    parts: [&'a [u8]; 4],
    len: usize,
    frames: [Option<Arc<[u8]>>; 2],
}

impl<'a> Encoded<'a> {
    fn new(parts: &[&'a [u8]]) -> Encoded<'a> {
        let mut all: [&[u8]; 4] = [b""; 4];
        all[..parts.len()].copy_from_slice(parts);
        Encoded {
            parts: all,
            len: parts.len(),
            frames: [None, None],
        }
    }

    fn get(&mut self, resp3: bool) -> Arc<[u8]> {
        let slot = &mut self.frames[resp3 as usize];
        slot.get_or_insert_with(|| {
            let parts: Vec<Option<&[u8]>> =
                self.parts[..self.len].iter().map(|p| Some(*p)).collect();
            frame(resp3, &parts).into()
        })
        .clone()
    }
}

/// Events that belong to the generic class whatever the command's group.
const GENERIC_EVENTS: &[&str] = &[
    "del",
    "expire",
    "persist",
    "rename_from",
    "rename_to",
    "copy_to",
    "move_from",
    "move_to",
    "restore",
];

impl PubSub {
    /// Makes a connection's mailbox reachable by its client id (tracking redirection).
    pub fn register_mailbox(&self, sub: &Arc<Subscriber>) {
        self.mailboxes.lock().insert(sub.id, Arc::downgrade(sub));
    }

    /// The mailbox of a connected client that has one.
    pub fn mailbox_of(&self, id: u64) -> Option<Arc<Subscriber>> {
        self.mailboxes
            .lock()
            .get(&id)
            .and_then(std::sync::Weak::upgrade)
    }

    /// A connection left: forgets its subscriptions, its tracking and its mailbox.
    pub fn disconnect(&self, subs: &mut Subscriptions, id: u64, now_ms: u64) {
        self.remove_all(subs, id);
        if self.mailboxes.lock().remove(&id).is_some() {
            self.tracking.disable(id);
            self.tracking.target_gone(id, now_ms);
        }
    }

    /// Sets the keyspace notification classes (`notify-keyspace-events`, parsed).
    pub fn set_notify_flags(&self, flags: u32) {
        self.notify_flags.store(flags, Ordering::Relaxed);
    }

    /// The keyspace notification classes.
    pub fn notify_flags(&self) -> u32 {
        self.notify_flags.load(Ordering::Relaxed)
    }

    /// True when the keyspace must log the keys commands change (notifications or tracking are on).
    pub fn wants_changes(&self) -> bool {
        self.notify_flags() != 0 || self.tracking.clients() > 0
    }

    /// Publishes a keyspace notification if its class is enabled.
    pub fn notify(&self, class: u32, event: &str, db: usize, key: &[u8], now_ms: u64) {
        let flags = self.notify_flags();
        if flags & class == 0 || !self.active() {
            return;
        }
        if flags & notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.publish(Kind::Channel, &channel, event.as_bytes(), now_ms);
        }
        if flags & notify::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}");
            self.publish(Kind::Channel, channel.as_bytes(), key, now_ms);
        }
    }

    /// The keyspace deleted a key by itself: `expired` / `evicted` events and invalidations, exactly once.
    pub fn keyspace_deleted(&self, db: usize, key: &[u8], why: Removal, now_ms: u64) {
        if self.tracking.clients() > 0 {
            self.tracking.invalidate(key, None, now_ms);
        }
        match why {
            Removal::Expired => self.notify(notify::EXPIRED, "expired", db, key, now_ms),
            Removal::Evicted => self.notify(notify::EVICTED, "evicted", db, key, now_ms),
        }
    }

    /// A command (`args`, of table group `group`, run by client `by`) changed `changes`: (database, key,
    /// removed). Sends invalidations and the command's keyspace events.
    pub fn command_changed(
        &self,
        group: &str,
        key_args: &[&[u8]],
        args: &[&[u8]],
        changes: Vec<(usize, Box<[u8]>, bool)>,
        by: u64,
        now_ms: u64,
    ) {
        // Each key's place among the command's keys (its first), found once: commands may name thousands.
        let mut position: HashMap<&[u8], usize> = HashMap::with_capacity(key_args.len());
        for (i, k) in key_args.iter().enumerate() {
            position.entry(*k).or_insert(i);
        }
        let place = |key: &[u8]| position.get(key).copied().unwrap_or(0);
        // One outcome per key: the last change says whether it is gone.
        let mut seen: Vec<(usize, Box<[u8]>, bool, usize)> = changes
            .into_iter()
            .enumerate()
            .map(|(order, (db, key, removed))| (db, key, removed, order))
            .collect();
        seen.sort_unstable_by(|a, b| (a.0, &a.1, a.3).cmp(&(b.0, &b.1, b.3)));
        seen.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0 && later.1 == earlier.1;
            if same {
                earlier.2 = later.2;
            }
            same
        });
        // Events follow the order of the command's keys (RENAME: rename_from, then rename_to).
        seen.sort_by_key(|(_, key, _, _)| place(key));
        let command = String::from_utf8_lossy(args[0]).to_ascii_lowercase();
        let flags = self.notify_flags();
        for (db, key, removed, _) in seen {
            if self.tracking.clients() > 0 {
                self.tracking.invalidate(&key, Some(by), now_ms);
            }
            if flags == 0 {
                continue;
            }
            let pos = place(&key);
            let event = notify::event_of(&command, pos, args);
            if notify::is_silent(&event) {
                continue;
            }
            if removed && event == "expire" {
                // EXPIRE with a time in the past deletes the key.
                self.notify(notify::GENERIC, "del", db, &key, now_ms);
                continue;
            }
            let class = if GENERIC_EVENTS.contains(&&*event) {
                notify::GENERIC
            } else {
                notify::class_of(group)
            };
            self.notify(class, &event, db, &key, now_ms);
            if removed && !notify::is_removal(&event) {
                self.notify(notify::GENERIC, "del", db, &key, now_ms);
            }
        }
    }

    /// Sets the subscriber output-buffer limits.
    pub fn set_limit(&self, limit: BufferLimit) {
        self.hard.store(limit.hard, Ordering::Relaxed);
        self.soft.store(limit.soft, Ordering::Relaxed);
        self.soft_seconds
            .store(limit.soft_seconds, Ordering::Relaxed);
    }

    fn limit(&self) -> BufferLimit {
        BufferLimit {
            hard: self.hard.load(Ordering::Relaxed),
            soft: self.soft.load(Ordering::Relaxed),
            soft_seconds: self.soft_seconds.load(Ordering::Relaxed),
        }
    }

    /// True when anyone subscribes to anything.
    #[inline]
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    fn refresh_active(&self, inner: &Inner) {
        let any = !(inner.channels.is_empty()
            && inner.patterns.is_empty()
            && inner.shard_channels.is_empty());
        self.active.store(any, Ordering::Relaxed);
    }

    /// Adds `sub` to a channel or pattern; false when it already was there.
    pub fn subscribe(&self, kind: Kind, name: &[u8], sub: &Arc<Subscriber>) -> bool {
        let mut inner = self.inner.write();
        let list = inner.map(kind).entry(name.into()).or_default();
        if list.iter().any(|s| s.id == sub.id) {
            return false;
        }
        list.push(sub.clone());
        self.active.store(true, Ordering::Relaxed);
        true
    }

    /// Removes client `id` from a channel or pattern; false when it was not there.
    pub fn unsubscribe(&self, kind: Kind, name: &[u8], id: u64) -> bool {
        let mut inner = self.inner.write();
        let map = inner.map(kind);
        let Some(list) = map.get_mut(name) else {
            return false;
        };
        let before = list.len();
        list.retain(|s| s.id != id);
        let removed = list.len() != before;
        if list.is_empty() {
            map.remove(name);
        }
        self.refresh_active(&inner);
        removed
    }

    /// Publishes to a channel (and to matching patterns for [`Kind::Channel`]); returns the number of
    /// deliveries, like Redis (a client subscribed to the channel and to two matching patterns counts 3).
    pub fn publish(&self, kind: Kind, channel: &[u8], message: &[u8], now_ms: u64) -> usize {
        if !self.active() {
            return 0;
        }
        let limit = self.limit();
        let inner = self.inner.read();
        let mut n = 0;
        let exact = match kind {
            Kind::Shard => inner.shard_channels.get(channel),
            _ => inner.channels.get(channel),
        };
        if let Some(list) = exact {
            let word: &[u8] = if kind == Kind::Shard {
                b"smessage"
            } else {
                b"message"
            };
            let mut msg = Encoded::new(&[word, channel, message]);
            for s in list {
                s.deliver(msg.get(s.resp3()), limit, now_ms);
                n += 1;
            }
        }
        if kind == Kind::Channel {
            for (pattern, list) in &inner.patterns {
                if !glob_match(pattern, channel, false) {
                    continue;
                }
                let mut msg = Encoded::new(&[b"pmessage", pattern, channel, message]);
                for s in list {
                    s.deliver(msg.get(s.resp3()), limit, now_ms);
                    n += 1;
                }
            }
        }
        n
    }

    /// Active channels (with at least one subscriber) matching an optional pattern.
    pub fn channels(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Vec<u8>> {
        let inner = self.inner.read();
        let mut names: Vec<Vec<u8>> = inner
            .map_ref(kind)
            .keys()
            .filter(|c| pattern.is_none_or(|p| glob_match(p, c, false)))
            .map(|c| c.to_vec())
            .collect();
        names.sort();
        names
    }

    /// Subscribers of a channel.
    pub fn numsub(&self, kind: Kind, channel: &[u8]) -> usize {
        self.inner
            .read()
            .map_ref(kind)
            .get(channel)
            .map_or(0, Vec::len)
    }

    /// Number of distinct patterns subscribed to.
    pub fn numpat(&self) -> usize {
        self.inner.read().patterns.len()
    }

    /// Removes every subscription of a connection (it left or sent RESET).
    pub fn remove_all(&self, subs: &mut Subscriptions, id: u64) {
        for c in subs.channels.drain() {
            self.unsubscribe(Kind::Channel, &c, id);
        }
        for p in subs.patterns.drain() {
            self.unsubscribe(Kind::Pattern, &p, id);
        }
        for c in subs.shard_channels.drain() {
            self.unsubscribe(Kind::Shard, &c, id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_and_pattern_deliveries_are_counted_and_encoded_per_protocol() {
        let ps = PubSub::default();
        let mut a = Mailbox::new(1, false);
        let mut b = Mailbox::new(2, true);
        assert!(ps.subscribe(Kind::Channel, b"news", &a.sub));
        assert!(!ps.subscribe(Kind::Channel, b"news", &a.sub));
        assert!(ps.subscribe(Kind::Pattern, b"n*", &b.sub));
        assert_eq!(ps.publish(Kind::Channel, b"news", b"hi", 0), 2);
        assert_eq!(
            a.drained(),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n".to_vec()
        );
        assert_eq!(
            b.drained(),
            b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n".to_vec()
        );
        assert_eq!(ps.publish(Kind::Shard, b"news", b"hi", 0), 0);
        assert_eq!(ps.publish(Kind::Channel, b"other", b"hi", 0), 0);
    }

    #[test]
    fn a_subscriber_over_the_hard_limit_is_closed_and_others_are_not() {
        let ps = PubSub::default();
        ps.set_limit(BufferLimit {
            hard: 100,
            soft: 0,
            soft_seconds: 0,
        });
        let slow = Mailbox::new(1, false);
        let mut fast = Mailbox::new(2, false);
        ps.subscribe(Kind::Channel, b"c", &slow.sub);
        ps.subscribe(Kind::Channel, b"c", &fast.sub);
        for _ in 0..5 {
            ps.publish(Kind::Channel, b"c", &[b'x'; 30], 0);
            fast.drained();
        }
        assert!(slow.sub.is_closed());
        assert!(!fast.sub.is_closed());
    }

    #[test]
    fn the_soft_limit_closes_only_after_its_seconds() {
        let sub = Mailbox::new(1, false);
        let limit = BufferLimit {
            hard: 0,
            soft: 10,
            soft_seconds: 2,
        };
        let big: Arc<[u8]> = Arc::from(&[0u8; 20][..]);
        assert!(sub.sub.deliver(big.clone(), limit, 1_000));
        assert!(sub.sub.deliver(big.clone(), limit, 2_500));
        assert!(!sub.sub.deliver(big, limit, 3_000));
        assert!(sub.sub.is_closed());
    }

    #[test]
    fn unsubscribing_the_last_subscriber_removes_the_channel() {
        let ps = PubSub::default();
        let a = Mailbox::new(1, false);
        ps.subscribe(Kind::Channel, b"c", &a.sub);
        assert_eq!(ps.channels(Kind::Channel, None), vec![b"c".to_vec()]);
        assert!(ps.unsubscribe(Kind::Channel, b"c", 1));
        assert!(!ps.unsubscribe(Kind::Channel, b"c", 1));
        assert!(ps.channels(Kind::Channel, None).is_empty());
        assert!(!ps.active());
    }
}
