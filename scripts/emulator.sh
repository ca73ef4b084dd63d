#!/usr/bin/env bash
# Local AWS-API emulators for rtsnap's tests, on loopback only:
#   moto_server  (PyPI moto)    DynamoDB, Cognito user pools, S3
#   dynalite     (npm dynalite) strict DynamoDB (real limits, async table creation)
#
# Usage: scripts/emulator.sh start|stop|status|env|install
#   start   install on first use, start both servers on free 127.0.0.1 ports, wait until they
#           answer; a no-op (prints the endpoints) when they already run
#   stop    stop both servers and remove the run state
#   status  print the endpoints and whether each answers; non-zero exit unless both answer
#   env     print `export RTSNAP_..._ENDPOINT=...` lines: eval "$(scripts/emulator.sh env)"
#   install only install (or check) both tools and print where they are, starting nothing:
#           for scripts that run a private server (scripts/bench.sh starts its own dynalite)
#
# The tools are installed once into a cache outside the clone, so fresh CI clones reuse them:
#   ${RTSNAP_EMULATOR_HOME:-$HOME/.cache/rtsnap-emulator}/{venv,node,install.log}
# Run state (pid files, logs, env file, lock) lives in .emulator/ at the repo root.
set -euo pipefail

# Pinned versions; bumping one reinstalls that tool on the next start.
readonly MOTO_VERSION=5.2.5
readonly DYNALITE_VERSION=4.0.0
# Only the extras rtsnap needs: moto[server] would also pull cfn-lint, sympy, docker, ...
# (moto_server itself needs only flask + flask-cors).
readonly MOTO_SPEC="moto[dynamodb,cognitoidp,s3]==${MOTO_VERSION}"
readonly MOTO_EXTRA=(flask flask-cors)

# Seconds to wait for a server to answer after launching it.
readonly READY_TIMEOUT=${RTSNAP_EMULATOR_READY_TIMEOUT:-30}
# Seconds to wait for another `start`/`stop` (possibly installing) to release the lock.
readonly LOCK_TIMEOUT=${RTSNAP_EMULATOR_LOCK_TIMEOUT:-900}

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(dirname "$script_dir")
readonly state="$repo_root/.emulator"
readonly home="${RTSNAP_EMULATOR_HOME:-$HOME/.cache/rtsnap-emulator}"
readonly moto_bin="$home/venv/bin/moto_server"
readonly dynalite_cli="$home/node/node_modules/dynalite/cli.js"
readonly install_log="$home/install.log"
readonly servers=(moto dynalite)

die() {
    echo "emulator.sh: $*" >&2
    exit 1
}

note() {
    echo "emulator.sh: $*" >&2
}

# --- installation --------------------------------------------------------------------------

moto_installed() {
    [[ -x "$moto_bin" && "$(cat "$home/venv/.rtsnap-version" 2>/dev/null)" == "$MOTO_VERSION" ]]
}

dynalite_installed() {
    [[ -f "$dynalite_cli" && "$(cat "$home/node/.rtsnap-version" 2>/dev/null)" == "$DYNALITE_VERSION" ]]
}

ensure_installed() {
    if moto_installed && dynalite_installed; then
        return 0
    fi
    mkdir -p "$home" 2>/dev/null || die "cannot create the install cache $home (RTSNAP_EMULATOR_HOME)"
    # Several clones (or CI and a developer) may share the cache: install under its own lock.
    exec 8>"$home/install.lock"
    flock -w "$LOCK_TIMEOUT" 8 || die "timed out waiting for $home/install.lock"
    if ! moto_installed; then
        command -v python3 >/dev/null || die "python3 not found (needed for moto_server)"
        note "installing $MOTO_SPEC into $home/venv (log: $install_log)"
        if ! {
            python3 -m venv "$home/venv" &&
                "$home/venv/bin/pip" install --disable-pip-version-check --no-input \
                    "$MOTO_SPEC" "${MOTO_EXTRA[@]}"
        } >>"$install_log" 2>&1; then
            tail -n 20 "$install_log" >&2 || true
            die "installing moto failed; see $install_log"
        fi
        [[ -x "$moto_bin" ]] || die "pip install succeeded but $moto_bin is missing; see $install_log"
        echo "$MOTO_VERSION" >"$home/venv/.rtsnap-version"
    fi
    if ! dynalite_installed; then
        command -v node >/dev/null || die "node not found (needed for dynalite; node >= 20)"
        command -v npm >/dev/null || die "npm not found (needed to install dynalite)"
        note "installing dynalite@$DYNALITE_VERSION into $home/node (log: $install_log)"
        mkdir -p "$home/node"
        if ! npm install --prefix "$home/node" --no-audit --no-fund --no-save \
            "dynalite@$DYNALITE_VERSION" >>"$install_log" 2>&1; then
            tail -n 20 "$install_log" >&2 || true
            die "installing dynalite failed; see $install_log"
        fi
        [[ -f "$dynalite_cli" ]] || die "npm install succeeded but $dynalite_cli is missing; see $install_log"
        echo "$DYNALITE_VERSION" >"$home/node/.rtsnap-version"
    fi
    exec 8>&-
}

