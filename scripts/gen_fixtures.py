#!/usr/bin/env python3
"""Generate the deterministic ``fixtures/demo`` snapshot directory for rtsnap.

The output is an *unpacked* rtsnap snapshot of a fictional Amplify Gen 2
environment (a home-renovation / real-estate services app):

    <out>/rtsnap.json
    <out>/tables/<Model>/schema.json
    <out>/tables/<Model>/items-000001.jsonl
    <out>/users/pool.json
    <out>/users/groups.jsonl
    <out>/users/users.jsonl
    <out>/assets/manifest.jsonl

and, beside it, ``fixtures/amplify_outputs.json``: Amplify Gen 2's client
configuration of the same environment (what ``npx ampx generate outputs`` writes),
the input of ``rtsnap init`` (see ``scripts/fixture_outputs.py``).

Determinism rules (running the script twice gives byte-identical output):

* standard library only, Python >= 3.11;
* every random choice comes from ``random.Random`` seeded with a fixed string
  (one independent stream per model, so changing one model does not reshuffle
  the others);
* no wall-clock time: all dates are derived from fixed base dates;
* uuids are built from the seeded RNG (``uuid.UUID(int=rng.getrandbits(128),
  version=4)``), never ``uuid4()``;
* nothing iterates over a ``set``/``frozenset`` of strings (hash
  randomisation); files are sorted (items by ``id``, users by ``username``,
  groups by ``precedence``, assets by ``key``) and attribute maps are written
  with their keys sorted.

All personal data is fake: e-mails use example.com / example.net, phone
numbers use the fictional 555-01xx range, IPs use the documentation ranges.

Usage::

    python3 scripts/gen_fixtures.py                 # -> fixtures/demo (+ README.md, amplify_outputs.json)
    python3 scripts/gen_fixtures.py --out /tmp/x    # -> /tmp/x (README not written)
    python3 scripts/gen_fixtures.py --out /tmp/x --readme /tmp/x.md --amplify-outputs /tmp/x.json

The script deletes and recreates the output directory, then re-reads what it
wrote and self-checks it (counts, referential integrity, key types, sizes,
determinism-sensitive ordering).  It exits non-zero on any violation.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import shutil
import sys
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_outputs  # noqa: E402  (scripts/fixture_outputs.py)

# --------------------------------------------------------------------------
# Fixed parameters of the demo environment
# --------------------------------------------------------------------------

SEED = "rtsnap-demo-fixture-v1"
TOOL_VERSION = "0.1.0"
SNAPSHOT_CREATED_AT = "2025-08-12T09:30:00Z"
ENV_NAME = "demo"
BACKEND_SUFFIX = "demo0fixture0suffix0000000"
REGION = "us-west-1"
USER_POOL_ID = "us-west-1_DemoPool1"
BUCKET = "amplify-demo-assets"

UTC = timezone.utc
#: Earliest business data (contacts, properties, ...).
T_DATA_START = datetime(2024, 10, 1, tzinfo=UTC)
#: Latest timestamp anywhere in the data (the snapshot is taken the next morning).
T_END = datetime(2025, 8, 11, 23, 59, 59, 999000, tzinfo=UTC)

MAX_ITEM_BYTES = 2048  # each JSONL line must stay below this
MAX_TOTAL_BYTES = 5 * 1024 * 1024

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "fixtures" / "demo"
DEFAULT_README = REPO_ROOT / "fixtures" / "README.md"
#: Outside demo/: demo/ is an unpacked snapshot and holds only snapshot entries.
DEFAULT_OUTPUTS = REPO_ROOT / "fixtures" / "amplify_outputs.json"

# --------------------------------------------------------------------------
# Models, indexes, relations
# --------------------------------------------------------------------------

#: (model, item count) -- in the order the counts table is printed.
#: The first 11 counts are contractual (tests rely on them).
MODEL_COUNTS: list[tuple[str, int]] = [
    ("Contact", 241),
    ("Property", 217),
    ("Request", 196),
    ("AuditLog", 176),
    ("ProjectComment", 240),
    ("Quote", 228),
    ("ProjectPaymentTerm", 196),
    ("ProjectMilestone", 142),
    ("Project", 64),
    ("Auth", 58),
    ("Affiliate", 8),
    # 24 smaller models
    ("Invoice", 20),
    ("Payment", 14),
    ("Document", 12),
    ("Notification", 18),
    ("Setting", 9),
    ("Product", 15),
    ("Vendor", 10),
    ("Task", 20),
    ("Appointment", 16),
    ("Message", 20),
    ("Review", 11),
    ("Estimate", 13),
    ("Lead", 17),
    ("Campaign", 6),
    ("ServiceArea", 12),
    ("Inspection", 9),
    ("Permit", 1),
    ("Material", 14),
    ("Warranty", 7),
    ("Referral", 10),
    ("Tag", 19),
    ("Note", 15),
    ("Team", 4),
    ("Webhook", 0),
]
COUNTS = dict(MODEL_COUNTS)
MODELS = [m for m, _ in MODEL_COUNTS]

#: Foreign keys (``Model.field`` -> ``Target.id``).  A missing attribute means
#: "no relation" (e.g. ``Quote.projectId`` only exists on quotes that belong to
#: a project).  Every relation has a GSI on its source field (see below).
RELATIONS: list[tuple[str, str]] = [
    ("Contact.affiliateId", "Affiliate.id"),
    ("Property.contactId", "Contact.id"),
    ("Request.contactId", "Contact.id"),
    ("Request.propertyId", "Property.id"),
    ("Request.affiliateId", "Affiliate.id"),
    ("Project.propertyId", "Property.id"),
    ("Project.requestId", "Request.id"),
    ("Project.contactId", "Contact.id"),
    ("ProjectComment.projectId", "Project.id"),
    ("ProjectMilestone.projectId", "Project.id"),
    ("ProjectPaymentTerm.projectId", "Project.id"),
    ("Quote.requestId", "Request.id"),
    ("Quote.projectId", "Project.id"),
    ("Invoice.projectId", "Project.id"),
    ("Invoice.paymentTermId", "ProjectPaymentTerm.id"),
    ("Payment.invoiceId", "Invoice.id"),
    ("Document.projectId", "Project.id"),
    ("Product.vendorId", "Vendor.id"),
    ("Task.projectId", "Project.id"),
    ("Appointment.requestId", "Request.id"),
    ("Appointment.contactId", "Contact.id"),
    ("Message.contactId", "Contact.id"),
    ("Review.projectId", "Project.id"),
    ("Estimate.requestId", "Request.id"),
    ("Lead.affiliateId", "Affiliate.id"),
    ("Lead.convertedContactId", "Contact.id"),
    ("Inspection.propertyId", "Property.id"),
    ("Inspection.projectId", "Project.id"),
    ("Permit.projectId", "Project.id"),
    ("Material.projectId", "Project.id"),
    ("Material.productId", "Product.id"),
    ("Warranty.projectId", "Project.id"),
    ("Referral.affiliateId", "Affiliate.id"),
    ("Referral.leadId", "Lead.id"),
    ("Referral.contactId", "Contact.id"),
    ("Note.contactId", "Contact.id"),
]

#: GSIs that are not plain "by foreign key": (model, hash, range).
#: They replace the default FK index on the same hash key where they overlap.
EXTRA_GSIS: list[tuple[str, str, str | None]] = [
    ("ProjectMilestone", "projectId", "dueDate"),
    ("AuditLog", "entityId", "createdAt"),
    ("Notification", "recipientId", None),
    ("Auth", "userId", None),
]

#: The one table with a TTL attribute.
TTL_ATTRIBUTES = {"AuditLog": "expiresAt"}


def _plural(word: str) -> str:
    if word.endswith("y") and word[-2:-1] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh")):
        return word + "es"
    return word + "s"


def gsi_name(model: str, hash_key: str, range_key: str | None) -> str:
    """Amplify Gen 2's default index name, e.g. ``requestsByContactId``."""
    name = _plural(model[0].lower() + model[1:]) + "By" + hash_key[0].upper() + hash_key[1:]
    if range_key:
        name += "And" + range_key[0].upper() + range_key[1:]
    return name


def gsis_for(model: str) -> list[tuple[str, str, str | None]]:
    """(IndexName, hash, range) for one model, sorted by IndexName."""
    by_hash: dict[str, str | None] = {}
    for src, _dst in RELATIONS:
        m, f = src.split(".")
        if m == model:
            by_hash[f] = None
    for m, h, r in EXTRA_GSIS:
        if m == model:
            by_hash[h] = r
    return sorted((gsi_name(model, h, r), h, r) for h, r in by_hash.items())


def table_schema(model: str) -> dict[str, Any]:
    gsis = gsis_for(model)
    attr_names = ["id"]
    for _name, h, r in gsis:
        for a in (h, r):
            if a and a not in attr_names:
                attr_names.append(a)
    return {
        "Model": model,
        "TableName": f"{model}-{BACKEND_SUFFIX}-NONE",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in attr_names],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": name,
                "KeySchema": [{"AttributeName": h, "KeyType": "HASH"}]
                + ([{"AttributeName": r, "KeyType": "RANGE"}] if r else []),
                "Projection": {"ProjectionType": "ALL"},
            }
            for name, h, r in gsis
        ],
        "LocalSecondaryIndexes": [],
        "BillingMode": "PAY_PER_REQUEST",
        "ProvisionedThroughput": None,
        "TimeToLiveAttribute": TTL_ATTRIBUTES.get(model),
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }


# --------------------------------------------------------------------------
# Deterministic primitives
# --------------------------------------------------------------------------


def rng_for(stream: str) -> random.Random:
    # str seeds are hashed with SHA-512 by random.seed (version 2): stable
    # across processes and unaffected by PYTHONHASHSEED.
    return random.Random(f"{SEED}:{stream}")


def new_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def rand_bytes(rng: random.Random, n: int) -> bytes:
    return bytes(rng.getrandbits(8) for _ in range(n))


def rand_hex(rng: random.Random, n_chars: int) -> str:
    return f"{rng.getrandbits(4 * n_chars):0{n_chars}x}"


def between(rng: random.Random, lo: datetime, hi: datetime) -> datetime:
    """A millisecond-precision instant in [lo, hi]."""
    if hi <= lo:
        return lo
    span_ms = (hi - lo) // timedelta(milliseconds=1)
    return lo + timedelta(milliseconds=rng.randint(0, span_ms))


def after(rng: random.Random, t: datetime, max_days: float, min_minutes: float = 5) -> datetime:
    """An instant a little after ``t`` (never after T_END)."""
    lo = t + timedelta(minutes=min_minutes)
    hi = min(t + timedelta(days=max_days), T_END)
    if hi <= lo:
        return min(lo, T_END) if t < T_END else t
    return between(rng, lo, hi)


def iso_ms(t: datetime) -> str:
    """AWSDateTime as Amplify writes it: ``2025-03-14T17:22:05.123Z``."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def iso_s(t: datetime) -> str:
    """Second precision, as Cognito and S3 report it."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def epoch(t: datetime) -> int:
    return int(t.timestamp())


def money(cents: int) -> Decimal:
    return Decimal(cents) / 100


def q2(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def distribute(rng: random.Random, total: int, keys: list[str], min_each: int = 0,
               weights: list[float] | None = None) -> dict[str, int]:
    counts = {k: min_each for k in keys}
    remaining = total - min_each * len(keys)
    assert remaining >= 0, (total, len(keys), min_each)
    for _ in range(remaining):
        counts[rng.choices(keys, weights=weights)[0]] += 1
    return counts


def weighted(rng: random.Random, table: list[tuple[Any, float]]) -> Any:
    return rng.choices([v for v, _ in table], weights=[w for _, w in table])[0]


# --------------------------------------------------------------------------
# DynamoDB JSON marshalling
# --------------------------------------------------------------------------


class SS(tuple):
    """String set."""


class NS(tuple):
    """Number set."""


class BS(tuple):
    """Binary set."""


def b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def num_str(v: int | Decimal) -> str:
    """DynamoDB returns numbers normalised: no exponent, no trailing zeros."""
    if isinstance(v, int):
        return str(v)
    s = format(v.normalize(), "f")
    return "0" if s in ("-0", "0") else s


def to_ddb(v: Any) -> dict[str, Any]:
    if v is None:
        return {"NULL": True}
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, (int, Decimal)):
        return {"N": num_str(v)}
    if isinstance(v, float):
        raise TypeError("use Decimal, not float, for DynamoDB numbers")
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, bytes):
        return {"B": b64(v)}
    if isinstance(v, SS):
        assert v and len(set(v)) == len(v), v
        return {"SS": sorted(v)}
    if isinstance(v, NS):
        assert v and len(set(Decimal(x) for x in v)) == len(v), v
        return {"NS": [num_str(x) for x in sorted(v, key=Decimal)]}
    if isinstance(v, BS):
        assert v and len(set(v)) == len(v), v
        return {"BS": [b64(x) for x in sorted(v)]}
    if isinstance(v, dict):
        return {"M": {k: to_ddb(v[k]) for k in sorted(v)}}
    if isinstance(v, list):
        return {"L": [to_ddb(x) for x in v]}
    raise TypeError(f"cannot marshal {type(v).__name__}: {v!r}")


