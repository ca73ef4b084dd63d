//! `list [--env ENV]`: the snapshots and backups in the snapshot directory (the
//! catalog of file names lives in `snapshot::catalog`, which rollback also reads).

pub use crate::snapshot::catalog::{list, ListReport, ListedSnapshot, SnapshotKind};
