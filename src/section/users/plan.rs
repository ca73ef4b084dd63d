//! The users plan: check that the target pool can hold the snapshot's users (same
//! username model, every custom attribute present; otherwise refused before anything
//! is written), then diff the snapshot's users, groups and memberships against the
//! target pool's.
//!
//! Users are matched by username, or by email / phone number when the pool signs in
//! with those (Cognito then gives every user a generated username equal to its sub,
//! so usernames differ between pools while emails do not).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::read::UsersSnapshot;
use super::rules::{constraint_problem, missing_required, Refusals};
use crate::archive::users::{Group, PoolSettings, User};
use crate::aws::cognito::{PoolRules, PoolUser};
use crate::section::owner::SubTarget;

/// The `UserStatus` of users who sign in through an external identity provider.
pub const FEDERATED: &str = "EXTERNAL_PROVIDER";

/// Keys listed per action in a plan; the counts are always complete.
pub const SAMPLE_KEYS: usize = 10;

/// The target pool as the plan sees it.
pub struct TargetPool {
    pub settings: PoolSettings,
    /// What the live pool checks new values against (not in any snapshot).
    pub rules: PoolRules,
    pub groups: Vec<Group>,
    pub users: Vec<PoolUser>,
    /// Username → groups.
    pub memberships: HashMap<String, BTreeSet<String>>,
}

/// How far an import goes with users.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsersMode {
    /// Remove attributes and memberships the snapshot lacks (not with `--merge` or
    /// `--limit`).
    pub exact: bool,
    /// Delete target users (and groups) absent from the snapshot (`--prune-users`).
    pub prune: bool,
}

/// What importing the users section will do: counts and the first keys per action.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct UsersPlan {
    /// The target user pool.
    pub pool: String,
    pub snapshot_users: u64,
    pub create: u64,
    pub update: u64,
    pub unchanged: u64,
    /// Target users absent from the snapshot, deleted (`--prune-users`).
    pub delete: u64,
    /// Target users absent from the snapshot, kept (no `--prune-users`).
    pub kept: u64,
    /// Federated users (status `EXTERNAL_PROVIDER`: Google, SAML, …) of the snapshot,
    /// not restored, and those of the target, never changed or pruned: AdminCreateUser
    /// cannot create them (it would make a password user of that name), and Cognito
    /// creates each again at its next sign-in through its provider. One the target
    /// already has (same sign-in name) still gets its items' owner fields rewritten.
    pub federated: u64,
    pub groups_create: u64,
    pub groups_update: u64,
    pub groups_delete: u64,
    pub memberships_add: u64,
    pub memberships_remove: u64,
    /// Action → the first users (sign-in name) or groups it concerns.
    pub first: BTreeMap<String, Vec<String>>,
}

impl UsersPlan {
    /// Cognito calls this plan makes.
    pub fn changes(&self) -> u64 {
        self.create
            + self.update
            + self.delete
            + self.groups_create
            + self.groups_update
            + self.groups_delete
            + self.memberships_add
            + self.memberships_remove
    }

    fn note(&mut self, action: &str, key: &str) {
        let keys = self.first.entry(action.to_owned()).or_default();
        if keys.len() < SAMPLE_KEYS {
            keys.push(key.to_owned());
        }
    }
}

/// One user's changes to an existing target user.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    /// The target's username.
    pub username: String,
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
    pub enabled: Option<bool>,
}

/// A user the plan touches: an existing target user, or the index of a snapshot user
/// that phase 6 creates first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Existing(String),
    Created(usize),
}

/// Everything phase 6 does to the pool, in order.
#[derive(Debug, Clone, Default)]
pub struct UsersActions {
    /// Groups to create (`false`) or update (`true`).
    pub groups: Vec<(Group, bool)>,
    /// Indexes into the snapshot's users.
    pub creates: Vec<usize>,
    pub updates: Vec<UserUpdate>,
    /// (user, group, add): add or remove a membership.
    pub memberships: Vec<(UserRef, String, bool)>,
    /// Target usernames to delete.
    pub deletes: Vec<String>,
    pub group_deletes: Vec<String>,
    /// Old sub → target user (pending for users still to create).
    pub subs: HashMap<String, SubTarget>,
}

