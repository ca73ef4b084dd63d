//! The users section: an environment's Cognito user pool (settings, groups, users and
//! their memberships). "How are users restored?" starts here.
//!
//! - export: [`export`] lists the pool into `users/*.json[l]` (never passwords:
//!   Cognito cannot export them);
//! - read: [`read`] parses the section back from a verified archive;
//! - plan: [`plan`] checks the target pool is compatible, then diffs users (matched by
//!   username, or by e-mail / phone in pools that sign in with those), groups and
//!   memberships;
//! - apply: [`apply`] creates users without invitations, updates attributes and
//!   enabled state, memberships, and prunes with `--prune-users`;
//! - verify: [`compare`] for import phase 7 and `verify --against`;
//! - analyze: [`count_users`] for `analyze`.
//!
//! Owner fields of items are rewritten with the old sub → new sub map the plan and
//! apply steps build (`crate::section::owner`).

pub mod apply;
pub mod compare;
pub mod export;
pub mod plan;
pub mod read;
pub mod rules;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::archive::users::{Group, PoolSettings};
use crate::aws::cognito::Cognito;
use crate::error::Result;
use plan::TargetPool;

pub use apply::{apply_users, UsersApplied};
pub use compare::{compare_users, UsersComparison};
pub use plan::{compatibility, plan_users, UsersActions, UsersMode, UsersPlan};
pub use read::UsersSnapshot;

/// Reads the whole target pool: settings, groups, memberships and users.
pub async fn read_target_pool(cognito: &Cognito) -> Result<TargetPool> {
    let described = cognito.describe_pool().await?;
    let groups = cognito.list_groups().await?;
    let memberships = memberships(cognito, &groups)
        .await?
        .into_iter()
        .map(|(user, groups)| (user, groups.into_iter().collect::<BTreeSet<_>>()))
        .collect::<HashMap<_, _>>();
    let users = cognito.all_users().await?;
    Ok(TargetPool {
        settings: described.settings,
        rules: described.rules,
        groups,
        users,
        memberships,
    })
}

/// username → the groups it belongs to, in the order of `groups`: one paginated
/// ListUsersInGroup per group, never one call per user.
pub(crate) async fn memberships(
    cognito: &Cognito,
    groups: &[Group],
) -> Result<BTreeMap<String, Vec<String>>> {
    let mut memberships: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for group in groups {
        for username in cognito.list_members(&group.name).await? {
            memberships
                .entry(username)
                .or_default()
                .push(group.name.clone());
        }
    }
    Ok(memberships)
}

/// A pool's size, for `analyze`.
#[derive(Debug, Clone, Serialize)]
pub struct UsersCount {
    pub pool: String,
    pub users: u64,
    /// How `users` was counted: Cognito's estimate is one call but may lag behind;
    /// listing is exact but takes one call per 60 users.
    pub users_counted_by: &'static str,
    pub groups: u64,
    /// The pool's sign-in model and schema, which import checks a target pool against.
    #[serde(skip)]
    pub settings: PoolSettings,
}

/// Counts the pool's users (`exact`: by listing them all; else DescribeUserPool's
/// `EstimatedNumberOfUsers`) and groups (always listed: pools have few).
pub async fn count_users(cognito: &Cognito, exact: bool) -> Result<UsersCount> {
    let described = cognito.describe_pool().await?;
    let (settings, estimate) = (described.settings, described.estimate);
    let groups = cognito.list_groups().await?.len() as u64;
    let (users, users_counted_by) = if exact {
        let mut count = 0u64;
        let mut token = None;
        loop {
            let (page, next) = cognito.list_users_page(token).await?;
            count += page.len() as u64;
            match next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        (count, "ListUsers (exact)")
    } else {
        (
            estimate,
            "DescribeUserPool EstimatedNumberOfUsers (approximate)",
        )
    };
    Ok(UsersCount {
        pool: cognito.pool_id().to_owned(),
        users,
        users_counted_by,
        groups,
        settings,
    })
}
