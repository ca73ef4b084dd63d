//! Amplify Gen 2's `amplify_outputs.json`: the client configuration `npx ampx generate
//! outputs` writes for a deployed backend. `rtsnap init` reads it because it already
//! names most of what `rtsnap.toml` needs (region, user pool, bucket, models, their
//! relations and owner fields), so nobody has to copy those by hand and get one wrong.
//!
//! Only what rtsnap uses is read, and unknown keys are ignored: the file grows with
//! every Amplify release (`version` "1" to "1.4" so far), and a newer file must still
//! work. The backend suffix is *not* in it (the AppSync URL's host is another id), so
//! `init` finds that by listing tables.
//!
//! Relations come from the model introspection schema: a `BELONGS_TO` field's
//! `targetNames` are foreign keys on its own model; a `HAS_MANY` / `HAS_ONE` field's
//! `associatedWith` are foreign keys on the related model (Gen 2 `references`). Both
//! sides of one relation give the same `Model.field → Target.<primary key>` pair, so
//! pairs are kept in a set. Composite keys cannot be written as one `from`/`to` pair
//! and are skipped with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One relation as `rtsnap.toml` writes it: `from = "Request.contactId"`,
/// `to = "Contact.id"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Relation {
    pub from: String,
    pub to: String,
}

/// What `init` takes from the outputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AmplifyFacts {
    /// The data API's region (where the tables are), else auth's, else storage's.
    pub region: Option<String>,
    pub user_pool_id: Option<String>,
    pub bucket: Option<String>,
    /// Every model of the data schema, sorted.
    pub models: Vec<String>,
    /// `from = "Request.contactId"`, `to = "Contact.id"`, sorted, each once.
    pub relations: Vec<Relation>,
    /// Model → its owner fields (`allow: owner` rules), in rule order.
    pub owner_fields: BTreeMap<String, Vec<String>>,
    /// What was found but could not be used, one line each.
    pub warnings: Vec<String>,
}

#[derive(Deserialize)]
struct Outputs {
    version: Option<String>,
    auth: Option<Regional>,
    data: Option<Data>,
    storage: Option<Storage>,
}

#[derive(Deserialize)]
struct Regional {
    aws_region: Option<String>,
    user_pool_id: Option<String>,
}

#[derive(Deserialize)]
struct Data {
    aws_region: Option<String>,
    model_introspection: Option<Introspection>,
}

#[derive(Deserialize)]
struct Storage {
    aws_region: Option<String>,
    bucket_name: Option<String>,
    #[serde(default)]
    buckets: Vec<Bucket>,
}

#[derive(Deserialize)]
struct Bucket {
    bucket_name: String,
}

#[derive(Deserialize)]
struct Introspection {
    #[serde(default)]
    models: BTreeMap<String, Model>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Model {
    #[serde(default)]
    fields: BTreeMap<String, Field>,
    #[serde(default)]
    attributes: Vec<Attribute>,
    primary_key_info: Option<PrimaryKeyInfo>,
}

#[derive(Deserialize)]
struct Field {
    #[serde(rename = "type")]
    kind: serde_json::Value,
    association: Option<Association>,
}

/// `associatedWith` is a list in Gen 2 and a single name in Gen 1 files;
/// `targetName` (one) is the Gen 1 spelling of `targetNames`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Association {
    connection_type: String,
    associated_with: Option<OneOrMany>,
    target_names: Option<Vec<String>>,
    target_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Deserialize)]
