//! The canonical item encoding and the order-independent table content digest.
//!
//! Two copies of a table are "the same" when they hold the same items, whatever order a
//! scan returned them in and however a number was spelled (`2.50`, `2.5`, `25e-1`). The
//! canonical encoding removes those differences; the table digest then adds up one
//! SHA-256 per item modulo 2^256, so it can be computed while streaming, in any order,
//! in constant memory. `docs/format.md` specifies both byte by byte, with test vectors.

use std::fmt;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use super::item::{AttrValue, Item};

/// Why a DynamoDB number string is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid DynamoDB number {0:?}")]
pub struct NumberError(String);

/// Normalises a DynamoDB number to its canonical spelling: an optional `-`, the
/// significant digits without leading or trailing zeros, and `e<exp>` when the exponent
/// is not zero, so that the value is `digits × 10^exp`. Zero is `0`.
///
/// Examples: `2.50` → `25e-1`, `100` → `1e2`, `-0.0` → `0`, `0.001` → `1e-3`.
pub fn normalize_number(text: &str) -> Result<String, NumberError> {
    let mut out = Vec::with_capacity(text.len() + 8);
    if !push_canonical_number(text.as_bytes(), &mut out) {
        return Err(NumberError(text.to_owned()));
    }
    // Only ASCII digits, `-` and `e` were pushed.
    String::from_utf8(out).map_err(|_| NumberError(text.to_owned()))
}

/// Appends the canonical spelling of the number `text` to `out` (see
/// [`normalize_number`]); returns `false`, with `out` unchanged, if `text` is not a
/// number. Allocation-free, because the item hasher calls it for every number it sees.
pub(crate) fn push_canonical_number(text: &[u8], out: &mut Vec<u8>) -> bool {
    let (negative, rest) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let (mantissa, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
        Some(at) => match parse_exponent(&rest[at + 1..]) {
            Some(exponent) => (&rest[..at], exponent),
            None => return false,
        },
        None => (rest, 0),
    };
    let (int_part, frac_part) = match mantissa.iter().position(|&b| b == b'.') {
        Some(at) => (&mantissa[..at], &mantissa[at + 1..]),
        None => (mantissa, &[][..]),
    };
    let all_digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if (int_part.is_empty() && frac_part.is_empty())
        || !all_digits(int_part)
        || !all_digits(frac_part)
    {
        return false;
    }
    // The digits are int_part then frac_part: find the first and last non-zero digit
    // of that sequence, each as (in int_part?, index), without joining the two parts.
    let nonzero = |d: &u8| *d != b'0';
    let first = match int_part.iter().position(nonzero) {
        Some(i) => (true, i),
        None => match frac_part.iter().position(nonzero) {
            Some(i) => (false, i),
            None => {
                out.push(b'0');
                return true;
            }
        },
    };
    let (last, trailing_zeros) = match frac_part.iter().rposition(nonzero) {
        Some(i) => ((false, i), frac_part.len() - 1 - i),
        None => {
            // first was found, so int_part has a non-zero digit
            let i = int_part.iter().rposition(nonzero).unwrap_or(0);
            ((true, i), frac_part.len() + int_part.len() - 1 - i)
        }
    };
    let exponent = exponent - frac_part.len() as i64 + trailing_zeros as i64;
    if negative {
        out.push(b'-');
    }
    match (first, last) {
        ((true, f), (true, l)) => out.extend_from_slice(&int_part[f..=l]),
        ((false, f), (false, l)) => out.extend_from_slice(&frac_part[f..=l]),
        ((_, f), (_, l)) => {
            // first in int_part, last in frac_part
            out.extend_from_slice(&int_part[f..]);
            out.extend_from_slice(&frac_part[..=l]);
        }
    }
    if exponent != 0 {
        out.push(b'e');
        push_decimal(exponent, out);
    }
    true
}

