# Sourced by run.sh and callgrind.sh: a real OpenID provider (the test one,
# crates/test-support/oidc-provider) and a logged-in session cookie, for the rows that
# measure what an OIDC session costs per request.

OIDC_CLIENT_SECRET='bench-client-secret-0123456789abcdef'
OIDC_SESSION_SECRET='bench-session-secret-of-at-least-32-bytes'
OIDC_PROVIDER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/crates/test-support/oidc-provider"

# oidc_start DIR LOGIN_PORT: starts the provider with a client whose redirect URI is on
# LOGIN_PORT; sets OIDC_ISSUER and OIDC_PID.
oidc_start() {
  local dir=$1 port=$2
  [[ -d $OIDC_PROVIDER_DIR/node_modules ]] ||
    npm ci --prefix "$OIDC_PROVIDER_DIR" --no-audit --no-fund >/dev/null
  cat >"$dir/idp.json" <<JSON
{ "watch_stdin": false,
  "clients": [ { "client_id": "bench", "client_secret": "$OIDC_CLIENT_SECRET",
                 "redirect_uris": ["http://127.0.0.1:$port/oauth2/callback"],
                 "grant_types": ["authorization_code", "refresh_token"],
                 "response_types": ["code"] } ] }
JSON
  node "$OIDC_PROVIDER_DIR/provider.mjs" "$dir/idp.json" >"$dir/idp.out" 2>"$dir/idp.err" </dev/null &
  OIDC_PID=$!
  OIDC_ISSUER=
  for _ in $(seq 200); do
    OIDC_ISSUER=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$dir/idp.out" | head -1)
    [[ -n $OIDC_ISSUER ]] && break
    sleep 0.1
  done
  [[ -n $OIDC_ISSUER ]] || { echo "the OpenID provider did not start: $(cat "$dir/idp.err")" >&2; return 1; }
}

# The route policy (the same in every process, so one login's cookie opens everywhere).
oidc_policy() {
  echo "oidc: { discovery: \"$OIDC_ISSUER\", client_id: bench, client_secret: \"$OIDC_CLIENT_SECRET\", session_secret: \"$OIDC_SESSION_SECRET\", claims_to_headers: { sub: x-user } }"
}
