//! What a target user pool checks, found in the plan (the 2026-12-01 bug hunt, against
//! moto's Cognito): attributes the target requires, attribute lengths, the temporary
//! password against the target's password policy, and sign-in names compared the way
//! the target pool compares them (exactly, unless it says it ignores letter case).
//! Moto accepts every one of those creates, so the proof that nothing is written is
//! that the plan refuses first; real Cognito would refuse each call in phase 6.

mod common;

use aws_sdk_cognitoidentityprovider::types::{
    AttributeDataType, MessageActionType, PasswordPolicyType, SchemaAttributeType,
    StringAttributeConstraintsType, UserPoolPolicyType, UsernameAttributeType,
    UsernameConfigurationType,
};
use aws_sdk_cognitoidentityprovider::Client as Cognito;
use common::cognito_attr as attr;
use common::world::{simple_item, stderr, World};
use common::{cognito, user_pool_name, Server};

/// A temporary password the target's policy (30 characters) refuses.
const WEAK: &str = "Weak-Pa55-canary";

fn string_attribute(name: &str, required: bool, max: Option<&str>) -> SchemaAttributeType {
    let mut attribute = SchemaAttributeType::builder()
        .name(name)
        .attribute_data_type(AttributeDataType::String)
        .required(required)
        .mutable(true);
    if let Some(max) = max {
        attribute = attribute.string_attribute_constraints(
            StringAttributeConstraintsType::builder()
                .max_length(max)
                .build(),
        );
    }
    attribute.build()
}

/// An e-mail sign-in pool; `strict` adds what the target checks: `family_name`
/// required, `custom:code` at most 4 characters, passwords of at least 30.
async fn email_pool(client: &Cognito, name: &str, strict: bool, case_sensitive: bool) -> String {
    let mut request = client
        .create_user_pool()
        .pool_name(name)
        .username_attributes(UsernameAttributeType::Email)
        .username_configuration(
            UsernameConfigurationType::builder()
                .case_sensitive(case_sensitive)
                .build()
                .expect("username configuration"),
        )
        .schema(string_attribute("code", false, strict.then_some("4")));
    if strict {
        request = request
            .schema(string_attribute("family_name", true, None))
            .policies(
                UserPoolPolicyType::builder()
                    .password_policy(
                        PasswordPolicyType::builder()
                            .minimum_length(30)
                            .require_symbols(true)
                            .build(),
                    )
                    .build(),
            );
    }
    let out = request.send().await.expect("CreateUserPool");
    out.user_pool().and_then(|p| p.id()).expect("id").to_owned()
}

async fn add_user(client: &Cognito, pool: &str, email: &str, extra: &[(&str, &str)]) {
    let mut request = client
        .admin_create_user()
        .user_pool_id(pool)
        .username(email)
        .message_action(MessageActionType::Suppress)
        .user_attributes(attr("email", email));
    for (name, value) in extra {
        request = request.user_attributes(attr(name, value));
    }
    request.send().await.expect("AdminCreateUser");
}

/// The e-mails of the pool's users, sorted.
async fn emails(client: &Cognito, pool: &str) -> Vec<String> {
    let out = client
        .list_users()
        .user_pool_id(pool)
        .send()
        .await
        .expect("ListUsers");
    let mut emails: Vec<String> = out
        .users()
        .iter()
        .filter_map(|u| {
            u.attributes()
                .iter()
                .find(|a| a.name() == "email")
                .and_then(|a| a.value())
                .map(str::to_owned)
        })
        .collect();
    emails.sort();
    emails
}

