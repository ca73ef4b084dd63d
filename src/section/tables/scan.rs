//! Export of the tables section: discover the environment's tables by name
//! (`<Model>-<suffix>-NONE`), describe them, then scan each with parallel segments
//! ([`super::segments`]), a few tables ahead of the archive writer. Each segment
//! encodes its pages into archive lines and digests on its own task
//! ([`EncodedItems`]); the pages flow through bounded channels to the single writer
//! thread, so memory is bounded by the channels (a few 1 MB scan pages per table in
//! flight), whatever the table sizes. Tables are written whole and in model order, as
//! the format requires. A table exported natively (design §6) takes the same road:
//! its export's items flow into the same page channel ([`super::native::stream_table`]).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::archive::schema::TableSchema;
use crate::archive::{EncodedItems, Item};
use crate::aws::dynamodb::{DescribedTable, Dynamo};
use crate::aws::AwsError;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::write::{ArchiveSink, WriterMessage};

use super::native::NativeExports;
use super::segments::scan_all;

/// Tables being scanned at once, besides the one being written.
const TABLES_AHEAD: usize = 3;
/// Scan pages buffered per table (a page is at most 1 MB); each segment holds one more
/// while it waits to send.
const PAGES_PER_TABLE: usize = 4;

/// A table to export: its model, description, and whether it exists (an absent table
/// is recorded with its schema and no items).
pub(crate) type ScopedTable = (String, DescribedTable, bool);

/// The environment's tables, model → table name, filtered by `only`, checked against
/// `required_models`. A model named in `only` that does not exist is an error too.
///
/// With `only`, the named and required models' tables are described one by one
/// instead of listing every table of the account: ListTables pages through the
/// account's tables 100 at a time, and dynalite's reads every stored item (0.45 s at
/// 200,000 items, docs/performance.md § Segments).
pub async fn discover_tables(
    dynamo: &Dynamo,
    env: &Environment,
    only: Option<&[String]>,
) -> Result<BTreeMap<String, String>> {
    let mut found = match only {
        Some(only) => {
            let wanted = only.iter().chain(&env.required_models).cloned();
            existing_env_tables(dynamo, env, wanted).await?
        }
        None => list_env_tables(dynamo, env).await?,
    };
    let missing: Vec<&String> = env
        .required_models
        .iter()
        .filter(|m| !found.contains_key(*m))
        .collect();
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "environment `{}` lacks required models: {} (no table <Model>-{}-NONE)",
            env.name,
            join(&missing),
            env.backend_suffix
        )));
    }
    if let Some(only) = only {
        let unknown: Vec<&String> = only.iter().filter(|m| !found.contains_key(*m)).collect();
        if !unknown.is_empty() {
            return Err(Error::Usage(format!(
                "--only names models that `{}` does not have: {}",
                env.name,
                join(&unknown)
            )));
        }
        found.retain(|model, _| only.contains(model));
    }
    Ok(found)
}

/// Which of `models` have a table in the environment, model → table name, by
/// describing each (several at once). A name that is not a valid model name has none.
async fn existing_env_tables(
    dynamo: &Dynamo,
    env: &Environment,
    models: impl Iterator<Item = String>,
) -> Result<BTreeMap<String, String>> {
    let tables: BTreeMap<String, String> = models
        .filter(|model| crate::archive::layout::check_model_name(model).is_ok())
        .map(|model| {
            let table = format!("{model}-{}-NONE", env.backend_suffix);
            (model, table)
        })
        .collect();
    Ok(describe_each(dynamo, &tables)
        .await?
        .into_iter()
        .filter(|(_, _, described)| described.is_some())
        .map(|(model, table, _)| (model, table))
        .collect())
}

/// Describes each table, several at once: model, table, and its description or `None`
/// when it does not exist.
async fn describe_each(
    dynamo: &Dynamo,
    tables: &BTreeMap<String, String>,
) -> Result<Vec<(String, String, Option<DescribedTable>)>> {
    let mut tasks = tokio::task::JoinSet::new();
    for (model, table) in tables {
        let (dynamo, model, table) = (dynamo.clone(), model.clone(), table.clone());
        tasks.spawn(async move {
            let described = dynamo.describe(&table, &model).await;
            (model, table, described)
        });
    }
    let mut out = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (model, table, described) =
            joined.map_err(|e| Error::Failed(format!("describe task: {e}")))?;
        out.push((model, table, described.map_err(Error::from)?));
    }
    Ok(out)
}

/// Every table of the environment, model → table name: the tables named
/// `<Model>-<suffix>-NONE` with a valid model name. No check of `required_models`.
pub async fn list_env_tables(
    dynamo: &Dynamo,
    env: &Environment,
) -> Result<BTreeMap<String, String>> {
    let suffix = format!("-{}-NONE", env.backend_suffix);
    let mut found = BTreeMap::new();
    for name in dynamo.list_tables().await.map_err(Error::from)? {
        if let Some(model) = name.strip_suffix(&suffix) {
            if crate::archive::layout::check_model_name(model).is_ok() {
                found.insert(model.to_owned(), name.clone());
            }
        }
    }
    Ok(found)
}

/// Describes the existing tables and adds the absent ones (recorded empty), in model
/// order.
pub(crate) async fn describe_scope(
    dynamo: &Dynamo,
    tables: &BTreeMap<String, String>,
    absent: &BTreeMap<String, TableSchema>,
) -> Result<Vec<ScopedTable>> {
    let mut described: Vec<ScopedTable> = describe_all(dynamo, tables)
        .await?
        .into_iter()
        .map(|(model, table)| (model, table, true))
        .collect();
    for (model, schema) in absent {
        let table = DescribedTable {
            schema: schema.clone(),
            item_count: 0,
            size_bytes: 0,
        };
        described.push((model.clone(), table, false));
    }
    described.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(described)
}

