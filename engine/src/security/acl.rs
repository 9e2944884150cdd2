//! ACL users: who may authenticate, which commands they may run, which keys and channels they may touch.
//!
//! Rules use Redis' ACL syntax (`on`, `off`, `>password`, `<password`, `#sha256`, `!sha256`, `nopass`,
//! `resetpass`, `~pattern`, `%R~pattern`, `%W~pattern`, `allkeys`, `resetkeys`, `&pattern`, `allchannels`,
//! `resetchannels`, `+command`, `-command`, `+command|subcommand`, `+@category`, `-@category`, `allcommands`,
//! `nocommands`, `reset`), applied left to right. Passwords are only ever stored as SHA-256 digests. Command
//! categories come from the command table, so a new command is covered by `+@read` or `-@dangerous` without
//! anyone listing it.

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::catalogue::{self, COMMANDS};
use crate::pattern::glob_match;

/// A key pattern and what it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPattern {
    /// Glob pattern.
    pub pattern: Vec<u8>,
    /// Allows reads.
    pub read: bool,
    /// Allows writes.
    pub write: bool,
}

/// One ACL user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Name.
    pub name: String,
    /// `on`/`off`.
    pub enabled: bool,
    /// Any password is accepted.
    pub nopass: bool,
    /// SHA-256 digests of accepted passwords.
    pub passwords: BTreeSet<[u8; 32]>,
    allowed: Vec<bool>,
    /// Every command is allowed: kept with `allowed`, because every command of an unrestricted user asks.
    all_allowed: bool,
    /// Allowed first arguments of otherwise denied commands (`+config|get`).
    allowed_subcommands: BTreeSet<(usize, Vec<u8>)>,
    /// The command rules as given, normalised, for ACL GETUSER/LIST.
    command_rules: Vec<String>,
    /// Key patterns.
    pub keys: Vec<KeyPattern>,
    /// Channel patterns.
    pub channels: Vec<Vec<u8>>,
}

/// Why an ACL rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Error in ACL SETUSER modifier '{rule}': {reason}")]
pub struct RuleError {
    /// The rule.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

fn rule_error(rule: &str, reason: &str) -> RuleError {
    RuleError {
        rule: rule.into(),
        reason: reason.into(),
    }
}

/// SHA-256 of a password.
pub fn digest(password: &[u8]) -> [u8; 32] {
    Sha256::digest(password).into()
}

fn hex(d: &[u8; 32]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Every category name, as `ACL CAT` lists them.
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// The commands of a category.
pub fn category_members(category: &str) -> Vec<usize> {
    let tag = format!("@{category}");
    COMMANDS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.categories().contains(&tag.as_str()))
        .map(|(i, _)| i)
        .collect()
}

impl User {
    /// A new user: disabled, no password, no commands, no keys (Redis' defaults for ACL SETUSER).
    pub fn new(name: &str) -> User {
        User {
            name: name.into(),
            enabled: false,
            nopass: false,
            passwords: BTreeSet::new(),
            allowed: vec![false; COMMANDS.len()],
            all_allowed: false,
            allowed_subcommands: BTreeSet::new(),
            command_rules: vec!["-@all".into()],
            keys: Vec::new(),
            channels: Vec::new(),
        }
    }

    /// The built-in `default` user: on, no password, everything allowed.
    pub fn default_user() -> User {
        let mut u = User::new("default");
        for r in ["on", "nopass", "~*", "&*", "+@all"] {
            let _ = u.apply(r);
        }
        u
    }

    /// Applies rules left to right.
    pub fn apply_all<'a>(
        &mut self,
        rules: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), RuleError> {
        for r in rules {
            self.apply(r)?;
        }
        Ok(())
    }

    /// Applies one rule.
    pub fn apply(&mut self, rule: &str) -> Result<(), RuleError> {
        let applied = self.apply_rule(rule);
        self.all_allowed = self.allowed.iter().all(|a| *a);
        applied
    }

