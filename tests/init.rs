//! `rtsnap init <ENV> --outputs amplify_outputs.json` against moto: from the fixture's
//! outputs it writes a config with which export → import → `verify --against` work
//! with no hand edits, keeping the file's comments and other sections; with two
//! backends holding every model it exits 2 naming both and asks for `--suffix`.
//!
//! Each test runs in an AWS account of its own on moto (an IAM access key created in
//! a fresh account id): `init` looks at *every* table of an account, and other tests
//! sharing the emulator may load full copies of the demo models at any time, which
//! would rightly make `init` ask which backend is meant.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AttributeType, MessageActionType, SchemaAttributeType,
    UsernameAttributeType, VerifiedAttributeType,
};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use common::world::{stderr, World};
use common::{bucket_name, emulator, unique_suffix, Server, REGION};
use rtsnap::config::Config;

/// A moto account of the test's own, reached with an access key moto maps to it.
struct Account {
    endpoint: String,
    key: String,
}

impl Account {
    /// Creates an IAM user and access key in a fresh 12-digit account id (moto's
    /// `x-moto-account-id` header picks the account for these two calls; afterwards
    /// the access key alone does).
    fn new(test: &str) -> Account {
        let endpoint = emulator().endpoint(Server::Moto).to_owned();
        let digits: String = unique_suffix(test)
            .bytes()
            .map(|b| char::from(b'0' + b % 10))
            .collect();
        let id = format!("9{}", &digits[digits.len() - 11..]);
        let iam = |body: &str| -> String {
            ureq::post(&endpoint)
                .header("x-moto-account-id", &id)
                .header(
                    "Authorization",
                    "AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
                )
                .header("Content-Type", "application/x-www-form-urlencoded")
                .send(body)
                .unwrap_or_else(|e| panic!("moto IAM {body}: {e}"))
                .body_mut()
                .read_to_string()
                .expect("IAM response")
        };
        iam("Action=CreateUser&UserName=rtsnap-init&Version=2010-05-08");
        let created = iam("Action=CreateAccessKey&UserName=rtsnap-init&Version=2010-05-08");
        let key = created
            .split("<AccessKeyId>")
            .nth(1)
            .and_then(|rest| rest.split("</AccessKeyId>").next())
            .unwrap_or_else(|| panic!("no access key in {created}"))
            .to_owned();
        Account { endpoint, key }
    }

    async fn sdk(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(&self.key, "x", None, None, "rtsnap-init"))
            .load()
            .await
    }

    async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk().await)
    }

    async fn cognito(&self) -> aws_sdk_cognitoidentityprovider::Client {
        aws_sdk_cognitoidentityprovider::Client::new(&self.sdk().await)
    }

    async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&self.sdk().await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Runs rtsnap in the world's folder as this account.
    fn rtsnap(&self, world: &World, args: &[&str]) -> Output {
        world
            .command(args)
            .env("AWS_ACCESS_KEY_ID", &self.key)
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .output()
            .expect("run rtsnap")
    }

    /// As [`Account::rtsnap`] with `--json`, asserting exit 0.
    fn rtsnap_json(&self, world: &World, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let out = self.rtsnap(world, &all);
        assert!(out.status.success(), "rtsnap {args:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    }

    /// A guard that empties the account when the test ends.
    fn cleanup(&self) -> AccountCleanup {
        AccountCleanup {
            endpoint: self.endpoint.clone(),
            key: self.key.clone(),
        }
    }
}

/// Deletes every table, bucket and pool of the account (all of them are the test's)
/// when dropped, passed or panicked, on a thread with its own runtime, as
/// `common::Cleanup` does. `RTSNAP_TEST_KEEP=1` keeps them.
#[must_use = "bind it: `let _cleanup = account.cleanup();`"]
struct AccountCleanup {
    endpoint: String,
    key: String,
}

impl Drop for AccountCleanup {
    fn drop(&mut self) {
        if std::env::var_os("RTSNAP_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            return;
        }
        let account = Account {
            endpoint: self.endpoint.clone(),
            key: self.key.clone(),
        };
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(60), async {
                    common::delete_tables_containing(&account.dynamodb().await, "").await;
                    common::delete_buckets_containing(&account.s3().await, "").await;
                    common::delete_user_pools_containing(&account.cognito().await, "").await;
                })
                .await;
            });
        });
        let _ = worker.join();
    }
}

