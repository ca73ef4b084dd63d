//! The item hash straight from a JSONL line, without building an [`Item`].
//!
//! Packing and verifying hash every item of every table; building a `BTreeMap` of owned
//! strings per item made that the slowest stage of the pipeline. Two paths, both
//! without an `Item`:
//!
//! - most lines are already in canonical shape, and [`CanonicalScanner`] gets their
//!   canonical encoding in one pass over the bytes (see its module);
//! - every other line is parsed here with borrowed strings, and its canonical encoding
//!   (docs/format.md §6) written into a reused buffer. This path also words the error
//!   for a line that is not an item.
//!
//! Both must give exactly the bytes `canonical::canonical_item` gives; the tests below
//! compare them on every fixture item, on edge cases and on random items.
//!
//! Why borrowed strings can be copied as they are: serde_json only borrows a string that
//! contains no escape sequence, and valid JSON cannot hold a raw `"`, `\` or control
//! character, so such a string's canonical escaping is its raw text.
//!
//! [`Item`]: super::item::Item

use std::borrow::Cow;

use base64::Engine as _;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::canonical::normalize_number;
use super::canonical_scan::{CanonicalScanner, Scan};
use super::item::ItemParseError;

/// Reusable scratch space for [`LineHasher::hash`].
#[derive(Default)]
pub struct LineHasher {
    out: Vec<u8>,
    scanner: CanonicalScanner,
}

impl LineHasher {
    /// The SHA-256 of the canonical encoding of the item on `line`.
    pub fn hash(&mut self, line: &[u8]) -> Result<[u8; 32], ItemParseError> {
        match self.scanner.scan(line) {
            Scan::Canonical => Ok(Sha256::digest(line).into()),
            Scan::Rewritten => Ok(Sha256::digest(self.scanner.rewritten()).into()),
            Scan::Unsure => self.hash_parsed(line),
        }
    }

    /// The general path: parse, then write the canonical encoding.
    fn hash_parsed(&mut self, line: &[u8]) -> Result<[u8; 32], ItemParseError> {
        let bad = |e: String| ItemParseError(e);
        let mut de = serde_json::Deserializer::from_slice(line);
        let map = RawMap::deserialize(&mut de).map_err(|e| bad(e.to_string()))?;
        de.end().map_err(|e| bad(e.to_string()))?;
        self.out.clear();
        write_map(&mut self.out, map).map_err(bad)?;
        Ok(Sha256::digest(&self.out).into())
    }
}

/// A JSON object of attribute values, borrowed where possible.
struct RawMap<'a>(Vec<(Cow<'a, str>, RawValue<'a>)>);

#[derive(Deserialize)]
enum RawValue<'a> {
    #[serde(borrow)]
    S(Cow<'a, str>),
    #[serde(borrow)]
    N(Cow<'a, str>),
    #[serde(borrow)]
    B(Cow<'a, str>),
    #[serde(rename = "BOOL")]
    Bool(bool),
    #[serde(rename = "NULL")]
    Null(bool),
    #[serde(borrow)]
    M(RawMap<'a>),
    #[serde(borrow)]
    L(Vec<RawValue<'a>>),
    #[serde(rename = "SS", borrow)]
    Ss(Vec<Cow<'a, str>>),
    #[serde(rename = "NS", borrow)]
    Ns(Vec<Cow<'a, str>>),
    #[serde(rename = "BS", borrow)]
    Bs(Vec<Cow<'a, str>>),
}

impl<'de: 'a, 'a> Deserialize<'de> for RawMap<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = RawMap<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of DynamoDB attribute values")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(Cow<'de, str>, RawValue<'de>)> = Vec::new();
                while let Some(key) = map.next_key::<CowStr<'de>>()? {
                    let value = map.next_value::<RawValue<'de>>()?;
                    entries.push((key.0, value));
                }
                entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                if let Some(pair) = entries.windows(2).find(|w| w[0].0 == w[1].0) {
                    return Err(de::Error::custom(format!(
                        "attribute `{}` appears twice",
                        pair[0].0
                    )));
                }
                Ok(RawMap(entries))
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

/// A map key as a borrowed string when it has no escapes (serde's `Cow<str>` alone
/// always allocates for map keys).
struct CowStr<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = CowStr<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
                Err(de::Error::custom("expected a string"))
            }
        }
        d.deserialize_str(StrVisitor)
    }
}

fn write_map(out: &mut Vec<u8>, map: RawMap<'_>) -> Result<(), String> {
    out.push(b'{');
    for (i, (name, value)) in map.0.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &name);
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: RawValue<'_>) -> Result<(), String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let tag = |out: &mut Vec<u8>, tag: &[u8]| {
        out.extend_from_slice(b"{\"");
        out.extend_from_slice(tag);
        out.extend_from_slice(b"\":");
    };
    match value {
        RawValue::S(s) => {
            tag(out, b"S");
            write_str(out, &s);
        }
        RawValue::N(n) => {
            tag(out, b"N");
            write_str(out, &normalize_number(&n).map_err(|e| e.to_string())?);
        }
        RawValue::B(text) => {
            // Only canonical base64 decodes (padding and trailing bits are checked), so
            // valid input text is already the canonical text.
            b64.decode(text.as_bytes()).map_err(|e| e.to_string())?;
            tag(out, b"B");
            write_str(out, &text);
        }
        RawValue::Bool(v) => {
            tag(out, b"BOOL");
            out.extend_from_slice(if v { b"true" } else { b"false" });
        }
        RawValue::Null(true) => {
            tag(out, b"NULL");
            out.extend_from_slice(b"true");
        }
        RawValue::Null(false) => return Err("NULL must be true".into()),
        RawValue::M(map) => {
            tag(out, b"M");
            write_map(out, map)?;
        }
        RawValue::L(list) => {
            tag(out, b"L");
            out.push(b'[');
            for (i, v) in list.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v)?;
            }
            out.push(b']');
        }
        RawValue::Ss(mut set) => {
            set.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            tag(out, b"SS");
            write_list(out, set.iter().map(|s| s.as_ref()));
        }
        RawValue::Ns(set) => {
            let mut normalized = set
                .iter()
                .map(|n| normalize_number(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            normalized.sort();
            tag(out, b"NS");
            write_list(out, normalized.iter().map(String::as_str));
        }
        RawValue::Bs(set) => {
            let mut raw = set
                .iter()
                .map(|t| b64.decode(t.as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            raw.sort();
            let encoded: Vec<String> = raw.iter().map(|b| b64.encode(b)).collect();
            tag(out, b"BS");
            write_list(out, encoded.iter().map(String::as_str));
        }
    }
    out.push(b'}');
    Ok(())
}

fn write_list<'s>(out: &mut Vec<u8>, members: impl Iterator<Item = &'s str>) {
    out.push(b'[');
    for (i, m) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, m);
    }
    out.push(b']');
}

