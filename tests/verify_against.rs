//! `verify <FILE> --against <ENV>` compares content, not counts: after an import the
//! target matches; after one item is changed, one deleted and one added (counts equal
//! again!) it differs, exits 1, and names each key. Against moto and dynalite.

mod common;

use aws_sdk_dynamodb::types::AttributeValue as V;
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
