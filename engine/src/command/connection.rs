//! Connection commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET and the CLIENT family.

use std::sync::atomic::Ordering;

use super::args::{self, is, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use super::keys::db_index;
use crate::catalogue::{self, COMMANDS};
use crate::clients::ClientInfo;
use crate::clock::now_ms;

/// PING [message]
pub fn ping(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    if a.len() > 1 {
        return Err(CmdError::err(
            "wrong number of arguments for 'ping' command",
        ));
    }
    let msg = a.optional();
    if c.session.subs.any() && !c.out.resp3 {
        // Subscriber mode (RESP2): the answer takes the shape of a message.
        c.out.array(2);
        c.out.bulk(b"pong");
        c.out.bulk(msg.unwrap_or(b""));
        return Ok(());
    }
    match msg {
        Some(msg) => c.out.bulk(msg),
        None => c.out.simple("PONG"),
    }
    Ok(())
}

/// ECHO message
pub fn echo(c: &mut Call) -> CmdResult {
    let msg = c.args().bytes()?;
    c.out.bulk(msg);
    Ok(())
}

fn wrongpass() -> CmdError {
    CmdError::Msg("WRONGPASS invalid username-password pair or user is disabled.".into())
}

/// Authenticates the session as `user`; failures are counted, logged, and after too many the connection is
/// closed.
fn login(c: &mut Call, user: &[u8], pass: &[u8]) -> CmdResult {
    let name = String::from_utf8_lossy(user).into_owned();
    match c.node.acl().authenticate(&name, pass) {
        Some(u) => {
            c.session.info.names.lock().user = u.name.clone();
            c.session.user = u;
            c.session.acl_version = c.node.acl().version.load(Ordering::Relaxed);
            c.session.authenticated = true;
            Ok(())
        }
        None => {
            c.session.auth_failures += 1;
            c.node.acl().auth_failures.fetch_add(1, Ordering::Relaxed);
            let client = c.session.info.addr.to_string();
            c.node
                .acl()
                .log("auth", "toplevel", "AUTH", &name, &client, now_ms());
            if c.session.auth_failures >= crate::security::MAX_AUTH_FAILURES {
                tracing::warn!(client = %client, "closing connection after repeated failed AUTH");
                c.session.close = true;
            }
            Err(wrongpass())
        }
    }
}

/// AUTH [username] password
pub fn auth(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let password_only = a.given() == 1;
    let (user, pass): (&[u8], &[u8]) = match a.given() {
        1 => (b"default", a.bytes()?),
        2 => (a.bytes()?, a.bytes()?),
        _ => return Err(CmdError::Syntax),
    };
    let default_nopass = c.node.acl().get("default").is_some_and(|u| u.nopass);
    if password_only && default_nopass {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure \
             your configuration is correct?",
        ));
    }
    login(c, user, pass)?;
    c.out.ok();
    Ok(())
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
pub fn hello(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let proto = a.optional().map(hello_proto).transpose()?;
    let mut name = None;
    while let Some(opt) = a.optional() {
        if is(opt, "auth") && a.len() >= 2 {
            let (user, pass) = (a.bytes()?, a.bytes()?);
            login(c, user, pass)?;
        } else if is(opt, "setname") && !a.is_empty() {
            name = Some(valid_name(a.bytes()?)?);
        } else {
            return Err(CmdError::err(format_args!(
                "Syntax error in HELLO option '{}'",
                args::text(opt)
            )));
        }
    }
    if !c.session.authenticated {
        return Err(CmdError::Msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> \
             AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol \
             version at the same time"
                .into(),
        ));
    }
    if let Some(name) = name {
        c.session.info.names.lock().name = name;
    }
    if let Some(p) = proto {
        c.out.resp3 = p == 3;
        c.session.info.resp.store(p as usize, Ordering::Relaxed);
        if let Some(mailbox) = &c.session.mailbox {
            mailbox.set_resp3(p == 3);
        }
    }
    hello_reply(c);
    Ok(())
}

/// HELLO's protocol version: 2 or 3.
fn hello_proto(v: &[u8]) -> Result<i64, CmdError> {
    match args::int(v) {
        Ok(n @ 2..=3) => Ok(n),
        Ok(_) => Err(CmdError::Msg("NOPROTO unsupported protocol version".into())),
        Err(_) => Err(CmdError::err(
            "Protocol version is not an integer or out of range",
        )),
    }
}

