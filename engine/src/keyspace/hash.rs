//! Hash values: field → value maps, packed while small, a [`Dict`] once large.

use super::dict::{alloc_size, Dict};
use super::limits;
use super::pack::Pack;

/// A hash value.
#[derive(Clone)]
pub enum Hash {
    /// Alternating fields and values (Redis `listpack`).
    Pack(Pack),
    /// A dictionary, with the bytes its values own (Redis `hashtable`).
    Dict(Box<Dict<Box<[u8]>>>, usize),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::default())
    }
}

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Dict(d, _) => d.len(),
        }
    }

    /// True when the hash has no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes used.
    pub fn heap_size(&self) -> usize {
        match self {
            Hash::Pack(p) => p.heap_size(),
            Hash::Dict(d, values) => {
                std::mem::size_of::<Dict<Box<[u8]>>>() + d.heap_size() + values
            }
        }
    }

    /// Redis' name for the encoding.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Dict(..) => "hashtable",
        }
    }

    /// Byte offsets of a field and its value in the packed form.
    fn find_packed(p: &Pack, field: &[u8]) -> Option<(usize, usize)> {
        let mut it = p.iter();
        while let Some((at, f)) = it.next() {
            let (vat, _) = it.next()?;
            if f == field {
                return Some((at, vat));
            }
        }
        None
    }

    /// The value of a field.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                while let Some((_, f)) = it.next() {
                    let (_, v) = it.next()?;
                    if f == field {
                        return Some(v);
                    }
                }
                None
            }
            Hash::Dict(d, _) => d.find(field).map(|s| &**d.at(s).1),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pack(p) = self {
            let mut d = Dict::default();
            let mut values = 0;
            let mut it = p.iter();
            while let (Some((_, f)), Some((_, v))) = (it.next(), it.next()) {
                values += alloc_size(v.len());
                d.insert_new(f, v.into());
            }
            *self = Hash::Dict(Box::new(d), values);
        }
    }

    /// Sets a field; returns true when it is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Pack(p) = self {
            let longest = limits::hash_value();
            if field.len() > longest || value.len() > longest {
                self.convert();
            } else if let Some((_, vat)) = Hash::find_packed(p, field) {
                p.replace(vat, value);
                return false;
            } else if p.len() / 2 >= limits::hash_entries() {
                self.convert();
            } else {
                p.push(field);
                p.push(value);
                return true;
            }
        }
        let Hash::Dict(d, values) = self else {
            unreachable!("converted above")
        };
        *values += alloc_size(value.len());
        match d.find(field) {
            Some(s) => {
                let old = std::mem::replace(d.value_mut(s), value.into());
                *values -= alloc_size(old.len());
                false
            }
            None => {
                d.insert_new(field, value.into());
                true
            }
        }
    }

    /// Removes a field; returns true when it existed.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match Hash::find_packed(p, field) {
                Some((at, _)) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            Hash::Dict(d, values) => match d.find(field) {
                Some(s) => {
                    let v = d.remove_slot(s);
                    *values -= alloc_size(v.len());
                    if d.wants_compaction() {
                        d.compact();
                    }
                    true
                }
                None => false,
            },
        }
    }

    /// Every field and value.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pack(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || {
                    let (_, f) = it.next()?;
                    let (_, v) = it.next()?;
                    Some((f, v))
                }))
            }
            Hash::Dict(d, _) => Box::new(d.iter().map(|(_, f, v)| (f, &**v))),
        }
    }

    /// A random field and its value.
    pub fn random(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pack(_) => self.iter().nth(fastrand::usize(..self.len().max(1))),
            Hash::Dict(d, _) => d.random_slot().map(|s| {
                let (f, v) = d.at(s);
                (f, &**v)
            }),
        }
    }

    /// Fields from `cursor` (see [`Dict::scan`]); a packed hash is returned whole.
    pub fn scan<'s>(
        &'s self,
        cursor: usize,
        count: usize,
        mut f: impl FnMut(&'s [u8], &'s [u8]),
    ) -> usize {
        match self {
            Hash::Pack(_) => {
                self.iter().for_each(|(k, v)| f(k, v));
                0
            }
            Hash::Dict(d, _) => d.scan(cursor, count, |k, v| f(k, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_hashes_stay_packed_and_large_ones_convert() {
        let mut h = Hash::default();
        for i in 0..crate::keyspace::limits::Limits::default().hash_entries {
            assert!(h.set(format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"f0", b"w"));
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        h.set(b"one-more", b"v");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(
            h.len(),
            crate::keyspace::limits::Limits::default().hash_entries + 1
        );
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        assert!(h.remove(b"f0"));
        assert!(!h.remove(b"f0"));
        assert_eq!(
            h.iter().count(),
            crate::keyspace::limits::Limits::default().hash_entries
        );
    }

    #[test]
    fn long_values_force_the_table_encoding() {
        let mut h = Hash::default();
        h.set(
            b"f",
            &vec![b'x'; crate::keyspace::limits::Limits::default().hash_value + 1],
        );
        assert_eq!(h.encoding(), "hashtable");
    }
}
