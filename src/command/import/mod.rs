//! `import <FILE> --target <ENV>` and `rollback <ENV>`: restore a snapshot's tables,
//! users and assets into an environment, in the phases of design §5. Nothing reaches the target before phase
//! 6; only the backup file is written before it, in phase 5.
//!
//! 1 verify the whole archive · 2 check the target tables · 3 plan (diff by primary
//! key) · 4 confirm · 5 back up the target · 6 write · 7 verify the target.
//!
//! Re-running an import is always safe: the diff writes only what differs, so an
//! interrupted import followed by a re-run ends exactly equal to the snapshot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use crate::archive::{DecryptionKey, EncryptionKey};
use crate::aws::dynamodb::Dynamo;
use crate::config::{Environment, Relation};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::section::assets::{apply_assets, AssetsMode};
use crate::section::owner::OwnerRewrite;
use crate::section::tables::native_import::settle_tables;
use crate::section::tables::target::{
    check_target, index_targets, verify_target, verify_unwritten,
};
use crate::section::tables::{self, snapshot_side, Selection};
use crate::section::users::{apply_users, UsersMode};
use crate::section::Only;
use crate::snapshot::read_verified;

mod assets;
mod journal;
mod native;
mod related;
mod report;
mod rollback;
mod safety;
mod scope;
mod users;

pub use report::ImportReport;
pub use rollback::{latest_backup, rollback_source, RollbackSource};
use safety::{backup, confirm};
use scope::{refuse_dangling, resume_command, select_models};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub dry_run: bool,
    /// Keep target items (and user attributes, memberships) the snapshot lacks.
    pub merge: bool,
    /// Models to import; the name `users` selects the users section.
    pub only: Option<Vec<String>>,
    /// The first N items per model; implies no deletes.
    pub limit: Option<u64>,
    pub create_missing: bool,
    pub no_backup: bool,
    /// Delete target users (and groups) the snapshot lacks (`--prune-users`;
    /// rollback always does).
    pub prune_users: bool,
    /// Delete target objects the snapshot lacks (`--prune-assets`; rollback always
    /// does).
    pub prune_assets: bool,
    /// `--confirm <ENV>`.
    pub confirm: Option<String>,
    /// Refuse a snapshot with dangling references (`--strict`); otherwise they are a
    /// warning.
    pub strict: bool,
    /// Grow the `--limit` sample along the declared relations (`--with-related`).
    pub with_related: bool,
    pub yes: bool,
    /// Backup file prefix: `pre-import` (import) or `pre-rollback` (rollback).
    pub backup_label: &'static str,
    /// With `rollback`: the journal id of the import whose backup is restored.
    pub rollback_of: Option<String>,
    /// Temporary password for created users (`RTSNAP_TEMP_PASSWORD`); Cognito
    /// generates one when unset. Never printed, logged or stored.
    pub temp_password: Option<SecretString>,
    /// `--native-via s3://BUCKET/PREFIX` (needs `--create-missing`); otherwise the
    /// target's `native_via`: new tables load through ImportTable.
    pub native_via: Option<String>,
    /// `--native-min-items N`; otherwise the target's `native_min_items`, else 0.
    pub native_min_items: Option<u64>,
    /// `--no-native`: batch writes for every table.
    pub no_native: bool,
    /// `--keep-staging`: leave ImportTable's staging objects in the bucket.
    pub keep_staging: bool,
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
    /// `owner_fields` of rtsnap.toml: per model, the fields holding owners.
    pub owner_fields: &'a BTreeMap<String, Vec<String>>,
    /// `[[relations]]` of rtsnap.toml.
    pub relations: &'a [Relation],
    /// Set by the CLI on Ctrl-C / SIGTERM: phase 6 stops at the next batch boundary.
    pub stop: crate::stop::StopSignal,
}

/// Runs an import. A failure after the backup was taken carries the backup's path and
/// the rollback command ([`Error::AfterBackup`]).
pub async fn import(
    snapshot: &Path,
    target: &Environment,
    options: &ImportOptions,
    ctx: &ImportContext<'_>,
) -> Result<ImportReport> {
    let mut way_back = None;
    let result = run_phases(snapshot, target, options, ctx, &mut way_back).await;
    let result = result.map_err(|e| match e {
        Error::Interrupted(what) => Error::Interrupted(format!(
            "{what}; to resume: {} (it keeps this import's backup and writes only what still differs)",
            resume_command(snapshot, target, options)
        )),
        other => other,
    });
    result.map_err(|source| match way_back {
        Some((backup, rollback)) => Error::AfterBackup {
            source: Box::new(source),
            backup,
            rollback,
        },
        None => source,
    })
}

