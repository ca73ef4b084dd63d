//! An import killed (SIGKILL) in the middle of writing, then re-run, ends exactly equal
//! to the snapshot: the re-run writes only what is still missing, verification says
//! `match`, and no `.partial` file is left behind. Runs against moto and dynalite; the
//! item counts are read with an independent SDK client (Scan, Select=COUNT).

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::Select;
use common::world::{simple_item, World};
use common::Server;

/// Items in the table: enough that the import is still writing when the poller sees it.
const TOTAL: u64 = 6_000;

/// The number of items in `table` (a consistent Scan with Select=COUNT over every page),
/// or `None` while the table does not exist or cannot be scanned yet (e.g. CREATING).
async fn count_items(client: &aws_sdk_dynamodb::Client, table: &str) -> Option<u64> {
    let mut total = 0u64;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .select(Select::Count)
            .consistent_read(true)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .ok()?;
        total += u64::try_from(page.count()).expect("non-negative count");
        match page.last_evaluated_key() {
            Some(k) if !k.is_empty() => start = Some(k.clone()),
            _ => return Some(total),
        }
    }
}

/// Every `*.partial` file under `dir`, recursively.
fn partial_files(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(partial_files(&path));
        } else if path.to_string_lossy().ends_with(".partial") {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Starts `rtsnap <args>`, waits until `table` holds more than `floor` and fewer than
/// `total` items, kills it with SIGKILL, and returns (items seen before the kill, items
/// present a moment after it).
async fn kill_mid_write(
    world: &World,
    args: &[&str],
    table: &str,
    floor: u64,
    total: u64,
) -> (u64, u64) {
    let client = common::dynamodb(&world.endpoint).await;
    let log_path = world.dir.path().join("killed-run.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut child = world
        .command(args)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn rtsnap import");
    let first_log = || std::fs::read_to_string(&log_path).unwrap_or_default();
    let started = Instant::now();
    let seen = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "the import finished ({status}) before it could be killed mid-write; raise TOTAL. Its stderr:\n{}",
                first_log()
            );
        }
        match count_items(&client, table).await {
            Some(n) if n > floor && n < total => break n,
            Some(n) if n >= total => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("the import wrote all {n} items before the poller saw it mid-write; raise TOTAL");
            }
            _ => {}
        }
        if started.elapsed() > Duration::from_secs(300) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "no item written after 300 s; the import's stderr:\n{}",
                first_log()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    child.kill().expect("SIGKILL the import");
    let status = child.wait().expect("wait for the killed import");
    assert_eq!(
        status.signal(),
        Some(9),
        "the import was killed, not finished: {status}; stderr:\n{}",
        first_log()
    );
    // Requests already sent may still land; give the server a moment, then count again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let present = count_items(&client, table)
        .await
        .expect("the table exists after the kill");
    assert!(
        present >= seen && present < total,
        "after the kill the table holds {present} of {total} items (seen {seen} before the kill)"
    );
    (seen, present)
}

