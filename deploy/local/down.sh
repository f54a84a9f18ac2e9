#!/usr/bin/env bash
# Stop what deploy/local/up.sh started: the services (pidfiles in .run/pids; SIGTERM, then
# SIGKILL after STOP_TIMEOUT, default 10 s), then the local mongod if up.sh started it
# (.run/mongo/mongod.pid). Data and logs stay in .run/. Running it when nothing runs is fine.

BERDAYA_NO_INSTALL=1
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

SERVICES=(proposals materials notifications)
STOP_TIMEOUT="${STOP_TIMEOUT:-10}"
PID_DIR="$RUN_DIR/pids"
stopped_any=0

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

stop_service() {
    local name="$1" pidfile="$PID_DIR/$1.pid" pid cmdline deadline
    [ -f "$pidfile" ] || return 0
    pid="$(tr -dc '0-9' <"$pidfile")"
    if [ -z "$pid" ] || ! alive "$pid"; then
        echo "$name: not running (removing stale pidfile)"
        rm -f "$pidfile"
        return 0
    fi
    if [ -r "/proc/$pid/cmdline" ]; then
        cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
        if [[ "$cmdline" != *"services.$name"* ]]; then
            echo "$name: pid $pid is another program now, not stopping it (removing pidfile)"
            rm -f "$pidfile"
            return 0
        fi
    fi
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do
        sleep 0.2
    done
    if alive "$pid"; then
        echo "$name: still running after ${STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        while alive "$pid"; do sleep 0.1; done
    fi
    rm -f "$pidfile"
    echo "$name: stopped (pid $pid)"
    stopped_any=1
}

for name in "${SERVICES[@]}"; do
    stop_service "$name"
done

if [ -f "$RUN_DIR/mongo/mongod.pid" ]; then
    python="$VENV/bin/python"
    [ -x "$python" ] || python=python3
    mongod_said="$("$python" -m deploy.local.mongod stop)"
    echo "$mongod_said"
    if [[ "$mongod_said" == "mongod stopped"* ]]; then
        stopped_any=1
    fi
fi

if [ "$stopped_any" = 0 ]; then
    echo "nothing to stop: no service or mongod started by deploy/local/up.sh is running"
fi
