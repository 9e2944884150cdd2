//! Entries: one heap block per key holding its header, its name and its value.
//!
//! Memory per key is what a cache sells, so a key costs one allocation, not three (Redis spends a dict entry, a
//! key string and a value object). The block is laid out as:
//!
//! ```text
//! 0..4   key length (u32)        4..8   value length (u32)
//! 8..12  meta: access clock (bits 0..24), value kind (24..28), has-expiry flag (bit 31)
//! 12..16 high 32 bits of the key's hash (lets the table rehash without re-reading the key)
//! 16..24 expiry, unix ms (only when the flag is set)
//! then, for a memcached item (meta bit 30): CAS unique (u64), client flags (u32), item bits (u32)
//! then the key bytes, then the value bytes
//! ```
//!
//! A 16-byte key with a 32-byte value and no TTL fits a 64-byte allocator class exactly. [`Entry`] is the only
//! owner of its block and exposes a safe API; all pointer arithmetic stays in this file.
//!
//! A collection (kind `Object`) keeps its 8-byte `Box<Object>` pointer as the value bytes (read and written
//! unaligned). The entry owns the box: dropping the entry frees it, moving the entry to a new block (TTL change,
//! RENAME, MOVE) moves the pointer, and COPY deep-copies the collection.
//!
//! Memcached items are strings too: the item header sits between the expiry and the key, so [`Entry::value`]
//! still returns only the data and a Redis `GET` sees a plain string. Entries written through the Redis
//! protocol carry no item header (client flags 0); the memcached side gives them one, with a fresh CAS unique,
//! the first time a client asks for their CAS (see `Shard::upgrade_to_item`). A key written by any protocol
//! therefore always shows a CAS unique that differs from every one handed out for it before.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ptr::NonNull;

use super::object::Object;

const HEADER: usize = 16;
const EXPIRE_FLAG: u32 = 1 << 31;
const CLOCK_MASK: u32 = (1 << 24) - 1;
const KIND_SHIFT: u32 = 24;
const ITEM_FLAG: u32 = 1 << 30;
/// Bytes of the memcached item header: CAS unique, client flags, item bits.
const ITEM_HEADER: usize = 16;

/// Item bit: the item was read by a memcached client since it was stored (meta `h` flag, `fetch=yes`).
pub const ITEM_FETCHED: u32 = 1;
/// Item bit: the item was invalidated (meta `md I`, `ms I`): readers see it as stale.
pub const ITEM_STALE: u32 = 1 << 1;
/// Item bit: a reader already received the recache "win" token for this item.
pub const ITEM_WON: u32 = 1 << 2;

/// The memcached header of an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Item {
    /// Opaque 32-bit client flags.
    pub flags: u32,
    /// CAS unique: changes on every modification of the key.
    pub cas: u64,
    /// `ITEM_*` bits.
    pub bits: u32,
}

/// The type of the value an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A byte string (Redis `string`, also used for integers and floats).
    Str = 0,
    /// A collection: the value bytes hold a `Box<Object>` pointer.
    Object = 1,
}

const POINTER: usize = std::mem::size_of::<*mut Object>();

/// An owned key/value block. `Send` because the block is exclusively owned.
pub struct Entry(NonNull<u8>);

// SAFETY: an Entry owns its block exclusively, like a Box<[u8]>.
unsafe impl Send for Entry {}
// SAFETY: shared access only reads the block.
unsafe impl Sync for Entry {}

