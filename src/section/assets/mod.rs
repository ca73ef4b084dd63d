//! The assets section: an environment's S3 bucket (every object under its
//! `asset_prefixes`). "How are assets restored?" starts here.
//!
//! - export: [`export`] lists the bucket into `assets/manifest.jsonl` (key, size,
//!   SHA-256, headers, metadata) and, with `--with-assets`, streams each object's bytes
//!   into the archive as a blob;
//! - read: [`read`] parses the manifest back from a verified archive;
//! - plan: [`plan`] compares each snapshot object with the target bucket by size and
//!   SHA-256 (never by time, unlike `aws s3 sync`): copy, unchanged, delete (only with
//!   `--prune-assets`), and refuses copies whose source cannot be read;
//! - apply: [`apply`] uploads embedded blobs (multipart above 8 MiB) or copies
//!   server-side from the source bucket, then deletes;
//! - verify: [`compare`] for import phase 7 and `verify --against`;
//! - analyze: [`count_bucket`] for `analyze`.

pub mod apply;
pub mod compare;
pub mod export;
pub mod plan;
pub mod read;

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::archive::assets::AssetObject;
use crate::aws::s3::{ListedObject, S3};
use crate::error::Result;
use crate::progress::Progress;

pub use apply::{apply_assets, AssetsApplied};
pub use compare::{compare_assets, AssetsComparison};
pub use plan::{plan_assets, AssetsActions, AssetsMode, AssetsPlan};
pub use read::AssetsSnapshot;

/// HeadObject (and, for objects without a stored SHA-256, GetObject) calls in flight.
pub(crate) const DESCRIBE_IN_FLIGHT: usize = 16;

/// Every object under `prefixes` (the whole bucket when empty), by key.
pub async fn list_bucket(s3: &S3, prefixes: &[String]) -> Result<BTreeMap<String, ListedObject>> {
    let whole = [String::new()];
    let prefixes = if prefixes.is_empty() {
        &whole[..]
    } else {
        prefixes
    };
    let mut objects = BTreeMap::new();
    for prefix in prefixes {
        for object in s3.list_all(prefix).await? {
            objects.insert(object.key.clone(), object);
        }
    }
    Ok(objects)
}

/// A bucket's size under the environment's prefixes, for `analyze`.
#[derive(Debug, Clone, Serialize)]
pub struct AssetsCount {
    pub bucket: String,
    /// `asset_prefixes`; empty: the whole bucket.
    pub prefixes: Vec<String>,
    pub objects: u64,
    pub bytes: u64,
}

/// Counts the objects and bytes export would list (ListObjectsV2: exact, 1,000 objects
/// per call; no object is read).
pub async fn count_bucket(s3: &S3, prefixes: &[String]) -> Result<AssetsCount> {
    let objects = list_bucket(s3, prefixes).await?;
    Ok(AssetsCount {
        bucket: s3.bucket().to_owned(),
        prefixes: prefixes.to_vec(),
        objects: objects.len() as u64,
        bytes: objects.values().map(|o| o.size).sum(),
    })
}

/// Whether `key` is under one of `prefixes` (all keys are when there are none).
pub fn covered(key: &str, prefixes: &[String]) -> bool {
    prefixes.is_empty() || prefixes.iter().any(|p| key.starts_with(p.as_str()))
}

/// Each key's manifest line as the bucket holds it now (headers, metadata, SHA-256),
/// described concurrently; keys that no longer exist are left out.
pub async fn describe(
    s3: &S3,
    keys: impl IntoIterator<Item = String>,
    progress: &dyn Progress,
    label: &str,
) -> Result<BTreeMap<String, AssetObject>> {
    let keys: Vec<String> = keys.into_iter().collect();
    let task = progress.start(label, Some(keys.len() as u64));
    let described: Vec<Option<AssetObject>> = stream::iter(keys)
        .map(|key| async move {
            let found = s3.sha256(&key).await?;
            Ok::<_, crate::aws::AwsError>(found.map(|(head, sha)| head.to_object(&key, sha)))
        })
        .buffer_unordered(DESCRIBE_IN_FLIGHT)
        .inspect(|_| task.advance(1))
        .try_collect()
        .await?;
    task.finish("described");
    Ok(described
        .into_iter()
        .flatten()
        .map(|o| (o.key.clone(), o))
        .collect())
}
