//! Planning the assets section against a target bucket.
//!
//! An object is unchanged only when the target holds the same bytes (same size and
//! SHA-256) with the same headers and metadata; ETags and times are never trusted
//! (multipart ETags are not content hashes, and `aws s3 sync`'s size-and-time test
//! misses an object rewritten with other bytes of the same size). Sizes are compared
//! first, so only same-size objects cost a HeadObject (or, without a stored SHA-256,
//! a read).
//!
//! Everything S3 would refuse later is found here, before the backup: copies whose
//! bytes are not in the archive need their source bucket, so every such object is
//! looked up there first.

use std::collections::BTreeMap;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use super::read::AssetsSnapshot;
use crate::archive::assets::AssetObject;
use crate::aws::s3::{ListedObject, S3};
use crate::error::{Error, Result};
use crate::progress::Progress;

/// How many keys of each kind a plan names.
const FIRST_KEYS: usize = 5;

/// How an import treats target objects the snapshot lacks.
#[derive(Debug, Clone, Copy, Default)]
pub struct AssetsMode {
    /// Delete them (`--prune-assets`; rollback always does).
    pub prune: bool,
}

/// What an import will do to the bucket (printed before anything is written).
#[derive(Debug, Clone, Default, Serialize)]
pub struct AssetsPlan {
    pub bucket: String,
    pub snapshot_objects: u64,
    pub snapshot_bytes: u64,
    /// New or different objects, and their bytes.
    pub copy: u64,
    pub copy_bytes: u64,
    /// Of those, uploaded from the archive's blobs, or copied from the source bucket.
    pub from_archive: u64,
    pub from_source: u64,
    pub unchanged: u64,
    /// Target objects the snapshot lacks: deleted (with `--prune-assets`) or kept.
    pub delete: u64,
    pub delete_bytes: u64,
    pub kept: u64,
    /// Snapshot objects outside the target's `asset_prefixes`, not restored.
    pub outside_prefixes: u64,
    /// Where server-side copies read from.
    pub source_bucket: Option<String>,
    pub first_copies: Vec<String>,
    pub first_deletes: Vec<String>,
}

impl AssetsPlan {
    pub fn changes(&self) -> u64 {
        self.copy + self.delete
    }
}

/// The plan's work list.
#[derive(Debug, Clone, Default)]
pub struct AssetsActions {
    pub copy: Vec<AssetObject>,
    pub delete: Vec<String>,
    /// Keys the import overwrites or deletes: what a pre-import backup must embed.
    pub overwritten: Vec<String>,
}

/// How the target bucket differs from the snapshot.
#[derive(Debug, Clone, Default)]
pub struct BucketDiff {
    /// Snapshot objects the target lacks (`false`) or holds differently (`true`).
    pub copy: Vec<(AssetObject, bool)>,
    pub unchanged: u64,
    /// Target objects (under the target's prefixes) the snapshot lacks.
    pub extra: Vec<ListedObject>,
    /// Snapshot keys outside the target's `asset_prefixes`: not rtsnap's to write
    /// there (a backup would not cover them, so a rollback could not undo them).
    pub outside: Vec<String>,
}

/// Compares the bucket with the snapshot.
pub async fn diff_bucket(
    s3: &S3,
    prefixes: &[String],
    snapshot: &AssetsSnapshot,
    progress: &dyn Progress,
) -> Result<BucketDiff> {
    let mut listed = super::list_bucket(s3, prefixes).await?;
    // Same size: look closer. Otherwise the size already says "copy" or "missing".
    let closer: Vec<String> = snapshot
        .objects
        .iter()
        .filter(|o| listed.get(&o.key).is_some_and(|l| l.size == o.size))
        .map(|o| o.key.clone())
        .collect();
    let label = format!("comparing {}", s3.bucket());
    let described = super::describe(s3, closer, progress, &label).await?;
    let mut diff = BucketDiff::default();
    for object in &snapshot.objects {
        if !super::covered(&object.key, prefixes) {
            diff.outside.push(object.key.clone());
            continue;
        }
        let listed_here = listed.remove(&object.key);
        match described.get(&object.key) {
            Some(target) if target.same_object(object) => diff.unchanged += 1,
            Some(_) => diff.copy.push((object.clone(), true)),
            None => diff.copy.push((object.clone(), listed_here.is_some())),
        }
    }
    diff.extra = listed.into_values().collect();
    Ok(diff)
}

