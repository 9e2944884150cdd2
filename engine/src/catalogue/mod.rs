//! The command catalogue: every command the engine knows, as data — name, arity, flags, where its keys are,
//! ACL categories, how it is charged — and nothing that runs it.
//!
//! Everything that needs to know about commands reads this: dispatch and shard locking, ACL, metering, `COMMAND`,
//! client-side caching, keyspace notifications and (with cluster mode) slot checks. Handlers live above, in
//! `command/`, and register against these rows by name.
//!
//! A subcommand is a row of its own, named `container|sub` as Redis 7 names it (`xgroup|create`,
//! `config|get`), with its own arity, flags and keys; the container's row (`xgroup`) only routes.
//!
//! Key positions follow Redis 7's key specifications: where the search begins (an argument index, or the argument
//! after a keyword) and how keys are found from there (a range, or a count given by an argument). One description
//! serves every reader, so key-count commands (`ZUNIONSTORE dst 2 a b`) are right everywhere at once.

mod commands;
pub mod facts;

use std::collections::HashMap;
use std::sync::LazyLock;

pub use commands::COMMANDS;

/// The Redis version whose commands this catalogue describes, as clients are told (HELLO, INFO).
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";

/// Modifies the dataset.
pub const WRITE: u32 = 1;
/// Only reads the dataset.
pub const READONLY: u32 = 1 << 1;
/// May grow memory: refused (or preceded by eviction) over `maxmemory`.
pub const DENY_OOM: u32 = 1 << 2;
/// O(1) or O(log n).
pub const FAST: u32 = 1 << 3;
/// Administrative.
pub const ADMIN: u32 = 1 << 4;
/// Allowed before authentication.
pub const NO_AUTH: u32 = 1 << 5;
/// Runs immediately inside MULTI instead of being queued.
pub const TX_CONTROL: u32 = 1 << 6;
/// Dangerous without being administrative (KEYS, FLUSHALL, …): in ACL category @dangerous.
pub const DANGEROUS: u32 = 1 << 7;
/// May block the client (ACL category @blocking).
pub const BLOCKING: u32 = 1 << 8;
/// Replaces whole databases (FLUSHALL, FLUSHDB, SWAPDB): every key clients track is invalidated.
pub const WHOLE_DB: u32 = 1 << 9;
/// Manages the connection itself (CLIENT …): a pending one-shot `CLIENT CACHING` survives it.
pub const CONNECTION_CONTROL: u32 = 1 << 10;
/// Refused inside MULTI: it needs every shard (SAVE), ends the node (SHUTDOWN) or turns the connection into
/// something else (SYNC), none of which can run under the locks EXEC holds.
pub const NO_MULTI: u32 = 1 << 11;
/// Finds keys beyond its key specifications (SORT's BY/GET patterns name keys from the data): `movablekeys`.
pub const MOVABLE_KEYS: u32 = 1 << 12;

/// Where the search for keys begins (Redis 7's `begin_search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// At this argument (the command name is argument 0).
    Index(usize),
    /// After the last argument equal to `word` (ignoring case), searching back from the end, down to argument
    /// `from` (Redis' keyword search with a negative `startfrom`: SORT uses its last STORE).
    LastKeyword {
        /// The keyword, uppercase.
        word: &'static str,
        /// The first argument the search may look at.
        from: usize,
    },
    /// After the first argument equal to `word` (ignoring case), searching from argument `from`.
    Keyword {
        /// The keyword, uppercase.
        word: &'static str,
        /// Where the search starts.
        from: usize,
    },
}

/// How keys are found from where the search began (Redis 7's `find_keys`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Find {
    /// The keys up to `last` (relative to the beginning; negative: counted from the end of the arguments),
    /// every `step`. With `limit` above 1, only the first 1/limit of the remaining arguments are keys (XREAD's
    /// `STREAMS k1 k2 id1 id2`).
    Range {
        /// Last key, relative to the beginning (negative: from the end).
        last: isize,
        /// Distance between keys.
        step: usize,
        /// 0 or 1: no limit; n: the keys are the first 1/n of what remains.
        limit: usize,
    },
    /// The argument at `count` (relative to the beginning) says how many keys follow from `first`, every `step`.
    Keynum {
        /// Where the key count is.
        count: usize,
        /// Where the first key is.
        first: usize,
        /// Distance between keys.
        step: usize,
    },
}

