use std::io::Read as _;

use super::stage::{object_key, Cutter};
use super::*;
use crate::archive::schema::{KeyElement, Projection, SecondaryIndex, StreamSpecification};

fn env(native_via: Option<&str>) -> Environment {
    Environment {
        native_via: native_via.map(str::to_owned),
        native_min_items: Some(10),
        ..Environment::for_tests("fresh", "s")
    }
}

fn schema(model: &str) -> TableSchema {
    TableSchema::from_json(
        format!(
            r#"{{"Model":"{model}","TableName":"{model}-x-NONE","KeySchema":[{{"AttributeName":"id","KeyType":"HASH"}}],"AttributeDefinitions":[{{"AttributeName":"id","AttributeType":"S"}}],"BillingMode":"PAY_PER_REQUEST","ProvisionedThroughput":null,"TimeToLiveAttribute":null,"StreamSpecification":null}}"#
        )
        .as_bytes(),
    )
    .expect("schema")
}

fn plan(create: bool, put: u64) -> TablePlan {
    TablePlan {
        create,
        put,
        ..TablePlan::default()
    }
}

#[test]
fn only_new_large_tables_without_lsis_go_through_import_table() {
    let via = ImportVia {
        via: NativeVia::parse("s3://b/p").expect("via"),
        min_items: 10,
    };
    let mut schemas = BTreeMap::new();
    for model in ["Big", "Small", "Old", "Lsi", "Ttl"] {
        schemas.insert(model.to_owned(), schema(model));
    }
    let lsi = schemas.get_mut("Lsi").expect("Lsi");
    lsi.local_secondary_indexes.push(SecondaryIndex {
        index_name: "byX".into(),
        key_schema: vec![KeyElement {
            attribute_name: "id".into(),
            key_type: "HASH".into(),
        }],
        projection: Projection {
            projection_type: "ALL".into(),
            non_key_attributes: Vec::new(),
        },
        provisioned_throughput: None,
    });
    let ttl = schemas.get_mut("Ttl").expect("Ttl");
    ttl.time_to_live_attribute = Some("expires".into());
    ttl.stream_specification = Some(StreamSpecification {
        stream_enabled: true,
        stream_view_type: Some("NEW_IMAGE".into()),
    });
    let mut plans: BTreeMap<String, TablePlan> = [
        ("Big", plan(true, 10)),
        ("Small", plan(true, 9)),
        ("Old", plan(false, 500)),
        ("Lsi", plan(true, 500)),
        ("Ttl", plan(true, 500)),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p))
    .collect();
    let chosen = choose_paths(&mut plans, &schemas, Some(&via));
    assert_eq!(chosen, ["Big", "Ttl"]);
    let why = |m: &str| plans[m].path_why.clone().unwrap_or_default();
    assert_eq!(plans["Big"].path, IMPORT_TABLE);
    assert_eq!(plans["Small"].path, BATCH_WRITE);
    assert!(why("Small").contains("under native_min_items 10"));
    assert!(why("Old").contains("exists"));
    assert!(why("Lsi").contains("local secondary indexes"));
    assert!(why("Ttl").contains("TTL on `expires` and the stream set after the load"));

    let chosen = choose_paths(&mut plans, &schemas, None);
    assert!(chosen.is_empty());
    assert!(plans.values().all(|p| p.path == BATCH_WRITE));
}

#[test]
fn native_flags_resolve_like_export_and_need_create_missing() {
    let flags = NativeFlags {
        native_via: Some("s3://b/p/"),
        create_missing: true,
        ..NativeFlags::default()
    };
    let via = resolve_via(flags, &env(None)).expect("ok").expect("via");
    assert_eq!((via.via.prefix.as_str(), via.min_items), ("p", 10));
    let usage = |flags, env: &Environment| matches!(resolve_via(flags, env), Err(Error::Usage(_)));
    let without_create = NativeFlags {
        create_missing: false,
        ..flags
    };
    assert!(usage(without_create, &env(None)));
    assert!(usage(
        NativeFlags {
            no_native: true,
            ..flags
        },
        &env(None)
    ));
    // The environment's native_via only applies with --create-missing.
    let configured = env(Some("s3://c"));
    let none = NativeFlags::default();
    assert!(resolve_via(none, &configured).expect("ok").is_none());
    let create = NativeFlags {
        create_missing: true,
        ..none
    };
    let via = resolve_via(create, &configured).expect("ok").expect("via");
    assert_eq!(via.via.bucket, "c");
    let forced = NativeFlags {
        no_native: true,
        ..create
    };
    assert!(resolve_via(forced, &configured).expect("ok").is_none());
    let keep = NativeFlags {
        keep_staging: true,
        ..none
    };
    assert!(usage(keep, &env(None)));
}

#[test]
fn cutter_cuts_gzip_objects_that_hold_every_line_once() {
    // Deflate buffers its output, so the cut follows the compressed size only
    // roughly: hard-to-compress lines, a small limit.
    let mut cutter = Cutter::new(16 << 10);
    let mut objects = Vec::new();
    let mut state = 7u64;
    let lines: Vec<String> = (0..2_000)
        .map(|i| {
            let noise: String = (0..8)
                .map(|_| {
                    state = state
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    format!("{:016x}", state >> 1)
                })
                .collect();
            format!("{{\"Item\":{{\"id\":{{\"S\":\"{i:04}-{noise}\"}}}}}}\n")
        })
        .collect();
    for line in &lines {
        objects.extend(cutter.push(line.as_bytes()).expect("push"));
    }
    objects.extend(cutter.finish().expect("finish"));
    assert!(cutter.finish().expect("again").is_none());
    assert!(objects.len() > 2, "{} objects", objects.len());
    assert_eq!(cutter.items, 2_000);
    let numbers: Vec<u32> = objects.iter().map(|(n, _)| *n).collect();
    assert_eq!(numbers, (1..=objects.len() as u32).collect::<Vec<_>>());
    let mut text = String::new();
    for (_, bytes) in &objects {
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_string(&mut text)
            .expect("each object is one gzip stream");
    }
    assert_eq!(text, lines.concat());
    assert_eq!(
        object_key("p/run", "Big", 3),
        "p/run/Big/part-000003.json.gz"
    );
}
