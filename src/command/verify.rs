//! `verify <FILE> --against <ENV>`: does a live environment hold exactly what a
//! snapshot holds? Section by section (each section's `compare` says what differs and
//! lists a sample of the differing keys). Reads only; writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::DecryptionKey;
use crate::aws::cognito::Cognito;
use crate::aws::dynamodb::Dynamo;
use crate::aws::s3::S3;
use crate::config::Environment;
use crate::error::Result;
use crate::section::assets::{compare_assets, AssetsComparison};
use crate::section::owner::OwnerRewrite;
use crate::section::tables::{compare_tables, TableComparison};
use crate::section::users::{
    compare_users, plan_users, read_target_pool, UsersComparison, UsersMode,
};
use crate::snapshot::read_verified;

pub use crate::section::tables::SAMPLE_KEYS;

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct AgainstReport {
    pub snapshot: PathBuf,
    pub env: String,
    /// True when every section matches.
    pub equal: bool,
    pub tables: BTreeMap<String, TableComparison>,
    /// The users comparison, when the snapshot has users and the environment a pool.
    pub users: Option<UsersComparison>,
    /// The assets comparison, when the snapshot has assets and the environment a bucket.
    pub assets: Option<AssetsComparison>,
    /// Snapshot sections not compared, and why.
    pub not_compared: Vec<String>,
}

/// Compares the snapshot with the environment, section by section.
pub async fn verify_against(
    snapshot: &Path,
    env: &Environment,
    key: &DecryptionKey,
    owner_fields: &BTreeMap<String, Vec<String>>,
) -> Result<AgainstReport> {
    let verified = read_verified(snapshot, key)?;
    let sdk = crate::aws::sdk_config(env).await;
    let dynamo = Dynamo::new(&sdk);
    let mut not_compared = Vec::new();
    let (users, owners) = match (&verified.users, &env.user_pool_id) {
        (Some(snapshot_users), Some(pool_id)) => {
            let cognito = Cognito::new(&sdk, pool_id);
            let pool = read_target_pool(&cognito).await?;
            let comparison = compare_users(snapshot_users, &pool);
            // Items are compared with owner fields in the environment's subs, matched
            // as an import matches users.
            let mode = UsersMode {
                exact: true,
                prune: false,
            };
            let (_, actions, _) = plan_users(snapshot_users, &pool, mode);
            let owners = OwnerRewrite::new(actions.subs, owner_fields.clone());
            (Some(comparison), Some(owners))
        }
        (Some(_), None) => {
            not_compared.push(format!("users (`{}` has no user_pool_id)", env.name));
            (None, None)
        }
        _ => (None, None),
    };
    let tables = compare_tables(&dynamo, snapshot, key, &verified, env, owners.as_ref()).await?;
    let assets = match (&verified.assets, &env.bucket) {
        (Some(snapshot_assets), Some(bucket)) => {
            let s3 = S3::new(&sdk, bucket);
            let progress = crate::progress::NoProgress;
            let prefixes = &env.asset_prefixes;
            Some(compare_assets(&s3, prefixes, snapshot_assets, &progress).await?)
        }
        (Some(_), None) => {
            not_compared.push(format!("assets (`{}` has no bucket)", env.name));
            None
        }
        _ => None,
    };
    let equal = tables.values().all(|t| t.status == "match")
        && users.as_ref().is_none_or(|u| u.status == "match")
        && assets.as_ref().is_none_or(|a| a.status == "match");
    Ok(AgainstReport {
        snapshot: snapshot.to_path_buf(),
        env: env.name.clone(),
        equal,
        tables,
        users,
        assets,
        not_compared,
    })
}
