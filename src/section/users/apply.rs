//! The users section's apply step (import phase 6), before any table is written:
//! groups first, then new users (AdminCreateUser with `MessageAction=SUPPRESS`: no
//! invitation e-mail or SMS), then changed attributes and enabled state, memberships,
//! and last the deletions `--prune-users` asked for. New users' subs complete the old
//! sub → new sub map that the tables section then uses for owner fields.
//!
//! Calls run a few at a time; each one retries Cognito's rate limits with backoff
//! (`aws::retrying`). If one still fails, the step stops and says what it had done: a
//! re-run plans against the pool as it is and finishes the job. A stop (Ctrl-C) is
//! honoured the same way between calls: the calls in flight finish, no new one starts.

use std::collections::HashMap;
use std::sync::Arc;

use age::secrecy::SecretString;
use serde::Serialize;

use super::plan::{UserRef, UserUpdate, UsersActions};
use super::read::UsersSnapshot;
use crate::archive::users::User;
use crate::aws::cognito::Cognito;
use crate::aws::AwsError;
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::section::owner::SubTarget;
use crate::stop::StopSignal;

/// Cognito calls in flight at once (its admin APIs allow tens per second per account).
const CALLS_IN_FLIGHT: usize = 8;

/// What phase 6 did to the pool.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UsersApplied {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub groups: u64,
    pub memberships: u64,
}

/// Applies the plan's actions; returns what was done and the complete sub map.
pub async fn apply_users(
    cognito: &Cognito,
    snapshot: &UsersSnapshot,
    actions: UsersActions,
    password: Option<&SecretString>,
    progress: &dyn Progress,
    stop: &StopSignal,
) -> Result<(UsersApplied, HashMap<String, SubTarget>)> {
    let mut done = UsersApplied::default();
    let interrupted = |done: &UsersApplied| {
        Error::Interrupted(format!(
            "interrupted during the users: {} created, {} updated, {} deleted, {} groups, {} memberships so far; no item was written",
            done.created, done.updated, done.deleted, done.groups, done.memberships
        ))
    };
    let stopped = |what: &str, done: &UsersApplied, e: AwsError| {
        Error::Failed(format!(
            "users: {what} failed ({e}); done so far: {} users created, {} updated, {} deleted, {} groups, {} memberships. Re-run the same import to finish (it plans against the pool as it is now)",
            done.created, done.updated, done.deleted, done.groups, done.memberships
        ))
    };
    for (group, exists) in &actions.groups {
        if stop.is_stopped() {
            return Err(interrupted(&done));
        }
        cognito
            .put_group(group, *exists)
            .await
            .map_err(|e| stopped("writing a group", &done, e))?;
        done.groups += 1;
    }
    let mut subs = actions.subs;
    let created = create_users(
        cognito,
        snapshot,
        &actions.creates,
        password,
        progress,
        stop,
    )
    .await
    .map_err(|(count, e)| {
        done.created = count;
        stopped("creating users", &done, e)
    })?;
    done.created = created.len() as u64;
    if stop.is_stopped() {
        return Err(interrupted(&done));
    }
    for (i, (sub, username)) in &created {
        subs.insert(
            snapshot.users[*i].sub.clone(),
            SubTarget::Known {
                sub: sub.clone(),
                username: username.clone(),
            },
        );
    }
    let usernames: HashMap<usize, String> = created
        .into_iter()
        .map(|(i, (_, username))| (i, username))
        .collect();
    done.updated = update_users(cognito, actions.updates, stop)
        .await
        .map_err(|(count, e)| {
            done.updated = count;
            stopped("updating users", &done, e)
        })?;
    for (user, group, add) in &actions.memberships {
        if stop.is_stopped() {
            return Err(interrupted(&done));
        }
        let username = match user {
            UserRef::Existing(name) => name.as_str(),
            UserRef::Created(i) => usernames.get(i).map_or("", String::as_str),
        };
        cognito
            .set_membership(username, group, *add)
            .await
            .map_err(|e| stopped("changing a group membership", &done, e))?;
        done.memberships += 1;
    }
    for username in &actions.deletes {
        if stop.is_stopped() {
            return Err(interrupted(&done));
        }
        cognito
            .delete_user(username)
            .await
            .map_err(|e| stopped("deleting a user", &done, e))?;
        done.deleted += 1;
    }
    for name in &actions.group_deletes {
        if stop.is_stopped() {
            return Err(interrupted(&done));
        }
        cognito
            .delete_group(name)
            .await
            .map_err(|e| stopped("deleting a group", &done, e))?;
        done.groups += 1;
    }
    Ok((done, subs))
}

