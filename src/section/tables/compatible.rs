//! Can a target table take a source table's items? One rule, used by import's phase 2
//! (against a snapshot's schema) and by `analyze --target` (against the live source's),
//! so that analyze reports exactly what import would refuse.
//!
//! Refused: a different primary key (names, roles or types), and an attribute both
//! tables index with different types (the target would reject every item holding it,
//! in the middle of the write phase). Only noted: indexes present on one side only or
//! shaped differently. Import never alters an existing table's schema, and the items
//! restore exactly either way; refusing would leave an environment whose stack has
//! since dropped or reshaped an index no way to be restored at all.

use std::collections::BTreeMap;

use crate::archive::schema::{KeyElement, SecondaryIndex, TableSchema};

/// How a target table's schema compares with the source's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchemaCheck {
    /// What import refuses (exit 4): items would not restore into this table.
    pub refusals: Vec<String>,
    /// Differences import accepts: the items restore, the table still differs.
    pub notes: Vec<String>,
}

/// A schema without a usable primary key, and which side it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeylessSchema {
    Source(String),
    Target(String),
}

/// Compares `target` (the table named `table`) with `source`, which messages call
/// `source_label` ("the snapshot", or "`staging`").
pub fn check_schema(
    table: &str,
    source: &TableSchema,
    source_label: &str,
    target: &TableSchema,
) -> Result<SchemaCheck, KeylessSchema> {
    let want = source.primary_key().map_err(KeylessSchema::Source)?;
    let have = target.primary_key().map_err(KeylessSchema::Target)?;
    let mut check = SchemaCheck::default();
    if have != want {
        check
            .refusals
            .push(format!("{table} has key {have}, {source_label} has {want}"));
    }
    // Key attributes are covered by the primary key comparison above.
    let keys: Vec<&str> = [&want, &have]
        .iter()
        .flat_map(|k| std::iter::once(&k.hash).chain(k.range.iter()))
        .map(|(name, _)| name.as_str())
        .collect();
    let source_types = attribute_types(source);
    for (name, (kind, used_by)) in attribute_types(target) {
        let Some((source_kind, source_used_by)) = source_types.get(&name) else {
            continue;
        };
        if *source_kind != kind && !keys.contains(&name.as_str()) {
            check.refusals.push(format!(
                "{table} indexes `{name}` as {kind} ({used_by}), {source_label} as {source_kind} ({source_used_by}): the target would reject every item holding `{name}`"
            ));
        }
    }
    for (kind, source_indexes, target_indexes) in [
        (
            "global",
            &source.global_secondary_indexes,
            &target.global_secondary_indexes,
        ),
        (
            "local",
            &source.local_secondary_indexes,
            &target.local_secondary_indexes,
        ),
    ] {
        compare_indexes(
            table,
            source_label,
            kind,
            source_indexes,
            target_indexes,
            &mut check,
        );
    }
    Ok(check)
}

/// Notes indexes missing, extra or shaped differently.
fn compare_indexes(
    table: &str,
    source_label: &str,
    kind: &str,
    source: &[SecondaryIndex],
    target: &[SecondaryIndex],
    check: &mut SchemaCheck,
) {
    for index in source {
        match target.iter().find(|t| t.index_name == index.index_name) {
            None => check.notes.push(format!(
                "{table} lacks the {kind} index `{}` that {source_label} has: items restore, queries on the index fail until the stack adds it",
                index.index_name
            )),
            Some(t) if t.key_schema != index.key_schema || t.projection != index.projection => {
                check.notes.push(format!(
                    "{table}'s {kind} index `{}` is {}, {source_label}'s is {}",
                    index.index_name,
                    shape(t),
                    shape(index)
                ))
            }
            Some(_) => {}
        }
    }
    for index in target {
        if !source.iter().any(|s| s.index_name == index.index_name) {
            check.notes.push(format!(
                "{table} has a {kind} index `{}` that {source_label} lacks (DynamoDB fills it from the restored items)",
                index.index_name
            ));
        }
    }
}

/// `on a (HASH) + b (RANGE), projection ALL`.
fn shape(index: &SecondaryIndex) -> String {
    format!(
        "on {}, projection {}",
        key_text(&index.key_schema),
        index.projection.projection_type
    )
}

/// `a (HASH) + b (RANGE)`.
fn key_text(keys: &[KeyElement]) -> String {
    keys.iter()
        .map(|k| format!("{} ({})", k.attribute_name, k.key_type))
        .collect::<Vec<_>>()
        .join(" + ")
}

