//! Import phases that guard the target: confirmation (phase 4) and the pre-import
//! backup (phase 5).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{ImportContext, ImportOptions, ImportReport, Prompt};
use crate::archive::schema::TableSchema;
use crate::aws::cognito::Cognito;
use crate::aws::dynamodb::Dynamo;
use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::section::assets::export::{AssetsScope, Embed};
use crate::section::tables::target::TargetTable;
use crate::snapshot::write::{write_snapshot, SnapshotScope};

/// Phase 4.
pub(super) fn confirm(
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
            let why = target
                .protected_by
                .as_ref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default();
            return Err(Error::Refused(format!(
                "`{name}` is protected{why}: pass --confirm {name} (no terminal to ask on; nothing was written)"
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

/// What the pre-import backup covers: the tables the import touches, the user pool
/// when it restores users, and the bucket when it restores assets, with the keys it
/// will overwrite or delete (whose bytes the backup embeds).
pub(super) struct Guarded<'a> {
    pub tables: &'a BTreeMap<String, TargetTable>,
    pub users: Option<&'a Cognito>,
    pub assets: Option<(&'a S3, &'a [String])>,
}

/// Phase 5: exports the existing target tables the import touches, the target's users
/// when the import restores users, and the bucket's manifest (with the bytes of every
/// object the import overwrites or deletes) when it restores assets: enough for
/// rollback to put the bucket back exactly.
pub(super) async fn backup(
    dynamo: &Dynamo,
    target: &Environment,
    sdk: &aws_config::SdkConfig,
    guarded: &Guarded<'_>,
    options: &ImportOptions,
    ctx: &ImportContext<'_>,
) -> Result<Option<PathBuf>> {
    let targets = guarded.tables;
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
    // A backup killed midway left its `.partial` under a name no later backup takes.
    let prefix = format!("{}-{}-", target.name, options.backup_label);
    for stale in crate::files::remove_stale_partials(ctx.snapshot_dir, &prefix)? {
        ctx.progress.note(&format!(
            "removed {}, an unfinished backup left by an interrupted run",
            stale.display()
        ));
    }
    let path = backup_path(ctx.snapshot_dir, &target.name, options.backup_label);
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let scope = SnapshotScope {
        relations: &[],
        native: None,
        region: &region,
        tables: &existing,
        absent: &absent,
        users: guarded.users,
        assets: guarded.assets.map(|(s3, overwritten)| AssetsScope {
            s3,
            prefixes: &target.asset_prefixes,
            embed: Embed::Keys(overwritten.iter().cloned().collect()),
        }),
    };
    let report = write_snapshot(dynamo, target, &scope, &path, ctx.encrypt, ctx.progress).await?;
    // A backup only someone else can open is no backup: read it all back with the
    // identity in use before the first write.
    crate::snapshot::verify_archive(&report.file, ctx.decrypt).map_err(|e| {
        let (file, name) = (report.file.display(), &target.name);
        match e {
            Error::Archive(crate::archive::ArchiveError::Decrypt(_)) => Error::Refused(format!(
                "the backup {file} cannot be opened with your identity ({e}): it is encrypted to [snapshots] recipients you hold no key for; add your own recipient there; nothing was written to `{name}`"
            )),
            other => Error::Refused(format!(
                "the backup {file} failed its read-back check ({other}); nothing was written to `{name}`"
            )),
        }
    })?;
    ctx.progress.note(&format!(
        "backup written and read back with your identity: {} ({} items)",
        report.file.display(),
        report.total_items
    ));
    Ok(Some(report.file))
}

/// `<dir>/<env>-pre-import-<YYYYMMDDTHHMMSSmmmZ>.rtsnap`: to the millisecond, with a
/// zero-padded counter in the rare case that is taken, so that names sort by time
/// (see [`latest_backup`]).
pub(super) fn backup_path(dir: &Path, env: &str, label: &str) -> PathBuf {
    let stamp = crate::snapshot::write::compact_utc_stamp(false);
    let mut path = dir.join(format!("{env}-{label}-{stamp}.rtsnap"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = dir.join(format!("{env}-{label}-{stamp}-{n:03}.rtsnap"));
    }
    path
}