/// Differences that make the target pool unable to hold the snapshot's users.
pub fn compatibility(snapshot: &PoolSettings, target: &PoolSettings) -> Vec<String> {
    let mut problems = Vec::new();
    let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<String>>();
    if sorted(&snapshot.username_attributes) != sorted(&target.username_attributes) {
        problems.push(format!(
            "username model: the snapshot's pool signs in with {}, the target pool with {}",
            sign_in(&snapshot.username_attributes),
            sign_in(&target.username_attributes)
        ));
    }
    if sorted(&snapshot.alias_attributes) != sorted(&target.alias_attributes) {
        problems.push(format!(
            "alias attributes: the snapshot's pool has [{}], the target pool [{}]",
            snapshot.alias_attributes.join(", "),
            target.alias_attributes.join(", ")
        ));
    }
    for attribute in snapshot.custom_attributes() {
        match target.schema.iter().find(|a| a.name == attribute.name) {
            None => problems.push(format!(
                "custom attribute {} is missing in the target pool",
                attribute.name
            )),
            Some(found) if found.attribute_data_type != attribute.attribute_data_type => problems
                .push(format!(
                    "custom attribute {} is {} in the snapshot, {} in the target pool",
                    attribute.name, attribute.attribute_data_type, found.attribute_data_type
                )),
            Some(_) => {}
        }
    }
    problems
}

fn sign_in(attributes: &[String]) -> String {
    if attributes.is_empty() {
        "usernames".into()
    } else {
        attributes.join(" or ")
    }
}

/// The name a user is matched by in a pool with these username attributes: the
/// e-mail or phone number it signs in with, else its username; without letter case
/// when the pool compares sign-in names so (`PoolRules::case_insensitive`), exactly
/// otherwise, as Cognito does.
pub fn match_key(
    username_attributes: &[String],
    case_insensitive: bool,
    username: &str,
    attributes: &BTreeMap<String, String>,
) -> String {
    let fold = |value: &str| {
        if case_insensitive {
            value.to_lowercase()
        } else {
            value.to_owned()
        }
    };
    for by in username_attributes {
        if let Some(value) = attributes.get(by).filter(|v| !v.is_empty()) {
            let value = if by == "email" {
                fold(value)
            } else {
                value.clone()
            };
            return format!("{by}:{value}");
        }
    }
    format!("username:{}", fold(username))
}

/// The attributes a user is created with or compared on: everything but `sub` and
/// Cognito's own read-only `cognito:*` names.
pub fn writable(attributes: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    attributes
        .iter()
        .filter(|(name, _)| name.as_str() != "sub" && !name.starts_with("cognito:"))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect()
}

