//! `import --limit N --with-related`: a sample that keeps its relations. The seed items
//! (the first N of each selected model) bring along
//!
//! 1. every item that refers to them, transitively (a contact's requests, their
//!    projects, the projects' invoices, the invoices' payments…), then
//! 2. every item those items refer to, transitively (a request's property and
//!    affiliate, an invoice's payment term…).
//!
//! Step 2 does not turn back down: an affiliate reached from a contact would otherwise
//! pull in all its other contacts and soon the whole database. The result is closed
//! under the declared relations (nothing in it refers to an item outside it), which is
//! what makes `rtsnap check` on the target come out clean.
//!
//! Items are identified by their ordinal in the snapshot (the n-th item of a model, in
//! archive order, which every pass over the same file sees identically). Memory: per
//! item at either end of a relation, its ordinal and the 16-byte hashes of its
//! relation fields, a few dozen bytes; samples are for test environments, and the
//! graph of a million-item snapshot stays well under 100 MB.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use crate::archive::Item;

use super::{field_values, RelationSpec, ValueHash};

/// Per model, the ordinals of the items picked.
pub type Picked = BTreeMap<String, BTreeSet<u64>>;

/// One relation's edges, both ways.
#[derive(Default)]
struct Edges {
    /// `to` end: value → items holding it, and item → its values.
    to_by_value: HashMap<ValueHash, Vec<u64>>,
    to_values: HashMap<u64, Vec<ValueHash>>,
    /// `from` end: value → items referring to it, and item → the values it refers to.
    from_by_value: HashMap<ValueHash, Vec<u64>>,
    from_values: HashMap<u64, Vec<ValueHash>>,
}

/// The relation graph of a snapshot, built while its items stream by.
pub struct RelationGraph {
    specs: Vec<RelationSpec>,
    edges: Vec<Edges>,
    /// Items seen per model.
    counts: BTreeMap<String, u64>,
}

impl RelationGraph {
    pub fn new(specs: Vec<RelationSpec>) -> Self {
        let edges = specs.iter().map(|_| Edges::default()).collect();
        RelationGraph {
            specs,
            edges,
            counts: BTreeMap::new(),
        }
    }

    /// Takes the next item of `model` (ordinals count from 0 per model).
    pub fn observe(&mut self, model: &str, item: &Item) {
        let count = self.counts.entry(model.to_owned()).or_default();
        let ordinal = *count;
        *count += 1;
        for (spec, edges) in self.specs.iter().zip(self.edges.iter_mut()) {
            if spec.to_model == model {
                let values: Vec<ValueHash> = hashes(item, &spec.to_field);
                for v in &values {
                    edges.to_by_value.entry(*v).or_default().push(ordinal);
                }
                edges.to_values.insert(ordinal, values);
            }
            if spec.from_model == model {
                let values: Vec<ValueHash> = hashes(item, &spec.from_field);
                for v in &values {
                    edges.from_by_value.entry(*v).or_default().push(ordinal);
                }
                edges.from_values.insert(ordinal, values);
            }
        }
    }

    /// The closed sample grown from the first `limit` items (all, with `None`) of
    /// each seed model: see the module docs.
    pub fn closure(&self, seeds: &[String], limit: Option<u64>) -> Picked {
        let mut picked = Picked::new();
        let mut queue = VecDeque::new();
        for model in seeds {
            let count = self.counts.get(model).copied().unwrap_or(0);
            let take = limit.map_or(count, |l| l.min(count));
            picked.entry(model.clone()).or_default();
            for ordinal in 0..take {
                add(&mut picked, &mut queue, model, ordinal);
            }
        }
        // Down: items referring to picked items.
        while let Some((model, ordinal)) = queue.pop_front() {
            for (spec, edges) in self.specs.iter().zip(&self.edges) {
                if spec.to_model != model {
                    continue;
                }
                for value in edges.to_values.get(&ordinal).into_iter().flatten() {
                    for child in edges.from_by_value.get(value).into_iter().flatten() {
                        add(&mut picked, &mut queue, &spec.from_model, *child);
                    }
                }
            }
        }
        // Up: items the picked items refer to.
        queue = picked
            .iter()
            .flat_map(|(m, set)| set.iter().map(move |o| (m.clone(), *o)))
            .collect();
        while let Some((model, ordinal)) = queue.pop_front() {
            for (spec, edges) in self.specs.iter().zip(&self.edges) {
                if spec.from_model != model {
                    continue;
                }
                for value in edges.from_values.get(&ordinal).into_iter().flatten() {
                    for parent in edges.to_by_value.get(value).into_iter().flatten() {
                        add(&mut picked, &mut queue, &spec.to_model, *parent);
                    }
                }
            }
        }
        picked
    }
}

fn hashes(item: &Item, field: &str) -> Vec<ValueHash> {
    field_values(item, field)
        .into_iter()
        .map(|(h, _)| h)
        .collect()
}

fn add(picked: &mut Picked, queue: &mut VecDeque<(String, u64)>, model: &str, ordinal: u64) {
    if picked.entry(model.to_owned()).or_default().insert(ordinal) {
        queue.push_back((model.to_owned(), ordinal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::AttrValue;
    use crate::config::Relation;
    use crate::section::tables::relations::parse_relations;

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttrValue::S((*v).to_owned())))
            .collect()
    }

    fn rel(from: &str, to: &str) -> Relation {
        Relation {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn children_transitively_then_parents_without_their_other_children() {
        let specs = parse_relations(&[
            rel("Contact.affiliateId", "Affiliate.id"),
            rel("Request.contactId", "Contact.id"),
            rel("Quote.requestId", "Request.id"),
        ])
        .unwrap();
        let mut g = RelationGraph::new(specs);
        g.observe("Affiliate", &item(&[("id", "a-1")]));
        g.observe("Contact", &item(&[("id", "c-1"), ("affiliateId", "a-1")]));
        g.observe("Contact", &item(&[("id", "c-2"), ("affiliateId", "a-1")]));
        g.observe("Request", &item(&[("id", "r-1"), ("contactId", "c-1")]));
        g.observe("Request", &item(&[("id", "r-2"), ("contactId", "c-2")]));
        g.observe("Quote", &item(&[("id", "q-1"), ("requestId", "r-1")]));
        g.observe("Quote", &item(&[("id", "q-2"), ("requestId", "r-2")]));
        let picked = g.closure(&["Contact".into()], Some(1));
        let expect = |m: &str, o: &[u64]| (m.to_owned(), o.iter().copied().collect());
        assert_eq!(
            picked,
            Picked::from([
                expect("Affiliate", &[0]),
                expect("Contact", &[0]),
                expect("Quote", &[0]),
                expect("Request", &[0]),
            ])
        );
    }
}
