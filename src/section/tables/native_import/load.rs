//! Loading the staged tables: one ImportTable per table (all started, then waited
//! for together), then the checks a silent partial load would fail: status
//! COMPLETED, no item in error, and the imported count equal to the items staged and
//! to the plan. Then TTL and the stream, which ImportTable cannot set.
//!
//! Ctrl-C while DynamoDB imports: rtsnap stops waiting (there is no call that
//! cancels an import), keeps the staging objects the import still reads, and says
//! so; the re-run waits for the tables to be ACTIVE and writes what still differs.

use std::collections::BTreeMap;
use std::time::Duration;

use sha2::{Digest as _, Sha256};

use super::{ImportedTable, NativeLoad, MAX_POLL};
use crate::aws::dynamodb::{ImportProgress, ImportState};
use crate::error::{Error, Result};

/// A started import.
struct Started {
    table: String,
    arn: String,
    /// Items staged for it (and planned).
    items: u64,
    /// ProcessedItemCount last seen, for the progress bar.
    processed: u64,
}

/// Starts, waits for and checks the imports of every staged model.
pub(super) async fn load(
    load: &NativeLoad<'_>,
    run_prefix: &str,
    staged: &BTreeMap<String, u64>,
) -> Result<BTreeMap<String, ImportedTable>> {
    let mut pending: BTreeMap<String, Started> = BTreeMap::new();
    for (model, plan) in load.plans {
        let items = staged.get(model).copied().unwrap_or(0);
        if items != plan.put {
            return Err(Error::Failed(format!(
                "{model}: {items} items staged for ImportTable, the plan has {}; nothing was imported",
                plan.put
            )));
        }
        let table = load.target.table_name(model);
        let prefix = format!("{run_prefix}/{model}/");
        let token = client_token(&prefix, &table);
        let started = load
            .dynamo
            .import_table(
                &table,
                &load.schemas[model],
                &load.via.via.bucket,
                &prefix,
                &token,
            )
            .await;
        let arn = started.map_err(|e| {
            let others = pending
                .values()
                .map(|s| s.arn.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let others = if others.is_empty() {
                String::new()
            } else {
                format!(" (already started, running on inside DynamoDB: {others})")
            };
            Error::Failed(format!(
                "ImportTable of {model} could not start: {e}{others}"
            ))
        })?;
        load.progress.note(&format!(
            "ImportTable of {model} into {table} started: {arn}"
        ));
        let started = Started {
            table,
            arn,
            items,
            processed: 0,
        };
        pending.insert(model.clone(), started);
    }
    let total: u64 = pending.values().map(|s| s.items).sum();
    let task = load.progress.start("ImportTable", Some(total));
    let mut done: BTreeMap<String, (Started, ImportProgress)> = BTreeMap::new();
    let mut pause = Duration::from_millis(250);
    while !pending.is_empty() {
        if load.stop.is_stopped() {
            let running: Vec<String> = pending
                .iter()
                .map(|(m, s)| format!("{m} ({})", s.arn))
                .collect();
            return Err(Error::Interrupted(format!(
                "interrupted while DynamoDB imports {}: ImportTable goes on inside DynamoDB, and its staging objects under s3://{}/{run_prefix}/ are kept for it (remove them once it is done)",
                running.join(", "),
                load.s3.bucket()
            )));
        }
        let mut finished = Vec::new();
        for (model, started) in pending.iter_mut() {
            let progress = load.dynamo.describe_import(&started.arn).await?;
            let processed = progress.processed.min(started.items);
            task.advance(processed.saturating_sub(started.processed));
            started.processed = started.processed.max(processed);
            if progress.state != ImportState::InProgress {
                task.advance(started.items.saturating_sub(started.processed));
                finished.push((model.clone(), progress));
            }
        }
        for (model, progress) in finished {
            if let Some(started) = pending.remove(&model) {
                done.insert(model, (started, progress));
            }
        }
        if !pending.is_empty() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }
    let failures: Vec<String> = done
        .iter()
        .filter_map(|(model, (started, progress))| verdict(model, started, progress))
        .collect();
    if !failures.is_empty() {
        task.finish("failed");
        return Err(Error::Failed(format!(
            "{}; the tables may exist partly loaded: re-run the same import to finish them with batch writes, or roll back",
            failures.join("; ")
        )));
    }
    for (model, (started, _)) in &done {
        let schema = &load.schemas[model];
        load.dynamo
            .finish_imported_table(&started.table, schema)
            .await?;
    }
    task.finish(&format!("{total} items imported"));
    Ok(done
        .into_iter()
        .map(|(model, (started, _))| {
            let table = ImportedTable {
                table: started.table,
                import_arn: started.arn,
                items: started.items,
            };
            (model, table)
        })
        .collect())
}

/// `None` when the import did all it should; else one clause naming the import ARN
/// (and the CloudWatch log group, when the import has one).
fn verdict(model: &str, started: &Started, progress: &ImportProgress) -> Option<String> {
    let problem = match &progress.state {
        ImportState::Failed(reason) => reason.clone(),
        _ if progress.errors > 0 => format!("{} items in error", progress.errors),
        _ if progress.imported != started.items => format!(
            "{} items imported of {} staged",
            progress.imported, started.items
        ),
        _ => return None,
    };
    let log = progress
        .log_group
        .as_ref()
        .map(|g| format!(", CloudWatch log group {g}"))
        .unwrap_or_default();
    Some(format!(
        "ImportTable of {model} into {}: {problem} (import {}{log})",
        started.table, started.arn
    ))
}

/// ImportTable's idempotency token (at most 36 characters): the same for a repeated
/// call of this run, different for every run.
fn client_token(prefix: &str, table: &str) -> String {
    let digest = Sha256::digest(format!("{prefix}\n{table}").as_bytes());
    hex::encode(&digest[..16])
}