/// Diffs the snapshot's users section against the target pool. Returns the plan, the
/// actions, and the problems Cognito would refuse (an immutable attribute to change).
pub fn plan_users(
    snapshot: &UsersSnapshot,
    target: &TargetPool,
    mode: UsersMode,
) -> (UsersPlan, UsersActions, Vec<String>) {
    let mut plan = UsersPlan {
        pool: target.settings.user_pool_id.clone(),
        snapshot_users: snapshot.users.len() as u64,
        ..Default::default()
    };
    let mut actions = UsersActions::default();
    let mut refusals = Vec::new();
    plan_groups(snapshot, target, mode, &mut plan, &mut actions);
    let by = &target.settings.username_attributes;
    let folded = target.rules.case_insensitive;
    let key_of = |username: &str, attributes: &BTreeMap<String, String>| {
        match_key(by, folded, username, attributes)
    };
    // Several target users per key only if the pool let them in (it should not): each
    // snapshot user takes one, and those left over are extra, never dropped unseen.
    let mut index: HashMap<String, Vec<&PoolUser>> = HashMap::new();
    // Federated users are matched only to carry their sub across (owner fields).
    let mut federated: HashMap<String, &PoolUser> = HashMap::new();
    for user in &target.users {
        let key = key_of(&user.username, &user.attributes);
        if user.status == FEDERATED {
            federated.insert(key, user);
        } else {
            index.entry(key).or_default().push(user);
        }
    }
    let mut checks = Refusals::default();
    let mut first_with_key: HashMap<String, &str> = HashMap::new();
    for (i, user) in snapshot.users.iter().enumerate() {
        let key = key_of(&user.username, &user.attributes);
        let shown = display_key(&key);
        if user.status == FEDERATED {
            plan.federated += 1;
            plan.note("federated, not restored", shown);
            if let Some(existing) = federated.get(&key) {
                actions.subs.insert(
                    user.sub.clone(),
                    SubTarget::Known {
                        sub: existing.sub().to_owned(),
                        username: existing.username.clone(),
                    },
                );
            }
            continue;
        }
        if let Some(earlier) = first_with_key.insert(key.clone(), &user.username) {
            let why = if folded {
                " (it compares sign-in names without letter case)"
            } else {
                ""
            };
            refusals.push(format!(
                "snapshot users {earlier} and {} are one user in the target pool{why}",
                user.username
            ));
            continue;
        }
        let existing = index.get_mut(&key).and_then(|users| users.pop());
        match existing {
            None => {
                for name in missing_required(&target.settings, &user.attributes) {
                    checks.add(
                        format!("lacks {name}, which the target pool requires"),
                        shown,
                    );
                }
                check_values(
                    &target.rules,
                    &writable(&user.attributes),
                    shown,
                    &mut checks,
                );
                plan.create += 1;
                plan.note("create", shown);
                actions.creates.push(i);
                actions.subs.insert(user.sub.clone(), SubTarget::Pending);
                for group in &user.groups {
                    plan.memberships_add += 1;
                    actions
                        .memberships
                        .push((UserRef::Created(i), group.clone(), true));
                }
            }
            Some(existing) => {
                actions.subs.insert(
                    user.sub.clone(),
                    SubTarget::Known {
                        sub: existing.sub().to_owned(),
                        username: existing.username.clone(),
                    },
                );
                let update = user_update(user, existing, mode);
                for name in update.set.keys().chain(update.remove.iter()) {
                    if target.settings.is_immutable(name) {
                        refusals.push(format!(
                            "user {shown}: attribute {name} differs but is immutable in the target pool"
                        ));
                    }
                }
                for name in missing_required(&target.settings, &BTreeMap::new()) {
                    if update.remove.iter().any(|r| r == name) {
                        checks.add(
                            format!("lacks {name}, which the target pool requires"),
                            shown,
                        );
                    }
                }
                check_values(&target.rules, &update.set, shown, &mut checks);
                let changed =
                    !update.set.is_empty() || !update.remove.is_empty() || update.enabled.is_some();
                if changed {
                    plan.update += 1;
                    plan.note("update", shown);
                    actions.updates.push(update);
                } else {
                    plan.unchanged += 1;
                }
                plan_memberships(
                    (user, shown),
                    existing,
                    target,
                    mode,
                    &mut plan,
                    &mut actions,
                );
            }
        }
    }
    refusals.extend(checks.lines());
    let mut extra: Vec<&PoolUser> = index.into_values().flatten().collect();
    extra.sort_by(|a, b| a.username.cmp(&b.username));
    for user in extra {
        let key = key_of(&user.username, &user.attributes);
        if mode.prune {
            plan.delete += 1;
            plan.note("delete", display_key(&key));
            actions.deletes.push(user.username.clone());
        } else {
            plan.kept += 1;
            plan.note("kept", display_key(&key));
        }
    }
    (plan, actions, refusals)
}

