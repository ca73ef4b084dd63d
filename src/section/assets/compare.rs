//! Comparing a live bucket with a snapshot's assets section: the assets part of
//! `verify --against` and of import phase 7. Same rule as the plan: equal means the
//! same bytes (size and SHA-256), headers and metadata under the same key.

use serde::Serialize;

use super::plan::diff_bucket;
use super::read::AssetsSnapshot;
use crate::aws::s3::S3;
use crate::error::Result;
use crate::progress::Progress;

/// How many keys of each kind a comparison names.
const KEYS_NAMED: usize = 20;

/// How a bucket compares with a snapshot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetsComparison {
    /// `match` or `differs`.
    pub status: String,
    pub bucket: String,
    pub snapshot_objects: u64,
    pub equal_objects: u64,
    /// Snapshot objects the bucket lacks.
    pub missing: u64,
    /// Objects whose bytes, headers or metadata differ.
    pub different: u64,
    /// Bucket objects (under the environment's prefixes) the snapshot lacks.
    pub extra: u64,
    pub missing_keys: Vec<String>,
    pub different_keys: Vec<String>,
    pub extra_keys: Vec<String>,
    /// Snapshot objects outside the environment's `asset_prefixes` (not compared).
    pub outside_prefixes: u64,
}

impl AssetsComparison {
    /// Equal, extras counted as a difference (`exact`) or not.
    pub fn equal(&self, exact: bool) -> bool {
        self.missing == 0 && self.different == 0 && (!exact || self.extra == 0)
    }
}

/// Compares the bucket with the snapshot's assets section.
pub async fn compare_assets(
    s3: &S3,
    prefixes: &[String],
    snapshot: &AssetsSnapshot,
    progress: &dyn Progress,
) -> Result<AssetsComparison> {
    let diff = diff_bucket(s3, prefixes, snapshot, progress).await?;
    let mut comparison = AssetsComparison {
        bucket: s3.bucket().to_owned(),
        snapshot_objects: snapshot.objects.len() as u64,
        equal_objects: diff.unchanged,
        extra: diff.extra.len() as u64,
        outside_prefixes: diff.outside.len() as u64,
        extra_keys: diff
            .extra
            .iter()
            .take(KEYS_NAMED)
            .map(|o| o.key.clone())
            .collect(),
        ..Default::default()
    };
    for (object, exists) in diff.copy {
        let (count, keys) = if exists {
            (&mut comparison.different, &mut comparison.different_keys)
        } else {
            (&mut comparison.missing, &mut comparison.missing_keys)
        };
        *count += 1;
        if keys.len() < KEYS_NAMED {
            keys.push(object.key);
        }
    }
    comparison.status = if comparison.equal(true) {
        "match".into()
    } else {
        "differs".into()
    };
    Ok(comparison)
}
