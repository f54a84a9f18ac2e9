#!/usr/bin/env bash
# The chaos benchmark: complete flows through two replicas of each service while replicas
# are SIGKILLed and restarted; prints latency tails and what was lost or doubled.
#   deploy/local/chaos.sh [--flows 200] [--no-kills] [--kill-mongod] [--json out.json]
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
python -m benchmarks.chaos "$@"
