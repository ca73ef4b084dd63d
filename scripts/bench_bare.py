#!/usr/bin/env python3
"""The bare DynamoDB client of scripts/bench.sh: the server's own limit, and the data.

    bench_bare.py scan   --endpoint URL --table T [--threads 4] [--client raw|boto3]
    bench_bare.py write  --endpoint URL --table T --kind small|big --count N [--seed S]
                         [--threads 4] [--client raw|boto3]
    bench_bare.py count  --endpoint URL --table T
    bench_bare.py create --endpoint URL --table T [T ...]
    bench_bare.py delete --endpoint URL --table T [T ...]
    bench_bare.py sample --kind small|big [--count N] [--seed S]

scan    a parallel Scan (Segment i of TotalSegments = --threads, one thread and one
        connection each) that reads every page and discards the items.
write   generates the --count items of --kind first (not timed), then writes them with
        BatchWriteItem, 25 items per request, from --threads threads (each its own share,
        its own connection), resending UnprocessedItems and throttled requests with
        capped exponential backoff until every item is in. The same command loads the
        benchmark's source tables.
count   the number of items (a parallel Scan with Select=COUNT).
create  tables shaped like an Amplify model table (hash key `id` of type S,
        PAY_PER_REQUEST), waiting until ACTIVE; delete removes tables (absent: no error)
        and waits until they are gone.
sample  prints a few generated items and their mean sizes (a look at the data).

scan and write print one line `seconds=S items=N requests=R retries=Q`: the wall time
of the timed part only (connections are opened before it, items generated before it).

Clients: `raw` (default) signs each request with botocore's SigV4 and sends it over a
kept-alive http.client connection, then only json.loads the body: no SDK response
parsing, so that on loopback the figure is the server's limit rather than the client's.
`boto3` uses boto3's low-level client instead (what a typical script would do), for
comparison.

Items (deterministic: `random.Random` seeded from --seed and --kind, no clock):
  small  ~300 bytes (DynamoDB's item size: names plus values; ~510 bytes as a line of
         DynamoDB JSON), a Contact-like Amplify item: id, __typename, owner, names,
         e-mail, status, a number, a boolean, timestamps, a nested address map, and
         sometimes a string set, a number set, a list and a NULL;
  big    ~100 KB: a Document-like item whose `body` is 95,000-105,000 characters of
         text cut from a seeded pool of words.
Only the types S, N, BOOL, NULL, M, L, SS and NS occur: dynamodump's restore re-encodes
binary values nested in maps, so B and BS would not round-trip through it.
Credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default "bench"), region
AWS_REGION (default us-west-1).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse

BATCH = 25
MAX_BACKOFF = 1.0
RETRYABLE = (
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
)

# --- the data ------------------------------------------------------------------------

FIRST = (
    "Sandra Yuki Omar Priya Mateo Chen Amara Lukas Sofia Diego Hannah Kwame Ingrid Ravi "
    "Elena Tomas Aisha Noah Mei Carlos Fatima Jonas Leila Ethan Zara Pavel Nadia Kenji"
).split()
LAST = (
    "King Sanchez Okafor Nguyen Schmidt Patel Garcia Kowalski Rossi Haddad Johansson Kim "
    "Moreau Fernandez Tanaka Novak Silva Brennan Castillo Ibrahim Larsen Mehta Dubois"
).split()
CITIES = ["Walnut Creek", "Santa Rosa", "Palo Alto", "Oakland", "San Jose", "Berkeley", "Napa"]
WORDS = (
    "kitchen remodel bathroom tile cabinet countertop flooring hardwood permit inspection "
    "electrical panel upgrade plumbing fixture drywall paint primer trim baseboard window "
    "door frame roof shingle gutter deck railing concrete foundation insulation attic "
    "schedule crew delivery materials invoice deposit balance warranty walkthrough client "
    "approved pending revised estimate quote change order labor debris site measure the a "
    "and for with on after before by to of will be is was needs please confirm thursday"
).split()
STATUSES = ["new", "contacted", "qualified", "won", "lost", "archived"]


def uuid_str(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def iso(rng: random.Random) -> str:
    t = 1_704_067_200 + rng.randrange(60 * 60 * 24 * 600)  # 2024-01-01 + up to 600 days
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % rng.randrange(1000)


def small_item(rng: random.Random) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    item = {
        "id": {"S": uuid_str(rng)},
        "__typename": {"S": "Contact"},
        "owner": {"S": f"{uuid_str(rng)}::{first.lower()}{rng.randrange(1000)}"},
        "firstName": {"S": first},
        "lastName": {"S": last},
        "email": {"S": f"{first.lower()}.{last.lower()}{rng.randrange(100)}@example.com"},
        "status": {"S": rng.choice(STATUSES)},
        "score": {"N": str(rng.randrange(1000))},
        "optIn": {"BOOL": rng.random() < 0.5},
        "createdAt": {"S": iso(rng)},
        "updatedAt": {"S": iso(rng)},
        "address": {"M": {
            "city": {"S": rng.choice(CITIES)},
            "zip": {"S": f"94{rng.randrange(1000):03d}"},
        }},
    }
    if rng.random() < 0.5:
        item["tags"] = {"SS": sorted({rng.choice(WORDS) for _ in range(rng.randint(1, 3))})}
    if rng.random() < 0.3:
        item["ratings"] = {"NS": sorted({str(rng.randrange(1, 6)) for _ in range(3)})}
    if rng.random() < 0.3:
        item["company"] = {"NULL": True}
    if rng.random() < 0.3:
        item["visits"] = {"L": [{"S": iso(rng)} for _ in range(rng.randint(1, 2))]}
    return item


_POOL_CHARS = 1 << 20


def text_pool(seed: int) -> str:
    rng = random.Random(f"bench-pool-{seed}")
    words, n = [], 0
    while n < _POOL_CHARS + 110_000:
        w = rng.choice(WORDS)
        words.append(w)
        n += len(w) + 1
    return " ".join(words)


def big_item(rng: random.Random, pool: str) -> dict:
    length = rng.randint(95_000, 105_000)
    start = rng.randrange(_POOL_CHARS)
    return {
        "id": {"S": uuid_str(rng)},
        "__typename": {"S": "Document"},
        "owner": {"S": f"{uuid_str(rng)}::{rng.choice(FIRST).lower()}"},
        "title": {"S": " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))).capitalize()},
        "contentType": {"S": "text/plain"},
        "size": {"N": str(length)},
        "createdAt": {"S": iso(rng)},
        "updatedAt": {"S": iso(rng)},
        "body": {"S": pool[start:start + length]},
    }


def generate(kind: str, count: int, seed: int) -> list[dict]:
    rng = random.Random(f"bench-{kind}-{seed}")
    if kind == "small":
        return [small_item(rng) for _ in range(count)]
    pool = text_pool(seed)
    return [big_item(rng, pool) for _ in range(count)]


def item_size(item: dict) -> int:
    """DynamoDB's item size, roughly: attribute names plus values (UTF-8 bytes)."""

    def value(v: dict) -> int:
        (t, x), = v.items()
        if t in ("S", "N"):
            return len(x.encode())
        if t in ("BOOL", "NULL"):
            return 1
        if t in ("SS", "NS"):
            return sum(len(s.encode()) for s in x)
        if t == "M":
            return 3 + sum(len(k.encode()) + 1 + value(w) for k, w in x.items())
        if t == "L":
            return 3 + sum(1 + value(w) for w in x)
        raise ValueError(t)

    return sum(len(k.encode()) + value(v) for k, v in item.items())


