#!/usr/bin/env bash
# The rtsnap demo, from a fresh machine. It installs what it needs (age, zstd, and the
# local AWS-API emulator through scripts/emulator.sh), builds rtsnap, and runs the whole
# story in a temporary folder outside the repository (snapshots hold personal data):
#
#   1. pack the demo environment (fixtures/demo) and open it with age | zstd | tar
#   2. load it into `staging` (tables created, 60 users created in its Cognito pool
#      without invitations, owner fields rewritten to their new subs, 40 S3 objects
#      copied server-side from the fixture's bucket), then export it
#   3. import that export into the protected `production` (tables, users, assets),
#      verify it against production, every section included
#   3b. an offline export (--with-assets) restored with its source bucket emptied
#   4. a bad migration changes production; `rtsnap rollback production` undoes it
#   5. a sample import (--only Contact --limit 3) into `sandbox`, and a tampered archive (refused)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"
started=$(date +%s)

say() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }
step() { printf '\n\033[1;34m== %s\033[0m\n' "$*" >&2; }

if ! command -v age >/dev/null || ! command -v zstd >/dev/null; then
    echo "demo: installing age and zstd (apt)" >&2
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq age zstd >/dev/null
fi

echo "demo: building rtsnap" >&2
cargo build --quiet
rtsnap="$CARGO_TARGET_DIR/debug/rtsnap"

# The local AWS-API servers: dynalite (strict DynamoDB) for tables, moto for Cognito and S3.
# Stopped again if started here.
if scripts/emulator.sh status >/dev/null 2>&1; then emulator_started=false; else
    scripts/emulator.sh start >/dev/null; emulator_started=true; fi
dynalite=$(sed -n 's/^RTSNAP_DYNALITE_ENDPOINT=//p' .emulator/env)
moto=$(sed -n 's/^RTSNAP_MOTO_ENDPOINT=//p' .emulator/env)
python="${RTSNAP_EMULATOR_HOME:-$HOME/.cache/rtsnap-emulator}/venv/bin/python"

