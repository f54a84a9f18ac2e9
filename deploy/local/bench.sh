#!/usr/bin/env bash
# Benchmarks: each prints its figures next to the raw baseline measured in the same run,
# and all of them go to one JSON file under .run/bench/ (see benchmarks/__main__.py).
#   deploy/local/bench.sh [--quick] [--only messaging consumers submissions end_to_end]
#                         [--backlog 50000] [--json out.json]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
python -m benchmarks "$@"
