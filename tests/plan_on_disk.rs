//! Issue #11 ("peak RSS … documented, with a measured point at 1 M items, why it stays
//! flat"): past `RTSNAP_PLAN_MEMORY_ITEMS` records per table (256 Ki by default) the
//! plan sorts the target's index and the snapshot's new keys on disk instead of holding
//! them in memory. Lowered to 16 here, a table of a few hundred items takes that path:
//! the plan, the writes, the deletes and phase 7's verdict are those of the in-memory
//! path, and a temporary directory that cannot be written stops the import before its
//! backup with the OS's reason, writing nothing.

mod common;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::world::{simple_item, sort_items, stderr, SdkItem, World};
use common::Server;

/// Records per table the plan keeps in memory in these tests (the target holds 290).
const LOW_LIMIT: &str = "16";

/// A world (dynalite) with a snapshot of 300 contacts and a target holding 200 of them
/// unchanged, 50 in another version and 40 the snapshot lacks (50 are missing): the
/// world, the source table and the target table.
async fn snapshot_and_target(test: &str) -> (World, String, String) {
    let world = World::new(
        Server::Dynalite,
        test,
        &[("staging", false), ("production", false)],
    );
    let source = world.create_table("staging", "Contact", None, None).await;
    let contacts: Vec<SdkItem> = (0..300)
        .map(|i| simple_item(&format!("c-{i:04}"), i))
        .collect();
    world.put_items(&source, contacts.clone()).await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let target = world
        .create_table("production", "Contact", None, None)
        .await;
    let mut seeded: Vec<SdkItem> = contacts[..200].to_vec();
    for contact in &contacts[200..250] {
        let mut changed = contact.clone();
        changed.insert("name".into(), V::S("edited in production".into()));
        seeded.push(changed);
    }
    seeded.extend((0..40).map(|i| simple_item(&format!("extra-{i:02}"), i)));
    world.put_items(&target, seeded).await;
    (world, source, target)
}

fn import_json(world: &World, limit: Option<&str>, extra: &[&str]) -> serde_json::Value {
    let args = [
        &[
            "import",
            "snap.rtsnap",
            "--target",
            "production",
            "--yes",
            "--json",
        ][..],
        extra,
    ]
    .concat();
    let mut command = world.command(&args);
    if let Some(limit) = limit {
        command.env("RTSNAP_PLAN_MEMORY_ITEMS", limit);
    }
    let out = command.output().expect("run rtsnap");
    assert!(out.status.success(), "import {extra:?}: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_plan_sorted_on_disk_writes_and_deletes_what_one_in_memory_does() {
    let (world, source, target) = snapshot_and_target("plandisk").await;

    let in_memory = import_json(&world, None, &["--dry-run"]);
    let on_disk = import_json(&world, Some(LOW_LIMIT), &["--dry-run"]);
    let plan = &on_disk["tables"]["Contact"];
    assert_eq!(plan["put"], 50, "{plan}");
    assert_eq!(plan["update"], 50, "{plan}");
    assert_eq!(plan["unchanged"], 200, "{plan}");
    assert_eq!(plan["delete"], 40, "{plan}");
    assert_eq!(
        on_disk["tables"], in_memory["tables"],
        "the same plan either way"
    );

    let done = import_json(&world, Some(LOW_LIMIT), &[]);
    assert_eq!(done["written"], 100, "{done}");
    assert_eq!(done["deleted"], 40, "{done}");
    assert_eq!(done["verification"]["Contact"], "match", "{done}");
    let (mut got, mut want) = (world.scan_all(&target).await, world.scan_all(&source).await);
    sort_items(&mut got);
    sort_items(&mut want);
    assert_eq!(got, want, "the target equals the snapshot, item for item");

    // Re-import, unchanged: nothing to write, and phase 7 judges on the plan's scan.
    let again = import_json(&world, Some(LOW_LIMIT), &[]);
    assert_eq!(again["tables"]["Contact"]["unchanged"], 300, "{again}");
    assert_eq!(again["written"], 0, "{again}");
    assert_eq!(again["verification"]["Contact"], "match", "{again}");
}

/// The disk path needs a writable temporary directory; without one the import stops in
/// its plan (before the backup, before any write) with one line naming the table and the
/// OS's reason.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_an_unwritable_temporary_directory_stops_the_plan_before_any_write() {
    let (world, _, target) = snapshot_and_target("plantmp").await;
    let before = {
        let mut items = world.scan_all(&target).await;
        sort_items(&mut items);
        items
    };
    let missing = tempfile::tempdir().expect("tempdir");
    let tmpdir = missing.path().join("not-there");
    let out = world
        .command(&[
            "import",
            "snap.rtsnap",
            "--target",
            "production",
            "--yes",
            "--quiet",
        ])
        .env("RTSNAP_PLAN_MEMORY_ITEMS", LOW_LIMIT)
        .env("TMPDIR", &tmpdir)
        .output()
        .expect("run rtsnap");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("temporary file"), "{err}");
    assert!(
        err.contains(&tmpdir.display().to_string()),
        "names the directory: {err}"
    );
    assert!(
        err.contains("No such file or directory"),
        "the OS's reason: {err}"
    );
    assert!(err.contains(&target), "names the table: {err}");
    assert!(
        world.snapshots().is_empty(),
        "no backup: {:?}",
        world.snapshots()
    );
    let mut after = world.scan_all(&target).await;
    sort_items(&mut after);
    assert_eq!(after, before, "the target is untouched");
}
