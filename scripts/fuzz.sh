#!/usr/bin/env bash
# The generative adversarial suite (`npm run fuzz -- [--minutes N | --cases N] [--seed X]
# [--classes messages,forgery,completions,operator,database] [--shards S] [--keep-logs]`): installs
# what it needs, then the harness (harness/src/fuzz/) runs it. Exits 1 on any invariant violation,
# 2 if the run itself broke.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh runtime
exec node harness/dist/cli/fuzz.js "$@"
