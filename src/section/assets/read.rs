//! Reading the assets section back from an archive: the manifest is held in memory
//! while an import plans and applies it (a few hundred bytes per object); blobs are
//! streamed, one object at a time, when the import uploads them.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::archive::assets::AssetObject;
use crate::archive::{ArchiveError, DecryptionKey, EntryKind, SnapshotReader};
use crate::error::{Error, Result};

/// A snapshot's assets section.
#[derive(Debug, Clone)]
pub struct AssetsSnapshot {
    /// In key order.
    pub objects: Vec<AssetObject>,
    /// The bucket the snapshot was taken from (server-side copies read from it).
    pub source_bucket: Option<String>,
}

impl AssetsSnapshot {
    pub fn bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

/// Parses the asset manifest entry (the archive reader has checked every line);
/// other entries are ignored.
pub(crate) fn read_entry(
    kind: &EntryKind,
    path: &str,
    data: &mut dyn Read,
    source_bucket: Option<&str>,
    section: &mut Option<AssetsSnapshot>,
) -> Result<(), ArchiveError> {
    if *kind != EntryKind::AssetManifest {
        return Ok(());
    }
    let mut objects = Vec::new();
    for (n, line) in BufReader::new(data).lines().enumerate() {
        let line = line.map_err(ArchiveError::io(format!("reading {path}")))?;
        let object = serde_json::from_str(&line).map_err(|e| ArchiveError::BadLine {
            path: path.to_owned(),
            line: n as u64 + 1,
            reason: e.to_string(),
        })?;
        objects.push(object);
    }
    *section = Some(AssetsSnapshot {
        objects,
        source_bucket: source_bucket.map(str::to_owned),
    });
    Ok(())
}

/// Streams the blobs named in `wanted` (blob path → object), calling
/// `each(object, its bytes)` in archive order. Runs the full verifying reader, so the
/// pass fails if the file changed since import's phase 1.
pub fn for_each_blob(
    archive: &Path,
    key: &DecryptionKey,
    wanted: &HashMap<String, AssetObject>,
    mut each: impl FnMut(&AssetObject, &mut dyn Read) -> Result<()>,
) -> Result<()> {
    let file = crate::snapshot::pinned::open_pinned(archive)?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut failure: Option<Error> = None;
    reader.read_all(|_, entry| {
        if failure.is_some() || !matches!(entry.kind, EntryKind::AssetBlob { .. }) {
            return Ok(());
        }
        if let Some(object) = wanted.get(entry.path) {
            if let Err(e) = each(object, entry.data) {
                failure = Some(e);
            }
        }
        Ok(())
    })?;
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
