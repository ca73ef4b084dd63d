//! The target side of a tables plan: an index built by scanning a live table. Per
//! item it keeps 32 bytes: the first 16 bytes of the SHA-256 of its canonical primary
//! key and of its canonical encoding, sorted by key, however long the keys; in memory
//! up to 256 Ki items per table and within the plan's shared budget (32 MiB for all
//! tables), in a temporary file beyond ([`super::entries`]); what still grows with the
//! table is a `seen` bit per item and 16 bytes of block keys per 128 items.
//! (A hash map of full keys and hashes took ~275 bytes per item, 335 MB of peak RSS
//! re-importing a million items; the vector alone took 33 MB.) 128 bits tell keys and
//! versions apart with a collision chance of ~2^-60 even at 2^34 items; they are not
//! an integrity check (the table digest of every item's full SHA-256 is, and is kept
//! too).
//!
//! The index holds no key, so what needs the keys of target items the snapshot lacks
//! (deletes, and the sample keys of `verify --against`) scans the table again
//! ([`TargetIndex::unseen_pages`]), only when there are such items. The rescan names
//! each key as the target spells it (`100` where the canonical form is `1e2`). Snapshot
//! items are streamed from the archive and compared against the index, never held.

use fixedbitset::FixedBitSet;
use tokio::sync::mpsc;

use super::entries::{EntriesBuilder, Entry, SortedEntries};
use super::segments::{scan_all, PageEncoder};
use crate::archive::schema::PrimaryKey;
use crate::archive::{canonical_item, item_hash, Item, TableDigest};
use crate::aws::dynamodb::Dynamo;
use crate::aws::AwsError;
use crate::error::{Error, Result};
use sha2::{Digest as _, Sha256};

/// The first 16 bytes of a SHA-256: what the index keeps of a key or an item.
pub type ShortDigest = [u8; 16];

/// The short digest of a canonical primary key (see [`key_bytes`]).
pub fn key_digest(canonical_key: &[u8]) -> ShortDigest {
    short(&Sha256::digest(canonical_key).into())
}

/// The first 16 bytes of a full SHA-256.
pub(crate) fn short(hash: &[u8; 32]) -> ShortDigest {
    let mut out = [0u8; 16];
    out.copy_from_slice(&hash[..16]);
    out
}

/// What a snapshot item finds in the index ([`TargetIndex::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// The target lacks the key.
    Absent,
    /// The target holds the same version.
    Same,
    /// The target holds another version.
    Changed,
    /// An earlier snapshot item had this key.
    Repeated,
}

/// A target table's items, by short key digest, sorted.
pub struct TargetIndex {
    pub key: PrimaryKey,
    /// The table, and its size estimate (bytes, items) for rescans.
    table: String,
    estimate: (u64, u64),
    entries: SortedEntries,
    /// Per entry (in key order): a snapshot item has this key.
    seen: FixedBitSet,
    /// The content digest of every item (full SHA-256s), for phase 7.
    pub digest: TableDigest,
}

impl TargetIndex {
    /// The index of a scanned table's entries.
    fn new(
        key: PrimaryKey,
        table: &str,
        estimate: (u64, u64),
        entries: SortedEntries,
        digest: TableDigest,
    ) -> TargetIndex {
        let seen = FixedBitSet::with_capacity(entries.len());
        TargetIndex {
            key,
            table: table.to_owned(),
            estimate,
            entries,
            seen,
            digest,
        }
    }

    /// Items in the target table.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position and entry of a key digest. Reading an index on disk can fail.
    fn find(&self, key: &ShortDigest) -> Result<Option<(usize, Entry)>> {
        self.entries
            .find(key)
            .map_err(|e| spill_error(&self.table, e))
    }

    /// Whether the target holds the item of canonical key `canonical_key` with content
    /// hash `hash` exactly.
    pub fn holds(&self, canonical_key: &[u8], hash: &[u8; 32]) -> Result<bool> {
        Ok(self
            .find(&key_digest(canonical_key))?
            .is_some_and(|(_, entry)| entry.item == short(hash)))
    }

