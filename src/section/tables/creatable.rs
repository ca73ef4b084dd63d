//! What CreateTable would refuse in a snapshot's table schema, found in phase 2 for the
//! tables `--create-missing` is to create. Phase 6 creates them one after another, so
//! a schema DynamoDB refuses (a hand-edited archive: an index named `b`, a key
//! attribute without a definition) used to stop the import after the tables before it
//! were created (the 2026-12-01 bug hunt). The rules are CreateTable's documented
//! constraints on names, key schemas, attribute definitions, indexes and projections.

use std::collections::BTreeSet;

use crate::archive::schema::{KeyElement, SecondaryIndex, TableSchema};

/// DynamoDB's limit on local indexes per table (global indexes have a default quota
/// of 20 that an account can raise, so their count is left to DynamoDB).
const MAX_LOCAL_INDEXES: usize = 5;
/// Non-key attributes projected into all of a table's indexes together.
const MAX_PROJECTED_ATTRIBUTES: usize = 100;

/// Why CreateTable would refuse `schema` for the table `table`, one reason each.
pub fn creatable_problems(table: &str, schema: &TableSchema) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |why: String| problems.push(format!("cannot create {table}: {why}"));
    if let Err(why) = name_ok(table) {
        problem(format!("the table name {why}"));
    }
    if let Err(why) = key_schema_ok(&schema.key_schema) {
        problem(format!("its key schema {why}"));
    }
    let defined: BTreeSet<&str> = schema
        .attribute_definitions
        .iter()
        .map(|d| d.attribute_name.as_str())
        .collect();
    for definition in &schema.attribute_definitions {
        if !matches!(definition.attribute_type.as_str(), "S" | "N" | "B") {
            problem(format!(
                "attribute `{}` is defined as {}, not S, N or B",
                definition.attribute_name, definition.attribute_type
            ));
        }
    }
    let indexes = (
        &schema.global_secondary_indexes,
        &schema.local_secondary_indexes,
    );
    if indexes.1.len() > MAX_LOCAL_INDEXES {
        problem(format!(
            "{} local indexes, over DynamoDB's {MAX_LOCAL_INDEXES}",
            indexes.1.len()
        ));
    }
    let mut used: BTreeSet<&str> = key_names(&schema.key_schema);
    let mut names = BTreeSet::new();
    let mut projected = 0;
    for index in indexes.0.iter().chain(indexes.1) {
        for why in index_problems(index, &mut names) {
            problem(format!("index `{}` {why}", index.index_name));
        }
        used.extend(key_names(&index.key_schema));
        projected += index.projection.non_key_attributes.len();
    }
    for index in indexes.1 {
        if let Err(why) = local_index_ok(index, &schema.key_schema) {
            problem(format!("local index `{}` {why}", index.index_name));
        }
    }
    if projected > MAX_PROJECTED_ATTRIBUTES {
        problem(format!(
            "its indexes project {projected} non-key attributes, over DynamoDB's {MAX_PROJECTED_ATTRIBUTES}"
        ));
    }
    for missing in used.difference(&defined) {
        problem(format!(
            "key attribute `{missing}` has no attribute definition"
        ));
    }
    for unused in defined.difference(&used) {
        problem(format!("attribute `{unused}` is defined but keys nothing"));
    }
    problems
}

fn key_names(keys: &[KeyElement]) -> BTreeSet<&str> {
    keys.iter().map(|k| k.attribute_name.as_str()).collect()
}

/// Table and index names: 3 to 255 of `a-z A-Z 0-9 _ - .`.
fn name_ok(name: &str) -> Result<(), String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if !(3..=255).contains(&name.len()) {
        return Err(format!("`{name}` is not 3 to 255 characters long"));
    }
    if !name.chars().all(allowed) {
        return Err(format!(
            "`{name}` has characters other than a-z, A-Z, 0-9, _, - and ."
        ));
    }
    Ok(())
}

