//! `check --suggest`: relations proposed from the data. A field named `<something>Id`
//! whose every value is the id of an item of one model is almost certainly a foreign
//! key to it; Amplify names its `belongsTo` fields that way (`contactId`), though not
//! always after the model (`convertedContactId`, `paymentTermId` →
//! `ProjectPaymentTerm`), so the values decide and the name only breaks ties.
//!
//! Memory: 16 bytes per item id and per distinct value of every `…Id` field.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::archive::Item;

use super::{field_values, ValueHash};

/// A proposed relation.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suggestion {
    /// `Model.field`.
    pub from: String,
    /// `Model.id`.
    pub to: String,
    /// Distinct values in the `from` field.
    pub values: u64,
    /// Of those, the ones that are ids of `to`.
    pub matched: u64,
    /// Other models whose ids also cover every value (the choice is then by name).
    pub alternatives: Vec<String>,
    /// Whether rtsnap.toml already declares it.
    pub declared: bool,
}

impl Suggestion {
    /// Every value is an id of the target: a relation that holds today.
    pub fn holds(&self) -> bool {
        self.matched == self.values
    }
}

/// Collects ids and `…Id` fields while items stream by.
#[derive(Default)]
pub struct RelationFinder {
    /// Model → (its id field, the ids present).
    ids: BTreeMap<String, (String, HashSet<ValueHash>)>,
    /// (model, field) → distinct values.
    candidates: BTreeMap<(String, String), HashSet<ValueHash>>,
}

/// Fields whose values are matched against ids: `…Id`, not `id` itself.
fn is_reference_name(field: &str) -> bool {
    field.len() > 2 && field.ends_with("Id")
}

impl RelationFinder {
    /// Declares `model`, whose items are identified by `id_field` (its hash key).
    pub fn begin_model(&mut self, model: &str, id_field: &str) {
        self.ids
            .entry(model.to_owned())
            .or_insert_with(|| (id_field.to_owned(), HashSet::new()));
    }

    pub fn observe(&mut self, model: &str, item: &Item) {
        if let Some((id_field, ids)) = self.ids.get_mut(model) {
            ids.extend(field_values(item, id_field).into_iter().map(|(h, _)| h));
        }
        for field in item.keys().filter(|f| is_reference_name(f)) {
            let values = field_values(item, field);
            if values.is_empty() {
                continue;
            }
            self.candidates
                .entry((model.to_owned(), field.clone()))
                .or_default()
                .extend(values.into_iter().map(|(h, _)| h));
        }
    }

    /// Proposals, one per `…Id` field that at least half matches some model's ids;
    /// `declared` lists `(from, to)` pairs rtsnap.toml already has.
    pub fn finish(self, declared: &[(String, String)]) -> Vec<Suggestion> {
        let mut out = Vec::new();
        for ((model, field), values) in &self.candidates {
            let mut scored: Vec<(u64, u8, &String)> = self
                .ids
                .iter()
                .map(|(target, (_, ids))| {
                    let matched = values.iter().filter(|v| ids.contains(v)).count() as u64;
                    (matched, name_score(field, target), target)
                })
                .filter(|(matched, _, _)| *matched > 0)
                .collect();
            // Most values matched first, then the best name, then alphabetical.
            scored.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(b.2)));
            let Some(&(matched, _, target)) = scored.first() else {
                continue;
            };
            let total = values.len() as u64;
            if matched * 2 < total {
                continue;
            }
            let id_field = &self.ids[target].0;
            let from = format!("{model}.{field}");
            let to = format!("{target}.{id_field}");
            let alternatives = scored[1..]
                .iter()
                .filter(|(m, _, _)| *m == matched)
                .map(|(_, _, t)| format!("{t}.{}", self.ids[*t].0))
                .collect();
            out.push(Suggestion {
                declared: declared.iter().any(|(f, t)| *f == from && *t == to),
                from,
                to,
                values: total,
                matched,
                alternatives,
            });
        }
        out
    }
}

