//! The two documents rtsnap writes about a snapshot: the header (`rtsnap.json`, first
//! entry: what this is and where it came from) and the manifest (`MANIFEST.json`, last
//! entry: what the archive holds and the checksums that prove it).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The archive format this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// The value of the header's `format` field.
pub const FORMAT_NAME: &str = "rtsnap";

/// `rtsnap.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub tool_version: String,
    /// RFC 3339 UTC, e.g. `2025-08-12T09:30:00Z`.
    pub created_at: String,
    pub source: SourceInfo,
    /// Which of `tables`, `users`, `assets` the snapshot includes.
    pub sections: Vec<String>,
}

/// The environment a snapshot was taken from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    pub env: String,
    pub backend_suffix: String,
    pub region: String,
    pub user_pool_id: Option<String>,
    pub bucket: Option<String>,
}

/// `MANIFEST.json`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// Every entry before the manifest, in archive order.
    pub entries: Vec<ManifestEntry>,
    /// Per model: item count and content digest.
    pub tables: BTreeMap<String, TableSummary>,
    pub users: Option<UsersSummary>,
    pub assets: Option<AssetsSummary>,
    /// What the exporter's referential-integrity check found, when its configuration
    /// declared `[[relations]]`. Informational: a reader cannot re-check it without that
    /// configuration, so it is recorded, never verified (see `docs/format.md` §5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegritySummary>,
}

/// One entry's size and checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    pub path: String,
    pub size: u64,
    /// Lowercase hex SHA-256 of the entry's bytes.
    pub sha256: String,
}

/// A table's exact item count and order-independent content digest.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSummary {
    pub items: u64,
    pub chunks: u32,
    /// See [`crate::archive::canonical::TableDigest`].
    pub digest: String,
}

/// Counts of the users section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSummary {
    pub users: u64,
    pub groups: u64,
    /// Order-independent digest of the lines of `users.jsonl` and `groups.jsonl`:
    /// the sum modulo 2^256 of the SHA-256 of each line (without its newline).
    #[serde(default)]
    pub digest: String,
}

/// Counts of the assets section.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetsSummary {
    /// Objects listed in `assets/manifest.jsonl`.
    pub objects: u64,
    /// Objects whose bytes are embedded under `assets/blobs/`.
    pub blobs: u64,
}

/// Referential integrity of a snapshot's tables: one outcome per declared relation.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegritySummary {
    pub relations: Vec<RelationOutcome>,
}

impl IntegritySummary {
    /// References, over every relation, whose target item does not exist.
    pub fn dangling(&self) -> u64 {
        self.relations.iter().map(|r| r.dangling).sum()
    }
}

/// One relation's check: `from = "Request.contactId"` → `to = "Contact.id"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationOutcome {
    pub from: String,
    pub to: String,
    /// Values found in the `from` field (list and set members count one each).
    pub references: u64,
    /// Of those, the ones no `to` item holds.
    pub dangling: u64,
    /// The first dangling values (in key order), each as `<Model> <key of the first
    /// item referring to it> -> <value>`, with `(and N more)` when other items refer
    /// to the same missing value.
    #[serde(default)]
    pub first_dangling: Vec<String>,
    /// Why the relation was not checked (a model absent from the data), if it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}
