#!/usr/bin/env bash
# Tollgate vs NGINX vs HAProxy as reverse proxies in front of the same backend, on this
# machine, one worker each. Prints rps, latency (p50, p99, mean, max), proxy CPU-µs per
# request and peak RSS per (scenario, proxy) and writes bench/results/latest.json.
# Scenarios: HTTP/1.1 (wrk), HTTPS with TLS 1.3 (wrk), HTTP/2 over TLS (h2load), Tollgate's
# access log on, route tables of 10 to 10,000 routes with config-change times, and config
# reloads under load. See bench/README.md.
#
#   bench/run.sh                         build, then run every scenario (~5 minutes)
#   SKIP_BUILD=1 DURATION=5s bench/run.sh
#   SCENARIOS="https_6b h2_6b" PROXIES="nginx haproxy" bench/run.sh
#
# stdout carries only the result table; progress and logs go to stderr.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/oidc.sh
source "$BENCH_DIR/oidc.sh"
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
HELPER=$BENCH_DIR/bench.py
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

# ------------------------------------------------------------------------------ knobs
DURATION=${DURATION:-10s}          # measured wrk run per row (wrk syntax: 10s, 1m)
WARMUP=${WARMUP:-2s}               # unmeasured wrk run before it
CONNECTIONS=${CONNECTIONS:-50}     # client connections
REQUEST_PATH=${REQUEST_PATH:-/}    # path requested through the proxy (/status/503 tests
                                   # that a non-2xx row is reported as failed)
WRK_THREADS=${WRK_THREADS:-1}      # wrk threads
H2_CONNECTIONS=${H2_CONNECTIONS:-10} # h2load connections (h2_* scenarios)
H2_STREAMS=${H2_STREAMS:-32}       # h2load streams in flight per connection (-m)
# TLS 1.3 suite h2load offers: the one wrk gets (OpenSSL's client default order puts it
# first; all three proxies follow the client's order or, HAProxy, prefer it themselves).
H2_TLS13_CIPHERS=${H2_TLS13_CIPHERS:-TLS_AES_256_GCM_SHA384}
H2LOAD_LOG=${H2LOAD_LOG:-0}        # 1: h2load logs every request (one write(2) each, on
                                   # the load core) so h2 rows get p50/p99 too
# Route-table scale: one scenario routes_N per count (routes_10, routes_1k, routes_10k).
ROUTE_COUNTS=${ROUTE_COUNTS:-"10 1000 10000"}
ROUTES_DURATION=${ROUTES_DURATION:-5s} # measured run of each routes_* row
RELOAD_ROUTES=${RELOAD_ROUTES:-1000} # table size in reload_load
RELOAD_CHANGES=${RELOAD_CHANGES:-10} # config changes during the reload_load run
RELOAD_INTERVAL=${RELOAD_INTERVAL:-1} # seconds between them
RELOAD_STRICT=${RELOAD_STRICT:-tollgate} # proxies whose reload_load row fails on a lost request
RSS_CYCLES=${RSS_CYCLES:-100}      # reload_rss: add-then-remove cycles (two reloads each)
RSS_BATCH=${RSS_BATCH:-100}        # reload_rss: routes added and removed per cycle
# compression: gzip levels. zlib-rs's level 2 is zlib's level-1 algorithm (deflate_fast);
# its level 1 is a quicker mode with ~40 % larger output. Same algorithm, same output size.
TOLLGATE_GZIP_LEVEL=${TOLLGATE_GZIP_LEVEL:-2}
NGINX_GZIP_LEVEL=${NGINX_GZIP_LEVEL:-1}
ACCESS_LOG_TO=${ACCESS_LOG_TO:-file} # http1_6b_log: Tollgate's stdout to a file or /dev/null (null)
# routes_name N: the scenario name of an N-route table (10 -> routes_10, 1000 -> routes_1k).
routes_name() { if (($1 % 1000 == 0)); then echo "routes_$(($1 / 1000))k"; else echo "routes_$1"; fi; }
ROUTE_SCENARIOS=""
for _n in $ROUTE_COUNTS; do
  [[ $_n =~ ^[1-9][0-9]*$ ]] || { echo "[bench] error: ROUTE_COUNTS must be positive integers" >&2; exit 1; }
  ROUTE_SCENARIOS+="$(routes_name "$_n") "
done
SCENARIOS=${SCENARIOS:-"http1_6b http1_6b_log http1_16k https_6b h2_6b ${ROUTE_SCENARIOS}reload_load reload_rss auth_key auth_jwt auth_oidc rl_local rl_redis cache_hit compression"}
POLICY_REDIS=${POLICY_REDIS:-redis://127.0.0.1:6379} # rl_redis: the Redis shared limits use
PROXIES=${PROXIES:-"tollgate nginx haproxy"}
PROXY_CPU=${PROXY_CPU:-0}          # core the proxy is pinned to
LOAD_CPU=${LOAD_CPU:-1}            # core wrk and the backend are pinned to
SKIP_BUILD=${SKIP_BUILD:-0}
READY_TIMEOUT=${READY_TIMEOUT:-20} # seconds for a proxy/backend to answer 2xx
BUILD_TIMEOUT=${BUILD_TIMEOUT:-3600}
RESULTS_DIR=${RESULTS_DIR:-$BENCH_DIR/results}
KEEP_TMP=${KEEP_TMP:-0}            # 1: keep configs, logs and raw wrk output
NOISE_PCT=${NOISE_PCT:-10}         # warn when other processes use more of the proxy core
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tollgate-target}
TOLLGATE_BIN=${TOLLGATE_BIN:-$CARGO_TARGET_DIR/release/tollgate}
ECHO_BIN=${ECHO_BIN:-$CARGO_TARGET_DIR/release/tollgate-echo}

# Tools each part needs, and the Debian package that has each tool.
declare -A TOOL_PKG=([nginx]=nginx-light [node]=nodejs [haproxy]=haproxy [wrk]=wrk [h2load]=nghttp2-client
  [hyperfine]=hyperfine [taskset]=util-linux [python3]=python3 [openssl]=openssl)
declare -A SCENARIO_TOOLS=([http1_6b]="wrk" [http1_6b_log]="wrk" [http1_16k]="wrk"
  [https_6b]="wrk openssl" [h2_6b]="h2load openssl" [reload_load]="wrk" [reload_rss]="wrk"
  [auth_key]="wrk" [auth_jwt]="wrk" [auth_oidc]="wrk node" [rl_local]="wrk" [rl_redis]="wrk"
  [cache_hit]="wrk"
  [compression]="wrk")
declare -A ROUTE_COUNT=()   # routes_* scenario name -> route count
for _n in $ROUTE_COUNTS; do
  SCENARIO_TOOLS[$(routes_name "$_n")]="wrk"
  ROUTE_COUNT[$(routes_name "$_n")]=$_n
