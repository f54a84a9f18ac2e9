# shellcheck shell=bash
# Sourced by the local runtime scripts (up.sh, down.sh): computes REPO, makes sure .venv
# exists and holds the project with its dev extras, and puts .venv/bin first on PATH.
#
#   source deploy/local/env.sh
#
# The venv installs the lock, `pip install -r requirements/dev.txt` (pinned, hashed; see
# `make lock`), then the project itself with `pip install --no-deps -e .`, and only when
# pyproject.toml or a lock file changed since the last install (a sha256 of them is kept
# in .run/install.stamp) or the virtualenv was just created. Needs nothing but python3
# (>= 3.11, with its venv module) and access to PyPI.
# Set BERDAYA_NO_INSTALL=1 to skip the virtualenv/install step (down.sh does).
#
# Note: this turns on `set -euo pipefail` in the shell that sources it. It returns non-zero
# when the virtualenv or the install fails.

set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_DIR="$REPO/.run"
VENV="$REPO/.venv"
export REPO RUN_DIR VENV

mkdir -p "$RUN_DIR"

_berdaya_install() {
    local python="${PYTHON:-python3}"
    local created=0
    if [ ! -x "$VENV/bin/python" ] || [ ! -x "$VENV/bin/pip" ]; then
        if ! command -v "$python" >/dev/null 2>&1; then
            echo "error: $python not found; install Python 3.11 or newer" >&2
            return 1
        fi
        if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
            echo "error: $python is $("$python" -V 2>&1); the project needs Python >= 3.11" \
                "(set PYTHON=/path/to/python3.11)" >&2
            return 1
        fi
        echo "creating the virtualenv $VENV" >&2
        if ! "$python" -m venv "$VENV"; then
            echo "error: '$python -m venv' failed; on Debian/Ubuntu: apt-get install python3-venv" >&2
            return 1
        fi
        created=1
    fi

    local stamp="$RUN_DIR/install.stamp"
    local hash
    # one hash over every file the install depends on
    hash="$(cd "$REPO" && "$VENV/bin/python" -c '
import hashlib, sys
h = hashlib.sha256()
for name in sys.argv[1:]:
    h.update(name.encode() + b"\0" + open(name, "rb").read())
print(h.hexdigest())' pyproject.toml requirements/runtime.txt requirements/dev.txt)" || return 1
    if [ "$created" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
        echo "installing the lock and the project into $VENV (pyproject.toml or a lock changed, or first run)" >&2
        rm -f "$stamp"
        # the lock first (hash-checked, it pins setuptools too), then the project alone:
        # --no-build-isolation builds it with that pinned setuptools, nothing unlocked
        if ! (cd "$REPO" \
            && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
                -r requirements/dev.txt \
            && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
                --no-deps --no-build-isolation -e .); then
            echo "error: installing the project into $VENV failed (see above)" >&2
            return 1
        fi
        echo "$hash" >"$stamp"
    fi
}

# explicit `|| return`: errexit does not apply when the caller sources this inside `&&`/`if`
if [ "${BERDAYA_NO_INSTALL:-0}" != 1 ]; then
    if ! _berdaya_install; then
        unset -f _berdaya_install
        return 1
    fi
fi
unset -f _berdaya_install

case "$PATH" in
    "$VENV/bin:"*) ;;
    *) PATH="$VENV/bin:$PATH" ;;
esac
export PATH
export VIRTUAL_ENV="$VENV"
