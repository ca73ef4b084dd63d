//! Assets end to end against moto's S3 (issue 8): a bucket of 1,200+ objects (several
//! ListObjectsV2 pages) with odd keys, content types, user metadata, a 0-byte object and
//! a 100 MB one, exported with and without `--with-assets` and imported elsewhere.
//! Every bucket is read back with an independent S3 client and compared by key, size,
//! SHA-256 of the bytes, content type, cache control and metadata. A smaller bucket
//! (with a 20 MB object) goes through re-runs, tampering and rollback.

mod common;

use std::collections::BTreeMap;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, ChecksumAlgorithm, CreateBucketConfiguration};
use aws_sdk_s3::Client;
use futures_util::stream::{self, StreamExt};
use sha2::{Digest, Sha256};

use common::world::{stderr, World};
use common::{bucket_name, Server, REGION};

/// Small objects: enough for two ListObjectsV2 pages of 1,000.
const SMALL: usize = 1_200;
/// The large object: well above the 8 MiB multipart threshold.
const LARGE_BYTES: usize = 100 * 1024 * 1024;

/// Keys a shell script would mangle, and one of S3's maximum length.
fn odd_keys() -> Vec<String> {
    vec![
        "odd/with space.txt".into(),
        "odd/ünïcödé/中文 🙂.txt".into(),
        "odd/plus+sign".into(),
        "odd/percent%20literal".into(),
        "odd/../../escape-attempt".into(),
        "odd/./dot".into(),
        "odd//double-slash".into(),
        "odd/folder/".into(),
        "odd/folder".into(),
        format!("odd/long/{}", "k".repeat(1024 - "odd/long/".len())),
    ]
}

/// What an independent client sees of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    size: u64,
    sha256: String,
    content_type: Option<String>,
    cache_control: Option<String>,
    metadata: BTreeMap<String, String>,
}

async fn create_bucket(client: &Client, bucket: &str) {
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

async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    content_type: &str,
    metadata: &[(&str, &str)],
) {
    let mut request = client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .body(ByteStream::from(body));
    for (k, v) in metadata {
        request = request.metadata(*k, *v);
    }
    request
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
}

/// Deterministic bytes that do not compress (so the archive really carries 100 MB).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Puts `objects` (key, body, content type, metadata), 32 at a time; every other one
/// with a stored SHA-256 (as a checksum-aware uploader leaves it), the rest without
/// (as most do), so that export takes both paths.
async fn put_all(client: &Client, bucket: &str, objects: Vec<Seed>) {
    stream::iter(objects.into_iter().enumerate())
        .for_each_concurrent(32, |(i, (key, body, kind, meta))| async move {
            let mut request = client
                .put_object()
                .bucket(bucket)
                .key(&key)
                .content_type(kind)
                .body(ByteStream::from(body));
            if i % 2 == 0 {
                request = request.checksum_algorithm(ChecksumAlgorithm::Sha256);
            }
            for (k, v) in meta {
                request = request.metadata(k, v);
            }
            request
                .send()
                .await
                .unwrap_or_else(|e| panic!("PutObject {key}: {e:?}"));
        })
        .await;
}

/// An object to put: key, body, content type, user metadata.
type Seed = (String, Vec<u8>, String, Vec<(String, String)>);

/// `count` small objects with content types and some user metadata.
fn small_objects(count: usize) -> Vec<Seed> {
    (0..count)
        .map(|i| {
            let kind = if i % 3 == 0 {
                "image/png"
            } else {
                "application/pdf"
            };
            let meta = if i % 4 == 0 {
                vec![("original-filename".to_owned(), format!("scan {i}.pdf"))]
            } else {
                vec![]
            };
            (
                format!("public/files/{i:05}.bin"),
                format!("object {i}\n").repeat(1 + i % 7).into_bytes(),
                kind.to_owned(),
                meta,
            )
        })
        .collect()
}