/// HELLO's map describing the server and the connection.
fn hello_reply(c: &mut Call) {
    let proto = if c.out.resp3 { 3 } else { 2 };
    c.out.map(7);
    c.out.bulk(b"server");
    c.out.bulk(b"redis");
    c.out.bulk(b"version");
    c.out.bulk(catalogue::REDIS_COMPAT_VERSION.as_bytes());
    c.out.bulk(b"proto");
    c.out.int(proto);
    c.out.bulk(b"id");
    c.out.int(c.session.info.id as i64);
    c.out.bulk(b"mode");
    c.out.bulk(b"standalone");
    c.out.bulk(b"role");
    c.out.bulk(b"master");
    c.out.bulk(b"modules");
    c.out.array(0);
}

/// SELECT index
pub fn select(c: &mut Call) -> CmdResult {
    let db = db_index(c.args().bytes()?, c.node.ks())?;
    c.session.db = db;
    c.session.info.db.store(db, Ordering::Relaxed);
    c.out.ok();
    Ok(())
}

/// QUIT: replies OK, then the connection closes.
pub fn quit(c: &mut Call) -> CmdResult {
    c.session.close = true;
    c.out.ok();
    Ok(())
}

/// RESET: back to a fresh connection's state.
pub fn reset(c: &mut Call) -> CmdResult {
    c.session.discard_transaction(c.node.ks());
    c.node
        .pubsub()
        .remove_all(&mut c.session.subs, c.session.info.id);
    if c.session.tracking.take().is_some() {
        c.node.pubsub().tracking.disable(c.session.info.id);
        c.node.refresh_change_log();
    }
    c.session.caching = None;
    c.session
        .info
        .subscriptions
        .iter()
        .for_each(|n| n.store(0, Ordering::Relaxed));
    c.session.db = 0;
    c.session.info.db.store(0, Ordering::Relaxed);
    c.out.resp3 = false;
    c.session.info.resp.store(2, Ordering::Relaxed);
    if let Some(mailbox) = &c.session.mailbox {
        mailbox.set_resp3(false);
    }
    if let Some(default) = c.node.acl().get("default") {
        c.session.authenticated = default.check_password(b"");
        c.session.info.names.lock().user.clear();
        c.session.user = default;
    }
    c.session.info.no_evict.store(false, Ordering::Relaxed);
    c.out.simple("RESET");
    Ok(())
}

fn valid_name(name: &[u8]) -> Result<String, CmdError> {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(args::text(name))
}

fn last_command_name(idx: usize) -> &'static str {
    COMMANDS.get(idx).map_or("NULL", |s| s.name)
}

/// CLIENT ID
pub fn client_id(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.int(c.session.info.id as i64);
    Ok(())
}

/// CLIENT SETNAME name
pub fn client_setname(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..=1).contains(&n))?;
    c.session.info.names.lock().name = valid_name(a.bytes()?)?;
    c.out.ok();
    Ok(())
}

/// CLIENT GETNAME
pub fn client_getname(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let name = c.session.info.names.lock().name.clone();
    if name.is_empty() {
        c.out.null();
    } else {
        c.out.bulk(name.as_bytes());
    }
    Ok(())
}

/// CLIENT SETINFO LIB-NAME|LIB-VER value
pub fn client_setinfo(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (2..=2).contains(&n))?;
    let (attr, value) = (a.bytes()?, a.bytes()?);
    let value = valid_name(value).map_err(|_| {
        CmdError::err(format_args!(
            "{} cannot contain spaces, newlines or special characters.",
            args::text(attr)
        ))
    })?;
    let mut names = c.session.info.names.lock();
    if is(attr, "lib-name") {
        names.lib_name = value;
    } else if is(attr, "lib-ver") {
        names.lib_ver = value;
    } else {
        return Err(CmdError::err(format_args!(
            "Unrecognized option '{}'",
            args::text(attr)
        )));
    }
    drop(names);
    c.out.ok();
    Ok(())
}

