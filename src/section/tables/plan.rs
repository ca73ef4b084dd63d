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
    let no_index_keys = BTreeMap::new();
    snapshot_side(archive, key, selection, schemas, &no_index_keys)?.diff(indexes, deletes_allowed)
}

/// Starts reading the snapshot side of a plan (see [`SnapshotSide`]); `index_keys`
/// (per model, from the target tables' schemas: [`index_keys`]) are checked in every
/// item that holds them.
pub fn snapshot_side(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    schemas: &BTreeMap<String, TableSchema>,
    index_keys: &BTreeMap<String, Vec<IndexKey>>,
) -> Result<SnapshotSide> {
    let primary_keys = primary_keys(selection.models, schemas)?;
    Ok(SnapshotSide::start(
        archive,
        key,
        selection.to_owned_selection(),
        primary_keys,
        index_keys.clone(),
    ))
}

/// One key attribute of a table's secondary index (not of its primary key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexKey {
    pub index: String,
    pub attribute: String,
    /// `S`, `N` or `B`, as the table's attribute definitions declare it.
    pub kind: String,
    /// Bytes: 2048 for a partition key, 1024 for a sort key.
    pub limit: usize,
    /// The snapshot's own schema has this index key too: an item breaking it is a
    /// defect of the snapshot (exit 3), not a mismatch with the target (exit 4).
    pub in_snapshot: bool,
}

/// The key attributes of `schema`'s global and local secondary indexes that are not
/// primary key attributes (those are checked as such).
pub fn index_keys(schema: &TableSchema) -> Vec<IndexKey> {
    let primary: Vec<&str> = schema
        .key_schema
        .iter()
        .map(|k| k.attribute_name.as_str())
        .collect();
    let kind_of = |name: &str| {
        schema
            .attribute_definitions
            .iter()
            .find(|d| d.attribute_name == name)
            .map(|d| d.attribute_type.clone())
    };
    let indexes = schema
        .global_secondary_indexes
        .iter()
        .chain(&schema.local_secondary_indexes);
    indexes
        .flat_map(|index| index.key_schema.iter().map(move |k| (index, k)))
        .filter(|(_, k)| !primary.contains(&k.attribute_name.as_str()))
        .filter_map(|(index, k)| {
            Some(IndexKey {
                index: index.index_name.clone(),
                attribute: k.attribute_name.clone(),
                kind: kind_of(&k.attribute_name)?,
                limit: if k.key_type == "HASH" { 2048 } else { 1024 },
                in_snapshot: true,
            })
        })
        .collect()
}

/// DynamoDB's rules for an item's secondary index keys: an item without the attribute
/// is simply not in the index (a sparse index), but one that holds it must hold it as
/// the index declares, not empty, within the key size limit; otherwise the whole write
/// is refused. A newer stack that adds an index on a field old data holds as another
/// type, or as `""`, meets this.
pub(super) fn check_index_keys<'k>(
    item: &Item,
    keys: &'k [IndexKey],
) -> std::result::Result<(), (String, &'k IndexKey)> {
    for key in keys {
        check_index_key(item, key).map_err(|why| (why, key))?;
    }
    Ok(())
}

fn check_index_key(item: &Item, key: &IndexKey) -> std::result::Result<(), String> {
    let Some(value) = item.get(&key.attribute) else {
        return Ok(());
    };
    let (found, len) = key_type_and_size(value);
    let (name, index) = (&key.attribute, &key.index);
    if found != key.kind {
        return Err(format!(
            "attribute `{name}` is {found}, but the target's index `{index}` keys it as {}",
            key.kind
        ));
    }
    if len == 0 {
        return Err(format!(
            "attribute `{name}` is empty, which the target's index `{index}` cannot hold as a key"
        ));
    }
    if len > key.limit {
        return Err(format!(
            "attribute `{name}` is {len} bytes, over the {} DynamoDB allows as a key of the target's index `{index}`",
            key.limit
        ));
    }
    Ok(())
}

/// A key value's DynamoDB type and size in bytes (numbers count at least 1).
fn key_type_and_size(value: &AttrValue) -> (&'static str, usize) {
    match value {
        AttrValue::S(s) => ("S", s.len()),
        AttrValue::N(n) => ("N", n.len().max(1)),
        AttrValue::B(b) => ("B", b.len()),
        _ => ("another type", 1),
    }
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
            Some(value) => key_type_and_size(value),
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
