//! The ordered index of large sorted sets: a counted B+tree of (score, member) keys beside a [`Dict`] from
//! member to score.
//!
//! The dictionary gives ZSCORE in O(1) and names each member by a stable slot number; the tree orders
//! (score, slot) keys, comparing member bytes only when scores tie. Leaves hold up to 64 keys in two arrays
//! (scores, slots) and are linked both ways for range walks; inner nodes hold up to 64 children with, for each
//! child, its element count and its least key. A lookup therefore reads about four nodes on a million
//! elements instead of the ~28 of a balanced binary tree, rank and select add up child counts on the way down,
//! and reading `m` elements from rank `r` costs O(log n + m).
//!
//! Invariants: every inner node's key `i` is the least key under child `i` (kept exact, so keys always name
//! live slots), its count `i` is the number of elements under child `i`, and every node but the root is at
//! least a quarter full (siblings are evened out or merged below that). Appends at the right edge split a full
//! leaf unevenly, so bulk loads in order leave full leaves.

use std::cmp::Ordering;

use super::dict::Dict;

const NIL: u32 = u32::MAX;
/// Keys per leaf.
const LEAF: usize = 64;
/// Children per inner node.
const FAN: usize = 64;
/// Longest root-to-leaf path of inner nodes: nodes are at least a quarter full, so 2^32 elements need fewer.
const MAX_DEPTH: usize = 16;

/// A key: score and the member's dictionary slot.
type Key = (f64, u32);

/// Orders elements by score, then member bytes (Redis' sorted-set order).
pub fn compare(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    match a.0.partial_cmp(&b.0) {
        Some(Ordering::Equal) | None => a.1.cmp(b.1),
        Some(o) => o,
    }
}

/// Compares keys; member bytes are read only when the scores tie.
fn cmp_keys(dict: &Dict<f64>, a: Key, b: Key) -> Ordering {
    if a.1 == b.1 {
        return Ordering::Equal;
    }
    match a.0.partial_cmp(&b.0) {
        Some(Ordering::Equal) | None => dict.at(a.1).0.cmp(dict.at(b.1).0),
        Some(o) => o,
    }
}

