//! What DescribeUserPool says of a pool: the settings a snapshot records
//! (`PoolSettings`: username model and schema) and the rules a target pool holds new
//! values to (`PoolRules`: sign-in case, password policy, attribute bounds), which an
//! import's users plan checks before writing (`section::users::rules`).

use std::collections::BTreeMap;

use aws_sdk_cognitoidentityprovider::types::{SchemaAttributeType, UserPoolType};

use crate::archive::users::{PoolSettings, SchemaAttribute};

/// What DescribeUserPool says of a pool.
#[derive(Debug, Clone)]
pub struct DescribedPool {
    pub settings: PoolSettings,
    /// Cognito's estimate of the number of users (may lag behind).
    pub estimate: u64,
    pub rules: PoolRules,
}

/// What a pool checks when users are created or changed, beyond its schema's names and
/// types: read from the live pool for an import's plan, never stored in a snapshot
/// (the target's rules are the ones that apply).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolRules {
    /// Sign-in names (usernames, and e-mails where users sign in with them) compared
    /// without letter case (`UsernameConfiguration.CaseSensitive` false). Pools that
    /// do not say are case-sensitive, as Cognito's API documents.
    pub case_insensitive: bool,
    pub password: Option<PasswordRules>,
    /// Attribute → the length or range its values must keep.
    pub constraints: BTreeMap<String, AttributeConstraint>,
}

/// A pool's password policy, which also applies to temporary passwords.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PasswordRules {
    pub minimum_length: usize,
    pub uppercase: bool,
    pub lowercase: bool,
    pub numbers: bool,
    pub symbols: bool,
}

/// The bounds a schema attribute puts on its values (Cognito sends them as strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeConstraint {
    /// Characters, for `String` attributes.
    Length { min: Option<u64>, max: Option<u64> },
    /// Values, for `Number` attributes.
    Range { min: Option<i64>, max: Option<i64> },
}

/// The description of the pool `pool_id` from DescribeUserPool's answer.
pub(super) fn described(pool_id: &str, pool: &UserPoolType) -> DescribedPool {
    let settings = PoolSettings {
        user_pool_id: pool_id.to_owned(),
        username_attributes: pool
            .username_attributes()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        alias_attributes: pool
            .alias_attributes()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        auto_verified_attributes: pool
            .auto_verified_attributes()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect(),
        mfa_configuration: pool
            .mfa_configuration()
            .map_or("OFF", |m| m.as_str())
            .to_owned(),
        schema: pool
            .schema_attributes()
            .iter()
            .map(schema_attribute)
            .collect(),
    };
    let estimate = pool.estimated_number_of_users().max(0) as u64;
    DescribedPool {
        settings,
        estimate,
        rules: pool_rules(pool),
    }
}

fn schema_attribute(a: &SchemaAttributeType) -> SchemaAttribute {
    SchemaAttribute {
        name: a.name().unwrap_or_default().to_owned(),
        attribute_data_type: a
            .attribute_data_type()
            .map_or("String", |t| t.as_str())
            .to_owned(),
        mutable: a.mutable().unwrap_or(true),
        required: a.required().unwrap_or(false),
    }
}

fn pool_rules(pool: &UserPoolType) -> PoolRules {
    let password = pool
        .policies()
        .and_then(|p| p.password_policy())
        .map(|p| PasswordRules {
            minimum_length: p.minimum_length().unwrap_or(0).max(0) as usize,
            uppercase: p.require_uppercase(),
            lowercase: p.require_lowercase(),
            numbers: p.require_numbers(),
            symbols: p.require_symbols(),
        });
    let constraints = pool
        .schema_attributes()
        .iter()
        .filter_map(|a| Some((a.name()?.to_owned(), attribute_constraint(a)?)))
        .collect();
    PoolRules {
        case_insensitive: pool
            .username_configuration()
            .is_some_and(|c| !c.case_sensitive()),
        password,
        constraints,
    }
}

/// A schema attribute's bounds, if it has any Cognito will hold values to.
fn attribute_constraint(a: &SchemaAttributeType) -> Option<AttributeConstraint> {
    fn bound<T: std::str::FromStr>(text: Option<&str>) -> Option<T> {
        text.and_then(|t| t.trim().parse().ok())
    }
    if let Some(c) = a.string_attribute_constraints() {
        let (min, max) = (bound(c.min_length()), bound(c.max_length()));
        return (min.is_some() || max.is_some())
            .then_some(AttributeConstraint::Length { min, max });
    }
    let c = a.number_attribute_constraints()?;
    let (min, max) = (bound(c.min_value()), bound(c.max_value()));
    (min.is_some() || max.is_some()).then_some(AttributeConstraint::Range { min, max })
}
