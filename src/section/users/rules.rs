//! What the target pool would refuse when phase 6 creates or changes users, found in
//! the plan instead (the rule: refuse early, never half-way). Cognito checks each
//! AdminCreateUser and AdminUpdateUserAttributes against the pool's required
//! attributes, each attribute's length or range, and the temporary password against
//! the password policy; one refused call in phase 6 would leave the pool half written.
//! The pool's settings come from the snapshot's archive, its rules from the live target
//! (`crate::aws::cognito::PoolRules`).

use std::collections::BTreeMap;

use age::secrecy::{ExposeSecret, SecretString};

use crate::archive::users::PoolSettings;
use crate::aws::cognito::{AttributeConstraint, PasswordRules, PoolRules};

/// Users named per refusal; the count is always complete.
const FIRST_USERS: usize = 3;

/// Refusals grouped by reason, so that 10,000 users lacking one attribute make one
/// line, not 10,000.
#[derive(Debug, Default)]
pub struct Refusals {
    by_reason: BTreeMap<String, (u64, Vec<String>)>,
}

impl Refusals {
    pub fn add(&mut self, reason: String, user: &str) {
        let (count, first) = self.by_reason.entry(reason).or_default();
        *count += 1;
        if first.len() < FIRST_USERS {
            first.push(user.to_owned());
        }
    }

    /// One line per reason: `user a@x.com: …`, or `3 users (first: …): …`.
    pub fn lines(self) -> Vec<String> {
        self.by_reason
            .into_iter()
            .map(|(reason, (count, first))| match count {
                1 => format!("user {}: {reason}", first.join(", ")),
                n => format!("{n} users (first: {}): {reason}", first.join(", ")),
            })
            .collect()
    }
}

/// The attributes the target pool requires that `attributes` lacks (or holds empty).
/// `sub` is required in every pool but Cognito generates it.
pub fn missing_required<'a>(
    pool: &'a PoolSettings,
    attributes: &BTreeMap<String, String>,
) -> Vec<&'a str> {
    pool.schema
        .iter()
        .filter(|a| a.required && a.name != "sub")
        .filter(|a| attributes.get(&a.name).is_none_or(|v| v.is_empty()))
        .map(|a| a.name.as_str())
        .collect()
}

/// Why the target pool would refuse `value` for `name`, if it would.
pub fn constraint_problem(rules: &PoolRules, name: &str, value: &str) -> Option<String> {
    match rules.constraints.get(name)? {
        AttributeConstraint::Length { min, max } => {
            // Cognito counts characters, not bytes.
            let length = value.chars().count() as u64;
            let short = min.is_some_and(|min| length < min);
            let long = max.is_some_and(|max| length > max);
            (short || long).then(|| {
                format!(
                    "{name} is {length} characters long; the target pool allows {}",
                    bounds(*min, *max)
                )
            })
        }
        AttributeConstraint::Range { min, max } => {
            let Ok(number) = value.trim().parse::<f64>() else {
                return Some(format!("{name} is not a number"));
            };
            let low = min.is_some_and(|min| number < min as f64);
            let high = max.is_some_and(|max| number > max as f64);
            // The value itself is personal data: the message names the bounds only.
            (low || high).then(|| {
                format!(
                    "{name} is out of range; the target pool allows {}",
                    bounds(*min, *max)
                )
            })
        }
    }
}

fn bounds<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{min} to {max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "any".into(),
    }
}

/// Cognito's special characters for passwords (its documented list; a space counts
/// only inside the password).
const SYMBOLS: &str = "^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-";

