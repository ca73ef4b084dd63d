//! The tables plan: which snapshot items a target table lacks (put), holds in another
//! version (update), holds unchanged, and which target items the snapshot does not
//! have (delete). The target side is a [`TargetIndex`]; the snapshot side
//! ([`SnapshotSide`]) is read on its own thread while the target is scanned.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::index::TargetIndex;
use super::read::Selection;
pub use super::snapshot_side::SnapshotSide;
use crate::archive::schema::{PrimaryKey, TableSchema};
use crate::archive::{AttrValue, DecryptionKey, Item};
use crate::error::{Error, Result};

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
    /// Owner field values rewritten to the target users' subs.
    pub owner_rewrites: u64,
    /// Owner field values naming a sub the snapshot's users do not have (left alone).
    pub owner_unknown: u64,
    /// How phase 6 fills the table: `batch-write`, or `import-table` (DynamoDB's
    /// ImportTable from S3, for a table `--create-missing` creates; see
    /// [`super::native_import`]).
    pub path: String,
    /// Why that path, when a staging area for ImportTable is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path_why: Option<String>,
}

impl TablePlan {
    /// Items this plan writes or deletes.
    pub fn changes(&self) -> u64 {
        self.put + self.update + self.delete
    }
}

/// Phase 3: diffs the snapshot against the target indexes. Marks every target key the
/// snapshot has as seen; returns the per-table plan. An item DynamoDB would refuse
/// (see [`crate::archive::limits`], plus key rules and a primary key appearing twice)
/// stops the plan with its model, place and key: before the backup and any write.
///
/// Reads the snapshot now; an import starts [`SnapshotSide`] before scanning the
/// target instead ([`snapshot_side`]), so that the two reads overlap.
pub fn diff(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    schemas: &BTreeMap<String, TableSchema>,
    deletes_allowed: bool,
) -> Result<BTreeMap<String, TablePlan>> {
    snapshot_side(archive, key, selection, schemas)?.diff(indexes, deletes_allowed)
}

/// Starts reading the snapshot side of a plan (see [`SnapshotSide`]).
pub fn snapshot_side(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    schemas: &BTreeMap<String, TableSchema>,
) -> Result<SnapshotSide> {
    let primary_keys = primary_keys(selection.models, schemas)?;
    Ok(SnapshotSide::start(
        archive,
        key,
        selection.to_owned_selection(),
        primary_keys,
    ))
}

fn primary_keys(
    models: &[String],
    schemas: &BTreeMap<String, TableSchema>,
) -> Result<BTreeMap<String, PrimaryKey>> {
    models
        .iter()
        .map(|model| {
            let schema = schemas
                .get(model)
                .ok_or_else(|| Error::Failed(format!("the snapshot has no schema for {model}")))?;
            let key = schema
                .primary_key()
                .map_err(|e| Error::Failed(format!("{model}: {e}")))?;
            Ok((model.clone(), key))
        })
        .collect()
}

/// DynamoDB's key rules: each key attribute present, of the type the table declares,
/// not empty, and within the key size limits (2048 bytes partition, 1024 sort).
pub(super) fn check_key(item: &Item, key: &PrimaryKey) -> std::result::Result<(), String> {
    let parts =
        std::iter::once((&key.hash, 2048usize)).chain(key.range.as_ref().map(|r| (r, 1024)));
    for ((name, kind), limit) in parts {
        let (found, len) = match item.get(name) {
            None => return Err(format!("it lacks its key attribute `{name}`")),
            Some(AttrValue::S(s)) => ("S", s.len()),
            Some(AttrValue::N(n)) => ("N", n.len().max(1)),
            Some(AttrValue::B(b)) => ("B", b.len()),
            Some(_) => ("another type", 1),
        };
        if found != kind {
            return Err(format!(
                "key attribute `{name}` is {found}, the table declares {kind}"
            ));
        }
        if len == 0 {
            return Err(format!("key attribute `{name}` is empty"));
        }
        if len > limit {
            return Err(format!(
                "key attribute `{name}` is {len} bytes, over DynamoDB's {limit}"
            ));
        }
    }
    Ok(())
}
