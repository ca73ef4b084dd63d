//! `tables/<Model>/schema.json`: a table's definition in DynamoDB's own API field
//! names, so that it maps 1:1 onto `CreateTable` (see `docs/format.md` §4.1). Pure
//! data: `aws::dynamodb` converts it to and from the SDK's types.

use serde::{Deserialize, Serialize};

/// A table's schema as stored in a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TableSchema {
    pub model: String,
    /// The source table's name (the target's is computed from model and suffix).
    pub table_name: String,
    pub key_schema: Vec<KeyElement>,
    pub attribute_definitions: Vec<AttributeDefinition>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    #[serde(default)]
    pub local_secondary_indexes: Vec<SecondaryIndex>,
    pub billing_mode: String,
    pub provisioned_throughput: Option<Throughput>,
    pub time_to_live_attribute: Option<String>,
    pub stream_specification: Option<StreamSpecification>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    pub projection: Projection,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned_throughput: Option<Throughput>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub non_key_attributes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Throughput {
    pub read_capacity_units: i64,
    pub write_capacity_units: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    pub stream_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_view_type: Option<String>,
}

/// The part of a schema that must match for items to be restorable into a table: the
/// key attributes, in order, with their types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrimaryKey {
    pub hash: (String, String),
    pub range: Option<(String, String)>,
}

impl PrimaryKey {
    /// The key attribute names: hash, then range.
    pub fn names(&self) -> Vec<String> {
        std::iter::once(self.hash.0.clone())
            .chain(self.range.as_ref().map(|r| r.0.clone()))
            .collect()
    }
}

impl TableSchema {
    /// The table's primary key with attribute types, or why the schema lacks one.
    pub fn primary_key(&self) -> Result<PrimaryKey, String> {
        let typed = |role: &str| -> Result<Option<(String, String)>, String> {
            let Some(element) = self.key_schema.iter().find(|k| k.key_type == role) else {
                return Ok(None);
            };
            let kind = self
                .attribute_definitions
                .iter()
                .find(|d| d.attribute_name == element.attribute_name)
                .map(|d| d.attribute_type.clone())
                .ok_or_else(|| {
                    format!("key attribute {} has no definition", element.attribute_name)
                })?;
            Ok(Some((element.attribute_name.clone(), kind)))
        };
        let hash = typed("HASH")?.ok_or_else(|| String::from("no HASH key"))?;
        Ok(PrimaryKey {
            hash,
            range: typed("RANGE")?,
        })
    }

    /// Parses `schema.json`.
    pub fn from_json(bytes: &[u8]) -> Result<TableSchema, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// Pretty JSON with a trailing newline, as written into snapshots.
    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

impl std::fmt::Display for PrimaryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.hash.0, self.hash.1)?;
        if let Some((name, kind)) = &self.range {
            write!(f, " + {name} ({kind})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_schema_parses_and_has_a_key() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/tables");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path().join("schema.json");
            let bytes = std::fs::read(&path).unwrap();
            let schema = TableSchema::from_json(&bytes).unwrap();
            assert_eq!(
                schema.primary_key().unwrap().hash,
                ("id".into(), "S".into())
            );
            // Writing it back gives the same JSON value (no field is lost).
            let again: serde_json::Value = serde_json::from_slice(&schema.to_json()).unwrap();
            let original: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(again, original, "{}", path.display());
            seen += 1;
        }
        assert_eq!(seen, 35);
    }
}