    fn apply_rule(&mut self, rule: &str) -> Result<(), RuleError> {
        let lower = rule.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" => self.keys = vec![all_keys()],
            "resetkeys" => self.keys.clear(),
            "allchannels" => self.channels = vec![b"*".to_vec()],
            "resetchannels" => self.channels.clear(),
            "allcommands" => return self.apply("+@all"),
            "nocommands" => return self.apply("-@all"),
            "reset" => {
                *self = User::new(&self.name);
                self.apply("resetchannels")?;
            }
            "sanitize-payload" | "skip-sanitize-payload" => {}
            _ => return self.apply_prefixed(rule),
        }
        Ok(())
    }

    /// Adds a key pattern as Redis 7 does: `~*` (read and write) means all keys and replaces the list; nothing
    /// may follow it; a pattern already held gains the new permissions instead of a second entry.
    fn add_key_pattern(
        &mut self,
        rule: &str,
        pattern: &str,
        read: bool,
        write: bool,
    ) -> Result<(), RuleError> {
        if self
            .keys
            .iter()
            .any(|k| k.pattern == b"*" && k.read && k.write)
        {
            return Err(rule_error(
                rule,
                "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have \
                 any effect. Try 'resetkeys' to start with an empty list of patterns",
            ));
        }
        if pattern == "*" && read && write {
            self.keys = vec![all_keys()];
        } else if let Some(k) = self
            .keys
            .iter_mut()
            .find(|k| k.pattern == pattern.as_bytes())
        {
            k.read |= read;
            k.write |= write;
        } else {
            self.keys.push(KeyPattern {
                pattern: pattern.as_bytes().to_vec(),
                read,
                write,
            });
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, rule: &str) -> Result<(), RuleError> {
        if let Some(p) = rule.strip_prefix('>') {
            self.passwords.insert(digest(p.as_bytes()));
            self.nopass = false;
        } else if let Some(p) = rule.strip_prefix('<') {
            if !self.passwords.remove(&digest(p.as_bytes())) {
                return Err(rule_error(rule, "no such password"));
            }
        } else if let Some(h) = rule.strip_prefix('#') {
            let d = parse_hex(h).ok_or_else(|| rule_error(rule, "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters"))?;
            self.passwords.insert(d);
            self.nopass = false;
        } else if let Some(h) = rule.strip_prefix('!') {
            let d = parse_hex(h).ok_or_else(|| rule_error(rule, "invalid password hash"))?;
            self.passwords.remove(&d);
        } else if let Some(p) = rule.strip_prefix("%") {
            let (perm, pattern) = p
                .split_once('~')
                .ok_or_else(|| rule_error(rule, "Syntax error"))?;
            let perm = perm.to_ascii_uppercase();
            if perm.is_empty() || !perm.chars().all(|c| c == 'R' || c == 'W') {
                return Err(rule_error(rule, "Syntax error"));
            }
            self.add_key_pattern(rule, pattern, perm.contains('R'), perm.contains('W'))?;
        } else if let Some(p) = rule.strip_prefix('~') {
            self.add_key_pattern(rule, p, true, true)?;
        } else if let Some(p) = rule.strip_prefix('&') {
            if self.channels.iter().any(|c| c == b"*") {
                return Err(rule_error(
                    rule,
                    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does \
                     not have any effect. Try 'resetchannels' to start with an empty list of channels",
                ));
            }
            if p == "*" {
                self.channels = vec![b"*".to_vec()];
            } else if !self.channels.iter().any(|c| c == p.as_bytes()) {
                self.channels.push(p.as_bytes().to_vec());
            }
        } else if let Some(c) = rule.strip_prefix('+') {
            self.command_rule(rule, c, true)?;
        } else if let Some(c) = rule.strip_prefix('-') {
            self.command_rule(rule, c, false)?;
        } else {
            return Err(rule_error(rule, "Syntax error"));
        }
        Ok(())
    }

    fn command_rule(&mut self, rule: &str, what: &str, allow: bool) -> Result<(), RuleError> {
        let what = what.to_ascii_lowercase();
        if let Some(cat) = what.strip_prefix('@') {
            let members: Vec<usize> = if cat == "all" {
                (0..COMMANDS.len()).collect()
            } else if CATEGORIES.contains(&cat) {
                category_members(cat)
            } else {
                return Err(rule_error(rule, "Unknown command or category name in ACL"));
            };
            for i in members {
                self.allowed[i] = allow;
                self.allowed_subcommands.retain(|(c, _)| *c != i);
            }
            if cat == "all" {
                self.command_rules.clear();
            }
        } else if let Some(i) = what
            .contains('|')
            .then(|| catalogue::lookup(what.as_bytes()))
            .flatten()
        {
            // A subcommand row of its own (`+config|get`, `-client|kill`).
            self.allowed[i] = allow;
        } else if let Some((cmd, sub)) = what.split_once('|') {
            // The first argument of a plain command (`+select|0`).
            let i = catalogue::lookup(cmd.as_bytes())
                .ok_or_else(|| rule_error(rule, "Unknown command or category name in ACL"))?;
            if !allow {
                return Err(rule_error(
                    rule,
                    "Allowing first-arg of a subcommand is not supported for '-'",
                ));
            }
            self.allowed_subcommands
                .insert((i, sub.as_bytes().to_vec()));
        } else {
            let i = catalogue::lookup(what.as_bytes())
                .ok_or_else(|| rule_error(rule, "Unknown command or category name in ACL"))?;
            // A container's rule covers all its subcommands.
            for &j in std::iter::once(&i).chain(catalogue::subcommands(i)) {
                self.allowed[j] = allow;
                self.allowed_subcommands.retain(|(c, _)| *c != j);
            }
        }
        self.command_rules
            .push(format!("{}{what}", if allow { '+' } else { '-' }));
        Ok(())
    }

    /// True when `password` authenticates this user.
    pub fn check_password(&self, password: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&digest(password)))
    }

    /// True when every command and key is allowed (the fast path skips checks).
    pub fn unrestricted(&self) -> bool {
        self.all_allowed
            && self
                .keys
                .iter()
                .any(|k| k.pattern == b"*" && k.read && k.write)
    }

    /// Whether the command (with its first argument, for subcommand rules) may run.
    pub fn may_run(&self, idx: usize, first_arg: Option<&[u8]>) -> bool {
        // Commands that need no authentication (AUTH, HELLO, QUIT, RESET) need no permission either.
        self.allowed[idx]
            || COMMANDS[idx].has(catalogue::NO_AUTH)
            || first_arg.is_some_and(|a| {
                self.allowed_subcommands
                    .iter()
                    .any(|(c, s)| *c == idx && s.eq_ignore_ascii_case(a))
            })
    }

    /// Whether a command may touch a key, given its key-spec flags (as Redis 7 decides): `access` needs read
    /// permission, `insert`/`update`/`delete` write permission, both from one pattern that matches; a key spec
    /// with neither (TYPE, EXISTS) needs only a matching pattern.
    pub fn may_access_key(&self, key: &[u8], flags: u16) -> bool {
        use crate::catalogue::facts::{ACCESS, DELETE, INSERT, UPDATE};
        let read = flags & ACCESS != 0;
        let write = flags & (INSERT | UPDATE | DELETE) != 0;
        self.keys
            .iter()
            .any(|k| (!read || k.read) && (!write || k.write) && glob_match(&k.pattern, key, false))
    }

    /// Whether a channel pattern may be subscribed to: only a pattern the user holds literally (or `*`).
    pub fn may_use_channel_pattern(&self, pattern: &[u8]) -> bool {
        self.channels
            .iter()
            .any(|p| p.as_slice() == b"*" || p.as_slice() == pattern)
    }

    /// Whether a channel may be used.
    pub fn may_access_channel(&self, channel: &[u8]) -> bool {
        self.channels.iter().any(|p| glob_match(p, channel, false))
    }

    /// The rules describing this user, as ACL LIST prints them.
    pub fn describe(&self) -> String {
        let mut parts = vec![
            format!("user {}", self.name),
            if self.enabled { "on" } else { "off" }.to_string(),
        ];
        if self.nopass {
            parts.push("nopass".into());
        }
        parts.extend(self.passwords.iter().map(|d| format!("#{}", hex(d))));
        parts.push(self.key_rules());
        parts.push(self.channel_rules());
        parts.push(self.command_rules_text());
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    /// Key rules as text.
    pub fn key_rules(&self) -> String {
        self.keys
            .iter()
            .map(|k| {
                let p = String::from_utf8_lossy(&k.pattern);
                match (k.read, k.write) {
                    (true, true) => format!("~{p}"),
                    (true, false) => format!("%R~{p}"),
                    _ => format!("%W~{p}"),
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Channel rules as text.
    pub fn channel_rules(&self) -> String {
        if self.channels.is_empty() {
            return "resetchannels".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Command rules as text.
    pub fn command_rules_text(&self) -> String {
        let mut rules = self.command_rules.clone();
        if rules.first().is_none_or(|r| r != "-@all" && r != "+@all") {
            let base = if self.allowed.iter().all(|a| *a) {
                "+@all"
            } else {
                "-@all"
            };
            rules.insert(0, base.into());
        }
        rules.join(" ")
    }
}

fn all_keys() -> KeyPattern {
    KeyPattern {
        pattern: b"*".to_vec(),
        read: true,
        write: true,
    }
}

/// Parses an ACL file: `user NAME rules…` per line, `#` comments. Returns users by name.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, User>, String> {
    let mut users = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        if words.next() != Some("user") {
            return Err(format!("line {}: should start with user keyword", n + 1));
        }
        let name = words
            .next()
            .ok_or_else(|| format!("line {}: missing user name", n + 1))?;
        if users.contains_key(name) {
            return Err(format!("line {}: duplicate user '{name}'", n + 1));
        }
        let mut user = User::new(name);
        user.apply_all(words)
            .map_err(|e| format!("line {}: {e}", n + 1))?;
        users.insert(name.to_string(), user);
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(name: &str) -> usize {
        catalogue::lookup(name.as_bytes()).expect("command exists")
    }

    #[test]
    fn rules_apply_left_to_right() {
        let mut u = User::new("app");
        u.apply_all([
            "on",
            ">s3cret",
            "~cache:*",
            "%R~shared:*",
            "+@read",
            "+set",
            "-keys",
        ])
        .expect("valid");
        assert!(u.check_password(b"s3cret") && !u.check_password(b"nope"));
        assert!(u.may_run(idx("get"), None) && u.may_run(idx("set"), None));
        assert!(!u.may_run(idx("keys"), None) && !u.may_run(idx("flushall"), None));
        use crate::catalogue::facts::{ACCESS, OW, RO, RW, UPDATE};
        assert!(u.may_access_key(b"cache:1", RW | ACCESS | UPDATE));
        assert!(
            u.may_access_key(b"shared:x", RO | ACCESS)
                && !u.may_access_key(b"shared:x", OW | UPDATE)
        );
        assert!(!u.may_access_key(b"other", RO | ACCESS));
        assert!(!u.may_access_key(b"other", RO), "no pattern matches");
        assert!(
            !u.passwords.iter().any(|d| d.starts_with(b"s3cret")),
            "only digests are kept"
        );
    }

    #[test]
    fn dangerous_commands_can_be_denied_by_category() {
        let mut u = User::default_user();
        u.apply("-@dangerous").expect("valid");
        for name in ["flushall", "flushdb", "keys", "config|set", "shutdown"] {
            assert!(!u.may_run(idx(name), None), "{name}");
        }
        assert!(u.may_run(idx("get"), None));
    }

    #[test]
    fn subcommands_can_be_allowed_alone() {
        let mut u = User::new("ops");
        u.apply_all(["on", "nopass", "+config|get"]).expect("valid");
        assert!(u.may_run(idx("config|get"), None));
        assert!(!u.may_run(idx("config|set"), None));
        u.apply_all(["+client", "-client|kill"]).expect("valid");
        assert!(u.may_run(idx("client|id"), None));
        assert!(!u.may_run(idx("client|kill"), None));
        u.apply("+select|0").expect("valid");
        assert!(u.may_run(idx("select"), Some(b"0")));
        assert!(!u.may_run(idx("select"), Some(b"1")));
    }

    #[test]
    fn files_parse_and_errors_name_the_line() {
        let users = parse_file("# users\nuser default on nopass ~* &* +@all\nuser ro on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 ~* +@read\n").expect("valid");
        assert!(users["ro"].check_password(b"password"));
        assert!(parse_file("user x on +nosuchcmd\n")
            .expect_err("invalid")
            .contains("line 1"));
        assert!(parse_file("usr x on\n").is_err());
    }

    #[test]
    fn describe_round_trips() {
        let mut u = User::new("app");
        u.apply_all(["on", ">pw", "~k:*", "&news", "+@read", "-keys"])
            .expect("valid");
        let text = u.describe();
        let mut again = User::new("app");
        again
            .apply_all(text.split_whitespace().skip(2))
            .expect("valid");
        assert_eq!(again.describe(), text);
    }
}
