//! Referential integrity (issue 9): `[[relations]]` checked by `rtsnap check` on a
//! file and on an environment, recorded by export, enforced by `import --strict`;
//! `check --suggest` finding the fixture's relations; `--with-related` samples that
//! come out closed, with the users owning them.
//!
//! Expected results are computed here from the fixture's JSONL files with an
//! independent implementation (plain serde_json), and what rtsnap wrote is read back
//! with an independent SDK client or with stock age | zstd | tar.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, SchemaAttributeType, UsernameAttributeType, VerifiedAttributeType,
};
use common::world::{stderr, World};
use common::{cognito, Server};
use serde_json::Value;

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo")
}

/// The relations the fixture's generator documents in `fixtures/README.md` (it checks
/// them itself when generating), as `(from, to)`.
fn fixture_relations() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(fixture_dir().join("../README.md")).expect("README");
    let mut out = Vec::new();
    let mut from = None;
    for line in readme.lines() {
        if let Some(v) = line.strip_prefix("from = ") {
            from = Some(v.trim_matches('"').to_owned());
        } else if let Some(v) = line.strip_prefix("to = ") {
            out.push((
                from.take().expect("from before to"),
                v.trim_matches('"').to_owned(),
            ));
        }
    }
    assert!(out.len() > 30, "the README lists the fixture's relations");
    out
}

fn relations_toml(relations: &[(String, String)]) -> String {
    relations
        .iter()
        .map(|(f, t)| format!("\n[[relations]]\nfrom = \"{f}\"\nto = \"{t}\"\n"))
        .collect()
}

fn append_config(world: &World, text: &str) {
    let path = world.dir.path().join("rtsnap.toml");
    let mut config = std::fs::read_to_string(&path).expect("config");
    config.push_str(text);
    std::fs::write(&path, config).expect("config");
}

/// Model → its items (DynamoDB JSON lines, in file order) in a snapshot directory.
fn read_items(dir: &Path) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for table in std::fs::read_dir(dir.join("tables")).expect("tables") {
        let table = table.expect("entry").path();
        let model = table.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&table)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().ends_with(".jsonl"))
            .collect();
        files.sort();
        let items = files
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.insert(model, items);
    }
    out
}

fn string_attr<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    item.get(field).and_then(|v| v["S"].as_str())
}

/// Per relation (`from -> to`): references, dangling references, and per missing
/// value the smallest referring key, as rtsnap names them: `<Model> id=<id> -> <value>`
/// plus `(and N more)` when N other items refer to it too.
type Findings = BTreeMap<String, (u64, u64, BTreeSet<String>)>;

fn expected_dangling(
    items: &BTreeMap<String, Vec<Value>>,
    relations: &[(String, String)],
) -> Findings {
    let mut out = BTreeMap::new();
    for (from, to) in relations {
        let (fm, ff) = from.split_once('.').unwrap();
        let (tm, tf) = to.split_once('.').unwrap();
        let targets: BTreeSet<&str> = items[tm]
            .iter()
            .filter_map(|i| string_attr(i, tf))
            .collect();
        let mut references = 0;
        let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for item in &items[fm] {
            if let Some(value) = string_attr(item, ff) {
                references += 1;
                if !targets.contains(value) {
                    let id = string_attr(item, "id").unwrap();
                    missing
                        .entry(value)
                        .or_default()
                        .insert(format!("{fm} id={id} -> {value}"));
                }
            }
        }
        let dangling = missing.values().map(|keys| keys.len() as u64).sum();
        let named = missing
            .values()
            .map(|keys| {
                let first = keys.iter().next().unwrap().clone();
                match keys.len() {
                    1 => first,
                    n => format!("{first} (and {} more)", n - 1),
                }
            })
            .collect();
        out.insert(format!("{from} -> {to}"), (references, dangling, named));
    }
    out
}

