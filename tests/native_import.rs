//! `import --create-missing --native-via s3://…` (issue #11 §5), against moto, which
//! implements ImportTable from gzip'd DYNAMODB_JSON (see
//! `src/aws/dynamodb/import_table.rs` for where it differs from AWS):
//! - into a fresh target, the new table above the threshold is created and loaded by
//!   ImportTable (moto's recorder: an ImportTable request for it and no BatchWriteItem),
//!   the small one by batch writes; both equal the source item for item (an
//!   independent scan), phase 7 and `verify --against` say match, the staging objects
//!   are removed (kept with `--keep-staging`), and rollback empties both tables;
//! - the plan (`--dry-run --json`) says each table's path and why;
//! - killed once ImportTable has answered (the table is being created and loaded inside
//!   the service, its staging objects still in the bucket), a plain re-run resumes the
//!   migration: it keeps the first backup, finds the table ImportTable made and
//!   completes it by the ordinary diff (no second ImportTable), removes what the killed
//!   attempt staged, verifies match; rollback empties both tables;
//! - an unreachable staging bucket is refused in the plan, exit 4, before the backup
//!   and any write; `--native-via` without `--create-missing` is a usage error;
//!   `--no-native` keeps batch writes although rtsnap.toml sets `native_via`.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::faults::FaultProxy;
use common::recorder::MotoRecording;
use common::world::{simple_item, stderr, versioned_items, SdkItem, World};
use common::Server;

/// Every DynamoDB type, nested maps and lists, binary (with zero bytes), all three
/// set kinds, numbers of several shapes, and ~300 bytes of padding.
fn rich_item(i: u32) -> SdkItem {
    let mut item = simple_item(&format!("c-{i:05}"), i64::from(i));
    item.insert("email".into(), V::S(format!("u{}@x.test", i % 50)));
    item.insert("pad".into(), V::S(format!("{i:05}-").repeat(50)));
    item.insert(
        "raw".into(),
        V::B(vec![0u8, 1, (i % 256) as u8, 255].into()),
    );
    item.insert("price".into(), V::N(format!("{i}.25")));
    item.insert("neg".into(), V::N(format!("-{}e-3", i + 1)));
    item.insert("flag".into(), V::Bool(i.is_multiple_of(2)));
    item.insert("none".into(), V::Null(true));
    item.insert(
        "nested".into(),
        V::M(HashMap::from([
            ("tags".to_string(), V::Ss(vec!["a".into(), format!("t{i}")])),
            (
                "ns".to_string(),
                V::Ns(vec!["1".into(), format!("{}", i + 2)]),
            ),
            (
                "bs".to_string(),
                V::Bs(vec![vec![0u8].into(), vec![1u8, (i % 7) as u8 + 2].into()]),
            ),
            (
                "deep".to_string(),
                V::L(vec![
                    V::M(HashMap::from([(
                        "b".to_string(),
                        V::B(vec![9u8, 0].into()),
                    )])),
                    V::L(vec![V::N("0".into()), V::S(String::new()), V::Null(true)]),
                ]),
            ),
        ])),
    );
    item
}

/// A value as text with map keys and set members in a fixed order (maps and sets are
/// unordered), through maps and lists.
fn canonical(value: &V) -> String {
    match value {
        V::Ss(s) => format!("SS{:?}", sorted(s.clone())),
        V::Ns(s) => format!("NS{:?}", sorted(s.clone())),
        V::Bs(s) => format!(
            "BS{:?}",
            sorted(s.iter().map(|b| b.as_ref().to_vec()).collect())
        ),
        V::M(m) => format!("M{}", canonical_map(m)),
        V::L(l) => format!("L{:?}", l.iter().map(canonical).collect::<Vec<_>>()),
        other => format!("{other:?}"),
    }
}

fn canonical_map(map: &HashMap<String, V>) -> String {
    let sorted: std::collections::BTreeMap<&String, String> =
        map.iter().map(|(k, v)| (k, canonical(v))).collect();
    format!("{sorted:?}")
}

