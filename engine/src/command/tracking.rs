//! CLIENT TRACKING, CLIENT CACHING, CLIENT GETREDIR, CLIENT TRACKINGINFO: client-side caching (see
//! `crate::tracking`).

use super::args::{self, is, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::pubsub::own_mailbox;
use crate::pubsub::tracking::Options;

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
pub fn client_tracking(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    let on = args::on_off(a.bytes()?)?;
    let o = tracking_options(&mut a)?;
    let id = c.session.info.id;
    if !on {
        c.node.pubsub().tracking.disable(id);
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
    // Prefixes add up while broadcasting stays on; none may be a prefix of another, as in Redis.
    let existing: Vec<Vec<u8>> = c
        .session
        .tracking
        .as_ref()
        .filter(|t| t.bcast && o.bcast)
        .map(|t| t.prefixes.clone())
        .unwrap_or_default();
    let overlap = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    for (i, p) in o.prefixes.iter().enumerate() {
        if let Some(e) = existing.iter().find(|e| *e != p && overlap(p, e)) {
            return Err(CmdError::err(format_args!(
                "Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                args::text(p),
                args::text(e)
            )));
        }
        if let Some(q) = o.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CmdError::err(format_args!(
                "Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                args::text(p),
                args::text(q)
            )));
        }
    }
    let mut o = o;
    for e in existing.into_iter().rev() {
        if !o.prefixes.contains(&e) {
            o.prefixes.insert(0, e);
        }
    }
    let own = own_mailbox(c);
    let target = match o.redirect {
        Some(target) if target != id => {
            Some(c.node.pubsub().mailbox_of(target).ok_or_else(|| {
                CmdError::err("The client ID you want redirect to does not exist")
            })?)
        }
        // RESP3 clients get push frames on their own connection; a RESP2 connection cannot take
        // unsolicited frames, so without REDIRECT it receives nothing (as in Redis).
        _ if c.out.resp3 => Some(own.clone()),
        _ => None,
    };
    c.node.pubsub().tracking.enable(id, own, target, o.clone());
    c.session.tracking = Some(o);
    c.node.refresh_change_log();
    c.out.ok();
    Ok(())
}

/// CLIENT TRACKING's options after ON|OFF.
fn tracking_options(a: &mut Args) -> Result<Options, CmdError> {
    let mut o = Options::default();
    while let Some(opt) = a.optional() {
        if is(opt, "redirect") && !a.is_empty() {
            o.redirect = Some(a.int()?.max(0) as u64);
        } else if is(opt, "prefix") && !a.is_empty() {
            o.prefixes.push(a.bytes()?.to_vec());
        } else if is(opt, "bcast") {
            o.bcast = true;
        } else if is(opt, "optin") {
            o.optin = true;
        } else if is(opt, "optout") {
            o.optout = true;
        } else if is(opt, "noloop") {
            o.noloop = true;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(o)
}

/// CLIENT CACHING YES|NO
pub fn client_caching(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..=1).contains(&n))?;
    let Some(o) = &c.session.tracking else {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled",
        ));
    };
    let answer = a.bytes()?;
    let yes = if is(answer, "yes") {
        true
    } else if is(answer, "no") {
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
pub fn client_getredir(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let n = match &c.session.tracking {
        None => -1,
        Some(o) => o.redirect.map_or(0, |r| r as i64),
    };
    c.out.int(n);
    Ok(())
}

/// CLIENT TRACKINGINFO
pub fn client_trackinginfo(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
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
                // The client invalidations are redirected to is gone.
                (
                    o.redirect.is_some_and(|r| !c.node.clients().exists(r)),
                    b"broken_redirect",
                ),
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
    // Broadcasting without PREFIX follows the empty prefix, which Redis lists.
    let prefixes = match o {
        Some(o) if o.bcast && o.prefixes.is_empty() => vec![Vec::new()],
        Some(o) => o.prefixes,
        None => Vec::new(),
    };
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