impl Entry {
    /// Creates a string entry.
    pub fn new_str(hash: u32, key: &[u8], value: &[u8], expire: Option<u64>, clock: u32) -> Entry {
        let entry = Entry::allocate(hash, key.len(), value.len(), Kind::Str, expire, None, clock);
        // SAFETY: the block was allocated with room for exactly these key and value lengths.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), entry.key_ptr(), key.len());
            std::ptr::copy_nonoverlapping(value.as_ptr(), entry.value_ptr(), value.len());
        }
        entry
    }

    /// Creates a string entry whose value is `parts` concatenated (APPEND, SETRANGE).
    pub fn new_str_parts(
        hash: u32,
        key: &[u8],
        parts: &[&[u8]],
        expire: Option<u64>,
        clock: u32,
    ) -> Entry {
        Entry::with_parts(hash, key, parts, expire, None, clock)
    }

    /// Creates a memcached item: a string entry with client flags and a CAS unique.
    pub fn new_item(
        hash: u32,
        key: &[u8],
        parts: &[&[u8]],
        expire: Option<u64>,
        clock: u32,
        item: Item,
    ) -> Entry {
        Entry::with_parts(hash, key, parts, expire, Some(item), clock)
    }

    fn with_parts(
        hash: u32,
        key: &[u8],
        parts: &[&[u8]],
        expire: Option<u64>,
        item: Option<Item>,
        clock: u32,
    ) -> Entry {
        let vlen = parts.iter().map(|p| p.len()).sum();
        let entry = Entry::allocate(hash, key.len(), vlen, Kind::Str, expire, item, clock);
        // SAFETY: the block has room for the key and `vlen` value bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), entry.key_ptr(), key.len());
            let mut dst = entry.value_ptr();
            for p in parts {
                std::ptr::copy_nonoverlapping(p.as_ptr(), dst, p.len());
                dst = dst.add(p.len());
            }
        }
        entry
    }

    /// Creates a collection entry owning `object`.
    pub fn new_object(
        hash: u32,
        key: &[u8],
        object: Object,
        expire: Option<u64>,
        clock: u32,
    ) -> Entry {
        let entry = Entry::allocate(hash, key.len(), POINTER, Kind::Object, expire, None, clock);
        let ptr = Box::into_raw(Box::new(object));
        // SAFETY: the block has room for the key and one pointer; the pointer is written unaligned.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), entry.key_ptr(), key.len());
            (entry.value_ptr() as *mut *mut Object).write_unaligned(ptr);
        }
        entry
    }

    fn object_ptr(&self) -> Option<*mut Object> {
        if self.kind() != Kind::Object {
            return None;
        }
        // SAFETY: an Object entry's value bytes hold the pointer written by `new_object`.
        Some(unsafe { (self.value_ptr() as *const *mut Object).read_unaligned() })
    }

    /// The collection of an `Object` entry.
    pub fn object(&self) -> Option<&Object> {
        // SAFETY: the box is owned by this entry and lives as long as it.
        self.object_ptr().map(|p| unsafe { &*p })
    }

    /// The collection of an `Object` entry, mutably.
    pub fn object_mut(&mut self) -> Option<&mut Object> {
        // SAFETY: as `object`, and `&mut self` guarantees exclusive access.
        self.object_ptr().map(|p| unsafe { &mut *p })
    }

    /// Moves this entry's value (string bytes or collection) into a new block for `key`, with `expire` and
    /// `item`, keeping the access clock and kind; the old block is freed without dropping the collection.
    fn rebuilt(self, hash: u32, key: &[u8], expire: Option<u64>, item: Option<Item>) -> Entry {
        let kind = self.kind();
        let next = Entry::allocate(
            hash,
            key.len(),
            self.value_len(),
            kind,
            expire,
            item,
            self.clock(),
        );
        // SAFETY: both blocks are live and sized for these lengths; the value bytes (a collection's pointer
        // included) now belong to `next`, so `self` is deallocated without running Drop.
        unsafe {
            std::ptr::copy_nonoverlapping(key.as_ptr(), next.key_ptr(), key.len());
            std::ptr::copy_nonoverlapping(self.value_ptr(), next.value_ptr(), self.value_len());
            let layout = Entry::layout(
                self.key_len(),
                self.value_len(),
                self.expire().is_some(),
                self.has_item(),
            );
            dealloc(self.0.as_ptr(), layout);
        }
        std::mem::forget(self);
        next
    }

    fn layout(klen: usize, vlen: usize, has_expire: bool, has_item: bool) -> Layout {
        let size = HEADER
            + if has_expire { 8 } else { 0 }
            + if has_item { ITEM_HEADER } else { 0 }
            + klen
            + vlen;
        match Layout::from_size_align(size, 8) {
            Ok(l) => l,
            Err(_) => handle_alloc_error(Layout::new::<u64>()),
        }
    }

    fn allocate(
        hash: u32,
        klen: usize,
        vlen: usize,
        kind: Kind,
        expire: Option<u64>,
        item: Option<Item>,
        clock: u32,
    ) -> Entry {
        assert!(
            klen <= u32::MAX as usize && vlen <= u32::MAX as usize,
            "entry too large"
        );
        let layout = Entry::layout(klen, vlen, expire.is_some(), item.is_some());
        // SAFETY: the layout has a non-zero size (at least the header).
        let ptr = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(ptr) else {
            handle_alloc_error(layout)
        };
        let meta = (clock & CLOCK_MASK)
            | ((kind as u32) << KIND_SHIFT)
            | if expire.is_some() { EXPIRE_FLAG } else { 0 }
            | if item.is_some() { ITEM_FLAG } else { 0 };
        // SAFETY: the header fields are within the allocation and 4/8-byte aligned.
        unsafe {
            let p = ptr.as_ptr();
            (p as *mut u32).write(klen as u32);
            (p.add(4) as *mut u32).write(vlen as u32);
            (p.add(8) as *mut u32).write(meta);
            (p.add(12) as *mut u32).write(hash);
            if let Some(at) = expire {
                (p.add(16) as *mut u64).write(at);
            }
            if let Some(item) = item {
                let q = p.add(HEADER + if expire.is_some() { 8 } else { 0 });
                (q as *mut u64).write(item.cas);
                (q.add(8) as *mut u32).write(item.flags);
                (q.add(12) as *mut u32).write(item.bits);
            }
        }
        Entry(ptr)
    }

    fn word(&self, offset: usize) -> u32 {
        // SAFETY: offsets 0, 4, 8 and 12 are aligned header words of a live block.
        unsafe { (self.0.as_ptr().add(offset) as *const u32).read() }
    }

    fn meta(&self) -> u32 {
        self.word(8)
    }

    fn set_meta(&mut self, meta: u32) {
        // SAFETY: offset 8 is the aligned meta word of a live, exclusively owned block.
        unsafe { (self.0.as_ptr().add(8) as *mut u32).write(meta) }
    }

    fn key_len(&self) -> usize {
        self.word(0) as usize
    }

    fn value_len(&self) -> usize {
        self.word(4) as usize
    }

    fn item_offset(&self) -> usize {
        HEADER + if self.meta() & EXPIRE_FLAG != 0 { 8 } else { 0 }
    }

    fn key_offset(&self) -> usize {
        self.item_offset() + if self.has_item() { ITEM_HEADER } else { 0 }
    }

    /// True when the entry carries a memcached item header.
    #[inline]
    pub fn has_item(&self) -> bool {
        self.meta() & ITEM_FLAG != 0
    }

    /// The memcached item header, if the entry has one.
    pub fn item(&self) -> Option<Item> {
        if !self.has_item() {
            return None;
        }
        // SAFETY: the item header exists when the flag is set; it starts 8-byte aligned.
        unsafe {
            let q = self.0.as_ptr().add(self.item_offset());
            Some(Item {
                cas: (q as *const u64).read(),
                flags: (q.add(8) as *const u32).read(),
                bits: (q.add(12) as *const u32).read(),
            })
        }
    }

    /// Sets the CAS unique (no effect on an entry without item header).
    pub fn set_cas(&mut self, cas: u64) {
        if self.has_item() {
            // SAFETY: the item header exists and we own the block exclusively.
            unsafe { (self.0.as_ptr().add(self.item_offset()) as *mut u64).write(cas) }
        }
    }

    /// Sets the item bits (no effect on an entry without item header).
    pub fn set_item_bits(&mut self, bits: u32) {
        if self.has_item() {
            // SAFETY: the item header exists and we own the block exclusively.
            unsafe { (self.0.as_ptr().add(self.item_offset() + 12) as *mut u32).write(bits) }
        }
    }

    /// Returns this entry with an item header (client flags, CAS unique, bits), keeping key, value, TTL and
    /// access clock.
    #[must_use]
    pub fn with_item(self, item: Item) -> Entry {
        if self.has_item() {
            let mut e = self;
            e.set_cas(item.cas);
            e.set_item_bits(item.bits);
            // SAFETY: as in set_cas; the flags word follows the CAS.
            unsafe { (e.0.as_ptr().add(e.item_offset() + 8) as *mut u32).write(item.flags) }
            return e;
        }
        let (hash, key, expire) = (self.hash(), self.key().to_vec(), self.expire());
        self.rebuilt(hash, &key, expire, Some(item))
    }

    fn key_ptr(&self) -> *mut u8 {
        // SAFETY: the key starts inside the block.
        unsafe { self.0.as_ptr().add(self.key_offset()) }
    }

    fn value_ptr(&self) -> *mut u8 {
        // SAFETY: the value starts inside (or at the end of) the block.
        unsafe { self.key_ptr().add(self.key_len()) }
    }

    /// The key's name.
    pub fn key(&self) -> &[u8] {
        // SAFETY: key_len bytes at key_ptr were initialised at creation.
        unsafe { std::slice::from_raw_parts(self.key_ptr(), self.key_len()) }
    }

    /// The high 32 bits of the key's hash.
    pub fn hash(&self) -> u32 {
        self.word(12)
    }

    /// The kind of value held.
    pub fn kind(&self) -> Kind {
        if (self.meta() >> KIND_SHIFT) & 0xF == Kind::Object as u32 {
            Kind::Object
        } else {
            Kind::Str
        }
    }

    /// The name TYPE replies with.
    pub fn type_name(&self) -> &'static str {
        self.object().map_or("string", Object::type_name)
    }

    /// The value bytes of a string entry (a collection's are its pointer: check [`Entry::kind`] first).
    pub fn value(&self) -> &[u8] {
        // SAFETY: value_len bytes at value_ptr were initialised at creation.
        unsafe { std::slice::from_raw_parts(self.value_ptr(), self.value_len()) }
    }

    /// The value bytes, writable in place (same length: INCR on a same-width number, SETRANGE inside it).
    pub fn value_mut(&mut self) -> &mut [u8] {
        // SAFETY: as `value`, and `&mut self` guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.value_ptr(), self.value_len()) }
    }

    /// The absolute expiry time in unix milliseconds, if the key has a TTL.
    pub fn expire(&self) -> Option<u64> {
        if self.meta() & EXPIRE_FLAG == 0 {
            return None;
        }
        // SAFETY: the expiry word exists when the flag is set and is 8-byte aligned.
        Some(unsafe { (self.0.as_ptr().add(16) as *const u64).read() })
    }

    /// Changes the expiry, returning a new block when the TTL is added or removed (the layout changes).
    #[must_use]
    pub fn with_expire(self, expire: Option<u64>) -> Entry {
        match (self.expire().is_some(), expire) {
            (true, Some(at)) => {
                // SAFETY: the expiry word exists (flag set) and we own the block.
                unsafe { (self.0.as_ptr().add(16) as *mut u64).write(at) };
                self
            }
            (false, None) => self,
            _ => {
                let (hash, key, item) = (self.hash(), self.key().to_vec(), self.item());
                self.rebuilt(hash, &key, expire, item)
            }
        }
    }

    /// This entry under another name, its value moved rather than copied (RENAME, MOVE). A memcached item
    /// header (client flags, CAS) stays with the old name.
    #[must_use]
    pub fn renamed(self, hash: u32, key: &[u8]) -> Entry {
        let expire = self.expire();
        self.rebuilt(hash, key, expire, None)
    }

    /// A deep copy of this entry under another name (COPY).
    pub fn duplicate(&self, hash: u32, key: &[u8]) -> Entry {
        let mut next = match self.object() {
            Some(o) => Entry::new_object(hash, key, o.clone(), self.expire(), 0),
            None => Entry::new_str(hash, key, self.value(), self.expire(), 0),
        };
        next.set_clock(self.clock());
        next
    }

    /// The 24-bit access clock (LRU time or LFU counter, depending on the eviction policy).
    pub fn clock(&self) -> u32 {
        self.meta() & CLOCK_MASK
    }

    /// Sets the access clock.
    pub fn set_clock(&mut self, clock: u32) {
        let meta = self.meta();
        let next = (meta & !CLOCK_MASK) | (clock & CLOCK_MASK);
        if next != meta {
            self.set_meta(next);
        }
    }

    /// Bytes this entry occupies on the heap (allocator classes are 8-byte granular at this size).
    pub fn heap_size(&self) -> usize {
        let size = self.key_offset() + self.key_len() + self.value_len();
        ((size + 7) & !7) + self.object().map_or(0, Object::heap_size)
    }
}

