//! The encryption layer: who can open a snapshot.
//!
//! A snapshot is encrypted either to X25519 recipients (public keys; the team's
//! identity files open it) or to one scrypt passphrase. age forbids mixing the two.
//! Keys are wrapped in these enums so that the rest of rtsnap never touches age
//! directly and no secret is ever formatted: neither type implements `Debug` output
//! of its contents.

use std::fmt;
use std::io::{BufRead, Write};
use std::str::FromStr;

use age::secrecy::SecretString;

/// The scrypt work factor (log2 N) used when none is configured: about a second on a
/// current machine, fixed rather than calibrated so that a fast writer cannot produce a
/// file that a slower reader refuses.
pub const DEFAULT_SCRYPT_WORK_FACTOR: u8 = 18;
/// The highest work factor a reader accepts (age's own default refuses anything much
/// above what the reading machine does in a second, which breaks cross-machine use).
pub const MAX_SCRYPT_WORK_FACTOR: u8 = 22;

/// How a new snapshot is encrypted.
pub enum EncryptionKey {
    /// age X25519 recipients (`age1…`).
    Recipients(Vec<age::x25519::Recipient>),
    /// One passphrase, with its scrypt work factor.
    Passphrase {
        passphrase: SecretString,
        work_factor: u8,
    },
}

/// How an existing snapshot is decrypted: identities from an age identity file, a
/// passphrase, or both (each is tried). Cheap to clone (identities are shared).
#[derive(Clone, Default)]
pub struct DecryptionKey {
    identities: std::sync::Arc<Vec<Box<dyn age::Identity + Send + Sync>>>,
    passphrase: Option<SecretString>,
}

/// A key problem, said without the key.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("invalid age recipient {0:?} (expected an X25519 public key starting with age1)")]
    BadRecipient(String),
    #[error("no age recipients configured: set snapshots.recipients or recipients_file in rtsnap.toml, or RTSNAP_PASSPHRASE")]
    NoRecipients,
    #[error("the identity file {path} holds no usable age identity{detail}")]
    BadIdentityFile { path: String, detail: String },
    #[error("cannot start encryption: {0}")]
    Encrypt(String),
}

impl EncryptionKey {
    /// Parses recipients (`age1…` strings); blank lines and `#` comments are skipped so
    /// that a recipients file can be passed line by line.
    pub fn from_recipient_lines<'a>(
        lines: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, KeyError> {
        let mut recipients = Vec::new();
        for line in lines {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let recipient = age::x25519::Recipient::from_str(line)
                .map_err(|_| KeyError::BadRecipient(line.to_owned()))?;
            recipients.push(recipient);
        }
        if recipients.is_empty() {
            return Err(KeyError::NoRecipients);
        }
        Ok(EncryptionKey::Recipients(recipients))
    }

    /// Wraps `output` in an age stream writer. The caller MUST call `finish()` on the
    /// returned writer; dropping it leaves a truncated file.
    pub(crate) fn wrap<W: Write>(
        &self,
        output: W,
    ) -> Result<age::stream::StreamWriter<W>, KeyError> {
        let encryptor = match self {
            EncryptionKey::Recipients(list) => {
                age::Encryptor::with_recipients(list.iter().map(|r| r as &dyn age::Recipient))
                    .map_err(|e| KeyError::Encrypt(e.to_string()))?
            }
            EncryptionKey::Passphrase {
                passphrase,
                work_factor,
            } => {
                let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
                recipient.set_work_factor((*work_factor).clamp(1, 63));
                age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                    .map_err(|e| KeyError::Encrypt(e.to_string()))?
            }
        };
        encryptor
            .wrap_output(output)
            .map_err(|e| KeyError::Encrypt(e.to_string()))
    }
}

impl DecryptionKey {
    /// Reads an age identity file (`AGE-SECRET-KEY-1…` lines, as written by
    /// `rtsnap keygen` or `age-keygen`). `path` is only used in error messages.
    pub fn from_identity_file(path: &str, contents: impl BufRead) -> Result<Self, KeyError> {
        let bad = |detail: String| KeyError::BadIdentityFile {
            path: path.to_owned(),
            detail,
        };
        let file = age::IdentityFile::from_buffer(contents)
            .map_err(|e| bad(format!(" ({})", e.kind())))?;
        let identities = file
            .into_identities()
            .map_err(|_| bad(String::from(" (unsupported identity type)")))?;
        if identities.is_empty() {
            return Err(bad(String::new()));
        }
        Ok(DecryptionKey {
            identities: std::sync::Arc::new(identities),
            passphrase: None,
        })
    }

    /// A passphrase key.
    pub fn from_passphrase(passphrase: SecretString) -> Self {
        DecryptionKey::default().with_passphrase(passphrase)
    }

    /// Adds a passphrase to try as well.
    pub fn with_passphrase(mut self, passphrase: SecretString) -> Self {
        self.passphrase = Some(passphrase);
        self
    }

    /// Opens an age file with these keys. A passphrase is accepted up to
    /// [`MAX_SCRYPT_WORK_FACTOR`], whatever this machine's speed.
    pub(crate) fn decrypt<R: std::io::BufRead>(
        &self,
        decryptor: age::Decryptor<R>,
    ) -> Result<age::stream::StreamReader<R>, age::DecryptError> {
        let scrypt = self.passphrase.as_ref().map(|p| {
            let mut identity = age::scrypt::Identity::new(p.clone());
            identity.set_max_work_factor(MAX_SCRYPT_WORK_FACTOR);
            identity
        });
        let identities = self
            .identities
            .iter()
            .map(|i| i.as_ref() as &dyn age::Identity)
            .chain(scrypt.iter().map(|i| i as &dyn age::Identity));
        decryptor.decrypt(identities)
    }
}

impl fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptionKey::Recipients(list) => {
                write!(f, "EncryptionKey::Recipients({})", list.len())
            }
            EncryptionKey::Passphrase { .. } => f.write_str("EncryptionKey::Passphrase(***)"),
        }
    }
}

impl fmt::Debug for DecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DecryptionKey {{ identities: {}, passphrase: {} }}",
            self.identities.len(),
            if self.passphrase.is_some() {
                "***"
            } else {
                "none"
            }
        )
    }
}

/// A fresh X25519 identity: (secret identity line, public recipient line).
pub fn generate_identity() -> (SecretString, String) {
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    (identity.to_string(), recipient)
}
