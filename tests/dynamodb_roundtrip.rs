//! Export then import into another environment gives tables equal item for item, as
//! an independent SDK client sees them: every DynamoDB type (nested binary and binary
//! sets included), 38-digit numbers, ~350 KB items, a sort key and a GSI, a table of
//! 5,000+ items (several scan pages and parallel segments) and an empty table. Each
//! scenario runs against moto and against dynalite (real DynamoDB validation). Two of
//! the tables fill an items chunk of more than 1 MiB, so import reads them through the
//! helper-thread path of the archive reader (`src/archive/lines.rs`).

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue as V;
use common::recorder::MotoRecording;
use common::world::{simple_item, SdkItem, World};
use common::Server;

fn typed_item(i: u32) -> SdkItem {
    let blob = |seed: u32| {
        Blob::new(
            (0..=255u8)
                .map(|b| b.wrapping_add(seed as u8))
                .collect::<Vec<u8>>(),
        )
    };
    HashMap::from([
        ("id".into(), V::S(format!("t-{i:03}"))),
        ("version".into(), V::N(format!("{}", i + 1))),
        ("email".into(), V::S(format!("user{i}@example.com"))),
        (
            "big".into(),
            V::N("12345678901234567890123456789012345678".into()),
        ),
        (
            "tiny".into(),
            V::N("-0.000000000000000000000000000000000001".into()),
        ),
        ("price".into(), V::N(format!("{i}.5"))),
        ("raw".into(), V::B(blob(i))),
        ("active".into(), V::Bool(i.is_multiple_of(2))),
        ("nothing".into(), V::Null(true)),
        (
            "tags".into(),
            V::Ss(vec!["b".into(), "a".into(), format!("t{i}")]),
        ),
        (
            "scores".into(),
            V::Ns(vec!["1".into(), "2.5".into(), "-3".into()]),
        ),
        (
            "blobs".into(),
            V::Bs(vec![
                Blob::new(vec![0u8, 1]),
                Blob::new(vec![255u8]),
                Blob::new(vec![i as u8, 7]),
            ]),
        ),
        (
            "nested".into(),
            V::M(HashMap::from([
                ("bin".into(), V::B(blob(i + 1))),
                (
                    "list".into(),
                    V::L(vec![
                        V::B(blob(i + 2)),
                        V::M(HashMap::from([(
                            "deep".into(),
                            V::Bs(vec![Blob::new(vec![9u8])]),
                        )])),
                        V::N("42".into()),
                    ]),
                ),
                (
                    "text".into(),
                    V::S("é ü 中文 🙂 \"quoted\" \\ back\nslash".into()),
                ),
            ])),
        ),
        ("empty_list".into(), V::L(vec![])),
        ("empty_map".into(), V::M(HashMap::new())),
    ])
}

fn large_item(i: u32) -> SdkItem {
    HashMap::from([
        ("id".into(), V::S(format!("large-{i}"))),
        (
            "body".into(),
            V::S(
                format!("{i}")
                    .repeat(1)
                    .chars()
                    .cycle()
                    .take(350_000)
                    .collect(),
            ),
        ),
    ])
}

fn many_item(i: u32) -> SdkItem {
    let mut item = simple_item(&format!("m-{i:05}"), i as i64);
    item.insert("padding".into(), V::S(format!("{i:05}-").repeat(100)));
    item
}