# --- helpers -------------------------------------------------------------------------------

# Exit 0 when something answers HTTP at URL (any status code counts: the server is up).
answers() {
    local url=$1
    if command -v curl >/dev/null; then
        local code
        code=$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$url" 2>/dev/null) || true
        [[ -n "$code" && "$code" != 000 ]]
    else
        python3 - "$url" <<'EOF' >/dev/null 2>&1
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
EOF
    fi
}

# Print two distinct free TCP ports on 127.0.0.1.
free_ports() {
    python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
'
}

# Exit 0 when NAME's recorded pid is alive and still that server (not a reused pid).
pid_alive() {
    local name=$1 pid pattern
    [[ -f "$state/$name.pid" ]] || return 1
    pid=$(cat "$state/$name.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    case $name in
    moto) pattern=moto_server ;;
    dynalite) pattern=dynalite ;;
    esac
    # Between setsid and exec the pid is still the launching bash, whose arguments match too.
    [[ ! -r "/proc/$pid/cmdline" ]] || tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$pattern"
}

# The value of KEY in the env file, or nothing.
env_value() {
    local key=$1
    [[ -f "$state/env" ]] || return 0
    sed -n "s/^$key=//p" "$state/env"
}

endpoint_of() {
    case $1 in
    moto) env_value RTSNAP_MOTO_ENDPOINT ;;
    dynalite) env_value RTSNAP_DYNALITE_ENDPOINT ;;
    esac
}

# What the running servers were started from: a server started from another cache or version
# (RTSNAP_EMULATOR_HOME changed, a pin bumped, the cache deleted under it) is restarted.
stamp() {
    echo "home=$home moto=$MOTO_VERSION dynalite=$DYNALITE_VERSION"
}

# Exit 0 when both servers of the state dir are alive, answering, and started from this
# install.
running() {
    local s url
    [[ -f "$state/env" && "$(cat "$state/stamp" 2>/dev/null)" == "$(stamp)" ]] || return 1
    for s in "${servers[@]}"; do
        url=$(endpoint_of "$s")
        [[ -n "$url" ]] && pid_alive "$s" && answers "$url" || return 1
    done
}

