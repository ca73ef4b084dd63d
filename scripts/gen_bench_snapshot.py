#!/usr/bin/env python3
"""Generate a large, deterministic rtsnap snapshot directory for packing benchmarks.

    python3 scripts/gen_bench_snapshot.py DIR --size-mb 1024 [--seed 1]

writes a valid snapshot directory (the layout of ``docs/format.md`` §2) holding about
``N`` MiB (N x 1,048,576 bytes) of DynamoDB-JSON items:

    DIR/rtsnap.json                         header, env "bench", sections ["tables"]
    DIR/tables/<Model>/schema.json          one per model (the shape of the demo fixture's)
    DIR/tables/<Model>/items-000001.jsonl   chunks of at most 16 MiB, numbered from 1
    DIR/tables/<Model>/items-000002.jsonl   ...

The items look like the demo environment's (fixtures/demo): uuids, names, e-mails,
phone numbers, addresses, money amounts, timestamps, free-text notes, nested maps and
lists, string/number sets and small binary (B) values, so zstd has real work to do.

Speed: building and serialising ~2 million dicts in Python would take minutes, so each
model first builds a pool of a few thousand distinct item *templates* (every one a
fully random item), then every written line picks a random template and fills in
fresh per-line values (its id, a second uuid, a sequence number and a timestamp).
The pool of each model (several MB) is larger than zstd -3's window, and the picks are
random, so the output is not a short repeating block.

Deterministic: standard library only, every random value comes from ``random.Random``
seeded from ``--seed`` and the model name; no wall-clock time. The same arguments give
byte-identical output.

DIR must not exist or be empty. All personal data is fake (example.com/.net e-mails,
555-01xx phone numbers, documentation IP ranges).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import sys
import time

MAX_CHUNK_BYTES = 16 * 1024 * 1024
MIB = 1024 * 1024
POOL_SIZE = 6000
SUFFIX = "bench0generated0suffix0000"

# Placeholders in a template, replaced per line (see fill()).
P_ID, P_REF, P_SEQ, P_TS = "@@ID@@", "@@REF@@", "@@SEQ@@", "@@TS@@"

FIRST = (
    "Sandra Yuki Omar Priya Mateo Chen Amara Lukas Sofia Diego Hannah Kwame Ingrid Ravi "
    "Elena Tomas Aisha Noah Mei Carlos Fatima Jonas Leila Ethan Zara Pavel Nadia Kenji "
    "Olivia Arjun Chloe Mohammed Grace Hugo Ana Felix Rosa Samuel Ivy Marcus"
).split()
LAST = (
    "King Sanchez Okafor Nguyen Schmidt Patel Garcia Kowalski Rossi Haddad Johansson Kim "
    "Moreau Fernandez Tanaka Oyelaran Novak Silva Brennan Castillo Ibrahim Larsen Mehta "
    "Dubois Romero Yamamoto Walsh Petrov Costa Abbott Lindqvist Mensah Ortega Fischer"
).split()
CITIES = [
    ("Walnut Creek", "945"), ("Santa Rosa", "954"), ("Palo Alto", "943"),
    ("San Francisco", "941"), ("Oakland", "946"), ("San Jose", "951"),
    ("Berkeley", "947"), ("Sacramento", "958"), ("Fremont", "945"), ("Napa", "945"),
    ("Sunnyvale", "940"), ("Petaluma", "949"), ("Livermore", "945"), ("Davis", "956"),
]
STREETS = "Meadow Willow Redwood Vista Oak Cedar Lakeview Hillcrest Sunset Pine Birch Harbor".split()
STREET_KINDS = "Pl Ave Dr Way St Ct Ln Blvd".split()
WORDS = (
    "kitchen remodel bathroom tile cabinet countertop flooring hardwood permit inspection "
    "electrical panel upgrade plumbing fixture drywall paint primer trim baseboard window "
    "door frame roof shingle gutter deck railing concrete foundation insulation attic "
    "schedule crew delivery materials invoice deposit balance warranty walkthrough client "
    "approved pending revised estimate quote change order labor haul-away debris site "
    "measure template install backsplash grout sealant vanity faucet shower glass lighting "
    "recessed dimmer outlet circuit breaker hvac duct vent thermostat appliance range hood "
    "the a and for with on after before by to of will be is was needs please confirm "
    "thursday monday morning afternoon week next call text email photo update note"
).split()
AGENTS = [
    "amplify-js/6.3.0 react-native", "amplify-js/6.2.1 web", "aws-sdk-js/3.540.0 lambda",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0",
]


def uuid_str(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def iso(rng: random.Random) -> str:
    t = 1_704_067_200 + rng.randrange(60 * 60 * 24 * 600)  # 2024-01-01 + up to 600 days
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % rng.randrange(1000)


def money(rng: random.Random, lo: float, hi: float) -> str:
    # Trailing zeros dropped like the fixture ("574.75", "357.9", "4338"): valid DynamoDB N.
    return ("%.2f" % rng.uniform(lo, hi)).rstrip("0").rstrip(".")


def sentence(rng: random.Random, lo: int, hi: int) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return (" ".join(words)).capitalize() + rng.choice([".", ".", "!", "?"])


def S(v: str) -> dict:
    return {"S": v}


def N(v) -> dict:
    return {"N": str(v)}


def person(rng: random.Random) -> tuple[str, str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    sep = rng.choice([".", "_", ""])
    email = f"{first.lower()}{sep}{last.lower()}{rng.choice(['', str(rng.randrange(100))])}@example.{rng.choice(['com', 'net'])}"
    return first, last, email


def address(rng: random.Random) -> dict:
    city, zip3 = rng.choice(CITIES)
    m = {
        "city": S(city),
        "country": S("US"),
        "state": S("CA"),
        "street": S(f"{rng.randrange(1, 9999)} {rng.choice(STREETS)} {rng.choice(STREET_KINDS)}"),
        "zip": S(f"{zip3}{rng.randrange(100):02d}"),
    }
    if rng.random() < 0.2:
        m["unit"] = S(f"Unit {rng.choice('ABCDEF')}{rng.randrange(1, 40)}")
    return {"M": m}


def blob(rng: random.Random, lo: int, hi: int) -> dict:
    return {"B": base64.b64encode(rng.randbytes(rng.randint(lo, hi))).decode("ascii")}


# --- one template builder per model: a full random item with placeholders --------------


def contact(rng: random.Random) -> dict:
    first, last, email = person(rng)
    item = {
        "__typename": S("Contact"),
        "address": address(rng),
        "assignedAgentId": S(P_REF),
        "company": {"NULL": True} if rng.random() < 0.6 else S(f"{rng.choice(LAST)} {rng.choice(['Builders', 'Realty', 'Holdings', 'LLC', 'Design'])}"),
        "createdAt": S(iso(rng)),
        "email": S(email),
        "firstName": S(first),
        "id": S(P_ID),
        "lastName": S(last),
        "marketingOptIn": {"BOOL": rng.random() < 0.5},
        "phone": S(f"+1{rng.choice(['925', '707', '650', '415', '510', '408'])}55501{rng.randrange(100):02d}"),
        "preferredContactMethod": S(rng.choice(["email", "sms", "phone"])),
        "source": S(rng.choice(["walk_in", "referral", "web", "ads", "partner"])),
        "updatedAt": S(P_TS),
        "version": N(P_SEQ),
    }
    if rng.random() < 0.5:
        item["tags"] = {"SS": sorted(set(rng.choice(WORDS) for _ in range(rng.randint(1, 4))))}
    if rng.random() < 0.4:
        item["notes"] = S(sentence(rng, 6, 30))
    if rng.random() < 0.3:
        item["avatarThumb"] = blob(rng, 24, 96)
    return item


def property_(rng: random.Random) -> dict:
    return {
        "__typename": S("Property"),
        "address": address(rng),
        "bathrooms": N(rng.choice(["1", "1.5", "2", "2.5", "3", "3.5"])),
        "bedrooms": N(rng.randint(1, 6)),
        "contactId": S(P_REF),
        "createdAt": S(iso(rng)),
        "estimatedValue": N(rng.randrange(250, 3500) * 1000),
        "features": {"L": [S(rng.choice(WORDS)) for _ in range(rng.randint(0, 6))]},
        "hoaFee": N(money(rng, 0, 900)) if rng.random() < 0.6 else {"NULL": True},
        "id": S(P_ID),
        "location": {"M": {"lat": N("%.7f" % rng.uniform(36.5, 38.9)), "lng": N("%.7f" % rng.uniform(-123.0, -121.0))}},
        "lotSizeAcres": N(money(rng, 0.05, 5)),
        "propertyType": S(rng.choice(["townhouse", "single_family", "condo", "multi_family"])),
        "squareFeet": N(rng.randrange(500, 6000)),
        "updatedAt": S(P_TS),
        "yearBuilt": N(rng.randrange(1900, 2025)),
    }


def quote(rng: random.Random) -> dict:
    lines = []
    subtotal = 0.0
    for _ in range(rng.randint(1, 8)):
        qty = rng.randint(1, 40)
        unit_price = round(rng.uniform(5, 3000), 2)
        subtotal += qty * unit_price
        lines.append({"M": {
            "description": S(sentence(rng, 3, 10)),
            "quantity": N(qty),
            "total": N(("%.2f" % (qty * unit_price)).rstrip("0").rstrip(".")),
            "unit": S(rng.choice(["job", "hour", "sqft", "each", "lf"])),
            "unitPrice": N(("%.2f" % unit_price).rstrip("0").rstrip(".")),
        }})
    rate = rng.choice(["0.0725", "0.0825", "0.0875", "0.0925"])
    tax = subtotal * float(rate)
    return {
        "__typename": S("Quote"),
        "createdAt": S(iso(rng)),
        "id": S(P_ID),
        "kind": S(rng.choice(["initial", "change_order", "revision"])),
        "lineItems": {"L": lines},
        "notes": S(sentence(rng, 4, 20)),
        "optionPrices": {"NS": sorted({money(rng, 100, 5000) for _ in range(rng.randint(1, 4))})},
        "preparedBy": S(uuid_str(rng)),
        "projectId": S(P_REF),
        "quoteNumber": S(f"Q-2025-{P_SEQ}"),
        "status": S(rng.choice(["draft", "sent", "accepted", "rejected", "expired"])),
        "subtotal": N("%.2f" % subtotal),
        "tax": N("%.2f" % tax),
        "taxRate": N(rate),
        "total": N("%.2f" % (subtotal + tax)),
        "updatedAt": S(P_TS),
        "validUntil": S(iso(rng)[:10]),
    }


def audit_log(rng: random.Random) -> dict:
    field = rng.choice(["status", "bedrooms", "total", "email", "assignedAgentId", "notes"])
    old_new = rng.choice([
        lambda: {"new": N(rng.randint(0, 9)), "old": N(rng.randint(0, 9))},
        lambda: {"new": S(rng.choice(WORDS)), "old": S(rng.choice(WORDS))},
        lambda: {"new": S(uuid_str(rng)), "old": {"NULL": True}},
    ])()
    return {
        "__typename": S("AuditLog"),
        "action": S(rng.choice(["CREATE", "UPDATE", "DELETE", "STATUS_CHANGE"])),
        "actorId": S(P_REF),
        "changes": {"M": {field: {"M": old_new}}},
        "createdAt": S(P_TS),
        "entityId": S(uuid_str(rng)),
        "entityType": S(rng.choice(["Property", "Quote", "Contact", "Project", "Invoice"])),
        "expiresAt": N(1_760_000_000 + rng.randrange(40_000_000)),
        "id": S(P_ID),
        "ip": S(f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"),
        "requestHash": blob(rng, 32, 32),
        "sequence": N(f"17{P_SEQ}"),
        "updatedAt": S(P_TS),
        "userAgent": S(rng.choice(AGENTS)),
    }


def project_comment(rng: random.Random) -> dict:
    author = uuid_str(rng)
    item = {
        "__typename": S("ProjectComment"),
        "authorId": S(author),
        "body": S(sentence(rng, 5, 60)),
        "createdAt": S(iso(rng)),
        "edited": {"BOOL": rng.random() < 0.3},
        "id": S(P_ID),
        "owner": S(f"{author}::{author}"),
        "projectId": S(P_REF),
        "updatedAt": S(P_TS),
        "visibility": S(rng.choice(["client", "internal"])),
    }
    if rng.random() < 0.4:
        item["mentions"] = {"SS": sorted({uuid_str(rng) for _ in range(rng.randint(1, 3))})}
    if rng.random() < 0.3:
        item["attachments"] = {"L": [{"M": {
            "contentType": S(rng.choice(["image/jpeg", "image/png", "application/pdf"])),
            "key": S(f"projects/{uuid_str(rng)}/{rng.choice(WORDS)}-{rng.randrange(1000)}.jpg"),
            "sha256": blob(rng, 32, 32),
            "size": N(rng.randrange(10_000, 8_000_000)),
        }} for _ in range(rng.randint(1, 3))]}
    return item


# Model name -> (template builder, share of the total size, indexed reference attribute).
MODELS = {
    "AuditLog": (audit_log, 0.25, "actorId"),
    "Contact": (contact, 0.20, "assignedAgentId"),
    "ProjectComment": (project_comment, 0.20, "projectId"),
    "Property": (property_, 0.15, "contactId"),
    "Quote": (quote, 0.20, "projectId"),
}


def header() -> dict:
    # The demo fixture's header shape (fixtures/demo/rtsnap.json), env "bench".
    return {
        "format": "rtsnap",
        "format_version": 1,
        "tool_version": "0.1.0",
        "created_at": "2025-08-12T09:30:00Z",
        "source": {
            "env": "bench",
            "backend_suffix": SUFFIX,
            "region": "us-west-1",
            "user_pool_id": None,
            "bucket": None,
        },
        "sections": ["tables"],
    }


def schema(model: str, ref: str) -> dict:
    # The demo fixture's Contact schema shape (fixtures/demo/tables/Contact/schema.json).
    return {
        "Model": model,
        "TableName": f"{model}-{SUFFIX}-NONE",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": ref, "AttributeType": "S"},
        ],
        "GlobalSecondaryIndexes": [{
            "IndexName": f"{model[0].lower()}{model[1:]}sBy{ref[0].upper()}{ref[1:]}",
            "KeySchema": [{"AttributeName": ref, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        "LocalSecondaryIndexes": [],
        "BillingMode": "PAY_PER_REQUEST",
        "ProvisionedThroughput": None,
        "TimeToLiveAttribute": None,
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


def template(item: dict) -> str:
    """Compact DynamoDB JSON (keys sorted) as a %-format string with four slots."""
    text = json.dumps(item, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    text = text.replace("%", "%%")
    for placeholder, slot in ((P_ID, "%(id)s"), (P_REF, "%(ref)s"), (P_SEQ, "%(seq)s"), (P_TS, "%(ts)s")):
        text = text.replace(placeholder, slot)
    return text + "\n"


def write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def write_table(out: str, model: str, build, ref: str, target: int, seed: int) -> tuple[int, int, int]:
    """Writes one table of about `target` bytes. Returns (items, chunks, bytes)."""
    rng = random.Random(f"rtsnap-bench/{seed}/{model}")
    folder = os.path.join(out, "tables", model)
    os.makedirs(folder)
    write_json(os.path.join(folder, "schema.json"), schema(model, ref))
    pool = [template(build(rng)) for _ in range(POOL_SIZE)]
    # Base timestamp and sequence for the per-line values (strictly increasing, like a log).
    t0 = 1_735_689_600  # 2025-01-01T00:00:00Z
    strftime, gmtime = time.strftime, time.gmtime
    randrange, getrandbits = rng.randrange, rng.getrandbits
    items = written = 0
    chunk_no, chunk, chunk_len = 1, [], 0

    def flush() -> None:
        nonlocal chunk_no, chunk, chunk_len
        data = "".join(chunk).encode("utf-8")
        assert len(data) == chunk_len <= MAX_CHUNK_BYTES, (model, chunk_no, len(data))
        with open(os.path.join(folder, "items-%06d.jsonl" % chunk_no), "wb") as f:
            f.write(data)
        chunk_no += 1
        chunk, chunk_len = [], 0

    while written < target:
        a, b = "%032x" % getrandbits(128), "%032x" % getrandbits(128)
        t = t0 + items * 7 + randrange(7)
        line = pool[randrange(POOL_SIZE)] % {
            "id": f"{a[:8]}-{a[8:12]}-4{a[13:16]}-a{a[17:20]}-{a[20:]}",
            "ref": f"{b[:8]}-{b[8:12]}-4{b[13:16]}-b{b[17:20]}-{b[20:]}",
            "seq": items + 1,
            "ts": strftime("%Y-%m-%dT%H:%M:%S", gmtime(t)) + ".%03dZ" % randrange(1000),
        }
        size = len(line.encode("utf-8")) if not line.isascii() else len(line)
        if chunk and chunk_len + size > MAX_CHUNK_BYTES:
            flush()
        chunk.append(line)
        chunk_len += size
        written += size
        items += 1
    if chunk or chunk_no == 1:
        flush()  # an empty table still has one (empty) items-000001.jsonl
    return items, chunk_no - 1, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", help="output snapshot directory (must not exist, or be empty)")
    parser.add_argument("--size-mb", type=int, default=1024, help="approximate size of the items in MiB (default 1024)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args()
    if args.size_mb < 1:
        parser.error("--size-mb must be at least 1")
    if os.path.exists(args.dir) and os.listdir(args.dir):
        parser.error(f"{args.dir} exists and is not empty")
    os.makedirs(args.dir, exist_ok=True)
    started = time.monotonic()
    write_json(os.path.join(args.dir, "rtsnap.json"), header())
    total_target = args.size_mb * MIB
    total_items = total_bytes = total_chunks = 0
    for model, (build, share, ref) in MODELS.items():
        items, chunks, size = write_table(args.dir, model, build, ref, int(total_target * share), args.seed)
        total_items += items
        total_chunks += chunks
        total_bytes += size
        print(f"{model:15} {items:>9} items {chunks:>4} chunks {size / MIB:>9.1f} MiB "
              f"(avg line {size / max(items, 1):.0f} B)", file=sys.stderr)
    print(f"{'total':15} {total_items:>9} items {total_chunks:>4} chunks {total_bytes / MIB:>9.1f} MiB "
          f"in {time.monotonic() - started:.1f} s -> {args.dir}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
