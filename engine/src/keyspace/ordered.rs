//! The ordered index of large sorted sets: a treap (a binary search tree kept balanced by random priorities)
//! whose nodes carry subtree sizes, so rank and select are O(log n) alongside insert and delete.
//!
//! Nodes live in the slots of a [`Dict`] keyed by member: one arena gives both the member → score lookup and
//! the (score, member) order, and each element costs one slot (member, score, two links, size, priority) plus
//! four bytes of hash index. Links are slot numbers. A range walk keeps a stack of ancestors, so reading `m`
//! elements from rank `r` costs O(log n + m).

use std::cmp::Ordering;

use super::dict::Dict;

const NIL: u32 = u32::MAX;

/// A tree node, stored as the dictionary value of its member.
#[derive(Debug, Clone, Copy)]
pub struct Node {
    score: f64,
    left: u32,
    right: u32,
    size: u32,
    /// Size of the left subtree, kept in the node so that rank, select and walks read one node per level
    /// instead of also loading a child (a cache miss each on large sets).
    lsize: u32,
    prio: u32,
}

/// Orders elements by score, then member bytes (Redis' sorted-set order).
pub fn compare(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    match a.0.partial_cmp(&b.0) {
        Some(Ordering::Equal) | None => a.1.cmp(b.1),
        Some(o) => o,
    }
}

/// An order-statistic index of (score, member) pairs with member lookup.
#[derive(Clone)]
pub struct ZTree {
    dict: Dict<Node>,
    root: u32,
}

impl Default for ZTree {
    fn default() -> Self {
        ZTree {
            dict: Dict::default(),
            root: NIL,
        }
    }
}

