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

/// The tables whose keys are names the user chose (environments, models), not
/// settings: `[environments.private-beta]` or `owner_fields = { Token = [...] }` name
/// an environment and a model, and hold no secret for being so named. Their values
/// are still checked.
const NAMED_BY_USER: &[&str] = &["environments", "owner_fields"];

/// Refuses secret-looking keys and values anywhere in the file.
pub(super) fn reject_secrets(
    table: &toml::Table,
    text: &str,
    origin: &str,
) -> Result<(), ConfigError> {
    check_table(table, text, origin, false)
}

/// Checks `table`'s keys (unless `names`: they are names the user chose) and values.
fn check_table(
    table: &toml::Table,
    text: &str,
    origin: &str,
    names: bool,
) -> Result<(), ConfigError> {
    for (key, value) in table {
        let lower = key.to_ascii_lowercase();
        let words: Vec<&str> = lower.split(['_', '-', '.']).collect();
        let secret_key = !names
            && (words.iter().any(|w| SECRET_WORDS.contains(w))
                || lower.ends_with("access_key")
                || lower.ends_with("secret_key"));
        if secret_key || value.as_str().is_some_and(secret_value) {
            return Err(secret_in_file(text, origin, key));
        }
        match value {
            toml::Value::Table(inner) => {
                let named = !names && NAMED_BY_USER.contains(&key.as_str());
                check_table(inner, text, origin, named)?
            }
            toml::Value::Array(items) => {
                for item in items {
                    match item {
                        toml::Value::Table(inner) => check_table(inner, text, origin, false)?,
                        // An identity pasted into `recipients` in place of its public key.
                        toml::Value::String(v) if secret_value(v) => {
                            return Err(secret_in_file(text, origin, key))
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn secret_in_file(text: &str, origin: &str, key: &str) -> ConfigError {
    ConfigError::SecretInFile {
        path: origin.to_owned(),
        line: find_key_line(text, key),
        key: key.to_owned(),
    }
}

/// A value that is a secret whatever its key: an age identity or an AWS access key id.
fn secret_value(value: &str) -> bool {
    // age reads its identities in either case (Bech32).
    value.to_ascii_uppercase().starts_with("AGE-SECRET-KEY-") || looks_like_access_key_id(value)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text.parse().expect("toml");
        reject_secrets(&table, text, "rtsnap.toml")
    }

    /// Found by the 2026-12-01 bug hunt: `[environments.private-beta]` and a model
    /// named `Token` in `owner_fields` were refused as secrets.
    #[test]
    fn environment_and_model_names_are_names_not_secret_settings() {
        let text = "owner_fields = { Token = [\"owner\"], SecretNote = [\"author\"] }\n\
                    [environments.private-beta]\nbackend_suffix = \"abc\"\n";
        assert!(check(text).is_ok());
    }

    #[test]
    fn secret_settings_are_refused_at_any_depth_with_their_line() {
        let text = "[environments.staging]\nbackend_suffix = \"abc\"\nsecret_access_key = \"x\"\n";
        match check(text) {
            Err(ConfigError::SecretInFile { line, key, .. }) => {
                assert_eq!((line, key.as_str()), (3, "secret_access_key"))
            }
            other => panic!("{other:?}"),
        }
        for identity in [
            "[snapshots]\nrecipients = [\"AGE-SECRET-KEY-1QQQ\"]\n",
            "[snapshots]\nrecipients = [\"age-secret-key-1qqq\"]\n",
        ] {
            assert!(matches!(
                check(identity),
                Err(ConfigError::SecretInFile { line: 2, .. })
            ));
        }
        let nested = "[environments.token]\npassword = \"x\"\n";
        assert!(check(nested).is_err(), "a setting inside a named table");
    }
}