/// The plan for `snapshot` against the target bucket.
pub async fn plan_assets(
    target: &S3,
    prefixes: &[String],
    snapshot: &AssetsSnapshot,
    mode: AssetsMode,
    progress: &dyn Progress,
) -> Result<(AssetsPlan, AssetsActions)> {
    let diff = diff_bucket(target, prefixes, snapshot, progress).await?;
    let mut plan = AssetsPlan {
        bucket: target.bucket().to_owned(),
        snapshot_objects: snapshot.objects.len() as u64,
        snapshot_bytes: snapshot.bytes(),
        unchanged: diff.unchanged,
        outside_prefixes: diff.outside.len() as u64,
        source_bucket: snapshot.source_bucket.clone(),
        ..AssetsPlan::default()
    };
    let mut actions = AssetsActions::default();
    for (object, exists) in diff.copy {
        plan.copy += 1;
        plan.copy_bytes += object.size;
        if object.embedded {
            plan.from_archive += 1;
        } else {
            plan.from_source += 1;
        }
        if plan.first_copies.len() < FIRST_KEYS {
            plan.first_copies.push(object.key.clone());
        }
        if exists {
            actions.overwritten.push(object.key.clone());
        }
        actions.copy.push(object);
    }
    for extra in diff.extra {
        if !mode.prune {
            plan.kept += 1;
            continue;
        }
        plan.delete += 1;
        plan.delete_bytes += extra.size;
        if plan.first_deletes.len() < FIRST_KEYS {
            plan.first_deletes.push(extra.key.clone());
        }
        actions.overwritten.push(extra.key.clone());
        actions.delete.push(extra.key);
    }
    Ok((plan, actions))
}

/// Copies without bytes in the archive read from the source bucket: each must be
/// there, readable, and still the snapshot's object. Refused otherwise, naming the
/// bucket and the keys, before anything is written.
pub async fn check_sources(source: Option<&S3>, target: &S3, copies: &[AssetObject]) -> Result<()> {
    let needed: Vec<&AssetObject> = copies.iter().filter(|o| !o.embedded).collect();
    if needed.is_empty() {
        return Ok(());
    }
    let keys = first_keys(needed.iter().map(|o| o.key.as_str()));
    let Some(source) = source else {
        return Err(Error::Failed(format!(
            "{} objects must be copied but the snapshot holds neither their bytes nor a source bucket ({keys}); export with --with-assets",
            needed.len()
        )));
    };
    if source.bucket() == target.bucket() {
        return Err(Error::Failed(format!(
            "{} objects of s3://{} differ from the snapshot, which holds no bytes for them and names that same bucket as their source ({keys}); nothing was written. Restore from a snapshot exported with --with-assets",
            needed.len(),
            source.bucket()
        )));
    }
    let unreachable = |e: crate::aws::AwsError| {
        Error::Failed(format!(
            "cannot read the source bucket s3://{} with the current credentials ({e}); nothing was written. Export the snapshot with --with-assets to restore without it",
            source.bucket()
        ))
    };
    source.check_bucket().await.map_err(unreachable)?;
    let found = if needed.len() <= HEAD_EACH_UP_TO {
        stream::iter(needed)
            .map(|object| async move {
                let problem = match source.head(&object.key).await? {
                    None => Some("missing".to_owned()),
                    Some(head) if head.archived => Some(ARCHIVED.to_owned()),
                    // Another ETag and no stored SHA-256: read the bytes to be sure.
                    Some(head) if head.sha256.is_none() && head.etag != object.etag => {
                        match source.sha256(&object.key).await? {
                            None => Some("missing".to_owned()),
                            Some((head, sha)) => differs(object, head.size, Some(&sha)),
                        }
                    }
                    Some(head) => differs(object, head.size, head.sha256.as_deref()),
                };
                Ok::<_, crate::aws::AwsError>((object.key.clone(), problem))
            })
            .buffer_unordered(super::DESCRIBE_IN_FLIGHT)
            .try_collect::<Vec<_>>()
            .await
            .map_err(unreachable)?
    } else {
        check_by_listing(source, &needed)
            .await
            .map_err(unreachable)?
    };
    let problems: BTreeMap<String, String> = found
        .into_iter()
        .filter_map(|(key, problem)| problem.map(|p| (key, p)))
        .collect();
    if problems.is_empty() {
        return Ok(());
    }
    let listed: Vec<String> = problems
        .iter()
        .take(FIRST_KEYS)
        .map(|(k, p)| format!("{k}: {p}"))
        .collect();
    Err(Error::Failed(format!(
        "{} objects in the source bucket s3://{} are not what the snapshot recorded ({}{}); nothing was written. Export the snapshot with --with-assets to restore without the source",
        problems.len(),
        source.bucket(),
        listed.join("; "),
        if problems.len() > FIRST_KEYS { "; …" } else { "" }
    )))
}