def marshal_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: to_ddb(item[k]) for k in sorted(item)}


# --------------------------------------------------------------------------
# Fake-but-plausible reference data
# --------------------------------------------------------------------------

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Carlos", "Karen", "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty",
    "Mark", "Sandra", "Priya", "Ashley", "Kevin", "Emily", "Brian", "Aisha", "Wei", "Mei",
    "Hiroshi", "Yuki", "Olga", "Dmitri", "Fatima", "Omar", "José", "Zoë", "Renée", "Chloé",
    "Björn", "Amélie", "Siobhán", "Mateo", "Ngozi", "Kwame", "Ananya", "Arjun", "Leilani", "Kai",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez",
    "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright",
    "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson", "Baker", "Hall",
    "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Patel", "Kim", "Chen", "Tanaka",
    "Okafor", "O'Brien", "Muñoz", "Núñez", "Søndergaard", "Smith-Jones", "Kowalski", "Müller",
]
STREETS = [
    "Maple", "Oak", "Cedar", "Pine", "Elm", "Willow", "Sycamore", "Juniper", "Redwood", "Aspen",
    "Magnolia", "Laurel", "Birch", "Chestnut", "Hawthorn", "Mission", "Valley View", "Sunset",
    "Lakeshore", "Hillcrest", "Park", "Meadow", "Ridge", "Orchard", "Vista", "Harbor",
    "Canyon", "Poplar", "Alder", "Manzanita",
]
STREET_SUFFIXES = ["St", "Ave", "Blvd", "Dr", "Ln", "Ct", "Way", "Pl", "Rd", "Ter"]
#: (city, state, zip prefix, area code, lat, lng)
CITIES = [
    ("San Jose", "CA", "951", "408", "37.3382", "-121.8863"),
    ("Oakland", "CA", "946", "510", "37.8044", "-122.2712"),
    ("Berkeley", "CA", "947", "510", "37.8715", "-122.2730"),
    ("San Francisco", "CA", "941", "415", "37.7749", "-122.4194"),
    ("Palo Alto", "CA", "943", "650", "37.4419", "-122.1430"),
    ("Walnut Creek", "CA", "945", "925", "37.9101", "-122.0652"),
    ("Sacramento", "CA", "958", "916", "38.5816", "-121.4944"),
    ("Santa Rosa", "CA", "954", "707", "38.4405", "-122.7144"),
    ("Fresno", "CA", "937", "559", "36.7378", "-119.7871"),
    ("Santa Cruz", "CA", "950", "831", "36.9741", "-122.0308"),
    ("Reno", "NV", "895", "775", "39.5296", "-119.8138"),
    ("Portland", "OR", "972", "503", "45.5152", "-122.6784"),
]
CITY_WEIGHTS = [14, 10, 6, 9, 6, 7, 10, 5, 5, 4, 3, 3]
TAX_RATES = {"CA": Decimal("0.0825"), "NV": Decimal("0.0685"), "OR": Decimal("0")}

SERVICE_TYPES = [
    ("kitchen_remodel", "Kitchen remodel", (2500000, 9500000)),
    ("bathroom_remodel", "Bathroom remodel", (1200000, 4500000)),
    ("roof_repair", "Roof repair", (150000, 1800000)),
    ("roof_replacement", "Roof replacement", (1400000, 4200000)),
    ("hvac_replacement", "HVAC replacement", (650000, 1900000)),
    ("window_replacement", "Window replacement", (400000, 2600000)),
    ("deck_build", "Deck build", (900000, 3500000)),
    ("exterior_painting", "Exterior painting", (450000, 1600000)),
    ("flooring", "Flooring", (350000, 2200000)),
    ("plumbing_repair", "Plumbing repair", (25000, 450000)),
    ("electrical_upgrade", "Electrical panel upgrade", (250000, 900000)),
    ("solar_install", "Solar installation", (1500000, 4500000)),
    ("landscaping", "Landscaping", (300000, 2500000)),
    ("adu_conversion", "ADU garage conversion", (9000000, 19000000)),
]
SERVICE = {k: (label, rng_) for k, label, rng_ in SERVICE_TYPES}

PROPERTY_FEATURES = [
    "garage", "solar", "pool", "fireplace", "hardwood-floors", "central-air", "basement",
    "ev-charger", "adu", "deck", "fenced-yard", "skylights", "smart-thermostat", "well-water",
    "septic", "heat-pump", "tankless-water-heater",
]
CONTACT_TAGS = ["vip", "repeat-customer", "referral", "commercial", "investor", "newsletter",
                "spanish-speaking", "landlord", "do-not-call"]
ROOMS = ["kitchen", "primary bath", "guest bath", "living room", "garage", "basement",
         "attic", "backyard", "laundry", "hallway", "bedroom 2", "bedroom 3"]

#: (description, unit, unit price range in cents, quantity range; a float step 0.5 for hours)
LINE_ITEMS = [
    ("Demolition and haul-away", "job", (60000, 380000), (1, 1)),
    ("Permit and inspection fees", "job", (25000, 140000), (1, 1)),
    ("Project management", "hour", (8500, 12500), (4, 40)),
    ("Skilled labor", "hour", (6500, 11000), (8, 120)),
    ("Drywall patch and texture", "sqft", (350, 650), (20, 400)),
    ("Interior paint, two coats", "sqft", (250, 480), (100, 900)),
    ("Final cleanup", "job", (15000, 45000), (1, 1)),
    ("Electrical rough-in", "hour", (9500, 14500), (4, 30)),
    ("Plumbing rough-in", "hour", (9500, 15500), (4, 30)),
    ("Cabinet installation", "linear ft", (18000, 42000), (6, 30)),
    ("Tile installation", "sqft", (1200, 2800), (20, 250)),
    ("Dumpster rental", "week", (45000, 75000), (1, 4)),
]


def quote_lines(rng: random.Random, label: str, target: Decimal, n_extra: int) -> list[dict[str, Any]]:
    """A few realistic secondary lines plus one main line that brings the subtotal near ``target``."""
    lines = []
    for desc, unit, (pmin, pmax), (qmin, qmax) in rng.sample(LINE_ITEMS, n_extra):
        qty: int | Decimal = rng.randint(qmin, qmax)
        if unit == "hour" and rng.random() < 0.4:
            qty = Decimal(qty) + Decimal("0.5")
        price = money(rng.randint(pmin, pmax))
        lines.append({"description": desc, "unit": unit, "quantity": qty, "unitPrice": price,
                      "total": q2(Decimal(qty) * price)})
    rest = sum((l["total"] for l in lines), Decimal(0))
    main = max(q2(target - rest), q2(target * Decimal("0.4")))
    lines.insert(0, {"description": f"{label}: labor and materials", "unit": "job", "quantity": 1,
                     "unitPrice": main, "total": main})
    return lines


COMMENT_BODIES = [
    "Site walk done. Measurements uploaded to the documents tab.",
    "Client approved the revised layout — moving the island 8 inches toward the window.",
    "Permit application submitted to the city; expecting 2–3 weeks for review.",
    "Cabinet delivery pushed to next Tuesday by the supplier.",
    "Found some dry rot under the subfloor near the tub. Photos attached, change order to follow.",
    "Inspection passed 👍",
    "Can we switch the tile to the matte finish we looked at?",
    "Reminder: water will be shut off Thursday 9–11am.",
    "Electrician confirmed the panel has capacity for the induction range.",
    "Thanks for the update! Looks great so far.",
    "Paint samples are on the north wall, please pick one by Friday.",
    "Crew will be on site at 8am; please keep the side gate unlocked.",
    "Final walkthrough scheduled. Punch list attached.",
    "Grout color: Warm Gray (sample #4).",
    "Dumpster will be picked up tomorrow morning.",
    "Is the countertop template appointment still on for Monday?",
    "Added two outlets to the quote per the client's request.",
    "Weather delay today, roofing resumes once the deck is dry ☔",
]
MILESTONE_TITLES = [
    "Design approved", "Permits issued", "Demolition complete", "Rough-in inspection",
    "Framing complete", "Drywall complete", "Cabinets installed", "Fixtures installed",
    "Final inspection", "Final walkthrough",
]
PAYMENT_SCHEDULES = {
    3: [[30, 40, 30], [25, 50, 25], [10, 40, 50], [20, 50, 30]],
    4: [[10, 30, 30, 30], [25, 25, 25, 25], [15, 35, 35, 15]],
}
PAYMENT_LABELS = {
    3: ["Deposit", "Rough-in complete", "Final walkthrough"],
    4: ["Deposit", "Demolition complete", "Rough-in complete", "Final walkthrough"],
}

_TRANSLIT = str.maketrans({"ø": "o", "Ø": "o", "ß": "ss", "æ": "ae", "ł": "l", "Ł": "l"})


def slug(s: str) -> str:
    s = unicodedata.normalize("NFKD", s.translate(_TRANSLIT))
    return "".join(c for c in s.lower() if c.isascii() and c.isalnum())


# --------------------------------------------------------------------------
# Generation context
# --------------------------------------------------------------------------


@dataclass
class Ctx:
    items: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {m: [] for m in MODELS})
    users: list[dict[str, Any]] = field(default_factory=list)
    assets: list[dict[str, Any]] = field(default_factory=list)
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    # helper views
    user_created: dict[str, datetime] = field(default_factory=dict)

    def by_id(self, model: str) -> dict[str, dict[str, Any]]:
        return {it["id"]: it for it in self.items[model]}

    def person(self, rng: random.Random) -> tuple[str, str]:
        return rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)

    def email(self, rng: random.Random, first: str, last: str, domains: list[str]) -> str:
        base = f"{slug(first)}.{slug(last)}"
        domain = rng.choice(domains)
        cand = f"{base}@{domain}"
        while cand in self.emails:
            cand = f"{base}{rng.randint(2, 99)}@{domain}"
        self.emails.add(cand)
        return cand

    def phone(self, rng: random.Random, area: str | None = None) -> str:
        while True:
            a = area or rng.choice(CITIES)[3]
            cand = f"+1{a}55501{rng.randint(0, 99):02d}"
            if cand not in self.phones:
                self.phones.add(cand)
                return cand
            area = None  # that area code is getting crowded; try another

    def address(self, rng: random.Random, city_idx: int | None = None) -> dict[str, Any]:
        if city_idx is None:
            city_idx = rng.choices(range(len(CITIES)), weights=CITY_WEIGHTS)[0]
        city, state, zp, _area, _lat, _lng = CITIES[city_idx]
        addr = {
            "street": f"{rng.randint(100, 9899)} {rng.choice(STREETS)} {rng.choice(STREET_SUFFIXES)}",
            "city": city,
            "state": state,
            "zip": f"{zp}{rng.randint(1, 99):02d}",
            "country": "US",
        }
        if rng.random() < 0.15:
            addr["unit"] = rng.choice(["Apt ", "Unit ", "#"]) + rng.choice(["1A", "2B", "3", "4C", "12", "204", "B"])
        return addr

    def owner(self, user: dict[str, Any]) -> str:
        """Amplify's owner field format: ``<sub>::<username>``."""
        return f"{user['sub']}::{user['username']}"

    def users_in(self, group: str, confirmed_only: bool = True) -> list[dict[str, Any]]:
        return [u for u in self.users if group in u["groups"]
                and (not confirmed_only or (u["status"] == "CONFIRMED" and u["enabled"]))]


def city_index(addr: dict[str, Any]) -> int:
    for i, c in enumerate(CITIES):
        if c[0] == addr["city"]:
            return i
    raise KeyError(addr["city"])


def stamp(rng: random.Random, item: dict[str, Any], model: str, created: datetime,
          max_update_days: float = 30, p_updated: float = 0.7) -> None:
    """Amplify's bookkeeping fields."""
    item["__typename"] = model
    item["createdAt"] = iso_ms(created)
    upd = after(rng, created, max_update_days) if rng.random() < p_updated else created
    item["updatedAt"] = iso_ms(upd)
    item["_created"] = created  # internal, stripped before writing


def created_of(item: dict[str, Any]) -> datetime:
    return item["_created"]


# --------------------------------------------------------------------------
# Users (Cognito)
# --------------------------------------------------------------------------

GROUPS = [
    {"name": "admins", "description": "Back-office administrators with full access", "precedence": 0, "role_arn": None},
    {"name": "agents", "description": "Field agents and project managers", "precedence": 1, "role_arn": None},
    {"name": "homeowners", "description": "Customers with access to their own projects", "precedence": 2, "role_arn": None},
]