impl Drop for Entry {
    fn drop(&mut self) {
        if let Some(p) = self.object_ptr() {
            // SAFETY: the pointer came from Box::into_raw in `new_object` and is owned by this entry only.
            drop(unsafe { Box::from_raw(p) });
        }
        let layout = Entry::layout(
            self.key_len(),
            self.value_len(),
            self.expire().is_some(),
            self.has_item(),
        );
        // SAFETY: the block was allocated by `allocate` with this exact layout.
        unsafe { dealloc(self.0.as_ptr(), layout) }
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &String::from_utf8_lossy(self.key()))
            .field("kind", &self.kind())
            .field("expire", &self.expire())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_round_trips_key_value_and_header() {
        let e = Entry::new_str(0xdead_beef, b"user:1", b"alice", Some(42), 7);
        assert_eq!(e.key(), b"user:1");
        assert_eq!(e.value(), b"alice");
        assert_eq!(e.hash(), 0xdead_beef);
        assert_eq!(e.expire(), Some(42));
        assert_eq!(e.clock(), 7);
        assert_eq!(e.kind(), Kind::Str);
    }

    #[test]
    fn sixteen_byte_key_with_thirty_two_byte_value_fits_sixty_four_bytes() {
        let e = Entry::new_str(1, &[b'k'; 16], &[b'v'; 32], None, 0);
        assert_eq!(e.heap_size(), 64);
    }

