//! Set values: a sorted integer array while every member is a small integer (Redis `intset`), a packed list
//! while small, a [`Dict`] once large; `OBJECT ENCODING` names them as Redis 7.0 does (`intset`, else `hashtable`),
//! with `set-max-intset-entries` from the configuration.

use std::borrow::Cow;

use super::dict::Dict;
use super::integer::canonical_i64;
use super::limits;
use super::pack::{Pack, MAX_ITEM, MAX_ITEMS};

/// A set value.
#[derive(Clone)]
pub enum Set {
    /// Sorted 64-bit integers.
    Ints(Vec<i64>),
    /// Members in insertion order.
    Pack(Pack),
    /// A dictionary.
    Dict(Box<Dict<()>>),
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(Vec::new())
    }
}

fn int_text(n: i64) -> Cow<'static, [u8]> {
    Cow::Owned(itoa::Buffer::new().format(n).as_bytes().to_vec())
}

impl Set {
    /// An empty set suited to its first member.
    pub fn for_member(member: &[u8]) -> Set {
        if canonical_i64(member).is_some() {
            Set::Ints(Vec::new())
        } else {
            Set::Pack(Pack::default())
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Ints(v) => v.len(),
            Set::Pack(p) => p.len(),
            Set::Dict(d) => d.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        match self {
            Set::Ints(v) => v.capacity() * 8,
            Set::Pack(p) => p.heap_size(),
            Set::Dict(d) => std::mem::size_of::<Dict<()>>() + d.heap_size(),
        }
    }

    /// Redis' name for the encoding.
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            // Redis 7.0 has no packed encoding for sets of strings: they are hash tables.
            Set::Pack(_) => "hashtable",
            Set::Dict(_) => "hashtable",
        }
    }

    /// True when `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => canonical_i64(member).is_some_and(|n| v.binary_search(&n).is_ok()),
            Set::Pack(p) => p.iter().any(|(_, m)| m == member),
            Set::Dict(d) => d.find(member).is_some(),
        }
    }

    fn to_dict(&self) -> Dict<()> {
        let mut d = Dict::default();
        for m in self.iter() {
            d.insert_new(&m, ());
        }
        d
    }

    fn to_pack(&self) -> Pack {
        let mut p = Pack::default();
        for m in self.iter() {
            p.push(&m);
        }
        p
    }

    /// Adds a member; returns true when it is new.
    pub fn add(&mut self, member: &[u8]) -> bool {
        if self.contains(member) {
            return false;
        }
        match self {
            Set::Ints(v) => match canonical_i64(member) {
                Some(n) if v.len() < limits::set_ints() => {
                    let at = v.binary_search(&n).unwrap_or_else(|i| i);
                    v.insert(at, n);
                    return true;
                }
                Some(_) => *self = Set::Dict(Box::new(self.to_dict())),
                None if v.len() < MAX_ITEMS && member.len() <= MAX_ITEM => {
                    *self = Set::Pack(self.to_pack())
                }
                None => *self = Set::Dict(Box::new(self.to_dict())),
            },
            Set::Pack(p) if p.len() >= MAX_ITEMS || member.len() > MAX_ITEM => {
                *self = Set::Dict(Box::new(self.to_dict()))
            }
            _ => {}
        }
        match self {
            Set::Ints(_) => unreachable!("integers were handled above"),
            Set::Pack(p) => p.push(member),
            Set::Dict(d) => {
                d.insert_new(member, ());
            }
        }
        true
    }

    /// Removes a member; returns true when it was present.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(v) => match canonical_i64(member).map(|n| v.binary_search(&n)) {
                Some(Ok(i)) => {
                    v.remove(i);
                    true
                }
                _ => false,
            },
            Set::Pack(p) => match p.iter().find(|(_, m)| *m == member) {
                Some((at, _)) => {
                    p.remove(at, 1);
                    true
                }
                None => false,
            },
            Set::Dict(d) => match d.find(member) {
                Some(s) => {
                    d.remove_slot(s);
                    if d.wants_compaction() {
                        d.compact();
                    }
                    true
                }
                None => false,
            },
        }
    }

    /// Every member.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Cow<'_, [u8]>> + '_> {
        match self {
            Set::Ints(v) => Box::new(v.iter().map(|&n| int_text(n))),
            Set::Pack(p) => Box::new(p.iter().map(|(_, m)| Cow::Borrowed(m))),
            Set::Dict(d) => Box::new(d.iter().map(|(_, m, _)| Cow::Borrowed(m))),
        }
    }

    /// A random member.
    pub fn random(&self) -> Option<Cow<'_, [u8]>> {
        match self {
            Set::Ints(v) if !v.is_empty() => Some(int_text(v[fastrand::usize(..v.len())])),
            Set::Pack(p) if !p.is_empty() => p
                .iter()
                .nth(fastrand::usize(..p.len()))
                .map(|(_, m)| Cow::Borrowed(m)),
            Set::Dict(d) => d.random_slot().map(|s| Cow::Borrowed(d.at(s).0)),
            _ => None,
        }
    }

    /// Members from `cursor` (see [`Dict::scan`]); small encodings are returned whole.
    pub fn scan(&self, cursor: usize, count: usize, mut f: impl FnMut(Vec<u8>)) -> usize {
        match self {
            Set::Dict(d) => d.scan(cursor, count, |m, _| f(m.to_vec())),
            _ => {
                self.iter().for_each(|m| f(m.into_owned()));
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis_thresholds() {
        let mut s = Set::for_member(b"1");
        let max_ints = limits::Limits::default().set_ints;
        for i in 0..max_ints {
            s.add(i.to_string().as_bytes());
        }
        assert_eq!((s.encoding(), s.len()), ("intset", max_ints));
        s.add(b"512");
        assert_eq!(s.encoding(), "hashtable");
        let mut s = Set::for_member(b"1");
        s.add(b"1");
        s.add(b"word");
        // Packed internally, reported as Redis 7.0 names every set of strings.
        assert!(matches!(s, Set::Pack(_)));
        assert_eq!(s.encoding(), "hashtable");
        assert!(s.contains(b"1") && s.contains(b"word"));
        s.add(&[b'x'; 65]);
        assert!(matches!(s, Set::Dict(_)));
        assert_eq!(s.len(), 3);
    }

    #[test]
    fn non_canonical_integers_are_strings() {
        let mut s = Set::for_member(b"1");
        s.add(b"1");
        s.add(b"01");
        assert_eq!(s.len(), 2);
        assert!(s.contains(b"01") && s.contains(b"1"));
        assert!(s.remove(b"01"));
        assert!(!s.contains(b"01"));
    }
}
