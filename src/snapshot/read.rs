//! Reading a snapshot back: a full verifying pass that also keeps the small documents
//! an operation needs before it streams items (the header, the manifest, every table's
//! schema). Items are never held; sections stream them again when they need them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use crate::archive::schema::TableSchema;
use crate::archive::{DecryptionKey, EntryKind, Header, Manifest, SnapshotReader};
use crate::error::{Error, Result};
use crate::section::assets::read::AssetsSnapshot;
use crate::section::users::read::UsersSnapshot;

/// The header, manifest, every table schema, the users section and the asset
/// manifest, after a full verifying pass.
pub struct VerifiedContents {
    pub header: Header,
    pub manifest: Manifest,
    pub schemas: BTreeMap<String, TableSchema>,
    pub users: Option<UsersSnapshot>,
    pub assets: Option<AssetsSnapshot>,
}

/// A full verifying pass that keeps what import phase 1 and `verify --against` need.
pub fn read_verified(snapshot: &Path, key: &DecryptionKey) -> Result<VerifiedContents> {
    // Later passes (plan, write, verify) must read this very file: see `pinned`.
    let file = super::pinned::open_and_pin(snapshot)?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let mut schemas = BTreeMap::new();
    let mut users = None;
    let mut assets = None;
    let verified = reader.read_all(|header, entry| {
        crate::section::users::read::read_entry(entry.kind, entry.path, entry.data, &mut users)?;
        crate::section::assets::read::read_entry(
            entry.kind,
            entry.path,
            entry.data,
            header.source.bucket.as_deref(),
            &mut assets,
        )?;
        if let EntryKind::TableSchema { model } = entry.kind {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(entry.data, &mut bytes).map_err(
                crate::archive::ArchiveError::io(format!("reading {}", entry.path)),
            )?;
            let schema = TableSchema::from_json(&bytes).map_err(|e| {
                crate::archive::ArchiveError::Corrupt(format!("{}: {e}", entry.path))
            })?;
            schemas.insert(model.clone(), schema);
        }
        Ok(())
    })?;
    Ok(VerifiedContents {
        header: verified.header,
        manifest: verified.manifest,
        schemas,
        users,
        assets,
    })
}

/// Reads an archive completely, checking everything, without writing anything.
pub fn verify_archive(archive: &Path, key: &DecryptionKey) -> Result<(Header, Manifest)> {
    let file = File::open(archive).map_err(Error::io(format!("opening {}", archive.display())))?;
    let reader = SnapshotReader::open(BufReader::with_capacity(1 << 20, file), key)?;
    let verified = reader.read_all(|_, _| Ok(()))?;
    Ok((verified.header, verified.manifest))
}
