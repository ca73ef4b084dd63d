//! Export of the tables section through DynamoDB itself (design §6, issue #11 §5):
//! for tables too large to scan from one machine, `ExportTableToPointInTime` writes
//! the table to S3 inside DynamoDB (no read capacity used), at **one export time
//! common to every table**, a consistent cut across tables that scans cannot give.
//! rtsnap then streams the export's gzip'd DynamoDB JSON back into the very same
//! archive entries a scan would have produced ([`stream_table`] feeds the scan's
//! page channel), so `verify`, `import` and `verify --against` see no difference.
//!
//! Order of work, so that nothing is started that is bound to fail: the staging
//! bucket is checked, then every table's point-in-time recovery, then all exports
//! are started, then waited for. Staging objects live under one run prefix
//! (`<PREFIX>/rtsnap-<env>-<stamp>/<Model>/`) and are removed with
//! [`NativeExports::remove_staging`] unless the operator keeps them.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::aws::dynamodb::{Dynamo, ExportState};
use crate::aws::s3::S3;
use crate::error::{Error, Result};
use crate::progress::Progress;

mod files;

pub(crate) use files::stream_table;

/// Longest pause between two DescribeExport rounds (an AWS export takes minutes at
/// the least, so polling faster only costs calls).
const MAX_POLL: Duration = Duration::from_secs(20);

/// `s3://BUCKET/PREFIX` of `--native-via` / `native_via`: where DynamoDB writes the
/// exports (the staging area).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NativeVia {
    pub bucket: String,
    /// Without leading or trailing `/`; may be empty.
    pub prefix: String,
}