    /// Looks a snapshot item up and marks its key seen.
    pub fn mark(&mut self, canonical_key: &[u8], hash: &[u8; 32]) -> Result<Found> {
        self.mark_digests(&key_digest(canonical_key), &short(hash))
    }

    /// [`Self::mark`] by the short digests of the item's key and content.
    pub fn mark_digests(&mut self, key: &ShortDigest, item: &ShortDigest) -> Result<Found> {
        let Some((i, entry)) = self.find(key)? else {
            return Ok(Found::Absent);
        };
        Ok(if self.seen.put(i) {
            Found::Repeated
        } else if &entry.item == item {
            Found::Same
        } else {
            Found::Changed
        })
    }

    /// Target items no snapshot item has marked.
    pub fn unseen(&self) -> u64 {
        (self.entries.len() - self.seen.count_ones(..)) as u64
    }

    /// Scans the table again and sends, page by page, the key attributes (as the
    /// target spells them) of the items whose key no snapshot item marked. Nothing is
    /// scanned when there are none. Items written since the plan are not in the index
    /// and are never sent.
    pub async fn unseen_pages(&self, dynamo: &Dynamo, out: mpsc::Sender<Vec<Item>>) -> Result<()> {
        if self.unseen() == 0 {
            return Ok(());
        }
        let (mut pages, tasks) = scan_pages(dynamo, &self.table, self.estimate, Ok);
        while let Some(page) = pages.recv().await {
            let mut keys = Vec::new();
            for item in page {
                let canonical = key_bytes(&item, &self.key)
                    .map_err(|e| Error::Failed(format!("{}: {e}", self.table)))?;
                let unseen = self
                    .find(&key_digest(&canonical))?
                    .is_some_and(|(i, _)| !self.seen.contains(i));
                if unseen {
                    keys.push(key_item(&item, &self.key));
                }
            }
            if !keys.is_empty() && out.send(keys).await.is_err() {
                break;
            }
        }
        drop(pages);
        join_scan(tasks).await
    }
}

/// The canonical form of an item's primary key, or why it has none.
pub fn key_bytes(item: &Item, key: &PrimaryKey) -> std::result::Result<Vec<u8>, String> {
    let mut only_key = Item::new();
    for (name, _) in std::iter::once(&key.hash).chain(key.range.iter()) {
        let value = item
            .get(name)
            .ok_or_else(|| format!("an item lacks its key attribute `{name}`"))?;
        only_key.insert(name.clone(), value.clone());
    }
    canonical_item(&only_key).map_err(|e| e.to_string())
}

/// The key attributes of an item (for a delete request).
pub fn key_item(item: &Item, key: &PrimaryKey) -> Item {
    std::iter::once(&key.hash)
        .chain(key.range.iter())
        .filter_map(|(name, _)| item.get(name).map(|v| (name.clone(), v.clone())))
        .collect()
}

/// Scans a target table into an index (parallel segments).
pub async fn index_target(
    dynamo: &Dynamo,
    table: &str,
    key: PrimaryKey,
    estimate: (u64, u64),
) -> Result<TargetIndex> {
    // Reserved for the expected count (up to the in-memory limit): growing by
    // doubling held the old and the new vector at once (12 MB at 200,000 items). An
    // overestimate costs address space only; pages never written stay out of the
    // resident set.
    let mut entries = EntriesBuilder::new(estimate.1);
    let mut digest = TableDigest::default();
    let encode = {
        let (key, table) = (key.clone(), table.to_owned());
        move |items: Vec<Item>| index_page(items, &key, &table)
    };
    scan_encoded(dynamo, table, estimate, encode, |page: IndexedPage| {
        digest.merge(&page.digest);
        page.entries
            .into_iter()
            .try_for_each(|entry| entries.push(entry))
            .map_err(|e| spill_error(table, e))
    })
    .await?;
    // Merging runs on disk rewrites the whole index (320 MB at 10 M items): not on an
    // async worker, where it would stall the other tables' scans.
    let entries = tokio::task::spawn_blocking(move || entries.finish())
        .await
        .map_err(|e| Error::Failed(format!("{table}: index task: {e}")))?
        .map_err(|e| spill_error(table, e))?;
    Ok(TargetIndex::new(key, table, estimate, entries, digest))
}

