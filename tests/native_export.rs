//! `export --native-via s3://…` (issue #11 §5, design §6), against moto, which
//! implements ExportTableToPointInTime (data files only; see
//! `src/aws/dynamodb/native.rs` for where it differs from AWS):
//! - a native export of two tables holds, item for item, what a scan export holds
//!   (the same entries, counts and content digests), and `verify --against` says match;
//! - every ExportTableToPointInTime request carried the same ExportTime (moto's own
//!   request recorder), which the JSON report shows;
//! - `native_min_items` in rtsnap.toml sends only the large table the native way;
//! - staging objects are removed, or kept with `--keep-staging`;
//! - point-in-time recovery off, or an unreachable bucket: one stderr line naming the
//!   table (with the command that enables PITR) or the bucket, exit 1, no archive, and
//!   for the bucket no export started.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_dynamodb::types::{AttributeValue as V, PointInTimeRecoverySpecification};
use common::recorder::MotoRecording;
use common::world::{simple_item, stderr, versioned_items, World};
use common::Server;

/// Items with most DynamoDB types and ~400 bytes of padding: 3,000 of them fill
/// more than one 1 MiB page of the native reader.
fn item(i: u32) -> common::world::SdkItem {
    let mut item = simple_item(&format!("c-{i:05}"), i64::from(i));
    item.insert("pad".into(), V::S(format!("{i:05}-").repeat(70)));
    item.insert("raw".into(), V::B(vec![0u8, 1, (i % 256) as u8].into()));
    item.insert(
        "nested".into(),
        V::M([("tags".to_string(), V::Ss(vec!["a".into(), format!("t{i}")]))].into()),
    );
    item.insert("price".into(), V::N(format!("{i}.25")));
    item
}