/// Each (target, source) pair of tables holds the same items, read by an independent
/// client.
async fn assert_same_items(world: &World, pairs: &[(&String, &String)]) {
    for (target, source) in pairs {
        assert_eq!(
            contents(world, target).await,
            contents(world, source).await,
            "{target} against {source}"
        );
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

/// A table's items, canonical, sorted.
async fn contents(world: &World, table: &str) -> Vec<String> {
    let mut items: Vec<String> = world
        .scan_all(table)
        .await
        .iter()
        .map(canonical_map)
        .collect();
    items.sort();
    items
}

/// The source (`staging`): Contact (2,000 rich items, a GSI) and Note (7 items, a
/// range key); its snapshot is `snap.rtsnap`.
async fn source(world: &World) -> (String, String) {
    let contact = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    let note = world
        .create_table("staging", "Note", Some("version"), None)
        .await;
    world
        .put_items(&contact, (0..2_000).map(rich_item).collect())
        .await;
    world.put_items(&note, versioned_items(7)).await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    (contact, note)
}

/// Requests in `requests` of operation `op` whose body names `table`.
fn count(requests: &[common::recorder::RecordedRequest], op: &str, table: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.target.ends_with(op) && r.body.contains(table))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn import_table_loads_the_big_new_table_and_batch_writes_the_small_one() {
    let world = World::new(
        Server::Moto,
        "native_import",
        &[("staging", false), ("fresh", false), ("kept", false)],
    );
    let (contact, note) = source(&world).await;
    let bucket = world.staging_bucket("fresh").await;
    let via = format!("s3://{bucket}/imports");
    let import = |target: &'static str| {
        [
            "import",
            "snap.rtsnap",
            "--target",
            target,
            "--create-missing",
            "--yes",
        ]
    };

    // The plan: each table's path and why.
    let mut args = import("fresh").to_vec();
    args.extend([
        "--native-via",
        &via,
        "--native-min-items",
        "100",
        "--dry-run",
    ]);
    let plan = world.rtsnap_json(&args);
    assert_eq!(plan["tables"]["Contact"]["path"], "import-table", "{plan}");
    assert_eq!(plan["tables"]["Note"]["path"], "batch-write");
    let why = plan["tables"]["Note"]["path_why"].as_str().unwrap_or("");
    assert!(why.contains("7 items, under native_min_items 100"), "{why}");
    assert!(!world.table_exists(&world.table("fresh", "Contact")).await);

    let recording = MotoRecording::start(&world.endpoint);
    let args: Vec<&str> = import("fresh")
        .into_iter()
        .chain(["--native-via", &via, "--native-min-items", "100"])
        .collect();
    let out = world.rtsnap(&[args.as_slice(), &["--json"]].concat());
    let requests = recording.finish();
    assert!(out.status.success(), "import: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");

    let (fresh_contact, fresh_note) = (
        world.table("fresh", "Contact"),
        world.table("fresh", "Note"),
    );
    assert_eq!(count(&requests, "ImportTable", &fresh_contact), 1);
    assert_eq!(count(&requests, "BatchWriteItem", &fresh_contact), 0);
    assert_eq!(count(&requests, "ImportTable", &fresh_note), 0);
    assert!(count(&requests, "BatchWriteItem", &fresh_note) > 0);
    let native = &report["native"];
    assert_eq!(native["tables"]["Contact"]["items"], 2_000, "{report}");
    assert_eq!(native["tables"].as_object().map(|t| t.len()), Some(1));
    assert_eq!(native["staging_kept"], false);
    assert_eq!(report["written"], 2_007);
    assert_eq!(report["verification"]["Contact"], "match", "{report}");
    assert_eq!(report["verification"]["Note"], "match");
    assert_eq!(
        report["created_tables"],
        serde_json::json!([fresh_contact, fresh_note])
    );
    assert!(world.keys_under(&bucket, "imports/").await.is_empty());

    // Item for item, from an independent scan; the GSI was created by the import.
    assert_same_items(&world, &[(&fresh_contact, &contact), (&fresh_note, &note)]).await;
    let described = common::dynamodb(&world.endpoint)
        .await
        .describe_table()
        .table_name(&fresh_contact)
        .send()
        .await
        .expect("describe");
    let gsis: Vec<&str> = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.index_name())
        .collect();
    assert_eq!(gsis, ["by_email"]);
    let same = world.rtsnap_json(&["verify", "snap.rtsnap", "--against", "fresh"]);
    assert_eq!(same["equal"], true, "{same}");

    // The backup recorded both tables as empty: rollback empties them.
    world.rtsnap_json(&["rollback", "fresh", "--yes"]);
    assert!(world.scan_all(&fresh_contact).await.is_empty());
    assert!(world.scan_all(&fresh_note).await.is_empty());

    // rtsnap.toml's native_via and native_min_items; --keep-staging keeps the objects.
    world.set_env_value("kept", "native_via", &format!("\"{via}/kept\""));
    world.set_env_value("kept", "native_min_items", "5");
    let mut args = import("kept").to_vec();
    args.extend(["--only", "Note", "--keep-staging"]);
    let kept = world.rtsnap_json(&args);
    let native = &kept["native"];
    assert_eq!(native["staging_kept"], true, "{kept}");
    let prefix = native["staging_prefix"].as_str().expect("staging_prefix");
    assert!(
        prefix.starts_with("imports/kept/rtsnap-import-kept-"),
        "{prefix}"
    );
    let staged = world.keys_under(&bucket, prefix).await;
    assert_eq!(staged, [format!("{prefix}Note/part-000001.json.gz")]);
    assert_eq!(native["tables"]["Note"]["items"], 7);
    assert_eq!(kept["verification"]["Note"], "match");
    assert_eq!(
        contents(&world, &world.table("kept", "Note")).await,
        contents(&world, &note).await
    );
}

