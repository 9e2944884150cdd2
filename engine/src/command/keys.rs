//! Generic key commands: existence, deletion, TTLs, renaming, iteration, introspection.

use super::args::{self, is, Args};
use super::call::Call;
use super::error::{CmdError, CmdResult};
use crate::config::Config;
use crate::keyspace::evict::{lfu_decayed, lru_idle_seconds};
use crate::keyspace::table::SCAN_END;
use crate::keyspace::{Clock, Entry, Keyspace, LockSet};
use crate::pattern::glob_match;

/// DEL key [key …] / UNLINK key [key …]
pub fn del(c: &mut Call) -> CmdResult {
    let keys = c.args().rest();
    c.touched(keys.len());
    let now = c.clock.now_ms;
    let mut n = 0;
    for &key in keys {
        let (shard, h) = c.held.shard(c.session.db, key);
        n += shard.delete(h, key, now).is_some() as i64;
    }
    c.out.int(n);
    Ok(())
}

/// EXISTS key [key …] (a key named twice counts twice)
pub fn exists(c: &mut Call) -> CmdResult {
    let keys = c.args().rest();
    c.touched(keys.len());
    let now = c.clock.now_ms;
    let mut n = 0;
    for &key in keys {
        let (shard, h) = c.held.shard(c.session.db, key);
        n += shard.find(h, key, now).is_some() as i64;
    }
    c.out.int(n);
    Ok(())
}

/// TOUCH key [key …]: records an access, returns how many exist.
pub fn touch(c: &mut Call) -> CmdResult {
    let keys = c.args().rest();
    c.touched(keys.len());
    let mut n = 0;
    for &key in keys {
        let (shard, h) = c.held.shard(c.session.db, key);
        n += shard.get(h, key, &c.clock).is_some() as i64;
    }
    c.out.int(n);
    Ok(())
}

