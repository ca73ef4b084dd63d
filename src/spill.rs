//! Sorting more fixed-size records than memory should hold: runs of at most a set
//! number of records are sorted in memory and appended to one temporary file, then
//! merged. Records that fit in one run never touch the disk.
//!
//! What a plan keeps per item (16 or 32 bytes of digests) is sorted here, so that the
//! plan's memory stays flat whatever the table size (issue #11; design: "memory stays
//! bounded"). Hand-written because the crate that does this, extsort 0.5.0, returns
//! nothing at all when the record count is a multiple of its segment size plus one
//! (its `done()` then iterates the empty in-memory buffer and leaves the segments on
//! disk unread: found by the tests of `section/tables/snapshot_side.rs`), and because
//! its buffer grows by doubling (twice the memory set aside). The temporary file is
//! created in the system's temporary directory and unlinked at once (tempfile), so
//! nothing is left behind, even after kill -9.
//!
//! Two limits hold the memory: each sorter's run (records per table), and one
//! [`Budget`] that every sorter of the process draws on, so that a plan of forty large
//! tables holds no more than one of four: a sorter that cannot grow its buffer within
//! the budget writes it out as a run instead. What a sorted vector kept in memory holds
//! stays drawn ([`Reservation`]) until it is dropped.

use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, OnceLock};

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufWriter, Write};

/// A record of fixed size, sorted by its `Ord`.
pub trait Record: Copy + Ord + 'static {
    const BYTES: usize;
    fn write_to(&self, out: &mut [u8]);
    fn read_from(bytes: &[u8]) -> Self;
}

/// A 16-byte digest prefix (the plan's key digests).
impl Record for [u8; 16] {
    const BYTES: usize = 16;
    fn write_to(&self, out: &mut [u8]) {
        out.copy_from_slice(self);
    }
    fn read_from(bytes: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        out.copy_from_slice(&bytes[..16]);
        out
    }
}

/// Bytes every run together reads ahead while merging, and at most per run.
const MERGE_READ_AHEAD: usize = 2 << 20;
const MERGE_READ_AHEAD_PER_RUN: usize = 16 * 1024;

/// Bytes the sorters of one process may hold in memory together: four tables' full
/// index runs (8 MiB each; tables are indexed four at a time).
pub const PLAN_MEMORY_BYTES: usize = 32 << 20;

/// Records a sorter may always hold, budget or not (32 KiB of index entries): without
/// it a sorter that finds the budget spent would write runs of one record.
const FLOOR_RECORDS: usize = 1024;

/// Memory that sorters draw on and give back (bytes).
#[derive(Debug)]
pub struct Budget {
    left: AtomicIsize,
}

impl Budget {
    pub fn new(bytes: usize) -> Arc<Budget> {
        Arc::new(Budget {
            left: AtomicIsize::new(isize::try_from(bytes).unwrap_or(isize::MAX)),
        })
    }

    /// The process's budget for plans ([`PLAN_MEMORY_BYTES`]).
    pub fn plan() -> Arc<Budget> {
        static PLAN: OnceLock<Arc<Budget>> = OnceLock::new();
        Arc::clone(PLAN.get_or_init(|| Budget::new(PLAN_MEMORY_BYTES)))
    }

    /// Bytes not drawn (negative when floors were granted beyond it).
    pub fn left(&self) -> isize {
        self.left.load(Ordering::Relaxed)
    }

    fn try_take(&self, bytes: usize) -> bool {
        let bytes = bytes as isize;
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                (left >= bytes).then_some(left - bytes)
            })
            .is_ok()
    }

    fn take(&self, bytes: usize) {
        self.left.fetch_sub(bytes as isize, Ordering::AcqRel);
    }

    fn give(&self, bytes: usize) {
        self.left.fetch_add(bytes as isize, Ordering::AcqRel);
    }
}

