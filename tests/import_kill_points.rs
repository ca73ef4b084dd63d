//! Kill -9 at ten points of an import (issue 10): wherever an import dies, a plain
//! re-run of the same command converges to exactly the snapshot, and `rollback`
//! restores exactly the target as it was before the *first* attempt.
//!
//! Why: an operator whose migration died (OOM killer, a lost SSH session, a reboot)
//! must be able to do one of two things without thinking: run the same command again,
//! or roll back. Both are only safe if every point of the import leaves the target and
//! the journal in a state the next run understands.
//!
//! How: one moto world. Staging is the snapshot's source; production, the target, is
//! pre-populated so that the import does everything an exact import with
//! `--prune-users --prune-assets` can do: table items to put, update and delete (two
//! tables), users to create (two of them disabled), update, enable and prune, a group
//! to create and one to delete, memberships to add and remove, objects to copy,
//! overwrite and prune. The killed run alone goes through the fault proxy of
//! `tests/common/faults.rs` at 0 % faults (`RTSNAP_PRODUCTION_ENDPOINT_URL` on that one
//! command); its hold gate forwards exactly `n` requests of one operation, then holds
//! that request and every later one. Once the proxy holds and every forwarded request
//! has been answered, what reached the target is final; the test checks it there, then
//! SIGKILLs rtsnap. The re-run and the rollback go directly to moto.
//!
//! Per point, read with independent SDK clients (items of both tables; users with
//! attributes but sub, enabled, status and groups; groups; objects with size, SHA-256,
//! content type and metadata):
//!
//! - at the hold: where the import stands (a backup still `.partial` and nothing sent
//!   to the target during the backup; afterwards the backup committed, the journal's
//!   last event this run's `started`, the sections before this one finished and the
//!   ones after it untouched, the current one half-written);
//! - the re-run exits 0, verifies `match`, and the target then equals staging. Killed
//!   after its backup, the run is in the journal: the re-run resumes it, keeps the first
//!   attempt's backup (the target before any write) and takes none; a run killed
//!   during its backup is not in the journal yet, so the re-run backs up the untouched
//!   target anew and removes the killed backup's `.partial`;
//! - `rollback production` restores that backup and the target equals its state before
//!   the killed run; the journal marks the import rolled back, so the next point starts
//!   a new migration with a new backup.
//!
//! The counts below follow from the seed and from what each phase sends (read from
//! `src/command/import`, `src/section/*` and checked against the proxy's log of
//! operations): planning scans each of the two target tables once (one segment, one
//! page) and reads no object (every object carries a stored SHA-256, so HeadObject
//! suffices); the backup scans the tables again, then reads the six objects the import
//! overwrites or deletes (GetObject); phase 6 writes users (a CreateGroup, 6
//! AdminCreateUser, updates, 8 AdminAddUserToGroup and 2 removals, 3 AdminDeleteUser,
//! a DeleteGroup), then tables (Contact: 150 puts, 60 deletes; Note: 5 puts, 3 deletes;
//! batches of 25: 7 of puts, then 4 of deletes), then assets (7 CopyObject, then one
//! DeleteObjects).

mod common;

use common::cognito_attr as attr;
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_cognitoidentityprovider::types::MessageActionType;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ChecksumAlgorithm;
use common::faults::FaultProxy;
use common::world::{simple_item, stderr, SdkItem, World};
use common::Server;
use sha2::{Digest, Sha256};

const MODELS: [&str; 2] = ["Contact", "Note"];

/// What an independent client sees of a user (the sub is left out: Cognito assigns it,
/// and a user deleted and created again gets a new one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenUser {
    attributes: BTreeMap<String, String>,
    enabled: bool,
    status: String,
    groups: Vec<String>,
}

/// What an independent client sees of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SeenObject {
    size: u64,
    sha256: String,
    content_type: Option<String>,
    metadata: BTreeMap<String, String>,
}

