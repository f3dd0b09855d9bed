#!/usr/bin/env bash
# Runs the gateway on examples/basic.yaml in front of three real demo backends
# (tollgate-echo on 127.0.0.1:9001-9003). Ctrl-C stops everything.
#   curl -s localhost:8080/orders/42             # JSON echo from an orders backend
#   curl -s -H 'x-env: canary' localhost:8080/orders/42
#   curl -si localhost:8080/shop/1               # 301 to /orders/1
#   curl -s localhost:9901/metrics | grep tollgate_requests_total
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p tollgate -p tollgate-test-support
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin/tollgate-echo" --listen 127.0.0.1:9001 --name orders-1 &
"$bin/tollgate-echo" --listen 127.0.0.1:9002 --name orders-2 &
"$bin/tollgate-echo" --listen 127.0.0.1:9003 --name orders-v2 &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
exec_config="${1:-examples/basic.yaml}"
"$bin/tollgate" run -c "$exec_config"
