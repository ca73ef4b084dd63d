//! The `.rtsnap` archive format, version 1 (`docs/format.md`): pure and synchronous,
//! no AWS and no network, so every property of the format is testable offline.
//!
//! Layers, outside in: age (X25519 recipients or one scrypt passphrase) → zstd → tar.
//! Inside: `rtsnap.json` first, tables, users, assets, `MANIFEST.json` last with every
//! entry's SHA-256 and each table's item count and order-independent content digest.

pub mod assets;
pub mod canonical;
mod canonical_scan;
pub mod crypto;
pub mod encoded;
mod error;
mod hashing;
pub mod header;
pub mod item;
pub mod layout;
pub mod limits;
mod line_hash;
mod line_threads;
mod lines;
#[cfg(test)]
mod random_items;
mod reader;
pub mod schema;
pub mod sidecar;
pub mod users;
mod writer;

pub use canonical::{canonical_item, item_hash, normalize_number, TableDigest};
pub use crypto::{DecryptionKey, EncryptionKey};
pub use encoded::EncodedItems;
pub use error::ArchiveError;
pub use hashing::{sha256_hex, HashingReader, HashingWriter};
pub use header::{Header, Manifest, SourceInfo, FORMAT_VERSION};
pub use item::{item_to_json, parse_export_line, parse_item, AttrValue, Item};
pub use layout::EntryKind;
pub use line_hash::LineHasher;
pub use line_threads::{set_line_helpers, MAX_SET_HELPERS};
pub use reader::{parse_header, EntryView, SnapshotReader, VerifiedSnapshot};
pub use writer::SnapshotWriter;
