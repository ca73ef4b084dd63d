use super::*;
use crate::archive::users::SchemaAttribute;

fn pool(by: &[&str], custom: &[&str]) -> PoolSettings {
    PoolSettings {
        user_pool_id: "p".into(),
        username_attributes: by.iter().map(|s| s.to_string()).collect(),
        alias_attributes: vec![],
        auto_verified_attributes: vec![],
        mfa_configuration: "OFF".into(),
        schema: custom
            .iter()
            .map(|n| SchemaAttribute {
                name: n.to_string(),
                attribute_data_type: "String".into(),
                mutable: true,
                required: false,
            })
            .collect(),
    }
}

fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn compatibility_lists_each_difference() {
    let snapshot = pool(&["email"], &["custom:company", "custom:tier"]);
    let target = pool(&[], &["custom:company"]);
    let problems = compatibility(&snapshot, &target);
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("signs in with email"));
    assert!(problems[1].contains("custom:tier"));
    assert!(compatibility(&snapshot, &snapshot).is_empty());
}

#[test]
fn users_match_by_email_in_email_pools_and_by_username_otherwise() {
    let a = attrs(&[("email", "Ann@X.com")]);
    assert_eq!(
        match_key(&["email".into()], true, "uuid-1", &a),
        "email:ann@x.com"
    );
    assert_eq!(
        match_key(&["email".into()], false, "uuid-1", &a),
        "email:Ann@X.com"
    );
    assert_eq!(match_key(&[], false, "Ann", &a), "username:Ann");
    assert_eq!(match_key(&[], true, "Ann", &a), "username:ann");
}

#[test]
fn plan_creates_updates_and_prunes() {
    let snapshot = UsersSnapshot {
        pool: pool(&["email"], &[]),
        groups: vec![Group {
            name: "admins".into(),
            description: None,
            precedence: Some(0),
            role_arn: None,
        }],
        users: vec![
            User {
                username: "old-a".into(),
                sub: "old-a".into(),
                attributes: attrs(&[("email", "a@x.com"), ("name", "A")]),
                enabled: false,
                status: "CONFIRMED".into(),
                groups: vec!["admins".into()],
                mfa_enabled: vec![],
                created_at: None,
            },
            User {
                username: "old-b".into(),
                sub: "old-b".into(),
                attributes: attrs(&[("email", "b@x.com")]),
                enabled: true,
                status: "CONFIRMED".into(),
                groups: vec![],
                mfa_enabled: vec![],
                created_at: None,
            },
        ],
    };
    let target = TargetPool {
        settings: pool(&["email"], &[]),
        rules: PoolRules::default(),
        groups: vec![],
        users: vec![
            PoolUser {
                username: "new-a".into(),
                attributes: attrs(&[("email", "a@x.com"), ("sub", "new-a"), ("name", "B")]),
                enabled: true,
                status: "CONFIRMED".into(),
                created_at: None,
                mfa_options: vec![],
            },
            PoolUser {
                username: "new-z".into(),
                attributes: attrs(&[("email", "z@x.com"), ("sub", "new-z")]),
                enabled: true,
                status: "CONFIRMED".into(),
                created_at: None,
                mfa_options: vec![],
            },
        ],
        memberships: HashMap::new(),
    };
    let mode = UsersMode {
        exact: true,
        prune: true,
    };
    let (plan, actions, refusals) = plan_users(&snapshot, &target, mode);
    assert!(refusals.is_empty());
    assert_eq!((plan.create, plan.update, plan.delete), (1, 1, 1));
    assert_eq!((plan.groups_create, plan.memberships_add), (1, 1));
    assert_eq!(actions.updates[0].enabled, Some(false));
    assert_eq!(actions.updates[0].set["name"], "A");
    assert_eq!(actions.deletes, vec!["new-z".to_string()]);
    assert_eq!(
        actions.subs["old-a"],
        SubTarget::Known {
            sub: "new-a".into(),
            username: "new-a".into()
        }
    );
    assert_eq!(actions.subs["old-b"], SubTarget::Pending);
    assert_eq!(plan.first["create"], vec!["b@x.com".to_string()]);
}

fn snapshot_user(username: &str, pairs: &[(&str, &str)]) -> User {
    User {
        username: username.into(),
        sub: format!("old-{username}"),
        attributes: attrs(pairs),
        enabled: true,
        status: "CONFIRMED".into(),
        groups: vec![],
        mfa_enabled: vec![],
        created_at: None,
    }
}