/// One scan page as an index needs it, made on the scan segment's own task: each
/// item's entry and the page's part of the table digest. A 1 MB page of small items is
/// ~5 MB of attribute maps and ~100 KB of entries, so the pages waiting for the index
/// (one per segment and the queue's) hold no items, and the items are hashed on the
/// segments' tasks, in parallel. (Re-importing 1 M items, whose table is scanned in 5
/// segments, held 105 MB when the maps waited; docs/performance.md.)
struct IndexedPage {
    entries: Vec<Entry>,
    digest: TableDigest,
}

fn index_page(
    items: Vec<Item>,
    key: &PrimaryKey,
    table: &str,
) -> std::result::Result<IndexedPage, AwsError> {
    let invalid = |e: String| AwsError::Invalid(format!("{table}: {e}"));
    let mut page = IndexedPage {
        entries: Vec::with_capacity(items.len()),
        digest: TableDigest::default(),
    };
    for item in &items {
        let hash = item_hash(item).map_err(|e| invalid(e.to_string()))?;
        let canonical = key_bytes(item, key).map_err(invalid)?;
        page.digest.add_hash(&hash);
        page.entries.push(Entry {
            key: key_digest(&canonical),
            item: short(&hash),
        });
    }
    Ok(page)
}

/// An index on disk that could not be written or read.
fn spill_error(table: &str, source: std::io::Error) -> Error {
    crate::spill::temp_file_error(table, "the index's temporary file", source)
}

/// Scans a target table for its item count and content digest only (import phase 7
/// in exact mode): nothing is kept per item, unlike [`index_target`].
pub async fn digest_target(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
) -> Result<(u64, TableDigest)> {
    let mut count = 0u64;
    let mut digest = TableDigest::default();
    // Each page is counted and digested on its segment's task (see IndexedPage).
    let encode = {
        let table = table.to_owned();
        move |items: Vec<Item>| {
            let mut page = TableDigest::default();
            for item in &items {
                let hash =
                    item_hash(item).map_err(|e| AwsError::Invalid(format!("{table}: {e}")))?;
                page.add_hash(&hash);
            }
            Ok((items.len() as u64, page))
        }
    };
    scan_encoded(dynamo, table, estimate, encode, |(items, page)| {
        count += items;
        digest.merge(&page);
        Ok(())
    })
    .await?;
    Ok((count, digest))
}

/// Scans a live table in parallel segments (as many as its size estimate — bytes,
/// items — calls for), calling `each` for every item on the caller's task; pages wait
/// in a bounded channel, so memory stays flat whatever the table size.
pub async fn scan_table(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
    mut each: impl FnMut(Item) -> Result<()>,
) -> Result<()> {
    scan_encoded(dynamo, table, estimate, Ok, |page: Vec<Item>| {
        page.into_iter().try_for_each(&mut each)
    })
    .await
}

/// [`scan_table`] with each page made into a `P` by `encode` on its segment's task,
/// and `each` called per `P` on the caller's.
async fn scan_encoded<P: Send + 'static>(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
    encode: impl PageEncoder<P>,
    mut each: impl FnMut(P) -> Result<()>,
) -> Result<()> {
    let (mut rx, tasks) = scan_pages(dynamo, table, estimate, encode);
    let mut failed = None;
    while let Some(page) = rx.recv().await {
        if let Err(e) = each(page) {
            failed = Some(e);
            break;
        }
    }
    // Dropping the receiver stops the segments early (scan_segment returns when its
    // pages can no longer be sent).
    drop(rx);
    join_scan(tasks).await?;
    failed.map_or(Ok(()), Err)
}

type ScanTasks = tokio::task::JoinSet<std::result::Result<u64, crate::aws::AwsError>>;

