//! Where snapshot keys come from. Encryption: `RTSNAP_PASSPHRASE` if set, else the
//! recipients in `rtsnap.toml`. Decryption: `--identity FILE`, else `RTSNAP_IDENTITY`,
//! else `RTSNAP_PASSPHRASE`. Secrets are read from the environment or a file, never
//! from the command line (where `ps` and shell history would show them).

use std::io::BufReader;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use crate::archive::crypto::{DEFAULT_SCRYPT_WORK_FACTOR, MAX_SCRYPT_WORK_FACTOR};
use crate::archive::{DecryptionKey, EncryptionKey};
use crate::config::Config;
use crate::error::{Error, Result};

/// Names of the environment variables rtsnap reads keys from.
pub const PASSPHRASE_VAR: &str = "RTSNAP_PASSPHRASE";
pub const IDENTITY_VAR: &str = "RTSNAP_IDENTITY";
/// Lowers the scrypt cost of new passphrase snapshots (tests, slow machines). Reading
/// is unaffected: any work factor up to the maximum is accepted.
pub const WORK_FACTOR_VAR: &str = "RTSNAP_SCRYPT_WORK_FACTOR";

/// The key new snapshots are encrypted with.
pub fn encryption_key(config: &Config) -> Result<EncryptionKey> {
    if let Some(passphrase) = passphrase()? {
        return Ok(EncryptionKey::Passphrase {
            passphrase,
            work_factor: work_factor()?,
        });
    }
    let mut lines: Vec<String> = config.snapshots.recipients.clone();
    if let Some(file) = &config.snapshots.recipients_file {
        let path = config.resolve(Path::new(file));
        let text = std::fs::read_to_string(&path).map_err(Error::io(format!(
            "reading recipients file {}",
            path.display()
        )))?;
        lines.extend(text.lines().map(str::to_owned));
    }
    EncryptionKey::from_recipient_lines(lines.iter().map(String::as_str))
        .map_err(|e| Error::Usage(e.to_string()))
}

/// The key to open snapshots with, if one was given. With both an identity and a
/// passphrase, both are tried (an import may read a passphrase snapshot while its
/// backup is written for the team's recipients, or the other way round).
pub fn decryption_key(identity_flag: Option<&Path>) -> Result<Option<DecryptionKey>> {
    let identity: Option<PathBuf> = identity_flag.map(Path::to_path_buf).or_else(|| {
        std::env::var_os(IDENTITY_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let from_file = match identity {
        Some(path) => {
            let file = std::fs::File::open(&path).map_err(Error::io(format!(
                "opening identity file {}",
                path.display()
            )))?;
            let key = DecryptionKey::from_identity_file(
                &path.display().to_string(),
                BufReader::new(file),
            )
            .map_err(|e| Error::Usage(e.to_string()))?;
            Some(key)
        }
        None => None,
    };
    Ok(match (from_file, passphrase()?) {
        (Some(key), Some(p)) => Some(key.with_passphrase(p)),
        (Some(key), None) => Some(key),
        (None, Some(p)) => Some(DecryptionKey::from_passphrase(p)),
        (None, None) => None,
    })
}

/// As [`decryption_key`], but a key is required.
pub fn require_decryption_key(identity_flag: Option<&Path>) -> Result<DecryptionKey> {
    decryption_key(identity_flag)?.ok_or_else(|| {
        Error::Usage(format!(
            "no key to open the snapshot: pass --identity FILE, or set {IDENTITY_VAR} (an age identity file) or {PASSPHRASE_VAR}"
        ))
    })
}

fn passphrase() -> Result<Option<SecretString>> {
    match std::env::var(PASSPHRASE_VAR) {
        Ok(p) if p.is_empty() => Err(Error::Usage(format!("{PASSPHRASE_VAR} is set but empty"))),
        Ok(p) => Ok(Some(SecretString::from(p))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Error::Usage(format!("{PASSPHRASE_VAR} is not valid UTF-8")))
        }
    }
}

/// The weakest scrypt work factor rtsnap accepts (2^16 iterations, 64 MiB): a quarter
/// of the default's cost. Lower ones make a stolen passphrase snapshot cheap to
/// brute-force, and a snapshot outlives the setting that wrote it.
pub const MIN_SCRYPT_WORK_FACTOR: u8 = 16;

fn work_factor() -> Result<u8> {
    match std::env::var(WORK_FACTOR_VAR) {
        Ok(v) => v
            .parse::<u8>()
            .ok()
            .filter(|n| (MIN_SCRYPT_WORK_FACTOR..=MAX_SCRYPT_WORK_FACTOR).contains(n))
            .ok_or_else(|| {
                Error::Usage(format!(
                    "{WORK_FACTOR_VAR} must be a number from {MIN_SCRYPT_WORK_FACTOR} to {MAX_SCRYPT_WORK_FACTOR} (lower is too weak for a passphrase that guards personal data)"
                ))
            }),
        Err(_) => Ok(DEFAULT_SCRYPT_WORK_FACTOR),
    }
}