/// Appends `value` in decimal (with `-` when negative), without going through `fmt`.
fn push_decimal(value: i64, out: &mut Vec<u8>) {
    if value < 0 {
        out.push(b'-');
    }
    let mut magnitude = value.unsigned_abs();
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (magnitude % 10) as u8;
        magnitude /= 10;
        if magnitude == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Parses an exponent, refusing values far outside DynamoDB's range so that the
/// arithmetic above cannot overflow.
fn parse_exponent(text: &[u8]) -> Option<i64> {
    let (sign, digits) = match text.first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        sign * digits
            .iter()
            .fold(0i64, |v, d| v * 10 + i64::from(d - b'0')),
    )
}

/// The canonical encoding of an item: compact JSON, attribute and map keys in byte
/// order, numbers normalised, set members sorted, binary as padded standard base64.
pub fn canonical_item(item: &Item) -> Result<Vec<u8>, NumberError> {
    let mut out = Vec::with_capacity(256);
    write_map(&mut out, item)?;
    Ok(out)
}

fn write_map(out: &mut Vec<u8>, map: &Item) -> Result<(), NumberError> {
    out.push(b'{');
    for (i, (name, value)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_value(out, value)?;
    }
    out.push(b'}');
    Ok(())
}

fn write_value(out: &mut Vec<u8>, value: &AttrValue) -> Result<(), NumberError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    out.push(b'{');
    match value {
        AttrValue::S(s) => tagged(out, "S", |o| write_string(o, s)),
        AttrValue::N(n) => {
            let n = normalize_number(n)?;
            tagged(out, "N", |o| write_string(o, &n));
        }
        AttrValue::B(b) => tagged(out, "B", |o| write_string(o, &b64.encode(b))),
        AttrValue::Bool(v) => tagged(out, "BOOL", |o| {
            o.extend_from_slice(if *v { b"true" } else { b"false" })
        }),
        AttrValue::Null => tagged(out, "NULL", |o| o.extend_from_slice(b"true")),
        AttrValue::M(m) => {
            write_string(out, "M");
            out.push(b':');
            write_map(out, m)?;
        }
        AttrValue::L(list) => {
            write_string(out, "L");
            out.extend_from_slice(b":[");
            for (i, v) in list.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, v)?;
            }
            out.push(b']');
        }
        AttrValue::Ss(set) => write_sorted_strings(out, "SS", set.clone()),
        AttrValue::Ns(set) => {
            let normalized = set
                .iter()
                .map(|n| normalize_number(n))
                .collect::<Result<Vec<_>, _>>()?;
            write_sorted_strings(out, "NS", normalized);
        }
        AttrValue::Bs(set) => {
            let mut raw = set.clone();
            raw.sort();
            write_sorted_strings_presorted(out, "BS", raw.iter().map(|b| b64.encode(b)));
        }
    }
    out.push(b'}');
    Ok(())
}

fn tagged(out: &mut Vec<u8>, tag: &str, body: impl FnOnce(&mut Vec<u8>)) {
    write_string(out, tag);
    out.push(b':');
    body(out);
}

/// String sets and number sets sort by the UTF-8 bytes of their (canonical) members.
fn write_sorted_strings(out: &mut Vec<u8>, tag: &str, mut members: Vec<String>) {
    members.sort();
    write_sorted_strings_presorted(out, tag, members.into_iter());
}

fn write_sorted_strings_presorted(
    out: &mut Vec<u8>,
    tag: &str,
    members: impl Iterator<Item = String>,
) {
    write_string(out, tag);
    out.extend_from_slice(b":[");
    for (i, m) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, &m);
    }
    out.push(b']');
}

/// JSON string escaping exactly as serde_json does it (see docs/format.md): `"` and `\`
/// escaped, control characters as `\b \f \n \r \t` or `\u00xx`, everything else raw UTF-8.
fn write_string(out: &mut Vec<u8>, s: &str) {
    // Serialising a &str to JSON cannot fail.
    if serde_json::to_writer(&mut *out, s).is_err() {
        out.extend_from_slice(b"\"\"");
    }
}