async fn enable_pitr(world: &World, table: &str) {
    common::dynamodb(&world.endpoint)
        .await
        .update_continuous_backups()
        .table_name(table)
        .point_in_time_recovery_specification(
            PointInTimeRecoverySpecification::builder()
                .point_in_time_recovery_enabled(true)
                .build()
                .expect("pitr spec"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("enable PITR on {table}: {e:?}"));
}

/// An unpacked snapshot: each table's sorted item lines, and MANIFEST's per-table
/// counts and digests.
fn unpacked(world: &World, file: &str) -> (BTreeMap<String, Vec<String>>, serde_json::Value) {
    let dir = format!("{file}.d");
    let out = world.rtsnap(&["unpack", file, &dir]);
    assert!(out.status.success(), "unpack {file}: {}", stderr(&out));
    let root = world.dir.path().join(&dir);
    let mut tables = BTreeMap::new();
    for entry in std::fs::read_dir(root.join("tables")).expect("tables/") {
        let entry = entry.expect("entry");
        let model = entry.file_name().to_string_lossy().into_owned();
        let mut lines = Vec::new();
        let mut chunks: Vec<_> = std::fs::read_dir(entry.path())
            .expect("model dir")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.to_string_lossy().ends_with(".jsonl"))
            .collect();
        chunks.sort();
        for chunk in chunks {
            let text = std::fs::read_to_string(&chunk).expect("chunk");
            lines.extend(text.lines().map(str::to_owned));
        }
        lines.sort();
        tables.insert(model, lines);
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("MANIFEST.json")).expect("MANIFEST"))
            .expect("MANIFEST json");
    (tables, manifest["tables"].clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn native_export_equals_a_scan_export_at_one_export_time() {
    let world = World::new(Server::Moto, "native_equal", &[("staging", false)]);
    let contact = world.create_table("staging", "Contact", None, None).await;
    let note = world
        .create_table("staging", "Note", Some("version"), None)
        .await;
    world
        .put_items(&contact, (0..3_000).map(item).collect())
        .await;
    world.put_items(&note, versioned_items(7)).await;
    enable_pitr(&world, &contact).await;
    enable_pitr(&world, &note).await;
    let bucket = world.staging_bucket("staging").await;
    let via = format!("s3://{bucket}/exports/run");

    let scan = world.rtsnap_json(&["export", "staging", "-o", "scan.rtsnap"]);
    assert!(
        scan.get("native").is_none(),
        "a scan export has no native report"
    );

    let recording = MotoRecording::start(&world.endpoint);
    let native = world.rtsnap_json(&[
        "export",
        "staging",
        "-o",
        "native.rtsnap",
        "--native-via",
        &via,
    ]);
    let requests = recording.finish();

    assert_eq!(native["tables"], scan["tables"]);
    assert_eq!(native["tables"]["Contact"], 3_000);
    let report = &native["native"];
    assert_eq!(report["bucket"], bucket.as_str());
    assert_eq!(report["tables"]["Contact"]["items"], 3_000);
    assert_eq!(report["tables"]["Note"]["items"], 7);
    assert_eq!(report["staging_kept"], false);
    // One export time, in every request DynamoDB received.
    let times: Vec<serde_json::Value> = requests
        .iter()
        .filter(|r| r.target.ends_with("ExportTableToPointInTime"))
        .filter_map(|r| serde_json::from_str::<serde_json::Value>(&r.body).ok())
        .filter(|b| {
            b["TableArn"]
                .as_str()
                .is_some_and(|arn| arn.contains(world.suffix("staging")))
        })
        .map(|b| b["ExportTime"].clone())
        .collect();
    assert_eq!(times.len(), 2, "one export per table: {times:?}");
    assert_eq!(times[0], times[1], "a common export time");
    let secs = times[0].as_f64().expect("ExportTime in epoch seconds") as i64;
    let reported = time::OffsetDateTime::parse(
        report["export_time"].as_str().expect("export_time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    assert_eq!(reported.unix_timestamp(), secs);
    // Staging removed after the archive was committed.
    assert!(world.keys_under(&bucket, "exports/").await.is_empty());

    // Item for item, digest for digest, the same tables.
    let (scan_items, scan_manifest) = unpacked(&world, "scan.rtsnap");
    let (native_items, native_manifest) = unpacked(&world, "native.rtsnap");
    assert_eq!(native_items, scan_items);
    assert_eq!(native_manifest, scan_manifest);
    let same = world.rtsnap_json(&["verify", "native.rtsnap", "--against", "staging"]);
    assert_eq!(same["equal"], true, "{same}");

    // rtsnap.toml: only tables of at least native_min_items go native; --keep-staging.
    world.set_env_value("staging", "native_via", &format!("\"{via}\""));
    world.set_env_value("staging", "native_min_items", "100");
    let kept = world.rtsnap_json(&["export", "staging", "-o", "kept.rtsnap", "--keep-staging"]);
    let report = &kept["native"];
    let models: Vec<&String> = report["tables"]
        .as_object()
        .expect("tables")
        .keys()
        .collect();
    assert_eq!(models, ["Contact"], "Note (7 items) is scanned");
    assert_eq!(report["staging_kept"], true);
    let prefix = report["staging_prefix"].as_str().expect("staging_prefix");
    assert!(
        prefix.starts_with("exports/run/rtsnap-staging-"),
        "{prefix}"
    );
    let staged = world.keys_under(&bucket, prefix).await;
    assert!(
        staged
            .iter()
            .any(|k| k.contains("/AWSDynamoDB/") && k.contains("/data/")),
        "{staged:?}"
    );
    assert_eq!(kept["tables"], scan["tables"]);
    // --no-native overrides the file.
    let plain = world.rtsnap_json(&["export", "staging", "-o", "plain.rtsnap", "--no-native"]);
    assert!(plain.get("native").is_none());
}

/// Runs `rtsnap <args> --quiet`, expects exit `code` and exactly one stderr line
/// (`rtsnap: error: …`); returns it.
fn fails(world: &World, args: &[&str], code: i32) -> String {
    let mut all = args.to_vec();
    all.push("--quiet");
    let out = world.rtsnap(&all);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one stderr line: {err:?}");
    assert!(lines[0].starts_with("rtsnap: error: "), "{err}");
    lines[0].to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn pitr_off_or_an_unreachable_bucket_is_one_line_and_no_archive() {
    let world = World::new(Server::Moto, "native_refuse", &[("staging", false)]);
    let contact = world.create_table("staging", "Contact", None, None).await;
    let note = world.create_table("staging", "Note", None, None).await;
    world
        .put_items(
            &contact,
            (0..5).map(|i| simple_item(&format!("c-{i}"), i)).collect(),
        )
        .await;
    enable_pitr(&world, &contact).await;
    let bucket = world.staging_bucket("staging").await;

    // Note has point-in-time recovery off.
    let via = format!("s3://{bucket}/x");
    let err = fails(
        &world,
        &["export", "staging", "-o", "a.rtsnap", "--native-via", &via],
        1,
    );
    assert!(err.contains(&note), "{err}");
    assert!(
        err.contains(&format!("aws dynamodb update-continuous-backups --table-name {note} --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true")),
        "{err}"
    );
    assert!(!world.dir.path().join("a.rtsnap").exists());
    assert!(
        world.keys_under(&bucket, "x/").await.is_empty(),
        "no export started"
    );

    // A bucket that does not exist, checked before any export starts.
    enable_pitr(&world, &note).await;
    let missing = format!("{}-nope", common::bucket_name(world.suffix("staging")));
    let recording = MotoRecording::start(&world.endpoint);
    let missing_via = format!("s3://{missing}/x");
    let args = [
        "export",
        "staging",
        "-o",
        "b.rtsnap",
        "--native-via",
        &missing_via,
    ];
    let err = fails(&world, &args, 1);
    let requests = recording.finish();
    assert!(
        err.contains(&format!("bucket `{missing}` is unreachable")),
        "{err}"
    );
    assert!(!world.dir.path().join("b.rtsnap").exists());
    assert!(
        !requests
            .iter()
            .any(|r| r.target.ends_with("ExportTableToPointInTime")
                && r.body.contains(world.suffix("staging"))),
        "an export was started before the bucket was checked"
    );

    // Not an s3:// URL: a usage error.
    let err = fails(
        &world,
        &["export", "staging", "-o", "c.rtsnap", "--native-via", "x/y"],
        2,
    );
    assert!(err.contains("s3://"), "{err}");
    assert!(!Path::new(&world.dir.path().join("c.rtsnap")).exists());
}
