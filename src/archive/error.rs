//! Archive errors. Each says in one line what is wrong and never includes key
//! material; [`ArchiveError::is_integrity`] separates "this file cannot be trusted or
//! opened" (exit 3) from ordinary I/O trouble (exit 1).

use std::io;

use super::crypto::KeyError;
use super::layout::LayoutError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not an rtsnap archive: {0}")]
    NotAnArchive(String),
    #[error("cannot decrypt the archive: {0}")]
    Decrypt(String),
    #[error("the archive is damaged: {0}")]
    Corrupt(String),
    #[error("the archive is truncated: {0}")]
    Truncated(String),
    #[error("snapshot format version {found} is not supported (this rtsnap {tool} reads version {supported}); use a newer rtsnap")]
    UnsupportedVersion {
        found: u64,
        supported: u32,
        tool: &'static str,
    },
    #[error("checksum mismatch in {path}: {listed_in} says {expected}, content is {actual}")]
    ChecksumMismatch {
        path: String,
        /// Where the expected checksum comes from (MANIFEST.json or the sidecar).
        listed_in: &'static str,
        expected: String,
        actual: String,
    },
    #[error("{0}")]
    Layout(#[from] LayoutError),
    #[error("{path} line {line}: {reason}")]
    BadLine {
        path: String,
        line: u64,
        reason: String,
    },
    #[error("{0}")]
    Key(#[from] KeyError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    /// The file changed after it was verified (`snapshot::pinned`): an integrity
    /// failure like a flipped byte, since what was checked is no longer what is read.
    #[error("{0}")]
    Changed(String),
}

impl ArchiveError {
    /// True when the archive itself is bad (damaged, wrong key, wrong version, not an
    /// archive): the CLI exits 3 and has written nothing.
    pub fn is_integrity(&self) -> bool {
        !matches!(
            self,
            ArchiveError::Io { .. } | ArchiveError::Key(_) | ArchiveError::Invalid(_)
        )
    }

    /// `text` from an archive (a tar header's bytes quoted in the tar crate's message)
    /// made safe for a one-line error: control characters are escaped, so a hostile
    /// archive can neither break the line nor send terminal escapes, and so are the
    /// bidirectional formatting characters, which could make a name read as another.
    pub(crate) fn printable(text: &str) -> String {
        let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        text.chars()
            .map(|c| {
                if c.is_control() || bidi(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    }

    pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
        let context = context.into();
        move |source| ArchiveError::Io { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::ArchiveError;

    /// The bug hunts of 2026-12-01: a newline, a terminal escape or a right-to-left
    /// override quoted from an archive reached the terminal as such.
    #[test]
    fn printable_escapes_controls_and_bidirectional_overrides() {
        let shown = ArchiveError::printable("a\nb\u{1b}[31mc\u{202e}d");
        assert_eq!(shown, "a\\nb\\u{1b}[31mc\\u{202e}d");
        assert_eq!(ArchiveError::printable("ünïcödé 中文"), "ünïcödé 中文");
    }
}
