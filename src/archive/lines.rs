//! Looks at JSONL entries line by line as they stream past, so that item counts and
//! table digests are computed on the way into (and out of) the archive without a
//! second pass and without holding an entry in memory.

use std::io::{self, Read};

use super::canonical::TableDigest;
use super::error::ArchiveError;
use super::line_hash::LineHasher;

/// A line longer than this is refused: DynamoDB items are at most 400 KB, so anything
/// far larger is garbage, and refusing it keeps memory bounded.
const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// What to do with each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineMode {
    /// DynamoDB items: parse, count and digest.
    Items,
    /// Other JSONL (users, groups, asset manifest): check it is JSON, count.
    Json,
}

/// Accumulates counts (and for items the digest) over one entry.
pub(crate) struct LineObserver {
    mode: LineMode,
    path: String,
    partial: Vec<u8>,
    pub(crate) lines: u64,
    pub(crate) digest: TableDigest,
    error: Option<ArchiveError>,
    hasher: LineHasher,
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
        }
    }

    fn feed(&mut self, mut bytes: &[u8]) -> Result<(), ArchiveError> {
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
            return Err(self.bad(self.lines + 1, "line longer than 8 MiB".into()));
        }
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), ArchiveError> {
        let number = self.lines + 1;
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
            }
        }
        self.lines = number;
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
    pub(crate) fn take_error(&mut self) -> Option<ArchiveError> {
        self.error.take()
    }
}

/// A reader that shows every byte to an optional observer. When the observer rejects
/// a line the read fails, and the observer keeps the precise error for the caller.
///
/// (Measured: running the observer on a second thread made packing slower on two
/// cores, where zstd's workers already use both; see docs/performance.md.)
pub(crate) struct ObservedReader<'a, R> {
    pub(crate) inner: R,
    pub(crate) observer: Option<&'a mut LineObserver>,
}

impl<R: Read> Read for ObservedReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(observer) = self.observer.as_deref_mut() {
            if let Err(e) = observer.feed(&buf[..n]) {
                let message = e.to_string();
                observer.error = Some(e);
                return Err(io::Error::new(io::ErrorKind::InvalidData, message));
            }
        }
        Ok(n)
    }
}
