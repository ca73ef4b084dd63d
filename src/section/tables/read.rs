//! Reading the tables section back from an archive: the snapshot's items of the
//! selected models, streamed one by one through the full verifying reader.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::archive::{parse_item, DecryptionKey, EntryKind, Item, SnapshotReader};
use crate::error::{Error, Result};

/// Which snapshot items an import considers.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub models: &'a [String],
    /// The first N items of each model (`--limit`).
    pub limit: Option<u64>,
}

/// Streams the snapshot's items of the selected models, calling `each(model, item)`.
/// Runs the full verifying reader, so the pass fails if the file changed since phase 1.
pub fn for_each_item(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    mut each: impl FnMut(&str, Item) -> Result<()>,
) -> Result<()> {
    let file = File::open(archive).map_err(Error::io(format!("opening {}", archive.display())))?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut taken: BTreeMap<String, u64> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    reader.read_all(|_, entry| {
        let EntryKind::TableItems { model, .. } = entry.kind else {
            return Ok(());
        };
        if failure.is_some() || !selection.models.iter().any(|m| m == model) {
            return Ok(());
        }
        let count = taken.entry(model.clone()).or_default();
        let mut lines = BufReader::new(entry.data);
        let mut line = Vec::new();
        loop {
            if selection.limit.is_some_and(|limit| *count >= limit) {
                return Ok(());
            }
            line.clear();
            let n =
                lines
                    .read_until(b'\n', &mut line)
                    .map_err(crate::archive::ArchiveError::io(format!(
                        "reading {}",
                        entry.path
                    )))?;
            if n == 0 {
                return Ok(());
            }
            let item = parse_item(&line)
                .map_err(|e| crate::archive::ArchiveError::Invalid(e.to_string()))?;
            *count += 1;
            if let Err(e) = each(model, item) {
                failure = Some(e);
                return Ok(());
            }
        }
    })?;
    failure.map_or(Ok(()), Err)
}