/// Describes every table, several at once; a table gone since it was listed is an error.
pub(crate) async fn describe_all(
    dynamo: &Dynamo,
    tables: &BTreeMap<String, String>,
) -> Result<Vec<(String, DescribedTable)>> {
    let mut out = Vec::new();
    for (model, table, described) in describe_each(dynamo, tables).await? {
        match described {
            Some(d) => out.push((model, d)),
            None => {
                return Err(Error::Failed(format!(
                    "table {table} disappeared after it was listed"
                )))
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Scans tables a few ahead of the writer; forwards each table's schema and pages in
/// order. Pages come encoded (see [`EncodedItems`]), except those of the models in
/// `checked`, whose items the writer's relations check reads.
pub(crate) async fn export_tables(
    dynamo: &Dynamo,
    tables: &[ScopedTable],
    writer: &ArchiveSink,
    checked: &BTreeSet<String>,
    native: Option<&NativeExports>,
    progress: &dyn Progress,
) -> Result<()> {
    let estimate: u64 = tables.iter().map(|(_, t, _)| t.item_count).sum();
    let overall = progress.start(&format!("all {} tables", tables.len()), Some(estimate));
    let mut total = 0u64;
    let mut upcoming = tables.iter();
    let mut in_flight: VecDeque<TableScan> = VecDeque::new();
    let start = |table: &ScopedTable| {
        let keep_items = checked.contains(&table.0);
        TableScan::start(dynamo, table, keep_items, native)
    };
    for table in upcoming.by_ref().take(TABLES_AHEAD + 1) {
        in_flight.push_back(start(table));
    }
    while let Some(mut scan) = in_flight.pop_front() {
        if let Some(next) = upcoming.next() {
            in_flight.push_back(start(next));
        }
        let task = progress.start(&scan.model, Some(scan.estimate));
        writer
            .send(WriterMessage::BeginTable {
                model: scan.model.clone(),
                schema: scan.schema.to_json(),
            })
            .await?;
        let mut count = 0u64;
        while let Some(page) = scan.pages.recv().await {
            let items = page.item_count();
            count += items;
            task.advance(items);
            overall.advance(items);
            writer.send(page).await?;
        }
        let scanned = scan.finish().await?;
        if scanned != count {
            return Err(Error::Failed(format!(
                "{}: scanned {scanned} items but received {count}",
                scan.model
            )));
        }
        task.finish(&format!("{count} items"));
        total += count;
    }
    overall.finish(&format!("{total} items"));
    Ok(())
}

/// One table's parallel scan, running ahead of the writer.
struct TableScan {
    model: String,
    schema: TableSchema,
    estimate: u64,
    /// `WriterMessage::Items` or `::Encoded` pages.
    pages: mpsc::Receiver<WriterMessage>,
    segments: tokio::task::JoinSet<Result<u64>>,
}

impl TableScan {
    /// Starts the table's scan; a table that does not exist (`scan` false) yields no
    /// items; a table in `native` streams its export instead. Pages are encoded on
    /// the scan's tasks unless `keep_items`.
    fn start(
        dynamo: &Dynamo,
        (model, table, scan): &ScopedTable,
        keep_items: bool,
        native: Option<&NativeExports>,
    ) -> TableScan {
        let (tx, rx) = mpsc::channel(PAGES_PER_TABLE);
        let mut segments = tokio::task::JoinSet::new();
        let export = native.and_then(|n| n.get(model).map(|e| (n.s3.clone(), e.clone())));
        if let (Some((s3, export)), true) = (export, *scan) {
            // The export's decoder yields items; they go to the writer as they are.
            let (items_tx, mut items_rx) = mpsc::channel(PAGES_PER_TABLE);
            let name = model.clone();
            segments.spawn(async move {
                super::native::stream_table(&s3, &name, &export, items_tx).await
            });
            segments.spawn(async move {
                while let Some(items) = items_rx.recv().await {
                    if tx.send(WriterMessage::Items(items)).await.is_err() {
                        break;
                    }
                }
                Ok(0)
            });
        } else if *scan {
            let name: Arc<str> = Arc::from(table.schema.table_name.as_str());
            let (dynamo, estimate) = (dynamo.clone(), (table.size_bytes, table.item_count));
            let encode = {
                let name = Arc::clone(&name);
                move |items: Vec<Item>| page_for_writer(&name, items, keep_items)
            };
            segments.spawn(async move {
                scan_all(dynamo, name, estimate, tx, encode)
                    .await
                    .map_err(Error::from)
            });
        }
        TableScan {
            model: model.clone(),
            schema: table.schema.clone(),
            estimate: table.item_count,
            pages: rx,
            segments,
        }
    }

    async fn finish(&mut self) -> Result<u64> {
        let mut total = 0;
        while let Some(joined) = self.segments.join_next().await {
            total += joined.map_err(|e| Error::Failed(format!("scan task: {e}")))??;
        }
        Ok(total)
    }
}

/// A scanned page as the writer takes it: encoded here, or as items for the relations
/// check.
fn page_for_writer(
    table: &str,
    items: Vec<Item>,
    keep_items: bool,
) -> std::result::Result<WriterMessage, AwsError> {
    if keep_items {
        return Ok(WriterMessage::Items(items));
    }
    EncodedItems::encode(items)
        .map(WriterMessage::Encoded)
        .map_err(|e| AwsError::Invalid(format!("{table}: {e}")))
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
