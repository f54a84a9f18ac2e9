#!/usr/bin/env bash
# `make down`: stop what deploy/local/up.sh started (services, then its mongod). Data and
# logs stay in .run/. Running it when nothing runs is fine. See deploy/local/run.py.
BERDAYA_NO_INSTALL=1
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
if [ ! -x "$VENV/bin/python" ]; then
    echo "nothing to stop: there is no $VENV, so make up never ran"
    exit 0
fi
exec python -m deploy.local.run down
