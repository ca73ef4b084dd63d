//! Where a target index keeps its entries: in memory while they are few, in a sorted
//! temporary file beyond that, so that a plan's memory does not grow with the target
//! table (issue #11: peak RSS re-importing a million items was 123 MB, 33 of them this
//! index; design: "memory stays bounded whatever the table size").
//!
//! Up to [`IN_MEMORY`] entries per table (8 MiB; [`in_memory_limit`]) stay in a vector
//! sorted once the scan ends, as before: every table of the benchmark's 200,000 items,
//! and most Amplify tables, never touch the disk. Past that, or once the tables indexed
//! so far hold the plan's whole budget ([`crate::spill::PLAN_MEMORY_BYTES`], 32 MiB),
//! [`crate::spill::SortedRuns`] writes sorted runs to a temporary file, and
//! [`EntriesBuilder::finish`] merges them into a second temporary file of sorted
//! entries, keeping in memory the first key of every block of [`BLOCK`] entries (16
//! bytes per 4 KiB block: 125 KiB per million items). A lookup finds its block among
//! those keys and reads it with one positioned read of 4 KiB (from the page cache, as a
//! rule), then searches it.
//!
//! The files hold 16-byte prefixes of SHA-256 digests, no key and no item, in the
//! system's temporary directory, unlinked from the start (tempfile).

use std::fs::File;
use std::io::{self, BufWriter, Write};

use super::index::ShortDigest;
use crate::spill::{read_exact_at, Record, Reservation, Sorted, SortedRuns};

/// Entries kept in memory (32 bytes each: 8 MiB) before the index goes to disk.
pub const IN_MEMORY: usize = 256 * 1024;

/// Records per table a plan keeps in memory before it sorts on disk:
/// `RTSNAP_PLAN_MEMORY_ITEMS`, else [`IN_MEMORY`]. Lower it to cut the 8 MiB a large
/// table's index holds (at the cost of lookups on disk), raise it to keep large tables
/// off the disk; the tests lower it to reach the disk path with a few hundred items.
/// Whatever it says, all tables together stay within the plan's budget.
pub fn in_memory_limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        let Ok(value) = std::env::var("RTSNAP_PLAN_MEMORY_ITEMS") else {
            return IN_MEMORY;
        };
        match value.trim().parse::<usize>() {
            Ok(n) => n.max(1),
            Err(_) => {
                tracing::warn!(%value, "RTSNAP_PLAN_MEMORY_ITEMS is not a count of items; using {IN_MEMORY}");
                IN_MEMORY
            }
        }
    })
}

/// Entries per block of the sorted file: one 4 KiB read per lookup.
const BLOCK: usize = 128;
const ENTRY_BYTES: usize = 32;

/// One target item: its key's and its content's short digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Entry {
    pub key: ShortDigest,
    pub item: ShortDigest,
}

impl Record for Entry {
    const BYTES: usize = ENTRY_BYTES;

    fn write_to(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.key);
        out[16..ENTRY_BYTES].copy_from_slice(&self.item);
    }

    fn read_from(bytes: &[u8]) -> Entry {
        let mut entry = Entry {
            key: [0; 16],
            item: [0; 16],
        };
        entry.key.copy_from_slice(&bytes[..16]);
        entry.item.copy_from_slice(&bytes[16..ENTRY_BYTES]);
        entry
    }
}

/// Collects a scan's entries (in scan order) into [`SortedEntries`].
pub struct EntriesBuilder(SortedRuns<Entry>);

impl EntriesBuilder {
    /// A builder for about `expected` entries.
    pub fn new(expected: u64) -> EntriesBuilder {
        EntriesBuilder::with_limit(expected, in_memory_limit())
    }

    /// A builder that goes to disk past `limit` entries (tests use small ones).
    pub fn with_limit(expected: u64, limit: usize) -> EntriesBuilder {
        EntriesBuilder(SortedRuns::new(limit, expected))
    }

    pub fn push(&mut self, entry: Entry) -> io::Result<()> {
        self.0.push(entry)
    }

    /// The entries, sorted by key.
    pub fn finish(self) -> io::Result<SortedEntries> {
        let merged = match self.0.finish()? {
            Sorted::Memory(mut memory, mut held) => {
                memory.shrink_to_fit();
                held.shrink_to(memory.capacity() * ENTRY_BYTES);
                return Ok(SortedEntries::Memory(memory, held));
            }
            Sorted::Merged(merged) => merged,
        };
        let mut file = BufWriter::new(tempfile::tempfile()?);
        let mut fences = Vec::new();
        let mut len = 0usize;
        let mut bytes = [0u8; ENTRY_BYTES];
        for entry in merged {
            let entry = entry?;
            if len.is_multiple_of(BLOCK) {
                fences.push(entry.key);
            }
            entry.write_to(&mut bytes);
            file.write_all(&bytes)?;
            len += 1;
        }
        let file = file.into_inner().map_err(|e| e.into_error())?;
        Ok(SortedEntries::OnDisk(SpilledEntries { file, fences, len }))
    }
}

