//! Giving a finished archive its final name: flush, rename the staged `.partial` file
//! into place, and write the `.sha256` sidecar from the hash taken while writing (no
//! second read of the file). Shared by `pack` and by every snapshot written from a
//! live environment.

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::archive::sidecar::{sidecar_line, sidecar_path};
use crate::archive::HashingWriter;
use crate::error::{Error, Result};
use crate::files::{write_private_file, StagedFile};

/// A finished archive file: where it is, its size, its SHA-256 and its sidecar.
pub(crate) struct CommittedArchive {
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub sidecar: PathBuf,
}

/// Flushes a finished archive's output, gives the staged file its final name and
/// writes the sidecar from the hash taken while writing (no second read of the file).
pub(crate) fn commit_archive(
    staged: StagedFile,
    output: HashingWriter<BufWriter<File>>,
) -> Result<CommittedArchive> {
    let (buffered, sha256) = output.finish();
    let file = buffered.into_inner().map_err(|e| Error::Io {
        context: format!("writing {}", staged.target().display()),
        source: e.into_error(),
    })?;
    let size = file
        .metadata()
        .map_err(Error::io("reading the new archive's size"))?
        .len();
    let file = staged.commit(file)?;
    let sidecar = write_sidecar(&file, &sha256)?;
    Ok(CommittedArchive {
        file,
        size,
        sha256,
        sidecar,
    })
}

/// Writes `<archive>.sha256` (0600).
pub fn write_sidecar(archive: &Path, sha256: &str) -> Result<PathBuf> {
    let path = sidecar_path(archive);
    if path.exists() {
        fs::remove_file(&path).map_err(Error::io(format!("replacing {}", path.display())))?;
    }
    write_private_file(&path, sidecar_line(sha256, archive).as_bytes())?;
    Ok(path)
}
