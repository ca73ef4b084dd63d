//! A CLI-level test world: a scratch folder with an age identity, an `rtsnap.toml`
//! whose environments point at one emulator (each with its own fresh backend suffix),
//! a private snapshot directory, and helpers that read and write tables with an
//! independent SDK client (never through rtsnap), so tests check what rtsnap wrote.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, WriteRequest,
};

use super::{
    dynamodb, emulator, rtsnap_command, unique_suffix, wait_table_active, Cleanup, Server,
};

/// One SDK item.
pub type SdkItem = HashMap<String, AttributeValue>;

/// See the module docs.
pub struct World {
    pub server: Server,
    pub endpoint: String,
    pub dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
    _cleanups: Vec<Cleanup>,
}

impl World {
    /// A world whose environments are `envs` (name, protected).
    pub fn new(server: Server, test: &str, envs: &[(&str, bool)]) -> World {
        let endpoint = emulator().endpoint(server).to_owned();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = String::new();
        let mut named = Vec::new();
        let mut cleanups = Vec::new();
        for (name, protected) in envs {
            let suffix = unique_suffix(&format!("{test}{name}"));
            config.push_str(&format!(
                "[environments.{name}]\nregion = \"us-west-1\"\nbackend_suffix = \"{suffix}\"\nendpoint_url = \"{endpoint}\"\nprotected = {protected}\n\n"
            ));
            cleanups.push(Cleanup::new(server, &suffix));
            named.push((name.to_string(), suffix));
        }
        let world = World {
            server,
            endpoint,
            dir,
            envs: named,
            _cleanups: cleanups,
        };
        let out = world.rtsnap(&["keygen", "-o", "id.txt", "--json"]);
        assert!(out.status.success(), "keygen: {}", stderr(&out));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("keygen json");
        let recipient = doc["recipient"].as_str().expect("recipient");
        config.insert_str(
            0,
            &format!("[snapshots]\nrecipients = [\"{recipient}\"]\n\n"),
        );
        std::fs::write(world.dir.path().join("rtsnap.toml"), config).expect("write config");
        world
    }

    /// The backend suffix of environment `env`.
    pub fn suffix(&self, env: &str) -> &str {
        &self
            .envs
            .iter()
            .find(|(n, _)| n == env)
            .expect("known env")
            .1
    }

    /// `<model>-<suffix of env>-NONE`.
    pub fn table(&self, env: &str, model: &str) -> String {
        format!("{model}-{}-NONE", self.suffix(env))
    }

    /// The snapshot directory (`RTSNAP_HOME/snapshots`).
    pub fn snapshot_dir(&self) -> PathBuf {
        self.dir.path().join("home/snapshots")
    }

    /// Files in the snapshot directory, sorted by name.
    pub fn snapshots(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.snapshot_dir())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Runs rtsnap in the world's folder: its config, identity and snapshot directory,
    /// no inherited `RTSNAP_*` settings, stdin closed (so never a terminal).
    pub fn rtsnap(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run rtsnap")
    }

