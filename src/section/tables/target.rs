//! The tables section against a target: check its tables (import phase 2), index them
//! for the plan (phase 3), and verify them after writing (phase 7).

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::StreamExt as _;

use crate::archive::schema::TableSchema;
use crate::archive::DecryptionKey;
use crate::aws::dynamodb::{DescribedTable, Dynamo};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::snapshot::VerifiedContents;

use super::compatible::{check_schema, KeylessSchema};
use super::index::{digest_target, index_target, TargetIndex};
use super::plan::diff;
use super::read::{for_each_item, Selection};
use crate::archive::header::TableSummary;
use crate::archive::{item_hash, TableDigest};
use crate::progress::Progress;

/// A selected model's target table: its name and, when it exists, its size figures
/// (bytes, items) for the scan's segment count: DescribeTable's, but at least the
/// snapshot's item count, since a target usually holds about what its snapshot does
/// and DescribeTable's figures lag by hours (see [`super::segments`]).
pub struct TargetTable {
    pub table: String,
    pub schema: TableSchema,
    pub exists: Option<(u64, u64)>,
}

/// Phase 2: every table exists and can take the snapshot's items (the same primary key,
/// no indexed attribute of another type: [`check_schema`]), or will be created.
pub async fn check_target(
    dynamo: &Dynamo,
    target: &Environment,
    models: &[String],
    verified: &VerifiedContents,
    create_missing: bool,
) -> Result<BTreeMap<String, TargetTable>> {
    let schemas = &verified.schemas;
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for model in models {
        let table = target.table_name(model);
        let snapshot_schema = &schemas[model];
        let keyless = |e| Error::Failed(format!("snapshot schema of {model}: {e}"));
        snapshot_schema.primary_key().map_err(keyless)?;
        match dynamo.describe(&table, model).await.map_err(Error::from)? {
            Some(described) => {
                let check =
                    check_schema(&table, snapshot_schema, "the snapshot", &described.schema)
                        .map_err(|e| match e {
                            KeylessSchema::Source(e) => keyless(e),
                            KeylessSchema::Target(e) => Error::Failed(format!("{table}: {e}")),
                        })?;
                problems.extend(check.refusals);
                let exists = Some(size_hint(&described, verified, model));
                out.insert(
                    model.clone(),
                    TargetTable {
                        table,
                        schema: described.schema,
                        exists,
                    },
                );
            }
            None if create_missing => {
                problems.extend(super::creatable::creatable_problems(
                    &table,
                    snapshot_schema,
                ));
                out.insert(
                    model.clone(),
                    TargetTable {
                        table,
                        schema: snapshot_schema.clone(),
                        exists: None,
                    },
                );
            }
            None => problems.push(format!(
                "{table} does not exist (--create-missing creates it)"
            )),
        }
    }
    if !problems.is_empty() {
        return Err(Error::Refused(format!(
            "target `{}` does not match the snapshot: {}",
            target.name,
            problems.join("; ")
        )));
    }
    Ok(out)
}

/// A described target table's size figures, the item count raised to the snapshot's.
fn size_hint(described: &DescribedTable, verified: &VerifiedContents, model: &str) -> (u64, u64) {
    let snapshot_items = verified.manifest.tables.get(model).map_or(0, |t| t.items);
    let items = described.item_count.max(snapshot_items);
    (described.size_bytes, items)
}

/// Tables indexed at once: an Amplify app has dozens of mostly small tables, and one
/// by one each would cost its round trips in turn.
const TABLES_AT_ONCE: usize = 4;

/// Phase 3, the target side: an index of every existing target table, a few tables
/// at once.
pub async fn index_targets(
    dynamo: &Dynamo,
    targets: &BTreeMap<String, TargetTable>,
    progress: &dyn Progress,
) -> Result<BTreeMap<String, TargetIndex>> {
    let scans = futures_util::stream::iter(targets.iter().filter_map(|(model, target)| {
        let estimate = target.exists?;
        Some(async move {
            let key = target.schema.primary_key().map_err(Error::Failed)?;
            let task = progress.start(&format!("scan {model}"), Some(estimate.1));
            let index = index_target(dynamo, &target.table, key, estimate).await?;
            task.finish(&format!("{} items", index.len()));
            Ok::<_, Error>((model.clone(), index))
        })
    }));
    let indexed: Vec<Result<(String, TargetIndex)>> =
        scans.buffer_unordered(TABLES_AT_ONCE).collect().await;
    indexed.into_iter().collect()
}