/// The conditions of EXPIRE and friends, from their options.
#[derive(Default)]
struct ExpireIf {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Reads `[NX|XX|GT|LT]…`, the rest of the arguments, refusing incompatible combinations.
fn expire_conditions(a: &mut Args) -> Result<ExpireIf, CmdError> {
    let mut cond = ExpireIf::default();
    for opt in a.rest() {
        match opt.to_ascii_lowercase().as_slice() {
            b"nx" => cond.nx = true,
            b"xx" => cond.xx = true,
            b"gt" => cond.gt = true,
            b"lt" => cond.lt = true,
            _ => {
                return Err(CmdError::err(format_args!(
                    "Unsupported option {}",
                    args::text(opt)
                )))
            }
        }
    }
    if cond.nx && (cond.xx || cond.gt || cond.lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if cond.gt && cond.lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(cond)
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key time [NX|XX|GT|LT]
pub fn expire(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let name = a.name().to_ascii_lowercase();
    let (key, n) = (a.key()?, a.int()?);
    let ExpireIf { nx, xx, gt, lt } = expire_conditions(&mut a)?;
    let now = c.clock.now_ms as i64;
    let invalid = || {
        CmdError::err(format_args!(
            "invalid expire time in '{}' command",
            args::text(&name)
        ))
    };
    let at = match name.as_slice() {
        b"expire" => n.checked_mul(1000).and_then(|ms| ms.checked_add(now)),
        b"pexpire" => n.checked_add(now),
        b"expireat" => n.checked_mul(1000),
        _ => Some(n),
    }
    .ok_or_else(invalid)?;
    let (shard, h) = c.held.shard(c.session.db, key);
    let Some(i) = shard.find(h, key, now as u64) else {
        c.out.int(0);
        c.replicate_as(&[]);
        return Ok(());
    };
    let current = shard.at(i).expire();
    let allowed = match current {
        None => !xx && !gt,
        Some(cur) => !nx && (!gt || at > cur as i64) && (!lt || at < cur as i64),
    };
    if !allowed {
        c.out.int(0);
        c.replicate_as(&[]);
        return Ok(());
    }
    if at <= now {
        shard.remove_at(i);
        shard.shrink();
        c.replicate_as(&[&[b"DEL", key]]);
    } else {
        shard.update_at(i, |e| e.with_expire(Some(at as u64)));
        c.replicate_as(&[&[b"PEXPIREAT", key, at.to_string().as_bytes()]]);
    }
    c.out.int(1);
    Ok(())
}

/// TTL / PTTL / EXPIRETIME / PEXPIRETIME key
pub fn ttl(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let name = a.name().to_ascii_lowercase();
    let key = a.key()?;
    let now = c.clock.now_ms;
    let (shard, h) = c.held.shard(c.session.db, key);
    let Some(i) = shard.find(h, key, now) else {
        c.out.int(-2);
        return Ok(());
    };
    let Some(at) = shard.at(i).expire() else {
        c.out.int(-1);
        return Ok(());
    };
    let left = at.saturating_sub(now) as i64;
    c.out.int(match name.as_slice() {
        b"ttl" => (left + 500) / 1000,
        b"pttl" => left,
        b"expiretime" => (at / 1000) as i64,
        _ => at as i64,
    });
    Ok(())
}

/// PERSIST key
pub fn persist(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let now = c.clock.now_ms;
    let (shard, h) = c.held.shard(c.session.db, key);
    match shard.find(h, key, now) {
        Some(i) if shard.at(i).expire().is_some() => {
            shard.update_at(i, |e| e.with_expire(None));
            c.out.int(1);
        }
        _ => c.out.int(0),
    }
    Ok(())
}

/// TYPE key
pub fn type_(c: &mut Call) -> CmdResult {
    let key = c.args().key()?;
    let now = c.clock.now_ms;
    let (shard, h) = c.held.shard(c.session.db, key);
    match shard.find(h, key, now) {
        Some(i) => c.out.simple(shard.at(i).type_name()),
        None => c.out.simple("none"),
    }
    Ok(())
}

/// Copies `src` (in `src_db`) to `dst` (in `dst_db`), or moves it when `moving` (RENAME, MOVE: the value is
/// moved, not copied, and the source deleted); returns false when the source is missing or `dst` exists and
/// `replace` is off.
fn copy_entry(
    c: &mut Call,
    (src_db, src): (usize, &[u8]),
    (dst_db, dst): (usize, &[u8]),
    replace: bool,
    moving: bool,
) -> bool {
    let now = c.clock.now_ms;
    let hash = c.held.keyspace().hash(dst);
    let (dshard, dh) = c.held.shard(dst_db, dst);
    if !replace && dshard.find(dh, dst, now).is_some() {
        return false;
    }
    let (shard, h) = c.held.shard(src_db, src);
    let Some(i) = shard.find(h, src, now) else {
        return false;
    };
    let entry = if moving {
        let e = shard.remove_at(i);
        shard.shrink();
        e.renamed((hash >> 32) as u32, dst)
    } else {
        shard.at(i).duplicate((hash >> 32) as u32, dst)
    };
    let (dshard, dh) = c.held.shard(dst_db, dst);
    dshard.set(dh, entry, now);
    true
}

/// RENAME / RENAMENX key newkey
pub fn rename(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let nx = a.called("renamenx");
    let (src, dst) = (a.key()?, a.key()?);
    let now = c.clock.now_ms;
    let db = c.session.db;
    let (shard, h) = c.held.shard(db, src);
    if shard.find(h, src, now).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        if nx {
            c.out.int(0);
        } else {
            c.out.ok();
        }
        return Ok(());
    }
    if !copy_entry(c, (db, src), (db, dst), !nx, true) {
        c.out.int(0);
        return Ok(());
    }
    if nx {
        c.out.int(1);
    } else {
        c.out.ok();
    }
    Ok(())
}

/// Parses a database index argument.
pub fn db_index(arg: &[u8], ks: &Keyspace) -> Result<usize, CmdError> {
    let n = args::int(arg)?;
    if n < 0 || n as usize >= ks.databases() {
        return Err(CmdError::err("DB index is out of range"));
    }
    Ok(n as usize)
}

/// What MOVE key db locks beyond its key: the key's shard in the other database.
pub fn move_keys(argv: &[&[u8]], _db: usize, ks: &Keyspace, set: &mut LockSet) {
    let mut a = Args::new(argv, 1);
    if let (Ok(key), Some(Ok(other))) = (a.key(), a.optional().map(|d| db_index(d, ks))) {
        set.push(ks.shard_id(other, key));
    }
}

/// MOVE key db
pub fn move_(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let key = a.key()?;
    let target = db_index(a.bytes()?, c.node.ks())?;
    let db = c.session.db;
    if target == db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let moved = copy_entry(c, (db, key), (target, key), false, true);
    c.out.int(moved as i64);
    Ok(())
}

/// What COPY source destination [DB n] [REPLACE] locks beyond its keys: the destination's shard in the other
/// database.
pub fn copy_keys(argv: &[&[u8]], db: usize, ks: &Keyspace, set: &mut LockSet) {
    let mut a = Args::new(argv, 1);
    let (Ok(_), Ok(destination)) = (a.key(), a.key()) else {
        return;
    };
    let mut dst_db = db;
    while let Some(option) = a.optional() {
        if let Some(Ok(n)) = is(option, "db")
            .then(|| a.peek().map(|d| db_index(d, ks)))
            .flatten()
        {
            dst_db = n;
        }
    }
    set.push(ks.shard_id(dst_db, destination));
}

/// COPY source destination [DB destination-db] [REPLACE]
pub fn copy(c: &mut Call) -> CmdResult {
    let mut a = c.args();
    let (src, dst) = (a.key()?, a.key()?);
    let db = c.session.db;
    let (mut dst_db, mut replace) = (db, false);
    while let Some(opt) = a.optional() {
        if is(opt, "replace") {
            replace = true;
        } else if is(opt, "db") && !a.is_empty() {
            dst_db = db_index(a.bytes()?, c.node.ks())?;
        } else {
            return Err(CmdError::Syntax);
        }
    }
    if src == dst && db == dst_db {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let copied = copy_entry(c, (db, src), (dst_db, dst), replace, false);
    c.out.int(copied as i64);
    Ok(())
}

/// KEYS pattern
pub fn keys(c: &mut Call) -> CmdResult {
    let pattern = c.args().bytes()?;
    let now = c.clock.now_ms;
    let all = pattern == b"*";
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut examined = 0;
    for shard in c.held.shards_of(c.session.db) {
        examined += shard.len();
        for e in shard.iter() {
            let live = e.expire().is_none_or(|at| now <= at);
            if live && (all || glob_match(pattern, e.key(), false)) {
                found.push(e.key().to_vec());
            }
        }
    }
    c.touched(examined);
    c.out.bulks(found.iter().map(Vec::as_slice));
    Ok(())
}

/// The arguments of SCAN.
struct KeyScan<'a> {
    cursor: u64,
    pattern: Option<&'a [u8]>,
    count: usize,
    type_filter: Option<&'a [u8]>,
}

/// Reads `cursor [MATCH pattern] [COUNT count] [TYPE type]`.
fn key_scan<'a>(a: &mut Args<'a>) -> Result<KeyScan<'a>, CmdError> {
    let cursor = std::str::from_utf8(a.bytes()?)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut scan = KeyScan {
        cursor,
        pattern: None,
        count: 10,
        type_filter: None,
    };
    while let Some(option) = a.optional() {
        let Some(value) = a.optional() else {
            return Err(CmdError::Syntax);
        };
        if is(option, "match") {
            scan.pattern = Some(value).filter(|p| *p != b"*");
        } else if is(option, "count") {
            scan.count = args::uint(value)?;
            if scan.count < 1 {
                return Err(CmdError::Syntax);
            }
        } else if is(option, "type") {
            scan.type_filter = Some(value);
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(scan)
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
///
/// The cursor holds a shard number (high 32 bits) and a position in that shard's hash space (low 32 bits), so
/// every key present for the whole iteration is returned at least once, whatever resizes happen in between.
pub fn scan(c: &mut Call) -> CmdResult {
    let KeyScan {
        cursor,
        pattern,
        count,
        type_filter,
    } = key_scan(&mut c.args())?;
    let now = c.clock.now_ms;
    let mut shard_no = (cursor >> 32) as usize;
    let mut pos = cursor & (SCAN_END - 1);
    let mut found: Vec<(Vec<u8>, &'static str)> = Vec::new();
    let shards: Vec<_> = c.held.shards_of(c.session.db).collect();
    while shard_no < shards.len() && found.len() < count {
        let want = count - found.len();
        pos = shards[shard_no].scan(pos, want, |e| {
            if e.expire().is_none_or(|at| now <= at) {
                found.push((e.key().to_vec(), e.type_name()));
            }
        });
        if pos == SCAN_END {
            shard_no += 1;
            pos = 0;
        }
    }
    let examined = found.len();
    let next = if shard_no >= shards.len() {
        0
    } else {
        ((shard_no as u64) << 32) | pos
    };
    found.retain(|(k, ty)| {
        pattern.is_none_or(|p| glob_match(p, k, false)) && type_filter.is_none_or(|t| is(t, ty))
    });
    c.touched(examined);
    c.out.array(2);
    c.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    c.out.bulks(found.iter().map(|(k, _)| k.as_slice()));
    Ok(())
}

/// RANDOMKEY
pub fn randomkey(c: &mut Call) -> CmdResult {
    let now = c.clock.now_ms;
    let mut shards: Vec<_> = c.held.shards_of(c.session.db).collect();
    let nonempty: Vec<usize> = (0..shards.len())
        .filter(|&i| !shards[i].is_empty())
        .collect();
    for _ in 0..100 {
        let Some(&s) = nonempty.get(fastrand::usize(..nonempty.len().max(1))) else {
            break;
        };
        let shard = &mut shards[s];
        let Some(i) = shard.random_slot(fastrand::u64(..)) else {
            continue;
        };
        if shard.at(i).expire().is_none_or(|at| now <= at) {
            c.out.bulk(shard.at(i).key());
            return Ok(());
        }
    }
    c.out.null();
    Ok(())
}

/// Redis' name for how a value is stored.
fn encoding(e: &Entry) -> &'static str {
    if let Some(o) = e.object() {
        return o.encoding();
    }
    let v = e.value();
    if v.len() <= 20 && args::canonical_i64(v).is_some() {
        "int"
    } else if v.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// OBJECT HELP (extra arguments are ignored)
pub fn object_help(c: &mut Call) -> CmdResult {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Print this help.",
    ];
    c.out.help(&lines);
    Ok(())
}

/// OBJECT ENCODING key
pub fn object_encoding(c: &mut Call) -> CmdResult {
    match inspect(c, |e, _, _| Ok(encoding(e)))? {
        Some(name) => c.out.bulk(name.as_bytes()),
        None => c.out.null(),
    }
    Ok(())
}

/// OBJECT FREQ without an LFU policy.
const FREQ_NOT_TRACKED: &str = "An LFU maxmemory policy is not selected, access frequency not tracked. Please \
     note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// OBJECT IDLETIME under an LFU policy.
const IDLE_NOT_TRACKED: &str =
    "An LFU maxmemory policy is selected, idle time not tracked. Please note that \
     when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// OBJECT FREQ key (only under an LFU policy)
pub fn object_freq(c: &mut Call) -> CmdResult {
    let freq = inspect(c, |e, clock, cfg| {
        if !cfg.maxmemory_policy.is_lfu() {
            return Err(CmdError::err(FREQ_NOT_TRACKED));
        }
        Ok(lfu_decayed(e.clock(), clock.now_ms, clock.lfu_decay_time) as i64)
    })?;
    int_or_null(c, freq)
}

/// OBJECT IDLETIME key (only under an LRU policy)
pub fn object_idletime(c: &mut Call) -> CmdResult {
    let idle = inspect(c, |e, clock, cfg| {
        if cfg.maxmemory_policy.is_lfu() {
            return Err(CmdError::err(IDLE_NOT_TRACKED));
        }
        Ok(lru_idle_seconds(e.clock(), clock.now_ms) as i64)
    })?;
    int_or_null(c, idle)
}

/// OBJECT REFCOUNT key (values are never shared: always 1)
pub fn object_refcount(c: &mut Call) -> CmdResult {
    let refs = inspect(c, |_, _, _| Ok(1))?;
    int_or_null(c, refs)
}

/// Runs `f` on the entry of the one key argument of an OBJECT subcommand; None when the key is missing.
fn inspect<T>(
    c: &mut Call,
    f: impl FnOnce(&Entry, &Clock, &Config) -> Result<T, CmdError>,
) -> Result<Option<T>, CmdError> {
    let mut a = c.args();
    if a.len() != 1 {
        return Err(a.subcommand_error());
    }
    let key = a.key()?;
    let (clock, cfg) = (c.clock, c.cfg);
    let (shard, h) = c.held.shard(c.session.db, key);
    match shard.find(h, key, clock.now_ms) {
        Some(i) => f(shard.at(i), &clock, cfg).map(Some),
        None => Ok(None),
    }
}

/// Answers `n`, or nil for a missing key.
fn int_or_null(c: &mut Call, n: Option<i64>) -> CmdResult {
    match n {
        Some(n) => c.out.int(n),
        None => c.out.null(),
    }
    Ok(())
}
