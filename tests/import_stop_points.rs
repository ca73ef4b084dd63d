//! Ctrl-C (SIGINT) in the middle of the users and of the assets of an import (issue 10):
//! "stop issuing batches, let in-flight ones finish, print written / unwritten counts
//! and the resume and rollback commands, exit non-zero". The tables' case is
//! `import_interrupt::issue_10_ctrl_c_stops_between_batches_and_says_how_to_resume`;
//! Cognito and S3 calls are the users' and assets' batches.
//!
//! How: a moto world whose import creates 30 users and copies 40 objects, more than
//! rtsnap keeps in flight (8 Cognito calls, 16 copies). The import runs through the
//! fault proxy of `tests/common/faults.rs` at 0 % faults; its hold gate forwards two
//! requests of the operation, then holds every later request, so the Ctrl-C lands
//! while a known set of calls is in flight. The test sends SIGINT, opens the gate (the
//! held calls are retried and finish), and checks: exit 1, the count the error line
//! gives is what the target holds, that count is short of the total (no new call was
//! started after the stop), nothing after the stopped section was touched, and the
//! resume and rollback commands are named. Then the same command, run directly,
//! resumes with the first backup and ends equal to the snapshot.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::types::MessageActionType;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use common::faults::FaultProxy;
use common::world::{simple_item, stderr, World};
use common::Server;

const USERS: u64 = 30;
const OBJECTS: u64 = 40;

const IMPORT: [&str; 8] = [
    "import",
    "snap.rtsnap",
    "--target",
    "production",
    "--create-missing",
    "--yes",
    "--no-progress",
    "--json",
];

async fn usernames(world: &World, pool: &str) -> BTreeSet<String> {
    let client = common::cognito(&world.endpoint).await;
    let mut names = BTreeSet::new();
    let mut token = None;
    loop {
        let page = client
            .list_users()
            .user_pool_id(pool)
            .set_pagination_token(token.take())
            .send()
            .await
            .expect("ListUsers");
        names.extend(
            page.users()
                .iter()
                .filter_map(|u| u.username().map(str::to_owned)),
        );
        match page.pagination_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_owned()),
            _ => return names,
        }
    }
}