fn set_pool(world: &World, env: &str, pool: &str) {
    world.set_env_value(env, "user_pool_id", &format!("\"{pool}\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_plan_refuses_required_attributes_lengths_and_a_weak_temp_password_before_any_write()
{
    let world = World::new(
        Server::Moto,
        "users_rules",
        &[("staging", false), ("production", false)],
    );
    let client = cognito(&world.endpoint).await;
    let name = |env| user_pool_name(world.suffix(env));
    let source = email_pool(&client, &name("staging"), false, true).await;
    let target = email_pool(&client, &name("production"), true, true).await;
    set_pool(&world, "staging", &source);
    set_pool(&world, "production", &target);
    add_user(
        &client,
        &source,
        "a@example.com",
        &[("custom:code", "ABCDEFGH")],
    )
    .await;
    add_user(&client, &source, "b@example.com", &[]).await;
    add_user(&client, &source, "c@example.com", &[]).await;
    let table = world.create_table("staging", "Note", None, None).await;
    world.put_items(&table, vec![simple_item("n1", 1)]).await;
    world.rtsnap_json(&["export", "staging", "-o", "snap.rtsnap"]);

    for dry_run in [true, false] {
        let mut args = vec!["import", "snap.rtsnap", "--target", "production"];
        args.extend(["--create-missing", "--yes"]);
        if dry_run {
            args.push("--dry-run");
        }
        let out = world
            .command(&args)
            .env("RTSNAP_TEMP_PASSWORD", WEAK)
            .output()
            .expect("run rtsnap");
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(4), "dry run {dry_run}: {message}");
        assert!(
            message.contains("3 users (first: a@example.com, b@example.com, c@example.com): lacks family_name, which the target pool requires"),
            "{message}"
        );
        assert!(
            message.contains("user a@example.com: custom:code is 8 characters long; the target pool allows at most 4"),
            "{message}"
        );
        assert!(
            message
                .contains("RTSNAP_TEMP_PASSWORD does not meet the target pool's password policy"),
            "{message}"
        );
        assert!(message.contains("at least 30 characters"), "{message}");
        assert!(
            !message.contains(WEAK),
            "the password never shows: {message}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains(WEAK));
    }
    assert!(emails(&client, &target).await.is_empty(), "no user created");
    assert!(
        !world.table_exists(&world.table("production", "Note")).await,
        "no table created"
    );
    assert!(
        world.snapshots().iter().all(|s| !s.contains("pre-import")),
        "no backup: the refusal came before phase 5"
    );
}

/// Found by the 2026-12-01 bug hunt: in an e-mail pool that compares sign-in names
/// exactly, a target user whose e-mail differed from a snapshot user's only in case
/// replaced the real match in the plan's index: `verify --against` counted no extra
/// user, `--prune-users` deleted nothing, and the import failed in phase 6.
#[tokio::test(flavor = "multi_thread")]
async fn users_a_case_twin_in_a_case_sensitive_pool_is_extra_and_pruned() {
    let world = World::new(
        Server::Moto,
        "users_case_twin",
        &[("staging", false), ("production", false)],
    );
    let client = cognito(&world.endpoint).await;
    let name = |env| user_pool_name(world.suffix(env));
    let source = email_pool(&client, &name("staging"), false, true).await;
    let target = email_pool(&client, &name("production"), false, true).await;
    set_pool(&world, "staging", &source);
    set_pool(&world, "production", &target);
    for i in 0..3 {
        add_user(&client, &source, &format!("plain{i}@example.com"), &[]).await;
    }
    world.rtsnap_json(&["export", "staging", "--only", "users", "-o", "snap.rtsnap"]);
    let import = ["import", "snap.rtsnap", "--target", "production", "--yes"];
    world.rtsnap_json(&import);
    add_user(&client, &target, "PLAIN0@example.com", &[("name", "Twin")]).await;

    let out = world.rtsnap(&["verify", "snap.rtsnap", "--against", "production", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one document");
    let users = &doc["users"];
    assert_eq!(users["status"], "differs", "{doc}");
    assert_eq!(users["target_users"], 4, "{users}");
    assert_eq!(users["extra"], 1, "{users}");
    assert_eq!(
        users["different"], 0,
        "the real plain0 still matches: {users}"
    );
    assert_eq!(
        users["keys"]["extra"],
        serde_json::json!(["PLAIN0@example.com"])
    );

    let pruned = world.rtsnap_json(&[&import[..], &["--prune-users"]].concat());
    assert_eq!(pruned["users"]["delete"], 1, "{pruned}");
    assert_eq!(pruned["users"]["update"], 0, "{pruned}");
    assert_eq!(
        emails(&client, &target).await,
        vec![
            "plain0@example.com",
            "plain1@example.com",
            "plain2@example.com"
        ]
    );
}
