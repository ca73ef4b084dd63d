#!/usr/bin/env bash
# Where pack's CPU time goes, thread by thread, against the plain stock pipeline's: the
# measured inputs of docs/performance.md § Pack on more CPUs than this machine has
# (issue #11: pack >= 1.0x the plain stock pipeline on >= 4 CPUs, not runnable on 2).
#
#   scripts/pack-threads.sh [--size-mb N] [--helpers "1 2 3"] [--runs R]
#
# Builds rtsnap (release), reuses ${RTSNAP_BENCH_DIR:-~/.cache/rtsnap-bench}/data-<N>mb
# (default 1024; generated there by scripts/gen_bench_snapshot.py if missing, as
# `scripts/bench-pack.sh --keep-data` does), then R times (default 1), alternating:
#
#   RTSNAP_LINE_HELPERS=H rtsnap pack DATA -o OUT      for each H of --helpers
#   tar -C DATA -c . | zstd -3 -T2 -q | age -r RECIPIENT > OUT2
#
# each once timed alone and once under `perf record -e task-clock -F 1000` (a sample
# per millisecond of CPU), and prints the wall time and CPU seconds per thread:
#   rtsnap: the calling thread, each zstd worker, the line helpers (`rtsnap-lines`) in
#     all, and their chain: per entry the busiest helper, summed, which is how long the
#     line work takes when each helper has a CPU of its own (a pack spawns an entry's H
#     helpers one after the other, so consecutive thread ids are one entry's);
#   stock: every thread over 50 ms.
# Then the model: on C CPUs a run takes at least max(its CPU time / C, its longest
# chain), with rtsnap's zstd work spread over min(C, 4) workers (as the writer starts
# them) and its line work over the helpers it would start there (min(C - 1, 3)), and the
# stock pipeline's zstd fixed at -T2; "with one helper" is the same model with the line
# work on one helper (as before the work was shared out). The model's ratio for this
# machine's own CPU count is printed beside the measured one, as a check of the model.
#
# Needs perf that can count task-clock (Debian: linux-perf), age and zstd.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"

size_mb=1024
helpers="1 2 3"
runs=1
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) size_mb="$2"; shift 2 ;;
        --helpers) helpers="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "pack-threads: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
log() { printf 'pack-threads: %s\n' "$*" >&2; }
for tool in perf age zstd python3; do
    command -v "$tool" >/dev/null || { log "$tool is required (perf: apt install linux-perf)"; exit 2; }
done
perf stat -e task-clock true >/dev/null 2>&1 || { log "perf cannot count task-clock here"; exit 2; }

log "building rtsnap (release; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --quiet
rtsnap="$CARGO_TARGET_DIR/release/rtsnap"

data="${RTSNAP_BENCH_DIR:-$HOME/.cache/rtsnap-bench}/data-${size_mb}mb"
if [ ! -d "$data" ]; then
    log "generating $size_mb MiB into $data (kept for later runs)"
    mkdir -p "$(dirname "$data")"
    python3 "$repo/scripts/gen_bench_snapshot.py" "$data.partial.$$" --size-mb "$size_mb" >&2
    mv "$data.partial.$$" "$data"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-threads.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
"$rtsnap" keygen -o identity.txt >/dev/null
recipient=$(sed -n 's/^# public key: //p' identity.txt)
printf '[snapshots]\nrecipients = ["%s"]\n' "$recipient" > rtsnap.toml
find "$data" -type f -exec cat {} + > /dev/null # warm the page cache

# record NAME COMMAND...: one run timed alone (perf's own work would be in the wall
# time), then one under perf for the per-thread samples
record() {
    local name=$1; shift
    local start=$EPOCHREALTIME
    "$@" > /dev/null 2> "$name.err" || { log "$name failed:"; cat "$name.err" >&2; exit 1; }
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f\n", b - a}' > "$name.wall"
    rm -f out.rtsnap* out2.age
    perf record -q -e task-clock -F 1000 -o "$name.data" -- "$@" > /dev/null 2> "$name.err" \
        || { log "$name failed under perf:"; cat "$name.err" >&2; exit 1; }
    perf script -i "$name.data" -F comm,tid 2>/dev/null \
        | awk '{n[$2]++; c[$2] = $1} END {for (t in n) print t, n[t], c[t]}' > "$name.threads"
    rm -f "$name.data" out.rtsnap* out2.age
}