/// One key specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    /// Where the search begins.
    pub begin: Begin,
    /// How keys are found.
    pub find: Find,
}

impl KeySpec {
    /// The key at argument `i`.
    pub const fn at(i: usize) -> KeySpec {
        KeySpec::range(i, 0, 1)
    }

    /// Keys from argument `i` to `last` (relative; negative from the end), every `step`.
    pub const fn range(i: usize, last: isize, step: usize) -> KeySpec {
        KeySpec {
            begin: Begin::Index(i),
            find: Find::Range {
                last,
                step,
                limit: 0,
            },
        }
    }

    /// A key count at argument `i`, the keys right after it.
    pub const fn numkeys(i: usize) -> KeySpec {
        KeySpec {
            begin: Begin::Index(i),
            find: Find::Keynum {
                count: 0,
                first: 1,
                step: 1,
            },
        }
    }

    /// True for the specs that the legacy (first, last, step) triple can describe.
    fn is_legacy(&self) -> bool {
        matches!(
            (self.begin, self.find),
            (Begin::Index(_), Find::Range { limit: 0 | 1, .. })
        )
    }

    /// Calls `f` with the argument index of each of this spec's keys in `args` (the command name first).
    fn each_position(&self, args: &[&[u8]], f: &mut impl FnMut(usize)) {
        let argc = args.len();
        let start = match self.begin {
            Begin::Index(i) => i,
            Begin::Keyword { word, from } => {
                match (from..argc).find(|&i| args[i].eq_ignore_ascii_case(word.as_bytes())) {
                    Some(i) => i + 1,
                    None => return,
                }
            }
            Begin::LastKeyword { word, from } => {
                match (from..argc)
                    .rev()
                    .find(|&i| args[i].eq_ignore_ascii_case(word.as_bytes()))
                {
                    Some(i) => i + 1,
                    None => return,
                }
            }
        };
        if start >= argc {
            return;
        }
        let (first, last, step) = match self.find {
            Find::Range { last, step, limit } => {
                let end = if last >= 0 {
                    start as isize + last
                } else if limit <= 1 {
                    argc as isize + last
                } else {
                    start as isize + ((argc - start) / limit) as isize + last
                };
                (start, end, step.max(1))
            }
            Find::Keynum { count, first, step } => {
                let Some(n) = args
                    .get(start + count)
                    .and_then(|a| std::str::from_utf8(a).ok()?.parse::<usize>().ok())
                else {
                    return;
                };
                let step = step.max(1);
                (
                    start + first,
                    (start + first) as isize + (n as isize - 1) * step as isize,
                    step,
                )
            }
        };
        let last = last.min(argc as isize - 1);
        let mut i = first;
        while (i as isize) <= last {
            f(i);
            i += step;
        }
    }
}

/// What a command locks beyond its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Its keys only.
    Keys,
    /// Every shard of the selected database (KEYS, SCAN, FLUSHDB).
    Db,
    /// Every shard of every database (FLUSHALL, SWAPDB, INFO).
    AllDbs,
}

/// How a command is charged in request units (ECPU); see `metering`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cost {
    /// One unit per started KiB of request and response payload.
    Bytes,
    /// The larger of the bytes rule and one unit per started 100 elements the command touched.
    Elements,
    /// One unit: EXEC, whose queued commands are charged one by one.
    Transaction,
}

/// One command, or one subcommand.
pub struct Spec {
    /// Lowercase name; `container|sub` for a subcommand.
    pub name: &'static str,
    /// Redis arity: exact argument count (names included) when positive, minimum when negative.
    pub arity: i32,
    /// Flag bits.
    pub flags: u32,
    /// Where its keys are.
    pub keys: &'static [KeySpec],
    /// What it locks beyond its keys.
    pub scope: Scope,
    /// Command group (`string`, `generic`, `server`, `connection`, `transactions`, …).
    pub group: &'static str,
    /// One-line description.
    pub summary: &'static str,
    /// How the command is charged.
    pub cost: Cost,
}

impl Spec {
    /// True when the flag is set.
    #[inline]
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// True when `n` arguments (names included) satisfy the arity.
    #[inline]
    pub fn arity_ok(&self, n: usize) -> bool {
        if self.arity >= 0 {
            n == self.arity as usize
        } else {
            n >= (-self.arity) as usize
        }
    }