/// The big source bucket: 1,200 small objects, the odd keys, an empty object, one
/// with Cache-Control, and the large one.
async fn seed_source(client: &Client, bucket: &str) {
    let mut objects = small_objects(SMALL);
    for (n, key) in odd_keys().into_iter().enumerate() {
        let meta = vec![("n".to_owned(), n.to_string())];
        objects.push((
            key,
            format!("odd {n}").into_bytes(),
            "text/plain".into(),
            meta,
        ));
    }
    objects.push((
        "public/empty".into(),
        Vec::new(),
        "application/x-empty".into(),
        vec![],
    ));
    put_all(client, bucket, objects).await;
    client
        .put_object()
        .bucket(bucket)
        .key("public/static/logo.svg")
        .content_type("image/svg+xml")
        .cache_control("max-age=86400")
        .body(ByteStream::from(b"<svg/>".to_vec()))
        .send()
        .await
        .expect("PutObject logo");
    put(
        client,
        bucket,
        "protected/big/video.mp4",
        noise(LARGE_BYTES, 7),
        "video/mp4",
        &[("duration", "93")],
    )
    .await;
}

/// Every object of `bucket`, read and hashed by an independent client.
async fn read_bucket(client: &Client, bucket: &str) -> BTreeMap<String, Seen> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .list_objects_v2()
            .bucket(bucket)
            .set_continuation_token(token)
            .send()
            .await
            .expect("ListObjectsV2");
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .map(str::to_owned),
        );
        match page.next_continuation_token() {
            Some(next) if page.is_truncated() == Some(true) => token = Some(next.to_owned()),
            _ => break,
        }
    }
    stream::iter(keys)
        .map(|key| async move {
            let out = client
                .get_object()
                .bucket(bucket)
                .key(&key)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GetObject {key}: {e:?}"));
            let seen_head = (
                out.content_type().map(str::to_owned),
                out.cache_control().map(str::to_owned),
                out.metadata()
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            );
            let bytes = out.body.collect().await.expect("body").into_bytes();
            let seen = Seen {
                size: bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&bytes)),
                content_type: seen_head.0,
                cache_control: seen_head.1,
                metadata: seen_head.2,
            };
            (key, seen)
        })
        .buffer_unordered(16)
        .collect()
        .await
}

fn assert_same_bucket(got: &BTreeMap<String, Seen>, want: &BTreeMap<String, Seen>, when: &str) {
    let missing: Vec<&String> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    let extra: Vec<&String> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{when}: missing {missing:?}, extra {extra:?}"
    );
    for (key, seen) in want {
        assert_eq!(&got[key], seen, "{when}: object {key}");
    }
}

