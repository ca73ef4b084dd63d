#!/usr/bin/env bash
# Packing benchmark: rtsnap pack versus the stock pipeline, on the same data, in the same run.
#
#   scripts/bench-pack.sh [--size-mb N] [--runs R] [--keep-data] [--unpack]
#
# Builds rtsnap (release), generates a deterministic snapshot directory of N MiB
# (default 1024) with scripts/gen_bench_snapshot.py, makes a throw-away age identity and
# rtsnap.toml, warms the page cache, then runs R times (default 3), alternating:
#
#   rtsnap --config rtsnap.toml pack DATA -o OUT           (under /usr/bin/time -v)
#   tar -C DATA -c . | zstd -3 -T2 -q | age -r RECIPIENT > OUT2 ; sync OUT2
#   tar -C DATA -c . | tee FIFO | zstd -3 -T2 -q | age -r RECIPIENT > OUT3 ; sync OUT3
#     with `sha256sum < FIFO` beside it and waited for: the equal-work pipeline of
#     issue #11 (`tar c | tee >(sha256sum) | zstd -3 -T2 | age -r`), which hashes its
#     stream once as rtsnap hashes its entries
#
# and prints wall time, throughput (input bytes / wall seconds, 1 MB = 10^6 bytes), CPU
# time and peak RSS for each run, the medians and the ratios rtsnap / stock.
# rtsnap fsyncs its archive before renaming it into place, so the stock pipeline is shown
# both without and with an fsync of its output (`sync FILE`); the ratio uses the latter.
#
# The data set is generated into a temporary folder and deleted afterwards, unless
# ${RTSNAP_BENCH_DIR:-~/.cache/rtsnap-bench}/data-<N>mb exists (then it is reused), or
# --keep-data is given (then it is generated there and kept for the next run).
# Archives are written into a temporary folder under ${TMPDIR:-/tmp} and removed after each run;
# the folder (and a generated data set) is removed on exit.
#
# --unpack: after the pack runs, one archive of each kind is written (not timed) and
# unpacked R times, alternating, into a fresh folder of the same file system:
#
#   rtsnap --config rtsnap.toml unpack --identity identity.txt OUT DIR   (under /usr/bin/time -v)
#   age -d -i identity.txt OUT2 | zstd -d -q | tar -x -C DIR2 ; sync DIR2's files
#
# rtsnap verifies every entry and fsyncs every file it unpacks, so the stock pipeline is
# shown without and with an fsync of its files (`sync FILE...`); the ratio uses the latter.
# The first run of each is compared with the data set (`diff -r`, not timed; rtsnap's
# folder also holds the archive's MANIFEST.json). Each unpacked
# folder is deleted and the file system synced before the next run. Needs about twice
# the data set's size free in ${TMPDIR:-/tmp}.
#
# Exit status: 0 if rtsnap's peak RSS stayed under 100 MB (10^8 bytes) in every run
# (pack, and unpack with --unpack), 1 if it did not. Throughput is reported, never enforced.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"

size_mb=1024
runs=3
keep_data=0
unpack=0
while [ $# -gt 0 ]; do
    case "$1" in
        --size-mb) size_mb="${2:?--size-mb needs a number}"; shift 2 ;;
        --size-mb=*) size_mb="${1#*=}"; shift ;;
        --runs) runs="${2:?--runs needs a number}"; shift 2 ;;
        --runs=*) runs="${1#*=}"; shift ;;
        --keep-data) keep_data=1; shift ;;
        --unpack) unpack=1; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-pack: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$size_mb" =~ ^[1-9][0-9]*$ ]] || { echo "bench-pack: --size-mb must be a positive integer" >&2; exit 2; }
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "bench-pack: --runs must be a positive integer" >&2; exit 2; }
rss_limit_kib=$((100 * 1000 * 1000 / 1024))   # 100 MB = 10^8 bytes, in the KiB that time(1) reports

log() { printf 'bench-pack: %s\n' "$*" >&2; }

# --- tools ---------------------------------------------------------------------------
missing=()
command -v age >/dev/null || missing+=(age)
command -v zstd >/dev/null || missing+=(zstd)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} (apt)"
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v python3 >/dev/null || { log "python3 is required"; exit 2; }

log "building rtsnap (release; CARGO_TARGET_DIR=$CARGO_TARGET_DIR)"
cargo build --release --quiet
rtsnap="$CARGO_TARGET_DIR/release/rtsnap"

# --- work folder, data set, key -------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-bench.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

bench_root="${RTSNAP_BENCH_DIR:-$HOME/.cache/rtsnap-bench}"
cached="$bench_root/data-${size_mb}mb"
if [ -d "$cached" ]; then
    data="$cached"
    log "reusing the data set in $data"
