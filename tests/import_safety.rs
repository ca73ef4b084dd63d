//! The import's safety rails, checked end to end against real emulators (moto and
//! dynalite): a protected target needs `--confirm <its name>`; a key-schema mismatch, a
//! tampered or truncated archive and a bad `--only` are refused before anything is
//! written (no table touched or created, no backup taken); `rollback` restores the exact
//! pre-import state; `--limit` imports a sample without deleting; a missing
//! `required_models` entry stops an export; `--dry-run` writes nothing and plans exactly
//! what the real run then does. Every outcome is checked with an independent SDK scan.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use aws_sdk_dynamodb::types::AttributeValue as V;
use common::world::{simple_item, stderr, SdkItem, World};
use common::Server;

// --- helpers ---------------------------------------------------------------------------------

/// `n` Contact items `c-00000`...
fn contacts(range: std::ops::Range<i64>) -> Vec<SdkItem> {
    range
        .map(|i| simple_item(&format!("c-{i:05}"), i))
        .collect()
}

/// `n` Note items `n-000`...
fn notes(range: std::ops::Range<i64>) -> Vec<SdkItem> {
    range
        .map(|i| simple_item(&format!("n-{i:03}"), i * 10))
        .collect()
}

/// A copy of `item` with a different `name` (same key, different content).
fn edited(mut item: SdkItem, what: &str) -> SdkItem {
    item.insert("name".into(), V::S(format!("edited in {what}")));
    item
}

/// What an environment's tables hold, model → items (`None`: the table does not exist).
type State = BTreeMap<String, Option<Vec<SdkItem>>>;

async fn state(world: &World, env: &str, models: &[&str]) -> State {
    let mut out = BTreeMap::new();
    for model in models {
        let table = world.table(env, model);
        let items = if world.table_exists(&table).await {
            Some(world.scan_all(&table).await)
        } else {
            None
        };
        out.insert(model.to_string(), items);
    }
    out
}

/// Asserts two states are equal, with a readable message (item counts, not item dumps).
fn assert_same(actual: &State, expected: &State, what: &str) {
    let sizes = |s: &State| -> BTreeMap<String, Option<usize>> {
        s.iter()
            .map(|(m, items)| (m.clone(), items.as_ref().map(Vec::len)))
            .collect()
    };
    assert!(
        actual == expected,
        "{what}: tables differ (item counts: actual {:?}, expected {:?})",
        sizes(actual),
        sizes(expected)
    );
}

fn exit_code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("rtsnap killed by a signal: {}", stderr(out)))
}

/// Runs `rtsnap <args> --quiet`, expects exit `want`, nothing on stdout and exactly one
/// stderr line (`rtsnap: error: ...`); returns that line.
fn fails(world: &World, args: &[&str], want: i32) -> String {
    let mut all = args.to_vec();
    all.push("--quiet");
    let out = world.rtsnap(&all);
    let err = stderr(&out);
    assert_eq!(
        exit_code(&out),
        want,
        "rtsnap {args:?}: expected exit {want}; stdout: {}; stderr: {err}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "rtsnap {args:?}: stdout should be empty on failure: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "rtsnap {args:?}: expected exactly one stderr line, got: {err:?}"
    );
    assert!(
        lines[0].starts_with("rtsnap: error: "),
        "rtsnap {args:?}: {err:?}"
    );
    lines[0].to_owned()
}

/// No file at all in the snapshot directory: no backup (not even a `.partial`) was taken.
fn assert_no_backup(world: &World, what: &str) {
    assert_eq!(
        world.snapshots(),
        Vec::<String>::new(),
        "{what}: the snapshot directory should be empty (no backup)"
    );
}

fn table_plan(doc: &serde_json::Value, model: &str, field: &str) -> u64 {
    doc["tables"][model][field]
        .as_u64()
        .unwrap_or_else(|| panic!("tables.{model}.{field} missing in {doc}"))
}

/// Seeds staging with Contact (GSI on email) and Note, and exports it to `snap.rtsnap`.
async fn seed_staging(world: &World, n_contacts: i64, n_notes: i64) -> State {
    let contact = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    let note = world.create_table("staging", "Note", None, None).await;
    world.put_items(&contact, contacts(0..n_contacts)).await;
    world.put_items(&note, notes(0..n_notes)).await;
    let export = world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);
    assert_eq!(export["tables"]["Contact"], n_contacts);
    assert_eq!(export["tables"]["Note"], n_notes);
    state(world, "staging", &["Contact", "Note"]).await
}

// --- 1. protected target ------------------------------------------------------------------