/// What `password` lacks under the pool's policy (never the password itself, nor any
/// part of it): empty when Cognito would accept it.
pub fn password_problems(policy: &PasswordRules, password: &SecretString) -> Vec<String> {
    let password = password.expose_secret();
    let mut problems = Vec::new();
    let length = password.chars().count();
    if length < policy.minimum_length {
        problems.push(format!(
            "at least {} characters (it has {length})",
            policy.minimum_length
        ));
    }
    let has = |test: fn(&char) -> bool| password.chars().any(|c| test(&c));
    if policy.uppercase && !has(char::is_ascii_uppercase) {
        problems.push("an uppercase letter (A-Z)".into());
    }
    if policy.lowercase && !has(char::is_ascii_lowercase) {
        problems.push("a lowercase letter (a-z)".into());
    }
    if policy.numbers && !has(char::is_ascii_digit) {
        problems.push("a digit".into());
    }
    let inner = password.trim_matches(' ');
    let symbol = inner.chars().any(|c| SYMBOLS.contains(c) || c == ' ');
    if policy.symbols && !symbol {
        problems.push("a special character".into());
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::users::SchemaAttribute;

    fn schema(required: &[&str]) -> PoolSettings {
        PoolSettings {
            user_pool_id: "p".into(),
            username_attributes: vec![],
            alias_attributes: vec![],
            auto_verified_attributes: vec![],
            mfa_configuration: "OFF".into(),
            schema: ["sub", "email", "family_name"]
                .iter()
                .map(|n| SchemaAttribute {
                    name: n.to_string(),
                    attribute_data_type: "String".into(),
                    mutable: true,
                    required: required.contains(n),
                })
                .collect(),
        }
    }

    #[test]
    fn required_attributes_missing_or_empty_are_named_and_sub_is_not() {
        let pool = schema(&["sub", "email", "family_name"]);
        let attributes = BTreeMap::from([
            ("email".to_string(), "a@x.com".to_string()),
            ("family_name".to_string(), String::new()),
        ]);
        assert_eq!(missing_required(&pool, &attributes), vec!["family_name"]);
    }

    #[test]
    fn lengths_count_characters_and_ranges_parse_numbers() {
        let rules = PoolRules {
            constraints: BTreeMap::from([
                (
                    "custom:code".to_string(),
                    AttributeConstraint::Length {
                        min: Some(2),
                        max: Some(3),
                    },
                ),
                (
                    "custom:score".to_string(),
                    AttributeConstraint::Range {
                        min: Some(0),
                        max: Some(10),
                    },
                ),
            ]),
            ..PoolRules::default()
        };
        assert_eq!(constraint_problem(&rules, "custom:code", "äöü"), None);
        let long = constraint_problem(&rules, "custom:code", "abcd").expect("too long");
        assert!(
            long.contains("4 characters") && long.contains("2 to 3"),
            "{long}"
        );
        assert!(constraint_problem(&rules, "custom:score", "10").is_none());
        let high = constraint_problem(&rules, "custom:score", "11").expect("out of range");
        assert!(!high.contains("11"), "the value is personal data: {high}");
        assert!(high.contains("0 to 10"), "{high}");
        assert!(constraint_problem(&rules, "custom:score", "ten").is_some());
        assert!(constraint_problem(&rules, "name", "anything").is_none());
    }

    #[test]
    fn password_problems_say_what_is_missing_never_the_password() {
        let policy = PasswordRules {
            minimum_length: 12,
            uppercase: true,
            lowercase: true,
            numbers: true,
            symbols: true,
        };
        let weak = SecretString::from("short1!".to_owned());
        let problems = password_problems(&policy, &weak);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().all(|p| !p.contains("short1")));
        let strong = SecretString::from("Long-enough-Pa55".to_owned());
        assert!(password_problems(&policy, &strong).is_empty());
        let edge_space = SecretString::from(" Abcdefghij1 ".to_owned());
        assert_eq!(password_problems(&policy, &edge_space).len(), 1);
    }

    #[test]
    fn refusals_make_one_line_per_reason() {
        let mut refusals = Refusals::default();
        for user in ["a", "b", "c", "d"] {
            refusals.add("lacks family_name".into(), user);
        }
        refusals.add("custom:code too long".into(), "e");
        let lines = refusals.lines();
        assert_eq!(
            lines,
            vec![
                "user e: custom:code too long".to_string(),
                "4 users (first: a, b, c): lacks family_name".to_string()
            ]
        );
    }
}
