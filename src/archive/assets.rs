//! The assets section's documents (`docs/format.md` §4.4): `assets/manifest.jsonl`,
//! one line per S3 object, and, for snapshots taken `--with-assets`, each object's
//! bytes as `assets/blobs/<name>`.
//!
//! A blob is named by the SHA-256 of its object's key, not by the key itself. S3 keys
//! are any UTF-8 up to 1,024 bytes: `..` segments, `a//b`, a trailing `/`, a key that
//! is also another key's "folder" (`a` and `a/b`), names longer than a file system
//! allows. None of those can be a safe file path, so the key stays in the manifest
//! line and the archive path is 64 hex digits that can never escape an `unpack`
//! directory.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where embedded object bytes live.
pub const BLOBS_DIR: &str = "assets/blobs/";

/// One S3 object, as `manifest.jsonl` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetObject {
    pub key: String,
    pub size: u64,
    /// S3's ETag, quotes included: a hint only (multipart ETags are not content hashes).
    pub etag: String,
    /// Lowercase hex SHA-256 of the object's bytes: what "same object" means.
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_encoding: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_disposition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_language: Option<String>,
    /// User metadata (`x-amz-meta-*`), names lower-case as S3 returns them.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// RFC 3339 UTC.
    pub last_modified: String,
    /// True when the object's bytes are in the archive at [`blob_path`].
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub embedded: bool,
}

impl AssetObject {
    /// Checks what a restore relies on: a key S3 accepts and a SHA-256 in hex.
    pub fn check(&self) -> Result<(), String> {
        if self.key.is_empty() || self.key.len() > 1024 {
            return Err(format!(
                "key of {} bytes (S3 keys are 1 to 1,024 bytes)",
                self.key.len()
            ));
        }
        if !super::hashing::is_sha256_hex(&self.sha256) {
            return Err(format!(
                "{}: sha256 is not 64 lowercase hex digits",
                self.key
            ));
        }
        Ok(())
    }

    /// Same bytes (size and SHA-256) and the same headers and metadata.
    pub fn same_object(&self, other: &AssetObject) -> bool {
        self.same_content(other)
            && self.content_type == other.content_type
            && self.cache_control == other.cache_control
            && self.content_encoding == other.content_encoding
            && self.content_disposition == other.content_disposition
            && self.content_language == other.content_language
            && self.metadata == other.metadata
    }

    /// Same size and SHA-256.
    pub fn same_content(&self, other: &AssetObject) -> bool {
        self.size == other.size && self.sha256 == other.sha256
    }
}

/// The archive path of `key`'s bytes: `assets/blobs/<sha256(key) in hex>`.
pub fn blob_path(key: &str) -> String {
    format!("{BLOBS_DIR}{}", super::hashing::sha256_hex(key.as_bytes()))
}

/// Checks the asset manifest's claims against the blob entries written or read before
/// it: every embedded object has its blob with the same size and SHA-256, and every
/// blob belongs to an embedded object.
pub(crate) fn check_claims(
    claims: &[super::lines::BlobClaim],
    entries: &[super::header::ManifestEntry],
) -> Result<(), super::ArchiveError> {
    let blobs: BTreeMap<&str, &super::header::ManifestEntry> = entries
        .iter()
        .filter(|e| e.path.starts_with(BLOBS_DIR))
        .map(|e| (e.path.as_str(), e))
        .collect();
    for claim in claims {
        let Some(entry) = blobs.get(claim.path.as_str()) else {
            return Err(super::ArchiveError::Corrupt(format!(
                "assets/manifest.jsonl lists an embedded object whose blob {} is missing",
                claim.path
            )));
        };
        if entry.size != claim.size || entry.sha256 != claim.sha256 {
            return Err(super::ArchiveError::Corrupt(format!(
                "blob {} does not hold the bytes assets/manifest.jsonl describes",
                claim.path
            )));
        }
    }
    if blobs.len() != claims.len() {
        return Err(super::ArchiveError::Corrupt(format!(
            "{} blobs, but assets/manifest.jsonl lists {} embedded objects",
            blobs.len(),
            claims.len()
        )));
    }
    Ok(())
}

/// One `manifest.jsonl` line, `\n` included.
pub fn to_json_line(object: &AssetObject) -> Vec<u8> {
    // Serializing a struct of strings and maps cannot fail.
    let mut line = serde_json::to_vec(object).unwrap_or_default();
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_paths_are_safe_whatever_the_key() {
        for key in [
            "../../etc/passwd",
            "a//b",
            "dir/",
            "/lead",
            &"k".repeat(1024),
        ] {
            let path = blob_path(key);
            let name = path.strip_prefix(BLOBS_DIR).unwrap();
            assert_eq!(name.len(), 64, "{key}");
            assert!(name.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
        }
        assert_ne!(blob_path("a"), blob_path("a/"));
    }
}
