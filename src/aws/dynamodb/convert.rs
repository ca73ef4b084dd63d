//! Conversions between rtsnap's own types (items, `TableSchema`) and the SDK's. Kept
//! apart from the calls so each file says one thing.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::LazyLock;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{
    self as ddb, AttributeValue, BillingMode, KeyType, ProjectionType, ScalarAttributeType,
    StreamViewType,
};

use crate::archive::item::{AttrValue, Item};
use crate::archive::schema::{
    AttributeDefinition, KeyElement, Projection, SecondaryIndex, StreamSpecification, TableSchema,
    Throughput,
};
use crate::aws::AwsError;

/// One hasher state for every map rtsnap hands the SDK. The SDK serialises a map in
/// its iteration order, and every `HashMap::new()` draws a random state of its own, so
/// each item went out with its attributes in another order. DynamoDB keeps no order,
/// but dynalite (node) stores the JSON as it came, and scanned 200,000 items written in
/// shuffled orders 1.7× slower than the same items in one order (4.5 s against 2.6 s,
/// docs/performance.md § Attribute order). One state gives maps with the same
/// attributes the same order.
static MAP_STATE: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// rtsnap item → SDK item.
pub fn item_to_sdk(item: &Item) -> HashMap<String, AttributeValue> {
    sdk_map(item)
}

fn sdk_map(map: &std::collections::BTreeMap<String, AttrValue>) -> HashMap<String, AttributeValue> {
    let mut out = HashMap::with_capacity_and_hasher(map.len(), MAP_STATE.clone());
    out.extend(map.iter().map(|(k, v)| (k.clone(), value_to_sdk(v))));
    out
}

fn value_to_sdk(value: &AttrValue) -> AttributeValue {
    match value {
        AttrValue::S(s) => AttributeValue::S(s.clone()),
        AttrValue::N(n) => AttributeValue::N(n.clone()),
        AttrValue::B(b) => AttributeValue::B(Blob::new(b.clone())),
        AttrValue::Bool(b) => AttributeValue::Bool(*b),
        AttrValue::Null => AttributeValue::Null(true),
        AttrValue::M(m) => AttributeValue::M(sdk_map(m)),
        AttrValue::L(l) => AttributeValue::L(l.iter().map(value_to_sdk).collect()),
        AttrValue::Ss(s) => AttributeValue::Ss(s.clone()),
        AttrValue::Ns(n) => AttributeValue::Ns(n.clone()),
        AttrValue::Bs(b) => AttributeValue::Bs(b.iter().map(|x| Blob::new(x.clone())).collect()),
    }
}

/// SDK item → rtsnap item.
pub fn item_from_sdk(item: HashMap<String, AttributeValue>) -> Result<Item, AwsError> {
    item.into_iter()
        .map(|(k, v)| value_from_sdk(v).map(|v| (k, v)))
        .collect()
}

