//! `export <ENV>`: every table of an environment (schema and every item) into one
//! `.rtsnap` archive.
//!
//! Pipeline: tables are discovered by name (`<Model>-<suffix>-NONE`), described, then
//! scanned with parallel segments, a few tables ahead of the writer; pages of items flow
//! through bounded channels to a single writer thread that owns the archive. Memory is
//! bounded by the channels (a few 1 MB scan pages per table in flight), whatever the
//! table sizes. Tables are written whole and in model order, as the format requires.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::archive::header::{Header, SourceInfo, FORMAT_NAME, FORMAT_VERSION};
use crate::archive::schema::TableSchema;
use crate::archive::{EncryptionKey, HashingWriter, Item, Manifest, SnapshotWriter};
use crate::aws::dynamodb::{DescribedTable, Dynamo};
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::files::{check_snapshot_location, StagedFile};
use crate::progress::Progress;

/// Tables being scanned at once, besides the one being written.
const TABLES_AHEAD: usize = 3;
/// Scan pages buffered per table (a page is at most 1 MB).
const PAGES_PER_TABLE: usize = 4;
/// One segment per this many bytes of table, DynamoDB's own guidance for parallel scans.
const BYTES_PER_SEGMENT: u64 = 64 * 1024 * 1024;
const MAX_SEGMENTS: u64 = 16;

/// What to export and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only these models (`--only`).
    pub only: Option<Vec<String>>,
    /// `-o FILE`; otherwise the default name in the snapshot directory.
    pub output: Option<PathBuf>,
    pub allow_in_repo: bool,
}

/// What `export` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ExportReport {
    pub env: String,
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub sidecar: PathBuf,
    /// Model → exact item count.
    pub tables: BTreeMap<String, u64>,
    pub total_items: u64,
}

/// The environment's tables, model → table name, filtered by `only`, checked against
/// `required_models`. A model named in `only` that does not exist is an error too.
pub async fn discover_tables(
    dynamo: &Dynamo,
    env: &Environment,
    only: Option<&[String]>,
) -> Result<BTreeMap<String, String>> {
    let suffix = format!("-{}-NONE", env.backend_suffix);
    let mut found = BTreeMap::new();
    for name in dynamo.list_tables().await.map_err(aws_failed)? {
        if let Some(model) = name.strip_suffix(&suffix) {
            if crate::archive::layout::check_model_name(model).is_ok() {
                found.insert(model.to_owned(), name.clone());
            }
        }
    }
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

/// Exports an environment's tables into a new archive.
pub async fn export(
    env: &Environment,
    snapshot_dir: &Path,
    key: &EncryptionKey,
    options: &ExportOptions,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let sdk = crate::aws::sdk_config(env).await;
    let dynamo = Dynamo::new(&sdk);
    let tables = discover_tables(&dynamo, env, options.only.as_deref()).await?;
    let path = match &options.output {
        Some(path) => path.clone(),
        None => default_export_path(snapshot_dir, &env.name),
    };
    check_snapshot_location(&path, options.output.is_some(), options.allow_in_repo)?;
    let region = sdk
        .region()
        .map(|r| r.to_string())
        .or_else(|| env.region.clone())
        .unwrap_or_default();
    let scope = SnapshotScope {
        region: &region,
        tables: &tables,
        absent: &BTreeMap::new(),
    };
    write_snapshot(&dynamo, env, &scope, &path, key, progress).await
}

/// What a snapshot covers: the region for its header, existing tables (model → table
/// name), and absent tables (model → schema) to record as empty.
pub(crate) struct SnapshotScope<'a> {
    pub region: &'a str,
    pub tables: &'a BTreeMap<String, String>,
    pub absent: &'a BTreeMap<String, TableSchema>,
}

/// Writes a snapshot of `tables` (model → table name) of `env` to `path`. Used by
/// export and by import's pre-import backup. `absent` tables (model → the schema they
/// will be created with) are recorded as empty: restoring such a backup empties the
/// tables an import created, the closest state to "did not exist" that never drops a table.
pub(crate) async fn write_snapshot(
    dynamo: &Dynamo,
    env: &Environment,
    scope: &SnapshotScope<'_>,
    path: &Path,
    key: &EncryptionKey,
    progress: &dyn Progress,
) -> Result<ExportReport> {
    let (region, absent) = (scope.region, scope.absent);
    let mut described: Vec<(String, DescribedTable, bool)> = describe_all(dynamo, scope.tables)
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
    let header = Header {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now_rfc3339(),
        source: SourceInfo {
            env: env.name.clone(),
            backend_suffix: env.backend_suffix.clone(),
            region: region.to_owned(),
            user_pool_id: env.user_pool_id.clone(),
            bucket: env.bucket.clone(),
        },
        sections: vec![String::from("tables")],
    };
    let (staged, file) = StagedFile::create(path)?;
    let output = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let writer = SnapshotWriter::new(output, key, &header)?;
    let (tx, rx) = mpsc::channel::<WriterMessage>(PAGES_PER_TABLE);
    let writer_thread = std::thread::spawn(move || run_writer(writer, rx));
    let scanned = scan_tables(dynamo, &described, &tx, progress).await;
    let finished = match scanned {
        Ok(()) => tx.send(WriterMessage::Finish).await.is_ok(),
        Err(_) => false,
    };
    drop(tx);
    let written = writer_thread
        .join()
        .map_err(|_| Error::Failed("the archive writer thread panicked".into()))?;
    scanned?;
    if !finished {
        return Err(Error::Failed("the archive writer stopped early".into()));
    }
    let (output, manifest) =
        written?.ok_or_else(|| Error::Failed("the archive was not finished".into()))?;
    let done = crate::pack::commit_archive(staged, output)?;
    Ok(report(env, done, &manifest))
}

