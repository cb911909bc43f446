#!/usr/bin/env bash
# THE test command (`npm test`; .ci/run calls it). On a fresh machine: installs the tools, the
# node modules and the build, then runs every suite and counts its results:
#   - vitest (test/**/*.test.ts, real MariaDB + Temporal started by test/global-setup.ts; the
#     packaging suites in test/packaging/ too: hadolint, helm lint, helm-unittest,
#     kubernetes-validate, skaffold checks and the chart on a live API server)
#   - as root (CI), the cluster suite unless CLUSTER_SUITE=0 (test/cluster/: a one-node Kubernetes
#     cluster with real pods, the image built from the Dockerfile, helm install/test/upgrade/
#     rollback, scaling, pod kills; scripts/install-tools.sh cluster first), bounded by
#     CLUSTER_TIMEOUT_MINUTES (default 60), counted as `cluster`
#   - any other $RESULTS_DIR/*.counts file ("<passed> <failed>") a suite leaves behind.
# The last line printed is exactly "N passed, N failed" over all suites; the exit status is non-zero
# if anything failed. A suite that crashes (no results, or exit status without failures) counts as
# one failure. Bounded by TEST_TIMEOUT_MINUTES (default 45).
# Arguments go to vitest, e.g. `npm test -- test/pipeline` runs only those files.
set -uo pipefail # no -e: one suite failing must not keep the others from running and being counted
cd "$(dirname "$0")/.."
log() { printf '[test] %s\n' "$*" >&2; }