/// Adds a refusal for each value the target pool's constraints would refuse.
fn check_values(
    rules: &PoolRules,
    values: &BTreeMap<String, String>,
    shown: &str,
    checks: &mut Refusals,
) {
    for (name, value) in values {
        if let Some(problem) = constraint_problem(rules, name, value) {
            checks.add(problem, shown);
        }
    }
}

/// `email:a@x.com` → `a@x.com`.
fn display_key(key: &str) -> &str {
    key.split_once(':').map_or(key, |(_, v)| v)
}

fn plan_groups(
    snapshot: &UsersSnapshot,
    target: &TargetPool,
    mode: UsersMode,
    plan: &mut UsersPlan,
    actions: &mut UsersActions,
) {
    let existing: HashMap<&str, &Group> =
        target.groups.iter().map(|g| (g.name.as_str(), g)).collect();
    for group in &snapshot.groups {
        match existing.get(group.name.as_str()) {
            None => {
                plan.groups_create += 1;
                plan.note("group create", &group.name);
                actions.groups.push((group.clone(), false));
            }
            Some(have) if *have != group => {
                plan.groups_update += 1;
                plan.note("group update", &group.name);
                actions.groups.push((group.clone(), true));
            }
            Some(_) => {}
        }
    }
    if mode.prune {
        let wanted: BTreeSet<&str> = snapshot.groups.iter().map(|g| g.name.as_str()).collect();
        for group in &target.groups {
            if !wanted.contains(group.name.as_str()) {
                plan.groups_delete += 1;
                plan.note("group delete", &group.name);
                actions.group_deletes.push(group.name.clone());
            }
        }
    }
}

fn user_update(user: &User, existing: &PoolUser, mode: UsersMode) -> UserUpdate {
    let want = writable(&user.attributes);
    let have = writable(&existing.attributes);
    let mut set: BTreeMap<String, String> = want
        .iter()
        .filter(|(name, value)| have.get(*name) != Some(*value))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    // A new e-mail or phone number sent alone is marked unverified by Cognito (and a
    // code is sent to it), so its `_verified` flag goes with it even when unchanged.
    for (contact, verified) in [
        ("email", "email_verified"),
        ("phone_number", "phone_number_verified"),
    ] {
        if let (true, Some(flag)) = (set.contains_key(contact), want.get(verified)) {
            set.insert(verified.to_owned(), flag.clone());
        }
    }
    let remove: Vec<String> = if mode.exact {
        have.keys()
            .filter(|n| !want.contains_key(*n))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    UserUpdate {
        username: existing.username.clone(),
        set,
        remove,
        enabled: (user.enabled != existing.enabled).then_some(user.enabled),
    }
}

/// Memberships to add to (and, exact, remove from) an existing user; each is named in
/// the plan's first keys as `user → group`, so that `verify --against` and phase 7
/// say which memberships differ, not only how many.
fn plan_memberships(
    (user, shown): (&User, &str),
    existing: &PoolUser,
    target: &TargetPool,
    mode: UsersMode,
    plan: &mut UsersPlan,
    actions: &mut UsersActions,
) {
    let empty = BTreeSet::new();
    let have = target.memberships.get(&existing.username).unwrap_or(&empty);
    let want: BTreeSet<String> = user.groups.iter().cloned().collect();
    let who = UserRef::Existing(existing.username.clone());
    for group in want.difference(have) {
        plan.memberships_add += 1;
        plan.note("membership add", &format!("{shown} → {group}"));
        actions.memberships.push((who.clone(), group.clone(), true));
    }
    if mode.exact {
        for group in have.difference(&want) {
            plan.memberships_remove += 1;
            plan.note("membership remove", &format!("{shown} → {group}"));
            actions
                .memberships
                .push((who.clone(), group.clone(), false));
        }
    }
}

#[cfg(test)]
mod tests;
