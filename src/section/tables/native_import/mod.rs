//! Import of large **new** tables through DynamoDB itself (design §6, issue #11 §5):
//! `import --create-missing --native-via s3://BUCKET/PREFIX` lets ImportTable create
//! a table and load it from S3 inside the service (no write capacity used, GSIs
//! built as part of the load) instead of batch-writing every item.
//!
//! Only tables the import would create qualify: ImportTable cannot load an existing
//! table, and the usual restore into Amplify's stack-managed tables keeps the batch
//! path. A table also needs at least `native_min_items` items to load, and no local
//! secondary index (ImportTable cannot create one). TTL and the stream, which
//! ImportTable cannot set either, are enabled right after the load, as the
//! CreateTable path enables TTL after creating. [`choose_paths`] records the path and
//! the reason in each table's plan, so `--dry-run` shows them.
//!
//! Phase 6 ([`import_natively`]) streams the chosen tables' items from the archive
//! into gzip'd `{"Item":…}` lines under one run prefix ([`stage`]), starts one
//! ImportTable per table, waits, checks every count ([`load`]), and removes the staging
//! objects. A re-run after a crash finds the table existing: it waits until the
//! table is ACTIVE ([`settle_tables`]), and the ordinary diff and batch writes
//! converge it.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::native::{remove_prefix, NativeVia};
use super::plan::TablePlan;
use super::read::Selection;
use crate::archive::schema::TableSchema;
use crate::archive::DecryptionKey;
use crate::aws::dynamodb::{is_settling, Dynamo};
use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::stop::StopSignal;

mod load;
mod stage;

/// The plan's path for tables written by BatchWriteItem.
pub const BATCH_WRITE: &str = "batch-write";
/// The plan's path for tables created and loaded by ImportTable.
pub const IMPORT_TABLE: &str = "import-table";

/// Where and from which size on tables go through ImportTable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportVia {
    pub via: NativeVia,
    pub min_items: u64,
}

/// The import's native flags, as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct NativeFlags<'a> {
    pub native_via: Option<&'a str>,
    pub native_min_items: Option<u64>,
    pub no_native: bool,
    pub keep_staging: bool,
    pub create_missing: bool,
}

/// The staging area of this import: `--native-via`, else the target's `native_via`
/// (only with `--create-missing`: ImportTable only loads tables it creates), unless
/// `--no-native`. Contradictory flags are usage errors.
pub fn resolve_via(flags: NativeFlags<'_>, target: &Environment) -> Result<Option<ImportVia>> {
    if flags.no_native {
        if flags.native_via.is_some() {
            return Err(Error::Usage(
                "--no-native and --native-via contradict each other".into(),
            ));
        }
        return Ok(None);
    }
    if flags.native_via.is_some() && !flags.create_missing {
        return Err(Error::Usage(
            "--native-via needs --create-missing: ImportTable only loads tables it creates".into(),
        ));
    }
    let configured = flags.native_via.or(target.native_via.as_deref());
    let Some(url) = configured.filter(|_| flags.create_missing) else {
        if flags.keep_staging || flags.native_min_items.is_some() {
            return Err(Error::Usage(format!(
                "--keep-staging and --native-min-items need --create-missing and --native-via (or native_via for `{}`)",
                target.name
            )));
        }
        return Ok(None);
    };
    let via = NativeVia::parse(url).map_err(|why| Error::Usage(format!("--native-via: {why}")))?;
    Ok(Some(ImportVia {
        via,
        min_items: flags
            .native_min_items
            .or(target.native_min_items)
            .unwrap_or(0),
    }))
}

