//! Sorted-set values: packed (member, score) pairs in order while small (Redis `listpack`), an order-statistic
//! tree with member lookup once large (Redis `skiplist`): ZADD, ZREM, ZSCORE and ZRANK in O(log n), a range
//! of `m` elements by rank in O(log n + m).
//!
//! Ranks are always ascending (rank 0 has the lowest score); callers turn reverse ranks into ascending ones.

use std::cmp::Ordering;

use super::limits;
use super::ordered::{compare, ZTree};
use super::pack::Pack;

/// A sorted-set value.
#[derive(Clone)]
pub enum ZSet {
    /// Alternating members and 8-byte little-endian scores, in (score, member) order.
    Pack(Pack),
    /// The ordered index.
    Tree(Box<ZTree>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Pack::default())
    }
}

fn score_of(bytes: &[u8]) -> f64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(bytes);
    f64::from_le_bytes(b)
}

/// Packed pairs: (offset of the member, member, score).
fn pairs(p: &Pack) -> impl Iterator<Item = (usize, &[u8], f64)> {
    let mut it = p.iter();
    std::iter::from_fn(move || {
        let (at, m) = it.next()?;
        let (_, s) = it.next()?;
        Some((at, m, score_of(s)))
    })
}

impl ZSet {
    /// An empty sorted set suited to expect `len` members of at most `longest` bytes.
    pub fn with_capacity_for(len: usize, longest: usize) -> ZSet {
        if len > limits::zset_entries() || longest > limits::zset_value() {
            ZSet::Tree(Box::default())
        } else {
            ZSet::default()
        }
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len() / 2,
            ZSet::Tree(t) => t.len(),
        }
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.heap_size(),
            ZSet::Tree(t) => std::mem::size_of::<ZTree>() + t.heap_size(),
        }
    }

    /// Redis' name for the encoding.
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Tree(_) => "skiplist",
        }
    }

    /// The score of a member.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => pairs(p).find(|(_, m, _)| *m == member).map(|(_, _, s)| s),
            ZSet::Tree(t) => t.score(member),
        }
    }

    /// Adds a member or changes its score; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let ZSet::Pack(p) = self {
            let old = ZSet::remove_packed(p, member);
            if member.len() <= limits::zset_value() && p.len() / 2 < limits::zset_entries() {
                let at = pairs(p)
                    .find(|(_, m, s)| compare((*s, m), (score, member)) == Ordering::Greater)
                    .map_or(p.end(), |(at, _, _)| at);
                p.insert(at, &[member, &score.to_le_bytes()]);
                return old;
            }
            let mut t = ZTree::default();
            for (_, m, s) in pairs(p) {
                t.insert(m, s);
            }
            *self = ZSet::Tree(Box::new(t));
            if let ZSet::Tree(t) = self {
                t.insert(member, score);
            }
            return old;
        }
        match self {
            ZSet::Tree(t) => t.insert(member, score),
            ZSet::Pack(_) => unreachable!("handled above"),
        }
    }

    fn remove_packed(p: &mut Pack, member: &[u8]) -> Option<f64> {
        let (at, _, score) = pairs(p).find(|(_, m, _)| *m == member)?;
        p.remove(at, 2);
        Some(score)
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => ZSet::remove_packed(p, member),
            ZSet::Tree(t) => t.remove(member),
        }
    }

    /// The ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Pack(p) => pairs(p).position(|(_, m, _)| m == member),
            ZSet::Tree(t) => t.rank(member),
        }
    }

    /// The element at an ascending rank.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(p) => pairs(p).nth(rank).map(|(_, m, s)| (m, s)),
            ZSet::Tree(t) => t.select(rank),
        }
    }

    /// Number of elements ordered before a bound: those for which `before(score, member)` holds, which must be
    /// a prefix of the order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => pairs(p).take_while(|(_, m, s)| before(*s, m)).count(),
            ZSet::Tree(t) => t.count_before(before),
        }
    }

    /// Calls `f` on up to `count` elements from ascending rank `from` (descending rank when `rev`), until `f`
    /// returns false.
    pub fn walk(
        &self,
        from: usize,
        count: usize,
        rev: bool,
        mut f: impl FnMut(&[u8], f64) -> bool,
    ) {
        match self {
            ZSet::Pack(p) => {
                let all: Vec<_> = pairs(p).map(|(_, m, s)| (m, s)).collect();
                let mut visit = |(m, s): &(&[u8], f64)| f(m, *s);
                if rev {
                    let _ = all.iter().rev().skip(from).take(count).try_for_each(|e| {
                        if visit(e) {
                            Ok(())
                        } else {
                            Err(())
                        }
                    });
                } else {
                    let _ = all.iter().skip(from).take(count).try_for_each(|e| {
                        if visit(e) {
                            Ok(())
                        } else {
                            Err(())
                        }
                    });
                }
            }
            ZSet::Tree(t) => t.walk(from, count, rev, f),
        }
    }

    /// Every element in ascending order.
    pub fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        self.walk(0, usize::MAX, false, |m, s| {
            f(m, s);
            true
        });
    }

    /// A random element.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(_) => self.at(fastrand::usize(..self.len().max(1))),
            ZSet::Tree(t) => t.random(),
        }
    }

    /// Elements from `cursor`; a packed set is returned whole.
    pub fn scan<'s>(
        &'s self,
        cursor: usize,
        count: usize,
        mut f: impl FnMut(&'s [u8], f64),
    ) -> usize {
        match self {
            ZSet::Pack(p) => {
                pairs(p).for_each(|(_, m, s)| f(m, s));
                0
            }
            ZSet::Tree(t) => t.scan(cursor, count, f),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(z: &ZSet) -> Vec<(String, f64)> {
        let mut v = Vec::new();
        z.for_each(|m, s| v.push((String::from_utf8_lossy(m).into_owned(), s)));
        v
    }

    #[test]
    fn packed_and_tree_encodings_agree() {
        let mut small = ZSet::default();
        let mut big = ZSet::Tree(Box::default());
        for (m, s) in [("c", 3.0), ("a", 1.0), ("b", 1.0), ("d", -1.0), ("a", 5.0)] {
            assert_eq!(small.insert(m.as_bytes(), s), big.insert(m.as_bytes(), s));
        }
        assert_eq!(members(&small), members(&big));
        assert_eq!(small.rank(b"c"), big.rank(b"c"));
        assert_eq!(small.at(1), big.at(1));
        let below = |z: &ZSet| z.count_before(|s, _| s < 3.0);
        assert_eq!(below(&small), below(&big));
        assert_eq!(small.encoding(), "listpack");
        assert_eq!(big.encoding(), "skiplist");
    }

    #[test]
    fn packed_set_converts_past_the_limits() {
        let mut z = ZSet::default();
        for i in 0..=crate::keyspace::limits::Limits::default().zset_entries {
            z.insert(format!("m{i}").as_bytes(), i as f64);
        }
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(
            z.len(),
            crate::keyspace::limits::Limits::default().zset_entries + 1
        );
        assert_eq!(z.rank(b"m5"), Some(5));
    }
}
