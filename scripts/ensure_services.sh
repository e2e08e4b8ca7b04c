#!/usr/bin/env bash
# Make sure the stores the tests and the demo need are up: start them if installed but stopped.
set -u
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 1 60); do up "$1" && return 0; sleep 1; done; return 1; }

if ! up 5432; then
  if command -v pg_ctlcluster >/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  wait_port 5432 || { echo "PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
fi
if ! up 5672; then
  if command -v rabbitmq-server >/dev/null; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  fi
  wait_port 5672 || { echo "RabbitMQ is not reachable on 127.0.0.1:5672" >&2; exit 1; }
fi
echo "PostgreSQL and RabbitMQ are up"
