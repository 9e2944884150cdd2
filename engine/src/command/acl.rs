//! ACL commands: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOAD, SAVE, DRYRUN, LOG, GENPASS.

use super::args::{self, is};
use super::table::{self, COMMANDS};
use super::{Call, CmdError, CmdResult};
use crate::security::acl::{self, CATEGORIES};

/// ACL <subcommand> …
pub fn acl(c: &mut Call) -> CmdResult {
    let sub = c.args[1].to_ascii_lowercase();
    let n = c.args.len();
    match (sub.as_slice(), n) {
        (b"whoami", 2) => c.out.bulk(c.session.user.name.as_bytes()),
        (b"users", 2) => {
            let users = c.node.acl.all();
            c.out.bulks(users.iter().map(|u| u.name.as_bytes()));
        }
        (b"list", 2) => {
            let lines: Vec<String> = c.node.acl.all().iter().map(|u| u.describe()).collect();
            c.out.bulks(lines.iter().map(|l| l.as_bytes()));
        }
        (b"setuser", 3..) => {
            let name = args::text(c.args[2]);
            let rules: Vec<String> = c.args[3..].iter().map(|a| args::text(a)).collect();
            c.node.acl.set_user(&name, &rules).map_err(CmdError::err)?;
            c.out.ok();
        }
        (b"getuser", 3) => getuser(c)?,
        (b"deluser", 3..) => {
            let names: Vec<String> = c.args[2..].iter().map(|a| args::text(a)).collect();
            let n = c.node.acl.del_users(&names).map_err(CmdError::err)?;
            c.out.int(n as i64);
        }
        (b"cat", 2) => c.out.bulks(CATEGORIES.iter().map(|s| s.as_bytes())),
        (b"cat", 3) => {
            let cat = args::text(c.args[2]).to_ascii_lowercase();
            if !CATEGORIES.contains(&cat.as_str()) {
                return Err(CmdError::err(format_args!("Unknown category '{cat}'")));
            }
            let members = acl::category_members(&cat);
            c.out
                .bulks(members.iter().map(|&i| COMMANDS[i].name.as_bytes()));
        }
        (b"dryrun", 4..) => dryrun(c)?,
        (b"log", 2 | 3) => log(c)?,
        (b"load", 2) => {
            let Some(path) = c.cfg.aclfile.clone() else {
                return Err(CmdError::err("This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."));
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| CmdError::err(format_args!("{}: {e}", path.display())))?;
            let users = acl::parse_file(&text)
                .map_err(|e| CmdError::err(format_args!("/{}: {e}", path.display())))?;
            c.node.acl.replace(users, c.cfg.requirepass.as_deref());
            c.out.ok();
        }
        (b"save", 2) => {
            let Some(path) = c.cfg.aclfile.clone() else {
                return Err(CmdError::err("This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration."));
            };
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, c.node.acl.file_text())
                .and_then(|_| std::fs::rename(&tmp, &path))
                .map_err(|e| {
                    CmdError::err(format_args!(
                        "There was an error trying to save the ACLs: {e}"
                    ))
                })?;
            c.out.ok();
        }
        (b"genpass", 2 | 3) => {
            let bits = match c.args.get(2) {
                Some(a) => match args::int(a)? {
                    b @ 1..=4096 => b as usize,
                    _ => return Err(CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
                },
                None => 256,
            };
            let hex: String = (0..bits.div_ceil(4))
                .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
                .collect();
            c.out.bulk(hex.as_bytes());
        }
        _ => {
            return Err(CmdError::err(format_args!(
                "unknown subcommand or wrong number of arguments for '{}'. Try ACL HELP.",
                args::text(c.args[1])
            )))
        }
    }
    Ok(())
}

fn getuser(c: &mut Call) -> CmdResult {
    let Some(u) = c.node.acl.get(&args::text(c.args[2])) else {
        c.out.null();
        return Ok(());
    };
    c.out.map(5);
    c.out.bulk(b"flags");
    let mut flags = vec![if u.enabled { "on" } else { "off" }];
    if u.nopass {
        flags.push("nopass");
    }
    c.out.bulks(flags.iter().map(|f| f.as_bytes()));
    c.out.bulk(b"passwords");
    let hashes: Vec<String> = u
        .passwords
        .iter()
        .map(|d| d.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    c.out.bulks(hashes.iter().map(|h| h.as_bytes()));
    c.out.bulk(b"commands");
    c.out.bulk(u.command_rules_text().as_bytes());
    c.out.bulk(b"keys");
    c.out.bulk(u.key_rules().as_bytes());
    c.out.bulk(b"channels");
    c.out.bulk(u.channel_rules().as_bytes());
    Ok(())
}

fn dryrun(c: &mut Call) -> CmdResult {
    let name = args::text(c.args[2]);
    let Some(u) = c.node.acl.get(&name) else {
        return Err(CmdError::err(format_args!("User '{name}' not found")));
    };
    let cmd_args = &c.args[3..];
    let Some(idx) = table::lookup(cmd_args[0]) else {
        return Err(CmdError::err(format_args!(
            "Command '{}' not found",
            args::text(cmd_args[0])
        )));
    };
    let spec = &COMMANDS[idx];
    if !spec.arity_ok(cmd_args.len()) {
        return Err(CmdError::err(format_args!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    if !u.may_run(idx, cmd_args.get(1).copied()) {
        c.out.bulk(
            format!(
                "User {name} has no permissions to run the '{}' command",
                spec.name
            )
            .as_bytes(),
        );
        return Ok(());
    }
    for key in spec.key_args(cmd_args) {
        if !u.may_access_key(key, spec.has(table::WRITE)) {
            c.out.bulk(
                format!(
                    "User {name} has no permissions to access the '{}' key",
                    args::text(key)
                )
                .as_bytes(),
            );
            return Ok(());
        }
    }
    c.out.ok();
    Ok(())
}

fn log(c: &mut Call) -> CmdResult {
    if let Some(a) = c.args.get(2) {
        if is(a, "reset") {
            c.node.acl.reset_log();
            c.out.ok();
            return Ok(());
        }
    }
    let count = match c.args.get(2) {
        Some(a) => {
            args::uint(a).map_err(|_| CmdError::err("value is out of range, must be positive"))?
        }
        None => 10,
    };
    let now = crate::node::now_ms();
    let entries = c.node.acl.log_entries(count);
    c.out.array(entries.len());
    for e in entries {
        c.out.map(10);
        c.out.bulk(b"count");
        c.out.int(e.count as i64);
        c.out.bulk(b"reason");
        c.out.bulk(e.reason.as_bytes());
        c.out.bulk(b"context");
        c.out.bulk(e.context.as_bytes());
        c.out.bulk(b"object");
        c.out.bulk(e.object.as_bytes());
        c.out.bulk(b"username");
        c.out.bulk(e.username.as_bytes());
        c.out.bulk(b"age-seconds");
        c.out
            .double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
        c.out.bulk(b"client-info");
        c.out.bulk(e.client.as_bytes());
        c.out.bulk(b"entry-id");
        c.out.int(e.id as i64);
        c.out.bulk(b"timestamp-created");
        c.out.int(e.created_ms as i64);
        c.out.bulk(b"timestamp-last-updated");
        c.out.int(e.updated_ms as i64);
    }
    Ok(())
}
