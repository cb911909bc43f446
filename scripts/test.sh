#!/usr/bin/env bash
# THE test command (`npm test`; .ci/run calls it): the widest door (CONTRIBUTING.md lists the
# narrower ones). On a fresh machine: installs the tools, the node modules and the build, then runs
# every suite and counts its results:
#   - vitest, one run per project of vitest.config.ts, in this order (each counted on its own
#     line, as vitest-<project>):
#       unit         no server, no tool from .tools/
#       integration  real MariaDB + Temporal started by test/global-setup.ts
#       e2e          the packaging suites (hadolint, helm lint, helm-unittest, kubernetes-validate,
#                    skaffold checks, the chart on a live API server), Jaeger, chaos, scratch app,
#                    Node LTS, whole-repository lint
#   - as root (CI), the cluster suite unless CLUSTER_SUITE=0 (test/cluster/: a one-node Kubernetes
#     cluster with real pods, the image built from the Dockerfile, helm install/test/upgrade/
#     rollback, scaling, pod kills; scripts/install-tools.sh cluster first), bounded by
#     CLUSTER_TIMEOUT_MINUTES (default 60), counted as `cluster`
#   - any other $RESULTS_DIR/*.counts file ("<passed> <failed>") a suite leaves behind.
# Each phase's duration is printed as `[test] phase <name>: <s> s` and kept in
# $RESULTS_DIR/phases.txt (docs/ci.md says what each phase does and what it took).
# The last line printed is exactly "N passed, N failed" over all suites; the exit status is non-zero
# if anything failed. A project or suite that crashes (no results, or exit status without
# failures) counts as one failure. The vitest projects together are bounded by
# TEST_TIMEOUT_MINUTES (default 70).
# Arguments go to every vitest project, e.g. `npm test -- test/pipeline` runs only those files
# (a project none of them belongs to runs nothing and counts nothing; no file matched at all counts
# as one failure).
set -uo pipefail # no -e: one suite failing must not keep the others from running and being counted
cd "$(dirname "$0")/.."
log() { printf '[test] %s\n' "$*" >&2; }

export RESULTS_DIR=${RESULTS_DIR:-$PWD/.run/results}
mkdir -p "$RESULTS_DIR"
# Stale counts from an earlier run would be added to this one.
rm -f "$RESULTS_DIR"/*.counts "$RESULTS_DIR"/vitest*.json
PHASES_FILE=$RESULTS_DIR/phases.txt
: >"$PHASES_FILE"

# A phase's duration: printed, and kept in $PHASES_FILE for docs/ci.md and for reading a slow run.
phase_started=0
phase_start() { phase_started=$(date +%s); }
phase_end() { # name
  local line
  line="phase $1: $(($(date +%s) - phase_started)) s"
  log "$line"
  printf '[test] %s\n' "$line" >>"$PHASES_FILE"
}

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

# What failed, named where CI shows it: just above the counts at the end (CI keeps only the tail of
# a long run's output). From a vitest JSON report: each failed test and each file that failed
# without one (a failing hook) with the first line of its error; from the run's log: vitest's
# "Unhandled Error" sections (an error thrown outside any test fails the run and is in no report).
FAILURES_FILE=$RESULTS_DIR/failures.txt
rm -f "$FAILURES_FILE"
note_failures() { # suite report.json log
  node -e '
    const fs = require("fs");
    const [suite, report, log] = process.argv.slice(1);
    const out = [];
    const first = (m) => String(m ?? "").split("\n").find((l) => l.trim() !== "")?.trim().slice(0, 300) ?? "";
    try {
      const r = JSON.parse(fs.readFileSync(report, "utf8"));
      for (const f of r.testResults) {
        const file = f.name.replace(process.cwd() + "/", "");
        const failed = f.assertionResults.filter((a) => a.status === "failed");
        for (const a of failed) out.push(`${file} > ${a.fullName}: ${first(a.failureMessages?.[0])}`);
        if (f.status === "failed" && failed.length === 0) out.push(`${file} (no failed test; the file failed): ${first(f.message)}`);
      }
    } catch { out.push("no readable report"); }
    try {
      const lines = fs.readFileSync(log, "utf8").replace(/\x1b\[[0-9;]*m/g, "").split("\n");
      lines.forEach((l, i) => {
        // Each error of the "Unhandled Errors" part of vitest has a header of its own ("⎯⎯⎯ Uncaught
        // Exception ⎯⎯⎯", "Unhandled Rejection", "Unhandled Error"), then the error, where it was
        // thrown, and the test file it came from.
        if (/^\s*⎯+ (Uncaught Exception|Unhandled (Error|Rejection)) ⎯+\s*$/.test(l)) {
          const what = lines.slice(i + 1, i + 12).filter((x) => x.trim() !== "" && !/^\s*\d+\||^\s*\|/.test(x)).slice(0, 3);
          const origin = lines.slice(i + 1, i + 40).map((x) => /This error originated in "([^"]+)"/.exec(x)?.[1]).find(Boolean);
          out.push(`${l.replace(/⎯/g, "").trim()}${origin ? ` (from ${origin})` : ""}: ${what.map((x) => x.trim()).join(" · ")}`);
        }
      });
    } catch { /* no log */ }
    if (out.length === 0) out.push(`failed with no failed test and no error section found; see ${log}`);
    for (const l of out.slice(0, 40)) console.log(`  ${suite}: ${l}`);
  ' "$1" "$2" "$3" >>"$FAILURES_FILE" 2>&1 || true
}

