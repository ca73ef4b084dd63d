//! The snapshot side of a tables plan, read on its own thread while the target tables
//! are scanned.
//!
//! A plan needs both sides: the target's index (a Scan, bound by the server) and, per
//! snapshot item, the digests of its canonical key and content (decrypting,
//! decompressing, parsing and hashing the archive: bound by this machine's CPU). Read
//! one after the other, a re-import of 200,000 unchanged items took the scan's time
//! plus ~2.5 s. Here a thread reads the archive at once, doing every check that needs
//! no target (DynamoDB's item and key limits, with model, place and key), and queues
//! each item's 48-byte [`Planned`] record; [`SnapshotSide::diff`] then looks them up in
//! the finished index. The queue is bounded ([`QUEUED_BATCHES`] × [`BATCH_ITEMS`]
//! records, ~12 MB): a larger snapshot fills it during the scan and streams the rest,
//! so memory stays flat whatever the size. The keys the target lacks are kept to catch
//! one given twice: sorted in memory up to 256 Ki of them per model (4 MiB;
//! [`in_memory_limit`]) within the plan's shared budget, in a temporary file beyond
//! (16-byte digests, no key; [`crate::spill`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::entries::in_memory_limit;
use super::index::{key_bytes, key_digest, short, Found, ShortDigest, TargetIndex};
use super::plan::{check_index_keys, check_key, IndexKey, TablePlan};
use super::read::{for_each_item, item_at, OwnedSelection};
use super::relations::key_text;
use crate::archive::limits::check_item;
use crate::archive::schema::PrimaryKey;
use crate::archive::{item_hash, DecryptionKey};
use crate::error::{Error, Result};
use crate::spill::SortedRuns;

/// Records per batch (a batch never spans two archive entries).
pub const BATCH_ITEMS: usize = 1024;
/// Batches queued ahead of the diff: 256 × 1024 records of 48 bytes, ~12.6 MB.
pub const QUEUED_BATCHES: usize = 256;

/// One snapshot item, as the plan needs it.
struct Planned {
    key: ShortDigest,
    item: ShortDigest,
    /// An owner it names belongs to a user phase 6 creates (its sub is unknown yet).
    pending: bool,
    /// Its line in the batch's entry, to name it if its key turns out repeated.
    line: u64,
}

/// The records of one items entry, in order.
struct PlannedBatch {
    model: String,
    path: String,
    items: Vec<Planned>,
}

/// Counts that need no target, per model.
#[derive(Default)]
struct SnapshotCounts {
    items: u64,
    owner_rewrites: u64,
    owner_unknown: u64,
}

/// The snapshot's items being read ahead (see the module doc).
pub struct SnapshotSide {
    batches: Receiver<PlannedBatch>,
    reader: JoinHandle<Result<BTreeMap<String, SnapshotCounts>>>,
    archive: PathBuf,
    key: DecryptionKey,
    primary_keys: BTreeMap<String, PrimaryKey>,
    models: Vec<String>,
    /// What the reader reads, to find a repeated key's line again.
    selection: OwnedSelection,
}

impl SnapshotSide {
    /// Starts reading `selection`'s items of `archive` on a thread of its own.
    pub fn start(
        archive: &Path,
        key: &DecryptionKey,
        selection: OwnedSelection,
        primary_keys: BTreeMap<String, PrimaryKey>,
        index_keys: BTreeMap<String, Vec<IndexKey>>,
    ) -> SnapshotSide {
        let (tx, batches) = sync_channel(QUEUED_BATCHES);
        let models = selection.models.clone();
        let (path, decrypt, keys) = (archive.to_owned(), key.clone(), primary_keys.clone());
        let read_selection = selection.clone();
        let reader = std::thread::spawn(move || {
            read(&path, &decrypt, &read_selection, (&keys, &index_keys), tx)
        });
        SnapshotSide {
            batches,
            reader,
            archive: archive.to_owned(),
            key: key.clone(),
            primary_keys,
            models,
            selection,
        }
    }