/// Scan pages waiting for the caller (each segment holds one more while it waits): a
/// 1 MB page of small items is ~5 MB of maps, and a re-import reads the snapshot on
/// another thread meanwhile; 8 waiting pages let its peak reach 116 MB at 200,000
/// items (docs/performance.md). An index's and phase 7's pages are made small on the
/// segments' tasks ([`IndexedPage`]); `check` and deletes still receive items.
const PAGES_QUEUED: usize = 2;

/// Starts a parallel scan of `table` ([`scan_all`]): its pages arrive on the receiver
/// (bounded); [`join_scan`] then says whether every segment ended well.
fn scan_pages<P: Send + 'static>(
    dynamo: &Dynamo,
    table: &str,
    estimate: (u64, u64),
    encode: impl PageEncoder<P>,
) -> (mpsc::Receiver<P>, ScanTasks) {
    let (tx, rx) = mpsc::channel::<P>(PAGES_QUEUED);
    let mut tasks = tokio::task::JoinSet::new();
    let (dynamo, table) = (dynamo.clone(), std::sync::Arc::from(table));
    tasks.spawn(async move { scan_all(dynamo, table, estimate, tx, encode).await });
    (rx, tasks)
}

async fn join_scan(mut tasks: ScanTasks) -> Result<()> {
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| Error::Failed(format!("scan task: {e}")))?
            .map_err(Error::from)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_key() -> PrimaryKey {
        PrimaryKey {
            hash: ("id".into(), "S".into()),
            range: None,
        }
    }

    fn entry(line: &str) -> (Vec<u8>, [u8; 32], Entry) {
        let item = crate::archive::parse_item(line.as_bytes()).unwrap();
        let key = key_bytes(&item, &id_key()).unwrap();
        let hash = item_hash(&item).unwrap();
        let entry = Entry {
            key: key_digest(&key),
            item: short(&hash),
        };
        (key, hash, entry)
    }

    /// 32 bytes per target item (plus one `seen` bit), in memory up to 256 Ki items:
    /// 8 MiB (issue #11: re-import RSS at 1 M items).
    #[test]
    fn an_index_entry_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    /// What a snapshot item finds: the same version, another one, no item, or a key an
    /// earlier snapshot item already had; the keys nobody marked are the deletes.
    #[test]
    fn marks_tell_versions_apart_and_catch_a_repeated_key() {
        let (a, a_hash, a_entry) = entry(r#"{"id":{"S":"a"},"n":{"N":"1"}}"#);
        let (b, _, b_entry) = entry(r#"{"id":{"S":"b"},"n":{"N":"1"}}"#);
        let (_, _, c_entry) = entry(r#"{"id":{"S":"c"}}"#);
        let (_, b2_hash, _) = entry(r#"{"id":{"S":"b"},"n":{"N":"2"}}"#);
        let (d, d_hash, _) = entry(r#"{"id":{"S":"d"}}"#);
        let mut entries = EntriesBuilder::new(3);
        for e in [c_entry, a_entry, b_entry] {
            entries.push(e).unwrap();
        }
        let entries = entries.finish().unwrap();
        let mut index = TargetIndex::new(id_key(), "T", (0, 0), entries, TableDigest::default());
        assert_eq!(index.len(), 3);
        assert!(index.holds(&a, &a_hash).unwrap());
        assert!(!index.holds(&b, &b2_hash).unwrap());
        assert!(!index.holds(&d, &d_hash).unwrap());
        assert_eq!(index.unseen(), 3);
        assert_eq!(index.mark(&a, &a_hash).unwrap(), Found::Same);
        assert_eq!(index.mark(&b, &b2_hash).unwrap(), Found::Changed);
        assert_eq!(index.mark(&d, &d_hash).unwrap(), Found::Absent);
        assert_eq!(index.mark(&a, &a_hash).unwrap(), Found::Repeated);
        assert_eq!(index.unseen(), 1, "only c is left for a delete");
    }
}