/// What rtsnap reported, in the same shape.
fn reported(doc: &Value) -> Findings {
    doc["relations"]
        .as_array()
        .expect("relations")
        .iter()
        .map(|r| {
            let name = format!(
                "{} -> {}",
                r["from"].as_str().unwrap(),
                r["to"].as_str().unwrap()
            );
            let first: BTreeSet<String> = r["first_dangling"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            let counts = (
                r["references"].as_u64().unwrap(),
                r["dangling"].as_u64().unwrap(),
            );
            (name, (counts.0, counts.1, first))
        })
        .collect()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the fixture with two planted faults: the first request points at a
/// contact that does not exist, and the first project (which comments, milestones,
/// quotes… refer to) is gone.
fn planted_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("planted");
    copy_dir(&fixture_dir(), &copy);
    let requests = copy.join("tables/Request/items-000001.jsonl");
    let text = std::fs::read_to_string(&requests).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut first: Value = serde_json::from_str(&lines[0]).unwrap();
    first["contactId"] = serde_json::json!({ "S": "c-planted-missing" });
    lines[0] = serde_json::to_string(&first).unwrap();
    std::fs::write(&requests, lines.join("\n") + "\n").unwrap();
    let projects = copy.join("tables/Project/items-000001.jsonl");
    let text = std::fs::read_to_string(&projects).unwrap();
    let rest: Vec<&str> = text.lines().skip(1).collect();
    std::fs::write(&projects, rest.join("\n") + "\n").unwrap();
    copy
}

/// Reads `MANIFEST.json` out of an archive with the stock tools.
fn manifest_with_stock_tools(world: &World, archive: &Path) -> Value {
    let script = format!(
        "age -d -i id.txt '{}' | zstd -d -q | tar -xO MANIFEST.json",
        archive.display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &script])
        .current_dir(world.dir.path())
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "stock tools: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("MANIFEST.json")
}