async fn round_trip(server: Server) {
    let world = World::new(
        server,
        "roundtrip",
        &[("staging", false), ("production", false)],
    );
    let typed = world
        .create_table("staging", "Typed", Some("version"), Some("email"))
        .await;
    let large = world.create_table("staging", "Large", None, None).await;
    let many = world.create_table("staging", "Many", None, None).await;
    world.create_table("staging", "Empty", None, None).await;
    world
        .put_items(&typed, (0..40).map(typed_item).collect())
        .await;
    world
        .put_items(&large, (0..3).map(large_item).collect())
        .await;
    world
        .put_items(&many, (0..5_200).map(many_item).collect())
        .await;

    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["tables"]["Typed"], 40);
    assert_eq!(export["tables"]["Large"], 3);
    assert_eq!(export["tables"]["Many"], 5_200);
    assert_eq!(export["tables"]["Empty"], 0);
    // Large and Many each fill one items chunk of over 1 MiB: entries from that size on
    // are digested on a helper thread, while reading as well as while writing.
    let out = world.rtsnap(&["unpack", "snap.rtsnap", "unpacked"]);
    assert!(
        out.status.success(),
        "unpack: {}",
        common::world::stderr(&out)
    );
    for model in ["Large", "Many"] {
        let chunk = world
            .dir
            .path()
            .join(format!("unpacked/tables/{model}/items-000001.jsonl"));
        let size = std::fs::metadata(&chunk).unwrap().len();
        assert!(
            size > 1 << 20,
            "{model}: a {size}-byte chunk is below 1 MiB"
        );
    }

    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(import["written"], 40 + 3 + 5_200);
    for model in ["Typed", "Large", "Many", "Empty"] {
        assert_eq!(import["verification"][model], "match", "{model}");
        let source = world.scan_all(&world.table("staging", model)).await;
        let target = world.scan_all(&world.table("production", model)).await;
        assert_eq!(source.len(), target.len(), "{model}");
        assert!(
            source == target,
            "{model}: the target differs from the source"
        );
    }

    // The created table has the source's key schema and GSI.
    let client = common::dynamodb(&world.endpoint).await;
    let described = client
        .describe_table()
        .table_name(world.table("production", "Typed"))
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let keys: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            ("id".to_owned(), "HASH".to_owned()),
            ("version".to_owned(), "RANGE".to_owned())
        ]
    );
    let gsis: Vec<&str> = table
        .global_secondary_indexes()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    assert_eq!(gsis, ["by_email"]);

    // Re-importing the same snapshot changes nothing. It reads the target once: with
    // nothing written, phase 7 checks the digests of the plan's scan (issue #11 §4), so
    // (on moto, whose requests can be recorded) it sends exactly the Scans of a dry run.
    let import = ["import", "snap.rtsnap", "--target", "production", "--yes"];
    let suffix = world.suffix("production").to_owned();
    let scans = |sent: Vec<common::recorder::RecordedRequest>| {
        sent.iter()
            .filter(|r| r.target.ends_with(".Scan") && r.body.contains(&suffix))
            .count()
    };
    let recording = (server == Server::Moto).then(|| MotoRecording::start(&world.endpoint));
    let again = world.rtsnap_json(&import);
    let reimport_scans = recording.map(|r| scans(r.finish()));
    assert_eq!(again["written"], 0);
    assert_eq!(again["deleted"], 0);
    assert!(
        again["backup"].is_null(),
        "nothing to change, so no backup: {again}"
    );
    for model in ["Typed", "Large", "Many", "Empty"] {
        assert_eq!(again["verification"][model], "match", "{again}");
    }
    if let Some(reimport_scans) = reimport_scans {
        let recording = MotoRecording::start(&world.endpoint);
        world.rtsnap_json(&[&import[..], &["--dry-run"]].concat());
        let planned = scans(recording.finish());
        assert!(planned >= 4, "the plan scans every table: {planned}");
        assert_eq!(reimport_scans, planned, "a re-import scans like its plan");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_is_item_for_item_equal_on_moto() {
    round_trip(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_is_item_for_item_equal_on_dynalite() {
    round_trip(Server::Dynalite).await;
}

/// Exact restore deletes what the snapshot lacks; `--merge` keeps it.
async fn exact_and_merge(server: Server) {
    let world = World::new(
        server,
        "exactmerge",
        &[("staging", false), ("production", false)],
    );
    let source = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &source,
            (0..30)
                .map(|i| simple_item(&format!("c-{i:03}"), i))
                .collect(),
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let target = world
        .create_table("production", "Contact", None, None)
        .await;
    let mut changed = simple_item("c-005", 5);
    changed.insert("name".into(), V::S("edited in production".into()));
    world
        .put_items(
            &target,
            vec![
                simple_item("extra-1", 1),
                simple_item("extra-2", 2),
                changed,
                simple_item("c-006", 6),
            ],
        )
        .await;

    let merged = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--merge",
        "--yes",
    ]);
    assert_eq!(merged["mode"], "merge");
    assert_eq!(merged["tables"]["Contact"]["put"], 28);
    assert_eq!(merged["tables"]["Contact"]["update"], 1);
    assert_eq!(merged["tables"]["Contact"]["unchanged"], 1);
    assert_eq!(merged["tables"]["Contact"]["delete"], 0);
    let after_merge = world.scan_all(&target).await;
    assert_eq!(after_merge.len(), 32, "the two extras stay");
    assert!(after_merge
        .iter()
        .any(|i| i["id"] == V::S("extra-1".into())));
    let backup = merged["backup"]
        .as_str()
        .expect("a backup before writing")
        .to_owned();
    assert!(std::path::Path::new(&backup).exists());

    let exact = world.rtsnap_json(&["import", "snap.rtsnap", "--target", "production", "--yes"]);
    assert_eq!(exact["mode"], "exact");
    assert_eq!(exact["tables"]["Contact"]["delete"], 2);
    assert_eq!(exact["deleted"], 2);
    assert_eq!(exact["verification"]["Contact"], "match");
    assert!(world.scan_all(&target).await == world.scan_all(&source).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_restore_deletes_extras_and_merge_keeps_them_on_moto() {
    exact_and_merge(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exact_restore_deletes_extras_and_merge_keeps_them_on_dynalite() {
    exact_and_merge(Server::Dynalite).await;
}

/// Issue #10: "Deletes use the key exactly as the target stores it." A number key is
/// spelled one way by the target (`100`, `2.50`) and another in rtsnap's canonical form
/// (`1e2`, `25e-1`); the DeleteRequests moto received (its own request recorder) carry
/// the spelling the target's scan returned, and the extras are gone.
#[tokio::test(flavor = "multi_thread")]
async fn issue_10_deletes_name_a_number_key_as_the_target_spells_it() {
    let world = World::new(
        Server::Moto,
        "rawkeys",
        &[("staging", false), ("production", false)],
    );
    let reading = |id: &str, at: &str| -> SdkItem {
        HashMap::from([
            ("id".into(), V::S(id.into())),
            ("at".into(), V::N(at.into())),
        ])
    };
    let source = world
        .create_table("staging", "Reading", Some("at"), None)
        .await;
    world
        .put_items(&source, vec![reading("r", "1"), reading("r", "2")])
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let target = world
        .create_table("production", "Reading", Some("at"), None)
        .await;
    let extras = ["100", "2.50", "0.001", "-7.0"];
    let mut seeded = vec![reading("r", "1"), reading("r", "2")];
    seeded.extend(extras.iter().map(|at| reading("r", at)));
    world.put_items(&target, seeded).await;
    // What the target says its keys are: the spelling a delete must use.
    let mut stored: Vec<String> = world
        .scan_all(&target)
        .await
        .iter()
        .filter_map(|i| match &i["at"] {
            V::N(n) if !["1", "2"].contains(&n.as_str()) => Some(n.clone()),
            _ => None,
        })
        .collect();
    stored.sort();
    assert_eq!(stored.len(), extras.len(), "{stored:?}");

    let recording = MotoRecording::start(&world.endpoint);
    let out = world.rtsnap(&["import", "snap.rtsnap", "--target", "production", "--yes"]);
    let sent = recording.finish();
    assert!(
        out.status.success(),
        "import: {}",
        common::world::stderr(&out)
    );

    let mut deleted: Vec<String> = sent
        .iter()
        .filter(|r| r.target.ends_with(".BatchWriteItem"))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter_map(|body| body["RequestItems"][target.as_str()].as_array().cloned())
        .flatten()
        .filter_map(|w| {
            w["DeleteRequest"]["Key"]["at"]["N"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    deleted.sort();
    deleted.dedup();
    assert_eq!(
        deleted, stored,
        "DeleteRequest keys as the target spells them"
    );
    let mut left: Vec<SdkItem> = world.scan_all(&target).await;
    common::world::sort_items(&mut left);
    let mut want = world.scan_all(&source).await;
    common::world::sort_items(&mut want);
    assert_eq!(left, want, "only the snapshot's items are left");
}
