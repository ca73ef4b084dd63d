//! `rollback <ENV>`: an exact import of the newest pre-import backup of `ENV`. This
//! file finds that backup; the import itself is the same seven phases.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// What `rollback <ENV>` restores, and why that backup.
#[derive(Debug, Clone)]
pub struct RollbackSource {
    pub file: PathBuf,
    /// The journal id of the import it undoes, when the journal knows it.
    pub import_id: Option<String>,
    /// Said to the operator before anything else happens.
    pub why: String,
}

/// The backup to restore: from the journal, the one taken before the oldest unfinished
/// import of `env` (a migration that failed or was interrupted, however often it was
/// re-run), else before its last finished import; without a journal entry, the newest
/// pre-import backup file.
pub fn rollback_source(snapshot_dir: &Path, env: &str) -> Result<RollbackSource> {
    let journal = crate::snapshot::journal::Journal::new(snapshot_dir);
    if let Some(run) = journal.rollback_source(env)? {
        if let Some(file) = run.backup.clone().filter(|b| b.exists()) {
            let state = match run.state {
                crate::snapshot::journal::RunState::Unfinished => "the unfinished import",
                _ => "the last import",
            };
            return Ok(RollbackSource {
                why: format!(
                    "the backup taken before {state} of {} started {}",
                    run.snapshot.display(),
                    run.started_at
                ),
                file,
                import_id: Some(run.id),
            });
        }
    }
    let file = latest_backup(snapshot_dir, env)?;
    Ok(RollbackSource {
        file,
        import_id: None,
        why: "the newest pre-import backup (no journal entry names one)".into(),
    })
}

/// The newest `<ENV>-pre-import-*.rtsnap` in the snapshot directory.
pub fn latest_backup(snapshot_dir: &Path, env: &str) -> Result<PathBuf> {
    let prefix = format!("{env}-pre-import-");
    let listing = crate::snapshot::catalog::list(snapshot_dir, Some(env))?;
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
        let path = super::super::safety::backup_path(dir.path(), "prod", "pre-import");
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("prod-pre-import-2"));
    }
}
