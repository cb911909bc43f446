# shellcheck shell=bash
# Start, wait for and stop the local stack (Temporal dev server, MariaDB, Jaeger, the services):
# sourced by scripts/demo.sh and scripts/test.sh, and meant for scripts/bench.sh.
# Everything listens on 127.0.0.1; every process started here is stopped by its PID (stack_stop_all).

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STACK_TOOLS=$STACK_ROOT/.tools
STACK_PIDS=()  # started by stack_start*, in start order
STACK_NAMES=()
STACK_GRACES=()

stack_log() { printf '[%s] %s\n' "${STACK_LOG_TAG:-stack}" "$*" >&2; }
stack_die() { stack_log "error: $*"; exit 1; }

# Path of an external tool: .tools/bin, .tools/venv/bin (scripts/install-tools.sh), PATH, /usr/sbin.
stack_tool() {
  local name=$1 dir
  for dir in "$STACK_TOOLS/bin" "$STACK_TOOLS/venv/bin"; do
    if [ -x "$dir/$name" ]; then printf '%s\n' "$dir/$name"; return 0; fi
  done
  if command -v "$name" >/dev/null 2>&1; then command -v "$name"; return 0; fi
  for dir in /usr/local/sbin /usr/sbin /sbin; do
    if [ -x "$dir/$name" ]; then printf '%s\n' "$dir/$name"; return 0; fi
  done
  return 1
}

stack_require_tool() {
  stack_tool "$1" || stack_die "$1 not found in .tools/bin, .tools/venv/bin, PATH or /usr/sbin: run scripts/install-tools.sh"
}

# npm ci unless node_modules already holds exactly what package-lock.json pins. npm records what it
# installed in node_modules/.package-lock.json; every entry there must match the lockfile, and every
# lockfile entry missing there must be an optional one (platform-specific binaries).
stack_node_modules_current() {
  (cd "$STACK_ROOT" && node -e '
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
  ')
}

stack_ensure_node_modules() {
  if stack_node_modules_current; then
    stack_log "node_modules matches package-lock.json; skipping npm ci"
  else
    stack_log "npm ci"
    (cd "$STACK_ROOT" && npm ci --no-audit --no-fund)
  fi
}

stack_build() {
  stack_log "npm run build"
  (cd "$STACK_ROOT" && npm run --silent build)
}

# True if something accepts TCP connections on 127.0.0.1:PORT.
stack_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/${2:-127.0.0.1}/$1" 2>/dev/null
}

stack_require_port_free() { # port what hint
  if stack_port_open "$1"; then stack_die "$2: port 127.0.0.1:$1 is already in use. $3"; fi
}

# Waits until the port accepts, failing early (with the log tail) if PID exits.
stack_wait_port() { # name port timeout-seconds [pid] [logfile]
  local name=$1 port=$2 timeout_s=$3 pid=${4:-} log=${5:-} deadline
  deadline=$((SECONDS + timeout_s))
  until stack_port_open "$port"; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      [ -n "$log" ] && tail -n 30 "$log" >&2
      stack_die "$name exited before 127.0.0.1:$port accepted connections${log:+ (log $log)}"
    fi
    if [ $SECONDS -ge $deadline ]; then
      [ -n "$log" ] && tail -n 30 "$log" >&2
      stack_die "$name did not accept connections on 127.0.0.1:$port within ${timeout_s}s${log:+ (log $log)}"
    fi
    sleep 0.2
  done
}

_stack_record() { STACK_PIDS+=("$1"); STACK_NAMES+=("$2"); STACK_GRACES+=("$3"); }

# Starts CMD in the background, output appended to LOGFILE, in its own session so that Ctrl-C on
# the terminal reaches only the foreground command and the EXIT trap stops the rest in order.
# Sets STACK_LAST_PID.
stack_start() { # name grace-seconds logfile cmd...
  local name=$1 grace=$2 log=$3; shift 3
  mkdir -p "$(dirname "$log")"
  setsid "$@" >>"$log" 2>&1 </dev/null &
  STACK_LAST_PID=$!
  _stack_record "$STACK_LAST_PID" "$name" "$grace"
}

