//! Differential tests of the item hashers: random items, written in random but valid
//! spellings (names in any order, numbers spelled many ways, every kind of escape, white
//! space, unsorted sets), and random corruptions of them. The line hasher (the one-pass
//! scanner with the parser behind it) must agree with the `Item` path of
//! `canonical::item_hash` on every line: the same hash, or both refusing it.

use super::canonical::item_hash;
use super::canonical_scan::{CanonicalScanner, Scan};
use super::item::parse_item;
use super::line_hash::LineHasher;

/// xorshift64*: deterministic, so a failure names a reproducible seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Writes random items as JSON text, choosing among equivalent spellings.
struct Writer<'r> {
    rng: &'r mut Rng,
    /// Whether this line may use spellings that are valid but not canonical in shape.
    loose: bool,
}

const CHARS: &[&str] = &[
    "a", "b", "z", "A", "0", "9", " ", "-", "_", ".", "/", "é", "ß", "🙂", "\u{7f}", "\"", "\\",
    "\n", "\t", "\r", "\u{8}", "\u{c}", "\u{1}", "\u{1f}", "~",
];
const SIGNS: [&str; 4] = ["", "", "-", "+"];
const LEADING_ZEROS: [&str; 4] = ["", "", "0", "00"];
const EXPONENT_MARKS: [&str; 2] = ["e", "E"];
const EXPONENT_SIGNS: [&str; 3] = ["", "-", "+"];
const NAMES: &[&str] = &[
    "id", "a", "b", "aa", "ab", "B", "Z", "_x", "é", "n1", "n10", "n2",
];

