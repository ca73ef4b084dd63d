//! Writes what `init` found into `rtsnap.toml`, editing the file as a document
//! (`toml_edit`): the operator's comments, key order, other environments and settings
//! such as `protected`, `endpoint_url` or `asset_prefixes` stay exactly as they were.
//! A value `init` replaces keeps its trailing comment. Relations and owner fields are
//! only ever added, never removed: the operator may have written ones Amplify's
//! schema cannot express.

use std::collections::BTreeMap;

use serde::Serialize;
use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, TableLike, Value};

use crate::amplify::Relation;
use crate::error::{Error, Result};

/// What goes into `[environments.<ENV>]` and the top-level sections.
pub struct Settings<'a> {
    pub region: Option<&'a str>,
    pub backend_suffix: &'a str,
    pub user_pool_id: Option<&'a str>,
    pub bucket: Option<&'a str>,
    pub required_models: &'a [String],
    pub relations: &'a [Relation],
    pub owner_fields: &'a BTreeMap<String, Vec<String>>,
}

/// One key of the environment that `init` set or changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    pub key: String,
    /// The value before, as written in the file; `None` when the key was new.
    pub old: Option<String>,
    pub new: String,
}

/// The edited text and what changed in it.
#[derive(Debug, Clone, Default)]
pub struct Edited {
    pub text: String,
    pub section_created: bool,
    pub changes: Vec<KeyChange>,
    pub relations_added: Vec<Relation>,
    /// Model → the owner fields added to its entry.
    pub owner_fields_added: BTreeMap<String, Vec<String>>,
}

/// A value as `init` wants it.
enum Want<'a> {
    Text(&'a str),
    List(&'a [String]),
}

/// Applies `settings` for environment `env` to the TOML `text` (empty: a new file).
pub fn edit(text: &str, env: &str, settings: &Settings<'_>) -> Result<Edited> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e| Error::Usage(format!("rtsnap.toml cannot be edited: {e}")))?;
    let mut edited = Edited::default();
    {
        let environments = table_like(doc.as_table_mut(), "environments", true)?;
        edited.section_created = !environments.contains_key(env);
        let section = table_like(environments, env, false)?;
        let wanted = [
            ("region", settings.region.map(Want::Text)),
            ("backend_suffix", Some(Want::Text(settings.backend_suffix))),
            ("user_pool_id", settings.user_pool_id.map(Want::Text)),
            ("bucket", settings.bucket.map(Want::Text)),
            (
                "required_models",
                Some(Want::List(settings.required_models)),
            ),
        ];
        for (key, want) in wanted {
            if let Some(want) = want {
                if let Some(change) = set(section, key, &want) {
                    edited.changes.push(change);
                }
            }
        }
    }
    edited.relations_added = add_relations(&mut doc, settings.relations)?;
    edited.owner_fields_added = add_owner_fields(&mut doc, settings.owner_fields)?;
    edited.text = doc.to_string();
    Ok(edited)
}

/// The table (or inline table) at `key` of `parent`, created if absent; a new
/// `environments` is implicit so the file shows only `[environments.<name>]` headers.
fn table_like<'t>(
    parent: &'t mut dyn TableLike,
    key: &str,
    implicit: bool,
) -> Result<&'t mut dyn TableLike> {
    let item = parent.entry(key).or_insert_with(|| {
        let mut table = Table::new();
        table.set_implicit(implicit);
        Item::Table(table)
    });
    item.as_table_like_mut()
        .ok_or_else(|| Error::Usage(format!("rtsnap.toml: `{key}` is not a table")))
}

/// Sets `key` unless it already holds `want`; a replaced value keeps its comments.
fn set(table: &mut dyn TableLike, key: &str, want: &Want<'_>) -> Option<KeyChange> {
    let mut value = match want {
        Want::Text(text) => Value::from(*text),
        Want::List(items) => Value::Array(list(items)),
    };
    let old = match table.get_mut(key) {
        Some(item) => {
            let old = match item.as_value() {
                Some(current) if holds(current, want) => return None,
                Some(current) => {
                    *value.decor_mut() = current.decor().clone();
                    let mut bare = current.clone();
                    bare.decor_mut().clear();
                    bare.to_string()
                }
                None => item.to_string().trim().to_owned(),
            };
            *item = Item::Value(value.clone());
            Some(old)
        }
        None => {
            table.insert(key, Item::Value(value.clone()));
            None
        }
    };
    Some(KeyChange {
        key: key.to_owned(),
        old,
        new: match want {
            Want::Text(text) => (*text).to_owned(),
            Want::List(items) => items.join(", "),
        },
    })
}

