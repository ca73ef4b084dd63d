//! `import <FILE> --target <ENV>` and `rollback <ENV>`: restore a snapshot's tables into
//! an environment, in the phases of design §5. Nothing reaches the target before phase
//! 6; only the backup file is written before it, in phase 5.
//!
//! 1 verify the whole archive · 2 check the target tables · 3 plan (diff by primary
//! key) · 4 confirm · 5 back up the target · 6 write · 7 verify the target.
//!
//! Re-running an import is always safe: the diff writes only what differs, so an
//! interrupted import followed by a re-run ends exactly equal to the snapshot.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::schema::TableSchema;
use crate::archive::{DecryptionKey, EncryptionKey, EntryKind, Header, Manifest, SnapshotReader};
use crate::aws::dynamodb::Dynamo;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::export::{aws_failed, write_snapshot};
use crate::plan::{diff, index_target, Selection, TablePlan, TargetIndex};
use crate::progress::Progress;

mod write;

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    /// Keep target items the snapshot lacks.
    pub merge: bool,
    pub only: Option<Vec<String>>,
    /// The first N items per model; implies no deletes.
    pub limit: Option<u64>,
    pub create_missing: bool,
    pub no_backup: bool,
    /// `--confirm <ENV>`.
    pub confirm: Option<String>,
    pub yes: bool,
    /// Backup file prefix: `pre-import` (import) or `pre-rollback` (rollback).
    pub backup_label: &'static str,
}

/// Asks the operator; only given when a terminal is attached.
pub trait Prompt {
    /// "Type the environment name to continue": the text typed.
    fn type_name(&self, question: &str) -> Option<String>;
    /// A y/N question.
    fn yes_no(&self, question: &str) -> bool;
}

/// Where the key material and the snapshot directory come from.
pub struct ImportContext<'a> {
    pub decrypt: &'a DecryptionKey,
    /// For the pre-import backup.
    pub encrypt: &'a EncryptionKey,
    pub snapshot_dir: &'a Path,
    pub progress: &'a dyn Progress,
    pub prompt: Option<&'a dyn Prompt>,
}

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub snapshot: PathBuf,
    pub source_env: String,
    pub target: String,
    pub dry_run: bool,
    /// `exact`, `merge` or `sample`.
    pub mode: &'static str,
    pub tables: BTreeMap<String, TablePlan>,
    /// Snapshot sections this version does not restore (said plainly, never skipped silently).
    pub sections_not_restored: Vec<String>,
    pub backup: Option<PathBuf>,
    pub rollback_command: Option<String>,
    pub written: u64,
    pub deleted: u64,
    pub created_tables: Vec<String>,
    /// Per table: `match`, or what differs.
    pub verification: BTreeMap<String, String>,
}

impl ImportReport {
    pub fn total_changes(&self) -> u64 {
        self.tables.values().map(TablePlan::changes).sum()
    }
}