fn value_from_sdk(value: AttributeValue) -> Result<AttrValue, AwsError> {
    Ok(match value {
        AttributeValue::S(s) => AttrValue::S(s),
        AttributeValue::N(n) => AttrValue::N(n),
        AttributeValue::B(b) => AttrValue::B(b.into_inner()),
        AttributeValue::Bool(b) => AttrValue::Bool(b),
        AttributeValue::Null(_) => AttrValue::Null,
        AttributeValue::M(m) => AttrValue::M(
            m.into_iter()
                .map(|(k, v)| value_from_sdk(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::L(l) => AttrValue::L(
            l.into_iter()
                .map(value_from_sdk)
                .collect::<Result<_, _>>()?,
        ),
        AttributeValue::Ss(s) => AttrValue::Ss(s),
        AttributeValue::Ns(n) => AttrValue::Ns(n),
        AttributeValue::Bs(b) => AttrValue::Bs(b.into_iter().map(Blob::into_inner).collect()),
        other => {
            return Err(AwsError::Invalid(format!(
                "an attribute of an unknown DynamoDB type: {other:?}"
            )))
        }
    })
}

/// DescribeTable → snapshot schema. Drops what CreateTable would reject: empty index
/// lists, read-only fields, zero throughput of on-demand tables.
pub(super) fn schema_from_description(
    desc: &ddb::TableDescription,
    model: &str,
) -> Result<TableSchema, AwsError> {
    let on_demand = desc
        .billing_mode_summary()
        .and_then(|b| b.billing_mode())
        .is_some_and(|m| *m == BillingMode::PayPerRequest)
        || desc
            .provisioned_throughput()
            .is_some_and(|t| t.read_capacity_units().unwrap_or(0) == 0);
    let throughput = |t: Option<&ddb::ProvisionedThroughputDescription>| {
        t.filter(|_| !on_demand).map(|t| Throughput {
            read_capacity_units: t.read_capacity_units().unwrap_or(1),
            write_capacity_units: t.write_capacity_units().unwrap_or(1),
        })
    };
    let gsis = desc
        .global_secondary_indexes()
        .iter()
        .map(|i| SecondaryIndex {
            index_name: i.index_name().unwrap_or_default().to_owned(),
            key_schema: key_schema_from_sdk(i.key_schema()),
            projection: projection_from_sdk(i.projection()),
            provisioned_throughput: throughput(i.provisioned_throughput()),
        })
        .collect();
    let lsis = desc
        .local_secondary_indexes()
        .iter()
        .map(|i| SecondaryIndex {
            index_name: i.index_name().unwrap_or_default().to_owned(),
            key_schema: key_schema_from_sdk(i.key_schema()),
            projection: projection_from_sdk(i.projection()),
            provisioned_throughput: None,
        })
        .collect();
    Ok(TableSchema {
        model: model.to_owned(),
        table_name: desc.table_name().unwrap_or_default().to_owned(),
        key_schema: key_schema_from_sdk(desc.key_schema()),
        attribute_definitions: desc
            .attribute_definitions()
            .iter()
            .map(|d| AttributeDefinition {
                attribute_name: d.attribute_name().to_owned(),
                attribute_type: d.attribute_type().as_str().to_owned(),
            })
            .collect(),
        global_secondary_indexes: gsis,
        local_secondary_indexes: lsis,
        billing_mode: if on_demand {
            "PAY_PER_REQUEST"
        } else {
            "PROVISIONED"
        }
        .to_owned(),
        provisioned_throughput: throughput(desc.provisioned_throughput()),
        time_to_live_attribute: None,
        stream_specification: desc.stream_specification().map(|s| StreamSpecification {
            stream_enabled: s.stream_enabled(),
            stream_view_type: s.stream_view_type().map(|v| v.as_str().to_owned()),
        }),
    })
}

fn key_schema_from_sdk(keys: &[ddb::KeySchemaElement]) -> Vec<KeyElement> {
    keys.iter()
        .map(|k| KeyElement {
            attribute_name: k.attribute_name().to_owned(),
            key_type: k.key_type().as_str().to_owned(),
        })
        .collect()
}

fn projection_from_sdk(p: Option<&ddb::Projection>) -> Projection {
    Projection {
        projection_type: p
            .and_then(|p| p.projection_type())
            .map_or("ALL", |t| t.as_str())
            .to_owned(),
        non_key_attributes: p
            .map(|p| p.non_key_attributes().to_vec())
            .unwrap_or_default(),
    }
}

pub(super) fn key_schema_to_sdk(
    keys: &[KeyElement],
) -> Result<Vec<ddb::KeySchemaElement>, aws_sdk_dynamodb::error::BuildError> {
    keys.iter()
        .map(|k| {
            ddb::KeySchemaElement::builder()
                .attribute_name(&k.attribute_name)
                .key_type(KeyType::from(k.key_type.as_str()))
                .build()
        })
        .collect()
}

pub(super) fn attribute_definitions_to_sdk(
    definitions: &[AttributeDefinition],
) -> Result<Vec<ddb::AttributeDefinition>, aws_sdk_dynamodb::error::BuildError> {
    definitions
        .iter()
        .map(|d| {
            ddb::AttributeDefinition::builder()
                .attribute_name(&d.attribute_name)
                .attribute_type(ScalarAttributeType::from(d.attribute_type.as_str()))
                .build()
        })
        .collect()
}

/// The schema's stream, when it has one enabled.
pub(super) fn stream_to_sdk(
    schema: &TableSchema,
) -> Result<Option<ddb::StreamSpecification>, aws_sdk_dynamodb::error::BuildError> {
    let Some(stream) = schema
        .stream_specification
        .as_ref()
        .filter(|s| s.stream_enabled)
    else {
        return Ok(None);
    };
    let mut spec = ddb::StreamSpecification::builder().stream_enabled(true);
    if let Some(view) = &stream.stream_view_type {
        spec = spec.stream_view_type(StreamViewType::from(view.as_str()));
    }
    spec.build().map(Some)
}

pub(super) fn projection_to_sdk(p: &Projection) -> ddb::Projection {
    let mut builder = ddb::Projection::builder()
        .projection_type(ProjectionType::from(p.projection_type.as_str()));
    if !p.non_key_attributes.is_empty() {
        builder = builder.set_non_key_attributes(Some(p.non_key_attributes.clone()));
    }
    builder.build()
}

pub(super) fn throughput_to_sdk(
    t: &Throughput,
) -> Result<ddb::ProvisionedThroughput, aws_sdk_dynamodb::error::BuildError> {
    ddb::ProvisionedThroughput::builder()
        .read_capacity_units(t.read_capacity_units)
        .write_capacity_units(t.write_capacity_units)
        .build()
}

/// A schema's GSIs for CreateTable or ImportTable; `None` when it has none (both calls
/// refuse an empty list).
pub(super) fn gsis_to_sdk(
    indexes: &[SecondaryIndex],
    provisioned: bool,
) -> Result<Option<Vec<ddb::GlobalSecondaryIndex>>, aws_sdk_dynamodb::error::BuildError> {
    if indexes.is_empty() {
        return Ok(None);
    }
    indexes
        .iter()
        .map(|i| gsi_to_sdk(i, provisioned))
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

fn gsi_to_sdk(
    index: &SecondaryIndex,
    provisioned: bool,
) -> Result<ddb::GlobalSecondaryIndex, aws_sdk_dynamodb::error::BuildError> {
    let mut builder = ddb::GlobalSecondaryIndex::builder()
        .index_name(&index.index_name)
        .set_key_schema(Some(key_schema_to_sdk(&index.key_schema)?))
        .projection(projection_to_sdk(&index.projection));
    if provisioned {
        let t = index.provisioned_throughput.clone().unwrap_or(Throughput {
            read_capacity_units: 1,
            write_capacity_units: 1,
        });
        builder = builder.provisioned_throughput(throughput_to_sdk(&t)?);
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::parse_item;

    fn names(map: &HashMap<String, AttributeValue>) -> Vec<String> {
        map.keys().cloned().collect()
    }

    /// Issue #11: items with the same attributes go to the SDK (which serialises
    /// a map in iteration order) with their attributes, nested ones too, in one order.
    #[test]
    fn items_with_the_same_attributes_keep_one_attribute_order() {
        let item = |i: u32| {
            let json = format!(
                r#"{{"id":{{"S":"c-{i}"}},"firstName":{{"S":"A{i}"}},"lastName":{{"S":"B"}},"email":{{"S":"e{i}@x"}},"score":{{"N":"{i}"}},"optIn":{{"BOOL":true}},"owner":{{"S":"o"}},"status":{{"S":"s"}},"address":{{"M":{{"city":{{"S":"c"}},"street":{{"S":"s{i}"}},"zip":{{"S":"z"}},"country":{{"S":"US"}}}}}}}}"#
            );
            item_to_sdk(&parse_item(json.as_bytes()).expect("item"))
        };
        let first = item(0);
        let nested = |m: &HashMap<String, AttributeValue>| match &m["address"] {
            AttributeValue::M(inner) => names(inner),
            other => panic!("address is {other:?}"),
        };
        for i in 1..50 {
            let other = item(i);
            assert_eq!(names(&other), names(&first), "item {i}");
            assert_eq!(nested(&other), nested(&first), "item {i}, nested");
        }
    }
}
