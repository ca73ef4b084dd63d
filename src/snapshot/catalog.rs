//! `list`: the snapshots in the snapshot directory, read from file names and file
//! metadata alone, so it works without a key.
//!
//! Names follow design §4: `<env>-<YYYY-MM-DD>[-HHMMSS].rtsnap` for exports and
//! `<env>-pre-import-<timestamp>.rtsnap` for the backups import takes.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};

/// One snapshot file.
#[derive(Debug, Clone, Serialize)]
pub struct ListedSnapshot {
    pub file: PathBuf,
    pub name: String,
    /// The environment, as the file name tells it (`None` for other names).
    pub env: Option<String>,
    pub kind: SnapshotKind,
    pub size: u64,
    /// Modification time, RFC 3339 UTC.
    pub modified: String,
    pub has_sidecar: bool,
}

/// Export or pre-import backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SnapshotKind {
    Export,
    PreImportBackup,
    /// Taken by `rollback` before it restores.
    PreRollbackBackup,
    Other,
}

/// The listing.
#[derive(Debug, Clone, Serialize)]
pub struct ListReport {
    pub dir: PathBuf,
    pub snapshots: Vec<ListedSnapshot>,
    /// Imports and rollbacks the journal records (of `env`, when given), oldest first.
    pub imports: Vec<super::journal::RunRecord>,
}

/// Lists `*.rtsnap` in `dir`, oldest first, optionally only those of `env`.
pub fn list(dir: &Path, env: Option<&str>) -> Result<ListReport> {
    let mut snapshots = Vec::new();
    if dir.exists() {
        let entries =
            std::fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".rtsnap") {
                continue;
            }
            let meta = entry
                .metadata()
                .map_err(Error::io(format!("reading {}", entry.path().display())))?;
            let (parsed_env, kind) = parse_name(&name);
            if env.is_some_and(|want| parsed_env.as_deref() != Some(want)) {
                continue;
            }
            snapshots.push(ListedSnapshot {
                file: entry.path(),
                has_sidecar: crate::archive::sidecar::sidecar_path(&entry.path()).exists(),
                name,
                env: parsed_env,
                kind,
                size: meta.len(),
                modified: meta.modified().map(rfc3339).unwrap_or_default(),
            });
        }
    }
    snapshots.sort_by(|a, b| (&a.modified, &a.name).cmp(&(&b.modified, &b.name)));
    let imports = super::journal::Journal::new(dir)
        .records()?
        .into_iter()
        .filter(|r| env.is_none_or(|want| r.target == want))
        .collect();
    Ok(ListReport {
        dir: dir.to_path_buf(),
        snapshots,
        imports,
    })
}

/// `staging-2025-08-12.rtsnap` → (staging, export);
/// `prod-eu-pre-import-20250812T093000Z.rtsnap` → (prod-eu, backup).
pub fn parse_name(name: &str) -> (Option<String>, SnapshotKind) {
    let stem = name.strip_suffix(".rtsnap").unwrap_or(name);
    if let Some(at) = stem.find("-pre-import-") {
        return (Some(stem[..at].to_owned()), SnapshotKind::PreImportBackup);
    }
    if let Some(at) = stem.find("-pre-rollback-") {
        return (Some(stem[..at].to_owned()), SnapshotKind::PreRollbackBackup);
    }
    // Find `-YYYY-MM-DD` and take what precedes it.
    let bytes = stem.as_bytes();
    for at in (0..bytes.len()).rev() {
        let rest = &stem[at..];
        if rest.len() >= 11 && is_date_suffix(&rest[1..11]) && bytes[at] == b'-' && at > 0 {
            return (Some(stem[..at].to_owned()), SnapshotKind::Export);
        }
    }
    (None, SnapshotKind::Other)
}

fn is_date_suffix(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// To the second: listings line up and sort the same as text.
fn rfc3339(time: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(time)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_export_and_backup_names() {
        assert_eq!(
            parse_name("staging-2025-08-12.rtsnap"),
            (Some("staging".into()), SnapshotKind::Export)
        );
        assert_eq!(
            parse_name("prod-eu-2025-08-12-093000.rtsnap"),
            (Some("prod-eu".into()), SnapshotKind::Export)
        );
        assert_eq!(
            parse_name("production-pre-import-20250812T093000Z.rtsnap"),
            (Some("production".into()), SnapshotKind::PreImportBackup)
        );
        assert_eq!(parse_name("demo.rtsnap"), (None, SnapshotKind::Other));
    }
}