# Like stack_start, but the output also goes to the console, each line prefixed with "[prefix] ",
# JSON log lines shortened and those below MIN-LEVEL dropped (scripts/lib/log-prefixer.js); LOGFILE
# keeps everything raw. The prefixer ignores INT/TERM so it outlives the process it reads from
# (no EPIPE at shutdown).
stack_start_prefixed() { # name grace-seconds prefix min-level logfile cmd...
  local name=$1 grace=$2 prefix=$3 level=$4 log=$5; shift 5
  mkdir -p "$(dirname "$log")"
  setsid "$@" </dev/null > >(trap '' INT TERM; tee -a "$log" | node "$STACK_ROOT/scripts/lib/log-prefixer.js" "$prefix" "$level") 2>&1 &
  STACK_LAST_PID=$!
  _stack_record "$STACK_LAST_PID" "$name" "$grace"
}

# True while PID runs; a zombie (dead, not yet reaped by a parent that is not us) does not count.
stack_pid_alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 0
  [ "$state" != Z ]
}

# SIGTERM, then SIGKILL after GRACE seconds. Only for PIDs this script started.
stack_stop_pid() { # pid name grace-seconds
  local pid=$1 name=$2 grace=${3:-10} waited=0
  stack_pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  while stack_pid_alive "$pid"; do
    if [ "$waited" -ge $((grace * 10)) ]; then
      stack_log "$name (pid $pid) still running after ${grace}s; SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || true
}