POOL = {
    "user_pool_id": USER_POOL_ID,
    "username_attributes": ["email"],
    "auto_verified_attributes": ["email"],
    "mfa_configuration": "OFF",
    "schema": [
        {"name": "sub", "attribute_data_type": "String", "mutable": False, "required": True},
        {"name": "email", "attribute_data_type": "String", "mutable": True, "required": True},
        {"name": "email_verified", "attribute_data_type": "Boolean", "mutable": True, "required": False},
        {"name": "name", "attribute_data_type": "String", "mutable": True, "required": False},
        {"name": "phone_number", "attribute_data_type": "String", "mutable": True, "required": False},
        {"name": "custom:company", "attribute_data_type": "String", "mutable": True, "required": False},
    ],
}


def gen_users(ctx: Ctx) -> None:
    rng = rng_for("users")
    plan: list[list[str]] = (
        [["admins"]] * 1
        + [["admins", "agents"]] * 2
        + [["agents"]] * 11
        + [["agents", "homeowners"]] * 1
        + [["homeowners"]] * 42
        + [[]] * 3
    )
    assert len(plan) == 60
    # Per-role ordinal -> status/enabled overrides (explicit, so the mix is stable).
    ordinal: dict[str, int] = {}
    for groups in plan:
        role = "+".join(groups) or "none"
        n = ordinal.get(role, 0)
        ordinal[role] = n + 1
        status, enabled = "CONFIRMED", True
        if (role, n) in {("agents", 0), ("agents", 1), ("homeowners", 0), ("none", 0)}:
            status = "FORCE_CHANGE_PASSWORD"
        elif (role, n) == ("homeowners", 1):
            status = "UNCONFIRMED"
        elif (role, n) in {("agents", 2), ("homeowners", 2), ("homeowners", 3)}:
            enabled = False

        sub = new_id(rng)
        first, last = ctx.person(rng)
        staff = "admins" in groups or "agents" in groups
        email = ctx.email(rng, first, last, ["example.com"] if staff else ["example.net", "example.com"])
        attrs: dict[str, str] = {
            "email": email,
            "email_verified": "false" if status in ("UNCONFIRMED", "FORCE_CHANGE_PASSWORD") else "true",
            "name": f"{first} {last}",
        }
        if staff or rng.random() < 0.8:
            attrs["phone_number"] = ctx.phone(rng)
        if staff:
            attrs["custom:company"] = "Demo Home Services LLC"
        if "admins" in groups:
            created = between(rng, datetime(2024, 9, 2, tzinfo=UTC), datetime(2024, 9, 30, tzinfo=UTC))
        elif "agents" in groups:
            created = between(rng, datetime(2024, 9, 2, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC))
        else:
            created = between(rng, datetime(2024, 10, 1, tzinfo=UTC), datetime(2025, 7, 31, tzinfo=UTC))
        if status == "FORCE_CHANGE_PASSWORD":
            created = between(rng, datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 8, 8, tzinfo=UTC))
        created = created.replace(microsecond=0)
        ctx.user_created[sub] = created
        ctx.users.append({
            "username": sub,
            "sub": sub,
            "attributes": attrs,
            "enabled": enabled,
            "status": status,
            "groups": list(groups),
            "mfa_enabled": [],
            "created_at": iso_s(created),
        })
    ctx.users.sort(key=lambda u: u["username"])


# --------------------------------------------------------------------------
# Table generators (in dependency order)
# --------------------------------------------------------------------------


def gen_affiliates(ctx: Ctx) -> None:
    rng = rng_for("Affiliate")
    names = ["Bay Realty Partners", "Golden Gate Home Loans", "Sierra Inspections", "Redwood Title & Escrow",
             "Peninsula Property Mgmt", "Valley Insurance Group", "Cascade Movers", "Delta Design Studio"]
    for name in names:
        created = between(rng, T_DATA_START - timedelta(days=58), T_DATA_START - timedelta(days=32))
        code = "".join(w[0] for w in name.split() if w[0].isalpha()).upper() + str(rng.randint(10, 99))
        it: dict[str, Any] = {
            "id": new_id(rng),
            "name": name,
            "contactEmail": f"partners@{slug(name.split()[0])}.example.com",
            "phone": ctx.phone(rng),
            "website": f"https://www.{slug(name.split()[0])}.example.com",
            "commissionRate": Decimal(rng.choice(["0.05", "0.075", "0.1", "0.0625"])),
            "referralCode": code,
            "active": rng.random() < 0.8,
            "regions": SS(rng.sample(["north-bay", "east-bay", "south-bay", "peninsula", "sacramento", "central-valley"], rng.randint(1, 3))),
            "payout": {"method": rng.choice(["ach", "check"]), "schedule": rng.choice(["monthly", "quarterly"]),
                       "minimum": money(rng.choice([5000, 10000, 25000]))},
        }
        stamp(rng, it, "Affiliate", created, 120)
        ctx.items["Affiliate"].append(it)


def gen_contacts(ctx: Ctx) -> None:
    rng = rng_for("Contact")
    affiliates = ctx.items["Affiliate"]
    agents = ctx.users_in("agents")
    for _ in range(COUNTS["Contact"]):
        first, last = ctx.person(rng)
        addr = ctx.address(rng)
        created = between(rng, T_DATA_START, datetime(2025, 7, 10, tzinfo=UTC))
        it: dict[str, Any] = {
            "id": new_id(rng),
            "firstName": first,
            "lastName": last,
            "email": ctx.email(rng, first, last, ["example.com", "example.net"]),
            "phone": ctx.phone(rng, CITIES[city_index(addr)][3]),
            "address": addr,
            "company": rng.choice(["Brightside Rentals", "Oakline Holdings", "Summit Dental", "Northgate HOA"]) if rng.random() < 0.12 else None,
            "marketingOptIn": rng.random() < 0.55,
            "preferredContactMethod": weighted(rng, [("email", 5), ("phone", 3), ("sms", 2)]),
            "source": weighted(rng, [("website", 6), ("referral", 2), ("affiliate", 1), ("phone", 2), ("walk_in", 1)]),
        }
        if it["source"] == "affiliate":
            it["affiliateId"] = rng.choice(affiliates)["id"]
        if rng.random() < 0.45:
            it["tags"] = SS(rng.sample(CONTACT_TAGS, rng.randint(1, 3)))
        if rng.random() < 0.6:
            it["assignedAgentId"] = rng.choice(agents)["sub"]
        if rng.random() < 0.25:
            it["notes"] = rng.choice(["Prefers morning calls.", "Has a dog, knock loudly.",
                                      "Gate code 4321#.", "Speaks Spanish and English.",
                                      "Call after 5pm on weekdays."])
        elif rng.random() < 0.2:
            it["notes"] = None
        stamp(rng, it, "Contact", created, 60)
        ctx.items["Contact"].append(it)


def gen_properties(ctx: Ctx) -> None:
    rng = rng_for("Property")
    contacts = ctx.items["Contact"]
    # Every contact owns at most a couple of properties; most own one.
    for i in range(COUNTS["Property"]):
        owner_contact = contacts[i] if i < len(contacts) * 0.8 else rng.choice(contacts)
        same = rng.random() < 0.85
        addr = dict(owner_contact["address"]) if same and i < len(contacts) * 0.8 else ctx.address(rng)
        ci = city_index(addr)
        lat = (Decimal(CITIES[ci][4]) + Decimal(rng.randint(-400000, 400000)) / Decimal(10**7)).quantize(Decimal("0.0000001"))
        lng = (Decimal(CITIES[ci][5]) + Decimal(rng.randint(-400000, 400000)) / Decimal(10**7)).quantize(Decimal("0.0000001"))
        ptype = weighted(rng, [("single_family", 7), ("condo", 2), ("townhouse", 2), ("multi_family", 1)])
        sqft = rng.randint(650, 1400) if ptype == "condo" else rng.randint(1000, 4200)
        created = after(rng, created_of(owner_contact), 10, 1)
        it: dict[str, Any] = {
            "id": new_id(rng),
            "contactId": owner_contact["id"],
            "address": addr,
            "location": {"lat": lat, "lng": lng},
            "propertyType": ptype,
            "yearBuilt": rng.randint(1908, 2021),
            "squareFeet": sqft,
            "bedrooms": rng.randint(1, 5),
            "bathrooms": Decimal(rng.choice(["1", "1.5", "2", "2.5", "3", "3.5"])),
            "estimatedValue": money(rng.randint(450, 2400) * 100000 + rng.choice([0, 50000])),
            "hoaFee": money(rng.randint(150, 900) * 100 + rng.choice([0, 50, 75])) if ptype in ("condo", "townhouse") else None,
        }
        if ptype != "condo":
            it["lotSizeAcres"] = Decimal(rng.randint(8, 95)) / 100
        if rng.random() < 0.7:
            it["features"] = SS(rng.sample(PROPERTY_FEATURES, rng.randint(1, 5)))
        if rng.random() < 0.25:
            it["roomSizesSqft"] = NS(rng.sample([90, 110, 120, 132, 144, 168, 180, 196, 210, 240, 288, 320], rng.randint(2, 5)))
        if rng.random() < 0.2:
            it["thumbHash"] = rand_bytes(rng, rng.randint(20, 28))  # varied length -> '=' and '==' padding
        stamp(rng, it, "Property", created, 90)
        ctx.items["Property"].append(it)


REQUEST_STATUSES = [("new", 20), ("contacted", 15), ("scheduled", 15), ("quoted", 25), ("lost", 15), ("cancelled", 10)]


