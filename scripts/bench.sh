#!/usr/bin/env bash
# THE benchmark command (`npm run bench -- [--workflows N] [--saturation-signals M] ...`): installs
# what it needs, then the harness (harness/src/cli/bench.ts) starts its own Temporal and
# MariaDB, runs bench/dist/main.js against them and stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh runtime
exec node harness/dist/cli/bench.js "$@"