/// Bytes drawn from a [`Budget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Reservation {
    fn new(budget: Arc<Budget>) -> Reservation {
        Reservation { budget, bytes: 0 }
    }

    /// Draws `more` bytes if the budget has them.
    fn try_grow(&mut self, more: usize) -> bool {
        let taken = self.budget.try_take(more);
        if taken {
            self.bytes += more;
        }
        taken
    }

    /// Draws `more` bytes whatever is left (the floor).
    fn grow(&mut self, more: usize) {
        self.budget.take(more);
        self.bytes += more;
    }

    /// Keeps `bytes` drawn, giving back the rest.
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.budget.give(self.bytes - bytes);
            self.bytes = bytes;
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.give(self.bytes);
    }
}

/// Records pushed one at a time, sorted in runs of at most `run` records, within a
/// shared [`Budget`].
pub struct SortedRuns<R: Record> {
    buffer: Vec<R>,
    /// The budget drawn for the buffer's capacity.
    held: Reservation,
    run: usize,
    file: Option<BufWriter<File>>,
    /// Each run's first record and record count, in file order.
    runs: Vec<(u64, u64)>,
    written: u64,
}

/// Sorted records: still in memory (with the budget they hold), or merged from runs on
/// disk.
pub enum Sorted<R: Record> {
    Memory(Vec<R>, Reservation),
    Merged(Merge<R>),
}

impl<R: Record> SortedRuns<R> {
    /// A sorter of runs of at most `run` records, drawing on the plan's budget
    /// ([`Budget::plan`]).
    pub fn new(run: usize, expected: u64) -> SortedRuns<R> {
        SortedRuns::with_budget(run, expected, Budget::plan())
    }

    /// A sorter drawing on `budget`. Up to `expected` records are reserved at once if
    /// the budget allows (growing by doubling would hold the old and the new vector at
    /// once).
    pub fn with_budget(run: usize, expected: u64, budget: Arc<Budget>) -> SortedRuns<R> {
        let run = run.max(1);
        let mut held = Reservation::new(budget);
        let reserve = usize::try_from(expected).unwrap_or(usize::MAX).min(run);
        let reserve = if reserve > 0 && held.try_grow(reserve * R::BYTES) {
            reserve
        } else {
            0
        };
        SortedRuns {
            buffer: Vec::with_capacity(reserve),
            held,
            run,
            file: None,
            runs: Vec::new(),
            written: 0,
        }
    }

    pub fn push(&mut self, record: R) -> io::Result<()> {
        if self.buffer.len() == self.buffer.capacity() {
            self.grow_or_spill()?;
        }
        self.buffer.push(record);
        Ok(())
    }

    /// The buffer is full: doubles it (up to one run, within the budget; a sorter
    /// always gets [`FLOOR_RECORDS`]), or else writes it out as a run.
    fn grow_or_spill(&mut self) -> io::Result<()> {
        let capacity = self.buffer.capacity();
        let grown = (capacity * 2).max(FLOOR_RECORDS).min(self.run);
        if grown > capacity {
            let more = (grown - capacity) * R::BYTES;
            let granted = if capacity < FLOOR_RECORDS.min(self.run) {
                self.held.grow(more);
                true
            } else {
                self.held.try_grow(more)
            };
            if granted {
                self.buffer.reserve_exact(grown - self.buffer.len());
                return Ok(());
            }
        }
        self.spill()
    }

    /// Whether a run went to disk.
    pub fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    fn spill(&mut self) -> io::Result<()> {
        self.buffer.sort_unstable();
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(BufWriter::new(tempfile::tempfile()?)),
        };
        let mut bytes = vec![0u8; R::BYTES];
        for record in &self.buffer {
            record.write_to(&mut bytes);
            file.write_all(&bytes)?;
        }
        let count = self.buffer.len() as u64;
        self.runs.push((self.written, count));
        self.written += count;
        self.buffer.clear();
        Ok(())
    }

    /// Every record pushed, in order.
    pub fn finish(mut self) -> io::Result<Sorted<R>> {
        if self.runs.is_empty() {
            self.buffer.sort_unstable();
            let held = Reservation::new(Arc::clone(&self.held.budget));
            let held = std::mem::replace(&mut self.held, held);
            return Ok(Sorted::Memory(std::mem::take(&mut self.buffer), held));
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        self.buffer = Vec::new();
        self.held.shrink_to(0);
        let file = match self.file.take() {
            Some(file) => file.into_inner().map_err(|e| e.into_error())?,
            None => return Err(io::ErrorKind::NotFound.into()),
        };
        Merge::new(file, &self.runs).map(Sorted::Merged)
    }
}