    /// The container's name for a subcommand (`xgroup` for `xgroup|create`).
    pub fn container(&self) -> Option<&'static str> {
        self.name.split_once('|').map(|(c, _)| c)
    }

    /// The subcommand's own name (`create` for `xgroup|create`).
    pub fn subcommand(&self) -> Option<&'static str> {
        self.name.split_once('|').map(|(_, s)| s)
    }

    /// How many arguments name the command: 2 for a subcommand, else 1.
    #[inline]
    pub fn name_args(&self) -> usize {
        1 + self.container().is_some() as usize
    }

    /// Flag names as `COMMAND INFO` prints them.
    pub fn flag_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = [
            (WRITE, "write"),
            (READONLY, "readonly"),
            (DENY_OOM, "denyoom"),
            (ADMIN, "admin"),
            (NO_AUTH, "no_auth"),
            (FAST, "fast"),
            (BLOCKING, "blocking"),
            (NO_MULTI, "no_multi"),
        ]
        .iter()
        .filter(|(f, _)| self.has(*f))
        .map(|&(_, n)| n)
        .collect();
        if self.has(MOVABLE_KEYS) || self.keys.iter().any(|k| !k.is_legacy()) {
            names.push("movablekeys");
        }
        names
    }

    /// (first, last, step) as `COMMAND INFO` prints them, from the specs that such a triple can describe (as
    /// Redis 7 derives them): (0, 0, 0) when none can.
    pub fn key_positions(&self) -> (i64, i64, i64) {
        let mut legacy = self.keys.iter().filter(|k| k.is_legacy());
        let Some(first) = legacy.next() else {
            return (0, 0, 0);
        };
        let triple = |k: &KeySpec| match (k.begin, k.find) {
            (Begin::Index(i), Find::Range { last, step, .. }) if last < 0 => {
                (i as i64, last as i64, step as i64)
            }
            (Begin::Index(i), Find::Range { last, step, .. }) => {
                (i as i64, i as i64 + last as i64, step as i64)
            }
            _ => (0, 0, 0),
        };
        let (start, mut end, step) = triple(first);
        for k in legacy {
            let (_, e, _) = triple(k);
            if end >= 0 && (e < 0 || e > end) {
                end = e;
            }
        }
        (start, end, step)
    }

    /// Calls `f` with the argument index of each of a call's keys, in order (the command name is argument 0),
    /// without allocating: shard locking runs this for every command.
    #[inline]
    pub fn each_key_position(&self, args: &[&[u8]], mut f: impl FnMut(usize)) {
        self.keys.iter().for_each(|k| k.each_position(args, &mut f));
    }

    /// The argument indexes of a call's keys, in order.
    pub fn key_positions_in(&self, args: &[&[u8]]) -> Vec<usize> {
        let mut out = Vec::new();
        self.each_key_position(args, |i| out.push(i));
        out
    }

    /// The keys of a call (COMMAND GETKEYS, ACL, tracking, notifications, blocking).
    pub fn key_args<'a>(&self, args: &[&'a [u8]]) -> Vec<&'a [u8]> {
        self.key_positions_in(args)
            .into_iter()
            .map(|i| args[i])
            .collect()
    }

    /// Each key of a call with its key-spec flags ([`facts`]), in order. SET's flags depend on GET: with it, SET
    /// reads the old value (`RW access update`); without, it only overwrites (`OW update`), as Redis decides.
    pub fn keys_with_flags<'a>(&self, args: &[&'a [u8]]) -> Vec<(&'a [u8], u16)> {
        let flags = self.spec_flags();
        let mut out = Vec::new();
        for (n, k) in self.keys.iter().enumerate() {
            let mut f = flags.get(n).copied().unwrap_or(if self.has(WRITE) {
                facts::RW | facts::UPDATE
            } else {
                facts::RO | facts::ACCESS
            });
            if f & facts::VARIABLE_FLAGS != 0 && self.name == "set" {
                let get = args.iter().skip(3).any(|a| a.eq_ignore_ascii_case(b"get"));
                f = if get {
                    facts::RW | facts::ACCESS | facts::UPDATE
                } else {
                    facts::OW | facts::UPDATE
                };
            }
            k.each_position(args, &mut |i| out.push((args[i], f)));
        }
        out
    }

    /// The key-spec flags of each of this row's key specifications (empty when it has none).
    pub fn spec_flags(&self) -> &'static [u16] {
        KEY_FLAGS.get(self.name).copied().unwrap_or_default()
    }

    /// ACL categories: Redis' own list where it assigns them one by one, else from flags and group.
    pub fn categories(&self) -> Vec<&'static str> {
        if let Some(cats) = CATEGORY_OVERRIDES.get(self.name) {
            return cats.to_vec();
        }
        let mut cats = Vec::new();
        if self.has(WRITE) {
            cats.push("@write");
        }
        if self.has(READONLY) {
            cats.push("@read");
        }
        if self.has(ADMIN) {
            cats.extend(["@admin", "@dangerous"]);
        } else if self.has(DANGEROUS) {
            cats.push("@dangerous");
        }
        if self.has(BLOCKING) {
            cats.push("@blocking");
        }
        match self.group {
            "string" => cats.push("@string"),
            "generic" => cats.push("@keyspace"),
            "connection" => cats.push("@connection"),
            "transactions" => cats.push("@transaction"),
            "hash" => cats.push("@hash"),
            "list" => cats.push("@list"),
            "set" => cats.push("@set"),
            "sorted_set" => cats.push("@sortedset"),
            "stream" => cats.push("@stream"),
            "pubsub" => cats.push("@pubsub"),
            "scripting" => cats.push("@scripting"),
            _ => {}
        }
        cats.push(if self.has(FAST) { "@fast" } else { "@slow" });
        cats
    }
}

