//! The referential-integrity check: items stream through [`IntegrityChecker::observe`]
//! in any order (a snapshot holds `Invoice` before `ProjectPaymentTerm`, which it
//! references), so both ends are collected and compared only at the end.
//!
//! Memory: 16 bytes per distinct value of every `to` field, plus, per distinct value of
//! every `from` field, a count and the first referencing key (~100 bytes). Items
//! themselves are never held.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::archive::header::{IntegritySummary, RelationOutcome};
use crate::archive::Item;

use super::{field_values, key_text, RelationSpec, ValueHash};

/// How many dangling references each relation lists by key.
pub const FIRST_DANGLING: usize = 10;

/// See the module docs.
pub struct IntegrityChecker {
    specs: Vec<RelationSpec>,
    /// `(model, field)` of every `to` end → the values present.
    targets: HashMap<(String, String), HashSet<ValueHash>>,
    /// Per relation, the references seen.
    tallies: Vec<Tally>,
    /// Models seen, with their key attribute names.
    models: BTreeMap<String, Vec<String>>,
}

#[derive(Default)]
struct Tally {
    references: u64,
    values: HashMap<ValueHash, Referenced>,
}

/// One distinct referenced value: how often, and the first item referring to it.
struct Referenced {
    count: u64,
    first: Box<str>,
}

impl IntegrityChecker {
    pub fn new(specs: Vec<RelationSpec>) -> Self {
        let targets = specs
            .iter()
            .map(|s| ((s.to_model.clone(), s.to_field.clone()), HashSet::new()))
            .collect();
        let tallies = specs.iter().map(|_| Tally::default()).collect();
        IntegrityChecker {
            specs,
            targets,
            tallies,
            models: BTreeMap::new(),
        }
    }

    /// Whether any relation has `model` at one of its ends (other models' items need
    /// not be observed).
    pub fn wants(&self, model: &str) -> bool {
        self.specs
            .iter()
            .any(|s| s.from_model == model || s.to_model == model)
    }

    /// Declares that the data holds `model` (even if empty), keyed by `key_names`.
    pub fn begin_model(&mut self, model: &str, key_names: Vec<String>) {
        self.models.insert(model.to_owned(), key_names);
    }

    /// Takes one item of `model` into account.
    pub fn observe(&mut self, model: &str, item: &Item) {
        for ((m, field), values) in self.targets.iter_mut() {
            if m == model {
                values.extend(field_values(item, field).into_iter().map(|(h, _)| h));
            }
        }
        for (spec, tally) in self.specs.iter().zip(self.tallies.iter_mut()) {
            if spec.from_model != model {
                continue;
            }
            for (hash, text) in field_values(item, &spec.from_field) {
                tally.references += 1;
                let key_names = self.models.get(model).map_or(&[][..], Vec::as_slice);
                let named = format!("{} -> {text}", key_text(item, key_names));
                let entry = tally.values.entry(hash).or_insert_with(|| Referenced {
                    count: 0,
                    first: named.clone().into(),
                });
                entry.count += 1;
                // The smallest key, not the first seen: a parallel scan sees items in
                // any order, and the same data must give the same report.
                if *named < *entry.first {
                    entry.first = named.into();
                }
            }
        }
    }

    /// The outcome per relation, in configuration order.
    pub fn finish(self) -> IntegritySummary {
        let present: BTreeSet<&String> = self.models.keys().collect();
        let relations = self
            .specs
            .iter()
            .zip(self.tallies)
            .map(|(spec, tally)| {
                let mut outcome = RelationOutcome {
                    from: spec.from_text(),
                    to: spec.to_text(),
                    ..RelationOutcome::default()
                };
                let absent: Vec<&str> = [&spec.from_model, &spec.to_model]
                    .into_iter()
                    .filter(|m| !present.contains(m))
                    .map(String::as_str)
                    .collect();
                if !absent.is_empty() {
                    outcome.skipped = Some(format!("no {} table in the data", absent.join(", ")));
                    return outcome;
                }
                let targets = &self.targets[&(spec.to_model.clone(), spec.to_field.clone())];
                outcome.references = tally.references;
                let mut dangling: Vec<&Referenced> = tally
                    .values
                    .iter()
                    .filter(|(hash, _)| !targets.contains(*hash))
                    .map(|(_, seen)| seen)
                    .collect();
                outcome.dangling = dangling.iter().map(|r| r.count).sum();
                dangling.sort_by(|a, b| a.first.cmp(&b.first));
                outcome.first_dangling = dangling
                    .iter()
                    .take(FIRST_DANGLING)
                    .map(|r| match r.count {
                        1 => format!("{} {}", spec.from_model, r.first),
                        n => format!("{} {} (and {} more)", spec.from_model, r.first, n - 1),
                    })
                    .collect();
                outcome
            })
            .collect();
        IntegritySummary { relations }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::AttrValue;
    use crate::config::Relation;
    use crate::section::tables::relations::parse_relations;

    fn item(id: &str, field: Option<(&str, &str)>) -> Item {
        let mut item = Item::new();
        item.insert("id".into(), AttrValue::S(id.into()));
        if let Some((f, v)) = field {
            item.insert(f.into(), AttrValue::S(v.into()));
        }
        item
    }

    fn checker() -> IntegrityChecker {
        let specs = parse_relations(&[Relation {
            from: "Request.contactId".into(),
            to: "Contact.id".into(),
        }])
        .unwrap();
        IntegrityChecker::new(specs)
    }

    #[test]
    fn references_before_their_targets_are_not_dangling() {
        let mut c = checker();
        c.begin_model("Request", vec!["id".into()]);
        c.observe("Request", &item("r-1", Some(("contactId", "c-1"))));
        c.observe("Request", &item("r-2", Some(("contactId", "c-9"))));
        c.observe("Request", &item("r-3", Some(("contactId", "c-9"))));
        c.observe("Request", &item("r-4", None));
        c.begin_model("Contact", vec!["id".into()]);
        c.observe("Contact", &item("c-1", None));
        let summary = c.finish();
        let r = &summary.relations[0];
        assert_eq!((r.references, r.dangling), (3, 2));
        assert_eq!(
            r.first_dangling,
            vec!["Request id=r-2 -> c-9 (and 1 more)".to_string()]
        );
        assert_eq!(summary.dangling(), 2);
    }

    #[test]
    fn a_relation_whose_model_is_absent_is_skipped_and_says_so() {
        let mut c = checker();
        c.begin_model("Request", vec!["id".into()]);
        c.observe("Request", &item("r-1", Some(("contactId", "c-1"))));
        let summary = c.finish();
        assert_eq!(summary.dangling(), 0);
        assert_eq!(
            summary.relations[0].skipped.as_deref(),
            Some("no Contact table in the data")
        );
    }
}
