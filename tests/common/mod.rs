//! Shared harness for rtsnap's integration tests.
//!
//! Every test that touches AWS talks to a real AWS-API server on loopback, never to an SDK mock:
//! `moto_server` (DynamoDB, Cognito user pools, S3) and `dynalite` (strict DynamoDB). Both are
//! installed and started by `scripts/emulator.sh`; [`emulator`] finds or starts them.
//!
//! A missing or unstartable emulator is a test failure (a panic with instructions), never a skip,
//! in CI (`CI=true`) and locally alike: a green run must mean the AWS paths really ran.
//!
//! Isolation: tests share one emulator process per server, so every test names its resources
//! with its own [`unique_suffix`] and cleans them up with a [`Cleanup`] guard.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub mod faults;
pub mod recorder;
pub mod world;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
};

/// Env var naming the moto endpoint; set it to use an emulator started elsewhere.
pub const MOTO_ENV: &str = "RTSNAP_MOTO_ENDPOINT";
/// Env var naming the dynalite endpoint; set it to use an emulator started elsewhere.
pub const DYNALITE_ENV: &str = "RTSNAP_DYNALITE_ENDPOINT";
/// The region every test client and spawned `rtsnap` uses (any region works on the emulators;
/// one fixed value keeps ARNs and moto's per-region backends consistent).
pub const REGION: &str = "us-west-1";
/// How long [`emulator`] waits for endpoints to answer (moto starts in ~1 s, dynalite faster).
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Which emulator a test talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Server {
    /// moto_server: DynamoDB, Cognito and S3 in one process; lenient about DynamoDB limits.
    Moto,
    /// dynalite: DynamoDB only, with the real service's validation and limits
    /// (25-item batches, duplicate keys rejected, tables CREATING before ACTIVE).
    Dynalite,
}

/// The running emulators' endpoints (`http://127.0.0.1:PORT`).
#[derive(Clone, Debug)]
pub struct Emulator {
    moto: String,
    dynalite: String,
}

impl Emulator {
    /// The endpoint URL of `server`, for `endpoint_url` / `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self, server: Server) -> &str {
        match server {
            Server::Moto => &self.moto,
            Server::Dynalite => &self.dynalite,
        }
    }
}

/// The emulators every test in this process shares, found or started once (thread-safe).
///
/// Endpoints come from, in order: the env vars [`MOTO_ENV`] / [`DYNALITE_ENV`] (each one set
/// wins for its server); `.emulator/env` at the repo root if its servers answer; otherwise
/// `scripts/emulator.sh start` is run (it installs on first use; concurrent test processes are
/// serialised by its lock) and its env file is read. Then both endpoints must answer.
///
/// Panics with a how-to-fix message if that fails, in CI and locally: never a silent skip.
/// The failure is remembered, so later tests in the process fail fast with the same message.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Result<Emulator, String>> = OnceLock::new();
    match EMULATOR.get_or_init(find_or_start) {
        Ok(emulator) => emulator,
        Err(reason) => panic!(
            "the AWS emulators needed by this test are unavailable: {reason}\n\n\
             To fix: run `scripts/emulator.sh start` from the repo root and read its message \
             (first use installs moto into a Python venv and dynalite via npm under \
             ${{RTSNAP_EMULATOR_HOME:-~/.cache/rtsnap-emulator}}: needs python3 with venv/pip, \
             node >= 20 with npm, and access to PyPI/npm; see install.log there and \
             .emulator/*.log). Or point {MOTO_ENV} and {DYNALITE_ENV} at running servers.\n\
             This is a failure, not a skip, on purpose (in CI and locally): a green run \
             must mean the AWS code paths really ran."
        ),
    }
}