/// Phase 3: sets every plan's path (and, with a staging area, why); returns the
/// models ImportTable loads.
pub fn choose_paths(
    plans: &mut BTreeMap<String, TablePlan>,
    schemas: &BTreeMap<String, TableSchema>,
    via: Option<&ImportVia>,
) -> Vec<String> {
    let mut chosen = Vec::new();
    for (model, plan) in plans.iter_mut() {
        plan.path = BATCH_WRITE.into();
        let Some(via) = via else {
            continue;
        };
        let schema = &schemas[model];
        let why = if !plan.create {
            "the table exists: existing (stack-managed) tables keep batch writes".to_owned()
        } else if plan.put == 0 {
            "no items to load".to_owned()
        } else if plan.put < via.min_items {
            format!(
                "{} items, under native_min_items {}",
                plan.put, via.min_items
            )
        } else if !schema.local_secondary_indexes.is_empty() {
            "it has local secondary indexes, which ImportTable cannot create".to_owned()
        } else {
            plan.path = IMPORT_TABLE.into();
            chosen.push(model.clone());
            let mut why = format!(
                "new table, {} items (native_min_items {})",
                plan.put, via.min_items
            );
            let after: Vec<String> = schema
                .time_to_live_attribute
                .iter()
                .map(|a| format!("TTL on `{a}`"))
                .chain(
                    schema
                        .stream_specification
                        .iter()
                        .filter(|s| s.stream_enabled)
                        .map(|_| "the stream".to_owned()),
                )
                .collect();
            if !after.is_empty() {
                why.push_str(&format!("; {} set after the load", after.join(" and ")));
            }
            why
        };
        plan.path_why = Some(why);
    }
    chosen
}

/// Phase 3, when a table goes through ImportTable: the staging bucket must be
/// reachable, or the import is refused before the backup and any write.
pub async fn check_staging(s3: &S3, via: &ImportVia) -> Result<()> {
    s3.check_bucket().await.map_err(|e| {
        Error::Refused(format!(
            "import --native-via: bucket `{}` is unreachable ({e}); check the name in --native-via / native_via and that these credentials may write to it (or import with --no-native); nothing was written",
            via.via.bucket
        ))
    })
}

/// What the import report (`--json`) says about the native path.
#[derive(Debug, Clone, Serialize)]
pub struct NativeImportSummary {
    pub bucket: String,
    /// Where the staging objects are (or were).
    pub staging_prefix: String,
    /// Model → its import's ARN and item count.
    pub tables: BTreeMap<String, ImportedTable>,
    /// True with `--keep-staging`, or when removing them failed: the objects are
    /// still there.
    pub staging_kept: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportedTable {
    /// The table ImportTable created.
    pub table: String,
    pub import_arn: String,
    pub items: u64,
}

/// What phase 6 needs to load the chosen tables.
pub struct NativeLoad<'a> {
    pub dynamo: &'a Dynamo,
    pub s3: &'a S3,
    pub via: &'a ImportVia,
    pub target: &'a Environment,
    pub schemas: &'a BTreeMap<String, TableSchema>,
    /// The plans of the chosen models (their `put` is what each table must hold).
    pub plans: &'a BTreeMap<String, TablePlan>,
    pub keep_staging: bool,
    /// The import's journal id: the staging prefix is `rtsnap-import-<run_id>`, the
    /// same for every attempt of one migration (see [`sweep_staging`]).
    pub run_id: &'a str,
    pub progress: &'a dyn Progress,
    pub stop: &'a StopSignal,
}

/// Phase 6 for the models in `selection`: stage, import, wait, check, clean up.
pub async fn import_natively(
    load: &NativeLoad<'_>,
    snapshot: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
) -> Result<NativeImportSummary> {
    let (s3, progress) = (load.s3, load.progress);
    let run_prefix = staging_prefix(load.via, load.run_id);
    progress.note(&format!(
        "ImportTable for {} new tables via s3://{}/{run_prefix}/",
        selection.models.len(),
        s3.bucket()
    ));
    let staged = stage::stage(s3, &run_prefix, snapshot, key, selection, load.stop).await;
    let staged = match staged {
        Ok(staged) => staged,
        Err(e) => {
            cleanup(s3, &run_prefix, load.keep_staging, progress).await;
            return Err(e);
        }
    };
    let loaded = load::load(load, &run_prefix, &staged).await;
    let kept = match &loaded {
        // ImportTable still runs inside DynamoDB and reads the objects.
        Err(Error::Interrupted(_)) => true,
        _ => !cleanup(s3, &run_prefix, load.keep_staging, progress).await,
    };
    Ok(NativeImportSummary {
        bucket: s3.bucket().to_owned(),
        staging_prefix: format!("{run_prefix}/"),
        tables: loaded?,
        staging_kept: kept,
    })
}