/// Runs an import.
pub async fn import(
    snapshot: &Path,
    target: &Environment,
    options: &ImportOptions,
    ctx: &ImportContext<'_>,
) -> Result<ImportReport> {
    let progress = ctx.progress;
    progress.note("phase 1/7: verifying the whole archive");
    let verified = verify_and_read_schemas(snapshot, ctx.decrypt)?;
    let models = select_models(&verified.manifest, options.only.as_deref())?;

    progress.note("phase 2/7: checking the target tables");
    let sdk = crate::aws::sdk_config(target).await;
    let dynamo = Dynamo::new(&sdk);
    let targets = check_target(
        &dynamo,
        target,
        &models,
        &verified.schemas,
        options.create_missing,
    )
    .await?;

    progress.note("phase 3/7: planning (diff by primary key)");
    let mut indexes = index_targets(&dynamo, &targets, progress).await?;
    let selection = Selection {
        models: &models,
        limit: options.limit,
    };
    let deletes_allowed = !options.merge && options.limit.is_none();
    let mut plans = {
        let (path, key, schemas) = (snapshot, ctx.decrypt, &verified.schemas);
        diff(path, key, selection, &mut indexes, schemas, deletes_allowed)?
    };
    for (model, plan) in plans.iter_mut() {
        plan.table = target.table_name(model);
    }
    let mut report = ImportReport {
        snapshot: snapshot.to_path_buf(),
        source_env: verified.header.source.env.clone(),
        target: target.name.clone(),
        dry_run: options.dry_run,
        mode: if options.limit.is_some() {
            "sample"
        } else if options.merge {
            "merge"
        } else {
            "exact"
        },
        tables: plans,
        sections_not_restored: verified
            .header
            .sections
            .iter()
            .filter(|s| s.as_str() != "tables")
            .cloned()
            .collect(),
        backup: None,
        rollback_command: None,
        written: 0,
        deleted: 0,
        created_tables: Vec::new(),
        verification: BTreeMap::new(),
    };
    if options.dry_run {
        return Ok(report);
    }

    progress.note("phase 4/7: confirmation");
    confirm(target, options, ctx.prompt, &report)?;

    let has_changes = report.total_changes() > 0 || report.tables.values().any(|p| p.create);
    if has_changes {
        progress.note("phase 5/7: backing up the target");
        report.backup = backup(&dynamo, target, &sdk, &targets, options, ctx).await?;
        report.rollback_command = report.backup.as_ref().map(|b| {
            format!(
                "rtsnap import {} --target {} --confirm {}",
                b.display(),
                target.name,
                target.name
            )
        });
        progress.note("phase 6/7: writing");
        let outcome = write::apply(
            &dynamo,
            snapshot,
            ctx.decrypt,
            selection,
            &mut indexes,
            &verified.schemas,
            target,
            &report.tables,
            deletes_allowed,
            progress,
        )
        .await;
        match outcome {
            Ok(done) => {
                report.written = done.written;
                report.deleted = done.deleted;
                report.created_tables = done.created;
            }
            Err(e) => return Err(e),
        }
    } else {
        progress
            .note("nothing to change: the target already equals the snapshot (no backup taken)");
    }

    progress.note("phase 7/7: verifying the target");
    report.verification = verify_target(
        &dynamo,
        snapshot,
        ctx.decrypt,
        selection,
        &verified,
        target,
        options.merge || options.limit.is_some(),
    )
    .await?;
    let failed: Vec<String> = report
        .verification
        .iter()
        .filter(|(_, v)| v.as_str() != "match" && !v.starts_with("all snapshot items present"))
        .map(|(m, v)| format!("{m}: {v}"))
        .collect();
    if !failed.is_empty() {
        return Err(Error::Failed(format!(
            "the target does not equal the snapshot after writing ({}); re-run the import to finish",
            failed.join("; ")
        )));
    }
    Ok(report)
}

/// The header, manifest and every table schema, after a full verifying pass.
pub struct VerifiedWithSchemas {
    pub header: Header,
    pub manifest: Manifest,
    pub schemas: BTreeMap<String, TableSchema>,
}

/// Phase 1.
pub fn verify_and_read_schemas(
    snapshot: &Path,
    key: &DecryptionKey,
) -> Result<VerifiedWithSchemas> {
    let file =
        File::open(snapshot).map_err(Error::io(format!("opening {}", snapshot.display())))?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut schemas = BTreeMap::new();
    let verified = reader.read_all(|_, entry| {
        if let EntryKind::TableSchema { model } = entry.kind {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(entry.data, &mut bytes).map_err(
                crate::archive::ArchiveError::io(format!("reading {}", entry.path)),
            )?;
            let schema = TableSchema::from_json(&bytes).map_err(|e| {
                crate::archive::ArchiveError::Corrupt(format!("{}: {e}", entry.path))
            })?;
            schemas.insert(model.clone(), schema);
        }
        Ok(())
    })?;
    Ok(VerifiedWithSchemas {
        header: verified.header,
        manifest: verified.manifest,
        schemas,
    })
}

fn select_models(manifest: &Manifest, only: Option<&[String]>) -> Result<Vec<String>> {
    let all: Vec<String> = manifest.tables.keys().cloned().collect();
    let Some(only) = only else {
        return Ok(all);
    };
    let unknown: Vec<&str> = only
        .iter()
        .filter(|m| !all.contains(m))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::Usage(format!(
            "--only names models the snapshot does not have: {}",
            unknown.join(", ")
        )));
    }
    Ok(all.into_iter().filter(|m| only.contains(m)).collect())
}

/// A selected model's target table: its name and, when it exists, its size figures.
struct TargetTable {
    table: String,
    schema: TableSchema,
    exists: Option<(u64, u64)>,
}