done
# SCENARIOS may also name a size directly (routes_500, routes_5k).
for _s in $SCENARIOS; do
  if [[ $_s =~ ^routes_([1-9][0-9]*)(k?)$ ]]; then
    SCENARIO_TOOLS[$_s]="wrk"
    _m=1
    [[ -n ${BASH_REMATCH[2]} ]] && _m=1000
    ROUTE_COUNT[$_s]=$((BASH_REMATCH[1] * _m))
  fi
done
declare -A PROXY_TOOLS=([tollgate]="" [nginx]="nginx" [haproxy]="haproxy")

# ------------------------------------------------------------------------------ basics
log() { printf '[bench] %s\n' "$*" >&2; }
die() { printf '[bench] error: %s\n' "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench.XXXXXX")
ROWS=$TMP/rows.jsonl
: >"$ROWS"
STARTED_PIDS=()     # every background process this script started
CREATED_POLICY_RC=0

py() { python3 "$HELPER" "$@"; }

# alive PID: the process exists and is not a zombie.
alive() {
  local line state
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  state=${line##*) }
  state=${state%% *}
  [[ $state != Z && $state != X ]]
}

# proc_start PID: the process's start time (field 22 of /proc/PID/stat), to tell a
# process from a later one that reuses its pid.
proc_start() {
  local line f
  line=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  read -r -a f <<<"${line##*) }"
  echo "${f[19]}"
}

# forget_pid PID: drop a reaped pid from STARTED_PIDS (its number may be reused).
forget_pid() {
  local i
  for i in "${!STARTED_PIDS[@]}"; do
    [[ ${STARTED_PIDS[i]} == "$1" ]] && unset 'STARTED_PIDS[i]'
  done
  STARTED_PIDS=("${STARTED_PIDS[@]}")
}

# stop_pid PID: SIGTERM, wait up to 5 s, then SIGKILL; then SIGKILL whatever it forked
# that is still there (e.g. an nginx worker whose master was killed).
stop_pid() {
  local pid=$1 kids=() k i
  if alive "$pid"; then
    for k in $(py descendants "$pid" 2>/dev/null || true); do
      kids+=("$k:$(proc_start "$k" || echo gone)")
    done
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      log "pid $pid ignored SIGTERM for 5s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
  for k in "${kids[@]}"; do
    if alive "${k%%:*}" && [[ $(proc_start "${k%%:*}") == "${k#*:}" ]]; then
      kill -KILL "${k%%:*}" 2>/dev/null || true
    fi
  done
}

# run_waited CMD...: run CMD as a tracked background job and wait for it, so that a
# signal to this script interrupts the wait (and cleanup stops CMD) at once.
run_waited() {
  local pid rc=0
  "$@" &
  pid=$!
  STARTED_PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  return "$rc"
}

cleanup() {
  local rc=$? i
  trap - EXIT INT TERM
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${STARTED_PIDS[i]}"
  done
  if [[ $CREATED_POLICY_RC == 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
  if [[ $KEEP_TMP == 1 ]]; then log "kept work files in $TMP"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_bg NAME CPU CMD...: run CMD pinned to CPU in the background, output to
# $TMP/NAME.log (stdout to $BG_STDOUT instead when that is set). Sets BG_PID and BG_LOG
# (no subshell, so the pid is ours to reap).
start_bg() {
  local name=$1 cpu=$2
  shift 2
  BG_LOG=$TMP/$name.log
  # Created here, not by the background child's redirection: under load the child may
  # not have run yet when the caller first reads the log.
  : >"$BG_LOG"
  if [[ -n ${BG_STDOUT:-} ]]; then
    taskset -c "$cpu" "$@" >"$BG_STDOUT" 2>"$BG_LOG" &
  else
    taskset -c "$cpu" "$@" >"$BG_LOG" 2>&1 &
  fi
  BG_PID=$!
  STARTED_PIDS+=("$BG_PID")
}

log_tail() { tail -n "${2:-5}" "$1" 2>/dev/null | tr '\n' ' ' | sed 's/  */ /g; s/ $//'; }

# duration_secs 10s|2m|1h|30 -> whole seconds (wrk's own syntax, integers only; 0 or 0s
# only for WARMUP, meaning no warm-up).
duration_secs() {
  local d=$1
  [[ $d =~ ^([0-9]+)([smh]?)$ ]] || die "bad duration '$d' (use e.g. 10s, 1m)"
  case ${BASH_REMATCH[2]} in
    m) echo $((BASH_REMATCH[1] * 60)) ;;
    h) echo $((BASH_REMATCH[1] * 3600)) ;;
    *) echo "${BASH_REMATCH[1]}" ;;
  esac
}

# ------------------------------------------------------------------------------ setup
ensure_tools() {
  local t missing=() pkgs=() more=() need=(taskset python3)
  for t in $SCENARIOS; do
    [[ -v SCENARIO_TOOLS[$t] ]] || die "unknown scenario '$t' (known: ${!SCENARIO_TOOLS[*]})"
    read -r -a more <<<"${SCENARIO_TOOLS[$t]}"
    need+=("${more[@]}")
  done
  for t in $PROXIES; do
    [[ -v PROXY_TOOLS[$t] ]] || die "unknown proxy '$t' (known: ${!PROXY_TOOLS[*]})"
    read -r -a more <<<"${PROXY_TOOLS[$t]}"
    need+=("${more[@]}")
  done
  for t in "${need[@]}"; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  ((${#missing[@]} == 0)) && return 0
  for t in "${missing[@]}"; do pkgs+=("${TOOL_PKG[$t]:-$t}"); done
  if [[ $(id -u) != 0 ]]; then
    die "missing tools: ${missing[*]}; install them with: apt-get install -y ${pkgs[*]}"
  fi
  log "installing ${pkgs[*]} (missing: ${missing[*]})"
  # Do not let the packages start their system services (nginx on :80 etc.).
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    CREATED_POLICY_RC=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2 || die "apt-get install ${pkgs[*]} failed"
  if [[ $CREATED_POLICY_RC == 1 ]]; then rm -f /usr/sbin/policy-rc.d; CREATED_POLICY_RC=0; fi
  for t in "${missing[@]}"; do
    command -v "$t" >/dev/null 2>&1 || die "'$t' still missing after installing ${TOOL_PKG[$t]:-$t}"
  done
}

check_cpus() {
  local ncpu
  ncpu=$(nproc)
  if ((ncpu < 2)) && [[ $PROXY_CPU != "$LOAD_CPU" ]]; then
    log "only $ncpu usable core(s): pinning everything to core 0 (numbers will be poor)"
    PROXY_CPU=0 LOAD_CPU=0
  fi
  taskset -c "$PROXY_CPU" true 2>/dev/null || die "cannot pin to core $PROXY_CPU (PROXY_CPU)"
  taskset -c "$LOAD_CPU" true 2>/dev/null || die "cannot pin to core $LOAD_CPU (LOAD_CPU)"
}

TOLLGATE_UNAVAILABLE=""
build() {
  local logf
  mkdir -p "$RESULTS_DIR"
  if [[ $SKIP_BUILD == 1 ]]; then
    log "SKIP_BUILD=1: using $ECHO_BIN and $TOLLGATE_BIN as they are"
  else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or run with SKIP_BUILD=1)"
    log "building tollgate-echo (release, CARGO_TARGET_DIR=$CARGO_TARGET_DIR; waits if another build holds the lock)"
    logf=$RESULTS_DIR/build-tollgate-echo.log
    (cd "$ROOT_DIR" && timeout "$BUILD_TIMEOUT" cargo build --release -p tollgate-test-support --bin tollgate-echo) >"$logf" 2>&1 ||
      die "building tollgate-echo failed: $(log_tail "$logf" 8) (full log: $logf)"
    if [[ " $PROXIES " == *" tollgate "* ]]; then
      log "building tollgate (release)"
      logf=$RESULTS_DIR/build-tollgate.log
      if ! (cd "$ROOT_DIR" && timeout "$BUILD_TIMEOUT" cargo build --release -p tollgate) >"$logf" 2>&1; then
        TOLLGATE_UNAVAILABLE="tollgate binary not built (cargo build --release -p tollgate failed; see $logf)"
        log "$TOLLGATE_UNAVAILABLE"
        log "  $(grep -m3 -E '^error' "$logf" | tr '\n' ' ')"
      fi
    fi
  fi
  [[ -x $ECHO_BIN ]] || die "backend binary not built: $ECHO_BIN (cargo build --release -p tollgate-test-support)"
  if [[ -z $TOLLGATE_UNAVAILABLE && ! -x $TOLLGATE_BIN ]]; then
    TOLLGATE_UNAVAILABLE="tollgate binary not built ($TOLLGATE_BIN missing)"
  fi
}

write_meta() {
  local git_rev git_dirty=false
  git_rev=$(git -C "$ROOT_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
  [[ -n $(git -C "$ROOT_DIR" status --porcelain 2>/dev/null) ]] && git_dirty=true
  py meta "$TMP/meta.json" \
    "git_rev=$git_rev" "git_dirty=$git_dirty" \
    "duration=$DURATION" "warmup=$WARMUP" "connections=$CONNECTIONS" "wrk_threads=$WRK_THREADS" "request_path=$REQUEST_PATH" \
    "h2_connections=$H2_CONNECTIONS" "h2_streams=$H2_STREAMS" "h2_tls13_ciphers=$H2_TLS13_CIPHERS" \
    "h2load_log=$H2LOAD_LOG" "route_counts=$ROUTE_COUNTS" "routes_duration=$ROUTES_DURATION" \
    "reload_routes=$RELOAD_ROUTES" "reload_changes=$RELOAD_CHANGES" "reload_interval=$RELOAD_INTERVAL" \
    "reload_strict=$RELOAD_STRICT" "access_log_to=$ACCESS_LOG_TO" \
    "proxy_cpu=$PROXY_CPU" "load_cpu=$LOAD_CPU" "scenarios=$SCENARIOS" "proxies=$PROXIES" \
    "nginx_version=$( (nginx -v 2>&1 || true) | head -1)" \
    "haproxy_version=$( (haproxy -v 2>&1 || true) | head -1)" \
    "wrk_version=$( (wrk -v 2>&1 || true) | head -1)" \
    "h2load_version=$( (h2load --version 2>&1 || true) | head -1)" \
    "openssl_version=$( (openssl version 2>&1 || true) | head -1)" \
    "tollgate_bin=$TOLLGATE_BIN" "tollgate_unavailable=$TOLLGATE_UNAVAILABLE"
}

# ------------------------------------------------------------------------------ backend
# start_backend NAME BODY_SIZE [json]: sets BACKEND_ADDR, BACKEND_PID and BODY_SIZE. With
# json, the body is JSON-like records (compressible as an API answer) instead of `x`s.
start_backend() {
  local name=$1 size=$2 i addr="" json=()
  [[ ${3:-} == json ]] && json=(--fixed-body-json)
  start_bg "backend-$name" "$LOAD_CPU" "$ECHO_BIN" --listen 127.0.0.1:0 \
    --fixed-body-size "$size" --workers 1 "${json[@]}"
  BACKEND_PID=$BG_PID
  # It binds port 0 and prints "tollgate-echo NAME listening on ADDR".
  for ((i = 0; i < 100; i++)); do
    addr=$(sed -n 's/.* listening on \(127\.[0-9.]*:[0-9]*\).*/\1/p' "$BG_LOG" 2>/dev/null | head -1 || true)
    [[ -n $addr ]] && break
    alive "$BACKEND_PID" || break
    sleep 0.1
  done
  [[ -n $addr ]] || die "backend $name did not start: $(log_tail "$BG_LOG")"
  py wait-http "http://$addr/" "$READY_TIMEOUT" "$BACKEND_PID" ||
    die "backend $name at $addr does not answer 2xx: $(log_tail "$BG_LOG")"
  BACKEND_ADDR=$addr
  BODY_SIZE=$size
  log "backend $name ($size-byte body) on $addr, pid $BACKEND_PID, core $LOAD_CPU"
}

# ------------------------------------------------------------------------------ TLS
# ensure_cert: mint a throwaway self-signed ECDSA P-256 certificate (once per run, in
# $TMP) for the TLS scenarios. Sets TLS_CERT, TLS_KEY and TLS_COMBINED (cert + key, for
# HAProxy). The SANs include IP 127.0.0.1 so the readiness checks can verify it.
TLS_CERT="" TLS_KEY="" TLS_COMBINED=""
ensure_cert() {
  [[ -n $TLS_CERT ]] && return 0
  local d=$TMP/tls
  mkdir -p "$d"
  # 30 days, not 1: Tollgate warns about certificates that expire within 14 days.
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj /CN=bench.local -addext "subjectAltName=DNS:bench.local,IP:127.0.0.1" \
    -keyout "$d/key.pem" -out "$d/cert.pem" >"$d/openssl.log" 2>&1 ||
    die "openssl could not create a certificate: $(log_tail "$d/openssl.log")"
  cat "$d/cert.pem" "$d/key.pem" >"$d/combined.pem"
  TLS_CERT=$d/cert.pem TLS_KEY=$d/key.pem TLS_COMBINED=$d/combined.pem
  log "TLS: self-signed ECDSA P-256 certificate for bench.local in $d"
}

# ------------------------------------------------------------------------------ proxies
# Each proxy has:
#   proxy_NAME_unavailable          print a reason when it cannot run here (else nothing)
#   proxy_NAME_start DIR BACKEND MODE
#                                   write its config into DIR, start it pinned to
#                                   $PROXY_CPU via start_bg; set PROXY_PID, PROXY_URL
#                                   (its listener, ending in /) and PROXY_READY_URLS
#                                   (URLs that answer 2xx once it serves).
# MODE is the client side: http (HTTP/1.1 cleartext), https (TLS 1.3, HTTP/1.1) or h2
# (TLS 1.3, HTTP/2 by ALPN; HTTP/1.1 still allowed). TLS modes use $TLS_CERT/$TLS_KEY.
# routes:N is http with an N-route table (bench/routes.py writes the config; the proxy
# reloads it on change, see routes.py's trigger); http-log (Tollgate only) is http with
# the access log on. PROXY_READY_HOST, when set, is the Host the ready URLs are asked for.
# The backend side is always HTTP/1.1 cleartext with keep-alive.
# All: one worker, keep-alive to clients and to the backend, no access log.

# routes_config PROXY DIR MODE PORT BACKEND: for MODE routes:N, write PROXY's N-route
# config and set the URLs that answer once it serves; returns 1 for other modes.
routes_config() {
  [[ $3 == routes:* ]] || return 1
  py routes-gen "$1" "$2" "${3#routes:}" "$4" "$5"
  PROXY_URL="http://127.0.0.1:$4/"
  PROXY_READY_URLS="${PROXY_URL}p0/x"
  PROXY_READY_HOST=h0.bench.local
}

proxy_tollgate_unavailable() { [[ -z $TOLLGATE_UNAVAILABLE ]] || echo "$TOLLGATE_UNAVAILABLE"; }
proxy_tollgate_start() {
  local dir=$1 backend=$2 mode=${3:-http} port admin listener scheme=https access_log=false
  read -r port admin < <(py free-ports 2)
  if routes_config tollgate "$dir" "$mode" "$port" "$backend"; then
    start_bg "$(basename "$dir")-tollgate" "$PROXY_CPU" "$TOLLGATE_BIN" run -c "$dir/tollgate.yaml" \
      --workers 1 --admin "127.0.0.1:$admin"
    PROXY_PID=$BG_PID
    PROXY_READY_URLS="http://127.0.0.1:$admin/readyz $PROXY_READY_URLS"
    return 0
  fi
  if [[ $mode == http || $mode == http-log || $mode == policy:* ]]; then
    scheme=http
    listener="  - { name: web, address: \"127.0.0.1:$port\", protocol: http }"
  else
    # https and h2 are the same listener: Tollgate's ALPN always offers h2 and http/1.1
    # (wrk offers no ALPN and speaks HTTP/1.1; h2load offers h2).
    listener="  - name: websecure
    address: \"127.0.0.1:$port\"
    protocol: https
    tls:
      certificates: [{ cert: \"$TLS_CERT\", key: \"$TLS_KEY\" }]
      min_version: \"1.3\""
  fi
  [[ $mode == http-log ]] && access_log=true
  local route="  - { name: all, backends: [{ service: echo }] }" extra=""
  if [[ $mode == policy:* ]]; then
    route="  - name: all
    backends: [{ service: echo }]
    policies:
$(policy_tollgate "${mode#policy:}")"
    extra=$(policy_tollgate_top "${mode#policy:}")
  fi
  # shutdown_delay 0s: nothing routes by /readyz here, so stopping between rows need not
  # wait the default 2 s (it changes nothing while the proxy serves).
  cat >"$dir/tollgate.yaml" <<EOF
server: { access_log: $access_log, shutdown_delay: 0s }
listeners:
$listener
services:
  - { name: echo, endpoints: ["$backend"] }
$extra
routes:
$route
EOF
  # The access log is Tollgate's stdout: to a file, as a deployment would keep it (or
  # to /dev/null with ACCESS_LOG_TO=null: the formatting cost without the write cost).
  local out=""
  if [[ $mode == http-log ]]; then
    out=$dir/access.log
    [[ $ACCESS_LOG_TO == null ]] && out=/dev/null
  fi
  BG_STDOUT=$out start_bg "$(basename "$dir")-tollgate" "$PROXY_CPU" "$TOLLGATE_BIN" run \
    -c "$dir/tollgate.yaml" --workers 1 --admin "127.0.0.1:$admin"
  PROXY_PID=$BG_PID
  PROXY_URL="$scheme://127.0.0.1:$port/"
  PROXY_READY_URLS="http://127.0.0.1:$admin/readyz $PROXY_URL"
}

proxy_nginx_unavailable() { command -v nginx >/dev/null 2>&1 || echo "nginx not installed"; }
# nginx >= 1.25.1 has "http2 on;" (and deprecates "listen ... http2").
nginx_has_http2_directive() {
  local v
  v=$(nginx -v 2>&1 | sed -n 's|.*nginx/\([0-9.]*\).*|\1|p')
  [[ -n $v ]] && printf '1.25.1\n%s\n' "$v" | sort -V -C
}
proxy_nginx_start() {
  local dir=$1 backend=$2 mode=${3:-http} port listen tls="" scheme=https keepalive=64
  read -r port < <(py free-ports 1)
  if routes_config nginx "$dir" "$mode" "$port" "$backend"; then
    start_bg "$(basename "$dir")-nginx" "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    PROXY_PID=$BG_PID
    return 0
  fi
  local http_extra="" location_extra=""
  case $mode in
    http) listen="127.0.0.1:$port" scheme=http ;;
    policy:*) listen="127.0.0.1:$port" scheme=http
      http_extra=$(policy_nginx_http "${mode#policy:}")
      location_extra=$(policy_nginx_location "${mode#policy:}") ;;
    https) listen="127.0.0.1:$port ssl" ;;
    # nginx < 1.25.1 has no "http2 on;": HTTP/2 is a listen parameter there.
    h2) listen="127.0.0.1:$port ssl http2"
      # With many streams per connection, more than 64 requests can be in flight to the
      # backend; keep them all pooled (Tollgate and HAProxy do not cap idle connections).
      keepalive=1024 ;;
  esac
  if [[ $mode != http && $mode != policy:* ]]; then
    tls="ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.3;"
    if [[ $mode == h2 ]] && nginx_has_http2_directive; then
      listen="127.0.0.1:$port ssl"
      tls="$tls
    http2 on;"
    fi
  fi
  mkdir -p "$dir/client_body" "$dir/proxy_temp"
  if [[ $mode == policy:cache ]]; then
    # The workers (not root) write the cache files: let them reach and write the dir.
    mkdir -p "$dir/cache" && chmod 777 "$dir/cache" && chmod o+x "$TMP" "$dir"
  fi
  cat >"$dir/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/client_body;
  proxy_temp_path $dir/proxy_temp;
  keepalive_requests 1000000;
  $http_extra
  upstream echo {
    server $backend;
    keepalive $keepalive;
    keepalive_requests 1000000;
  }
  server {
    listen $listen;
    $tls
    location / {
      $location_extra
      proxy_pass http://echo;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
EOF
  start_bg "$(basename "$dir")-nginx" "$PROXY_CPU" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  PROXY_PID=$BG_PID
  PROXY_URL="$scheme://127.0.0.1:$port/"
  PROXY_READY_URLS=$PROXY_URL
}

# HAProxy's side of the policy rows (only the cache has an equivalent here).
haproxy_policy_top() {
  [[ $1 == policy:cache ]] && printf 'cache bench\n  total-max-size 64\n  max-age 3600\n'
  return 0
}
haproxy_policy_backend() {
  # HAProxy 2.6 stores only answers with an explicit freshness; the echo backend sends
  # none, so it is given one, as NGINX's proxy_cache_valid and Tollgate's ttl do.
  [[ $1 == policy:cache ]] && printf '  http-request cache-use bench\n  http-response set-header cache-control max-age=3600\n  http-response cache-store bench\n'
  return 0
}
proxy_haproxy_unavailable() { command -v haproxy >/dev/null 2>&1 || echo "haproxy not installed"; }
proxy_haproxy_start() {
  local dir=$1 backend=$2 mode=${3:-http} port bind scheme=https
  read -r port < <(py free-ports 1)
  if routes_config haproxy "$dir" "$mode" "$port" "$backend"; then
    # Master-worker (-W): SIGUSR2 to the master reloads (a new worker, the old one
    # finishes its connections); -db keeps the master in the foreground.
    start_bg "$(basename "$dir")-haproxy" "$PROXY_CPU" haproxy -W -db -f "$dir/haproxy.cfg"
    PROXY_PID=$BG_PID
    return 0
  fi
  local backend_extra=""
  case $mode in
    http) bind="127.0.0.1:$port" scheme=http ;;
    # HAProxy's gzip is libslz (stateless, one fixed level) in Debian's build.
    policy:compression) bind="127.0.0.1:$port" scheme=http
      backend_extra="  compression algo gzip
  compression type text/plain application/json" ;;
    policy:*) bind="127.0.0.1:$port" scheme=http ;;
    https) bind="127.0.0.1:$port ssl crt $TLS_COMBINED ssl-min-ver TLSv1.3 alpn http/1.1" ;;
    h2) bind="127.0.0.1:$port ssl crt $TLS_COMBINED ssl-min-ver TLSv1.3 alpn h2,http/1.1" ;;
  esac
  cat >"$dir/haproxy.cfg" <<EOF
