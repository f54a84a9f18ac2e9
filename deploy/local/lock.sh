#!/usr/bin/env bash
# Regenerates the lock files from pyproject.toml (`make lock`):
#   requirements/runtime.txt  the [project] dependencies (what the container image installs)
#   requirements/dev.txt      runtime + the dev extra (what .venv installs, see env.sh)
# Every package pinned with its sha256 hashes, so installs use --require-hashes mode.
# dev.txt is constrained by runtime.txt: both files agree on every shared package.
# Existing pins are kept; pass --upgrade (or --upgrade-package NAME) to move them.
set -euo pipefail
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"

# Resolve against PyPI only: this machine's pip config adds local indexes and
# find-links that must neither leak into nor influence the committed files.
export PIP_CONFIG_FILE=/dev/null
unset PIP_FIND_LINKS PIP_INDEX_URL PIP_EXTRA_INDEX_URL
export CUSTOM_COMPILE_COMMAND="make lock"

compile() {
    pip-compile --quiet --no-config --generate-hashes --strip-extras --allow-unsafe \
        --no-emit-index-url --no-emit-find-links --no-emit-trusted-host "$@"
}
compile --output-file=requirements/runtime.txt "$@" pyproject.toml
compile --extra=dev --constraint=requirements/runtime.txt \
    --output-file=requirements/dev.txt "$@" pyproject.toml

# a lock that names this machine's paths would not install anywhere else
if grep -nE '(file://|/opt/|/work/|/root/|/tmp/)' requirements/*.txt; then
    echo "error: a lock file names a local path (above)" >&2
    exit 1
fi
echo "locked: requirements/runtime.txt ($(grep -c '==' requirements/runtime.txt) packages)," \
    "requirements/dev.txt ($(grep -c '==' requirements/dev.txt) packages)"