async fn object_keys(world: &World, bucket: &str) -> BTreeSet<String> {
    let client = common::s3(&world.endpoint).await;
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    assert!(
        !listed.is_truncated().unwrap_or(false),
        "one page is enough"
    );
    listed
        .contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

/// Runs the import through a proxy that holds after `after` requests of `op`, sends
/// SIGINT once it holds, lets the held calls through, and returns (exit code, the
/// `rtsnap: error:` line, all of stderr).
async fn interrupt_at(world: &World, op: &str, after: u64) -> (Option<i32>, String, String) {
    let proxy = FaultProxy::start(&world.endpoint, 0, after);
    proxy.hold_after(op, after);
    let log = world.dir.path().join(format!("stopped-{op}.log"));
    let mut child = world
        .command(&IMPORT)
        .env("RTSNAP_PRODUCTION_ENDPOINT_URL", &proxy.endpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn rtsnap import");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(proxy.holding() && proxy.settled()) {
        let said = || std::fs::read_to_string(&log).unwrap_or_default();
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "{op}: the import ended ({status}) before the hold:\n{}",
                said()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{op}: no hold in 120 s:\n{}",
            said()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    assert!(kill.success());
    // Let the signal land before the held calls can finish.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.release();
    let status = child.wait().expect("wait for the import");
    let said = std::fs::read_to_string(&log).expect("its stderr");
    let line = said
        .lines()
        .find(|l| l.starts_with("rtsnap: error:"))
        .unwrap_or_else(|| panic!("{op}: no error line:\n{said}"))
        .to_owned();
    (status.code(), line, said)
}

/// The number right after `prefix` in `line`.
fn number_after(line: &str, prefix: &str) -> u64 {
    line.split(prefix)
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("`{prefix}<n>` in {line}"))
}

fn assert_says_how_to_go_on(line: &str, said: &str) {
    assert!(
        said.contains("stopping after the batches in flight"),
        "{said}"
    );
    assert!(
        line.contains("to resume: rtsnap import snap.rtsnap --target production"),
        "{line}"
    );
    assert!(
        line.contains("to undo: rtsnap import") && line.contains("pre-import"),
        "{line}"
    );
}

/// Runs the import directly: it resumes the interrupted run and ends equal.
fn resume(world: &World) -> serde_json::Value {
    let out = world.rtsnap(&IMPORT);
    assert!(out.status.success(), "the re-run: {}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert!(doc["resumed_from"].is_string(), "{doc}");
    let verification = doc["verification"].as_object().expect("verification");
    assert!(
        verification
            .values()
            .all(|v| v.as_str().is_some_and(|v| v.starts_with("match"))),
        "{doc}"
    );
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_ctrl_c_during_users_and_assets_stops_between_calls_and_resumes() {
    let world = World::new(
        Server::Moto,
        "stoppoints",
        &[("staging", false), ("production", false)],
    );
    let table = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &table,
            (0..3).map(|i| simple_item(&format!("c-{i}"), i)).collect(),
        )
        .await;
    let (source_pool, target_pool) = (
        world.add_user_pool("staging").await,
        world.add_user_pool("production").await,
    );
    let (source_bucket, target_bucket) = (
        world.add_bucket("staging").await,
        world.add_bucket("production").await,
    );
    let cognito = common::cognito(&world.endpoint).await;
    for i in 0..USERS {
        cognito
            .admin_create_user()
            .user_pool_id(&source_pool)
            .username(format!("user-{i:02}"))
            .message_action(MessageActionType::Suppress)
            .send()
            .await
            .expect("AdminCreateUser");
    }
    let s3 = common::s3(&world.endpoint).await;
    for i in 0..OBJECTS {
        s3.put_object()
            .bucket(&source_bucket)
            .key(format!("files/o-{i:02}.txt"))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .body(ByteStream::from(format!("object {i}").into_bytes()))
            .send()
            .await
            .expect("PutObject");
    }
    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["users"]["users"], USERS, "{export}");
    assert_eq!(export["assets"]["objects"], OBJECTS, "{export}");
    let target_table = world.table("production", "Contact");

    // Users: 2 created, then Ctrl-C while the calls in flight are held.
    let (code, line, said) = interrupt_at(&world, "AdminCreateUser", 2).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(line.contains("interrupted during the users"), "{line}");
    let created = number_after(&line, "interrupted during the users: ");
    let in_pool = usernames(&world, &target_pool).await;
    assert_eq!(in_pool.len() as u64, created, "said = done: {line}");
    assert!(
        (2..USERS).contains(&created),
        "the calls in flight finished, no new one started: {created} of {USERS}"
    );
    assert!(
        !world.table_exists(&target_table).await,
        "no table was touched"
    );
    assert!(object_keys(&world, &target_bucket).await.is_empty());
    assert_says_how_to_go_on(&line, &said);
    let done = resume(&world);
    assert_eq!(done["users_applied"]["created"], USERS - created, "{done}");
    assert_eq!(usernames(&world, &target_pool).await.len() as u64, USERS);

    // Back to the start: the rollback empties the pool, the table and the bucket.
    let out = world.rtsnap(&["rollback", "production", "--yes", "--no-progress"]);
    assert!(out.status.success(), "rollback: {}", stderr(&out));
    assert!(usernames(&world, &target_pool).await.is_empty());
    assert!(object_keys(&world, &target_bucket).await.is_empty());

    // Assets: 2 copies done, then Ctrl-C while the copies in flight are held.
    let (code, line, said) = interrupt_at(&world, "CopyObject", 2).await;
    assert_eq!(code, Some(1), "{said}");
    assert!(line.contains("interrupted during the assets"), "{line}");
    let copied = number_after(&line, "interrupted during the assets: ");
    assert!(
        line.contains(&format!(
            "{copied} of {OBJECTS} objects written, {} not",
            OBJECTS - copied
        )),
        "{line}"
    );
    assert_eq!(
        object_keys(&world, &target_bucket).await.len() as u64,
        copied,
        "said = done: {line}"
    );
    assert!(
        (2..OBJECTS).contains(&copied),
        "the copies in flight finished, no new one started: {copied} of {OBJECTS}"
    );
    assert_eq!(usernames(&world, &target_pool).await.len() as u64, USERS);
    assert_says_how_to_go_on(&line, &said);
    let done = resume(&world);
    assert_eq!(done["assets_applied"]["copied"], OBJECTS - copied, "{done}");
    assert_eq!(
        object_keys(&world, &target_bucket).await.len() as u64,
        OBJECTS
    );
}
