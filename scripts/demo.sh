#!/usr/bin/env bash
# THE demo (`npm run demo`): installs what it needs, starts Temporal and MariaDB on 127.0.0.1,
# migrates, starts the batcher and main workers, runs the starter in the foreground, then stops
# everything it started (or, with --keep, waits for Ctrl-C with the Temporal UI up).
#
#   scripts/demo.sh [--workflows N] [--shards S] [--keep] [--jaeger]
#
# Environment (defaults in brackets):
#   WORKFLOWS [300], BATCHER_SHARDS [1]        same as --workflows / --shards
#   TEMPORAL_ADDRESS                            use this Temporal server instead of starting one
#   TEMPORAL_PORT [7233], TEMPORAL_UI_PORT [8233]  ports of the dev server the demo starts
#   MYSQL_HOST (+ MYSQL_PORT/USER/PASSWORD)     use this MySQL instead of starting MariaDB
#   MYSQL_PORT [3307]                           port of the MariaDB the demo starts (data: .run/demo/mariadb)
#   MYSQL_DATABASE [batcher]
#   BATCHER_WORKER_HEALTH_PORT [8081], BATCHER_WORKER_METRICS_PORT [9464]
#   MAIN_WORKER_HEALTH_PORT [8082], MAIN_WORKER_METRICS_PORT [9465]
#   BATCHER_WORKER_CONSOLE_LEVEL [info], MAIN_WORKER_CONSOLE_LEVEL [warn]
#                                   lowest log level shown on the console (the main worker logs
#                                   every transaction step; its full log is in .run/demo/logs/)
#   JAEGER_OTLP_HTTP_PORT [4318], JAEGER_QUERY_HTTP_PORT [16686] (with --jaeger)
#   LOG_LEVEL [info]; service logs are also kept raw in .run/demo/logs/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
source scripts/lib/stack.sh
STACK_LOG_TAG=demo

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

workflows=${WORKFLOWS:-300}
shards=${BATCHER_SHARDS:-1}
keep=0
jaeger=0
while [ $# -gt 0 ]; do
  case $1 in
    --workflows) workflows=${2:?--workflows needs a number}; shift 2 ;;
    --workflows=*) workflows=${1#*=}; shift ;;
    --shards) shards=${2:?--shards needs a number}; shift 2 ;;
    --shards=*) shards=${1#*=}; shift ;;
    --keep) keep=1; shift ;;
    --jaeger) jaeger=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; stack_die "unknown option: $1" ;;
  esac
done
[[ $workflows =~ ^[0-9]+$ ]] || stack_die "--workflows must be a whole number (got '$workflows')"
[[ $shards =~ ^[1-9][0-9]*$ ]] || stack_die "--shards must be a positive whole number (got '$shards')"

DEMO_DIR=$STACK_ROOT/.run/demo
LOG_DIR=$DEMO_DIR/logs
mkdir -p "$LOG_DIR"

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stack_stop_all
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Tools, modules, build.
bash scripts/install-tools.sh runtime
if [ $jaeger = 1 ] && ! stack_tool jaeger >/dev/null; then
  stack_die "--jaeger needs .tools/bin/jaeger: run scripts/install-tools.sh all (builds it once, takes a few minutes)"
fi
stack_ensure_node_modules
stack_build
for entry in services/batcher-worker/dist/migrate.js services/batcher-worker/dist/main.js services/main-worker/dist/main.js services/starter/dist/main.js; do
  [ -f "$entry" ] || stack_die "$entry is missing after the build"
done

# 2. Servers, unless the environment points at running ones.
started_temporal=0
if [ -z "${TEMPORAL_ADDRESS:-}" ]; then
  TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
  TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
  stack_start_temporal "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$LOG_DIR/temporal.log"
  export TEMPORAL_ADDRESS=127.0.0.1:$TEMPORAL_PORT
  started_temporal=1
else
  stack_log "using Temporal at $TEMPORAL_ADDRESS"
fi
export TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}

if [ -z "${MYSQL_HOST:-}" ]; then
  export MYSQL_HOST=127.0.0.1 MYSQL_PORT=${MYSQL_PORT:-3307} MYSQL_USER=root MYSQL_PASSWORD=
  stack_start_mariadb "$MYSQL_PORT" "$DEMO_DIR/mariadb" "$LOG_DIR/mariadb.log"