impl ZTree {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.dict.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.dict.is_empty()
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        self.dict.heap_size()
    }

    fn node(&self, s: u32) -> &Node {
        self.dict.at(s).1
    }

    fn node_mut(&mut self, s: u32) -> &mut Node {
        self.dict.value_mut(s)
    }

    fn size(&self, s: u32) -> u32 {
        if s == NIL {
            0
        } else {
            self.node(s).size
        }
    }

    fn update(&mut self, s: u32) {
        let n = *self.node(s);
        let (l, r) = (self.size(n.left), self.size(n.right));
        let node = self.node_mut(s);
        node.size = 1 + l + r;
        node.lsize = l;
    }

    fn key(&self, s: u32) -> (f64, &[u8]) {
        let (m, n) = self.dict.at(s);
        (n.score, m)
    }

    fn cmp_slots(&self, a: u32, b: u32) -> Ordering {
        compare(self.key(a), self.key(b))
    }

    /// The score of a member.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.find(member).map(|s| self.node(s).score)
    }

    /// Adds a member or changes its score; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(x) = self.dict.find(member) {
            // A new score for a present member: the node moves within the tree and keeps its slot, its key
            // and its dictionary entry.
            let old = self.node(x).score;
            if old == score {
                return Some(old);
            }
            self.root = self.remove_at(self.root, x);
            let n = self.node_mut(x);
            n.score = score;
            n.left = NIL;
            n.right = NIL;
            n.size = 1;
            n.lsize = 0;
            self.root = self.insert_at(self.root, x);
            return Some(old);
        }
        let old = None;
        let slot = self.dict.insert_new(
            member,
            Node {
                score,
                left: NIL,
                right: NIL,
                size: 1,
                lsize: 0,
                prio: fastrand::u32(..),
            },
        );
        self.root = self.insert_at(self.root, slot);
        old
    }

    fn insert_at(&mut self, t: u32, x: u32) -> u32 {
        if t == NIL {
            return x;
        }
        if self.node(x).prio > self.node(t).prio {
            let (l, r) = self.split(t, x);
            let n = self.node_mut(x);
            n.left = l;
            n.right = r;
            self.update(x);
            return x;
        }
        // The subtree of `t` gains exactly one node, whatever happens below: adjust the sizes in place
        // rather than recomputing them from both children.
        if self.cmp_slots(x, t) == Ordering::Less {
            let l = self.insert_at(self.node(t).left, x);
            let n = self.node_mut(t);
            n.left = l;
            n.lsize += 1;
            n.size += 1;
        } else {
            let r = self.insert_at(self.node(t).right, x);
            let n = self.node_mut(t);
            n.right = r;
            n.size += 1;
        }
        t
    }

    /// Splits subtree `t` into the nodes ordered before `x` and the others.
    fn split(&mut self, t: u32, x: u32) -> (u32, u32) {
        if t == NIL {
            return (NIL, NIL);
        }
        if self.cmp_slots(t, x) == Ordering::Less {
            let (l, r) = self.split(self.node(t).right, x);
            self.node_mut(t).right = l;
            self.update(t);
            (t, r)
        } else {
            let (l, r) = self.split(self.node(t).left, x);
            self.node_mut(t).left = r;
            self.update(t);
            (l, t)
        }
    }

    /// Joins two subtrees where every node of `a` is ordered before every node of `b`.
    fn merge(&mut self, a: u32, b: u32) -> u32 {
        if a == NIL {
            return b;
        }
        if b == NIL {
            return a;
        }
        if self.node(a).prio > self.node(b).prio {
            let r = self.merge(self.node(a).right, b);
            self.node_mut(a).right = r;
            self.update(a);
            a
        } else {
            let l = self.merge(a, self.node(b).left);
            self.node_mut(b).left = l;
            self.update(b);
            b
        }
    }

    fn remove_at(&mut self, t: u32, x: u32) -> u32 {
        if t == x {
            let n = *self.node(t);
            return self.merge(n.left, n.right);
        }
        if self.cmp_slots(x, t) == Ordering::Less {
            let l = self.remove_at(self.node(t).left, x);
            let n = self.node_mut(t);
            n.left = l;
            n.lsize -= 1;
            n.size -= 1;
        } else {
            let r = self.remove_at(self.node(t).right, x);
            let n = self.node_mut(t);
            n.right = r;
            n.size -= 1;
        }
        t
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.dict.find(member)?;
        let score = self.node(x).score;
        self.root = self.remove_at(self.root, x);
        self.dict.remove_slot(x);
        if self.dict.is_empty() {
            self.root = NIL;
        } else if self.dict.wants_compaction() {
            self.compact();
        }
        Some(score)
    }

    fn compact(&mut self) {
        let map = self.dict.compact();
        let remap = |s: u32| if s == NIL { NIL } else { map[s as usize] };
        self.root = remap(self.root);
        for s in 0..self.dict.slot_count() as u32 {
            let n = self.node_mut(s);
            n.left = remap(n.left);
            n.right = remap(n.right);
        }
    }

    /// Number of elements for which `before` holds; `before` must hold for a prefix of the order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        let (mut t, mut n) = (self.root, 0usize);
        while t != NIL {
            let node = self.node(t);
            let (score, member) = self.key(t);
            if before(score, member) {
                n += node.lsize as usize + 1;
                t = node.right;
            } else {
                t = node.left;
            }
        }
        n
    }

    /// The 0-based ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let x = self.dict.find(member)?;
        let key = self.key(x);
        Some(self.count_before(|s, m| compare((s, m), key) == Ordering::Less))
    }

    /// The element at an ascending rank.
    pub fn select(&self, mut k: usize) -> Option<(&[u8], f64)> {
        let mut t = self.root;
        while t != NIL {
            let node = self.node(t);
            let left = node.lsize as usize;
            match k.cmp(&left) {
                Ordering::Less => t = node.left,
                Ordering::Equal => return Some((self.dict.at(t).0, node.score)),
                Ordering::Greater => {
                    k -= left + 1;
                    t = node.right;
                }
            }
        }
        None
    }

    /// Calls `f` on up to `count` elements starting at rank `from`, ascending, or descending from the
    /// descending rank `from` when `rev`; stops early when `f` returns false.
    pub fn walk(
        &self,
        from: usize,
        count: usize,
        rev: bool,
        mut f: impl FnMut(&[u8], f64) -> bool,
    ) {
        // `near` is the child towards the start of the walk, `far` the other one.
        let near = |n: &Node| if rev { n.right } else { n.left };
        let far = |n: &Node| if rev { n.left } else { n.right };
        let mut stack: Vec<u32> = Vec::with_capacity(64);
        let (mut t, mut k) = (self.root, from);
        while t != NIL {
            let node = self.node(t);
            let before = if rev {
                node.size - node.lsize - 1
            } else {
                node.lsize
            } as usize;
            match k.cmp(&before) {
                Ordering::Less => {
                    stack.push(t);
                    t = near(node);
                }
                Ordering::Equal => {
                    stack.push(t);
                    break;
                }
                Ordering::Greater => {
                    k -= before + 1;
                    t = far(node);
                }
            }
        }
        let mut left = count;
        while left > 0 {
            let Some(t) = stack.pop() else { break };
            let (member, node) = self.dict.at(t);
            if !f(member, node.score) {
                return;
            }
            left -= 1;
            let mut c = far(node);
            while c != NIL {
                stack.push(c);
                c = near(self.node(c));
            }
        }
    }

    /// Elements in slot order from `cursor` (see [`Dict::scan`]).
    pub fn scan<'s>(
        &'s self,
        cursor: usize,
        count: usize,
        mut f: impl FnMut(&'s [u8], f64),
    ) -> usize {
        self.dict.scan(cursor, count, |m, n| f(m, n.score))
    }

    /// A random element.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        let s = self.dict.random_slot()?;
        let (m, n) = self.dict.at(s);
        Some((m, n.score))
    }

    /// Checks the tree's invariants (order, sizes, heap property); for tests.
    #[cfg(test)]
    fn check(&self) {
        fn walk(t: &ZTree, s: u32) -> u32 {
            if s == NIL {
                return 0;
            }
            let n = *t.node(s);
            for c in [n.left, n.right] {
                if c != NIL {
                    assert!(t.node(c).prio <= n.prio, "heap order");
                }
            }
            if n.left != NIL {
                assert_eq!(t.cmp_slots(n.left, s), Ordering::Less);
            }
            if n.right != NIL {
                assert_eq!(t.cmp_slots(s, n.right), Ordering::Less);
            }
            let left = walk(t, n.left);
            assert_eq!(left, n.lsize, "left subtree size");
            let size = 1 + left + walk(t, n.right);
            assert_eq!(size, n.size, "size");
            size
        }
        assert_eq!(walk(self, self.root) as usize, self.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A model: the same elements in a BTreeSet ordered like the tree.
    fn model_order(model: &BTreeSet<(u64, Vec<u8>)>) -> Vec<(Vec<u8>, f64)> {
        model
            .iter()
            .map(|(s, m)| (m.clone(), f64::from_bits(*s)))
            .collect()
    }

    fn key(score: f64, m: &[u8]) -> (u64, Vec<u8>) {
        // Non-negative scores only in this model, so the bit pattern orders like the value.
        (score.to_bits(), m.to_vec())
    }

    #[test]
    fn ranks_selects_and_walks_match_a_model_through_random_edits() {
        fastrand::seed(7);
        let mut t = ZTree::default();
        let mut model = BTreeSet::new();
        let mut scores = std::collections::HashMap::new();
        for round in 0..20_000 {
            let m = format!("m{}", fastrand::u32(..3000)).into_bytes();
            let score = fastrand::u32(..500) as f64;
            if fastrand::u8(..4) == 0 {
                let had = t.remove(&m);
                let want = scores.remove(&m);
                assert_eq!(had, want);
                if let Some(s) = want {
                    model.remove(&key(s, &m));
                }
            } else {
                let old = t.insert(&m, score);
                let want = scores.insert(m.clone(), score);
                assert_eq!(old, want);
                if let Some(s) = want {
                    model.remove(&key(s, &m));
                }
                model.insert(key(score, &m));
            }
            if round % 2000 == 0 {
                t.check();
            }
        }
        t.check();
        let order = model_order(&model);
        assert_eq!(t.len(), order.len());
        for (rank, (m, s)) in order.iter().enumerate().step_by(37) {
            assert_eq!(t.rank(m), Some(rank));
            assert_eq!(t.select(rank), Some((&m[..], *s)));
            assert_eq!(t.score(m), Some(*s));
        }
        let mut walked = Vec::new();
        t.walk(100, 50, false, |m, s| {
            walked.push((m.to_vec(), s));
            true
        });
        assert_eq!(walked, order[100..150].to_vec());
        let mut back = Vec::new();
        t.walk(3, 10, true, |m, s| {
            back.push((m.to_vec(), s));
            true
        });
        let rev: Vec<_> = order.iter().rev().skip(3).take(10).cloned().collect();
        assert_eq!(back, rev);
        let below = t.count_before(|s, _| s < 250.0);
        assert_eq!(below, order.iter().filter(|(_, s)| *s < 250.0).count());
    }

    #[test]
    fn equal_scores_order_by_member_bytes() {
        let mut t = ZTree::default();
        for m in ["b", "a", "c", "aa"] {
            t.insert(m.as_bytes(), 1.0);
        }
        let mut seen = Vec::new();
        t.walk(0, 10, false, |m, _| {
            seen.push(String::from_utf8_lossy(m).into_owned());
            true
        });
        assert_eq!(seen, ["a", "aa", "b", "c"]);
    }

    #[test]
    fn mass_removal_compacts_and_keeps_order() {
        let mut t = ZTree::default();
        for i in 0..10_000 {
            t.insert(format!("{i:05}").as_bytes(), i as f64);
        }
        for i in 0..9_990 {
            t.remove(format!("{i:05}").as_bytes());
        }
        t.check();
        assert_eq!(t.len(), 10);
        assert_eq!(t.select(0), Some((&b"09990"[..], 9990.0)));
        assert_eq!(t.rank(b"09999"), Some(9));
    }

    #[test]
    fn walking_past_the_end_stops() {
        let mut t = ZTree::default();
        for i in 0..5 {
            t.insert(&[b'a' + i], i as f64);
        }
        let mut n = 0;
        t.walk(3, 100, false, |_, _| {
            n += 1;
            true
        });
        assert_eq!(n, 2);
        n = 0;
        t.walk(7, 100, true, |_, _| {
            n += 1;
            true
        });
        assert_eq!(n, 0);
    }
}
