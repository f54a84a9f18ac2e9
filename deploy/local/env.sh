# shellcheck shell=bash
# Sourced by the local runtime scripts (up.sh, down.sh): computes REPO, makes sure .venv
# exists and holds the project with its dev extras, and puts .venv/bin first on PATH.
#
#   source deploy/local/env.sh
#
# The project is (re)installed with `pip install -e ".[dev]"` only when pyproject.toml
# changed since the last install (a sha256 of it is kept in .run/install.stamp) or the
# virtualenv was just created. Needs nothing but python3 (>= 3.11, with its venv module).
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
    hash="$("$VENV/bin/python" -c \
        'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' \
        "$REPO/pyproject.toml")" || return 1
    if [ "$created" = 1 ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
        echo "installing the project into $VENV (pyproject.toml changed or first run)" >&2
        rm -f "$stamp"
        if ! (cd "$REPO" && "$VENV/bin/python" -m pip install -q --disable-pip-version-check \
            -e ".[dev]"); then
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
