//! Cognito user pools: read a pool's settings, groups, memberships and users, and write
//! them back (create users without invitations, attributes, enabled state, groups,
//! memberships).
//!
//! Every call goes through [`super::retrying`]: Cognito's per-account rate limits
//! (`TooManyRequestsException`) are met with backoff, never by skipping a user.

use std::collections::BTreeMap;

use age::secrecy::{ExposeSecret, SecretString};
use aws_sdk_cognitoidentityprovider::types::{
    AttributeType, GroupType, MessageActionType, UserType,
};
use aws_sdk_cognitoidentityprovider::Client;

mod pool;

pub use pool::{AttributeConstraint, DescribedPool, PasswordRules, PoolRules};

use super::{retrying, rfc3339, service_error, AwsError};
use crate::archive::users::Group;

/// Page size of Cognito's list calls (its maximum).
const PAGE: i32 = 60;

/// A Cognito client for one environment's user pool.
#[derive(Clone)]
pub struct Cognito {
    client: Client,
    pool: String,
}

/// A user as ListUsers returns it (no groups: those come from ListUsersInGroup).
#[derive(Debug, Clone)]
pub struct PoolUser {
    pub username: String,
    /// Every attribute, `sub` included.
    pub attributes: BTreeMap<String, String>,
    pub enabled: bool,
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: Option<String>,
    /// Legacy per-user SMS MFA options (`SMS_MFA`), from ListUsers.
    pub mfa_options: Vec<String>,
}

impl PoolUser {
    pub fn sub(&self) -> &str {
        self.attributes.get("sub").map_or("", String::as_str)
    }
}

impl Cognito {
    pub fn new(config: &aws_config::SdkConfig, pool: &str) -> Self {
        Cognito {
            client: Client::from_conf(
                aws_sdk_cognitoidentityprovider::config::Builder::from(config)
                    .interceptor(super::CountRetries)
                    .build(),
            ),
            pool: pool.to_owned(),
        }
    }

    pub fn pool_id(&self) -> &str {
        &self.pool
    }

    /// The pool's settings, Cognito's estimate of its number of users, and the rules it
    /// holds new values to.
    pub async fn describe_pool(&self) -> Result<DescribedPool, AwsError> {
        let out = retrying(|| async {
            self.client
                .describe_user_pool()
                .user_pool_id(&self.pool)
                .send()
                .await
                .map_err(|e| service_error("DescribeUserPool", &self.pool, e))
        })
        .await?;
        let pool = out.user_pool().ok_or_else(|| {
            AwsError::Invalid(format!(
                "DescribeUserPool {}: no pool in the answer",
                self.pool
            ))
        })?;
        Ok(pool::described(&self.pool, pool))
    }

