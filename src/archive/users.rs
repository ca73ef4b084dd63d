//! The users section's documents (`docs/format.md` §4.3): `users/pool.json`,
//! `users/groups.jsonl` and `users/users.jsonl`. Plain data, as the archive stores it;
//! reading them from Cognito and writing them back is `crate::aws::cognito` and
//! `crate::section::users`.
//!
//! Unknown fields are accepted (not denied, unlike the header and manifest): a later
//! tool may record more about a user, and an older reader should still restore what it
//! understands.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `users/pool.json`: what a restore needs to check that a target pool can hold these
/// users (the username model and the attribute schema).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolSettings {
    pub user_pool_id: String,
    /// `email` and/or `phone_number` when users sign in with those instead of a
    /// username; empty for plain usernames.
    #[serde(default)]
    pub username_attributes: Vec<String>,
    /// `email`, `phone_number`, `preferred_username`: extra sign-in aliases.
    #[serde(default)]
    pub alias_attributes: Vec<String>,
    #[serde(default)]
    pub auto_verified_attributes: Vec<String>,
    /// `OFF`, `ON` or `OPTIONAL`.
    #[serde(default)]
    pub mfa_configuration: String,
    /// Standard and custom (`custom:…`) attributes the pool defines.
    #[serde(default)]
    pub schema: Vec<SchemaAttribute>,
}

/// One attribute of a pool's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaAttribute {
    pub name: String,
    /// `String`, `Number`, `DateTime` or `Boolean`.
    pub attribute_data_type: String,
    pub mutable: bool,
    pub required: bool,
}

impl PoolSettings {
    /// The custom attributes (`custom:…`, and developer-only `dev:custom:…`) of the
    /// schema.
    pub fn custom_attributes(&self) -> impl Iterator<Item = &SchemaAttribute> {
        self.schema
            .iter()
            .filter(|a| a.name.starts_with("custom:") || a.name.starts_with("dev:custom:"))
    }

    /// Whether `name` is an attribute the pool marks immutable (write-once, at create).
    pub fn is_immutable(&self, name: &str) -> bool {
        self.schema.iter().any(|a| a.name == name && !a.mutable)
    }
}

/// One line of `users/groups.jsonl`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub precedence: Option<i32>,
    #[serde(default)]
    pub role_arn: Option<String>,
}

/// One line of `users/users.jsonl`. Passwords are never exported (Cognito cannot).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub username: String,
    /// The user's immutable id in its pool; owner fields of items refer to it.
    pub sub: String,
    /// Every attribute but `sub`, name → value (booleans as `"true"`/`"false"`).
    pub attributes: BTreeMap<String, String>,
    pub enabled: bool,
    /// Cognito's `UserStatus` (`CONFIRMED`, `FORCE_CHANGE_PASSWORD`, …).
    pub status: String,
    /// Group names, sorted.
    #[serde(default)]
    pub groups: Vec<String>,
    /// MFA methods the user has enabled (`SMS_MFA`, `SOFTWARE_TOKEN_MFA`).
    #[serde(default)]
    pub mfa_enabled: Vec<String>,
    /// RFC 3339 UTC.
    #[serde(default)]
    pub created_at: Option<String>,
}

/// One JSON document per line, `\n`-terminated: the encoding of `groups.jsonl` and
/// `users.jsonl`.
pub fn to_json_line<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain structs cannot fail (string keys, no maps with
    // non-string keys), so an empty line would only ever be a bug; `expect` is avoided
    // by falling back to `null`, which the reader then refuses loudly.
    let mut line = serde_json::to_vec(value).unwrap_or_else(|_| b"null".to_vec());
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_lines_parse() {
        let line = r#"{"username":"u1","sub":"s1","attributes":{"email":"a@x.com"},"enabled":true,"status":"CONFIRMED","groups":["admins"],"mfa_enabled":[],"created_at":"2025-03-28T19:58:30Z"}"#;
        let user: User = serde_json::from_str(line).unwrap();
        assert_eq!(user.attributes["email"], "a@x.com");
        let group: Group = serde_json::from_str(
            r#"{"name":"admins","description":"d","precedence":0,"role_arn":null}"#,
        )
        .unwrap();
        assert_eq!(group.precedence, Some(0));
    }
}