/// The first index in `lo..hi` for which `pred` is false; `pred` must hold for a prefix.
fn partition(lo: usize, hi: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (lo, hi);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Both of two distinct elements of a slice, mutably.
fn two_mut<T>(v: &mut [T], a: u32, b: u32) -> (&mut T, &mut T) {
    let (a, b) = (a as usize, b as usize);
    assert_ne!(a, b, "two_mut needs distinct nodes");
    if a < b {
        let (x, y) = v.split_at_mut(b);
        (&mut x[a], &mut y[0])
    } else {
        let (x, y) = v.split_at_mut(a);
        (&mut y[0], &mut x[b])
    }
}

/// Array-of-fields node operations shared by leaves and inner nodes.
trait Node: Sized {
    type Entry: Copy;
    fn empty() -> Self;
    fn len(&self) -> usize;
    fn set_len(&mut self, n: usize);
    fn insert(&mut self, at: usize, e: Self::Entry);
    fn remove(&mut self, at: usize);
    /// Moves the entries from `at` on to the front of `right`.
    fn move_tail_to(&mut self, at: usize, right: &mut Self);
    /// Moves the first `k` entries of `right` to the end of `self`.
    fn take_head_from(&mut self, right: &mut Self, k: usize);
    /// The least key.
    fn first(&self) -> Key;
}

macro_rules! node_fields {
    ($ty:ident, $entry:ty, $($field:ident . $idx:tt),+) => {
        impl Node for $ty {
            type Entry = $entry;
            fn empty() -> Self {
                $ty::default()
            }
            fn len(&self) -> usize {
                self.len as usize
            }
            fn set_len(&mut self, n: usize) {
                self.len = n as u32;
            }
            fn insert(&mut self, at: usize, e: $entry) {
                let n = self.len();
                $(
                    self.$field.copy_within(at..n, at + 1);
                    self.$field[at] = e.$idx;
                )+
                self.set_len(n + 1);
            }
            fn remove(&mut self, at: usize) {
                let n = self.len();
                $( self.$field.copy_within(at + 1..n, at); )+
                self.set_len(n - 1);
            }
            fn move_tail_to(&mut self, at: usize, right: &mut Self) {
                let (n, m) = (self.len(), right.len());
                let k = n - at;
                $(
                    right.$field.copy_within(0..m, k);
                    right.$field[..k].copy_from_slice(&self.$field[at..n]);
                )+
                self.set_len(at);
                right.set_len(m + k);
            }
            fn take_head_from(&mut self, right: &mut Self, k: usize) {
                let (n, m) = (self.len(), right.len());
                $(
                    self.$field[n..n + k].copy_from_slice(&right.$field[..k]);
                    right.$field.copy_within(k..m, 0);
                )+
                self.set_len(n + k);
                right.set_len(m - k);
            }
            fn first(&self) -> Key {
                (self.scores[0], self.slots[0])
            }
        }
    };
}

/// A leaf: keys in order, linked to its neighbours.
#[derive(Clone)]
struct Leaf {
    len: u32,
    prev: u32,
    next: u32,
    scores: [f64; LEAF],
    slots: [u32; LEAF],
}

impl Default for Leaf {
    fn default() -> Self {
        Leaf {
            len: 0,
            prev: NIL,
            next: NIL,
            scores: [0.0; LEAF],
            slots: [0; LEAF],
        }
    }
}

node_fields!(Leaf, Key, scores.0, slots.1);

/// An inner node: for each child, its least key, its element count and its node number.
#[derive(Clone)]
struct Inner {
    len: u32,
    scores: [f64; FAN],
    slots: [u32; FAN],
    counts: [u32; FAN],
    children: [u32; FAN],
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            len: 0,
            scores: [0.0; FAN],
            slots: [0; FAN],
            counts: [0; FAN],
            children: [NIL; FAN],
        }
    }
}

node_fields!(
    Inner,
    (f64, u32, u32, u32),
    scores.0,
    slots.1,
    counts.2,
    children.3
);

impl Inner {
    fn total(&self) -> u32 {
        self.counts[..self.len()].iter().sum()
    }
}

/// A node from an arena: a free one reused, or a new one (the arena grows by a quarter, not double, so that
/// its unused tail stays small).
fn alloc<N: Node>(arena: &mut Vec<N>, free: &mut Vec<u32>) -> u32 {
    if let Some(i) = free.pop() {
        return i;
    }
    if arena.len() == arena.capacity() {
        arena.reserve_exact(arena.len() / 4 + 1);
    }
    arena.push(N::empty());
    (arena.len() - 1) as u32
}

/// Evens out two adjacent siblings, or merges the right one into the left when both fit in one node; returns
/// true when merged.
fn balance<N: Node>(arena: &mut [N], a: u32, b: u32, cap: usize) -> bool {
    let (x, y) = two_mut(arena, a, b);
    let total = x.len() + y.len();
    if total <= cap {
        x.take_head_from(y, y.len());
        return true;
    }
    let target = total / 2;
    if x.len() < target {
        x.take_head_from(y, target - x.len());
    } else {
        x.move_tail_to(target, y);
    }
    false
}

/// Splits full node `left` into `left` and the empty `right`, inserting `e` at `at` of the combined order;
/// `left` keeps the first `keep` entries.
fn split<N: Node>(left: &mut N, right: &mut N, at: usize, keep: usize, e: N::Entry) {
    if at < keep {
        left.move_tail_to(keep - 1, right);
        left.insert(at, e);
    } else {
        left.move_tail_to(keep, right);
        right.insert(at - keep, e);
    }
}

/// A step of a root-to-leaf path: an inner node and the child taken.
#[derive(Clone, Copy, Default)]
struct Step {
    node: u32,
    pos: usize,
}

