#!/usr/bin/env bash
# Import against export: how much longer an import takes than an export of the same
# tables, the ratio `rtsnap analyze --target` multiplies its export estimate by.
#
#   scripts/bench-import-ratio.sh [--size-mb N] [--runs R] [--server dynalite|moto]
#
# Builds rtsnap (release), generates a deterministic snapshot directory of N MiB
# (default 16) with scripts/gen_bench_snapshot.py, packs it, and loads it into a fresh
# environment on the emulator (scripts/emulator.sh; default dynalite, the strict one).
# Then R times (default 3), each into fresh, empty environments:
#
#   rtsnap export src -o exp.rtsnap                               (timed)
#   rtsnap import exp.rtsnap --target dst --create-missing --yes  (timed; an empty target)
#
# and prints both wall times, the ratio import / export per run and the median ratio.
# The import runs every phase: verify the archive, check, plan (scan of the empty
# target), back up (empty tables), write every item, verify (scan every item again).
# Tables made by a run are deleted afterwards. Times are the emulator's on loopback,
# not DynamoDB's: only the ratio is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"

size_mb=16
runs=3
server=dynalite
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) size_mb="${2:?--size-mb needs a number}"; shift 2 ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        --server) server="${2:?--server needs dynalite or moto}"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-import-ratio: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$size_mb" =~ ^[1-9][0-9]*$ ]] || { echo "bench-import-ratio: --size-mb must be a positive integer" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench-import-ratio: --runs must be a positive integer" >&2; exit 2; }
case "$server" in
    dynalite) var=RTSNAP_DYNALITE_ENDPOINT ;;
    moto) var=RTSNAP_MOTO_ENDPOINT ;;
    *) echo "bench-import-ratio: --server is dynalite or moto" >&2; exit 2 ;;
esac

log() { printf 'bench-import-ratio: %s\n' "$*" >&2; }

if [ -z "${!var:-}" ]; then
    scripts/emulator.sh start >/dev/null
    eval "$(scripts/emulator.sh env)"
fi
endpoint="${!var}"
python="${RTSNAP_EMULATOR_HOME:-$HOME/.cache/rtsnap-emulator}/venv/bin/python3"   # has boto3 (moto's)

log "building rtsnap (release; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --quiet
rtsnap="$CARGO_TARGET_DIR/release/rtsnap"

work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-ratio.XXXXXX")
tag="ratio$(date +%s)$$"
cleanup() {
    "$python" - "$endpoint" "$tag" <<'EOF' || true
import sys, boto3
d = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-west-1",
                 aws_access_key_id="bench", aws_secret_access_key="bench")
for page in d.get_paginator("list_tables").paginate():
    for name in page["TableNames"]:
        if sys.argv[2] in name:
            d.delete_table(TableName=name)
EOF
    rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-west-1
export AWS_EC2_METADATA_DISABLED=true RTSNAP_HOME="$work/home" RTSNAP_IDENTITY="$work/identity.txt"
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL

log "generating $size_mb MiB of items"
python3 "$repo/scripts/gen_bench_snapshot.py" data --size-mb "$size_mb" >/dev/null
"$rtsnap" keygen -o identity.txt >/dev/null
recipient=$(sed -n 's/^# public key: //p' identity.txt)
{
    printf '[snapshots]\nrecipients = ["%s"]\n\n' "$recipient"
    for env in seed $(seq -f 'src%g' 1 "$runs") $(seq -f 'dst%g' 1 "$runs"); do
        printf '[environments.%s]\nregion = "us-west-1"\nbackend_suffix = "%s%s"\nendpoint_url = "%s"\n\n' \
            "$env" "$tag" "$env" "$endpoint"
    done
} > rtsnap.toml
"$rtsnap" -q pack data -o seed.rtsnap --allow-in-repo
items=$(find data -name 'items-*.jsonl' -exec cat {} + | wc -l)
tables=$(find data/tables -mindepth 1 -maxdepth 1 -type d | wc -l)

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
declare -a t_export t_import ratio
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for i in $(seq 1 "$runs"); do
    log "run $i/$runs: loading src$i (not timed)"
    "$rtsnap" -q --no-progress import seed.rtsnap --target "src$i" --create-missing --yes --no-backup >/dev/null
    log "run $i/$runs: export src$i"
    t0=$(now)
    "$rtsnap" -q --no-progress export "src$i" -o "exp$i.rtsnap" >/dev/null
    t1=$(now)
    log "run $i/$runs: import into the empty dst$i"
    "$rtsnap" -q --no-progress import "exp$i.rtsnap" --target "dst$i" --create-missing --yes >/dev/null
    t2=$(now)
    t_export[i]=$(elapsed "$t0" "$t1")
    t_import[i]=$(elapsed "$t1" "$t2")
    ratio[i]=$(awk -v e="${t_export[i]}" -v m="${t_import[i]}" 'BEGIN {printf "%.2f", m / e}')
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
list() { local out="" v; for v in "$@"; do out+="${out:+ / }$v"; done; echo "$out"; }

cat <<EOF

rtsnap import/export ratio, $(date -u +%Y-%m-%dT%H:%M:%SZ), $server at $endpoint
machine: $(nproc) CPUs, load $load_before before, $load_after after
data:    $size_mb MiB, $items items in $tables tables
export wall s: $(list "${t_export[@]}")
import wall s: $(list "${t_import[@]}")
ratio import / export: $(list "${ratio[@]}"); median $(median "${ratio[@]}")
EOF
