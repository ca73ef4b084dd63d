//! The `<file>.sha256` sidecar: the SHA-256 of the encrypted archive in `sha256sum`
//! format, so that anyone (an archivist, a backup job, `sha256sum -c`) can check a
//! snapshot's integrity without holding the key.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::{Path, PathBuf};

use super::error::ArchiveError;
use super::hashing::HashingReader;

/// `snap.rtsnap` → `snap.rtsnap.sha256`.
pub fn sidecar_path(archive: &Path) -> PathBuf {
    let mut name = archive.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

/// The sidecar line for an archive: `<hex>  <file name>\n`, as `sha256sum` prints it.
pub fn sidecar_line(sha256: &str, archive: &Path) -> String {
    let name = archive
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{sha256}  {name}\n")
}

/// Hashes a file by streaming it.
pub fn sha256_file(path: &Path) -> Result<String, ArchiveError> {
    let file = File::open(path).map_err(ArchiveError::io(format!("opening {}", path.display())))?;
    let mut reader = HashingReader::new(BufReader::with_capacity(1 << 20, file));
    io::copy(&mut reader, &mut io::sink())
        .map_err(ArchiveError::io(format!("reading {}", path.display())))?;
    Ok(reader.finish().0)
}

/// Outcome of checking an archive against its sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidecarCheck {
    pub expected: String,
    pub actual: String,
}

/// Checks an archive against its sidecar. A missing or malformed sidecar is an error;
/// a mismatch is [`ArchiveError::ChecksumMismatch`].
pub fn check_sidecar(archive: &Path) -> Result<SidecarCheck, ArchiveError> {
    let path = sidecar_path(archive);
    let text = std::fs::read_to_string(&path).map_err(ArchiveError::io(format!(
        "reading the sidecar {}",
        path.display()
    )))?;
    let expected = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| {
            ArchiveError::Corrupt(format!("{} is not a sha256sum line", path.display()))
        })?
        .to_ascii_lowercase();
    let actual = sha256_file(archive)?;
    if actual != expected {
        return Err(ArchiveError::ChecksumMismatch {
            path: archive.display().to_string(),
            listed_in: "the sidecar",
            expected,
            actual,
        });
    }
    Ok(SidecarCheck { expected, actual })
}