# Kill a server's process group (it is a session leader: setsid), politely then not.
kill_server() {
    local name=$1 pid i
    pid_alive "$name" || return 0
    pid=$(cat "$state/$name.pid")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

remove_state() {
    rm -f "$state/env" "$state/stamp" "$state"/*.pid "$state"/*.log
}

# Launch NAME on PORT in its own session, detached from our stdio and from the lock fd 9
# (a child holding fd 9 would hold the lock forever); its pid lands in .emulator/NAME.pid.
launch() {
    local name=$1 port=$2
    local -a cmd
    case $name in
    # moto's request recorder (off unless a test turns it on) writes here, not into the cwd.
    moto) cmd=(env MOTO_RECORDER_FILEPATH="$state/moto-recording.jsonl" "$moto_bin" -H 127.0.0.1 -p "$port") ;;
    dynalite) cmd=(node "$dynalite_cli" --host 127.0.0.1 --port "$port") ;;
    esac
    rm -f "$state/$name.pid"
    # The inner shell records its own pid (== its process group after setsid), then execs.
    # shellcheck disable=SC2016 # $$ and "$@" are expanded by the inner shell
    nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$state/$name.pid" "${cmd[@]}" \
        </dev/null >"$state/$name.log" 2>&1 9>&- 8>&- &
    local i
    for ((i = 0; i < 50; i++)); do
        [[ -s "$state/$name.pid" ]] && return 0
        sleep 0.05
    done
    die "$name did not start (no pid file); log: $state/$name.log"
}

# Wait until NAME answers on PORT: 0 answering, 1 process exited, 2 timed out.
wait_ready() {
    local name=$1 port=$2 deadline
    deadline=$(($(date +%s) + READY_TIMEOUT))
    while (($(date +%s) < deadline)); do
        answers "http://127.0.0.1:$port" && return 0
        pid_alive "$name" || return 1
        sleep 0.1
    done
    return 2
}

# --- commands ------------------------------------------------------------------------------

print_endpoints() {
    echo "RTSNAP_MOTO_ENDPOINT=$(endpoint_of moto)"
    echo "RTSNAP_DYNALITE_ENDPOINT=$(endpoint_of dynalite)"
}

lock_state() {
    mkdir -p "$state"
    # .emulator/ ignores itself, whatever the repo's .gitignore says.
    [[ -f "$state/.gitignore" ]] || echo '*' >"$state/.gitignore"
    exec 9>"$state/lock"
    flock -w "$LOCK_TIMEOUT" 9 || die "timed out waiting for $state/lock (another start/stop?)"
}

cmd_start() {
    local s s2
    lock_state
    if running; then
        print_endpoints
        return 0
    fi
    for s in "${servers[@]}"; do kill_server "$s"; done
    remove_state
    ensure_installed

    local -A port=()
    local s started ports
    started=$(date +%s.%N)
    # Launch both first so they boot in parallel, then wait for each in turn.
    read -r -a ports <<<"$(free_ports)"
    port[moto]=${ports[0]}
    port[dynalite]=${ports[1]}
    for s in "${servers[@]}"; do launch "$s" "${port[$s]}"; done
    for s in "${servers[@]}"; do
        local attempt=1 rc
        while true; do
            rc=0
            wait_ready "$s" "${port[$s]}" || rc=$?
            if [[ $rc == 0 ]]; then
                break
            elif [[ $rc == 1 && $attempt -lt 3 ]]; then
                # Exited early: most likely its port was taken meanwhile; retry on a new one.
                note "$s exited during startup (attempt $attempt); log tail:"
                tail -n 5 "$state/$s.log" >&2 || true
                attempt=$((attempt + 1))
                read -r -a ports <<<"$(free_ports)"
                port[$s]=${ports[0]}
                launch "$s" "${port[$s]}"
            else
                tail -n 20 "$state/$s.log" >&2 || true
                for s2 in "${servers[@]}"; do kill_server "$s2"; done
                if [[ $rc == 1 ]]; then
                    die "$s kept exiting during startup; its log tail is above"
                fi
                die "$s did not answer on 127.0.0.1:${port[$s]} within ${READY_TIMEOUT}s; its log tail is above"
            fi
        done
    done

    {
        echo "RTSNAP_MOTO_ENDPOINT=http://127.0.0.1:${port[moto]}"
        echo "RTSNAP_DYNALITE_ENDPOINT=http://127.0.0.1:${port[dynalite]}"
    } >"$state/env.tmp"
    stamp >"$state/stamp"
    mv "$state/env.tmp" "$state/env"
    note "started moto_server $MOTO_VERSION and dynalite $DYNALITE_VERSION in" \
        "$(python3 -c "import time; print(f'{time.time() - $started:.1f}s')")"
    print_endpoints
}

cmd_stop() {
    lock_state
    local s
    for s in "${servers[@]}"; do kill_server "$s"; done
    remove_state
    note "stopped"
}

cmd_status() {
    local s url ok=0 pid
    if [[ ! -f "$state/env" ]]; then
        echo "not running (no $state/env)"
        return 1
    fi
    for s in "${servers[@]}"; do
        url=$(endpoint_of "$s")
        pid=$(cat "$state/$s.pid" 2>/dev/null || echo '?')
        if [[ -n "$url" ]] && pid_alive "$s" && answers "$url"; then
            printf '%-9s %s  pid %s  answering\n' "$s" "$url" "$pid"
        else
            printf '%-9s %s  pid %s  NOT answering\n' "$s" "${url:-?}" "$pid"
            ok=1
        fi
    done
    return "$ok"
}

cmd_env() {
    [[ -f "$state/env" ]] || die "not running: run scripts/emulator.sh start"
    local line
    while IFS= read -r line; do
        [[ -n "$line" ]] && echo "export $line"
    done <"$state/env"
}

cmd_install() {
    ensure_installed
    echo "MOTO_SERVER=$moto_bin"
    echo "DYNALITE_CLI=$dynalite_cli"
    echo "DYNALITE_VERSION=$DYNALITE_VERSION"
}

case "${1:-}" in
start) cmd_start ;;
install) cmd_install ;;
stop) cmd_stop ;;
status) cmd_status ;;
env) cmd_env ;;
*)
    echo "usage: $0 start|stop|status|env|install" >&2
    exit 2
    ;;
esac