    /// Looks every snapshot item up in `indexes` (marking the target keys it has) and
    /// returns the per-table plan. A key given twice in the snapshot stops the plan.
    pub fn diff(
        self,
        indexes: &mut BTreeMap<String, TargetIndex>,
        deletes_allowed: bool,
    ) -> Result<BTreeMap<String, TablePlan>> {
        let mut plans: BTreeMap<String, TablePlan> = BTreeMap::new();
        // Keys of snapshot items the target lacks, to catch a key given twice (the
        // target index's `seen` bit catches the others): 16 bytes each, sorted at the
        // end (a hash set took 35 MB per million, a vector 16 MB; see FreshKeys).
        let mut fresh: BTreeMap<String, FreshKeys> = BTreeMap::new();
        let mut repeated = None;
        let mut failed = None;
        'batches: for batch in self.batches.iter() {
            let plan = plans.entry(batch.model.clone()).or_default();
            let mut index = indexes.get_mut(&batch.model);
            let fresh = fresh
                .entry(batch.model.clone())
                .or_insert_with(FreshKeys::new);
            for planned in &batch.items {
                let found = match index.as_mut() {
                    None => Ok(Found::Absent),
                    Some(index) => index.mark_digests(&planned.key, &planned.item),
                };
                let found = match found {
                    Ok(found) => found,
                    Err(e) => {
                        failed = Some(e);
                        break 'batches;
                    }
                };
                match found {
                    Found::Same if !planned.pending => plan.unchanged += 1,
                    Found::Same | Found::Changed => plan.update += 1,
                    Found::Absent => {
                        if let Err(e) = fresh.push(planned.key) {
                            failed = Some(fresh_error(&batch.model, e));
                            break 'batches;
                        }
                        plan.put += 1;
                    }
                    Found::Repeated => {
                        repeated = Some((batch.model.clone(), batch.path.clone(), planned.line));
                        break 'batches;
                    }
                }
            }
        }
        // Dropping the queue ends a reader still sending (after a repeated key).
        drop(self.batches);
        let counts = self
            .reader
            .join()
            .map_err(|_| Error::Failed("the snapshot reader thread panicked".into()))?;
        if let Some(e) = failed {
            return Err(e);
        }
        if repeated.is_none() {
            for (model, keys) in std::mem::take(&mut fresh) {
                let twice = keys.first_repeat().map_err(|e| fresh_error(&model, e))?;
                if let Some(twice) = twice {
                    let primary = (model.as_str(), &self.primary_keys[&model]);
                    let (path, line) =
                        second_of(&self.archive, &self.key, &self.selection, primary, &twice)?;
                    repeated = Some((model, path, line));
                    break;
                }
            }
        }
        drop(fresh);
        if let Some((model, path, line)) = repeated {
            let key = &self.primary_keys[&model];
            return Err(repeated_key(
                &self.archive,
                &self.key,
                &model,
                key,
                &path,
                line,
            ));
        }
        for (model, counts) in counts? {
            let plan = plans.entry(model).or_default();
            plan.snapshot_items = counts.items;
            plan.owner_rewrites = counts.owner_rewrites;
            plan.owner_unknown = counts.owner_unknown;
        }
        for model in &self.models {
            let plan = plans.entry(model.clone()).or_default();
            if let Some(index) = indexes.get(model) {
                if deletes_allowed {
                    plan.delete = index.unseen();
                }
            } else {
                plan.create = true;
            }
        }
        Ok(plans)
    }
}

/// Where the second item of `model` whose key digest is `digest` is (entry path and
/// line): reads the selection again, which happens only to name a repeated key.
fn second_of(
    archive: &Path,
    key: &DecryptionKey,
    selection: &OwnedSelection,
    (model, primary): (&str, &PrimaryKey),
    digest: &ShortDigest,
) -> Result<(String, u64)> {
    let mut seen = 0;
    let mut found = None;
    for_each_item(archive, key, selection.borrow(), |m, item, at| {
        if found.is_some() || m != model {
            return Ok(());
        }
        let canonical = key_bytes(&item, primary).map_err(Error::Failed)?;
        if &key_digest(&canonical) == digest {
            seen += 1;
            if seen == 2 {
                found = Some((at.path.to_owned(), at.line));
            }
        }
        Ok(())
    })?;
    found.ok_or_else(|| Error::Failed(format!("{model}: a repeated key was not found again")))
}

/// The key digests of one model's snapshot items that the target lacks, to find one
/// given twice: sorted in memory up to [`in_memory_limit`] per model (4 MiB) and within
/// the plan's shared budget, in sorted runs on disk beyond, so no snapshot size or
/// model count adds more than that budget here (a vector held 16 MB per million such
/// items, a hash set 35 MB).
struct FreshKeys(SortedRuns<ShortDigest>);

impl FreshKeys {
    fn new() -> FreshKeys {
        FreshKeys::with_run(in_memory_limit())
    }

    fn with_run(run: usize) -> FreshKeys {
        FreshKeys(SortedRuns::new(run, 0))
    }

    fn push(&mut self, key: ShortDigest) -> std::io::Result<()> {
        self.0.push(key)
    }

    /// The first digest (in sorted order) given twice.
    fn first_repeat(self) -> std::io::Result<Option<ShortDigest>> {
        let mut previous = None;
        for key in self.0.finish()? {
            let key = key?;
            if previous == Some(key) {
                return Ok(Some(key));
            }
            previous = Some(key);
        }
        Ok(None)
    }
}

fn fresh_error(model: &str, source: std::io::Error) -> Error {
    crate::spill::temp_file_error(model, "the plan's temporary file of new keys", source)
}

