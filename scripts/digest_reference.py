#!/usr/bin/env python3
"""Independent reference implementation of the rtsnap table content digest.

Written from docs/format.md §6 alone (canonical number, canonical item encoding, item
hash, table digest), without looking at rtsnap's Rust source, so that the two can check
each other (tests/reference_digest.rs). Python 3.11 standard library only.

Usage:
    python3 scripts/digest_reference.py DIR        # snapshot directory (docs/format.md §2)
    python3 scripts/digest_reference.py --self-test

For a snapshot directory it prints one JSON object on stdout, models sorted:
    {"<Model>": {"items": N, "digest": "<64 hex>"}, ...}
Any invalid item, line or file makes it exit 1 with a message on stderr naming the place.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
from pathlib import Path

MOD = 1 << 256
EMPTY_DIGEST = "0" * 64


class InvalidItem(ValueError):
    """An item (or a value inside it) that §4.2 / §6 do not accept."""


# ---------------------------------------------------------------------------------------
# §6.1 Canonical number: pure string manipulation, no floats (38-digit numbers).

# ASCII digits only ([0-9], not \d, which matches every Unicode digit). The mantissa may
# be `digits`, `digits.`, `.digits` or `digits.digits`; at least one digit is checked
# below. The exponent has 1 to 9 digits.
_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?")


def canonical_number(text: str) -> str:
    if not isinstance(text, str):
        raise InvalidItem(f"number is not a string: {text!r}")
    m = _NUMBER.fullmatch(text)
    if m is None:
        raise InvalidItem(f"not a number: {text!r}")
    sign, int_part, frac_part, exp_sign, exp_digits = m.groups()
    frac_part = frac_part or ""
    if not int_part and not frac_part:
        raise InvalidItem(f"not a number (no digit in the mantissa): {text!r}")
    exponent = 0
    if exp_digits is not None:
        if len(exp_digits) > 9:
            raise InvalidItem(f"not a number (exponent of more than 9 digits): {text!r}")
        exponent = int(exp_digits, 10)
        if exp_sign == "-":
            exponent = -exponent
    # value = digits × 10^(exponent - len(frac_part))
    digits = int_part + frac_part
    exponent -= len(frac_part)
    digits = digits.lstrip("0")
    if not digits:
        return "0"
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    out = ("-" if sign == "-" else "") + stripped
    if exponent != 0:
        out += "e" + str(exponent)
    return out


# ---------------------------------------------------------------------------------------
# §6.2 Canonical item.

_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def json_string(s: str) -> str:
    """A JSON string exactly as §6.2 spells it (not json.dumps)."""
    out = ['"']
    for ch in s:
        esc = _SHORT_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20:
            out.append("\\u%04x" % ord(ch))
        else:
            # Everything else raw: `/`, DEL (U+007F), all non-ASCII. Lone surrogates
            # cannot be UTF-8; utf8() below rejects them.
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf8(s: str) -> bytes:
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidItem(f"string is not valid Unicode (lone surrogate?): {s!r}") from e


def _decode_b64(text: object) -> bytes:
    if not isinstance(text, str):
        raise InvalidItem(f"binary is not a string: {text!r}")
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise InvalidItem(f"binary is not standard padded base64: {text!r}") from e
    # Standard base64 *with padding* and no stray trailing bits: the text must be the
    # exact encoding of its bytes.
    if base64.b64encode(raw).decode("ascii") != text:
        raise InvalidItem(f"binary is not canonical standard base64: {text!r}")
    return raw


def _expect(value: object, kind: type, tag: str) -> None:
    # bool is a subclass of int in Python; no tag takes int, so a plain isinstance is fine
    # for str/list/dict/bool here.
    if not isinstance(value, kind):
        raise InvalidItem(f"{tag} value has the wrong JSON type: {value!r}")


def canonical_value(value: object) -> str:
    if not isinstance(value, dict) or len(value) != 1:
        raise InvalidItem(f"a value must be an object with exactly one type key: {value!r}")
    ((tag, inner),) = value.items()
    if tag == "S":
        _expect(inner, str, tag)
        utf8(inner)
        body = json_string(inner)
    elif tag == "N":
        _expect(inner, str, tag)
        body = json_string(canonical_number(inner))
    elif tag == "B":
        body = json_string(base64.b64encode(_decode_b64(inner)).decode("ascii"))
    elif tag == "BOOL":
        _expect(inner, bool, tag)
        body = "true" if inner else "false"
    elif tag == "NULL":
        if inner is not True:
            raise InvalidItem(f"NULL must be true: {inner!r}")
        body = "true"
    elif tag == "M":
        _expect(inner, dict, tag)
        body = canonical_map(inner)
    elif tag == "L":
        _expect(inner, list, tag)
        body = "[" + ",".join(canonical_value(v) for v in inner) + "]"
    elif tag == "SS":
        _expect(inner, list, tag)
        for s in inner:
            _expect(s, str, tag)
        members = sorted(inner, key=utf8)
        body = "[" + ",".join(json_string(s) for s in members) + "]"
    elif tag == "NS":
        _expect(inner, list, tag)
        for s in inner:
            _expect(s, str, tag)
        members = sorted((canonical_number(s) for s in inner), key=utf8)
        body = "[" + ",".join(json_string(s) for s in members) + "]"
    elif tag == "BS":
        _expect(inner, list, tag)
        raws = sorted(_decode_b64(s) for s in inner)  # bytes compare lexicographically
        body = "[" + ",".join(json_string(base64.b64encode(r).decode("ascii")) for r in raws) + "]"
    else:
        raise InvalidItem(f"unknown type tag {tag!r}")
    return "{" + json_string(tag) + ":" + body + "}"


def canonical_map(mapping: dict) -> str:
    # UTF-8 byte order (the same as code-point order for valid strings, but not as UTF-16
    # order); sorting by the encoded bytes states the rule literally.
    keys = sorted(mapping.keys(), key=utf8)
    return "{" + ",".join(json_string(k) + ":" + canonical_value(mapping[k]) for k in keys) + "}"


def canonical_item(item: object) -> bytes:
    if not isinstance(item, dict):
        raise InvalidItem("an item must be a JSON object")
    return canonical_map(item).encode("utf-8")


def item_hash(item: object) -> bytes:
    return hashlib.sha256(canonical_item(item)).digest()


# ---------------------------------------------------------------------------------------
# Parsing one stored line (DynamoDB JSON, §4.2).


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise InvalidItem(f"duplicate key {k!r}")
        out[k] = v
    return out


def _no_constant(name: str) -> object:
    raise InvalidItem(f"{name} is not JSON")


def parse_item(line: str) -> object:
    try:
        return json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InvalidItem(f"not JSON: {e}") from e


# ---------------------------------------------------------------------------------------
# §6.3 Table digest.


class TableDigest:
    def __init__(self) -> None:
        self.total = 0
        self.items = 0

    def add_item(self, item: object) -> None:
        self.total = (self.total + int.from_bytes(item_hash(item), "big")) % MOD
        self.items += 1

    def hexdigest(self) -> str:
        return self.total.to_bytes(32, "big").hex()


def digest_items(items: list[object]) -> str:
    d = TableDigest()
    for item in items:
        d.add_item(item)
    return d.hexdigest()


# ---------------------------------------------------------------------------------------
# Snapshot directory (§2).

_CHUNK = re.compile(r"items-([0-9]{6,})\.jsonl")
_MODEL = re.compile(r"[A-Za-z0-9_]+")


def digest_directory(root: Path) -> dict[str, dict[str, object]]:
    tables = root / "tables"
    result: dict[str, dict[str, object]] = {}
    if not tables.is_dir():
        return result
    for model_dir in sorted(tables.iterdir(), key=lambda p: p.name.encode("utf-8")):
        if not model_dir.is_dir():
            raise SystemExit(f"digest_reference: {model_dir}: not a table directory")
        model = model_dir.name
        if not _MODEL.fullmatch(model):
            raise SystemExit(f"digest_reference: {model_dir}: not a model name")
        chunks = []
        for f in model_dir.iterdir():
            m = _CHUNK.fullmatch(f.name)
            if m:
                chunks.append((int(m.group(1)), f))
        chunks.sort()
        if not chunks:
            raise SystemExit(f"digest_reference: {model_dir}: no items chunk")
        if [n for n, _ in chunks] != list(range(1, len(chunks) + 1)):
            raise SystemExit(f"digest_reference: {model_dir}: chunk numbers have gaps")
        d = TableDigest()
        for _, path in chunks:
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as e:
                raise SystemExit(f"digest_reference: {path}: not UTF-8: {e}")
            if not text:
                continue
            if not text.endswith("\n"):
                raise SystemExit(f"digest_reference: {path}: last line has no LF")
            for lineno, line in enumerate(text[:-1].split("\n"), start=1):
                if not line:
                    raise SystemExit(f"digest_reference: {path}:{lineno}: blank line")
                try:
                    d.add_item(parse_item(line))
                except InvalidItem as e:
                    raise SystemExit(f"digest_reference: {path}:{lineno}: invalid item: {e}")
        result[model] = {"items": d.items, "digest": d.hexdigest()}
    return result


# ---------------------------------------------------------------------------------------
# Self-test: the vectors of §6.4 and the table of §6.1, plus escaping rules of §6.2.

NUMBER_TABLE = [
    ("2.50", "25e-1"),
    ("2.5", "25e-1"),
    ("25e-1", "25e-1"),
    ("0.25E1", "25e-1"),
    ("+2.5", "25e-1"),
    ("100", "1e2"),
    ("12", "12"),
    ("-0.0", "0"),
    ("000.000", "0"),
    ("0.001", "1e-3"),
    ("-17.0", "-17"),
    (".5", "5e-1"),
    ("5.", "5"),
    ("12345678901234567890123456789012345678", "12345678901234567890123456789012345678"),
]

NOT_NUMBERS = ["", "NaN", "nan", "Infinity", "0x10", " 1", "1 ", "1e", "e5", ".", "+", "-",
               "1e+", "1.2.3", "1e1234567890", "١٢", "1_000"]

ITEM1 = '{"price":{"N":"2.50"},"id":{"S":"c-1"}}'
ITEM1_CANON = '{"id":{"S":"c-1"},"price":{"N":"25e-1"}}'
ITEM1_HASH = "b1720d4fab7601167cf5514b610dc2f6d53e1192aa5e8725fb688469f67a7343"
ITEM2 = (
    '{"z":{"NS":["10","2.0","-0.5"]},"a":{"SS":["b","a"]},"b":{"B":"AAEC"},'
    '"bs":{"BS":["AQ==","AA=="]},"t":{"BOOL":false},"n":{"NULL":true},'
    '"l":{"L":[{"N":"100"},{"S":"\u00e9\\n\\"q\\""}]},"m":{"M":{"y":{"N":"0.0"},"x":{"S":"1"}}}}'
)
ITEM2_CANON = (
    '{"a":{"SS":["a","b"]},"b":{"B":"AAEC"},"bs":{"BS":["AA==","AQ=="]},'
    '"l":{"L":[{"N":"1e2"},{"S":"\u00e9\\n\\"q\\""}]},"m":{"M":{"x":{"S":"1"},"y":{"N":"0"}}},'
    '"n":{"NULL":true},"t":{"BOOL":false},"z":{"NS":["-5e-1","1e1","2"]}}'
)
ITEM2_HASH = "72190b457787ace4d752ea2dd15150f1fdd09b8b82dc8188ef0859a14723a480"
DIGEST_1_2 = "238b189522fdadfb54483b79325f13e8d30ead1e2d3b08aeea70de0b3d9e17c3"


def self_test() -> int:
    failures: list[str] = []

    def check(what: str, got: object, want: object) -> None:
        if got != want:
            failures.append(f"{what}: got {got!r}, want {want!r}")

    for text, want in NUMBER_TABLE:
        check(f"canonical_number({text!r})", canonical_number(text), want)
    for text in NOT_NUMBERS:
        try:
            got = canonical_number(text)
        except InvalidItem:
            continue
        failures.append(f"canonical_number({text!r}) accepted a non-number: {got!r}")

    # §6.4 item 2: the S inside L holds é, a newline and two double quotes.
    check("item 2 L string", json.loads(ITEM2)["l"]["L"][1]["S"], 'é\n"q"')
    check("item 2 é is c3 a9", "é".encode("utf-8"), b"\xc3\xa9")

    for name, src, canon, digest in [
        ("item 1", ITEM1, ITEM1_CANON, ITEM1_HASH),
        ("item 2", ITEM2, ITEM2_CANON, ITEM2_HASH),
    ]:
        item = parse_item(src)
        check(f"{name} canonical", canonical_item(item), canon.encode("utf-8"))
        check(f"{name} hash", item_hash(item).hex(), digest)
        check(f"{name} hash of canonical", hashlib.sha256(canon.encode("utf-8")).hexdigest(), digest)

    items = [parse_item(ITEM1), parse_item(ITEM2)]
    check("digest(1, 2)", digest_items(items), DIGEST_1_2)
    check("digest(2, 1)", digest_items(items[::-1]), DIGEST_1_2)
    check("digest of the empty table", digest_items([]), EMPTY_DIGEST)
    check("digest(1, 1, 2) differs", digest_items(items + items[:1]) != DIGEST_1_2, True)

    # §6.2 escaping, rule by rule.
    check("escape quote/backslash", json_string('a"b\\c'), '"a\\"b\\\\c"')
    check("escape short forms", json_string("\b\f\n\r\t"), '"\\b\\f\\n\\r\\t"')
    check("escape other controls", json_string("\x00\x01\x1f\x0b"), '"\\u0000\\u0001\\u001f\\u000b"')
    check("raw slash, DEL, non-ASCII", json_string("/\x7f\u00e9\u2028\U0001f600"), '"/\x7f\u00e9\u2028\U0001f600"')
    # Keys sort by UTF-8 bytes: U+FF5E (ef bd 9e) before U+1F600 (f0 9f 98 80), the
    # opposite of UTF-16 code-unit order (ff5e vs d83d).
    check(
        "key order by UTF-8 bytes",
        canonical_item({"\U0001f600": {"S": ""}, "\uff5e": {"S": ""}, "a": {"S": ""}}),
        '{"a":{"S":""},"\uff5e":{"S":""},"\U0001f600":{"S":""}}'.encode("utf-8"),
    )

    for f in failures:
        print("self-test FAILED: " + f, file=sys.stderr)
    if failures:
        return 1
    print(f"self-test ok: {len(NUMBER_TABLE)} numbers, {len(NOT_NUMBERS)} non-numbers, "
          "2 items, 2 digests")
    return 0


def main(argv: list[str]) -> int:
    if argv == ["--self-test"]:
        return self_test()
    if len(argv) != 1 or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[0])
    if not root.is_dir():
        print(f"digest_reference: {root}: not a directory", file=sys.stderr)
        return 2
    print(json.dumps(digest_directory(root), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