/// Adds `bucket` to an environment of the world's rtsnap.toml.
fn set_bucket(world: &World, env: &str, bucket: &str) {
    let path = world.dir.path().join("rtsnap.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let header = format!("[environments.{env}]\n");
    let text = text.replacen(&header, &format!("{header}bucket = \"{bucket}\"\n"), 1);
    std::fs::write(&path, text).expect("config");
}

/// A world with one bucket per environment, named in rtsnap.toml.
async fn bucket_world(
    test: &str,
    envs: &[(&str, bool)],
) -> (World, Client, BTreeMap<String, String>) {
    let world = World::new(Server::Moto, test, envs);
    let client = common::s3(&world.endpoint).await;
    let mut buckets = BTreeMap::new();
    for (env, _) in envs {
        let bucket = bucket_name(world.suffix(env));
        create_bucket(&client, &bucket).await;
        set_bucket(&world, env, &bucket);
        buckets.insert(env.to_string(), bucket);
    }
    (world, client, buckets)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bucket_of_1200_objects_round_trips_with_and_without_embedded_bytes() {
    let (world, client, buckets) = bucket_world(
        "assets_round_trip",
        &[("staging", false), ("production", true), ("offline", false)],
    )
    .await;
    seed_source(&client, &buckets["staging"]).await;
    let source = read_bucket(&client, &buckets["staging"]).await;
    let total = source.len() as u64;
    assert_eq!(total as usize, SMALL + odd_keys().len() + 3);

    // Without blobs: a manifest, and server-side copies from the source bucket.
    let export = world.rtsnap_json(&["export", "staging"]);
    assert_eq!(export["assets"]["objects"], total, "{export}");
    assert_eq!(export["assets"]["blobs"], 0, "{export}");
    let file = export["file"].as_str().expect("file").to_owned();
    let args = [
        "import",
        &file,
        "--target",
        "production",
        "--confirm",
        "production",
    ];
    let plan = world.rtsnap_json(&[&args[..], &["--dry-run"]].concat());
    assert_eq!(plan["assets"]["copy"], total, "{plan}");
    assert_eq!(plan["assets"]["from_source"], total, "{plan}");
    let import = world.rtsnap_json(&args);
    assert_eq!(
        import["assets_applied"]["copied"], plan["assets"]["copy"],
        "{import}"
    );
    assert!(
        import["verification"]["assets"]
            .as_str()
            .unwrap()
            .starts_with("match"),
        "{import}"
    );
    let production = read_bucket(&client, &buckets["production"]).await;
    assert_same_bucket(&production, &source, "copied server-side");

    // With blobs: the snapshot restores with the source bucket gone.
    let full = world.rtsnap_json(&["export", "staging", "--with-assets", "-o", "full.rtsnap"]);
    assert_eq!(full["assets"]["blobs"], total, "{full}");
    common::delete_buckets_containing(&client, world.suffix("staging")).await;
    let offline = world.rtsnap_json(&["import", "full.rtsnap", "--target", "offline", "--yes"]);
    assert_eq!(offline["assets"]["from_archive"], total, "{offline}");
    assert_eq!(offline["assets_applied"]["uploaded"], total, "{offline}");
    let restored = read_bucket(&client, &buckets["offline"]).await;
    assert_same_bucket(&restored, &source, "restored from the archive");

    // Unpacked, blobs are plain hex names inside the target directory, whatever the keys.
    let out = world.rtsnap(&["unpack", "full.rtsnap", "unpacked"]);
    assert!(out.status.success(), "unpack: {}", stderr(&out));
    let blobs = world.dir.path().join("unpacked/assets/blobs");
    let names: Vec<String> = std::fs::read_dir(&blobs)
        .expect("blobs dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len() as u64, total);
    assert!(names
        .iter()
        .all(|n| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit())));
    assert!(!world.dir.path().join("escape-attempt").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn reruns_tampering_and_rollback_keep_the_bucket_exact() {
    let (world, client, buckets) = bucket_world(
        "assets_lifecycle",
        &[("staging", false), ("production", true)],
    )
    .await;
    let mut objects = small_objects(30);
    // Above the 8 MiB part size: rollback re-uploads it from the backup in parts.
    let big = noise(20 * 1024 * 1024, 3);
    objects.push((
        "public/big.bin".into(),
        big,
        "application/octet-stream".into(),
        vec![],
    ));
    put_all(&client, &buckets["staging"], objects).await;
    let source = read_bucket(&client, &buckets["staging"]).await;
    let total = source.len() as u64;

    // Production already holds: an object the snapshot lacks, two the snapshot has with
    // other bytes (one of them large), and one identical to the snapshot's.
    let production = &buckets["production"];
    let octets = "application/octet-stream";
    put(
        &client,
        production,
        "public/only-in-production.txt",
        b"mine".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    put(
        &client,
        production,
        "public/files/00001.bin",
        b"stale".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    put(
        &client,
        production,
        "public/big.bin",
        noise(9 * 1024 * 1024, 5),
        octets,
        &[],
    )
    .await;
    let same = "object 2\n".repeat(3).into_bytes();
    put(
        &client,
        production,
        "public/files/00002.bin",
        same,
        "application/pdf",
        &[],
    )
    .await;
    let before = read_bucket(&client, production).await;

    let export = world.rtsnap_json(&["export", "staging"]);
    let file = export["file"].as_str().expect("file").to_owned();
    let args = [
        "import",
        &file,
        "--target",
        "production",
        "--prune-assets",
        "--confirm",
        "production",
    ];
    let dry_run = [&args[..], &["--dry-run"]].concat();

    // The dry run's counts are what the import then does.
    let plan = world.rtsnap_json(&dry_run);
    assert_eq!(plan["assets"]["copy"], total - 1, "{plan}");
    assert_eq!(plan["assets"]["unchanged"], 1, "{plan}");
    assert_eq!(plan["assets"]["delete"], 1, "{plan}");
    let first_delete = &plan["assets"]["first_deletes"][0];
    assert_eq!(first_delete, "public/only-in-production.txt", "{plan}");
    let import = world.rtsnap_json(&args);
    assert_eq!(
        import["assets_applied"]["copied"], plan["assets"]["copy"],
        "{import}"
    );
    assert_eq!(
        import["assets_applied"]["deleted"], plan["assets"]["delete"],
        "{import}"
    );
    assert_same_bucket(
        &read_bucket(&client, production).await,
        &source,
        "after the import",
    );

    // Re-running changes nothing, and says so first.
    let again = world.rtsnap_json(&dry_run);
    assert_eq!(again["assets"]["copy"], 0, "{again}");
    assert_eq!(again["assets"]["delete"], 0, "{again}");
    assert_eq!(again["assets"]["unchanged"], total, "{again}");
    let rerun = world.rtsnap_json(&args);
    assert!(rerun["backup"].is_null(), "{rerun}");
    assert!(rerun["assets_applied"].is_null(), "{rerun}");

    // Rollback puts the bucket back exactly as it was before the import.
    let rollback = world.rtsnap_json(&["rollback", "production", "--confirm", "production"]);
    assert!(
        rollback["verification"]["assets"]
            .as_str()
            .unwrap()
            .starts_with("match"),
        "{rollback}"
    );
    assert_same_bucket(
        &read_bucket(&client, production).await,
        &before,
        "after rollback",
    );

    // Other bytes of the same size are found (size and time would not find them) and
    // copied again.
    world.rtsnap_json(&args);
    let victim = "public/files/00010.bin";
    let seen = &source[victim];
    let kind = seen.content_type.clone().unwrap_or_default();
    put(
        &client,
        production,
        victim,
        vec![b'#'; seen.size as usize],
        &kind,
        &[],
    )
    .await;
    let tampered = world.rtsnap_json(&dry_run);
    assert_eq!(tampered["assets"]["copy"], 1, "{tampered}");
    assert_eq!(tampered["assets"]["first_copies"][0], victim, "{tampered}");
    let against = world.rtsnap(&["verify", &file, "--against", "production", "--json"]);
    assert_eq!(against.status.code(), Some(1), "verify --against sees it");
    let against: serde_json::Value = serde_json::from_slice(&against.stdout).expect("json");
    assert_eq!(against["assets"]["different_keys"][0], victim, "{against}");
    let fixed = world.rtsnap_json(&args);
    assert_eq!(fixed["assets_applied"]["copied"], 1, "{fixed}");
    assert_same_bucket(
        &read_bucket(&client, production).await,
        &source,
        "after the repair",
    );
    let against = world.rtsnap_json(&["verify", &file, "--against", "production"]);
    assert_eq!(against["assets"]["status"], "match", "{against}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_source_bucket_is_refused_before_anything_is_written() {
    let (world, client, buckets) = bucket_world(
        "assets_no_source",
        &[("staging", false), ("production", false)],
    )
    .await;
    let (source, target) = (&buckets["staging"], &buckets["production"]);
    put(
        &client,
        source,
        "public/a.txt",
        b"a".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    put(
        &client,
        target,
        "public/keep.txt",
        b"k".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    let export = world.rtsnap_json(&["export", "staging"]);
    let file = export["file"].as_str().expect("file").to_owned();
    common::delete_buckets_containing(&client, world.suffix("staging")).await;
    let before = read_bucket(&client, target).await;

    let out = world.rtsnap(&[
        "import",
        &file,
        "--target",
        "production",
        "--yes",
        "--prune-assets",
        "--quiet",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains(source.as_str()), "names the bucket: {err}");
    assert!(
        err.contains("--with-assets"),
        "suggests --with-assets: {err}"
    );
    assert_eq!(
        read_bucket(&client, target).await,
        before,
        "target untouched"
    );
    let archives: Vec<String> = world
        .snapshots()
        .into_iter()
        .filter(|s| s.ends_with(".rtsnap"))
        .collect();
    assert_eq!(archives.len(), 1, "no backup taken: {archives:?}");
}

/// Objects above CopyObject's 5 GiB are copied with UploadPartCopy. Moving 5 GiB
/// through moto is not practical, so the same code is run with 5 MiB parts on a
/// 12 MiB object: three ranges, the last one short.
#[tokio::test(flavor = "multi_thread")]
async fn a_multipart_copy_reassembles_the_object_with_its_headers() {
    let (world, client, buckets) = bucket_world(
        "assets_part_copy",
        &[("staging", false), ("production", false)],
    )
    .await;
    let (source, target) = (&buckets["staging"], &buckets["production"]);
    let bytes = noise(12 * 1024 * 1024, 11);
    put(
        &client,
        source,
        "public/large.bin",
        bytes.clone(),
        "application/zip",
        &[("k", "v")],
    )
    .await;
    let config = common::sdk_config(&world.endpoint).await;
    let (source_s3, target_s3) = (
        rtsnap::aws::s3::S3::new(&config, source),
        rtsnap::aws::s3::S3::new(&config, target),
    );
    let (head, sha256) = source_s3
        .sha256("public/large.bin")
        .await
        .expect("head")
        .expect("exists");
    let object = head.to_object("public/large.bin", sha256);
    target_s3
        .copy_in_parts(source, &object, 5 * 1024 * 1024)
        .await
        .expect("multipart copy");
    let copied = read_bucket(&client, target).await;
    let seen = &copied["public/large.bin"];
    assert_eq!(seen.sha256, hex::encode(Sha256::digest(&bytes)));
    assert_eq!(seen.size, bytes.len() as u64);
    assert_eq!(seen.content_type.as_deref(), Some("application/zip"));
    assert_eq!(seen.metadata.get("k").map(String::as_str), Some("v"));
}

/// An environment's `asset_prefixes` bound what an import writes there: snapshot
/// objects outside them are counted and left alone (a backup covers only the
/// prefixes, so writing there could not be rolled back).
#[tokio::test(flavor = "multi_thread")]
async fn objects_outside_the_targets_prefixes_are_not_written() {
    let (world, client, buckets) = bucket_world(
        "assets_prefixes",
        &[("staging", false), ("production", false)],
    )
    .await;
    let (source, target) = (&buckets["staging"], &buckets["production"]);
    put(
        &client,
        source,
        "public/a.txt",
        b"a".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    put(
        &client,
        source,
        "protected/b.txt",
        b"b".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    let path = world.dir.path().join("rtsnap.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let header = "[environments.production]\n";
    let text = text.replacen(
        header,
        &format!("{header}asset_prefixes = [\"public/\"]\n"),
        1,
    );
    std::fs::write(&path, text).expect("config");

    let export = world.rtsnap_json(&["export", "staging"]);
    let file = export["file"].as_str().expect("file").to_owned();
    let import = world.rtsnap_json(&["import", &file, "--target", "production", "--yes"]);
    assert_eq!(import["assets"]["copy"], 1, "{import}");
    assert_eq!(import["assets"]["outside_prefixes"], 1, "{import}");
    let written: Vec<String> = read_bucket(&client, target).await.into_keys().collect();
    assert_eq!(written, vec!["public/a.txt".to_owned()]);
}

/// A transfer that fails (after the SDK's retries) stops neither the others nor the
/// report: every other object is written, the failed key is named, the plan's deletes
/// are not run, and the exit is 1. moto refuses a key holding a newline (S3 does not),
/// which makes a real failing upload without any mock.
#[tokio::test(flavor = "multi_thread")]
async fn a_failed_upload_is_named_and_the_others_are_written() {
    let (world, client, buckets) = bucket_world("assets_failure", &[("production", false)]).await;
    let target = &buckets["production"];
    put(
        &client,
        target,
        "public/extra.txt",
        b"x".to_vec(),
        "text/plain",
        &[],
    )
    .await;

    // A snapshot directory with three embedded objects, packed by rtsnap itself.
    let dir = world.dir.path().join("snapshot");
    std::fs::create_dir_all(dir.join("assets/blobs")).expect("dirs");
    let header = serde_json::json!({
        "format": "rtsnap", "format_version": 1, "tool_version": "0.1.0",
        "created_at": "2026-11-30T00:00:00Z",
        "source": {"env": "staging", "backend_suffix": "s", "region": "us-west-1",
                   "user_pool_id": null, "bucket": null},
        "sections": ["assets"]
    });
    std::fs::write(dir.join("rtsnap.json"), header.to_string()).expect("header");
    let mut manifest = String::new();
    for key in ["public/bad\nkey.txt", "public/ok-1.txt", "public/ok-2.txt"] {
        let body = format!("bytes of {key}");
        let line = serde_json::json!({
            "key": key, "size": body.len(), "etag": "\"x\"",
            "sha256": hex::encode(Sha256::digest(body.as_bytes())),
            "content_type": "text/plain", "metadata": {},
            "last_modified": "2026-11-30T00:00:00Z", "embedded": true
        });
        manifest.push_str(&format!("{line}\n"));
        let name = hex::encode(Sha256::digest(key.as_bytes()));
        std::fs::write(dir.join("assets/blobs").join(name), body).expect("blob");
    }
    std::fs::write(dir.join("assets/manifest.jsonl"), manifest).expect("manifest");
    let out = world.rtsnap(&["pack", "snapshot", "-o", "crafted.rtsnap"]);
    assert!(out.status.success(), "pack: {}", stderr(&out));

    let out = world.rtsnap(&[
        "import",
        "crafted.rtsnap",
        "--target",
        "production",
        "--prune-assets",
        "--yes",
        "--quiet",
        "--json",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    assert!(err.contains("1 objects could not be written"), "{err}");
    assert!(
        err.contains("public/bad\\nkey.txt: "),
        "names the key: {err}"
    );
    // Issue 10: the way back travels with the error: the backup and the exact command.
    let backup = world
        .snapshots()
        .into_iter()
        .find(|f| f.contains("pre-import") && f.ends_with(".rtsnap"))
        .expect("a backup was taken");
    assert!(err.contains(&backup), "{err}");
    let rollback = format!(
        "to undo: rtsnap import {}",
        world.snapshot_dir().join(&backup).display()
    );
    assert!(
        err.contains(&rollback) && err.contains("--target production"),
        "{err}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(doc["exit_code"], 1, "{doc}");
    assert!(
        doc["backup"]
            .as_str()
            .is_some_and(|b| b.contains("pre-import")),
        "{doc}"
    );
    assert!(
        doc["rollback_command"]
            .as_str()
            .is_some_and(|c| c.starts_with("rtsnap import ")),
        "{doc}"
    );
    let keys: Vec<String> = read_bucket(&client, target).await.into_keys().collect();
    assert_eq!(
        keys,
        ["public/extra.txt", "public/ok-1.txt", "public/ok-2.txt"],
        "the others written, no delete run"
    );
}

/// Found by the 2026-12-01 bug hunt: one archived object (GLACIER storage class, no
/// stored checksum) failed the whole export with S3's bare "not valid for the object's
/// storage class". It still fails (its SHA-256 cannot be read), on one line that names
/// the object and what to do, and writes no snapshot.
#[tokio::test(flavor = "multi_thread")]
async fn an_archived_object_fails_the_export_with_what_to_do() {
    let (world, client, buckets) = bucket_world("assets_archived", &[("staging", false)]).await;
    let source = &buckets["staging"];
    put(
        &client,
        source,
        "public/a.txt",
        b"a".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    client
        .put_object()
        .bucket(source)
        .key("cold/archived.bin")
        .body(ByteStream::from(b"cold".to_vec()))
        .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
        .send()
        .await
        .expect("PutObject GLACIER");
    let out = world.rtsnap(&["export", "staging", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one document");
    let error = doc["error"].as_str().expect("error");
    assert!(error.starts_with("GetObject s3://"), "{error}");
    assert!(error.contains("cold/archived.bin"), "{error}");
    assert!(error.contains("restore it first"), "{error}");
    assert!(error.contains("--only"), "{error}");
    assert!(world.snapshots().is_empty(), "no snapshot written");
}

/// The review of 2026-12-01: an archived object with a stored SHA-256 exports without
/// being read, and the import's server-side copy then failed in phase 6. The plan
/// looks at the source objects' storage class and refuses first.
#[tokio::test(flavor = "multi_thread")]
async fn an_archived_source_object_is_refused_in_the_plan() {
    let (world, client, buckets) = bucket_world(
        "assets_archived_copy",
        &[("staging", false), ("production", false)],
    )
    .await;
    let (source, target) = (&buckets["staging"], &buckets["production"]);
    put(
        &client,
        source,
        "public/a.txt",
        b"a".to_vec(),
        "text/plain",
        &[],
    )
    .await;
    client
        .put_object()
        .bucket(source)
        .key("cold/archived.bin")
        .body(ByteStream::from(b"cold".to_vec()))
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .storage_class(aws_sdk_s3::types::StorageClass::DeepArchive)
        .send()
        .await
        .expect("PutObject DEEP_ARCHIVE");
    world.rtsnap_json(&["export", "staging", "-o", "cold.rtsnap"]);
    let out = world.rtsnap(&["import", "cold.rtsnap", "--target", "production", "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cold/archived.bin: archived"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert!(
        read_bucket(&client, target).await.is_empty(),
        "nothing copied"
    );
    assert!(
        world.snapshots().iter().all(|s| !s.contains("pre-import")),
        "no backup"
    );
}
