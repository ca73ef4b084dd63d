//! The tables plan: which snapshot items a target table lacks (put), holds in another
//! version (update), holds unchanged, and which target items the snapshot does not
//! have (delete). The target side is a [`TargetIndex`]; snapshot items stream past it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::index::{key_bytes, TargetIndex};
use super::read::{for_each_item, Selection};
use crate::archive::schema::TableSchema;
use crate::archive::{item_hash, DecryptionKey};
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
}

impl TablePlan {
    /// Items this plan writes or deletes.
    pub fn changes(&self) -> u64 {
        self.put + self.update + self.delete
    }
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
    for_each_item(archive, key, selection, |model, item, owners| {
        let plan = plans.entry(model.to_owned()).or_default();
        plan.snapshot_items += 1;
        plan.owner_rewrites += owners.rewritten + owners.pending;
        plan.owner_unknown += owners.unknown;
        // An owner whose user phase 6 creates gets a sub nobody knows yet: the item
        // changes whatever the target holds now.
        let pending = owners.pending > 0;
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{model}: {e}")))?;
        match indexes.get_mut(model) {
            Some(index) => {
                let key = key_bytes(&item, &index.key)
                    .map_err(|e| Error::Failed(format!("snapshot {model}: {e}")))?;
                match index.items.get_mut(&key) {
                    None => plan.put += 1,
                    Some((h, seen)) => {
                        *seen = true;
                        if *h == hash && !pending {
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
