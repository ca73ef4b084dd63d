//! Reading the tables section back from an archive: the snapshot's items of the
//! selected models, streamed one by one through the full verifying reader.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::archive::schema::TableSchema;
use crate::archive::{parse_item, ArchiveError, DecryptionKey, EntryKind, Item, SnapshotReader};
use crate::error::{Error, Result};
use crate::section::owner::{OwnerRewrite, RewriteOutcome};
use crate::section::tables::relations::related::Picked;

/// Which snapshot items an import considers, and how their owner fields change.
#[derive(Debug, Clone, Copy)]
pub struct Selection<'a> {
    pub models: &'a [String],
    /// The first N items of each model (`--limit`).
    pub limit: Option<u64>,
    /// Only these items, by ordinal per model (`--with-related`); a model without an
    /// entry contributes nothing.
    pub pick: Option<&'a Picked>,
    /// Owner fields to rewrite to the target's subs (when users moved pools).
    pub owners: Option<&'a OwnerRewrite>,
}

impl<'a> Selection<'a> {
    /// Every item of `models`, as the snapshot has them.
    pub fn all(models: &'a [String]) -> Self {
        Selection {
            models,
            limit: None,
            pick: None,
            owners: None,
        }
    }
}

/// A [`Selection`] that owns its parts, for a thread of its own.
#[derive(Debug, Clone)]
pub struct OwnedSelection {
    pub models: Vec<String>,
    pub limit: Option<u64>,
    pub pick: Option<Picked>,
    pub owners: Option<OwnerRewrite>,
}

impl OwnedSelection {
    pub fn borrow(&self) -> Selection<'_> {
        Selection {
            models: &self.models,
            limit: self.limit,
            pick: self.pick.as_ref(),
            owners: self.owners.as_ref(),
        }
    }
}

impl Selection<'_> {
    pub fn to_owned_selection(&self) -> OwnedSelection {
        OwnedSelection {
            models: self.models.to_vec(),
            limit: self.limit,
            pick: self.pick.cloned(),
            owners: self.owners.cloned(),
        }
    }
}

/// Where a snapshot item is, and what rewriting its owner fields did.
#[derive(Debug, Clone, Copy)]
pub struct ItemAt<'a> {
    pub owners: RewriteOutcome,
    /// The items entry, e.g. `tables/Contact/items-000001.jsonl`.
    pub path: &'a str,
    /// The line in that entry, from 1.
    pub line: u64,
}

impl ItemAt<'_> {
    /// An error naming this item's place: `<path> line <n>: <reason>` (exit 3, as
    /// for every defect of the snapshot itself).
    pub fn bad(&self, reason: String) -> Error {
        // The reason quotes keys and attribute names from the archive: a newline or a
        // terminal escape in one must neither break the line nor reach the terminal.
        Error::Archive(ArchiveError::BadLine {
            path: self.path.to_owned(),
            line: self.line,
            reason: ArchiveError::printable(&reason),
        })
    }
}

/// Streams the snapshot's items of the selected models, owner fields rewritten,
/// calling `each(model, item, where it is and what the rewrite did)`. Runs the full
/// verifying reader, so the pass fails if the file changed since phase 1.
pub fn for_each_item(
    archive: &Path,
    key: &DecryptionKey,
    selection: Selection<'_>,
    mut each: impl FnMut(&str, Item, ItemAt<'_>) -> Result<()>,
) -> Result<()> {
    let file = crate::snapshot::pinned::open_pinned(archive)?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut taken: BTreeMap<String, u64> = BTreeMap::new();
    let mut ordinals: BTreeMap<String, u64> = BTreeMap::new();
    let mut failure: Option<Error> = None;
    reader.read_all(|_, entry| {
        let EntryKind::TableItems { model, .. } = entry.kind else {
            return Ok(());
        };
        if failure.is_some() || !selection.models.iter().any(|m| m == model) {
            return Ok(());
        }
        let picked = match selection.pick {
            Some(pick) => match pick.get(model) {
                Some(set) => Some(set),
                None => return Ok(()),
            },
            None => None,
        };
        let ordinal = ordinals.entry(model.clone()).or_default();
        let count = taken.entry(model.clone()).or_default();
        let mut lines = BufReader::new(entry.data);
        let mut line = Vec::new();
        let mut line_no = 0u64;
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
            line_no += 1;
            let mut item = parse_item(&line).map_err(|e| ArchiveError::BadLine {
                path: entry.path.to_owned(),
                line: line_no,
                reason: e.to_string(),
            })?;
            let this = *ordinal;
            *ordinal += 1;
            if picked.is_some_and(|set| !set.contains(&this)) {
                continue;
            }
            *count += 1;
            let outcome = selection
                .owners
                .map(|owners| owners.apply(model, &mut item))
                .unwrap_or_default();
            let at = ItemAt {
                owners: outcome,
                path: entry.path,
                line: line_no,
            };
            if let Err(e) = each(model, item, at) {
                failure = Some(e);
                return Ok(());
            }
        }
    })?;
    failure.map_or(Ok(()), Err)
}

/// The item on line `line` of the items entry `path`, as the snapshot has it (to name
/// an item found faulty after it streamed past).
pub fn item_at(archive: &Path, key: &DecryptionKey, path: &str, line: u64) -> Result<Item> {
    let file = crate::snapshot::pinned::open_pinned(archive)?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut found = None;
    reader.read_all(|_, entry| {
        if entry.path != path || found.is_some() {
            return Ok(());
        }
        let mut lines = BufReader::new(entry.data);
        let mut text = Vec::new();
        for _ in 0..line {
            text.clear();
            lines
                .read_until(b'\n', &mut text)
                .map_err(ArchiveError::io(format!("reading {path}")))?;
        }
        found = Some(parse_item(&text).map_err(|e| ArchiveError::BadLine {
            path: path.to_owned(),
            line,
            reason: e.to_string(),
        })?);
        Ok(())
    })?;
    found.ok_or_else(|| Error::Failed(format!("{path} line {line}: not in the snapshot")))
}

/// What [`for_each_table_item`] shows: a table's schema (before its items), then its
/// items.
pub enum TableEvent<'a> {
    Schema(&'a str, &'a TableSchema),
    Item(&'a str, Item),
}

/// Streams every table of the snapshot, schema first, through the full verifying
/// reader (checks that need each model's key, such as `rtsnap check`).
pub fn for_each_table_item(
    archive: &Path,
    key: &DecryptionKey,
    mut each: impl FnMut(TableEvent<'_>),
) -> Result<()> {
    let file = crate::snapshot::pinned::open_pinned(archive)?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    reader.read_all(|_, entry| {
        match entry.kind {
            EntryKind::TableSchema { model } => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(entry.data, &mut bytes)
                    .map_err(ArchiveError::io(format!("reading {}", entry.path)))?;
                let schema = TableSchema::from_json(&bytes)
                    .map_err(|e| ArchiveError::Corrupt(format!("{}: {e}", entry.path)))?;
                each(TableEvent::Schema(model, &schema));
            }
            EntryKind::TableItems { model, .. } => {
                let mut lines = BufReader::new(entry.data);
                let mut line = Vec::new();
                loop {
                    line.clear();
                    let n = lines
                        .read_until(b'\n', &mut line)
                        .map_err(ArchiveError::io(format!("reading {}", entry.path)))?;
                    if n == 0 {
                        break;
                    }
                    let item =
                        parse_item(&line).map_err(|e| ArchiveError::Invalid(e.to_string()))?;
                    each(TableEvent::Item(model, item));
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(())
}
