//! `export <ENV>`: an environment's sections (every table's schema and items, the
//! users of its Cognito pool when it has a `user_pool_id`, and the objects of its S3
//! bucket when it has a `bucket`: their manifest, and with `--with-assets` their bytes) into one
//! new `.rtsnap` archive, named `<env>-<date>.rtsnap` in the snapshot directory unless
//! `-o` names the file. The writing itself is `snapshot::write`, shared with import's
//! pre-import backup; how each section is read from AWS lives in `section/`.
//!
//! With `--native-via s3://…` (or `native_via` in rtsnap.toml) the large tables are
//! first exported by DynamoDB itself at one common point in time, then streamed into
//! the archive from that staging area, which is emptied afterwards unless
//! `--keep-staging` (see `section::tables::native`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::archive::EncryptionKey;
use crate::aws::cognito::Cognito;
use crate::aws::dynamodb::Dynamo;
use crate::aws::s3::S3;
use crate::config::{Environment, Relation};
use crate::error::{Error, Result};
use crate::files::check_snapshot_location;
use crate::progress::Progress;
use crate::section::assets::export::{AssetsScope, Embed};
use crate::section::tables::discover_tables;
use crate::section::tables::native::{export_natively, NativeExports, NativeVia};
use crate::section::tables::relations::parse_relations;
use crate::section::Only;
use crate::snapshot::write::{write_snapshot, SnapshotScope};

/// What to export and where.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Only these models (`--only`).
    pub only: Option<Vec<String>>,
    /// `-o FILE`; otherwise the default name in the snapshot directory.
    pub output: Option<PathBuf>,
    pub allow_in_repo: bool,
    /// Embed every object's bytes (`--with-assets`), for restores without the
    /// source bucket.
    pub with_assets: bool,
    /// `[[relations]]` of rtsnap.toml: checked while the items stream, the result
    /// recorded in `MANIFEST.json` (a warning, never a failure).
    pub relations: Vec<Relation>,
    /// `--native-via s3://BUCKET/PREFIX`; otherwise the environment's `native_via`.
    pub native_via: Option<String>,
    /// `--native-min-items N`; otherwise the environment's `native_min_items`, else 0.
    pub native_min_items: Option<u64>,
    /// `--no-native`: scan every table even when the environment has `native_via`.
    pub no_native: bool,
    /// `--keep-staging`: leave the export's objects in the staging bucket.
    pub keep_staging: bool,
}

/// What `export` wrote.
pub type ExportReport = crate::snapshot::WrittenSnapshot;

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
    let only = Only::parse(options.only.as_deref());
    let tables = discover_tables(&dynamo, env, only.models.as_deref()).await?;
    let cognito = match (&env.user_pool_id, only.users) {
        (Some(pool), true) => Some(Cognito::new(&sdk, pool)),
        (None, true) if options.only.is_some() => {
            return Err(Error::Usage(format!(
                "--only names users, but `{}` has no user_pool_id",
                env.name
            )))
        }
        _ => None,
    };
    let s3 = match (&env.bucket, only.assets) {
        (Some(bucket), true) => Some(S3::new(&sdk, bucket)),
        (None, true) if options.with_assets || options.only.is_some() => {
            return Err(Error::Usage(format!(
                "{} asks for assets, but `{}` has no bucket",
                if options.with_assets {
                    "--with-assets"
                } else {
                    "--only"
                },
                env.name
            )))
        }
        _ => None,
    };
    if options.with_assets && s3.is_none() {
        return Err(Error::Usage(
            "--with-assets needs the assets section: add `assets` to --only".into(),
        ));
    }
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
    let relations = parse_relations(&options.relations)?;
    let native = match native_via(env, options)? {
        Some(via) => {
            let min_items = options
                .native_min_items
                .or(env.native_min_items)
                .unwrap_or(0);
            let counted = crate::section::tables::scan::describe_all(&dynamo, &tables)
                .await?
                .into_iter()
                .map(|(model, d)| {
                    let table = d.schema.table_name.clone();
                    (model, (table, d.item_count))
                })
                .collect();
            let staging = S3::new(&sdk, &via.bucket);
            export_natively(
                &dynamo, staging, &env.name, &counted, min_items, &via, progress,
            )
            .await?
        }
        None => None,
    };
    let scope = SnapshotScope {
        native: native.as_ref(),
        relations: &relations,
        region: &region,
        tables: &tables,
        absent: &BTreeMap::new(),
        users: cognito.as_ref(),
        assets: s3.as_ref().map(|s3| AssetsScope {
            s3,
            prefixes: &env.asset_prefixes,
            embed: if options.with_assets {
                Embed::All
            } else {
                Embed::Nothing
            },
        }),
    };
    let written = write_snapshot(&dynamo, env, &scope, &path, key, progress).await;
    let Some(native) = native else {
        return written;
    };
    let kept = options.keep_staging || !remove_staging(&native, progress).await;
    let mut report = written?;
    report.native = Some(native.summary(kept));
    Ok(report)
}

/// The staging area to export through, if any: the flag, else the environment's
/// setting (unless `--no-native`).
fn native_via(env: &Environment, options: &ExportOptions) -> Result<Option<NativeVia>> {
    if options.no_native {
        if options.native_via.is_some() {
            return Err(Error::Usage(
                "--no-native and --native-via contradict each other".into(),
            ));
        }
        return Ok(None);
    }
    let Some(url) = options.native_via.as_ref().or(env.native_via.as_ref()) else {
        if options.keep_staging || options.native_min_items.is_some() {
            return Err(Error::Usage(format!(
                "--keep-staging and --native-min-items need --native-via (or native_via for `{}`)",
                env.name
            )));
        }
        return Ok(None);
    };
    NativeVia::parse(url)
        .map(Some)
        .map_err(|why| Error::Usage(format!("--native-via: {why}")))
}

/// Removes the staging objects (after the archive is committed, or after a failure:
/// they are of no use to a later run). Returns false, with a warning, when that
/// failed: the objects are then still there.
async fn remove_staging(native: &NativeExports, progress: &dyn Progress) -> bool {
    match native.remove_staging().await {
        Ok(n) => {
            progress.note(&format!("removed {n} staging objects"));
            true
        }
        Err(e) => {
            tracing::warn!("staging objects not removed: {e}");
            false
        }
    }
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
    let stamp = format!(
        "{env}-{date}-{:02}{:02}{:02}",
        now.hour(),
        now.minute(),
        now.second()
    );
    // Two exports of one environment within a second: number the later ones rather
    // than refuse them (the name is only checked here; the write itself never
    // replaces a file).
    (1u32..)
        .map(|n| match n {
            1 => dir.join(format!("{stamp}.rtsnap")),
            n => dir.join(format!("{stamp}-{n}.rtsnap")),
        })
        .find(|path| !path.exists())
        .unwrap_or(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the 2026-12-01 bug hunt: a third default-named export of one
    /// environment within a second was refused ("already exists").
    #[test]
    fn default_names_never_collide_within_a_second() {
        let dir = tempfile::tempdir().expect("dir");
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..4 {
            let path = default_export_path(dir.path(), "staging");
            assert!(!path.exists(), "{}", path.display());
            std::fs::write(&path, b"x").expect("write");
            assert!(seen.insert(path));
        }
        let names: Vec<String> = seen
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        assert!(names
            .iter()
            .all(|n| n.starts_with("staging-") && n.ends_with(".rtsnap")));
    }
}