global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend web
  bind $bind
  default_backend echo

$(haproxy_policy_top "$mode")
backend echo
$backend_extra
$(haproxy_policy_backend "$mode")
  server s1 $backend
EOF
  start_bg "$(basename "$dir")-haproxy" "$PROXY_CPU" haproxy -db -f "$dir/haproxy.cfg"
  PROXY_PID=$BG_PID
  PROXY_URL="$scheme://127.0.0.1:$port/"
  PROXY_READY_URLS=$PROXY_URL
}

# ------------------------------------------------------------------------------ policies
# The policy rows run one policy on the one route, on HTTP/1.1 like http1_6b, beside
# NGINX's equivalent where open-source NGINX has one (key: a map of keys; rl_local:
# limit_req). Limits are set far above the load so every request is admitted: the rows
# measure what checking costs, not what refusing does.
POLICY_KEY=k-bench-0000001
POLICY_SECRET='bench-secret-of-at-least-32-bytes-long!'
policy_tollgate() {
  case $1 in
    key) echo "      key_auth: { header: apikey }" ;;
    jwt) echo "      jwt: { secret: \"$POLICY_SECRET\" }" ;;
    oidc) echo "      $(oidc_policy)" ;;
    rl_local) echo "      rate_limit: { requests: 1000000000, per: 1h, key: ip }" ;;
    rl_redis) echo "      rate_limit: { requests: 1000000000, per: 1h, key: ip, store: redis }" ;;
    cache) echo "      cache: { ttl: 1h }" ;;
    compression) echo "      compression: { algorithms: [gzip], min_size: 1KiB, levels: { gzip: $TOLLGATE_GZIP_LEVEL } }" ;;
  esac
}
policy_tollgate_top() {
  case $1 in
    key) echo "consumers: [{ name: bench, keys: [\"$POLICY_KEY\"] }]" ;;
    rl_redis) echo "redis: { url: \"$POLICY_REDIS\", prefix: \"tollgate:bench:$$:$RANDOM:\" }" ;;
  esac
}
policy_nginx_http() {
  case $1 in
    key) echo "map \$http_apikey \$bench_key_ok { default 0; \"$POLICY_KEY\" 1; }" ;;
    rl_local) echo "limit_req_zone \$binary_remote_addr zone=bench:10m rate=100000r/s;" ;;
    # $dir is proxy_nginx_start's: the cache files live with the row's other files.
    cache) echo "proxy_cache_path $dir/cache levels=1:2 keys_zone=bench:10m max_size=64m inactive=1h use_temp_path=off;" ;;
    # What Tollgate's compression does: gzip with the same algorithm (deflate_fast) for
    # proxied answers of these types from 1 KiB, with Vary.
    compression) echo "gzip on; gzip_comp_level $NGINX_GZIP_LEVEL; gzip_types text/plain application/json; gzip_proxied any; gzip_min_length 1024; gzip_vary on;" ;;
  esac
}
policy_nginx_location() {
  case $1 in
    # Like Tollgate, the key does not travel upstream.
    key) echo "if (\$bench_key_ok = 0) { return 401; } proxy_set_header apikey \"\";" ;;
    rl_local) echo "limit_req zone=bench burst=100000 nodelay;" ;;
    cache) echo "proxy_cache bench; proxy_cache_valid 200 1h;" ;;
  esac
}
# policy_scenario NAME KIND HEADER: Tollgate with the policy, NGINX where it has one.
policy_scenario() {
  local name=$1 kind=$2 proxy
  start_backend "$name" 6
  for proxy in $PROXIES; do
    if [[ $proxy == tollgate || ($proxy == nginx && ($kind == key || $kind == rl_local || $kind == cache))
      || ($proxy == haproxy && $kind == cache) ]]; then
      ROW_HEADER=$3 run_row "$name" "$proxy" wrk "policy:$kind"
    else
      py skip --scenario "$name" --proxy "$proxy" --reason "no equivalent configured" >>"$ROWS"
    fi
  done
  stop_pid "$BACKEND_PID"
}
scenario_auth_key() { policy_scenario auth_key key "apikey: $POLICY_KEY"; }
scenario_auth_jwt() { policy_scenario auth_jwt jwt "Authorization: Bearer $(py hs256-token "$POLICY_SECRET")"; }
# auth_oidc: a logged-in browser session (sealed cookie opened, claims to headers) on
# every request. The provider is the test one; one login through a gateway that is not
# measured gives the cookie, which every measured process opens (same session secret).
scenario_auth_oidc() {
  local dir=$TMP/oidc login_port login_admin login_pid cookie
  mkdir -p "$dir"
  read -r login_port login_admin < <(py free-ports 2)
  oidc_start "$dir" "$login_port" || {
    py skip --scenario auth_oidc --proxy tollgate --reason "no OpenID provider" >>"$ROWS"
    return 0
  }
  STARTED_PIDS+=("$OIDC_PID")
  start_backend auth_oidc_login 6
  cat >"$dir/login.yaml" <<YAML
listeners: [{ name: web, address: "127.0.0.1:$login_port" }]
services: [{ name: echo, endpoints: ["$BACKEND_ADDR"] }]
routes:
  - name: all
    backends: [{ service: echo }]
    policies: { $(oidc_policy) }
YAML
  "$TOLLGATE_BIN" run -c "$dir/login.yaml" --admin "127.0.0.1:$login_admin" >"$dir/login.log" 2>&1 &
  login_pid=$!
  STARTED_PIDS+=("$login_pid")
  py wait-http "http://127.0.0.1:$login_admin/readyz" "$READY_TIMEOUT" "$login_pid" >/dev/null
  cookie=$(py oidc-session "http://127.0.0.1:$login_port/") || cookie=""
  stop_pid "$login_pid"
  stop_pid "$BACKEND_PID"
  if [[ -z $cookie ]]; then
    py skip --scenario auth_oidc --proxy tollgate --reason "the login failed" >>"$ROWS"
  else
    policy_scenario auth_oidc oidc "Cookie: tollgate_session=$cookie"
  fi
  stop_pid "$OIDC_PID"
}
scenario_rl_local() { policy_scenario rl_local rl_local ""; }
scenario_rl_redis() { policy_scenario rl_redis rl_redis ""; }
# cache_hit: every request answered from the proxy's cache (the 6-byte answer, stored by
# the warm-up): Tollgate `cache: { store: local }`, NGINX proxy_cache, HAProxy cache.
scenario_cache_hit() { policy_scenario cache_hit cache ""; }
# compression: a 16 KiB JSON-like answer gzipped for a client sending
# `Accept-Encoding: gzip`: Tollgate at gzip level $TOLLGATE_GZIP_LEVEL, NGINX at
# $NGINX_GZIP_LEVEL (the same algorithm, see above); HAProxy's libslz has no level. Compare with http1_16k (the same size, uncompressed).
scenario_compression() {
  local proxy
  start_backend compression 16384 json
  for proxy in $PROXIES; do
    ROW_HEADER="Accept-Encoding: gzip" ROW_ENCODING=gzip run_row compression "$proxy" wrk policy:compression
  done
  stop_pid "$BACKEND_PID"
}

