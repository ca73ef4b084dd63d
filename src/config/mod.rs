//! `rtsnap.toml`: the environments rtsnap knows, where snapshots live, and who can
//! open them. The file never holds secrets (AWS credentials come from the standard AWS
//! chain, keys from `--identity`/`RTSNAP_IDENTITY`/`RTSNAP_PASSPHRASE`), and rtsnap
//! refuses a file that looks like it does, before anyone commits it.
//!
//! One-run overrides come from the environment: `RTSNAP_<ENV>_BACKEND_SUFFIX`,
//! `RTSNAP_<ENV>_USER_POOL_ID`, `RTSNAP_<ENV>_BUCKET`, `RTSNAP_<ENV>_ENDPOINT_URL`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

mod protection;
mod secrets;

use secrets::reject_secrets;

/// The default config file, looked up in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "rtsnap.toml";

/// A configuration problem, with enough detail to fix it without reading the source.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}:{column}: {message}")]
    Syntax {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}: `{key}` looks like a secret; rtsnap.toml must never hold secrets (AWS credentials come from the AWS chain: environment, profile or SSO; snapshot keys from --identity, RTSNAP_IDENTITY or RTSNAP_PASSPHRASE)")]
    SecretInFile {
        path: String,
        line: usize,
        key: String,
    },
    #[error("unknown environment `{name}`; known environments: {known}")]
    UnknownEnvironment { name: String, known: String },
    #[error("environment `{env}` has no backend_suffix: set it in rtsnap.toml or in {var}")]
    MissingSuffix { env: String, var: String },
    #[error("environment `{env}`: {message}")]
    Invalid { env: String, message: String },
    #[error(
        "no configuration file: pass --config FILE, create ./rtsnap.toml or set RTSNAP_CONFIG"
    )]
    NoFile,
}

/// The whole configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file it came from, if any; relative paths in it are relative to its folder.
    pub path: Option<PathBuf>,
    pub snapshots: SnapshotsConfig,
    pub environments: BTreeMap<String, EnvironmentFile>,
    pub relations: Vec<Relation>,
    /// `owner_fields = { Todo = ["owner", "editors"] }`: per model, the fields holding
    /// Amplify owners (`<sub>::<username>`), rewritten when users get new subs. Models
    /// not listed use `owner`.
    pub owner_fields: BTreeMap<String, Vec<String>>,
}

/// `[snapshots]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotsConfig {
    pub dir: Option<String>,
    #[serde(default)]
    pub recipients: Vec<String>,
    pub recipients_file: Option<String>,
}

/// `[environments.<name>]` as written in the file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    pub region: Option<String>,
    pub backend_suffix: Option<String>,
    pub user_pool_id: Option<String>,
    pub bucket: Option<String>,
    pub asset_prefixes: Option<Vec<String>>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub required_models: Vec<String>,
    #[serde(default)]
    pub protected: bool,
    /// This environment is another name for `<env>`'s tables (otherwise two
    /// environments on the same tables are refused); protection follows.
    pub alias_of: Option<String>,
    /// `s3://BUCKET/PREFIX`: export large tables through DynamoDB's own export
    /// (design §6) staged there, instead of scanning them.
    pub native_via: Option<String>,
    /// With `native_via`: only tables with at least this many items (DescribeTable's
    /// estimate) go native; default 0, every table.
    pub native_min_items: Option<u64>,
}

/// `[[relations]]`: `from = "Request.contactId"`, `to = "Contact.id"`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relation {
    pub from: String,
    pub to: String,
}

/// An environment after overrides and validation: everything an operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub region: Option<String>,
    pub backend_suffix: String,
    pub user_pool_id: Option<String>,
    pub bucket: Option<String>,
    pub asset_prefixes: Vec<String>,
    pub profile: Option<String>,
    pub endpoint_url: Option<String>,
    pub required_models: Vec<String>,
    /// `protected = true`, or sharing tables, pool or bucket with a protected
    /// environment (see [`Environment::protected_by`]).
    pub protected: bool,
    /// Why the environment is protected although its own section does not say so.
    pub protected_by: Option<String>,
    /// `native_via` / `native_min_items` of the file (see [`EnvironmentFile`]).
    pub native_via: Option<String>,
    pub native_min_items: Option<u64>,
}