    #[test]
    fn adding_and_removing_a_ttl_keeps_key_value_and_clock() {
        let mut e = Entry::new_str(9, b"k", b"value", None, 0);
        e.set_clock(1234);
        let e = e.with_expire(Some(99));
        assert_eq!(
            (e.key(), e.value(), e.expire(), e.clock()),
            (&b"k"[..], &b"value"[..], Some(99), 1234)
        );
        let e = e.with_expire(Some(100));
        assert_eq!(e.expire(), Some(100));
        let e = e.with_expire(None);
        assert_eq!(
            (e.key(), e.value(), e.expire(), e.clock()),
            (&b"k"[..], &b"value"[..], None, 1234)
        );
    }

    #[test]
    fn empty_key_and_value_are_allowed() {
        let e = Entry::new_str_parts(0, b"", &[b"", b""], None, 0);
        assert_eq!((e.key(), e.value()), (&b""[..], &b""[..]));
    }

    #[test]
    fn objects_survive_ttl_changes_and_renames_and_copies_are_deep() {
        use crate::keyspace::hash::Hash;
        let mut h = Hash::default();
        h.set(b"f", b"v");
        let e = Entry::new_object(1, b"h", Object::Hash(h), None, 3);
        assert_eq!((e.kind(), e.type_name()), (Kind::Object, "hash"));
        let e = e.with_expire(Some(50)).renamed(2, b"renamed");
        assert_eq!(
            (e.key(), e.expire(), e.clock()),
            (&b"renamed"[..], Some(50), 3)
        );
        let mut copy = e.duplicate(3, b"copy");
        if let Some(Object::Hash(h)) = copy.object_mut() {
            h.set(b"f", b"changed");
        }
        let get = |e: &Entry| match e.object() {
            Some(Object::Hash(h)) => h.get(b"f").map(<[u8]>::to_vec),
            _ => None,
        };
        assert_eq!(get(&e).as_deref(), Some(&b"v"[..]));
        assert_eq!(get(&copy).as_deref(), Some(&b"changed"[..]));
        assert!(e.heap_size() > 32 + std::mem::size_of::<Object>());
        let e = e.with_expire(None);
        assert_eq!(get(&e).as_deref(), Some(&b"v"[..]));
    }

