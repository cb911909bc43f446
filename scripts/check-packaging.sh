#!/usr/bin/env bash
# Offline checks of the Kubernetes packaging: Dockerfile lint, Helm lint and unit tests, every
# rendered manifest and every k8s/ file against the Kubernetes schemas of the oldest and newest
# supported minor versions, skaffold.yaml against its schema. Needs no cluster, Docker or network.
#   usage (from anywhere): scripts/check-packaging.sh
#   needs: scripts/install-tools.sh all; npm ci (ajv, yaml)
# Each check counts as one test (helm-unittest adds its own test count); writes
# "<passed> <failed>" to ${RESULTS_DIR:-.run/results}/packaging.counts; exits 1 if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
HELM=$TOOLS/bin/helm
HELM_UNITTEST=$TOOLS/bin/helm-unittest
HADOLINT=$TOOLS/venv/bin/hadolint
KUBERNETES_VALIDATE=$TOOLS/venv/bin/kubernetes-validate
CHART=charts/write-batcher
# The chart's kubeVersion floor and the newest minor the pinned kubernetes-validate bundles.
KUBE_VERSIONS=(1.29 1.33)
# name=values file ("" for the chart defaults)
VALUES_SETS=("default=" "dev=$CHART/values-dev.yaml" "staging=$CHART/values-staging.yaml" "everything=test/packaging/values-everything.yaml")
RESULTS_DIR=${RESULTS_DIR:-.run/results}
STEP_TIMEOUT=${STEP_TIMEOUT:-120}

