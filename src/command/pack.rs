//! `pack` and `unpack`: a snapshot directory (plain, reviewable JSONL) ⇄ an `.rtsnap`
//! archive. Both keep every file byte for byte; `MANIFEST.json` is derived data, so
//! `pack` recomputes it and `unpack` writes the archive's own.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::layout::{order_key, EntryKind, HEADER_PATH, MANIFEST_PATH};
use crate::archive::{DecryptionKey, EncryptionKey, HashingWriter, SnapshotReader, SnapshotWriter};
use crate::error::{Error, Result};
use crate::files::{create_private_dir, StagedFile};
use crate::snapshot::commit::commit_archive;
use crate::snapshot::SnapshotSummary;

/// What `pack` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PackReport {
    pub file: PathBuf,
    pub size: u64,
    /// SHA-256 of the encrypted file, as written to the sidecar.
    pub sha256: String,
    pub sidecar: PathBuf,
    #[serde(flatten)]
    pub summary: SnapshotSummary,
}

/// Where the archive goes and under which rules.
#[derive(Debug, Clone)]
pub struct Destination {
    pub path: PathBuf,
    /// Named explicitly with `-o` (only then may `allow_in_repo` apply).
    pub explicit: bool,
    pub allow_in_repo: bool,
}

/// Packs a snapshot directory into an encrypted archive and writes its sidecar.
pub fn pack(dir: &Path, dest: &Destination, key: &EncryptionKey) -> Result<PackReport> {
    crate::files::check_snapshot_location(&dest.path, dest.explicit, dest.allow_in_repo)?;
    let files = snapshot_files(dir)?;
    let header = fs::read(dir.join(HEADER_PATH)).map_err(Error::io(format!(
        "reading {}",
        dir.join(HEADER_PATH).display()
    )))?;
    let (staged, file) = StagedFile::create(&dest.path)?;
    let output = HashingWriter::new(BufWriter::with_capacity(1 << 20, file));
    let mut writer = SnapshotWriter::with_header_bytes(output, key, &header)?;
    for (relative, path) in files.iter().filter(|(r, _)| r != HEADER_PATH) {
        let file = File::open(path).map_err(Error::io(format!("opening {}", path.display())))?;
        let size = file
            .metadata()
            .map_err(Error::io(format!("reading {}", path.display())))?
            .len();
        writer.add_entry(relative, size, BufReader::with_capacity(1 << 20, file))?;
    }
    let (output, manifest) = writer.finish()?;
    let done = commit_archive(staged, output)?;
    let summary =
        SnapshotSummary::from_manifest(&crate::archive::parse_header(&header)?, &manifest);
    Ok(PackReport {
        file: done.file,
        size: done.size,
        sha256: done.sha256,
        sidecar: done.sidecar,
        summary,
    })
}

/// The files of a snapshot directory as (archive path, file path), in layout order.
/// Anything that is not part of the layout is an error, so nothing is silently left out.
fn snapshot_files(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    if !dir.join(HEADER_PATH).is_file() {
        return Err(Error::Usage(format!(
            "{} is not a snapshot directory (no {HEADER_PATH})",
            dir.display()
        )));
    }
    let mut found = Vec::new();
    collect_files(dir, dir, &mut found)?;
    let mut keyed = Vec::with_capacity(found.len());
    for (relative, path) in found {
        if relative == MANIFEST_PATH {
            continue;
        }
        let kind = EntryKind::classify(&relative)
            .map_err(|e| Error::Usage(format!("{}: {e}", dir.display())))?;
        keyed.push((order_key(&kind), relative, path));
    }
    keyed.sort();
    Ok(keyed.into_iter().map(|(_, r, p)| (r, p)).collect())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let entries = fs::read_dir(dir).map_err(Error::io(format!("listing {}", dir.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(Error::io(format!("reading {}", path.display())))?;
        if kind.is_dir() {
            collect_files(root, &path, out)?;
        } else if kind.is_file() {
            let relative = path
                .strip_prefix(root)
                .ok()
                .and_then(|r| r.to_str())
                .map(|r| r.replace(std::path::MAIN_SEPARATOR, "/"))
                .ok_or_else(|| Error::Usage(format!("{} has a non-UTF-8 name", path.display())))?;
            out.push((relative, path));
        } else {
            return Err(Error::Usage(format!(
                "{} is neither a file nor a folder (links are not packed)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// What `unpack` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct UnpackReport {
    pub dir: PathBuf,
    pub files: usize,
    #[serde(flatten)]
    pub summary: SnapshotSummary,
}

/// Unpacks an archive into a new directory. Everything is written to a staging folder
/// beside it and renamed into place only after the whole archive verified, so a bad
/// archive leaves nothing behind.
pub fn unpack(
    archive: &Path,
    dir: &Path,
    key: &DecryptionKey,
    allow_in_repo: bool,
) -> Result<UnpackReport> {
    if let (Some(tree), false) = (crate::files::git_work_tree(&dir.join("x")), allow_in_repo) {
        return Err(Error::Refused(format!(
            "refusing to unpack a snapshot inside the git work tree {} (snapshots hold personal data); unpack elsewhere, or add --allow-in-repo",
            tree.display()
        )));
    }
    if dir.exists()
        && fs::read_dir(dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        return Err(Error::Usage(format!(
            "{} exists and is not empty; unpack into a new folder",
            dir.display()
        )));
    }
    let file = File::open(archive).map_err(Error::io(format!("opening {}", archive.display())))?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let staging = staging_dir(dir);
    create_private_dir(&staging)?;
    let mut guard = RemoveOnDrop(Some(staging.clone()));
    let mut files = 0usize;
    let verified = reader.read_all(|_, entry| {
        let target = staging.join(entry.path);
        if let Some(parent) = target.parent() {
            create_private_dir(parent).map_err(to_archive_io)?;
        }
        let (staged, out) = StagedFile::create(&target).map_err(to_archive_io)?;
        let mut out = BufWriter::new(out);
        std::io::copy(entry.data, &mut out).map_err(crate::archive::ArchiveError::io(format!(
            "writing {}",
            target.display()
        )))?;
        let out = out
            .into_inner()
            .map_err(|e| crate::archive::ArchiveError::Io {
                context: format!("writing {}", target.display()),
                source: e.into_error(),
            })?;
        staged.commit(out).map_err(to_archive_io)?;
        files += 1;
        Ok(())
    })?;
    if dir.exists() {
        fs::remove_dir(dir).map_err(Error::io(format!("replacing empty {}", dir.display())))?;
    }
    fs::rename(&staging, dir).map_err(Error::io(format!("renaming into {}", dir.display())))?;
    guard.0 = None;
    Ok(UnpackReport {
        dir: dir.to_path_buf(),
        files,
        summary: SnapshotSummary::from_manifest(&verified.header, &verified.manifest),
    })
}

fn staging_dir(dir: &Path) -> PathBuf {
    let mut name = dir.as_os_str().to_owned();
    name.push(format!(".unpacking-{}", std::process::id()));
    PathBuf::from(name)
}

fn to_archive_io(e: Error) -> crate::archive::ArchiveError {
    match e {
        Error::Io { context, source } => crate::archive::ArchiveError::Io { context, source },
        other => crate::archive::ArchiveError::Invalid(other.to_string()),
    }
}

/// Removes a staging folder unless disarmed.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_dir_all(path);
        }
    }
}
