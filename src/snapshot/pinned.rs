//! The snapshot an import writes is the one it checked and showed. Import reads its
//! archive several times (phase 1 verifies it, phase 3 plans from it, phase 6 writes
//! from it, phase 7 compares with it), each pass opening the file by its path. If the
//! file is replaced or rewritten in between (while the confirmation waits, say), a
//! later pass would read another snapshot, which its own manifest vouches for just as
//! well: the 2026-12-01 bug hunt made phase 6 write items the plan had never seen.
//!
//! So phase 1 pins the file it opened (device, inode, size, modification and change
//! times, taken from the open file itself), and every later pass opens the path
//! through [`open_pinned`], which refuses a file that is not that one. Any write to a
//! file, and any rename over it, changes its change time, which no user can set. No
//! crate does this; it is a few lines over `std::fs::Metadata`.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::archive::ArchiveError;
use crate::error::{Error, Result};

/// What identifies one version of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    unix: (u64, u64, i64, i64),
}

impl FileIdentity {
    fn of(file: &File, path: &Path) -> Result<FileIdentity> {
        let meta = file.metadata().map_err(Error::io(format!(
            "reading the metadata of {}",
            path.display()
        )))?;
        #[cfg(unix)]
        let unix = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino(), meta.ctime(), meta.ctime_nsec())
        };
        Ok(FileIdentity {
            len: meta.len(),
            modified: meta.modified().ok(),
            #[cfg(unix)]
            unix,
        })
    }
}

/// Pinned files, by absolute path. Process-wide because the passes that open the
/// snapshot are spread over sections that receive only its path.
static PINS: Mutex<BTreeMap<PathBuf, FileIdentity>> = Mutex::new(BTreeMap::new());

fn key(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn open(path: &Path) -> Result<File> {
    File::open(path).map_err(Error::io(format!("opening {}", path.display())))
}

/// Opens `path` and pins the version opened: later [`open_pinned`] calls must find the
/// same one. Pinning again (a later import of the same path) replaces the pin.
pub fn open_and_pin(path: &Path) -> Result<File> {
    let file = open(path)?;
    let identity = FileIdentity::of(&file, path)?;
    if let Ok(mut pins) = PINS.lock() {
        pins.insert(key(path), identity);
    }
    Ok(file)
}

/// Opens `path`; if it was pinned, only if it is still the version pinned.
pub fn open_pinned(path: &Path) -> Result<File> {
    let file = open(path)?;
    let pinned = PINS
        .lock()
        .ok()
        .and_then(|pins| pins.get(&key(path)).cloned());
    if let Some(pinned) = pinned {
        if FileIdentity::of(&file, path)? != pinned {
            return Err(Error::Archive(ArchiveError::Changed(format!(
                "{} changed after it was verified (replaced or rewritten); nothing more is \
                 read from it: check the file and run the command again",
                path.display()
            ))));
        }
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_or_rewritten_file_is_refused_after_pinning() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("snap.rtsnap");
        std::fs::write(&path, b"first version").expect("write");
        open_pinned(&path).expect("not pinned yet: opens");
        open_and_pin(&path).expect("pin");
        open_pinned(&path).expect("unchanged: opens");

        // Rewritten in place, same length.
        std::fs::write(&path, b"other version").expect("rewrite");
        let err = open_pinned(&path).expect_err("rewritten");
        assert!(
            err.to_string().contains("changed after it was verified"),
            "{err}"
        );

        // Replaced by a rename.
        open_and_pin(&path).expect("pin again");
        let other = dir.path().join("other.rtsnap");
        std::fs::write(&other, b"other version").expect("write");
        std::fs::rename(&other, &path).expect("rename");
        assert!(open_pinned(&path).is_err(), "replaced");
    }
}
