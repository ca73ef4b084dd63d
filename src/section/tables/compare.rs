//! The tables part of `verify <FILE> --against <ENV>`: does a live environment hold
//! exactly the snapshot's items? Content, not counts: every snapshot item is looked up
//! by primary key in the target and compared by canonical hash, and target items the
//! snapshot lacks are counted too. Differing keys are listed (a sample per kind), so an
//! operator sees what differs, not only that something does. Reads only.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::index::{index_target, key_bytes, Found, TargetIndex};
use super::read::{for_each_item, Selection};
use crate::archive::{item_hash, DecryptionKey};
use crate::aws::dynamodb::Dynamo;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::section::owner::OwnerRewrite;
use crate::snapshot::VerifiedContents;

/// Keys listed per kind of difference and table; the counts are always complete.
pub const SAMPLE_KEYS: usize = 20;

/// The comparison of one table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableComparison {
    pub table: String,
    /// `match`, `differs`, `missing table` or `key schema differs`.
    pub status: String,
    pub snapshot_items: u64,
    pub target_items: u64,
    /// Snapshot items the target lacks.
    pub missing: u64,
    /// Items the target holds in another version.
    pub different: u64,
    /// Target items the snapshot lacks.
    pub extra: u64,
    /// Primary keys (DynamoDB JSON), at most [`SAMPLE_KEYS`] per kind.
    pub missing_keys: Vec<String>,
    pub different_keys: Vec<String>,
    pub extra_keys: Vec<String>,
}

/// Compares the snapshot's tables with the environment's, model by model, owner
/// fields rewritten as `owners` says (when the environment's users have other subs).
pub async fn compare_tables(
    dynamo: &Dynamo,
    snapshot: &Path,
    key: &DecryptionKey,
    verified: &VerifiedContents,
    env: &Environment,
    owners: Option<&OwnerRewrite>,
) -> Result<BTreeMap<String, TableComparison>> {
    let models: Vec<String> = verified.manifest.tables.keys().cloned().collect();
    let mut tables = BTreeMap::new();
    let mut indexes: BTreeMap<String, TargetIndex> = BTreeMap::new();
    for model in &models {
        let table = env.table_name(model);
        let mut comparison = TableComparison {
            table: table.clone(),
            snapshot_items: verified.manifest.tables[model].items,
            ..Default::default()
        };
        let want = verified.schemas[model]
            .primary_key()
            .map_err(Error::Failed)?;
        match dynamo.describe(&table, model).await? {
            None => comparison.status = "missing table".into(),
            Some(described) => {
                let have = described.schema.primary_key().map_err(Error::Failed)?;
                if have != want {
                    comparison.status = "key schema differs".into();
                } else {
                    // At least the snapshot's count: DescribeTable's figures lag by hours.
                    let items = described.item_count.max(comparison.snapshot_items);
                    let estimate = (described.size_bytes, items);
                    let index = index_target(dynamo, &table, have, estimate).await?;
                    comparison.target_items = index.len() as u64;
                    indexes.insert(model.clone(), index);
                }
            }
        }
        tables.insert(model.clone(), comparison);
    }
    let selection = Selection {
        models: &models,
        limit: None,
        pick: None,
        owners,
    };
    compare_items(snapshot, key, selection, &mut indexes, &mut tables)?;
    for (model, index) in &indexes {
        if let Some(comparison) = tables.get_mut(model) {
            note_extra(dynamo, index, comparison).await?;
        }
    }
    Ok(tables)
}

/// Counts the target items the snapshot lacks and, when there are any, scans the table
/// again for a sample of their keys (the index keeps none); then says whether the table
/// matches.
async fn note_extra(
    dynamo: &Dynamo,
    index: &TargetIndex,
    comparison: &mut TableComparison,
) -> Result<()> {
    comparison.extra = index.unseen();
    if comparison.extra > 0 {
        let (tx, mut pages) = tokio::sync::mpsc::channel(2);
        let scan = index.unseen_pages(dynamo, tx);
        let sample = async {
            let mut keys = Vec::new();
            while let Some(page) = pages.recv().await {
                for key in page {
                    if keys.len() < SAMPLE_KEYS {
                        let text = key_bytes(&key, &index.key).map_err(Error::Failed)?;
                        keys.push(String::from_utf8_lossy(&text).into_owned());
                    }
                }
            }
            Ok::<_, Error>(keys)
        };
        let (scanned, sampled) = tokio::join!(scan, sample);
        scanned?;
        comparison.extra_keys = sampled?;
        comparison.extra_keys.sort();
    }
    let clean = comparison.missing + comparison.different + comparison.extra == 0;
    comparison.status = if clean { "match" } else { "differs" }.into();
    Ok(())
}

/// One pass over the snapshot's items against the target indexes.
fn compare_items(
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    indexes: &mut BTreeMap<String, TargetIndex>,
    tables: &mut BTreeMap<String, TableComparison>,
) -> Result<()> {
    for_each_item(snapshot, key, selection, |model, item, _| {
        let Some(index) = indexes.get_mut(model) else {
            return Ok(());
        };
        let comparison = tables
            .get_mut(model)
            .ok_or_else(|| Error::Failed(format!("unknown model {model}")))?;
        let k = key_bytes(&item, &index.key)
            .map_err(|e| Error::Failed(format!("snapshot {model}: {e}")))?;
        let hash = item_hash(&item).map_err(|e| Error::Failed(e.to_string()))?;
        match index.mark(&k, &hash)? {
            Found::Absent => note(&mut comparison.missing, &mut comparison.missing_keys, &k),
            // A key the snapshot gives twice (import refuses such a snapshot in its
            // plan) cannot equal the target's one item of that key either.
            Found::Changed | Found::Repeated => note(
                &mut comparison.different,
                &mut comparison.different_keys,
                &k,
            ),
            Found::Same => {}
        }
        Ok(())
    })
}

fn note(count: &mut u64, keys: &mut Vec<String>, key: &[u8]) {
    *count += 1;
    if keys.len() < SAMPLE_KEYS {
        keys.push(String::from_utf8_lossy(key).into_owned());
    }
}