/// Phase 7: rescans the target. Exact mode: the content digest and item count of
/// every table equal the manifest's; the scan keeps only a running count and digest,
/// no state per item. Merge/sample: re-plans against an index of the target, so that
/// no snapshot item is missing or different.
pub async fn verify_target(
    dynamo: &Dynamo,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    verified: &VerifiedContents,
    target: &Environment,
    partial: bool,
) -> Result<BTreeMap<String, String>> {
    let mut described = BTreeMap::new();
    for model in selection.models {
        let table = target.table_name(model);
        let found = dynamo
            .describe(&table, model)
            .await
            .map_err(Error::from)?
            .ok_or_else(|| Error::Failed(format!("{table} is missing after the import")))?;
        described.insert(model.clone(), (table, found));
    }
    let mut out = BTreeMap::new();
    if partial {
        let mut indexes = BTreeMap::new();
        for (model, (table, found)) in described {
            let primary = found.schema.primary_key().map_err(Error::Failed)?;
            let estimate = size_hint(&found, verified, &model);
            let index = index_target(dynamo, &table, primary, estimate).await?;
            indexes.insert(model, index);
        }
        let plans = diff(
            snapshot,
            key,
            selection,
            &mut indexes,
            &verified.schemas,
            false,
        )?;
        for (model, plan) in plans {
            let verdict = if plan.put + plan.update == 0 {
                format!(
                    "all snapshot items present ({} checked)",
                    plan.snapshot_items
                )
            } else {
                format!(
                    "{} snapshot items missing or different",
                    plan.put + plan.update
                )
            };
            out.insert(model, verdict);
        }
        return Ok(out);
    }
    let expected = expected_digests(snapshot, key, selection, verified)?;
    for (model, (table, found)) in &described {
        let estimate = size_hint(found, verified, model);
        let (count, digest) = digest_target(dynamo, table, estimate).await?;
        out.insert(model.clone(), verdict(count, &digest, &expected[model]));
    }
    Ok(out)
}

/// Phase 7 of an exact import that wrote nothing: the plan's scan already gave each
/// table's item count and content digest, and the import has not changed the target
/// since, so the check of [`verify_target`] is made on those figures instead of a
/// second scan (a re-import of an unchanged snapshot reads each table once, not twice).
pub fn verify_unwritten(
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    verified: &VerifiedContents,
    indexes: &BTreeMap<String, TargetIndex>,
) -> Result<BTreeMap<String, String>> {
    let expected = expected_digests(snapshot, key, selection, verified)?;
    selection
        .models
        .iter()
        .map(|model| {
            let index = indexes.get(model).ok_or_else(|| {
                Error::Failed(format!("{model}: no scan of the target table to verify"))
            })?;
            let count = index.len() as u64;
            Ok((
                model.clone(),
                verdict(count, &index.digest, &expected[model]),
            ))
        })
        .collect()
}

/// The verdict on a table holding `count` items of content digest `digest`.
fn verdict(count: u64, digest: &TableDigest, expected: &TableSummary) -> String {
    let digest = digest.to_hex();
    if digest == expected.digest && count == expected.items {
        String::from("match")
    } else {
        format!(
            "target holds {count} items with digest {digest}, snapshot {} with {}",
            expected.items, expected.digest
        )
    }
}

/// Each table's item count and content digest as the target should now hold them:
/// the manifest's, or, when owner fields were rewritten to new subs, recomputed from
/// the snapshot's items after the same rewrite (one more streaming pass).
fn expected_digests(
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    verified: &VerifiedContents,
) -> Result<BTreeMap<String, TableSummary>> {
    let rewritten = selection.owners.is_some_and(|o| !o.is_identity());
    if !rewritten {
        return Ok(verified.manifest.tables.clone());
    }
    let mut digests: BTreeMap<String, (u64, TableDigest)> = BTreeMap::new();
    for_each_item(snapshot, key, selection, |model, item, _| {
        let hash = item_hash(&item).map_err(|e| Error::Failed(format!("{model}: {e}")))?;
        let entry = digests.entry(model.to_owned()).or_default();
        entry.0 += 1;
        entry.1.add_hash(&hash);
        Ok(())
    })?;
    Ok(selection
        .models
        .iter()
        .map(|model| {
            let (items, digest) = digests.remove(model).unwrap_or_default();
            let summary = TableSummary {
                items,
                chunks: 0,
                digest: digest.to_hex(),
            };
            (model.clone(), summary)
        })
        .collect())
}
