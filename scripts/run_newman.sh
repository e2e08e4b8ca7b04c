#!/usr/bin/env bash
# Runs postman_collection.json against a live stack. Expects the services' URLs, API_TOKEN (the write token)
# and API_READ_TOKEN (the read token); conveyor stack --exec sets them.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p artifacts
exec node_modules/.bin/newman run postman_collection.json \
  --env-var "qm_url=${QM_URL}" --env-var "ml_url=${ML_URL}" --env-var "monitoring_url=${MONITORING_URL}" --env-var "retraining_url=${RETRAINING_URL}" --env-var "admin_url=${ADMIN_URL}" --env-var "admin_user=${ADMIN_USER}" --env-var "admin_password=${ADMIN_PASSWORD}" --env-var "token=${API_TOKEN}" --env-var "read_token=${API_READ_TOKEN}" \
  --env-var "run_id=$(date +%s)$RANDOM" \
  -r cli,junit --reporter-junit-export artifacts/newman.xml \
  --disable-unicode --color off --working-dir . "$@"
