//! Secrets never belong in rtsnap.toml: a file that holds one is refused (naming the
//! key and line, never the value) before anyone commits it.

use super::ConfigError;

/// Key names that hold secrets. Matching is on whole `_`-separated words or suffixes,
/// so `secret_access_key`, `passphrase` and `session_token` are caught while
/// `recipients` and `token_table` names of models are not.
const SECRET_WORDS: &[&str] = &[
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "private",
    "credential",
    "credentials",
    "identity",
];

/// Refuses secret-looking keys and values anywhere in the file.
pub(super) fn reject_secrets(
    table: &toml::Table,
    text: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        let lower = key.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(['_', '-', '.']).collect();
        let secret_key = words.iter().any(|w| SECRET_WORDS.contains(w))
            || lower.ends_with("access_key")
            || lower.ends_with("secret_key");
        let secret_value = value
            .as_str()
            .is_some_and(|v| v.starts_with("AGE-SECRET-KEY-") || looks_like_access_key_id(v));
        if secret_key || secret_value {
            return Err(ConfigError::SecretInFile {
                path: origin.to_owned(),
                line: find_key_line(text, key),
                key: key.clone(),
            });
        }
        match value {
            toml::Value::Table(inner) => reject_secrets(inner, text, origin)?,
            toml::Value::Array(items) => {
                for item in items {
                    if let toml::Value::Table(inner) = item {
                        reject_secrets(inner, text, origin)?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// AWS access key ids: `AKIA`/`ASIA` and 16 upper-case letters or digits.
fn looks_like_access_key_id(value: &str) -> bool {
    value.len() == 20
        && (value.starts_with("AKIA") || value.starts_with("ASIA"))
        && value
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

fn find_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")))
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map_or(1, |i| i + 1)
}
