#!/usr/bin/env bash
# The rtsnap demo, from a fresh machine: builds rtsnap, makes a throw-away identity and
# config in a temporary folder (outside the repository: snapshots hold personal data),
# packs the demo environment in fixtures/demo into an encrypted .rtsnap archive,
# inspects and verifies it, and opens it again with the stock tools (age | zstd | tar).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/rtsnap-target}"

say() { printf '\n\033[1m$ %s\033[0m\n' "$*" >&2; }

command -v age >/dev/null && command -v zstd >/dev/null || {
    echo "demo: installing age and zstd (apt)" >&2
    sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq age zstd >/dev/null
}

echo "demo: building rtsnap" >&2
cargo build --quiet
rtsnap="$CARGO_TARGET_DIR/debug/rtsnap"

work=$(mktemp -d "${TMPDIR:-/tmp}/rtsnap-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
export RTSNAP_HOME="$work/home"

say "rtsnap keygen -o identity.txt"
"$rtsnap" keygen -o identity.txt
recipient=$(sed -n 's/^# public key: //p' identity.txt)
printf '[snapshots]\nrecipients = ["%s"]\n' "$recipient" > rtsnap.toml

say "rtsnap pack fixtures/demo -o demo.rtsnap"
"$rtsnap" pack "$repo/fixtures/demo" -o demo.rtsnap

say "rtsnap verify demo.rtsnap            # no key: the sidecar"
"$rtsnap" verify demo.rtsnap

say "rtsnap inspect demo.rtsnap --identity identity.txt"
"$rtsnap" inspect demo.rtsnap --identity identity.txt > inspect.txt
head -n 16 inspect.txt; echo "  …"

say "age -d -i identity.txt demo.rtsnap | zstd -d | tar -t | head"
age -d -i identity.txt demo.rtsnap | zstd -d | tar -t > listing.txt
head -n 6 listing.txt; echo "  … ($(wc -l < listing.txt) entries)"

say "rtsnap unpack demo.rtsnap unpacked --identity identity.txt && diff -r fixtures/demo unpacked"
"$rtsnap" unpack demo.rtsnap unpacked --identity identity.txt --quiet
diff -r --exclude MANIFEST.json "$repo/fixtures/demo" unpacked && echo "identical, byte for byte"

say "flip one byte, then inspect again"
python3 -c "import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(b)" demo.rtsnap
if "$rtsnap" inspect demo.rtsnap --identity identity.txt; then
    echo "demo: a modified archive was accepted!" >&2; exit 1
else
    echo "refused with exit $? (integrity), as it should"
fi
echo
echo "demo: done (the temporary folder $work is removed)"