/// Up to this many objects are looked up one by one (HeadObject); more are checked
/// against a listing of the source bucket (one call per 1,000 objects).
const HEAD_EACH_UP_TO: usize = 50;

/// Why the source's object is not the snapshot's, if it is not: another size, or
/// (when the source knows its SHA-256) other bytes.
fn differs(object: &AssetObject, size: u64, sha256: Option<&str>) -> Option<String> {
    if size != object.size {
        return Some(format!("{size} bytes, not {}", object.size));
    }
    match sha256 {
        Some(sha) if sha != object.sha256 => Some("other bytes of the same size".into()),
        _ => None,
    }
}

/// Checks many source objects with a listing under their common prefix: missing or
/// resized objects show there; an object whose ETag changed is looked at closer
/// (its SHA-256, read if need be), since the same bytes can be re-uploaded under
/// another ETag.
async fn check_by_listing(
    source: &S3,
    needed: &[&AssetObject],
) -> std::result::Result<Vec<(String, Option<String>)>, crate::aws::AwsError> {
    let prefix = common_prefix(needed.iter().map(|o| o.key.as_str()));
    let listed: BTreeMap<String, ListedObject> = source
        .list_all(prefix)
        .await?
        .into_iter()
        .map(|o| (o.key.clone(), o))
        .collect();
    let mut found = Vec::new();
    let mut closer = Vec::new();
    for object in needed {
        match listed.get(&object.key) {
            None => found.push((object.key.clone(), Some("missing".to_owned()))),
            Some(l) if l.size != object.size => {
                found.push((object.key.clone(), differs(object, l.size, None)))
            }
            Some(l) if l.etag != object.etag || l.archive_class => closer.push(*object),
            Some(_) => found.push((object.key.clone(), None)),
        }
    }
    let checked: Vec<(String, Option<String>)> = stream::iter(closer)
        .map(|object| async move {
            // Archived (or restored: only HeadObject tells) objects are looked at first,
            // since reading an archived one fails.
            let head = source.head(&object.key).await?;
            let problem = match head {
                None => Some("missing".to_owned()),
                Some(head) if head.archived => Some(ARCHIVED.to_owned()),
                Some(head) if head.etag == object.etag => None,
                Some(_) => match source.sha256(&object.key).await? {
                    None => Some("missing".to_owned()),
                    Some((head, sha)) => differs(object, head.size, Some(&sha)),
                },
            };
            Ok::<_, crate::aws::AwsError>((object.key.clone(), problem))
        })
        .buffer_unordered(super::DESCRIBE_IN_FLIGHT)
        .try_collect()
        .await?;
    found.extend(checked);
    Ok(found)
}

/// Why an archived source object cannot be copied.
const ARCHIVED: &str = "archived (GLACIER or DEEP_ARCHIVE) and not restored, so S3 cannot \
                        copy it: restore it (aws s3api restore-object), or export with \
                        --with-assets from a restored bucket";

/// The longest common prefix of `keys`, cut at a character boundary.
fn common_prefix<'a>(mut keys: impl Iterator<Item = &'a str>) -> &'a str {
    let Some(first) = keys.next() else {
        return "";
    };
    let mut len = first.len();
    for key in keys {
        len = first
            .bytes()
            .zip(key.bytes())
            .take(len)
            .take_while(|(a, b)| a == b)
            .count();
    }
    while !first.is_char_boundary(len) {
        len -= 1;
    }
    &first[..len]
}

fn first_keys<'a>(keys: impl Iterator<Item = &'a str>) -> String {
    let keys: Vec<&str> = keys.collect();
    let mut text = keys[..keys.len().min(FIRST_KEYS)].join(", ");
    if keys.len() > FIRST_KEYS {
        text.push_str(", …");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_stops_at_the_first_difference_and_a_char_boundary() {
        let keys = ["public/a/x", "public/a/y", "public/b"];
        assert_eq!(common_prefix(keys.into_iter()), "public/");
        assert_eq!(common_prefix(["é1", "é2"].into_iter()), "é");
        assert_eq!(common_prefix(["\u{e9}", "\u{e8}"].into_iter()), "");
        assert_eq!(common_prefix(std::iter::empty()), "");
    }
}
