//! Protection follows the data, not the name. `protected = true` on `production` must
//! not be sidestepped by a second environment (or an `RTSNAP_<ENV>_*` override) that
//! points at the same tables, user pool or bucket: such an environment is protected
//! too. Two environments resolving to the same tables are a configuration error unless
//! one declares itself the other's alias (`alias_of = "production"`), because a
//! mistyped suffix that lands on another environment's tables is the classic way to
//! overwrite the wrong one.

use super::{env_var_prefix, Config, ConfigError, EnvironmentFile};

/// Where an environment's data lives, after overrides.
struct Resolved<'a> {
    name: &'a str,
    file: &'a EnvironmentFile,
    endpoint: Option<String>,
    suffix: Option<String>,
    pool: Option<String>,
    bucket: Option<String>,
}

impl Resolved<'_> {
    /// Same tables: same server, same suffix, and regions that can be equal (an unset
    /// region is whatever the AWS chain says, so it matches any).
    fn same_tables(&self, other: &Resolved<'_>) -> bool {
        let regions = match (&self.file.region, &other.file.region) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.suffix.is_some()
            && self.suffix == other.suffix
            && server(self.endpoint.as_deref()) == server(other.endpoint.as_deref())
            && regions
    }

    fn aliases(&self, other: &Resolved<'_>) -> bool {
        self.file.alias_of.as_deref() == Some(other.name)
            || other.file.alias_of.as_deref() == Some(self.name)
    }
}

/// The server an endpoint reaches, spelled one way: `localhost`, `127.0.0.1`, `[::1]`
/// and `0.0.0.0` are one host; host names are compared without case; the port is
/// explicit (80 / 443 by default); a trailing `/` or path does not matter; an AWS
/// endpoint (`….amazonaws.com`, `….api.aws`, any scheme or port) is AWS itself, the
/// same as no endpoint_url; `[::ffff:127.0.0.1]` is loopback too.
/// Compared as strings, `http://localhost:8200` and `http://127.0.0.1:8200/` were two
/// servers, and an override spelled the other way escaped protection (the 2026-12-01
/// bug hunt). `None`: AWS's own endpoints.
fn server(endpoint: Option<&str>) -> Option<String> {
    let text = endpoint?.trim();
    let Ok(url) = url::Url::parse(text) else {
        // Not a URL the SDK could use either; compare it as written.
        return Some(text.to_ascii_lowercase());
    };
    let port = url.port_or_known_default().unwrap_or(0);
    let host = match url.host() {
        Some(url::Host::Domain(domain)) => {
            let domain = domain.to_ascii_lowercase();
            let aws = [".amazonaws.com", ".amazonaws.com.cn", ".api.aws"];
            if aws.iter().any(|suffix| domain.ends_with(suffix)) {
                return None;
            }
            if domain == "localhost" {
                "loopback".to_owned()
            } else {
                domain
            }
        }
        Some(url::Host::Ipv4(ip)) if ip.is_loopback() || ip.is_unspecified() => "loopback".into(),
        Some(url::Host::Ipv6(ip))
            if ip.is_loopback()
                || ip.is_unspecified()
                || ip
                    .to_ipv4_mapped()
                    .is_some_and(|v4| v4.is_loopback() || v4.is_unspecified()) =>
        {
            "loopback".into()
        }
        Some(host) => host.to_string(),
        None => return Some(text.to_ascii_lowercase()),
    };
    Some(format!("{host}:{port}"))
}

fn resolve<'a>(
    name: &'a str,
    file: &'a EnvironmentFile,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Resolved<'a> {
    let prefix = env_var_prefix(name);
    let over = |key: &str, value: &Option<String>| {
        lookup(&format!("{prefix}_{key}"))
            .filter(|v| !v.is_empty())
            .or_else(|| value.clone())
    };
    Resolved {
        name,
        file,
        endpoint: over("ENDPOINT_URL", &file.endpoint_url),
        suffix: over("BACKEND_SUFFIX", &file.backend_suffix),
        pool: over("USER_POOL_ID", &file.user_pool_id),
        bucket: over("BUCKET", &file.bucket),
    }
}

/// Why environment `name` is protected although its own section does not say so
/// (it shares tables, pool or bucket with a protected one), or `None`. An undeclared
/// second environment on the same tables is an error.
pub(super) fn protected_by(
    config: &Config,
    name: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, ConfigError> {
    let Some(file) = config.environments.get(name) else {
        return Ok(None);
    };
    if let Some(alias) = &file.alias_of {
        if !config.environments.contains_key(alias) {
            return Err(ConfigError::Invalid {
                env: name.to_owned(),
                message: format!("alias_of = \"{alias}\" names no environment"),
            });
        }
    }
    let me = resolve(name, file, lookup);
    let mut reason = None;
    for (other_name, other_file) in &config.environments {
        if other_name == name {
            continue;
        }
        let other = resolve(other_name, other_file, lookup);
        let same_tables = me.same_tables(&other);
        if same_tables && !me.aliases(&other) {
            return Err(ConfigError::Invalid {
                env: name.to_owned(),
                message: format!(
                    "it resolves to the same tables as `{other_name}` (backend suffix {}); if that is intended, declare alias_of = \"{other_name}\" in [environments.{name}]",
                    me.suffix.as_deref().unwrap_or_default()
                ),
            });
        }
        if !other_file.protected || reason.is_some() {
            continue;
        }
        let shared = if same_tables {
            Some(format!(
                "backend suffix {}",
                me.suffix.as_deref().unwrap_or_default()
            ))
        } else if me.pool.is_some() && me.pool == other.pool {
            Some(format!(
                "user pool {}",
                me.pool.as_deref().unwrap_or_default()
            ))
        } else if me.bucket.is_some() && me.bucket == other.bucket {
            Some(format!(
                "bucket {}",
                me.bucket.as_deref().unwrap_or_default()
            ))
        } else {
            None
        };
        reason = shared.map(|what| format!("it shares {what} with the protected `{other_name}`"));
    }
    Ok(reason)
}
