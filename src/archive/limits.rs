//! What DynamoDB refuses in an item, checked before anything is written: an import
//! that finds out from a BatchWriteItem error has already written other batches, and
//! its "re-run to finish" advice cannot work for an item that will never be accepted.
//!
//! The rules (DynamoDB developer guide, "Supported data types and naming rules" and
//! "Item sizes and formats"):
//! - numbers: at most 38 significant digits; magnitude between 1E-130 and
//!   9.9999999999999999999999999999999999999E+125 (or zero);
//! - sets: never empty, no duplicate members (numbers compared by value);
//! - at most 32 levels of nested lists and maps;
//! - at most 400 KB (409,600 bytes) per item, counted as attribute names (UTF-8) plus
//!   values: strings in UTF-8, binary as is, numbers ~1 byte per 2 significant digits
//!   plus 1, booleans and nulls 1 byte, lists and maps 3 bytes plus 1 per element.
//!
//! Key attributes have their own rules (non-empty, of the schema's type); those need
//! the table's schema and are checked by the tables plan.

use std::collections::HashSet;

use super::canonical::normalize_number;
use super::item::{AttrValue, Item};

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: u64 = 400 * 1024;
/// DynamoDB's nesting limit for lists and maps.
pub const MAX_DEPTH: usize = 32;
const MAX_DIGITS: usize = 38;
/// Decimal exponents of the smallest and largest magnitudes DynamoDB stores.
const MIN_EXPONENT: i64 = -130;
const MAX_EXPONENT: i64 = 125;

/// Why DynamoDB would refuse `item`, if it would.
pub fn check_item(item: &Item) -> Result<(), String> {
    let mut size = 0u64;
    for (name, value) in item {
        size += name.len() as u64;
        size += check_value(value, 1).map_err(|why| format!("attribute `{name}`: {why}"))?;
    }
    if size > MAX_ITEM_BYTES {
        return Err(format!(
            "the item is {size} bytes, over DynamoDB's limit of {MAX_ITEM_BYTES}"
        ));
    }
    Ok(())
}

/// About the size DynamoDB counts for `item`, without any check (numbers by their
/// text): what the import's write queue budgets its memory by.
pub fn approximate_bytes(item: &Item) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_bytes(value))
        .sum()
}

fn value_bytes(value: &AttrValue) -> u64 {
    match value {
        AttrValue::S(s) | AttrValue::N(s) => s.len() as u64,
        AttrValue::B(b) => b.len() as u64,
        AttrValue::Bool(_) | AttrValue::Null => 1,
        AttrValue::Ss(set) | AttrValue::Ns(set) => set.iter().map(|s| s.len() as u64).sum(),
        AttrValue::Bs(set) => set.iter().map(|b| b.len() as u64).sum(),
        AttrValue::L(list) => 3 + list.iter().map(|v| 1 + value_bytes(v)).sum::<u64>(),
        AttrValue::M(map) => {
            3 + map
                .iter()
                .map(|(n, v)| 1 + n.len() as u64 + value_bytes(v))
                .sum::<u64>()
        }
    }
}

/// Checks one value at nesting `depth`; returns its size in DynamoDB's count.
fn check_value(value: &AttrValue, depth: usize) -> Result<u64, String> {
    Ok(match value {
        AttrValue::S(s) => s.len() as u64,
        AttrValue::B(b) => b.len() as u64,
        AttrValue::N(n) => number_size(n)?,
        AttrValue::Bool(_) | AttrValue::Null => 1,
        AttrValue::Ss(set) => {
            non_empty_unique(set.iter().map(|s| s.as_bytes().to_vec()), set.len(), "SS")?;
            set.iter().map(|s| s.len() as u64).sum()
        }
        AttrValue::Bs(set) => {
            non_empty_unique(set.iter().cloned(), set.len(), "BS")?;
            set.iter().map(|b| b.len() as u64).sum()
        }
        AttrValue::Ns(set) => {
            let canonical = set
                .iter()
                .map(|n| normalize_number(n).map(String::into_bytes))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            non_empty_unique(canonical.into_iter(), set.len(), "NS")?;
            set.iter().map(|n| number_size(n)).sum::<Result<u64, _>>()?
        }
        AttrValue::L(list) => {
            nested(depth)?;
            let mut size = 3 + list.len() as u64;
            for member in list {
                size += check_value(member, depth + 1)?;
            }
            size
        }
        AttrValue::M(map) => {
            nested(depth)?;
            let mut size = 3 + map.len() as u64;
            for (name, member) in map {
                size += name.len() as u64;
                size += check_value(member, depth + 1).map_err(|why| format!("`{name}`: {why}"))?;
            }
            size
        }
    })
}

fn nested(depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "lists and maps nested deeper than DynamoDB's {MAX_DEPTH} levels"
        ));
    }
    Ok(())
}

fn non_empty_unique(
    members: impl Iterator<Item = Vec<u8>>,
    len: usize,
    kind: &str,
) -> Result<(), String> {
    if len == 0 {
        return Err(format!("an empty {kind} set (DynamoDB has no empty sets)"));
    }
    let mut seen = HashSet::with_capacity(len);
    for member in members {
        if !seen.insert(member) {
            return Err(format!("a {kind} set with a duplicate member"));
        }
    }
    Ok(())
}

