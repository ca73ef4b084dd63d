//! The operations the CLI runs. Each one loops over the sections (`crate::section`)
//! for the work and returns a `Serialize` report; none calls another command (what two
//! commands share, such as writing a snapshot, lives in `crate::snapshot`).

pub mod analyze;
pub mod check;
pub mod export;
pub mod import;
pub mod init;
pub mod inspect;
pub mod keygen;
pub mod list;
pub mod pack;
pub mod verify;