/// The records in order (reading them from disk can fail).
impl<R: Record> IntoIterator for Sorted<R> {
    type Item = io::Result<R>;
    type IntoIter = Box<dyn Iterator<Item = io::Result<R>>>;

    fn into_iter(self) -> Self::IntoIter {
        match self {
            Sorted::Memory(records, _) => Box::new(records.into_iter().map(Ok)),
            Sorted::Merged(merge) => Box::new(merge),
        }
    }
}

/// One run being read during the merge.
struct RunReader {
    next: u64,
    end: u64,
    ahead: Vec<u8>,
    at: usize,
}

/// The k-way merge of sorted runs in one file.
pub struct Merge<R: Record> {
    file: File,
    readers: Vec<RunReader>,
    heads: BinaryHeap<Reverse<(R, usize)>>,
    /// Records each run reads at once: [`MERGE_READ_AHEAD`] shared by the runs, at most
    /// [`MERGE_READ_AHEAD_PER_RUN`] each, at least one record.
    read_ahead: u64,
    failed: bool,
}

impl<R: Record> Merge<R> {
    fn new(file: File, runs: &[(u64, u64)]) -> io::Result<Merge<R>> {
        let bytes = R::BYTES as u64;
        let mut merge = Merge {
            file,
            readers: runs
                .iter()
                .map(|&(first, count)| RunReader {
                    next: first * bytes,
                    end: (first + count) * bytes,
                    ahead: Vec::new(),
                    at: 0,
                })
                .collect(),
            heads: BinaryHeap::with_capacity(runs.len()),
            read_ahead: (MERGE_READ_AHEAD / runs.len().max(1))
                .clamp(R::BYTES, MERGE_READ_AHEAD_PER_RUN.max(R::BYTES))
                as u64
                / R::BYTES as u64,
            failed: false,
        };
        for run in 0..merge.readers.len() {
            if let Some(record) = merge.read(run)? {
                merge.heads.push(Reverse((record, run)));
            }
        }
        Ok(merge)
    }

    /// The next record of `run`, if it has one.
    fn read(&mut self, run: usize) -> io::Result<Option<R>> {
        let reader = &mut self.readers[run];
        if reader.at == reader.ahead.len() {
            if reader.next == reader.end {
                reader.ahead = Vec::new();
                return Ok(None);
            }
            let len = (self.read_ahead * R::BYTES as u64).min(reader.end - reader.next);
            reader.ahead.resize(len as usize, 0);
            read_exact_at(&self.file, &mut reader.ahead, reader.next)?;
            reader.next += len;
            reader.at = 0;
        }
        let record = R::read_from(&reader.ahead[reader.at..reader.at + R::BYTES]);
        reader.at += R::BYTES;
        Ok(Some(record))
    }
}

impl<R: Record> Iterator for Merge<R> {
    type Item = io::Result<R>;

    fn next(&mut self) -> Option<io::Result<R>> {
        if self.failed {
            return None;
        }
        let Reverse((record, run)) = self.heads.pop()?;
        match self.read(run) {
            Ok(Some(next)) => self.heads.push(Reverse((next, run))),
            Ok(None) => {}
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        }
        Some(Ok(record))
    }
}

