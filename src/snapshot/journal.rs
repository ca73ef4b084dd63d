//! The import journal, `journal.jsonl` next to the snapshots: one line per event
//! (an import started with its backup, finished, or was rolled back), appended and
//! synced, never rewritten. It is what makes an interrupted migration safe to resume:
//!
//! - a re-run of the same snapshot into the same target resumes the unfinished import
//!   and keeps *its* backup, taken before the first attempt, instead of backing up
//!   the half-written target;
//! - `rollback` restores the backup of the oldest unfinished import of the target (the
//!   state before the failed migration began), or else of the last finished one.
//!
//! A line torn by a crash is skipped with a warning; every other line is one event.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The journal's file name in the snapshot directory.
pub const JOURNAL_FILE: &str = "journal.jsonl";

/// What kind of run an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Import,
    Rollback,
}

/// One line of the journal.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Started {
        id: String,
        kind: RunKind,
        target: String,
        snapshot: PathBuf,
        /// SHA-256 of the snapshot's MANIFEST: the same content whatever its file name.
        snapshot_id: String,
        /// `None` with `--no-backup`.
        backup: Option<PathBuf>,
        at: String,
        /// What the run covers (models, users, assets, mode, limit, pruning): a resume
        /// keeps the first attempt's backup, which covers only that. Absent in
        /// journals written before it was recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
    },
    Finished {
        id: String,
        at: String,
    },
    /// Undone by the rollback `by`.
    RolledBack {
        id: String,
        by: String,
        at: String,
    },
}

/// The state of one recorded run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Started, never finished: interrupted or failed (or still running).
    Unfinished,
    Finished,
    RolledBack,
}

/// One import or rollback, as the journal knows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub id: String,
    pub kind: RunKind,
    pub target: String,
    pub snapshot: PathBuf,
    pub snapshot_id: String,
    pub backup: Option<PathBuf>,
    /// See `Event::Started`.
    pub scope: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub state: RunState,
}

/// The journal of one snapshot directory.
pub struct Journal {
    path: PathBuf,
}

impl Journal {
    pub fn new(snapshot_dir: &Path) -> Journal {
        Journal {
            path: snapshot_dir.join(JOURNAL_FILE),
        }
    }

    /// Every recorded run, oldest first.
    pub fn records(&self) -> Result<Vec<RunRecord>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    context: format!("reading {}", self.path.display()),
                    source: e,
                })
            }
        };
        let mut records: Vec<RunRecord> = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let Ok(event) = serde_json::from_str::<Event>(line) else {
                tracing::warn!(
                    "{} line {}: not a journal event, skipped",
                    self.path.display(),
                    n + 1
                );
                continue;
            };
            apply(&mut records, event);
        }
        Ok(records)
    }

    /// The unfinished runs of `kind` into `target` whose backup still exists, oldest
    /// first: what `rollback` can still undo.
    pub fn unfinished(&self, kind: RunKind, target: &str) -> Result<Vec<RunRecord>> {
        Ok(self
            .records()?
            .into_iter()
            .filter(|r| {
                r.kind == kind
                    && r.target == target
                    && r.state == RunState::Unfinished
                    && r.backup.as_ref().is_some_and(|b| b.exists())
            })
            .collect())
    }

    /// The unfinished run of `snapshot_id` into `target` with the same `scope` whose
    /// backup still exists, if any: a re-run resumes it. (A run recorded without a
    /// scope, by an older rtsnap, matches any.)
    pub fn resumable(
        &self,
        kind: RunKind,
        target: &str,
        snapshot_id: &str,
        scope: &str,
    ) -> Result<Option<RunRecord>> {
        Ok(self.unfinished(kind, target)?.into_iter().rev().find(|r| {
            r.snapshot_id == snapshot_id && r.scope.as_deref().is_none_or(|s| s == scope)
        }))
    }

    /// What `rollback <target>` restores: the oldest unfinished import's backup (the
    /// state before a failed migration began), else the last finished import's.
    pub fn rollback_source(&self, target: &str) -> Result<Option<RunRecord>> {
        let imports: Vec<RunRecord> = self
            .records()?
            .into_iter()
            .filter(|r| r.kind == RunKind::Import && r.target == target && r.backup.is_some())
            .collect();
        let oldest_unfinished = imports.iter().find(|r| r.state == RunState::Unfinished);
        let last_finished = imports.iter().rev().find(|r| r.state == RunState::Finished);
        Ok(oldest_unfinished.or(last_finished).cloned())
    }

    /// Records a started run; returns its id.
    pub fn start(
        &self,
        kind: RunKind,
        target: &str,
        snapshot: &Path,
        snapshot_id: &str,
        backup: Option<&Path>,
        scope: &str,
    ) -> Result<String> {
        let at = super::write::now_rfc3339();
        // To the nanosecond: unique per run in practice.
        let id = format!("{target}-{}", super::write::compact_utc_stamp(true));
        self.append(&Event::Started {
            id: id.clone(),
            kind,
            target: target.to_owned(),
            snapshot: absolute(snapshot),
            snapshot_id: snapshot_id.to_owned(),
            backup: backup.map(absolute),
            at,
            scope: Some(scope.to_owned()),
        })?;
        Ok(id)
    }

    pub fn finish(&self, id: &str) -> Result<()> {
        self.append(&Event::Finished {
            id: id.to_owned(),
            at: super::write::now_rfc3339(),
        })
    }

    /// Marks every unfinished or finished import of `target` started at or after the
    /// restored one (`from`) as rolled back by the rollback run `by`.
    pub fn rolled_back(&self, target: &str, from: &str, by: &str) -> Result<()> {
        let records = self.records()?;
        let Some(start) = records.iter().position(|r| r.id == from) else {
            return Ok(());
        };
        for record in &records[start..] {
            if record.kind == RunKind::Import
                && record.target == target
                && record.state != RunState::RolledBack
            {
                self.append(&Event::RolledBack {
                    id: record.id.clone(),
                    by: by.to_owned(),
                    at: super::write::now_rfc3339(),
                })?;
            }
        }
        Ok(())
    }

    /// One line, appended and synced (short enough to be written in one `write`).
    fn append(&self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event)
            .map_err(|e| Error::Failed(format!("encoding a journal event: {e}")))?;
        line.push(b'\n');
        if let Some(dir) = self.path.parent() {
            crate::files::create_private_dir(dir)?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let context = format!("writing {}", self.path.display());
        let mut file = options
            .open(&self.path)
            .map_err(Error::io(context.clone()))?;
        if !ends_with_newline(&mut file).map_err(Error::io(context.clone()))? {
            // A line torn by a crash: end it, so this event is a line of its own.
            line.insert(0, b'\n');
        }
        file.write_all(&line).map_err(Error::io(context.clone()))?;
        file.sync_all().map_err(Error::io(context))
    }
}

