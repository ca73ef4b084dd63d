//! Writing a snapshot of a live environment: the header, each section's entries in
//! layout order, `MANIFEST.json`, then the file's final name and sidecar. Used by
//! `export` and by import's pre-import backup, which is why it lives here and not in
//! either command.
//!
//! One writer thread owns the [`SnapshotWriter`]; sections send it their entries
//! through a bounded channel ([`ArchiveSink`]), so scans run ahead of the archive
//! without holding a table in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use tokio::sync::mpsc;

use crate::archive::header::{Header, SourceInfo, FORMAT_NAME, FORMAT_VERSION};
use crate::archive::schema::TableSchema;
use crate::archive::{EncodedItems, EncryptionKey, HashingWriter, Item, Manifest, SnapshotWriter};
use crate::aws::cognito::Cognito;
use crate::aws::dynamodb::Dynamo;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::files::StagedFile;
use crate::progress::Progress;
use crate::section::assets::export::{collect_assets, send_assets, AssetsScope, CollectedAssets};
use crate::section::tables::relations::{IntegrityChecker, RelationSpec};
use crate::section::users::export::{send_users, StagedUsers};
use crate::section::{tables, users};

/// Messages buffered between the sections and the writer thread (a message is at
/// most one 1 MB scan page or one staged entry).
const MESSAGES_IN_FLIGHT: usize = 4;

/// What a snapshot covers: the region for its header, existing tables (model → table
/// name), absent tables (model → schema) to record as empty, the user pool whose
/// users section to include, and the bucket whose assets to include, if any.
pub(crate) struct SnapshotScope<'a> {
    pub region: &'a str,
    pub tables: &'a BTreeMap<String, String>,
    pub absent: &'a BTreeMap<String, TableSchema>,
    pub users: Option<&'a Cognito>,
    pub assets: Option<AssetsScope<'a>>,
    /// Relations to check while the items stream to the archive (export: the
    /// configuration's; backups: none). The result goes into `MANIFEST.json`.
    pub relations: &'a [RelationSpec],
    /// Tables already exported by DynamoDB (`export --native-via`): streamed from S3
    /// instead of scanned. Backups always scan.
    pub native: Option<&'a tables::native::NativeExports>,
}

/// What was written: the file, its checksum and sidecar, and what it holds.
#[derive(Debug, Clone, Serialize)]
pub struct WrittenSnapshot {
    pub env: String,
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub sidecar: PathBuf,
    /// Model → exact item count.
    pub tables: BTreeMap<String, u64>,
    pub total_items: u64,
    /// The users section's counts, when the snapshot has one.
    pub users: Option<crate::archive::header::UsersSummary>,
    /// The assets section's counts (objects listed, blobs embedded), when it has one.
    pub assets: Option<crate::archive::header::AssetsSummary>,
    /// Referential integrity of the tables written, when relations were declared.
    pub integrity: Option<crate::archive::header::IntegritySummary>,
    /// AWS calls retried (throttling, transient failures) so far in this process.
    pub retries: crate::aws::RetryStats,
    /// With `--native-via`: the common export time, the exports and the staging area.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native: Option<tables::native::NativeSummary>,
}