/// How well `field` names `model`: `contactId` → `Contact` 3, `paymentTermId` →
/// `ProjectPaymentTerm` or `convertedContactId` → `Contact` 2, otherwise 0.
fn name_score(field: &str, model: &str) -> u8 {
    let stem = field[..field.len() - 2].to_lowercase();
    let model = model.to_lowercase();
    if stem == model {
        3
    } else if stem.ends_with(&model) || model.ends_with(&stem) {
        2
    } else {
        0
    }
}

/// The suggestions as TOML to paste into rtsnap.toml: relations that hold as
/// `[[relations]]`, partial ones commented out with how many values dangle.
pub fn to_toml(suggestions: &[Suggestion]) -> String {
    let mut out = String::new();
    for s in suggestions {
        if s.declared {
            // Pasting it again would duplicate the relation.
            out.push_str(&format!("# already declared: {} -> {}\n", s.from, s.to));
            continue;
        }
        let mut notes = Vec::new();
        if !s.alternatives.is_empty() {
            notes.push(format!(
                "values are also ids of {}",
                s.alternatives.join(", ")
            ));
        }
        if !s.holds() {
            notes.push(format!(
                "{} of {} distinct values are not ids of {}",
                s.values - s.matched,
                s.values,
                s.to
            ));
        }
        for note in &notes {
            out.push_str(&format!("# {note}\n"));
        }
        let prefix = if s.holds() { "" } else { "# " };
        out.push_str(&format!(
            "{prefix}[[relations]]\n{prefix}from = \"{}\"\n{prefix}to = \"{}\"\n\n",
            s.from, s.to
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::AttrValue;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttrValue::S((*v).to_owned())))
            .collect()
    }

    #[test]
    fn values_decide_and_names_break_ties() {
        let mut f = RelationFinder::default();
        f.begin_model("Contact", "id");
        f.begin_model("ProjectPaymentTerm", "id");
        f.begin_model("Invoice", "id");
        f.observe("Contact", &item(&[("id", "c-1")]));
        f.observe("ProjectPaymentTerm", &item(&[("id", "t-1")]));
        f.observe(
            "Invoice",
            &item(&[
                ("id", "i-1"),
                ("paymentTermId", "t-1"),
                ("convertedContactId", "c-1"),
                ("externalId", "x-9"),
            ]),
        );
        let s = f.finish(&[(
            "Invoice.paymentTermId".into(),
            "ProjectPaymentTerm.id".into(),
        )]);
        let pairs: Vec<(&str, &str, bool)> = s
            .iter()
            .map(|s| (s.from.as_str(), s.to.as_str(), s.declared))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("Invoice.convertedContactId", "Contact.id", false),
                ("Invoice.paymentTermId", "ProjectPaymentTerm.id", true),
            ]
        );
        let toml = to_toml(&s);
        assert!(toml
            .contains("[[relations]]\nfrom = \"Invoice.convertedContactId\"\nto = \"Contact.id\""));
        assert!(
            toml.contains("# already declared: Invoice.paymentTermId -> ProjectPaymentTerm.id\n")
        );
        assert!(!toml.contains("from = \"Invoice.paymentTermId\""));
    }

    #[test]
    fn a_mostly_matching_field_is_proposed_commented_out() {
        let mut f = RelationFinder::default();
        f.begin_model("Contact", "id");
        f.begin_model("Request", "id");
        for id in ["c-1", "c-2"] {
            f.observe("Contact", &item(&[("id", id)]));
        }
        for (id, c) in [("r-1", "c-1"), ("r-2", "c-2"), ("r-3", "gone")] {
            f.observe("Request", &item(&[("id", id), ("contactId", c)]));
        }
        let s = f.finish(&[]);
        assert_eq!((s[0].values, s[0].matched), (3, 2));
        assert!(to_toml(&s)
            .contains("# 1 of 3 distinct values are not ids of Contact.id\n# [[relations]]"));
    }
}
