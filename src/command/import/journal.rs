//! The import's entries in the journal (`snapshot::journal`): which run this is, whether
//! it resumes an interrupted one (and so keeps that run's backup), and its end.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::ImportOptions;
use crate::archive::Manifest;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::snapshot::journal::{Journal, RunKind, RunRecord};

/// One import (or rollback) run as the journal records it.
pub(super) struct RunLog {
    journal: Journal,
    kind: RunKind,
    target: String,
    snapshot_id: String,
    scope: String,
    /// The interrupted run this one resumes.
    pub resumed: Option<RunRecord>,
    /// This run's id, once its start is recorded (or the resumed run's).
    run_id: Option<String>,
    /// With `rollback`: the import whose backup is being restored.
    rollback_of: Option<String>,
}

impl RunLog {
    /// Looks for an unfinished run of the same snapshot and scope into the same
    /// target, to resume. An unfinished import of another snapshot or scope refuses
    /// this one: its backup covers only what it touched, so resuming with it could
    /// lose what this run adds, and a fresh backup would split one migration's undo
    /// across two backups that `rollback` restores one of. Finish it or roll it back.
    ///
    /// Importing the backup of the unfinished import (the "to undo" command an import
    /// prints when it fails, or the "to resume" one of an interrupted rollback) is
    /// that import's rollback, recorded as such.
    pub fn open(
        snapshot_dir: &Path,
        options: &ImportOptions,
        (target, snapshot): (&str, &Path),
        manifest: &Manifest,
        scope: &str,
    ) -> Result<RunLog> {
        let journal = Journal::new(snapshot_dir);
        let mut rollback_of = options.rollback_of.clone();
        if rollback_of.is_none() {
            let this = std::path::absolute(snapshot).unwrap_or_else(|_| snapshot.to_owned());
            rollback_of = journal
                .unfinished(RunKind::Import, target)?
                .into_iter()
                .find(|r| r.backup.as_deref() == Some(this.as_path()))
                .map(|r| r.id);
        }
        let kind = if rollback_of.is_some() || options.backup_label == "pre-rollback" {
            RunKind::Rollback
        } else {
            RunKind::Import
        };
        let snapshot_id = snapshot_id(manifest)?;
        let resumed = journal.resumable(kind, target, &snapshot_id, scope)?;
        if kind == RunKind::Import && resumed.is_none() {
            if let Some(pending) = journal.unfinished(kind, target)?.first() {
                return Err(Error::Refused(format!(
                    "an import into `{target}` started {} from {} ({}) did not finish: \
                     re-run it with the same options to finish it, or `rtsnap rollback {target}` \
                     to undo it, before another import; nothing was written",
                    pending.started_at,
                    pending.snapshot.display(),
                    pending.scope.as_deref().unwrap_or("scope not recorded")
                )));
            }
        }
        Ok(RunLog {
            journal,
            kind,
            target: target.to_owned(),
            snapshot_id,
            scope: scope.to_owned(),
            run_id: resumed.as_ref().map(|r| r.id.clone()),
            resumed,
            rollback_of,
        })
    }

    /// Says which backup a resumed run keeps.
    pub fn note_resume(&self, progress: &dyn Progress) {
        if let Some(run) = &self.resumed {
            let backup = run.backup.as_deref().map(Path::display);
            progress.note(&format!(
                "resuming the interrupted run started {}: keeping its backup {} (the target before the first attempt); no new backup",
                run.started_at,
                backup.map(|b| b.to_string()).unwrap_or_default()
            ));
        }
    }

    /// Records this run's start, with its backup (none with `--no-backup`).
    pub fn start(&mut self, snapshot: &Path, backup: Option<&Path>) -> Result<()> {
        if self.run_id.is_none() {
            let id = self.journal.start(
                self.kind,
                &self.target,
                snapshot,
                &self.snapshot_id,
                backup,
                &self.scope,
            )?;
            self.run_id = Some(id);
        }
        Ok(())
    }

    /// This run's journal id (the resumed run's when resuming), once [`RunLog::start`]
    /// recorded it. It names what belongs to one migration across its attempts, like
    /// its ImportTable staging prefix.
    pub fn id(&self) -> Option<&str> {
        self.run_id.as_deref()
    }

    /// Records the end of a verified run; a rollback also marks what it undid.
    pub fn finish(&self) -> Result<()> {
        if let Some(id) = &self.run_id {
            self.journal.finish(id)?;
        }
        if let (Some(from), RunKind::Rollback) = (&self.rollback_of, self.kind) {
            let by = self.run_id.as_deref().unwrap_or("rollback");
            self.journal.rolled_back(&self.target, from, by)?;
        }
        Ok(())
    }
}

/// What a run covers, as the journal records it: mode, models, sections, sample size
/// and pruning. Two runs of one snapshot with the same scope back up and write the
/// same things, so one may resume the other.
pub(super) fn run_scope(report: &super::report::ImportReport, options: &ImportOptions) -> String {
    let models: Vec<&str> = report.tables.keys().map(String::as_str).collect();
    format!(
        "mode {}, models {}, users {}, assets {}, limit {}, prune users {}, prune assets {}",
        report.mode,
        models.join(","),
        report.users.is_some(),
        report.assets.is_some(),
        options.limit.map_or("none".into(), |n| n.to_string()),
        options.prune_users,
        options.prune_assets
    )
}

/// A snapshot's identity: the SHA-256 of its manifest, which lists every entry's
/// checksum (the same content under another file name is the same snapshot).
fn snapshot_id(manifest: &Manifest) -> Result<String> {
    let bytes = serde_json::to_vec(manifest)
        .map_err(|e| Error::Failed(format!("encoding the manifest: {e}")))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}