/// A HASH element, then at most one RANGE element, on two different attributes.
fn key_schema_ok(keys: &[KeyElement]) -> Result<(), String> {
    let types: Vec<&str> = keys.iter().map(|k| k.key_type.as_str()).collect();
    if !matches!(types.as_slice(), ["HASH"] | ["HASH", "RANGE"]) {
        return Err(format!(
            "is [{}], not HASH then an optional RANGE",
            types.join(", ")
        ));
    }
    if keys.len() == 2 && keys[0].attribute_name == keys[1].attribute_name {
        return Err("uses one attribute for both HASH and RANGE".into());
    }
    Ok(())
}

fn index_problems<'a>(index: &'a SecondaryIndex, names: &mut BTreeSet<&'a str>) -> Vec<String> {
    let mut problems = Vec::new();
    if let Err(why) = name_ok(&index.index_name) {
        problems.push(format!("has a bad name: {why}"));
    }
    if !names.insert(index.index_name.as_str()) {
        problems.push("is named twice".into());
    }
    if let Err(why) = key_schema_ok(&index.key_schema) {
        problems.push(format!("key schema {why}"));
    }
    let projection = &index.projection;
    match projection.projection_type.as_str() {
        "ALL" | "KEYS_ONLY" if projection.non_key_attributes.is_empty() => {}
        "INCLUDE" if !projection.non_key_attributes.is_empty() => {}
        other => problems.push(format!(
            "has projection {other} with {} non-key attributes",
            projection.non_key_attributes.len()
        )),
    }
    problems
}

/// A local index shares the table's partition key and needs a sort key of its own; the
/// table must have a sort key too.
fn local_index_ok(index: &SecondaryIndex, table_keys: &[KeyElement]) -> Result<(), String> {
    let hash = |keys: &[KeyElement]| keys.first().map(|k| k.attribute_name.clone());
    if table_keys.len() != 2 {
        return Err("needs a table with a sort key".into());
    }
    if hash(&index.key_schema) != hash(table_keys) || index.key_schema.len() != 2 {
        return Err("must have the table's partition key and a sort key".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(json: &str) -> TableSchema {
        TableSchema::from_json(json.as_bytes()).expect("schema")
    }

    const GOOD: &str = r#"{"Model":"Contact","TableName":"Contact-x-NONE",
        "KeySchema":[{"AttributeName":"id","KeyType":"HASH"}],
        "AttributeDefinitions":[{"AttributeName":"id","AttributeType":"S"},
                                {"AttributeName":"affiliateId","AttributeType":"S"}],
        "GlobalSecondaryIndexes":[{"IndexName":"contactsByAffiliateId",
            "KeySchema":[{"AttributeName":"affiliateId","KeyType":"HASH"}],
            "Projection":{"ProjectionType":"ALL"}}],
        "BillingMode":"PAY_PER_REQUEST"}"#;

    #[test]
    fn an_amplify_table_is_creatable() {
        assert_eq!(
            creatable_problems("Contact-abc-NONE", &schema(GOOD)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_thing_create_table_refuses_is_named() {
        let bad = GOOD
            .replace("contactsByAffiliateId", "b")
            .replace(r#""ProjectionType":"ALL""#, r#""ProjectionType":"INCLUDE""#)
            .replace(
                r#"{"AttributeName":"affiliateId","AttributeType":"S"}"#,
                r#"{"AttributeName":"extra","AttributeType":"S"}"#,
            );
        let problems = creatable_problems("Contact-abc-NONE", &schema(&bad));
        let text = problems.join("\n");
        assert!(text.contains("index `b` has a bad name"), "{text}");
        assert!(
            text.contains("index `b` has projection INCLUDE with 0"),
            "{text}"
        );
        assert!(
            text.contains("key attribute `affiliateId` has no attribute definition"),
            "{text}"
        );
        assert!(
            text.contains("attribute `extra` is defined but keys nothing"),
            "{text}"
        );
        assert_eq!(problems.len(), 4, "{text}");
        let local = GOOD.replace("GlobalSecondaryIndexes", "LocalSecondaryIndexes");
        let text = creatable_problems("Contact-abc-NONE", &schema(&local)).join("\n");
        assert!(text.contains("needs a table with a sort key"), "{text}");
    }
}
