//! `inspect` and `verify`: what a snapshot holds, and whether it is intact.
//!
//! Without a key only the sidecar can be checked (the whole file's SHA-256, the
//! archivist's check). With a key every entry is decrypted and checked against
//! `MANIFEST.json`, item counts and table digests included.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::sidecar::{check_sidecar, sidecar_path};
use crate::archive::DecryptionKey;
use crate::error::{Error, Result};
use crate::snapshot::{verify_archive, SnapshotSummary};

/// What `inspect` found.
#[derive(Debug, Clone, Serialize)]
pub struct InspectReport {
    pub file: PathBuf,
    pub size: u64,
    pub sidecar: SidecarStatus,
    /// True: every entry was read and matched the manifest.
    pub verified: bool,
    #[serde(flatten)]
    pub summary: SnapshotSummary,
}

/// The sidecar's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SidecarStatus {
    Matches,
    Missing,
}

/// What `verify` checked.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub file: PathBuf,
    pub sidecar: SidecarStatus,
    /// Entries checked with the key; `None` when no key was given.
    pub entries_verified: Option<usize>,
    pub summary: Option<SnapshotSummary>,
}

/// Decrypts and checks the whole archive, then summarises it.
pub fn inspect(file: &Path, key: &DecryptionKey) -> Result<InspectReport> {
    let size = file_size(file)?;
    let sidecar = sidecar_status(file)?;
    let (header, manifest) = verify_archive(file, key)?;
    Ok(InspectReport {
        file: file.to_path_buf(),
        size,
        sidecar,
        verified: true,
        summary: SnapshotSummary::from_manifest(&header, &manifest),
    })
}

/// Checks the sidecar and, with a key, every entry.
pub fn verify(file: &Path, key: Option<&DecryptionKey>) -> Result<VerifyReport> {
    file_size(file)?;
    let sidecar = sidecar_status(file)?;
    let Some(key) = key else {
        if sidecar == SidecarStatus::Missing {
            return Err(Error::Usage(format!(
                "{} has no sidecar and no key was given: nothing to verify against (pass --identity or set RTSNAP_PASSPHRASE)",
                file.display()
            )));
        }
        return Ok(VerifyReport {
            file: file.to_path_buf(),
            sidecar,
            entries_verified: None,
            summary: None,
        });
    };
    let (header, manifest) = verify_archive(file, key)?;
    Ok(VerifyReport {
        file: file.to_path_buf(),
        sidecar,
        entries_verified: Some(manifest.entries.len()),
        summary: Some(SnapshotSummary::from_manifest(&header, &manifest)),
    })
}

/// A present sidecar must match; a missing one is reported, not an error.
fn sidecar_status(file: &Path) -> Result<SidecarStatus> {
    if !sidecar_path(file).exists() {
        return Ok(SidecarStatus::Missing);
    }
    check_sidecar(file)?;
    Ok(SidecarStatus::Matches)
}

fn file_size(file: &Path) -> Result<u64> {
    let meta = std::fs::metadata(file).map_err(Error::io(format!("opening {}", file.display())))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!("{} is not a file", file.display())));
    }
    Ok(meta.len())
}
