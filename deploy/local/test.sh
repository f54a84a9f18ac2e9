#!/usr/bin/env bash
# The whole test suite (README's second command; .ci/run calls exactly this): lint,
# types, the Dockerfile lint, then every tier — unit, integration, e2e, faults and
# containers — each timed. The container engine is set up first (deploy/engine/setup.sh:
# podman where none is installed) and the service image built, so the containers tier
# always runs; it is never skipped.
#
# Needs RabbitMQ at AMQP_URL (default the local one). MongoDB: MONGODB_URL if set,
# otherwise the tests start a throwaway mongod from the wheel.
# Arguments go to one pytest run instead of the tiers, e.g. `deploy/local/test.sh -m unit`.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}"
export AMQP_URL
if ! python -m deploy.local.broker_check "$AMQP_URL"; then
    exit 1
fi
# the services set their queue policies, and the tests remove them, through it
deploy/local/management.sh "$AMQP_URL"
# the public page is walked in a real browser (e2e): Debian's chromium
deploy/local/browser.sh

# The containers tier needs the engine and the image; one pytest run of other tests
# (`test.sh -m unit`) does not, so it also works where no engine can be had.
if [ "$#" -eq 0 ] || [[ "$*" == *containers* ]]; then
    echo "== container engine and image"
    deploy/engine/setup.sh
    # shellcheck source=/dev/null
    source "$RUN_DIR/engine.env"
    deploy/image/build.sh
    set -a
    # shellcheck source=deploy/standins.env
    source deploy/standins.env
    set +a
fi

echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== hadolint"
hadolint deploy/Dockerfile

run_pytest() {
    local status=0
    pytest "$@" || status=$?
    if [ "$status" -eq 5 ]; then
        echo "pytest collected no tests ($*): that is a failure here" >&2
        return 1
    fi
    return "$status"
}

if [ "$#" -gt 0 ]; then
    run_pytest "$@"
    exit
fi

TIERS=(unit integration e2e faults containers)
# Workers per tier (pytest-xdist, a test file stays on one worker). The integration and
# faults tests mostly wait — on RabbitMQ, MongoDB, a killed process, a two-minute outage —
# so they share the two cores well; each worker starts its own mongod, every test has its
# own namespace, and the faults that stop a broker or a mongod stop their own. The
# e2e and containers tiers run whole systems and stay on one worker.
declare -A WORKERS=([integration]=2 [faults]=2)
RESULTS="$RUN_DIR/test-results"
rm -rf "$RESULTS" && mkdir -p "$RESULTS"
declare -A took
failed=()
for tier in "${TIERS[@]}"; do
    echo "== pytest: $tier"
    started=$SECONDS
    workers=()
    if [ -n "${WORKERS[$tier]:-}" ]; then
        workers=(-n "${WORKERS[$tier]}" --dist loadfile)
    fi
    run_pytest -m "$tier" "${workers[@]}" --junitxml="$RESULTS/$tier.xml" || failed+=("$tier")
    took[$tier]=$((SECONDS - started))
done
echo "== time per tier"
for tier in "${TIERS[@]}"; do
    printf '  %-12s %4d s\n' "$tier" "${took[$tier]}"
done
# one closing line for the whole suite, summed over the tiers' reports
python - "$RESULTS"/*.xml <<'PY'
import sys
import xml.etree.ElementTree as ElementTree

totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
for report in sys.argv[1:]:
    for suite in ElementTree.parse(report).getroot().iter("testsuite"):
        for key in totals:
            totals[key] += int(suite.get(key, 0))
failed = totals["failures"] + totals["errors"]
passed = totals["tests"] - failed - totals["skipped"]
print(f"suite: {passed} passed, {failed} failed, {totals['skipped']} skipped")
PY
if [ "${#failed[@]}" -gt 0 ]; then
    echo "failed tiers: ${failed[*]}" >&2
    exit 1
fi
