#!/usr/bin/env bash
# Stop the local broker started by kafka/up.sh: SIGTERM (a clean, controlled
# shutdown), wait, then SIGKILL if it hangs. Idempotent: says so and exits 0 when
# nothing is running. Data stays in .kafka/broker-<port>/ (rm -rf it for a fresh
# cluster).
#
#   npm run kafka:down                  # the broker on KAFKA_PORT (default 9092)
#   bash kafka/down.sh --all            # every broker started from this checkout
#
# KAFKA_STOP_TIMEOUT: seconds to wait after SIGTERM before SIGKILL (default 30).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

stop_timeout_s="${KAFKA_STOP_TIMEOUT:-30}"

stop_one() {
  local pid waited=0
  if ! pid="$(kafka_running_pid)"; then
    rm -f "$KAFKA_PID_FILE"
    echo "kafka: not running on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  echo "kafka: stopping the broker on 127.0.0.1:$KAFKA_PORT (pid $pid)..."
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do
    if ((waited >= stop_timeout_s * 10)); then
      echo "kafka: still running after ${stop_timeout_s}s; sending SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  rm -f "$KAFKA_PID_FILE"
  echo "kafka: stopped ($((waited / 10)).$((waited % 10)) s)"
}

if [[ "${1:-}" == "--all" ]]; then
  shopt -s nullglob
  dirs=("$KAFKA_HOME_DIR"/broker-*/)
  if ((${#dirs[@]} == 0)); then
    echo "kafka: no brokers under $KAFKA_HOME_DIR"
  fi
  for dir in "${dirs[@]}"; do
    dir="${dir%/}"
    KAFKA_PORT="${dir##*/broker-}"
    KAFKA_BROKER_DIR="$dir"
    KAFKA_PID_FILE="$dir/kafka.pid"
    KAFKA_PROPS_FILE="$dir/server.properties"
    stop_one
  done
elif [[ -n "${1:-}" ]]; then
  echo "kafka: unknown argument '$1'; usage: down.sh [--all]" >&2
  exit 2
else
  stop_one
fi