/// An order-statistic index of (score, member) pairs with member lookup.
#[derive(Clone)]
pub struct ZTree {
    dict: Dict<f64>,
    leaves: Vec<Leaf>,
    inners: Vec<Inner>,
    free_leaves: Vec<u32>,
    free_inners: Vec<u32>,
    root: u32,
    /// Levels of inner nodes above the leaves (0: the root is a leaf).
    height: usize,
}

impl Default for ZTree {
    fn default() -> Self {
        ZTree {
            dict: Dict::default(),
            leaves: Vec::new(),
            inners: Vec::new(),
            free_leaves: Vec::new(),
            free_inners: Vec::new(),
            root: NIL,
            height: 0,
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
            + self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.inners.capacity() * std::mem::size_of::<Inner>()
            + (self.free_leaves.capacity() + self.free_inners.capacity()) * 4
    }

    /// The member of a slot.
    fn member(&self, slot: u32) -> &[u8] {
        self.dict.at(slot).0
    }

    /// The score of a member.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.dict.find(member).map(|s| *self.dict.at(s).1)
    }

    /// Adds a member or changes its score; returns the previous score.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(x) = self.dict.find(member) {
            // A new score for a present member: the key moves within the tree; the member keeps its slot.
            let old = *self.dict.at(x).1;
            if old == score {
                return Some(old);
            }
            self.remove_key((old, x));
            *self.dict.value_mut(x) = score;
            self.insert_key((score, x));
            return Some(old);
        }
        let slot = self.dict.insert_new(member, score);
        self.insert_key((score, slot));
        None
    }

    /// Removes a member; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.dict.find(member)?;
        let score = *self.dict.at(x).1;
        self.remove_key((score, x));
        self.dict.remove_slot(x);
        if self.dict.is_empty() {
            *self = ZTree::default();
        } else if self.dict.wants_compaction() {
            let map = self.dict.compact();
            self.renumber(&map);
        } else if self.leaves.len() > 64 && self.free_leaves.len() * 2 > self.leaves.len() {
            self.rebuild();
        }
        Some(score)
    }

    /// The child of an inner node whose range holds `key`.
    fn child_for(&self, inner: &Inner, key: Key) -> usize {
        // Children whose least key is at most `key`, past the first (which takes everything below).
        partition(1, inner.len(), |i| {
            cmp_keys(&self.dict, (inner.scores[i], inner.slots[i]), key) != Ordering::Greater
        }) - 1
    }

    /// Number of keys of a leaf ordered before `key`.
    fn leaf_before(&self, leaf: &Leaf, key: Key) -> usize {
        partition(0, leaf.len(), |i| {
            cmp_keys(&self.dict, (leaf.scores[i], leaf.slots[i]), key) == Ordering::Less
        })
    }

    /// Walks from the root towards `key`, adding `delta` to the counts on the way; returns the path and the
    /// leaf reached.
    fn descend(&mut self, key: Key, delta: i32) -> ([Step; MAX_DEPTH], u32) {
        let mut path = [Step::default(); MAX_DEPTH];
        let mut node = self.root;
        for step in path.iter_mut().take(self.height) {
            let pos = self.child_for(&self.inners[node as usize], key);
            let inner = &mut self.inners[node as usize];
            inner.counts[pos] = inner.counts[pos].wrapping_add_signed(delta);
            *step = Step { node, pos };
            node = inner.children[pos];
        }
        (path, node)
    }

    /// Records a new least key of the subtree under `path`'s last step, up to the first ancestor where that
    /// subtree is not the leftmost child.
    fn set_least(&mut self, path: &[Step], key: Key) {
        for step in path.iter().rev() {
            let inner = &mut self.inners[step.node as usize];
            inner.scores[step.pos] = key.0;
            inner.slots[step.pos] = key.1;
            if step.pos != 0 {
                break;
            }
        }
    }

    fn insert_key(&mut self, key: Key) {
        if self.root == NIL {
            let l = alloc(&mut self.leaves, &mut self.free_leaves);
            self.leaves[l as usize] = Leaf::default();
            self.leaves[l as usize].insert(0, key);
            self.root = l;
            self.height = 0;
            return;
        }
        let (path, leaf) = self.descend(key, 1);
        let path = &path[..self.height];
        let at = self.leaf_before(&self.leaves[leaf as usize], key);
        if at == 0 {
            self.set_least(path, key);
        }
        let l = &mut self.leaves[leaf as usize];
        if l.len() < LEAF {
            l.insert(at, key);
            return;
        }
        // A full leaf splits; an append at the right edge of the tree leaves it full.
        let rightmost = l.next == NIL;
        let keep = if rightmost && at == LEAF {
            LEAF
        } else {
            LEAF.div_ceil(2)
        };
        let r = alloc(&mut self.leaves, &mut self.free_leaves);
        let (left, right) = two_mut(&mut self.leaves, leaf, r);
        *right = Leaf::default();
        split(left, right, at, keep, key);
        right.prev = leaf;
        right.next = left.next;
        left.next = r;
        let next = right.next;
        let (lc, rc, least) = (left.len, right.len, right.first());
        if next != NIL {
            self.leaves[next as usize].prev = r;
        }
        self.add_child(path, (least.0, least.1, rc, r), lc);
    }

    /// Inserts child `new` after the last step of `path`, whose own child now counts `left_count`; splits
    /// full inner nodes upwards and grows a new root when the old one splits.
    fn add_child(&mut self, path: &[Step], mut new: (f64, u32, u32, u32), mut left_count: u32) {
        for step in path.iter().rev() {
            let inner = &mut self.inners[step.node as usize];
            inner.counts[step.pos] = left_count;
            if inner.len() < FAN {
                inner.insert(step.pos + 1, new);
                return;
            }
            let at = step.pos + 1;
            // Inner nodes always split evenly: a non-root inner node needs a sibling for every child it has
            // to rebalance with, so it never holds a single child.
            let keep = FAN.div_ceil(2);
            let r = alloc(&mut self.inners, &mut self.free_inners);
            let (left, right) = two_mut(&mut self.inners, step.node, r);
            *right = Inner::default();
            split(left, right, at, keep, new);
            let least = right.first();
            new = (least.0, least.1, right.total(), r);
            left_count = left.total();
        }
        let old = self.root;
        let least = self.least_of(old, self.height);
        let root = alloc(&mut self.inners, &mut self.free_inners);
        let mut inner = Inner::default();
        inner.insert(0, (least.0, least.1, left_count, old));
        inner.insert(1, new);
        self.inners[root as usize] = inner;
        self.root = root;
        self.height += 1;
    }

    /// The least key under a node `height` levels above the leaves.
    fn least_of(&self, node: u32, height: usize) -> Key {
        if height == 0 {
            self.leaves[node as usize].first()
        } else {
            self.inners[node as usize].first()
        }
    }

    fn remove_key(&mut self, key: Key) {
        let (path, leaf) = self.descend(key, -1);
        let path = &path[..self.height];
        let at = self.leaf_before(&self.leaves[leaf as usize], key);
        let l = &mut self.leaves[leaf as usize];
        debug_assert!(
            at < l.len() && l.slots[at] == key.1,
            "removed key is present"
        );
        l.remove(at);
        if l.len() == 0 && path.is_empty() {
            self.free_leaves.push(leaf);
            self.root = NIL;
            return;
        }
        if at == 0 && l.len() > 0 {
            let least = l.first();
            self.set_least(path, least);
        }
        if !path.is_empty() && self.leaves[leaf as usize].len() < LEAF / 4 {
            self.rebalance(path);
        }
    }

    /// Evens out or merges the underfull node at the end of `path` with a sibling, and so on upwards while
    /// merges leave parents underfull; collapses a root left with one child.
    fn rebalance(&mut self, path: &[Step]) {
        for d in (0..path.len()).rev() {
            let Step { node: p, pos } = path[d];
            let is_leaf = d + 1 == path.len();
            let ia = pos.saturating_sub(1);
            let ib = ia + 1;
            let (a, b) = {
                let inner = &self.inners[p as usize];
                (inner.children[ia], inner.children[ib])
            };
            let merged = if is_leaf {
                let merged = balance(&mut self.leaves, a, b, LEAF);
                if merged {
                    let next = self.leaves[b as usize].next;
                    self.leaves[a as usize].next = next;
                    if next != NIL {
                        self.leaves[next as usize].prev = a;
                    }
                    self.free_leaves.push(b);
                }
                merged
            } else {
                let merged = balance(&mut self.inners, a, b, FAN);
                if merged {
                    self.free_inners.push(b);
                }
                merged
            };
            let count = |t: &ZTree, n: u32| {
                if is_leaf {
                    t.leaves[n as usize].len
                } else {
                    t.inners[n as usize].total()
                }
            };
            let ca = count(self, a);
            if merged {
                let inner = &mut self.inners[p as usize];
                inner.remove(ib);
                inner.counts[ia] = ca;
            } else {
                let cb = count(self, b);
                let least = self.least_of(b, self.height - d - 1);
                let inner = &mut self.inners[p as usize];
                inner.counts[ia] = ca;
                inner.counts[ib] = cb;
                inner.scores[ib] = least.0;
                inner.slots[ib] = least.1;
                return;
            }
            let len = self.inners[p as usize].len();
            if d == 0 {
                if len == 1 {
                    self.root = self.inners[p as usize].children[0];
                    self.inners[p as usize].set_len(0);
                    self.free_inners.push(p);
                    self.height -= 1;
                }
                return;
            }
            if len >= FAN / 4 {
                return;
            }
        }
    }

    /// Applies a dictionary renumbering to every key in the tree.
    fn renumber(&mut self, map: &[u32]) {
        for leaf in &mut self.leaves {
            let n = leaf.len();
            for s in &mut leaf.slots[..n] {
                *s = map[*s as usize];
            }
        }
        for inner in &mut self.inners {
            let n = inner.len();
            for s in &mut inner.slots[..n] {
                *s = map[*s as usize];
            }
        }
    }

    /// Builds the tree anew from its keys in order (full leaves), dropping free nodes.
    fn rebuild(&mut self) {
        let mut keys = Vec::with_capacity(self.len());
        self.walk_keys(0, usize::MAX, false, |k| {
            keys.push(k);
            true
        });
        self.leaves = Vec::new();
        self.inners = Vec::new();
        self.free_leaves = Vec::new();
        self.free_inners = Vec::new();
        self.root = NIL;
        self.height = 0;
        for k in keys {
            self.insert_key(k);
        }
    }

    /// Number of elements for which `before` holds; `before` must hold for a prefix of the order.
    pub fn count_before(&self, before: impl Fn(f64, &[u8]) -> bool) -> usize {
        self.count_keys_before(|(score, slot)| before(score, self.member(slot)))
    }

    fn count_keys_before(&self, before: impl Fn(Key) -> bool) -> usize {
        if self.root == NIL {
            return 0;
        }
        let (mut node, mut n) = (self.root, 0usize);
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let pos = partition(1, inner.len(), |i| {
                before((inner.scores[i], inner.slots[i]))
            }) - 1;
            n += inner.counts[..pos]
                .iter()
                .map(|&c| c as usize)
                .sum::<usize>();
            node = inner.children[pos];
        }
        let leaf = &self.leaves[node as usize];
        n + partition(0, leaf.len(), |i| before((leaf.scores[i], leaf.slots[i])))
    }

    /// The 0-based ascending rank of a member.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let x = self.dict.find(member)?;
        let key = (*self.dict.at(x).1, x);
        Some(self.count_keys_before(|k| cmp_keys(&self.dict, k, key) == Ordering::Less))
    }

    /// The leaf and position of ascending rank `k` (< len).
    fn locate(&self, mut k: usize) -> (u32, usize) {
        let mut node = self.root;
        for _ in 0..self.height {
            let inner = &self.inners[node as usize];
            let mut i = 0;
            while k >= inner.counts[i] as usize {
                k -= inner.counts[i] as usize;
                i += 1;
            }
            node = inner.children[i];
        }
        (node, k)
    }

    /// The element at an ascending rank.
    pub fn select(&self, k: usize) -> Option<(&[u8], f64)> {
        if k >= self.len() {
            return None;
        }
        let (leaf, i) = self.locate(k);
        let leaf = &self.leaves[leaf as usize];
        Some((self.member(leaf.slots[i]), leaf.scores[i]))
    }

    /// Calls `f` on up to `count` keys from rank `from` (descending rank when `rev`) until it returns false.
    fn walk_keys(&self, from: usize, count: usize, rev: bool, mut f: impl FnMut(Key) -> bool) {
        let len = self.len();
        if from >= len || count == 0 {
            return;
        }
        let (mut leaf, i) = self.locate(if rev { len - 1 - from } else { from });
        let mut i = i as isize;
        let mut left = count;
        while leaf != NIL {
            let l = &self.leaves[leaf as usize];
            while i >= 0 && (i as usize) < l.len() {
                let k = i as usize;
                if !f((l.scores[k], l.slots[k])) {
                    return;
                }
                left -= 1;
                if left == 0 {
                    return;
                }
                i += if rev { -1 } else { 1 };
            }
            if rev {
                leaf = l.prev;
                i = if leaf == NIL {
                    -1
                } else {
                    self.leaves[leaf as usize].len() as isize - 1
                };
            } else {
                leaf = l.next;
                i = 0;
            }
        }
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
        self.walk_keys(from, count, rev, |(score, slot)| {
            f(self.member(slot), score)
        });
    }

    /// Elements in slot order from `cursor` (see [`Dict::scan`]).
    pub fn scan<'s>(
        &'s self,
        cursor: usize,
        count: usize,
        mut f: impl FnMut(&'s [u8], f64),
    ) -> usize {
        self.dict.scan(cursor, count, |m, s| f(m, *s))
    }

    /// A random element.
    pub fn random(&self) -> Option<(&[u8], f64)> {
        let s = self.dict.random_slot()?;
        let (m, score) = self.dict.at(s);
        Some((m, *score))
    }

    /// Checks the tree's invariants (order, counts, least keys, fill, leaf links); for tests.
    #[cfg(test)]
    fn check(&self) {
        fn walk(
            t: &ZTree,
            node: u32,
            height: usize,
            leaves: &mut Vec<u32>,
            root: bool,
        ) -> (u32, Key) {
            if height == 0 {
                let l = &t.leaves[node as usize];
                // An append at the right edge leaves the last leaf with as little as one key.
                let last = l.next == NIL;
                assert!(
                    l.len() > 0 && (root || last || l.len() >= LEAF / 4),
                    "leaf fill {}",
                    l.len()
                );
                for i in 1..l.len() {
                    let (a, b) = ((l.scores[i - 1], l.slots[i - 1]), (l.scores[i], l.slots[i]));
                    assert_eq!(cmp_keys(&t.dict, a, b), Ordering::Less, "leaf order");
                }
                for i in 0..l.len() {
                    assert_eq!(
                        *t.dict.at(l.slots[i]).1,
                        l.scores[i],
                        "leaf score is the member's"
                    );
                }
                leaves.push(node);
                return (l.len, l.first());
            }
            let inner = &t.inners[node as usize];
            assert!(
                inner.len() >= if root { 2 } else { FAN / 4 },
                "inner fill {}",
                inner.len()
            );
            let mut total = 0;
            for i in 0..inner.len() {
                let (count, least) = walk(t, inner.children[i], height - 1, leaves, false);
                assert_eq!(count, inner.counts[i], "child count");
                assert_eq!(least.1, inner.slots[i], "least key");
                assert_eq!(least.0, inner.scores[i], "least score");
                total += count;
            }
            (total, inner.first())
        }
        if self.root == NIL {
            assert_eq!(self.len(), 0);
            return;
        }
        let mut leaves = Vec::new();
        let (total, _) = walk(self, self.root, self.height, &mut leaves, true);
        assert_eq!(total as usize, self.len(), "root count");
        for (i, &l) in leaves.iter().enumerate() {
            let leaf = &self.leaves[l as usize];
            let prev = if i == 0 { NIL } else { leaves[i - 1] };
            let next = leaves.get(i + 1).copied().unwrap_or(NIL);
            assert_eq!((leaf.prev, leaf.next), (prev, next), "leaf links");
        }
        for w in leaves.windows(2) {
            let (a, b) = (&self.leaves[w[0] as usize], &self.leaves[w[1] as usize]);
            let last = (a.scores[a.len() - 1], a.slots[a.len() - 1]);
            assert_eq!(
                cmp_keys(&self.dict, last, b.first()),
                Ordering::Less,
                "order across leaves"
            );
        }
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
        model_run(7, 3000, 20_000, 4);
    }

    #[test]
    fn a_deep_tree_with_many_ties_matches_a_model_while_it_grows_and_shrinks() {
        // 60,000 members over 50 scores: three levels, member bytes decide most comparisons, and a phase of
        // mostly removals exercises merges and root collapse.
        model_run(11, 60_000, 150_000, 4);
        model_run(12, 60_000, 150_000, 2);
    }

    /// Random inserts, score changes and removals (one in `remove_one_in`), checked against a model.
    fn model_run(seed: u64, members: u32, rounds: usize, remove_one_in: u8) {
        fastrand::seed(seed);
        let mut t = ZTree::default();
        let mut model = BTreeSet::new();
        let mut scores = std::collections::HashMap::new();
        let distinct_scores = if members > 10_000 { 50 } else { 500 };
        for round in 0..rounds {
            let m = format!("m{}", fastrand::u32(..members)).into_bytes();
            let score = fastrand::u32(..distinct_scores) as f64;
            if fastrand::u8(..remove_one_in) == 0 {
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
            if round % (rounds / 10) == 0 {
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
        let half = (distinct_scores / 2) as f64;
        let below = t.count_before(|s, _| s < half);
        assert_eq!(below, order.iter().filter(|(_, s)| *s < half).count());
        let mut all = Vec::new();
        t.walk(0, usize::MAX, true, |m, s| {
            all.push((m.to_vec(), s));
            true
        });
        all.reverse();
        assert_eq!(all, order, "a whole reverse walk crosses every leaf");
        // Removing almost everything merges nodes back down to a single leaf.
        for (m, _) in order.iter().skip(10) {
            t.remove(m);
        }
        t.check();
        assert_eq!(t.height, 0);
        assert_eq!(t.select(9), Some((&order[9].0[..], order[9].1)));
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
    fn appends_at_the_right_edge_then_removals_there_keep_the_tree_whole() {
        // Ascending scores split nodes at the right edge; 64 * 64 + 1 and 64 * 64 * 64 + 1 keys make a new
        // inner node at the edge of a two- and a three-level tree, and removing or moving the newest keys
        // rebalances right there.
        for n in [LEAF * FAN + 1, LEAF * FAN * FAN + 1] {
            let mut t = ZTree::default();
            for i in 0..n {
                t.insert(format!("{i:07}").as_bytes(), i as f64);
            }
            t.check();
            let last = format!("{:07}", n - 1);
            assert_eq!(t.remove(last.as_bytes()), Some((n - 1) as f64));
            t.check();
            // A score update moves the newest remaining key to the front.
            let newest = format!("{:07}", n - 2);
            t.insert(newest.as_bytes(), -1.0);
            t.check();
            assert_eq!(t.rank(newest.as_bytes()), Some(0));
            for i in (n - 200..n - 2).rev() {
                t.remove(format!("{i:07}").as_bytes());
            }
            t.check();
            assert_eq!(t.len(), n - 200 + 1);
            assert_eq!(
                t.select(t.len() - 1),
                Some((format!("{:07}", n - 201).as_bytes(), (n - 201) as f64))
            );
        }
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