/// The staging prefix of one migration: its journal id (`<target>-<start stamp>`) is
/// kept by every attempt, so a resumed run finds what a killed one staged.
fn staging_prefix(via: &ImportVia, run_id: &str) -> String {
    via.via.key(&format!("rtsnap-import-{run_id}"))
}

/// After phase 6 of a resumed import that loaded no table through ImportTable: an
/// attempt killed after staging (the objects hold the snapshot's items, personal data)
/// left them under this migration's prefix, and no later attempt would stage there
/// again (the tables its ImportTable created now exist and take batch writes). Removes
/// them unless `--keep-staging`; a failure is a warning naming the prefix.
pub async fn sweep_staging(
    s3: &S3,
    via: &ImportVia,
    run_id: &str,
    keep: bool,
    progress: &dyn Progress,
) {
    let run_prefix = staging_prefix(via, run_id);
    match s3.list_all(&format!("{run_prefix}/")).await {
        Ok(left) if left.is_empty() => {}
        Ok(left) => {
            progress.note(&format!(
                "{} staging objects of an interrupted attempt under s3://{}/{run_prefix}/",
                left.len(),
                s3.bucket()
            ));
            cleanup(s3, &run_prefix, keep, progress).await;
        }
        Err(e) => tracing::warn!(
            "staging objects under s3://{}/{run_prefix}/ not checked: {e}",
            s3.bucket()
        ),
    }
}

/// Removes the run's staging objects unless they are to be kept; whether they are
/// gone (a failure is a warning: they are of no use to a later run).
async fn cleanup(s3: &S3, run_prefix: &str, keep: bool, progress: &dyn Progress) -> bool {
    if keep {
        progress.note(&format!(
            "staging objects kept under s3://{}/{run_prefix}/ (--keep-staging)",
            s3.bucket()
        ));
        return false;
    }
    match remove_prefix(s3, run_prefix).await {
        Ok(n) => {
            progress.note(&format!("removed {n} staging objects"));
            true
        }
        Err(e) => {
            tracing::warn!(
                "staging objects under s3://{}/{run_prefix}/ not removed: {e}",
                s3.bucket()
            );
            false
        }
    }
}

/// Longest pause between two status rounds (imports take minutes on AWS).
pub(super) const MAX_POLL: Duration = Duration::from_secs(20);

/// Before phase 2 of a `--create-missing` import: a table an earlier run's
/// ImportTable is still creating (or one being deleted) cannot be read or written;
/// wait until it is ACTIVE (or gone, when AWS dropped a failed import's table), so
/// that the plan sees it as it will stay.
pub async fn settle_tables(
    dynamo: &Dynamo,
    tables: &[String],
    progress: &dyn Progress,
    stop: &StopSignal,
) -> Result<()> {
    for table in tables {
        let mut pause = Duration::from_millis(250);
        let mut told = false;
        while let Some(status) = dynamo.table_status(table).await? {
            if !is_settling(&status) {
                break;
            }
            if !told {
                progress.note(&format!(
                    "{table} is {status} (an earlier run's ImportTable may still be loading it): waiting until it is ACTIVE"
                ));
                told = true;
            }
            if stop.is_stopped() {
                return Err(Error::Interrupted(format!(
                    "interrupted while waiting for {table} ({status}); nothing was written"
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_POLL);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