/// The reader thread: checks each item and queues its record; returns the counts.
fn read(
    archive: &Path,
    key: &DecryptionKey,
    selection: &OwnedSelection,
    (primary_keys, index_keys): (
        &BTreeMap<String, PrimaryKey>,
        &BTreeMap<String, Vec<IndexKey>>,
    ),
    tx: SyncSender<PlannedBatch>,
) -> Result<BTreeMap<String, SnapshotCounts>> {
    let no_index_keys = Vec::new();
    let mut counts: BTreeMap<String, SnapshotCounts> = BTreeMap::new();
    let mut batch: Option<PlannedBatch> = None;
    let mut stopped = false;
    for_each_item(archive, key, selection.borrow(), |model, item, at| {
        let primary = &primary_keys[model];
        let refuse = |why: String| refusal(&at, model, &key_text(&item, &primary.names()), &why);
        check_item(&item).map_err(&refuse)?;
        check_key(&item, primary).map_err(&refuse)?;
        let indexed = index_keys.get(model).unwrap_or(&no_index_keys);
        check_index_keys(&item, indexed).map_err(|(why, index_key)| {
            if index_key.in_snapshot {
                refuse(why)
            } else {
                target_refusal(&at, model, &key_text(&item, &primary.names()), &why)
            }
        })?;
        let canonical = key_bytes(&item, primary).map_err(&refuse)?;
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{model}: {e}")))?;
        let counted = counts.entry(model.to_owned()).or_default();
        counted.items += 1;
        counted.owner_rewrites += at.owners.rewritten + at.owners.pending;
        counted.owner_unknown += at.owners.unknown;
        let same_entry = batch
            .as_ref()
            .is_some_and(|b| b.path == at.path && b.items.len() < BATCH_ITEMS);
        if !same_entry {
            if let Some(full) = batch.take() {
                stopped = stopped || tx.send(full).is_err();
            }
        }
        if stopped {
            // The diff stopped reading (a repeated key): nothing more to check.
            return Err(Error::Failed(
                "the plan stopped reading the snapshot".into(),
            ));
        }
        let open = batch.get_or_insert_with(|| PlannedBatch {
            model: model.to_owned(),
            path: at.path.to_owned(),
            items: Vec::with_capacity(BATCH_ITEMS),
        });
        open.items.push(Planned {
            key: key_digest(&canonical),
            item: short(&hash),
            pending: at.owners.pending > 0,
            line: at.line,
        });
        Ok(())
    })?;
    if let Some(last) = batch {
        // A closed queue here means the diff stopped early; it reports why.
        let _ = tx.send(last);
    }
    Ok(counts)
}

/// `<path> line <n>: <model> item <key>: <why>; DynamoDB would refuse it, …` (exit 3).
fn refusal(at: &super::read::ItemAt<'_>, model: &str, key: &str, why: &str) -> Error {
    at.bad(format!(
        "{model} item {key}: {why}; DynamoDB would refuse it, so nothing was written"
    ))
}

/// An item the snapshot's own schema allows but the target table's does not (an index
/// only the target has): the target does not match the snapshot (exit 4).
fn target_refusal(at: &super::read::ItemAt<'_>, model: &str, key: &str, why: &str) -> Error {
    let place = format!("{} line {}: {model} item {key}: {why}", at.path, at.line);
    Error::Refused(format!(
        "{}; the target table would refuse it, so nothing was written",
        crate::archive::ArchiveError::printable(&place)
    ))
}

/// The refusal of an item whose key an earlier item had: reads the item again (this
/// path runs once, to name it) for its key.
fn repeated_key(
    archive: &Path,
    decrypt: &DecryptionKey,
    model: &str,
    primary: &PrimaryKey,
    path: &str,
    line: u64,
) -> Error {
    let item = match item_at(archive, decrypt, path, line) {
        Ok(item) => item,
        Err(e) => return e,
    };
    let at = super::read::ItemAt {
        owners: Default::default(),
        path,
        line,
    };
    let why = "its primary key appears earlier in the snapshot too";
    refusal(&at, model, &key_text(&item, &primary.names()), why)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeat_among(keys: &[ShortDigest], segment: usize) -> Option<ShortDigest> {
        let mut fresh = FreshKeys::with_run(segment);
        for key in keys {
            fresh.push(*key).unwrap();
        }
        fresh.first_repeat().unwrap()
    }

    /// Issue #11 (memory at 1 M items): the keys the target lacks are checked for a
    /// repeat by sorting them, not by a hash set; in memory and across segments on
    /// disk alike.
    #[test]
    fn a_repeated_digest_is_found_among_sorted_keys() {
        let (a, b, c) = ([1u8; 16], [2u8; 16], [3u8; 16]);
        for segment in [in_memory_limit(), 1] {
            assert_eq!(repeat_among(&[c, a, b], segment), None);
            assert_eq!(repeat_among(&[b, a, c, a], segment), Some(a));
            assert_eq!(repeat_among(&[], segment), None);
        }
        // The two a's land in different segments on disk.
        let many: Vec<ShortDigest> = (0..1000u16)
            .map(|n| {
                let mut d = [9u8; 16];
                d[..2].copy_from_slice(&n.to_be_bytes());
                d
            })
            .collect();
        let mut with_a = many.clone();
        with_a.insert(0, a);
        with_a.push(a);
        assert_eq!(repeat_among(&many, 64), None);
        assert_eq!(repeat_among(&with_a, 64), Some(a));
    }
}
