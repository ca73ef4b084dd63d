//! What the reader's walk computes as it goes (each entry's SHA-256, the order of
//! entries, each table's item count and content digest, the users' and assets'
//! counts) and the final check that `MANIFEST.json` describes exactly that.

use std::collections::BTreeMap;
use std::io::{self, Read};

use super::EntryView;
use crate::archive::canonical::TableDigest;
use crate::archive::error::ArchiveError;
use crate::archive::hashing::HashingReader;
use crate::archive::header::{Header, Manifest, ManifestEntry, FORMAT_VERSION};
use crate::archive::layout::{order_key, EntryKind};
use crate::archive::line_threads::observe;
use crate::archive::lines::{LineMode, LineObserver};

/// Everything computed during the walk, compared with the manifest at the end.
#[derive(Default)]
pub(super) struct WalkState {
    last_order: Option<(u8, String, u32)>,
    entries: Vec<ManifestEntry>,
    tables: BTreeMap<String, (u64, u32, TableDigest)>,
    users: u64,
    groups: u64,
    has_users: bool,
    users_digest: TableDigest,
    objects: u64,
    blobs: u64,
    has_assets: bool,
}

impl WalkState {
    pub(super) fn check_order(&mut self, path: &str, kind: &EntryKind) -> Result<(), ArchiveError> {
        let key = order_key(kind);
        if self.last_order.as_ref().is_some_and(|last| key <= *last) {
            return Err(ArchiveError::Corrupt(format!(
                "{path} is out of order or repeated"
            )));
        }
        if let EntryKind::TableItems { model, chunk } = kind {
            let have = self.tables.get(model).map_or(0, |t| t.1);
            if *chunk != have + 1 || self.last_order.as_ref().is_none_or(|l| l.1 != *model) {
                return Err(ArchiveError::Corrupt(format!(
                    "{path}: chunk out of sequence"
                )));
            }
        }
        self.last_order = Some(key);
        Ok(())
    }

