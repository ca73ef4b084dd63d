//! Sections: each kind of data an environment holds, in one folder that owns its whole
//! life. A section knows how to
//!
//! 1. **export** itself from a live environment into the archive writer
//!    (`snapshot::write` calls each section in layout order);
//! 2. **read** itself back from a verified archive;
//! 3. **plan** against a target: check compatibility (a mismatch is refused before
//!    anything is written), then count what an import would create, change, delete or
//!    leave alone, with the first keys of each kind;
//! 4. **apply** that plan (import phase 6);
//! 5. **verify** a live environment against the snapshot (import phase 7 and
//!    `verify --against`).
//!
//! Commands (`command/`) run their phases and call every section in turn; sections
//! never call a command, and only `aws/` talks to the SDK.
//!
//! - [`tables`]: DynamoDB tables, schema and items.

pub mod tables;
