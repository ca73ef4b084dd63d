#!/usr/bin/env bash
# Peak memory of the assets path (issue 8): a bucket holding one large object (100 MB
# by default, incompressible) is exported with --with-assets (GetObject streamed into
# the archive) and that snapshot imported into an empty bucket (multipart upload from
# the archive), each under /usr/bin/time -v. Prints peak RSS and wall time of both.
#
#   scripts/bench-assets-rss.sh [--size-mb N]
#
# Uses the release build and moto from scripts/emulator.sh (started if needed, stopped
# again if started here). Figures go to docs/performance.md by hand, with the date.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
size_mb=100
while [ $# -gt 0 ]; do
    case $1 in
    --size-mb) size_mb=$2; shift 2 ;;
    *) echo "usage: $0 [--size-mb N]" >&2; exit 2 ;;
    esac
done
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"
cargo build --release --quiet
rtsnap="$CARGO_TARGET_DIR/release/rtsnap"

if scripts/emulator.sh status >/dev/null 2>&1; then started=false; else
    scripts/emulator.sh start >/dev/null; started=true; fi
moto=$(sed -n 's/^RTSNAP_MOTO_ENDPOINT=//p' .emulator/env)
python="${RTSNAP_EMULATOR_HOME:-$HOME/.cache/rtsnap-emulator}/venv/bin/python"
work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-bench-assets.XXXXXX")
stamp=$(date +%s%N | tail -c 9)
source_bucket="bench-src-$stamp" target_bucket="bench-dst-$stamp"
finish() {
    "$python" - "$source_bucket" "$target_bucket" <<'PY' || true
import sys, boto3
s3 = boto3.client("s3")
for b in sys.argv[1:]:
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=b):
            for o in page.get("Contents", []):
                s3.delete_object(Bucket=b, Key=o["Key"])
        s3.delete_bucket(Bucket=b)
    except Exception:
        pass
PY
    rm -rf "$work"
    if [ "$started" = true ]; then "$repo/scripts/emulator.sh" stop >/dev/null 2>&1 || true; fi
}
trap finish EXIT
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-west-1 \
    AWS_DEFAULT_REGION=us-west-1 AWS_EC2_METADATA_DISABLED=true AWS_ENDPOINT_URL_S3="$moto" \
    AWS_ENDPOINT_URL_DYNAMODB="$moto"
"$python" - "$source_bucket" "$target_bucket" "$size_mb" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3")
for b in sys.argv[1:3]:
    s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "us-west-1"})
s3.put_object(Bucket=sys.argv[1], Key="protected/big/video.mp4",
              Body=os.urandom(int(sys.argv[3]) * 1024 * 1024), ContentType="video/mp4")
PY
cd "$work"
"$rtsnap" keygen -o id.txt --quiet
cat > rtsnap.toml <<TOML
[snapshots]
recipients = ["$(sed -n 's/^# public key: //p' id.txt)"]
dir = "$work/snapshots"

[environments.source]
region = "us-west-1"
backend_suffix = "benchsource$stamp"
bucket = "$source_bucket"

[environments.target]
region = "us-west-1"
backend_suffix = "benchtarget$stamp"
bucket = "$target_bucket"
TOML
measure() { # label, command…
    local label=$1; shift
    /usr/bin/time -v "$@" >/dev/null 2>time.txt || { cat time.txt >&2; exit 1; }
    printf '%-40s peak RSS %6.1f MB   wall %s\n' "$label" \
        "$(awk -F': ' '/Maximum resident set size/ {print $2 / 1024}' time.txt)" \
        "$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' time.txt)"
}
echo "assets benchmark: one ${size_mb} MB object, moto at $moto, $(nproc) CPUs"
measure "export --with-assets (GetObject → archive)" \
    "$rtsnap" export source --only assets --with-assets -o full.rtsnap --no-progress --quiet
measure "import (archive → multipart upload)" \
    "$rtsnap" import full.rtsnap --target target --only assets --yes --identity id.txt --no-progress --quiet
measure "verify --against (HeadObject, GetObject+hash)" \
    "$rtsnap" verify full.rtsnap --against target --identity id.txt --quiet
