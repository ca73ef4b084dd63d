//! The import plan: which snapshot items a target table lacks (put), holds in another
//! version (update), holds unchanged, and which target items the snapshot does not
//! have (delete).
//!
//! The target side is an index built by scanning the target: per item, its primary key
//! in canonical form and the SHA-256 of its canonical encoding. That is all the diff
//! keeps in memory: about 100 bytes plus the key's length per target item (a 36-byte
//! Amplify id: ~140 bytes, so ~140 MB for a million items). Snapshot items are streamed
//! from the archive and never held.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::archive::schema::{PrimaryKey, TableSchema};
use crate::archive::{
    canonical_item, item_hash, parse_item, DecryptionKey, EntryKind, Item, SnapshotReader,
    TableDigest,
};
use crate::aws::dynamodb::Dynamo;
use crate::error::{Error, Result};
use crate::export::{aws_failed, segments_for};

/// A target table's items, by canonical primary key: (item hash, seen in snapshot).
pub struct TargetIndex {
    pub key: PrimaryKey,
    pub items: HashMap<Vec<u8>, ([u8; 32], bool)>,
    pub digest: TableDigest,
}

/// What importing one table will do.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct TablePlan {
    /// The target table's name.
    pub table: String,
    /// The table does not exist and will be created (`--create-missing`).
    pub create: bool,
    /// Items the target lacks.
    pub put: u64,
    /// Items the target holds in another version.
    pub update: u64,
    /// Target items absent from the snapshot (0 with `--merge` or `--limit`).
    pub delete: u64,
    pub unchanged: u64,
    /// Snapshot items considered (all of them, or the first `--limit`).
    pub snapshot_items: u64,
}

impl TablePlan {
    /// Items this plan writes or deletes.
    pub fn changes(&self) -> u64 {
        self.put + self.update + self.delete
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
    let total = segments_for(estimate.0, estimate.1);
    let (tx, mut rx) = mpsc::channel::<Vec<Item>>(8);
    let mut tasks = tokio::task::JoinSet::new();
    for segment in 0..total {
        let (dynamo, tx, table) = (dynamo.clone(), tx.clone(), table.to_owned());
        tasks.spawn(async move { dynamo.scan_segment(&table, segment, total, tx).await });
    }
    drop(tx);
    let mut index = TargetIndex {
        key,
        items: HashMap::new(),
        digest: TableDigest::default(),
    };
    while let Some(page) = rx.recv().await {
        for item in page {
            let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{table}: {e}")))?;
            let key =
                key_bytes(&item, &index.key).map_err(|e| Error::Failed(format!("{table}: {e}")))?;
            index.digest.add_hash(&hash);
            index.items.insert(key, (hash, false));
        }
    }
    while let Some(joined) = tasks.join_next().await {
        joined
            .map_err(|e| Error::Failed(format!("scan task: {e}")))?
            .map_err(aws_failed)?;
    }
    Ok(index)
}

/// Which snapshot items an import considers.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub models: &'a [String],
    /// The first N items of each model (`--limit`).
    pub limit: Option<u64>,
}

/// Streams the snapshot's items of the selected models, calling `each(model, item)`.
/// Runs the full verifying reader, so the pass fails if the file changed since phase 1.
pub fn for_each_item(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    mut each: impl FnMut(&str, Item) -> Result<()>,
) -> Result<()> {
    let file = File::open(archive).map_err(Error::io(format!("opening {}", archive.display())))?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut taken: BTreeMap<String, u64> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    reader.read_all(|_, entry| {
        let EntryKind::TableItems { model, .. } = entry.kind else {
            return Ok(());
        };
        if failure.is_some() || !selection.models.iter().any(|m| m == model) {
            return Ok(());
        }
        let count = taken.entry(model.clone()).or_default();
        let mut lines = BufReader::new(entry.data);
        let mut line = Vec::new();
        loop {
            if selection.limit.is_some_and(|limit| *count >= limit) {
                return Ok(());
            }
            line.clear();
            let n =
                lines
                    .read_until(b'\n', &mut line)
                    .map_err(crate::archive::ArchiveError::io(format!(
                        "reading {}",
                        entry.path
                    )))?;
            if n == 0 {
                return Ok(());
            }
            let item = parse_item(&line)
                .map_err(|e| crate::archive::ArchiveError::Invalid(e.to_string()))?;
            *count += 1;
            if let Err(e) = each(model, item) {
                failure = Some(e);
                return Ok(());
            }
        }
    })?;
    failure.map_or(Ok(()), Err)
}

/// Phase 3: diffs the snapshot against the target indexes. Marks every target key the
/// snapshot has as seen; returns the per-table plan.
pub fn diff(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    schemas: &BTreeMap<String, TableSchema>,
    deletes_allowed: bool,
) -> Result<BTreeMap<String, TablePlan>> {
    let mut plans: BTreeMap<String, TablePlan> = BTreeMap::new();
    for_each_item(archive, key, selection, |model, item| {
        let plan = plans.entry(model.to_owned()).or_default();
        plan.snapshot_items += 1;
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{model}: {e}")))?;
        match indexes.get_mut(model) {
            Some(index) => {
                let key = key_bytes(&item, &index.key)
                    .map_err(|e| Error::Failed(format!("snapshot {model}: {e}")))?;
                match index.items.get_mut(&key) {
                    None => plan.put += 1,
                    Some((h, seen)) => {
                        *seen = true;
                        if *h == hash {
                            plan.unchanged += 1;
                        } else {
                            plan.update += 1;
                        }
                    }
                }
            }
            None => {
                let primary = schemas[model].primary_key().map_err(Error::Failed)?;
                key_bytes(&item, &primary)
                    .map_err(|e| Error::Failed(format!("snapshot {model}: {e}")))?;
                plan.put += 1;
            }
        }
        Ok(())
    })?;
    for model in selection.models {
        let plan = plans.entry(model.clone()).or_default();
        if let Some(index) = indexes.get(model) {
            if deletes_allowed {
                plan.delete = index.items.values().filter(|(_, seen)| !seen).count() as u64;
            }
        } else {
            plan.create = true;
        }
    }
    Ok(plans)
}