# --- the clients ---------------------------------------------------------------------


class Retryable(Exception):
    pass


def credentials() -> tuple[str, str, str]:
    return (
        os.environ.get("AWS_ACCESS_KEY_ID", "bench"),
        os.environ.get("AWS_SECRET_ACCESS_KEY", "bench"),
        os.environ.get("AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "us-west-1")),
    )


class RawClient:
    """SigV4-signed JSON over one kept-alive HTTP connection; responses only json.loads'd."""

    def __init__(self, endpoint: str):
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        access, secret, region = credentials()
        self.url = endpoint.rstrip("/") + "/"
        parts = urllib.parse.urlsplit(self.url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=300)
        self.signer = SigV4Auth(Credentials(access, secret), "dynamodb", region)

    def call(self, op: str, payload: dict) -> dict:
        from botocore.awsrequest import AWSRequest

        body = json.dumps(payload, separators=(",", ":")).encode()
        request = AWSRequest(method="POST", url=self.url, data=body, headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": f"DynamoDB_20120810.{op}",
        })
        self.signer.add_auth(request)
        try:
            self.conn.request("POST", "/", body=body, headers=dict(request.headers.items()))
            response = self.conn.getresponse()
            data = response.read()
        except (ConnectionError, http.client.HTTPException):
            self.conn.close()
            raise Retryable("connection")
        if response.status == 200:
            return json.loads(data)
        error = json.loads(data or b"{}")
        kind = str(error.get("__type", response.status)).rsplit("#", 1)[-1]
        if kind in RETRYABLE or response.status >= 500:
            raise Retryable(kind)
        raise RuntimeError(f"{op}: {kind}: {error.get('message', error.get('Message', data[:200]))}")