/// A number's size, or why DynamoDB cannot store it.
fn number_size(text: &str) -> Result<u64, String> {
    let canonical = normalize_number(text).map_err(|e| e.to_string())?;
    if canonical == "0" {
        return Ok(2);
    }
    let unsigned = canonical.trim_start_matches('-');
    let (digits, exponent) = match unsigned.split_once('e') {
        Some((d, e)) => (d, e.parse::<i64>().map_err(|_| bad_range(text))?),
        None => (unsigned, 0),
    };
    if digits.len() > MAX_DIGITS {
        return Err(format!(
            "the number {text} has {} significant digits; DynamoDB keeps at most {MAX_DIGITS}",
            digits.len()
        ));
    }
    // value = digits × 10^exponent, so its order of magnitude is:
    let magnitude = exponent + digits.len() as i64 - 1;
    if !(MIN_EXPONENT..=MAX_EXPONENT).contains(&magnitude) {
        return Err(bad_range(text));
    }
    // DynamoDB stores a number as base-100 digits aligned on the decimal point, plus a
    // byte of exponent and, for a negative number, a terminator byte: a number whose
    // first digit sits at an even power of ten starts a pair of its own (1.5 is 01|50:
    // three bytes, not two). The formula is dynalite's, which is modelled on DynamoDB;
    // the rough "one byte per two digits, plus one" under-counts these cases and let
    // items just under 400 KB by that count be refused in phase 6 (the 2026-12-01 bug
    // hunt).
    let aligned = digits.len() + usize::from(magnitude.rem_euclid(2) == 0);
    let negative = u64::from(canonical.starts_with('-'));
    Ok(aligned.div_ceil(2) as u64 + 1 + negative)
}

fn bad_range(text: &str) -> String {
    format!("the number {text} is outside DynamoDB's range (1E-130 to 9.99…E+125)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::parse_item;

    fn check(json: &str) -> Result<(), String> {
        check_item(&parse_item(json.as_bytes()).expect("item"))
    }

    #[test]
    fn approximate_bytes_counts_names_values_and_containers() {
        let body = "x".repeat(1000);
        let json = format!(
            r#"{{"id":{{"S":"a"}},"body":{{"S":"{body}"}},"m":{{"M":{{"k":{{"N":"12"}}}}}}}}"#
        );
        let item = parse_item(json.as_bytes()).expect("item");
        // id 2+1, body 4+1000, m 1 + 3 + (1 + k 1 + 12 2).
        assert_eq!(approximate_bytes(&item), 3 + 1004 + 8);
    }

    /// DynamoDB's (and dynalite's) sizes: base-100 digits aligned on the decimal
    /// point, an exponent byte, a byte more when negative.
    #[test]
    fn number_sizes_count_digit_pairs_as_dynamodb_aligns_them() {
        for (number, size) in [
            ("5", 2),
            ("15", 2),
            ("1.5", 3),
            ("150", 3),
            ("12.34", 3),
            ("1.234", 4),
            ("0.5", 2),
            ("-1", 3),
            ("-1.5", 4),
            ("1e2", 2),
        ] {
            assert_eq!(number_size(number), Ok(size), "{number}");
        }
    }

    #[test]
    fn numbers_within_dynamodb_limits_pass_and_others_are_named() {
        assert!(check(r#"{"n":{"N":"12345678901234567890123456789012345678"}}"#).is_ok());
        assert!(check(r#"{"n":{"N":"1E-130"}}"#).is_ok());
        assert!(check(r#"{"n":{"N":"9.9999999999999999999999999999999999999E+125"}}"#).is_ok());
        assert!(check(r#"{"n":{"N":"-0.000"}}"#).is_ok());
        let digits = check(r#"{"n":{"N":"123456789012345678901234567890123456789"}}"#);
        assert!(digits.unwrap_err().contains("39 significant digits"));
        assert!(check(r#"{"n":{"N":"1E126"}}"#)
            .unwrap_err()
            .contains("range"));
        assert!(check(r#"{"n":{"N":"1E-131"}}"#)
            .unwrap_err()
            .contains("range"));
    }

    #[test]
    fn sets_must_be_non_empty_and_without_duplicates() {
        assert!(check(r#"{"s":{"SS":[]}}"#)
            .unwrap_err()
            .contains("empty SS"));
        assert!(check(r#"{"s":{"SS":["a","a"]}}"#)
            .unwrap_err()
            .contains("duplicate"));
        assert!(check(r#"{"s":{"NS":["1","1.0"]}}"#)
            .unwrap_err()
            .contains("duplicate"));
        assert!(check(r#"{"s":{"BS":["AQ==","AQ=="]}}"#)
            .unwrap_err()
            .contains("duplicate"));
        assert!(check(r#"{"s":{"NS":["1","2"]},"t":{"SS":["a","b"]}}"#).is_ok());
        let nested = check(r#"{"m":{"M":{"x":{"SS":[]}}}}"#).unwrap_err();
        assert!(nested.contains("`m`") && nested.contains("`x`"), "{nested}");
    }

    #[test]
    fn items_over_400_kb_and_deep_nesting_are_refused() {
        let big = "x".repeat(MAX_ITEM_BYTES as usize);
        let too_big = format!(r#"{{"id":{{"S":"a"}},"b":{{"S":"{big}"}}}}"#);
        assert!(check(&too_big)
            .unwrap_err()
            .contains("over DynamoDB's limit"));
        let fits = format!(r#"{{"b":{{"S":"{}"}}}}"#, "x".repeat(400 * 1024 - 1));
        assert!(check(&fits).is_ok());
        let mut deep = String::from(r#"{"S":"leaf"}"#);
        for _ in 0..MAX_DEPTH {
            deep = format!(r#"{{"L":[{deep}]}}"#);
        }
        assert!(check(&format!(r#"{{"d":{deep}}}"#)).is_ok());
        let deeper = format!(r#"{{"d":{{"L":[{deep}]}}}}"#);
        assert!(check(&deeper).unwrap_err().contains("32 levels"));
    }
}
