//! The assets section's part in import's phases: check the target bucket (phase 2),
//! plan and check the copies' sources (phase 3), and verify the bucket after writing
//! (phase 7). Applying is `section::assets::apply_assets`, called from phase 6.

use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::section::assets::plan::check_sources;
use crate::section::assets::{
    compare_assets, plan_assets, AssetsActions, AssetsMode, AssetsPlan, AssetsSnapshot,
};

/// The bucket an import restores objects into, and where server-side copies read.
pub(super) struct AssetsTarget {
    pub s3: S3,
    pub source: Option<S3>,
}

/// Phase 2: when the snapshot has assets and the import includes them, the target
/// bucket must be reachable. `None`: no assets to restore, with the reason pushed to
/// `not_restored`.
pub(super) async fn check_assets(
    target: &Environment,
    sdk: &aws_config::SdkConfig,
    snapshot: Option<&AssetsSnapshot>,
    selected: bool,
    sample: bool,
    not_restored: &mut Vec<String>,
) -> Result<Option<AssetsTarget>> {
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    if !selected {
        not_restored.push("assets (not selected by --only; add `assets` to include them)".into());
        return Ok(None);
    }
    if sample {
        not_restored.push("assets (a --limit sample restores items only)".into());
        return Ok(None);
    }
    let Some(bucket) = &target.bucket else {
        not_restored.push(format!(
            "assets (`{}` has no bucket in rtsnap.toml)",
            target.name
        ));
        return Ok(None);
    };
    let s3 = S3::new(sdk, bucket);
    s3.check_bucket().await.map_err(|e| {
        Error::Refused(format!(
            "the target bucket s3://{bucket} of `{}` cannot be reached ({e}); nothing was written",
            target.name
        ))
    })?;
    let source = snapshot
        .source_bucket
        .as_deref()
        .map(|source| S3::new(sdk, source));
    Ok(Some(AssetsTarget { s3, source }))
}

/// Phase 3: the assets plan; copies whose bytes must come from the source bucket are
/// checked there now, so an unreachable source stops the import before the backup.
pub(super) async fn plan(
    snapshot: &AssetsSnapshot,
    target: &AssetsTarget,
    prefixes: &[String],
    mode: AssetsMode,
    progress: &dyn Progress,
) -> Result<(AssetsPlan, AssetsActions)> {
    let (plan, actions) = plan_assets(&target.s3, prefixes, snapshot, mode, progress).await?;
    check_sources(target.source.as_ref(), &target.s3, &actions.copy).await?;
    Ok((plan, actions))
}

/// Phase 7: compares the bucket with the snapshot again; extras count as a
/// difference only when the import pruned.
pub(super) async fn verify(
    target: &AssetsTarget,
    prefixes: &[String],
    snapshot: &AssetsSnapshot,
    mode: AssetsMode,
    progress: &dyn Progress,
) -> Result<String> {
    let comparison = compare_assets(&target.s3, prefixes, snapshot, progress).await?;
    if comparison.equal(mode.prune) {
        let kept = if comparison.extra > 0 {
            format!(", {} other objects kept", comparison.extra)
        } else {
            String::new()
        };
        return Ok(format!(
            "match ({} objects checked by SHA-256{kept})",
            comparison.equal_objects
        ));
    }
    Ok(format!(
        "{} objects missing, {} different, {} extra (first: {})",
        comparison.missing,
        comparison.different,
        comparison.extra,
        comparison
            .missing_keys
            .iter()
            .chain(&comparison.different_keys)
            .chain(&comparison.extra_keys)
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
