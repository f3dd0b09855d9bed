#!/usr/bin/env bash
# Runs examples/oidc.yaml with a real OpenID provider (the test one, oidc-provider under
# Node, on 127.0.0.1:9400) and a demo echo backend on 127.0.0.1:9001. Ctrl-C stops
# everything. Then open http://127.0.0.1:8080/app in a browser.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d crates/test-support/oidc-provider/node_modules ] ||
  npm ci --prefix crates/test-support/oidc-provider --no-audit --no-fund
cargo build --release -q -p tollgate -p tollgate-test-support
bin="${CARGO_TARGET_DIR:-target}/release"
idp_config=$(mktemp)
cat >"$idp_config" <<'JSON'
{ "port": 9400, "watch_stdin": false,
  "clients": [ { "client_id": "demo", "client_secret": "demo-client-secret-0123456789",
                 "redirect_uris": ["http://127.0.0.1:8080/oauth2/callback"],
                 "post_logout_redirect_uris": ["http://127.0.0.1:8080/app"],
                 "grant_types": ["authorization_code", "refresh_token"],
                 "response_types": ["code"] } ] }
JSON
node crates/test-support/oidc-provider/provider.mjs "$idp_config" </dev/null &
"$bin/tollgate-echo" --listen 127.0.0.1:9001 --name app &
trap 'kill $(jobs -p) 2>/dev/null; rm -f "$idp_config"' EXIT
sleep 1
"$bin/tollgate" run -c examples/oidc.yaml
