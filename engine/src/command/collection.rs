//! What every collection command shares: typed lookups that answer WRONGTYPE, edits that account memory and
//! delete emptied keys, and the argument forms of the SCAN family, blocking timeouts and `numkeys` lists.

use super::args::{self, is, Args};
use super::error::CmdError;
use crate::keyspace::hash::Hash;
use crate::keyspace::list::List;
use crate::keyspace::set::Set;
use crate::keyspace::stream::Stream;
use crate::keyspace::zset::ZSet;
use crate::keyspace::{Clock, Entry, Held, Object};
use crate::pattern::glob_match;

/// A collection type stored in an [`Object`].
pub trait Collection: Sized {
    /// The collection inside an object of this type.
    fn pick(o: &Object) -> Option<&Self>;
    /// The same, mutably.
    fn pick_mut(o: &mut Object) -> Option<&mut Self>;
    /// Wraps a collection into an object.
    fn wrap(self) -> Object;
}

macro_rules! collection {
    ($t:ty, $variant:ident) => {
        impl Collection for $t {
            fn pick(o: &Object) -> Option<&Self> {
                match o {
                    Object::$variant(x) => {
                        let x: &Self = x;
                        Some(x)
                    }
                    _ => None,
                }
            }
            fn pick_mut(o: &mut Object) -> Option<&mut Self> {
                match o {
                    Object::$variant(x) => {
                        let x: &mut Self = x;
                        Some(x)
                    }
                    _ => None,
                }
            }
            #[allow(clippy::useless_conversion)]
            fn wrap(self) -> Object {
                Object::$variant(self.into())
            }
        }
    };
}

collection!(Hash, Hash);
collection!(List, List);
collection!(Set, Set);
collection!(ZSet, ZSet);

impl Collection for Stream {
    fn pick(o: &Object) -> Option<&Self> {
        match o {
            Object::Stream(s) => Some(s),
            _ => None,
        }
    }
    fn pick_mut(o: &mut Object) -> Option<&mut Self> {
        match o {
            Object::Stream(s) => Some(s),
            _ => None,
        }
    }
    fn wrap(self) -> Object {
        Object::Stream(Box::new(self))
    }
}

/// The collection at a live key, recording the access; WRONGTYPE when the key holds another type.
pub fn read<'h, T: Collection>(
    held: &'h mut Held<'_>,
    db: usize,
    key: &[u8],
    clock: &Clock,
) -> Result<Option<&'h T>, CmdError> {
    let (shard, h) = held.shard(db, key);
    match shard.get(h, key, clock) {
        None => Ok(None),
        Some(e) => e
            .object()
            .and_then(T::pick)
            .map(Some)
            .ok_or(CmdError::WrongType),
    }
}

/// Checks that a key is missing or holds a `T` (for commands that validate every key before writing).
pub fn check<T: Collection>(
    held: &mut Held<'_>,
    db: usize,
    key: &[u8],
    now_ms: u64,
) -> Result<bool, CmdError> {
    let (shard, h) = held.shard(db, key);
    match shard.find(h, key, now_ms) {
        None => Ok(false),
        Some(i) => match shard.at(i).object().and_then(T::pick) {
            Some(_) => Ok(true),
            None => Err(CmdError::WrongType),
        },
    }
}

/// Edits the collection at `key` with `f`, creating an empty one first when the key is missing and `create`
/// is set (otherwise returns None). Memory is accounted, the TTL kept, and the key deleted when `f` leaves the
/// collection empty.
pub fn write<T: Collection + Default, R>(
    held: &mut Held<'_>,
    db: usize,
    key: &[u8],
    clock: &Clock,
    create: bool,
    f: impl FnOnce(&mut T) -> R,
) -> Result<Option<R>, CmdError> {
    edit(held, db, key, clock, create, |t| (f(t), true))
}

/// Removes from the collection at `key` with `f`, which says how many elements it removed: removing nothing
/// is no modification (no notification, WATCH unaffected), as in Redis.
pub fn remove<T: Collection + Default>(
    held: &mut Held<'_>,
    db: usize,
    key: &[u8],
    clock: &Clock,
    f: impl FnOnce(&mut T) -> usize,
) -> Result<usize, CmdError> {
    let removed = edit(held, db, key, clock, false, |t| {
        let n = f(t);
        (n, n > 0)
    })?;
    Ok(removed.unwrap_or(0))
}

