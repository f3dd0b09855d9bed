#!/usr/bin/env bash
# Serves this directory (Gateway API manifests) in front of two demo backends
# (tollgate-echo "world1" on 127.0.0.1:9001 and "world2" on 127.0.0.1:9002).
# Ctrl-C stops everything.
#   curl -s localhost:8080/world1/x | jq '{backend, path}'   # {"backend":"world1","path":"/x"}
#   curl -s localhost:8080/world2/x | jq '{backend, path}'   # {"backend":"world2","path":"/x"}
#   target/release/tollgate translate -c examples/gateway-api    # IR and statuses
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q -p tollgate -p tollgate-test-support
bin="${CARGO_TARGET_DIR:-target}/release"
"$bin/tollgate-echo" --listen 127.0.0.1:9001 --name world1 &
"$bin/tollgate-echo" --listen 127.0.0.1:9002 --name world2 &
trap 'kill $(jobs -p) 2>/dev/null' EXIT
"$bin/tollgate" run -c examples/gateway-api --k8s-address 127.0.0.1
