//! The canonical encoding of an item line in one pass over its bytes, for lines that are
//! already in canonical *shape*.
//!
//! Why: packing, verifying and importing compute the SHA-256 of every item's canonical
//! encoding (docs/format.md §6). Lines written by rtsnap itself, and by most tools, are
//! compact JSON with attribute names in byte order, so their canonical encoding is the
//! line itself except for the spelling of some numbers (`"40"` is `"4e1"`) and the order
//! of some set members. Parsing such a line into a tree only to write the same bytes
//! again made the digest the slowest stage of packing (docs/performance.md).
//!
//! This scanner walks the line once, checks that its structure is canonical, and splices
//! in the canonical spelling where a number or a set differs. Whenever it meets anything
//! it does not handle (white space, a name out of order or repeated, an escape other than
//! the canonical ones, a binary set, invalid UTF-8, anything malformed) it answers
//! [`Scan::Unsure`] and the caller uses the general parser, which also produces the
//! precise error for a malformed line. So the scanner never decides that a line is bad,
//! and where it decides a line is good its bytes equal the general path's (tested on every
//! fixture item in `line_hash.rs`, on random items, respelled and corrupted, in
//! `random_items.rs`, and at every nesting depth below).

use base64::Engine as _;

use super::canonical::push_canonical_number;

/// Deeper nesting than this goes to the general parser, which then decides. It must
/// stay well inside serde_json's recursion limit (128 JSON containers), or the scanner
/// would accept an item that the parser (and so import) refuses: each level counted
/// here is two containers there (the value object and its `M` or `L`). DynamoDB
/// itself allows 32 levels.
const MAX_DEPTH: usize = 32;

/// The type tags the scanner handles. `BS` (rare) and anything unknown are left to
/// the general parser.
#[derive(Clone, Copy)]
enum Tag {
    S,
    N,
    M,
    L,
    Bool,
    Null,
    Ss,
    Ns,
    B,
}

/// The tag at the start of an attribute value, `{"<TAG>":`, and that prefix's length.
#[inline]
fn tag_at(rest: &[u8]) -> Option<(Tag, usize)> {
    let head = rest.get(..4)?;
    if head[0] != b'{' || head[1] != b'"' {
        return None;
    }
    let (tag, name_len) = match (head[2], head[3]) {
        (b'S', b'"') => (Tag::S, 1),
        (b'N', b'"') => (Tag::N, 1),
        (b'M', b'"') => (Tag::M, 1),
        (b'L', b'"') => (Tag::L, 1),
        (b'B', b'"') => (Tag::B, 1),
        (b'S', b'S') => (Tag::Ss, 2),
        (b'N', b'S') => (Tag::Ns, 2),
        (b'B', b'O') if rest.get(4..6) == Some(b"OL") => (Tag::Bool, 4),
        (b'N', b'U') if rest.get(4..6) == Some(b"LL") => (Tag::Null, 4),
        _ => return None,
    };
    let end = 2 + name_len;
    (rest.get(end..end + 2) == Some(b"\":")).then_some((tag, end + 2))
}

/// What [`CanonicalScanner::scan`] found out about a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The line is its own canonical encoding.
    Canonical,
    /// The canonical encoding differs from the line; [`CanonicalScanner::rewritten`] holds it.
    Rewritten,
    /// Not decided here: use the general parser.
    Unsure,
}

/// Scratch buffers reused from line to line, so that scanning allocates nothing.
#[derive(Default)]
pub(crate) struct CanonicalScanner {
    out: Vec<u8>,
    scratch: Vec<u8>,
    members: Vec<(usize, usize)>,
    binary: Vec<u8>,
}

impl CanonicalScanner {
    /// Scans one line (without its newline).
    pub(crate) fn scan(&mut self, line: &[u8]) -> Scan {
        self.out.clear();
        // One branch-free pass over the line: raw control characters are never valid in
        // a compact line (so strings need only look for their quote and escapes), and a
        // line without bytes above 0x7f is ASCII, hence valid UTF-8.
        let lowest = line.iter().fold(u8::MAX, |m, &b| m.min(b));
        let highest = line.iter().fold(0, |m, &b| m.max(b));
        if lowest < 0x20 || (highest > 0x7f && std::str::from_utf8(line).is_err()) {
            return Scan::Unsure;
        }
        let mut cursor = Cursor {
            line,
            pos: 0,
            copied: 0,
            rewritten: false,
            buffers: self,
        };
        if cursor.map(0).is_none() || cursor.pos != line.len() {
            return Scan::Unsure;
        }
        if cursor.rewritten {
            let copied = cursor.copied;
            self.out.extend_from_slice(&line[copied..]);
            Scan::Rewritten
        } else {
            Scan::Canonical
        }
    }

