#!/usr/bin/env bash
# Kill rounds (`npm run chaos -- [--workload demo|team] [--transactions N] [--rounds R] [--shards S] [--seed X] [--busy]
# [--keep-logs]`): installs what it needs, then the harness (harness/src/chaos/) runs them.
# Exits 1 on any violation, 2 if the run itself broke.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh runtime
exec node harness/dist/cli/chaos.js "$@"