/// CLIENT INFO
pub fn client_info(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let line = c
        .session
        .info
        .describe(now_ms(), "client|info", resp_len(c.args));
    c.out.verbatim(&format!("{line}\n"));
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL]
pub fn client_pause(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let timeout = match args::int(a.bytes()?) {
        Ok(n) if n >= 0 => n as u64,
        _ => return Err(CmdError::err("timeout is not an integer or out of range")),
    };
    let all = match a.optional() {
        None => true,
        Some(m) if is(m, "all") => true,
        Some(m) if is(m, "write") => false,
        Some(_) => return Err(CmdError::Syntax),
    };
    if !a.is_empty() {
        return Err(CmdError::Syntax);
    }
    c.node.blocking().pause(now_ms() + timeout, all);
    c.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 when the client was blocked (and now answers), else 0.
pub fn client_unblock(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let id = a.int()?;
    let error = match a.optional() {
        None => false,
        Some(m) if is(m, "timeout") => false,
        Some(m) if is(m, "error") => true,
        Some(_) => {
            return Err(CmdError::err(
                "CLIENT UNBLOCK reason should be TIMEOUT or ERROR",
            ))
        }
    };
    let done = id > 0 && c.node.blocking().unblock(id as u64, error);
    c.out.int(done as i64);
    Ok(())
}

/// CLIENT UNPAUSE
pub fn client_unpause(c: &mut Call) -> CmdResult {
    c.node.blocking().unpause();
    c.out.ok();
    Ok(())
}

/// CLIENT REPLY ON|OFF|SKIP
pub fn client_reply(c: &mut Call) -> CmdResult {
    let mode = c.args().bytes()?;
    c.session.reply_mode = if is(mode, "on") {
        c.out.ok();
        super::session::ReplyMode::On
    } else if is(mode, "off") {
        super::session::ReplyMode::Off
    } else if is(mode, "skip") {
        if c.session.reply_mode == super::session::ReplyMode::Off {
            return Ok(());
        }
        super::session::ReplyMode::SkipArmed
    } else {
        return Err(CmdError::Syntax);
    };
    Ok(())
}

/// CLIENT NO-EVICT ON|OFF
pub fn client_no_evict(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..=1).contains(&n))?;
    let on = args::on_off(a.bytes()?)?;
    c.session.info.no_evict.store(on, Ordering::Relaxed);
    c.out.ok();
    Ok(())
}

/// CLIENT HELP
pub fn client_help(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ID",
        "GETNAME",
        "SETNAME <name>",
        "SETINFO <LIB-NAME|LIB-VER> <value>",
        "LIST [TYPE normal|master|replica|pubsub] [ID <id> [<id> ...]]",
        "INFO",
        "REPLY (ON|OFF|SKIP)",
        "PAUSE <timeout> [WRITE|ALL]",
        "UNPAUSE",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "KILL <ip:port> | KILL <option> <value> [<option> <value> ...]",
        "NO-EVICT (ON|OFF)",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
        "CACHING (YES|NO)",
        "GETREDIR",
        "TRACKINGINFO",
        "HELP",
    ];
    c.out.help(&lines);
    Ok(())
}

/// CLIENT LIST [TYPE type] [ID id …]
pub fn client_list(c: &mut Call) -> CmdResult {
    let ids = client_list_filter(&mut c.args())?;
    let now = now_ms();
    let mut text = String::new();
    for client in c.node.clients().all() {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&client.id)) {
            continue;
        }
        // The calling client's query buffer still holds this command, as in Redis.
        let (cmd, qbuf) = if client.id == c.session.info.id {
            ("client|list", resp_len(c.args))
        } else {
            (
                last_command_name(client.last_command.load(Ordering::Relaxed)),
                0,
            )
        };
        text.push_str(&client.describe(now, cmd, qbuf));
        text.push('\n');
    }
    c.out.verbatim(&text);
    Ok(())
}

/// The length of `args` sent as a RESP array of bulk strings.
fn resp_len(args: &[&[u8]]) -> usize {
    let digits = |n: usize| n.to_string().len();
    1 + digits(args.len())
        + 2
        + args
            .iter()
            .map(|a| 1 + digits(a.len()) + 2 + a.len() + 2)
            .sum::<usize>()
}

