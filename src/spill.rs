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

/// Bytes each run reads ahead while merging (a table of a hundred million 32-byte
/// records in runs of 256 Ki is 382 runs: 6 MiB).
const MERGE_READ_AHEAD: usize = 16 * 1024;

/// Records pushed one at a time, sorted within a memory budget of `run` records.
pub struct SortedRuns<R: Record> {
    buffer: Vec<R>,
    run: usize,
    file: Option<BufWriter<File>>,
    /// Each run's first record and record count, in file order.
    runs: Vec<(u64, u64)>,
    written: u64,
}

/// Sorted records: still in memory, or merged from runs on disk.
pub enum Sorted<R: Record> {
    Memory(Vec<R>),
    Merged(Merge<R>),
}

impl<R: Record> SortedRuns<R> {
    /// A sorter holding at most `run` records in memory (allocated at once, up to
    /// `expected`: growing by doubling would hold the old and the new vector at once).
    pub fn new(run: usize, expected: u64) -> SortedRuns<R> {
        let run = run.max(1);
        let reserve = usize::try_from(expected).unwrap_or(usize::MAX).min(run);
        SortedRuns {
            buffer: Vec::with_capacity(reserve),
            run,
            file: None,
            runs: Vec::new(),
            written: 0,
        }
    }

    pub fn push(&mut self, record: R) -> io::Result<()> {
        if self.buffer.len() == self.run {
            self.spill()?;
        }
        if self.buffer.len() == self.buffer.capacity() {
            // Grown by doubling, but never past one run: a reserve of 200,000 would
            // otherwise double to 400,000 records for a run of 262,144.
            let grown = (self.buffer.capacity() * 2).max(64).min(self.run);
            self.buffer.reserve_exact(grown - self.buffer.len());
        }
        self.buffer.push(record);
        Ok(())
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
            return Ok(Sorted::Memory(self.buffer));
        }
        if !self.buffer.is_empty() {
            self.spill()?;
        }
        self.buffer = Vec::new();
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
            Sorted::Memory(records) => Box::new(records.into_iter().map(Ok)),
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
                return Ok(None);
            }
            let records = (MERGE_READ_AHEAD / R::BYTES).max(1) as u64;
            let len = (records * R::BYTES as u64).min(reader.end - reader.next);
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

/// Reads `buf.len()` bytes at `offset` without moving a shared file position.
#[cfg(unix)]
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

/// Reads `buf.len()` bytes at `offset` without moving a shared file position.
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

    /// Repeated records are all kept (finding repeats is the caller's business).
    #[test]
    fn repeated_records_are_kept() {
        let (_, sorted) = sort(&[5, 1, 5, 5, 2, 1], 2);
        assert_eq!(sorted, vec![1, 1, 2, 5, 5, 5]);
    }
}