work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-demo.XXXXXX")
cleanup() {
    rm -rf "$work"
    if [ "$emulator_started" = true ]; then "$repo/scripts/emulator.sh" stop >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
cd "$work"
export RTSNAP_HOME="$work/home" RTSNAP_IDENTITY="$work/identity.txt"
# Dummy credentials for the local server; real runs use the standard AWS chain.
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-west-1 AWS_DEFAULT_REGION=us-west-1 AWS_EC2_METADATA_DISABLED=true
# One endpoint per service, the SDK's standard variables (rtsnap.toml's endpoint_url
# would send every service to one server).
export AWS_ENDPOINT_URL_DYNAMODB="$dynalite" AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER="$moto" AWS_ENDPOINT_URL_S3="$moto"
# Temporary password for the users rtsnap creates (never printed or stored).
export RTSNAP_TEMP_PASSWORD="Demo-Temp-Passw0rd!"
run() { say "rtsnap $*"; "$rtsnap" "$@"; }

step "1. a snapshot file"
run keygen -o identity.txt
recipient=$(sed -n 's/^# public key: //p' identity.txt)
suffix() { printf '%s%s' "$1" "$(date +%s%N | tail -c 9)"; }
# One Amplify-shaped user pool per environment (email sign-in, custom:company), made
# with boto3, an independent client.
pool() { "$python" - "$1" <<'PY'
import sys, boto3
c = boto3.client("cognito-idp")
s = lambda n, **kw: dict(Name=n, AttributeDataType="String", Mutable=True, **kw)
out = c.create_user_pool(PoolName=sys.argv[1], UsernameAttributes=["email"],
    AutoVerifiedAttributes=["email"],
    Schema=[s("email", Required=True), s("name"), s("phone_number"), s("company")])
print(out["UserPool"]["Id"])
PY
}
# One bucket per environment, and the fixture's own bucket (the snapshot's source),
# filled with the bytes its manifest describes (scripts/gen_fixtures.py).
bucket() { "$python" - "$@" <<'PY'
import json, sys, boto3
s3 = boto3.client("s3")
name = sys.argv[1]
try:
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-west-1"})
except s3.exceptions.BucketAlreadyOwnedByYou:
    pass
if len(sys.argv) > 2:
    for line in open(sys.argv[2]):
        o = json.loads(line)
        unit = (o["key"] + "\n").encode()
        body = (unit * (o["size"] // len(unit) + 1))[: o["size"]]
        extra = {"CacheControl": o["cache_control"]} if "cache_control" in o else {}
        s3.put_object(Bucket=name, Key=o["key"], Body=body, ContentType=o["content_type"],
                      Metadata=o["metadata"], **extra)
PY
}
bucket amplify-demo-assets "$repo/fixtures/demo/assets/manifest.jsonl"
staging_bucket="demo-staging-$(date +%s%N | tail -c 9)"
production_bucket="demo-production-$(date +%s%N | tail -c 9)"
offline_bucket="demo-offline-$(date +%s%N | tail -c 9)"
for b in "$staging_bucket" "$production_bucket" "$offline_bucket"; do bucket "$b"; done
staging_pool=$(pool demo-staging)
sandbox_pool=$(pool demo-sandbox)
production_pool=$(pool demo-production)
cat > rtsnap.toml <<TOML
[snapshots]
recipients = ["$recipient"]

[environments.staging]
region = "us-west-1"
backend_suffix = "$(suffix staging)"
user_pool_id = "$staging_pool"
bucket = "$staging_bucket"
required_models = ["Contact", "Property", "Request", "Project"]

[environments.sandbox]
region = "us-west-1"
backend_suffix = "$(suffix sandbox)"
user_pool_id = "$sandbox_pool"

[environments.production]
region = "us-west-1"
backend_suffix = "$(suffix production)"
user_pool_id = "$production_pool"
bucket = "$production_bucket"
protected = true

[environments.offline]
region = "us-west-1"
backend_suffix = "$(suffix offline)"
bucket = "$offline_bucket"
TOML
run pack "$repo/fixtures/demo" -o demo.rtsnap --quiet
run verify demo.rtsnap
say "age -d -i identity.txt demo.rtsnap | zstd -d | tar -t"
age -d -i identity.txt demo.rtsnap | zstd -d | tar -t > listing.txt
head -n 4 listing.txt; echo "  … ($(wc -l < listing.txt) entries)"

step "2. staging: load the demo data, then export it"
run import demo.rtsnap --target staging --create-missing --yes --no-progress > load.txt
grep -E "^  users|^  groups|owner fields|^users:|assets" load.txt
run export staging --no-progress > export.txt
head -n 3 export.txt; tail -n 1 export.txt
export_file=$(sed -n '2s/ (.*//p' export.txt)

step "3. production (protected): dry run, refusal without --confirm, then the import"
run import "$export_file" --target production --create-missing --dry-run > plan.txt
head -n 5 plan.txt; echo "  …"
say "rtsnap import $(basename "$export_file") --target production --create-missing   # no --confirm"
if "$rtsnap" import "$export_file" --target production --create-missing --no-progress; then
    echo "demo: a protected import without --confirm went through!" >&2; exit 1
else echo "refused with exit $?, nothing written"; fi
run import "$export_file" --target production --create-missing --confirm production --no-progress --quiet
run verify "$export_file"
run verify "$export_file" --against production > against.txt
grep -E "Contact|users|assets" against.txt

step "3b. offline: the bytes in the snapshot, the source bucket emptied"
run export staging --with-assets -o offline.rtsnap --no-progress > offline-export.txt
grep -E "^assets" offline-export.txt
say "aws s3 rm s3://$staging_bucket --recursive   # (boto3) the source is gone"
"$python" - "$staging_bucket" <<'PY'
import sys, boto3
s3 = boto3.client("s3")
for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sys.argv[1]):
    for o in page.get("Contents", []):
        s3.delete_object(Bucket=sys.argv[1], Key=o["Key"])
PY
run import offline.rtsnap --target offline --only assets --yes --no-progress > offline.txt
grep -E "assets" offline.txt

step "4. a bad migration, and its rollback"
mkdir migration && "$rtsnap" unpack "$export_file" migration/dir --quiet
python3 - migration/dir/tables/Contact/items-000001.jsonl <<'PY'
import json, sys
path = sys.argv[1]
lines = open(path).read().splitlines()
for i in range(5):  # the "migration" blanks five contacts' e-mail addresses
    item = json.loads(lines[i]); item["email"] = {"S": ""}; lines[i] = json.dumps(item, separators=(",", ":"))
open(path, "w").write("\n".join(lines) + "\n")
PY
"$rtsnap" pack migration/dir -o migration.rtsnap --quiet
run import migration.rtsnap --target production --only Contact --confirm production --no-progress > migration.txt
grep -E "Contact|backup|undo" migration.txt
run import "$export_file" --target production --only Contact --dry-run > drift.txt
sed -n '2,3p' drift.txt
run rollback production --confirm production --no-progress --quiet
run import "$export_file" --target production --dry-run --only Contact > after.txt
sed -n '2,3p' after.txt
grep -qE "Contact +0 +0 +0 +241" after.txt && echo "production is back: every Contact unchanged"
run list

step "5. a sample import, and a tampered archive"
run import "$export_file" --target sandbox --only Contact --limit 3 --create-missing --yes --no-progress > sample.txt
sed -n '1,3p' sample.txt
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(b)" demo.rtsnap
say "rtsnap import demo.rtsnap --target staging   # one byte flipped"
if "$rtsnap" import demo.rtsnap --target staging --yes; then
    echo "demo: a modified archive was accepted!" >&2; exit 1
else echo "refused with exit $? (integrity), nothing written"; fi

echo
echo "demo: done in $(( $(date +%s) - started )) s (the temporary folder is removed)"
