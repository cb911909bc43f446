#!/usr/bin/env bash
# THE benchmark command (`npm run bench -- [--workflows N] [--saturation-signals M]`): starts its
# own Temporal dev server and MariaDB on free-by-default ports, runs bench/dist/main.js (batched
# pipeline vs. one-INSERT-per-workflow baseline, then one-shard saturation) and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/stack.sh
source scripts/lib/stack.sh
STACK_LOG_TAG=bench
trap stack_stop_all EXIT
trap 'exit 130' INT TERM

bash scripts/install-tools.sh runtime
stack_ensure_node_modules
stack_build

run_dir=$PWD/.run/bench
rm -rf "$run_dir/mariadb"
mkdir -p "$run_dir"
export TEMPORAL_ADDRESS=127.0.0.1:${BENCH_TEMPORAL_PORT:-17433}
stack_start_temporal "${BENCH_TEMPORAL_PORT:-17433}" 0 "$run_dir/temporal.log"
export MYSQL_HOST=127.0.0.1 MYSQL_PORT=${BENCH_MYSQL_PORT:-13406} MYSQL_USER=root MYSQL_PASSWORD='' MYSQL_DATABASE=bench
stack_start_mariadb "$MYSQL_PORT" "$run_dir/mariadb" "$run_dir/mariadb.log"
node bench/dist/main.js "$@"
