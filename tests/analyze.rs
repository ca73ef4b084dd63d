//! `analyze` against the emulators, every figure checked with an independent SDK
//! client: tables (counts approximate and exact, keys, indexes, billing), required
//! models missing, users and groups, assets; then `--target`: an incompatible target
//! (another sort key, an index attribute of another type, a missing index, models on
//! one side only) is named and exits 4 with exactly the refusals `import` makes, and
//! a compatible target exits 0.

mod common;

use aws_sdk_cognitoidentityprovider::types::MessageActionType;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, Select,
};
use aws_sdk_s3::primitives::ByteStream;
use common::world::{simple_item, stderr, World};
use common::Server;
use serde_json::{json, Value};

/// Runs `rtsnap analyze ARGS --json`; returns the exit code and the one document.
fn analyze_json(world: &World, args: &[&str]) -> (Option<i32>, Value) {
    let mut all = vec!["analyze"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = world.rtsnap(&all);
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.code(), doc)
}

/// DescribeTable's ItemCount, read independently.
async fn described_count(world: &World, table: &str) -> u64 {
    let out = common::dynamodb(&world.endpoint)
        .await
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("DescribeTable");
    out.table().and_then(|t| t.item_count()).expect("ItemCount") as u64
}

/// Items counted independently: a plain, unsegmented Scan with Select=COUNT.
async fn scanned_count(world: &World, table: &str) -> u64 {
    let client = common::dynamodb(&world.endpoint).await;
    let (mut count, mut start) = (0u64, None);
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .expect("Scan");
        count += page.count() as u64;
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return count,
        }
    }
}

fn key_attribute(name: &str, role: &str, kind: &str) -> Value {
    json!({ "name": name, "role": role, "type": kind })
}

