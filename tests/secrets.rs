//! No secret value ever reaches a log line, an error message, a report or a snapshot
//! name: rtsnap runs here with the most verbose logging there is (`RUST_LOG=trace`,
//! which includes the SDK's request signing), real credentials-shaped values, a
//! passphrase and an age identity, against a real server and against a dead one.

mod common;

use common::world::{simple_item, stderr, World};
use common::Server;

const ACCESS_KEY_ID: &str = "AKIAZZZZSECRETKEYID7";
const SECRET_ACCESS_KEY: &str = "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";
const SESSION_TOKEN: &str = "FwoGZXIvYXdzEJr//////////SESSIONTOKENzzzz";
const PASSPHRASE: &str = "correct horse battery staple secret";

fn secrets(world: &World) -> Vec<String> {
    let identity = std::fs::read_to_string(world.dir.path().join("id.txt")).unwrap();
    let age_secret = identity
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_owned();
    vec![
        ACCESS_KEY_ID.into(),
        SECRET_ACCESS_KEY.into(),
        SESSION_TOKEN.into(),
        PASSPHRASE.into(),
        age_secret,
    ]
}

/// Runs rtsnap with the secrets in its environment and trace logging; returns all output.
fn run_with_secrets(world: &World, args: &[&str], passphrase: bool) -> (i32, String) {
    let mut cmd = world.command(args);
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("RUST_LOG", "trace");
    if passphrase {
        cmd.env("RTSNAP_PASSPHRASE", PASSPHRASE)
            .env("RTSNAP_SCRYPT_WORK_FACTOR", "16");
    }
    let out = cmd.output().expect("run rtsnap");
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    (out.status.code().unwrap_or(-1), all)
}

fn assert_no_secret(world: &World, output: &str, what: &str) {
    assert!(
        output.len() > 200,
        "{what}: expected verbose output, got {output:?}"
    );
    for secret in secrets(world) {
        assert!(
            !output.contains(&secret),
            "{what}: a secret value reached the output"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_trace_logs_reports_or_snapshot_names() {
    let world = World::new(
        Server::Moto,
        "secrets",
        &[("staging", false), ("sandbox", false)],
    );
    let table = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &table,
            (0..5).map(|i| simple_item(&format!("c-{i}"), i)).collect(),
        )
        .await;

    let (code, output) = run_with_secrets(&world, &["export", "staging"], true);
    assert_eq!(code, 0, "{output}");
    assert!(
        output.contains("DynamoDB"),
        "trace logs were on: {}",
        &output[..200.min(output.len())]
    );
    assert_no_secret(&world, &output, "export");

    let snapshot = world
        .snapshots()
        .into_iter()
        .find(|n| n.ends_with(".rtsnap"))
        .unwrap();
    let (code, output) = run_with_secrets(
        &world,
        &[
            "import",
            &snapshot,
            "--target",
            "sandbox",
            "--create-missing",
            "--yes",
            "--json",
        ],
        true,
    );
    assert_eq!(code, 0, "{output}");
    assert_no_secret(&world, &output, "import");

    for name in world.snapshots() {
        for secret in secrets(&world) {
            assert!(
                !name.contains(&secret),
                "a snapshot name holds a secret: {name}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_errors_from_a_failing_endpoint_or_a_wrong_key() {
    let world = World::new(Server::Moto, "secreterr", &[("staging", false)]);
    // A dead endpoint: the SDK's error chain (with its retries) is the message.
    let config = world.dir.path().join("rtsnap.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let dead = text.replace(&world.endpoint, "http://127.0.0.1:9");
    std::fs::write(world.dir.path().join("dead.toml"), dead).unwrap();
    let (code, output) = run_with_secrets(
        &world,
        &["--config", "dead.toml", "export", "staging"],
        false,
    );
    assert_eq!(code, 1, "{output}");
    assert!(output.contains("rtsnap: error:"), "{output}");
    assert_no_secret(&world, &output, "dead endpoint");

    // A passphrase archive opened with the wrong passphrase.
    std::fs::write(world.dir.path().join("x.txt"), "").unwrap();
    let (code, output) = run_with_secrets(
        &world,
        &[
            "pack",
            concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo"),
            "-o",
            "p.rtsnap",
        ],
        true,
    );
    assert_eq!(code, 0, "{output}");
    let out = world
        .command(&["inspect", "p.rtsnap"])
        .env("RTSNAP_PASSPHRASE", "not the passphrase at all")
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!text.contains("not the passphrase at all"), "{text}");
    assert!(!text.contains(PASSPHRASE));
}
