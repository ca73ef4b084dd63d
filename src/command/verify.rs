//! `verify <FILE> --against <ENV>`: does a live environment hold exactly what a
//! snapshot holds? Section by section (each section's `compare` says what differs and
//! lists a sample of the differing keys). Reads only; writes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::archive::DecryptionKey;
use crate::aws::dynamodb::Dynamo;
use crate::config::Environment;
use crate::error::Result;
use crate::section::tables::{compare_tables, TableComparison};
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
}

/// Compares the snapshot with the environment, section by section.
pub async fn verify_against(
    snapshot: &Path,
    env: &Environment,
    key: &DecryptionKey,
) -> Result<AgainstReport> {
    let verified = read_verified(snapshot, key)?;
    let sdk = crate::aws::sdk_config(env).await;
    let dynamo = Dynamo::new(&sdk);
    let tables = compare_tables(&dynamo, snapshot, key, &verified, env).await?;
    let equal = tables.values().all(|t| t.status == "match");
    Ok(AgainstReport {
        snapshot: snapshot.to_path_buf(),
        env: env.name.clone(),
        equal,
        tables,
    })
}