/// Items for `table`: `id`, a name, a number, and an e-mail (the GSI attribute).
fn items(prefix: &str, count: usize) -> Vec<common::world::SdkItem> {
    (0..count)
        .map(|i| {
            let mut item = simple_item(&format!("{prefix}-{i:05}"), i as i64);
            item.insert(
                "email".into(),
                aws_sdk_dynamodb::types::AttributeValue::S(format!("{prefix}{i}@example.com")),
            );
            item
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn analyze_reports_tables_users_and_assets_on_moto() {
    let world = World::new(Server::Moto, "analyze_env", &[("staging", false)]);
    world.set_env_value("staging", "required_models", r#"["Contact", "Project"]"#);
    // More than 2,000 items: export (and so the exact count) uses 4 parallel segments.
    let contact = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    world.put_items(&contact, items("c", 2_100)).await;
    let note = world.create_table("staging", "Note", Some("n"), None).await;
    world.put_items(&note, items("n", 7)).await;

    let pool = world.add_user_pool("staging").await;
    let cognito = common::cognito(&world.endpoint).await;
    for group in ["admins", "agents"] {
        cognito
            .create_group()
            .user_pool_id(&pool)
            .group_name(group)
            .send()
            .await
            .expect("CreateGroup");
    }
    for name in ["ana", "ben", "cleo", "dev", "eve"] {
        cognito
            .admin_create_user()
            .user_pool_id(&pool)
            .username(name)
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .expect("AdminCreateUser");
    }
    let bucket = world.add_bucket("staging").await;
    let s3 = common::s3(&world.endpoint).await;
    for (key, size) in [("public/a", 10), ("public/b", 20), ("protected/c", 300)] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(ByteStream::from(vec![b'x'; size]))
            .send()
            .await
            .expect("PutObject");
    }

    let (code, doc) = analyze_json(&world, &["staging"]);
    assert_eq!(code, Some(0), "{doc}");
    let source = &doc["source"];
    let c = &source["tables"]["Contact"];
    assert_eq!(c["table"], contact.as_str());
    assert_eq!(
        c["approximate_items"],
        described_count(&world, &contact).await,
        "{c}"
    );
    assert_eq!(c["exact_items"], Value::Null, "counted only with --exact");
    assert_eq!(c["key_schema"], json!([key_attribute("id", "HASH", "S")]));
    assert_eq!(
        c["global_secondary_indexes"],
        json!([{ "name": "by_email", "key_schema": [key_attribute("email", "HASH", "S")], "projection": "ALL" }])
    );
    assert_eq!(c["billing_mode"], "PAY_PER_REQUEST");
    assert_eq!(c["segments"], 4, "{c}");
    let n = &source["tables"]["Note"];
    assert_eq!(
        n["key_schema"],
        json!([
            key_attribute("id", "HASH", "S"),
            key_attribute("n", "RANGE", "N")
        ])
    );
    assert_eq!(n["global_secondary_indexes"], json!([]));
    assert_eq!(source["missing_required"], json!(["Project"]));
    let users = &source["users"];
    assert_eq!(users["pool"], pool.as_str());
    assert_eq!(users["users"], 5, "{users}");
    assert!(
        users["users_counted_by"]
            .as_str()
            .unwrap()
            .contains("EstimatedNumberOfUsers"),
        "{users}"
    );
    assert_eq!(users["groups"], 2, "{users}");
    let assets = &source["assets"];
    assert_eq!(assets["bucket"], bucket.as_str());
    assert_eq!(
        (&assets["objects"], &assets["bytes"]),
        (&json!(3), &json!(330))
    );
    assert_eq!(doc["target"], Value::Null);
    assert_eq!(doc["estimate"], Value::Null);

    // --exact: counted by Scan, equal to an independent count; users by listing.
    let (code, exact) = analyze_json(&world, &["staging", "--exact"]);
    assert_eq!(code, Some(0), "{exact}");
    for (model, table) in [("Contact", &contact), ("Note", &note)] {
        assert_eq!(
            exact["source"]["tables"][model]["exact_items"],
            scanned_count(&world, table).await,
            "{model}"
        );
    }
    assert_eq!(exact["source"]["users"]["users"], 5);
    assert_eq!(
        exact["source"]["users"]["users_counted_by"],
        "ListUsers (exact)"
    );

    // Without --json: the table on stderr, nothing on stdout.
    let out = world.rtsnap(&["analyze", "staging"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let text = stderr(&out);
    assert!(text.contains(&contact), "{text}");
    assert!(text.contains("required models missing: Project"), "{text}");
    assert!(text.contains("5 users"), "{text}");
    assert!(text.contains("3 objects, 330 B"), "{text}");
}

/// dynalite's DescribeTable lags like DynamoDB's (its ItemCount stays 0 here): only
/// `--exact` gives the real count.
#[tokio::test(flavor = "multi_thread")]
async fn exact_counts_what_describe_table_does_not_yet_show_on_dynalite() {
    let world = World::new(Server::Dynalite, "analyze_dyn", &[("staging", false)]);
    let contact = world
        .create_table("staging", "Contact", Some("n"), None)
        .await;
    world.put_items(&contact, items("c", 60)).await;

    let (code, doc) = analyze_json(&world, &["staging", "--exact"]);
    assert_eq!(code, Some(0), "{doc}");
    let c = &doc["source"]["tables"]["Contact"];
    assert_eq!(
        c["exact_items"],
        scanned_count(&world, &contact).await,
        "{c}"
    );
    assert_eq!(c["exact_items"], 60, "{c}");
    assert_eq!(
        c["approximate_items"],
        described_count(&world, &contact).await,
        "{c}"
    );
    assert_eq!(
        c["key_schema"],
        json!([
            key_attribute("id", "HASH", "S"),
            key_attribute("n", "RANGE", "N")
        ])
    );
    assert_eq!(
        doc["source"]["not_analyzed"],
        json!([
            "users (`staging` has no user_pool_id)",
            "assets (`staging` has no bucket)"
        ])
    );
}

/// Creates `table` with hash key `id` (S), an optional range key and GSIs, each given
/// as (name, attribute type).
async fn create(world: &World, table: &str, range: Option<(&str, &str)>, gsis: &[(&str, &str)]) {
    let client = common::dynamodb(&world.endpoint).await;
    let def = |name: &str, kind: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::from(kind))
            .build()
            .expect("definition")
    };
    let key = |name: &str, role: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(role)
            .build()
            .expect("key")
    };
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("id", KeyType::Hash))
        .attribute_definitions(def("id", "S"));
    if let Some((name, kind)) = range {
        request = request
            .key_schema(key(name, KeyType::Range))
            .attribute_definitions(def(name, kind));
    }
    for (attribute, kind) in gsis {
        request = request
            .attribute_definitions(def(attribute, kind))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(format!("by_{attribute}"))
                    .key_schema(key(attribute, KeyType::Hash))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {table}: {e:?}"));
    common::wait_table_active(&client, table).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn target_analysis_names_what_import_would_refuse_and_exits_4() {
    let world = World::new(
        Server::Moto,
        "analyze_target",
        &[("staging", false), ("production", false), ("mirror", false)],
    );
    let (s, p) = (
        |m: &str| world.table("staging", m),
        |m: &str| world.table("production", m),
    );
    create(&world, &s("Contact"), None, &[("email", "S")]).await;
    create(&world, &s("Note"), Some(("n", "N")), &[]).await;
    create(&world, &s("Todo"), None, &[("title", "S")]).await;
    create(&world, &s("Draft"), None, &[]).await;
    world.put_items(&s("Contact"), items("c", 30)).await;
    world.put_items(&s("Note"), items("n", 5)).await;
    // production: the GSI attribute typed N, another sort key, a GSI missing, a model
    // missing, and one the source does not have.
    create(&world, &p("Contact"), None, &[("email", "N")]).await;
    create(&world, &p("Note"), Some(("at", "N")), &[]).await;
    create(&world, &p("Todo"), None, &[]).await;
    create(&world, &p("Legacy"), None, &[]).await;
    world.put_items(&p("Contact"), items("p", 4)).await;

    let (code, doc) = analyze_json(&world, &["staging", "--target", "production"]);
    assert_eq!(code, Some(4), "{doc}");
    let c = &doc["compatibility"];
    assert_eq!(c["import_refused"], true, "{c}");
    let models = &c["models"];
    assert_eq!(models["Contact"]["status"], "refused", "{c}");
    assert_eq!(
        models["Contact"]["refusals"],
        json!([format!(
            "{} indexes `email` as N (index by_email), `staging` as S (index by_email): the target would reject every item holding `email`",
            p("Contact")
        )])
    );
    assert_eq!(models["Note"]["status"], "refused", "{c}");
    assert_eq!(
        models["Note"]["refusals"],
        json!([format!(
            "{} has key id (S) + at (N), `staging` has id (S) + n (N)",
            p("Note")
        )])
    );
    assert_eq!(
        models["Todo"]["status"], "compatible",
        "a missing index is no refusal"
    );
    assert_eq!(models["Todo"]["refusals"], json!([]));
    let todo_notes = models["Todo"]["notes"].as_array().expect("notes");
    assert_eq!(todo_notes.len(), 1, "{c}");
    assert!(
        todo_notes[0]
            .as_str()
            .unwrap()
            .contains("lacks the global index `by_title`"),
        "{c}"
    );
    assert_eq!(models["Draft"]["status"], "missing in target");
    assert!(
        models["Draft"]["notes"][0]
            .as_str()
            .unwrap()
            .contains("--create-missing"),
        "{c}"
    );
    assert_eq!(models["Legacy"]["status"], "only in target");
    assert_eq!(c["only_in_source"], json!(["Draft"]));
    assert_eq!(c["only_in_target"], json!(["Legacy"]));
    // Side by side: the target's own figures.
    let target = &doc["target"]["tables"];
    assert_eq!(
        target["Contact"]["global_secondary_indexes"][0]["key_schema"],
        json!([key_attribute("email", "HASH", "N")])
    );
    assert_eq!(
        target["Contact"]["approximate_items"],
        described_count(&world, &p("Contact")).await
    );
    // Estimates: every source table timed, and said how.
    let estimate = &doc["estimate"];
    let export_tables = estimate["export_tables"].as_object().expect("per table");
    assert_eq!(export_tables.len(), 4, "{estimate}");
    assert_eq!(export_tables["Contact"]["items"], 30, "{estimate}");
    assert!(
        estimate["export_seconds"].as_f64().unwrap() > 0.0,
        "{estimate}"
    );
    assert!(
        estimate["import_seconds"].as_f64().unwrap() > estimate["export_seconds"].as_f64().unwrap(),
        "{estimate}"
    );
    assert!(!estimate["method"].as_array().unwrap().is_empty());

    // Import refuses exactly these, in its own words ("the snapshot").
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let import = world.rtsnap(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--dry-run",
    ]);
    assert_eq!(import.status.code(), Some(4), "{}", stderr(&import));
    let refused = stderr(&import);
    let mut expected: Vec<String> = ["Contact", "Note"]
        .iter()
        .map(|m| {
            models[m]["refusals"][0]
                .as_str()
                .unwrap()
                .replace("`staging`", "the snapshot")
        })
        .collect();
    expected.sort();
    let listed = refused
        .split_once("does not match the snapshot: ")
        .map(|(_, rest)| rest.trim_end())
        .unwrap_or_else(|| panic!("{refused}"));
    let mut listed: Vec<&str> = listed.split("; ").collect();
    listed.sort();
    assert_eq!(listed, expected, "import and analyze refuse the same");

    // A target made from the source's own snapshot is compatible: exit 0.
    world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "mirror",
        "--create-missing",
        "--yes",
    ]);
    let (code, same) = analyze_json(&world, &["staging", "--target", "mirror"]);
    assert_eq!(code, Some(0), "{same}");
    let c = &same["compatibility"];
    assert_eq!(c["import_refused"], false, "{c}");
    for (model, m) in c["models"].as_object().unwrap() {
        assert_eq!(m["status"], "compatible", "{model}: {c}");
        assert_eq!(m["notes"], json!([]), "{model}: {c}");
    }
    assert_eq!(c["only_in_source"], json!([]));
    assert_eq!(c["only_in_target"], json!([]));
    let out = world.rtsnap(&["analyze", "staging", "--target", "mirror"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).contains("import would proceed"),
        "{}",
        stderr(&out)
    );
}
