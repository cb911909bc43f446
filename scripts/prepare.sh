#!/usr/bin/env bash
# Gets a fresh checkout ready to run: the tools (scripts/install-tools.sh TARGET...), the node modules
# (npm ci, unless node_modules already holds exactly what package-lock.json pins) and the build.
# Used by demo.sh, bench.sh, chaos.sh and test.sh before they hand over to the TypeScript harness.
#   scripts/prepare.sh [TARGET...]   (install-tools targets; none: no tools)
# Exit status: 3 if npm ci failed, another non-zero one if the tools or the build failed.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[prepare] %s\n' "$*" >&2; }

for target in "$@"; do bash scripts/install-tools.sh "$target"; done

# npm records what it installed in node_modules/.package-lock.json; every entry there must match the
# lockfile, and every lockfile entry missing there must be an optional one (platform binaries).
if node -e '
  const fs = require("fs");
  if (!fs.existsSync("node_modules/.package-lock.json")) process.exit(1);
  const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages ?? {};
  const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages ?? {};
  const same = (a, b) => a.version === b.version && (a.integrity ?? "") === (b.integrity ?? "") && (a.resolved ?? "") === (b.resolved ?? "");
  for (const [k, v] of Object.entries(want)) {
    if (k === "") continue;
    if (k in have) { if (!same(v, have[k])) process.exit(1); }
    else if (!v.optional && !v.devOptional) process.exit(1);
  }
  for (const k of Object.keys(have)) if (!(k in want)) process.exit(1);
'; then
  log "node_modules matches package-lock.json; skipping npm ci"
else
  log "npm ci"
  npm ci --no-audit --no-fund || { log "npm ci failed"; exit 3; }
fi

log "npm run build"
npm run --silent build