    #[test]
    fn value_can_be_rewritten_in_place() {
        let mut e = Entry::new_str(0, b"n", b"10", None, 0);
        e.value_mut().copy_from_slice(b"11");
        assert_eq!(e.value(), b"11");
    }

    #[test]
    fn items_keep_flags_and_cas_beside_a_plain_string_value() {
        let item = Item {
            flags: 0xdead_beef,
            cas: u64::MAX - 1,
            bits: ITEM_FETCHED,
        };
        let e = Entry::new_item(3, &[b'k'; 16], &[b"v1", b"v2"], None, 5, item);
        assert_eq!((e.key(), e.value()), (&[b'k'; 16][..], &b"v1v2"[..]));
        assert_eq!(e.item(), Some(item));
        assert_eq!(e.kind(), Kind::Str);
        assert_eq!(e.heap_size(), 16 + 16 + 16 + 8);
        let e = e.with_expire(Some(77));
        assert_eq!((e.expire(), e.item(), e.clock()), (Some(77), Some(item), 5));
        assert_eq!(e.value(), b"v1v2");
        let e = e.with_expire(None);
        assert_eq!(
            (e.expire(), e.item(), e.value()),
            (None, Some(item), &b"v1v2"[..])
        );
        let copy = e.renamed(4, b"other");
        assert_eq!((copy.item(), copy.value()), (None, &b"v1v2"[..]));
    }

    #[test]
    fn a_plain_string_gains_an_item_header_keeping_its_value_and_ttl() {
        let mut e = Entry::new_str(1, b"k", b"redis", Some(9), 0);
        e.set_clock(42);
        assert_eq!(e.item(), None);
        let item = Item {
            flags: 0,
            cas: 7,
            bits: 0,
        };
        let mut e = e.with_item(item);
        assert_eq!(
            (e.item(), e.value(), e.expire(), e.clock()),
            (Some(item), &b"redis"[..], Some(9), 42)
        );
        e.set_cas(8);
        e.set_item_bits(ITEM_STALE);
        assert_eq!(e.item().map(|i| (i.cas, i.bits)), Some((8, ITEM_STALE)));
    }
}
