//! `check <FILE|ENV> [--suggest]`: referential integrity of a snapshot (read through
//! the full verifying reader) or of a live environment (every table involved scanned),
//! against the `[[relations]]` of rtsnap.toml; with `--suggest`, relations proposed
//! from the data, as TOML to paste. Read-only either way.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::Serialize;

use crate::archive::header::IntegritySummary;
use crate::archive::DecryptionKey;
use crate::aws::dynamodb::Dynamo;
use crate::config::{Environment, Relation};
use crate::error::{Error, Result};
use crate::section::tables::read::{for_each_table_item, TableEvent};
use crate::section::tables::relations::suggest::{to_toml, RelationFinder, Suggestion};
use crate::section::tables::relations::{parse_relations, IntegrityChecker, RelationSpec};
use crate::section::tables::{discover_tables, scan_table};

/// What to check.
pub enum CheckSource<'a> {
    Snapshot {
        path: PathBuf,
        key: &'a DecryptionKey,
    },
    Environment(&'a Environment),
}

/// What `check` found.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The snapshot file or the environment's name.
    pub source: String,
    /// Items read.
    pub items: u64,
    pub integrity: IntegritySummary,
    /// With `--suggest`: relations proposed from the data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestions: Option<Vec<Suggestion>>,
    /// The suggestions as TOML for rtsnap.toml.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestions_toml: Option<String>,
}

impl CheckReport {
    pub fn dangling(&self) -> u64 {
        self.integrity.dangling()
    }
}

/// Checks `source` against `relations`; `suggest` also proposes relations.
pub async fn check(
    source: CheckSource<'_>,
    relations: &[Relation],
    suggest: bool,
) -> Result<CheckReport> {
    let specs = parse_relations(relations)?;
    if specs.is_empty() && !suggest {
        return Err(Error::Usage(
            "rtsnap.toml declares no [[relations]]; `rtsnap check --suggest` proposes them from the data"
                .into(),
        ));
    }
    let mut observer = Observer {
        checker: IntegrityChecker::new(specs.clone()),
        finder: suggest.then(RelationFinder::default),
        items: 0,
    };
    let name = match source {
        CheckSource::Snapshot { path, key } => {
            tracing::info!("reading {}", path.display());
            let (path_for_read, key) = (path.clone(), key.clone());
            observer = tokio::task::spawn_blocking(move || {
                let mut observer = observer;
                for_each_table_item(&path_for_read, &key, |event| match event {
                    TableEvent::Schema(model, schema) => {
                        let names = schema.primary_key().map(|k| k.names());
                        observer.begin(model, names.unwrap_or_default());
                    }
                    TableEvent::Item(model, item) => observer.observe(model, &item),
                })
                .map(|()| observer)
            })
            .await
            .map_err(|e| Error::Failed(format!("reading task: {e}")))??;
            path.display().to_string()
        }
        CheckSource::Environment(env) => {
            scan_environment(env, &specs, &mut observer).await?;
            env.name.clone()
        }
    };
    let declared: Vec<(String, String)> =
        specs.iter().map(|s| (s.from_text(), s.to_text())).collect();
    let suggestions = observer.finder.map(|f| f.finish(&declared));
    Ok(CheckReport {
        source: name,
        items: observer.items,
        integrity: observer.checker.finish(),
        suggestions_toml: suggestions.as_deref().map(to_toml),
        suggestions,
    })
}

struct Observer {
    checker: IntegrityChecker,
    finder: Option<RelationFinder>,
    items: u64,
}

impl Observer {
    fn wants(&self, model: &str) -> bool {
        // Suggesting looks at every model's ids and `…Id` fields.
        self.finder.is_some() || self.checker.wants(model)
    }

    fn begin(&mut self, model: &str, keys: Vec<String>) {
        if let (Some(finder), Some(hash_key)) = (self.finder.as_mut(), keys.first()) {
            finder.begin_model(model, hash_key);
        }
        self.checker.begin_model(model, keys);
    }

    fn observe(&mut self, model: &str, item: &crate::archive::Item) {
        if !self.wants(model) {
            return;
        }
        self.items += 1;
        self.checker.observe(model, item);
        if let Some(finder) = self.finder.as_mut() {
            finder.observe(model, item);
        }
    }
}

/// Scans every table a relation (or, suggesting, any table) involves.
async fn scan_environment(
    env: &Environment,
    specs: &[RelationSpec],
    observer: &mut Observer,
) -> Result<()> {
    let sdk = crate::aws::sdk_config(env).await;
    let dynamo = Dynamo::new(&sdk);
    let tables = discover_tables(&dynamo, env, None).await?;
    let involved: BTreeSet<&String> = specs
        .iter()
        .flat_map(|s| [&s.from_model, &s.to_model])
        .collect();
    for (model, table) in &tables {
        if !(observer.finder.is_some() || involved.contains(model)) {
            continue;
        }
        let Some(described) = dynamo.describe(table, model).await? else {
            continue;
        };
        let key = described.schema.primary_key().map_err(Error::Failed)?;
        observer.begin(model, key.names());
        tracing::info!("scanning {table}");
        let estimate = (described.size_bytes, described.item_count);
        scan_table(&dynamo, table, estimate, |item| {
            observer.observe(model, &item);
            Ok(())
        })
        .await?;
    }
    Ok(())
}