class Boto3Client:
    """boto3's low-level client (the items carry no B values, so they pass unchanged)."""

    def __init__(self, endpoint: str):
        import boto3
        import botocore.config

        access, secret, region = credentials()
        self.client = boto3.client(
            "dynamodb", endpoint_url=endpoint, region_name=region,
            aws_access_key_id=access, aws_secret_access_key=secret,
            config=botocore.config.Config(retries={"max_attempts": 1}),
        )

    def call(self, op: str, payload: dict) -> dict:
        method = getattr(self.client, "".join("_" + c.lower() if c.isupper() else c for c in op)[1:])
        try:
            return method(**payload)
        except self.client.exceptions.ClientError as e:
            kind = e.response.get("Error", {}).get("Code", "")
            if kind in RETRYABLE:
                raise Retryable(kind)
            raise


def make_client(kind: str, endpoint: str):
    return RawClient(endpoint) if kind == "raw" else Boto3Client(endpoint)


def call_retrying(client, op: str, payload: dict, counter: list) -> dict:
    delay = 0.01
    while True:
        try:
            return client.call(op, payload)
        except Retryable:
            counter[0] += 1
            time.sleep(random.uniform(0, delay))
            delay = min(delay * 2, MAX_BACKOFF)


def run_threads(target, args_per_thread) -> float:
    """Runs target(*args) on one thread each, all released at once; wall seconds."""
    barrier = threading.Barrier(len(args_per_thread) + 1)
    errors: list = []

    def body(*a):
        barrier.wait()
        try:
            target(*a)
        except BaseException as e:  # re-raised below: the run fails
            errors.append(e)

    threads = [threading.Thread(target=body, args=a) for a in args_per_thread]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return seconds


# --- commands ------------------------------------------------------------------------


def cmd_scan(a, select_count: bool = False) -> dict:
    n = a.threads
    clients = [make_client(a.client, a.endpoint) for _ in range(n)]
    counts = [[0, 0, 0] for _ in range(n)]  # items, requests, retries

    def segment(i: int):
        payload = {"TableName": a.table, "Segment": i, "TotalSegments": n}
        if select_count:
            payload["Select"] = "COUNT"
        retries = [0]
        while True:
            page = call_retrying(clients[i], "Scan", payload, retries)
            counts[i][0] += page["Count"] if select_count else len(page["Items"])
            counts[i][1] += 1
            key = page.get("LastEvaluatedKey")
            if not key:
                break
            payload["ExclusiveStartKey"] = key
        counts[i][2] = retries[0]

    seconds = run_threads(segment, [(i,) for i in range(n)])
    return {"seconds": seconds, "items": sum(c[0] for c in counts),
            "requests": sum(c[1] for c in counts), "retries": sum(c[2] for c in counts)}