impl NativeVia {
    /// Parses `s3://bucket[/prefix]`.
    pub fn parse(url: &str) -> std::result::Result<NativeVia, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{url:?} is not an s3://BUCKET/PREFIX URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{url:?} names no bucket (s3://BUCKET/PREFIX)"));
        }
        Ok(NativeVia {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// `prefix/rest`, or `rest` without a prefix.
    pub(crate) fn key(&self, rest: &str) -> String {
        if self.prefix.is_empty() {
            rest.to_owned()
        } else {
            format!("{}/{rest}", self.prefix)
        }
    }
}

/// One table's finished export: what DynamoDB says it holds, and where.
#[derive(Debug, Clone)]
pub(crate) struct TableExport {
    pub export_arn: String,
    /// ExportDescription's ItemCount: the archive must hold exactly this many items.
    pub item_count: u64,
    /// The export's own prefix (`<run prefix>/<Model>`), and its summary manifest
    /// when the service names one.
    pub prefix: String,
    pub manifest: Option<String>,
}

/// The finished exports of one run, ready to stream into the archive.
pub struct NativeExports {
    pub(crate) s3: S3,
    /// `<PREFIX>/rtsnap-<env>-<stamp>`: every staging object is under it.
    pub(crate) run_prefix: String,
    /// The common export time, Unix seconds.
    pub(crate) export_time: i64,
    pub(crate) tables: BTreeMap<String, TableExport>,
}

/// What the export report (`--json`) says about the native path.
#[derive(Debug, Clone, Serialize)]
pub struct NativeSummary {
    pub bucket: String,
    /// Where the staging objects are (or were).
    pub staging_prefix: String,
    /// The one point in time every natively exported table shows (RFC 3339, UTC).
    pub export_time: String,
    /// Model → its export's ARN and item count.
    pub tables: BTreeMap<String, NativeTable>,
    /// True with `--keep-staging`: the objects are still there.
    pub staging_kept: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct NativeTable {
    pub export_arn: String,
    pub items: u64,
}

impl NativeExports {
    /// Whether `model` comes from an export (else it is scanned).
    pub(crate) fn get(&self, model: &str) -> Option<&TableExport> {
        self.tables.get(model)
    }

    /// The report's view of this run.
    pub fn summary(&self, staging_kept: bool) -> NativeSummary {
        NativeSummary {
            bucket: self.s3.bucket().to_owned(),
            staging_prefix: format!("{}/", self.run_prefix),
            export_time: rfc3339(self.export_time),
            tables: self
                .tables
                .iter()
                .map(|(m, t)| {
                    let table = NativeTable {
                        export_arn: t.export_arn.clone(),
                        items: t.item_count,
                    };
                    (m.clone(), table)
                })
                .collect(),
            staging_kept,
        }
    }

    /// Deletes every object under the run prefix; returns how many.
    pub async fn remove_staging(&self) -> Result<usize> {
        remove_prefix(&self.s3, &self.run_prefix).await
    }
}

/// Deletes every object under `run_prefix/`; returns how many.
pub(crate) async fn remove_prefix(s3: &S3, run_prefix: &str) -> Result<usize> {
    let keys: Vec<String> = s3
        .list_all(&format!("{run_prefix}/"))
        .await?
        .into_iter()
        .map(|o| o.key)
        .collect();
    s3.delete(&keys).await?;
    Ok(keys.len())
}

/// Exports `tables` (model → table name) with at least `min_items` items (by
/// DescribeTable's estimate) through `via`; `Ok(None)` when no table qualifies.
/// Fails before starting any export when the bucket is unreachable or a table has
/// point-in-time recovery off.
pub async fn export_natively(
    dynamo: &Dynamo,
    s3: S3,
    env_name: &str,
    tables: &BTreeMap<String, (String, u64)>,
    min_items: u64,
    via: &NativeVia,
    progress: &dyn Progress,
) -> Result<Option<NativeExports>> {
    let chosen: BTreeMap<&String, &String> = tables
        .iter()
        .filter(|(_, (_, items))| *items >= min_items)
        .map(|(model, (table, _))| (model, table))
        .collect();
    if chosen.is_empty() {
        return Ok(None);
    }
    s3.check_bucket().await.map_err(|e| {
        Error::Failed(format!(
            "native export: bucket `{}` is unreachable ({e}); check the name in --native-via / native_via and that these credentials may write to it",
            via.bucket
        ))
    })?;
    let export_time = common_export_time(dynamo, &chosen).await?;
    let run_prefix = via.key(&format!(
        "rtsnap-{env_name}-{}",
        crate::snapshot::write::compact_utc_stamp(false)
    ));
    progress.note(&format!(
        "native export of {} tables at {} via s3://{}/{run_prefix}/",
        chosen.len(),
        rfc3339(export_time),
        via.bucket
    ));
    let mut started = BTreeMap::new();
    for (model, table) in &chosen {
        let prefix = format!("{run_prefix}/{model}");
        let arn = dynamo.table_arn(table).await?;
        match dynamo
            .start_export(&arn, &via.bucket, &prefix, export_time)
            .await
        {
            Ok(export_arn) => {
                started.insert((*model).clone(), (export_arn, prefix));
            }
            Err(e) => {
                // Exports already running cannot be cancelled; whatever they wrote
                // so far is removed (best effort: later objects are the operator's).
                let _ = remove_prefix(&s3, &run_prefix).await;
                return Err(Error::Failed(format!(
                    "native export of {model} could not start: {e}"
                )));
            }
        }
    }
    let tables = wait_for_exports(dynamo, started, progress).await;
    let exports = NativeExports {
        s3,
        run_prefix,
        export_time,
        tables: BTreeMap::new(),
    };
    match tables {
        Ok(tables) => Ok(Some(NativeExports { tables, ..exports })),
        Err(e) => {
            let _ = exports.remove_staging().await;
            Err(e)
        }
    }
}

/// The latest time inside every chosen table's PITR window: the earliest of their
/// `LatestRestorableDateTime`s (and not after now). Refuses, naming the table and the
/// command that fixes it, when a table has point-in-time recovery off.
async fn common_export_time(dynamo: &Dynamo, chosen: &BTreeMap<&String, &String>) -> Result<i64> {
    let mut latest = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut earliest = i64::MIN;
    for table in chosen.values() {
        let Some(window) = dynamo.pitr_window(table).await? else {
            return Err(Error::Failed(format!(
                "native export: point-in-time recovery is off for table {table}; enable it with `aws dynamodb update-continuous-backups --table-name {table} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true` (or export without --native-via)"
            )));
        };
        latest = latest.min(window.latest);
        earliest = earliest.max(window.earliest);
    }
    // A table whose recovery was enabled after another's latest restorable time has
    // no common point with it yet; ask for its earliest and let DynamoDB judge (it
    // names the table if the time is outside that table's window). moto's windows
    // are single instants, so this is the path it takes.
    Ok(latest.max(earliest))
}

/// Polls DescribeExport for every started export until all are complete; one that
/// failed is an error with the service's reason.
async fn wait_for_exports(
    dynamo: &Dynamo,
    mut pending: BTreeMap<String, (String, String)>,
    progress: &dyn Progress,
) -> Result<BTreeMap<String, TableExport>> {
    let task = progress.start("native exports", Some(pending.len() as u64));
    let mut done = BTreeMap::new();
    let mut pause = Duration::from_millis(250);
    loop {
        let mut finished = Vec::new();
        for (model, (arn, prefix)) in &pending {
            match dynamo.describe_export(arn).await? {
                ExportState::InProgress => {}
                ExportState::Completed {
                    item_count,
                    manifest,
                } => {
                    finished.push(model.clone());
                    let export = TableExport {
                        export_arn: arn.clone(),
                        item_count,
                        prefix: prefix.clone(),
                        manifest,
                    };
                    done.insert(model.clone(), export);
                }
                ExportState::Failed(reason) => {
                    return Err(Error::Failed(format!(
                        "native export of {model} failed: {reason}"
                    )))
                }
            }
        }
        for model in finished {
            pending.remove(&model);
            task.advance(1);
        }
        if pending.is_empty() {
            task.finish(&format!("{} exports complete", done.len()));
            return Ok(done);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL);
    }
}

/// Unix seconds as `2026-12-01T00:23:14Z`.
fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn via_urls_parse_bucket_and_trimmed_prefix() {
        let via = NativeVia::parse("s3://bkt/a/b/").unwrap();
        assert_eq!((via.bucket.as_str(), via.prefix.as_str()), ("bkt", "a/b"));
        assert_eq!(via.key("x"), "a/b/x");
        let bare = NativeVia::parse("s3://bkt").unwrap();
        assert_eq!((bare.prefix.as_str(), bare.key("x").as_str()), ("", "x"));
        assert!(NativeVia::parse("https://bkt/x").is_err());
        assert!(NativeVia::parse("s3:///x").is_err());
    }

    #[test]
    fn export_times_read_as_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }
}
