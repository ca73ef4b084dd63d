//! Which backend suffix an environment is: the `<suffix>` of `<Model>-<suffix>-NONE`.
//!
//! Amplify's outputs do not name it, but they name every model, and a deployed
//! backend has a table for each. So the suffix is the one under which *every* model's
//! table exists. An account can hold several such backends (a sandbox per developer,
//! plus branches): then guessing would point the config at someone else's data, so
//! rtsnap lists them and asks for `--suffix`.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::archive::layout::check_model_name;
use crate::error::{Error, Result};

/// The suffix `init` settled on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SuffixChoice {
    pub suffix: String,
    /// Found by listing tables (false: given with `--suffix` and checked).
    pub detected: bool,
    /// Tables named `<anything>-<suffix>-NONE`, models of the outputs or not.
    pub tables: usize,
}

/// Names shown in an error before "and N more".
const SHOWN: usize = 8;

/// Picks the suffix for `models` among `tables` (see the module docs). `region` only
/// names where the tables were listed, in errors.
///
/// With `explicit`, every model's table must exist under it too: the outputs come
/// from a deployed backend, which has them all, so a missing table means a wrong
/// suffix, account or region, and a config written anyway would only fail later
/// (export refuses a missing required model) or, worse, let an import create a
/// second backend's worth of tables under a typo.
pub fn choose_suffix(
    tables: &[String],
    models: &[String],
    explicit: Option<&str>,
    region: &str,
) -> Result<SuffixChoice> {
    let backends = backends(tables);
    let wanted: BTreeSet<&str> = models.iter().map(String::as_str).collect();
    let missing = |suffix: &str| -> Vec<&str> {
        let held = backends.get(suffix);
        wanted
            .iter()
            .copied()
            .filter(|m| !held.is_some_and(|h| h.contains(*m)))
            .collect()
    };
    let count = |suffix: &str| backends.get(suffix).map_or(0, BTreeSet::len);

    if let Some(suffix) = explicit {
        if !valid_suffix(suffix) {
            return Err(Error::Usage(format!(
                "--suffix {suffix:?}: a backend suffix is lowercase letters and digits (the part of `Contact-<suffix>-NONE`)"
            )));
        }
        let absent = missing(suffix);
        if !absent.is_empty() {
            return Err(Error::Usage(format!(
                "--suffix {suffix}: {} of the {} models have no table <Model>-{suffix}-NONE in {region}: {}; a deployed backend has them all (wrong suffix, account or region?)",
                absent.len(),
                wanted.len(),
                shorten(&absent)
            )));
        }
        return Ok(SuffixChoice {
            suffix: suffix.to_owned(),
            detected: false,
            tables: count(suffix),
        });
    }

    let complete: Vec<&String> = backends
        .keys()
        .filter(|suffix| missing(suffix).is_empty())
        .collect();
    match complete.as_slice() {
        [one] => Ok(SuffixChoice {
            suffix: (*one).clone(),
            detected: true,
            tables: count(one),
        }),
        [] => Err(Error::Usage(no_backend(&backends, &wanted, region, tables.len()))),
        several => Err(Error::Usage(format!(
            "{} backends in {region} have a table for each of the {} models: {}; pass --suffix with this environment's (the AppSync API id of its backend)",
            several.len(),
            wanted.len(),
            several
                .iter()
                .map(|s| format!("{s} ({} tables)", count(s)))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// Suffix → the models that have a table under it (any model name, not only the
/// outputs' ones, so counts show what else each backend holds).
fn backends(tables: &[String]) -> BTreeMap<String, BTreeSet<String>> {
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in tables {
        let Some((model, suffix)) = name
            .strip_suffix("-NONE")
            .and_then(|rest| rest.rsplit_once('-'))
        else {
            continue;
        };
        if valid_suffix(suffix) && check_model_name(model).is_ok() {
            found
                .entry(suffix.to_owned())
                .or_default()
                .insert(model.to_owned());
        }
    }
    found
}

/// The message when no suffix holds every model: the closest backend and what it
/// lacks, which tells a wrong region from a half-deployed backend.
fn no_backend(
    backends: &BTreeMap<String, BTreeSet<String>>,
    wanted: &BTreeSet<&str>,
    region: &str,
    listed: usize,
) -> String {
    let best = backends
        .iter()
        .map(|(suffix, held)| {
            let absent: Vec<&str> = wanted
                .iter()
                .copied()
                .filter(|m| !held.contains(*m))
                .collect();
            (wanted.len() - absent.len(), suffix, absent)
        })
        .filter(|(matched, _, _)| *matched > 0)
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(a.1)));
    match best {
        Some((matched, suffix, absent)) => format!(
            "no backend in {region} has a table for each of the {} models; the closest, {suffix}, has {matched} (missing: {}); check the region, the AWS account (profile) and that the backend is deployed, or pass --suffix",
            wanted.len(),
            shorten(&absent)
        ),
        None => format!(
            "no table in {region} is named <Model>-<suffix>-NONE for a model of the outputs ({listed} tables listed); check the region, the AWS account (profile) and the endpoint"
        ),
    }
}

fn valid_suffix(suffix: &str) -> bool {
    !suffix.is_empty()
        && suffix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

fn shorten(names: &[&str]) -> String {
    let mut text = names
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn models() -> Vec<String> {
        vec!["Contact".into(), "Project".into(), "ProjectComment".into()]
    }

    #[test]
    fn the_one_backend_holding_every_model_is_chosen() {
        let listed = tables(&[
            "Contact-aaa-NONE",
            "Project-aaa-NONE",
            "ProjectComment-aaa-NONE",
            "Extra-aaa-NONE",
            "Contact-bbb-NONE",
            "Project-bbb-NONE",
            "unrelated-table",
            "Contact-Bad-NONE",
        ]);
        let choice = choose_suffix(&listed, &models(), None, "us-west-1").unwrap();
        assert_eq!(
            choice,
            SuffixChoice {
                suffix: "aaa".into(),
                detected: true,
                tables: 4
            }
        );
    }

    #[test]
    fn several_complete_backends_are_listed_with_their_table_counts() {
        let mut listed = Vec::new();
        for suffix in ["one", "two"] {
            for model in ["Contact", "Project", "ProjectComment"] {
                listed.push(format!("{model}-{suffix}-NONE"));
            }
        }
        listed.push("Extra-two-NONE".into());
        let err = choose_suffix(&listed, &models(), None, "us-west-1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 backends in us-west-1 have a table for each of the 3 models: one (3 tables), two (4 tables); pass --suffix with this environment's (the AppSync API id of its backend)"
        );
        assert_eq!(err.exit_code(), 2);
        let chosen = choose_suffix(&listed, &models(), Some("two"), "us-west-1").unwrap();
        assert_eq!((chosen.suffix.as_str(), chosen.detected), ("two", false));
    }

    #[test]
    fn without_a_complete_backend_the_closest_and_its_gaps_are_named() {
        let listed = tables(&["Contact-aaa-NONE", "Project-aaa-NONE", "Contact-bbb-NONE"]);
        let err = choose_suffix(&listed, &models(), None, "eu-west-1")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("the closest, aaa, has 2 (missing: ProjectComment)"),
            "{err}"
        );
        let err = choose_suffix(&tables(&["Other-x-NONE"]), &models(), None, "eu-west-1")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no table in eu-west-1"), "{err}");
    }

    #[test]
    fn a_given_suffix_must_hold_every_model() {
        let listed = tables(&["Contact-aaa-NONE", "Project-aaa-NONE"]);
        let err = choose_suffix(&listed, &models(), Some("aaa"), "us-west-1")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--suffix aaa: 1 of the 3 models have no table <Model>-aaa-NONE in us-west-1: ProjectComment"),
            "{err}"
        );
        let err = choose_suffix(&listed, &models(), Some("AAA"), "us-west-1").unwrap_err();
        assert!(err.to_string().contains("lowercase"), "{err}");
    }
}
