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

/// Issue 10: canaries in every secret rtsnap can be given (`AWS_SECRET_ACCESS_KEY`,
/// `AWS_SESSION_TOKEN`, `RTSNAP_PASSPHRASE`, `RTSNAP_TEMP_PASSWORD`), searched in their
/// plain and base64 forms in everything every command prints (text, `--json`, `-v`,
/// SDK trace logs, failures) and in everything written to disk (snapshot names, the
/// archives' bytes, sidecars, the journal).
#[tokio::test(flavor = "multi_thread")]
async fn issue_10_canaries_never_show_in_any_command_output_or_file() {
    use base64::Engine as _;
    const TEMP_PASSWORD: &str = "Canary-Temp-Pa55word-zq81!";
    let world = World::new(
        Server::Moto,
        "canaries",
        &[("staging", false), ("sandbox", false), ("production", true)],
    );
    let table = world.create_table("staging", "Contact", None, None).await;
    world
        .put_items(
            &table,
            (0..5).map(|i| simple_item(&format!("c-{i}"), i)).collect(),
        )
        .await;
    let pool = world.add_user_pool("staging").await;
    common::cognito(&world.endpoint)
        .await
        .admin_create_user()
        .user_pool_id(&pool)
        .username("canary-user")
        .message_action(aws_sdk_cognitoidentityprovider::types::MessageActionType::Suppress)
        .send()
        .await
        .expect("AdminCreateUser");
    world.add_user_pool("sandbox").await;
    let canaries: Vec<String> = [SECRET_ACCESS_KEY, SESSION_TOKEN, PASSPHRASE, TEMP_PASSWORD]
        .iter()
        .flat_map(|c| {
            let engines = [
                base64::engine::general_purpose::STANDARD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            std::iter::once(c.to_string()).chain(engines.map(|e| e.encode(c.as_bytes())))
        })
        .collect();
    let run = |args: &[&str]| {
        let mut cmd = world.command(args);
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
            .env("RTSNAP_PASSPHRASE", PASSPHRASE)
            .env("RTSNAP_SCRYPT_WORK_FACTOR", "16")
            .env("RTSNAP_TEMP_PASSWORD", TEMP_PASSWORD)
            .env("RUST_LOG", "trace");
        let out = cmd.output().expect("run rtsnap");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
        for canary in &canaries {
            assert!(
                !text.contains(canary.as_str()),
                "rtsnap {args:?}: a canary reached the output"
            );
        }
        (out.status.code().unwrap_or(-1), text)
    };
    let commands: Vec<(Vec<&str>, i32)> = vec![
        (vec!["export", "staging", "-o", "c.rtsnap", "-v"], 0),
        (vec!["export", "staging", "-o", "j.rtsnap", "--json"], 0),
        (vec!["inspect", "c.rtsnap", "--json"], 0),
        (vec!["verify", "c.rtsnap"], 0),
        (
            vec![
                "import",
                "c.rtsnap",
                "--target",
                "sandbox",
                "--create-missing",
                "--dry-run",
                "-v",
            ],
            0,
        ),
        (
            vec![
                "import",
                "c.rtsnap",
                "--target",
                "sandbox",
                "--create-missing",
                "--yes",
                "--json",
            ],
            0,
        ),
        (
            vec!["verify", "c.rtsnap", "--against", "sandbox", "--json"],
            0,
        ),
        (vec!["list", "--contents", "--json"], 0),
        (vec!["analyze", "sandbox", "--json"], 0),
        (
            vec![
                "import",
                "c.rtsnap",
                "--target",
                "production",
                "--create-missing",
                "--json",
            ],
            4,
        ),
        (
            vec!["import", "missing.rtsnap", "--target", "sandbox", "--json"],
            1,
        ),
        (vec!["rollback", "sandbox", "--yes", "-v"], 0),
    ];
    for (args, want) in &commands {
        let (code, text) = run(args);
        assert_eq!(code, *want, "rtsnap {args:?}: {text}");
        assert!(text.len() > 100, "rtsnap {args:?} was verbose: {text}");
    }
    // What went to disk: names, archive bytes (age's plaintext header included),
    // sidecars and the journal.
    let mut files = world.snapshots();
    files.extend(["c.rtsnap", "j.rtsnap", "c.rtsnap.sha256"].map(String::from));
    for name in &files {
        let path = if world.dir.path().join(name).exists() {
            world.dir.path().join(name)
        } else {
            world.snapshot_dir().join(name)
        };
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for canary in &canaries {
            assert!(
                !name.contains(canary.as_str()),
                "a file name holds a canary: {name}"
            );
            assert!(
                !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
                "{name} holds a canary"
            );
        }
    }
    assert!(
        files.iter().any(|f| f == "journal.jsonl"),
        "the journal was checked: {files:?}"
    );
}
