//! Retries under injected faults (issue 10), through the fault proxy of
//! `tests/common/faults.rs` between rtsnap and moto: throttling, 5xx answers, dropped
//! connections and slow answers on DynamoDB, Cognito and S3 alike, and BatchWriteItem
//! applied in part with the rest returned as `UnprocessedItems`.
//!
//! - At 30 % faults, export and import of a table plus users and objects end exactly
//!   equal, with the retries reported.
//! - Faults that never clear stop the import once the retry budget is spent (exit 1,
//!   the unwritten count stated), and a re-run without faults finishes the job.
//!
//! CI runs a reduced size; `RTSNAP_LONG_TESTS=1` runs the issue's 20,000 items.

mod common;

use std::time::{Duration, Instant};

use common::faults::FaultProxy;
use common::world::{simple_item, sort_items, stderr, World};
use common::{cognito, s3, Server};

fn items() -> i64 {
    match std::env::var("RTSNAP_LONG_TESTS").as_deref() {
        Ok("1") => 20_000,
        _ => 1_000,
    }
}

/// Points every environment of the world at the proxy.
fn through(world: &World, proxy: &FaultProxy) {
    let path = world.dir.path().join("rtsnap.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    std::fs::write(&path, text.replace(&world.endpoint, &proxy.endpoint)).expect("config");
}

/// Creates staging's Contact table with `n` items; returns its name.
async fn contacts(world: &World, n: i64) -> String {
    let table = world.create_table("staging", "Contact", None, None).await;
    let items = (0..n)
        .map(|i| simple_item(&format!("c-{i:05}"), i))
        .collect();
    world.put_items(&table, items).await;
    table
}

async fn seed(world: &World, n: i64) -> (String, String) {
    contacts(world, n).await;
    let pool = world.add_user_pool("staging").await;
    let client = cognito(&world.endpoint).await;
    for i in 0..6 {
        client
            .admin_create_user()
            .user_pool_id(&pool)
            .username(format!("user-{i}"))
            .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
            .send()
            .await
            .expect("AdminCreateUser");
    }
    let bucket = world.add_bucket("staging").await;
    let s3 = s3(&world.endpoint).await;
    for i in 0..6 {
        s3.put_object()
            .bucket(&bucket)
            .key(format!("public/file-{i}.txt"))
            .body(format!("object {i}").into_bytes().into())
            .send()
            .await
            .expect("PutObject");
    }
    (pool, bucket)
}

async fn usernames(world: &World, pool: &str) -> Vec<String> {
    let out = cognito(&world.endpoint)
        .await
        .list_users()
        .user_pool_id(pool)
        .send()
        .await
        .expect("ListUsers");
    let mut names: Vec<String> = out
        .users()
        .iter()
        .filter_map(|u| u.username().map(str::to_owned))
        .collect();
    names.sort();
    names
}

async fn keys(world: &World, bucket: &str) -> Vec<String> {
    let out = s3(&world.endpoint)
        .await
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    out.contents()
        .iter()
        .filter_map(|o| o.key().map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_thirty_percent_faults_lose_nothing_and_the_retries_are_reported() {
    let world = World::new(
        Server::Moto,
        "faults30",
        &[("staging", false), ("production", false)],
    );
    let n = items();
    let (source_pool, source_bucket) = seed(&world, n).await;
    let target_pool = world.add_user_pool("production").await;
    let target_bucket = world.add_bucket("production").await;
    let proxy = FaultProxy::start(&world.endpoint, 30, 0x5eed);
    through(&world, &proxy);

    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["tables"]["Contact"], n, "{export}");
    assert_eq!(export["users"]["users"], 6, "{export}");
    assert_eq!(export["assets"]["objects"], 6, "{export}");
    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    let verification = import["verification"].as_object().expect("verification");
    assert!(
        verification
            .values()
            .all(|v| v.as_str().is_some_and(|v| v.starts_with("match"))),
        "{import}"
    );
    let retried = export["retries"]["retries"].as_u64().unwrap()
        + import["retries"]["retries"].as_u64().unwrap();
    assert!(
        retried > 0,
        "faults were retried and counted: {export} {import}"
    );
    assert!(
        proxy.counts.faults() > 20,
        "faults were injected: {:?}",
        proxy.counts
    );
    // Issue 10: BatchWriteItem applied in part, the rest returned as UnprocessedItems.
    assert!(
        proxy
            .counts
            .partial_batches
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
            && proxy
                .counts
                .deferred_writes
                .load(std::sync::atomic::Ordering::Relaxed)
                > 0,
        "some batches were applied in part: {:?}",
        proxy.counts
    );

    // Checked directly on the emulator, not through rtsnap.
    let mut source = world.scan_all(&world.table("staging", "Contact")).await;
    let mut target = world.scan_all(&world.table("production", "Contact")).await;
    sort_items(&mut source);
    sort_items(&mut target);
    assert_eq!(target.len() as i64, n);
    assert!(source == target, "every item arrived exactly");
    assert_eq!(
        usernames(&world, &target_pool).await.len(),
        usernames(&world, &source_pool).await.len()
    );
    assert_eq!(
        keys(&world, &target_bucket).await,
        keys(&world, &source_bucket).await
    );
    eprintln!(
        "faults injected {} (throttled {}, 5xx {}, resets {}, partial batches {} deferring {} writes), delayed {}; rtsnap retried {retried}",
        proxy.counts.faults(),
        proxy.counts.throttled.load(std::sync::atomic::Ordering::Relaxed),
        proxy.counts.server_errors.load(std::sync::atomic::Ordering::Relaxed),
        proxy.counts.resets.load(std::sync::atomic::Ordering::Relaxed),
        proxy.counts.partial_batches.load(std::sync::atomic::Ordering::Relaxed),
        proxy.counts.deferred_writes.load(std::sync::atomic::Ordering::Relaxed),
        proxy.counts.delayed.load(std::sync::atomic::Ordering::Relaxed),
    );
}

/// Items in `table`, or `None` while it does not exist or is not ACTIVE yet.
async fn count(world: &World, table: &str) -> Option<usize> {
    let page = common::dynamodb(&world.endpoint)
        .await
        .scan()
        .table_name(table)
        .limit(10)
        .send()
        .await
        .ok()?;
    Some(page.items().len())
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_faults_that_never_clear_stop_within_the_budget_and_a_rerun_finishes() {
    let world = World::new(
        Server::Dynalite,
        "faultsstuck",
        &[("staging", false), ("production", false)],
    );
    let n = 4_000;
    contacts(&world, n).await;
    let proxy = FaultProxy::start(&world.endpoint, 0, 7);
    through(&world, &proxy);
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);

    let target = world.table("production", "Contact");
    let args = [
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
        "--quiet",
    ];
    let child = world
        .command(&args)
        .env("RTSNAP_RETRY_BUDGET_SECS", "3")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once writing has begun, every request fails from then on.
    let started = Instant::now();
    while count(&world, &target).await.unwrap_or(0) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no write began"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    proxy.set_rate(100);
    let broke = Instant::now();
    let out = child.wait_with_output().expect("wait");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        broke.elapsed() < Duration::from_secs(60),
        "stopped soon after the budget: {:?}",
        broke.elapsed()
    );
    assert!(
        err.contains("unwritten") && err.contains("without progress"),
        "{err}"
    );
    assert!(err.contains("to undo: rtsnap import"), "{err}");

    proxy.set_rate(0);
    // Another scope of the same snapshot may not resume with (or add its own backup
    // beside) the unfinished import's backup: refused, nothing written (the
    // 2026-12-01 bug hunt lost target-only items this way).
    let written = count(&world, &target).await.unwrap_or(0);
    let other = world.rtsnap(&[&args[..6], &["--merge"]].concat());
    let message = stderr(&other);
    assert_eq!(other.status.code(), Some(4), "{message}");
    assert!(message.contains("did not finish"), "{message}");
    assert!(message.contains("rtsnap rollback production"), "{message}");
    assert!(
        message.contains("mode exact"),
        "names the pending scope: {message}"
    );
    assert_eq!(count(&world, &target).await.unwrap_or(0), written);
    // A dry run says so too: it shows what the real run would do.
    let dry = world.rtsnap(&[&args[..6], &["--merge", "--dry-run"]].concat());
    assert_eq!(dry.status.code(), Some(4), "{}", stderr(&dry));

    // The printed undo command is that import's rollback, not "another import" (the
    // review of 2026-12-01: the rule above refused it): it restores the target as it
    // was (the table created empty by --create-missing) and ends the pending import.
    let undo = err
        .split("to undo: ")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("an undo command");
    let undo: Vec<&str> = undo.split_whitespace().skip(1).collect();
    let undone = world.rtsnap(&undo);
    assert_eq!(undone.status.code(), Some(0), "{}", stderr(&undone));
    assert_eq!(
        count(&world, &target).await.unwrap_or(0),
        0,
        "back as it was"
    );

    // Nothing pending any more: the import runs afresh, with a backup of its own.
    let rerun = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert!(rerun["resumed_from"].is_null(), "{rerun}");
    assert_eq!(world.scan_all(&target).await.len() as i64, n);
}

/// Issue #11 §4: while DynamoDB answers batch writes as a throttled table does (applied
/// in part, the rest `UnprocessedItems`), rtsnap's write window narrows until one
/// batch is in flight at a time; once answers come back clean it widens again. Nothing
/// is lost either way, and the summary says how far it narrowed.
#[tokio::test(flavor = "multi_thread")]
async fn issue_11_throttled_writes_narrow_the_write_window_and_clean_answers_widen_it() {
    let world = World::new(
        Server::Moto,
        "window",
        &[("staging", false), ("production", false)],
    );
    let n = 3_000;
    contacts(&world, n).await;
    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["tables"]["Contact"], n, "{export}");

    let proxy = FaultProxy::start(&world.endpoint, 0, 0x11);
    through(&world, &proxy);
    let overloaded = 40;
    proxy.overload_next("BatchWriteItem", overloaded);
    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(
        import["verification"]["Contact"]
            .as_str()
            .map(|v| v.starts_with("match")),
        Some(true),
        "{import}"
    );

    let arrivals = proxy.arrivals("BatchWriteItem");
    let throttled: Vec<u64> = arrivals
        .iter()
        .filter(|a| a.overloaded)
        .map(|a| a.concurrent)
        .collect();
    assert_eq!(throttled.len() as u64, overloaded, "{arrivals:?}");
    assert!(
        throttled[..8].iter().any(|&c| c > 1),
        "the window starts wide: {throttled:?}"
    );
    assert!(
        throttled[throttled.len() - 10..].iter().all(|&c| c == 1),
        "after the throttled answers one batch at a time: {throttled:?}"
    );
    let after: Vec<u64> = arrivals
        .iter()
        .skip_while(|a| a.overloaded)
        .filter(|a| !a.overloaded)
        .map(|a| a.concurrent)
        .collect();
    assert!(
        after.iter().any(|&c| c > 1),
        "clean answers widen the window again: {after:?}"
    );
    assert_eq!(import["retries"]["narrowest_write_window"], 1, "{import}");

    // Checked on the emulator directly: every item arrived.
    let mut source = world.scan_all(&world.table("staging", "Contact")).await;
    let mut target = world.scan_all(&world.table("production", "Contact")).await;
    sort_items(&mut source);
    sort_items(&mut target);
    assert!(source == target, "every item arrived exactly");
}