struct Attribute {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    properties: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrimaryKeyInfo {
    primary_key_field_name: String,
    #[serde(default)]
    sort_key_field_names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AuthRule {
    allow: String,
    owner_field: Option<String>,
}

/// Reads and interprets an `amplify_outputs.json` file.
pub fn read_outputs(path: &Path) -> Result<AmplifyFacts> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    parse_outputs(&text, &path.display().to_string())
}

/// Interprets the text of an `amplify_outputs.json`; `origin` names it in errors.
pub fn parse_outputs(text: &str, origin: &str) -> Result<AmplifyFacts> {
    let outputs: Outputs = serde_json::from_str(text).map_err(|e| {
        Error::Usage(format!(
            "{origin}:{}:{}: not an amplify_outputs.json: {e}",
            e.line(),
            e.column()
        ))
    })?;
    let mut warnings = BTreeSet::new();
    if let Some(version) = &outputs.version {
        if version.split('.').next() != Some("1") {
            warnings.insert(format!(
                "{origin}: version {version:?} is newer than rtsnap knows (1.x); read as 1.x"
            ));
        }
    }
    let introspection = outputs
        .data
        .as_ref()
        .and_then(|d| d.model_introspection.as_ref())
        .filter(|i| !i.models.is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "{origin} has no data.model_introspection models: it is not the outputs of an Amplify Gen 2 backend with a data schema (regenerate it with `npx ampx generate outputs`)"
            ))
        })?;
    let models = &introspection.models;
    let regions = [
        outputs.data.as_ref().and_then(|d| d.aws_region.clone()),
        outputs.auth.as_ref().and_then(|a| a.aws_region.clone()),
        outputs.storage.as_ref().and_then(|s| s.aws_region.clone()),
    ];
    let region = regions.iter().flatten().next().cloned();
    let distinct: BTreeSet<&String> = regions.iter().flatten().collect();
    if distinct.len() > 1 {
        warnings.insert(format!(
            "the outputs name several regions ({}); rtsnap uses one per environment: {}, the data API's",
            join(distinct.iter()),
            region.as_deref().unwrap_or_default()
        ));
    }

    let mut relations = BTreeSet::new();
    let mut owner_fields = BTreeMap::new();
    for (name, model) in models {
        for (field_name, field) in &model.fields {
            if let Some(association) = &field.association {
                relation_of(
                    models,
                    name,
                    field_name,
                    field,
                    association,
                    &mut relations,
                    &mut warnings,
                );
            }
        }
        let owners = owner_fields_of(model);
        if !owners.is_empty() {
            owner_fields.insert(name.clone(), owners);
        }
    }

    Ok(AmplifyFacts {
        region,
        user_pool_id: outputs.auth.as_ref().and_then(|a| a.user_pool_id.clone()),
        bucket: outputs
            .storage
            .as_ref()
            .and_then(|s| bucket_of(s, &mut warnings)),
        models: models.keys().cloned().collect(),
        relations: relations
            .into_iter()
            .map(|(from, to)| Relation { from, to })
            .collect(),
        owner_fields,
        warnings: warnings.into_iter().collect(),
    })
}

/// `storage.bucket_name` is the default bucket; files with several buckets and no
/// default leave the choice to the operator.
fn bucket_of(storage: &Storage, warnings: &mut BTreeSet<String>) -> Option<String> {
    if let Some(name) = &storage.bucket_name {
        return Some(name.clone());
    }
    match storage.buckets.as_slice() {
        [only] => Some(only.bucket_name.clone()),
        [] => None,
        many => {
            warnings.insert(format!(
                "storage has {} buckets and no default bucket_name; set `bucket` by hand ({})",
                many.len(),
                join(many.iter().map(|b| &b.bucket_name))
            ));
            None
        }
    }
}

/// The primary key field of a model, or `None` with a composite key (which no single
/// `Target.field` can name).
fn primary_key(model: &Model) -> Option<&str> {
    match &model.primary_key_info {
        None => Some("id"),
        Some(info) if info.sort_key_field_names.is_empty() => Some(&info.primary_key_field_name),
        Some(_) => None,
    }
}