    /// Every group (all pages).
    pub async fn list_groups(&self) -> Result<Vec<Group>, AwsError> {
        let mut groups = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = retrying(|| async {
                self.client
                    .list_groups()
                    .user_pool_id(&self.pool)
                    .limit(PAGE)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("ListGroups", &self.pool, e))
            })
            .await?;
            groups.extend(page.groups().iter().map(group));
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(groups),
            }
        }
    }

    /// The usernames of a group's members (all pages).
    pub async fn list_members(&self, group: &str) -> Result<Vec<String>, AwsError> {
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = retrying(|| async {
                self.client
                    .list_users_in_group()
                    .user_pool_id(&self.pool)
                    .group_name(group)
                    .limit(PAGE)
                    .set_next_token(token.clone())
                    .send()
                    .await
                    .map_err(|e| service_error("ListUsersInGroup", group, e))
            })
            .await?;
            names.extend(
                page.users()
                    .iter()
                    .filter_map(|u| u.username().map(str::to_owned)),
            );
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => return Ok(names),
            }
        }
    }

    /// One page of ListUsers (at most 60 users) and the token of the next page.
    pub async fn list_users_page(
        &self,
        token: Option<String>,
    ) -> Result<(Vec<PoolUser>, Option<String>), AwsError> {
        let page = retrying(|| async {
            self.client
                .list_users()
                .user_pool_id(&self.pool)
                .limit(PAGE)
                .set_pagination_token(token.clone())
                .send()
                .await
                .map_err(|e| service_error("ListUsers", &self.pool, e))
        })
        .await?;
        let next = page
            .pagination_token()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Ok((page.users().iter().map(pool_user).collect(), next))
    }

    /// Every user (all pages), in memory: for the plan and verification, which compare
    /// the whole pool (export streams pages instead).
    pub async fn all_users(&self) -> Result<Vec<PoolUser>, AwsError> {
        let mut users = Vec::new();
        let mut token = None;
        loop {
            let (page, next) = self.list_users_page(token).await?;
            users.extend(page);
            match next {
                Some(next) => token = Some(next),
                None => return Ok(users),
            }
        }
    }

    /// The MFA methods a user has enabled (AdminGetUser: one call per user, so only
    /// made when the pool has MFA turned on).
    pub async fn user_mfa(&self, username: &str) -> Result<Vec<String>, AwsError> {
        let out = retrying(|| async {
            self.client
                .admin_get_user()
                .user_pool_id(&self.pool)
                .username(username)
                .send()
                .await
                .map_err(|e| service_error("AdminGetUser", username, e))
        })
        .await?;
        Ok(out.user_mfa_setting_list().to_vec())
    }

    /// Creates a user without sending an invitation (`MessageAction=SUPPRESS`).
    /// Returns the new user (its username is Cognito's when the pool signs in by
    /// email or phone). `password` is the temporary password, if the operator set one.
    pub async fn create_user(
        &self,
        username: &str,
        attributes: &BTreeMap<String, String>,
        password: Option<&SecretString>,
    ) -> Result<PoolUser, AwsError> {
        let attributes = to_sdk_attributes(attributes)?;
        let out = retrying(|| async {
            self.client
                .admin_create_user()
                .user_pool_id(&self.pool)
                .username(username)
                .set_user_attributes(Some(attributes.clone()))
                .message_action(MessageActionType::Suppress)
                .set_temporary_password(password.map(|p| p.expose_secret().to_owned()))
                .send()
                .await
                .map_err(|e| service_error("AdminCreateUser", username, e))
        })
        .await?;
        out.user().map(pool_user).ok_or_else(|| {
            AwsError::Invalid(format!("AdminCreateUser {username}: no user in the answer"))
        })
    }

    pub async fn update_attributes(
        &self,
        username: &str,
        attributes: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let attributes = to_sdk_attributes(attributes)?;
        retrying(|| async {
            self.client
                .admin_update_user_attributes()
                .user_pool_id(&self.pool)
                .username(username)
                .set_user_attributes(Some(attributes.clone()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("AdminUpdateUserAttributes", username, e))
        })
        .await
    }

    pub async fn delete_attributes(
        &self,
        username: &str,
        names: &[String],
    ) -> Result<(), AwsError> {
        retrying(|| async {
            self.client
                .admin_delete_user_attributes()
                .user_pool_id(&self.pool)
                .username(username)
                .set_user_attribute_names(Some(names.to_vec()))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("AdminDeleteUserAttributes", username, e))
        })
        .await
    }

    pub async fn set_enabled(&self, username: &str, enabled: bool) -> Result<(), AwsError> {
        retrying(|| async {
            if enabled {
                self.client
                    .admin_enable_user()
                    .user_pool_id(&self.pool)
                    .username(username)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("AdminEnableUser", username, e))
            } else {
                self.client
                    .admin_disable_user()
                    .user_pool_id(&self.pool)
                    .username(username)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("AdminDisableUser", username, e))
            }
        })
        .await
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), AwsError> {
        retrying(|| async {
            self.client
                .admin_delete_user()
                .user_pool_id(&self.pool)
                .username(username)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("AdminDeleteUser", username, e))
        })
        .await
    }

    /// Creates a group, or (`exists`) updates its description, precedence and role.
    pub async fn put_group(&self, group: &Group, exists: bool) -> Result<(), AwsError> {
        retrying(|| async {
            if exists {
                self.client
                    .update_group()
                    .user_pool_id(&self.pool)
                    .group_name(&group.name)
                    // An empty description clears the old one whether UpdateGroup
                    // resets omitted fields (its documented past) or keeps them
                    // (moto): a group without one reads back as `None` either way.
                    .description(group.description.clone().unwrap_or_default())
                    .set_precedence(group.precedence)
                    .set_role_arn(group.role_arn.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("UpdateGroup", &group.name, e))
            } else {
                self.client
                    .create_group()
                    .user_pool_id(&self.pool)
                    .group_name(&group.name)
                    .set_description(group.description.clone())
                    .set_precedence(group.precedence)
                    .set_role_arn(group.role_arn.clone())
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("CreateGroup", &group.name, e))
            }
        })
        .await
    }

    pub async fn delete_group(&self, name: &str) -> Result<(), AwsError> {
        retrying(|| async {
            self.client
                .delete_group()
                .user_pool_id(&self.pool)
                .group_name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| service_error("DeleteGroup", name, e))
        })
        .await
    }

    /// Adds (`member`) or removes a user's membership of a group.
    pub async fn set_membership(
        &self,
        username: &str,
        group: &str,
        member: bool,
    ) -> Result<(), AwsError> {
        retrying(|| async {
            if member {
                self.client
                    .admin_add_user_to_group()
                    .user_pool_id(&self.pool)
                    .username(username)
                    .group_name(group)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("AdminAddUserToGroup", username, e))
            } else {
                self.client
                    .admin_remove_user_from_group()
                    .user_pool_id(&self.pool)
                    .username(username)
                    .group_name(group)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| service_error("AdminRemoveUserFromGroup", username, e))
            }
        })
        .await
    }
}

fn group(g: &GroupType) -> Group {
    Group {
        name: g.group_name().unwrap_or_default().to_owned(),
        description: g.description().filter(|d| !d.is_empty()).map(str::to_owned),
        precedence: g.precedence(),
        role_arn: g.role_arn().map(str::to_owned),
    }
}

fn pool_user(u: &UserType) -> PoolUser {
    PoolUser {
        username: u.username().unwrap_or_default().to_owned(),
        attributes: u
            .attributes()
            .iter()
            .map(|a| {
                (
                    a.name().to_owned(),
                    a.value().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        enabled: u.enabled(),
        status: u.user_status().map_or("UNKNOWN", |s| s.as_str()).to_owned(),
        created_at: u.user_create_date().and_then(rfc3339),
        mfa_options: u
            .mfa_options()
            .iter()
            .filter_map(|o| o.delivery_medium().map(|m| format!("{}_MFA", m.as_str())))
            .collect(),
    }
}

fn to_sdk_attributes(
    attributes: &BTreeMap<String, String>,
) -> Result<Vec<AttributeType>, AwsError> {
    attributes
        .iter()
        .map(|(name, value)| {
            AttributeType::builder()
                .name(name)
                .value(value)
                .build()
                .map_err(|e| AwsError::Invalid(format!("attribute {name}: {e}")))
        })
        .collect()
}