# Stops everything stack_start* started, newest first (clients before the servers they use).
stack_stop_all() {
  local i
  for ((i = ${#STACK_PIDS[@]} - 1; i >= 0; i--)); do
    if stack_pid_alive "${STACK_PIDS[$i]}"; then
      stack_log "stopping ${STACK_NAMES[$i]} (pid ${STACK_PIDS[$i]})"
      stack_stop_pid "${STACK_PIDS[$i]}" "${STACK_NAMES[$i]}" "${STACK_GRACES[$i]}"
    fi
  done
  STACK_PIDS=(); STACK_NAMES=(); STACK_GRACES=()
}

# Temporal dev server (in-memory) on 127.0.0.1:PORT, UI on UI_PORT (0: headless). Waits until the
# default namespace answers.
stack_start_temporal() { # port ui-port logfile
  local port=$1 ui_port=$2 log=$3 temporal deadline
  temporal=$(stack_require_tool temporal)
  stack_require_port_free "$port" "Temporal" "Set TEMPORAL_PORT, or TEMPORAL_ADDRESS to use a running server."
  local args=(server start-dev --ip 127.0.0.1 --port "$port" --log-level warn)
  if [ "$ui_port" = 0 ]; then
    args+=(--headless)
  else
    stack_require_port_free "$ui_port" "Temporal UI" "Set TEMPORAL_UI_PORT."
    args+=(--ui-port "$ui_port" --ui-disable-news-fetch)
  fi
  stack_log "starting Temporal dev server on 127.0.0.1:$port (log $log)"
  stack_start temporal 15 "$log" "$temporal" "${args[@]}"
  local pid=$STACK_LAST_PID
  stack_wait_port temporal "$port" 60 "$pid" "$log"
  deadline=$((SECONDS + 60))
  until "$temporal" operator namespace describe --namespace default --address "127.0.0.1:$port" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || stack_die "temporal exited during start-up (log $log)"
    [ $SECONDS -lt $deadline ] || stack_die "Temporal namespace 'default' not ready within 60s (log $log)"
    sleep 0.5
  done
}

# MariaDB on 127.0.0.1:PORT with its data in DATADIR (created on first use; kept afterwards).
# root has an empty password. Waits until it answers a ping.
stack_start_mariadb() { # port datadir logfile
  local port=$1 datadir=$2 log=$3 mariadbd install_db admin deadline
  mariadbd=$(stack_require_tool mariadbd)
  install_db=$(stack_require_tool mariadb-install-db)
  stack_require_port_free "$port" "MariaDB" "Set MYSQL_PORT, or MYSQL_HOST to use a running server."
  mkdir -p "$(dirname "$log")"
  if [ ! -d "$datadir/mysql" ]; then
    stack_log "initialising MariaDB data dir $datadir"
    mkdir -p "$datadir"
    "$install_db" --no-defaults --datadir="$datadir" --auth-root-authentication-method=normal --user=root \
      --skip-test-db --skip-name-resolve >>"$log" 2>&1 || stack_die "mariadb-install-db failed (log $log)"
  fi
  stack_log "starting MariaDB on 127.0.0.1:$port (data $datadir, log $log)"
  stack_start mariadb 60 "$log" "$mariadbd" --no-defaults --datadir="$datadir" --port="$port" \
    --bind-address=127.0.0.1 --socket="$datadir/mariadbd.sock" --pid-file="$datadir/mariadbd.pid" \
    --user=root --skip-name-resolve --innodb-buffer-pool-size=128M --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci
  local pid=$STACK_LAST_PID
  stack_wait_port mariadb "$port" 60 "$pid" "$log"
  if admin=$(stack_tool mariadb-admin); then
    deadline=$((SECONDS + 30))
    until "$admin" --no-defaults --protocol=tcp -h127.0.0.1 -P"$port" -uroot ping >/dev/null 2>&1; do
      kill -0 "$pid" 2>/dev/null || stack_die "mariadbd exited during start-up (log $log)"
      [ $SECONDS -lt $deadline ] || stack_die "MariaDB did not answer a ping within 30s (log $log)"
      sleep 0.2
    done
  fi
}

# Jaeger v2 all-in-one with in-memory storage (scripts/lib/jaeger-config.yaml). Ports come from
# JAEGER_OTLP_HTTP_PORT (4318), JAEGER_OTLP_GRPC_PORT (4317), JAEGER_QUERY_HTTP_PORT (16686),
# JAEGER_QUERY_GRPC_PORT (16685).
stack_start_jaeger() { # logfile
  local log=$1 jaeger
  jaeger=$(stack_require_tool jaeger)
  export JAEGER_OTLP_HTTP_PORT=${JAEGER_OTLP_HTTP_PORT:-4318} JAEGER_OTLP_GRPC_PORT=${JAEGER_OTLP_GRPC_PORT:-4317}
  export JAEGER_QUERY_HTTP_PORT=${JAEGER_QUERY_HTTP_PORT:-16686} JAEGER_QUERY_GRPC_PORT=${JAEGER_QUERY_GRPC_PORT:-16685}
  local p
  for p in "$JAEGER_OTLP_HTTP_PORT" "$JAEGER_OTLP_GRPC_PORT" "$JAEGER_QUERY_HTTP_PORT" "$JAEGER_QUERY_GRPC_PORT"; do
    stack_require_port_free "$p" "Jaeger" "Set JAEGER_OTLP_HTTP_PORT, JAEGER_OTLP_GRPC_PORT, JAEGER_QUERY_HTTP_PORT or JAEGER_QUERY_GRPC_PORT."
  done
  stack_log "starting Jaeger: OTLP/HTTP 127.0.0.1:$JAEGER_OTLP_HTTP_PORT, UI http://localhost:$JAEGER_QUERY_HTTP_PORT (log $log)"
  stack_start jaeger 10 "$log" "$jaeger" --config "$STACK_ROOT/scripts/lib/jaeger-config.yaml"
  stack_wait_port jaeger "$JAEGER_OTLP_HTTP_PORT" 60 "$STACK_LAST_PID" "$log"
  stack_wait_port jaeger "$JAEGER_QUERY_HTTP_PORT" 60 "$STACK_LAST_PID" "$log"
}

# Waits (bounded) for an HTTP URL to answer 2xx; returns 1 instead of dying, for optional checks.
stack_wait_http() { # url timeout-seconds [pid]
  local url=$1 timeout_s=$2 pid=${3:-} deadline
  deadline=$((SECONDS + timeout_s))
  until node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$url" 2>/dev/null; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}