/// Adds the relation one association field describes (see the module docs).
fn relation_of(
    models: &BTreeMap<String, Model>,
    name: &str,
    field_name: &str,
    field: &Field,
    association: &Association,
    relations: &mut BTreeSet<(String, String)>,
    warnings: &mut BTreeSet<String>,
) {
    let Some(related) = field.kind.get("model").and_then(|m| m.as_str()) else {
        return;
    };
    let Some(related_model) = models.get(related) else {
        warnings.insert(format!(
            "{name}.{field_name} relates to model {related}, which the outputs do not define; skipped"
        ));
        return;
    };
    let targets: Vec<String> = association
        .target_names
        .clone()
        .or_else(|| association.target_name.clone().map(|t| vec![t]))
        .unwrap_or_default();
    // (source model, its foreign key fields, target model)
    let (source, keys, target) = match association.connection_type.as_str() {
        "BELONGS_TO" => (name, targets, related),
        // A Gen 1 hasOne keeps the foreign key on its own model, in targetNames.
        "HAS_ONE" if !targets.is_empty() => (name, targets, related),
        "HAS_MANY" | "HAS_ONE" => {
            let named = match &association.associated_with {
                Some(OneOrMany::One(one)) => vec![one.clone()],
                Some(OneOrMany::Many(many)) => many.clone(),
                None => Vec::new(),
            };
            (related, child_keys(related_model, named), name)
        }
        _ => return,
    };
    let target_model = if target == related {
        related_model
    } else {
        match models.get(target) {
            Some(model) => model,
            None => return,
        }
    };
    match (keys.as_slice(), primary_key(target_model)) {
        ([key], Some(pk)) => {
            relations.insert((format!("{source}.{key}"), format!("{target}.{pk}")));
        }
        ([], _) => {}
        _ => {
            warnings.insert(format!(
                "{source}.{} → {target}: composite keys cannot be one [[relations]] entry; skipped",
                keys.join("+")
            ));
        }
    }
}

/// Gen 1 files name the child's `belongsTo` *field* in `associatedWith`; its foreign
/// keys are that field's `targetNames`.
fn child_keys(child: &Model, named: Vec<String>) -> Vec<String> {
    named
        .into_iter()
        .flat_map(|name| {
            let through = child
                .fields
                .get(&name)
                .and_then(|f| f.association.as_ref())
                .filter(|a| a.connection_type == "BELONGS_TO")
                .and_then(|a| {
                    a.target_names
                        .clone()
                        .or_else(|| a.target_name.clone().map(|t| vec![t]))
                });
            through.unwrap_or_else(|| vec![name])
        })
        .collect()
}

