//! Smoke tests of the emulator harness (tests/common): one round trip per server and service,
//! through the same SDK clients the other integration tests use. If these fail, fix the
//! emulator setup (scripts/emulator.sh) before reading any other test failure.

mod common;

use std::collections::{HashMap, HashSet};

use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_s3::primitives::ByteStream;
use common::{Cleanup, Server};

/// Create a table, put one item, scan it back unchanged.
async fn dynamodb_roundtrip(server: Server, test_name: &str) {
    let endpoint = common::emulator().endpoint(server);
    let suffix = common::unique_suffix(test_name);
    let _cleanup = Cleanup::new(server, &suffix);
    let client = common::dynamodb(endpoint).await;
    let table = common::amplify_table_name("Todo", &suffix);

    // create_table waits for ACTIVE: dynalite keeps new tables CREATING for ~500 ms.
    common::create_table(&client, &table).await;

    let item: HashMap<String, AttributeValue> = [
        ("id".to_string(), AttributeValue::S("todo-1".into())),
        ("content".to_string(), AttributeValue::S("buy milk".into())),
        ("done".to_string(), AttributeValue::Bool(false)),
        ("priority".to_string(), AttributeValue::N("3".into())),
    ]
    .into_iter()
    .collect();
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item.clone()))
        .send()
        .await
        .expect("PutItem");

    let scanned = client.scan().table_name(&table).send().await.expect("Scan");
    assert_eq!(scanned.items(), std::slice::from_ref(&item));
}

#[tokio::test]
async fn moto_dynamodb_put_and_scan() {
    dynamodb_roundtrip(Server::Moto, "moto_dynamodb_put_and_scan").await;
}

#[tokio::test]
async fn dynalite_dynamodb_put_and_scan() {
    dynamodb_roundtrip(Server::Dynalite, "dynalite_dynamodb_put_and_scan").await;
}

#[tokio::test]
async fn moto_cognito_user_and_group() {
    let endpoint = common::emulator().endpoint(Server::Moto);
    let suffix = common::unique_suffix("moto_cognito_user_and_group");
    let _cleanup = Cleanup::new(Server::Moto, &suffix);
    let client = common::cognito(endpoint).await;
    let pool = common::create_user_pool(&client, &suffix).await;

    client
        .admin_create_user()
        .user_pool_id(&pool)
        .username("alice")
        .message_action(MessageActionType::Suppress)
        .user_attributes(
            AttributeType::builder()
                .name("email")
                .value("alice@example.com")
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("AdminCreateUser");

    let users = client
        .list_users()
        .user_pool_id(&pool)
        .send()
        .await
        .expect("ListUsers");
    let alice = users
        .users()
        .iter()
        .find(|u| u.username() == Some("alice"))
        .expect("ListUsers does not list alice");
    let email = alice
        .attributes()
        .iter()
        .find(|a| a.name() == "email")
        .and_then(|a| a.value());
    assert_eq!(email, Some("alice@example.com"));

    client
        .create_group()
        .user_pool_id(&pool)
        .group_name("admins")
        .send()
        .await
        .expect("CreateGroup");
    client
        .admin_add_user_to_group()
        .user_pool_id(&pool)
        .username("alice")
        .group_name("admins")
        .send()
        .await
        .expect("AdminAddUserToGroup");
    let members = client
        .list_users_in_group()
        .user_pool_id(&pool)
        .group_name("admins")
        .send()
        .await
        .expect("ListUsersInGroup");
    let names: Vec<_> = members
        .users()
        .iter()
        .filter_map(|u| u.username())
        .collect();
    assert_eq!(names, ["alice"]);
}

#[tokio::test]
async fn moto_s3_put_and_get() {
    let endpoint = common::emulator().endpoint(Server::Moto);
    let suffix = common::unique_suffix("moto_s3_put_and_get");
    let _cleanup = Cleanup::new(Server::Moto, &suffix);
    let client = common::s3(endpoint).await;
    let bucket = common::bucket_name(&suffix);

    // Outside us-east-1 S3 wants a location constraint matching the client's region.
    client
        .create_bucket()
        .bucket(&bucket)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::UsWest1)
                .build(),
        )
        .send()
        .await
        .expect("CreateBucket");

    let body: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    client
        .put_object()
        .bucket(&bucket)
        .key("public/photos/cat.bin")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .expect("PutObject");

    let got = client
        .get_object()
        .bucket(&bucket)
        .key("public/photos/cat.bin")
        .send()
        .await
        .expect("GetObject")
        .body
        .collect()
        .await
        .expect("read body")
        .into_bytes();
    assert_eq!(got.as_ref(), body.as_slice());
}

/// The cleanup guard really deletes what a test made (else a long-lived emulator fills up).
#[tokio::test]
async fn cleanup_deletes_suffixed_tables() {
    let endpoint = common::emulator().endpoint(Server::Dynalite);
    let suffix = common::unique_suffix("cleanup_deletes_suffixed_tables");
    let client = common::dynamodb(endpoint).await;
    let table = common::amplify_table_name("Note", &suffix);
    common::create_table(&client, &table).await;

    drop(Cleanup::new(Server::Dynalite, &suffix));

    let described = client.describe_table().table_name(&table).send().await;
    match described {
        // dynalite keeps a deleted table DELETING for ~500 ms before it disappears.
        Ok(out) => assert_eq!(
            out.table().and_then(|t| t.table_status()),
            Some(&aws_sdk_dynamodb::types::TableStatus::Deleting)
        ),
        Err(e) => assert!(
            e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()),
            "DescribeTable after cleanup: {e:?}"
        ),
    }
}

#[test]
fn unique_suffixes_are_amplify_shaped_and_distinct() {
    let suffixes: Vec<String> = (0..1000)
        .map(|_| common::unique_suffix("unique_suffixes"))
        .collect();
    for s in &suffixes {
        assert_eq!(s.len(), common::SUFFIX_LEN, "{s}");
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "{s}"
        );
    }
    let distinct: HashSet<&String> = suffixes.iter().collect();
    assert_eq!(distinct.len(), suffixes.len());
}
