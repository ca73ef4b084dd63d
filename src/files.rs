//! Where snapshot files may go and how they are written. Snapshots hold personal
//! data, so they are created 0600 (folders 0700), never inside a git work tree unless
//! the operator insists, never over an existing file, and atomically: a snapshot is
//! written as `<name>.partial` and renamed only once complete, so a crash or an error
//! never leaves a file that looks like a finished snapshot.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name; see the module docs.
#[derive(Debug)]
pub struct StagedFile {
    target: PathBuf,
    partial: PathBuf,
    done: bool,
}

impl StagedFile {
    /// Creates `<target>.partial` (mode 0600, parents 0700). Refuses an existing target.
    pub fn create(target: &Path) -> Result<(StagedFile, File)> {
        if target.exists() {
            return Err(Error::Usage(format!(
                "{} already exists; choose another name or remove it first",
                target.display()
            )));
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        remove_if_stale(&partial)?;
        let file = private_options()
            .open(&partial)
            .map_err(Error::io(format!("creating {}", partial.display())))?;
        // Held until the file is closed: tells a later run whether this `.partial`
        // still has a writer (see `remove_if_stale`).
        file.lock()
            .map_err(Error::io(format!("locking {}", partial.display())))?;
        Ok((
            StagedFile {
                target: target.to_path_buf(),
                partial,
                done: false,
            },
            file,
        ))
    }

    /// The final path.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Syncs the file and gives it its final name.
    pub fn commit(mut self, file: File) -> Result<PathBuf> {
        file.sync_all()
            .map_err(Error::io(format!("syncing {}", self.partial.display())))?;
        drop(file);
        if self.target.exists() {
            return Err(Error::Failed(format!(
                "{} appeared while writing; the new snapshot is left at {}",
                self.target.display(),
                self.partial.display()
            )));
        }
        fs::rename(&self.partial, &self.target)
            .map_err(Error::io(format!("renaming to {}", self.target.display())))?;
        self.done = true;
        Ok(self.target.clone())
    }
}

impl Drop for StagedFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.partial);
        }
    }
}

/// A `.partial` left by a run that was killed (no process holds its lock) is removed,
/// so the next run can write under the same name; one that a running rtsnap is writing
/// is refused.
fn remove_if_stale(partial: &Path) -> Result<()> {
    match sweep(partial)? {
        Partial::Absent | Partial::Removed => Ok(()),
        Partial::Live => Err(Error::Usage(format!(
            "another rtsnap is writing {} right now; wait for it to finish",
            partial.display()
        ))),
    }
}

/// What [`sweep`] found.
enum Partial {
    Absent,
    /// Left by a killed run, now removed.
    Removed,
    /// Held by a running writer, left alone.
    Live,
}

/// Removes `partial` unless a live writer holds its lock.
fn sweep(partial: &Path) -> Result<Partial> {
    let Ok(existing) = OpenOptions::new().write(true).open(partial) else {
        return Ok(Partial::Absent);
    };
    match existing.try_lock() {
        Ok(()) => {
            drop(existing);
            fs::remove_file(partial).map_err(Error::io(format!(
                "removing the stale {}",
                partial.display()
            )))?;
            tracing::info!("removed {}, left by an interrupted run", partial.display());
            Ok(Partial::Removed)
        }
        Err(std::fs::TryLockError::WouldBlock) => Ok(Partial::Live),
        Err(std::fs::TryLockError::Error(e)) => Err(Error::Io {
            context: format!("checking {}", partial.display()),
            source: e,
        }),
    }
}