/// The username a new user is created with: its e-mail or phone number when the pool
/// signs in with those (Cognito then generates the username), else its username.
fn create_name(user: &User, username_attributes: &[String]) -> String {
    username_attributes
        .iter()
        .find_map(|a| user.attributes.get(a).filter(|v| !v.is_empty()).cloned())
        .unwrap_or_else(|| user.username.clone())
}

type Created = Vec<(usize, (String, String))>;

/// Creates the users (then disables those the snapshot has disabled), a few at a time;
/// once `stop` is set, no new call starts. Returns, per snapshot index, the new (sub,
/// username); on failure, how many were created and the error.
async fn create_users(
    cognito: &Cognito,
    snapshot: &UsersSnapshot,
    creates: &[usize],
    password: Option<&SecretString>,
    progress: &dyn Progress,
    stop: &StopSignal,
) -> std::result::Result<Created, (u64, AwsError)> {
    if creates.is_empty() {
        return Ok(Vec::new());
    }
    let task = progress.start("create users", Some(creates.len() as u64));
    let limit = Arc::new(tokio::sync::Semaphore::new(CALLS_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for &i in creates {
        let user = snapshot.users[i].clone();
        let name = create_name(&user, &snapshot.pool.username_attributes);
        let (cognito, limit, password) = (cognito.clone(), Arc::clone(&limit), password.cloned());
        let stop = stop.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            if stop.is_stopped() {
                return Ok(None);
            }
            let attributes = super::plan::writable(&user.attributes);
            let made = cognito
                .create_user(&name, &attributes, password.as_ref())
                .await?;
            if !user.enabled {
                cognito.set_enabled(&made.username, false).await?;
            }
            Ok::<_, AwsError>(Some((i, (made.sub().to_owned(), made.username))))
        });
    }
    let mut created = Vec::new();
    let mut failure = None;
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(Some(made))) => {
                task.advance(1);
                created.push(made);
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(AwsError::Invalid(format!("create task: {e}")))),
        }
    }
    if let Some(e) = failure {
        return Err((created.len() as u64, e));
    }
    task.finish(&format!("{} users created", created.len()));
    Ok(created)
}

/// Applies attribute and enabled-state changes, a few users at a time.
async fn update_users(
    cognito: &Cognito,
    updates: Vec<UserUpdate>,
    stop: &StopSignal,
) -> std::result::Result<u64, (u64, AwsError)> {
    let limit = Arc::new(tokio::sync::Semaphore::new(CALLS_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for update in updates {
        let (cognito, limit, stop) = (cognito.clone(), Arc::clone(&limit), stop.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await;
            if stop.is_stopped() {
                return Ok(false);
            }
            if !update.set.is_empty() {
                cognito
                    .update_attributes(&update.username, &update.set)
                    .await?;
            }
            if !update.remove.is_empty() {
                cognito
                    .delete_attributes(&update.username, &update.remove)
                    .await?;
            }
            if let Some(enabled) = update.enabled {
                cognito.set_enabled(&update.username, enabled).await?;
            }
            Ok::<_, AwsError>(true)
        });
    }
    let (mut count, mut failure) = (0u64, None);
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(Ok(updated)) => count += u64::from(updated),
            Ok(Err(e)) => failure = failure.or(Some(e)),
            Err(e) => failure = failure.or(Some(AwsError::Invalid(format!("update task: {e}")))),
        }
    }
    match failure {
        Some(e) => Err((count, e)),
        None => Ok(count),
    }
}
