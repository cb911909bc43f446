#!/usr/bin/env bash
# THE demo (`npm run demo -- [options]`): installs the tools it needs (Temporal CLI, MariaDB unless
# MYSQL_HOST is set; Jaeger on first --jaeger), the node modules and the build, then hands over to
# the harness (harness/src/cli/demo.ts). `npm run demo -- --help` lists options and variables.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh runtime
exec node harness/dist/cli/demo.js "$@"
