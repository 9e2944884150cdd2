//! The usage ledger: the billed request units of this run, kept where a `kill -9` cannot take them.
//!
//! With `usage-ledger yes`, the per-worker counters of billed units live in a file mapped into memory
//! (`<dir>/usage/<run_id>.ledger`, shared mapping). A worker's `store` into its slot is an ordinary memory
//! store, as cheap as a counter on the heap, but the page belongs to the kernel's page cache: when the process
//! dies, however it dies, the file holds every unit it charged. Only a crash of the machine itself can lose
//! the pages the kernel had not written back yet; the cron flushes the mapping once a second, which bounds that.
//!
//! A node that starts finds the ledgers of its previous runs beside its own and reports their final counts in
//! `INFO usage` (`usage_run<i>` lines, `source=ledger`), so the metering side learns the units a killed run
//! charged after its last scrape. The newest [`PAST_RUNS_KEPT`] ledgers are kept; older ones are removed.
//!
//! Each ledger also holds hour marks: the billed count at the start of each UTC hour of the run (taken by the
//! cron within one tick of the boundary), so that units can be put in the hour they were charged in even when
//! they are read long after.
//!
//! Without a ledger (the default, and when the directory cannot be written) the same layout lives on the
//! heap: counting is identical, only the guarantee is gone.

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::Counter;

/// Worker slots in a ledger; workers beyond them count in a heap overflow that the cron folds in.
pub const SLOTS: usize = 256;
/// Hour marks kept (three days).
pub const MARKS: usize = 72;
/// Ledgers of previous runs kept in the directory.
pub const PAST_RUNS_KEPT: usize = 8;
/// File format tag.
const MAGIC: [u8; 8] = *b"FCLEDGR1";

/// The ledger's memory layout, identical in the file and on the heap.
#[repr(C)]
pub struct Layout {
    magic: [u8; 8],
    run_id: [u8; 40],
    started_ms: AtomicU64,
    /// Unix ms of the cron's last pass: the time the counts below were known to hold.
    updated_ms: AtomicU64,
    /// Units of workers without a slot, folded in by the cron.
    overflow: AtomicU64,
    slots: [Counter; SLOTS],
    /// Ring of (hour start in unix seconds, billed total at that time); a zero hour is an empty entry.
    marks: [[AtomicU64; 2]; MARKS],
    mark_next: AtomicU64,
}

const LAYOUT_BYTES: usize = std::mem::size_of::<Layout>();

/// What a ledger says about its run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunUsage {
    /// The run's `run_id`.
    pub run_id: String,
    /// Billed units it charged.
    pub billed: u64,
    /// Unix ms at which that count was known.
    pub at_ms: u64,
    /// (hour start in unix seconds, billed count at that time), oldest first.
    pub marks: Vec<(u64, u64)>,
}

impl RunUsage {
    /// One `INFO usage` value: `run_id=…,billed=…,at_ms=…,source=…,marks=h:v;h:v`.
    pub fn render(&self, source: &str) -> String {
        let marks: Vec<String> = self.marks.iter().map(|(h, v)| format!("{h}:{v}")).collect();
        format!(
            "run_id={},billed={},at_ms={},source={source},marks={}",
            self.run_id,
            self.billed,
            self.at_ms,
            marks.join(";")
        )
    }
}

/// This run's ledger.
pub struct Ledger {
    layout: &'static Layout,
    /// Keeps the mapping alive (and lets the cron flush it).
    map: Option<memmap2::MmapMut>,
    path: Option<PathBuf>,
    next_slot: AtomicU64,
    past: Vec<RunUsage>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger").field("path", &self.path).finish()
    }
}

impl Ledger {
    /// A ledger on the heap: counts, guarantees nothing.
    pub fn in_memory(run_id: &str, now_ms: u64) -> Ledger {
        let layout: &'static Layout = Box::leak(zeroed_layout());
        init(layout, run_id, now_ms);
        Ledger {
            layout,
            map: None,
            path: None,
            next_slot: AtomicU64::new(0),
            past: Vec::new(),
        }
    }

