//! Looks at JSONL entries line by line as they stream past, so that item counts and
//! table digests are computed on the way into (and out of) the archive without a
//! second pass and without holding an entry in memory. Which thread looks is
//! `line_threads`' business.

use sha2::{Digest as _, Sha256};

use super::canonical::TableDigest;
use super::error::ArchiveError;
use super::line_hash::LineHasher;

/// A line longer than this is refused: DynamoDB items are at most 400 KB, so anything
/// far larger is garbage, and refusing it keeps memory bounded.
pub(super) const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// What to do with each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineMode {
    /// DynamoDB items: parse, count and digest.
    Items,
    /// Other JSONL (users, groups): check it is JSON, count.
    Json,
    /// The asset manifest: each line an object with a valid key and SHA-256, keys in
    /// strictly increasing byte order; embedded objects are remembered as claims that
    /// the archive's blob entries must match.
    Assets,
}

/// An asset manifest line's claim about its embedded blob: path, size, SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobClaim {
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

/// Accumulates counts (and for items the digest) over one entry.
pub(crate) struct LineObserver {
    pub(super) mode: LineMode,
    path: String,
    /// The start of a line whose newline has not come yet.
    pub(super) partial: Vec<u8>,
    pub(crate) lines: u64,
    pub(crate) digest: TableDigest,
    /// The first bad line; once set, later bytes are not looked at.
    pub(super) error: Option<ArchiveError>,
    hasher: LineHasher,
    pub(crate) claims: Vec<BlobClaim>,
    last_key: Option<String>,
}

impl LineObserver {
    pub(crate) fn new(mode: LineMode, path: &str) -> Self {
        LineObserver {
            mode,
            path: path.to_owned(),
            partial: Vec::new(),
            lines: 0,
            digest: TableDigest::default(),
            error: None,
            hasher: LineHasher::default(),
            claims: Vec::new(),
            last_key: None,
        }
    }

    pub(super) fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ArchiveError> {
        while let Some(at) = memchr::memchr(b'\n', bytes) {
            if self.partial.is_empty() {
                self.line(&bytes[..at])?;
            } else {
                self.partial.extend_from_slice(&bytes[..at]);
                let line = std::mem::take(&mut self.partial);
                self.line(&line)?;
            }
            bytes = &bytes[at + 1..];
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() > MAX_LINE_BYTES {
            return Err(self.overlong(self.lines + 1));
        }
        Ok(())
    }

    /// The entry's path in the archive, as errors name it.
    pub(super) fn path(&self) -> &str {
        &self.path
    }

    /// The error for a line longer than [`MAX_LINE_BYTES`].
    pub(super) fn overlong(&self, line: u64) -> ArchiveError {
        self.bad(line, "line longer than 8 MiB".into())
    }

    /// Checks one share of an entry from a fresh count, for a helper that sees only
    /// part of the entry: `head` (the start of the share's first line, carried from
    /// earlier chunks), then `lines`, which ends with a newline. Returns the share's
    /// line count and digest, and its first bad line numbered from the share's start.
    pub(super) fn check_share(
        &mut self,
        head: Vec<u8>,
        lines: &[u8],
    ) -> (u64, TableDigest, Option<ArchiveError>) {
        self.partial = head;
        self.lines = 0;
        self.digest = TableDigest::default();
        let error = self.feed(lines).err();
        self.partial.clear();
        (self.lines, std::mem::take(&mut self.digest), error)
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let number = self.lines + 1;
        // Also refused here, not only while it is unfinished (`feed`), so that whether a
        // line is too long never depends on how the entry was read: in 8 KiB reads on
        // the calling thread or in 256 KiB chunks on helpers.
        if line.len() > MAX_LINE_BYTES {
            return Err(self.overlong(number));
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            return Err(self.bad(number, "blank line".into()));
        }
        match self.mode {
            LineMode::Items => {
                let hash = self
                    .hasher
                    .hash(line)
                    .map_err(|e| self.bad(number, e.to_string()))?;
                self.digest.add_hash(&hash);
            }
            LineMode::Json => {
                serde_json::from_slice::<serde::de::IgnoredAny>(line)
                    .map_err(|e| self.bad(number, format!("not JSON: {e}")))?;
                // The users section's digest: the same order-independent sum as a
                // table's, over each line's bytes (these documents have one spelling).
                let hash: [u8; 32] = Sha256::digest(line).into();
                self.digest.add_hash(&hash);
            }
            LineMode::Assets => self.asset_line(number, line)?,
        }
        self.lines = number;
        Ok(())
    }

    fn asset_line(&mut self, number: u64, line: &[u8]) -> Result<(), ArchiveError> {
        let object: super::assets::AssetObject = serde_json::from_slice(line)
            .map_err(|e| self.bad(number, format!("not an asset line: {e}")))?;
        object.check().map_err(|e| self.bad(number, e))?;
        if self
            .last_key
            .as_ref()
            .is_some_and(|last| *last >= object.key)
        {
            return Err(self.bad(
                number,
                format!("key {:?} is out of order or repeated", object.key),
            ));
        }
        if object.embedded {
            self.claims.push(BlobClaim {
                path: super::assets::blob_path(&object.key),
                size: object.size,
                sha256: object.sha256,
            });
        }
        self.last_key = Some(object.key);
        Ok(())
    }

    fn bad(&self, line: u64, reason: String) -> ArchiveError {
        ArchiveError::BadLine {
            path: self.path.clone(),
            line,
            reason,
        }
    }

    /// Ends the entry. Every line ends in `\n` (docs/format.md §4.2): a last line
    /// without one is what a truncated file looks like, so it is refused.
    pub(crate) fn finish(&mut self) -> Result<(), ArchiveError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if !self.partial.is_empty() {
            return Err(self.bad(
                self.lines + 1,
                "the last line has no newline (truncated?)".into(),
            ));
        }
        Ok(())
    }

    /// The error that stopped a read, if the observer stopped it.
    pub(super) fn take_error(&mut self) -> Option<ArchiveError> {
        self.error.take()
    }
}
