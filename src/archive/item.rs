//! DynamoDB items as rtsnap stores them: the type-tagged "DynamoDB JSON" that
//! `aws dynamodb scan` prints (`{"id":{"S":"c-1"}}`), one item per JSONL line.
//!
//! rtsnap keeps its own value type instead of the SDK's `AttributeValue` so that the
//! archive layer stays free of AWS code and a snapshot can be read, checked and
//! digested without the SDK (see `aws::dynamodb` for the conversion).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One DynamoDB item: attribute name → value. A `BTreeMap` so that attribute
/// names are always in byte order, which the canonical encoding relies on.
pub type Item = BTreeMap<String, AttrValue>;

/// A DynamoDB attribute value, one variant per DynamoDB data type.
///
/// Numbers stay strings: DynamoDB numbers carry up to 38 significant digits, more
/// than any float, and are compared through [`crate::archive::canonical`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttrValue {
    S(String),
    N(String),
    B(#[serde(with = "base64_bytes")] Vec<u8>),
    #[serde(rename = "BOOL")]
    Bool(bool),
    #[serde(rename = "NULL", with = "null_marker")]
    Null,
    M(#[serde(deserialize_with = "strict_map")] BTreeMap<String, AttrValue>),
    L(Vec<AttrValue>),
    #[serde(rename = "SS")]
    Ss(Vec<String>),
    #[serde(rename = "NS")]
    Ns(Vec<String>),
    #[serde(rename = "BS", with = "base64_list")]
    Bs(Vec<Vec<u8>>),
}

/// Why a JSONL line is not a DynamoDB item.
#[derive(Debug, thiserror::Error)]
#[error("not a DynamoDB JSON item: {0}")]
pub struct ItemParseError(pub(crate) String);

/// Parses one JSONL line (DynamoDB JSON) into an item.
pub fn parse_item(line: &[u8]) -> Result<Item, ItemParseError> {
    let bad = |e: serde_json::Error| ItemParseError(e.to_string());
    let mut de = serde_json::Deserializer::from_slice(line);
    let item = strict_map(&mut de).map_err(bad)?;
    de.end().map_err(bad)?;
    for value in item.values() {
        validate(value)?;
    }
    Ok(item)
}

/// Parses one line of a DynamoDB native export (`{"Item":{...}}`, DynamoDB JSON
/// wrapped in an `Item` member, as ExportTableToPointInTime writes it) into an item,
/// with the same checks as [`parse_item`], so a native export and a scan yield the
/// same archive lines.
pub fn parse_export_line(line: &[u8]) -> Result<Item, ItemParseError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Line {
        #[serde(rename = "Item", deserialize_with = "strict_map")]
        item: Item,
    }
    let parsed: Line = serde_json::from_slice(line).map_err(|e| ItemParseError(e.to_string()))?;
    for value in parsed.item.values() {
        validate(value)?;
    }
    Ok(parsed.item)
}

/// Deserialises a JSON object into a map, refusing a name that appears twice (plain
/// serde would silently keep the last value, dropping data).
fn strict_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, AttrValue>, D::Error> {
    struct StrictMap;
    impl<'de> serde::de::Visitor<'de> for StrictMap {
        type Value = BTreeMap<String, AttrValue>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object of DynamoDB attribute values")
        }

        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((name, value)) = map.next_entry::<String, AttrValue>()? {
                if out.contains_key(&name) {
                    return Err(serde::de::Error::custom(format!(
                        "attribute `{name}` appears twice"
                    )));
                }
                out.insert(name, value);
            }
            Ok(out)
        }
    }
    d.deserialize_map(StrictMap)
}

/// Serialises an item as one compact DynamoDB-JSON line (without the newline).
pub fn item_to_json(item: &Item) -> String {
    // Serialising a map of plain enums cannot fail; fall back to an empty object
    // rather than panicking if serde_json ever changes that.
    serde_json::to_string(item).unwrap_or_else(|_| String::from("{}"))
}