impl Writer<'_> {
    fn item(&mut self, out: &mut String, depth: usize) {
        let count = self.rng.below(if depth == 0 { 6 } else { 4 }) + usize::from(depth == 0);
        let mut names: Vec<&str> = Vec::new();
        while names.len() < count {
            let name = *self.rng.pick(NAMES);
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.sort_unstable();
        if self.loose && self.rng.chance(4) {
            names.reverse();
        }
        out.push('{');
        for (i, name) in names.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            self.string(out, name);
            self.space(out);
            out.push(':');
            self.value(out, depth);
        }
        out.push('}');
    }

    fn space(&mut self, out: &mut String) {
        if self.loose && self.rng.chance(20) {
            out.push(' ');
        }
    }

    fn value(&mut self, out: &mut String, depth: usize) {
        let kinds = if depth >= 3 { 8 } else { 10 };
        out.push('{');
        match self.rng.below(kinds) {
            0 | 1 => {
                out.push_str(r#""S":"#);
                let text = self.text();
                self.string(out, &text);
            }
            2 | 3 => {
                out.push_str(r#""N":""#);
                out.push_str(&self.number());
                out.push('"');
            }
            4 => out.push_str(&format!(r#""B":"{}""#, self.base64())),
            5 => out.push_str(if self.rng.chance(2) {
                r#""BOOL":true"#
            } else {
                r#""BOOL":false"#
            }),
            6 => {
                let kind = *self.rng.pick(&["SS", "NS", "BS", "NULL"]);
                self.set(out, kind);
            }
            7 => out.push_str(r#""NULL":true"#),
            8 => {
                out.push_str(r#""M":"#);
                self.item(out, depth + 1);
            }
            _ => {
                out.push_str(r#""L":["#);
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        out.push(',');
                    }
                    self.value(out, depth + 1);
                }
                out.push(']');
            }
        }
        out.push('}');
    }

    fn set(&mut self, out: &mut String, kind: &str) {
        if kind == "NULL" {
            out.push_str(r#""NULL":true"#);
            return;
        }
        out.push_str(&format!(r#""{kind}":["#));
        for i in 0..self.rng.below(4) + 1 {
            if i > 0 {
                out.push(',');
            }
            match kind {
                "SS" => {
                    let text = self.text();
                    self.string(out, &text);
                }
                "NS" => out.push_str(&format!("\"{}\"", self.number())),
                _ => out.push_str(&format!("\"{}\"", self.base64())),
            }
        }
        out.push(']');
    }

    fn text(&mut self) -> String {
        (0..self.rng.below(12))
            .map(|_| *self.rng.pick(CHARS))
            .collect()
    }

    fn base64(&mut self) -> String {
        use base64::Engine as _;
        let bytes: Vec<u8> = (0..self.rng.below(7))
            .map(|_| self.rng.next() as u8)
            .collect();
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    /// A number in one of its many spellings: sign, leading and trailing zeros, a
    /// point anywhere, an exponent in either case with or without a sign.
    fn number(&mut self) -> String {
        let digits: String = (0..self.rng.below(6) + 1)
            .map(|_| char::from(b'0' + self.rng.below(10) as u8))
            .collect();
        let mut text = String::new();
        text.push_str(self.rng.pick::<&str>(&SIGNS));
        text.push_str(self.rng.pick::<&str>(&LEADING_ZEROS));
        let point = self.rng.below(digits.len() + 2);
        for (i, c) in digits.chars().enumerate() {
            if i == point {
                text.push('.');
            }
            text.push(c);
        }
        if point == digits.len() {
            text.push('.');
        }
        if self.rng.chance(3) {
            text.push_str(self.rng.pick::<&str>(&EXPONENT_MARKS));
            text.push_str(self.rng.pick::<&str>(&EXPONENT_SIGNS));
            text.push_str(&self.rng.below(40).to_string());
        }
        text
    }

    /// A JSON string, each character in a valid spelling (canonical or not).
    fn string(&mut self, out: &mut String, text: &str) {
        out.push('"');
        for c in text.chars() {
            let short = match c {
                '"' => Some("\\\""),
                '\\' => Some("\\\\"),
                '\n' => Some("\\n"),
                '\t' => Some("\\t"),
                '\r' => Some("\\r"),
                '\u{8}' => Some("\\b"),
                '\u{c}' => Some("\\f"),
                _ => None,
            };
            let must_escape = short.is_some() || (c as u32) < 0x20;
            if self.loose && (must_escape || c == '/' || !c.is_ascii()) && self.rng.chance(3) {
                if c == '/' && self.rng.chance(2) {
                    out.push_str("\\/");
                } else {
                    let mut units = [0u16; 2];
                    for unit in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{:04X}", unit));
                    }
                }
            } else if let Some(short) = short {
                out.push_str(short);
            } else if must_escape {
                out.push_str(&format!("\\u{:04x}", c as u32));
            } else {
                out.push(c);
            }
        }
        out.push('"');
    }
}

fn general(line: &[u8]) -> Result<[u8; 32], String> {
    parse_item(line)
        .map_err(|e| e.to_string())
        .and_then(|item| item_hash(&item).map_err(|e| e.to_string()))
}

fn random_line(rng: &mut Rng) -> String {
    let loose = rng.chance(3);
    let mut line = String::new();
    Writer { rng, loose }.item(&mut line, 0);
    line
}

#[test]
fn the_line_hasher_equals_the_item_path_on_random_items() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut hasher = LineHasher::default();
    let mut scanner = CanonicalScanner::default();
    let mut decided = 0;
    for n in 0..20_000 {
        let line = random_line(&mut rng);
        let want = general(line.as_bytes());
        let got = hasher.hash(line.as_bytes()).map_err(|e| e.to_string());
        // Every spelling the writer uses is valid DynamoDB JSON.
        match (&want, &got) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "line {n}: {line}"),
            _ => panic!("line {n}: general {want:?}, line hasher {got:?}: {line}"),
        }
        decided += usize::from(scanner.scan(line.as_bytes()) != Scan::Unsure);
    }
    // The test must exercise both paths: most lines through the scanner, some not.
    eprintln!("{decided} of 20000 lines decided by the scanner");
    assert!(
        decided > 8_000,
        "only {decided} lines went through the scanner"
    );
    assert!(decided < 19_000, "{decided} lines went through the scanner");
}

#[test]
fn the_line_hasher_equals_the_item_path_on_corrupted_items() {
    const NOISE: &[u8] = b"{}[]:,\"\\ 0e.-+SNBLMtrufals\n\x01\xff";
    let mut rng = Rng(0x0bad_cafe_0000_0002);
    let mut hasher = LineHasher::default();
    let mut refused = 0;
    for n in 0..20_000 {
        let mut line = random_line(&mut rng).into_bytes();
        for _ in 0..rng.below(3) + 1 {
            let at = rng.below(line.len());
            match rng.below(3) {
                0 => {
                    line.remove(at);
                }
                1 => line.insert(at, *rng.pick(NOISE)),
                _ => line[at] = *rng.pick(NOISE),
            }
        }
        let want = general(&line);
        let got = hasher.hash(&line).map_err(|e| e.to_string());
        match (&want, &got) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "line {n}: {}", String::from_utf8_lossy(&line)),
            (Err(_), Err(_)) => refused += 1,
            _ => panic!(
                "line {n}: general {want:?}, line hasher {got:?}: {}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    eprintln!("{refused} of 20000 corrupted lines refused");
    assert!(
        refused > 10_000,
        "only {refused} corrupted lines were refused"
    );
}
