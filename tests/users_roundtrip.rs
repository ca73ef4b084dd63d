//! Users end to end against moto's Cognito (issue 7): export a pool of 150+ users
//! (several ListUsers pages) with email sign-in, a custom attribute, disabled users and
//! three groups; import it into another environment's pool; check everything with an
//! independent SDK client, never through rtsnap. Then: owner fields follow the new
//! subs, a created user can sign in, re-runs change nothing, exact mode with
//! `--prune-users` and `rollback` restore the pool exactly, an incompatible pool is
//! refused before anything is written, and a canary temporary password never shows.

mod common;

use common::cognito_attr as attr;
use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, AuthFlowType, ExplicitAuthFlowsType, MessageActionType, SchemaAttributeType,
    UsernameAttributeType, VerifiedAttributeType,
};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use aws_sdk_dynamodb::types::AttributeValue;
use common::recorder::MotoRecording;
use common::world::{stderr, World};
use common::{cognito, user_pool_name, Server};

const USERS: usize = 155;
const CANARY: &str = "Canary-Temp-Pa55word!";

/// A pool shaped like Amplify Gen 2's: email sign-in, plus `custom:company`.
async fn create_pool(client: &Cognito, name: &str, with_custom: bool) -> String {
    let mut request = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .auto_verified_attributes(VerifiedAttributeType::Email)
        .schema(
            SchemaAttributeType::builder()
                .name("email")
                .attribute_data_type(AttributeDataType::String)
                .required(true)
                .mutable(true)
                .build(),
        )
        .schema(
            SchemaAttributeType::builder()
                .name("name")
                .attribute_data_type(AttributeDataType::String)
                .mutable(true)
                .build(),
        );
    if with_custom {
        request = request.schema(
            SchemaAttributeType::builder()
                .name("company")
                .attribute_data_type(AttributeDataType::String)
                .mutable(true)
                .build(),
        );
    }
    let out = request.send().await.expect("CreateUserPool");
    out.user_pool()
        .and_then(|p| p.id())
        .expect("pool id")
        .to_owned()
}

const GROUPS: [(&str, &str, i32); 3] = [
    ("admins", "Back office", 0),
    ("agents", "Field agents", 1),
    ("homeowners", "Customers", 2),
];

/// Seeds the source pool; returns email → (sub, username).
async fn seed_pool(client: &Cognito, pool: &str) -> BTreeMap<String, (String, String)> {
    for (name, description, precedence) in GROUPS {
        client
            .create_group()
            .user_pool_id(pool)
            .group_name(name)
            .description(description)
            .precedence(precedence)
            .role_arn(format!("arn:aws:iam::123456789012:role/{name}"))
            .send()
            .await
            .expect("CreateGroup");
    }
    let mut subs = BTreeMap::new();
    for i in 0..USERS {
        let email = format!("user{i:03}@example.com");
        let mut request = client
            .admin_create_user()
            .user_pool_id(pool)
            .username(&email)
            .message_action(MessageActionType::Suppress)
            .user_attributes(attr("email", &email))
            .user_attributes(attr(
                "email_verified",
                if i % 4 == 0 { "false" } else { "true" },
            ))
            .user_attributes(attr("name", &format!("User Number {i}")));
        if i % 3 == 0 {
            request =
                request.user_attributes(attr("custom:company", &format!("Company {}", i % 7)));
        }
        let user = request.send().await.expect("AdminCreateUser");
        let user = user.user().expect("user");
        let username = user.username().expect("username").to_owned();
        let sub = user
            .attributes()
            .iter()
            .find(|a| a.name() == "sub")
            .and_then(|a| a.value())
            .expect("sub")
            .to_owned();
        if i % 10 == 0 {
            client
                .admin_disable_user()
                .user_pool_id(pool)
                .username(&username)
                .send()
                .await
                .expect("AdminDisableUser");
        }
        for (g, (group, _, _)) in GROUPS.iter().enumerate() {
            if i % 3 == g || (g == 0 && i % 25 == 0) {
                client
                    .admin_add_user_to_group()
                    .user_pool_id(pool)
                    .username(&username)
                    .group_name(*group)
                    .send()
                    .await
                    .expect("AdminAddUserToGroup");
            }
        }
        subs.insert(email, (sub, username));
    }
    subs
}