    /// The command `rtsnap` would run, for tests that need to spawn and kill it.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = rtsnap_command(&self.endpoint);
        for (name, _) in std::env::vars() {
            if name.starts_with("RTSNAP_") {
                cmd.env_remove(name);
            }
        }
        cmd.current_dir(self.dir.path())
            .env("RTSNAP_HOME", self.dir.path().join("home"))
            .env("RTSNAP_IDENTITY", self.dir.path().join("id.txt"))
            .args(args);
        cmd
    }

    /// Runs rtsnap with `--json` and returns the parsed document, asserting exit 0.
    pub fn rtsnap_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all: Vec<&str> = args.to_vec();
        all.push("--json");
        let out = self.rtsnap(&all);
        assert!(
            out.status.success(),
            "rtsnap {args:?} failed: {}",
            stderr(&out)
        );
        serde_json::from_slice(&out.stdout).expect("one JSON document on stdout")
    }

    /// Creates `<model>-<suffix>-NONE` with hash key `hash` (S), an optional range key
    /// (N) and an optional GSI on an S attribute; waits until ACTIVE.
    pub async fn create_table(
        &self,
        env: &str,
        model: &str,
        range: Option<&str>,
        gsi: Option<&str>,
    ) -> String {
        let client = dynamodb(&self.endpoint).await;
        let name = self.table(env, model);
        let mut keys = vec![key("id", KeyType::Hash)];
        let mut defs = vec![def("id", ScalarAttributeType::S)];
        if let Some(range) = range {
            keys.push(key(range, KeyType::Range));
            defs.push(def(range, ScalarAttributeType::N));
        }
        let mut request = client
            .create_table()
            .table_name(&name)
            .set_key_schema(Some(keys))
            .billing_mode(BillingMode::PayPerRequest);
        if let Some(attr) = gsi {
            defs.push(def(attr, ScalarAttributeType::S));
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(format!("by_{attr}"))
                    .key_schema(key(attr, KeyType::Hash))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
        }
        request
            .set_attribute_definitions(Some(defs))
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {name}: {e:?}"));
        wait_table_active(&client, &name).await;
        name
    }

    /// Writes items with plain BatchWriteItem calls of 25 (what dynalite accepts).
    pub async fn put_items(&self, table: &str, items: Vec<SdkItem>) {
        let client = dynamodb(&self.endpoint).await;
        let requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        for chunk in requests.chunks(25) {
            let mut pending = chunk.to_vec();
            while !pending.is_empty() {
                let out = client
                    .batch_write_item()
                    .request_items(table, pending.clone())
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("seed {table}: {e:?}"));
                pending = out
                    .unprocessed_items()
                    .and_then(|u| u.get(table))
                    .cloned()
                    .unwrap_or_default();
            }
        }
    }

    /// Every item of a table, sorted by their debug form (a stable, total order).
    pub async fn scan_all(&self, table: &str) -> Vec<SdkItem> {
        let client = dynamodb(&self.endpoint).await;
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let page = client
                .scan()
                .table_name(table)
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        sort_items(&mut items);
        items
    }

    /// Adds `key = value` (`value` as TOML) to environment `env` in rtsnap.toml.
    pub fn set_env_value(&self, env: &str, key: &str, value: &str) {
        let path = self.dir.path().join("rtsnap.toml");
        let text = std::fs::read_to_string(&path).expect("config");
        let header = format!("[environments.{env}]\n");
        assert!(
            text.contains(&header),
            "no environment {env} in rtsnap.toml"
        );
        let text = text.replacen(&header, &format!("{header}{key} = {value}\n"), 1);
        std::fs::write(&path, text).expect("config");
    }

    /// Creates a plain user pool (username sign-in) for `env`, named after its suffix so
    /// the cleanup guard deletes it, and sets its `user_pool_id`. Returns the pool id.
    pub async fn add_user_pool(&self, env: &str) -> String {
        let client = super::cognito(&self.endpoint).await;
        let pool = super::create_user_pool(&client, self.suffix(env)).await;
        self.set_env_value(env, "user_pool_id", &format!("\"{pool}\""));
        pool
    }

    /// Creates a bucket for `env`, named after its suffix so the cleanup guard deletes
    /// it, and sets its `bucket`. Returns the bucket name.
    pub async fn add_bucket(&self, env: &str) -> String {
        let bucket = super::bucket_name(self.suffix(env));
        self.create_bucket(&bucket).await;
        self.set_env_value(env, "bucket", &format!("\"{bucket}\""));
        bucket
    }

    /// Creates a staging bucket for the native paths (`--native-via`), named after
    /// `env`'s suffix so the cleanup guard deletes it. Returns its name.
    pub async fn staging_bucket(&self, env: &str) -> String {
        let bucket = format!("{}-stage", super::bucket_name(self.suffix(env)));
        self.create_bucket(&bucket).await;
        bucket
    }

    async fn create_bucket(&self, bucket: &str) {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        super::s3(&self.endpoint)
            .await
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(super::REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap_or_else(|e| panic!("CreateBucket {bucket}: {e:?}"));
    }

    /// The keys of the objects under `prefix` in `bucket` (one page: up to 1,000).
    pub async fn keys_under(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = super::s3(&self.endpoint)
            .await
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .send()
            .await
            .unwrap_or_else(|e| panic!("list {bucket}: {e:?}"));
        out.contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect()
    }

    /// Whether a table exists.
    pub async fn table_exists(&self, table: &str) -> bool {
        let client = dynamodb(&self.endpoint).await;
        client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .is_ok()
    }
}

/// Sorts items by the `id` attribute, then by their whole debug form.
pub fn sort_items(items: &mut [SdkItem]) {
    items.sort_by_cached_key(|item| {
        let mut pairs: Vec<(String, String)> = item
            .iter()
            .map(|(k, v)| (k.clone(), format!("{v:?}")))
            .collect();
        pairs.sort();
        (format!("{:?}", item.get("id")), format!("{pairs:?}"))
    });
}

/// stderr as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key")
}

fn def(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .expect("def")
}

/// A simple item: `id`, a name and a number.
pub fn simple_item(id: &str, n: i64) -> SdkItem {
    HashMap::from([
        ("id".to_string(), AttributeValue::S(id.to_string())),
        ("name".to_string(), AttributeValue::S(format!("name {id}"))),
        ("n".to_string(), AttributeValue::N(n.to_string())),
    ])
}

/// `count` items `n-0`, `n-1`, … for a table with range key `version` (1, 2, …).
pub fn versioned_items(count: i64) -> Vec<SdkItem> {
    (0..count)
        .map(|i| {
            let mut item = simple_item(&format!("n-{i}"), i);
            item.insert("version".into(), AttributeValue::N(format!("{}", i + 1)));
            item
        })
        .collect()
}