else
  stack_log "using MySQL at $MYSQL_HOST:${MYSQL_PORT:-3306}"
fi
export MYSQL_DATABASE=${MYSQL_DATABASE:-batcher}

if [ $jaeger = 1 ]; then
  stack_start_jaeger "$LOG_DIR/jaeger.log"
  export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT
fi

# Every service must agree on the shard count; a short shutdown grace keeps Ctrl-C snappy.
export BATCHER_SHARDS=$shards
export WORKER_SHUTDOWN_GRACE_MS=${WORKER_SHUTDOWN_GRACE_MS:-5000}

# 3. Schema.
stack_log "migrating the schema"
node services/batcher-worker/dist/migrate.js 2>&1 | node scripts/lib/log-prefixer.js migrate

# 4. Workers, in the background, their output prefixed on this console.
start_worker() { # name prefix console-level health-port metrics-port entry
  local name=$1 prefix=$2 level=$3 health=$4 metrics=$5 entry=$6 p
  for p in "$health" "$metrics"; do
    [ "$p" = 0 ] || stack_require_port_free "$p" "$name" "Set ${prefix^^}_WORKER_HEALTH_PORT / ${prefix^^}_WORKER_METRICS_PORT (0 disables)."
  done
  stack_start_prefixed "$name" 15 "$prefix" "$level" "$LOG_DIR/$name.log" \
    env WORKER_HEALTH_PORT="$health" WORKER_METRICS_PORT="$metrics" node "$entry"
}
BATCHER_WORKER_HEALTH_PORT=${BATCHER_WORKER_HEALTH_PORT:-8081}
MAIN_WORKER_HEALTH_PORT=${MAIN_WORKER_HEALTH_PORT:-8082}
MAIN_WORKER_CONSOLE_LEVEL=${MAIN_WORKER_CONSOLE_LEVEL:-warn}
start_worker batcher-worker batcher "${BATCHER_WORKER_CONSOLE_LEVEL:-info}" "$BATCHER_WORKER_HEALTH_PORT" "${BATCHER_WORKER_METRICS_PORT:-9464}" services/batcher-worker/dist/main.js
batcher_pid=$STACK_LAST_PID
start_worker main-worker main "$MAIN_WORKER_CONSOLE_LEVEL" "$MAIN_WORKER_HEALTH_PORT" "${MAIN_WORKER_METRICS_PORT:-9465}" services/main-worker/dist/main.js
main_pid=$STACK_LAST_PID

# Workflows would wait on their task queues anyway; waiting for /readyz just keeps the console in order.
wait_worker() { # name pid health-port
  if [ "$3" = 0 ]; then return 0; fi
  if stack_wait_http "http://127.0.0.1:$3/readyz" 90 "$2"; then
    stack_log "$1 ready (full log $LOG_DIR/$1.log)"
  else
    kill -0 "$2" 2>/dev/null || stack_die "$1 exited during start-up (log $LOG_DIR/$1.log)"
    stack_log "warning: $1 is not ready after 90s; starting anyway"
  fi
}
wait_worker batcher-worker "$batcher_pid" "$BATCHER_WORKER_HEALTH_PORT"
wait_worker main-worker "$main_pid" "$MAIN_WORKER_HEALTH_PORT"

# 5. The starter, in the foreground.
[ "$MAIN_WORKER_CONSOLE_LEVEL" = warn ] && stack_log "the main worker's console shows warnings only (MAIN_WORKER_CONSOLE_LEVEL=info shows every step)"
stack_log "starting $workflows workflows over $shards batcher shard(s)"
starter_rc=0
node services/starter/dist/main.js --workflows "$workflows" --shards "$shards" || starter_rc=$?

if [ $keep = 1 ]; then
  echo
  [ $started_temporal = 1 ] && [ "$TEMPORAL_UI_PORT" != 0 ] && echo "Temporal UI: http://localhost:$TEMPORAL_UI_PORT"
  [ $jaeger = 1 ] && echo "Jaeger UI:   http://localhost:$JAEGER_QUERY_HTTP_PORT"
  echo "Everything keeps running; press Ctrl-C to stop it."
  while :; do sleep 1; done
fi
exit $starter_rc