/// An environment's tables, users, groups and objects, read directly from moto.
#[derive(Debug, Clone, PartialEq)]
struct State {
    tables: BTreeMap<String, Vec<SdkItem>>,
    users: BTreeMap<String, SeenUser>,
    /// name → (description, precedence)
    groups: BTreeMap<String, (String, i32)>,
    objects: BTreeMap<String, SeenObject>,
}

struct Env {
    pool: String,
    bucket: String,
}

async fn create_user(
    client: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    username: &str,
    name: &str,
    enabled: bool,
    groups: &[&str],
) {
    client
        .admin_create_user()
        .user_pool_id(pool)
        .username(username)
        .message_action(MessageActionType::Suppress)
        .user_attributes(attr("email", &format!("{username}@example.com")))
        .user_attributes(attr("name", name))
        .send()
        .await
        .expect("AdminCreateUser");
    if !enabled {
        client
            .admin_disable_user()
            .user_pool_id(pool)
            .username(username)
            .send()
            .await
            .expect("AdminDisableUser");
    }
    for group in groups {
        client
            .admin_add_user_to_group()
            .user_pool_id(pool)
            .username(username)
            .group_name(*group)
            .send()
            .await
            .expect("AdminAddUserToGroup");
    }
}

async fn create_group(
    client: &aws_sdk_cognitoidentityprovider::Client,
    pool: &str,
    name: &str,
    description: &str,
    precedence: i32,
) {
    client
        .create_group()
        .user_pool_id(pool)
        .group_name(name)
        .description(description)
        .precedence(precedence)
        .send()
        .await
        .expect("CreateGroup");
}

async fn put_object(client: &aws_sdk_s3::Client, bucket: &str, key: &str, body: &str, n: &str) {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type("text/plain")
        .metadata("n", n)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from(body.as_bytes().to_vec()))
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
}

/// Seeds staging (the snapshot's source) and production (the target, which the import
/// updates, prunes and extends in every section).
async fn seed(world: &World) -> (Env, Env) {
    // Tables.
    let contact = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &contact,
            (0..200)
                .map(|i| simple_item(&format!("c-{i:03}"), i))
                .collect(),
        )
        .await;
    let note = world.create_table("staging", "Note", None, None).await;
    world
        .put_items(
            &note,
            (0..10)
                .map(|i| simple_item(&format!("n-{i:02}"), i))
                .collect(),
        )
        .await;
    let contact = world
        .create_table("production", "Contact", None, None)
        .await;
    let mut items: Vec<SdkItem> = (0..50)
        .map(|i| simple_item(&format!("c-{i:03}"), i))
        .collect();
    items.extend((50..100).map(|i| simple_item(&format!("c-{i:03}"), i + 1000)));
    items.extend((0..60).map(|i| simple_item(&format!("x-{i:03}"), i)));
    world.put_items(&contact, items).await;
    let note = world.create_table("production", "Note", None, None).await;
    let mut items: Vec<SdkItem> = (0..5)
        .map(|i| simple_item(&format!("n-{i:02}"), i))
        .collect();
    items.extend((5..7).map(|i| simple_item(&format!("n-{i:02}"), i + 1000)));
    items.extend((0..3).map(|i| simple_item(&format!("x-{i}"), i)));
    world.put_items(&note, items).await;

    // Users.
    let cognito = common::cognito(&world.endpoint).await;
    let staging_pool = world.add_user_pool("staging").await;
    create_group(&cognito, &staging_pool, "admins", "Back office", 0).await;
    create_group(&cognito, &staging_pool, "agents", "Field agents", 1).await;
    for i in 0..12 {
        let mut groups = Vec::new();
        if i % 3 == 0 {
            groups.push("admins");
        }
        if i % 2 == 0 {
            groups.push("agents");
        }
        let name = format!("u{i:02}");
        let enabled = !(i == 7 || i == 10);
        create_user(
            &cognito,
            &staging_pool,
            &name,
            &format!("User {i}"),
            enabled,
            &groups,
        )
        .await;
    }
    let production_pool = world.add_user_pool("production").await;
    create_group(&cognito, &production_pool, "admins", "Back office", 0).await;
    create_group(&cognito, &production_pool, "legacy", "Old group", 5).await;
    for i in 0..6 {
        let name = format!("u{i:02}");
        let (full, enabled, groups): (String, bool, Vec<&str>) = match i {
            0 | 3 => (format!("User {i}"), true, vec!["admins"]),
            1 => (format!("User {i}"), true, vec!["legacy"]),
            4 => ("Old Name 4".into(), true, vec!["admins"]),
            5 => (format!("User {i}"), false, vec![]),
            _ => (format!("User {i}"), true, vec![]),
        };
        create_user(&cognito, &production_pool, &name, &full, enabled, &groups).await;
    }
    create_user(&cognito, &production_pool, "p00", "Extra 0", true, &[]).await;
    create_user(&cognito, &production_pool, "p01", "Extra 1", false, &[]).await;
    create_user(
        &cognito,
        &production_pool,
        "p02",
        "Extra 2",
        true,
        &["admins"],
    )
    .await;

    // Objects.
    let s3 = common::s3(&world.endpoint).await;
    let staging_bucket = world.add_bucket("staging").await;
    for i in 0..10 {
        let body = format!("asset {i}\n").repeat(i + 1);
        put_object(
            &s3,
            &staging_bucket,
            &format!("public/a-{i:02}"),
            &body,
            &i.to_string(),
        )
        .await;
    }
    let production_bucket = world.add_bucket("production").await;
    for i in 0..6 {
        let body = match i {
            3 => format!("ASSET {i}\n").repeat(i + 1),
            4 | 5 => format!("stale {i}"),
            _ => format!("asset {i}\n").repeat(i + 1),
        };
        put_object(
            &s3,
            &production_bucket,
            &format!("public/a-{i:02}"),
            &body,
            &i.to_string(),
        )
        .await;
    }
    for i in 0..3 {
        put_object(
            &s3,
            &production_bucket,
            &format!("public/old-{i}"),
            &format!("old {i}"),
            "old",
        )
        .await;
    }
    (
        Env {
            pool: staging_pool,
            bucket: staging_bucket,
        },
        Env {
            pool: production_pool,
            bucket: production_bucket,
        },
    )
}