/// Phase 2: every table exists with the snapshot's key schema, or will be created.
async fn check_target(
    dynamo: &Dynamo,
    target: &Environment,
    models: &[String],
    schemas: &BTreeMap<String, TableSchema>,
    create_missing: bool,
) -> Result<BTreeMap<String, TargetTable>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for model in models {
        let table = target.table_name(model);
        let snapshot_schema = &schemas[model];
        let want = snapshot_schema
            .primary_key()
            .map_err(|e| Error::Failed(format!("snapshot schema of {model}: {e}")))?;
        match dynamo.describe(&table, model).await.map_err(aws_failed)? {
            Some(described) => {
                let have = described
                    .schema
                    .primary_key()
                    .map_err(|e| Error::Failed(format!("{table}: {e}")))?;
                if have != want {
                    problems.push(format!("{table} has key {have}, the snapshot has {want}"));
                }
                out.insert(
                    model.clone(),
                    TargetTable {
                        table,
                        schema: described.schema,
                        exists: Some((described.size_bytes, described.item_count)),
                    },
                );
            }
            None if create_missing => {
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

async fn index_targets(
    dynamo: &Dynamo,
    targets: &BTreeMap<String, TargetTable>,
    progress: &dyn Progress,
) -> Result<BTreeMap<String, TargetIndex>> {
    let mut indexes = BTreeMap::new();
    for (model, target) in targets {
        let Some(estimate) = target.exists else {
            continue;
        };
        let key = target.schema.primary_key().map_err(Error::Failed)?;
        let task = progress.start(&format!("scan {model}"), Some(estimate.1));
        let index = index_target(dynamo, &target.table, key, estimate).await?;
        task.finish(&format!("{} items", index.items.len()));
        indexes.insert(model.clone(), index);
    }
    Ok(indexes)
}

/// Phase 4.
fn confirm(
    target: &Environment,
    options: &ImportOptions,
    prompt: Option<&dyn Prompt>,
    report: &ImportReport,
) -> Result<()> {
    let name = &target.name;
    if let Some(given) = &options.confirm {
        if given != name {
            return Err(Error::Refused(format!(
                "--confirm {given} does not match the target environment `{name}`"
            )));
        }
        return Ok(());
    }
    let summary = format!(
        "import {} into `{name}`: {} items to write or delete in {} tables",
        report.snapshot.display(),
        report.total_changes(),
        report.tables.len()
    );
    if target.protected {
        let Some(prompt) = prompt else {
            return Err(Error::Refused(format!(
                "`{name}` is protected: pass --confirm {name} (no terminal to ask on; nothing was written)"
            )));
        };
        let typed = prompt.type_name(&format!(
            "{summary}\n`{name}` is protected. Type its name to continue: "
        ));
        if typed.as_deref().map(str::trim) != Some(name.as_str()) {
            return Err(Error::Refused(format!(
                "confirmation for `{name}` not given; nothing was written"
            )));
        }
        return Ok(());
    }
    if options.yes {
        return Ok(());
    }
    match prompt {
        Some(prompt) if !prompt.yes_no(&format!("{summary}. Continue? [y/N] ")) => {
            Err(Error::Refused("cancelled; nothing was written".into()))
        }
        _ => Ok(()),
    }
}

/// Phase 5: exports the existing target tables the import touches.
async fn backup(
    dynamo: &Dynamo,
    target: &Environment,
    sdk: &aws_config::SdkConfig,
    targets: &BTreeMap<String, TargetTable>,
    options: &ImportOptions,
    ctx: &ImportContext<'_>,
) -> Result<Option<PathBuf>> {
    if options.no_backup {
        if target.protected {
            return Err(Error::Refused(format!(
                "--no-backup is not allowed for the protected environment `{}`",
                target.name
            )));
        }
        ctx.progress.note("no backup (--no-backup)");
        return Ok(None);
    }
    let existing: BTreeMap<String, String> = targets
        .iter()
        .filter(|(_, t)| t.exists.is_some())
        .map(|(m, t)| (m.clone(), t.table.clone()))
        .collect();
    let absent: BTreeMap<String, TableSchema> = targets
        .iter()
        .filter(|(_, t)| t.exists.is_none())
        .map(|(m, t)| {
            let mut schema = t.schema.clone();
            schema.table_name = t.table.clone();
            (m.clone(), schema)
        })
        .collect();
    let path = backup_path(ctx.snapshot_dir, &target.name, options.backup_label);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let scope = crate::export::SnapshotScope {
        region: &region,
        tables: &existing,
        absent: &absent,
    };
    let report = write_snapshot(dynamo, target, &scope, &path, ctx.encrypt, ctx.progress).await?;
    ctx.progress.note(&format!(
        "backup written: {} ({} items)",
        report.file.display(),
        report.total_items
    ));
    Ok(Some(report.file))
}

/// `<dir>/<env>-pre-import-<YYYYMMDDTHHMMSSmmmZ>.rtsnap`: to the millisecond, with a
/// zero-padded counter in the rare case that is taken, so that names sort by time
/// (see [`latest_backup`]).
fn backup_path(dir: &Path, env: &str, label: &str) -> PathBuf {
    let now = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}{:03}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.millisecond()
    );
    let mut path = dir.join(format!("{env}-{label}-{stamp}.rtsnap"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{env}-{label}-{stamp}-{n:03}.rtsnap"));
    }
    path
}

/// Phase 7: rescans the target and re-plans. Exact mode: the content digest and item
/// count of every table equal the manifest's. Merge/sample: no snapshot item is missing
/// or different.
async fn verify_target(
    dynamo: &Dynamo,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    verified: &VerifiedWithSchemas,
    target: &Environment,
    partial: bool,
) -> Result<BTreeMap<String, String>> {
    let mut indexes = BTreeMap::new();
    for model in selection.models {
        let table = target.table_name(model);
        let described = dynamo
            .describe(&table, model)
            .await
            .map_err(aws_failed)?
            .ok_or_else(|| Error::Failed(format!("{table} is missing after the import")))?;
        let primary = described.schema.primary_key().map_err(Error::Failed)?;
        let index = index_target(
            dynamo,
            &table,
            primary,
            (described.size_bytes, described.item_count),
        )
        .await?;
        indexes.insert(model.clone(), index);
    }
    let mut out = BTreeMap::new();
    if partial {
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
    for (model, index) in &indexes {
        let expected = &verified.manifest.tables[model];
        let digest = index.digest.to_hex();
        let count = index.items.len() as u64;
        let verdict = if digest == expected.digest && count == expected.items {
            String::from("match")
        } else {
            format!(
                "target holds {count} items with digest {digest}, snapshot {} with {}",
                expected.items, expected.digest
            )
        };
        out.insert(model.clone(), verdict);
    }
    Ok(out)
}

/// `rollback <ENV>`: the newest `<ENV>-pre-import-*.rtsnap` in the snapshot directory.
pub fn latest_backup(snapshot_dir: &Path, env: &str) -> Result<PathBuf> {
    let prefix = format!("{env}-pre-import-");
    let listing = crate::list::list(snapshot_dir, Some(env))?;
    listing
        .snapshots
        .into_iter()
        .filter(|s| s.name.starts_with(&prefix))
        // Compare names without `.rtsnap`: `…Z` < `…Z-002` (with the extension, `-`
        // would sort before `.` and pick the older of two backups of one millisecond).
        .max_by(|a, b| backup_order(&a.name).cmp(backup_order(&b.name)))
        .map(|s| s.file)
        .ok_or_else(|| {
            Error::Usage(format!(
                "no pre-import backup of `{env}` in {}",
                snapshot_dir.display()
            ))
        })
}

/// The part of a backup's name that sorts by time.
fn backup_order(name: &str) -> &str {
    name.strip_suffix(".rtsnap").unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollback_picks_the_newest_backup_even_within_one_millisecond() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "prod-pre-import-20261124T065509123Z.rtsnap",
            "prod-pre-import-20261124T065509123Z-002.rtsnap",
            "prod-pre-import-20261124T065508999Z.rtsnap",
            "prod-pre-rollback-20261124T070000000Z.rtsnap",
            "prod-2026-11-25.rtsnap",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let latest = latest_backup(dir.path(), "prod").unwrap();
        assert_eq!(
            latest.file_name().unwrap(),
            "prod-pre-import-20261124T065509123Z-002.rtsnap"
        );
        let path = backup_path(dir.path(), "prod", "pre-import");
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("prod-pre-import-2"));
    }
}
