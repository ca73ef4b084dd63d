//! Owner fields: where the users section meets the tables section.
//!
//! Amplify Gen 2 owner-based authorization stores `<sub>::<username>` (or just `<sub>`)
//! in an item's owner field. A user created in another pool gets a new `sub`, so
//! without a rewrite the migrated items would be invisible to their owners. The users
//! plan maps each snapshot user's old sub to its target sub (known at plan time for
//! users that already exist, after phase 6 created them for the others); the tables
//! section runs every snapshot item through [`OwnerRewrite::apply`] before diffing,
//! writing or verifying it.
//!
//! Fields: `owner` in every model (Amplify's default), or the fields that
//! `owner_fields = { Todo = ["owner", "editors"] }` in `rtsnap.toml` names for a model.
//! Strings and lists (or string sets) of strings are rewritten; a value naming a sub
//! the snapshot does not know is left alone and counted.

use std::collections::{BTreeMap, HashMap};

use crate::archive::{AttrValue, Item};

/// Where a snapshot user's sub goes in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubTarget {
    /// The target user: its sub and username.
    Known { sub: String, username: String },
    /// The user is created in phase 6; its sub is not known yet.
    Pending,
}

/// What rewriting one item did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RewriteOutcome {
    /// Values changed to the target's sub.
    pub rewritten: u64,
    /// Values naming a user that phase 6 will create (their new sub is not known yet).
    pub pending: u64,
    /// Values naming no snapshot user: left alone.
    pub unknown: u64,
}

impl RewriteOutcome {
    fn add(&mut self, other: RewriteOutcome) {
        self.rewritten += other.rewritten;
        self.pending += other.pending;
        self.unknown += other.unknown;
    }
}

/// Old sub → target user, and which fields of which model hold owners.
#[derive(Debug, Clone, Default)]
pub struct OwnerRewrite {
    map: HashMap<String, SubTarget>,
    /// Per model, the owner fields; models not listed use `default`.
    fields: BTreeMap<String, Vec<String>>,
    default: Vec<String>,
}

/// Amplify's default owner field.
const DEFAULT_FIELD: &str = "owner";

impl OwnerRewrite {
    pub fn new(map: HashMap<String, SubTarget>, fields: BTreeMap<String, Vec<String>>) -> Self {
        OwnerRewrite {
            map,
            fields,
            default: vec![DEFAULT_FIELD.to_owned()],
        }
    }

    /// True when no value can change (every known sub maps to itself).
    pub fn is_identity(&self) -> bool {
        self.map.iter().all(|(old, target)| match target {
            SubTarget::Known { sub, .. } => sub == old,
            SubTarget::Pending => false,
        })
    }

    /// Old sub → new sub, for the subs that change (the import report's map).
    pub fn changed_subs(&self) -> BTreeMap<String, String> {
        self.map
            .iter()
            .filter_map(|(old, target)| match target {
                SubTarget::Known { sub, .. } if sub != old => Some((old.clone(), sub.clone())),
                _ => None,
            })
            .collect()
    }

    /// Rewrites the owner fields of one item of `model` in place.
    pub fn apply(&self, model: &str, item: &mut Item) -> RewriteOutcome {
        let mut outcome = RewriteOutcome::default();
        let fields = self.fields.get(model).unwrap_or(&self.default);
        for field in fields {
            if let Some(value) = item.get_mut(field) {
                outcome.add(self.rewrite_value(value));
            }
        }
        outcome
    }

    fn rewrite_value(&self, value: &mut AttrValue) -> RewriteOutcome {
        let mut outcome = RewriteOutcome::default();
        match value {
            AttrValue::S(s) => outcome.add(self.rewrite_string(s)),
            AttrValue::L(list) => {
                for member in list.iter_mut() {
                    if let AttrValue::S(s) = member {
                        outcome.add(self.rewrite_string(s));
                    }
                }
            }
            AttrValue::Ss(set) => {
                for member in set.iter_mut() {
                    outcome.add(self.rewrite_string(member));
                }
                set.sort();
                set.dedup();
            }
            _ => {}
        }
        outcome
    }

