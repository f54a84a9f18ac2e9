#!/bin/sh
# What the official mongo image's entrypoint does that callers rely on: options alone
# (`--replSet rs0`) mean mongod; started as root, it hands the data directories to the
# mongodb user (a mounted volume may belong to root) and drops to that user.
set -eu
case "${1:-}" in -*) set -- mongod "$@" ;; esac
if [ "$1" = mongod ] && [ "$(id -u)" = 0 ]; then
    chown -R mongodb:mongodb /data/db /data/configdb
    exec setpriv --reuid=mongodb --regid=mongodb --init-groups "$@"
fi
exec "$@"