# ------------------------------------------------------------------------------ load
# Each load generator has load_NAME MODE URL OUT: MODE is warmup or measure; OUT gets
# the raw output, which bench.py's parser for NAME understands. Returns its exit status.
# load_NAME_inflight prints how many requests it keeps in flight (for the churn check),
# load_NAME_describe its concurrency in words (for the log).

# ROW_DURATION (default $DURATION) and ROW_WRK_SCRIPT (a wrk Lua script, e.g. the
# route mix) are set by run_row for the row at hand.
load_wrk() {
  local mode=$1 url=$2 out=$3 d lat=() script=()
  if [[ $mode == warmup ]]; then d=$WARMUP; else d=${ROW_DURATION:-$DURATION}; lat=(--latency); fi
  [[ -n ${ROW_WRK_SCRIPT:-} ]] && script=(-s "$ROW_WRK_SCRIPT")
  [[ -n ${ROW_HEADER:-} ]] && script+=(-H "$ROW_HEADER")
  run_waited timeout "$(($(duration_secs "$d") + 30))" taskset -c "$LOAD_CPU" \
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$d" "${lat[@]}" "${script[@]}" "$url" >"$out" 2>&1
}
load_wrk_inflight() { echo "$CONNECTIONS"; }
load_wrk_describe() { echo "$CONNECTIONS connections"; }