names=()
for run in $(seq 1 "$runs"); do
    for h in $helpers; do
        log "run $run: rtsnap pack, $h line helper(s)"
        record "rtsnap-h$h-r$run" env RTSNAP_LINE_HELPERS="$h" "$rtsnap" --config rtsnap.toml \
            --no-progress -q pack "$data" -o out.rtsnap
        names+=("rtsnap-h$h-r$run")
    done
    log "run $run: tar | zstd -3 -T2 | age"
    record "stock-r$run" bash -c 'tar -C "$1" -c . | zstd -3 -T2 -q | age -r "$2" > out2.age' _ "$data" "$recipient"
    names+=("stock-r$run")
done

echo "# pack, thread by thread ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $size_mb MiB, commit $(git -C "$repo" rev-parse --short HEAD))"
python3 - "$(nproc)" "${names[@]}" <<'EOF'
import sys
cpus, names = int(sys.argv[1]), sys.argv[2:]

def load(name):
    threads = []  # (tid, ms, comm)
    for line in open(f"{name}.threads"):
        tid, ms, comm = line.split(None, 2)
        threads.append((int(tid), int(ms), comm.split()[0]))
    return float(open(f"{name}.wall").read()), sorted(threads)

def rtsnap_chains(name):
    wall, threads = load(name)
    helpers = int(name.split("-h")[1].split("-")[0])
    main = threads[0]  # the process's first thread is the calling thread
    lines = [t for t in threads if t[2] == "rtsnap-lines"]
    zstd = [t[1] for t in threads[1:] if t[2] != "rtsnap-lines" and t[1] >= 50]
    chain = 0
    for i in range(0, len(lines), max(helpers, 1)):
        chain += max(t[1] for t in lines[i:i + max(helpers, 1)])
    total = sum(t[1] for t in threads)
    return dict(wall=wall, total=total, main=main[1], zstd=zstd, helpers=helpers,
                lines=sum(t[1] for t in lines), line_threads=len(lines), chain=chain)

runs = {}
for name in names:
    if name.startswith("rtsnap"):
        r = rtsnap_chains(name)
        runs.setdefault(("rtsnap", r["helpers"]), []).append(r)
        print(f"\n{name}: wall {r['wall']:.2f} s, CPU {r['total']/1000:.2f} s")
        print(f"  calling thread {r['main']/1000:.2f} s; zstd workers "
              + " / ".join(f"{z/1000:.2f}" for z in r["zstd"]) + " s")
        print(f"  line helpers: {r['line_threads']} threads, {r['lines']/1000:.2f} s in all, "
              f"chain {r['chain']/1000:.2f} s")
    else:
        wall, threads = load(name)
        total = sum(t[1] for t in threads)
        runs.setdefault(("stock", 0), []).append(dict(wall=wall, total=total, longest=max(t[1] for t in threads)))
        print(f"\n{name}: wall {wall:.2f} s, CPU {total/1000:.2f} s")
        print("  " + ", ".join(f"{c} {ms/1000:.2f}" for _, ms, c in sorted(threads, key=lambda t: -t[1]) if ms >= 50) + " s")

def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]

stock = runs[("stock", 0)]
stock_total, stock_longest = median([s["total"] for s in stock]), median([s["longest"] for s in stock])
def stock_bound(c):
    return max(stock_total / c, stock_longest)

def rtsnap_bound(c, h):
    """rtsnap's lower bound on c CPUs from the runs with h line helpers (None: no run)."""
    measured = runs.get(("rtsnap", h))
    if not measured:
        return None
    main = median([r["main"] for r in measured])
    zstd = median([sum(r["zstd"]) for r in measured])
    lines = median([r["lines"] for r in measured])
    chain = median([r["chain"] for r in measured])
    total = main + zstd + lines
    return max(total / c, main, zstd / min(c, 4), chain)

print("\n| CPUs | line helpers | rtsnap at least (s) | stock at least (s) | model ratio (stock / rtsnap) | with one helper | measured ratio |")
print("|---:|---:|---:|---:|---:|---:|---|")
for c in sorted({2, 3, 4, 8, cpus}):
    h = min(c - 1, 3)
    bound, single = rtsnap_bound(c, h), rtsnap_bound(c, 1)
    if bound is None:
        print(f"| {c} | {h} | (no run with {h} helpers) | | | | |")
        continue
    s = stock_bound(c)
    one = f"{s / single:.2f}" if single else ""
    measured = ""
    if c == cpus:
        rw = median([r["wall"] for r in runs[("rtsnap", h)]])
        sw = median([x["wall"] for x in stock])
        measured = f"{sw / rw:.2f} ({sw:.2f} s / {rw:.2f} s, this machine)"
    print(f"| {c} | {h} | {bound/1000:.2f} | {s/1000:.2f} | {s / bound:.2f} | {one} | {measured} |")
EOF
