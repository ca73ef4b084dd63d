//! Issue 10, "refuse before writing what DynamoDB would refuse": a snapshot item that
//! DynamoDB cannot hold (number precision and range, empty or duplicate set members,
//! an empty or mistyped key, an item over 400 KB, deep nesting, a primary key given
//! twice) stops the import in its plan phase with exit 3 and one line naming the
//! model, the place in the archive and the key; no table is created, no backup taken,
//! nothing written. Checked against dynalite, the strict DynamoDB.

mod common;

use std::path::Path;

use common::world::{stderr, World};
use common::Server;

/// The fixture's Contact table and its first three items, plus `extra` lines.
fn mini_snapshot(dir: &Path, extra: &[String]) {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    std::fs::create_dir_all(dir.join("tables/Contact")).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture.join("rtsnap.json")).unwrap()).unwrap();
    header["sections"] = serde_json::json!(["tables"]);
    std::fs::write(
        dir.join("rtsnap.json"),
        serde_json::to_vec_pretty(&header).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        fixture.join("tables/Contact/schema.json"),
        dir.join("tables/Contact/schema.json"),
    )
    .unwrap();
    let items = std::fs::read_to_string(fixture.join("tables/Contact/items-000001.jsonl")).unwrap();
    let mut lines: Vec<String> = items.lines().take(3).map(str::to_owned).collect();
    lines.extend(extra.iter().cloned());
    std::fs::write(
        dir.join("tables/Contact/items-000001.jsonl"),
        lines.join("\n") + "\n",
    )
    .unwrap();
}

fn pack(world: &World, name: &str, extra: &[String]) -> String {
    let dir = world.dir.path().join(format!("{name}.d"));
    mini_snapshot(&dir, extra);
    let file = format!("{name}.rtsnap");
    let out = world.rtsnap(&["pack", &dir.to_string_lossy(), "-o", &file]);
    assert!(out.status.success(), "pack {name}: {}", stderr(&out));
    file
}

fn first_fixture_contact() -> String {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    let items = std::fs::read_to_string(fixture.join("tables/Contact/items-000001.jsonl")).unwrap();
    items.lines().next().unwrap().to_owned()
}

