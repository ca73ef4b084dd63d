//! The tables plan: which snapshot items a target table lacks (put), holds in another
//! version (update), holds unchanged, and which target items the snapshot does not
//! have (delete). The target side is a [`TargetIndex`]; snapshot items stream past it.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Serialize;

use super::index::{key_bytes, key_digest, Found, ShortDigest, TargetIndex};
use super::read::{for_each_item, Selection};
use super::relations::key_text;
use crate::archive::limits::check_item;
use crate::archive::schema::{PrimaryKey, TableSchema};
use crate::archive::{item_hash, AttrValue, DecryptionKey, Item};
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
pub fn diff(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    schemas: &BTreeMap<String, TableSchema>,
    deletes_allowed: bool,
) -> Result<BTreeMap<String, TablePlan>> {
    let mut plans: BTreeMap<String, TablePlan> = BTreeMap::new();
    let primary_keys = primary_keys(selection.models, schemas)?;
    // Keys of snapshot items the target lacks, to catch a key given twice (the target
    // index's `seen` flag catches the others). 16 bytes each.
    let mut fresh: BTreeMap<String, HashSet<ShortDigest>> = BTreeMap::new();
    for_each_item(archive, key, selection, |model, item, at| {
        let owners = at.owners;
        let primary = &primary_keys[model];
        let refuse = |why: String| {
            let names = primary.names();
            at.bad(format!(
                "{model} item {}: {why}; DynamoDB would refuse it, so nothing was written",
                key_text(&item, &names)
            ))
        };
        check_item(&item).map_err(&refuse)?;
        check_key(&item, primary).map_err(&refuse)?;
        let key = key_bytes(&item, primary).map_err(&refuse)?;
        let plan = plans.entry(model.to_owned()).or_default();
        plan.snapshot_items += 1;
        plan.owner_rewrites += owners.rewritten + owners.pending;
        plan.owner_unknown += owners.unknown;
        // An owner whose user phase 6 creates gets a sub nobody knows yet: the item
        // changes whatever the target holds now.
        let pending = owners.pending > 0;
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{model}: {e}")))?;
        let twice = || refuse("its primary key appears earlier in the snapshot too".into());
        let found = indexes
            .get_mut(model)
            .map_or(Found::Absent, |index| index.mark(&key, &hash));
        match found {
            Found::Repeated => return Err(twice()),
            Found::Same if !pending => plan.unchanged += 1,
            Found::Same | Found::Changed => plan.update += 1,
            Found::Absent => {
                if !fresh
                    .entry(model.to_owned())
                    .or_default()
                    .insert(key_digest(&key))
                {
                    return Err(twice());
                }
                plan.put += 1;
            }
        }
        Ok(())
    })?;
    for model in selection.models {
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
fn check_key(item: &Item, key: &PrimaryKey) -> std::result::Result<(), String> {
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
