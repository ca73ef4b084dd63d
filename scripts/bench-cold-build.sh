#!/usr/bin/env bash
# What a newcomer waits for (issue #11 §3): the wall and CPU time of the README's two
# commands, then of a release build (what `cargo install` users wait for), from a fresh
# clone of this repository with an empty cargo home (no registry index, no downloaded
# crates) and an empty target dir.
#
#   scripts/bench-cold-build.sh [--release-only] [--keep]
#
# Order: `scripts/demo.sh`, then `CI=true scripts/test.sh` (in the same clone, so the
# test command reuses what the demo compiled, as it would for a newcomer), then
# `cargo build --release --timings`. The emulators are installed afresh too (a private
# RTSNAP_EMULATOR_HOME); pip's and npm's download caches are left as they are. rustup's
# toolchain and cargo-nextest are the machine's (found on PATH). --release-only runs
# only the release build (e.g. to compare profile settings); --keep keeps the work folder
# (clone, cargo home, target dir, `cargo build --timings` report) and prints its path.
#
# Output: a Markdown table (step, wall s, CPU s, peak RSS of the largest process, exit
# status) and the target dir's size, for docs/performance.md § Cold build. A failing step
# stops the run (exit 1) after printing its log's tail. Needs ~6 GB free in ${TMPDIR:-/tmp}.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
release_only=0
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --release-only) release_only=1; shift ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-cold-build: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ -x /usr/bin/time ] || { echo "bench-cold-build: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-cold.XXXXXX")
if [ "$keep" -eq 1 ]; then
    echo "bench-cold-build: work folder $work (kept)" >&2
else
    trap 'rm -rf "$work"' EXIT
fi
git clone -q "$repo" "$work/clone"
export CARGO_HOME="$work/cargo-home" CARGO_TARGET_DIR="$work/target" RTSNAP_EMULATOR_HOME="$work/emulator"
mkdir -p "$CARGO_HOME"
cd "$work/clone"

field() { sed -n "s/^[[:space:]]*$1: //p" "$2" | tail -n 1; }
rows=()
# step LABEL CMD...: runs CMD under /usr/bin/time -v, its output into LABEL.log.
step() {
    local label=$1 t0 t1 rc=0 file
    shift
    file="$work/$(printf '%s' "$label" | tr -c 'A-Za-z0-9.=-' '_')"
    echo "bench-cold-build: $label (log: $file.log)" >&2
    t0=$EPOCHREALTIME
    /usr/bin/time -v -o "$file.time" "$@" >"$file.log" 2>&1 || rc=$?
    t1=$EPOCHREALTIME
    if [ "$rc" -ne 0 ]; then
        tail -n 30 "$file.log" >&2
        echo "bench-cold-build: $label failed with exit status $rc" >&2
        exit 1
    fi
    rows+=("$(awk -v l="$label" -v a="$t0" -v b="$t1" \
        -v u="$(field 'User time (seconds)' "$file.time")" \
        -v s="$(field 'System time (seconds)' "$file.time")" \
        -v r="$(field 'Maximum resident set size (kbytes)' "$file.time")" \
        'BEGIN {printf "| %s | %.0f | %.0f | %.0f |", l, b - a, u + s, r * 1024 / 1e6}')")
}

# slowest_units HTML: the ten longest units of a `cargo build --timings` report.
slowest_units() {
    python3 - "$1" <<'PY'
import json, re, sys
html = open(sys.argv[1]).read()
units = json.loads(re.search(r"const UNIT_DATA = (\[.*?\]);", html, re.S).group(1))
for u in sorted(units, key=lambda u: -u["duration"])[:10]:
    target = u["target"].strip()
    print(f"- {u['name']} {u['version']}{' (' + target + ')' if target else ''}: {u['duration']:.0f} s")
PY
}

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
variant=""
[ "$release_only" -eq 0 ] || variant=" --release-only"
if [ "$release_only" -eq 0 ]; then
    step "scripts/demo.sh" scripts/demo.sh
    step "CI=true scripts/test.sh" env CI=true scripts/test.sh
fi
step "cargo build --release --timings" cargo build --release --timings

cat <<EOF
# Cold build (scripts/bench-cold-build.sh$variant), $started

machine:  $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM
load:     $(cut -d' ' -f1-3 /proc/loadavg) (at the end)
commit:   $(git rev-parse --short HEAD), $(rustc --version)

| step | wall s | CPU s | peak RSS MB (largest process) |
|---|---:|---:|---:|
$(printf '%s\n' "${rows[@]}")

target dir: $(du -sh "$CARGO_TARGET_DIR" | cut -f1); cargo home: $(du -sh "$CARGO_HOME" | cut -f1)
release binary: $(du -h "$CARGO_TARGET_DIR/release/rtsnap" | cut -f1)

The release build's slowest units (cargo --timings; a unit's own compile, wall s):

$(slowest_units "$CARGO_TARGET_DIR/cargo-timings/cargo-timing.html")
EOF
