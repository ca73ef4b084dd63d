//! Where each part of a snapshot lives inside the archive (and inside a snapshot
//! directory, which has the same layout). Paths are checked on write and on read so
//! that an archive can never name a file outside the directory it is unpacked into.

use std::fmt;

/// The header entry, always first.
pub const HEADER_PATH: &str = "rtsnap.json";
/// The manifest entry, always last.
pub const MANIFEST_PATH: &str = "MANIFEST.json";
/// Items chunks hold at most this many uncompressed bytes (design §4).
pub const MAX_CHUNK_BYTES: usize = 16 * 1024 * 1024;

/// What an entry path means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Header,
    TableSchema {
        model: String,
    },
    TableItems {
        model: String,
        chunk: u32,
    },
    UserPool,
    Groups,
    Users,
    AssetManifest,
    /// `assets/blobs/<name>`: an object's bytes; `name` is the SHA-256 of its key
    /// (`archive::assets::blob_path`), so no key can make an unsafe path.
    AssetBlob {
        name: String,
    },
    Manifest,
}

/// Why a path is not part of the rtsnap layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("entry path {path:?} is not part of the rtsnap layout: {reason}")]
pub struct LayoutError {
    pub path: String,
    pub reason: &'static str,
}

impl EntryKind {
    /// Classifies an entry path, rejecting anything outside the layout.
    pub fn classify(path: &str) -> Result<EntryKind, LayoutError> {
        let err = |reason| LayoutError {
            path: path.to_owned(),
            reason,
        };
        check_safe(path).map_err(err)?;
        let kind = match path {
            HEADER_PATH => EntryKind::Header,
            MANIFEST_PATH => EntryKind::Manifest,
            "users/pool.json" => EntryKind::UserPool,
            "users/groups.jsonl" => EntryKind::Groups,
            "users/users.jsonl" => EntryKind::Users,
            "assets/manifest.jsonl" => EntryKind::AssetManifest,
            _ => {
                if let Some(name) = path.strip_prefix("assets/blobs/") {
                    if !super::hashing::is_sha256_hex(name) {
                        return Err(err("blob names are 64 lowercase hex digits"));
                    }
                    EntryKind::AssetBlob {
                        name: name.to_owned(),
                    }
                } else if let Some(rest) = path.strip_prefix("tables/") {
                    let (model, file) = rest.split_once('/').ok_or_else(|| err("no file name"))?;
                    check_model_name(model).map_err(err)?;
                    let model = model.to_owned();
                    if file == "schema.json" {
                        EntryKind::TableSchema { model }
                    } else {
                        let chunk = parse_chunk_name(file).ok_or_else(|| {
                            err("table files are schema.json and items-NNNNNN.jsonl")
                        })?;
                        EntryKind::TableItems { model, chunk }
                    }
                } else {
                    return Err(err("unknown entry"));
                }
            }
        };
        Ok(kind)
    }

    /// The largest size the format allows for an entry of this kind, if it sets one.
    /// The reader checks a tar header's claimed size against it before reading a byte,
    /// so that an entry claiming 1 TiB is refused for what it is, not for the garbage
    /// (the next entries' bytes) it would otherwise read as its content; the writer
    /// checks the same limit so that it never makes an archive the reader refuses.
    pub fn max_size(&self) -> Option<u64> {
        match self {
            EntryKind::TableItems { .. } => Some(MAX_CHUNK_BYTES as u64),
            _ => None,
        }
    }

    /// Why `size` is refused for the entry at `path`, when it is over [`Self::max_size`].
    pub fn check_size(&self, path: &str, size: u64) -> Result<(), String> {
        match self.max_size() {
            Some(max) if size > max => Err(format!(
                "{path} claims {size} bytes, over the {max} bytes (16 MiB) an items chunk \
                 may hold (docs/format.md §4.2)"
            )),
            _ => Ok(()),
        }
    }
}