#[cfg(test)]
impl Environment {
    /// A bare environment for unit tests: a name and a backend suffix, nothing else.
    pub(crate) fn for_tests(name: &str, backend_suffix: &str) -> Environment {
        Environment {
            name: name.into(),
            region: None,
            backend_suffix: backend_suffix.into(),
            user_pool_id: None,
            bucket: None,
            asset_prefixes: Vec::new(),
            profile: None,
            endpoint_url: None,
            required_models: Vec::new(),
            protected: false,
            protected_by: None,
            native_via: None,
            native_min_items: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    snapshots: SnapshotsConfig,
    #[serde(default)]
    environments: BTreeMap<String, EnvironmentFile>,
    #[serde(default)]
    relations: Vec<Relation>,
    #[serde(default)]
    owner_fields: BTreeMap<String, Vec<String>>,
}

impl Config {
    /// Finds and loads the configuration: `--config FILE`, else `./rtsnap.toml`, else
    /// `$RTSNAP_CONFIG`; with none of them, an empty configuration.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        if let Some(path) = explicit {
            return Config::load(path);
        }
        let local = Path::new(DEFAULT_CONFIG_FILE);
        if local.is_file() {
            return Config::load(local);
        }
        match std::env::var_os("RTSNAP_CONFIG") {
            Some(path) if !path.is_empty() => Config::load(Path::new(&path)),
            _ => Ok(Config::default()),
        }
    }

    /// Loads one file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let syntax = |e: toml::de::Error| {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| line_column(text, span.start));
            ConfigError::Syntax {
                path: origin.to_owned(),
                line,
                column,
                message: e.message().trim().to_owned(),
            }
        };
        let value: toml::Table = toml::from_str(text).map_err(syntax)?;
        reject_secrets(&value, text, origin)?;
        let file: ConfigFile = toml::from_str(text).map_err(syntax)?;
        for name in file.environments.keys() {
            check_environment_name(name)?;
        }
        Ok(Config {
            path: None,
            snapshots: file.snapshots,
            environments: file.environments,
            relations: file.relations,
            owner_fields: file.owner_fields,
        })
    }

    /// The named environment with `RTSNAP_<ENV>_…` overrides applied, validated.
    pub fn environment(&self, name: &str) -> Result<Environment, ConfigError> {
        self.environment_with(name, |var| std::env::var(var).ok())
    }

    /// As [`Config::environment`], reading overrides through `lookup` (testable).
    pub fn environment_with(
        &self,
        name: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Environment, ConfigError> {
        let file = self
            .environments
            .get(name)
            .ok_or_else(|| ConfigError::UnknownEnvironment {
                name: name.to_owned(),
                known: if self.environments.is_empty() {
                    String::from("none (add [environments.<name>] to rtsnap.toml)")
                } else {
                    self.environments
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })?;
        let prefix = env_var_prefix(name);
        let over = |key: &str, value: &Option<String>| {
            lookup(&format!("{prefix}_{key}"))
                .filter(|v| !v.is_empty())
                .or_else(|| value.clone())
        };
        let suffix_var = format!("{prefix}_BACKEND_SUFFIX");
        let backend_suffix = over("BACKEND_SUFFIX", &file.backend_suffix).ok_or_else(|| {
            ConfigError::MissingSuffix {
                env: name.to_owned(),
                var: suffix_var,
            }
        })?;
        let env = Environment {
            name: name.to_owned(),
            region: file.region.clone(),
            backend_suffix,
            user_pool_id: over("USER_POOL_ID", &file.user_pool_id),
            bucket: over("BUCKET", &file.bucket),
            asset_prefixes: file.asset_prefixes.clone().unwrap_or_default(),
            profile: file.profile.clone(),
            endpoint_url: over("ENDPOINT_URL", &file.endpoint_url),
            required_models: file.required_models.clone(),
            protected: file.protected,
            protected_by: None,
            native_via: file.native_via.clone(),
            native_min_items: file.native_min_items,
        };
        env.validate()?;
        let mut env = env;
        if !env.protected {
            env.protected_by = protection::protected_by(self, name, &lookup)?;
            env.protected = env.protected_by.is_some();
        } else {
            // Still refuse an undeclared second environment on the same tables.
            protection::protected_by(self, name, &lookup)?;
        }
        Ok(env)
    }

    /// The snapshot directory: `$RTSNAP_HOME/snapshots`, else `[snapshots] dir`, else
    /// `~/.local/share/rtsnap/snapshots`.
    pub fn snapshot_dir(&self) -> PathBuf {
        if let Some(home) = std::env::var_os("RTSNAP_HOME").filter(|h| !h.is_empty()) {
            return PathBuf::from(home).join("snapshots");
        }
        let configured = self
            .snapshots
            .dir
            .clone()
            .unwrap_or_else(|| String::from("~/.local/share/rtsnap/snapshots"));
        self.resolve(&expand_home(&configured))
    }

    /// Resolves a path from the file relative to the file's folder.
    pub fn resolve(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            return path.to_path_buf();
        }
        match self.path.as_ref().and_then(|p| p.parent()) {
            Some(dir) => dir.join(path),
            None => path.to_path_buf(),
        }
    }
}