/// Waits until `what` holds, for at most 120 s.
async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "not within 120 s: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Issue #11 §5: `kill -9` in the moment after ImportTable answered. The killed run
/// goes through the fault proxy of `tests/common/faults.rs` (0 % faults) on every
/// service of the target; it holds the first DescribeImport, so the ImportTable call
/// reached moto and was answered, and nothing after it did. moto then creates and
/// loads the table by itself (AWS would too: no API cancels an import).
#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_after_import_table_answered_resumes_to_match_and_rolls_back() {
    use std::os::unix::process::ExitStatusExt;
    let world = World::new(
        Server::Moto,
        "native_import_kill",
        &[("staging", false), ("fresh", false)],
    );
    let (contact, note) = source(&world).await;
    let bucket = world.staging_bucket("fresh").await;
    let via = format!("s3://{bucket}/imports");
    let args = [
        "import",
        "snap.rtsnap",
        "--target",
        "fresh",
        "--create-missing",
        "--yes",
        "--native-via",
        &via,
        "--native-min-items",
        "100",
        "--json",
    ];
    let (fresh_contact, fresh_note) = (
        world.table("fresh", "Contact"),
        world.table("fresh", "Note"),
    );

    let proxy = FaultProxy::start(&world.endpoint, 0, 11);
    proxy.hold_after("DescribeImport", 0);
    let log = world.dir.path().join("killed.log");
    let mut child = world
        .command(&args)
        .env("RTSNAP_FRESH_ENDPOINT_URL", &proxy.endpoint)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn rtsnap import");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !(proxy.holding() && proxy.settled()) {
        let said = || std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the import ended ({status}) before DescribeImport:\n{}",
                said()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no DescribeImport within 120 s; forwarded: {:?}\n{}",
            proxy.operations(),
            said()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ops = proxy.operations();
    assert_eq!(proxy.forwarded("ImportTable"), 1, "{ops:?}");
    assert_eq!(proxy.forwarded("BatchWriteItem"), 0, "{ops:?}");
    child.kill().expect("SIGKILL the import");
    let status = child.wait().expect("wait for the killed import");
    assert_eq!(status.signal(), Some(9), "killed, not ended: {status}");
    proxy.release();

    // The service finishes the import on its own; the staging objects stay behind.
    wait_until("moto loads the 2,000 items", || async {
        world.table_exists(&fresh_contact).await
            && world.scan_all(&fresh_contact).await.len() == 2_000
    })
    .await;
    let staged = world.keys_under(&bucket, "imports/").await;
    assert!(
        !staged.is_empty() && staged.iter().all(|k| k.contains("/Contact/part-")),
        "{staged:?}"
    );
    assert!(!world.table_exists(&fresh_note).await);

    // The same command again, directly.
    let out = world.rtsnap(&args);
    let said = stderr(&out);
    assert!(out.status.success(), "the re-run failed:\n{said}");
    let rerun: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(rerun["resumed_from"].is_string(), "{rerun}");
    assert!(
        said.contains("staging objects of an interrupted attempt"),
        "{said}"
    );
    assert!(rerun["native"].is_null(), "no second ImportTable: {rerun}");
    assert_eq!(rerun["tables"]["Contact"]["path"], "batch-write", "{rerun}");
    assert_eq!(rerun["tables"]["Contact"]["unchanged"], 2_000, "{rerun}");
    assert_eq!(rerun["written"], 7, "only Note's items: {rerun}");
    assert_eq!(rerun["verification"]["Contact"], "match", "{rerun}");
    assert_eq!(rerun["verification"]["Note"], "match", "{rerun}");
    assert!(world.keys_under(&bucket, "imports/").await.is_empty());
    assert_same_items(&world, &[(&fresh_contact, &contact), (&fresh_note, &note)]).await;

    // The backup was taken before the killed attempt wrote anything: both tables empty.
    world.rtsnap_json(&["rollback", "fresh", "--yes"]);
    assert!(world.scan_all(&fresh_contact).await.is_empty());
    assert!(world.scan_all(&fresh_note).await.is_empty());
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
async fn an_unreachable_bucket_is_refused_before_any_write_and_no_native_batch_writes() {
    let world = World::new(
        Server::Moto,
        "native_import_refuse",
        &[("staging", false), ("fresh", false)],
    );
    let contact = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &contact,
            (0..40).map(|i| simple_item(&format!("c-{i}"), i)).collect(),
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let missing = format!("{}-nope", common::bucket_name(world.suffix("fresh")));
    let via = format!("s3://{missing}/x");
    let base = ["import", "snap.rtsnap", "--target", "fresh", "--yes"];

    let mut args = base.to_vec();
    args.extend(["--create-missing", "--native-via", &via]);
    let err = fails(&world, &args, 4);
    assert!(
        err.contains(&format!("bucket `{missing}` is unreachable")),
        "{err}"
    );
    assert!(err.contains("--no-native"), "{err}");
    assert!(
        world.snapshots().is_empty(),
        "no backup: {:?}",
        world.snapshots()
    );
    assert!(!world.table_exists(&world.table("fresh", "Contact")).await);

    // ImportTable only creates tables.
    let mut args = base.to_vec();
    args.extend(["--native-via", &via]);
    let err = fails(&world, &args, 2);
    assert!(err.contains("--native-via needs --create-missing"), "{err}");

    // --no-native: batch writes although rtsnap.toml names the (missing) bucket.
    world.set_env_value("fresh", "native_via", &format!("\"{via}\""));
    let mut args = base.to_vec();
    args.extend(["--create-missing", "--no-native"]);
    let report = world.rtsnap_json(&args);
    assert!(report["native"].is_null(), "{report}");
    assert_eq!(report["tables"]["Contact"]["path"], "batch-write");
    assert_eq!(report["verification"]["Contact"], "match");
}