/// `items-000001.jsonl` → 1. Chunks are numbered from 1 with six digits (more if needed).
fn parse_chunk_name(file: &str) -> Option<u32> {
    let digits = file.strip_prefix("items-")?.strip_suffix(".jsonl")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

/// The path of a table's `n`-th items chunk.
pub fn items_path(model: &str, chunk: u32) -> String {
    format!("tables/{model}/items-{chunk:06}.jsonl")
}

/// The path of a table's schema.
pub fn schema_path(model: &str) -> String {
    format!("tables/{model}/schema.json")
}

/// Model names are Amplify model names: letters, digits and underscores.
pub fn check_model_name(model: &str) -> Result<(), &'static str> {
    if model.is_empty()
        || !model
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err("model names are letters, digits and underscores");
    }
    Ok(())
}

/// Relative, `/`-separated, no empty, `.` or `..` components, no NUL or backslash.
fn check_safe(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.starts_with('/') {
        return Err("paths are relative");
    }
    if path.contains('\0') || path.contains('\\') {
        return Err("paths contain no NUL or backslash");
    }
    if path
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return Err("paths have no empty, '.' or '..' components");
    }
    Ok(())
}

/// The order entries must appear in: header, tables (model by model, schema before
/// items), users, asset blobs (by name), the asset manifest, manifest. Blobs come
/// before the asset manifest because each manifest line carries its object's SHA-256,
/// which an export learns only while streaming the bytes into the archive. Used to sort a snapshot directory before packing
/// and to check an archive while reading.
pub fn order_key(kind: &EntryKind) -> (u8, String, u32) {
    match kind {
        EntryKind::Header => (0, String::new(), 0),
        EntryKind::TableSchema { model } => (1, model.clone(), 0),
        EntryKind::TableItems { model, chunk } => (1, model.clone(), *chunk),
        EntryKind::UserPool => (2, String::new(), 0),
        EntryKind::Groups => (3, String::new(), 0),
        EntryKind::Users => (4, String::new(), 0),
        EntryKind::AssetBlob { name } => (5, name.clone(), 0),
        EntryKind::AssetManifest => (6, String::new(), 0),
        EntryKind::Manifest => (7, String::new(), 0),
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryKind::Header => f.write_str("header"),
            EntryKind::TableSchema { model } => write!(f, "{model} schema"),
            EntryKind::TableItems { model, chunk } => write!(f, "{model} items chunk {chunk}"),
            EntryKind::UserPool => f.write_str("user pool settings"),
            EntryKind::Groups => f.write_str("groups"),
            EntryKind::Users => f.write_str("users"),
            EntryKind::AssetManifest => f.write_str("asset manifest"),
            EntryKind::AssetBlob { name } => write!(f, "asset blob {name}"),
            EntryKind::Manifest => f.write_str("manifest"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_layout() {
        assert_eq!(
            EntryKind::classify("rtsnap.json").unwrap(),
            EntryKind::Header
        );
        assert_eq!(
            EntryKind::classify("tables/Contact/items-000002.jsonl").unwrap(),
            EntryKind::TableItems {
                model: "Contact".into(),
                chunk: 2
            }
        );
        let name = "0123456789abcdef".repeat(4);
        assert_eq!(
            EntryKind::classify(&format!("assets/blobs/{name}")).unwrap(),
            EntryKind::AssetBlob { name }
        );
    }

    #[test]
    fn an_items_chunk_over_16_mib_is_refused_naming_its_claimed_size() {
        let items = EntryKind::classify("tables/Contact/items-000001.jsonl").unwrap();
        assert_eq!(items.check_size("p", MAX_CHUNK_BYTES as u64), Ok(()));
        let why = items.check_size("p", 1 << 40).unwrap_err();
        assert!(why.contains("claims 1099511627776 bytes"), "{why}");
        assert!(why.contains("16 MiB"), "{why}");
        // Other entries have no size limit in the format.
        let users = EntryKind::classify("users/users.jsonl").unwrap();
        assert_eq!(users.check_size("p", 1 << 40), Ok(()));
    }

    #[test]
    fn rejects_escapes_and_unknown_paths() {
        for path in [
            "/etc/passwd",
            "../x",
            "tables/../../x/schema.json",
            "assets/blobs/../../evil",
            "assets/blobs/a//b",
            "assets/blobs/public/a b/c.jpg",
            "assets/blobs/0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
            "tables/Con tact/schema.json",
            "tables/Contact/items-1.jsonl",
            "tables/Contact/items-000000.jsonl",
            "notes.txt",
            "",
        ] {
            assert!(EntryKind::classify(path).is_err(), "{path}");
        }
    }
}
