//! rtsnap: export, import and verify AWS Amplify Gen 2 environments (DynamoDB tables,
//! Cognito users, S3 assets) as encrypted, checksummed `.rtsnap` archives.
//!
//! Where things live:
//! - [`archive`]: the `.rtsnap` format itself: pure, synchronous, no AWS.
//! - [`section`]: one folder per kind of data (tables, users, assets), each owning its
//!   whole life: export, read back, plan, apply, verify.
//! - [`command`]: what the CLI runs (export, import and rollback, verify, pack, …);
//!   each loops over the sections, and no command calls another.
//! - [`snapshot`]: a snapshot file as a whole: written, read back verified, listed.
//! - [`aws`]: the only code that touches the AWS SDK.
//! - [`amplify`]: Amplify Gen 2's `amplify_outputs.json`, read by `init`.
//! - support: [`config`], [`keys`], [`files`], [`mask`], [`progress`], [`stop`], [`error`].
//!
//! The binary (`src/bin/rtsnap/`) only parses arguments, renders reports and maps
//! errors to exit codes. See `docs/format.md` for the archive and `docs/guide.md` for
//! the commands.

pub mod amplify;
pub mod archive;
pub mod aws;
pub mod command;
pub mod config;
pub mod error;
pub mod files;
pub mod keys;
pub mod mask;
pub mod progress;
pub mod section;
pub mod snapshot;
pub mod spill;
pub mod stop;

pub use error::{Error, Result};