    /// `<sub>` or `<sub>::<username>` → the target's.
    fn rewrite_string(&self, value: &mut String) -> RewriteOutcome {
        let (sub, with_username) = match value.split_once("::") {
            Some((sub, _)) => (sub, true),
            None => (value.as_str(), false),
        };
        match self.map.get(sub) {
            None => RewriteOutcome {
                unknown: 1,
                ..Default::default()
            },
            Some(SubTarget::Pending) => RewriteOutcome {
                pending: 1,
                ..Default::default()
            },
            Some(SubTarget::Known { sub: new, username }) => {
                let replacement = if with_username {
                    format!("{new}::{username}")
                } else {
                    new.clone()
                };
                if replacement == *value {
                    return RewriteOutcome::default();
                }
                *value = replacement;
                RewriteOutcome {
                    rewritten: 1,
                    ..Default::default()
                }
            }
        }
    }
}

/// The subs named in `item`'s owner fields (`<sub>` or `<sub>::<username>`): whose
/// users a sample must bring along. `fields` is rtsnap.toml's `owner_fields`.
pub fn owner_subs(fields: &BTreeMap<String, Vec<String>>, model: &str, item: &Item) -> Vec<String> {
    let default = [DEFAULT_FIELD.to_owned()];
    let names = fields.get(model).map_or(&default[..], Vec::as_slice);
    let mut subs = Vec::new();
    let mut push = |s: &str| {
        let sub = s.split_once("::").map_or(s, |(sub, _)| sub);
        if !sub.is_empty() {
            subs.push(sub.to_owned());
        }
    };
    for name in names {
        match item.get(name) {
            Some(AttrValue::S(s)) => push(s),
            Some(AttrValue::L(list)) => list.iter().for_each(|v| {
                if let AttrValue::S(s) = v {
                    push(s);
                }
            }),
            Some(AttrValue::Ss(set)) => set.iter().for_each(|s| push(s)),
            _ => {}
        }
    }
    subs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite() -> OwnerRewrite {
        let mut map = HashMap::new();
        map.insert(
            "old-1".to_owned(),
            SubTarget::Known {
                sub: "new-1".into(),
                username: "new-1".into(),
            },
        );
        map.insert(
            "same".to_owned(),
            SubTarget::Known {
                sub: "same".into(),
                username: "bob".into(),
            },
        );
        map.insert("later".to_owned(), SubTarget::Pending);
        let mut fields = BTreeMap::new();
        fields.insert("Todo".to_owned(), vec!["owner".into(), "editors".into()]);
        OwnerRewrite::new(map, fields)
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::S(v.into())
    }

    #[test]
    fn rewrites_sub_and_sub_username_forms_in_strings_and_lists() {
        let r = rewrite();
        let mut item = Item::new();
        item.insert("owner".into(), s("old-1::old-1"));
        item.insert(
            "editors".into(),
            AttrValue::L(vec![s("old-1"), s("stranger"), s("later::x")]),
        );
        let outcome = r.apply("Todo", &mut item);
        assert_eq!(item["owner"], s("new-1::new-1"));
        assert_eq!(
            item["editors"],
            AttrValue::L(vec![s("new-1"), s("stranger"), s("later::x")])
        );
        assert_eq!(
            outcome,
            RewriteOutcome {
                rewritten: 2,
                pending: 1,
                unknown: 1
            }
        );
    }

    #[test]
    fn other_models_use_owner_only_and_identity_is_not_a_rewrite() {
        let r = rewrite();
        let mut item = Item::new();
        item.insert("owner".into(), s("same::bob"));
        item.insert("editors".into(), s("old-1"));
        assert_eq!(r.apply("Contact", &mut item), RewriteOutcome::default());
        assert_eq!(item["editors"], s("old-1"));
        assert!(!r.is_identity());
        assert_eq!(r.changed_subs().len(), 1);
    }
}
