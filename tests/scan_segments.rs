//! Issue #11 §4: how many parallel segments a whole-table read uses, seen in the Scan
//! requests moto received. DescribeTable's ItemCount and TableSizeBytes lag by hours
//! on AWS (moto always reports a size of 0, dynalite a count of 0 too), so a table
//! whose description says "one page" but whose first page says "more follow" must
//! still be read in parallel segments, and every item exactly once. And `--only` finds
//! its tables by describing them, without listing the account's tables.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::recorder::{MotoRecording, RecordedRequest};
use common::world::{simple_item, SdkItem, World};
use common::Server;

/// An item of ~12 KB: 120 of them pass a Scan page's 1 MB.
fn wide_item(i: u32) -> SdkItem {
    HashMap::from([
        ("id".into(), V::S(format!("w-{i:04}"))),
        ("body".into(), V::S(format!("{i:04}").repeat(3_000))),
    ])
}

/// The (Segment, TotalSegments) of every Scan of `table`, in the order sent.
fn scans_of(sent: &[RecordedRequest], table: &str) -> Vec<(Option<u64>, Option<u64>)> {
    sent.iter()
        .filter(|r| r.target.ends_with(".Scan"))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|body| body["TableName"] == table)
        .map(|body| (body["Segment"].as_u64(), body["TotalSegments"].as_u64()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_11_a_table_larger_than_its_description_is_read_in_segments() {
    let world = World::new(
        Server::Moto,
        "scansegments",
        &[("staging", false), ("production", false)],
    );
    let wide = world.create_table("staging", "Wide", None, None).await;
    world
        .put_items(&wide, (0..120).map(wide_item).collect())
        .await;
    let tiny = world.create_table("staging", "Tiny", None, None).await;
    let tiny_items = (0..5).map(|i| simple_item(&format!("t-{i}"), i)).collect();
    world.put_items(&tiny, tiny_items).await;
    let empty = world.create_table("staging", "Empty", None, None).await;

    // moto records every test's requests while the recording is open: this export
    // signs with a key of its own, and only its requests are looked at.
    let own_key = "AKIDSCANSEGMENTS";
    let recording = MotoRecording::start(&world.endpoint);
    let out = world
        .command(&[
            "export",
            "staging",
            "--only",
            "Wide,Tiny,Empty",
            "-o",
            "s.rtsnap",
            "--json",
        ])
        .env("AWS_ACCESS_KEY_ID", own_key)
        .output()
        .expect("run rtsnap");
    let sent: Vec<RecordedRequest> = recording
        .finish()
        .into_iter()
        .filter(|r| r.access_key == own_key)
        .collect();
    assert!(out.status.success(), "{}", common::world::stderr(&out));
    let export: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(!sent.is_empty(), "the export's requests were recorded");
    assert_eq!(export["tables"]["Wide"], 120, "{export}");
    assert_eq!(export["tables"]["Tiny"], 5, "{export}");

    // Wide: moto describes 120 items and 0 bytes (one segment's worth), the first page
    // says more follow, so four segments read it after that probe.
    let scans = scans_of(&sent, &wide);
    assert_eq!(scans.first(), Some(&(None, None)), "the probe: {scans:?}");
    for segment in 0..4 {
        assert!(
            scans.contains(&(Some(segment), Some(4))),
            "segment {segment} of 4: {scans:?}"
        );
    }
    assert_eq!(
        scans.iter().filter(|s| s.0.is_none()).count(),
        1,
        "one probe page only: {scans:?}"
    );
    // Tiny: the probe's page ends the table, so it is the whole read.
    assert_eq!(scans_of(&sent, &tiny), [(None, None)]);
    // Empty: described as 0 items and 0 bytes, which says nothing (dynalite describes
    // every table so, AWS a table loaded in the last hours): segments at once, no probe.
    let mut scans = scans_of(&sent, &empty);
    scans.sort();
    assert_eq!(
        scans,
        (0..4).map(|s| (Some(s), Some(4))).collect::<Vec<_>>(),
        "four segments, no probe"
    );
    // --only describes the named tables instead of listing every table.
    assert!(
        !sent.iter().any(|r| r.target.ends_with(".ListTables")),
        "no ListTables with --only"
    );

    // Every item exactly once: the import creates the tables, writes every item and
    // verifies their content against the snapshot's digests.
    let import = world.rtsnap_json(&[
        "import",
        "s.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(import["written"], 125, "{import}");
    assert_eq!(import["verification"]["Wide"], "match", "{import}");
    let mut got = world.scan_all(&world.table("production", "Wide")).await;
    common::world::sort_items(&mut got);
    let mut want = world.scan_all(&wide).await;
    common::world::sort_items(&mut want);
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread")]
async fn only_still_refuses_an_environment_without_its_required_models() {
    let world = World::new(Server::Moto, "onlyrequired", &[("staging", false)]);
    world.create_table("staging", "Tiny", None, None).await;
    world.set_env_value("staging", "required_models", r#"["Tiny", "Ghost"]"#);
    let out = world.rtsnap(&[
        "--quiet", "export", "staging", "--only", "Tiny", "-o", "s.rtsnap",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        common::world::stderr(&out)
    );
    let stderr = common::world::stderr(&out);
    assert!(stderr.contains("lacks required models: Ghost"), "{stderr}");
    assert!(!world.dir.path().join("s.rtsnap").exists());
}
