#!/usr/bin/env bash
# The whole test suite (README's second command; .ci/run calls exactly this):
# lint, types, then every tier — unit, integration, e2e, faults — including the check
# that the committed AsyncAPI documents match the code.
# Needs RabbitMQ at AMQP_URL (default the local one). MongoDB: MONGODB_URL if set,
# otherwise the tests start a throwaway mongod from the wheel.
# Extra arguments go to pytest, e.g. `deploy/local/test.sh -m unit`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
export AMQP_URL
if ! python - "$AMQP_URL" <<'PY'
import asyncio, sys
import aio_pika

async def check(url: str) -> None:
    connection = await aio_pika.connect(url, timeout=5)
    await connection.close()

try:
    asyncio.run(check(sys.argv[1]))
except Exception as error:
    print(f"no RabbitMQ answers at AMQP_URL ({error!r}).", file=sys.stderr)
    print("Get one: apt-get install rabbitmq-server && rabbitmq-server -detached,",
          "or point AMQP_URL at a broker.", file=sys.stderr)
    sys.exit(1)
PY
then
    exit 1
fi

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== pytest"
set +e
pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
