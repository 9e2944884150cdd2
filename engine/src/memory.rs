//! What the process has allocated, as Redis' `used_memory` means it: every live allocation (data, client and
//! replication buffers, tables, runtime), counted by a wrapper around the real allocator.
//!
//! Each thread adds and subtracts its allocations in a counter of its own (a plain load and store, no locked
//! instruction, on a cache line no other thread writes), so counting costs the hot path a few instructions. The
//! first [`SLOTS`]` - 1` threads get a counter each; any later thread shares the last one through atomic adds.
//! A thread's counter outlives the thread: memory it allocated and another thread frees nets out in the sum.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// Counters: one per thread for the first `SLOTS - 1` threads, the last one shared.
const SLOTS: usize = 128;

#[repr(align(64))]
struct Slot(AtomicIsize);

static COUNTS: [Slot; SLOTS] = [const { Slot(AtomicIsize::new(0)) }; SLOTS];
static NEXT: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static MINE: Cell<usize> = const { Cell::new(usize::MAX) };
}

#[inline]
fn add(delta: isize) {
    let slot = MINE
        .try_with(|m| {
            let mut i = m.get();
            if i == usize::MAX {
                i = NEXT.fetch_add(1, Ordering::Relaxed).min(SLOTS - 1);
                m.set(i);
            }
            i
        })
        .unwrap_or(SLOTS - 1);
    let c = &COUNTS[slot].0;
    if slot < SLOTS - 1 {
        // Only this thread writes this counter: a plain read-modify-write is exact.
        c.store(c.load(Ordering::Relaxed) + delta, Ordering::Relaxed);
    } else {
        c.fetch_add(delta, Ordering::Relaxed);
    }
}

/// A global allocator that counts what `A` hands out (install it with `#[global_allocator]`).
pub struct Counting<A>(pub A);

// SAFETY: every call is forwarded unchanged to the wrapped allocator; the counters only observe sizes.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is passed on as is.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            add(layout.size() as isize);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { self.0.dealloc(ptr, layout) };
        add(-(layout.size() as isize));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            add(new_size as isize - layout.size() as isize);
        }
        p
    }
}

/// Marks the counting allocator as the process's allocator (the engine binary calls this at start).
pub fn installed() {
    INSTALLED.store(true, Ordering::Relaxed);
}

/// Bytes the process has allocated and not freed, or `None` when the counting allocator is not installed
/// (the library used from tests).
pub fn allocated() -> Option<usize> {
    if !INSTALLED.load(Ordering::Relaxed) {
        return None;
    }
    let sum: isize = COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
    Some(sum.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_follows_allocations_across_threads() {
        let a = Counting(std::alloc::System);
        let layout = Layout::from_size_align(1000, 8).expect("layout");
        let before: isize = COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        // SAFETY: a valid layout; the block is freed below with the same layout.
        let p = unsafe { a.alloc(layout) };
        let during: isize = COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        assert_eq!(during - before, 1000);
        let addr = p as usize;
        // Freed on another thread: the sum nets out.
        std::thread::spawn(move || {
            // SAFETY: the pointer came from `alloc` with this layout and is freed once.
            unsafe { Counting(std::alloc::System).dealloc(addr as *mut u8, layout) }
        })
        .join()
        .expect("thread");
        let after: isize = COUNTS.iter().map(|c| c.0.load(Ordering::Relaxed)).sum();
        assert_eq!(after, before);
    }
}