fn report(
    env: &Environment,
    done: crate::pack::CommittedArchive,
    manifest: &Manifest,
) -> ExportReport {
    let tables: BTreeMap<String, u64> = manifest
        .tables
        .iter()
        .map(|(m, t)| (m.clone(), t.items))
        .collect();
    ExportReport {
        env: env.name.clone(),
        total_items: tables.values().sum(),
        tables,
        file: done.file,
        size: done.size,
        sha256: done.sha256,
        sidecar: done.sidecar,
    }
}

async fn describe_all(
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
        match described.map_err(aws_failed)? {
            Some(d) => out.push((model, d)),
            None => {
                return Err(Error::Failed(format!(
                    "table {table} disappeared while exporting"
                )))
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

enum WriterMessage {
    Begin { model: String, schema: Vec<u8> },
    Items(Vec<Item>),
    Finish,
}

type ArchiveOutput = HashingWriter<BufWriter<File>>;

/// The writer thread: applies messages in order; returns the closed archive only on
/// `Finish`. If the channel closes first, the archive is dropped unfinished (and its
/// `.partial` file removed by the caller).
fn run_writer(
    mut writer: SnapshotWriter<ArchiveOutput>,
    mut rx: mpsc::Receiver<WriterMessage>,
) -> Result<Option<(ArchiveOutput, Manifest)>> {
    while let Some(message) = rx.blocking_recv() {
        match message {
            WriterMessage::Begin { model, schema } => writer.begin_table(&model, &schema)?,
            WriterMessage::Items(items) => {
                for item in &items {
                    writer.write_item(item)?;
                }
            }
            WriterMessage::Finish => return Ok(Some(writer.finish()?)),
        }
    }
    Ok(None)
}

/// Scans tables a few ahead of the writer; forwards each table's pages in order.
async fn scan_tables(
    dynamo: &Dynamo,
    tables: &[(String, DescribedTable, bool)],
    writer: &mpsc::Sender<WriterMessage>,
    progress: &dyn Progress,
) -> Result<()> {
    let estimate: u64 = tables.iter().map(|(_, t, _)| t.item_count).sum();
    let overall = progress.start(&format!("all {} tables", tables.len()), Some(estimate));
    let mut total = 0u64;
    let mut upcoming = tables.iter();
    let mut in_flight: VecDeque<TableScan> = VecDeque::new();
    for table in upcoming.by_ref().take(TABLES_AHEAD + 1) {
        in_flight.push_back(TableScan::start(dynamo, table));
    }
    while let Some(mut scan) = in_flight.pop_front() {
        if let Some(next) = upcoming.next() {
            in_flight.push_back(TableScan::start(dynamo, next));
        }
        let task = progress.start(&scan.model, Some(scan.estimate));
        let closed = || Error::Failed("the archive writer stopped early".into());
        writer
            .send(WriterMessage::Begin {
                model: scan.model.clone(),
                schema: scan.schema.to_json(),
            })
            .await
            .map_err(|_| closed())?;
        let mut count = 0u64;
        while let Some(page) = scan.pages.recv().await {
            count += page.len() as u64;
            task.advance(page.len() as u64);
            overall.advance(page.len() as u64);
            writer
                .send(WriterMessage::Items(page))
                .await
                .map_err(|_| closed())?;
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
    segments: tokio::task::JoinSet<std::result::Result<u64, crate::aws::AwsError>>,
}

impl TableScan {
    /// Starts the segments' scans; a table that does not exist (`scan` false) yields
    /// no items.
    fn start(dynamo: &Dynamo, (model, table, scan): &(String, DescribedTable, bool)) -> TableScan {
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
            segments.spawn(async move { dynamo.scan_segment(&name, segment, total, tx).await });
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
            total += joined
                .map_err(|e| Error::Failed(format!("scan task: {e}")))?
                .map_err(aws_failed)?;
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

/// `<dir>/<env>-<YYYY-MM-DD>.rtsnap`, or `…-HHMMSS.rtsnap` when that is taken.
pub fn default_export_path(dir: &Path, env: &str) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let date = format!(
        "{:04}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let plain = dir.join(format!("{env}-{date}.rtsnap"));
    if !plain.exists() {
        return plain;
    }
    dir.join(format!(
        "{env}-{date}-{:02}{:02}{:02}.rtsnap",
        now.hour(),
        now.minute(),
        now.second()
    ))
}

/// Now, UTC, to the second: `2025-08-12T09:30:00Z`.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

pub(crate) fn aws_failed(e: crate::aws::AwsError) -> Error {
    Error::Failed(e.to_string())
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