/// Writes a snapshot of `env` (as `scope` says) to `path`. `absent` tables (model →
/// the schema they will be created with) are recorded as empty: restoring such a
/// backup empties the tables an import created, the closest state to "did not exist"
/// that never drops a table.
pub(crate) async fn write_snapshot(
    dynamo: &Dynamo,
    env: &Environment,
    scope: &SnapshotScope<'_>,
    path: &Path,
    key: &EncryptionKey,
    progress: &dyn Progress,
) -> Result<WrittenSnapshot> {
    let described = tables::describe_scope(dynamo, scope.tables, scope.absent).await?;
    let header = Header {
        format: FORMAT_NAME.to_owned(),
        format_version: FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: now_rfc3339(),
        source: SourceInfo {
            env: env.name.clone(),
            backend_suffix: env.backend_suffix.clone(),
            region: scope.region.to_owned(),
            user_pool_id: env.user_pool_id.clone(),
            bucket: env.bucket.clone(),
        },
        sections: sections(scope),
    };
    let (staged, file) = StagedFile::create(path)?;
    let output = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let writer = SnapshotWriter::new(output, key, &header)?;
    let (tx, rx) = mpsc::channel::<WriterMessage>(MESSAGES_IN_FLIGHT);
    let checker =
        (!scope.relations.is_empty()).then(|| IntegrityChecker::new(scope.relations.to_vec()));
    // The models whose items the checker must see one by one: the scan sends theirs
    // as items, every other model's pages come encoded.
    let checked: BTreeSet<String> = scope
        .relations
        .iter()
        .flat_map(|r| [r.from_model.clone(), r.to_model.clone()])
        .collect();
    let writer_thread = std::thread::spawn(move || run_writer(writer, rx, checker));
    let sink = ArchiveSink { tx };
    // Users and the asset manifest are read while the tables stream; their entries
    // follow the tables in the archive (and embedded asset bytes stream after users).
    let (exported, users, assets) = tokio::join!(
        tables::export_tables(dynamo, &described, &sink, &checked, scope.native, progress),
        collect_users(scope.users, progress),
        collect_assets_if(scope.assets.as_ref(), progress)
    );
    let exported = match (exported, users, assets) {
        (Ok(()), Ok(users), Ok(assets)) => {
            send_sections(users, assets, scope, &sink, progress).await
        }
        (Err(e), _, _) | (Ok(()), Err(e), _) | (Ok(()), Ok(_), Err(e)) => Err(e),
    };
    let finished = match exported {
        Ok(()) => sink.tx.send(WriterMessage::Finish).await.is_ok(),
        Err(_) => false,
    };
    drop(sink);
    let written = writer_thread
        .join()
        .map_err(|_| Error::Failed("the archive writer thread panicked".into()))?;
    // A writer that failed (disk full, an entry shorter than announced) is the root
    // cause of the sections' "writer stopped early": report its error first.
    let written = written?;
    exported?;
    if !finished {
        return Err(Error::Failed("the archive writer stopped early".into()));
    }
    let (output, manifest) =
        written.ok_or_else(|| Error::Failed("the archive was not finished".into()))?;
    let done = super::commit::commit_archive(staged, output)?;
    Ok(written_report(env, done, &manifest))
}

fn written_report(
    env: &Environment,
    done: super::commit::CommittedArchive,
    manifest: &Manifest,
) -> WrittenSnapshot {
    let tables: BTreeMap<String, u64> = manifest
        .tables
        .iter()
        .map(|(m, t)| (m.clone(), t.items))
        .collect();
    WrittenSnapshot {
        env: env.name.clone(),
        total_items: tables.values().sum(),
        tables,
        file: done.file,
        size: done.size,
        sha256: done.sha256,
        sidecar: done.sidecar,
        users: manifest.users.clone(),
        assets: manifest.assets.clone(),
        integrity: manifest.integrity.clone(),
        retries: crate::aws::retry_stats(),
        native: None,
    }
}

/// The users section, then the assets section, in layout order.
async fn send_sections(
    users: Option<StagedUsers>,
    assets: Option<CollectedAssets>,
    scope: &SnapshotScope<'_>,
    sink: &ArchiveSink,
    progress: &dyn Progress,
) -> Result<()> {
    if let Some(staged) = users {
        send_users(staged, sink).await?;
    }
    if let (Some(collected), Some(assets)) = (assets, scope.assets.as_ref()) {
        send_assets(collected, assets.s3, sink, progress).await?;
    }
    Ok(())
}

async fn collect_assets_if(
    scope: Option<&AssetsScope<'_>>,
    progress: &dyn Progress,
) -> Result<Option<CollectedAssets>> {
    match scope {
        Some(scope) => Ok(Some(collect_assets(scope, progress).await?)),
        None => Ok(None),
    }
}

/// The header's list of sections.
fn sections(scope: &SnapshotScope<'_>) -> Vec<String> {
    let mut sections = vec![String::from("tables")];
    if scope.users.is_some() {
        sections.push(String::from("users"));
    }
    if scope.assets.is_some() {
        sections.push(String::from("assets"));
    }
    sections
}

async fn collect_users(
    cognito: Option<&Cognito>,
    progress: &dyn Progress,
) -> Result<Option<StagedUsers>> {
    match cognito {
        Some(cognito) => Ok(Some(users::export::collect_users(cognito, progress).await?)),
        None => Ok(None),
    }
}