elif [ "$keep_data" -eq 1 ]; then
    mkdir -p "$bench_root"
    partial="$cached.partial.$$"
    rm -rf "$partial"
    log "generating $size_mb MiB into $cached (kept for later runs)"
    python3 "$repo/scripts/gen_bench_snapshot.py" "$partial" --size-mb "$size_mb"
    mv "$partial" "$cached"
    data="$cached"
else
    data="$work/data"
    log "generating $size_mb MiB into $data (deleted afterwards; --keep-data keeps it)"
    python3 "$repo/scripts/gen_bench_snapshot.py" "$data" --size-mb "$size_mb"
fi

input_bytes=$(find "$data" -type f -printf '%s\n' | awk '{s += $1} END {printf "%d", s}')
files=$(find "$data" -type f | wc -l)
chunks=$(find "$data" -type f -name 'items-*.jsonl' | wc -l)
items=$(find "$data" -type f -name 'items-*.jsonl' -exec cat {} + | wc -l)
tables=$(find "$data/tables" -mindepth 1 -maxdepth 1 -type d | wc -l)

cd "$work"
"$rtsnap" keygen -o identity.txt >/dev/null
recipient=$(sed -n 's/^# public key: //p' identity.txt)
[ -n "$recipient" ] || { log "could not read the recipient from identity.txt"; exit 1; }
printf '[snapshots]\nrecipients = ["%s"]\n' "$recipient" > rtsnap.toml

log "warming the page cache"
find "$data" -type f -exec cat {} + > /dev/null

# --- measurements ---------------------------------------------------------------------
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", b - a}'; }
# field NAME FILE: a value from `/usr/bin/time -v` output
field() { sed -n "s/^[[:space:]]*$1: //p" "$2" | tail -n 1; }
# busy CPU seconds of the whole machine so far (all processes), from /proc/stat
busy() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz; exit}' /proc/stat; }
# other SINCE_BUSY OWN_CPU: CPU seconds that other processes used since SINCE_BUSY
other() { awk -v a="$1" -v b="$(busy)" -v own="$2" 'BEGIN {o = b - a - own; printf "%.1f", (o < 0 ? 0 : o)}'; }
cpu_of() { awk -v u="$(field 'User time (seconds)' "$1")" -v s="$(field 'System time (seconds)' "$1")" 'BEGIN {printf "%.2f", u + s}'; }

declare -a r_wall r_cpu r_rss r_other s_wall s_sync s_cpu s_rss s_other out_size
declare -a e_wall e_sync e_cpu e_other
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
verified=no
for i in $(seq 1 "$runs"); do
    log "run $i/$runs: rtsnap pack"
    rm -f out.rtsnap out.rtsnap.sha256
    b0=$(busy); t0=$(now)
    /usr/bin/time -v -o rtsnap.time "$rtsnap" --config rtsnap.toml --no-progress -q \
        pack "$data" -o out.rtsnap > /dev/null
    t1=$(now)
    r_wall[i]=$(elapsed "$t0" "$t1")
    r_cpu[i]=$(cpu_of rtsnap.time)
    r_rss[i]=$(field 'Maximum resident set size (kbytes)' rtsnap.time)
    r_other[i]=$(other "$b0" "${r_cpu[i]}")
    out_size[i]=$(stat -c %s out.rtsnap)
    if [ "$verified" = no ]; then
        log "checking the archive once (rtsnap verify --identity, not timed)"
        "$rtsnap" --config rtsnap.toml --no-progress -q verify --identity identity.txt out.rtsnap > /dev/null
        verified=yes
    fi
    rm -f out.rtsnap out.rtsnap.sha256

    log "run $i/$runs: tar | zstd -3 -T2 | age"
    rm -f out2.tar.zst.age
    b0=$(busy); t0=$(now)
    # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
    /usr/bin/time -v -o stock.time bash -c \
        'set -o pipefail; tar -C "$1" -c . | zstd -3 -T2 -q | age -r "$2" > out2.tar.zst.age' \
        bash "$data" "$recipient"
    t1=$(now)
    sync out2.tar.zst.age
    t2=$(now)
    s_wall[i]=$(elapsed "$t0" "$t1")
    s_sync[i]=$(elapsed "$t0" "$t2")
    s_cpu[i]=$(cpu_of stock.time)
    s_other[i]=$(other "$b0" "${s_cpu[i]}")
    s_rss[i]=$(field 'Maximum resident set size (kbytes)' stock.time)
    stock_size=$(stat -c %s out2.tar.zst.age)
    rm -f out2.tar.zst.age

    log "run $i/$runs: tar | tee >(sha256sum) | zstd -3 -T2 | age"
    rm -f out3.tar.zst.age hash.fifo; mkfifo hash.fifo
    b0=$(busy); t0=$(now)
    # shellcheck disable=SC2016  # $1 and $2 are the inner shell's arguments
    /usr/bin/time -v -o equal.time bash -c \
        'set -o pipefail; sha256sum < hash.fifo > stream.sha256 & tar -C "$1" -c . | tee hash.fifo | zstd -3 -T2 -q | age -r "$2" > out3.tar.zst.age; wait $!' \
        bash "$data" "$recipient"
    t1=$(now)
    sync out3.tar.zst.age
    t2=$(now)
    [ -s stream.sha256 ] || { log "the equal-work pipeline wrote no checksum"; exit 1; }
    e_wall[i]=$(elapsed "$t0" "$t1")
    e_sync[i]=$(elapsed "$t0" "$t2")
    e_cpu[i]=$(cpu_of equal.time)
    e_other[i]=$(other "$b0" "${e_cpu[i]}")
    rm -f out3.tar.zst.age hash.fifo stream.sha256