/// Rejects what DynamoDB itself would reject and what the canonical encoding
/// could not represent unambiguously (bad numbers, duplicate set members).
fn validate(value: &AttrValue) -> Result<(), ItemParseError> {
    match value {
        AttrValue::N(n) => super::canonical::normalize_number(n)
            .map(|_| ())
            .map_err(|e| ItemParseError(e.to_string())),
        AttrValue::Ns(ns) => ns.iter().try_for_each(|n| {
            super::canonical::normalize_number(n)
                .map(|_| ())
                .map_err(|e| ItemParseError(e.to_string()))
        }),
        AttrValue::M(map) => map.values().try_for_each(validate),
        AttrValue::L(list) => list.iter().try_for_each(validate),
        _ => Ok(()),
    }
}

mod base64_bytes {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

mod base64_list {
    use super::*;

    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let engine = base64::engine::general_purpose::STANDARD;
        let encoded: Vec<String> = list.iter().map(|b| engine.encode(b)).collect();
        encoded.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Vec::<String>::deserialize(d)?;
        texts
            .iter()
            .map(|t| {
                base64::engine::general_purpose::STANDARD
                    .decode(t.as_bytes())
                    .map_err(serde::de::Error::custom)
            })
            .collect()
    }
}

/// DynamoDB writes NULL as `{"NULL": true}`; `false` is not a value it produces.
mod null_marker {
    use super::*;

    pub fn serialize<S: Serializer>(s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(true)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<(), D::Error> {
        if bool::deserialize(d)? {
            Ok(())
        } else {
            Err(serde::de::Error::custom("NULL must be true"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_type_and_writes_it_back() {
        let line = br#"{"b":{"B":"AAEC"},"bool":{"BOOL":true},"bs":{"BS":["AA==","AQ=="]},"l":{"L":[{"S":"x"},{"N":"1"}]},"m":{"M":{"k":{"S":"v"}}},"n":{"N":"2.50"},"ns":{"NS":["1","2"]},"nul":{"NULL":true},"s":{"S":"hi"},"ss":{"SS":["a","b"]}}"#;
        let item = parse_item(line).unwrap();
        assert_eq!(item["b"], AttrValue::B(vec![0, 1, 2]));
        assert_eq!(item["nul"], AttrValue::Null);
        assert_eq!(item_to_json(&item).as_bytes(), &line[..]);
    }

    #[test]
    fn rejects_two_type_tags_bad_numbers_and_bad_base64() {
        assert!(parse_item(br#"{"a":{"S":"x","N":"1"}}"#).is_err());
        assert!(parse_item(br#"{"a":{"N":"1.2.3"}}"#).is_err());
        assert!(parse_item(br#"{"a":{"B":"!!"}}"#).is_err());
        assert!(parse_item(br#"{"a":{"NULL":false}}"#).is_err());
        assert!(parse_item(br#"{"a":{"X":"1"}}"#).is_err());
        assert!(parse_item(br#"{"id":{"S":"a"},"id":{"S":"b"}}"#).is_err());
        assert!(parse_item(br#"{"m":{"M":{"k":{"S":"a"},"k":{"S":"b"}}}}"#).is_err());
        assert!(parse_item(br#"{"a":{"S":"x"}} trailing"#).is_err());
    }

    #[test]
    fn export_lines_unwrap_item_and_are_checked_alike() {
        let item =
            parse_export_line(br#"{"Item": {"id": {"S": "a"}, "n": {"N": "1.5"}}}"#).unwrap();
        assert_eq!(item_to_json(&item), r#"{"id":{"S":"a"},"n":{"N":"1.5"}}"#);
        assert!(parse_export_line(br#"{"id":{"S":"a"}}"#).is_err());
        assert!(parse_export_line(br#"{"Item":{"a":{"N":"x"}}}"#).is_err());
        assert!(parse_export_line(br#"{"Item":{"a":{"S":"1"},"a":{"S":"2"}}}"#).is_err());
    }
}
