//! Relations in import's plan phase: the snapshot's referential integrity (a warning,
//! or with `--strict` a refusal before anything is written), and for `--with-related`
//! the closed sample to import and the users who own its items.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::archive::header::IntegritySummary;
use crate::archive::DecryptionKey;
use crate::config::Relation;
use crate::error::{Error, Result};
use crate::section::owner::owner_subs;
use crate::section::tables::read::{for_each_table_item, TableEvent};
use crate::section::tables::relations::related::{Picked, RelationGraph};
use crate::section::tables::relations::{parse_relations, IntegrityChecker};
use crate::section::tables::{for_each_item, Selection};
use crate::section::users::UsersSnapshot;

/// What the relations pass found.
pub(super) struct RelationsPass {
    /// `None` when rtsnap.toml declares no relations.
    pub integrity: Option<IntegritySummary>,
    /// With `--with-related`: the items to import.
    pub picked: Option<Picked>,
}

/// One pass over the snapshot's tables: the integrity check and, with `seeds`
/// (`--with-related`: the seed models and `--limit`), the closed sample.
pub(super) fn relations_pass(
    snapshot: &Path,
    key: &DecryptionKey,
    relations: &[Relation],
    seeds: Option<(&[String], Option<u64>)>,
) -> Result<RelationsPass> {
    let specs = parse_relations(relations)?;
    if seeds.is_some() && specs.is_empty() {
        return Err(Error::Usage(
            "--with-related follows the [[relations]] of rtsnap.toml, and it declares none \
             (`rtsnap check --suggest <FILE>` proposes them)"
                .into(),
        ));
    }
    if specs.is_empty() {
        return Ok(RelationsPass {
            integrity: None,
            picked: None,
        });
    }
    let mut checker = IntegrityChecker::new(specs.clone());
    let mut graph = seeds.map(|_| RelationGraph::new(specs.clone()));
    for_each_table_item(snapshot, key, |event| match event {
        TableEvent::Schema(model, schema) => {
            let names = schema.primary_key().map(|k| k.names()).unwrap_or_default();
            checker.begin_model(model, names);
        }
        TableEvent::Item(model, item) => {
            if let Some(graph) = graph.as_mut() {
                graph.observe(model, &item);
            }
            if checker.wants(model) {
                checker.observe(model, &item);
            }
        }
    })?;
    let picked = graph
        .zip(seeds)
        .map(|(graph, (models, limit))| graph.closure(models, limit));
    Ok(RelationsPass {
        integrity: Some(checker.finish()),
        picked,
    })
}

/// The snapshot's users reduced to those owning a picked item (by sub in the owner
/// fields), and the groups they belong to.
pub(super) fn owners_of_sample(
    snapshot: &Path,
    key: &DecryptionKey,
    picked: &Picked,
    owner_fields: &BTreeMap<String, Vec<String>>,
    users: &UsersSnapshot,
) -> Result<UsersSnapshot> {
    let models: Vec<String> = picked.keys().cloned().collect();
    let selection = Selection {
        pick: Some(picked),
        ..Selection::all(&models)
    };
    let mut subs = BTreeSet::new();
    for_each_item(snapshot, key, selection, |model, item, _| {
        subs.extend(owner_subs(owner_fields, model, &item));
        Ok(())
    })?;
    let kept: Vec<_> = users
        .users
        .iter()
        .filter(|u| subs.contains(&u.sub))
        .cloned()
        .collect();
    let groups: BTreeSet<&String> = kept.iter().flat_map(|u| &u.groups).collect();
    Ok(UsersSnapshot {
        pool: users.pool.clone(),
        groups: users
            .groups
            .iter()
            .filter(|g| groups.contains(&g.name))
            .cloned()
            .collect(),
        users: kept,
    })
}