# 0. Whether the cluster suite runs (real pods, needs root; section 3), decided first: its tools
# are built in the background from the start.
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

# 1. Tools, modules, build. In the foreground only what the unit and integration suites need
# (`servers`: PyPI and Debian, no Go build). The Go builds (Helm, helm-unittest, Jaeger, the control
# plane: `all`; then the cluster's node, CoreDNS, kube-router, metrics-server, Skaffold: `cluster`)
# run in the background at low priority while those suites run: from a cold Go cache they take
# about 10 and 10 minutes of both cores (docs/ci.md), from a warm one about a minute each. The e2e
# project waits for `all`, the cluster suite for `cluster`; each wait is a phase of its own.
phase_start
bash scripts/install-tools.sh servers || fatal "scripts/install-tools.sh servers failed"
phase_end tools
BG_TOOLS_LOG=$RESULTS_DIR/tools-background.log
rm -f "$RESULTS_DIR"/tools-*.rc
build_cluster_tools=0
[ "$CLUSTER_SUITE" = 1 ] && [ $# = 0 ] && [ "$(id -u)" = 0 ] && build_cluster_tools=1
# setsid: its own process group, so an early exit stops the builds with it (the EXIT trap).
setsid bash -c '
  for what in all $([ "$2" = 1 ] && echo cluster); do
    t=$(date +%s)
    nice -n 10 bash scripts/install-tools.sh "$what"
    rc=$?
    echo "[test] background: scripts/install-tools.sh $what: exit $rc after $(($(date +%s) - t)) s"
    echo $rc >"$1/tools-$what.rc"
  done
' background-tools "$RESULTS_DIR" "$build_cluster_tools" >"$BG_TOOLS_LOG" 2>&1 &
bg_tools_pid=$!
bg_printed=0
stop_background_tools() { kill -- "-$bg_tools_pid" 2>/dev/null || true; }
trap 'stop_background_tools; reap_leftovers' EXIT
# Waits (bounded) until the background install of $1 has ended, prints its log so far, times the
# wait as phase $2; returns the install's exit status.
wait_for_tools() { # all|cluster phase-name
  local deadline=$(($(date +%s) + 3600)) rc
  phase_start
  while [ ! -f "$RESULTS_DIR/tools-$1.rc" ] && kill -0 "$bg_tools_pid" 2>/dev/null && [ "$(date +%s)" -lt $deadline ]; do sleep 2; done
  tail -n +$((bg_printed + 1)) "$BG_TOOLS_LOG"
  bg_printed=$(wc -l <"$BG_TOOLS_LOG")
  phase_end "$2"
  rc=$(cat "$RESULTS_DIR/tools-$1.rc" 2>/dev/null) || rc=1
  [[ $rc =~ ^[0-9]+$ ]] || rc=1
  return "$rc"
}
phase_start
bash scripts/prepare.sh
prepare_rc=$?
phase_end npm-ci-build
[ $prepare_rc = 3 ] && fatal "npm ci failed"
if [ $prepare_rc != 0 ]; then
  # Keep going: tsc -b still emits what compiles, and the suites show what that breaks.
  log "build failed; counted as one failure"
  write_counts build 0 1
fi

# 2. vitest, one run per project, each with a JSON report to count from.
vitest_counts() { # report.json → "<passed> <failed>" (a file failing without a failed test counts once)
  node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    let failed = r.numFailedTests;
    // A file can fail with no failed test in it (import error, failing beforeAll): count it once.
    for (const f of r.testResults) if (f.status === "failed" && !f.assertionResults.some((a) => a.status === "failed")) failed++;
    // Skipped tests are not in the summary line: name each one here, so a skip is never silent.
    for (const f of r.testResults) for (const a of f.assertionResults) if (a.status !== "passed" && a.status !== "failed") console.error(`[test] ${a.status}: ${a.fullName}`);
    console.log(r.numPassedTests, failed);
  ' "$1"
}

vitest_deadline=$(($(date +%s) + ${TEST_TIMEOUT_MINUTES:-70} * 60))
run_vitest_project() { # project [vitest args...]
  local project=$1 report rc counts passed failed budget
  shift
  report=$RESULTS_DIR/vitest-$project.json
  phase_start
  budget=$((vitest_deadline - $(date +%s)))
  [ $budget -lt 60 ] && budget=60 # a project left no time still starts, and is cut at once
  log "vitest: project $project"
  # With file arguments, a project that holds none of them has nothing to run: not an error then.
  timeout --kill-after=60 "$budget" \
    node_modules/.bin/vitest run --project "$project" ${1+--passWithNoTests} "$@" --reporter=default --reporter=json --outputFile.json="$report" 2>&1 |
    tee "$RESULTS_DIR/vitest-$project.log"
  rc=${PIPESTATUS[0]}
  reap_leftovers
  [ $rc = 124 ] && log "vitest project $project timed out (TEST_TIMEOUT_MINUTES=${TEST_TIMEOUT_MINUTES:-70} for all projects)"
  if [ -s "$report" ]; then
    counts=$(vitest_counts "$report") || counts="0 1"
  elif [ $rc = 0 ] && [ $# != 0 ]; then
    counts="0 0" # none of the files asked for is in this project
  else
    counts="0 1"
    log "vitest project $project left no report (exit status $rc); counted as one failure"
  fi
  read -r passed failed <<<"$counts"
  if [ $rc != 0 ] && [ "$failed" = 0 ]; then
    log "vitest project $project exited with $rc without a failed test (unhandled error, crash or timeout); counted as one failure"
    failed=1
  fi
  write_counts "vitest-$project" "$passed" "$failed"
  [ "$failed" != 0 ] && note_failures "vitest-$project" "$report" "$RESULTS_DIR/vitest-$project.log"
  phase_end "vitest-$project"
}
for project in unit integration; do run_vitest_project "$project" "$@"; done
if ! wait_for_tools all tools-e2e-wait; then
  log "scripts/install-tools.sh all (in the background) failed (its log is above); counted as one failure"
  write_counts tools 0 1
fi
run_vitest_project e2e "$@"
if [ $# != 0 ] && [ "$(cat "$RESULTS_DIR"/vitest-*.counts)" = "$(printf '0 0\n0 0\n0 0')" ]; then
  log "no test file matched $*; counted as one failure"
  write_counts no-tests 0 1
fi

# 3. The cluster suite: real pods on this machine, needs root (whether it runs: section 0).
if [ "$CLUSTER_SUITE" = 1 ] && [ $# = 0 ]; then
  cluster_t0=$(date +%s)
  cluster_tools_rc=0
  if [ "$(id -u)" = 0 ]; then
    wait_for_tools cluster cluster-tools
    cluster_tools_rc=$?
  fi
  if [ "$(id -u)" != 0 ]; then
    log "CLUSTER_SUITE=1 needs root (containerd, kubelet, iptables); counted as one failure"
    write_counts cluster 0 1
  elif [ $cluster_tools_rc != 0 ]; then
    log "scripts/install-tools.sh cluster failed; counted as one failure"
    write_counts cluster 0 1
  else
    phase_start
    log "cluster suite (test/cluster/)"
    rm -f "$RESULTS_DIR/cluster.json"
    # A cluster whose test process was killed (here, in an earlier run, or in another clone) is
    # undone from /run/write-batcher-cluster.json: its processes by PID, bridge, netns, cgroups,
    # iptables, sysctls. One whose test process still runs is refused, and left alone.
    cluster_down() { if [ -f /run/write-batcher-cluster.json ]; then node_modules/.bin/vite-node harness/src/cluster/cli.ts down || log "cluster cleanup refused or left something (see above)"; fi; }
    cluster_down
    timeout --kill-after=120 "$((${CLUSTER_TIMEOUT_MINUTES:-60} * 60))" \
      node_modules/.bin/vitest run --config test/cluster/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$RESULTS_DIR/cluster.json" 2>&1 |
      tee "$RESULTS_DIR/cluster.log"
    cluster_rc=${PIPESTATUS[0]}
    reap_leftovers
    cluster_down
    if [ -s "$RESULTS_DIR/cluster.json" ]; then counts=$(vitest_counts "$RESULTS_DIR/cluster.json") || counts="0 1"; else counts="0 1"; fi
    read -r passed failed <<<"$counts"
    if [ $cluster_rc != 0 ] && [ "$failed" = 0 ]; then failed=1; fi
    write_counts cluster "$passed" "$failed"
    [ "$failed" != 0 ] && note_failures cluster "$RESULTS_DIR/cluster.json" "$RESULTS_DIR/cluster.log"
    phase_end cluster-tests
  fi
  log "cluster suite took $(( $(date +%s) - cluster_t0 )) s (tools, images, cluster, tests, teardown)"
fi

# 4. Sum every suite's counts, after naming what failed.
if [ -s "$FAILURES_FILE" ]; then
  echo "[test] what failed:"
  cat "$FAILURES_FILE"
fi
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
