//! rtsnap: export, import and verify AWS Amplify Gen 2 environments (DynamoDB tables,
//! Cognito users, S3 assets) as encrypted, checksummed `.rtsnap` archives.
//!
//! The library does the work; `main.rs` only parses arguments, prints, and maps
//! errors to exit codes. See `docs/format.md` for the archive and `docs/guide.md`
//! for the commands.

pub mod archive;
