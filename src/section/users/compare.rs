//! Comparing a live pool with a snapshot's users section: the users part of
//! `verify --against` and of import phase 7. A comparison is the plan an exact import
//! with `--prune-users` would make: nothing to do means equal. Subs and user status
//! are not compared (a restored user has a new sub and must set a password).

use std::collections::BTreeMap;

use serde::Serialize;

use super::plan::{compatibility, plan_users, TargetPool, UsersMode};
use super::read::UsersSnapshot;

/// How a pool compares with a snapshot.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UsersComparison {
    /// `match`, `differs` or `incompatible pool`.
    pub status: String,
    pub pool: String,
    pub snapshot_users: u64,
    pub target_users: u64,
    /// Snapshot users the pool lacks.
    pub missing: u64,
    /// Users whose attributes or enabled state differ.
    pub different: u64,
    /// Pool users the snapshot lacks.
    pub extra: u64,
    pub groups_missing: u64,
    pub groups_different: u64,
    pub groups_extra: u64,
    pub memberships_missing: u64,
    pub memberships_extra: u64,
    /// Why the pool cannot hold the snapshot's users, if it cannot.
    pub problems: Vec<String>,
    /// Kind of difference → the first users or groups concerned.
    pub keys: BTreeMap<String, Vec<String>>,
}

/// Compares the pool with the snapshot's users section.
pub fn compare_users(snapshot: &UsersSnapshot, target: &TargetPool) -> UsersComparison {
    let mut comparison = UsersComparison {
        pool: target.settings.user_pool_id.clone(),
        snapshot_users: snapshot.users.len() as u64,
        target_users: target.users.len() as u64,
        ..Default::default()
    };
    comparison.problems = compatibility(&snapshot.pool, &target.settings);
    if !comparison.problems.is_empty() {
        comparison.status = "incompatible pool".into();
        return comparison;
    }
    let mode = UsersMode {
        exact: true,
        prune: true,
    };
    let (plan, _, _) = plan_users(snapshot, target, mode);
    comparison.missing = plan.create;
    comparison.different = plan.update;
    comparison.extra = plan.delete;
    comparison.groups_missing = plan.groups_create;
    comparison.groups_different = plan.groups_update;
    comparison.groups_extra = plan.groups_delete;
    comparison.memberships_missing = plan.memberships_add;
    comparison.memberships_extra = plan.memberships_remove;
    let rename = |action: &str| match action {
        "create" => "missing".to_owned(),
        "update" => "different".to_owned(),
        "delete" => "extra".to_owned(),
        "group create" => "group missing".to_owned(),
        "group update" => "group different".to_owned(),
        "group delete" => "group extra".to_owned(),
        "membership add" => "membership missing".to_owned(),
        "membership remove" => "membership extra".to_owned(),
        other => other.to_owned(),
    };
    let changes = plan.changes();
    comparison.keys = plan
        .first
        .into_iter()
        .map(|(action, keys)| (rename(&action), keys))
        .collect();
    comparison.status = if changes == 0 { "match" } else { "differs" }.into();
    comparison
}