async fn interrupted_import(server: Server) {
    let world = World::new(
        server,
        "interrupt",
        &[("staging", false), ("production", false)],
    );
    let source = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    world
        .put_items(
            &source,
            (0..TOTAL as i64)
                .map(|i| simple_item(&format!("c-{i:05}"), i))
                .collect(),
        )
        .await;
    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["tables"]["Contact"], TOTAL);

    let target = world.table("production", "Contact");
    let args = [
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
        "--no-progress",
    ];
    let client = common::dynamodb(&world.endpoint).await;
    let started = Instant::now();
    let (seen, present) = kill_mid_write(&world, &args, &target, 0, TOTAL).await;
    eprintln!(
        "{server:?}: killed after {:.1} s with {seen} items seen, {present} present after the kill",
        started.elapsed().as_secs_f64()
    );

    // Re-run the same import: the table now exists, only the rest is written.
    let rerun = world.rtsnap_json(&args);
    let plan = &rerun["tables"]["Contact"];
    assert_eq!(plan["create"], false, "{rerun}");
    assert_eq!(plan["put"], TOTAL - present, "{rerun}");
    assert_eq!(
        plan["update"], 0,
        "items are written whole or not at all: {rerun}"
    );
    assert_eq!(plan["delete"], 0, "{rerun}");
    assert_eq!(plan["unchanged"], present, "{rerun}");
    assert_eq!(rerun["written"], TOTAL - present, "{rerun}");
    assert_eq!(rerun["deleted"], 0, "{rerun}");
    assert_eq!(rerun["created_tables"], serde_json::json!([]), "{rerun}");
    let verification = rerun["verification"].as_object().expect("verification");
    assert!(
        !verification.is_empty() && verification.values().all(|v| v == "match"),
        "verification: {rerun}"
    );

    let staging = world.scan_all(&source).await;
    let production = world.scan_all(&target).await;
    assert_eq!(staging.len() as u64, TOTAL);
    assert_eq!(production.len(), staging.len());
    assert!(
        production == staging,
        "production equals staging item for item"
    );

    let partials = partial_files(world.dir.path());
    assert!(
        partials.is_empty(),
        "no .partial file may remain: {partials:?}"
    );

    // Issue 10: one backup per migration. The re-run resumed the killed import and kept
    // its backup (the target before the first attempt) instead of backing up the
    // half-written table.
    assert!(rerun["resumed_from"].is_string(), "{rerun}");
    let backups: Vec<String> = world
        .snapshots()
        .into_iter()
        .filter(|f| f.contains("pre-import") && f.ends_with(".rtsnap"))
        .collect();
    assert_eq!(
        backups.len(),
        1,
        "one backup for the migration: {backups:?}"
    );
    assert!(
        rerun["backup"]
            .as_str()
            .is_some_and(|b| b.ends_with(&backups[0])),
        "{rerun}"
    );
    // `rollback` restores the state before the first attempt: the table did not exist,
    // so it is emptied (rtsnap never drops a table).
    let out = world.rtsnap(&["rollback", "production", "--yes", "--no-progress"]);
    assert!(out.status.success(), "{}", common::world::stderr(&out));
    let said = common::world::stderr(&out);
    assert!(
        said.contains(&backups[0]) && said.contains("before the last import"),
        "{said}"
    );
    assert_eq!(count_items(&client, &target).await, Some(0));
    let listing = world.rtsnap_json(&["list", "--env", "production"]);
    let states: Vec<(&str, &str)> = listing["imports"]
        .as_array()
        .expect("imports")
        .iter()
        .map(|r| (r["kind"].as_str().unwrap(), r["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        vec![("import", "rolled_back"), ("rollback", "finished")],
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_import_reruns_to_exact_snapshot_on_moto() {
    interrupted_import(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_import_reruns_to_exact_snapshot_on_dynalite() {
    interrupted_import(Server::Dynalite).await;
}

/// Ctrl-C (SIGINT) during phase 6 (issue 10): no new batch is sent, the ones in flight
/// finish, and the exit is 1 with the written and unwritten counts, the resume command
/// and the rollback command. The count said equals what the table holds afterwards
/// (nothing was still in flight), and re-running the command resumes to exact.
#[tokio::test(flavor = "multi_thread")]
async fn issue_10_ctrl_c_stops_between_batches_and_says_how_to_resume() {
    let world = World::new(
        Server::Dynalite,
        "ctrlc",
        &[("staging", false), ("production", false)],
    );
    let source = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &source,
            (0..TOTAL as i64)
                .map(|i| simple_item(&format!("c-{i:05}"), i))
                .collect(),
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    let target = world.table("production", "Contact");
    let client = common::dynamodb(&world.endpoint).await;
    let args = [
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
        "--no-progress",
    ];
    let log_path = world.dir.path().join("interrupted.log");
    let mut child = world
        .command(&args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .expect("spawn rtsnap import");
    let started = Instant::now();
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "finished before Ctrl-C; raise TOTAL"
        );
        if count_items(&client, &target).await.is_some_and(|n| n > 0) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "nothing written in 300 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert_eq!(status.code(), Some(1), "stopped cleanly, exit 1: {log}");
    assert!(
        log.contains("stopping after the batches in flight"),
        "{log}"
    );
    let line = log
        .lines()
        .find(|l| l.starts_with("rtsnap: error: interrupted"))
        .expect(&log);
    let written: u64 = line
        .split("interrupted: ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect(line);
    assert!(
        line.contains(&format!("{} unwritten", TOTAL - written)),
        "{line}"
    );
    assert!(
        line.contains("to resume: rtsnap import snap.rtsnap --target production --create-missing"),
        "{line}"
    );
    assert!(
        line.contains("to undo: rtsnap import") && line.contains("pre-import"),
        "{line}"
    );
    assert_eq!(
        count_items(&client, &target).await,
        Some(written),
        "what it says it wrote is what the table holds: nothing was left in flight"
    );
    let rerun = world.rtsnap_json(&args);
    assert!(rerun["resumed_from"].is_string(), "{rerun}");
    assert_eq!(rerun["written"], TOTAL - written, "{rerun}");
    assert_eq!(count_items(&client, &target).await, Some(TOTAL));
}