fn holds(current: &Value, want: &Want<'_>) -> bool {
    match want {
        Want::Text(text) => current.as_str() == Some(*text),
        Want::List(items) => current.as_array().is_some_and(|array| {
            array.len() == items.len()
                && array
                    .iter()
                    .zip(items.iter())
                    .all(|(a, b)| a.as_str() == Some(b))
        }),
    }
}

/// A list of strings; one per line when long (35 model names do not fit a line).
fn list(items: &[String]) -> Array {
    let mut array: Array = items.iter().map(String::as_str).collect();
    if items.iter().map(|i| i.len() + 4).sum::<usize>() > 60 {
        for value in array.iter_mut() {
            value.decor_mut().set_prefix("\n    ");
        }
        array.set_trailing_comma(true);
        array.set_trailing("\n");
    }
    array
}

/// Appends each relation the file does not list yet, as `[[relations]]` (or into an
/// inline `relations = [...]` array if the file uses that form).
fn add_relations(doc: &mut DocumentMut, relations: &[Relation]) -> Result<Vec<Relation>> {
    if relations.is_empty() {
        return Ok(Vec::new());
    }
    let item = doc
        .as_table_mut()
        .entry("relations")
        .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()));
    let pair = |t: &dyn TableLike| {
        let get = |k: &str| {
            t.get(k)
                .and_then(Item::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (get("from"), get("to"))
    };
    let mut added = Vec::new();
    match item {
        Item::ArrayOfTables(tables) => {
            let existing: Vec<_> = tables.iter().map(|t| pair(t)).collect();
            for relation in relations {
                if !existing.contains(&(relation.from.clone(), relation.to.clone())) {
                    let mut table = Table::new();
                    table.insert("from", toml_edit::value(relation.from.as_str()));
                    table.insert("to", toml_edit::value(relation.to.as_str()));
                    tables.push(table);
                    added.push(relation.clone());
                }
            }
        }
        Item::Value(Value::Array(array)) => {
            let existing: Vec<_> = array
                .iter()
                .filter_map(Value::as_inline_table)
                .map(|t| pair(t))
                .collect();
            for relation in relations {
                if !existing.contains(&(relation.from.clone(), relation.to.clone())) {
                    let mut table = toml_edit::InlineTable::new();
                    table.insert("from", relation.from.as_str().into());
                    table.insert("to", relation.to.as_str().into());
                    array.push(table);
                    added.push(relation.clone());
                }
            }
        }
        _ => {
            return Err(Error::Usage(
                "rtsnap.toml: `relations` is neither [[relations]] tables nor an array".into(),
            ))
        }
    }
    Ok(added)
}

/// Adds owner fields per model to `owner_fields` (a `[owner_fields]` table, or the
/// inline `owner_fields = { … }` the guide shows), keeping fields already listed.
fn add_owner_fields(
    doc: &mut DocumentMut,
    found: &BTreeMap<String, Vec<String>>,
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut added = BTreeMap::new();
    if found.is_empty() {
        return Ok(added);
    }
    let inline = matches!(
        doc.get("owner_fields"),
        Some(Item::Value(Value::InlineTable(_)))
    );
    let table = table_like(doc.as_table_mut(), "owner_fields", false)?;
    for (model, fields) in found {
        match table.get_mut(model) {
            Some(item) => {
                let array = item.as_array_mut().ok_or_else(|| {
                    Error::Usage(format!(
                        "rtsnap.toml: owner_fields.{model} is not a list of field names"
                    ))
                })?;
                let missing: Vec<String> = fields
                    .iter()
                    .filter(|f| !array.iter().any(|v| v.as_str() == Some(f.as_str())))
                    .cloned()
                    .collect();
                for field in &missing {
                    array.push(field.as_str());
                }
                if !missing.is_empty() {
                    added.insert(model.clone(), missing);
                }
            }
            None => {
                table.insert(model, Item::Value(Value::Array(list(fields))));
                added.insert(model.clone(), fields.clone());
            }
        }
    }
    if inline {
        // An inline table holds no comments to lose; without this the new entry
        // would follow the old last value's spacing (`["owner"] , Todo = …`).
        table.fmt();
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const BEFORE: &str = r#"[snapshots]
recipients = ["age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"]

# staging is the team's shared backend
[environments.staging]
endpoint_url = "http://127.0.0.1:5000"
region = "eu-west-1"  # moved in 2025
protected = true
asset_prefixes = ["public/"]

[environments.other]
region = "eu-west-1"
backend_suffix = "othersuffix"

[[relations]]
from = "Request.contactId"
to = "Contact.id"

[owner_fields]
Request = ["editors"]  # hand-written
"#;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn relation(from: &str, to: &str) -> Relation {
        Relation {
            from: from.into(),
            to: to.into(),
        }
    }

    fn apply(text: &str, env: &str) -> Edited {
        let models = strings(&["Contact", "Project", "ProjectComment", "Request", "Quote"]);
        let relations = [
            relation("Project.requestId", "Request.id"),
            relation("Request.contactId", "Contact.id"),
        ];
        let owners = BTreeMap::from([
            ("Project".to_string(), strings(&["owner"])),
            ("Request".to_string(), strings(&["owner"])),
        ]);
        let settings = Settings {
            region: Some("us-west-1"),
            backend_suffix: "abc123",
            user_pool_id: Some("us-west-1_Pool"),
            bucket: None,
            required_models: &models,
            relations: &relations,
            owner_fields: &owners,
        };
        edit(text, env, &settings).unwrap()
    }

    #[test]
    fn sets_the_environment_and_keeps_everything_else() {
        let edited = apply(BEFORE, "staging");
        let text = &edited.text;
        for kept in [
            "# staging is the team's shared backend\n[environments.staging]\nendpoint_url = \"http://127.0.0.1:5000\"\n",
            "region = \"us-west-1\"  # moved in 2025\nprotected = true\nasset_prefixes = [\"public/\"]\n",
            "[environments.other]\nregion = \"eu-west-1\"\nbackend_suffix = \"othersuffix\"\n",
            "Request = [\"editors\", \"owner\"]  # hand-written\n",
        ] {
            assert!(text.contains(kept), "{kept:?} not in:\n{text}");
        }
        assert!(!edited.section_created);
        assert_eq!(
            edited
                .changes
                .iter()
                .map(|c| (c.key.as_str(), c.old.as_deref()))
                .collect::<Vec<_>>(),
            [
                ("region", Some("\"eu-west-1\"")),
                ("backend_suffix", None),
                ("user_pool_id", None),
                ("required_models", None),
            ]
        );
        assert_eq!(
            edited.relations_added,
            [relation("Project.requestId", "Request.id")],
            "the relation already listed is not repeated"
        );
        assert_eq!(text.matches("[[relations]]").count(), 2);
        assert_eq!(
            edited.owner_fields_added,
            BTreeMap::from([
                ("Project".to_string(), strings(&["owner"])),
                ("Request".to_string(), strings(&["owner"])),
            ])
        );

        let config = Config::parse(text, "rtsnap.toml").unwrap();
        let env = config.environment_with("staging", |_| None).unwrap();
        assert_eq!(env.backend_suffix, "abc123");
        assert_eq!(env.region.as_deref(), Some("us-west-1"));
        assert_eq!(env.user_pool_id.as_deref(), Some("us-west-1_Pool"));
        assert_eq!(env.bucket, None);
        assert_eq!(env.required_models.len(), 5);
        assert!(env.protected);
        assert_eq!(env.asset_prefixes, ["public/"]);
    }

    #[test]
    fn a_second_run_changes_nothing() {
        let once = apply(BEFORE, "staging");
        let twice = apply(&once.text, "staging");
        assert_eq!(twice.text, once.text);
        assert!(twice.changes.is_empty() && twice.relations_added.is_empty());
        assert!(twice.owner_fields_added.is_empty());
    }

    #[test]
    fn writes_a_new_file_and_merges_inline_owner_fields() {
        let edited = apply("", "dev");
        assert!(edited.section_created);
        assert!(
            edited.text.starts_with(
                "[environments.dev]\nregion = \"us-west-1\"\nbackend_suffix = \"abc123\"\n"
            ),
            "{}",
            edited.text
        );
        Config::parse(&edited.text, "new.toml")
            .unwrap()
            .environment_with("dev", |_| None)
            .unwrap();

        let edited = apply("owner_fields = { Todo = [\"owner\"] }\n", "dev");
        assert!(
            edited.text.starts_with(
                "owner_fields = { Todo = [\"owner\"], Project = [\"owner\"], Request = [\"owner\"] }\n"
            ),
            "{}",
            edited.text
        );
    }
}