/// A temporary file of `what` (for `subject`, a table or a model) that could not be
/// written or read: a full or unwritable temporary directory, as a rule. The message
/// names the directory (`TMPDIR` on Unix, `TMP` on Windows) and the OS's reason.
pub fn temp_file_error(subject: &str, what: &str, source: io::Error) -> crate::error::Error {
    crate::error::Error::Io {
        context: format!(
            "{subject}: {what} in the temporary directory {}",
            std::env::temp_dir().display()
        ),
        source,
    }
}

/// Reads `buf.len()` bytes at `offset` without moving a shared file position.
#[cfg(unix)]
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Reads `buf.len()` bytes at `offset` (on Windows this moves the file position, which
/// nothing here relies on).
#[cfg(windows)]
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf = &mut buf[n..];
        offset += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Record for u32 {
        const BYTES: usize = 4;
        fn write_to(&self, out: &mut [u8]) {
            out.copy_from_slice(&self.to_be_bytes());
        }
        fn read_from(bytes: &[u8]) -> u32 {
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
        }
    }

    fn sort(records: &[u32], run: usize) -> (bool, Vec<u32>) {
        let mut runs = SortedRuns::new(run, records.len() as u64);
        for r in records {
            runs.push(*r).unwrap();
        }
        let spilled = runs.spilled();
        let sorted = runs.finish().unwrap().into_iter();
        (spilled, sorted.collect::<io::Result<Vec<_>>>().unwrap())
    }

    /// Every record comes back in order, whatever the record count against the run
    /// size: fewer (memory only), equal, one more, an exact multiple, a multiple plus
    /// one (extsort 0.5.0 returned nothing for a multiple of its segment size plus one).
    #[test]
    fn every_record_comes_back_sorted_for_any_count_against_the_run_size() {
        let run = 7;
        for n in [0usize, 1, 6, 7, 8, 14, 15, 16, 49, 50, 1000] {
            let records: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % 1009 + i / 3).collect();
            let mut expected = records.clone();
            expected.sort_unstable();
            let (spilled, sorted) = sort(&records, run);
            assert_eq!(sorted, expected, "{n} records in runs of {run}");
            assert_eq!(spilled, n > run, "{n} records in runs of {run}");
        }
    }

    /// Issue #11 (many large tables): a sorter that finds the shared budget spent
    /// writes its buffer out as a run instead of growing it; what a sorted vector kept in
    /// memory draws is given back when it is dropped, and a merged one gives all back.
    #[test]
    fn sorters_share_one_budget_and_give_it_back() {
        let budget = Budget::new(2 * FLOOR_RECORDS * 4);
        let mut big = SortedRuns::<u32>::with_budget(1 << 20, 0, Arc::clone(&budget));
        for r in (0..5_000u32).rev() {
            big.push(r).unwrap();
        }
        assert!(big.spilled(), "the budget, not the run, stopped it growing");
        assert_eq!(budget.left(), 0);
        let mut small = SortedRuns::<u32>::with_budget(1 << 20, 0, Arc::clone(&budget));
        small.push(7).unwrap();
        assert_eq!(
            budget.left(),
            -(FLOOR_RECORDS as isize * 4),
            "the floor is granted"
        );
        let sorted: Vec<u32> = big
            .finish()
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(sorted, (0..5_000).collect::<Vec<_>>());
        assert_eq!(
            budget.left(),
            FLOOR_RECORDS as isize * 4,
            "the merged sorter gave all back"
        );
        let kept = small.finish().unwrap();
        assert!(matches!(kept, Sorted::Memory(..)));
        assert_eq!(
            budget.left(),
            FLOOR_RECORDS as isize * 4,
            "kept while in memory"
        );
        drop(kept);
        assert_eq!(budget.left(), 2 * FLOOR_RECORDS as isize * 4);
    }

    /// Repeated records are all kept (finding repeats is the caller's business).
    #[test]
    fn repeated_records_are_kept() {
        let (_, sorted) = sort(&[5, 1, 5, 5, 2, 1], 2);
        assert_eq!(sorted, vec![1, 1, 2, 5, 5, 5]);
    }
}
