#!/usr/bin/env bash
# Benchmarks: each prints its figures next to the raw baseline measured in the same run.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
python -m benchmarks.messaging "$@"