fn target_user(username: &str, pairs: &[(&str, &str)]) -> PoolUser {
    let mut attributes = attrs(pairs);
    attributes.insert("sub".into(), format!("new-{username}"));
    PoolUser {
        username: username.into(),
        attributes,
        enabled: true,
        status: "CONFIRMED".into(),
        created_at: None,
        mfa_options: vec![],
    }
}

fn email_pools(
    snapshot_users: Vec<User>,
    target_users: Vec<PoolUser>,
    case_insensitive: bool,
) -> (UsersSnapshot, TargetPool) {
    let snapshot = UsersSnapshot {
        pool: pool(&["email"], &[]),
        groups: vec![],
        users: snapshot_users,
    };
    let target = TargetPool {
        settings: pool(&["email"], &[]),
        rules: PoolRules {
            case_insensitive,
            ..PoolRules::default()
        },
        groups: vec![],
        users: target_users,
        memberships: HashMap::new(),
    };
    (snapshot, target)
}

const PRUNE: UsersMode = UsersMode {
    exact: true,
    prune: true,
};

/// Found by the 2026-12-01 bug hunt: two target users whose e-mails differ only in
/// case shared one key, one replaced the other in the index, and the extra user was
/// neither counted nor pruned while the snapshot's user was matched to the wrong one.
#[test]
fn case_sensitive_pool_matches_emails_exactly_and_keeps_every_target_user_in_view() {
    let (snapshot, target) = email_pools(
        vec![snapshot_user("u1", &[("email", "plain0@example.com")])],
        vec![
            target_user("t1", &[("email", "plain0@example.com")]),
            target_user("t2", &[("email", "PLAIN0@example.com")]),
        ],
        false,
    );
    let (plan, actions, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert!(refusals.is_empty(), "{refusals:?}");
    assert_eq!((plan.create, plan.update, plan.unchanged), (0, 0, 1));
    assert_eq!(plan.delete, 1);
    assert_eq!(actions.deletes, vec!["t2".to_string()]);
}

#[test]
fn case_insensitive_pool_never_drops_a_second_target_user_with_one_key() {
    let (snapshot, target) = email_pools(
        vec![snapshot_user("u1", &[("email", "plain0@example.com")])],
        vec![
            target_user("t1", &[("email", "plain0@example.com")]),
            target_user("t2", &[("email", "PLAIN0@example.com")]),
        ],
        true,
    );
    let (plan, actions, _) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(plan.update + plan.unchanged, 1);
    assert_eq!(plan.delete, 1, "the other user is extra, not invisible");
    assert_eq!(actions.deletes.len(), 1);
}

#[test]
fn snapshot_users_one_pool_would_fold_together_are_refused() {
    let (snapshot, target) = email_pools(
        vec![
            snapshot_user("u1", &[("email", "Ann@x.com")]),
            snapshot_user("u2", &[("email", "ann@x.com")]),
        ],
        vec![],
        true,
    );
    let (_, _, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("u1 and u2") && refusals[0].contains("letter case"));
    let (snapshot, target) = email_pools(snapshot.users, vec![], false);
    let (plan, _, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert!(refusals.is_empty(), "{refusals:?}");
    assert_eq!(plan.create, 2);
}

#[test]
fn creates_lacking_a_required_attribute_or_breaking_a_constraint_are_refused() {
    let mut users: Vec<User> = (0..4)
        .map(|i| snapshot_user(&format!("u{i}"), &[("email", &format!("u{i}@x.com"))]))
        .collect();
    users[3]
        .attributes
        .insert("family_name".into(), "Doe".into());
    users[3]
        .attributes
        .insert("custom:code".into(), "ABCDEFGH".into());
    let (snapshot, mut target) = email_pools(users, vec![], false);
    target.settings.schema.push(SchemaAttribute {
        name: "family_name".into(),
        attribute_data_type: "String".into(),
        mutable: true,
        required: true,
    });
    target.rules.constraints.insert(
        "custom:code".into(),
        crate::aws::cognito::AttributeConstraint::Length {
            min: None,
            max: Some(4),
        },
    );
    let (_, _, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(refusals
        .iter()
        .any(|r| r.starts_with("user u3@x.com: custom:code is 8")));
    assert!(
        refusals
            .iter()
            .any(|r| r
                .starts_with("3 users (first: u0@x.com, u1@x.com, u2@x.com): lacks family_name"))
    );
}

#[test]
fn exact_update_may_not_remove_a_required_attribute() {
    let (snapshot, mut target) = email_pools(
        vec![snapshot_user("u1", &[("email", "a@x.com")])],
        vec![target_user(
            "t1",
            &[("email", "a@x.com"), ("family_name", "Doe")],
        )],
        false,
    );
    target.settings.schema.push(SchemaAttribute {
        name: "family_name".into(),
        attribute_data_type: "String".into(),
        mutable: true,
        required: true,
    });
    let (_, _, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert!(refusals[0].contains("lacks family_name"));
    let merge = UsersMode {
        exact: false,
        prune: false,
    };
    assert!(plan_users(&snapshot, &target, merge).2.is_empty());
}

#[test]
fn a_changed_email_carries_its_verified_flag() {
    let (snapshot, target) = email_pools(
        vec![snapshot_user(
            "u1",
            &[
                ("email", "a@x.com"),
                ("email_verified", "true"),
                ("phone_number", "+15550100"),
                ("phone_number_verified", "true"),
            ],
        )],
        vec![target_user(
            "t1",
            &[
                ("email", "a@x.com"),
                ("email_verified", "true"),
                ("phone_number", "+15550199"),
                ("phone_number_verified", "true"),
            ],
        )],
        false,
    );
    let (_, actions, _) = plan_users(&snapshot, &target, PRUNE);
    let set = &actions.updates[0].set;
    assert_eq!(
        set.get("phone_number").map(String::as_str),
        Some("+15550100")
    );
    assert_eq!(
        set.get("phone_number_verified").map(String::as_str),
        Some("true")
    );
    assert!(!set.contains_key("email_verified"), "email did not change");
}

/// Found by the 2026-12-01 bug hunt: federated users (`EXTERNAL_PROVIDER`) were
/// re-created as password users of the same name.
#[test]
fn federated_users_are_neither_created_nor_changed_nor_pruned() {
    let mut google = snapshot_user("Google_1234", &[("email", "g@x.com")]);
    google.status = FEDERATED.into();
    let mut target_google = target_user("Google_9999", &[("email", "other@x.com")]);
    target_google.status = FEDERATED.into();
    let (snapshot, target) = email_pools(
        vec![google, snapshot_user("u1", &[("email", "a@x.com")])],
        vec![target_google],
        false,
    );
    let (plan, actions, refusals) = plan_users(&snapshot, &target, PRUNE);
    assert!(refusals.is_empty(), "{refusals:?}");
    assert_eq!((plan.create, plan.delete, plan.federated), (1, 0, 1));
    assert_eq!(actions.creates, vec![1], "only the password user");
    assert!(
        actions.deletes.is_empty(),
        "a federated target user is never pruned"
    );
    assert_eq!(
        plan.first["federated, not restored"],
        vec!["g@x.com".to_string()]
    );
    assert!(
        !actions.subs.contains_key("old-Google_1234"),
        "not in the target"
    );

    // The review of 2026-12-01: one the target already has keeps its owner fields.
    let mut google = snapshot_user("Google_1234", &[("email", "g@x.com")]);
    google.status = FEDERATED.into();
    let mut same = target_user("Google_1234", &[("email", "g@x.com")]);
    same.status = FEDERATED.into();
    let (snapshot, target) = email_pools(vec![google], vec![same], false);
    let (plan, actions, _) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(
        (plan.create, plan.update, plan.delete, plan.federated),
        (0, 0, 0, 1)
    );
    assert_eq!(
        actions.subs["old-Google_1234"],
        SubTarget::Known {
            sub: "new-Google_1234".into(),
            username: "Google_1234".into()
        }
    );
}

/// The bug hunt of 2026-12-01: `verify --against` counted membership differences but
/// named none.
#[test]
fn membership_differences_are_named_by_user_and_group() {
    let mut user = snapshot_user("u1", &[("email", "a@x.com")]);
    user.groups = vec!["admins".into()];
    let (snapshot, mut target) = email_pools(
        vec![user],
        vec![target_user("t1", &[("email", "a@x.com")])],
        false,
    );
    target
        .memberships
        .insert("t1".into(), BTreeSet::from(["agents".to_string()]));
    let (plan, _, _) = plan_users(&snapshot, &target, PRUNE);
    assert_eq!(
        plan.first["membership add"],
        vec!["a@x.com → admins".to_string()]
    );
    assert_eq!(
        plan.first["membership remove"],
        vec!["a@x.com → agents".to_string()]
    );
}
