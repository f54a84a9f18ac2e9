#!/usr/bin/env bash
# Builds the service image (`make image`) as named by BERDAYA_IMAGE in deploy/standins.env
# (localhost/berdaya:dev), on the locally built python stand-in, and prints its size.
#
# No registry and no trusted TLS inside a build here, so the runtime lock is first turned
# into a wheelhouse on the host (deploy/image/wheelhouse/, git-ignored; refilled only when
# requirements/runtime.txt changes) and the build installs from it alone (PIP_NO_INDEX=1),
# hash-checked against the lock. Extra arguments go to the engine's `build`.
set -euo pipefail
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/env.sh"
cd "$REPO"

# the engine and the stand-in base image (seconds when both are there already)
deploy/engine/setup.sh >/dev/null
# shellcheck source=/dev/null # written by setup.sh
source "$RUN_DIR/engine.env"
# shellcheck source=deploy/standins.env
source deploy/standins.env

# --- the wheelhouse: wheels for the image's Python (3.11, glibc 2.36, this CPU) --------
wheelhouse=deploy/image/wheelhouse
lock_hash="$(sha256sum requirements/runtime.txt | cut -d' ' -f1)"
if [ "$(cat "$wheelhouse/.lock-hash" 2>/dev/null)" != "$lock_hash" ]; then
    echo "image: filling $wheelhouse from requirements/runtime.txt" >&2
    rm -f "$wheelhouse"/*.whl "$wheelhouse/.lock-hash"
    # every platform tag bookworm's glibc 2.36 runs, as pip would list them inside it
    arch="$(uname -m)" platforms=()
    for minor in $(seq 36 -1 5); do platforms+=(--platform "manylinux_2_${minor}_$arch"); done
    for legacy in manylinux2014 manylinux2010 manylinux1; do
        platforms+=(--platform "${legacy}_$arch")
    done
    # PyPI only: this machine's pip config adds local indexes the image must not depend on
    PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS="" python -m pip download --quiet \
        --require-hashes --no-deps --only-binary=:all: --dest "$wheelhouse" \
        --implementation cp --python-version 3.11 --abi cp311 "${platforms[@]}" \
        -r requirements/runtime.txt
    echo "$lock_hash" >"$wheelhouse/.lock-hash"
fi

# --- the image ------------------------------------------------------------------------
format=()
# podman's default OCI format has no HEALTHCHECK
[ "$BERDAYA_ENGINE" != podman ] || format=(--format docker)
started=$SECONDS
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
# --no-optional-locks: only read, never touch the index another process may be using
[ -z "$(git --no-optional-locks status --porcelain 2>/dev/null)" ] || revision="$revision-dirty"
"$BERDAYA_ENGINE" build "${format[@]}" --file deploy/Dockerfile --tag "$BERDAYA_IMAGE" \
    --build-arg PYTHON_IMAGE="$BERDAYA_PYTHON_IMAGE" --build-arg PIP_NO_INDEX=1 \
    --build-arg VERSION="$(python -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')" \
    --build-arg REVISION="$revision" \
    --build-arg SOURCE="$(git remote get-url origin 2>/dev/null || true)" \
    "$@" .
size="$("$BERDAYA_ENGINE" image inspect --format '{{.Size}}' "$BERDAYA_IMAGE")"
echo "image: built $BERDAYA_IMAGE in $((SECONDS - started)) s, $((size / 1000000)) MB"
