//! Collection values (hash, list, set, sorted set, stream), held by an entry through one pointer.
//!
//! An [`Entry`](super::Entry) of kind `Object` stores a `Box<Object>` in its value bytes; the entry owns it, frees
//! it when dropped and counts [`Object::heap_size`] in its own size, so `maxmemory` and eviction see
//! collections like strings. Every collection keeps its byte count up to date as it changes, so sizing is O(1).

use super::hash::Hash;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::ZSet;

/// A collection value.
#[derive(Clone)]
pub enum Object {
    /// A hash.
    Hash(Hash),
    /// A list.
    List(Box<List>),
    /// A set.
    Set(Set),
    /// A sorted set.
    ZSet(ZSet),
    /// A stream (boxed: it is larger than the other collections).
    Stream(Box<Stream>),
}

impl Object {
    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Hash(_) => "hash",
            Object::List(_) => "list",
            Object::Set(_) => "set",
            Object::ZSet(_) => "zset",
            Object::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING replies with.
    pub fn encoding(&self) -> &'static str {
        match self {
            Object::Hash(h) => h.encoding(),
            Object::List(l) => l.encoding(),
            Object::Set(s) => s.encoding(),
            Object::ZSet(z) => z.encoding(),
            Object::Stream(_) => "stream",
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Object::Hash(h) => h.len(),
            Object::List(l) => l.len(),
            Object::Set(s) => s.len(),
            Object::ZSet(z) => z.len(),
            Object::Stream(s) => s.len(),
        }
    }

    /// True when the collection has no element (its key must then be deleted). A stream is never empty in
    /// that sense: an empty stream keeps its key, its last id and its consumer groups, as in Redis.
    pub fn is_empty(&self) -> bool {
        !matches!(self, Object::Stream(_)) && self.len() == 0
    }

    /// Heap bytes used, the box included.
    pub fn heap_size(&self) -> usize {
        std::mem::size_of::<Object>()
            + match self {
                Object::Hash(h) => h.heap_size(),
                Object::List(l) => std::mem::size_of::<List>() + l.heap_size(),
                Object::Set(s) => s.heap_size(),
                Object::ZSet(z) => z.heap_size(),
                Object::Stream(s) => std::mem::size_of::<Stream>() + s.heap_size(),
            }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_small_collection_costs_a_small_box() {
        // Large representations are boxed inside their type, so a packed hash, set or sorted set only pays
        // for a few words besides its buffer.
        assert!(
            std::mem::size_of::<super::Object>() <= 40,
            "{}",
            std::mem::size_of::<super::Object>()
        );
    }
}
