#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: repeatable on a noisy machine
# where CPU time is not. For each variant, Tollgate (release build) runs under callgrind
# and serves N1, then (a new process) N2 keep-alive GETs from one client; the difference
# divided by N2 - N1 is the cost of one request, start-up and shutdown cancelled out.
#
#   bench/callgrind.sh                      # variants: plain key jwt rl_local oidc
#   VARIANTS="plain key" N1=200 N2=1200 bench/callgrind.sh
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tollgate-target}
TOLLGATE_BIN=${TOLLGATE_BIN:-$CARGO_TARGET_DIR/release/tollgate}
ECHO_BIN=${ECHO_BIN:-$CARGO_TARGET_DIR/release/tollgate-echo}
VARIANTS=${VARIANTS:-"plain key jwt rl_local oidc"}
N1=${N1:-200}
N2=${N2:-1200}
SECRET='bench-secret-of-at-least-32-bytes-long!'
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT

"$ECHO_BIN" --listen 127.0.0.1:0 --fixed-body-size 6 --workers 1 >"$TMP/echo.log" 2>&1 &
for _ in $(seq 100); do
  BACKEND=$(sed -n 's/.* listening on \(127\.[0-9.]*:[0-9]*\).*/\1/p' "$TMP/echo.log" | head -1)
  [[ -n $BACKEND ]] && break
  sleep 0.1
done
[[ -n $BACKEND ]] || { echo "echo backend did not start" >&2; exit 1; }

policy() {
  case $1 in
    plain) echo "" ;;
    key) printf '    policies: { key_auth: { header: apikey } }\nconsumers: [{ name: bench, keys: ["k-bench-0000001"] }]\n' ;;
    jwt) printf '    policies: { jwt: { secret: "%s" } }\n' "$SECRET" ;;
    rl_local) printf '    policies: { rate_limit: { requests: 1000000000, per: 1h, key: ip } }\n' ;;
    oidc) printf '    policies: { %s }\n' "$(oidc_policy)" ;;
  esac
}
header() {
  case $1 in
    key) echo "apikey: k-bench-0000001" ;;
    jwt) echo "Authorization: Bearer $(python3 "$BENCH_DIR/bench.py" hs256-token "$SECRET")" ;;
    oidc) echo "Cookie: tollgate_session=$OIDC_COOKIE" ;;
    *) echo "x-bench: 1" ;;
  esac
}

# count VARIANT N: instructions of a process that served N requests.
count() {
  local v=$1 n=$2 port admin out
  read -r port admin < <(python3 "$BENCH_DIR/bench.py" free-ports 2)
  cat >"$TMP/$v.yaml" <<YAML
server: { access_log: false, shutdown_delay: 0s }
listeners: [{ name: web, address: "127.0.0.1:$port" }]
services: [{ name: echo, endpoints: ["$BACKEND"] }]
routes:
  - name: all
    backends: [{ service: echo }]
$(policy "$v")
YAML
  out=$TMP/$v-$n.out
  valgrind --tool=callgrind --callgrind-out-file="$out" "$TOLLGATE_BIN" run -c "$TMP/$v.yaml" \
    --workers 1 --admin "127.0.0.1:$admin" >/dev/null 2>"$TMP/$v-$n.log" &
  local pid=$!
  python3 "$BENCH_DIR/bench.py" wait-http "http://127.0.0.1:$admin/readyz" 60 >/dev/null
  python3 - "$port" "$n" "$(header "$v")" <<'PY'
import http.client, sys
port, n, hdr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
name, _, value = hdr.partition(":")
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for _ in range(n):
    c.request("GET", "/", headers={name.strip(): value.strip()})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  [[ -n ${KEEP_OUT:-} ]] && cp "$out" "$KEEP_OUT/$v-$n.out"
  sed -n 's/^summary: //p' "$out"
}

# oidc: a real provider, and one login through a gateway run without callgrind; the
# measured processes share its session secret, so the cookie opens there too.
if [[ " $VARIANTS " == *" oidc "* ]]; then
  source "$BENCH_DIR/oidc.sh"
  read -r login_port login_admin < <(python3 "$BENCH_DIR/bench.py" free-ports 2)
  oidc_start "$TMP" "$login_port"
  cat >"$TMP/login.yaml" <<YAML
listeners: [{ name: web, address: "127.0.0.1:$login_port" }]
services: [{ name: echo, endpoints: ["$BACKEND"] }]
routes:
  - name: all
    backends: [{ service: echo }]
    policies: { $(oidc_policy) }
YAML
  "$TOLLGATE_BIN" run -c "$TMP/login.yaml" --admin "127.0.0.1:$login_admin" >"$TMP/login.log" 2>&1 &
  login_pid=$!
  python3 "$BENCH_DIR/bench.py" wait-http "http://127.0.0.1:$login_admin/readyz" 60 >/dev/null
  OIDC_COOKIE=$(python3 "$BENCH_DIR/bench.py" oidc-session "http://127.0.0.1:$login_port/")
  kill -TERM "$login_pid"; wait "$login_pid" 2>/dev/null || true
fi

printf '%-10s %14s\n' variant instr_per_req
for v in $VARIANTS; do
  a=$(count "$v" "$N1"); b=$(count "$v" "$N2")
  printf '%-10s %14d\n' "$v" $(((b - a) / (N2 - N1)))
done
