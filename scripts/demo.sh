#!/usr/bin/env bash
# The rtsnap demo, from a fresh machine. It installs what it needs (age, zstd, and the
# local AWS-API emulator through scripts/emulator.sh), builds rtsnap, and runs the whole
# story in a temporary folder outside the repository (snapshots hold personal data):
#
#   1. pack the demo environment (fixtures/demo) and open it with age | zstd | tar
#   2. the deployed `staging` app: its data loaded (tables created, 60 users created in
#      its Cognito pool without invitations, owner fields rewritten to their new subs,
#      40 S3 objects copied server-side from the fixture's bucket); then `rtsnap init`
#      writes its rtsnap.toml section from its amplify_outputs.json (suffix found by
#      listing tables, 36 relations, owner fields), `check` proves its relations hold,
#      and it is exported
#   3. import that export into the protected `production` (tables, users, assets),
#      verify it against production, every section included
#   3b. an offline export (--with-assets) restored with its source bucket emptied
#   4. a bad migration changes production; `rtsnap rollback production` undoes it
#   5. a sample that keeps its relations (--only Contact --limit 3 --with-related) into
#      `sandbox`, checked closed; a tampered archive (refused)
#   6. production verified against the export, every section, and its relations checked
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
    # The demo's tables, so that a later run's `init` finds one staging backend only.
    if [ -n "${suffixes:-}" ]; then
        "$python" - $suffixes <<'PY' >/dev/null 2>&1 || true
import sys, boto3
d = boto3.client("dynamodb")
for page in d.get_paginator("list_tables").paginate():
    for name in page["TableNames"]:
        if any(f"-{s}-NONE" in name for s in sys.argv[1:]):
            d.delete_table(TableName=name)
PY
    fi
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
staging_suffix=$(suffix staging); sandbox_suffix=$(suffix sandbox)
production_suffix=$(suffix production); offline_suffix=$(suffix offline)
suffixes="$staging_suffix $sandbox_suffix $production_suffix $offline_suffix"
# staging is the app Amplify deployed: its backend exists before rtsnap knows it (seed.toml
# only loads it); rtsnap.toml gets its section from `rtsnap init` in step 2.
cat > seed.toml <<TOML
[snapshots]
recipients = ["$recipient"]

[environments.staging]
region = "us-west-1"
backend_suffix = "$staging_suffix"
user_pool_id = "$staging_pool"
bucket = "$staging_bucket"
TOML
cat > rtsnap.toml <<TOML
# rtsnap configuration of the demo (staging's section is written by \`rtsnap init\`)
[snapshots]
recipients = ["$recipient"]

[environments.sandbox]
region = "us-west-1"
backend_suffix = "$sandbox_suffix"
user_pool_id = "$sandbox_pool"

[environments.production]
region = "us-west-1"
backend_suffix = "$production_suffix"
user_pool_id = "$production_pool"
bucket = "$production_bucket"
protected = true

[environments.offline]
region = "us-west-1"
backend_suffix = "$offline_suffix"
bucket = "$offline_bucket"
TOML
run pack "$repo/fixtures/demo" -o demo.rtsnap --quiet
run verify demo.rtsnap
say "age -d -i identity.txt demo.rtsnap | zstd -d | tar -t"
age -d -i identity.txt demo.rtsnap | zstd -d | tar -t > listing.txt
head -n 4 listing.txt; echo "  … ($(wc -l < listing.txt) entries)"

step "2. staging: the deployed app, set up from its amplify_outputs.json, then exported"
say "rtsnap --config seed.toml import demo.rtsnap --target staging --create-missing --yes   # the app's data"
"$rtsnap" --config seed.toml import demo.rtsnap --target staging --create-missing --yes --no-progress > load.txt
grep -E "^  users|^  groups|owner fields|^users:|assets" load.txt
# staging's own amplify_outputs.json: the fixture's, with this deployment's pool and bucket.
python3 - "$repo/fixtures/amplify_outputs.json" "$staging_pool" "$staging_bucket" > amplify_outputs.json <<'PY'
import json, sys
outputs = json.load(open(sys.argv[1]))
outputs["auth"]["user_pool_id"] = sys.argv[2]
outputs["storage"]["bucket_name"] = sys.argv[3]
print(json.dumps(outputs, indent=2))
PY
run init staging --outputs amplify_outputs.json
sed -n '/^\[environments.staging\]/,/^$/p' rtsnap.toml | grep -v '^    "' | cut -c1-110
echo "  … ($(grep -c '^\[\[relations\]\]' rtsnap.toml) [[relations]], owner_fields)"
run check staging --no-progress | tail -n 1
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

step "5. a sample that keeps its relations, and a tampered archive"
run import "$export_file" --target sandbox --only Contact --limit 3 --with-related --create-missing --yes --no-progress > sample.txt
grep -E "^imported|^  Contact|^  Request|^sample|^users:" sample.txt
run check sandbox --no-progress | tail -n 1
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(b)" demo.rtsnap
say "rtsnap import demo.rtsnap --target staging   # one byte flipped"
if "$rtsnap" import demo.rtsnap --target staging --yes; then
    echo "demo: a modified archive was accepted!" >&2; exit 1
else echo "refused with exit $? (integrity), nothing written"; fi

step "6. production equals the export, and its relations hold"
run verify "$export_file" --against production > final.txt
head -n 1 final.txt; grep -E "users|assets" final.txt
run check production --no-progress | tail -n 1

echo
echo "demo: done in $(( $(date +%s) - started )) s (the temporary folder is removed)"
