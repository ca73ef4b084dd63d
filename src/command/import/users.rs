//! The users section's part in import's phases: check the target pool (phase 2), plan
//! (phase 3), and verify it after writing (phase 7). Applying is
//! `section::users::apply_users`, called from phase 6.

use age::secrecy::SecretString;

use crate::archive::ArchiveError;
use crate::aws::cognito::Cognito;
use crate::config::Environment;
use crate::error::{Error, Result};
use crate::section::users::plan::TargetPool;
use crate::section::users::rules::password_problems;
use crate::section::users::{
    compatibility, plan_users, read_target_pool, UsersActions, UsersMode, UsersPlan, UsersSnapshot,
};

/// The target pool an import restores users into.
pub(super) struct UsersTarget {
    pub cognito: Cognito,
    pub pool: TargetPool,
}

/// Phase 2: when the snapshot has users and the import includes them, the target
/// must have a pool with the same username model and every custom attribute
/// (otherwise refused, exit 4, listing each difference). `None`: no users to restore,
/// with the reason pushed to `not_restored`.
pub(super) async fn check_users(
    target: &Environment,
    sdk: &aws_config::SdkConfig,
    snapshot: Option<&UsersSnapshot>,
    selected: bool,
    not_restored: &mut Vec<String>,
) -> Result<Option<UsersTarget>> {
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    if !selected {
        not_restored.push("users (not selected by --only; add `users` to include them)".into());
        return Ok(None);
    }
    let Some(pool_id) = &target.user_pool_id else {
        not_restored.push(format!(
            "users (`{}` has no user_pool_id in rtsnap.toml)",
            target.name
        ));
        return Ok(None);
    };
    let cognito = Cognito::new(sdk, pool_id);
    let pool = read_target_pool(&cognito).await?;
    let problems = compatibility(&snapshot.pool, &pool.settings);
    if !problems.is_empty() {
        return Err(Error::Refused(format!(
            "target user pool {pool_id} of `{}` cannot hold the snapshot's users: {}; nothing was written",
            target.name,
            ArchiveError::printable(&problems.join("; "))
        )));
    }
    Ok(Some(UsersTarget { cognito, pool }))
}

/// Phase 3: the users plan. Changes Cognito would refuse are refused now, the
/// temporary password (`RTSNAP_TEMP_PASSWORD`) included when users are to be created:
/// the message says what it lacks, never what it is.
pub(super) fn plan(
    snapshot: &UsersSnapshot,
    target: &UsersTarget,
    mode: UsersMode,
    password: Option<&SecretString>,
) -> Result<(UsersPlan, UsersActions)> {
    let (plan, actions, mut refusals) = plan_users(snapshot, &target.pool, mode);
    let policy = target.pool.rules.password.as_ref();
    if let (Some(policy), Some(password), true) = (policy, password, plan.create > 0) {
        let lacks = password_problems(policy, password);
        if !lacks.is_empty() {
            refusals.push(format!(
                "RTSNAP_TEMP_PASSWORD does not meet the target pool's password policy, which \
                 also applies to the temporary passwords of the {} users to create (it needs {})",
                plan.create,
                lacks.join(", ")
            ));
        }
    }
    if !refusals.is_empty() {
        // Usernames and attribute names come from the archive: escaped, one line.
        return Err(Error::Refused(format!(
            "Cognito would refuse these user changes: {}; nothing was written",
            ArchiveError::printable(&refusals.join("; "))
        )));
    }
    Ok((plan, actions))
}

/// Phase 7: re-reads the pool and plans again; nothing left to do means the pool
/// holds the snapshot's users.
pub(super) async fn verify(
    cognito: &Cognito,
    snapshot: &UsersSnapshot,
    mode: UsersMode,
) -> Result<String> {
    let pool = read_target_pool(cognito).await?;
    let (plan, _, _) = plan_users(snapshot, &pool, mode);
    if plan.changes() == 0 {
        return Ok(format!("match ({} users checked)", plan.snapshot_users));
    }
    Ok(format!(
        "{} users missing, {} different, {} memberships missing, {} extra memberships, \
         {} users to prune, {} groups missing, {} groups different, {} groups to prune{}",
        plan.create,
        plan.update,
        plan.memberships_add,
        plan.memberships_remove,
        plan.delete,
        plan.groups_create,
        plan.groups_update,
        plan.groups_delete,
        first_differences(&plan)
    ))
}

/// `; first: group update admins, update a@x.com`: the first users and groups that
/// still differ, so the operator sees what to look at.
fn first_differences(plan: &UsersPlan) -> String {
    let named: Vec<String> = plan
        .first
        .iter()
        .filter(|(action, _)| !matches!(action.as_str(), "kept" | "federated, not restored"))
        .flat_map(|(action, keys)| keys.iter().take(3).map(move |k| format!("{action} {k}")))
        .take(5)
        .collect();
    if named.is_empty() {
        String::new()
    } else {
        format!("; first: {}", named.join(", "))
    }
}