def cmd_write(a) -> dict:
    items = generate(a.kind, a.count, a.seed)
    n = a.threads
    clients = [make_client(a.client, a.endpoint) for _ in range(n)]
    counts = [[0, 0] for _ in range(n)]  # requests, retries

    def share(i: int):
        mine = items[i::n]
        retries = [0]
        for start in range(0, len(mine), BATCH):
            pending = [{"PutRequest": {"Item": it}} for it in mine[start:start + BATCH]]
            delay = 0.01
            while pending:
                out = call_retrying(clients[i], "BatchWriteItem",
                                    {"RequestItems": {a.table: pending}}, retries)
                counts[i][0] += 1
                pending = out.get("UnprocessedItems", {}).get(a.table, [])
                if pending:
                    retries[0] += 1
                    time.sleep(random.uniform(0, delay))
                    delay = min(delay * 2, MAX_BACKOFF)
        counts[i][1] = retries[0]

    seconds = run_threads(share, [(i,) for i in range(n)])
    return {"seconds": seconds, "items": len(items),
            "requests": sum(c[0] for c in counts), "retries": sum(c[1] for c in counts)}


def wait_for(client, table: str, gone: bool) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            status = client.call("DescribeTable", {"TableName": table})["Table"]["TableStatus"]
        except RuntimeError as e:
            if "ResourceNotFoundException" in str(e):
                if gone:
                    return
                status = "ABSENT"
            else:
                raise
        if not gone and status == "ACTIVE":
            return
        time.sleep(0.1)
    raise RuntimeError(f"{table}: timed out waiting for it to be {'deleted' if gone else 'ACTIVE'}")


def cmd_create(a) -> None:
    c = RawClient(a.endpoint)
    for t in a.table:
        c.call("CreateTable", {
            "TableName": t,
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
    for t in a.table:
        wait_for(c, t, gone=False)


def cmd_delete(a) -> None:
    c = RawClient(a.endpoint)
    deleted = []
    for t in a.table:
        try:
            c.call("DeleteTable", {"TableName": t})
            deleted.append(t)
        except RuntimeError as e:
            if "ResourceNotFoundException" not in str(e):
                raise
    for t in deleted:
        wait_for(c, t, gone=True)


def cmd_sample(a) -> None:
    items = generate(a.kind, a.count, a.seed)
    sizes = [item_size(i) for i in items]
    lines = [len(json.dumps(i, separators=(",", ":"))) for i in items]
    for it in items[:2]:
        text = json.dumps(it, separators=(",", ":"))
        print(text if len(text) < 600 else text[:600] + "...")
    print(f"items={len(items)} mean_item_bytes={sum(sizes) / len(sizes):.0f} "
          f"min={min(sizes)} max={max(sizes)} mean_json_line_bytes={sum(lines) / len(lines):.0f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    parsers = {name: sub.add_parser(name) for name in
               ("scan", "write", "count", "create", "delete", "sample")}
    for name in ("scan", "write", "count", "create", "delete"):
        parsers[name].add_argument("--endpoint", required=True)
        parsers[name].add_argument("--table", required=True,
                                   nargs="+" if name in ("create", "delete") else None)
    for name in ("scan", "write", "count"):
        parsers[name].add_argument("--threads", type=int, default=4)
        parsers[name].add_argument("--client", choices=["raw", "boto3"], default="raw")
    for name in ("write", "sample"):
        parsers[name].add_argument("--kind", choices=["small", "big"], required=True)
        parsers[name].add_argument("--count", type=int, required=name == "write", default=1000)
        parsers[name].add_argument("--seed", type=int, default=1)
    a = p.parse_args()

    if a.cmd in ("scan", "write"):
        r = cmd_scan(a) if a.cmd == "scan" else cmd_write(a)
        print(f"seconds={r['seconds']:.3f} items={r['items']} requests={r['requests']} retries={r['retries']}")
    elif a.cmd == "count":
        print(cmd_scan(a, select_count=True)["items"])
    elif a.cmd == "create":
        cmd_create(a)
    elif a.cmd == "delete":
        cmd_delete(a)
    else:
        cmd_sample(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