async fn protected_needs_confirm(server: Server) {
    let world = World::new(
        server,
        "protconfirm",
        &[("staging", false), ("production", true)],
    );
    let source = seed_staging(&world, 20, 5).await;
    let contact = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    let note = world.create_table("production", "Note", None, None).await;
    world
        .put_items(&contact, vec![simple_item("p-1", 1), simple_item("p-2", 2)])
        .await;
    world.put_items(&note, notes(3..7)).await;
    let before = state(&world, "production", &["Contact", "Note"]).await;
    let import = ["import", "snap.rtsnap", "--target", "production"];

    // No --confirm, no terminal: refused, saying how to confirm.
    let out = world.rtsnap(&import);
    assert_eq!(exit_code(&out), 4, "{}", stderr(&out));
    let err = stderr(&out);
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("rtsnap: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "one error line: {err}");
    assert!(
        errors[0].contains("--confirm production"),
        "the message says how to confirm: {err}"
    );
    let line = fails(&world, &import, 4);
    assert!(line.contains("--confirm production"), "{line}");

    // --yes does not stand in for --confirm on a protected target.
    let line = fails(&world, &[&import[..], &["--yes"]].concat(), 4);
    assert!(line.contains("--confirm production"), "{line}");

    // A wrong name is refused too.
    let line = fails(
        &world,
        &[&import[..], &["--confirm", "staging"]].concat(),
        4,
    );
    assert!(
        line.contains("staging") && line.contains("production"),
        "{line}"
    );

    // With --json the refusal is one JSON document with the exit code.
    let out = world.rtsnap(&[&import[..], &["--json"]].concat());
    assert_eq!(exit_code(&out), 4);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error doc");
    assert_eq!(doc["exit_code"], 4, "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("--confirm production")),
        "{doc}"
    );

    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &before,
        "after the refusals",
    );
    assert_no_backup(&world, "after the refusals");

    // The right name goes through.
    let done = world.rtsnap_json(&[&import[..], &["--confirm", "production"]].concat());
    assert_eq!(done["dry_run"], false);
    assert_eq!(done["verification"]["Contact"], "match", "{done}");
    assert_eq!(done["verification"]["Note"], "match", "{done}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &source,
        "after the confirmed import",
    );
    let backup = done["backup"].as_str().expect("a backup was taken");
    let backups = world.snapshots();
    assert!(
        backups
            .iter()
            .any(|f| f.starts_with("production-pre-import-") && backup.ends_with(f.as_str())),
        "backup {backup} in {backups:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_target_needs_confirm_on_moto() {
    protected_needs_confirm(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn protected_target_needs_confirm_on_dynalite() {
    protected_needs_confirm(Server::Dynalite).await;
}

// --- 2. key-schema mismatch ---------------------------------------------------------------

async fn key_schema_mismatch(server: Server) {
    let world = World::new(
        server,
        "keymismatch",
        &[("staging", false), ("production", true)],
    );
    seed_staging(&world, 12, 4).await;
    // production's Contact has a sort key; staging's has none. Note matches.
    let contact = world
        .create_table("production", "Contact", Some("version"), None)
        .await;
    let note = world.create_table("production", "Note", None, None).await;
    let versioned: Vec<SdkItem> = (1..=3)
        .map(|v| {
            let mut item = simple_item("c-00001", v);
            item.insert("version".into(), V::N(v.to_string()));
            item
        })
        .collect();
    world.put_items(&contact, versioned).await;
    world.put_items(&note, notes(7..9)).await;
    let before = state(&world, "production", &["Contact", "Note"]).await;

    for extra in [&[][..], &["--create-missing"][..], &["--merge"][..]] {
        let args = [
            &["import", "snap.rtsnap", "--target", "production"][..],
            &["--confirm", "production"],
            extra,
        ]
        .concat();
        let line = fails(&world, &args, 4);
        assert!(
            line.contains(&contact),
            "the message names the target table {contact}: {line}"
        );
        assert!(
            !line.contains(&note),
            "the matching table is not blamed: {line}"
        );
    }
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &before,
        "after the refusal (the matching Note table included)",
    );
    assert_no_backup(&world, "after the refusal");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_schema_mismatch_is_refused_on_moto() {
    key_schema_mismatch(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn key_schema_mismatch_is_refused_on_dynalite() {
    key_schema_mismatch(Server::Dynalite).await;
}

// --- 3. tampered and truncated archives ---------------------------------------------------

async fn damaged_archive(server: Server) {
    let world = World::new(
        server,
        "tampered",
        &[("staging", false), ("production", true)],
    );
    seed_staging(&world, 40, 6).await;
    // production has a Contact table that differs; Note does not exist.
    let contact = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    world
        .put_items(
            &contact,
            vec![edited(simple_item("c-00001", 1), "production")],
        )
        .await;
    let before = state(&world, "production", &["Contact", "Note"]).await;
    assert_eq!(before["Note"], None);

    let good = std::fs::read(world.dir.path().join("snap.rtsnap")).expect("read snapshot");
    let mut flipped = good.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0xff;
    let damaged = [
        ("flipped.rtsnap", flipped),
        ("half.rtsnap", good[..good.len() / 2].to_vec()),
        ("lastbyte.rtsnap", good[..good.len() - 1].to_vec()),
    ];
    for (name, bytes) in &damaged {
        std::fs::write(world.dir.path().join(name), bytes).expect("write damaged copy");
        for extra in [&["--confirm", "production"][..], &["--dry-run"][..]] {
            let args = [
                &["import", name, "--target", "production", "--create-missing"][..],
                extra,
            ]
            .concat();
            fails(&world, &args, 3);
        }
        assert_same(
            &state(&world, "production", &["Contact", "Note"]).await,
            &before,
            &format!("after importing {name}"),
        );
        assert!(
            !world.table_exists(&world.table("production", "Note")).await,
            "{name}: the missing table must not be created"
        );
        assert_no_backup(&world, name);
    }

    // The undamaged original is fine: the refusals above were about the damage.
    let plan = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--dry-run",
    ]);
    assert_eq!(plan["tables"]["Note"]["create"], true, "{plan}");
    assert_eq!(table_plan(&plan, "Contact", "put"), 39, "{plan}");
    assert_eq!(table_plan(&plan, "Contact", "update"), 1, "{plan}");
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_archive_writes_nothing_on_moto() {
    damaged_archive(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_archive_writes_nothing_on_dynalite() {
    damaged_archive(Server::Dynalite).await;
}

// --- 4. rollback ----------------------------------------------------------------------------

async fn rollback_restores(server: Server) {
    let world = World::new(
        server,
        "rollback",
        &[("staging", false), ("production", true)],
    );
    let source = seed_staging(&world, 30, 5).await;
    // State A: some items equal to the snapshot's, one same id with other content, one
    // the snapshot lacks; Note entirely different.
    let contact = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    let note = world.create_table("production", "Note", None, None).await;
    let mut a_contacts = contacts(0..5);
    a_contacts.push(edited(simple_item("c-00005", 5), "production"));
    a_contacts.push(simple_item("x-only-in-production", 77));
    world.put_items(&contact, a_contacts).await;
    world.put_items(&note, notes(100..104)).await;
    let state_a = state(&world, "production", &["Contact", "Note"]).await;

    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--confirm",
        "production",
    ]);
    assert_eq!(import["mode"], "exact");
    assert_eq!(table_plan(&import, "Contact", "put"), 24);
    assert_eq!(table_plan(&import, "Contact", "update"), 1);
    assert_eq!(table_plan(&import, "Contact", "delete"), 1);
    assert_eq!(table_plan(&import, "Contact", "unchanged"), 5);
    assert_eq!(table_plan(&import, "Note", "delete"), 4);
    let state_b = state(&world, "production", &["Contact", "Note"]).await;
    assert_same(&state_b, &source, "after the import");
    let backup = import["backup"].as_str().expect("backup path").to_owned();
    assert!(
        std::path::Path::new(&backup).exists(),
        "backup {backup} exists"
    );
    assert!(
        import["rollback_command"]
            .as_str()
            .is_some_and(|c| c.contains("--confirm production")),
        "{import}"
    );

    let listed = world.rtsnap_json(&["list", "--env", "production"]);
    let entries = listed["snapshots"].as_array().expect("snapshots array");
    assert!(
        entries
            .iter()
            .any(|s| s["kind"] == "pre-import-backup" && s["file"] == backup.as_str()),
        "list shows the pre-import backup: {listed}"
    );

    // A protected rollback also needs --confirm.
    let line = fails(&world, &["rollback", "production"], 4);
    assert!(line.contains("--confirm production"), "{line}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &state_b,
        "after the refused rollback",
    );

    let out = world.rtsnap(&[
        "rollback",
        "production",
        "--confirm",
        "production",
        "--json",
    ]);
    assert_eq!(exit_code(&out), 0, "rollback: {}", stderr(&out));
    let rolled: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rollback JSON");
    assert_eq!(rolled["mode"], "exact");
    assert!(
        rolled["snapshot"]
            .as_str()
            .is_some_and(|s| s == backup.as_str()),
        "rollback used the backup {backup}: {rolled}"
    );
    assert_eq!(rolled["verification"]["Contact"], "match", "{rolled}");
    assert_eq!(rolled["verification"]["Note"], "match", "{rolled}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &state_a,
        "after the rollback",
    );
    assert!(
        world
            .snapshots()
            .iter()
            .any(|f| f.starts_with("production-pre-rollback-") && f.ends_with(".rtsnap")),
        "rollback took its own backup first: {:?}",
        world.snapshots()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_pre_import_state_on_moto() {
    rollback_restores(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_restores_pre_import_state_on_dynalite() {
    rollback_restores(Server::Dynalite).await;
}

// --- 5. sample import -----------------------------------------------------------------------

async fn sample_import(server: Server) {
    let world = World::new(
        server,
        "sample",
        &[("staging", false), ("production", false)],
    );
    let source = seed_staging(&world, 20, 5).await;
    let contact = world.table("production", "Contact");

    let sample = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--only",
        "Contact",
        "--limit",
        "3",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(sample["mode"], "sample", "{sample}");
    assert_eq!(table_plan(&sample, "Contact", "put"), 3, "{sample}");
    assert_eq!(table_plan(&sample, "Contact", "delete"), 0, "{sample}");
    assert_eq!(sample["written"], 3, "{sample}");
    assert_eq!(sample["deleted"], 0, "{sample}");
    assert!(
        sample["tables"].get("Note").is_none(),
        "only Contact is planned: {sample}"
    );
    let written = world.scan_all(&contact).await;
    assert_eq!(written.len(), 3);
    let staged = source["Contact"].as_ref().expect("staging Contact");
    assert!(
        written.iter().all(|item| staged.contains(item)),
        "the sample items are snapshot items, unchanged"
    );
    assert!(
        !world.table_exists(&world.table("production", "Note")).await,
        "the model left out by --only is not created"
    );

    // A sample never deletes: an item the snapshot lacks stays.
    world
        .put_items(&contact, vec![simple_item("x-only-in-production", 1)])
        .await;
    let more = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--only",
        "Contact",
        "--limit",
        "5",
        "--yes",
    ]);
    assert_eq!(more["mode"], "sample");
    assert_eq!(table_plan(&more, "Contact", "delete"), 0, "{more}");
    assert_eq!(more["deleted"], 0, "{more}");
    let after = world.scan_all(&contact).await;
    assert_eq!(after.len(), 6, "5 sample items + the production-only one");
    assert!(after
        .iter()
        .any(|i| i["id"] == V::S("x-only-in-production".into())));

    let line = fails(
        &world,
        &[
            "import",
            "snap.rtsnap",
            "--target",
            "production",
            "--only",
            "NoSuchModel",
            "--create-missing",
            "--yes",
        ],
        2,
    );
    assert!(line.contains("NoSuchModel"), "{line}");
    assert_eq!(world.scan_all(&contact).await, after);
    assert!(!world.table_exists(&world.table("production", "Note")).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_import_writes_only_the_sample_on_moto() {
    sample_import(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_import_writes_only_the_sample_on_dynalite() {
    sample_import(Server::Dynalite).await;
}

// --- 6. required_models ---------------------------------------------------------------------

async fn required_models(server: Server) {
    let world = World::new(server, "required", &[("staging", false)]);
    let contact = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    world.put_items(&contact, contacts(0..3)).await;
    let config_path = world.dir.path().join("rtsnap.toml");
    let original = std::fs::read_to_string(&config_path).expect("read config");
    let with_required = |models: &str| {
        let header = "[environments.staging]\n";
        assert!(original.contains(header), "{original}");
        original.replacen(
            header,
            &format!("{header}required_models = [{models}]\n"),
            1,
        )
    };

    std::fs::write(&config_path, with_required("\"Contact\", \"Nope\"")).unwrap();
    let line = fails(&world, &["export", "staging"], 2);
    assert!(line.contains("Nope"), "{line}");
    assert!(!line.contains("Contact,"), "only the missing one: {line}");
    let line = fails(&world, &["export", "staging", "-o", "req.rtsnap"], 2);
    assert!(line.contains("Nope"), "{line}");
    assert!(!world.dir.path().join("req.rtsnap").exists());
    assert_no_backup(&world, "after the refused export");

    // Present required models are fine.
    std::fs::write(&config_path, with_required("\"Contact\"")).unwrap();
    let ok = world.rtsnap_json(&["export", "staging", "-o", "ok.rtsnap"]);
    assert_eq!(ok["tables"]["Contact"], 3);

    // --only naming a model the environment lacks.
    std::fs::write(&config_path, &original).unwrap();
    let line = fails(
        &world,
        &["export", "staging", "--only", "Nope", "-o", "only.rtsnap"],
        2,
    );
    assert!(line.contains("Nope"), "{line}");
    assert!(!world.dir.path().join("only.rtsnap").exists());
    let line = fails(&world, &["export", "staging", "--only", "Contact,Nope"], 2);
    assert!(line.contains("Nope"), "{line}");
    assert_no_backup(&world, "after the refused --only exports");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_required_model_stops_export_on_moto() {
    required_models(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_required_model_stops_export_on_dynalite() {
    required_models(Server::Dynalite).await;
}

// --- 7. dry run -----------------------------------------------------------------------------

async fn dry_run(server: Server) {
    let world = World::new(
        server,
        "dryrun",
        &[("staging", false), ("production", true)],
    );
    let source = seed_staging(&world, 25, 4).await;
    // production differs in all three ways: 3 missing, 2 changed, 4 extra (Contact);
    // Note does not exist at all.
    let contact = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    let id = |item: &SdkItem| match &item["id"] {
        V::S(id) => id.clone(),
        other => panic!("id {other:?}"),
    };
    let mut target: Vec<SdkItem> = contacts(0..20)
        .into_iter()
        .filter(|i| !["c-00004", "c-00009"].contains(&id(i).as_str()))
        .map(|i| {
            if ["c-00002", "c-00007"].contains(&id(&i).as_str()) {
                edited(i, "production")
            } else {
                i
            }
        })
        .collect();
    target.extend((0..4).map(|i| simple_item(&format!("x-{i}"), i)));
    world.put_items(&contact, target).await;
    let before = state(&world, "production", &["Contact", "Note"]).await;
    assert_eq!(before["Contact"].as_ref().map(Vec::len), Some(18 + 4));

    let args = [
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
    ];
    let plan = world.rtsnap_json(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(plan["dry_run"], true, "{plan}");
    assert_eq!(plan["written"], 0);
    assert_eq!(plan["deleted"], 0);
    assert!(plan["backup"].is_null(), "{plan}");
    // 25 snapshot contacts: c-00004, c-00009 and c-00020..24 missing, 2 changed, 4 extra.
    assert_eq!(table_plan(&plan, "Contact", "put"), 7, "{plan}");
    assert_eq!(table_plan(&plan, "Contact", "update"), 2, "{plan}");
    assert_eq!(table_plan(&plan, "Contact", "delete"), 4, "{plan}");
    assert_eq!(table_plan(&plan, "Contact", "unchanged"), 16, "{plan}");
    assert_eq!(plan["tables"]["Note"]["create"], true, "{plan}");
    assert_eq!(table_plan(&plan, "Note", "put"), 4, "{plan}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &before,
        "after the dry run",
    );
    assert_no_backup(&world, "after the dry run");

    let real = world.rtsnap_json(&[&args[..], &["--confirm", "production"]].concat());
    assert_eq!(real["dry_run"], false);
    assert_eq!(
        real["tables"], plan["tables"],
        "the real run plans what the dry run said"
    );
    let sum = |doc: &serde_json::Value, fields: &[&str]| -> u64 {
        ["Contact", "Note"]
            .iter()
            .flat_map(|m| fields.iter().map(move |f| table_plan(doc, m, f)))
            .sum()
    };
    assert_eq!(real["written"], sum(&plan, &["put", "update"]), "{real}");
    assert_eq!(real["deleted"], sum(&plan, &["delete"]), "{real}");
    assert_eq!(real["verification"]["Contact"], "match", "{real}");
    assert_eq!(real["verification"]["Note"], "match", "{real}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &source,
        "after the real run",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing_and_plans_exactly_on_moto() {
    dry_run(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_writes_nothing_and_plans_exactly_on_dynalite() {
    dry_run(Server::Dynalite).await;
}

// --- 8. rollback picks the newest backup ----------------------------------------------------

/// Two imports whose backups are taken in the same UTC millisecond get the names
/// `<env>-pre-import-<T>.rtsnap` and `<env>-pre-import-<T>-002.rtsnap` (the counter of
/// `backup_path`); `rollback` must restore the newer one (undo the last import). The same
/// millisecond is arranged by renaming the two real backups to exactly those names.
/// (Regression: names were once to the second with an unpadded counter, and `-` sorting
/// before `.` made rollback restore the older backup.)
async fn rollback_picks_newest(server: Server) {
    let world = World::new(
        server,
        "rollbacknewest",
        &[("staging", false), ("production", false)],
    );
    let staging = world
        .create_table("staging", "Contact", None, Some("email"))
        .await;
    world.put_items(&staging, contacts(0..10)).await;
    world.rtsnap_json(&["export", "staging", "-o", "s1.rtsnap"]);
    let state_s1 = state(&world, "staging", &["Contact"]).await;
    world
        .put_items(
            &staging,
            vec![
                edited(simple_item("c-00003", 3), "staging"),
                simple_item("c-00100", 100),
            ],
        )
        .await;
    world.rtsnap_json(&["export", "staging", "-o", "s2.rtsnap"]);

    let production = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    world
        .put_items(&production, vec![simple_item("x-only-in-production", 1)])
        .await;
    let first = world.rtsnap_json(&["import", "s1.rtsnap", "--target", "production", "--yes"]);
    let second = world.rtsnap_json(&["import", "s2.rtsnap", "--target", "production", "--yes"]);
    let older = std::path::PathBuf::from(first["backup"].as_str().expect("first backup"));
    let newer = std::path::PathBuf::from(second["backup"].as_str().expect("second backup"));
    assert_ne!(older, newer);

    // The names two backups taken in the same millisecond T get.
    let name = newer.file_name().unwrap().to_string_lossy().into_owned();
    let stamp: String = name
        .strip_prefix("production-pre-import-")
        .map(|s| s.chars().take("YYYYMMDDTHHMMSSmmmZ".len()).collect())
        .unwrap_or_else(|| panic!("unexpected backup name {name}"));
    let dir = world.snapshot_dir();
    let rename = |from: &std::path::Path, to: &str| {
        let to = dir.join(to);
        if from == to {
            return;
        }
        std::fs::rename(from, &to).expect("rename backup");
        let sidecar = |p: &std::path::Path| {
            let mut s = p.as_os_str().to_owned();
            s.push(".sha256");
            std::path::PathBuf::from(s)
        };
        if sidecar(from).exists() {
            std::fs::rename(sidecar(from), sidecar(&to)).expect("rename sidecar");
        }
    };
    rename(&newer, &format!("production-pre-import-{stamp}-002.rtsnap"));
    rename(&older, &format!("production-pre-import-{stamp}.rtsnap"));
    // The journal names backups by path, and the renames above would mislead it; what
    // is tested here is the file-name order, rollback's fallback when no journal entry
    // names a backup (backups from before the journal, or a journal removed).
    std::fs::remove_file(dir.join("journal.jsonl")).expect("the imports were journaled");

    let out = world.rtsnap(&["rollback", "production", "--yes", "--json"]);
    assert_eq!(exit_code(&out), 0, "rollback: {}", stderr(&out));
    let rolled: serde_json::Value = serde_json::from_slice(&out.stdout).expect("rollback JSON");
    assert!(
        rolled["snapshot"]
            .as_str()
            .is_some_and(|s| s.ends_with(&format!("{stamp}-002.rtsnap"))),
        "rollback must restore the newest backup (…{stamp}-002.rtsnap, taken by the second \
         import), not the older …{stamp}.rtsnap: it used {}",
        rolled["snapshot"]
    );
    assert_same(
        &state(&world, "production", &["Contact"]).await,
        &state_s1,
        "rollback undoes the last import",
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_picks_newest_same_second_backup_on_moto() {
    rollback_picks_newest(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_picks_newest_same_second_backup_on_dynalite() {
    rollback_picks_newest(Server::Dynalite).await;
}

// --- 9. tables an import created ----------------------------------------------------------

/// A table created by `--create-missing` is in the pre-import backup as an empty table,
/// so `rollback` empties it (it never drops tables) while restoring the others exactly.
/// (Regression: such tables were left out of the backup and kept the imported items.)
async fn rollback_empties_created_tables(server: Server) {
    let world = World::new(
        server,
        "rollbackcreated",
        &[("staging", false), ("production", false)],
    );
    seed_staging(&world, 6, 4).await;
    let production = world
        .create_table("production", "Contact", None, Some("email"))
        .await;
    world
        .put_items(&production, vec![simple_item("x-only-in-production", 1)])
        .await;
    let before = state(&world, "production", &["Contact"]).await;
    let import = world.rtsnap_json(&[
        "import",
        "snap.rtsnap",
        "--target",
        "production",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(import["created_tables"].as_array().map(Vec::len), Some(1));
    assert!(import["backup"].is_string(), "{import}");
    let note = world.table("production", "Note");
    assert_eq!(world.scan_all(&note).await.len(), 4);

    let rolled = world.rtsnap_json(&["rollback", "production", "--yes"]);
    assert_eq!(rolled["tables"]["Note"]["delete"], 4, "{rolled}");
    assert_same(
        &state(&world, "production", &["Contact"]).await,
        &before,
        "Contact is back to its pre-import state",
    );
    assert!(
        world.table_exists(&note).await,
        "rollback never drops a table"
    );
    assert!(
        world.scan_all(&note).await.is_empty(),
        "the created table is emptied"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_empties_tables_the_import_created_on_moto() {
    rollback_empties_created_tables(Server::Moto).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rollback_empties_tables_the_import_created_on_dynalite() {
    rollback_empties_created_tables(Server::Dynalite).await;
}

// --- protection follows the tables, not the name (issue 10) ----------------------------------

/// An environment overridden onto production's tables is refused as a configuration
/// error unless it declares `alias_of = "production"`; declared, it is protected like
/// production. Either way production is left exactly as it was.
#[tokio::test]
async fn issue_10_protection_follows_the_tables_not_the_name() {
    let world = World::new(
        Server::Dynalite,
        "aliasprot",
        &[("staging", false), ("production", true), ("sandbox", false)],
    );
    seed_staging(&world, 5, 2).await;
    let before = state(&world, "production", &["Contact", "Note"]).await;
    let onto_production = |args: &[&str]| {
        let mut all = args.to_vec();
        all.push("--quiet");
        world
            .command(&all)
            .env("RTSNAP_SANDBOX_BACKEND_SUFFIX", world.suffix("production"))
            .output()
            .expect("run rtsnap")
    };
    let import = [
        "import",
        "snap.rtsnap",
        "--target",
        "sandbox",
        "--create-missing",
        "--yes",
    ];
    let out = onto_production(&import);
    assert_eq!(exit_code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("same tables as `production`"),
        "{}",
        stderr(&out)
    );

    let path = world.dir.path().join("rtsnap.toml");
    let config = std::fs::read_to_string(&path).unwrap().replacen(
        "[environments.sandbox]\n",
        "[environments.sandbox]\nalias_of = \"production\"\n",
        1,
    );
    std::fs::write(&path, config).unwrap();
    let out = onto_production(&import);
    let err = stderr(&out);
    assert_eq!(exit_code(&out), 4, "{err}");
    assert!(
        err.contains("`sandbox` is protected") && err.contains("the protected `production`"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_same(
        &state(&world, "production", &["Contact", "Note"]).await,
        &before,
        "production untouched",
    );
    let backups: Vec<String> = world
        .snapshots()
        .into_iter()
        .filter(|f| f.contains("pre-import"))
        .collect();
    assert!(backups.is_empty(), "no backup taken: {backups:?}");
}

// --- files: backups outside git, stale .partial files (issue 10) ------------------------------

/// A snapshot directory inside a git work tree is refused before anything is written
/// (backups hold personal data); a `.partial` left by a killed run does not block the
/// next export under the same name, while one a live process holds is refused.
#[tokio::test]
async fn issue_10_backups_stay_out_of_git_and_stale_partials_do_not_block() {
    let world = World::new(
        Server::Dynalite,
        "partials",
        &[("staging", false), ("sandbox", false)],
    );
    seed_staging(&world, 4, 1).await;
    let repo = world.dir.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    let out = world
        .command(&[
            "import",
            "snap.rtsnap",
            "--target",
            "sandbox",
            "--create-missing",
            "--yes",
            "--quiet",
        ])
        .env("RTSNAP_HOME", repo.join("home"))
        .output()
        .unwrap();
    assert_eq!(exit_code(&out), 4, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("inside the git work tree"),
        "{}",
        stderr(&out)
    );
    assert!(!world.table_exists(&world.table("sandbox", "Contact")).await);
    assert!(
        !repo.join("home").exists(),
        "nothing written under the repository"
    );

    // A stale .partial (no process holds its lock) is replaced.
    let target = world.dir.path().join("again.rtsnap");
    let partial = world.dir.path().join("again.rtsnap.partial");
    std::fs::write(&partial, b"left by a killed export").unwrap();
    let doc = world.rtsnap_json(&["export", "staging", "-o", "again.rtsnap"]);
    assert_eq!(doc["tables"]["Contact"], 4);
    assert!(target.exists() && !partial.exists());

    // One a live writer holds (an flock, as rtsnap's own writer takes; this test
    // process stands in for it) is refused.
    std::fs::write(&partial, b"being written").unwrap();
    let held = std::fs::OpenOptions::new()
        .write(true)
        .open(&partial)
        .unwrap();
    held.lock().expect("flock");
    let out = world.rtsnap(&["export", "staging", "-o", "other.rtsnap", "--quiet"]);
    assert!(
        out.status.success(),
        "another name is fine: {}",
        stderr(&out)
    );
    std::fs::remove_file(&target).unwrap();
    let out = world.rtsnap(&["export", "staging", "-o", "again.rtsnap", "--quiet"]);
    drop(held);
    assert_eq!(exit_code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another rtsnap is writing"),
        "{}",
        stderr(&out)
    );
    assert!(partial.exists(), "the live writer's file is left alone");
}

/// A backup only someone else can open is no backup: when rtsnap.toml's recipients do
/// not include the operator's identity, the import stops after writing the backup
/// and before the first write to the target (issue 10).
#[tokio::test]
async fn issue_10_a_backup_the_operator_cannot_open_stops_the_import() {
    let world = World::new(
        Server::Dynalite,
        "backupkey",
        &[("staging", false), ("sandbox", false)],
    );
    seed_staging(&world, 3, 1).await;
    let other = world.rtsnap_json(&["keygen", "-o", "someone-else.txt"]);
    let path = world.dir.path().join("rtsnap.toml");
    let config = std::fs::read_to_string(&path).unwrap();
    let start = config.find("recipients = [").unwrap();
    let end = start + config[start..].find('\n').unwrap();
    let config = format!(
        "{}recipients = [\"{}\"]{}",
        &config[..start],
        other["recipient"].as_str().unwrap(),
        &config[end..]
    );
    std::fs::write(&path, config).unwrap();
    let err = fails(
        &world,
        &[
            "import",
            "snap.rtsnap",
            "--target",
            "sandbox",
            "--create-missing",
            "--yes",
        ],
        4,
    );
    assert!(err.contains("cannot be opened with your identity"), "{err}");
    assert!(err.contains("nothing was written to `sandbox`"), "{err}");
    assert!(!world.table_exists(&world.table("sandbox", "Contact")).await);
}

/// `cmd` run under a file-size limit of `kib` KiB (`ulimit -f`, with SIGXFSZ ignored so
/// that a write past the limit fails with EFBIG instead of killing the process): the
/// portable stand-in for a full disk, needing no root and no small filesystem.
fn with_file_size_limit(cmd: &std::process::Command, kib: u64) -> std::process::Command {
    let mut limited = std::process::Command::new("sh");
    // dash counts `ulimit -f` in blocks of 512 bytes, bash in 1024: the limit is `kib`
    // or 2 × `kib` KiB, whichever shell `sh` is.
    limited
        .arg("-c")
        .arg(format!(
            "ulimit -f {}; trap '' XFSZ; exec \"$0\" \"$@\"",
            kib * 2
        ))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    for (name, value) in cmd.get_envs() {
        match value {
            Some(value) => limited.env(name, value),
            None => limited.env_remove(name),
        };
    }
    if let Some(dir) = cmd.get_current_dir() {
        limited.current_dir(dir);
    }
    limited
}

/// Issue 10: "the writer's real error (disk full, permission) is what export reports".
/// An export whose archive cannot be written past 4 KiB fails with the operating
/// system's own reason on one line (not the pipeline's "writer stopped early"), exit 1,
/// and leaves neither the snapshot nor its `.partial`.
#[tokio::test]
async fn issue_10_an_export_that_cannot_write_reports_the_write_error_and_leaves_nothing() {
    let world = World::new(Server::Dynalite, "diskfull", &[("staging", false)]);
    seed_staging(&world, 2_000, 1).await;
    let full = world.rtsnap_json(&["export", "staging", "-o", "full.rtsnap"]);
    let size = std::fs::metadata(world.dir.path().join("full.rtsnap"))
        .unwrap()
        .len();
    assert!(
        size > 8 * 1024,
        "the archive ({size} bytes) must exceed the limit: {full}"
    );

    let out = with_file_size_limit(
        &world.command(&["export", "staging", "-o", "limited.rtsnap", "--quiet"]),
        4,
    )
    .output()
    .unwrap();
    let err = stderr(&out);
    assert_eq!(exit_code(&out), 1, "{err}");
    assert!(err.contains("File too large"), "the OS's reason: {err}");
    assert!(!err.contains("stopped early"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    for name in ["limited.rtsnap", "limited.rtsnap.partial"] {
        assert!(!world.dir.path().join(name).exists(), "{name} is left");
    }
}