export RESULTS_DIR=${RESULTS_DIR:-$PWD/.run/results}
mkdir -p "$RESULTS_DIR"
# Stale counts from an earlier run would be added to this one.
rm -f "$RESULTS_DIR"/*.counts "$RESULTS_DIR/vitest.json"

# The harness (harness/) records each server it starts here (one file per PID, holding the
# command) and removes the file when the server stops; whatever is left after vitest was killed is
# stopped by harness/dist/cli/reap.js (only PIDs still running their recorded command).
export TEST_PID_DIR=$PWD/.run/test-pids/$$
reap_leftovers() {
  [ -d "$TEST_PID_DIR" ] || return 0
  if [ -f harness/dist/cli/reap.js ]; then node harness/dist/cli/reap.js "$TEST_PID_DIR"; fi
}
trap reap_leftovers EXIT

fatal() { # the run cannot even start: still end with the summary line
  log "error: $*"
  echo "0 passed, 1 failed"
  exit 1
}

write_counts() { printf '%s %s\n' "$2" "$3" >"$RESULTS_DIR/$1.counts"; }

# 1. Tools, modules, build.
bash scripts/install-tools.sh all || fatal "scripts/install-tools.sh all failed"
bash scripts/prepare.sh
prepare_rc=$?
[ $prepare_rc = 3 ] && fatal "npm ci failed"
if [ $prepare_rc != 0 ]; then
  # Keep going: tsc -b still emits what compiles, and the suites show what that breaks.
  log "build failed; counted as one failure"
  write_counts build 0 1
fi

# 2. vitest, with a JSON report to count from.
log "vitest run"
timeout --kill-after=60 "$((${TEST_TIMEOUT_MINUTES:-70} * 60))" \
  node_modules/.bin/vitest run "$@" --reporter=default --reporter=json --outputFile.json="$RESULTS_DIR/vitest.json"
vitest_rc=$?
reap_leftovers
[ $vitest_rc = 124 ] && log "vitest timed out after ${TEST_TIMEOUT_MINUTES:-70} min"
if [ -s "$RESULTS_DIR/vitest.json" ]; then
  # A file can fail with no failed test in it (import error, failing beforeAll): count it once.
  counts=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let failed = r.numFailedTests;
    for (const f of r.testResults) if (f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")) failed++;
    // Skipped tests are not in the summary line: name each one here, so a skip is never silent.
    for (const f of r.testResults) for (const a of f.assertionResults) if (a.status !== "passed" && a.status !== "failed") console.error(`[test] ${a.status}: ${a.fullName}`);
    console.log(r.numPassedTests, failed);
  ' "$RESULTS_DIR/vitest.json") || counts="0 1"
else
  counts="0 1"
  log "vitest left no report (exit status $vitest_rc); counted as one failure"
fi
read -r passed failed <<<"$counts"
if [ $vitest_rc != 0 ] && [ "$failed" = 0 ]; then
  log "vitest exited with $vitest_rc without a failed test (unhandled error, crash or timeout); counted as one failure"
  failed=1
fi
write_counts vitest "$passed" "$failed"

# 3. The cluster suite: real pods on this machine, needs root.
vitest_counts() { # report.json → "<passed> <failed>" (a file failing without a failed test counts once)
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let failed = r.numFailedTests;
    for (const f of r.testResults) if (f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")) failed++;
    for (const f of r.testResults) for (const a of f.assertionResults) if (a.status !== "passed" && a.status !== "failed") console.error(`[test] ${a.status}: ${a.fullName}`);
    console.log(r.numPassedTests, failed);
  ' "$1"
}
# On by default for a whole run as root (what CI does); CLUSTER_SUITE=0 leaves it out, and a run
# that cannot (not root, or a subset of files) says so on its own line: never a silent skip.
if [ -z "${CLUSTER_SUITE:-}" ]; then
  if [ $# != 0 ]; then CLUSTER_SUITE=0
  elif [ "$(id -u)" = 0 ]; then CLUSTER_SUITE=1
  else CLUSTER_SUITE=0; log "skipped: the cluster suite (test/cluster/: real pods) needs root; CLUSTER_SUITE=1 as root runs it"
  fi
elif [ "$CLUSTER_SUITE" = 0 ] && [ $# = 0 ]; then
  log "skipped: the cluster suite (CLUSTER_SUITE=0)"
fi
if [ "$CLUSTER_SUITE" = 1 ] && [ $# = 0 ]; then
  cluster_t0=$(date +%s)
  if [ "$(id -u)" != 0 ]; then
    log "CLUSTER_SUITE=1 needs root (containerd, kubelet, iptables); counted as one failure"
    write_counts cluster 0 1
  elif ! bash scripts/install-tools.sh cluster; then
    log "scripts/install-tools.sh cluster failed; counted as one failure"
    write_counts cluster 0 1
  else
    log "cluster suite (test/cluster/)"
    rm -f "$RESULTS_DIR/cluster.json"
    # A cluster whose test process was killed (here or in an earlier run) is undone from
    # .run/cluster/state.json: its processes by PID, bridge, netns, cgroups, iptables, sysctls.
    cluster_down() { if [ -f .run/cluster/state.json ]; then node_modules/.bin/vite-node harness/src/cluster/cli.ts down || log "cluster cleanup left something (see above)"; fi; }
    cluster_down
    timeout --kill-after=120 "$((${CLUSTER_TIMEOUT_MINUTES:-60} * 60))" \
      node_modules/.bin/vitest run --config test/cluster/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$RESULTS_DIR/cluster.json"
    cluster_rc=$?
    reap_leftovers
    cluster_down
    if [ -s "$RESULTS_DIR/cluster.json" ]; then counts=$(vitest_counts "$RESULTS_DIR/cluster.json") || counts="0 1"; else counts="0 1"; fi
    read -r passed failed <<<"$counts"
    if [ $cluster_rc != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
    write_counts cluster "$passed" "$failed"
  fi
  log "cluster suite took $(( $(date +%s) - cluster_t0 )) s (tools, images, cluster, tests, teardown)"
fi

# 4. Sum every suite's counts.
total_passed=0
total_failed=0
for file in "$RESULTS_DIR"/*.counts; do
  [ -e "$file" ] || continue
  suite=$(basename "$file" .counts)
  p='' f=''
  read -r p f _ <"$file" || true
  if ! [[ "$p" =~ ^[0-9]+$ && "$f" =~ ^[0-9]+$ ]]; then
    log "$suite: unreadable counts ($(head -c 80 "$file")); counted as one failure"
    p=0 f=1
  fi
  printf '  %-12s %s passed, %s failed\n' "$suite:" "$p" "$f"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
done

echo "$total_passed passed, $total_failed failed"
[ "$total_failed" = 0 ]