#[tokio::test]
async fn issue_10_items_dynamodb_would_refuse_stop_the_plan_with_model_line_and_key() {
    let world = World::new(Server::Dynalite, "validate", &[("staging", false)]);
    let deep = (0..33).fold(String::from(r#"{"S":"leaf"}"#), |v, _| {
        format!(r#"{{"L":[{v}]}}"#)
    });
    let big = "x".repeat(400 * 1024);
    // 105,000 × 1.5 in a list: 315 KB by "a byte per two digits, plus one", 420 KB as
    // DynamoDB aligns digit pairs (the 2026-12-01 bug hunt: dynalite refused it in
    // phase 6).
    let halves = vec![r#"{"N":"1.5"}"#; 105_000].join(",");
    // (case, bad line (line 4 of the items file), key text, words of the reason)
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "empty-set",
            r#"{"id":{"S":"x-1"},"tags":{"SS":[]}}"#.into(),
            "id=x-1",
            "empty SS set",
        ),
        (
            "duplicate-member",
            r#"{"id":{"S":"x-2"},"n":{"NS":["1","1.0"]}}"#.into(),
            "id=x-2",
            "duplicate member",
        ),
        (
            "digits",
            r#"{"id":{"S":"x-3"},"n":{"N":"123456789012345678901234567890123456789"}}"#.into(),
            "id=x-3",
            "39 significant digits",
        ),
        (
            "range",
            r#"{"id":{"S":"x-4"},"n":{"N":"1E126"}}"#.into(),
            "id=x-4",
            "outside DynamoDB's range",
        ),
        (
            "empty-key",
            r#"{"id":{"S":""},"name":{"S":"nobody"}}"#.into(),
            "id=",
            "key attribute `id` is empty",
        ),
        (
            "key-type",
            r#"{"id":{"N":"5"}}"#.into(),
            "id=5",
            "is N, the table declares S",
        ),
        (
            "no-key",
            r#"{"name":{"S":"keyless"}}"#.into(),
            "id=?",
            "lacks its key attribute `id`",
        ),
        (
            "too-big",
            format!(r#"{{"id":{{"S":"x-5"}},"b":{{"S":"{big}"}}}}"#),
            "id=x-5",
            "over DynamoDB's limit",
        ),
        // A key with a newline and a terminal escape: quoted escaped, on one line.
        (
            "control-chars",
            r#"{"id":{"S":"evil\nsecond\u001b[31mRED"},"tags":{"SS":[]}}"#.into(),
            r"id=evil\nsecond\u{1b}[31mRED",
            "empty SS set",
        ),
        (
            "number-sizes",
            format!(r#"{{"id":{{"S":"x-9"}},"l":{{"L":[{halves}]}}}}"#),
            "id=x-9",
            "over DynamoDB's limit",
        ),
        (
            "deep",
            format!(r#"{{"id":{{"S":"x-6"}},"d":{deep}}}"#),
            "id=x-6",
            "32 levels",
        ),
        // The 2026-12-01 bug hunt: secondary index keys were not checked, so such
        // items failed in phase 6 after the others were written.
        (
            "index-key-type",
            r#"{"id":{"S":"x-7"},"affiliateId":{"N":"5"}}"#.into(),
            "id=x-7",
            "attribute `affiliateId` is N, but the target's index `contactsByAffiliateId` keys it as S",
        ),
        (
            "index-key-empty",
            r#"{"id":{"S":"x-8"},"affiliateId":{"S":""}}"#.into(),
            "id=x-8",
            "attribute `affiliateId` is empty",
        ),
        (
            "duplicate-key",
            first_fixture_contact(),
            "id=",
            "appears earlier in the snapshot",
        ),
    ];
    for (name, line, key, reason) in &cases {
        let file = pack(&world, name, std::slice::from_ref(line));
        let out = world.rtsnap(&[
            "import",
            &file,
            "--target",
            "staging",
            "--create-missing",
            "--yes",
            "--quiet",
        ]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{name}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
        assert!(
            !err.contains('\u{1b}'),
            "{name}: no terminal escape reaches stderr"
        );
        for part in [
            "tables/Contact/items-000001.jsonl line 4",
            "Contact item",
            key,
            reason,
        ] {
            assert!(err.contains(part), "{name}: `{part}` in {err}");
        }
        assert!(
            !world.table_exists(&world.table("staging", "Contact")).await,
            "{name}: no table"
        );
        assert!(
            world.snapshots().is_empty(),
            "{name}: no backup: {:?}",
            world.snapshots()
        );
    }

    // Into an existing table (the target index path): the key given twice is refused
    // and the table keeps exactly what it had.
    let good = pack(&world, "good", &[]);
    let out = world.rtsnap(&[
        "import",
        &good,
        "--target",
        "staging",
        "--create-missing",
        "--yes",
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = world.snapshots();
    let twice = pack(&world, "twice", &[first_fixture_contact()]);
    let out = world.rtsnap(&["import", &twice, "--target", "staging", "--yes", "--quiet"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("appears earlier in the snapshot"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        world
            .scan_all(&world.table("staging", "Contact"))
            .await
            .len(),
        3
    );
    assert_eq!(world.snapshots(), before, "no new backup");
}

/// The 2026-12-01 bug hunt: a target table with an index the snapshot's table lacks
/// (a newer stack indexing a field that old data holds as a number): DynamoDB refused
/// those items in phase 6, after the backup and after the other items were written.
/// The plan checks index keys against the target's own indexes, so it refuses first.
#[tokio::test]
async fn an_index_only_the_target_has_is_checked_in_the_plan() {
    let world = World::new(
        Server::Dynalite,
        "validate_gsi",
        &[("staging", false), ("production", false)],
    );
    let source = world.create_table("staging", "Note", None, None).await;
    let mut items: Vec<_> = (0..30)
        .map(|i| common::world::simple_item(&format!("n-{i:02}"), i))
        .collect();
    use aws_sdk_dynamodb::types::AttributeValue;
    for item in items.iter_mut().take(20) {
        item.insert("tier".into(), AttributeValue::S("gold".into()));
    }
    items[25].insert("tier".into(), AttributeValue::N("3".into()));
    world.put_items(&source, items).await;
    let target = world
        .create_table("production", "Note", None, Some("tier"))
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "notes.rtsnap"]);

    let out = world.rtsnap(&["import", "notes.rtsnap", "--target", "production", "--yes"]);
    let err = stderr(&out);
    // The snapshot is sound; the target does not match it (exit 4, not 3).
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("the target table would refuse it"), "{err}");
    assert!(
        err.contains("Note item id=n-25: attribute `tier` is N, but the target's index `by_tier` keys it as S"),
        "{err}"
    );
    assert!(err.contains("line "), "names the line: {err}");
    assert!(world.scan_all(&target).await.is_empty(), "nothing written");
    assert!(
        world.snapshots().iter().all(|s| !s.contains("pre-import")),
        "no backup"
    );
}

/// The 2026-12-01 bug hunt: a hand-edited schema CreateTable refuses (an index named
/// `b`) passed phases 1 to 5, and phase 6 failed after creating the tables before it.
/// Phase 2 now checks what `--create-missing` would create.
#[tokio::test]
async fn a_schema_create_table_would_refuse_stops_the_import_before_anything_is_created() {
    let world = World::new(Server::Dynalite, "validate_schema", &[("staging", false)]);
    let dir = world.dir.path().join("badschema.d");
    mini_snapshot(&dir, &[]);
    let schema_path = dir.join("tables/Contact/schema.json");
    let schema = std::fs::read_to_string(&schema_path).unwrap();
    std::fs::write(&schema_path, schema.replace("contactsByAffiliateId", "b")).unwrap();
    let out = world.rtsnap(&["pack", &dir.to_string_lossy(), "-o", "badschema.rtsnap"]);
    assert!(out.status.success(), "pack: {}", stderr(&out));
    let out = world.rtsnap(&[
        "import",
        "badschema.rtsnap",
        "--target",
        "staging",
        "--create-missing",
        "--yes",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("cannot create Contact-"), "{err}");
    assert!(err.contains("index `b` has a bad name"), "{err}");
    assert!(
        !world.table_exists(&world.table("staging", "Contact")).await,
        "no table"
    );
    assert!(
        world.snapshots().is_empty(),
        "no backup: {:?}",
        world.snapshots()
    );
}
