//! ACL commands: SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOAD, SAVE, DRYRUN, LOG, GENPASS.

use super::args::{self, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use crate::catalogue::{self, COMMANDS};
use crate::security::acl::{self, CATEGORIES};

/// ACL WHOAMI
pub fn acl_whoami(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    c.out.bulk(c.session.user.name.as_bytes());
    Ok(())
}

/// ACL USERS
pub fn acl_users(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let users = c.node.acl().all();
    c.out.bulks(users.iter().map(|u| u.name.as_bytes()));
    Ok(())
}

/// ACL LIST
pub fn acl_list(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let lines: Vec<String> = c.node.acl().all().iter().map(|u| u.describe()).collect();
    c.out.bulks(lines.iter().map(|l| l.as_bytes()));
    Ok(())
}

/// ACL SETUSER username [rule …]
pub fn acl_setuser(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    let name = args::text(a.bytes()?);
    let rules: Vec<String> = a.rest().iter().map(|r| args::text(r)).collect();
    c.node
        .acl()
        .set_user(&name, &rules)
        .map_err(CmdError::err)?;
    c.out.ok();
    Ok(())
}

/// ACL DELUSER username [username …]
pub fn acl_deluser(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..).contains(&n))?;
    let names: Vec<String> = a.rest().iter().map(|n| args::text(n)).collect();
    let n = c.node.acl().del_users(&names).map_err(CmdError::err)?;
    c.out.int(n as i64);
    Ok(())
}

/// ACL CAT [category]: the categories, or the commands of one.
pub fn acl_cat(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (0..=1).contains(&n))?;
    let Some(cat) = a.optional() else {
        c.out.bulks(CATEGORIES.iter().map(|s| s.as_bytes()));
        return Ok(());
    };
    let cat = args::text(cat).to_ascii_lowercase();
    if !CATEGORIES.contains(&cat.as_str()) {
        return Err(CmdError::err(format_args!("Unknown category '{cat}'")));
    }
    let members = acl::category_members(&cat);
    c.out
        .bulks(members.iter().map(|&i| COMMANDS[i].name.as_bytes()));
    Ok(())
}

/// The error of ACL LOAD and ACL SAVE without an ACL file.
fn no_aclfile() -> CmdError {
    CmdError::err("This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.")
}

/// ACL LOAD: replaces every user with the ACL file's.
pub fn acl_load(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let Some(path) = c.cfg.aclfile.clone() else {
        return Err(no_aclfile());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CmdError::err(format_args!("{}: {e}", path.display())))?;
    let users = acl::parse_file(&text)
        .map_err(|e| CmdError::err(format_args!("/{}: {e}", path.display())))?;
    c.node.acl().replace(users, c.cfg.requirepass.as_deref());
    c.out.ok();
    Ok(())
}

/// ACL SAVE: writes every user to the ACL file.
pub fn acl_save(c: &mut Call) -> CmdResult {
    c.args().checked(|n| n == 0)?;
    let Some(path) = c.cfg.aclfile.clone() else {
        return Err(no_aclfile());
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, c.node.acl().file_text())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| {
            CmdError::err(format_args!(
                "There was an error trying to save the ACLs: {e}"
            ))
        })?;
    c.out.ok();
    Ok(())
}

/// ACL GENPASS [bits]: a random password, 256 bits by default, in hex.
pub fn acl_genpass(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (0..=1).contains(&n))?;
    let bits = match a.optional() {
        Some(bits) => match args::int(bits)? {
            b @ 1..=4096 => b as usize,
            _ => return Err(CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")),
        },
        None => 256,
    };
    let hex: String = (0..bits.div_ceil(4))
        .map(|_| char::from_digit(fastrand::u32(..16), 16).unwrap_or('0'))
        .collect();
    c.out.bulk(hex.as_bytes());
    Ok(())
}

/// ACL GETUSER username
pub fn acl_getuser(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (1..=1).contains(&n))?;
    let Some(u) = c.node.acl().get(&args::text(a.bytes()?)) else {
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

/// ACL DRYRUN username command [arg …]: whether the user may run the command.
pub fn acl_dryrun(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (2..).contains(&n))?;
    let name = args::text(a.bytes()?);
    let Some(u) = c.node.acl().get(&name) else {
        return Err(CmdError::err(format_args!("User '{name}' not found")));
    };
    let command = a.peek().unwrap_or_default();
    // The command to try, its name first, as the dispatcher would see it.
    let argv = a.rest();
    let Some(mut idx) = catalogue::lookup_command(command) else {
        return Err(CmdError::err(format_args!(
            "Command '{}' not found",
            args::text(command)
        )));
    };
    // A container is judged by its subcommand's row, as the dispatcher runs it.
    if !catalogue::subcommands(idx).is_empty() {
        if let Some(sub) = argv
            .get(1)
            .and_then(|s| catalogue::lookup_subcommand(idx, s))
        {
            idx = sub;
        }
    }
    let spec = &COMMANDS[idx];
    if !spec.arity_ok(argv.len()) {
        return Err(CmdError::err(format_args!(
            "wrong number of arguments for '{}' command",
            spec.name
        )));
    }
    if !u.may_run(idx, Args::new(argv, 1).peek()) {
        c.out.bulk(
            format!(
                "This user has no permissions to run the '{}' command",
                spec.name
            )
            .as_bytes(),
        );
        return Ok(());
    }
    for (key, flags) in spec.keys_with_flags(argv) {
        if !u.may_access_key(key, flags) {
            c.out.bulk(
                format!(
                    "This user has no permissions to access the '{}' key",
                    args::text(key)
                )
                .as_bytes(),
            );
            return Ok(());
        }
    }
    // Channels, for the commands that name them (patterns are matched literally, as Redis does).
    let (channels, patterns): (&[&[u8]], bool) = match spec.name {
        "publish" | "spublish" => (&argv[1..2], false),
        "subscribe" | "ssubscribe" => (&argv[1..], false),
        "psubscribe" => (&argv[1..], true),
        _ => (&[], false),
    };
    for &ch in channels {
        let allowed = if patterns {
            u.may_use_channel_pattern(ch)
        } else {
            u.may_access_channel(ch)
        };
        if !allowed {
            c.out.bulk(
                format!(
                    "This user has no permissions to access the '{}' channel",
                    args::text(ch)
                )
                .as_bytes(),
            );
            return Ok(());
        }
    }
    c.out.ok();
    Ok(())
}

/// ACL LOG [count | RESET]
pub fn acl_log(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    a.checked(|n| (0..=1).contains(&n))?;
    if a.keyword("reset") {
        c.node.acl().reset_log();
        c.out.ok();
        return Ok(());
    }
    let count = match a.optional() {
        Some(n) => {
            args::uint(n).map_err(|_| CmdError::err("value is out of range, must be positive"))?
        }
        None => 10,
    };
    let now = crate::clock::now_ms();
    let entries = c.node.acl().log_entries(count);
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
