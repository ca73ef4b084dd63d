//! What commands report: one `Serialize` value per command, printed as one JSON
//! document with `--json`, or as text for a person. Keeping both views on the same
//! struct means the JSON and the text can never disagree.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::archive::{Header, Manifest};

/// A snapshot's identity and contents, as its header and manifest state them.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotSummary {
    pub format_version: u32,
    pub created_at: String,
    pub tool_version: String,
    pub source_env: String,
    pub backend_suffix: String,
    pub region: String,
    pub sections: Vec<String>,
    pub tables: BTreeMap<String, TableLine>,
    pub total_items: u64,
    pub users: Option<u64>,
    pub groups: Option<u64>,
    pub asset_objects: Option<u64>,
    pub asset_blobs: Option<u64>,
    pub entries: usize,
    /// Sum of the entries' uncompressed sizes.
    pub content_bytes: u64,
}

/// One table in a summary.
#[derive(Debug, Clone, Serialize)]
pub struct TableLine {
    pub items: u64,
    pub digest: String,
}

impl SnapshotSummary {
    pub fn from_manifest(header: &Header, manifest: &Manifest) -> Self {
        let tables: BTreeMap<String, TableLine> = manifest
            .tables
            .iter()
            .map(|(m, t)| {
                (
                    m.clone(),
                    TableLine {
                        items: t.items,
                        digest: t.digest.clone(),
                    },
                )
            })
            .collect();
        SnapshotSummary {
            format_version: header.format_version,
            created_at: header.created_at.clone(),
            tool_version: header.tool_version.clone(),
            source_env: header.source.env.clone(),
            backend_suffix: header.source.backend_suffix.clone(),
            region: header.source.region.clone(),
            sections: header.sections.clone(),
            total_items: tables.values().map(|t| t.items).sum(),
            tables,
            users: manifest.users.as_ref().map(|u| u.users),
            groups: manifest.users.as_ref().map(|u| u.groups),
            asset_objects: manifest.assets.as_ref().map(|a| a.objects),
            asset_blobs: manifest.assets.as_ref().map(|a| a.blobs),
            entries: manifest.entries.len(),
            content_bytes: manifest.entries.iter().map(|e| e.size).sum(),
        }
    }

    /// Human text: source, creation, per-table counts and digests.
    pub fn render(&self, out: &mut String, with_digests: bool) {
        let _ = writeln!(
            out,
            "snapshot of `{}` (suffix {}, {}) taken {} by rtsnap {}, format v{}",
            self.source_env,
            self.backend_suffix,
            self.region,
            self.created_at,
            self.tool_version,
            self.format_version
        );
        let _ = writeln!(
            out,
            "{} tables, {} items; {} entries, {} uncompressed",
            self.tables.len(),
            self.total_items,
            self.entries,
            human_bytes(self.content_bytes)
        );
        let width = self.tables.keys().map(String::len).max().unwrap_or(0);
        for (model, table) in &self.tables {
            if with_digests {
                let _ = writeln!(
                    out,
                    "  {model:<width$}  {:>9}  {}",
                    table.items, table.digest
                );
            } else {
                let _ = writeln!(out, "  {model:<width$}  {:>9}", table.items);
            }
        }
        if let (Some(users), Some(groups)) = (self.users, self.groups) {
            let _ = writeln!(out, "users: {users} users, {groups} groups");
        }
        if let (Some(objects), Some(blobs)) = (self.asset_objects, self.asset_blobs) {
            let _ = writeln!(out, "assets: {objects} objects listed, {blobs} embedded");
        }
    }
}

/// `1536` → `1.5 KiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