/// Repo root: where `scripts/` and `.emulator/` live.
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn find_or_start() -> Result<Emulator, String> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let (env_moto, env_dynalite) = (from_env(MOTO_ENV), from_env(DYNALITE_ENV));

    let emulator = if let (Some(moto), Some(dynalite)) = (&env_moto, &env_dynalite) {
        Emulator {
            moto: moto.clone(),
            dynalite: dynalite.clone(),
        }
    } else {
        let env_file = repo_root().join(".emulator/env");
        let running = read_env_file(&env_file).filter(|e| answers(&e.moto) && answers(&e.dynalite));
        let mut emulator = match running {
            Some(e) => e,
            None => {
                start_script()?;
                read_env_file(&env_file).ok_or_else(|| {
                    format!(
                        "scripts/emulator.sh start succeeded but {} is missing or incomplete",
                        env_file.display()
                    )
                })?
            }
        };
        if let Some(moto) = env_moto {
            emulator.moto = moto;
        }
        if let Some(dynalite) = env_dynalite {
            emulator.dynalite = dynalite;
        }
        emulator
    };

    let deadline = Instant::now() + READY_TIMEOUT;
    for (name, url, var) in [
        ("moto", &emulator.moto, MOTO_ENV),
        ("dynalite", &emulator.dynalite, DYNALITE_ENV),
    ] {
        while !answers(url) {
            if Instant::now() > deadline {
                let source = if from_env(var).is_some() {
                    format!("set by the env var {var}")
                } else {
                    "from .emulator/env".to_string()
                };
                return Err(format!(
                    "{name} at {url} ({source}) did not answer HTTP within {READY_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(emulator)
}

/// Runs `scripts/emulator.sh start`, capturing its output for the error message.
/// (The servers it launches detach from its stdio, so `output()` returns when it exits.)
fn start_script() -> Result<(), String> {
    let script = repo_root().join("scripts/emulator.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("start")
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`{} start` failed ({}):\n{}{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Parses the `KEY=VALUE` lines `scripts/emulator.sh` writes; `None` unless both are there.
fn read_env_file(path: &Path) -> Option<Emulator> {
    let text = std::fs::read_to_string(path).ok()?;
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    Some(Emulator {
        moto: value(MOTO_ENV)?,
        dynalite: value(DYNALITE_ENV)?,
    })
}

/// True when something answers HTTP at `url` (any status: the server is up). Plain std TCP,
/// so the readiness check needs no HTTP client and no async runtime.
pub fn answers(url: &str) -> bool {
    let Some(authority) = url
        .strip_prefix("http://")
        .map(|rest| rest.split('/').next().unwrap_or(rest))
    else {
        return false;
    };
    let Some(addr) = authority.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    let timeout = Duration::from_secs(2);
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!("GET / HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

// --- SDK configuration and clients ---------------------------------------------------------

/// An `SdkConfig` for `endpoint` with static dummy credentials and [`REGION`], so tests never
/// read real credentials or reach real AWS. Built like rtsnap builds its own (aws_config).
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "rtsnap-tests",
        ))
        .load()
        .await
}

/// A DynamoDB client for `endpoint` (moto or dynalite).
pub async fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint).await)
}

/// A Cognito user-pools client for `endpoint` (moto only).
pub async fn cognito(endpoint: &str) -> aws_sdk_cognitoidentityprovider::Client {
    aws_sdk_cognitoidentityprovider::Client::new(&sdk_config(endpoint).await)
}

/// A Cognito user attribute `name` = `value`.
pub fn cognito_attr(
    name: &str,
    value: &str,
) -> aws_sdk_cognitoidentityprovider::types::AttributeType {
    aws_sdk_cognitoidentityprovider::types::AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .expect("attribute")
}

/// An S3 client for `endpoint` (moto only), path-style: `bucket.127.0.0.1` does not resolve.
pub async fn s3(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&sdk_config(endpoint).await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

// --- unique names --------------------------------------------------------------------------

/// Length of [`unique_suffix`]: like an AppSync API id, which Amplify Gen 2 puts in table
/// names (`Todo-<26 lowercase alphanumerics>-NONE`).
pub const SUFFIX_LEN: usize = 26;

/// A fresh backend suffix for one test: 26 lowercase alphanumerics, unique on this machine.
///
/// Tests share the emulators (cargo test runs tests as threads, nextest as processes, several
/// clones may share one emulator), so each test names its tables, buckets and pools with its
/// own suffix. Built from nanos since the epoch (13 chars) + pid (5) + a per-process counter
/// (4) + a hash of `test_name` (4): pid + counter make it unique among live processes, the
/// time makes it unique against leftovers of earlier runs on a long-lived emulator.
pub fn unique_suffix(test_name: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    // FNV-1a: stable across runs, unlike std's RandomState.
    let hash = test_name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    let suffix = [
        base36(nanos, 13),
        base36(u64::from(std::process::id()), 5),
        base36(count, 4),
        base36(hash, 4),
    ]
    .concat();
    debug_assert_eq!(suffix.len(), SUFFIX_LEN);
    suffix
}

/// The low `width` base-36 digits of `n`, zero-padded.
fn base36(mut n: u64, width: usize) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("ascii")
}

/// The DynamoDB table name Amplify Gen 2 gives `model` in the backend `suffix`:
/// `{model}-{suffix}-NONE`.
pub fn amplify_table_name(model: &str, suffix: &str) -> String {
    format!("{model}-{suffix}-NONE")
}

/// A valid, unique S3 bucket name for the test owning `suffix` (38 chars, lowercase).
pub fn bucket_name(suffix: &str) -> String {
    format!("rtsnap-test-{suffix}")
}

/// The user pool name [`create_user_pool`] uses for `suffix`.
pub fn user_pool_name(suffix: &str) -> String {
    format!("rtsnap-test-{suffix}")
}

// --- fixtures ------------------------------------------------------------------------------

/// Creates a table with hash key `id` (S), PAY_PER_REQUEST, and waits until it is ACTIVE.
/// Panics on failure (a test fixture: the failure message is the diagnosis).
pub async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute definition"),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key schema"),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateTable {name}: {e:?}"));
    wait_table_active(client, name).await;
}

/// Polls DescribeTable until `name` is ACTIVE (up to 30 s). Needed on dynalite, which keeps new
/// tables CREATING for ~500 ms (as real DynamoDB does for longer); instant on moto.
pub async fn wait_table_active(client: &aws_sdk_dynamodb::Client, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"));
        let status = out.table().and_then(|t| t.table_status()).cloned();
        if status == Some(TableStatus::Active) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "table {name} still {status:?} after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a plain user pool named [`user_pool_name`]`(suffix)` and returns its id.
pub async fn create_user_pool(
    client: &aws_sdk_cognitoidentityprovider::Client,
    suffix: &str,
) -> String {
    let out = client
        .create_user_pool()
        .pool_name(user_pool_name(suffix))
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUserPool: {e:?}"));
    out.user_pool()
        .and_then(|p| p.id())
        .expect("CreateUserPool returned no pool id")
        .to_string()
}

/// Like [`create_user_pool`] but shaped like Amplify Gen 2's default auth: users sign in with
/// their email (`UsernameAttributes=[email]`, email auto-verified), so Cognito gives each user
/// a generated username and the email is only an attribute.
pub async fn create_amplify_user_pool(
    client: &aws_sdk_cognitoidentityprovider::Client,
    suffix: &str,
) -> String {
    use aws_sdk_cognitoidentityprovider::types::{UsernameAttributeType, VerifiedAttributeType};
    let out = client
        .create_user_pool()
        .pool_name(user_pool_name(suffix))
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .send()
        .await
        .unwrap_or_else(|e| panic!("CreateUserPool: {e:?}"));
    out.user_pool()
        .and_then(|p| p.id())
        .expect("CreateUserPool returned no pool id")
        .to_string()
}

// --- running the rtsnap binary -------------------------------------------------------------

/// The `rtsnap` binary cargo built for this test run.
pub fn rtsnap_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rtsnap"))
}

/// Env vars a spawned `rtsnap` needs to talk to `endpoint` with dummy credentials: the SDK's
/// standard variables, so rtsnap is tested through its real credential/endpoint loading.
/// Also remove [`AWS_ENV_REMOVE`] (or use [`rtsnap_command`], which does both).
pub fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", REGION),
        ("AWS_DEFAULT_REGION", REGION),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        // Keep a developer's ~/.aws (profiles, SSO, per-service endpoints) out of the test.
        ("AWS_CONFIG_FILE", "/nonexistent/rtsnap-tests/config"),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/rtsnap-tests/credentials",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Env vars to remove from a spawned `rtsnap`: they would override [`aws_env`]'s settings
/// (a profile, a session token with no matching key, per-service endpoint overrides).
pub const AWS_ENV_REMOVE: &[&str] = &[
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
];

/// A `Command` for the `rtsnap` binary wired to `endpoint` ([`aws_env`], minus
/// [`AWS_ENV_REMOVE`]), stdin closed. Add args and run it.
pub fn rtsnap_command(endpoint: &str) -> Command {
    let mut cmd = Command::new(rtsnap_bin());
    for key in AWS_ENV_REMOVE {
        cmd.env_remove(key);
    }
    cmd.envs(aws_env(endpoint)).stdin(Stdio::null());
    cmd
}

// --- cleanup -------------------------------------------------------------------------------

/// Deletes, on `server`, every DynamoDB table — and on moto also every S3 bucket (emptied first)
/// and Cognito user pool — whose name contains `suffix`. Best effort: errors are ignored, the
/// names of what was deleted are returned. Prefer the [`Cleanup`] guard, which also runs when
/// the test panics.
pub async fn cleanup_suffix(server: Server, suffix: &str) -> Vec<String> {
    let endpoint = emulator().endpoint(server).to_string();
    let mut deleted = delete_tables_containing(&dynamodb(&endpoint).await, suffix).await;
    if server == Server::Moto {
        deleted.extend(delete_buckets_containing(&s3(&endpoint).await, suffix).await);
        deleted.extend(delete_user_pools_containing(&cognito(&endpoint).await, suffix).await);
    }
    deleted
}

/// Deletes the tables whose names contain `suffix`; returns their names. Best effort.
pub async fn delete_tables_containing(
    client: &aws_sdk_dynamodb::Client,
    suffix: &str,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut start: Option<String> = None;
    loop {
        let Ok(page) = client
            .list_tables()
            .set_exclusive_start_table_name(start.take())
            .send()
            .await
        else {
            break;
        };
        names.extend(
            page.table_names()
                .iter()
                .filter(|n| n.contains(suffix))
                .cloned(),
        );
        match page.last_evaluated_table_name() {
            Some(last) => start = Some(last.to_string()),
            None => break,
        }
    }
    let mut deleted = Vec::new();
    for name in names {
        if client.delete_table().table_name(&name).send().await.is_ok() {
            deleted.push(name);
        }
    }
    deleted
}

/// Empties and deletes the buckets whose names contain `suffix`; returns their names.
/// Best effort.
pub async fn delete_buckets_containing(client: &aws_sdk_s3::Client, suffix: &str) -> Vec<String> {
    let Ok(list) = client.list_buckets().send().await else {
        return Vec::new();
    };
    let mut deleted = Vec::new();
    for bucket in list.buckets().iter().filter_map(|b| b.name()) {
        if !bucket.contains(suffix) {
            continue;
        }
        let mut token: Option<String> = None;
        loop {
            let Ok(page) = client
                .list_objects_v2()
                .bucket(bucket)
                .set_continuation_token(token.take())
                .send()
                .await
            else {
                break;
            };
            let keys: Vec<aws_sdk_s3::types::ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|key| {
                    aws_sdk_s3::types::ObjectIdentifier::builder()
                        .key(key)
                        .build()
                        .ok()
                })
                .collect();
            if let Ok(delete) = aws_sdk_s3::types::Delete::builder()
                .set_objects(Some(keys))
                .quiet(true)
                .build()
            {
                let _ = client
                    .delete_objects()
                    .bucket(bucket)
                    .delete(delete)
                    .send()
                    .await;
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        if client.delete_bucket().bucket(bucket).send().await.is_ok() {
            deleted.push(bucket.to_string());
        }
    }
    deleted
}

/// Deletes the user pools whose names contain `suffix`; returns their names. Best effort.
pub async fn delete_user_pools_containing(
    client: &aws_sdk_cognitoidentityprovider::Client,
    suffix: &str,
) -> Vec<String> {
    let mut pools = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let Ok(page) = client
            .list_user_pools()
            .max_results(60)
            .set_next_token(token.take())
            .send()
            .await
        else {
            break;
        };
        for pool in page.user_pools() {
            if let (Some(id), Some(name)) = (pool.id(), pool.name()) {
                if name.contains(suffix) {
                    pools.push((id.to_string(), name.to_string()));
                }
            }
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    let mut deleted = Vec::new();
    for (id, name) in pools {
        if client
            .delete_user_pool()
            .user_pool_id(id)
            .send()
            .await
            .is_ok()
        {
            deleted.push(name);
        }
    }
    deleted
}

/// Drop guard: deletes the test's resources ([`cleanup_suffix`]) when the test ends, passed or
/// panicked, so a long-lived emulator does not accumulate tables.
///
/// Drop cannot `.await`, and may run inside the test's tokio runtime, where blocking on a new
/// runtime panics: so it runs the cleanup on a fresh thread with its own runtime and fresh
/// clients (a client's pooled connections belong to the runtime that made them), joins it,
/// and gives up after 30 s. It never panics. Set `RTSNAP_TEST_KEEP=1` to keep the resources
/// for inspection.
#[must_use = "the guard cleans up when dropped: bind it with `let _cleanup = ...`"]
pub struct Cleanup {
    server: Server,
    suffix: String,
}

impl Cleanup {
    /// Guards the resources on `server` whose names contain `suffix`.
    pub fn new(server: Server, suffix: &str) -> Self {
        Self {
            server,
            suffix: suffix.to_string(),
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if std::env::var_os("RTSNAP_TEST_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            return;
        }
        let (server, suffix) = (self.server, std::mem::take(&mut self.suffix));
        let worker = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let _ =
                    tokio::time::timeout(Duration::from_secs(30), cleanup_suffix(server, &suffix))
                        .await;
            });
        });
        let _ = worker.join();
    }
}