work=$(mktemp -d "${TMPDIR:-/tmp}/check-packaging.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Helm keeps caches and plugins under $HOME by default; keep the run hermetic.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data

passed=0
failed=0
failures=()
started=$SECONDS

pass() { passed=$((passed + 1)); printf '  ok    %s\n' "$1"; }
fail() { # name, details
  failed=$((failed + 1)); failures+=("$1"); printf '  FAIL  %s\n' "$1"
  [ -n "${2:-}" ] && printf '%s\n' "$2" | head -n 40 | sed 's/^/        /'
}
# One check: runs a command (a program, with a time limit, or a function of this script that
# limits its own steps); its output is shown only when it fails.
check() { # name, command...
  local name=$1 out; shift
  local limit=(timeout "$STEP_TIMEOUT"); declare -F "$1" >/dev/null && limit=()
  if out=$("${limit[@]}" "$@" 2>&1); then pass "$name"; else fail "$name" "$out"; fi
}
need() { # tool path, hint
  [ -x "$1" ] && return 0
  fail "tool $(basename "$1") is installed" "missing $1 — run: bash scripts/install-tools.sh all"
  return 1
}
# kubernetes-validate, treating "no schema for this kind" as a failure: every manifest must be checked.
validate_manifests() { # kube version, files...
  local version=$1 out rc; shift
  out=$(timeout "$STEP_TIMEOUT" "$KUBERNETES_VALIDATE" --strict --quiet -k "$version" "$@" 2>&1); rc=$?
  printf '%s\n' "$out"
  [ $rc = 0 ] && ! grep -q "Couldn't find schema" <<<"$out"
}

echo "== Dockerfile"
if need "$HADOLINT"; then
  check "hadolint Dockerfile" "$HADOLINT" Dockerfile
fi

echo "== Helm chart $CHART"
if need "$HELM"; then
  for set in "${VALUES_SETS[@]}"; do
    name=${set%%=*} file=${set#*=}
    args=(); [ -n "$file" ] && args=(-f "$file")
    for version in "${KUBE_VERSIONS[@]}"; do
      check "helm lint --strict ($name values, Kubernetes $version)" "$HELM" lint "$CHART" --strict --kube-version "$version.0" "${args[@]}"
    done
  done
fi

# helm-unittest: the standalone binary, or the plugin layout under .tools/helm-plugins.
unittest=()
if [ -x "$HELM_UNITTEST" ]; then
  unittest=("$HELM_UNITTEST")
elif [ -d "$TOOLS/helm-plugins/helm-unittest" ] && [ -x "$HELM" ]; then
  unittest=(env HELM_PLUGINS="$TOOLS/helm-plugins" "$HELM" unittest)
else
  need "$HELM_UNITTEST"
fi
if [ ${#unittest[@]} -gt 0 ]; then
  out=$(timeout "$STEP_TIMEOUT" "${unittest[@]}" --strict --color=false "$CHART" 2>&1); rc=$?
  summary=$(grep -E '^Tests:' <<<"$out" | tail -n 1)
  ut_passed=$(grep -oE '[0-9]+ passed' <<<"$summary" | grep -oE '[0-9]+' || true)
  ut_failed=$(grep -oE '[0-9]+ failed' <<<"$summary" | grep -oE '[0-9]+' || true)
  ut_passed=${ut_passed:-0} ut_failed=${ut_failed:-0}
  # A crash or a failing snapshot without a failed test still counts as one failure.
  if [ $rc != 0 ] && [ "$ut_failed" = 0 ]; then ut_failed=1; fi
  passed=$((passed + ut_passed)); failed=$((failed + ut_failed))
  if [ "$ut_failed" = 0 ]; then
    printf '  ok    helm-unittest: %s tests (%s)\n' "$ut_passed" "$(grep -E '^Snapshot:' <<<"$out" | tr -s ' ')"
  else
    failures+=("helm-unittest ($ut_failed failed)")
    printf '  FAIL  helm-unittest: %s passed, %s failed\n' "$ut_passed" "$ut_failed"
    grep -vE '^\s*$' <<<"$out" | grep -A12 -E 'FAIL|Error' | head -n 60 | sed 's/^/        /'
  fi
fi

echo "== Rendered manifests against the Kubernetes schemas (kubernetes-validate --strict)"
if need "$KUBERNETES_VALIDATE" && [ -x "$HELM" ]; then
  bundled=$("$TOOLS/venv/bin/python" -c 'from kubernetes_validate.utils import all_versions; print(" ".join(all_versions()))' 2>/dev/null)
  for version in "${KUBE_VERSIONS[@]}"; do
    # kubernetes-validate silently falls back to an older schema; insist on the exact minor.
    if grep -qw "$version.0" <<<"$bundled"; then
      pass "kubernetes-validate bundles the Kubernetes $version schemas"
    else
      fail "kubernetes-validate bundles the Kubernetes $version schemas" "bundled: $bundled"
    fi
  done
  for set in "${VALUES_SETS[@]}"; do
    name=${set%%=*} file=${set#*=}
    args=(); [ -n "$file" ] && args=(-f "$file")
    for version in "${KUBE_VERSIONS[@]}"; do
      rendered=$work/$name-$version.yaml
      if out=$(timeout "$STEP_TIMEOUT" "$HELM" template write-batcher "$CHART" --namespace write-batcher --kube-version "$version.0" "${args[@]}" 2>&1 >"$rendered"); then
        count=$(grep -c '^kind:' "$rendered")
        pass "helm template ($name values, Kubernetes $version): $count resources"
        check "rendered $name manifests valid for Kubernetes $version" validate_manifests "$version" "$rendered"
      else
        fail "helm template ($name values, Kubernetes $version)" "$out"
      fi
    done
  done

  echo "== k8s/ (local cluster dependencies)"
  for file in k8s/*.yaml; do
    # kind's own config is no Kubernetes object; test/packaging/check-configs.mjs checks it.
    if grep -q '^apiVersion: kind.x-k8s.io/' "$file"; then continue; fi
    for version in "${KUBE_VERSIONS[@]}"; do
      check "$file valid for Kubernetes $version" validate_manifests "$version" "$file"
    done
  done
fi

echo "== skaffold.yaml and the kind cluster config"
if [ -d node_modules/ajv ] && [ -d node_modules/yaml ]; then
  out=$(timeout "$STEP_TIMEOUT" env HELM="$HELM" node test/packaging/check-configs.mjs 2>&1); rc=$?
  while IFS= read -r line; do
    case $line in
      "ok - "*) pass "${line#ok - }" ;;
      "not ok - "*) fail "${line#not ok - }" ;;
    esac
  done <<<"$out"
  if [ $rc != 0 ] && ! grep -q '^not ok - ' <<<"$out"; then fail "test/packaging/check-configs.mjs ran" "$out"; fi
else
  fail "node_modules has ajv and yaml" "run: npm ci"
fi

mkdir -p "$RESULTS_DIR"
echo "$passed $failed" >"$RESULTS_DIR/packaging.counts"
echo
echo "packaging: $passed passed, $failed failed in $((SECONDS - started)) s (counts in $RESULTS_DIR/packaging.counts)"
if [ "$failed" != 0 ]; then
  printf '  failed: %s\n' "${failures[@]}"
  exit 1
fi