    /// The canonical encoding after [`Scan::Rewritten`].
    pub(crate) fn rewritten(&self) -> &[u8] {
        &self.out
    }
}

/// One scan: a position in the line, and how much of the line is already copied into
/// the output (the output is only written once something needs rewriting).
struct Cursor<'a, 'b> {
    line: &'a [u8],
    pos: usize,
    copied: usize,
    rewritten: bool,
    buffers: &'b mut CanonicalScanner,
}

/// `None` means "not decided here" throughout.
type Step<T = ()> = Option<T>;

impl Cursor<'_, '_> {
    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.line.get(self.pos) == Some(&byte);
        self.pos += usize::from(hit);
        hit
    }

    fn expect(&mut self, byte: u8) -> Step {
        self.eat(byte).then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        let hit = self.line[self.pos..].starts_with(word);
        if hit {
            self.pos += word.len();
        }
        hit
    }

    /// An object of attribute values (an item or an `M`), names strictly increasing.
    fn map(&mut self, depth: usize) -> Step {
        if self.enter(depth, b'{', b'}')? {
            return Some(());
        }
        let mut previous: Option<(usize, usize)> = None;
        loop {
            let name = self.plain_string()?;
            if let Some((start, end)) = previous {
                // Out of order goes to the general path, which sorts; equal is a
                // repeated name, which the general path refuses.
                if !precedes(&self.line[start..end], &self.line[name.0..name.1]) {
                    return None;
                }
            }
            previous = Some(name);
            self.attribute_value(depth + 1)?;
            if self.eat(b'}') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// Enters a map or list: checks the nesting depth and the opening byte, and says
    /// whether the container is empty (its closing byte follows at once).
    fn enter(&mut self, depth: usize, open: u8, close: u8) -> Step<bool> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(open)?;
        Some(self.eat(close))
    }

    /// The `:` after a name and the attribute's value. `S` and `N` values, most of any
    /// item, are recognised by their whole prefix `:{"S":"` at once.
    fn attribute_value(&mut self, depth: usize) -> Step {
        let tag = match self.line.get(self.pos..self.pos + 7) {
            Some(br#":{"S":""#) => Tag::S,
            Some(br#":{"N":""#) => Tag::N,
            _ => {
                self.expect(b':')?;
                return self.value(depth);
            }
        };
        self.pos += 6;
        self.tagged(tag, depth)
    }

    /// One attribute value: an object with exactly one type tag.
    fn value(&mut self, depth: usize) -> Step {
        let (tag, len) = tag_at(&self.line[self.pos..])?;
        self.pos += len;
        self.tagged(tag, depth)
    }

    /// The rest of a value object after its `{"<TAG>":`, closing `}` included.
    fn tagged(&mut self, tag: Tag, depth: usize) -> Step {
        match tag {
            Tag::S => self.string()?,
            Tag::N => {
                let (start, end) = self.plain_string()?;
                self.number(start, end)?;
            }
            Tag::B => {
                let (start, end) = self.plain_string()?;
                self.binary(start, end)?;
            }
            Tag::Bool => {
                if !self.literal(b"true") && !self.literal(b"false") {
                    return None;
                }
            }
            Tag::Null => self.literal(b"true").then_some(())?,
            Tag::M => self.map(depth)?,
            Tag::L => self.list(depth)?,
            Tag::Ss => self.set(false)?,
            Tag::Ns => self.set(true)?,
        }
        self.expect(b'}')
    }

    fn list(&mut self, depth: usize) -> Step {
        if self.enter(depth, b'[', b']')? {
            return Some(());
        }
        loop {
            self.value(depth + 1)?;
            if self.eat(b']') {
                return Some(());
            }
            self.expect(b',')?;
        }
    }

    /// A number: replaced by its canonical spelling where that differs.
    fn number(&mut self, start: usize, end: usize) -> Step {
        let line = self.line;
        if is_canonical_integer(&line[start..end]) {
            return Some(());
        }
        let buffers = &mut *self.buffers;
        buffers.scratch.clear();
        if !push_canonical_number(&line[start..end], &mut buffers.scratch) {
            return None;
        }
        if !same_bytes(&buffers.scratch, &line[start..end]) {
            buffers.out.extend_from_slice(&line[self.copied..start]);
            buffers.out.extend_from_slice(&buffers.scratch);
            self.copied = end;
            self.rewritten = true;
        }
        Some(())
    }

    /// A binary value: canonical base64 is the only base64 that decodes (padding and
    /// trailing bits are checked), so a valid value is already canonical.
    fn binary(&mut self, start: usize, end: usize) -> Step {
        let binary = &mut self.buffers.binary;
        binary.clear();
        base64::engine::general_purpose::STANDARD
            .decode_vec(&self.line[start..end], binary)
            .ok()
    }

    /// A string set (`SS`) or number set (`NS`): members in byte order of their
    /// canonical form, rewritten (sorted, respelled) where the line differs.
    fn set(&mut self, numbers: bool) -> Step {
        let line = self.line;
        let array_start = self.pos;
        self.expect(b'[')?;
        self.buffers.scratch.clear();
        self.buffers.members.clear();
        let mut canonical = true;
        if !self.eat(b']') {
            loop {
                let (start, end) = self.plain_string()?;
                let raw = &line[start..end];
                let buffers = &mut *self.buffers;
                let from = buffers.scratch.len();
                if numbers {
                    if !push_canonical_number(raw, &mut buffers.scratch) {
                        return None;
                    }
                    canonical &= buffers.scratch[from..] == *raw;
                } else {
                    buffers.scratch.extend_from_slice(raw);
                }
                buffers.members.push((from, buffers.scratch.len()));
                if self.eat(b']') {
                    break;
                }
                self.expect(b',')?;
            }
        }
        let buffers = &mut *self.buffers;
        let scratch = &buffers.scratch;
        let member = |&(a, b): &(usize, usize)| &scratch[a..b];
        let sorted = buffers
            .members
            .windows(2)
            .all(|w| member(&w[0]) <= member(&w[1]));
        if canonical && sorted {
            return Some(());
        }
        buffers.members.sort_by(|a, b| member(a).cmp(member(b)));
        buffers
            .out
            .extend_from_slice(&line[self.copied..array_start]);
        buffers.out.push(b'[');
        for (i, m) in buffers.members.iter().enumerate() {
            if i > 0 {
                buffers.out.push(b',');
            }
            buffers.out.push(b'"');
            buffers.out.extend_from_slice(member(m));
            buffers.out.push(b'"');
        }
        buffers.out.push(b']');
        self.copied = self.pos;
        self.rewritten = true;
        Some(())
    }

    /// A string without any escape (a name, a number, base64): returns the range of
    /// its contents. These are short, so a plain loop beats a call to `memchr`.
    fn plain_string(&mut self) -> Step<(usize, usize)> {
        self.expect(b'"')?;
        let start = self.pos;
        let length = self.line[start..]
            .iter()
            .position(|&b| b == b'"' || b == b'\\')?;
        let end = start + length;
        if self.line[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        Some((start, end))
    }

    /// A string value (`S`): escapes are fine where they are the canonical ones.
    fn string(&mut self) -> Step {
        self.expect(b'"')?;
        loop {
            let at = self.pos + find_quote_or_escape(&self.line[self.pos..])?;
            if self.line[at] == b'"' {
                self.pos = at + 1;
                return Some(());
            }
            self.pos = at + 1 + canonical_escape(&self.line[at + 1..])?;
        }
    }
}

/// Whether `text` is an integer already in canonical form (`0`, or an optional `-` and
/// digits with neither a leading nor a trailing zero), the commonest number: then no
/// normalising is needed.
#[inline]
fn is_canonical_integer(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    match (digits.first(), digits.last()) {
        (Some(b'0'), _) => text == b"0",
        (Some(b'1'..=b'9'), Some(b'1'..=b'9')) => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// Byte equality of two short slices, inline (numbers are a few bytes long).
#[inline]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether `a` sorts strictly before `b` by bytes. Attribute names are short and
/// usually differ early, so an inline loop beats a call to `memcmp`.
#[inline]
fn precedes(a: &[u8], b: &[u8]) -> bool {
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x < y;
        }
    }
    a.len() < b.len()
}

/// The length of the escape sequence after a `\` if it is the one the canonical
/// encoding writes (docs/format.md §6.2), else `None`.
fn canonical_escape(rest: &[u8]) -> Option<usize> {
    match rest.first()? {
        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => Some(1),
        b'u' => {
            // Only control characters without a short form, as \u00XX in lowercase.
            let hex = rest.get(1..5)?;
            let low = match hex[3] {
                d @ b'0'..=b'9' => d - b'0',
                d @ b'a'..=b'f' => d - b'a' + 10,
                _ => return None,
            };
            let value = match &hex[..3] {
                b"000" => low,
                b"001" => 16 + low,
                _ => return None,
            };
            (!matches!(value, 0x08 | 0x09 | 0x0a | 0x0c | 0x0d)).then_some(5)
        }
        _ => None,
    }
}

/// The index of the first `"` or `\` in `bytes` (memchr's SIMD search: measured a
/// little faster than an eight-bytes-at-a-time loop on the benchmark data).
#[inline]
fn find_quote_or_escape(bytes: &[u8]) -> Option<usize> {
    memchr::memchr2(b'"', b'\\', bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::canonical::normalize_number;

    fn scan(line: &str) -> (Scan, String) {
        let mut scanner = CanonicalScanner::default();
        let result = scanner.scan(line.as_bytes());
        (
            result,
            String::from_utf8(scanner.rewritten().to_vec()).unwrap(),
        )
    }

    #[test]
    fn a_canonical_line_is_its_own_encoding() {
        let line = r#"{"a":{"SS":["a","b"]},"b":{"B":"AAEC"},"l":{"L":[{"N":"1e2"},{"S":"é\n\"q\" \u001f"}]},"m":{"M":{"x":{"S":"1"},"y":{"N":"0"}}},"n":{"NULL":true},"t":{"BOOL":false}}"#;
        assert_eq!(scan(line).0, Scan::Canonical);
        assert_eq!(scan("{}").0, Scan::Canonical);
    }

    #[test]
    fn numbers_and_sets_are_respelled_in_place() {
        let (result, out) = scan(
            r#"{"a":{"N":"40"},"b":{"NS":["2.0","10","-0.5"]},"c":{"SS":["b","a"]},"d":{"L":[{"N":"2.50"}]}}"#,
        );
        assert_eq!(result, Scan::Rewritten);
        assert_eq!(
            out,
            r#"{"a":{"N":"4e1"},"b":{"NS":["-5e-1","1e1","2"]},"c":{"SS":["a","b"]},"d":{"L":[{"N":"25e-1"}]}}"#
        );
    }

    #[test]
    fn leaves_everything_else_to_the_general_parser() {
        for line in [
            r#"{"b":{"S":"x"},"a":{"S":"y"}}"#, // names out of order
            r#"{"a":{"S":"x"},"a":{"S":"y"}}"#, // a repeated name
            r#"{"a": {"S":"x"}}"#,              // white space
            r#"{"a":{"S":"a\/b"}}"#,            // an escape that is not canonical
            r#"{"a":{"S":"\u00e9"}}"#,          // ditto
            r#"{"a":{"S":"\u000a"}}"#,          // \n has a short form
            r#"{"a":{"S":"\u001F"}}"#,          // upper-case hex
            r#"{"a\n":{"S":"x"}}"#,             // an escape in a name
            r#"{"a":{"BS":["AA=="]}}"#,         // binary sets
            r#"{"a":{"N":"1.2.3"}}"#,           // not a number
            r#"{"a":{"B":"AB=="}}"#,            // not canonical base64
            r#"{"a":{"NULL":false}}"#,          // invalid
            r#"{"a":{"S":"x","N":"1"}}"#,       // two tags
            r#"{"a":{"X":"1"}}"#,               // unknown tag
            r#"{"a":{"S":"x"}} "#,              // trailing bytes
            "{\"a\":{\"S\":\"tab\there\"}}",    // a raw control character
            r#"["not","an","object"]"#,
            r#"{"a":{"S":"unterminated}}"#,
            "",
        ] {
            assert_eq!(scan(line).0, Scan::Unsure, "{line}");
        }
        assert_eq!(
            CanonicalScanner::default().scan(b"{\"a\":{\"S\":\"\xff\"}}"),
            Scan::Unsure
        );
    }

    /// An item with `levels` nested lists (`{"a":{"L":[{"L":[…]}]}}`) or maps
    /// (`{"a":{"M":{"a":{"M":…}}}}`) around one string.
    fn nested(levels: usize, map: bool) -> String {
        if map {
            let inner = r#"{"s":{"S":"x"}}"#;
            format!(
                "{}{inner}{}",
                r#"{"a":{"M":"#.repeat(levels),
                "}}".repeat(levels)
            )
        } else {
            let inner = r#"{"S":"x"}"#;
            format!(
                r#"{{"a":{}{inner}{}}}"#,
                r#"{"L":["#.repeat(levels),
                "]}".repeat(levels)
            )
        }
    }

    // Regression (review of the scanner): at 63 and 64 levels the scanner said
    // Canonical while the parser refused the line for its depth.
    #[test]
    fn deep_nesting_agrees_with_the_parser_at_every_depth() {
        use crate::archive::canonical::canonical_item;
        use crate::archive::item::parse_item;
        for levels in 1..=80 {
            for map in [false, true] {
                let line = nested(levels, map);
                let (result, rewritten) = scan(&line);
                let general = parse_item(line.as_bytes()).map(|i| canonical_item(&i).unwrap());
                match (result, general) {
                    (Scan::Unsure, _) => assert!(levels >= MAX_DEPTH - 1, "{levels} levels"),
                    (Scan::Canonical, Ok(bytes)) => assert_eq!(bytes, line.as_bytes()),
                    (Scan::Rewritten, Ok(bytes)) => assert_eq!(bytes, rewritten.as_bytes()),
                    (decided, Err(e)) => panic!("{levels} levels: scanner {decided:?}, parser {e}"),
                }
            }
        }
        assert_eq!(scan(&nested(20, false)).0, Scan::Canonical);
        assert_eq!(scan(&nested(40, true)).0, Scan::Unsure);
    }

    #[test]
    fn finds_the_first_quote_or_escape_at_every_offset() {
        for len in 0..40 {
            for at in 0..len {
                for special in [b'"', b'\\'] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = special;
                    // Bytes one off from the targets (and a later hit) must not count.
                    if at + 1 < len {
                        bytes[at + 1] = b'"';
                    }
                    if at > 0 {
                        bytes[at - 1] = [b'#', b'!', b']', 0xdc, 0xa2][at % 5];
                    }
                    assert_eq!(find_quote_or_escape(&bytes), Some(at), "len {len} at {at}");
                }
            }
            let plain: Vec<u8> = (0..len)
                .map(|i| [b' ', b'!', b'#', b'[', b']', 0x7f, 0xc3, 0x00][i % 8])
                .collect();
            assert_eq!(find_quote_or_escape(&plain), None, "len {len}");
        }
    }

    #[test]
    fn canonical_integers_are_recognised_exactly() {
        for text in ["0", "7", "-7", "12", "101", "-909"] {
            assert!(is_canonical_integer(text.as_bytes()), "{text}");
            assert_eq!(normalize_number(text).unwrap(), text);
        }
        for text in [
            "", "-", "-0", "00", "07", "10", "-10", "1.5", "1e2", "+1", "1 ", "٣",
        ] {
            assert!(!is_canonical_integer(text.as_bytes()), "{text}");
        }
    }

    #[test]
    fn names_compare_by_bytes() {
        assert!(precedes(b"a", b"b"));
        assert!(precedes(b"a", b"aa"));
        assert!(precedes(b"", b"a"));
        assert!(precedes(b"Z", b"a"));
        assert!(precedes(b"z", "é".as_bytes()));
        assert!(!precedes(b"a", b"a"));
        assert!(!precedes(b"aa", b"a"));
        assert!(!precedes(b"b", b"ab"));
    }
}