/// The seven phases; `way_back` is set (backup, rollback command) once the backup is
/// written.
async fn run_phases(
    snapshot: &Path,
    target: &Environment,
    options: &ImportOptions,
    ctx: &ImportContext<'_>,
    way_back: &mut Option<(PathBuf, String)>,
) -> Result<ImportReport> {
    let progress = ctx.progress;
    let native_via = native::via(options, target)?;
    progress.note("phase 1/7: verifying the whole archive");
    let verified = read_verified(snapshot, ctx.decrypt)?;
    if !options.no_backup && !options.dry_run {
        // Refused now rather than at phase 5, after the operator confirmed.
        crate::files::check_snapshot_dir(ctx.snapshot_dir)?;
    }
    let mut only = Only::parse(options.only.as_deref());
    let mut models = select_models(&verified.manifest, only.models.as_deref())?;
    let relations = {
        let seeds = options
            .with_related
            .then_some((models.as_slice(), options.limit));
        if !ctx.relations.is_empty() {
            progress.note("phase 1/7: checking the snapshot's relations");
        }
        related::relations_pass(snapshot, ctx.decrypt, ctx.relations, seeds)?
    };
    if let Some(integrity) = &relations.integrity {
        refuse_dangling(integrity, options.strict, progress)?;
    }
    let sample_users = match (&relations.picked, verified.users.as_ref()) {
        (Some(picked), users) => {
            models = picked
                .iter()
                .filter(|(_, set)| !set.is_empty())
                .map(|(m, _)| m.clone())
                .collect();
            // The owners of the sample's items come along (when the snapshot has users).
            only.users = users.is_some();
            let fields = ctx.owner_fields;
            users
                .map(|u| related::owners_of_sample(snapshot, ctx.decrypt, picked, fields, u))
                .transpose()?
        }
        (None, _) => None,
    };
    let sampled = options.limit.is_some() || options.with_related;

    progress.note("phase 2/7: checking the target tables, user pool and bucket");
    let sdk = crate::aws::sdk_config(target).await;
    let dynamo = Dynamo::new(&sdk);
    if options.create_missing {
        // A table an interrupted run's ImportTable is still creating.
        let tables: Vec<String> = models.iter().map(|m| target.table_name(m)).collect();
        settle_tables(&dynamo, &tables, progress, &ctx.stop).await?;
    }
    let targets = check_target(&dynamo, target, &models, &verified, options.create_missing).await?;
    let mut not_restored: Vec<String> = verified
        .header
        .sections
        .iter()
        .filter(|s| !matches!(s.as_str(), "tables" | "users" | "assets"))
        .cloned()
        .collect();
    let snapshot_users = sample_users.as_ref().or(verified.users.as_ref());
    let users_target =
        users::check_users(target, &sdk, snapshot_users, only.users, &mut not_restored).await?;
    let snapshot_assets = verified.assets.as_ref();
    let assets_target = assets::check_assets(
        target,
        &sdk,
        snapshot_assets,
        only.assets,
        sampled,
        &mut not_restored,
    )
    .await?;

    progress.note(
        "phase 3/7: planning (items by primary key, users by sign-in name, objects by SHA-256)",
    );
    let exact = !options.merge && !sampled;
    let users_mode = UsersMode {
        exact,
        prune: options.prune_users && exact,
    };
    let (users_plan, users_actions) = match (&users_target, snapshot_users) {
        (Some(t), Some(s)) => {
            let password = options.temp_password.as_ref();
            let (plan, actions) = users::plan(s, t, users_mode, password)?;
            (Some(plan), Some(actions))
        }
        _ => (None, None),
    };
    let assets_mode = AssetsMode {
        prune: options.prune_assets && exact,
    };
    let prefixes = &target.asset_prefixes;
    let (assets_plan, assets_actions) = match (&assets_target, snapshot_assets) {
        (Some(t), Some(s)) => {
            let (plan, actions) = assets::plan(s, t, prefixes, assets_mode, progress).await?;
            (Some(plan), Some(actions))
        }
        _ => (None, None),
    };
    let owners = users_actions
        .as_ref()
        .map(|a| OwnerRewrite::new(a.subs.clone(), ctx.owner_fields.clone()));
    let selection = Selection {
        models: &models,
        limit: options.limit.filter(|_| !options.with_related),
        pick: relations.picked.as_ref(),
        owners: owners.as_ref(),
    };
    // The snapshot is read on its own thread while the target tables are scanned.
    // Secondary index keys as the target tables declare them (an existing table's
    // indexes may differ from the snapshot's).
    let index_keys = targets
        .iter()
        .map(|(model, t)| {
            let own = verified.schemas.get(model).map(tables::index_keys);
            let mut keys = tables::index_keys(&t.schema);
            for key in &mut keys {
                key.in_snapshot = own.as_ref().is_some_and(|own| own.contains(key));
            }
            (model.clone(), keys)
        })
        .collect();
    let snapshot_side = snapshot_side(
        snapshot,
        ctx.decrypt,
        selection,
        &verified.schemas,
        &index_keys,
    )?;
    let mut indexes = index_targets(&dynamo, &targets, progress).await?;
    let mut plans = snapshot_side.diff(&mut indexes, exact)?;
    for (model, plan) in plans.iter_mut() {
        plan.table = target.table_name(model);
    }
    let chosen =
        native::plan_paths(&sdk, native_via.clone(), &mut plans, &verified.schemas).await?;
    let mut report = ImportReport {
        snapshot: snapshot.to_path_buf(),
        source_env: verified.header.source.env.clone(),
        target: target.name.clone(),
        dry_run: options.dry_run,
        integrity: relations.integrity.clone(),
        sample: relations.picked.as_ref().map(|p| {
            p.iter()
                .map(|(m, set)| (m.clone(), set.len() as u64))
                .collect()
        }),
        mode: if sampled {
            "sample"
        } else if options.merge {
            "merge"
        } else {
            "exact"
        },
        tables: plans,
        users: users_plan,
        assets: assets_plan,
        sections_not_restored: not_restored,
        sub_map: owners
            .as_ref()
            .map(OwnerRewrite::changed_subs)
            .unwrap_or_default(),
        ..ImportReport::default()
    };
    // Before the question (and in a dry run, which says what the real run would do):
    // an unfinished import of another scope refuses this one.
    let scope = journal::run_scope(&report, options);
    let manifest = &verified.manifest;
    let names = (target.name.as_str(), snapshot);
    let mut run = journal::RunLog::open(ctx.snapshot_dir, options, names, manifest, &scope)?;
    if options.dry_run {
        return Ok(report);
    }

    progress.note("phase 4/7: confirmation");
    confirm(target, options, ctx.prompt, &report)?;
    // What was confirmed is what phase 1 verified: the file may not have been replaced
    // while the question waited (every later pass checks again).
    crate::snapshot::pinned::open_pinned(snapshot)?;

    let has_changes = report.total_changes() > 0 || report.tables.values().any(|p| p.create);
    let mut final_owners = owners.clone();
    if has_changes {
        if ctx.stop.is_stopped() {
            return Err(Error::Interrupted(
                "interrupted before the backup; nothing was written".into(),
            ));
        }
        progress.note("phase 5/7: backing up the target");
        if let Some(resumed) = &run.resumed {
            run.note_resume(progress);
            report.backup = resumed.backup.clone();
            report.resumed_from = Some(resumed.started_at.clone());
        } else {
            let guarded = safety::Guarded {
                tables: &targets,
                users: users_target.as_ref().map(|t| &t.cognito),
                assets: assets_target
                    .as_ref()
                    .zip(assets_actions.as_ref())
                    .map(|(t, a)| (&t.s3, a.overwritten.as_slice())),
            };
            report.backup = backup(&dynamo, target, &sdk, &guarded, options, ctx).await?;
        }
        run.start(snapshot, report.backup.as_deref())?;
        report.rollback_command = report.backup.as_ref().map(|b| {
            format!(
                "rtsnap import {} --target {} --prune-users --prune-assets --confirm {}",
                scope::shell_word(b),
                target.name,
                target.name
            )
        });
        *way_back = report.backup.clone().zip(report.rollback_command.clone());
        if ctx.stop.is_stopped() {
            return Err(Error::Interrupted(
                "interrupted after the backup, before anything was written".into(),
            ));
        }
        ctx.stop.set_writing(true);
        progress.note("phase 6/7: writing");
        if let (Some(t), Some(s), Some(actions)) = (&users_target, snapshot_users, users_actions) {
            let password = options.temp_password.as_ref();
            let (applied, subs) =
                apply_users(&t.cognito, s, actions, password, progress, &ctx.stop).await?;
            report.users_applied = Some(applied);
            let owners = OwnerRewrite::new(subs, ctx.owner_fields.clone());
            report.sub_map = owners.changed_subs();
            final_owners = Some(owners);
            if ctx.stop.is_stopped() {
                return Err(Error::Interrupted(
                    "interrupted after the users, before any item was written".into(),
                ));
            }
        }
        let selection = Selection {
            owners: final_owners.as_ref(),
            ..selection
        };
        let native_models = chosen.as_ref().map_or(&[][..], |c| c.models.as_slice());
        let phase6 = native::Phase6 {
            dynamo: &dynamo,
            target,
            schemas: &verified.schemas,
            options,
            ctx,
            run_id: run.id().unwrap_or(&target.name),
        };
        if let Some(chosen) = &chosen {
            native::apply(&phase6, chosen, snapshot, selection, &mut report).await?;
        } else if run.resumed.is_some() {
            native::sweep_resumed(&sdk, native_via.as_ref(), &phase6).await;
        }
        let (plans, models) = native::batch_share(&report.tables, &models, native_models);
        let done = tables::write::apply(
            &dynamo,
            snapshot,
            ctx.decrypt,
            Selection {
                models: &models,
                ..selection
            },
            &mut indexes,
            &verified.schemas,
            target,
            &plans,
            exact,
            progress,
            &ctx.stop,
        )
        .await?;
        report.written += done.written;
        report.deleted = done.deleted;
        report.created_tables.extend(done.created);
        report.created_tables.sort();
        if ctx.stop.is_stopped() {
            return Err(Error::Interrupted(format!(
                "interrupted after the tables ({} items written, {} deleted), before the assets",
                report.written, report.deleted
            )));
        }
        if let (Some(t), Some(actions)) = (&assets_target, &assets_actions) {
            let (source, key) = (t.source.as_ref(), ctx.decrypt);
            let applied =
                apply_assets(&t.s3, source, snapshot, key, actions, progress, &ctx.stop).await?;
            report.assets_applied = Some(applied);
        }
    } else {
        progress
            .note("nothing to change: the target already equals the snapshot (no backup taken)");
    }

    ctx.stop.set_writing(false);
    progress.note("phase 7/7: verifying the target");
    let selection = Selection {
        owners: final_owners.as_ref(),
        ..selection
    };
    report.verification = if exact && !has_changes {
        verify_unwritten(snapshot, ctx.decrypt, selection, &verified, &indexes)?
    } else {
        // The plan's target index (33 bytes per target item) is done with: free it
        // before phase 7 scans the target again, so the two never add up.
        drop(indexes);
        let (key, partial) = (ctx.decrypt, !exact);
        verify_target(
            &dynamo, snapshot, key, selection, &verified, target, partial,
        )
        .await?
    };
    if let (Some(t), Some(s)) = (&users_target, snapshot_users) {
        let verdict = users::verify(&t.cognito, s, users_mode).await?;
        report.verification.insert("users".into(), verdict);
    }
    if let (Some(t), Some(s)) = (&assets_target, snapshot_assets) {
        let verdict = assets::verify(t, prefixes, s, assets_mode, progress).await?;
        report.verification.insert("assets".into(), verdict);
    }
    let failed: Vec<String> = report
        .verification
        .iter()
        .filter(|(_, v)| !v.starts_with("match") && !v.starts_with("all snapshot items present"))
        .map(|(m, v)| format!("{m}: {v}"))
        .collect();
    if !failed.is_empty() {
        return Err(Error::Failed(format!(
            "the target does not equal the snapshot after writing ({}); re-run the import to finish",
            failed.join("; ")
        )));
    }
    run.finish()?;
    report.retries = crate::aws::retry_stats();
    Ok(report)
}