    pub(super) fn record(&mut self, path: &str, bytes: &[u8]) {
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            size: bytes.len() as u64,
            sha256: crate::archive::hashing::sha256_hex(bytes),
        });
    }

    pub(super) fn stream_entry(
        &mut self,
        header: &Header,
        path: &str,
        kind: &EntryKind,
        size: u64,
        entry: &mut dyn Read,
        visit: &mut dyn FnMut(&Header, EntryView<'_>) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        let mode = match kind {
            EntryKind::TableItems { .. } => Some(LineMode::Items),
            EntryKind::Groups | EntryKind::Users => Some(LineMode::Json),
            EntryKind::AssetManifest => Some(LineMode::Assets),
            _ => None,
        };
        let mut observer = mode.map(|m| LineObserver::new(m, path));
        let mut hashing = HashingReader::new(entry);
        let outcome = observe(observer.as_mut(), size, &mut hashing, |observed| {
            visit(
                header,
                EntryView {
                    path,
                    kind,
                    size,
                    data: observed,
                },
            )?;
            io::copy(observed, &mut io::sink())
                .map(|_| ())
                .map_err(ArchiveError::io(format!("reading {path}")))
        })?;
        outcome?;
        if let Some(o) = observer.as_mut() {
            o.finish()?;
            if *kind == EntryKind::AssetManifest {
                crate::archive::assets::check_claims(&o.claims, &self.entries)?;
            }
        }
        let (sha256, read) = hashing.finish();
        if read != size {
            return Err(ArchiveError::Truncated(format!(
                "{path} is shorter than its header says"
            )));
        }
        let lines = observer.as_ref().map_or(0, |o| o.lines);
        match kind {
            EntryKind::TableSchema { model } => {
                self.tables.entry(model.clone()).or_default();
            }
            EntryKind::TableItems { model, .. } => {
                let table = self.tables.entry(model.clone()).or_default();
                table.0 += lines;
                table.1 += 1;
                if let Some(o) = observer.as_ref() {
                    table.2.merge(&o.digest);
                }
            }
            EntryKind::UserPool => self.has_users = true,
            EntryKind::Groups | EntryKind::Users => {
                self.has_users = true;
                if *kind == EntryKind::Groups {
                    self.groups += lines;
                } else {
                    self.users += lines;
                }
                if let Some(o) = observer.as_ref() {
                    self.users_digest.merge(&o.digest);
                }
            }
            EntryKind::AssetManifest => {
                (self.has_assets, self.objects) = (true, self.objects + lines)
            }
            EntryKind::AssetBlob { .. } => (self.has_assets, self.blobs) = (true, self.blobs + 1),
            EntryKind::Header | EntryKind::Manifest => {}
        }
        self.entries.push(ManifestEntry {
            path: path.to_owned(),
            size,
            sha256,
        });
        Ok(())
    }

    /// The manifest must describe exactly what was read.
    pub(super) fn compare(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        if manifest.format_version != FORMAT_VERSION {
            return Err(ArchiveError::Corrupt(format!(
                "MANIFEST.json format_version {} differs from the header's",
                manifest.format_version
            )));
        }
        let listed: BTreeMap<&str, &ManifestEntry> = manifest
            .entries
            .iter()
            .map(|e| (e.path.as_str(), e))
            .collect();
        for actual in &self.entries {
            let Some(expected) = listed.get(actual.path.as_str()) else {
                return Err(ArchiveError::Corrupt(format!(
                    "{} is not listed in MANIFEST.json",
                    actual.path
                )));
            };
            if expected.sha256 != actual.sha256 || expected.size != actual.size {
                return Err(ArchiveError::ChecksumMismatch {
                    path: actual.path.clone(),
                    listed_in: "MANIFEST.json",
                    expected: expected.sha256.clone(),
                    actual: actual.sha256.clone(),
                });
            }
        }
        if manifest.entries.len() != self.entries.len() {
            let missing = manifest
                .entries
                .iter()
                .find(|e| !self.entries.iter().any(|a| a.path == e.path))
                .map_or("an entry", |e| e.path.as_str());
            return Err(ArchiveError::Truncated(format!(
                "{missing} is listed in MANIFEST.json but absent"
            )));
        }
        self.compare_sections(manifest)
    }

    fn compare_sections(&self, manifest: &Manifest) -> Result<(), ArchiveError> {
        let models_read: Vec<&String> = self.tables.keys().collect();
        let models_listed: Vec<&String> = manifest.tables.keys().collect();
        if models_read != models_listed {
            return Err(ArchiveError::Corrupt(
                "MANIFEST.json lists other tables than the archive holds".into(),
            ));
        }
        for (model, (items, chunks, digest)) in &self.tables {
            let listed = &manifest.tables[model];
            if listed.items != *items
                || listed.chunks != *chunks
                || listed.digest != digest.to_hex()
            {
                return Err(ArchiveError::Corrupt(format!(
                    "table {model}: MANIFEST.json says {} items with digest {}, the archive holds {items} items with digest {}",
                    listed.items, listed.digest, digest.to_hex()
                )));
            }
            if *chunks == 0 {
                return Err(ArchiveError::Corrupt(format!(
                    "table {model} has no items chunk"
                )));
            }
        }
        let users = self
            .has_users
            .then(|| (self.users, self.groups, self.users_digest.to_hex()));
        let listed = manifest
            .users
            .as_ref()
            .map(|u| (u.users, u.groups, u.digest.clone()));
        if users != listed {
            return Err(ArchiveError::Corrupt(
                "users counts or digest differ from MANIFEST.json".into(),
            ));
        }
        let assets = self.has_assets.then_some((self.objects, self.blobs));
        if assets != manifest.assets.as_ref().map(|a| (a.objects, a.blobs)) {
            return Err(ArchiveError::Corrupt(
                "asset counts differ from MANIFEST.json".into(),
            ));
        }
        Ok(())
    }
}