/// The clients CLIENT LIST shows: None for all, else these ids (none for a type that has no clients here).
fn client_list_filter(a: &mut Args) -> Result<Option<Vec<u64>>, CmdError> {
    let mut ids: Option<Vec<u64>> = None;
    while let Some(opt) = a.optional() {
        if is(opt, "type") && !a.is_empty() {
            let t = a.bytes()?.to_ascii_lowercase();
            if !matches!(
                t.as_slice(),
                b"normal" | b"master" | b"replica" | b"slave" | b"pubsub"
            ) {
                return Err(CmdError::err(format_args!(
                    "Unknown client type '{}'",
                    args::text(&t)
                )));
            }
            if t != b"normal" {
                ids = Some(Vec::new());
            }
        } else if is(opt, "id") && !a.is_empty() {
            let list = ids.get_or_insert_with(Vec::new);
            for id in a.rest() {
                match args::int(id) {
                    Ok(n) if n > 0 => list.push(n as u64),
                    _ => return Err(CmdError::err("Invalid client ID")),
                }
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(ids)
}

/// CLIENT KILL ip:port | CLIENT KILL option value [option value …]
pub fn client_kill(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    if a.given() == 1 {
        let addr = args::text(a.bytes()?);
        let n = c
            .node
            .clients()
            .kill_where(|cl| cl.addr.to_string() == addr);
        if n == 0 {
            return Err(CmdError::err("No such client"));
        }
        c.out.ok();
        return Ok(());
    }
    #[derive(Clone, Copy)]
    enum Kind {
        Normal,
        PubSub,
        Other,
    }
    let (mut id, mut addr, mut laddr, mut skipme) = (None, None, None, true);
    let (mut kind, mut maxage, mut user): (Option<Kind>, Option<u64>, Option<String>) =
        (None, None, None);
    while let Some(opt) = a.optional() {
        let Some(value) = a.optional() else {
            return Err(CmdError::Syntax);
        };
        let opt = opt.to_ascii_lowercase();
        match opt.as_slice() {
            b"id" => match args::int(value) {
                Ok(n) if n > 0 => id = Some(n as u64),
                _ => return Err(CmdError::err("client-id should be greater than 0")),
            },
            b"addr" => addr = Some(args::text(value)),
            b"laddr" => laddr = Some(args::text(value)),
            b"skipme" => {
                skipme = if is(value, "yes") {
                    true
                } else if is(value, "no") {
                    false
                } else {
                    return Err(CmdError::Syntax);
                }
            }
            b"type" => {
                let t = value.to_ascii_lowercase();
                kind = Some(match t.as_slice() {
                    b"normal" => Kind::Normal,
                    b"pubsub" => Kind::PubSub,
                    b"master" | b"replica" | b"slave" => Kind::Other,
                    _ => {
                        return Err(CmdError::err(format_args!(
                            "Unknown client type '{}'",
                            args::text(value)
                        )))
                    }
                });
            }
            b"maxage" => match args::int(value) {
                Ok(n) => maxage = Some(n.max(0) as u64),
                Err(_) => return Err(CmdError::Syntax),
            },
            b"user" => {
                if c.node.acl().get(&args::text(value)).is_none() {
                    return Err(CmdError::err(format_args!(
                        "No such user '{}'",
                        args::text(value)
                    )));
                }
                user = Some(args::text(value));
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let me = c.session.info.id;
    let matches = |cl: &ClientInfo| {
        id.is_none_or(|id| cl.id == id)
            && addr.as_ref().is_none_or(|a| cl.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| cl.laddr.to_string() == *a)
            && kind.is_none_or(|k| match k {
                Kind::Normal => !cl.is_subscriber(),
                Kind::PubSub => cl.is_subscriber(),
                Kind::Other => false,
            })
            && maxage.is_none_or(|age| cl.created.elapsed().as_secs() >= age)
            && user.as_ref().is_none_or(|u| {
                let names = cl.names.lock();
                *u == if names.user.is_empty() {
                    "default"
                } else {
                    names.user.as_str()
                }
            })
    };
    let mut n = c.node.clients().kill_where(|cl| cl.id != me && matches(cl));
    // A client that kills itself gets its reply first, then the connection closes (as in Redis).
    if !skipme && matches(&c.session.info) {
        c.session.close = true;
        n += 1;
    }
    c.out.int(n as i64);
    Ok(())
}