/// A user as an independent client sees it: attributes without sub, enabled, groups.
#[derive(Debug, PartialEq, Eq)]
struct SeenUser {
    attributes: BTreeMap<String, String>,
    enabled: bool,
    groups: BTreeSet<String>,
    status: String,
    sub: String,
    username: String,
}

/// email → user, read with ListUsers / ListUsersInGroup.
async fn read_pool(client: &Cognito, pool: &str) -> BTreeMap<String, SeenUser> {
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (group, _, _) in GROUPS {
        let mut token = None;
        loop {
            let page = client
                .list_users_in_group()
                .user_pool_id(pool)
                .group_name(group)
                .set_next_token(token)
                .send()
                .await;
            let Ok(page) = page else { break };
            for u in page.users() {
                members
                    .entry(u.username().unwrap_or_default().to_owned())
                    .or_default()
                    .insert(group.to_owned());
            }
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    let mut users = BTreeMap::new();
    let mut token = None;
    loop {
        let page = client
            .list_users()
            .user_pool_id(pool)
            .limit(60)
            .set_pagination_token(token)
            .send()
            .await
            .expect("ListUsers");
        for u in page.users() {
            let mut attributes: BTreeMap<String, String> = u
                .attributes()
                .iter()
                .map(|a| {
                    (
                        a.name().to_owned(),
                        a.value().unwrap_or_default().to_owned(),
                    )
                })
                .collect();
            let sub = attributes.remove("sub").unwrap_or_default();
            let username = u.username().unwrap_or_default().to_owned();
            users.insert(
                attributes["email"].clone(),
                SeenUser {
                    attributes,
                    enabled: u.enabled(),
                    groups: members.remove(&username).unwrap_or_default(),
                    status: u
                        .user_status()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                    sub,
                    username,
                },
            );
        }
        token = page.pagination_token().map(str::to_owned);
        if token.is_none() {
            return users;
        }
    }
}

/// Groups as (name → description, precedence, role).
async fn read_groups(client: &Cognito, pool: &str) -> BTreeMap<String, (String, i32, String)> {
    let out = client
        .list_groups()
        .user_pool_id(pool)
        .send()
        .await
        .expect("ListGroups");
    out.groups()
        .iter()
        .map(|g| {
            (
                g.group_name().unwrap_or_default().to_owned(),
                (
                    g.description().unwrap_or_default().to_owned(),
                    g.precedence().unwrap_or(-1),
                    g.role_arn().unwrap_or_default().to_owned(),
                ),
            )
        })
        .collect()
}

/// Adds `user_pool_id` (and `owner_fields`) to the world's rtsnap.toml.
fn set_pool(world: &World, env: &str, pool: &str) {
    let path = world.dir.path().join("rtsnap.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let header = format!("[environments.{env}]\n");
    let text = text.replacen(&header, &format!("{header}user_pool_id = \"{pool}\"\n"), 1);
    std::fs::write(&path, text).expect("config");
}

fn assert_same_users(
    got: &BTreeMap<String, SeenUser>,
    want: &BTreeMap<String, SeenUser>,
    context: &str,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{context}: same users by email"
    );
    for (email, w) in want {
        let g = &got[email];
        assert_eq!(
            g.attributes, w.attributes,
            "{context}: attributes of {email}"
        );
        assert_eq!(g.enabled, w.enabled, "{context}: enabled of {email}");
        assert_eq!(g.groups, w.groups, "{context}: groups of {email}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_round_trip_owner_fields_reruns_prune_and_rollback() {
    let world = World::new(
        Server::Moto,
        "users_round_trip",
        &[("staging", false), ("production", true)],
    );
    let client = cognito(&world.endpoint).await;
    let source_pool = create_pool(&client, &user_pool_name(world.suffix("staging")), true).await;
    let target_pool = create_pool(&client, &user_pool_name(world.suffix("production")), true).await;
    set_pool(&world, "staging", &source_pool);
    set_pool(&world, "production", &target_pool);
    let subs = seed_pool(&client, &source_pool).await;
    let source = read_pool(&client, &source_pool).await;
    assert_eq!(source.len(), USERS);

    // A Todo table whose items are owned by the users (Amplify's `<sub>::<username>`).
    let todo = world.create_table("staging", "Todo", None, None).await;
    let items = subs
        .iter()
        .enumerate()
        .map(|(i, (email, (sub, username)))| {
            let mut item = common::world::simple_item(&format!("todo-{i}"), i as i64);
            item.insert(
                "owner".into(),
                AttributeValue::S(format!("{sub}::{username}")),
            );
            item.insert("email".into(), AttributeValue::S(email.clone()));
            item
        })
        .collect();
    world.put_items(&todo, items).await;

    let export = world.rtsnap_json(&["export", "staging"]);
    assert_eq!(export["users"]["users"], USERS as u64, "{export}");
    assert_eq!(export["users"]["groups"], 3, "{export}");
    let digest = export["users"]["digest"].as_str().expect("users digest");
    assert!(digest.len() == 64 && digest != "0".repeat(64), "{export}");
    let file = export["file"].as_str().expect("file").to_owned();

    // Dry run: every user to create, every owner field to rewrite.
    let plan = world.rtsnap_json(&[
        "import",
        &file,
        "--target",
        "production",
        "--create-missing",
        "--dry-run",
    ]);
    assert_eq!(plan["users"]["create"], USERS as u64, "{plan}");
    assert_eq!(plan["users"]["groups_create"], 3, "{plan}");
    assert_eq!(
        plan["tables"]["Todo"]["owner_rewrites"], USERS as u64,
        "{plan}"
    );

    let recording = MotoRecording::start(&world.endpoint);
    let out = world
        .command(&[
            "import",
            &file,
            "--target",
            "production",
            "--create-missing",
            "--confirm",
            "production",
            "--json",
        ])
        .env("RTSNAP_TEMP_PASSWORD", CANARY)
        .env("RUST_LOG", "trace")
        .output()
        .expect("run rtsnap");
    let sent = recording.finish();
    assert!(out.status.success(), "import: {}", stderr(&out));
    let all_output = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        !all_output.contains(CANARY),
        "the temporary password leaked into output"
    );
    let import: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(import["users_applied"]["created"], USERS as u64, "{import}");
    assert_eq!(import["verification"]["Todo"], "match", "{import}");
    assert!(import["verification"]["users"]
        .as_str()
        .unwrap()
        .starts_with("match"));

    // No invitation was requested: every AdminCreateUser moto received for the
    // target pool asked Cognito to suppress its message. (The SDK may retry a call
    // after a transient error, so a user can have more than one request.)
    let creates: Vec<serde_json::Value> = sent
        .iter()
        .filter(|r| r.target.ends_with(".AdminCreateUser"))
        .map(|r| serde_json::from_str(&r.body).expect("AdminCreateUser body is JSON"))
        .filter(|body: &serde_json::Value| body["UserPoolId"] == target_pool.as_str())
        .collect();
    let created: BTreeSet<&str> = creates
        .iter()
        .filter_map(|body| body["Username"].as_str())
        .collect();
    assert_eq!(created.len(), USERS, "an AdminCreateUser for every user");
    for body in &creates {
        assert_eq!(body["MessageAction"], "SUPPRESS", "{}", body["Username"]);
        let names: Vec<&str> = body["UserAttributes"]
            .as_array()
            .expect("attributes")
            .iter()
            .filter_map(|a| a["Name"].as_str())
            .collect();
        assert!(!names.contains(&"sub"), "sub is never sent: {names:?}");
    }

    // Independent check: the target pool equals the source, users await a password.
    let target = read_pool(&client, &target_pool).await;
    assert_same_users(&target, &source, "after the import");
    assert!(target.values().all(|u| u.status == "FORCE_CHANGE_PASSWORD"));
    assert!(
        target
            .values()
            .all(|u| !subs.values().any(|(s, _)| *s == u.sub)),
        "new subs"
    );
    assert_eq!(
        read_groups(&client, &target_pool).await,
        read_groups(&client, &source_pool).await
    );

    // Owner fields carry the target subs: a migrated user's items are found by its new owner value.
    let sub_map = import["sub_map"].as_object().expect("sub_map");
    assert_eq!(sub_map.len(), USERS);
    let migrated = world.scan_all(&world.table("production", "Todo")).await;
    assert_eq!(migrated.len(), USERS);
    for item in &migrated {
        let AttributeValue::S(email) = &item["email"] else {
            panic!("email")
        };
        let user = &target[email];
        assert_eq!(
            item["owner"],
            AttributeValue::S(format!("{}::{}", user.sub, user.username)),
            "owner of {email}'s item"
        );
    }

    // The canary temporary password was used (Cognito asks for a new one), and after
    // admin-set-user-password a migrated user signs in.
    let client_id = client
        .create_user_pool_client()
        .user_pool_id(&target_pool)
        .client_name("test")
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .send()
        .await
        .expect("client")
        .user_pool_client()
        .and_then(|c| c.client_id())
        .expect("client id")
        .to_owned();
    let who = "user001@example.com";
    let auth = |password: &'static str| {
        client
            .admin_initiate_auth()
            .user_pool_id(&target_pool)
            .client_id(&client_id)
            .auth_flow(AuthFlowType::AdminUserPasswordAuth)
            .auth_parameters("USERNAME", who)
            .auth_parameters("PASSWORD", password)
            .send()
    };
    let first = auth(CANARY)
        .await
        .expect("sign in with the temporary password");
    assert_eq!(
        first.challenge_name().map(|c| c.as_str()),
        Some("NEW_PASSWORD_REQUIRED")
    );
    client
        .admin_set_user_password()
        .user_pool_id(&target_pool)
        .username(who)
        .password("N3w-Passw0rd!")
        .permanent(true)
        .send()
        .await
        .expect("AdminSetUserPassword");
    let signed_in = auth("N3w-Passw0rd!").await.expect("sign in");
    assert!(
        signed_in.authentication_result().is_some(),
        "tokens after sign-in"
    );

    // Re-running changes nothing; the dry run says so first.
    let again = world.rtsnap_json(&["import", &file, "--target", "production", "--dry-run"]);
    for key in [
        "create",
        "update",
        "delete",
        "memberships_add",
        "memberships_remove",
    ] {
        assert_eq!(again["users"][key], 0, "re-run plan {key}: {again}");
    }
    assert_eq!(
        again["tables"]["Todo"]["unchanged"], USERS as u64,
        "{again}"
    );
    let rerun = world.rtsnap_json(&[
        "import",
        &file,
        "--target",
        "production",
        "--confirm",
        "production",
    ]);
    assert!(
        rerun["backup"].is_null(),
        "nothing to change, no backup: {rerun}"
    );

    // Drift in the target: an extra user, a changed attribute, a lost membership.
    client
        .admin_create_user()
        .user_pool_id(&target_pool)
        .username("intruder@example.com")
        .message_action(MessageActionType::Suppress)
        .user_attributes(attr("email", "intruder@example.com"))
        .send()
        .await
        .expect("extra user");
    let drifted = &target["user002@example.com"];
    client
        .admin_update_user_attributes()
        .user_pool_id(&target_pool)
        .username(&drifted.username)
        .user_attributes(attr("name", "Changed Name"))
        .send()
        .await
        .expect("update");
    let grouped = &target["user003@example.com"];
    let lost = grouped.groups.iter().next().expect("a group").clone();
    client
        .admin_remove_user_from_group()
        .user_pool_id(&target_pool)
        .username(&grouped.username)
        .group_name(&lost)
        .send()
        .await
        .expect("remove");
    let before_prune = read_pool(&client, &target_pool).await;

    let against = world.rtsnap(&["verify", &file, "--against", "production", "--json"]);
    assert_eq!(against.status.code(), Some(1), "{}", stderr(&against));
    let report: serde_json::Value = serde_json::from_slice(&against.stdout).expect("json");
    assert_eq!(report["users"]["extra"], 1, "{report}");
    assert_eq!(report["users"]["different"], 1, "{report}");
    assert_eq!(report["users"]["memberships_missing"], 1, "{report}");
    assert_eq!(
        report["tables"]["Todo"]["status"], "match",
        "owner fields compared in the target's subs: {report}"
    );

    let args = [
        "import",
        &file,
        "--target",
        "production",
        "--prune-users",
        "--confirm",
        "production",
    ];
    let dry: Vec<&str> = args.iter().copied().chain(["--dry-run"]).collect();
    let planned = world.rtsnap_json(&dry);
    let pruned = world.rtsnap_json(&args);
    for key in ["create", "update", "delete", "memberships_add"] {
        assert_eq!(
            planned["users"][key], pruned["users"][key],
            "dry run equals the run: {key}"
        );
    }
    assert_eq!(pruned["users"]["delete"], 1, "{pruned}");
    assert_eq!(pruned["users"]["update"], 1, "{pruned}");
    assert_eq!(pruned["users"]["memberships_add"], 1, "{pruned}");
    assert_same_users(
        &read_pool(&client, &target_pool).await,
        &source,
        "after --prune-users",
    );
    let clean = world.rtsnap_json(&["verify", &file, "--against", "production"]);
    assert_eq!(clean["equal"], true, "{clean}");

    // Rollback restores the pool as it was before that import, exactly.
    let rolled = world.rtsnap_json(&["rollback", "production", "--confirm", "production"]);
    assert!(rolled["users"].is_object(), "{rolled}");
    assert_same_users(
        &read_pool(&client, &target_pool).await,
        &before_prune,
        "after rollback",
    );

    // The canary temporary password is in no file: every snapshot and backup, opened.
    for name in world.snapshots().iter().filter(|n| n.ends_with(".rtsnap")) {
        let archive = world.snapshot_dir().join(name);
        let dir = world.dir.path().join(format!("opened-{name}"));
        let out = world.rtsnap(&["unpack", &archive.to_string_lossy(), &dir.to_string_lossy()]);
        assert!(out.status.success(), "unpack {name}: {}", stderr(&out));
    }
    assert_no_canary(world.dir.path());
}

/// No file under `dir` holds the canary password.
fn assert_no_canary(dir: &std::path::Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_no_canary(&path);
        } else {
            let bytes = std::fs::read(&path).expect("read file");
            let found = bytes.windows(CANARY.len()).any(|w| w == CANARY.as_bytes());
            assert!(!found, "{} holds the temporary password", path.display());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn incompatible_target_pool_is_refused_before_anything_is_written() {
    let world = World::new(
        Server::Moto,
        "users_incompatible",
        &[("staging", false), ("sandbox", false)],
    );
    let client = cognito(&world.endpoint).await;
    let source_pool = create_pool(&client, &user_pool_name(world.suffix("staging")), true).await;
    // No custom:company, and plain usernames instead of email sign-in.
    let out = client
        .create_user_pool()
        .pool_name(user_pool_name(world.suffix("sandbox")))
        .send()
        .await
        .expect("CreateUserPool");
    let target_pool = out.user_pool().and_then(|p| p.id()).expect("id").to_owned();
    set_pool(&world, "staging", &source_pool);
    set_pool(&world, "sandbox", &target_pool);
    client
        .admin_create_user()
        .user_pool_id(&source_pool)
        .username("a@example.com")
        .message_action(MessageActionType::Suppress)
        .user_attributes(attr("email", "a@example.com"))
        .send()
        .await
        .expect("user");
    let table = world.create_table("staging", "Note", None, None).await;
    world
        .put_items(&table, vec![common::world::simple_item("n1", 1)])
        .await;
    let export = world.rtsnap_json(&["export", "staging"]);
    let file = export["file"].as_str().expect("file");

    let out = world.rtsnap(&[
        "import",
        file,
        "--target",
        "sandbox",
        "--create-missing",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("signs in with email"), "{message}");
    assert!(message.contains("custom:company is missing"), "{message}");
    assert!(
        !world.table_exists(&world.table("sandbox", "Note")).await,
        "no table created"
    );
    assert!(
        read_pool(&client, &target_pool).await.is_empty(),
        "no user created"
    );
    assert!(
        world.snapshots().iter().all(|s| !s.contains("pre-import")),
        "no backup"
    );
}
