//! `list [--env ENV] [--contents]`: the snapshots and backups in the snapshot directory.
//!
//! The catalog of file names lives in `snapshot::catalog` (rollback reads it too) and
//! needs no key. `--contents` goes further: with the key it reads and checks every
//! listed archive against its MANIFEST and shows what each holds (tables, items,
//! users, groups, assets). That costs a full decrypt of each file, so it is asked for,
//! never done by default; a file that fails its check is listed with the reason
//! instead of stopping the listing, because "which of my backups is intact?" is the
//! question this answers.

use serde::Serialize;

use crate::archive::DecryptionKey;
use crate::snapshot::{verify_archive, SnapshotSummary};

pub use crate::snapshot::catalog::{list, ListReport, ListedSnapshot, SnapshotKind};

/// What one listed archive holds, or why it could not be read.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum ListedContents {
    /// Every entry matched the manifest.
    Verified {
        #[serde(flatten)]
        summary: Box<SnapshotSummary>,
    },
    /// The archive could not be read or failed a check (one line, as the error prints).
    Unreadable { error: String },
}

/// The listing with each file's checked contents, in the listing's order.
#[derive(Debug, Clone, Serialize)]
pub struct ContentsReport {
    #[serde(flatten)]
    pub listing: ListReport,
    pub contents: Vec<ListedContents>,
}

impl ContentsReport {
    /// True when every listed archive verified.
    pub fn all_verified(&self) -> bool {
        self.contents
            .iter()
            .all(|c| matches!(c, ListedContents::Verified { .. }))
    }
}

/// Reads and checks every archive of `listing` with `key`.
pub fn with_contents(listing: ListReport, key: &DecryptionKey) -> ContentsReport {
    let contents = listing
        .snapshots
        .iter()
        .map(|s| match verify_archive(&s.file, key) {
            Ok((header, manifest)) => ListedContents::Verified {
                summary: Box::new(SnapshotSummary::from_manifest(&header, &manifest)),
            },
            Err(e) => ListedContents::Unreadable {
                error: e.to_string(),
            },
        })
        .collect();
    ContentsReport { listing, contents }
}
