//! The library's error type and its mapping to the exit codes of design §2:
//! 1 operation failed, 2 usage or configuration, 3 integrity or decryption (nothing
//! written), 4 refused for safety.

use crate::archive::ArchiveError;
use crate::config::ConfigError;

/// Everything an rtsnap operation can fail with. Messages are one line and never
/// contain key material or credentials.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// The command line or the inputs it names are not usable.
    #[error("{0}")]
    Usage(String),
    /// rtsnap refuses to do this without an explicit go-ahead.
    #[error("{0}")]
    Refused(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// An operation failed; the message says what was and was not done.
    #[error("{0}")]
    Failed(String),
    /// Stopped on request (Ctrl-C, SIGTERM) at a safe point; the message says what was
    /// written and how to resume.
    #[error("{0}")]
    Interrupted(String),
    /// An import failed after its backup was taken: the way back travels with the
    /// error, so the operator at 3 a.m. does not have to search for it.
    #[error("{source}; the target's state before this import is in {}; to undo: {rollback}", backup.display())]
    AfterBackup {
        source: Box<Error>,
        backup: std::path::PathBuf,
        rollback: String,
    },
}

/// Exit codes, design §2.
pub mod exit {
    pub const OK: u8 = 0;
    pub const FAILED: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const INTEGRITY: u8 = 3;
    pub const REFUSED: u8 = 4;
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) | Error::Usage(_) => exit::USAGE,
            Error::Archive(e) if e.is_integrity() => exit::INTEGRITY,
            Error::Archive(crate::archive::ArchiveError::Key(_)) => exit::USAGE,
            Error::Archive(_) | Error::Io { .. } | Error::Failed(_) | Error::Interrupted(_) => {
                exit::FAILED
            }
            Error::Refused(_) => exit::REFUSED,
            Error::AfterBackup { source, .. } => source.exit_code(),
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}

/// An AWS call that failed: its message names the operation and the resource.
impl From<crate::aws::AwsError> for Error {
    fn from(e: crate::aws::AwsError) -> Self {
        Error::Failed(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
