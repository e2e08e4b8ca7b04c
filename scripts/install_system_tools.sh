#!/usr/bin/env bash
# System tools the tests use, from Debian's packages, installed when missing and possible.
# Best effort: without them the tests that need them say so and skip that part.
set -u
want=()
command -v docker-compose >/dev/null || want+=(docker-compose)
# Debian's Chromium drives the browser tests (Playwright with executable_path; never `playwright install`).
command -v chromium >/dev/null || want+=(chromium)
# promtool and the prometheus server check and scrape the monitoring configuration; kubectl builds the kustomize overlays.
command -v promtool >/dev/null || want+=(prometheus)
command -v kubectl >/dev/null || want+=(kubectl)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "not installing ${want[*]} (needs root and apt-get)"; exit 0
fi
echo "installing ${want[*]}"
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${want[@]}"; } >/dev/null 2>&1 \
  || echo "could not install ${want[*]}; the tests that use them will skip that part"
exit 0
