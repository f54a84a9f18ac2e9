#!/usr/bin/env bash
# Makes the Secrets the manifests name, with random passwords, in namespace $1 (default
# berdaya-dev). Existing Secrets are left alone (rotate by deleting one and running this
# again, then restart what uses it). Passwords are hex: they go into URLs unquoted.
#
#   deploy/k8s/secrets.sh berdaya-dev
#
# Not made here: the TLS material (berdaya-ca with ca.crt; rabbitmq-tls and
# <service>-db-tls of type kubernetes.io/tls) — cert-manager, or your CA
# (docs/production.md, "Secrets and certificates"); and in production the real
# notification credentials (this writes a fresh Fernet key and empty channel secrets).
set -euo pipefail
namespace=${1:-berdaya-dev}
management=${RABBITMQ_MANAGEMENT:-http://rabbitmq.$namespace.svc:15672}

exists() { kubectl -n "$namespace" get secret "$1" >/dev/null 2>&1; }
password() { od -An -tx1 -N24 /dev/urandom | tr -d ' \n'; }
make() {  # make NAME KEY=VALUE...
  local name=$1; shift
  if exists "$name"; then echo "kept $name"; return; fi
  local args=()
  for pair in "$@"; do args+=(--from-literal="$pair"); done
  kubectl -n "$namespace" create secret generic "$name" "${args[@]}" >/dev/null
  echo "made $name"
}

for user in proposals materials notifications transparency \
  berdaya-setup city-integrations berdaya-admin; do
  make "amqp-$user" "username=$user" "password=$(password)"
done
autoscaler=$(password)
if ! exists amqp-berdaya-autoscaler; then
  make amqp-berdaya-autoscaler username=berdaya-autoscaler "password=$autoscaler"
  host=${management/:\/\//:\/\/berdaya-autoscaler:$autoscaler@}/berdaya
  tls=disable; [[ $management == https:* ]] && tls=enable
  make keda-rabbitmq "host=$host" "tls=$tls"
fi
for service in proposals materials notifications transparency; do
  make "mongodb-$service" "password=$(password)"
done
fernet=$(python3 -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')
make notifications-credentials "BERDAYA_WEBHOOK_SECRET_KEYS=$fernet" \
  BERDAYA_SMTP_USERNAME= BERDAYA_SMTP_PASSWORD= BERDAYA_SMS_GATEWAY_URL= BERDAYA_SMS_GATEWAY_TOKEN=