# h2load: $H2_CONNECTIONS connections, $H2_STREAMS concurrent streams on each, one
# thread, timed run (-D takes whole seconds here).
load_h2load() {
  local mode=$1 url=$2 out=$3 d log=()
  if [[ $mode == warmup ]]; then d=$WARMUP; else d=${ROW_DURATION:-$DURATION}; fi
  d=$(duration_secs "$d")
  # Per-request log (bench.py reads OUT.requests.tsv for p50/p99).
  [[ $mode == measure && $H2LOAD_LOG == 1 ]] && log=(--log-file="$out.requests.tsv")
  run_waited timeout "$((d + 30))" taskset -c "$LOAD_CPU" \
    h2load -t1 -c"$H2_CONNECTIONS" -m"$H2_STREAMS" -D"$d" --tls13-ciphers="$H2_TLS13_CIPHERS" \
    "${log[@]}" "$url" >"$out" 2>&1
}
load_h2load_inflight() { echo $((H2_CONNECTIONS * H2_STREAMS)); }
load_h2load_describe() { echo "$H2_CONNECTIONS connections x $H2_STREAMS streams"; }

# ------------------------------------------------------------------------------ one row
# run_row SCENARIO PROXY LOAD [MODE]: start PROXY in front of $BACKEND_ADDR with client
# side MODE (http, https, h2, http-log, routes:N; see proxies), check that it relays the
# backend's $BODY_SIZE-byte answer (and for TLS modes: TLS 1.3, and ALPN h2 in h2 mode;
# for routes:N: every route of the load mix), warm up, measure with load generator LOAD,
# append one JSON row to $ROWS, stop PROXY. Routes rows load the route mix for
# $ROUTES_DURATION and then time a one-route change and a full reload; with
# ROW_RELOADS=1 (reload_load) the config changes run during the measured run instead.
run_row() {
  local scenario=$1 proxy=$2 load=$3 mode=${4:-http} reason dir attempt ready=0 url rc why status
  local tls_args=() check_args=() row_args=() driver=""
  ROW_DURATION=$DURATION ROW_WRK_SCRIPT=""
  reason=$("proxy_${proxy}_unavailable")
  if [[ -n $reason ]]; then
    log "$scenario/$proxy: skipped: $reason"
    py skip --scenario "$scenario" --proxy "$proxy" --reason "$reason" >>"$ROWS"
    return 0
  fi
  # Ports are picked free just before start; retry if another process took one meanwhile.
  for attempt in 1 2 3; do
    dir=$TMP/$scenario-$proxy-$attempt
    mkdir -p "$dir"
    PROXY_READY_HOST=""
    "proxy_${proxy}_start" "$dir" "$BACKEND_ADDR" "$mode"
    ready=1
    for url in $PROXY_READY_URLS; do
      tls_args=()
      [[ $url == https:* ]] && tls_args=(--ca "$TLS_CERT")
      [[ -n $PROXY_READY_HOST ]] && tls_args+=(--host "$PROXY_READY_HOST")
      [[ -n ${ROW_HEADER:-} && $url != *"/readyz" ]] && tls_args+=(--header "$ROW_HEADER")
      if ! py wait-http "$url" "$READY_TIMEOUT" "$PROXY_PID" "${tls_args[@]}" 2>"$dir/ready.err"; then
        ready=0
        break
      fi
    done
    ((ready)) && break
    if alive "$PROXY_PID"; then
      why="$proxy did not become ready: $(log_tail "$dir/ready.err" 1)"
    else
      status=0
      wait "$PROXY_PID" 2>/dev/null || status=$?
      why="$proxy exited (status $status) before becoming ready"
    fi
    stop_pid "$PROXY_PID"
    grep -qiE 'address (already )?in use|EADDRINUSE|cannot bind' "$BG_LOG" "$dir"/*.log 2>/dev/null || break
    log "$scenario/$proxy: port taken, retrying with new ports"
  done
  if ((!ready)); then
    why="$why; log: $(log_tail "$BG_LOG" 3)"
    [[ $why == *"log: " ]] && why="${why}(empty)"
    log "$scenario/$proxy: FAIL: $why"
    py skip --status fail --scenario "$scenario" --proxy "$proxy" --reason "$why" >>"$ROWS"
    return 0
  fi
  url=$PROXY_URL${REQUEST_PATH#/}
  if [[ $mode == https || $mode == h2 ]]; then
    check_args=(--ca "$TLS_CERT" --tls-version TLSv1.3 --tls-info "$dir/tls.json")
    row_args=(--tls-info "$dir/tls.json" --tls-version TLSv1.3)
    [[ $mode == h2 ]] && check_args+=(--alpn h2)
  fi
  if [[ $mode == routes:* ]]; then
    url=$PROXY_URL
    ROW_WRK_SCRIPT=$dir/mix.lua
    ROW_DURATION=$ROUTES_DURATION
    row_args+=(--routes "${mode#routes:}")
    if [[ ${ROW_RELOADS:-0} == 1 ]]; then
      ROW_DURATION=$(reload_run_secs)s
      row_args+=(--reloads "$dir/reloads.json" --strict $RELOAD_STRICT)
    fi
  fi
  [[ $mode == http-log && $ACCESS_LOG_TO != null ]] && row_args+=(--access-log "$dir/access.log")
  if [[ $mode == routes:* ]] && ! py routes-check "$dir" "$BODY_SIZE" 2>"$dir/check.err"; then
    why="$proxy does not serve the route table: $(log_tail "$dir/check.err" 2)"
    log "$scenario/$proxy: FAIL: $why"
    py skip --status fail --scenario "$scenario" --proxy "$proxy" --reason "$why" >>"$ROWS"
    stop_pid "$PROXY_PID"
    return 0
  fi
  [[ -n ${ROW_HEADER:-} ]] && check_args+=(--header "$ROW_HEADER")
  [[ -n ${ROW_ENCODING:-} ]] && check_args+=(--encoding "$ROW_ENCODING")
  if [[ $REQUEST_PATH == / && $mode != routes:* ]] && ! py check-body "$url" "$BODY_SIZE" "${check_args[@]}" 2>"$dir/check.err"; then
    why="$proxy does not relay the backend's answer: $(log_tail "$dir/check.err" 1)"
    log "$scenario/$proxy: FAIL: $why"
    py skip --status fail --scenario "$scenario" --proxy "$proxy" --reason "$why" >>"$ROWS"
    stop_pid "$PROXY_PID"
    return 0
  fi
  log "$scenario/$proxy: pid $PROXY_PID on core $PROXY_CPU, $PROXY_URL; warm-up $WARMUP"
  if [[ $(duration_secs "$WARMUP") != 0 ]]; then
    "load_$load" warmup "$url" "$dir/warmup.out" || true
  fi
  log "$scenario/$proxy: measuring $ROW_DURATION, $("load_${load}_describe"), $url${ROW_WRK_SCRIPT:+ (route mix: $ROW_WRK_SCRIPT)}"
  py snap "$dir/before.json" "$PROXY_PID" "$BACKEND_PID" --port "${BACKEND_ADDR##*:}"
  if [[ ${ROW_RELOADS:-0} == 1 ]]; then
    # The change driver runs beside wrk on the load core: 1 s in, RELOAD_CHANGES changes.
    log "$scenario/$proxy: $RELOAD_CHANGES config changes, ${RELOAD_INTERVAL}s apart, during the run"
    start_bg "$(basename "$dir")-reloads" "$LOAD_CPU" python3 "$HELPER" reload-series "$dir" \
      "$PROXY_PID" "$RELOAD_CHANGES" "$RELOAD_INTERVAL" 1 "$dir/reloads.json"
    driver=$BG_PID
  fi
  rc=0
  "load_$load" measure "$url" "$dir/load.out" || rc=$?
  py snap "$dir/after.json" "$PROXY_PID" "$BACKEND_PID" --port "${BACKEND_ADDR##*:}"
  if [[ -n $driver ]]; then
    wait "$driver" 2>/dev/null || log "$scenario/$proxy: change driver failed: $(log_tail "$BG_LOG" 3)"
    forget_pid "$driver"
    [[ -s $dir/reloads.json ]] || echo '{"changes_total": '"$RELOAD_CHANGES"', "changes_served": 0}' >"$dir/reloads.json"
  elif [[ ${ROW_RSS_CYCLES:-0} -gt 0 ]]; then
    log "$scenario/$proxy: $ROW_RSS_CYCLES cycles of adding and removing $RSS_BATCH routes"
    if ! py rss-cycles "$dir" "$PROXY_PID" "$ROW_RSS_CYCLES" "$RSS_BATCH" "$dir/rss.json" >/dev/null 2>"$dir/rss.err"; then
      log "$scenario/$proxy: reload cycles failed: $(log_tail "$dir/rss.err" 2)"
    fi
    [[ -s $dir/rss.json ]] && row_args+=(--extra "$dir/rss.json")
  elif [[ $mode == routes:* ]]; then
    # After the measured run (so the reloads cost no measured CPU): one-route change,
    # then a full reload, each timed from the write until the proxy serves it.
    if ! py routes-timings "$dir" "$PROXY_PID" "$dir/timings.json" >/dev/null 2>"$dir/timings.err"; then
      log "$scenario/$proxy: timing config changes failed: $(log_tail "$dir/timings.err" 2)"
    fi
    [[ -s $dir/timings.json ]] && row_args+=(--extra "$dir/timings.json")
  fi
  [[ $REQUEST_PATH == / ]] && row_args+=(--body-size "$BODY_SIZE")
  py row --scenario "$scenario" --proxy "$proxy" --load "$load" --load-output "$dir/load.out" \
    --load-rc "$rc" --before "$dir/before.json" --after "$dir/after.json" \
    --proxy-pid "$PROXY_PID" --backend-pid "$BACKEND_PID" --proxy-cpu "$PROXY_CPU" \
    --noise-pct "$NOISE_PCT" --inflight "$("load_${load}_inflight")" "${row_args[@]}" >>"$ROWS"
  log "$scenario/$proxy: $(tail -n 1 "$ROWS" | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["status"], "rps=%s p99_ms=%s mean_ms=%s cpu_us/req=%s core_util_pct=%s new_backend_conns=%s" % (r["rps"], r["p99_ms"], r["mean_ms"], r["cpu_us_per_req"], r["core_util_pct"], r.get("backend_conns_new")), " ".join("%s=%s" % (k, r[k]) for k in ("add_route_ms", "full_reload_ms", "failed", "refused", "probe_failed", "change_ms_median") if k in r), "; ".join(r["problems"] + r["warnings"]))')"
  stop_pid "$PROXY_PID"
}

# ------------------------------------------------------------------------------ scenarios
# A scenario is a function scenario_NAME (listed in SCENARIO_TOOLS with the tools it
# needs). It starts what it needs, calls run_row once per proxy in $PROXIES, and stops
# what it started. routes_N scenarios all go to scenario_routes (see run_scenario).

# get_scenario NAME BODY_SIZE LOAD MODE: GET / through each proxy, client side MODE.
get_scenario() {
  local name=$1 size=$2 load=$3 mode=$4 proxy
  [[ $mode == http ]] || ensure_cert
  start_backend "$name" "$size"
  for proxy in $PROXIES; do
    run_row "$name" "$proxy" "$load" "$mode"
  done
  stop_pid "$BACKEND_PID"
}

scenario_http1_6b() { get_scenario http1_6b 6 wrk http; }        # HTTP/1.1 GET, 6-byte body
scenario_http1_16k() { get_scenario http1_16k 16384 wrk http; }  # HTTP/1.1 GET, 16 KiB body
scenario_https_6b() { get_scenario https_6b 6 wrk https; }       # TLS 1.3 + HTTP/1.1, 6 bytes
scenario_h2_6b() { get_scenario h2_6b 6 h2load h2; }             # TLS 1.3 + HTTP/2, 6 bytes

# http1_6b with Tollgate's access log on (only Tollgate: the row to compare is
# http1_6b/tollgate, where it is off).
scenario_http1_6b_log() {
  start_backend http1_6b_log 6
  if [[ " $PROXIES " == *" tollgate "* ]]; then
    run_row http1_6b_log tollgate wrk http-log
  else
    log "http1_6b_log: skipped: tollgate not in PROXIES"
    py skip --scenario http1_6b_log --proxy tollgate --reason "tollgate not in PROXIES" >>"$ROWS"
  fi
  stop_pid "$BACKEND_PID"
}

# routes_N: an N-route table (bench/routes.py), wrk cycling through a mix of its routes.
scenario_routes() {
  local name=$1 n=$2 proxy
  start_backend "$name" 6
  for proxy in $PROXIES; do
    run_row "$name" "$proxy" wrk "routes:$n"
  done
  stop_pid "$BACKEND_PID"
}

# reload_run_secs: wrk's run in reload_load: 1 s before the first change, the changes,
# 2 s after the last.
reload_run_secs() {
  python3 -c 'import math,sys; print(math.ceil(int(sys.argv[1]) * float(sys.argv[2])) + 3)' \
    "$RELOAD_CHANGES" "$RELOAD_INTERVAL"
}

# reload_load: the RELOAD_ROUTES table under the route mix while it is changed
# RELOAD_CHANGES times.
scenario_reload_load() {
  local proxy
  start_backend reload_load 6
  for proxy in $PROXIES; do
    ROW_RELOADS=1 run_row reload_load "$proxy" wrk "routes:$RELOAD_ROUTES"
  done
  stop_pid "$BACKEND_PID"
}

# reload_rss: Tollgate only (the target is its own baseline): the RELOAD_ROUTES table,
# a short measured run, then RSS_CYCLES cycles of adding RSS_BATCH routes and removing
# them; RSS must come back to within 10 % of where it started.
scenario_reload_rss() {
  start_backend reload_rss 6
  if [[ " $PROXIES " == *" tollgate "* ]]; then
    ROW_RSS_CYCLES=$RSS_CYCLES run_row reload_rss tollgate wrk "routes:$RELOAD_ROUTES"
  else
    log "reload_rss: skipped: tollgate not in PROXIES"
    py skip --scenario reload_rss --proxy tollgate --reason "tollgate not in PROXIES" >>"$ROWS"
  fi
  stop_pid "$BACKEND_PID"
}

run_scenario() {
  if [[ -v ROUTE_COUNT[$1] ]]; then scenario_routes "$1" "${ROUTE_COUNT[$1]}"; else "scenario_$1"; fi
}

# ------------------------------------------------------------------------------ main
main() {
  local s rc=0
  duration_secs "$DURATION" >/dev/null
  duration_secs "$WARMUP" >/dev/null
  [[ $CONNECTIONS =~ ^[0-9]+$ && $WRK_THREADS =~ ^[0-9]+$ ]] || die "CONNECTIONS and WRK_THREADS must be integers"
  [[ $H2_CONNECTIONS =~ ^[1-9][0-9]*$ && $H2_STREAMS =~ ^[1-9][0-9]*$ ]] || die "H2_CONNECTIONS and H2_STREAMS must be positive integers"
  ensure_tools
  check_cpus
  build
  write_meta
  [[ $RELOAD_ROUTES =~ ^[1-9][0-9]*$ && $RELOAD_CHANGES =~ ^[1-9][0-9]*$ ]] || die "RELOAD_ROUTES and RELOAD_CHANGES must be positive integers"
  [[ $RELOAD_INTERVAL =~ ^[0-9]*\.?[0-9]+$ ]] || die "RELOAD_INTERVAL must be a number of seconds"
  duration_secs "$ROUTES_DURATION" >/dev/null
  for s in $SCENARIOS; do
    run_scenario "$s"
  done
  mkdir -p "$RESULTS_DIR"
  py report "$ROWS" "$TMP/meta.json" "$RESULTS_DIR/latest.json" || rc=$?
  log "results written to $RESULTS_DIR/latest.json"
  return "$rc"
}

main "$@"