/// SHA-256 of an item's canonical encoding: the item's identity for diffs and digests.
pub fn item_hash(item: &Item) -> Result<[u8; 32], NumberError> {
    Ok(Sha256::digest(canonical_item(item)?).into())
}

/// The order-independent content digest of a table: the sum of its items' hashes,
/// read as big-endian 256-bit integers, modulo 2^256. An empty table's digest is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableDigest {
    /// Four 64-bit limbs, most significant first.
    limbs: [u64; 4],
}

impl TableDigest {
    /// Adds one item hash (a multiset sum: adding the same item twice counts twice).
    pub fn add_hash(&mut self, hash: &[u8; 32]) {
        let mut carry = 0u128;
        for i in (0..4).rev() {
            let mut limb = [0u8; 8];
            limb.copy_from_slice(&hash[i * 8..i * 8 + 8]);
            let sum = self.limbs[i] as u128 + u64::from_be_bytes(limb) as u128 + carry;
            self.limbs[i] = sum as u64;
            carry = sum >> 64;
        }
    }

    /// Adds an item.
    pub fn add_item(&mut self, item: &Item) -> Result<(), NumberError> {
        self.add_hash(&item_hash(item)?);
        Ok(())
    }

    /// Combines two partial digests (e.g. of two scan segments).
    pub fn merge(&mut self, other: &TableDigest) {
        let mut bytes = [0u8; 32];
        for (i, limb) in other.limbs.iter().enumerate() {
            bytes[i * 8..i * 8 + 8].copy_from_slice(&limb.to_be_bytes());
        }
        self.add_hash(&bytes);
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for TableDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for limb in self.limbs {
            write!(f, "{limb:016x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::item::parse_item;

    #[test]
    fn numbers_normalise_to_one_spelling() {
        for (input, want) in [
            ("2.50", "25e-1"),
            ("2.5", "25e-1"),
            ("25e-1", "25e-1"),
            ("0.25E1", "25e-1"),
            ("+2.5", "25e-1"),
            ("100", "1e2"),
            ("12", "12"),
            ("-0.0", "0"),
            ("0", "0"),
            ("000.000", "0"),
            ("0.001", "1e-3"),
            ("-17.0", "-17"),
            (".5", "5e-1"),
            ("5.", "5"),
            (
                "12345678901234567890123456789012345678",
                "12345678901234567890123456789012345678",
            ),
            ("1E+126", "1e126"),
            ("1e-130", "1e-130"),
        ] {
            assert_eq!(normalize_number(input).unwrap(), want, "input {input}");
        }
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for input in [
            "",
            "-",
            ".",
            "e5",
            "1e",
            "1.2.3",
            "0x10",
            "NaN",
            "Infinity",
            "1 ",
            "1e99999999999",
        ] {
            assert!(normalize_number(input).is_err(), "input {input:?}");
        }
    }

    #[test]
    fn canonical_encoding_sorts_sets_and_normalises_numbers() {
        let a = parse_item(br#"{"z":{"NS":["10","2.0"]},"a":{"SS":["b","a"]},"m":{"M":{"y":{"N":"1.0"},"x":{"BS":["AQ==","AA=="]}}}}"#).unwrap();
        let canonical = String::from_utf8(canonical_item(&a).unwrap()).unwrap();
        assert_eq!(
            canonical,
            r#"{"a":{"SS":["a","b"]},"m":{"M":{"x":{"BS":["AA==","AQ=="]},"y":{"N":"1"}}},"z":{"NS":["1e1","2"]}}"#
        );
    }

    #[test]
    fn digest_is_independent_of_order_and_spelling() {
        let items = [
            r#"{"id":{"S":"a"},"price":{"N":"2.50"}}"#,
            r#"{"id":{"S":"b"},"tags":{"SS":["x","y"]}}"#,
            r#"{"id":{"S":"c"}}"#,
        ];
        let respelled = [
            r#"{"id":{"S":"c"}}"#,
            r#"{"tags":{"SS":["y","x"]},"id":{"S":"b"}}"#,
            r#"{"price":{"N":"25e-1"},"id":{"S":"a"}}"#,
        ];
        let digest = |lines: &[&str]| {
            let mut d = TableDigest::default();
            for l in lines {
                d.add_item(&parse_item(l.as_bytes()).unwrap()).unwrap();
            }
            d
        };
        assert_eq!(digest(&items), digest(&respelled));
        assert_ne!(digest(&items), digest(&items[..2]));
        assert_eq!(TableDigest::default().to_hex(), "0".repeat(64));
    }

    #[test]
    fn digest_addition_carries_across_limbs() {
        let mut d = TableDigest::default();
        d.add_hash(&[0xff; 32]);
        d.add_hash(&{
            let mut one = [0u8; 32];
            one[31] = 1;
            one
        });
        assert_eq!(d.to_hex(), "0".repeat(64), "2^256 - 1 + 1 wraps to zero");
    }

    #[test]
    fn merge_equals_adding_everything_to_one_digest() {
        let a = parse_item(br#"{"id":{"S":"a"}}"#).unwrap();
        let b = parse_item(br#"{"id":{"S":"b"}}"#).unwrap();
        let mut whole = TableDigest::default();
        whole.add_item(&a).unwrap();
        whole.add_item(&b).unwrap();
        let mut left = TableDigest::default();
        left.add_item(&a).unwrap();
        let mut right = TableDigest::default();
        right.add_item(&b).unwrap();
        left.merge(&right);
        assert_eq!(left, whole);
    }
}

/// The test vectors of `docs/format.md` §6; a second implementation checks itself
/// against the same values.
#[cfg(test)]
mod format_doc_vectors {
    use super::*;
    use crate::archive::item::parse_item;

    pub(super) const ITEM_1: &str = r#"{"price":{"N":"2.50"},"id":{"S":"c-1"}}"#;
    pub(super) const ITEM_2: &str = r#"{"z":{"NS":["10","2.0","-0.5"]},"a":{"SS":["b","a"]},"b":{"B":"AAEC"},"bs":{"BS":["AQ==","AA=="]},"t":{"BOOL":false},"n":{"NULL":true},"l":{"L":[{"N":"100"},{"S":"é\n\"q\""}]},"m":{"M":{"y":{"N":"0.0"},"x":{"S":"1"}}}}"#;

    #[test]
    fn canonical_encodings_hashes_and_digest_match_the_format_doc() {
        let expected = [
            (
                ITEM_1,
                r#"{"id":{"S":"c-1"},"price":{"N":"25e-1"}}"#,
                "b1720d4fab7601167cf5514b610dc2f6d53e1192aa5e8725fb688469f67a7343",
            ),
            (
                ITEM_2,
                "{\"a\":{\"SS\":[\"a\",\"b\"]},\"b\":{\"B\":\"AAEC\"},\"bs\":{\"BS\":[\"AA==\",\"AQ==\"]},\"l\":{\"L\":[{\"N\":\"1e2\"},{\"S\":\"é\\n\\\"q\\\"\"}]},\"m\":{\"M\":{\"x\":{\"S\":\"1\"},\"y\":{\"N\":\"0\"}}},\"n\":{\"NULL\":true},\"t\":{\"BOOL\":false},\"z\":{\"NS\":[\"-5e-1\",\"1e1\",\"2\"]}}",
                "72190b457787ace4d752ea2dd15150f1fdd09b8b82dc8188ef0859a14723a480",
            ),
        ];
        let mut digest = TableDigest::default();
        for (line, canonical, hash) in expected {
            let item = parse_item(line.as_bytes()).unwrap();
            assert_eq!(
                String::from_utf8(canonical_item(&item).unwrap()).unwrap(),
                canonical
            );
            assert_eq!(hex::encode(item_hash(&item).unwrap()), hash);
            digest.add_item(&item).unwrap();
        }
        assert_eq!(
            digest.to_hex(),
            "238b189522fdadfb54483b79325f13e8d30ead1e2d3b08aeea70de0b3d9e17c3"
        );
    }
}
