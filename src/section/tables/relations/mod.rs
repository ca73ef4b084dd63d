//! Referential integrity between tables: the `[[relations]]` of `rtsnap.toml`
//! (`from = "Request.contactId"`, `to = "Contact.id"`), which DynamoDB itself never
//! enforces. Amplify's `belongsTo` / `hasMany` are foreign keys only by convention, so
//! a migration can silently leave requests pointing at contacts that no longer exist.
//!
//! - [`check`]: count every reference and the dangling ones, streaming (export, import's
//!   plan phase, `rtsnap check`);
//! - [`suggest`]: propose relations from the data (`check --suggest`);
//! - [`related`]: the closed sample of `import --limit N --with-related`.
//!
//! Values are compared by type and canonical spelling (a string `"1"` never matches
//! the number `1`; `1.0` matches `1`), and held as 128-bit hashes: sets of ids are the
//! one thing these checks must keep in memory, so they are kept small (see
//! `docs/performance.md`, "Relations").

use sha2::{Digest as _, Sha256};

use crate::archive::{normalize_number, AttrValue, Item};
use crate::config::Relation;
use crate::error::{Error, Result};

pub mod check;
pub mod related;
pub mod suggest;

pub use check::IntegrityChecker;

/// A relation with its two ends split into model and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelationSpec {
    pub from_model: String,
    pub from_field: String,
    pub to_model: String,
    pub to_field: String,
}

impl RelationSpec {
    /// `Model.field`, as written in rtsnap.toml.
    pub fn from_text(&self) -> String {
        format!("{}.{}", self.from_model, self.from_field)
    }

    /// `Model.field`, as written in rtsnap.toml.
    pub fn to_text(&self) -> String {
        format!("{}.{}", self.to_model, self.to_field)
    }
}

/// Parses the configuration's relations; a malformed end is a configuration error
/// that names the relation.
pub fn parse_relations(relations: &[Relation]) -> Result<Vec<RelationSpec>> {
    relations
        .iter()
        .map(|r| {
            let (from_model, from_field) = split_end(&r.from, "from")?;
            let (to_model, to_field) = split_end(&r.to, "to")?;
            Ok(RelationSpec {
                from_model,
                from_field,
                to_model,
                to_field,
            })
        })
        .collect()
}

fn split_end(end: &str, side: &str) -> Result<(String, String)> {
    match end.split_once('.') {
        Some((model, field))
            if !model.is_empty() && !field.is_empty() && !field.contains('.') =>
        {
            Ok((model.to_owned(), field.to_owned()))
        }
        _ => Err(Error::Usage(format!(
            "[[relations]] {side} = \"{end}\": expected \"Model.field\" (e.g. \"Request.contactId\")"
        ))),
    }
}

/// A value's identity for matching: a hash of its type and canonical spelling.
pub type ValueHash = u128;

/// The scalar values an item holds in `field`: the value itself, or each member of a
/// list or set (a list-valued foreign key such as `tagIds`). Maps, booleans and nulls
/// are never references. Yields `(hash, printable value)`.
pub fn field_values(item: &Item, field: &str) -> Vec<(ValueHash, String)> {
    let mut out = Vec::new();
    match item.get(field) {
        None => {}
        Some(AttrValue::L(list)) => list.iter().for_each(|v| push_scalar(v, &mut out)),
        Some(AttrValue::Ss(set)) => set.iter().for_each(|s| out.push(string_value(s))),
        Some(AttrValue::Ns(set)) => set.iter().for_each(|n| out.push(number_value(n))),
        Some(value) => push_scalar(value, &mut out),
    }
    out
}

fn push_scalar(value: &AttrValue, out: &mut Vec<(ValueHash, String)>) {
    match value {
        AttrValue::S(s) if !s.is_empty() => out.push(string_value(s)),
        AttrValue::N(n) => out.push(number_value(n)),
        AttrValue::B(b) if !b.is_empty() => {
            out.push((hash_tagged(b'B', b), format!("<{} bytes>", b.len())));
        }
        _ => {}
    }
}

fn string_value(s: &str) -> (ValueHash, String) {
    (hash_tagged(b'S', s.as_bytes()), s.to_owned())
}

fn number_value(n: &str) -> (ValueHash, String) {
    // A number the archive reader let through is valid; should one not be, its raw
    // spelling still identifies it.
    let canonical = normalize_number(n).unwrap_or_else(|_| n.to_owned());
    (hash_tagged(b'N', canonical.as_bytes()), n.to_owned())
}

fn hash_tagged(tag: u8, bytes: &[u8]) -> ValueHash {
    let digest = Sha256::new()
        .chain_update([tag])
        .chain_update(bytes)
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_le_bytes(first)
}

/// An item's primary key, printable: `id=c-1` or `pk=a,sk=3`.
pub fn key_text(item: &Item, key_names: &[String]) -> String {
    key_names
        .iter()
        .map(|name| {
            let value = match item.get(name) {
                Some(AttrValue::S(s)) => s.clone(),
                Some(AttrValue::N(n)) => n.clone(),
                Some(AttrValue::B(b)) => format!("<{} bytes>", b.len()),
                _ => "?".to_owned(),
            };
            format!("{name}={value}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttrValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn relation_ends_must_be_model_dot_field() {
        let ok = parse_relations(&[Relation {
            from: "Request.contactId".into(),
            to: "Contact.id".into(),
        }])
        .unwrap();
        assert_eq!(ok[0].from_model, "Request");
        assert_eq!(ok[0].to_field, "id");
        for bad in ["Request", ".id", "Request.", "A.b.c"] {
            let err = parse_relations(&[Relation {
                from: bad.into(),
                to: "Contact.id".into(),
            }])
            .unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }

    #[test]
    fn values_match_by_type_and_canonical_number() {
        let a = item(&[("x", AttrValue::N("1.50".into()))]);
        let b = item(&[("x", AttrValue::N("15e-1".into()))]);
        let s = item(&[("x", AttrValue::S("1.5".into()))]);
        assert_eq!(field_values(&a, "x")[0].0, field_values(&b, "x")[0].0);
        assert_ne!(field_values(&a, "x")[0].0, field_values(&s, "x")[0].0);
    }

    #[test]
    fn lists_and_sets_give_each_member_and_empty_values_none() {
        let it = item(&[
            (
                "l",
                AttrValue::L(vec![
                    AttrValue::S("a".into()),
                    AttrValue::Null,
                    AttrValue::S("b".into()),
                ]),
            ),
            ("ss", AttrValue::Ss(vec!["c".into(), "d".into()])),
            ("e", AttrValue::S(String::new())),
            ("n", AttrValue::Null),
        ]);
        assert_eq!(field_values(&it, "l").len(), 2);
        assert_eq!(field_values(&it, "ss").len(), 2);
        assert!(field_values(&it, "e").is_empty());
        assert!(field_values(&it, "n").is_empty());
        assert!(field_values(&it, "absent").is_empty());
    }
}
