//! Secret masking for every line rtsnap prints: error messages and logs pass through
//! [`mask_secrets`], so that an AWS key id, a secret key, a session token or an age
//! identity that ends up in some upstream message (an SDK error, a path) is shown as
//! `****` instead. Values from the environment that rtsnap knows to be secret
//! (`RTSNAP_PASSPHRASE`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`) are masked
//! wherever they appear.

/// Environment variables whose values never appear in output.
const SECRET_VARS: &[&str] = &[
    "RTSNAP_PASSPHRASE",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "RTSNAP_TEMP_PASSWORD",
];

/// Returns `text` with secrets replaced by `****`.
pub fn mask_secrets(text: &str) -> String {
    let mut out = mask_patterns(text);
    for var in SECRET_VARS {
        if let Ok(value) = std::env::var(var) {
            // Very short values would mask ordinary words; they are not real secrets.
            if value.len() >= 6 {
                out = out.replace(&value, "****");
            }
        }
    }
    out
}

/// Masks secret shapes: age identities, AWS access key ids (AKIA…/ASIA…), and the
/// value after `aws_secret_access_key`/`secret`/`password`/`token` `=` or `:`.
fn mask_patterns(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut words = text.split_inclusive(|c: char| c.is_whitespace() || c == '"' || c == '\'');
    let mut mask_next = false;
    for word in words.by_ref() {
        let (core, tail) = split_trailing_separator(word);
        if mask_next && !core.is_empty() {
            out.push_str("****");
            out.push_str(tail);
            mask_next = false;
            continue;
        }
        if core.starts_with("AGE-SECRET-KEY-") || is_access_key_id(core) {
            out.push_str("****");
            out.push_str(tail);
            continue;
        }
        let lower = core.to_ascii_lowercase();
        if let Some(at) = lower.find(['=', ':']) {
            let key = &lower[..at];
            if is_secret_key_name(key) {
                out.push_str(&core[..=at]);
                if at + 1 < core.len() {
                    out.push_str("****");
                } else {
                    mask_next = true;
                }
                out.push_str(tail);
                continue;
            }
        }
        out.push_str(word);
    }
    out
}

fn split_trailing_separator(word: &str) -> (&str, &str) {
    match word.char_indices().last() {
        Some((at, c)) if c.is_whitespace() || c == '"' || c == '\'' => (&word[..at], &word[at..]),
        _ => (word, ""),
    }
}

fn is_secret_key_name(key: &str) -> bool {
    let key = key.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_');
    [
        "secret",
        "password",
        "passphrase",
        "token",
        "secret_access_key",
    ]
    .iter()
    .any(|s| key.ends_with(s))
}

fn is_access_key_id(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    word.len() == 20
        && (word.starts_with("AKIA") || word.starts_with("ASIA"))
        && word
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_shapes() {
        let cases = [
            ("key AKIAIOSFODNN7EXAMPLE failed", "key **** failed"),
            (
                "identity AGE-SECRET-KEY-1QQQQ in file",
                "identity **** in file",
            ),
            (
                "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCY done",
                "aws_secret_access_key=**** done",
            ),
            ("password: hunter2 next", "password: **** next"),
            ("nothing secret here", "nothing secret here"),
        ];
        for (input, want) in cases {
            assert_eq!(mask_patterns(input), want, "{input}");
        }
    }
}