def gen_requests(ctx: Ctx) -> None:
    rng = rng_for("Request")
    props = ctx.items["Property"]
    contacts = ctx.by_id("Contact")
    homeowners = ctx.users_in("homeowners")
    portal_user: dict[str, dict[str, Any] | None] = {}
    for _ in range(COUNTS["Request"]):
        prop = rng.choice(props)
        contact = contacts[prop["contactId"]] if rng.random() < 0.9 else rng.choice(ctx.items["Contact"])
        start = max(created_of(prop), created_of(contact))
        created = after(rng, start, 30, 10)
        stype = rng.choice(SERVICE_TYPES)[0]
        lo, hi = SERVICE[stype][1]
        bmin = rng.randint(lo // 50000, hi // 50000) * 50000
        bmax = bmin + rng.randint(2, 30) * 50000
        it: dict[str, Any] = {
            "id": new_id(rng),
            "contactId": contact["id"],
            "propertyId": prop["id"],
            "serviceType": stype,
            "status": weighted(rng, REQUEST_STATUSES),
            "urgency": weighted(rng, [("low", 3), ("normal", 6), ("high", 2), ("emergency", 1)]),
            "budgetMin": money(bmin),
            "budgetMax": money(bmax),
            "description": f"{SERVICE[stype][0]} at {prop['address']['street']}, {prop['address']['city']}.",
            "details": {
                "rooms": rng.sample(ROOMS, rng.randint(1, 3)),
                "squareFeet": rng.randint(40, 600),
                "permitsRequired": rng.random() < 0.5,
                "accessNotes": rng.choice(["Lockbox on the side door", "Call on arrival", "Street parking only"]) if rng.random() < 0.6 else None,
                "photos": rng.randint(0, 6),
            },
            "preferredTimes": [iso_ms(after(rng, created, 14, 60 * 24).replace(minute=0, second=0, microsecond=0))
                               for _ in range(rng.randint(1, 3))],
            "source": contact["source"],
        }
        if "affiliateId" in contact:
            it["affiliateId"] = contact["affiliateId"]
        # A contact either has a portal login (a homeowner user) or not; all of
        # its requests then carry the same owner.
        if contact["id"] not in portal_user:
            portal_user[contact["id"]] = rng.choice(homeowners) if rng.random() < 0.6 else None
        if portal_user[contact["id"]] is not None:
            it["owner"] = ctx.owner(portal_user[contact["id"]])
        stamp(rng, it, "Request", created, 45)
        ctx.items["Request"].append(it)


def gen_projects(ctx: Ctx) -> None:
    rng = rng_for("Project")
    reqs = sorted(ctx.items["Request"], key=lambda r: r["id"])
    won = rng.sample(reqs, COUNTS["Project"])
    props = ctx.by_id("Property")
    agents = ctx.users_in("agents")
    homeowners = ctx.users_in("homeowners")
    for req in won:
        req["status"] = "won"
        created = after(rng, created_of(req), 30, 60 * 24)
        lo, hi = SERVICE[req["serviceType"]][1]
        contract_cents = rng.randint(lo // 100, hi // 100) * 100 + rng.choice([0, 0, 50, 75, 25])
        start = after(rng, created, 21, 60 * 24)
        duration = timedelta(days=rng.randint(7, 120))
        target_end = start + duration
        if target_end < T_END - timedelta(days=10) and rng.random() < 0.75:
            status = "completed"
        elif start > T_END - timedelta(days=3):
            status = "planning"
        else:
            status = weighted(rng, [("in_progress", 7), ("on_hold", 1), ("planning", 1)])
        prop = props[req["propertyId"]]
        it: dict[str, Any] = {
            "id": new_id(rng),
            "requestId": req["id"],
            "propertyId": req["propertyId"],
            "contactId": req["contactId"],
            "name": f"{SERVICE[req['serviceType']][0]} – {prop['address']['street']}",
            "status": status,
            "_laborShare": Decimal(rng.choice(["0.45", "0.5", "0.55"])),
            "startDate": iso_date(start),
            "targetEndDate": iso_date(target_end),
            "completedAt": iso_ms(min(after(rng, target_end, 10, 60), T_END)) if status == "completed" else None,
            "projectManagerId": rng.choice(agents)["sub"],
            "phases": rng.sample(["design", "permits", "demolition", "rough-in", "finishes", "closeout"], rng.randint(2, 4)),
        }
        it["_start"] = start
        set_contract(it, money(contract_cents))  # replaced by the accepted quote's total in gen_quotes
        if "owner" in req:
            it["owner"] = req["owner"]
        else:
            it["owner"] = ctx.owner(rng.choice(homeowners))
        if rng.random() < 0.4:
            it["tags"] = SS(rng.sample(["priority", "warranty-work", "financing", "hoa-approval", "photo-shoot"], rng.randint(1, 2)))
        stamp(rng, it, "Project", created, 60, 0.9)
        ctx.items["Project"].append(it)
    # Requests that did not become projects may not claim to be won.
    for req in ctx.items["Request"]:
        if req["status"] in ("won", "lost", "cancelled"):
            req["closedAt"] = iso_ms(after(rng, created_of(req), 40, 60))
        else:
            req["closedAt"] = None


def set_contract(proj: dict[str, Any], amount: Decimal) -> None:
    labor = q2(amount * proj["_laborShare"])
    contingency = q2(amount * Decimal("0.1"))
    proj["contractAmount"] = amount
    proj["budget"] = {"labor": labor, "materials": amount - labor - contingency, "contingency": contingency}


def gen_quotes(ctx: Ctx) -> None:
    rng = rng_for("Quote")
    reqs = sorted(ctx.items["Request"], key=lambda r: r["id"])
    project_of = {p["requestId"]: p for p in ctx.items["Project"]}
    props = ctx.by_id("Property")
    eligible = [r for r in reqs if r["status"] in ("won", "quoted", "lost")]
    weights = [3.0 if r["status"] == "won" else 1.0 for r in eligible]
    per_req = distribute(rng, COUNTS["Quote"], [r["id"] for r in eligible], 1, weights)
    agents = ctx.users_in("agents")
    quotes: list[dict[str, Any]] = []
    for req in eligible:
        n = per_req[req["id"]]
        proj = project_of.get(req["id"])
        state = props[req["propertyId"]]["address"]["state"]
        t = after(rng, created_of(req), 10, 60 * 6)
        for v in range(1, n + 1):
            it: dict[str, Any] = {"id": new_id(rng), "requestId": req["id"], "version": v}
            if proj is not None:
                if v == 1:
                    kind, status = "initial", "accepted"
                    t = between(rng, created_of(req), created_of(proj))
                    it["projectId"] = proj["id"]
                else:
                    kind, status = "change_order", weighted(rng, [("accepted", 5), ("sent", 2), ("rejected", 1)])
                    t = after(rng, max(t, created_of(proj)), 25)
                    it["projectId"] = proj["id"]
            else:
                kind = "initial" if v == 1 else "revision"
                if v < n:
                    status = "superseded"
                elif req["status"] == "lost":
                    status = weighted(rng, [("rejected", 3), ("expired", 1)])
                else:
                    status = weighted(rng, [("sent", 5), ("draft", 1), ("expired", 1)])
                t = after(rng, t, 12, 60)
            label = SERVICE[req["serviceType"]][0]
            if kind == "change_order":
                target = q2(proj["contractAmount"] * Decimal(rng.randint(2, 15)) / 100)
                lines = quote_lines(rng, f"Change order ({label.lower()})", target, rng.randint(0, 2))
            else:
                target = money(rng.randint(int(req["budgetMin"] * 90), int(req["budgetMax"] * 105)))
                lines = quote_lines(rng, label, target, rng.randint(1, 4))
            subtotal = sum((l["total"] for l in lines), Decimal(0))
            rate = TAX_RATES[state]
            tax = q2(subtotal * rate)
            it.update({
                "kind": kind,
                "status": status,
                "lineItems": lines,
                "subtotal": subtotal,
                "taxRate": rate,
                "tax": tax,
                "total": subtotal + tax,
                "validUntil": iso_date(t + timedelta(days=30)),
                "preparedBy": rng.choice(agents)["sub"],
                "notes": rng.choice(["Price valid for 30 days.", "Excludes appliance purchase.",
                                     "Assumes existing framing is sound.", "Includes haul-away of debris."]) if rng.random() < 0.5 else None,
            })
            if rng.random() < 0.2:
                opts = sorted(rng.sample(range(25000, 450000), 3))
                it["optionPrices"] = NS([money(c) for c in opts])
            if proj is not None and kind == "initial":
                set_contract(proj, it["total"])
            stamp(rng, it, "Quote", t, 10, 0.5)
            if proj is not None and kind == "initial":
                # the quote predates its project; projectId was set when the project was created
                it["updatedAt"] = iso_ms(created_of(proj) + timedelta(milliseconds=rng.randint(50, 900)))
            quotes.append(it)
    # Human-friendly numbers in creation order, restarting each year.
    per_year: dict[int, int] = {}
    for q in sorted(quotes, key=lambda q: (q["_created"], q["id"])):
        year = q["_created"].year
        per_year[year] = per_year.get(year, 0) + 1
        q["quoteNumber"] = f"Q-{year}-{per_year[year]:05d}"
    ctx.items["Quote"] = quotes


def gen_payment_terms(ctx: Ctx) -> None:
    rng = rng_for("ProjectPaymentTerm")
    projects = sorted(ctx.items["Project"], key=lambda p: p["id"])
    n_four = COUNTS["ProjectPaymentTerm"] - 3 * len(projects)
    four = {p["id"] for p in rng.sample(projects, n_four)}
    for proj in projects:
        n = 4 if proj["id"] in four else 3
        pcts = rng.choice(PAYMENT_SCHEDULES[n])
        contract = proj["contractAmount"]
        if proj["status"] == "completed":
            n_paid = n
        elif proj["status"] == "planning":
            n_paid = rng.randint(0, 1)
        else:
            n_paid = rng.randint(1, n - 1)
        start: datetime = proj["_start"]
        running = Decimal(0)
        for seq, pct in enumerate(pcts, start=1):
            amount = q2(contract * pct / 100) if seq < n else contract - running
            running += amount
            due = start + timedelta(days=(seq - 1) * rng.randint(10, 30))
            if seq <= n_paid:
                status = "paid"
            elif seq == n_paid + 1 and proj["status"] != "planning":
                status = "overdue" if proj["status"] == "on_hold" and due < T_END - timedelta(days=1) else "invoiced"
            else:
                status = "pending"
            term_created = after(rng, created_of(proj), 2, 1)
            paid_at = None
            if status == "paid":  # on time, late, or early (never after the snapshot)
                paid_at = after(rng, max(min(due - timedelta(days=2), T_END - timedelta(days=3)), term_created), 12, 0)
            it: dict[str, Any] = {
                "id": new_id(rng),
                "projectId": proj["id"],
                "sequence": seq,
                "label": PAYMENT_LABELS[n][seq - 1],
                "percentage": pct,
                "amount": amount,
                "dueDate": iso_date(due),
                "status": status,
                "paidAt": iso_ms(paid_at) if paid_at else None,
                "method": rng.choice(["ach", "check", "card", "financing"]) if paid_at else None,
            }
            stamp(rng, it, "ProjectPaymentTerm", term_created, 60, 0.8)
            ctx.items["ProjectPaymentTerm"].append(it)


def gen_milestones(ctx: Ctx) -> None:
    rng = rng_for("ProjectMilestone")
    projects = sorted(ctx.items["Project"], key=lambda p: p["id"])
    per = distribute(rng, COUNTS["ProjectMilestone"], [p["id"] for p in projects], 1)
    for proj in projects:
        n = per[proj["id"]]
        titles = sorted(rng.sample(range(len(MILESTONE_TITLES)), n))
        start: datetime = proj["_start"]
        due = start
        for seq, ti in enumerate(titles, start=1):
            due = due + timedelta(days=rng.randint(3, 25))
            if proj["status"] == "completed" or due < T_END - timedelta(days=rng.randint(0, 20)):
                done_at = after(rng, due - timedelta(days=5), 7, 0)
                status = "done" if done_at <= due + timedelta(days=1) else "done_late"
            else:
                done_at = None
                status = "late" if due < T_END else "pending"
            it: dict[str, Any] = {
                "id": new_id(rng),
                "projectId": proj["id"],
                "sequence": seq,
                "title": MILESTONE_TITLES[ti],
                "dueDate": iso_date(due),
                "status": status,
                "completedAt": iso_ms(done_at) if done_at else None,
                "checklist": [{"item": x, "done": done_at is not None or rng.random() < 0.3}
                              for x in rng.sample(["photos uploaded", "client sign-off", "site cleaned",
                                                   "inspector notified", "materials on site"], rng.randint(1, 3))],
            }
            if rng.random() < 0.35:
                it["reminderDaysBefore"] = NS(sorted(rng.sample([1, 2, 3, 7, 14], rng.randint(1, 3))))
            stamp(rng, it, "ProjectMilestone", after(rng, created_of(proj), 3, 1), 40)
            ctx.items["ProjectMilestone"].append(it)


def gen_comments(ctx: Ctx) -> None:
    rng = rng_for("ProjectComment")
    projects = sorted(ctx.items["Project"], key=lambda p: p["id"])
    per = distribute(rng, COUNTS["ProjectComment"], [p["id"] for p in projects])
    staff = ctx.users_in("agents") + ctx.users_in("admins")
    users_by_sub = {u["sub"]: u for u in ctx.users}
    for proj in projects:
        homeowner = users_by_sub[proj["owner"].split("::")[0]]
        pm = users_by_sub[proj["projectManagerId"]]
        for _ in range(per[proj["id"]]):
            author = weighted(rng, [(pm, 5), (homeowner, 3), (rng.choice(staff), 1)])
            is_staff = author is not homeowner
            it: dict[str, Any] = {
                "id": new_id(rng),
                "projectId": proj["id"],
                "authorId": author["sub"],
                "owner": ctx.owner(author),
                "body": rng.choice(COMMENT_BODIES),
                "visibility": "internal" if is_staff and rng.random() < 0.3 else "client",
                "edited": rng.random() < 0.1,
            }
            if rng.random() < 0.15:
                it["attachments"] = [{"key": f"protected/{author['sub']}/comments/{new_id(rng)}.jpg",
                                      "contentType": "image/jpeg", "size": rng.randint(80000, 900000)}
                                     for _ in range(rng.randint(1, 2))]
            if is_staff and rng.random() < 0.15:
                it["mentions"] = SS([homeowner["sub"]] + ([pm["sub"]] if pm is not author else []))
            stamp(rng, it, "ProjectComment", after(rng, created_of(proj), 90, 30), 2, 0.2)
            ctx.items["ProjectComment"].append(it)


def gen_auth(ctx: Ctx) -> None:
    rng = rng_for("Auth")
    skip = [u for u in ctx.users if u["status"] == "UNCONFIRMED"]
    skip += [u for u in ctx.users if u["status"] == "FORCE_CHANGE_PASSWORD"][:1]
    assert len(ctx.users) - len(skip) == COUNTS["Auth"]
    skip_subs = {u["sub"] for u in skip}
    for u in ctx.users:
        if u["sub"] in skip_subs:
            continue
        created = ctx.user_created[u["sub"]] + timedelta(seconds=rng.randint(1, 5), milliseconds=rng.randint(0, 999))
        signed_in = u["status"] == "CONFIRMED"
        it: dict[str, Any] = {
            "id": new_id(rng),
            "userId": u["sub"],
            "owner": ctx.owner(u),
            "email": u["attributes"]["email"],
            "role": u["groups"][0] if u["groups"] else "none",
            "provider": "COGNITO",
            "signInCount": rng.randint(1, 240) if signed_in else 0,
            "lastSignInAt": iso_ms(after(rng, created, 300, 60)) if signed_in else None,
            "locale": rng.choice(["en-US", "en-US", "en-US", "es-US", "zh-CN"]),
        }
        if signed_in:
            it["sessionKeyHash"] = rand_bytes(rng, 32)  # a SHA-256-sized digest
            if rng.random() < 0.3:
                it["passkeyCredentialIds"] = BS([rand_bytes(rng, rng.choice([16, 20, 32, 64])) for _ in range(rng.randint(1, 3))])
            if rng.random() < 0.5:
                it["trustedDevices"] = [{"deviceKey": f"{REGION}_{new_id(rng)}",
                                         "name": rng.choice(["iPhone", "Pixel 8", "MacBook Pro", "Windows PC", "iPad"]),
                                         "lastSeenAt": iso_ms(after(rng, created, 200))}
                                        for _ in range(rng.randint(1, 2))]
        stamp(rng, it, "Auth", created, 200)
        ctx.items["Auth"].append(it)


PREVIOUS_STATUSES = {
    "Request": ["new", "contacted", "scheduled", "quoted"],
    "Project": ["planning", "in_progress", "on_hold"],
    "Quote": ["draft", "sent"],
}


def audit_update(rng: random.Random, ctx: Ctx, etype: str, ent: dict[str, Any]) -> dict[str, Any]:
    """A plausible field diff for one entity type; old/new values vary in type (S/N/BOOL/NULL/L)."""
    if etype == "Contact":
        return rng.choice([
            {"marketingOptIn": {"old": not ent["marketingOptIn"], "new": ent["marketingOptIn"]}},
            {"phone": {"old": None, "new": ent["phone"]}},
            {"tags": {"old": ["newsletter"], "new": ["newsletter", "repeat-customer"]}},
            {"notes": {"old": "Call after 5pm.", "new": None}, "preferredContactMethod": {"old": "phone", "new": ent["preferredContactMethod"]}},
        ])
    if etype == "Property":
        return rng.choice([
            {"estimatedValue": {"old": ent["estimatedValue"] - money(2500000), "new": ent["estimatedValue"]}},
            {"bedrooms": {"old": ent["bedrooms"] + 1, "new": ent["bedrooms"]}},
            {"hoaFee": {"old": None, "new": ent["hoaFee"]}},
        ])
    if etype == "Request":
        return rng.choice([
            {"budgetMax": {"old": ent["budgetMax"] - money(250050), "new": ent["budgetMax"]}},
            {"urgency": {"old": "normal", "new": ent["urgency"]}},
            {"details.permitsRequired": {"old": not ent["details"]["permitsRequired"], "new": ent["details"]["permitsRequired"]}},
        ])
    if etype == "Project":
        return rng.choice([
            {"targetEndDate": {"old": ent["startDate"], "new": ent["targetEndDate"]}},
            {"projectManagerId": {"old": rng.choice(ctx.users_in("agents"))["sub"], "new": ent["projectManagerId"]}},
        ])
    return {"notes": {"old": None, "new": ent["notes"]}, "lineItems.count": {"old": len(ent["lineItems"]) - 1, "new": len(ent["lineItems"])}}


def gen_audit_logs(ctx: Ctx) -> None:
    rng = rng_for("AuditLog")
    staff = ctx.users_in("agents") + ctx.users_in("admins")
    pool = (
        [("Contact", it) for it in ctx.items["Contact"]]
        + [("Property", it) for it in ctx.items["Property"]]
        + [("Request", it) for it in ctx.items["Request"]]
        + [("Project", it) for it in ctx.items["Project"]]
        + [("Quote", it) for it in ctx.items["Quote"]]
    )
    base_seq = 17_000_000_000_000_000  # > 2**53: must survive without float rounding
    rows = []
    for _ in range(COUNTS["AuditLog"]):
        etype, ent = rng.choice(pool)
        action = weighted(rng, [("CREATE", 2), ("UPDATE", 5), ("STATUS_CHANGE", 2)])
        if action == "STATUS_CHANGE" and etype not in PREVIOUS_STATUSES:
            action = "UPDATE"
        if action == "CREATE":
            t = created_of(ent) + timedelta(milliseconds=rng.randint(5, 400))
            changes: dict[str, Any] = {"id": {"old": None, "new": ent["id"]}}
        elif action == "STATUS_CHANGE":
            t = after(rng, created_of(ent), 60)
            olds = [x for x in PREVIOUS_STATUSES[etype] if x != ent["status"]]
            changes = {"status": {"old": rng.choice(olds), "new": ent["status"]}}
        else:
            t = after(rng, created_of(ent), 60)
            changes = audit_update(rng, ctx, etype, ent)
        actor = rng.choice(staff)
        rows.append((t, {
            "id": new_id(rng),
            "entityType": etype,
            "entityId": ent["id"],
            "action": action,
            "actorId": actor["sub"],
            "changes": changes,
            "ip": rng.choice(["203.0.113.", "198.51.100.", "192.0.2."]) + str(rng.randint(1, 254)),
            "userAgent": rng.choice(["Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Safari/605.1.15",
                                     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126.0 Safari/537.36",
                                     "amplify-js/6.3.0 react-native"]),
            "expiresAt": epoch(t) + 365 * 86400,
        }))
    rows.sort(key=lambda r: (r[0], r[1]["id"]))
    for n, (t, it) in enumerate(rows):
        it["sequence"] = base_seq + n * 7919 + rng.randint(0, 7000)
        stamp(rng, it, "AuditLog", t, 0, 0.0)
        ctx.items["AuditLog"].append(it)


# ---- the 24 smaller models ------------------------------------------------


def gen_small(ctx: Ctx) -> None:
    users_by_sub = {u["sub"]: u for u in ctx.users}
    agents = ctx.users_in("agents")
    admins = ctx.users_in("admins")
    homeowners = ctx.users_in("homeowners")
    projects = sorted(ctx.items["Project"], key=lambda p: p["id"])
    requests = sorted(ctx.items["Request"], key=lambda r: r["id"])
    contacts = sorted(ctx.items["Contact"], key=lambda c: c["id"])
    props = ctx.by_id("Property")

    def add(model: str, it: dict[str, Any], created: datetime, upd_days: float = 20) -> None:
        stamp(rng, it, model, created, upd_days)
        ctx.items[model].append(it)

    # Vendor
    rng = rng_for("Vendor")
    for name, spec in [("Pacific Lumber Supply", ["lumber", "decking"]), ("Bayside Tile Co.", ["tile", "stone"]),
                       ("Sierra Electric Wholesale", ["electrical", "lighting"]), ("Golden State Plumbing Supply", ["plumbing", "fixtures"]),
                       ("Coastal Cabinets", ["cabinets", "millwork"]), ("Summit Roofing Materials", ["roofing"]),
                       ("Delta Paint & Coatings", ["paint"]), ("Evergreen Landscape Supply", ["landscaping", "irrigation"]),
                       ("SunPeak Solar Distribution", ["solar", "batteries", "electrical"]), ("Redline HVAC Parts", ["hvac"])]:
        add("Vendor", {
            "id": new_id(rng), "name": name,
            "contactEmail": f"orders@{slug(name.split()[0])}.example.net",
            "phone": ctx.phone(rng), "address": ctx.address(rng),
            "specialties": SS(spec), "rating": Decimal(rng.randint(35, 50)) / 10,
            "insuranceExpiresOn": iso_date(datetime(2025, 9, 1, tzinfo=UTC) + timedelta(days=rng.randint(0, 400))),
            "preferred": rng.random() < 0.5,
        }, between(rng, T_DATA_START - timedelta(days=58), T_DATA_START - timedelta(days=32)), 200)
    vendors = sorted(ctx.items["Vendor"], key=lambda v: v["id"])

    # Product
    rng = rng_for("Product")
    catalog = [("Quartz countertop slab", "slab", "countertops"), ("Porcelain floor tile 12x24", "sqft", "tile"),
               ("Composite decking board 16ft", "board", "decking"), ("200A main breaker panel", "each", "electrical"),
               ("Low-flow toilet", "each", "fixtures"), ("Shaker base cabinet 36in", "each", "cabinets"),
               ("Architectural shingles", "bundle", "roofing"), ("Exterior acrylic paint", "gallon", "paint"),
               ("Drip irrigation kit", "kit", "irrigation"), ("400W solar panel", "each", "solar"),
               ("Heat pump condenser 3 ton", "each", "hvac"), ("Pressure-treated 4x4 post", "each", "lumber"),
               ("Vinyl window 36x48", "each", "windows"), ("LED recessed light 6in", "each", "lighting"),
               ("Tankless water heater", "each", "plumbing")]
    for name, unit, cat in catalog:
        vendor = rng.choice(vendors)
        add("Product", {
            "id": new_id(rng), "vendorId": vendor["id"], "sku": f"SKU-{rng.randint(10000, 99999)}",
            "name": name, "category": cat, "unit": unit, "unitPrice": money(rng.randint(199, 480000)),
            "inStock": rng.random() < 0.8,
            "dimensions": {"length": Decimal(rng.randint(10, 960)) / 10, "width": Decimal(rng.randint(10, 480)) / 10, "unit": "in"},
        }, after(rng, created_of(vendor), 30, 60), 150)
    products = sorted(ctx.items["Product"], key=lambda p: p["id"])

    # Invoice / Payment
    rng = rng_for("Invoice")
    terms = sorted(ctx.items["ProjectPaymentTerm"], key=lambda t: t["id"])
    paid_terms = [t for t in terms if t["status"] == "paid"]
    open_terms = [t for t in terms if t["status"] in ("invoiced", "overdue")]
    chosen = rng.sample(paid_terms, 14) + rng.sample(open_terms, COUNTS["Invoice"] - 14)
    proj_by_id = ctx.by_id("Project")
    for n, term in enumerate(sorted(chosen, key=lambda t: (t["dueDate"], t["id"])), start=1):
        issued = datetime.strptime(term["dueDate"], "%Y-%m-%d").replace(tzinfo=UTC) - timedelta(days=rng.randint(7, 14), hours=-rng.randint(8, 17))
        issued = max(min(issued, T_END - timedelta(hours=rng.randint(2, 48))), created_of(term) + timedelta(hours=1))
        add("Invoice", {
            "id": new_id(rng), "projectId": term["projectId"], "paymentTermId": term["id"],
            "invoiceNumber": f"INV-2025-{n:04d}", "amountDue": term["amount"],
            "status": {"paid": "paid", "invoiced": "open", "overdue": "overdue"}[term["status"]],
            "issuedAt": iso_ms(issued), "dueDate": term["dueDate"],
            "lineItems": [{"description": f"{term['label']} ({term['percentage']}%)", "amount": term["amount"]}],
            "billTo": proj_by_id[term["projectId"]]["contactId"],
        }, issued, 15)
    rng = rng_for("Payment")
    paid_invoices = [i for i in sorted(ctx.items["Invoice"], key=lambda i: i["id"]) if i["status"] == "paid"]
    term_by_id = {t["id"]: t for t in terms}
    for inv in paid_invoices[: COUNTS["Payment"]]:
        term = term_by_id[inv["paymentTermId"]]
        received = datetime.strptime(term["paidAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        add("Payment", {
            "id": new_id(rng), "invoiceId": inv["id"], "amount": inv["amountDue"], "currency": "USD",
            "method": term["method"], "processorRef": f"pi_{rand_hex(rng, 24)}",
            "receivedAt": term["paidAt"], "fee": q2(inv["amountDue"] * Decimal("0.029")) if term["method"] == "card" else Decimal(0),
        }, received, 0)

    # Document (+ their S3 objects)
    rng = rng_for("Document")
    for proj in rng.sample(projects, COUNTS["Document"]):
        uploader = users_by_sub[proj["projectManagerId"]] if rng.random() < 0.6 else users_by_sub[proj["owner"].split("::")[0]]
        doc_id = new_id(rng)
        key = f"protected/{uploader['sub']}/documents/{doc_id}.pdf"
        size = rng.randint(40_000, 3_500_000)
        title = rng.choice(["Signed contract", "Floor plan", "Permit application", "Material spec sheet", "Change order #1", "Lien release"])
        created = after(rng, created_of(proj), 40, 30)
        add("Document", {
            "id": doc_id, "projectId": proj["id"], "uploadedBy": uploader["sub"], "owner": ctx.owner(uploader),
            "title": title, "category": rng.choice(["contract", "plan", "permit", "spec", "legal"]),
            "s3Key": key, "contentType": "application/pdf", "sizeBytes": size, "sha256": rand_bytes(rng, 32),
        }, created, 5)
        ctx.assets.append({"key": key, "size": size, "etag": f'"{rand_hex(rng, 32)}"', "content_type": "application/pdf",
                           "metadata": {"original-filename": f"{slug(title)}.pdf"},
                           "last_modified": iso_s(created + timedelta(seconds=2))})

    # Notification
    rng = rng_for("Notification")
    for _ in range(COUNTS["Notification"]):
        proj = rng.choice(projects)
        recipient = users_by_sub[proj["owner"].split("::")[0]]
        ntype, title = rng.choice([("payment_due", "Payment due soon"), ("milestone_completed", "Milestone completed"),
                                   ("comment_added", "New comment on your project"), ("quote_sent", "Your quote is ready")])
        add("Notification", {
            "id": new_id(rng), "recipientId": recipient["sub"], "owner": ctx.owner(recipient),
            "type": ntype, "title": title, "body": f"{title}: {proj['name']}",
            "read": rng.random() < 0.5, "channels": SS(rng.sample(["email", "push", "sms"], rng.randint(1, 3))),
            "payload": {"entityType": "Project", "entityId": proj["id"], "deepLink": f"/projects/{proj['id']}"},
        }, after(rng, created_of(proj), 60, 10), 3)

    # Setting (the `value` attribute deliberately changes type from item to item)
    rng = rng_for("Setting")
    admin = admins[0]
    for key, value in [
        ("company.name", "Demo Home Services LLC"),
        ("billing.defaultTaxRate", Decimal("0.0825")),
        ("uploads.maxBytes", 5_368_709_120),
        ("notifications.enabled", True),
        ("scheduling.businessHours", {"mon-fri": ["08:00", "17:30"], "sat": ["09:00", "13:00"], "sun": None}),
        ("quotes.defaultValidityDays", 30),
        ("branding.colors", ["#1f6feb", "#f0f6fc", "#2da44e"]),
        ("integrations.crm", None),
        ("features.beta", SS(["ai-estimates", "client-portal-v2"])),
    ]:
        add("Setting", {"id": new_id(rng), "key": key, "value": value, "scope": "global", "updatedBy": admin["sub"]},
            between(rng, T_DATA_START - timedelta(days=20), T_DATA_START + timedelta(days=200)), 100)

    # Task
    rng = rng_for("Task")
    for _ in range(COUNTS["Task"]):
        proj = rng.choice(projects)
        it = {"id": new_id(rng), "projectId": proj["id"], "assigneeId": rng.choice(agents)["sub"],
              "title": rng.choice(["Order materials", "Schedule inspection", "Confirm crew", "Upload progress photos",
                                   "Send change order", "Book dumpster", "Call client re: finishes"]),
              "status": rng.choice(["todo", "in_progress", "done", "blocked"]), "priority": rng.randint(1, 5),
              "dueDate": iso_date(after(rng, proj["_start"], 60))}
        if rng.random() < 0.4:
            it["labels"] = SS(rng.sample(["urgent", "client-facing", "procurement", "permits"], rng.randint(1, 2)))
        add("Task", it, after(rng, created_of(proj), 30, 30), 10)

    # Appointment
    rng = rng_for("Appointment")
    for req in rng.sample(requests, COUNTS["Appointment"]):
        starts = after(rng, created_of(req), 14, 60 * 20).replace(minute=rng.choice([0, 30]), second=0, microsecond=0)
        add("Appointment", {
            "id": new_id(rng), "requestId": req["id"], "contactId": req["contactId"],
            "agentId": rng.choice(agents)["sub"], "type": rng.choice(["site_visit", "estimate", "consultation", "inspection"]),
            "startsAt": iso_ms(starts), "endsAt": iso_ms(starts + timedelta(minutes=rng.choice([30, 60, 90]))),
            "status": rng.choice(["scheduled", "completed", "completed", "no_show", "cancelled"]),
            "location": props[req["propertyId"]]["address"],
        }, after(rng, created_of(req), 3, 30), 5)

    # Message
    rng = rng_for("Message")
    for _ in range(COUNTS["Message"]):
        c = rng.choice(contacts)
        direction = rng.choice(["inbound", "outbound"])
        channel = rng.choice(["sms", "email"])
        t = after(rng, created_of(c), 90, 30)
        add("Message", {
            "id": new_id(rng), "contactId": c["id"], "direction": direction, "channel": channel,
            "body": rng.choice(["Hi! Just confirming tomorrow at 9am.", "Can you send the updated quote?",
                                "Thanks, we received your payment.", "Running 15 minutes late, sorry!",
                                "¿Podemos cambiar la cita al jueves?"]),
            "sentAt": iso_ms(t), "deliveryStatus": rng.choice(["delivered", "delivered", "read", "failed"]),
        }, t, 0)

    # Review
    rng = rng_for("Review")
    done = [p for p in projects if p["status"] == "completed"] or projects
    for proj in rng.sample(done, COUNTS["Review"]):
        rating = rng.choice([3, 4, 5, 5, 5])
        add("Review", {
            "id": new_id(rng), "projectId": proj["id"], "rating": rating,
            "title": {3: "Good, with a few delays", 4: "Great crew", 5: "Absolutely fantastic"}[rating],
            "body": "The team was professional and kept the site clean. Would hire again.",
            "published": rng.random() < 0.8,
            "response": "Thank you — it was a pleasure working with you!" if rng.random() < 0.5 else None,
        }, after(rng, datetime.strptime(proj["completedAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
                 if proj["completedAt"] else created_of(proj), 20, 60), 10)

    # Estimate
    rng = rng_for("Estimate")
    for req in rng.sample(requests, COUNTS["Estimate"]):
        low = req["budgetMin"] * Decimal(rng.choice(["0.9", "1", "1.1"]))
        add("Estimate", {
            "id": new_id(rng), "requestId": req["id"], "low": q2(low), "high": q2(low * Decimal("1.35")),
            "confidence": Decimal(rng.choice(["0.6", "0.7", "0.75", "0.85"])), "preparedBy": rng.choice(agents)["sub"],
            "assumptions": rng.sample(["standard-grade finishes", "no structural changes", "existing wiring to code",
                                       "client supplies appliances", "permit fees included"], rng.randint(1, 3)),
        }, after(rng, created_of(req), 7, 60), 10)

    # Lead
    rng = rng_for("Lead")
    affiliates = sorted(ctx.items["Affiliate"], key=lambda a: a["id"])
    for _ in range(COUNTS["Lead"]):
        first, last = ctx.person(rng)
        it = {"id": new_id(rng), "name": f"{first} {last}", "email": ctx.email(rng, first, last, ["example.net"]),
              "source": rng.choice(["affiliate", "web-form", "google-ads", "home-show"]), "score": rng.randint(5, 98),
              "status": rng.choice(["new", "nurturing", "converted", "disqualified"]),
              "interests": SS(rng.sample([s[0] for s in SERVICE_TYPES], rng.randint(1, 3)))}
        if rng.random() < 0.7:
            it["phone"] = ctx.phone(rng)
        if it["source"] == "affiliate":
            it["affiliateId"] = rng.choice(affiliates)["id"]
        created = between(rng, T_DATA_START, datetime(2025, 7, 31, tzinfo=UTC))
        if it["status"] == "converted":
            contact = rng.choice(contacts)
            it["convertedContactId"] = contact["id"]
            created = created_of(contact) - timedelta(days=rng.randint(1, 30), minutes=rng.randint(0, 600))
        add("Lead", it, created, 30)
        if "convertedContactId" in it:  # converted = linked when the contact was created
            it["updatedAt"] = iso_ms(created_of(contact) + timedelta(milliseconds=rng.randint(50, 900)))
    leads = sorted(ctx.items["Lead"], key=lambda l: l["id"])

    # Campaign
    rng = rng_for("Campaign")
    for name, channel in [("Spring kitchen refresh", "email"), ("Solar tax credit reminder", "email"),
                          ("Roof check before rain season", "sms"), ("Home show follow-up", "email"),
                          ("ADU info night", "social"), ("Summer deck special", "social")]:
        start = between(rng, datetime(2025, 1, 5, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC))
        sent = rng.randint(200, 5000)
        opened = rng.randint(sent // 5, sent // 2)
        clicked = rng.randint(opened // 10, opened // 3)
        add("Campaign", {
            "id": new_id(rng), "name": name, "channel": channel, "startDate": iso_date(start),
            "endDate": iso_date(start + timedelta(days=rng.randint(14, 45))), "budget": money(rng.randint(50, 600) * 1000),
            "active": start > datetime(2025, 6, 15, tzinfo=UTC),
            "targetZips": SS(sorted({f"{CITIES[i][2]}{rng.randint(1, 99):02d}" for i in rng.sample(range(len(CITIES)), 3)})),
            "metrics": {"sent": sent, "opened": opened, "clicked": clicked,
                        "ctr": (Decimal(clicked) / Decimal(sent)).quantize(Decimal("0.0001"))},
        }, start - timedelta(days=rng.randint(3, 10)), 60)

    # ServiceArea (boundary: list of [lat, lng] lists)
    rng = rng_for("ServiceArea")
    for i, (city, state, zp, _a, lat, lng) in enumerate(CITIES):
        clat, clng = Decimal(lat), Decimal(lng)
        ring = [[clat + Decimal(dy) / 100, clng + Decimal(dx) / 100] for dy, dx in [(-6, -6), (-6, 6), (6, 6), (6, -6)]]
        ring.append(list(ring[0]))
        add("ServiceArea", {
            "id": new_id(rng), "name": f"{city} metro", "state": state,
            "zipCodes": SS([f"{zp}{n:02d}" for n in sorted(rng.sample(range(1, 99), rng.randint(3, 8)))]),
            "active": state == "CA" or rng.random() < 0.5, "travelFee": money(0 if i < 6 else rng.randint(25, 150) * 100),
            "timezone": "America/Los_Angeles", "boundary": ring,
        }, between(rng, T_DATA_START - timedelta(days=30), T_DATA_START), 120)

    # Inspection
    rng = rng_for("Inspection")
    for proj in rng.sample(projects, COUNTS["Inspection"]):
        result = rng.choice(["pass", "pass", "fail", "pending"])
        it = {"id": new_id(rng), "propertyId": proj["propertyId"], "inspector": f"{rng.choice(['City', 'County'])} inspector #{rng.randint(100, 999)}",
              "type": rng.choice(["rough-in", "final", "electrical", "plumbing", "framing"]),
              "scheduledAt": iso_ms(after(rng, proj["_start"], 40)), "result": result,
              "passed": {"pass": True, "fail": False, "pending": None}[result],
              "findings": [] if result == "pass" else [{"area": rng.choice(ROOMS), "severity": rng.choice(["minor", "major"]),
                                                         "note": rng.choice(["GFCI missing", "Missing nail plate", "Vent clearance"])}]}
        if rng.random() < 0.8:
            it["projectId"] = proj["id"]
        add("Inspection", it, after(rng, created_of(proj), 20, 60), 15)

    # Permit (exactly one item)
    rng = rng_for("Permit")
    proj = rng.choice(projects)
    add("Permit", {"id": new_id(rng), "projectId": proj["id"], "permitNumber": f"BLD-2025-{rng.randint(10000, 99999)}",
                   "jurisdiction": f"City of {props[proj['propertyId']]['address']['city']}", "type": "residential-alteration",
                   "status": "issued", "fee": money(rng.randint(15000, 240000)),
                   "issuedAt": iso_ms(after(rng, created_of(proj), 20, 60)),
                   "expiresOn": iso_date(created_of(proj) + timedelta(days=365))}, after(rng, created_of(proj), 5, 30), 20)

    # Material
    rng = rng_for("Material")
    for _ in range(COUNTS["Material"]):
        proj = rng.choice(projects)
        prod = rng.choice(products)
        qty = Decimal(rng.randint(1, 400)) / 2 if prod["unit"] in ("sqft", "gallon") else rng.randint(1, 24)
        add("Material", {"id": new_id(rng), "projectId": proj["id"], "productId": prod["id"], "quantity": qty,
                         "unitCost": prod["unitPrice"], "extendedCost": q2(Decimal(qty) * prod["unitPrice"]),
                         "deliveredAt": iso_ms(after(rng, proj["_start"], 20)) if rng.random() < 0.6 else None},
            after(rng, max(created_of(proj), created_of(prod)), 15, 60), 20)

    # Warranty
    rng = rng_for("Warranty")
    for proj in rng.sample(done, COUNTS["Warranty"]):
        start = proj["completedAt"][:10] if proj["completedAt"] else proj["targetEndDate"]
        years = rng.choice([1, 2, 5, 10])
        add("Warranty", {"id": new_id(rng), "projectId": proj["id"], "provider": rng.choice(["Demo Home Services LLC", "Manufacturer"]),
                         "coverage": rng.choice(["workmanship", "materials", "roof-system", "appliances"]),
                         "startsOn": start, "endsOn": f"{int(start[:4]) + years}{start[4:]}", "transferable": rng.random() < 0.5,
                         "terms": rng.sample(["Excludes normal wear", "Requires annual maintenance", "Registration within 60 days",
                                              "Labor included in year one"], 2)},
            after(rng, created_of(proj), 90, 60), 10)

    # Referral
    rng = rng_for("Referral")
    for _ in range(COUNTS["Referral"]):
        aff = rng.choice(affiliates)
        it = {"id": new_id(rng), "affiliateId": aff["id"], "status": rng.choice(["pending", "qualified", "paid", "rejected"]),
              "bonusAmount": money(rng.choice([10000, 25000, 50000, 37550]))}
        refs = [aff]
        if rng.random() < 0.6:
            refs.append(rng.choice(leads))
            it["leadId"] = refs[-1]["id"]
        if rng.random() < 0.5:
            refs.append(rng.choice(contacts))
            it["contactId"] = refs[-1]["id"]
        add("Referral", it, after(rng, max(created_of(r) for r in refs), 60, 60), 30)

    # Tag
    rng = rng_for("Tag")
    for name in sorted(set(CONTACT_TAGS + ["priority", "warranty-work", "financing", "hoa-approval", "photo-shoot",
                                           "urgent", "client-facing", "procurement", "permits", "seasonal"])):
        add("Tag", {"id": new_id(rng), "name": name, "color": f"#{rand_hex(rng, 6)}", "usageCount": rng.randint(0, 120),
                    "description": None if rng.random() < 0.5 else f"Items marked as {name}"},
            between(rng, T_DATA_START - timedelta(days=10), T_DATA_START + timedelta(days=200)), 50)

    # Note
    rng = rng_for("Note")
    for _ in range(COUNTS["Note"]):
        c = rng.choice(contacts)
        author = rng.choice(agents)
        add("Note", {"id": new_id(rng), "contactId": c["id"], "authorId": author["sub"], "owner": ctx.owner(author),
                     "body": rng.choice(["Left voicemail.", "Interested in financing options.", "Wants a second quote for the deck.",
                                         "Prefers text messages.", "Referred by neighbor on the same street."]),
                     "pinned": rng.random() < 0.2}, after(rng, created_of(c), 60, 30), 10)

    # Team
    rng = rng_for("Team")
    pool = list(agents)
    rng.shuffle(pool)
    for i, (name, region) in enumerate([("South Bay crew", "south-bay"), ("East Bay crew", "east-bay"),
                                        ("Sacramento crew", "sacramento"), ("Estimating", "all")]):
        members = pool[i * 3:(i + 1) * 3] or pool[:2]
        add("Team", {"id": new_id(rng), "name": name, "region": region, "leadId": members[0]["sub"],
                     "memberIds": SS([m["sub"] for m in members])},
            between(rng, datetime(2024, 9, 15, tzinfo=UTC), T_DATA_START + timedelta(days=30)), 90)

    # Webhook: deliberately empty table.
    _ = homeowners


# --------------------------------------------------------------------------
# S3 assets
# --------------------------------------------------------------------------


def gen_assets(ctx: Ctx) -> None:
    rng = rng_for("assets")
    props = sorted(ctx.items["Property"], key=lambda p: p["id"])
    for prop in rng.sample(props, 9):
        created = after(rng, created_of(prop), 5, 10)
        photos = []
        for name in ["front.jpg"] + sorted(rng.sample(["back.jpg", "kitchen.jpg", "living-room.jpg"], rng.randint(0, 2))):
            key = f"public/properties/{prop['id']}/{name}"
            w, h = rng.choice([(1600, 1200), (2048, 1536), (1920, 1080)])
            ctx.assets.append({"key": key, "size": rng.randint(120_000, 1_400_000), "etag": f'"{rand_hex(rng, 32)}"',
                               "content_type": "image/jpeg", "metadata": {},
                               "last_modified": iso_s(created + timedelta(seconds=rng.randint(1, 30)))})
            photos.append({"key": key, "caption": name[:-4].replace("-", " ").title(), "width": w, "height": h})
        prop["photos"] = photos
    # Avatars of a few users
    for u in rng.sample([u for u in ctx.users if u["status"] == "CONFIRMED"], 4):
        ctx.assets.append({"key": f"protected/{u['sub']}/avatar.png", "size": rng.randint(8_000, 90_000),
                           "etag": f'"{rand_hex(rng, 32)}"', "content_type": "image/png", "metadata": {},
                           "last_modified": iso_s(after(rng, ctx.user_created[u["sub"]], 30))})
    # Static site files
    for key, ctype, size in [("public/static/logo.svg", "image/svg+xml", 4_812),
                             ("public/static/favicon.ico", "image/x-icon", 15_086),
                             ("public/static/terms-of-service.pdf", "application/pdf", 214_330),
                             ("public/static/robots.txt", "text/plain", 67),
                             ("public/static/og-image.png", "image/png", 48_220)]:
        ctx.assets.append({"key": key, "size": size, "etag": f'"{rand_hex(rng, 32)}"', "content_type": ctype,
                           "metadata": {"cache-control": "max-age=86400"} if key.endswith((".svg", ".ico")) else {},
                           "last_modified": iso_s(between(rng, datetime(2024, 9, 1, tzinfo=UTC), datetime(2024, 9, 30, tzinfo=UTC)))})
    ctx.assets.sort(key=lambda a: a["key"])


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------


def dump_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def jsonl_line(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n"


def demo_object_bytes(key: str, size: int) -> bytes:
    """The demo bucket's bytes for an asset: its key and a newline, repeated, cut to
    ``size``. scripts/demo.sh uploads exactly these, so the manifest's checksums are
    those of real objects."""
    unit = (key + "\n").encode()
    return (unit * (size // len(unit) + 1))[:size]


def with_content(asset: dict[str, Any]) -> dict[str, Any]:
    """An asset line with the checksums of its demo bytes (ETag = MD5, as S3 computes
    for a single-part upload) and a Cache-Control header where one was set."""
    data = demo_object_bytes(asset["key"], asset["size"])
    line = dict(asset)
    line["etag"] = '"' + hashlib.md5(data).hexdigest() + '"'
    line["sha256"] = hashlib.sha256(data).hexdigest()
    metadata = dict(line["metadata"])
    if "cache-control" in metadata:
        line["cache_control"] = metadata.pop("cache-control")
    line["metadata"] = metadata
    return line


def dump_jsonl(path: Path, rows: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(jsonl_line(r))


def header() -> dict[str, Any]:
    return {
        "format": "rtsnap",
        "format_version": 1,
        "tool_version": TOOL_VERSION,
        "created_at": SNAPSHOT_CREATED_AT,
        "source": {
            "env": ENV_NAME,
            "backend_suffix": BACKEND_SUFFIX,
            "region": REGION,
            "user_pool_id": USER_POOL_ID,
            "bucket": BUCKET,
        },
        "sections": ["tables", "users", "assets"],
    }


def public_item(it: dict[str, Any]) -> dict[str, Any]:
    """Drop generator-internal fields (``_created``, ``_start``); keep ``__typename``."""
    return {k: v for k, v in it.items() if not (k.startswith("_") and not k.startswith("__"))}


def write_snapshot(ctx: Ctx, out: Path) -> None:
    out.mkdir(parents=True)
    dump_json(out / "rtsnap.json", header())
    for model in MODELS:
        tdir = out / "tables" / model
        dump_json(tdir / "schema.json", table_schema(model))
        items = sorted(ctx.items[model], key=lambda it: it["id"])
        dump_jsonl(tdir / "items-000001.jsonl", [marshal_item(public_item(it)) for it in items])
    dump_json(out / "users" / "pool.json", POOL)
    dump_jsonl(out / "users" / "groups.jsonl", sorted(GROUPS, key=lambda g: g["precedence"]))
    dump_jsonl(out / "users" / "users.jsonl", ctx.users)
    dump_jsonl(out / "assets" / "manifest.jsonl", [with_content(a) for a in ctx.assets])


def outputs_spec() -> fixture_outputs.Spec:
    return fixture_outputs.Spec(
        models=MODELS,
        relations=RELATIONS,
        gsis=gsis_for,
        plural=lambda m: _plural(m),
        ttl=TTL_ATTRIBUTES,
        groups=GROUPS,
        region=REGION,
        user_pool_id=USER_POOL_ID,
        bucket=BUCKET,
        backend_suffix=BACKEND_SUFFIX,
    )


def write_outputs(ctx: Ctx, path: Path) -> None:
    items = {m: [public_item(it) for it in ctx.items[m]] for m in MODELS}
    dump_json(path, fixture_outputs.build(outputs_spec(), items))


def readme_text(owners: list[str]) -> str:
    lines = [
        "# Test fixtures",
        "",
        "`demo/` is an unpacked rtsnap snapshot of a fictional Amplify Gen 2 environment",
        "(a home-renovation / real-estate services app). It is **generated**: do not edit it by",
        "hand, change `scripts/gen_fixtures.py` and regenerate:",
        "",
        "```sh",
        "python3 scripts/gen_fixtures.py            # rewrites fixtures/demo and this README",
        "python3 scripts/gen_fixtures.py --out DIR  # anywhere else (README untouched)",
        "```",
        "",
        "The generator is deterministic (seeded `random.Random`, fixed dates, no wall clock), so",
        "regenerating gives byte-identical files; it self-checks counts, referential integrity,",
        "key attribute types and item sizes, and exits non-zero on a violation.",
        "",
        "All personal data is fake: `example.com` / `example.net` e-mails, `+1 xxx 555-01xx` phone",
        "numbers, documentation IP ranges.",
        "",
        "## Layout",
        "",
        "```",
        "demo/rtsnap.json                         header",
        "demo/tables/<Model>/schema.json          DynamoDB CreateTable-style description",
        "demo/tables/<Model>/items-000001.jsonl   DynamoDB JSON items, sorted by id",
        "demo/users/pool.json                     Cognito user pool settings",
        "demo/users/groups.jsonl                  groups, sorted by precedence",
        "demo/users/users.jsonl                   users, sorted by username",
        "demo/assets/manifest.jsonl               S3 object manifest, sorted by key",
        "amplify_outputs.json                     Amplify Gen 2 client configuration of demo",
        "```",
        "",
        "## Tables",
        "",
        "| Model | Items |",
        "|---|---:|",
    ]
    for m, n in MODEL_COUNTS:
        lines.append(f"| {m} | {n} |")
    lines.append(f"| **total ({len(MODEL_COUNTS)} tables)** | **{sum(COUNTS.values())}** |")
    lines += [
        "",
        "## Relations",
        "",
        "Foreign keys that hold for every item of `demo/` (an absent attribute means no",
        "relation, e.g. `Quote.projectId` only exists on quotes that belong to a project).",
        "Each source field also has a GSI. For `rtsnap.toml`:",
        "",
        "```toml",
    ]
    for i, (src, dst) in enumerate(RELATIONS):
        if i:
            lines.append("")
        lines += ["[[relations]]", f'from = "{src}"', f'to = "{dst}"']
    lines += [
        "```",
        "",
        "## `amplify_outputs.json`",
        "",
        "The client configuration Amplify Gen 2 writes for this environment",
        f"(`npx ampx generate outputs`), in its real shape (version `{fixture_outputs.OUTPUTS_VERSION}`):",
        f"`auth` (user pool `{USER_POOL_ID}`, its client and identity pool, groups),",
        "`data` (AppSync URL, authorization modes, and the model introspection schema of",
        f"the {len(MODELS)} models: fields inferred from the items, each relation above as a",
        "`belongsTo` field with `targetNames` on its source model and a `hasMany` field with",
        "`associatedWith` on its target, every GSI as a `key` attribute, auth rules, primary",
        f"key) and `storage` (bucket `{BUCKET}`), all in `{REGION}`.",
        "",
        f"Owner rules (`allow: owner`, `ownerField: owner`) are on the {len(owners)} models",
        "whose items carry an `owner` field:",
        ", ".join(f"`{m}`" for m in owners) + ".",
        "",
        "Like a real file it holds no backend suffix (the AppSync host is another id) and no",
        "API key. `rtsnap init` reads it and finds the suffix by listing tables:",
        "",
        "```sh",
        "rtsnap init demo --outputs fixtures/amplify_outputs.json",
        "```",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Self-check (re-reads what was written)
# --------------------------------------------------------------------------


class Checker:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, msg: str) -> None:
        if len(self.errors) < 50:
            print(f"CHECK FAILED: {msg}", file=sys.stderr)
        self.errors.append(msg)

    def expect(self, cond: bool, msg: str) -> None:
        if not cond:
            self.fail(msg)


def _valid_b64(s: str) -> bool:
    try:
        return base64.b64encode(base64.b64decode(s, validate=True)).decode() == s
    except ValueError:
        return False


def _check_value(ck: Checker, where: str, av: Any) -> None:
    if not (isinstance(av, dict) and len(av) == 1):
        ck.fail(f"{where}: not a single-key attribute value: {av!r}")
        return
    (t, v), = av.items()
    if t == "S":
        ck.expect(isinstance(v, str), f"{where}: S not a string")
    elif t == "N":
        ck.expect(isinstance(v, str) and num_str(Decimal(v)) == v, f"{where}: N not normalised: {v!r}")
    elif t == "B":
        ck.expect(isinstance(v, str) and _valid_b64(v), f"{where}: bad base64")
    elif t == "BOOL":
        ck.expect(isinstance(v, bool), f"{where}: BOOL")
    elif t == "NULL":
        ck.expect(v is True, f"{where}: NULL must be true")
    elif t in ("SS", "NS", "BS"):
        ck.expect(isinstance(v, list) and len(v) > 0 and len(set(v)) == len(v), f"{where}: bad {t}")
        for x in v:
            if t == "NS":
                ck.expect(num_str(Decimal(x)) == x, f"{where}: NS member {x!r}")
            if t == "BS":
                ck.expect(_valid_b64(x), f"{where}: BS member")
    elif t == "M":
        ck.expect(list(v) == sorted(v), f"{where}: M keys not sorted")
        for k, x in v.items():
            _check_value(ck, f"{where}.{k}", x)
    elif t == "L":
        for i, x in enumerate(v):
            _check_value(ck, f"{where}[{i}]", x)
    else:
        ck.fail(f"{where}: unknown type {t}")


def self_check(out: Path, outputs: Path | None = None) -> int:
    ck = Checker()
    expected = {"rtsnap.json", "users/pool.json", "users/groups.jsonl", "users/users.jsonl", "assets/manifest.jsonl"}
    for m in MODELS:
        expected |= {f"tables/{m}/schema.json", f"tables/{m}/items-000001.jsonl"}
    actual = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    ck.expect(actual == expected, f"unexpected layout: extra={sorted(actual - expected)} missing={sorted(expected - actual)}")

    for p in sorted(out.rglob("*")):
        if p.is_file():
            raw = p.read_bytes()
            ck.expect(raw == b"" or raw.endswith(b"\n"), f"{p}: no trailing newline")
            ck.expect(b"\r" not in raw, f"{p}: CR found")

    def read_jsonl(p: Path) -> list[Any]:
        rows = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(keepends=True), start=1):
            obj = json.loads(line)
            ck.expect(jsonl_line(obj) == line, f"{p}:{n}: not canonical compact JSON")
            rows.append(obj)
        return rows

    def read_json(p: Path) -> Any:
        text = p.read_text(encoding="utf-8")
        obj = json.loads(text)
        ck.expect(json.dumps(obj, indent=2, ensure_ascii=False) + "\n" == text, f"{p}: not canonical pretty JSON")
        return obj

    ck.expect(read_json(out / "rtsnap.json") == header(), "rtsnap.json mismatch")

    # users
    users = read_jsonl(out / "users" / "users.jsonl")
    groups = read_jsonl(out / "users" / "groups.jsonl")
    read_json(out / "users" / "pool.json")
    ck.expect([g["name"] for g in groups] == ["admins", "agents", "homeowners"], "groups")
    ck.expect([u["username"] for u in users] == sorted(u["username"] for u in users), "users not sorted")
    ck.expect(len({u["username"] for u in users}) == len(users), "duplicate usernames")
    group_names = {g["name"] for g in groups}
    for u in users:
        ck.expect(u["username"] == u["sub"], f"user {u['username']}: username != sub")
        ck.expect(set(u["groups"]) <= group_names, f"user {u['username']}: unknown group")
        ck.expect(u["attributes"]["email"].endswith(("@example.com", "@example.net")), f"user email {u['attributes']['email']}")
    subs = {u["sub"] for u in users}

    # assets
    assets = read_jsonl(out / "assets" / "manifest.jsonl")
    keys = [a["key"] for a in assets]
    ck.expect(keys == sorted(keys) and len(set(keys)) == len(keys), "asset keys not sorted/unique")
    for a in assets:
        ck.expect(len(a["etag"]) == 34 and a["etag"][0] == a["etag"][-1] == '"'
                  and all(c in "0123456789abcdef" for c in a["etag"][1:-1]), f"asset etag {a['etag']}")
        ck.expect(a["key"].startswith(("public/", "protected/")), f"asset key {a['key']}")
        if a["key"].startswith("protected/"):
            ck.expect(a["key"].split("/")[1] in subs, f"asset {a['key']}: unknown sub")
    asset_keys = set(keys)

    # tables
    schemas: dict[str, Any] = {}
    items: dict[str, list[dict[str, Any]]] = {}
    for m in MODELS:
        tdir = out / "tables" / m
        schemas[m] = read_json(tdir / "schema.json")
        ck.expect(schemas[m] == table_schema(m), f"{m}: schema mismatch")
        items[m] = read_jsonl(tdir / "items-000001.jsonl")
        lines = (tdir / "items-000001.jsonl").read_bytes().splitlines(keepends=True)
        for n, line in enumerate(lines, start=1):
            ck.expect(len(line) < MAX_ITEM_BYTES, f"{m}:{n}: item is {len(line)} bytes")

    ids: dict[str, set[str]] = {}
    all_ids: set[str] = set()
    for m in MODELS:
        ck.expect(len(items[m]) == COUNTS[m], f"{m}: {len(items[m])} items, expected {COUNTS[m]}")
        key_types = {d["AttributeName"]: d["AttributeType"] for d in schemas[m]["AttributeDefinitions"]}
        ttl = schemas[m]["TimeToLiveAttribute"]
        id_list = []
        for n, it in enumerate(items[m], start=1):
            where = f"{m}:{n}"
            ck.expect(list(it) == sorted(it), f"{where}: attribute names not sorted")
            for k, av in it.items():
                _check_value(ck, f"{where}.{k}", av)
            for k, t in key_types.items():
                if k in it:
                    ck.expect(set(it[k]) == {t}, f"{where}: key attribute {k} must be {t}, got {list(it[k])}")
            ck.expect("id" in it and "S" in it["id"], f"{where}: no S id")
            ck.expect(it.get("__typename") == {"S": m}, f"{where}: __typename")
            ck.expect(it["createdAt"]["S"] <= it["updatedAt"]["S"] <= "2025-08-12T09:30:00.000Z", f"{where}: timestamps")
            ck.expect(it["createdAt"]["S"] >= "2024-08-01", f"{where}: createdAt too early")
            if "owner" in it:
                sub, _, uname = it["owner"]["S"].partition("::")
                ck.expect(sub in subs and uname == sub, f"{where}: owner {it['owner']['S']} is not a user")
            if ttl:
                ck.expect(ttl in it and "N" in it[ttl], f"{where}: TTL attribute {ttl} missing/not N")
            id_list.append(it["id"]["S"])
        ck.expect(id_list == sorted(id_list), f"{m}: items not sorted by id")
        ck.expect(len(set(id_list)) == len(id_list), f"{m}: duplicate ids")
        ck.expect(not (all_ids & set(id_list)), f"{m}: id shared with another table")
        ids[m] = set(id_list)
        all_ids |= ids[m]

    by_id_items = {m: {it["id"]["S"]: it for it in items[m]} for m in MODELS}
    # referential integrity
    for src, dst in RELATIONS:
        sm, sf = src.split(".")
        dm, df = dst.split(".")
        ck.expect(df == "id", f"relation target {dst}")
        ck.expect(any(g["KeySchema"][0]["AttributeName"] == sf for g in schemas[sm]["GlobalSecondaryIndexes"]),
                  f"{src}: no GSI")
        present = 0
        for n, it in enumerate(items[sm], start=1):
            if sf in it:
                present += 1
                ck.expect(it[sf].get("S") in ids[dm], f"{sm}:{n}: {sf}={it[sf]} not in {dst}")
        ck.expect(present > 0 or COUNTS[sm] == 0, f"{src}: never present")
    # children are never created before the item they point at (a link set
    # later shows in updatedAt, e.g. an accepted quote's projectId)
    for src, dst in RELATIONS:
        sm, sf = src.split(".")
        dm = dst.split(".")[0]
        for n, it in enumerate(items[sm], start=1):
            if sf in it and it[sf].get("S") in ids[dm]:
                parent = by_id_items[dm][it[sf]["S"]]
                ck.expect(max(it["createdAt"]["S"], it["updatedAt"]["S"]) >= parent["createdAt"]["S"],
                          f"{sm}:{n}: {sf} points at an item created later")
    # consistency the relations list cannot express
    by = {m: {it["id"]["S"]: it for it in items[m]} for m in MODELS}
    for p in items["Project"]:
        req = by["Request"][p["requestId"]["S"]]
        ck.expect(req["propertyId"] == p["propertyId"], "Project.propertyId != its request's propertyId")
        ck.expect(req["status"] == {"S": "won"}, "project request not won")
    ck.expect(len({p["requestId"]["S"] for p in items["Project"]}) == len(items["Project"]), "two projects share a request")
    proj_of_req = {p["requestId"]["S"]: p["id"]["S"] for p in items["Project"]}
    for q in items["Quote"]:
        if "projectId" in q:
            ck.expect(proj_of_req.get(q["requestId"]["S"]) == q["projectId"]["S"], "Quote.projectId inconsistent with requestId")
    for it in items["Auth"]:
        ck.expect(it["userId"]["S"] in subs, "Auth.userId not a user")
    for it in items["Document"]:
        ck.expect(it["s3Key"]["S"] in asset_keys, f"Document.s3Key {it['s3Key']['S']} not in assets")
    for it in items["Property"]:
        for ph in it.get("photos", {}).get("L", []):
            ck.expect(ph["M"]["key"]["S"] in asset_keys, "Property photo not in assets")
    for it in items["AuditLog"]:
        ck.expect(it["entityId"]["S"] in by[it["entityType"]["S"]], "AuditLog.entityId dangling")
    # payment terms add up to the contract amount
    sums: dict[str, Decimal] = {}
    for t in items["ProjectPaymentTerm"]:
        pid = t["projectId"]["S"]
        sums[pid] = sums.get(pid, Decimal(0)) + Decimal(t["amount"]["N"])
    for p in items["Project"]:
        ck.expect(sums.get(p["id"]["S"]) == Decimal(p["contractAmount"]["N"]), "payment terms do not sum to contract")

    # type coverage
    seen_types: set[str] = set()

    def walk(av: dict[str, Any]) -> None:
        (t, v), = av.items()
        seen_types.add(t)
        if t == "M":
            for x in v.values():
                walk(x)
        elif t == "L":
            for x in v:
                walk(x)

    for m in MODELS:
        for it in items[m]:
            for av in it.values():
                walk(av)
    ck.expect(seen_types == {"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"}, f"type coverage: {sorted(seen_types)}")

    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    ck.expect(total < MAX_TOTAL_BYTES, f"total size {total}")

    # Amplify's outputs describe exactly these tables, relations and owners
    if outputs is not None:
        owners = sorted(m for m in MODELS if any("owner" in it for it in items[m]))
        gsi_names = {m: [g["IndexName"] for g in schemas[m]["GlobalSecondaryIndexes"]] for m in MODELS}
        for problem in fixture_outputs.check(outputs_spec(), read_json(outputs), owners, gsi_names):
            ck.fail(problem)

    # report
    print(f"{'Model':<22}{'Items':>7}  {'Bytes':>9}  GSIs")
    for m, n in MODEL_COUNTS:
        size = (out / "tables" / m / "items-000001.jsonl").stat().st_size
        gsis = ", ".join(g["IndexName"] for g in schemas[m]["GlobalSecondaryIndexes"]) or "-"
        print(f"{m:<22}{len(items[m]):>7}  {size:>9}  {gsis}")
    print(f"{'TOTAL (' + str(len(MODELS)) + ' tables)':<22}{sum(len(v) for v in items.values()):>7}")
    print(f"users: {len(users)}  groups: {len(groups)}  assets: {len(assets)}")
    print(f"total size: {total} bytes ({total / 1024 / 1024:.2f} MiB)")
    if ck.errors:
        print(f"{len(ck.errors)} check(s) failed", file=sys.stderr)
        return 1
    print("self-check: OK")
    return 0


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def build() -> Ctx:
    ctx = Ctx()
    gen_users(ctx)
    gen_affiliates(ctx)
    gen_contacts(ctx)
    gen_properties(ctx)
    gen_requests(ctx)
    gen_projects(ctx)
    gen_quotes(ctx)
    gen_payment_terms(ctx)
    gen_milestones(ctx)
    gen_comments(ctx)
    gen_auth(ctx)
    gen_small(ctx)
    gen_assets(ctx)
    gen_audit_logs(ctx)
    return ctx


def safe_to_replace(out: Path) -> bool:
    if not out.exists():
        return True
    if not out.is_dir():
        return False
    if out in (Path("/"), Path.home(), REPO_ROOT, REPO_ROOT / "fixtures"):
        return False
    return (out / "rtsnap.json").is_file() or not any(out.iterdir())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (deleted and recreated)")
    ap.add_argument("--readme", type=Path, default=None,
                    help="where to write the fixtures README (default: fixtures/README.md when --out is the default)")
    ap.add_argument("--amplify-outputs", type=Path, default=None,
                    help="where to write amplify_outputs.json (default: fixtures/amplify_outputs.json when --out is the default)")
    ap.add_argument("--force", action="store_true", help="replace --out even if it does not look like a snapshot")
    args = ap.parse_args(argv)

    out: Path = args.out.resolve()
    readme: Path | None = args.readme
    outputs: Path | None = args.amplify_outputs
    if out == DEFAULT_OUT:
        readme = readme or DEFAULT_README
        outputs = outputs or DEFAULT_OUTPUTS
    if not (args.force or safe_to_replace(out)):
        print(f"refusing to delete {out}: not an rtsnap snapshot directory (use --force)", file=sys.stderr)
        return 2

    ctx = build()
    for m in MODELS:
        assert len(ctx.items[m]) == COUNTS[m], (m, len(ctx.items[m]), COUNTS[m])
    if out.exists():
        shutil.rmtree(out)
    write_snapshot(ctx, out)
    written = [str(out)]
    if readme is not None:
        readme.parent.mkdir(parents=True, exist_ok=True)
        with open(readme, "w", encoding="utf-8", newline="\n") as f:
            f.write(readme_text(fixture_outputs.owner_models(ctx.items)))
        written.append(str(readme))
    if outputs is not None:
        write_outputs(ctx, outputs)
        written.append(str(outputs))
    print("wrote " + ", ".join(written))
    return self_check(out, outputs)


if __name__ == "__main__":
    sys.exit(main())