    /// The ledger file of `run_id` in `<dir>/usage/`, with the previous runs' ledgers read. Falls back to
    /// memory (with a warning) when the directory cannot be used.
    pub fn open(dir: &Path, run_id: &str, now_ms: u64) -> Ledger {
        match Self::try_open(dir, run_id, now_ms) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "usage ledger unavailable: units are counted in memory only");
                Ledger::in_memory(run_id, now_ms)
            }
        }
    }

    fn try_open(dir: &Path, run_id: &str, now_ms: u64) -> std::io::Result<Ledger> {
        let folder = dir.join("usage");
        std::fs::create_dir_all(&folder)?;
        let past = read_past(&folder, run_id);
        let path = folder.join(format!("{run_id}.ledger"));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        file.set_len(LAYOUT_BYTES as u64)?;
        // SAFETY: the file was just created by this process at its own run id's path; nothing else maps it
        // for writing. The mapping is page-aligned, which satisfies the layout's alignment.
        let mut map = unsafe { memmap2::MmapMut::map_mut(&file)? };
        let layout: &'static Layout = unsafe { &*(map.as_mut_ptr() as *const Layout) };
        init(layout, run_id, now_ms);
        map.flush()?;
        Ok(Ledger {
            layout,
            map: Some(map),
            path: Some(path),
            next_slot: AtomicU64::new(0),
            past,
        })
    }

    /// True when the counts live in a file.
    pub fn persistent(&self) -> bool {
        self.map.is_some()
    }

    /// A counter slot for a new worker: a slot of the ledger while any is free, else a new heap counter
    /// whose count the cron folds into the overflow.
    pub fn slot(&self) -> Option<&'static Counter> {
        let i = self.next_slot.fetch_add(1, Ordering::Relaxed) as usize;
        self.layout.slots.get(i)
    }

    /// Billed units of this run so far (heap-counted overflow included as of the cron's last pass).
    pub fn billed(&self) -> u64 {
        billed_of(self.layout)
    }

    /// The cron's pass: records the overflow count, the time, and an hour mark at a new hour.
    pub fn tick(&self, now_ms: u64, overflow: u64) {
        let l = self.layout;
        l.overflow.store(overflow, Ordering::Relaxed);
        let hour = now_ms / 3_600_000 * 3600;
        let last = (l.mark_next.load(Ordering::Relaxed) as usize + MARKS - 1) % MARKS;
        if l.marks[last][0].load(Ordering::Relaxed) != hour {
            let next = l.mark_next.load(Ordering::Relaxed) as usize % MARKS;
            l.marks[next][1].store(self.billed(), Ordering::Relaxed);
            l.marks[next][0].store(hour, Ordering::Relaxed);
            l.mark_next
                .store(((next + 1) % MARKS) as u64, Ordering::Relaxed);
        }
        l.updated_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Asks the kernel to write the mapping back (bounds what a machine crash can lose).
    pub fn flush(&self) {
        if let Some(m) = &self.map {
            let _ = m.flush_async();
        }
    }

    /// This run's usage as the ledger holds it.
    pub fn current(&self) -> RunUsage {
        summary(self.layout)
    }

    /// The previous runs found at start.
    pub fn past_runs(&self) -> &[RunUsage] {
        &self.past
    }
}

fn zeroed_layout() -> Box<Layout> {
    let shape = std::alloc::Layout::new::<Layout>();
    // SAFETY: every field is an integer array or an atomic integer, for which all-zero bytes are valid; the
    // allocation has the layout's size and alignment and is owned by the returned box.
    unsafe {
        let p = std::alloc::alloc_zeroed(shape).cast::<Layout>();
        if p.is_null() {
            std::alloc::handle_alloc_error(shape);
        }
        Box::from_raw(p)
    }
}

fn init(l: &Layout, run_id: &str, now_ms: u64) {
    // SAFETY: called before the ledger is shared with any other thread; the id and tag are written once.
    unsafe {
        let p = l as *const Layout as *mut Layout;
        (*p).magic = MAGIC;
        let mut id = [b'0'; 40];
        let n = run_id.len().min(40);
        id[..n].copy_from_slice(&run_id.as_bytes()[..n]);
        (*p).run_id = id;
    }
    l.started_ms.store(now_ms, Ordering::Relaxed);
    l.updated_ms.store(now_ms, Ordering::Relaxed);
}

/// Every slot's count and the overflow, added up.
fn billed_of(l: &Layout) -> u64 {
    l.slots
        .iter()
        .map(Counter::get)
        .fold(l.overflow.load(Ordering::Relaxed), u64::wrapping_add)
}