/// An environment's name goes into snapshot file names (`<env>-<date>.rtsnap`) and
/// variable names (`RTSNAP_<ENV>_…`): letters, digits, `-` and `_`, starting with a
/// letter or digit. Anything else (`../x`, a space) could place a snapshot outside the
/// snapshot directory or make an override impossible to set.
fn check_environment_name(name: &str) -> Result<(), ConfigError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if first_ok && rest_ok {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        env: name.to_owned(),
        message:
            "an environment name is letters, digits, `-` and `_`, starting with a letter or digit"
                .into(),
    })
}

impl Environment {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            env: self.name.clone(),
            message,
        };
        let s = &self.backend_suffix;
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(invalid(format!(
                "backend_suffix {s:?} must be lowercase letters and digits (the part of `Contact-<suffix>-NONE`)"
            )));
        }
        if let Some(url) = &self.endpoint_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(invalid(format!(
                    "endpoint_url {url:?} must start with http:// or https://"
                )));
            }
        }
        if let Some(via) = &self.native_via {
            crate::section::tables::native::NativeVia::parse(via)
                .map_err(|why| invalid(format!("native_via: {why}")))?;
        }
        for model in &self.required_models {
            crate::archive::layout::check_model_name(model)
                .map_err(|why| invalid(format!("required model {model:?}: {why}")))?;
        }
        Ok(())
    }

    /// The DynamoDB table name of a model in this environment.
    pub fn table_name(&self, model: &str) -> String {
        format!("{model}-{}-NONE", self.backend_suffix)
    }
}

/// `staging` → `RTSNAP_STAGING`, `prod-eu` → `RTSNAP_PROD_EU`.
pub fn env_var_prefix(name: &str) -> String {
    let upper: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("RTSNAP_{upper}")
}

fn expand_home(path: &str) -> PathBuf {
    match path.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(rest))
            .unwrap_or_else(|| PathBuf::from(path)),
        None => PathBuf::from(path),
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[snapshots]
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]

[environments.staging]
region = "us-west-1"
backend_suffix = "irgzwsfnba3sfqtum5k2eyp4m"
user_pool_id = "us-west-1_AbCdEf123"

[environments.production]
region = "us-west-1"
backend_suffix = "prodsuffix"
protected = true