done

declare -a u_wall u_cpu u_rss u_other x_wall x_sync x_cpu x_rss x_other
if [ "$unpack" -eq 1 ]; then
    log "writing one archive of each kind for the unpack runs (not timed)"
    "$rtsnap" --config rtsnap.toml --no-progress -q pack "$data" -o out.rtsnap > /dev/null
    tar -C "$data" -c . | zstd -3 -T2 -q | age -r "$recipient" > out2.tar.zst.age
    sync
    for i in $(seq 1 "$runs"); do
        log "run $i/$runs: rtsnap unpack"
        b0=$(busy); t0=$(now)
        /usr/bin/time -v -o unpack.time "$rtsnap" --config rtsnap.toml --no-progress -q \
            unpack --identity identity.txt out.rtsnap "$work/unpacked" > /dev/null
        t1=$(now)
        u_wall[i]=$(elapsed "$t0" "$t1")
        u_cpu[i]=$(cpu_of unpack.time)
        u_rss[i]=$(field 'Maximum resident set size (kbytes)' unpack.time)
        u_other[i]=$(other "$b0" "${u_cpu[i]}")
        if [ "$i" -eq 1 ]; then
            log "comparing the unpacked folder with the data set (diff -r, not timed)"
            # rtsnap unpack also writes the archive's MANIFEST.json, which DATA lacks.
            diff -r -x MANIFEST.json "$data" "$work/unpacked" > /dev/null || { log "rtsnap unpack: the unpacked folder differs from $data"; exit 1; }
        fi
        rm -rf "$work/unpacked"; sync

        log "run $i/$runs: age -d | zstd -d | tar -x"
        mkdir "$work/unpacked2"
        b0=$(busy); t0=$(now)
        # shellcheck disable=SC2016  # $1 is the inner shell's argument
        /usr/bin/time -v -o stock-unpack.time bash -c \
            'set -o pipefail; age -d -i identity.txt out2.tar.zst.age | zstd -d -q | tar -x -C "$1"' \
            bash "$work/unpacked2"
        t1=$(now)
        find "$work/unpacked2" -type f -print0 | xargs -0 sync
        t2=$(now)
        x_wall[i]=$(elapsed "$t0" "$t1")
        x_sync[i]=$(elapsed "$t0" "$t2")
        x_cpu[i]=$(cpu_of stock-unpack.time)
        x_rss[i]=$(field 'Maximum resident set size (kbytes)' stock-unpack.time)
        x_other[i]=$(other "$b0" "${x_cpu[i]}")
        if [ "$i" -eq 1 ]; then
            diff -r "$data" "$work/unpacked2" > /dev/null || { log "stock unpack: the unpacked folder differs from $data"; exit 1; }
        fi
        rm -rf "$work/unpacked2"; sync
    done
    rm -f out.rtsnap out.rtsnap.sha256 out2.tar.zst.age
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# --- report ---------------------------------------------------------------------------
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }
mbps() { awk -v b="$input_bytes" -v s="$1" 'BEGIN {printf "%.1f", b / 1e6 / s}'; }
mb_of_kib() { awk -v k="$1" 'BEGIN {printf "%.1f", k * 1024 / 1e6}'; }
list() { local out="" v; for v in "$@"; do out+="${out:+ / }$v"; done; echo "$out"; }
mb_list() { local out="" k; for k in "$@"; do out+="${out:+ / }$(mb_of_kib "$k")"; done; echo "$out"; }