fn summary(l: &Layout) -> RunUsage {
    let billed = billed_of(l);
    let mut marks: Vec<(u64, u64)> = l
        .marks
        .iter()
        .map(|m| (m[0].load(Ordering::Relaxed), m[1].load(Ordering::Relaxed)))
        .filter(|(h, _)| *h != 0)
        .collect();
    marks.sort_unstable();
    RunUsage {
        run_id: String::from_utf8_lossy(&l.run_id).into_owned(),
        billed,
        at_ms: l.updated_ms.load(Ordering::Relaxed),
        marks,
    }
}

/// Reads a ledger file; `None` when it is not one.
pub fn read_file(path: &Path) -> Option<RunUsage> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() != LAYOUT_BYTES || bytes[..8] != MAGIC {
        return None;
    }
    let layout = zeroed_layout();
    // SAFETY: `bytes` holds exactly one layout; every bit pattern is valid for its integer fields.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            &*layout as *const Layout as *mut u8,
            LAYOUT_BYTES,
        );
    }
    Some(summary(&layout))
}

/// The previous runs' ledgers in `folder`, newest first; removes all but the newest [`PAST_RUNS_KEPT`].
fn read_past(folder: &Path, own: &str) -> Vec<RunUsage> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut found: Vec<(RunUsage, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ledger"))
        .filter_map(|p| Some((read_file(&p)?, p)))
        .filter(|(r, _)| r.run_id != own)
        .collect();
    found.sort_by_key(|(r, _)| std::cmp::Reverse(r.at_ms));
    for (_, path) in found.iter().skip(PAST_RUNS_KEPT) {
        let _ = std::fs::remove_file(path);
    }
    found
        .into_iter()
        .take(PAST_RUNS_KEPT)
        .map(|(r, _)| r)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ferrocache-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn counts_written_to_the_mapping_are_in_the_file_without_any_flush() {
        let dir = scratch("file");
        let run = "a".repeat(40);
        let ledger = Ledger::open(&dir, &run, 1_000);
        assert!(ledger.persistent());
        let slot = ledger.slot().unwrap();
        slot.add(41);
        ledger.slot().unwrap().add(1);
        ledger.tick(3_600_000 * 5 + 7, 0);
        // Read the file as a restarted process would, while this one still holds the mapping.
        let read = read_file(&dir.join("usage").join(format!("{run}.ledger"))).unwrap();
        assert_eq!(read.billed, 42);
        assert_eq!(read.run_id, run);
        assert_eq!(read.at_ms, 3_600_000 * 5 + 7);
        assert_eq!(read.marks, vec![(5 * 3600, 42)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_new_run_reports_the_previous_runs_and_keeps_only_the_newest() {
        let dir = scratch("past");
        for i in 0..(PAST_RUNS_KEPT as u64 + 2) {
            let run = format!("{i:040}");
            let l = Ledger::open(&dir, &run, 1_000 + i);
            l.slot().unwrap().add(i * 10);
            l.tick(2_000 + i, 0);
        }
        let now = Ledger::open(&dir, &"f".repeat(40), 9_000);
        let past = now.past_runs();
        assert_eq!(past.len(), PAST_RUNS_KEPT);
        assert_eq!(past[0].run_id, format!("{:040}", PAST_RUNS_KEPT + 1));
        assert_eq!(past[0].billed, (PAST_RUNS_KEPT as u64 + 1) * 10);
        let files = std::fs::read_dir(dir.join("usage")).unwrap().count();
        assert_eq!(files, PAST_RUNS_KEPT + 1);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn hour_marks_hold_the_count_at_each_new_hour() {
        const H: u64 = 3_600_000;
        let base = 490_000 * H;
        let l = Ledger::in_memory(&"b".repeat(40), base + 10);
        let slot = l.slot().unwrap();
        l.tick(base + 10, 0);
        slot.add(5);
        l.tick(base + H - 1, 0);
        l.tick(base + H + 50, 2);
        slot.add(4);
        l.tick(base + 2 * H, 2);
        let hour = base / 1000;
        assert_eq!(
            l.current().marks,
            vec![(hour, 0), (hour + 3600, 7), (hour + 7200, 11)]
        );
        assert_eq!(l.current().billed, 11);
        assert_eq!(
            l.current().render("ledger"),
            format!(
                "run_id={},billed=11,at_ms={},source=ledger,marks={hour}:0;{}:7;{}:11",
                "b".repeat(40),
                base + 2 * H,
                hour + 3600,
                hour + 7200
            )
        );
    }
}