static KEY_FLAGS: LazyLock<HashMap<&'static str, &'static [u16]>> =
    LazyLock::new(|| facts::KEY_FLAGS.iter().copied().collect());

static CATEGORY_OVERRIDES: LazyLock<HashMap<&'static str, &'static [&'static str]>> =
    LazyLock::new(|| facts::CATEGORY_OVERRIDES.iter().copied().collect());

static INDEX: LazyLock<HashMap<&'static [u8], usize>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_bytes(), i))
        .collect()
});

/// The subcommand rows of each row, indexed like [`COMMANDS`] (dispatch asks for every command).
static SUBCOMMANDS: LazyLock<Vec<Vec<usize>>> = LazyLock::new(|| {
    let mut subs = vec![Vec::new(); COMMANDS.len()];
    for (i, s) in COMMANDS.iter().enumerate() {
        if let Some(parent) = s.container().and_then(|c| lookup(c.as_bytes())) {
            subs[parent].push(i);
        }
    }
    subs
});

/// Finds a command by name, ignoring case (`config|get` finds a subcommand).
#[inline]
pub fn lookup(name: &[u8]) -> Option<usize> {
    let mut buf = [0u8; 48];
    if name.len() > buf.len() {
        return None;
    }
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    INDEX.get(&buf[..name.len()]).copied()
}

/// Finds a top-level command by name, as a client names it on the wire (`config|get` is no command there).
#[inline]
pub fn lookup_command(name: &[u8]) -> Option<usize> {
    lookup(name).filter(|&i| COMMANDS[i].container().is_none())
}

/// The subcommand rows of the command at `idx` (empty for a plain command).
#[inline]
pub fn subcommands(idx: usize) -> &'static [usize] {
    &SUBCOMMANDS[idx]
}

/// Finds the subcommand `sub` (any case) of the container at `idx`.
pub fn lookup_subcommand(idx: usize, sub: &[u8]) -> Option<usize> {
    let mut name = Vec::with_capacity(COMMANDS[idx].name.len() + 1 + sub.len());
    name.extend_from_slice(COMMANDS[idx].name.as_bytes());
    name.push(b'|');
    name.extend_from_slice(sub);
    lookup(&name).filter(|&i| COMMANDS[i].container().is_some())
}