/// Reads an environment's state with independent SDK clients.
async fn read_state(world: &World, env_name: &str, env: &Env) -> State {
    let mut tables = BTreeMap::new();
    for model in MODELS {
        tables.insert(
            model.to_owned(),
            world.scan_all(&world.table(env_name, model)).await,
        );
    }
    let cognito = common::cognito(&world.endpoint).await;
    let listed = cognito
        .list_groups()
        .user_pool_id(&env.pool)
        .send()
        .await
        .expect("ListGroups");
    let mut groups = BTreeMap::new();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for group in listed.groups() {
        let name = group.group_name().expect("group name").to_owned();
        groups.insert(
            name.clone(),
            (
                group.description().unwrap_or_default().to_owned(),
                group.precedence().unwrap_or(-1),
            ),
        );
        let in_group = cognito
            .list_users_in_group()
            .user_pool_id(&env.pool)
            .group_name(&name)
            .send()
            .await
            .expect("ListUsersInGroup");
        for user in in_group.users() {
            members
                .entry(user.username().expect("username").to_owned())
                .or_default()
                .push(name.clone());
        }
    }
    let mut users = BTreeMap::new();
    let mut token = None;
    loop {
        let page = cognito
            .list_users()
            .user_pool_id(&env.pool)
            .limit(60)
            .set_pagination_token(token)
            .send()
            .await
            .expect("ListUsers");
        for user in page.users() {
            let username = user.username().expect("username").to_owned();
            let attributes = user
                .attributes()
                .iter()
                .filter(|a| a.name() != "sub")
                .map(|a| {
                    (
                        a.name().to_owned(),
                        a.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let mut groups = members.remove(&username).unwrap_or_default();
            groups.sort();
            users.insert(
                username,
                SeenUser {
                    attributes,
                    enabled: user.enabled(),
                    status: user
                        .user_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    groups,
                },
            );
        }
        token = page.pagination_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let s3 = common::s3(&world.endpoint).await;
    let listed = s3
        .list_objects_v2()
        .bucket(&env.bucket)
        .send()
        .await
        .expect("ListObjectsV2");
    let mut objects = BTreeMap::new();
    for object in listed.contents() {
        let key = object.key().expect("key").to_owned();
        let out = s3
            .get_object()
            .bucket(&env.bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"));
        let content_type = out.content_type().map(str::to_owned);
        let metadata = out
            .metadata()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let bytes = out.body.collect().await.expect("body").into_bytes();
        objects.insert(
            key,
            SeenObject {
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                content_type,
                metadata,
            },
        );
    }
    State {
        tables,
        users,
        groups,
        objects,
    }
}

/// The import every point runs: exact, pruning users and objects, no prompt.
const IMPORT: [&str; 9] = [
    "import",
    "snap.rtsnap",
    "--target",
    "production",
    "--prune-users",
    "--prune-assets",
    "--yes",
    "--no-progress",
    "--json",
];

/// Scan requests the import sends before its backup: phase 3 scans each target table
/// once (small tables: one segment, one page).
const PLAN_SCANS: u64 = 2;
/// Batches of puts (Contact 150 = 6 × 25, Note 5 = 1) and of deletes (Contact 60 = 3,
/// Note 3 = 1).
const PUT_BATCHES: u64 = 7;
const ALL_BATCHES: u64 = 11;
/// Users the import creates, memberships it adds, users it prunes; objects it copies.
const CREATES: u64 = 6;
const MEMBERSHIP_ADDS: u64 = 8;
const USER_DELETES: u64 = 3;
const COPIES: u64 = 7;

/// Requests that change the target.
const WRITES: [&str; 16] = [
    "CreateGroup",
    "UpdateGroup",
    "DeleteGroup",
    "AdminCreateUser",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "AdminEnableUser",
    "AdminDisableUser",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "AdminDeleteUser",
    "BatchWriteItem",
    "CopyObject",
    "PutObject",
    "DeleteObject",
    "DeleteObjects",
];

/// The import's phase a point lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Phase 5: the target is being read into the backup.
    Backup,
    /// Phase 6, in order: users, tables, assets.
    Users,
    Tables,
    Assets,
}

/// A kill point: the proxy forwards `after` requests of `op`, then holds.
struct Point {
    name: &'static str,
    phase: Phase,
    op: &'static str,
    after: u64,
}

const POINTS: [Point; 10] = [
    Point {
        name: "backup early: the backup's first Scan",
        phase: Phase::Backup,
        op: "Scan",
        after: PLAN_SCANS,
    },
    Point {
        name: "backup late: tables and users read, the first object's bytes held",
        phase: Phase::Backup,
        op: "GetObject",
        after: 0,
    },
    Point {
        name: "users: 1 of 6 users created",
        phase: Phase::Users,
        op: "AdminCreateUser",
        after: 1,
    },
    Point {
        name: "users: every user created, 1 of 8 memberships added",
        phase: Phase::Users,
        op: "AdminAddUserToGroup",
        after: 1,
    },
    Point {
        name: "users: 1 of 3 users pruned",
        phase: Phase::Users,
        op: "AdminDeleteUser",
        after: 1,
    },
    Point {
        name: "tables early: 1 of 11 batches",
        phase: Phase::Tables,
        op: "BatchWriteItem",
        after: 1,
    },
    Point {
        name: "tables mid: 5 of 11 batches",
        phase: Phase::Tables,
        op: "BatchWriteItem",
        after: 5,
    },
    Point {
        name: "tables late: 9 of 11 batches, deletes under way",
        phase: Phase::Tables,
        op: "BatchWriteItem",
        after: 9,
    },
    Point {
        name: "assets: 2 of 7 objects copied",
        phase: Phase::Assets,
        op: "CopyObject",
        after: 2,
    },
    Point {
        name: "assets late: every object copied, the prune held",
        phase: Phase::Assets,
        op: "DeleteObjects",
        after: 0,
    },
];

/// The `id` of an item.
fn id_of(item: &SdkItem) -> String {
    match item.get("id") {
        Some(AttributeValue::S(id)) => id.clone(),
        other => panic!("an item without a string id: {other:?}"),
    }
}

/// What differs between two states, section by section (empty: equal).
fn differences(got: &State, want: &State) -> Vec<String> {
    let mut found = Vec::new();
    for model in MODELS {
        let index = |state: &State| -> BTreeMap<String, SdkItem> {
            state.tables[model]
                .iter()
                .map(|item| (id_of(item), item.clone()))
                .collect()
        };
        let (got, want) = (index(got), index(want));
        let differing: Vec<&String> = got
            .keys()
            .chain(want.keys())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .filter(|id| got.get(*id) != want.get(*id))
            .collect();
        if !differing.is_empty() {
            found.push(format!(
                "{model}: {} items differ (first: {:?})",
                differing.len(),
                &differing[..differing.len().min(5)]
            ));
        }
    }
    for name in keys_of(&got.users, &want.users) {
        if got.users.get(&name) != want.users.get(&name) {
            found.push(format!(
                "user {name}: {:?}, want {:?}",
                got.users.get(&name),
                want.users.get(&name)
            ));
        }
    }
    if got.groups != want.groups {
        found.push(format!("groups: {:?}, want {:?}", got.groups, want.groups));
    }
    for key in keys_of(&got.objects, &want.objects) {
        if got.objects.get(&key) != want.objects.get(&key) {
            found.push(format!(
                "object {key}: {:?}, want {:?}",
                got.objects.get(&key),
                want.objects.get(&key)
            ));
        }
    }
    found
}

/// The keys of either map.
fn keys_of<V>(a: &BTreeMap<String, V>, b: &BTreeMap<String, V>) -> BTreeSet<String> {
    a.keys().chain(b.keys()).cloned().collect()
}

#[track_caller]
fn assert_same(got: &State, want: &State, what: &str) {
    let differ = differences(got, want);
    assert!(differ.is_empty(), "{what}:\n  {}", differ.join("\n  "));
}

/// The target's pre-import backups (committed), and `.partial` files, by name.
fn backups(world: &World) -> (BTreeSet<String>, Vec<String>) {
    let names = world.snapshots();
    let committed = names
        .iter()
        .filter(|n| n.starts_with("production-pre-import-") && n.ends_with(".rtsnap"))
        .cloned()
        .collect();
    let partial = names
        .into_iter()
        .filter(|n| n.ends_with(".partial"))
        .collect();
    (committed, partial)
}

/// The journal's events, oldest first.
fn journal(world: &World) -> Vec<serde_json::Value> {
    let path = world.snapshot_dir().join("journal.jsonl");
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| serde_json::from_str(line).expect("a journal event per line"))
        .collect()
}

/// The file name of a path in a JSON value.
fn file_name(path: &serde_json::Value) -> String {
    let path = path.as_str().unwrap_or_else(|| panic!("a path: {path}"));
    Path::new(path)
        .file_name()
        .expect("a file name")
        .to_string_lossy()
        .into_owned()
}

/// Waits until the proxy holds and every request it let through was answered.
async fn wait_for_hold(child: &mut Child, proxy: &FaultProxy, point: &Point, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !(proxy.holding() && proxy.settled()) {
        let said = || std::fs::read_to_string(log).unwrap_or_default();
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "{}: the import ended ({status}) before the proxy held {} #{}; forwarded: {:?}\nits stderr:\n{}",
                point.name,
                point.op,
                point.after + 1,
                proxy.operations(),
                said()
            );
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{}: no hold at {} #{} within 120 s; forwarded: {:?}\nits stderr:\n{}",
                point.name,
                point.op,
                point.after + 1,
                proxy.operations(),
                said()
            );
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Users whose name starts with `prefix`.
fn users_named(state: &State, prefix: &str) -> usize {
    state.users.keys().filter(|u| u.starts_with(prefix)).count()
}

/// Objects equal to the source's.
fn objects_as_in(state: &State, source: &State) -> usize {
    source
        .objects
        .iter()
        .filter(|(k, o)| state.objects.get(*k) == Some(*o))
        .count()
}

/// Checks where the import stands at the hold (the target as the kill will leave it).
fn check_hold(point: &Point, ops: &[String], at: &State, pre: &State, source: &State) {
    let count = |op: &str| ops.iter().filter(|o| *o == op).count() as u64;
    let name = point.name;
    assert_eq!(count(point.op), point.after, "{name}: {ops:?}");
    let differs = |a: &State, b: &State| !differences(a, b).is_empty();
    match point.phase {
        Phase::Backup => {
            let sent: Vec<&String> = ops
                .iter()
                .filter(|o| WRITES.contains(&o.as_str()))
                .collect();
            assert!(
                sent.is_empty(),
                "{name}: nothing is written during the backup: {sent:?}"
            );
            assert_same(at, pre, &format!("{name}: the target is untouched"));
        }
        Phase::Users => {
            assert_eq!(count("BatchWriteItem"), 0, "{name}: {ops:?}");
            assert_eq!(at.tables, pre.tables, "{name}: tables come after the users");
            assert_eq!(
                at.objects, pre.objects,
                "{name}: assets come after the users"
            );
            assert!(
                differs(at, pre) && differs(at, source),
                "{name}: half-written users"
            );
            assert!(
                at.groups.contains_key("agents"),
                "{name}: groups are written first"
            );
        }
        Phase::Tables => {
            assert_eq!(count("AdminCreateUser"), CREATES, "{name}: {ops:?}");
            assert_eq!(count("AdminDeleteUser"), USER_DELETES, "{name}: {ops:?}");
            assert_eq!(count("CopyObject"), 0, "{name}: {ops:?}");
            assert_eq!(at.users, source.users, "{name}: the users are done");
            assert_eq!(at.groups, source.groups, "{name}: the groups are done");
            assert_eq!(
                at.objects, pre.objects,
                "{name}: assets come after the tables"
            );
            assert!(
                at.tables != pre.tables && at.tables != source.tables,
                "{name}: half-written tables"
            );
        }
        Phase::Assets => {
            assert_eq!(count("BatchWriteItem"), ALL_BATCHES, "{name}: {ops:?}");
            assert_eq!(at.users, source.users, "{name}: the users are done");
            assert_eq!(at.tables, source.tables, "{name}: the tables are done");
            assert!(
                at.objects != pre.objects && at.objects != source.objects,
                "{name}: half-written assets"
            );
        }
    }
    let pre_users = pre.users.len();
    match (point.op, point.after) {
        ("GetObject", 0) => {
            // The tables and the users are in the backup before any object's bytes.
            assert_eq!(count("Scan"), 2 * PLAN_SCANS, "{name}: {ops:?}");
            assert_eq!(count("ListUsers"), 2, "{name}: {ops:?}");
        }
        ("AdminCreateUser", 1) => {
            assert_eq!(at.users.len(), pre_users + 1, "{name}: one user created");
        }
        ("AdminAddUserToGroup", 1) => {
            assert_eq!(count("AdminRemoveUserFromGroup"), 1, "{name}: {ops:?}");
            assert_eq!(
                at.users.len(),
                pre_users + CREATES as usize,
                "{name}: every user created, none pruned yet"
            );
            let agents = at
                .users
                .values()
                .filter(|u| u.groups.contains(&"agents".to_owned()));
            assert_eq!(
                agents.count(),
                1,
                "{name}: one membership of the new group added"
            );
        }
        ("AdminDeleteUser", 1) => {
            assert_eq!(
                count("AdminAddUserToGroup"),
                MEMBERSHIP_ADDS,
                "{name}: {ops:?}"
            );
            assert_eq!(users_named(at, "p"), 2, "{name}: one of three pruned");
            assert!(
                at.groups.contains_key("legacy"),
                "{name}: groups are pruned last"
            );
        }
        ("BatchWriteItem", n) if n > PUT_BATCHES => {
            // Only 7 batches are puts: some deletes landed, and not all of them.
            let extras = |s: &State| -> usize {
                MODELS
                    .iter()
                    .map(|m| {
                        s.tables[*m]
                            .iter()
                            .filter(|i| id_of(i).starts_with("x-"))
                            .count()
                    })
                    .sum()
            };
            assert!(
                extras(at) < extras(pre) && extras(at) > 0,
                "{name}: {} of {} extra items left",
                extras(at),
                extras(pre)
            );
        }
        ("CopyObject", 2) => {
            let unchanged = objects_as_in(pre, source);
            assert_eq!(
                objects_as_in(at, source),
                unchanged + 2,
                "{name}: two copies landed"
            );
        }
        ("DeleteObjects", 0) => {
            assert_eq!(count("CopyObject"), COPIES, "{name}: {ops:?}");
            assert_eq!(
                objects_as_in(at, source),
                source.objects.len(),
                "{name}: every copy landed"
            );
            assert_eq!(
                at.objects.len(),
                source.objects.len() + 3,
                "{name}: nothing pruned yet"
            );
        }
        _ => {}
    }
}

/// One point: kill at the hold, re-run, compare, roll back, compare.
async fn kill_at(world: &World, point: &Point, number: usize, production: &Env, source: &State) {
    let name = point.name;
    let pre = read_state(world, "production", production).await;
    let (backups_before, partials_before) = backups(world);
    assert!(partials_before.is_empty(), "{name}: {partials_before:?}");
    let events_before = journal(world).len();

    // The killed run, through the proxy.
    let proxy = FaultProxy::start(&world.endpoint, 0, number as u64);
    proxy.hold_after(point.op, point.after);
    let log = world.dir.path().join(format!("killed-{number}.log"));
    let mut child = world
        .command(&IMPORT)
        .env("RTSNAP_PRODUCTION_ENDPOINT_URL", &proxy.endpoint)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn rtsnap import");
    wait_for_hold(&mut child, &proxy, point, &log).await;
    let ops = proxy.operations();
    let at = read_state(world, "production", production).await;
    check_hold(point, &ops, &at, &pre, source);
    let (committed, partials) = backups(world);
    let events = journal(world);
    let first_backup = if point.phase == Phase::Backup {
        assert_eq!(
            committed, backups_before,
            "{name}: the backup is not finished"
        );
        assert!(
            partials.len() == 1 && partials[0].starts_with("production-pre-import-"),
            "{name}: the backup is being written: {partials:?}"
        );
        assert_eq!(
            events.len(),
            events_before,
            "{name}: the journal records nothing yet"
        );
        None
    } else {
        let new: Vec<&String> = committed.difference(&backups_before).collect();
        assert_eq!(new.len(), 1, "{name}: one new backup: {committed:?}");
        let last = events.last().expect("a journal event");
        assert_eq!(last["event"], "started", "{name}: {last}");
        assert_eq!(last["kind"], "import", "{name}: {last}");
        assert_eq!(last["target"], "production", "{name}: {last}");
        assert_eq!(&file_name(&last["backup"]), new[0], "{name}: {last}");
        Some(new[0].clone())
    };
    child.kill().expect("SIGKILL the import");
    let status = child.wait().expect("wait for the killed import");
    assert_eq!(
        status.signal(),
        Some(9),
        "{name}: killed, not ended: {status}"
    );
    proxy.release();

    // The same command again, directly.
    let out = world.rtsnap(&IMPORT);
    let said = stderr(&out);
    assert!(out.status.success(), "{name}: the re-run failed:\n{said}");
    let rerun: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the re-run's JSON");
    let verification = rerun["verification"].as_object().expect("verification");
    assert!(
        verification.len() == 4
            && verification
                .values()
                .all(|v| v.as_str().is_some_and(|v| v.starts_with("match"))),
        "{name}: {rerun}"
    );
    let used = file_name(&rerun["backup"]);
    match &first_backup {
        None => {
            assert!(
                rerun["resumed_from"].is_null(),
                "{name}: nothing to resume: {rerun}"
            );
            assert!(
                !backups_before.contains(&used),
                "{name}: a new backup: {rerun}"
            );
            assert!(
                said.contains("an unfinished backup left by an interrupted run"),
                "{name}: the killed backup's .partial is removed: {said}"
            );
        }
        Some(first) => {
            assert!(rerun["resumed_from"].is_string(), "{name}: {rerun}");
            assert_eq!(&used, first, "{name}: the first attempt's backup is kept");
            assert!(
                said.contains("resuming the interrupted run") && said.contains("no new backup"),
                "{name}: {said}"
            );
        }
    }
    let left = |section: &str| -> u64 {
        let fields: &[&str] = match section {
            "users" => &[
                "create",
                "update",
                "delete",
                "groups_create",
                "groups_delete",
                "memberships_add",
                "memberships_remove",
            ],
            _ => &["put", "update", "delete"],
        };
        let plans: Vec<&serde_json::Value> = match section {
            "users" => vec![&rerun["users"]],
            _ => rerun["tables"]
                .as_object()
                .expect("tables")
                .values()
                .collect(),
        };
        plans
            .iter()
            .flat_map(|plan| fields.iter().map(move |f| plan[*f].as_u64().expect(f)))
            .sum()
    };
    if matches!(point.phase, Phase::Tables | Phase::Assets) {
        assert_eq!(left("users"), 0, "{name}: the users were done: {rerun}");
    }
    if point.phase == Phase::Assets {
        assert_eq!(left("tables"), 0, "{name}: the tables were done: {rerun}");
    }
    let (committed, partials) = backups(world);
    assert_eq!(
        committed.len(),
        backups_before.len() + 1,
        "{name}: one backup: {committed:?}"
    );
    assert!(
        partials.is_empty(),
        "{name}: no .partial is left: {partials:?}"
    );
    let after = read_state(world, "production", production).await;
    assert_same(
        &after,
        source,
        &format!("{name}: after the re-run, production equals staging"),
    );

    // Rollback: the state before the first attempt.
    let out = world.rtsnap(&["rollback", "production", "--yes", "--no-progress", "--json"]);
    let said = stderr(&out);
    assert!(out.status.success(), "{name}: rollback failed:\n{said}");
    assert!(
        said.contains(&format!(
            "from {}",
            world.snapshot_dir().join(&used).display()
        )) && said.contains("before the last import"),
        "{name}: the rollback restores {used}: {said}"
    );
    let back = read_state(world, "production", production).await;
    assert_same(
        &back,
        &pre,
        &format!("{name}: after the rollback, production is as before"),
    );
    let listing = world.rtsnap_json(&["list", "--env", "production"]);
    let imports = listing["imports"].as_array().expect("imports");
    let states = |kind: &str| -> Vec<String> {
        imports
            .iter()
            .filter(|r| r["kind"] == kind)
            .map(|r| r["state"].as_str().expect("state").to_owned())
            .collect()
    };
    assert_eq!(
        states("import"),
        vec!["rolled_back"; number],
        "{name}: every import so far rolled back: {listing}"
    );
    assert_eq!(
        states("rollback"),
        vec!["finished"; number],
        "{name}: {listing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn issue_10_kill_9_at_ten_points_reruns_converge_and_rollback_restores_the_first_state() {
    let world = World::new(
        Server::Moto,
        "killpoints",
        &[("staging", false), ("production", false)],
    );
    let (staging, production) = seed(&world).await;
    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["users"]["users"], 12, "{export}");
    assert_eq!(export["assets"]["objects"], 10, "{export}");
    let source = read_state(&world, "staging", &staging).await;
    let seeded = read_state(&world, "production", &production).await;
    assert!(!differences(&seeded, &source).is_empty());

    for (i, point) in POINTS.iter().enumerate() {
        let started = Instant::now();
        kill_at(&world, point, i + 1, &production, &source).await;
        eprintln!(
            "{:>2}. {} ({} after {}): {:.1} s",
            i + 1,
            point.name,
            point.op,
            point.after,
            started.elapsed().as_secs_f64()
        );
    }
    // Ten migrations, each killed, finished and rolled back: production is as seeded.
    assert_same(
        &read_state(&world, "production", &production).await,
        &seeded,
        "after ten points",
    );
}
