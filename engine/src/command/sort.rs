//! SORT and SORT_RO: the elements of a list, set or sorted set, sorted numerically or by bytes, optionally by
//! the values of other keys (`BY weight_*`, `BY h_*->field`), with `LIMIT`, `GET` patterns and `STORE`, as Redis
//! 7.0 does them.
//!
//! The keys a `BY` or `GET` pattern names come from the data, so no key specification can name them: the
//! catalogue locks the whole database for SORT (like KEYS), and in cluster mode the patterns are refused, as in
//! Redis.

use std::cmp::Ordering;

use super::args::{self, is};
use super::call::Call;
use super::collection::store;
use super::error::{CmdError, CmdResult};
use crate::keyspace::list::List;
use crate::keyspace::{Held, Object};

/// The options of one SORT call.
struct Options<'a> {
    by: Option<&'a [u8]>,
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
    offset: i64,
    count: i64,
    desc: bool,
    alpha: bool,
    store: Option<&'a [u8]>,
}

fn parse<'a>(c: &Call<'a, '_>, readonly: bool) -> Result<Options<'a>, CmdError> {
    let argv = c.args;
    let mut o = Options {
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        offset: 0,
        count: -1,
        desc: false,
        alpha: false,
        store: None,
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let w = argv[j];
        if is(w, "asc") {
            o.desc = false;
        } else if is(w, "desc") {
            o.desc = true;
        } else if is(w, "alpha") {
            o.alpha = true;
        } else if is(w, "limit") && left >= 2 {
            o.offset = args::int(argv[j + 1])?;
            o.count = args::int(argv[j + 2])?;
            j += 2;
        } else if is(w, "store") && left >= 1 && !readonly {
            o.store = Some(argv[j + 1]);
            j += 1;
        } else if is(w, "by") && left >= 1 {
            let pattern = argv[j + 1];
            // A pattern without `*` names no key per element: the elements keep their order.
            if !pattern.contains(&b'*') {
                o.dont_sort = true;
            } else if c.node.cluster().enabled() {
                return Err(CmdError::err("BY option of SORT denied in Cluster mode."));
            }
            o.by = Some(pattern);
            j += 1;
        } else if is(w, "get") && left >= 1 {
            if c.node.cluster().enabled() {
                return Err(CmdError::err("GET option of SORT denied in Cluster mode."));
            }
            o.gets.push(argv[j + 1]);
            j += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    Ok(o)
}

/// The value a pattern names for `element`: `#` is the element itself; otherwise the first `*` is replaced by
/// the element and the string at that key is read, or with `->field` after the `*`, that hash field. A pattern
/// without `*`, a missing key or a key of another type gives nothing.
fn lookup(
    held: &mut Held<'_>,
    db: usize,
    clock: &crate::keyspace::Clock,
    pattern: &[u8],
    element: &[u8],
) -> Option<Vec<u8>> {
    if pattern == b"#" {
        return Some(element.to_vec());
    }
    let star = pattern.iter().position(|&b| b == b'*')?;
    let (key_part, field) = match pattern[star + 1..].windows(2).position(|w| w == b"->") {
        Some(p) if star + 1 + p + 2 < pattern.len() => {
            (&pattern[..star + 1 + p], Some(&pattern[star + 1 + p + 2..]))
        }
        _ => (pattern, None),
    };
    let mut key = Vec::with_capacity(key_part.len() + element.len());
    key.extend_from_slice(&key_part[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(&key_part[star + 1..]);
    let (shard, h) = held.shard(db, &key);
    let entry = shard.get(h, &key, clock)?;
    match (field, entry.object()) {
        (None, None) => Some(entry.value().to_vec()),
        (Some(f), Some(Object::Hash(hash))) => hash.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// One element and what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

fn parse_score(v: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(v).ok()?.trim_start();
    let score: f64 = text.parse().ok()?;
    (!score.is_nan()).then_some(score)
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA] [STORE destination]
pub fn sort(c: &mut Call) -> CmdResult {
    run(c, false)
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC|DESC] [ALPHA]
pub fn sort_ro(c: &mut Call) -> CmdResult {
    run(c, true)
}

fn run(c: &mut Call, readonly: bool) -> CmdResult {
    let key = c.args[1];
    let mut o = parse(c, readonly)?;
    let db = c.session.db;
    let clock = c.clock;
    // The elements, in the collection's own order.
    let (mut elements, is_set): (Vec<Vec<u8>>, bool) = {
        let (shard, h) = c.held.shard(db, key);
        match shard.get(h, key, &clock) {
            None => (Vec::new(), false),
            Some(e) => match e.object() {
                Some(Object::List(l)) => (l.iter().map(|x| x.to_vec()).collect(), false),
                Some(Object::Set(s)) => (s.iter().map(|x| x.into_owned()).collect(), true),
                Some(Object::ZSet(z)) => {
                    let mut v = Vec::with_capacity(z.len());
                    z.for_each(|m, _| v.push(m.to_vec()));
                    (v, false)
                }
                _ => return Err(CmdError::WrongType),
            },
        }
    };
    // A set has no order of its own: stored results are sorted by bytes so replicas get the same list.
    if o.dont_sort && is_set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = elements.len() as i64;
    let mut start = o.offset.max(0);
    let mut end = if o.count < 0 {
        len - 1
    } else {
        start.saturating_add(o.count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    if o.dont_sort {
        // Lists and sorted sets keep their order, walked from the tail for DESC.
        if o.desc && !is_set {
            elements.reverse();
        }
    } else {
        let mut items = Vec::with_capacity(elements.len());
        let mut bad_score = false;
        for element in elements.drain(..) {
            let by = match o.by {
                Some(p) => lookup(c.held, db, &clock, p, &element),
                None => None,
            };
            let mut score = 0.0;
            if !o.alpha {
                let source = if o.by.is_some() {
                    by.as_deref()
                } else {
                    Some(&element[..])
                };
                if let Some(v) = source {
                    match parse_score(v) {
                        Some(s) => score = s,
                        None => bad_score = true,
                    }
                }
            }
            items.push(Item { element, score, by });
        }
        if bad_score {
            return Err(CmdError::err(
                "One or more scores can't be converted into double",
            ));
        }
        let by_pattern = o.by.is_some();
        let alpha = o.alpha;
        let compare = |a: &Item, b: &Item| {
            let first = if !alpha {
                a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal)
            } else if by_pattern {
                // A missing BY value sorts first.
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => x.cmp(y),
                }
            } else {
                a.element.cmp(&b.element)
            };
            // Equal scores fall back to the elements' bytes, so a numeric sort is always the same; equal
            // ALPHA keys keep the elements' order (the sort is stable), as Redis' does.
            if alpha {
                first
            } else {
                first.then_with(|| a.element.cmp(&b.element))
            }
        };
        items.sort_by(|a, b| if o.desc { compare(b, a) } else { compare(a, b) });
        elements = items.into_iter().map(|i| i.element).collect();
    }
    let chosen: &[Vec<u8>] = if end >= start && start >= 0 {
        &elements[start as usize..=end as usize]
    } else {
        &[]
    };
    c.touched(chosen.len());
    // The values to answer or store: the elements, or per element one value per GET pattern.
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(chosen.len() * o.gets.len().max(1));
    for element in chosen {
        if o.gets.is_empty() {
            values.push(Some(element.clone()));
        }
        for p in &o.gets {
            values.push(lookup(c.held, db, &clock, p, element));
        }
    }
    match o.store {
        None => {
            c.replicate_as(&[]);
            c.out.array(values.len());
            for v in &values {
                match v {
                    Some(v) => c.out.bulk(v),
                    None => c.out.null(),
                }
            }
        }
        Some(dst) => {
            let mut list = List::default();
            for v in &values {
                list.push(v.as_deref().unwrap_or_default(), false);
            }
            store(c.held, db, dst, Object::List(Box::new(list)), &clock);
            c.out.int(values.len() as i64);
        }
    }
    Ok(())
}
