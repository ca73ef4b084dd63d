//! What an import reports: its plan (phases 1–3, all a dry run shows), then what it
//! wrote, the way back, and phase 7's verdicts. The CLI renders it, `--json` prints it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::archive::header::IntegritySummary;
use crate::section::assets::{AssetsApplied, AssetsPlan};
use crate::section::tables::TablePlan;
use crate::section::users::{UsersApplied, UsersPlan};

/// What an import did (or, with `--dry-run`, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub snapshot: PathBuf,
    pub source_env: String,
    pub target: String,
    pub dry_run: bool,
    /// `exact`, `merge` or `sample`.
    pub mode: &'static str,
    /// The snapshot's referential integrity, when rtsnap.toml declares relations.
    pub integrity: Option<IntegritySummary>,
    /// With `--with-related`: items per model in the closed sample.
    pub sample: Option<BTreeMap<String, u64>>,
    pub tables: BTreeMap<String, TablePlan>,
    /// The users plan, when the users section is restored.
    pub users: Option<UsersPlan>,
    /// The assets plan, when the assets section is restored.
    pub assets: Option<AssetsPlan>,
    /// Snapshot sections not restored, and why (said plainly, never skipped silently).
    pub sections_not_restored: Vec<String>,
    pub backup: Option<PathBuf>,
    /// When this run resumed an interrupted one: when that one started (its backup
    /// is kept).
    pub resumed_from: Option<String>,
    pub rollback_command: Option<String>,
    pub written: u64,
    pub deleted: u64,
    pub created_tables: Vec<String>,
    /// The tables ImportTable created and loaded, and the staging area it read.
    pub native: Option<crate::section::tables::native_import::NativeImportSummary>,
    pub users_applied: Option<UsersApplied>,
    pub assets_applied: Option<AssetsApplied>,
    /// Snapshot sub → target sub, for users whose sub changed (owner fields of the
    /// imported items were rewritten with it).
    pub sub_map: BTreeMap<String, String>,
    /// Per table (and `users`, `assets`): `match`, or what differs.
    pub verification: BTreeMap<String, String>,
    /// AWS calls retried (throttling, transient failures) during this import.
    pub retries: crate::aws::RetryStats,
}

impl ImportReport {
    pub fn total_changes(&self) -> u64 {
        self.tables.values().map(TablePlan::changes).sum::<u64>()
            + self.users.as_ref().map_or(0, UsersPlan::changes)
            + self.assets.as_ref().map_or(0, AssetsPlan::changes)
    }
}
