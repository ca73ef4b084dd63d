#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need (age and
# zstd for the stock-tool checks; moto and dynalite through scripts/emulator.sh), starts
# the local AWS-API servers, then runs cargo fmt --check, clippy and every test.
# `.ci/run` calls exactly this. With CI=true a missing emulator fails the tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Builds are slow from scratch; keep the target dir outside the clone so that fresh
# clones (CI) reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"

step() { printf '\n== %s\n' "$*" >&2; }

install_system_tools() {
    local missing=()
    command -v age >/dev/null || missing+=(age)
    command -v zstd >/dev/null || missing+=(zstd)
    command -v python3 >/dev/null || missing+=(python3)
    [ ${#missing[@]} -eq 0 ] && return 0
    step "installing ${missing[*]} (apt)"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_system_tools

# Start the emulators unless they already run (then leave them running afterwards).
step "local AWS-API servers (moto, dynalite)"
if scripts/emulator.sh status >/dev/null 2>&1; then
    started_here=false
else
    scripts/emulator.sh start
    started_here=true
fi
stop_emulator() { if [ "$started_here" = true ]; then scripts/emulator.sh stop || true; fi; }
trap stop_emulator EXIT
eval "$(scripts/emulator.sh env)"

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --quiet -- -D warnings

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast
else
    cargo test --no-fail-fast
fi
