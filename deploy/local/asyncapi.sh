#!/usr/bin/env bash
# Generate each service's AsyncAPI document from the code with `faststream docs gen`.
# Usage: deploy/local/asyncapi.sh [OUTPUT_DIR]   (default docs/asyncapi, committed)
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
out="${1:-docs/asyncapi}"
mkdir -p "$out"
for service in $(python -c "from services import SERVICES; print(*SERVICES)"); do
    faststream docs gen --factory "services.$service.bootstrap:asyncapi_app" \
        -o "$out/$service.json" >/dev/null
    echo "$out/$service.json"
done
