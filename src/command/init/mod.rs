//! `init <ENV> --outputs amplify_outputs.json [--suffix S]`: writes or updates the
//! environment's section of `rtsnap.toml` from Amplify's generated client
//! configuration, so the region, user pool, bucket, model list, relations and owner
//! fields are read from the deployed backend instead of copied by hand.
//!
//! The one thing the outputs lack, the backend suffix, is found by listing the
//! account's tables (`suffix`). The file is edited as a document (`edit`), checked
//! to load like any other configuration (no secrets, valid environment), and only
//! then replaced atomically: a failed `init` leaves the file as it was.

pub mod edit;
pub mod suffix;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::amplify::{self, Relation};
use crate::aws::dynamodb::Dynamo;
use crate::config::{env_var_prefix, Config, ConfigError, Environment, DEFAULT_CONFIG_FILE};
use crate::error::{Error, Result};

pub use edit::KeyChange;
pub use suffix::SuffixChoice;

/// What `init` was asked to do.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub env: String,
    pub outputs: PathBuf,
    pub suffix: Option<String>,
    /// `--config`; see [`config_path`] for the default.
    pub config: Option<PathBuf>,
}

/// Whether the configuration file was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChange {
    Created,
    Updated,
    /// It already said all of this; not rewritten.
    Unchanged,
}

/// What `init` found and what it changed.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    pub env: String,
    pub config: PathBuf,
    pub file: FileChange,
    /// `[environments.<ENV>]` did not exist before.
    pub section_created: bool,
    pub region: Option<String>,
    pub backend_suffix: SuffixChoice,
    pub user_pool_id: Option<String>,
    pub bucket: Option<String>,
    pub required_models: Vec<String>,
    /// Every relation the outputs describe, and those the file did not list yet.
    pub relations: Vec<Relation>,
    pub relations_added: Vec<Relation>,
    pub owner_fields: BTreeMap<String, Vec<String>>,
    pub owner_fields_added: BTreeMap<String, Vec<String>>,
    /// The environment's keys that were set or changed.
    pub changes: Vec<KeyChange>,
    pub warnings: Vec<String>,
}

/// The file `init` edits: the one every other command would read, so that they see
/// what `init` wrote: `--config`, else `./rtsnap.toml` if it exists, else
/// `$RTSNAP_CONFIG` if set, else a new `./rtsnap.toml`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(path) = explicit {
        return path.to_path_buf();
    }
    let local = PathBuf::from(DEFAULT_CONFIG_FILE);
    if local.is_file() {
        return local;
    }
    std::env::var_os("RTSNAP_CONFIG")
        .filter(|p| !p.is_empty())
        .map_or(local, PathBuf::from)
}

/// Runs `init` (see the module docs).
pub async fn init(options: &InitOptions) -> Result<InitReport> {
    let facts = amplify::read_outputs(&options.outputs)?;
    let path = config_path(options.config.as_deref());
    let origin = path.display().to_string();
    let before = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(ConfigError::Read {
                path: origin,
                source,
            }
            .into())
        }
    };
    // A file rtsnap would refuse (syntax, secrets, unknown keys) is not edited either.
    let config = match &before {
        Some(text) => Config::parse(text, &origin)?,
        None => Config::default(),
    };
    let section = config.environments.get(&options.env);
    let mut warnings = facts.warnings.clone();
    let region = facts
        .region
        .clone()
        .or_else(|| section.and_then(|s| s.region.clone()));
    if region.is_none() {
        warnings.push(
            "neither the outputs nor rtsnap.toml name a region; the AWS default region was used"
                .into(),
        );
    }

    // The connection the environment already uses (its profile and endpoint), in the
    // outputs' region, where the backend is.
    let endpoint_var = format!("{}_ENDPOINT_URL", env_var_prefix(&options.env));
    let connection = Environment {
        name: options.env.clone(),
        region: region.clone(),
        backend_suffix: String::new(),
        user_pool_id: None,
        bucket: None,
        asset_prefixes: Vec::new(),
        profile: section.and_then(|s| s.profile.clone()),
        endpoint_url: std::env::var(&endpoint_var)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| section.and_then(|s| s.endpoint_url.clone())),
        required_models: Vec::new(),
        protected: false,
        protected_by: None,
        native_via: None,
        native_min_items: None,
    };
    let tables = Dynamo::new(&crate::aws::sdk_config(&connection).await)
        .list_tables()
        .await?;
    let choice = suffix::choose_suffix(
        &tables,
        &facts.models,
        options.suffix.as_deref(),
        region.as_deref().unwrap_or("the default region"),
    )?;

    let edited = edit::edit(
        before.as_deref().unwrap_or_default(),
        &options.env,
        &edit::Settings {
            region: region.as_deref(),
            backend_suffix: &choice.suffix,
            user_pool_id: facts.user_pool_id.as_deref(),
            bucket: facts.bucket.as_deref(),
            required_models: &facts.models,
            relations: &facts.relations,
            owner_fields: &facts.owner_fields,
        },
    )?;
    // The new file must load like any other: known keys, no secrets, a valid environment.
    Config::parse(&edited.text, &origin)?.environment_with(&options.env, |_| None)?;
    let file = match &before {
        Some(text) if *text == edited.text => FileChange::Unchanged,
        Some(_) => FileChange::Updated,
        None => FileChange::Created,
    };
    if file != FileChange::Unchanged {
        write_atomically(&path, &edited.text)?;
    }

    Ok(InitReport {
        env: options.env.clone(),
        config: path,
        file,
        section_created: edited.section_created,
        region,
        backend_suffix: choice,
        user_pool_id: facts.user_pool_id,
        bucket: facts.bucket,
        required_models: facts.models,
        relations: facts.relations,
        relations_added: edited.relations_added,
        owner_fields: facts.owner_fields,
        owner_fields_added: edited.owner_fields_added,
        changes: edited.changes,
        warnings,
    })
}

/// Replaces `path` with `text` through a temporary file in the same folder and a
/// rename, so a crash never leaves half a configuration. The file keeps its
/// permissions (a new one is 0644: it holds no secrets); a symlinked file is written
/// through the link.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let target = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = target
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let context = || format!("writing {}", path.display());
    let mut staged = tempfile::Builder::new()
        .prefix(".rtsnap.toml.")
        .tempfile_in(dir)
        .map_err(Error::io(context()))?;
    staged
        .write_all(text.as_bytes())
        .and_then(|()| staged.as_file().sync_all())
        .map_err(Error::io(context()))?;
    let permissions = match std::fs::metadata(&target) {
        Ok(meta) => Some(meta.permissions()),
        Err(_) => new_file_permissions(),
    };
    if let Some(permissions) = permissions {
        std::fs::set_permissions(staged.path(), permissions).map_err(Error::io(context()))?;
    }
    staged
        .persist(&target)
        .map_err(|e| Error::io(context())(e.error))?;
    Ok(())
}

#[cfg(unix)]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn new_file_permissions() -> Option<std::fs::Permissions> {
    None
}
