//! Export of the tables section: discover the environment's tables by name
//! (`<Model>-<suffix>-NONE`), describe them, then scan each with parallel segments, a
//! few tables ahead of the archive writer. Pages of items flow through bounded channels
//! to the writer, so memory is bounded by the channels (a few 1 MB scan pages per
//! table in flight), whatever the table sizes. Tables are written whole and in model
//! order, as the format requires. A table exported natively (design §6) takes the
//! same road: its export's items flow into the same page channel
//! ([`super::native::stream_table`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::archive::schema::TableSchema;
use crate::archive::Item;
use crate::aws::dynamodb::{DescribedTable, Dynamo};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::write::{ArchiveSink, WriterMessage};

use super::native::NativeExports;

/// Tables being scanned at once, besides the one being written.
const TABLES_AHEAD: usize = 3;
/// Scan pages buffered per table (a page is at most 1 MB).
const PAGES_PER_TABLE: usize = 4;
/// One segment per this many bytes of table, DynamoDB's own guidance for parallel scans.
const BYTES_PER_SEGMENT: u64 = 64 * 1024 * 1024;
const MAX_SEGMENTS: u64 = 16;

/// A table to export: its model, description, and whether it exists (an absent table
/// is recorded with its schema and no items).
pub(crate) type ScopedTable = (String, DescribedTable, bool);

/// The environment's tables, model → table name, filtered by `only`, checked against
/// `required_models`. A model named in `only` that does not exist is an error too.
pub async fn discover_tables(
    dynamo: &Dynamo,
    env: &Environment,
    only: Option<&[String]>,
) -> Result<BTreeMap<String, String>> {
    let mut found = list_env_tables(dynamo, env).await?;
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
        match described.map_err(Error::from)? {
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
/// order.
pub(crate) async fn export_tables(
    dynamo: &Dynamo,
    tables: &[ScopedTable],
    writer: &ArchiveSink,
    native: Option<&NativeExports>,
    progress: &dyn Progress,
) -> Result<()> {
    let estimate: u64 = tables.iter().map(|(_, t, _)| t.item_count).sum();
    let overall = progress.start(&format!("all {} tables", tables.len()), Some(estimate));
    let mut total = 0u64;
    let mut upcoming = tables.iter();
    let mut in_flight: VecDeque<TableScan> = VecDeque::new();
    for table in upcoming.by_ref().take(TABLES_AHEAD + 1) {
        in_flight.push_back(TableScan::start(dynamo, table, native));
    }
    while let Some(mut scan) = in_flight.pop_front() {
        if let Some(next) = upcoming.next() {
            in_flight.push_back(TableScan::start(dynamo, next, native));
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
            count += page.len() as u64;
            task.advance(page.len() as u64);
            overall.advance(page.len() as u64);
            writer.send(WriterMessage::Items(page)).await?;
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
    pages: mpsc::Receiver<Vec<Item>>,
    segments: tokio::task::JoinSet<Result<u64>>,
}

impl TableScan {
    /// Starts the segments' scans; a table that does not exist (`scan` false) yields
    /// no items; a table in `native` streams its export instead.
    fn start(
        dynamo: &Dynamo,
        (model, table, scan): &ScopedTable,
        native: Option<&NativeExports>,
    ) -> TableScan {
        let export = native.and_then(|n| n.get(model).map(|e| (n.s3.clone(), e.clone())));
        if let (Some((s3, export)), true) = (export, *scan) {
            let (tx, rx) = mpsc::channel(PAGES_PER_TABLE);
            let mut segments = tokio::task::JoinSet::new();
            let name = model.clone();
            segments
                .spawn(async move { super::native::stream_table(&s3, &name, &export, tx).await });
            return TableScan {
                model: model.clone(),
                schema: table.schema.clone(),
                estimate: table.item_count,
                pages: rx,
                segments,
            };
        }
        let total = if *scan {
            segments_for(table.size_bytes, table.item_count)
        } else {
            0
        };
        let (tx, rx) = mpsc::channel(PAGES_PER_TABLE.max(total as usize));
        let mut segments = tokio::task::JoinSet::new();
        let name: Arc<str> = Arc::from(table.schema.table_name.as_str());
        for segment in 0..total {
            let (dynamo, tx, name) = (dynamo.clone(), tx.clone(), Arc::clone(&name));
            segments.spawn(async move {
                dynamo
                    .scan_segment(&name, segment, total, tx)
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

/// One segment per 64 MB, at least 4 for a table with more than a page or two of items,
/// at most 16.
pub fn segments_for(size_bytes: u64, item_count: u64) -> i32 {
    let by_size = size_bytes.div_ceil(BYTES_PER_SEGMENT);
    let floor = if size_bytes > 2 * 1024 * 1024 || item_count > 2_000 {
        4
    } else {
        1
    };
    by_size.max(floor).min(MAX_SEGMENTS) as i32
}

fn join(items: &[&String]) -> String {
    items
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_grow_with_size_within_bounds() {
        assert_eq!(segments_for(0, 0), 1);
        assert_eq!(segments_for(500_000, 300), 1);
        assert_eq!(segments_for(3 * 1024 * 1024, 10), 4);
        assert_eq!(segments_for(0, 5_000), 4);
        assert_eq!(segments_for(640 * 1024 * 1024, 0), 10);
        assert_eq!(segments_for(u64::MAX / 2, 0), 16);
    }
}