/// [`write`], where `f` also says whether it changed the collection: no change is no modification (WATCH
/// unaffected).
pub fn edit<T: Collection + Default, R>(
    held: &mut Held<'_>,
    db: usize,
    key: &[u8],
    clock: &Clock,
    create: bool,
    f: impl FnOnce(&mut T) -> (R, bool),
) -> Result<Option<R>, CmdError> {
    let (shard, h) = held.shard(db, key);
    let i = match shard.find(h, key, clock.now_ms) {
        Some(i) => {
            if shard.at(i).object().and_then(T::pick).is_none() {
                return Err(CmdError::WrongType);
            }
            i
        }
        None if create => {
            let entry = Entry::new_object(
                (h >> 32) as u32,
                key,
                T::default().wrap(),
                None,
                clock.initial(),
            );
            shard.add(h, entry)
        }
        None => return Ok(None),
    };
    let (result, empty) = shard.modify_if(i, |e| {
        e.set_clock(clock.on_access(e.clock()));
        match e.object_mut() {
            Some(o) => match T::pick_mut(o) {
                Some(t) => {
                    let (r, changed) = f(t);
                    ((Some(r), o.is_empty()), changed)
                }
                None => ((None, false), false),
            },
            None => ((None, false), false),
        }
    });
    if empty {
        shard.remove_at(i);
        shard.shrink();
    }
    Ok(result)
}

/// Stores a collection at `key`, replacing whatever was there (the STORE commands); an empty collection
/// deletes the key instead. The TTL is cleared, as when Redis overwrites a key.
pub fn store(held: &mut Held<'_>, db: usize, key: &[u8], object: Object, clock: &Clock) {
    let (shard, h) = held.shard(db, key);
    if object.is_empty() {
        shard.delete(h, key, clock.now_ms);
        return;
    }
    let entry = Entry::new_object((h >> 32) as u32, key, object, None, clock.initial());
    shard.set(h, entry, clock.now_ms);
}

/// Options of HSCAN, SSCAN and ZSCAN.
pub struct ScanArgs<'a> {
    /// Where to continue.
    pub cursor: usize,
    /// MATCH pattern.
    pub pattern: Option<&'a [u8]>,
    /// COUNT hint.
    pub count: usize,
}

impl ScanArgs<'_> {
    /// True when an element passes the MATCH filter.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob_match(p, item, false))
    }
}

/// Reads `cursor [MATCH pattern] [COUNT count]`, the rest of the arguments.
pub fn read_scan<'a>(a: &mut Args<'a>) -> Result<ScanArgs<'a>, CmdError> {
    let cursor = std::str::from_utf8(a.bytes()?)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut out = ScanArgs {
        cursor: cursor.min(usize::MAX as u64) as usize,
        pattern: None,
        count: 10,
    };
    while let Some(option) = a.optional() {
        let Some(value) = a.optional() else {
            return Err(CmdError::Syntax);
        };
        if is(option, "match") {
            out.pattern = Some(value).filter(|p| *p != b"*");
        } else if is(option, "count") {
            out.count = args::uint(value)?;
            if out.count < 1 {
                return Err(CmdError::Syntax);
            }
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(out)
}

/// Parses a blocking timeout in seconds (a float, 0 = forever) into milliseconds.
pub fn timeout_ms(arg: &[u8]) -> Result<Option<u64>, CmdError> {
    let invalid = || CmdError::err("timeout is not a float or out of range");
    let secs = args::float(arg).map_err(|_| invalid())?;
    if !secs.is_finite() {
        return Err(invalid());
    }
    if secs < 0.0 {
        return Err(CmdError::err("timeout is negative"));
    }
    let ms = (secs * 1000.0).ceil();
    if ms > i64::MAX as f64 / 2.0 {
        return Err(invalid());
    }
    Ok((ms > 0.0).then_some(ms as u64))
}

/// Reads the `numkeys` of `numkeys key [key …]`, which must be positive and no more than the arguments left;
/// the keys are left to read.
pub fn read_numkeys(a: &mut Args, command: &str) -> Result<usize, CmdError> {
    let zset_algebra = matches!(
        command,
        "zunionstore" | "zinterstore" | "zdiffstore" | "zunion" | "zinter" | "zdiff" | "zintercard"
    );
    let n = match a.int() {
        Ok(n) => n,
        // SINTERCARD, LMPOP and ZMPOP read numkeys as a positive count, whose error names it.
        Err(_) if !zset_algebra => return Err(CmdError::err("numkeys should be greater than 0")),
        Err(e) => return Err(e),
    };
    if n <= 0 {
        return Err(if zset_algebra {
            CmdError::err(format_args!(
                "at least 1 input key is needed for '{command}' command"
            ))
        } else {
            CmdError::err("numkeys should be greater than 0")
        });
    }
    let n = n as usize;
    if n > a.len() {
        return Err(if command == "sintercard" {
            CmdError::err("Number of keys can't be greater than number of args")
        } else {
            CmdError::Syntax
        });
    }
    Ok(n)
}

/// Reads `key [key …] timeout`, the rest of the arguments of BLPOP, BZPOPMIN …: the keys and the timeout.
pub fn keys_then_timeout<'a>(a: &mut Args<'a>) -> Result<(&'a [&'a [u8]], Option<u64>), CmdError> {
    match a.rest().split_last() {
        Some((&timeout, keys)) => Ok((keys, timeout_ms(timeout)?)),
        None => Err(a.arity_error()),
    }
}
