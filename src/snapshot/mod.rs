//! A snapshot as a whole: written from a live environment (every section in layout
//! order, then committed with its sidecar), read back verified, summarised, and found
//! again in the snapshot directory. Commands use these; sections plug into them.

pub mod catalog;
pub(crate) mod commit;
pub mod journal;
pub mod pinned;
pub mod read;
pub mod summary;
pub(crate) mod write;

pub use read::{read_verified, verify_archive, VerifiedContents};
pub use summary::{human_bytes, SnapshotSummary};
pub use write::{now_rfc3339, WrittenSnapshot};