fn fixtures() -> PathBuf {
    common::repo_root().join("fixtures")
}

/// The fixture's models: its table folders.
fn fixture_models() -> Vec<String> {
    let mut models: Vec<String> = std::fs::read_dir(fixtures().join("demo/tables"))
        .expect("fixture tables")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    models.sort();
    models
}

/// The relations `fixtures/README.md` lists (the generator's own list).
fn fixture_relations() -> BTreeSet<(String, String)> {
    let readme = std::fs::read_to_string(fixtures().join("README.md")).expect("README");
    let value = |line: &str, key: &str| {
        line.strip_prefix(key)
            .map(|v| v.trim_matches(|c| c == '"' || c == ' ').to_owned())
    };
    let lines: Vec<&str> = readme.lines().collect();
    lines
        .windows(2)
        .filter_map(|w| Some((value(w[0], "from = ")?, value(w[1], "to = ")?)))
        .collect()
}

/// Models whose fixture items carry an `owner` attribute.
fn fixture_owner_models() -> BTreeSet<String> {
    fixture_models()
        .into_iter()
        .filter(|m| {
            let path = fixtures().join(format!("demo/tables/{m}/items-000001.jsonl"));
            std::fs::read_to_string(path)
                .expect("items")
                .lines()
                .any(|l| l.contains("\"owner\":"))
        })
        .collect()
}

/// The recipients line `World::new` wrote.
fn recipients(world: &World) -> String {
    let text = std::fs::read_to_string(world.dir.path().join("rtsnap.toml")).expect("config");
    text.lines()
        .find(|l| l.starts_with("recipients"))
        .expect("recipients line")
        .to_owned()
}

/// A pool like the fixture's: email sign-in and `custom:company`.
async fn create_pool(client: &aws_sdk_cognitoidentityprovider::Client, name: &str) -> String {
    let string = |name: &str| {
        SchemaAttributeType::builder()
            .name(name)
            .attribute_data_type(AttributeDataType::String)
            .mutable(true)
            .build()
    };
    let out = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .schema(string("email"))
        .schema(string("name"))
        .schema(string("phone_number"))
        .schema(string("company"))
        .send()
        .await
        .expect("CreateUserPool");
    out.user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned()
}

async fn create_bucket(client: &aws_sdk_s3::Client, bucket: &str) {
    client
        .create_bucket()
        .bucket(bucket)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket");
}