r_med=$(median "${r_wall[@]}")
s_med=$(median "${s_wall[@]}")
ss_med=$(median "${s_sync[@]}")
r_rss_max=$(maximum "${r_rss[@]}")
ratio=$(awk -v r="$r_med" -v s="$ss_med" 'BEGIN {printf "%.2f", s / r}')
ratio_nosync=$(awk -v r="$r_med" -v s="$s_med" 'BEGIN {printf "%.2f", s / r}')
e_med=$(median "${e_wall[@]}")
es_med=$(median "${e_sync[@]}")
ratio_equal=$(awk -v r="$r_med" -v s="$es_med" 'BEGIN {printf "%.2f", s / r}')

cat <<EOF

rtsnap pack benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)
machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM
data:    $data
         $input_bytes bytes ($(awk -v b="$input_bytes" 'BEGIN {printf "%.1f MiB", b / 1048576}')), $files files, $tables tables, $chunks items chunks, $items items
archive: rtsnap $(awk -v b="${out_size[1]}" 'BEGIN {printf "%.1f MB", b / 1e6}'), stock $(awk -v b="$stock_size" 'BEGIN {printf "%.1f MB", b / 1e6}')
load:    $load_before before, $load_after after (1/5/15-minute load averages);
         "other processes' CPU s" = machine-wide busy CPU time during a run minus the run's own:
         more than a few tenths of a second means something else competed for the $(nproc) CPUs

| pipeline | median wall s | median MB/s | runs (wall s) | CPU s (user+sys) | peak RSS MB | other processes' CPU s |
|---|---:|---:|---|---|---|---|
| rtsnap pack | $r_med | $(mbps "$r_med") | $(list "${r_wall[@]}") | $(list "${r_cpu[@]}") | $(mb_list "${r_rss[@]}") | $(list "${r_other[@]}") |
| stock tar \| zstd -3 -T2 \| age | $s_med | $(mbps "$s_med") | $(list "${s_wall[@]}") | $(list "${s_cpu[@]}") | $(mb_list "${s_rss[@]}") (largest process) | $(list "${s_other[@]}") |
| stock + sync FILE | $ss_med | $(mbps "$ss_med") | $(list "${s_sync[@]}") | | | |
| equal work: tar \| tee >(sha256sum) \| zstd -3 -T2 \| age | $e_med | $(mbps "$e_med") | $(list "${e_wall[@]}") | $(list "${e_cpu[@]}") | | $(list "${e_other[@]}") |
| equal work + sync FILE | $es_med | $(mbps "$es_med") | $(list "${e_sync[@]}") | | | |

throughput ratio rtsnap / stock: $ratio (with the stock output fsynced like rtsnap's), $ratio_nosync (stock without fsync)
throughput ratio rtsnap / equal-work stock (fsynced): $ratio_equal
rtsnap peak RSS: $(mb_of_kib "$r_rss_max") MB (max of $runs runs; goal < 100 MB)
EOF

if [ "$unpack" -eq 1 ]; then
    u_med=$(median "${u_wall[@]}")
    x_med=$(median "${x_wall[@]}")
    xs_med=$(median "${x_sync[@]}")
    u_rss_max=$(maximum "${u_rss[@]}")
    cat <<EOF

| unpack | median wall s | median MB/s | runs (wall s) | CPU s (user+sys) | peak RSS MB | other processes' CPU s |
|---|---:|---:|---|---|---|---|
| rtsnap unpack (verifies, fsyncs) | $u_med | $(mbps "$u_med") | $(list "${u_wall[@]}") | $(list "${u_cpu[@]}") | $(mb_list "${u_rss[@]}") | $(list "${u_other[@]}") |
| stock age -d \| zstd -d \| tar -x | $x_med | $(mbps "$x_med") | $(list "${x_wall[@]}") | $(list "${x_cpu[@]}") | $(mb_list "${x_rss[@]}") (largest process) | $(list "${x_other[@]}") |
| stock + sync FILES | $xs_med | $(mbps "$xs_med") | $(list "${x_sync[@]}") | | | |

throughput ratio rtsnap unpack / stock: $(awk -v r="$u_med" -v s="$xs_med" 'BEGIN {printf "%.2f", s / r}') (with the stock output fsynced like rtsnap's), $(awk -v r="$u_med" -v s="$x_med" 'BEGIN {printf "%.2f", s / r}') (stock without fsync)
rtsnap unpack peak RSS: $(mb_of_kib "$u_rss_max") MB (max of $runs runs; goal < 100 MB)
EOF
    if [ "$u_rss_max" -gt "$r_rss_max" ]; then r_rss_max=$u_rss_max; fi
fi

if [ "$r_rss_max" -gt "$rss_limit_kib" ]; then
    echo "FAIL: rtsnap's peak RSS $(mb_of_kib "$r_rss_max") MB exceeds 100 MB" >&2
    exit 1
fi
echo "OK: rtsnap's peak RSS is under 100 MB"