/// A JSON string with the canonical escaping: copied as is when nothing needs escaping
/// (the common case), else through serde_json's escaper, which is the canonical one.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::canonical::item_hash;
    use crate::archive::item::parse_item;

    fn both(line: &str) -> (Result<[u8; 32], String>, Result<[u8; 32], String>) {
        let fast = LineHasher::default()
            .hash(line.as_bytes())
            .map_err(|e| e.to_string());
        let slow = parse_item(line.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|item| item_hash(&item).map_err(|e| e.to_string()));
        (fast, slow)
    }

    #[test]
    fn equals_the_item_path_on_every_fixture_item() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/tables");
        let mut checked = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path().join("items-000001.jsonl");
            for line in std::fs::read_to_string(&path).unwrap().lines() {
                let (fast, slow) = both(line);
                assert_eq!(fast.unwrap(), slow.unwrap(), "{line}");
                checked += 1;
            }
        }
        assert_eq!(checked, 2058);
    }

    #[test]
    fn equals_the_item_path_on_edge_cases() {
        for line in [
            r#"{"z":{"NS":["10","2.0","-0.5"]},"a":{"SS":["b","a"]},"b":{"B":"AAEC"},"bs":{"BS":["AQ==","AA=="]},"t":{"BOOL":false},"n":{"NULL":true},"l":{"L":[{"N":"100"},{"S":"é\n\"q\""}]},"m":{"M":{"y":{"N":"0.0"},"x":{"S":"1"}}}}"#,
            r#"{"k\u00e9y":{"S":"a\/b \u0001 \u007f tab\t"},"\uD83D\uDE00":{"SS":["\uff5e","🙂","x"]}}"#,
            r#"{"e":{"S":""},"l":{"L":[]},"m":{"M":{}},"d":{"M":{"a":{"L":[{"M":{"b":{"BS":["/w=="]}}}]}}}}"#,
            r#"{"bs":{"BS":["gA==","fw==","AAA="]}}"#,
        ] {
            let (fast, slow) = both(line);
            assert_eq!(fast.unwrap(), slow.unwrap(), "{line}");
        }
    }

    #[test]
    fn rejects_what_the_item_path_rejects() {
        for line in [
            r#"{"id":{"S":"a"},"id":{"S":"b"}}"#,
            r#"{"m":{"M":{"k":{"S":"a"},"k":{"N":"1"}}}}"#,
            r#"{"a":{"N":"1.2.3"}}"#,
            r#"{"a":{"B":"AB=="}}"#,
            r#"{"a":{"NULL":false}}"#,
            r#"{"a":{"S":"x","N":"1"}}"#,
            r#"{"a":{"X":"1"}}"#,
            r#"{"a":{"S":"x"}} trailing"#,
            r#"["not","an","object"]"#,
        ] {
            let (fast, slow) = both(line);
            assert!(
                fast.is_err() && slow.is_err(),
                "{line}: fast {fast:?}, slow {slow:?}"
            );
        }
    }
}