#[test]
fn the_fixture_outputs_describe_the_fixture() {
    let facts = rtsnap::amplify::read_outputs(&fixtures().join("amplify_outputs.json")).unwrap();
    assert_eq!(facts.models, fixture_models());
    let relations: BTreeSet<(String, String)> = facts
        .relations
        .iter()
        .map(|r| (r.from.clone(), r.to.clone()))
        .collect();
    assert_eq!(relations.len(), 36);
    assert_eq!(relations, fixture_relations());
    let header: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("demo/rtsnap.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(facts.region.as_deref(), header["source"]["region"].as_str());
    assert_eq!(
        facts.user_pool_id.as_deref(),
        header["source"]["user_pool_id"].as_str()
    );
    assert_eq!(facts.bucket.as_deref(), header["source"]["bucket"].as_str());
    let expected: BTreeMap<String, Vec<String>> = fixture_owner_models()
        .into_iter()
        .map(|m| (m, vec!["owner".to_string()]))
        .collect();
    assert_eq!(facts.owner_fields, expected);
    assert!(facts.warnings.is_empty(), "{:?}", facts.warnings);
}

#[tokio::test(flavor = "multi_thread")]
async fn init_writes_a_config_with_which_export_import_and_verify_work() {
    let world = World::new(Server::Moto, "init", &[]);
    let account = Account::new("init_e2e");
    let _cleanup = account.cleanup();
    let endpoint = account.endpoint.clone();
    let (staging, copy) = (unique_suffix("initstaging"), unique_suffix("initcopy"));
    let (cognito, s3) = (account.cognito().await, account.s3().await);
    let staging_pool = create_pool(&cognito, &format!("staging-{staging}")).await;
    let copy_pool = create_pool(&cognito, &format!("copy-{copy}")).await;
    let (staging_bucket, copy_bucket) = (bucket_name(&staging), bucket_name(&copy));
    create_bucket(&s3, &staging_bucket).await;
    create_bucket(&s3, &copy_bucket).await;
    for key in ["public/logo.png", "protected/readme.txt"] {
        s3.put_object()
            .bucket(&staging_bucket)
            .key(key)
            .body(ByteStream::from(format!("bytes of {key}").into_bytes()))
            .send()
            .await
            .expect("PutObject");
    }

    // The deployed backend: the demo tables (a sample of each: moto scans slowly, and
    // the claim here is about the config, not volume) under the staging suffix,
    // loaded through a separate config, plus three users.
    let fixture = fixtures().join("demo");
    std::fs::write(
        world.dir.path().join("seed.toml"),
        format!(
            "[snapshots]\n{}\n\n[environments.staging]\nregion = \"{REGION}\"\nbackend_suffix = \"{staging}\"\nendpoint_url = \"{endpoint}\"\n",
            recipients(&world)
        ),
    )
    .unwrap();
    let seed = |args: &[&str]| {
        let mut all = vec!["--config", "seed.toml"];
        all.extend_from_slice(args);
        account.rtsnap_json(&world, &all)
    };
    seed(&["pack", fixture.to_str().unwrap(), "-o", "demo.rtsnap"]);
    let models = fixture_models().join(",");
    let loaded = seed(&[
        "import",
        "demo.rtsnap",
        "--target",
        "staging",
        "--create-missing",
        "--yes",
        "--no-backup",
        "--only",
        &models,
        "--limit",
        "5",
    ]);
    let items = loaded["written"].as_u64().expect("written");
    for n in 0..3 {
        let email = format!("user{n}@example.com");
        cognito
            .admin_create_user()
            .user_pool_id(&staging_pool)
            .username(&email)
            .message_action(MessageActionType::Suppress)
            .user_attributes(
                AttributeType::builder()
                    .name("email")
                    .value(&email)
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("AdminCreateUser");
    }

    // The outputs of that backend: the fixture's, naming this account's pool and
    // bucket instead of the fixture's (moto chooses pool ids; bucket names are
    // global). Everything init derives from the data schema is the fixture's.
    let mut outputs: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fixtures().join("amplify_outputs.json")).unwrap(),
    )
    .unwrap();
    outputs["auth"]["user_pool_id"] = staging_pool.clone().into();
    outputs["storage"]["bucket_name"] = staging_bucket.clone().into();
    outputs["storage"]["buckets"][0]["bucket_name"] = staging_bucket.clone().into();
    std::fs::write(
        world.dir.path().join("amplify_outputs.json"),
        serde_json::to_string_pretty(&outputs).unwrap(),
    )
    .unwrap();

    let copy_section = format!(
        "[environments.copy]\nregion = \"{REGION}\"\nbackend_suffix = \"{copy}\"\nendpoint_url = \"{endpoint}\"\nuser_pool_id = \"{copy_pool}\"\nbucket = \"{copy_bucket}\"\n"
    );
    let comment = "# staging: filled in by `rtsnap init`, from the backend's amplify_outputs.json";
    let config_path = world.dir.path().join("rtsnap.toml");
    std::fs::write(
        &config_path,
        format!(
            "[snapshots]\n{}\n\n{comment}\n[environments.staging]\nendpoint_url = \"{endpoint}\"\n\n{copy_section}",
            recipients(&world)
        ),
    )
    .unwrap();

    let report = account.rtsnap_json(
        &world,
        &["init", "staging", "--outputs", "amplify_outputs.json"],
    );
    assert_eq!(report["file"], "updated", "{report}");
    assert_eq!(report["backend_suffix"]["suffix"], staging.as_str());
    assert_eq!(report["backend_suffix"]["detected"], true);
    assert_eq!(report["backend_suffix"]["tables"], 35);
    assert_eq!(report["relations_added"].as_array().map(Vec::len), Some(36));

    let text = std::fs::read_to_string(&config_path).unwrap();
    assert!(
        text.contains(&format!(
            "{comment}\n[environments.staging]\nendpoint_url = \"{endpoint}\"\n"
        )),
        "the comment and the existing key are kept:\n{text}"
    );
    assert!(
        text.contains(&copy_section),
        "the other environment is kept:\n{text}"
    );
    let config = Config::load(&config_path).expect("the written config loads");
    let env = config.environment_with("staging", |_| None).unwrap();
    assert_eq!(env.region.as_deref(), Some(REGION));
    assert_eq!(env.backend_suffix, staging);
    assert_eq!(env.user_pool_id.as_deref(), Some(staging_pool.as_str()));
    assert_eq!(env.bucket.as_deref(), Some(staging_bucket.as_str()));
    assert_eq!(env.endpoint_url.as_deref(), Some(endpoint.as_str()));
    assert_eq!(env.required_models, fixture_models());
    let relations: BTreeSet<(String, String)> = config
        .relations
        .iter()
        .map(|r| (r.from.clone(), r.to.clone()))
        .collect();
    assert_eq!(config.relations.len(), 36);
    assert_eq!(relations, fixture_relations());
    let owners: BTreeSet<String> = config.owner_fields.keys().cloned().collect();
    assert_eq!(owners, fixture_owner_models());
    assert!(config.owner_fields.values().all(|f| f == &["owner"]));

    // The written config, used as it is.
    let exported = account.rtsnap_json(&world, &["export", "staging", "-o", "staging.rtsnap"]);
    assert_eq!(exported["total_items"], items, "{exported}");
    assert_eq!(exported["tables"].as_object().map(|t| t.len()), Some(35));
    assert_eq!(exported["users"]["users"], 3, "{exported}");
    assert_eq!(exported["assets"]["objects"], 2, "{exported}");
    account.rtsnap_json(
        &world,
        &[
            "import",
            "staging.rtsnap",
            "--target",
            "copy",
            "--create-missing",
            "--yes",
            "--no-backup",
        ],
    );
    let verified = account.rtsnap_json(&world, &["verify", "staging.rtsnap", "--against", "copy"]);
    assert_eq!(verified["equal"], true, "{verified}");
}

