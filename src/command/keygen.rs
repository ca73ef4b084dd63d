//! `keygen`: a new age X25519 identity for the team's snapshots. The identity file
//! (secret) is written 0600 and never printed when a file is named; the recipient
//! (public) is what goes into `rtsnap.toml`.

use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use serde::Serialize;

use crate::archive::crypto::generate_identity;
use crate::error::Result;
use crate::files::write_private_file;

/// What `keygen` made. The secret is only in the file.
#[derive(Debug, Clone, Serialize)]
pub struct KeygenReport {
    pub recipient: String,
    pub identity_file: Option<PathBuf>,
}

/// Generates an identity. With `output`, writes it there (refusing to overwrite) and
/// returns the recipient; without, returns the identity file text for the caller to
/// print, like `age-keygen`.
pub fn keygen(output: Option<&Path>) -> Result<(KeygenReport, Option<String>)> {
    let (identity, recipient) = generate_identity();
    let created = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let text = format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        identity.expose_secret()
    );
    match output {
        Some(path) => {
            write_private_file(path, text.as_bytes())?;
            Ok((
                KeygenReport {
                    recipient,
                    identity_file: Some(path.to_path_buf()),
                },
                None,
            ))
        }
        None => Ok((
            KeygenReport {
                recipient,
                identity_file: None,
            },
            Some(text),
        )),
    }
}
