//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO: client-side caching (see
//! `crate::tracking`).

use super::args::{self, is};
use super::pubsub::own_mailbox;
use super::{Call, CmdError, CmdResult};
use crate::pubsub::tracking::Options;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn tracking(c: &mut Call) -> CmdResult {
    let on = args::on_off(c.args[2])?;
    let mut o = Options::default();
    let mut i = 3;
    while i < c.args.len() {
        let a = c.args[i];
        if is(a, "redirect") && i + 1 < c.args.len() {
            let id = args::int(c.args[i + 1])?;
            o.redirect = Some(id.max(0) as u64);
            i += 2;
        } else if is(a, "prefix") && i + 1 < c.args.len() {
            o.prefixes.push(c.args[i + 1].to_vec());
            i += 2;
        } else if is(a, "bcast") {
            o.bcast = true;
            i += 1;
        } else if is(a, "optin") {
            o.optin = true;
            i += 1;
        } else if is(a, "optout") {
            o.optout = true;
            i += 1;
        } else if is(a, "noloop") {
            o.noloop = true;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let id = c.session.info.id;
    if !on {
        c.node.pubsub.tracking.disable(id);
        c.session.tracking = None;
        c.session.caching = None;
        c.node.refresh_change_log();
        c.out.ok();
        return Ok(());
    }
    if !o.prefixes.is_empty() && !o.bcast {
        return Err(CmdError::err(
            "PREFIX option requires BCAST mode to be enabled",
        ));
    }
    if o.optin && o.optout {
        return Err(CmdError::err("You can't use both OPTIN and OPTOUT"));
    }
    if (o.optin || o.optout) && o.bcast {
        return Err(CmdError::err(
            "OPTIN and OPTOUT are not compatible with BCAST",
        ));
    }
    let own = own_mailbox(c);
    let target = match o.redirect {
        Some(target) if target != id => {
            Some(c.node.pubsub.mailbox_of(target).ok_or_else(|| {
                CmdError::err("The client ID you want redirect to does not exist")
            })?)
        }
        // RESP3 clients get push frames on their own connection; a RESP2 connection cannot take
        // unsolicited frames, so without REDIRECT it receives nothing (as in Redis).
        _ if c.out.resp3 => Some(own.clone()),
        _ => None,
    };
    c.node.pubsub.tracking.enable(id, own, target, o.clone());
    c.session.tracking = Some(o);
    c.node.refresh_change_log();
    c.out.ok();
    Ok(())
}

/// CLIENT CACHING YES|NO
pub fn caching(c: &mut Call) -> CmdResult {
    let Some(o) = &c.session.tracking else {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let yes = if is(c.args[2], "yes") {
        true
    } else if is(c.args[2], "no") {
        false
    } else {
        return Err(CmdError::Syntax);
    };
    if yes && !o.optin {
        return Err(CmdError::err(
            "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
        ));
    }
    if !yes && !o.optout {
        return Err(CmdError::err(
            "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
        ));
    }
    c.session.caching = Some(yes);
    c.out.ok();
    Ok(())
}

/// CLIENT GETREDIR: -1 when not tracking, 0 without redirection, else the target id.
pub fn getredir(c: &mut Call) -> CmdResult {
    let n = match &c.session.tracking {
        None => -1,
        Some(o) => o.redirect.map_or(0, |r| r as i64),
    };
    c.out.int(n);
    Ok(())
}

/// CLIENT TRACKINGINFO
pub fn trackinginfo(c: &mut Call) -> CmdResult {
    let o = c.session.tracking.clone();
    let mut flags: Vec<&[u8]> = Vec::new();
    match &o {
        None => flags.push(b"off"),
        Some(o) => {
            flags.push(b"on");
            for (set, name) in [
                (o.bcast, &b"bcast"[..]),
                (o.optin, b"optin"),
                (o.optout, b"optout"),
                (o.noloop, b"noloop"),
                (c.session.caching == Some(true), b"caching-yes"),
                (c.session.caching == Some(false), b"caching-no"),
            ] {
                if set {
                    flags.push(name);
                }
            }
        }
    }
    c.out.map(3);
    c.out.bulk(b"flags");
    c.out.set(flags.len());
    for f in flags {
        c.out.bulk(f);
    }
    c.out.bulk(b"redirect");
    c.out.int(match &o {
        None => -1,
        Some(o) => o.redirect.map_or(0, |r| r as i64),
    });
    c.out.bulk(b"prefixes");
    let prefixes = o.map(|o| o.prefixes).unwrap_or_default();
    c.out.bulks(prefixes.iter().map(Vec::as_slice));
    Ok(())
}

/// True when a read by this session should be remembered (default mode, honouring OPTIN/OPTOUT).
pub fn tracks_reads(o: &Options, caching: Option<bool>) -> bool {
    if o.bcast {
        return false;
    }
    if o.optin {
        return caching == Some(true);
    }
    if o.optout {
        return caching != Some(false);
    }
    true
}