#[tokio::test(flavor = "multi_thread")]
async fn init_asks_for_suffix_when_two_backends_hold_every_model() {
    let world = World::new(Server::Moto, "init", &[]);
    let account = Account::new("init_two");
    let _cleanup = account.cleanup();
    let client = account.dynamodb().await;
    let (one, two) = (unique_suffix("initone"), unique_suffix("inittwo"));
    for (suffix, extra) in [(&one, None), (&two, Some("Extra"))] {
        for model in fixture_models().iter().map(String::as_str).chain(extra) {
            common::create_table(&client, &format!("{model}-{suffix}-NONE")).await;
        }
    }
    let config_path = world.dir.path().join("rtsnap.toml");
    let before = format!(
        "[snapshots]\n{}\n\n[environments.staging]\nendpoint_url = \"{}\"\n",
        recipients(&world),
        account.endpoint
    );
    std::fs::write(&config_path, &before).unwrap();
    let outputs = fixtures().join("amplify_outputs.json");
    let init = |extra: &[&str]| {
        let mut args = vec!["init", "staging", "--outputs", outputs.to_str().unwrap()];
        args.extend_from_slice(extra);
        account.rtsnap(&world, &args)
    };

    let out = init(&[]);
    let message = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{message}");
    for expected in [
        format!("{one} (35 tables)"),
        format!("{two} (36 tables)"),
        "--suffix".to_string(),
    ] {
        assert!(message.contains(&expected), "{expected:?} not in {message}");
    }
    let out = init(&["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["exit_code"], 2);
    assert_eq!(
        std::fs::read_to_string(&config_path).unwrap(),
        before,
        "nothing is written when init cannot choose"
    );

    let out = init(&["--suffix", &two]);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = Config::load(&config_path)
        .unwrap()
        .environment_with("staging", |_| None)
        .unwrap();
    assert_eq!(env.backend_suffix, two);

    // A given suffix is checked too: a typo is refused, not written.
    let out = init(&["--suffix", "nosuchbackend"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("35 of the 35 models have no table"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        Config::load(&config_path)
            .unwrap()
            .environment_with("staging", |_| None)
            .unwrap()
            .backend_suffix,
        two
    );
}
