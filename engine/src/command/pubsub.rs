//! Pub/sub commands: SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE and their UNSUBSCRIBE forms, PUBLISH, SPUBLISH, PUBSUB.
//!
//! Subscription confirmations are written as the command's reply (push frames in RESP3); messages arrive
//! through the connection's mailbox (see `crate::pubsub`). A RESP2 connection with subscriptions is in
//! subscriber mode: only the commands in [`SUBSCRIBER_MODE`] run there.

use super::call::Call;
use super::error::{CmdError, CmdResult};
use crate::clock::now_ms;
use std::sync::Arc;

use crate::pubsub::{Kind, Mailbox, Subscriber};

/// The commands a RESP2 connection in subscriber mode may run.
pub const SUBSCRIBER_MODE: &[&str] = &[
    "subscribe",
    "ssubscribe",
    "sunsubscribe",
    "psubscribe",
    "unsubscribe",
    "punsubscribe",
    "ping",
    "quit",
    "reset",
];

/// The error a RESP2 subscriber gets for any other command.
pub fn subscriber_mode_error(name: &str) -> CmdError {
    CmdError::err(format_args!(
        "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

fn no_channel_permission(c: &mut Call, object: &[u8]) -> CmdError {
    let context = if c.session.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    c.node.acl().log(
        "channel",
        context,
        &String::from_utf8_lossy(object),
        &c.session.user.name,
        &c.session.info.addr.to_string(),
        now_ms(),
    );
    CmdError::Msg("NOPERM No permissions to access a channel".into())
}

/// Checks the user may use every channel (or, for patterns, every pattern literally) named.
fn check_channels(c: &mut Call, names: &[&[u8]], patterns: bool) -> CmdResult {
    if c.session.master_link || !c.session.authenticated {
        return Ok(());
    }
    for &name in names {
        let allowed = if patterns {
            c.session.user.may_use_channel_pattern(name)
        } else {
            c.session.user.may_access_channel(name)
        };
        if !allowed {
            return Err(no_channel_permission(c, name));
        }
    }
    Ok(())
}

/// The session's mailbox, created (and made reachable by client id) on first use.
pub fn own_mailbox(c: &mut Call) -> Arc<Subscriber> {
    let (id, resp3) = (c.session.info.id, c.out.resp3);
    if c.session.mailbox.is_none() {
        let mailbox = Mailbox::new(id, resp3);
        c.node.pubsub().register_mailbox(&mailbox.sub);
        c.session.mailbox = Some(mailbox);
    }
    c.session
        .mailbox
        .as_ref()
        .map(|m| m.sub.clone())
        .expect("created above")
}

fn kind_of(name: &[u8]) -> Kind {
    match name.to_ascii_lowercase().as_slice() {
        b"psubscribe" | b"punsubscribe" => Kind::Pattern,
        b"ssubscribe" | b"sunsubscribe" | b"spublish" => Kind::Shard,
        _ => Kind::Channel,
    }
}

/// The count a (un)subscribe confirmation carries: channels + patterns, or shard channels.
fn count(c: &Call, kind: Kind) -> usize {
    match kind {
        Kind::Shard => c.session.subs.shard_channels.len(),
        _ => c.session.subs.count(),
    }
}

fn confirm(c: &mut Call, word: &[u8], name: Option<&[u8]>, kind: Kind) {
    let n = count(c, kind);
    c.out.push(3);
    c.out.bulk(word);
    match name {
        Some(name) => c.out.bulk(name),
        None => c.out.null(),
    }
    c.out.int(n as i64);
}

/// SUBSCRIBE channel [channel ...], PSUBSCRIBE pattern [pattern ...], SSUBSCRIBE shardchannel [...]
pub fn subscribe(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let kind = kind_of(a.name());
    let names = a.rest();
    check_channels(c, names, kind == Kind::Pattern)?;
    let sub = own_mailbox(c);
    let word: &[u8] = match kind {
        Kind::Channel => b"subscribe",
        Kind::Pattern => b"psubscribe",
        Kind::Shard => b"ssubscribe",
    };
    for &name in names {
        let set = subscriptions(c, kind);
        if set.insert(name.to_vec()) {
            c.node.pubsub().subscribe(kind, name, &sub);
        }
        confirm(c, word, Some(name), kind);
    }
    show_counts(c);
    Ok(())
}

/// Publishes the subscription counts to CLIENT LIST.
fn show_counts(c: &Call) {
    let subs = &c.session.subs;
    let shown = &c.session.info.subscriptions;
    for (slot, n) in [
        subs.channels.len(),
        subs.patterns.len(),
        subs.shard_channels.len(),
    ]
    .into_iter()
    .enumerate()
    {
        shown[slot].store(n, std::sync::atomic::Ordering::Relaxed);
    }
}

fn subscriptions<'c>(c: &'c mut Call, kind: Kind) -> &'c mut std::collections::HashSet<Vec<u8>> {
    let subs = &mut c.session.subs;
    match kind {
        Kind::Channel => &mut subs.channels,
        Kind::Pattern => &mut subs.patterns,
        Kind::Shard => &mut subs.shard_channels,
    }
}

/// UNSUBSCRIBE [channel ...], PUNSUBSCRIBE [pattern ...], SUNSUBSCRIBE [shardchannel ...]: none named means all.
pub fn unsubscribe(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let kind = kind_of(a.name());
    let word: &[u8] = match kind {
        Kind::Channel => b"unsubscribe",
        Kind::Pattern => b"punsubscribe",
        Kind::Shard => b"sunsubscribe",
    };
    let names: Vec<Vec<u8>> = if !a.is_empty() {
        a.rest().iter().map(|n| n.to_vec()).collect()
    } else {
        let mut all: Vec<Vec<u8>> = subscriptions(c, kind).iter().cloned().collect();
        all.sort();
        all
    };
    if names.is_empty() {
        confirm(c, word, None, kind);
    }
    let id = c.session.info.id;
    for name in names {
        if subscriptions(c, kind).remove(&name) {
            c.node.pubsub().unsubscribe(kind, &name, id);
        }
        confirm(c, word, Some(&name), kind);
    }
    show_counts(c);
    Ok(())
}

/// PUBLISH channel message, SPUBLISH shardchannel message
pub fn publish(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let kind = kind_of(a.name());
    let (channel, message) = (a.bytes()?, a.bytes()?);
    check_channels(c, &[channel], false)?;
    let n = c.node.pubsub().publish(kind, channel, message, now_ms());
    // Replicas deliver the primary's messages to their own subscribers.
    if c.node.repl().is_recording() && !c.session.master_link {
        c.node.repl().propagate(c.session.db, a.all());
    }
    c.out.int(n as i64);
    Ok(())
}

/// PUBSUB CHANNELS [pattern]
pub fn pubsub_channels(c: &mut Call) -> CmdResult {
    active_channels(c, Kind::Channel)
}

/// PUBSUB SHARDCHANNELS [pattern]
pub fn pubsub_shardchannels(c: &mut Call) -> CmdResult {
    active_channels(c, Kind::Shard)
}

/// The channels of `kind` with subscribers, matching the optional pattern.
fn active_channels(c: &mut Call, kind: Kind) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (0..=1).contains(&n))?;
    let names = c.node.pubsub().channels(kind, a.optional());
    c.out.bulks(names.iter().map(Vec::as_slice));
    Ok(())
}

/// PUBSUB NUMSUB [channel …]
pub fn pubsub_numsub(c: &mut Call) -> CmdResult {
    subscriber_counts(c, Kind::Channel)
}

/// PUBSUB SHARDNUMSUB [shardchannel …]
pub fn pubsub_shardnumsub(c: &mut Call) -> CmdResult {
    subscriber_counts(c, Kind::Shard)
}

/// Each named channel of `kind` and its number of subscribers.
fn subscriber_counts(c: &mut Call, kind: Kind) -> CmdResult {
    let channels = c.args().rest();
    c.out.array(channels.len() * 2);
    for &channel in channels {
        c.out.bulk(channel);
        c.out.int(c.node.pubsub().numsub(kind, channel) as i64);
    }
    Ok(())
}

/// PUBSUB NUMPAT
pub fn pubsub_numpat(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.int(c.node.pubsub().numpat() as i64);
    Ok(())
}

/// PUBSUB HELP
pub fn pubsub_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.help(&[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Print this help.",
    ]);
    Ok(())
}