/// Each defined attribute's type and what keys it (`the table`, `index byEmail`).
fn attribute_types(schema: &TableSchema) -> BTreeMap<String, (String, String)> {
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for key in &schema.key_schema {
        users
            .entry(&key.attribute_name)
            .or_default()
            .push("the table".into());
    }
    let indexes = schema
        .global_secondary_indexes
        .iter()
        .chain(&schema.local_secondary_indexes);
    for index in indexes {
        for key in &index.key_schema {
            users
                .entry(&key.attribute_name)
                .or_default()
                .push(format!("index {}", index.index_name));
        }
    }
    schema
        .attribute_definitions
        .iter()
        .map(|d| {
            let used_by = users
                .get(d.attribute_name.as_str())
                .map_or_else(|| "no key".to_owned(), |u| u.join(", "));
            (
                d.attribute_name.clone(),
                (d.attribute_type.clone(), used_by),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::schema::{AttributeDefinition, Projection};

    fn schema(range: Option<(&str, &str)>, gsis: &[(&str, &str, &str)]) -> TableSchema {
        let mut key_schema = vec![element("id", "HASH")];
        let mut defs = vec![def("id", "S")];
        if let Some((name, kind)) = range {
            key_schema.push(element(name, "RANGE"));
            defs.push(def(name, kind));
        }
        let mut indexes = Vec::new();
        for (index, attribute, kind) in gsis {
            defs.push(def(attribute, kind));
            indexes.push(SecondaryIndex {
                index_name: (*index).into(),
                key_schema: vec![element(attribute, "HASH")],
                projection: Projection {
                    projection_type: "ALL".into(),
                    non_key_attributes: vec![],
                },
                provisioned_throughput: None,
            });
        }
        TableSchema {
            model: "Contact".into(),
            table_name: "Contact-x-NONE".into(),
            key_schema,
            attribute_definitions: defs,
            global_secondary_indexes: indexes,
            local_secondary_indexes: vec![],
            billing_mode: "PAY_PER_REQUEST".into(),
            provisioned_throughput: None,
            time_to_live_attribute: None,
            stream_specification: None,
        }
    }

    fn element(name: &str, key_type: &str) -> KeyElement {
        KeyElement {
            attribute_name: name.into(),
            key_type: key_type.into(),
        }
    }

    fn def(name: &str, kind: &str) -> AttributeDefinition {
        AttributeDefinition {
            attribute_name: name.into(),
            attribute_type: kind.into(),
        }
    }

    fn check(source: &TableSchema, target: &TableSchema) -> SchemaCheck {
        check_schema("T", source, "the snapshot", target).unwrap()
    }

    #[test]
    fn equal_schemas_pass() {
        let s = schema(Some(("n", "N")), &[("byEmail", "email", "S")]);
        assert_eq!(check(&s, &s), SchemaCheck::default());
    }

    #[test]
    fn a_different_key_is_refused_with_imports_message() {
        let source = schema(None, &[]);
        let target = schema(Some(("n", "N")), &[]);
        let got = check(&source, &target);
        assert_eq!(
            got.refusals,
            ["T has key id (S) + n (N), the snapshot has id (S)"]
        );
        assert!(got.notes.is_empty());
    }

    #[test]
    fn an_index_attribute_of_another_type_is_refused() {
        let source = schema(None, &[("byEmail", "email", "S")]);
        let target = schema(None, &[("byEmail", "email", "N")]);
        let got = check(&source, &target);
        assert_eq!(got.refusals.len(), 1, "{got:?}");
        assert!(
            got.refusals[0].starts_with(
                "T indexes `email` as N (index byEmail), the snapshot as S (index byEmail)"
            ),
            "{got:?}"
        );
    }

    #[test]
    fn missing_extra_and_reshaped_indexes_are_noted_not_refused() {
        let source = schema(None, &[("byEmail", "email", "S"), ("byCity", "city", "S")]);
        let mut target = schema(None, &[("byEmail", "email", "S"), ("byZip", "zip", "S")]);
        target.global_secondary_indexes[0]
            .projection
            .projection_type = "KEYS_ONLY".into();
        let got = check(&source, &target);
        assert!(got.refusals.is_empty(), "{got:?}");
        assert_eq!(got.notes.len(), 3, "{got:?}");
        assert!(got
            .notes
            .iter()
            .any(|n| n.contains("lacks the global index `byCity`")));
        assert!(got
            .notes
            .iter()
            .any(|n| n.contains("has a global index `byZip`")));
        assert!(got
            .notes
            .iter()
            .any(|n| n.contains("index `byEmail` is on email (HASH), projection KEYS_ONLY")));
    }
}