/// A target's entries sorted by key digest.
pub enum SortedEntries {
    /// In memory, holding its share of the plan's budget until dropped.
    Memory(Vec<Entry>, Reservation),
    OnDisk(SpilledEntries),
}

/// Entries in a temporary file, in blocks of [`BLOCK`], each block's first key in
/// memory.
pub struct SpilledEntries {
    file: File,
    fences: Vec<ShortDigest>,
    len: usize,
}

impl SortedEntries {
    pub fn len(&self) -> usize {
        match self {
            SortedEntries::Memory(entries, _) => entries.len(),
            SortedEntries::OnDisk(spilled) => spilled.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the entries went to disk.
    pub fn spilled(&self) -> bool {
        matches!(self, SortedEntries::OnDisk(_))
    }

    /// The position (in key order) and the entry of `key`, if there is one.
    pub fn find(&self, key: &ShortDigest) -> io::Result<Option<(usize, Entry)>> {
        match self {
            SortedEntries::Memory(entries, _) => Ok(entries
                .binary_search_by(|e| e.key.cmp(key))
                .ok()
                .map(|i| (i, entries[i]))),
            SortedEntries::OnDisk(spilled) => spilled.find(key),
        }
    }
}

impl SpilledEntries {
    fn find(&self, key: &ShortDigest) -> io::Result<Option<(usize, Entry)>> {
        let after = self.fences.partition_point(|first| first <= key);
        let Some(block) = after.checked_sub(1) else {
            return Ok(None);
        };
        let start = block * BLOCK;
        let count = BLOCK.min(self.len - start);
        let mut bytes = [0u8; BLOCK * ENTRY_BYTES];
        let bytes = &mut bytes[..count * ENTRY_BYTES];
        read_exact_at(&self.file, bytes, (start * ENTRY_BYTES) as u64)?;
        let mut entries = [Entry {
            key: [0; 16],
            item: [0; 16],
        }; BLOCK];
        for (entry, b) in entries.iter_mut().zip(bytes.chunks_exact(ENTRY_BYTES)) {
            *entry = Entry::read_from(b);
        }
        let entries = &entries[..count];
        Ok(entries
            .binary_search_by(|e| e.key.cmp(key))
            .ok()
            .map(|i| (start + i, entries[i])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: u32) -> Entry {
        let key: [u8; 32] = sha2::Digest::finalize(
            <sha2::Sha256 as sha2::Digest>::new_with_prefix(n.to_be_bytes()),
        )
        .into();
        let mut e = Entry {
            key: [0; 16],
            item: [0; 16],
        };
        e.key.copy_from_slice(&key[..16]);
        e.item[..4].copy_from_slice(&n.to_be_bytes());
        e
    }

    fn build(n: u32, limit: usize) -> SortedEntries {
        let mut builder = EntriesBuilder::with_limit(n as u64, limit);
        for i in 0..n {
            builder.push(entry(i)).unwrap();
        }
        builder.finish().unwrap()
    }

    /// Issue #11 (flat memory at 1 M items): past its limit the index goes to disk,
    /// and every entry is found there at the position it has in key order, as in
    /// memory; keys it lacks (before the first, between, after the last) are not.
    #[test]
    fn an_index_past_its_limit_goes_to_disk_and_finds_every_entry() {
        let n = 5_000;
        let memory = build(n, IN_MEMORY);
        let disk = build(n, 1_000);
        assert!(!memory.spilled());
        assert!(disk.spilled(), "5,000 entries past a limit of 1,000");
        assert_eq!(disk.len(), n as usize);
        for i in 0..n {
            let e = entry(i);
            let on_disk = disk.find(&e.key).unwrap();
            assert_eq!(on_disk, memory.find(&e.key).unwrap(), "entry {i}");
            assert_eq!(on_disk.map(|(_, found)| found), Some(e));
        }
        for absent in [[0u8; 16], [0xff; 16], entry(n + 1).key] {
            assert_eq!(disk.find(&absent).unwrap(), None);
        }
    }

    /// A block boundary and the last, short block: sizes around [`BLOCK`].
    #[test]
    fn blocks_of_every_size_are_searched() {
        for n in [
            2,
            BLOCK as u32 - 1,
            BLOCK as u32,
            BLOCK as u32 + 1,
            3 * BLOCK as u32 + 5,
        ] {
            let disk = build(n, 1);
            assert!(disk.spilled());
            for i in 0..n {
                assert!(disk.find(&entry(i).key).unwrap().is_some(), "{i} of {n}");
            }
        }
        assert!(build(0, 1).is_empty());
    }
}