/// Whether the file is empty or its last byte is a newline.
fn ends_with_newline(file: &mut std::fs::File) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8; 1];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn apply(records: &mut Vec<RunRecord>, event: Event) {
    match event {
        Event::Started {
            id,
            kind,
            target,
            snapshot,
            snapshot_id,
            backup,
            at,
            scope,
        } => {
            records.push(RunRecord {
                id,
                kind,
                target,
                snapshot,
                snapshot_id,
                backup,
                scope,
                started_at: at,
                finished_at: None,
                state: RunState::Unfinished,
            });
        }
        Event::Finished { id, at } => {
            if let Some(r) = records.iter_mut().find(|r| r.id == id) {
                r.state = RunState::Finished;
                r.finished_at = Some(at);
            }
        }
        Event::RolledBack { id, .. } => {
            if let Some(r) = records.iter_mut().find(|r| r.id == id) {
                r.state = RunState::RolledBack;
            }
        }
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_and_rollback_pick_the_backup_taken_before_the_first_attempt() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::new(dir.path());
        let b1 = dir.path().join("prod-pre-import-1.rtsnap");
        std::fs::write(&b1, b"x").unwrap();
        let snap = dir.path().join("snap.rtsnap");
        let first = journal
            .start(RunKind::Import, "prod", &snap, "abc", Some(&b1), "all")
            .unwrap();
        // A crash: no `finished`. A torn line follows.
        std::fs::OpenOptions::new()
            .append(true)
            .open(dir.path().join(JOURNAL_FILE))
            .unwrap()
            .write_all(b"{\"event\":\"fini")
            .unwrap();
        let resumed = journal
            .resumable(RunKind::Import, "prod", "abc", "all")
            .unwrap()
            .unwrap();
        assert_eq!(resumed.id, first);
        assert!(journal
            .resumable(RunKind::Import, "prod", "other", "all")
            .unwrap()
            .is_none());
        assert!(journal
            .resumable(RunKind::Import, "staging", "abc", "all")
            .unwrap()
            .is_none());
        // Another scope of the same snapshot (the 2026-12-01 bug hunt: `--only Big`
        // interrupted, then the whole snapshot resumed with the first backup alone).
        assert!(journal
            .resumable(RunKind::Import, "prod", "abc", "models=Big")
            .unwrap()
            .is_none());
        assert_eq!(
            journal.unfinished(RunKind::Import, "prod").unwrap().len(),
            1
        );
        assert_eq!(journal.rollback_source("prod").unwrap().unwrap().id, first);

        journal.finish(&first).unwrap();
        assert!(journal
            .resumable(RunKind::Import, "prod", "abc", "all")
            .unwrap()
            .is_none());
        let b2 = dir.path().join("prod-pre-import-2.rtsnap");
        std::fs::write(&b2, b"x").unwrap();
        let second = journal
            .start(RunKind::Import, "prod", &snap, "def", Some(&b2), "all")
            .unwrap();
        // The oldest unfinished wins over the last finished.
        assert_eq!(journal.rollback_source("prod").unwrap().unwrap().id, second);
        journal.finish(&second).unwrap();
        assert_eq!(journal.rollback_source("prod").unwrap().unwrap().id, second);
        journal.rolled_back("prod", &second, "r-1").unwrap();
        assert_eq!(journal.rollback_source("prod").unwrap().unwrap().id, first);
        let states: Vec<RunState> = journal.records().unwrap().iter().map(|r| r.state).collect();
        assert_eq!(states, vec![RunState::Finished, RunState::RolledBack]);
    }
}