[[relations]]
from = "Request.contactId"
to = "Contact.id"
"#;

    #[test]
    fn loads_environments_and_relations() {
        let config = Config::parse(SAMPLE, "rtsnap.toml").unwrap();
        let staging = config.environment_with("staging", |_| None).unwrap();
        assert_eq!(
            staging.table_name("Contact"),
            "Contact-irgzwsfnba3sfqtum5k2eyp4m-NONE"
        );
        assert!(!staging.protected);
        assert!(
            config
                .environment_with("production", |_| None)
                .unwrap()
                .protected
        );
        assert_eq!(config.relations.len(), 1);
    }

    #[test]
    fn env_vars_override_the_file() {
        let config = Config::parse(SAMPLE, "rtsnap.toml").unwrap();
        let env = config
            .environment_with("staging", |var| match var {
                "RTSNAP_STAGING_BACKEND_SUFFIX" => Some("other1".into()),
                "RTSNAP_STAGING_ENDPOINT_URL" => Some("http://127.0.0.1:5000".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(env.backend_suffix, "other1");
        assert_eq!(env.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
        assert_eq!(env.user_pool_id.as_deref(), Some("us-west-1_AbCdEf123"));
    }

    #[test]
    fn unknown_environment_lists_the_known_ones() {
        let config = Config::parse(SAMPLE, "rtsnap.toml").unwrap();
        let err = config
            .environment_with("prod", |_| None)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown environment `prod`; known environments: production, staging"
        );
    }

    #[test]
    fn missing_suffix_names_the_variable() {
        let config =
            Config::parse("[environments.dev]\nregion = \"us-east-1\"\n", "x.toml").unwrap();
        let err = config
            .environment_with("dev", |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("RTSNAP_DEV_BACKEND_SUFFIX"), "{err}");
        let fixed = config
            .environment_with("dev", |v| {
                (v == "RTSNAP_DEV_BACKEND_SUFFIX").then(|| "abc".into())
            })
            .unwrap();
        assert_eq!(fixed.backend_suffix, "abc");
    }

    const SHARED: &str = r#"
[environments.production]
region = "us-west-1"
backend_suffix = "prodsuffix"
user_pool_id = "us-west-1_Prod"
bucket = "prod-assets"
protected = true

[environments.sandbox]
region = "us-west-1"
backend_suffix = "sandboxsuffix"
"#;

    #[test]
    fn an_override_onto_protected_tables_is_refused_unless_declared_then_protected() {
        let config = Config::parse(SHARED, "x.toml").unwrap();
        let onto_prod =
            |v: &str| (v == "RTSNAP_SANDBOX_BACKEND_SUFFIX").then(|| "prodsuffix".to_owned());
        let err = config.environment_with("sandbox", onto_prod).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("same tables as `production`") && text.contains("alias_of"),
            "{text}"
        );
        // The protected side is refused the same way: neither may be used by mistake.
        assert!(config.environment_with("production", onto_prod).is_err());

        let declared = SHARED.replace(
            "backend_suffix = \"sandboxsuffix\"",
            "backend_suffix = \"sandboxsuffix\"\nalias_of = \"production\"",
        );
        let config = Config::parse(&declared, "x.toml").unwrap();
        let env = config.environment_with("sandbox", onto_prod).unwrap();
        assert!(env.protected);
        let why = env.protected_by.unwrap();
        assert!(
            why.contains("prodsuffix") && why.contains("`production`"),
            "{why}"
        );
        let own = config.environment_with("sandbox", |_| None).unwrap();
        assert!(!own.protected, "its own tables are not production's");
    }

    /// Found by the 2026-12-01 bug hunt: endpoints were compared as strings, so an
    /// override spelled `localhost` where production says `127.0.0.1` (or with a
    /// trailing `/`, or AWS's own endpoint spelled out) reached production's tables
    /// unprotected.
    #[test]
    fn the_same_server_spelled_another_way_is_the_same_tables() {
        let on = |endpoint: &str| {
            SHARED.replace(
                "backend_suffix = \"prodsuffix\"",
                &format!("backend_suffix = \"prodsuffix\"\nendpoint_url = \"{endpoint}\""),
            )
        };
        for (production, sandbox) in [
            ("http://127.0.0.1:8200", "http://localhost:8200"),
            ("http://127.0.0.1:8200", "http://127.0.0.1:8200/"),
            ("http://LOCALHOST:80", "http://[::1]"),
            ("http://127.0.0.1:8300", "http://[::ffff:127.0.0.1]:8300"),
            ("http://dynamodb.us-west-1.amazonaws.com", ""),
            ("https://dynamodb.us-west-1.amazonaws.com", ""),
        ] {
            let config = Config::parse(&on(production), "x.toml").unwrap();
            let lookup = |v: &str| match v {
                "RTSNAP_SANDBOX_BACKEND_SUFFIX" => Some("prodsuffix".to_owned()),
                "RTSNAP_SANDBOX_ENDPOINT_URL" => Some(sandbox.to_owned()),
                _ => None,
            };
            let err = config.environment_with("sandbox", lookup).unwrap_err();
            assert!(
                err.to_string().contains("same tables"),
                "{production} / {sandbox}: {err}"
            );
        }
        let config = Config::parse(&on("http://127.0.0.1:8200"), "x.toml").unwrap();
        let other_port = |v: &str| match v {
            "RTSNAP_SANDBOX_BACKEND_SUFFIX" => Some("prodsuffix".to_owned()),
            "RTSNAP_SANDBOX_ENDPOINT_URL" => Some("http://127.0.0.1:8201".to_owned()),
            _ => None,
        };
        assert!(
            config.environment_with("sandbox", other_port).is_ok(),
            "another server"
        );
    }

    #[test]
    fn sharing_a_pool_or_bucket_with_a_protected_environment_protects() {
        let config = Config::parse(SHARED, "x.toml").unwrap();
        for (var, value, what) in [
            ("RTSNAP_SANDBOX_USER_POOL_ID", "us-west-1_Prod", "user pool"),
            ("RTSNAP_SANDBOX_BUCKET", "prod-assets", "bucket"),
        ] {
            let env = config
                .environment_with("sandbox", |v| (v == var).then(|| value.to_owned()))
                .unwrap();
            assert!(env.protected, "{var}");
            assert!(env.protected_by.unwrap().contains(what));
        }
        let env = config.environment_with("sandbox", |_| None).unwrap();
        assert!(!env.protected && env.protected_by.is_none());
    }

    #[test]
    fn alias_of_must_name_an_environment() {
        let text = SHARED.replace(
            "backend_suffix = \"sandboxsuffix\"",
            "backend_suffix = \"s\"\nalias_of = \"prod\"",
        );
        let config = Config::parse(&text, "x.toml").unwrap();
        let err = config.environment_with("sandbox", |_| None).unwrap_err();
        assert!(err.to_string().contains("alias_of = \"prod\""), "{err}");
    }

    #[test]
    fn bad_toml_reports_line_and_column() {
        let err = Config::parse(
            "[environments.dev]\nregion = \"us-east-1\nx = 1\n",
            "rtsnap.toml",
        )
        .unwrap_err();
        match err {
            ConfigError::Syntax { line, column, .. } => assert_eq!(
                (line, column),
                (2, 20),
                "the unterminated string ends the line"
            ),
            other => panic!("{other}"),
        }
        let err = Config::parse("[environments.dev]\nbackend_sufix = \"a\"\n", "rtsnap.toml")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("rtsnap.toml:2:1:") && text.contains("backend_sufix"),
            "{text}"
        );
    }

    #[test]
    fn refuses_secret_looking_keys_and_values_without_echoing_them() {
        for (text, key, line) in [
            (
                "[environments.dev]\naws_secret_access_key = \"wJalrXUtnFEMI/K7MDENG\"\n",
                "aws_secret_access_key",
                2,
            ),
            (
                "[snapshots]\npassphrase = \"hunter2hunter2\"\n",
                "passphrase",
                2,
            ),
            (
                "[environments.dev]\n\nsession_token = \"abc\"\n",
                "session_token",
                3,
            ),
            (
                "[environments.dev]\nregion = \"AKIAIOSFODNN7EXAMPLE\"\n",
                "region",
                2,
            ),
        ] {
            let err = Config::parse(text, "rtsnap.toml").unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, ConfigError::SecretInFile { .. }), "{message}");
            assert!(
                message.starts_with(&format!("rtsnap.toml:{line}: `{key}`")),
                "{message}"
            );
            for secret in ["wJalrXUtnFEMI", "hunter2", "AKIAIOSFODNN7EXAMPLE"] {
                assert!(!message.contains(secret), "{message}");
            }
        }
    }

    #[test]
    fn rejects_bad_suffix_and_endpoint() {
        let config = Config::parse(
            "[environments.a]\nbackend_suffix = \"Bad Suffix\"\n[environments.b]\nbackend_suffix = \"ok\"\nendpoint_url = \"localhost:5000\"\n",
            "x.toml",
        )
        .unwrap();
        assert!(config.environment_with("a", |_| None).is_err());
        assert!(config
            .environment_with("b", |_| None)
            .unwrap_err()
            .to_string()
            .contains("http://"));
    }

    #[test]
    fn native_via_and_threshold_are_read_and_checked() {
        let config = Config::parse(
            "[environments.a]\nbackend_suffix = \"ok\"\nnative_via = \"s3://stage/exports\"\nnative_min_items = 1000000\n[environments.b]\nbackend_suffix = \"ok2\"\nnative_via = \"stage/exports\"\n",
            "x.toml",
        )
        .unwrap();
        let a = config.environment_with("a", |_| None).unwrap();
        assert_eq!(a.native_via.as_deref(), Some("s3://stage/exports"));
        assert_eq!(a.native_min_items, Some(1_000_000));
        let err = config
            .environment_with("b", |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("native_via"), "{err}");
    }

    /// Found by the 2026-12-01 bug hunt: `[environments."../../x"]` wrote its export
    /// outside the snapshot directory.
    #[test]
    fn environment_names_that_could_leave_the_snapshot_directory_are_refused() {
        for name in ["\"../../x\"", "\"a b\"", "\"-x\"", "\"x/y\""] {
            let text = format!("[environments.{name}]\nbackend_suffix = \"abc\"\n");
            let err = Config::parse(&text, "rtsnap.toml").expect_err(name);
            assert!(err.to_string().contains("letters, digits"), "{err}");
        }
        let fine = "[environments.private-beta_2]\nbackend_suffix = \"abc\"\n";
        assert!(Config::parse(fine, "rtsnap.toml").is_ok());
    }
}