#[tokio::test]
async fn issue_9_dangling_references_are_found_with_their_keys_in_files_and_environments() {
    let world = World::new(Server::Dynalite, "relcheck", &[("staging", false)]);
    let relations = fixture_relations();
    append_config(&world, &relations_toml(&relations));
    let planted = planted_copy(world.dir.path());
    let expected = expected_dangling(&read_items(&planted), &relations);
    let planted_total: u64 = expected.values().map(|(_, d, _)| d).sum();
    assert!(
        planted_total >= 3,
        "the planted faults leave dangling references"
    );
    assert!(expected["Request.contactId -> Contact.id"]
        .2
        .iter()
        .any(|k| k.ends_with("-> c-planted-missing")));

    let out = world.rtsnap(&["pack", &planted.to_string_lossy(), "-o", "planted.rtsnap"]);
    assert!(out.status.success(), "pack: {}", stderr(&out));

    // The file: every relation's count and keys, exit 1.
    let out = world.rtsnap(&["check", "planted.rtsnap", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(reported(&doc["integrity"]), expected);

    // --strict refuses before anything is written: not even a table is created.
    let out = world.rtsnap(&[
        "import",
        "planted.rtsnap",
        "--target",
        "staging",
        "--create-missing",
        "--yes",
        "--strict",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("--strict") && err.contains("c-planted-missing"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(!world.table_exists(&world.table("staging", "Request")).await);

    // Without --strict, a warning; the import goes ahead.
    let out = world.rtsnap(&[
        "import",
        "planted.rtsnap",
        "--target",
        "staging",
        "--create-missing",
        "--yes",
        "--no-progress",
    ]);
    assert!(out.status.success(), "import: {}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("referential integrity: {planted_total} dangling")),
        "{text}"
    );

    // The environment: the same findings, from a scan; a folder named like the
    // environment beside the config (what `unpack x.rtsnap staging` leaves) does not
    // take its place (the 2026-12-01 bug hunt: it was read instead).
    std::fs::create_dir(world.dir.path().join("staging")).expect("folder");
    let out = world.rtsnap(&["check", "staging", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(reported(&doc["integrity"]), expected);
    std::fs::remove_dir(world.dir.path().join("staging")).expect("folder");

    // Export warns and records the result in MANIFEST.json (read with stock tools).
    let doc = world.rtsnap_json(&["export", "staging", "-o", "staging.rtsnap"]);
    assert_eq!(reported(&doc["integrity"]), expected);
    let manifest = manifest_with_stock_tools(&world, &world.dir.path().join("staging.rtsnap"));
    assert_eq!(reported(&manifest["integrity"]), expected);
}

#[test]
fn issue_9_suggest_finds_the_fixture_relations() {
    let ws = tempfile::tempdir().unwrap();
    let bin = common::rtsnap_bin();
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .current_dir(ws.path())
            .env("RTSNAP_IDENTITY", ws.path().join("id.txt"))
            .env_remove("RTSNAP_CONFIG")
            .output()
            .unwrap()
    };
    let out = run(&["keygen", "-o", "id.txt", "--json"]);
    assert!(out.status.success());
    let recipient: Value = serde_json::from_slice(&out.stdout).unwrap();
    std::fs::write(
        ws.path().join("rtsnap.toml"),
        format!(
            "[snapshots]\nrecipients = [\"{}\"]\n",
            recipient["recipient"].as_str().unwrap()
        ),
    )
    .unwrap();
    let out = run(&[
        "pack",
        &fixture_dir().to_string_lossy(),
        "-o",
        "demo.rtsnap",
    ]);
    assert!(
        out.status.success(),
        "pack: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No relations declared: check alone is a usage error that points at --suggest.
    let out = run(&["check", "demo.rtsnap", "--quiet"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--suggest"));

    let out = run(&["check", "demo.rtsnap", "--suggest", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let holding: BTreeSet<(String, String)> = doc["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["matched"] == s["values"])
        .map(|s| {
            (
                s["from"].as_str().unwrap().to_owned(),
                s["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = fixture_relations().into_iter().collect();
    assert_eq!(holding, want);

    // The text form is TOML that rtsnap.toml accepts and that then checks clean.
    let out = run(&["check", "demo.rtsnap", "--suggest"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let toml = &text[text.find("# suggested").expect("suggestions")..];
    let path = ws.path().join("rtsnap.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push('\n');
    config.push_str(toml);
    std::fs::write(&path, config).unwrap();
    let out = run(&["check", "demo.rtsnap", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["integrity"]["relations"].as_array().unwrap().len(),
        want.len()
    );
}

/// A pool like the fixture's: email sign-in, `name`, `phone_number`, `custom:company`.
async fn fixture_like_pool(world: &World, name: &str) -> String {
    let client = cognito(&world.endpoint).await;
    let attr = |n: &str| {
        SchemaAttributeType::builder()
            .name(n)
            .attribute_data_type(AttributeDataType::String)
            .mutable(true)
            .required(n == "email")
            .build()
    };
    let out = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .schema(attr("email"))
        .schema(attr("name"))
        .schema(attr("phone_number"))
        .schema(attr("company"))
        .send()
        .await
        .expect("CreateUserPool");
    out.user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned()
}

#[tokio::test]
async fn issue_9_with_related_imports_a_closed_sample_and_its_owners() {
    let world = World::new(Server::Moto, "relsample", &[("sandbox", false)]);
    let relations = fixture_relations();
    append_config(&world, &relations_toml(&relations));
    let pool = fixture_like_pool(&world, &format!("relsample-{}", world.suffix("sandbox"))).await;
    let path = world.dir.path().join("rtsnap.toml");
    let config = std::fs::read_to_string(&path).unwrap().replacen(
        "[environments.sandbox]\n",
        &format!("[environments.sandbox]\nuser_pool_id = \"{pool}\"\n"),
        1,
    );
    std::fs::write(&path, config).unwrap();
    let out = world.rtsnap(&[
        "pack",
        &fixture_dir().to_string_lossy(),
        "-o",
        "demo.rtsnap",
    ]);
    assert!(out.status.success(), "pack: {}", stderr(&out));

    // The plan shows the closure per model before anything is written.
    let plan = world.rtsnap_json(&[
        "import",
        "demo.rtsnap",
        "--target",
        "sandbox",
        "--only",
        "Contact",
        "--limit",
        "3",
        "--with-related",
        "--create-missing",
        "--dry-run",
    ]);
    let sample = plan["sample"]
        .as_object()
        .expect("the plan shows the closure per model");
    assert!(sample["Contact"].as_u64().unwrap() >= 3);

    let out = world.rtsnap(&[
        "import",
        "demo.rtsnap",
        "--target",
        "sandbox",
        "--only",
        "Contact",
        "--limit",
        "3",
        "--with-related",
        "--create-missing",
        "--yes",
        "--no-progress",
    ]);
    assert!(out.status.success(), "import: {}", stderr(&out));

    // Closed: nothing in the target refers to an item outside it.
    let out = world.rtsnap(&["check", "sandbox", "--json"]);
    assert!(out.status.success(), "check: {}", stderr(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["integrity"]["relations"].as_array().unwrap().len(),
        relations.len()
    );

    // The 3 first contacts (and any contact a sampled item refers to), and every
    // request of theirs came along.
    let fixture = read_items(&fixture_dir());
    let contacts: BTreeSet<String> = fixture["Contact"][..3]
        .iter()
        .map(|c| string_attr(c, "id").unwrap().to_owned())
        .collect();
    let scanned = world.scan_all(&world.table("sandbox", "Contact")).await;
    let got: BTreeSet<String> = scanned
        .iter()
        .map(|i| i["id"].as_s().unwrap().clone())
        .collect();
    assert!(contacts.is_subset(&got), "{contacts:?} in {got:?}");
    let their_requests: BTreeSet<String> = fixture["Request"]
        .iter()
        .filter(|r| string_attr(r, "contactId").is_some_and(|c| contacts.contains(c)))
        .map(|r| string_attr(r, "id").unwrap().to_owned())
        .collect();
    assert!(
        !their_requests.is_empty(),
        "the fixture's first contacts have requests"
    );
    let requests: BTreeSet<String> = world
        .scan_all(&world.table("sandbox", "Request"))
        .await
        .iter()
        .map(|i| i["id"].as_s().unwrap().clone())
        .collect();
    assert!(their_requests.is_subset(&requests));
    assert_eq!(
        sample.values().map(|v| v.as_u64().unwrap()).sum::<u64>(),
        {
            let mut n = 0;
            for model in sample.keys() {
                if world.table_exists(&world.table("sandbox", model)).await {
                    n += world.scan_all(&world.table("sandbox", model)).await.len() as u64;
                }
            }
            n
        },
        "the target holds exactly the planned sample"
    );

    // The users owning the sample's items came along, and only they.
    let mut owners = BTreeSet::new();
    for model in sample.keys() {
        if !world.table_exists(&world.table("sandbox", model)).await {
            continue;
        }
        for item in world.scan_all(&world.table("sandbox", model)).await {
            if let Some(owner) = item.get("owner").and_then(|v| v.as_s().ok()) {
                owners.insert(
                    owner
                        .split_once("::")
                        .map_or(owner.as_str(), |(_, u)| u)
                        .to_owned(),
                );
            }
        }
    }
    assert!(!owners.is_empty(), "some sampled items have owners");
    let users = cognito(&world.endpoint)
        .await
        .list_users()
        .user_pool_id(&pool)
        .send()
        .await
        .expect("ListUsers");
    let usernames: BTreeSet<String> = users
        .users()
        .iter()
        .filter_map(|u| u.username().map(str::to_owned))
        .collect();
    assert_eq!(usernames, owners);
}
