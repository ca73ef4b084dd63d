//! `verify <FILE> --against <ENV>` compares content, not counts: after an import the
//! target matches; after one item is changed, one deleted and one added (counts equal
//! again!) it differs, exits 1, and names each key. Against moto and dynalite. On moto,
//! every section at once: items, a disabled user and an object replaced by other bytes
//! of the same size are each named, and nothing else is.

mod common;

use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use aws_sdk_dynamodb::types::AttributeValue as V;
use aws_sdk_s3::primitives::ByteStream;
use common::world::{simple_item, stderr, World};
use common::Server;

async fn scenario(server: Server) {
    let world = World::new(
        server,
        "against",
        &[("staging", false), ("production", false)],
    );
    let source = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &source,
            (0..12)
                .map(|i| simple_item(&format!("c-{i:02}"), i))
                .collect(),
        )
        .await;
    world.create_table("staging", "Note", None, None).await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);

    let same = world.rtsnap_json(&["verify", "snap.rtsnap", "--against", "production"]);
    assert_eq!(same["equal"], true, "{same}");
    assert_eq!(same["tables"]["Contact"]["status"], "match");
    assert_eq!(same["tables"]["Note"]["status"], "match");

    // Same item count, different content.
    let target = world.table("production", "Contact");
    let client = common::dynamodb(&world.endpoint).await;
    client
        .delete_item()
        .table_name(&target)
        .key("id", V::S("c-03".into()))
        .send()
        .await
        .unwrap();
    let mut changed = simple_item("c-07", 7);
    changed.insert("name".into(), V::S("changed".into()));
    world
        .put_items(&target, vec![changed, simple_item("z-extra", 99)])
        .await;

    let out = world.rtsnap(&["verify", "snap.rtsnap", "--against", "production", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let contact = &doc["tables"]["Contact"];
    assert_eq!(doc["equal"], false);
    assert_eq!(contact["status"], "differs");
    assert_eq!(contact["snapshot_items"], 12);
    assert_eq!(
        contact["target_items"], 12,
        "the counts alone would hide the difference"
    );
    assert_eq!(
        (
            contact["missing"].clone(),
            contact["different"].clone(),
            contact["extra"].clone()
        ),
        (1.into(), 1.into(), 1.into())
    );
    assert_eq!(contact["missing_keys"][0], r#"{"id":{"S":"c-03"}}"#);
    assert_eq!(contact["different_keys"][0], r#"{"id":{"S":"c-07"}}"#);
    assert_eq!(contact["extra_keys"][0], r#"{"id":{"S":"z-extra"}}"#);
    assert_eq!(doc["tables"]["Note"]["status"], "match");
    assert!(stderr(&out).contains("does not equal"), "{}", stderr(&out));

    // The source environment still equals its own export.
    let out = world.rtsnap(&["verify", "snap.rtsnap", "--against", "staging", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "staging is the source: {}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_against_compares_content_on_moto() {
    scenario(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_against_compares_content_on_dynalite() {
    scenario(Server::Dynalite).await;
}

const USERS: [&str; 4] = ["ana", "ben", "cleo", "dev"];
const OBJECTS: [(&str, &str); 4] = [
    ("public/a.txt", "alpha alpha"),
    ("public/b.txt", "bravo bravo"),
    ("public/c.txt", "charlie"),
    ("protected/d.bin", "delta delta delta"),
];

/// Seeds `env`'s pool: the users (each with an e-mail), `admins` holding the first two.
async fn seed_users(world: &World, pool: &str) {
    let client = common::cognito(&world.endpoint).await;
    client
        .create_group()
        .user_pool_id(pool)
        .group_name("admins")
        .send()
        .await
        .expect("CreateGroup");
    for (i, name) in USERS.iter().enumerate() {
        let email = AttributeType::builder()
            .name("email")
            .value(format!("{name}@example.com"))
            .build()
            .expect("attribute");
        client
            .admin_create_user()
            .user_pool_id(pool)
            .username(*name)
            .message_action(MessageActionType::Suppress)
            .user_attributes(email)
            .send()
            .await
            .expect("AdminCreateUser");
        if i < 2 {
            client
                .admin_add_user_to_group()
                .user_pool_id(pool)
                .username(*name)
                .group_name("admins")
                .send()
                .await
                .expect("AdminAddUserToGroup");
        }
    }
}

async fn put_object(world: &World, bucket: &str, key: &str, body: &[u8]) {
    common::s3(&world.endpoint)
        .await
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/plain")
        .body(ByteStream::from(body.to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
}

/// Names of the differing items of one table, per kind.
fn item_keys(table: &serde_json::Value) -> [Vec<String>; 3] {
    ["missing_keys", "different_keys", "extra_keys"].map(|kind| {
        table[kind]
            .as_array()
            .unwrap_or_else(|| panic!("{kind} in {table}"))
            .iter()
            .map(|k| k.as_str().expect("key").to_owned())
            .collect()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_against_names_exactly_what_was_corrupted_in_every_section() {
    let world = World::new(
        Server::Moto,
        "against_all",
        &[("staging", false), ("production", false)],
    );
    let source_pool = world.add_user_pool("staging").await;
    let target_pool = world.add_user_pool("production").await;
    let source_bucket = world.add_bucket("staging").await;
    let target_bucket = world.add_bucket("production").await;
    let contact = world.create_table("staging", "Contact", None, None).await;
    let contacts = (0..12).map(|i| simple_item(&format!("c-{i:02}"), i));
    world.put_items(&contact, contacts.collect()).await;
    let note = world.create_table("staging", "Note", None, None).await;
    let notes = (0..3).map(|i| simple_item(&format!("n-{i}"), i));
    world.put_items(&note, notes.collect()).await;
    seed_users(&world, &source_pool).await;
    for (key, body) in OBJECTS {
        put_object(&world, &source_bucket, key, body.as_bytes()).await;
    }

    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(import["users_applied"]["created"], USERS.len(), "{import}");
    assert_eq!(
        import["assets_applied"]["copied"],
        OBJECTS.len(),
        "{import}"
    );

    // A clean target passes, in every section.
    let args = ["verify", "snap.rtsnap", "--against", "production", "--json"];
    let clean = world.rtsnap(&args);
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let clean: serde_json::Value = serde_json::from_slice(&clean.stdout).expect("one document");
    assert_eq!(clean["equal"], true, "{clean}");
    assert_eq!(clean["users"]["status"], "match", "{clean}");
    assert_eq!(clean["assets"]["status"], "match", "{clean}");
    assert_eq!(clean["not_compared"], serde_json::json!([]), "{clean}");

    // Corrupt the target with independent clients: one item changed, one deleted, one
    // added; one user disabled; one object replaced by other bytes of the same size.
    let target = world.table("production", "Contact");
    common::dynamodb(&world.endpoint)
        .await
        .delete_item()
        .table_name(&target)
        .key("id", V::S("c-03".into()))
        .send()
        .await
        .expect("DeleteItem");
    let mut changed = simple_item("c-07", 7);
    changed.insert("n".into(), V::N("70".into()));
    world
        .put_items(&target, vec![changed, simple_item("z-extra", 99)])
        .await;
    common::cognito(&world.endpoint)
        .await
        .admin_disable_user()
        .user_pool_id(&target_pool)
        .username("cleo")
        .send()
        .await
        .expect("AdminDisableUser");
    let (victim, original) = OBJECTS[1];
    let replacement = original.to_uppercase();
    assert_eq!(replacement.len(), original.len(), "same size, other bytes");
    put_object(&world, &target_bucket, victim, replacement.as_bytes()).await;

    let out = world.rtsnap(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one document");
    assert_eq!(doc["equal"], false, "{doc}");

    let [missing, different, extra] = item_keys(&doc["tables"]["Contact"]);
    assert_eq!(missing, [r#"{"id":{"S":"c-03"}}"#], "{doc}");
    assert_eq!(different, [r#"{"id":{"S":"c-07"}}"#], "{doc}");
    assert_eq!(extra, [r#"{"id":{"S":"z-extra"}}"#], "{doc}");
    let counts =
        |t: &serde_json::Value| [&t["missing"], &t["different"], &t["extra"]].map(|v| v.as_u64());
    assert_eq!(counts(&doc["tables"]["Contact"]), [Some(1); 3], "{doc}");
    assert_eq!(doc["tables"]["Note"]["status"], "match", "{doc}");
    assert!(
        item_keys(&doc["tables"]["Note"]).iter().all(Vec::is_empty),
        "{doc}"
    );

    let users = &doc["users"];
    assert_eq!(users["status"], "differs", "{users}");
    assert_eq!(
        users["keys"],
        serde_json::json!({ "different": ["cleo"] }),
        "only the disabled user is named: {users}"
    );
    for field in [
        "missing",
        "extra",
        "groups_missing",
        "groups_different",
        "groups_extra",
        "memberships_missing",
        "memberships_extra",
    ] {
        assert_eq!(users[field], 0, "{field}: {users}");
    }
    assert_eq!(users["different"], 1, "{users}");

    let assets = &doc["assets"];
    assert_eq!(assets["status"], "differs", "{assets}");
    assert_eq!(
        assets["different_keys"],
        serde_json::json!([victim]),
        "{assets}"
    );
    assert_eq!(assets["missing_keys"], serde_json::json!([]), "{assets}");
    assert_eq!(assets["extra_keys"], serde_json::json!([]), "{assets}");
    assert_eq!(assets["equal_objects"], OBJECTS.len() - 1, "{assets}");
    assert!(stderr(&out).contains("does not equal"), "{}", stderr(&out));
}