/// The fields of `allow: owner` rules (Amplify's default field is `owner`).
fn owner_fields_of(model: &Model) -> Vec<String> {
    let mut fields: Vec<String> = Vec::new();
    for attribute in model.attributes.iter().filter(|a| a.kind == "auth") {
        let rules = attribute
            .properties
            .get("rules")
            .cloned()
            .and_then(|r| serde_json::from_value::<Vec<AuthRule>>(r).ok())
            .unwrap_or_default();
        for rule in rules.into_iter().filter(|r| r.allow == "owner") {
            let field = rule.owner_field.unwrap_or_else(|| String::from("owner"));
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
    }
    fields
}

fn join<T: std::fmt::Display>(items: impl Iterator<Item = T>) -> String {
    items.map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gen 2 references (both sides), a composite reference, a Gen 1 hasMany naming the
    /// child's belongsTo field, a custom primary key, owner rules, unknown keys.
    const OUTPUTS: &str = r#"{
      "version": "1.4", "future_key": {"x": 1},
      "auth": {"aws_region": "eu-west-1", "user_pool_id": "eu-west-1_Pool", "user_pool_client_id": "c"},
      "data": {"aws_region": "eu-west-1", "url": "https://x.appsync-api.eu-west-1.amazonaws.com/graphql",
        "model_introspection": {"version": 1, "enums": {}, "nonModels": {}, "models": {
          "Contact": {"name": "Contact", "fields": {
              "id": {"name": "id", "type": "ID", "isArray": false, "isRequired": true, "attributes": []},
              "requests": {"name": "requests", "type": {"model": "Request"}, "isArray": true,
                "association": {"connectionType": "HAS_MANY", "associatedWith": ["contactId"]}}},
            "attributes": [{"type": "model", "properties": {}},
              {"type": "auth", "properties": {"rules": [
                {"allow": "owner", "ownerField": "owner", "provider": "userPools"},
                {"allow": "owner", "ownerField": "editors"},
                {"allow": "groups", "groups": ["admins"]}]}}],
            "primaryKeyInfo": {"isCustomPrimaryKey": false, "primaryKeyFieldName": "id", "sortKeyFieldNames": []}},
          "Request": {"name": "Request", "fields": {
              "contactId": {"name": "contactId", "type": "ID"},
              "contact": {"name": "contact", "type": {"model": "Contact"},
                "association": {"connectionType": "BELONGS_TO", "targetNames": ["contactId"]}},
              "sku": {"name": "sku", "type": {"model": "Product"},
                "association": {"connectionType": "BELONGS_TO", "targetNames": ["skuA", "skuB"]}},
              "notes": {"name": "notes", "type": {"model": "Note"},
                "association": {"connectionType": "HAS_MANY", "associatedWith": "request"}}},
            "attributes": [{"type": "auth", "properties": {"rules": [{"allow": "owner"}]}}]},
          "Note": {"name": "Note", "fields": {
              "request": {"name": "request", "type": {"model": "Request"},
                "association": {"connectionType": "BELONGS_TO", "targetName": "requestNotesId"}}}},
          "Product": {"name": "Product", "fields": {},
            "primaryKeyInfo": {"primaryKeyFieldName": "skuA", "sortKeyFieldNames": ["skuB"]}},
          "Vendor": {"name": "Vendor", "fields": {},
            "primaryKeyInfo": {"primaryKeyFieldName": "code", "sortKeyFieldNames": []}},
          "Item": {"name": "Item", "fields": {
              "vendor": {"name": "vendor", "type": {"model": "Vendor"},
                "association": {"connectionType": "BELONGS_TO", "targetNames": ["vendorCode"]}}}}}}},
      "storage": {"aws_region": "eu-west-1", "bucket_name": "assets-bucket", "buckets": []}
    }"#;

    fn relation(from: &str, to: &str) -> Relation {
        Relation {
            from: from.into(),
            to: to.into(),
        }
    }

    #[test]
    fn reads_region_pool_bucket_models_relations_and_owners() {
        let facts = parse_outputs(OUTPUTS, "amplify_outputs.json").unwrap();
        assert_eq!(facts.region.as_deref(), Some("eu-west-1"));
        assert_eq!(facts.user_pool_id.as_deref(), Some("eu-west-1_Pool"));
        assert_eq!(facts.bucket.as_deref(), Some("assets-bucket"));
        assert_eq!(
            facts.models,
            ["Contact", "Item", "Note", "Product", "Request", "Vendor"]
        );
        assert_eq!(
            facts.relations,
            [
                relation("Item.vendorCode", "Vendor.code"),
                relation("Note.requestNotesId", "Request.id"),
                relation("Request.contactId", "Contact.id"),
            ],
            "both sides of Request.contactId give one entry; the target is its primary key"
        );
        assert_eq!(
            facts.owner_fields,
            BTreeMap::from([
                (
                    "Contact".to_string(),
                    vec!["owner".to_string(), "editors".to_string()]
                ),
                ("Request".to_string(), vec!["owner".to_string()]),
            ])
        );
        assert_eq!(
            facts.warnings,
            ["Request.skuA+skuB → Product: composite keys cannot be one [[relations]] entry; skipped"]
        );
    }

    #[test]
    fn refuses_outputs_without_a_data_schema() {
        let err = parse_outputs(r#"{"version": "1", "auth": {}}"#, "o.json").unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err}");
        assert!(err.to_string().contains("model_introspection"), "{err}");
        let err = parse_outputs("{\n  \"version\": ", "o.json").unwrap_err();
        assert!(err.to_string().starts_with("o.json:2:"), "{err}");
    }
}