/// Removes every `<prefix>*.rtsnap.partial` in `dir` that no live writer holds, and
/// returns their paths. Pre-import backups are named after the moment they start, so
/// the `.partial` of a backup killed midway is never the next backup's name and
/// [`StagedFile::create`] alone would leave it behind for good; the next backup of the
/// same environment sweeps it with this. A backup another rtsnap is still writing is
/// left alone.
pub fn remove_stale_partials(dir: &Path, prefix: &str) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(Error::Io {
                context: format!("listing {}", dir.display()),
                source: e,
            })
        }
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("listing {}", dir.display())))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().is_ok_and(|t| t.is_file());
        if !(is_file && name.starts_with(prefix) && name.ends_with(".rtsnap.partial")) {
            continue;
        }
        let path = entry.path();
        if let Partial::Removed = sweep(&path)? {
            removed.push(path);
        }
    }
    removed.sort();
    Ok(removed)
}

fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Creates a folder (and its parents) readable only by the owner.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(Error::io(format!("creating folder {}", dir.display())))
}

/// Writes a small private file (0600), refusing to overwrite.
pub fn write_private_file(path: &Path, contents: &[u8]) -> Result<()> {
    let (staged, mut file) = StagedFile::create(path)?;
    file.write_all(contents)
        .map_err(Error::io(format!("writing {}", path.display())))?;
    staged.commit(file)?;
    Ok(())
}

/// The top of the git work tree containing `path`, if any.
pub fn git_work_tree(path: &Path) -> Option<PathBuf> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().ok()?.join(path)
    };
    absolute
        .ancestors()
        .skip(1)
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Refuses snapshot paths inside a git work tree unless the operator named the file
/// and passed `--allow-in-repo` (design §5: snapshots hold personal data).
pub fn check_snapshot_location(path: &Path, explicit: bool, allow_in_repo: bool) -> Result<()> {
    if let Some(tree) = git_work_tree(path) {
        if !(explicit && allow_in_repo) {
            return Err(Error::Refused(format!(
                "refusing to write a snapshot inside the git work tree {} (snapshots hold personal data); write it elsewhere, or name the file with -o and add --allow-in-repo",
                tree.display()
            )));
        }
    }
    Ok(())
}

/// Refuses a snapshot directory inside a git work tree for files rtsnap names itself
/// (pre-import backups), where `-o` and `--allow-in-repo` do not apply.
pub fn check_snapshot_dir(dir: &Path) -> Result<()> {
    if let Some(tree) = git_work_tree(&dir.join("backup.rtsnap")) {
        return Err(Error::Refused(format!(
            "the snapshot directory {} is inside the git work tree {} (backups hold personal data); set [snapshots] dir or RTSNAP_HOME outside it, or pass --no-backup",
            dir.display(),
            tree.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_partial_backups_of_the_environment_are_removed_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        let names = [
            // Left by a killed backup of prod: removed.
            "prod-pre-import-20261201T010203004Z.rtsnap.partial",
            "prod-pre-import-20261201T010203004Z-002.rtsnap.partial",
            // Being written by a live rtsnap (locked below): kept.
            "prod-pre-import-20261201T020000000Z.rtsnap.partial",
            // Another environment's, another label's, a finished backup: not ours.
            "prod-eu-pre-import-20261201T010203004Z.rtsnap.partial",
            "prod-pre-rollback-20261201T010203004Z.rtsnap.partial",
            "prod-pre-import-20261201T000000000Z.rtsnap",
        ];
        for name in names {
            std::fs::write(path(name), b"x").unwrap();
        }
        let live = OpenOptions::new().write(true).open(path(names[2])).unwrap();
        live.lock().unwrap();

        let removed = remove_stale_partials(dir.path(), "prod-pre-import-").unwrap();
        assert_eq!(
            removed,
            vec![path(names[1]), path(names[0])],
            "sorted by path"
        );
        assert!(!path(names[0]).exists() && !path(names[1]).exists());
        for kept in &names[2..] {
            assert!(path(kept).exists(), "{kept} is kept");
        }
        drop(live);
        let removed = remove_stale_partials(dir.path(), "prod-pre-import-").unwrap();
        assert_eq!(removed, vec![path(names[2])], "once its writer is gone");
        assert!(remove_stale_partials(&path("missing"), "prod-")
            .unwrap()
            .is_empty());
    }
}