/// The top-level commands (no subcommand rows), as `COMMAND`, `COMMAND COUNT` and `COMMAND LIST` show them.
pub fn top_level() -> impl Iterator<Item = usize> {
    (0..COMMANDS.len()).filter(|&i| COMMANDS[i].container().is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str) -> &'static Spec {
        &COMMANDS[lookup(name.as_bytes()).expect("known command")]
    }

    fn keys<'a>(name: &str, args: &[&'a str]) -> Vec<&'a str> {
        let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        spec(name)
            .key_positions_in(&argv)
            .into_iter()
            .map(|i| args[i])
            .collect()
    }

    #[test]
    fn names_are_unique_lowercase_and_found_in_any_case() {
        for (i, s) in COMMANDS.iter().enumerate() {
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert_eq!(lookup(s.name.to_ascii_uppercase().as_bytes()), Some(i));
        }
        assert_eq!(INDEX.len(), COMMANDS.len());
        assert_eq!(lookup(b"nosuchcommand"), None);
        assert!(lookup(b"config|get").is_some());
        assert_eq!(lookup_command(b"CONFIG|GET"), None);
        assert_eq!(lookup_command(b"config"), lookup(b"config"));
    }

    #[test]
    fn write_and_readonly_are_exclusive() {
        for s in COMMANDS {
            assert!(!(s.has(WRITE) && s.has(READONLY)), "{}", s.name);
        }
    }

    #[test]
    fn every_subcommand_has_its_container_and_counts_both_names() {
        for s in COMMANDS.iter().filter(|s| s.container().is_some()) {
            let parent = lookup(s.container().unwrap_or_default().as_bytes());
            assert!(parent.is_some(), "{}", s.name);
            assert!(s.arity.unsigned_abs() >= 2, "{}", s.name);
        }
        let xgroup = lookup(b"xgroup").expect("xgroup");
        assert_eq!(
            lookup_subcommand(xgroup, b"CREATE"),
            lookup(b"xgroup|create")
        );
        assert_eq!(lookup_subcommand(xgroup, b"nosuch"), None);
    }

    #[test]
    fn key_count_commands_find_exactly_their_keys() {
        assert_eq!(
            keys(
                "zunionstore",
                &["zunionstore", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
            ),
            ["d", "a", "b"]
        );
        assert_eq!(keys("lmpop", &["lmpop", "2", "a", "b", "LEFT"]), ["a", "b"]);
        assert_eq!(keys("blmpop", &["blmpop", "0", "1", "a", "LEFT"]), ["a"]);
        assert_eq!(keys("zunion", &["zunion", "5", "a"]), ["a"]);
        assert_eq!(keys("zunion", &["zunion", "x", "a"]), Vec::<&str>::new());
    }

    #[test]
    fn keyword_and_limited_ranges_find_stream_keys() {
        let argv = ["xread", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"];
        assert_eq!(keys("xread", &argv), ["s1", "s2"]);
        let argv = ["xreadgroup", "GROUP", "g", "c", "STREAMS", "s", ">"];
        assert_eq!(keys("xreadgroup", &argv), ["s"]);
        let argv = [
            "xreadgroup",
            "GROUP",
            "streams",
            "c",
            "COUNT",
            "2",
            "STREAMS",
            "k1",
            "k2",
            ">",
            ">",
        ];
        assert_eq!(keys("xreadgroup", &argv), ["k1", "k2"]);
    }

    #[test]
    fn ranges_cover_pairs_and_trailing_timeouts() {
        assert_eq!(keys("mset", &["mset", "a", "1", "b", "2"]), ["a", "b"]);
        assert_eq!(keys("blpop", &["blpop", "a", "b", "0"]), ["a", "b"]);
        assert_eq!(keys("get", &["get", "a"]), ["a"]);
        assert_eq!(keys("ping", &["ping"]), Vec::<&str>::new());
    }

    #[test]
    fn legacy_positions_are_derived_like_redis() {
        assert_eq!(spec("get").key_positions(), (1, 1, 1));
        assert_eq!(spec("mset").key_positions(), (1, -1, 2));
        assert_eq!(spec("blpop").key_positions(), (1, -2, 1));
        assert_eq!(spec("rename").key_positions(), (1, 2, 1));
        assert_eq!(spec("zunionstore").key_positions(), (1, 1, 1));
        assert_eq!(spec("lmpop").key_positions(), (0, 0, 0));
        assert!(spec("lmpop").flag_names().contains(&"movablekeys"));
        assert!(!spec("get").flag_names().contains(&"movablekeys"));
    }
}
