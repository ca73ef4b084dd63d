//! Sections: each kind of data an environment holds, in one folder that owns its whole
//! life. A section knows how to
//!
//! 1. **export** itself from a live environment into the archive writer
//!    (`snapshot::write` calls each section in layout order);
//! 2. **read** itself back from a verified archive;
//! 3. **plan** against a target: check compatibility (a mismatch is refused before
//!    anything is written), then count what an import would create, change, delete or
//!    leave alone, with the first keys of each kind;
//! 4. **apply** that plan (import phase 6);
//! 5. **verify** a live environment against the snapshot (import phase 7 and
//!    `verify --against`).
//!
//! Commands (`command/`) run their phases and call every section in turn; sections
//! never call a command, and only `aws/` talks to the SDK.
//!
//! - [`tables`]: DynamoDB tables, schema and items.
//! - [`users`]: the Cognito user pool: users, groups, memberships.
//! - [`assets`]: the S3 bucket: object manifest and, optionally, the bytes.
//! - [`owner`]: owner fields, where users meet tables (old sub → new sub).

/// What `--only` selects: a list of model names, where the section names `users` and
/// `assets` stand for those sections (model names are Amplify's PascalCase, so they
/// cannot be confused in practice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Only {
    /// `None`: every model.
    pub models: Option<Vec<String>>,
    /// Whether the users section is selected.
    pub users: bool,
    /// Whether the assets section is selected.
    pub assets: bool,
}

impl Only {
    /// Without `--only`, everything; with it, exactly what it names.
    pub fn parse(only: Option<&[String]>) -> Only {
        match only {
            None => Only {
                models: None,
                users: true,
                assets: true,
            },
            Some(names) => Only {
                models: Some(
                    names
                        .iter()
                        .filter(|n| n.as_str() != USERS_SECTION && n.as_str() != ASSETS_SECTION)
                        .cloned()
                        .collect(),
                ),
                users: names.iter().any(|n| n == USERS_SECTION),
                assets: names.iter().any(|n| n == ASSETS_SECTION),
            },
        }
    }
}

/// The users section's name in `--only` and in the header's `sections`.
pub const USERS_SECTION: &str = "users";
/// The assets section's name in `--only` and in the header's `sections`.
pub const ASSETS_SECTION: &str = "assets";

pub mod assets;
pub mod owner;
pub mod tables;
pub mod users;
