//! rtsnap: export, import and verify AWS Amplify Gen 2 environments (DynamoDB tables,
//! Cognito users, S3 assets) as encrypted, checksummed `.rtsnap` archives.
//!
//! The library does the work; `main.rs` only parses arguments, prints, and maps
//! errors to exit codes. See `docs/format.md` for the archive and `docs/guide.md`
//! for the commands.

pub mod archive;
pub mod config;
pub mod error;
pub mod files;
pub mod inspect;
pub mod keygen;
pub mod keys;
pub mod list;
pub mod pack;
pub mod report;
pub mod verify;

pub use error::{Error, Result};
pub mod aws;
pub mod export;
pub mod import;
pub mod mask;
pub mod plan;
pub mod progress;