/// What a section hands the writer thread, in layout order.
pub(crate) enum WriterMessage {
    /// A table's schema; its items follow.
    BeginTable {
        model: String,
        schema: Vec<u8>,
    },
    Items(Vec<Item>),
    /// Items encoded on the scan's tasks: only for models the relations check does not
    /// need to see item by item.
    Encoded(EncodedItems),
    /// A whole entry (users documents): its path, exact size and bytes.
    Entry {
        path: String,
        size: u64,
        data: Box<dyn Read + Send>,
    },
    Finish,
}

impl WriterMessage {
    /// The items a message carries (for counts and progress).
    pub(crate) fn item_count(&self) -> u64 {
        match self {
            WriterMessage::Items(items) => items.len() as u64,
            WriterMessage::Encoded(page) => page.len(),
            _ => 0,
        }
    }
}

/// A section's handle on the archive being written.
pub(crate) struct ArchiveSink {
    tx: mpsc::Sender<WriterMessage>,
}

impl ArchiveSink {
    pub(crate) async fn send(&self, message: WriterMessage) -> Result<()> {
        self.tx
            .send(message)
            .await
            .map_err(|_| Error::Failed("the archive writer stopped early".into()))
    }
}

type ArchiveOutput = HashingWriter<BufWriter<File>>;

/// The writer thread: applies messages in order; returns the closed archive only on
/// `Finish`. If the channel closes first, the archive is dropped unfinished (and its
/// `.partial` file removed by the caller).
///
/// The integrity `checker`, if any, sees every item on its way into the archive, so
/// checking costs no second scan.
fn run_writer(
    mut writer: SnapshotWriter<ArchiveOutput>,
    mut rx: mpsc::Receiver<WriterMessage>,
    mut checker: Option<IntegrityChecker>,
) -> Result<Option<(ArchiveOutput, Manifest)>> {
    let mut model = String::new();
    while let Some(message) = rx.blocking_recv() {
        match message {
            WriterMessage::BeginTable { model: m, schema } => {
                writer.begin_table(&m, &schema)?;
                if let Some(checker) = checker.as_mut() {
                    checker.begin_model(&m, key_names(&schema));
                }
                model = m;
            }
            WriterMessage::Items(items) => {
                let checked = checker.as_mut().filter(|c| c.wants(&model));
                if let Some(checker) = checked {
                    items.iter().for_each(|item| checker.observe(&model, item));
                }
                for item in &items {
                    writer.write_item(item)?;
                }
            }
            WriterMessage::Encoded(page) => {
                if checker.as_ref().is_some_and(|c| c.wants(&model)) {
                    return Err(Error::Failed(format!(
                        "{model}: items reached the archive writer unseen by the relations check"
                    )));
                }
                writer.write_encoded(&page)?;
            }
            WriterMessage::Entry { path, size, data } => writer.add_entry(&path, size, data)?,
            WriterMessage::Finish => {
                if let Some(checker) = checker.take() {
                    writer.set_integrity(checker.finish());
                }
                return Ok(Some(writer.finish()?));
            }
        }
    }
    Ok(None)
}

/// The key attribute names of a table's `schema.json` (for naming dangling items).
fn key_names(schema: &[u8]) -> Vec<String> {
    TableSchema::from_json(schema)
        .and_then(|s| s.primary_key())
        .map(|k| k.names())
        .unwrap_or_default()
}

/// Now, UTC, to the second: `2025-08-12T09:30:00Z`.
/// Now, UTC, compact and sorting by time: `20261130T221900123Z` (milliseconds), or to
/// the nanosecond with `nanos`. For names and ids rtsnap makes itself (backups, the
/// journal), where `:` and `-` would get in the way.
pub(crate) fn compact_utc_stamp(nanos: bool) -> String {
    use time::macros::format_description;
    let now = time::OffsetDateTime::now_utc();
    let formatted = if nanos {
        now.format(format_description!(
            "[year][month][day]T[hour][minute][second][subsecond digits:9]Z"
        ))
    } else {
        now.format(format_description!(
            "[year][month][day]T[hour][minute][second][subsecond digits:3]Z"
        ))
    };
    // Formatting a UTC time with a fixed description cannot fail; an empty stamp
    // would only make a name less informative, never collide (callers add a counter).
    formatted.unwrap_or_default()
}

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
