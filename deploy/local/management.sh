#!/usr/bin/env bash
# Makes sure the local RabbitMQ answers on its management HTTP API (port 15672), which
# the services use at start to set their queue policies (shared/messaging/policies.py)
# and the tests to clean up after themselves. Idempotent and quick when it already
# answers; otherwise, as root on the broker's machine, `rabbitmq-plugins enable
# rabbitmq_management` (a few seconds). Anywhere else it only says what to do: the
# services start without it (with a warning), they just cannot set their policies.
# Usage: deploy/local/management.sh [AMQP_URL]
set -uo pipefail
url="${1:-${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}}"
host="$(python3 -c 'import sys, urllib.parse as u; print(u.urlsplit(sys.argv[1]).hostname or "127.0.0.1")' "$url")"
api="http://$host:15672/api/overview"

answers() {
    python3 - "$api" <<'PY'
import sys
import urllib.error
import urllib.request

try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    sys.exit(0)  # 401 and the like: the API is there
except Exception:
    sys.exit(1)
PY
}

if answers; then
    exit 0
fi
case "$host" in
    127.0.0.1 | localhost | ::1) ;;
    *)
        echo "note: no RabbitMQ management API at $api; enable it on that broker" \
            "(rabbitmq-plugins enable rabbitmq_management) so the services can set their" \
            "queue policies" >&2
        exit 0
        ;;
esac
if [ "$(id -u)" = 0 ] && command -v rabbitmq-plugins >/dev/null 2>&1; then
    echo "enabling the RabbitMQ management plugin (queue policies are set through it)" >&2
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    for _ in $(seq 1 30); do
        answers && exit 0
        sleep 1
    done
    echo "warning: the management plugin is enabled but $api does not answer yet" >&2
else
    echo "note: no RabbitMQ management API at $api; as root run" \
        "'rabbitmq-plugins enable rabbitmq_management' so the services can set their" \
        "queue policies (they start without it, with a warning)" >&2
fi
exit 0
