//! OpenID Connect login end to end, against a real provider (`oidc-provider` under Node,
//! see crates/test-support/oidc-provider) and a real cookie-keeping client (curl with a
//! cookie jar): discovery, the authorization code flow with PKCE, the sealed session
//! cookie, header forging, logout, refresh (once for concurrent requests), bearer tokens
//! for API calls, and key rotation at the provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::net::SocketAddr;
use std::process::Command;

use serde_json::{Value, json};
use tollgate_test_support::oidc::{Browser, OidcProvider, jwt_parts, query_param};

const CLIENT_SECRET: &str = "client-secret-for-the-gateway-0123456789";
const SESSION_SECRET: &str = "a-session-secret-of-at-least-thirty-two-bytes";
const RESOURCE: &str = "https://orders.example";

fn provider(access_ttl: u64) -> OidcProvider {
    provider_with(access_ttl, 86_400)
}

fn provider_with(access_ttl: u64, refresh_ttl: u64) -> OidcProvider {
    OidcProvider::start(&json!({
        "clients": [],
        "access_token_ttl": access_ttl,
        "refresh_token_ttl": refresh_ttl,
        "resource": { "indicator": RESOURCE, "audience": "orders", "scope": "orders:read" },
    }))
    .expect("the test OpenID provider starts")
}

/// Registers the gateway (known only once it listens) as the provider's client.
fn register(idp: &OidcProvider, web: SocketAddr) {
    idp.set_clients(json!([{
        "client_id": "gw", "client_secret": CLIENT_SECRET,
        "redirect_uris": [format!("http://{web}/callback")],
        "post_logout_redirect_uris": [format!("http://{web}/bye")],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
    }]))
    .unwrap();
}

fn start(idp: &OidcProvider, forward_access_token: bool) -> (Gateway, Backends, SocketAddr) {
    let b = Backends::start(&["app"]);
    let config = format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
consumers:
  - name: alice
    groups: [staff]
    jwt: {{ subject: alice }}
routes:
  - name: app
    match: {{ path: {{ prefix: /app }} }}
    policies:
      oidc:
        discovery: {issuer}
        client_id: gw
        client_secret_file: client-secret.txt
        redirect_path: /callback
        logout_path: /logout
        scopes: [openid, email]
        session_secret: {SESSION_SECRET}
        audiences: [orders, gw]
        claims_to_headers: {{ sub: x-user, email: x-user-email }}
        forward_access_token: {forward_access_token}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0),
        issuer = idp.issuer(),
    );
    let gw = Gateway::start_with(
        BIN,
        &[
            ("tollgate.yaml", config.as_str()),
            ("client-secret.txt", &format!("{CLIENT_SECRET}\n")),
        ],
        &[],
    )
    .unwrap_or_else(|e| panic!("gateway did not start: {e:#}"));
    let web = gw.listener("web").unwrap();
    register(idp, web);
    (gw, b, web)
}

fn seen(page_body: &str, name: &str) -> Option<String> {
    let v: Value = serde_json::from_str(page_body).ok()?;
    v["headers"][name][0].as_str().map(str::to_owned)
}

fn grants(idp: &OidcProvider, kind: &str) -> u64 {
    idp.stats().unwrap()["grants"][kind].as_u64().unwrap()
}

/// A plain curl GET (no jar) with these headers: status, `Set-Cookie`s and body.
fn curl(url: &str, headers: &[(&str, &str)]) -> (u16, Vec<String>, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "10", "-D", "-"]);
    for (k, v) in headers {
        cmd.arg("-H").arg(format!("{k}: {v}"));
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let cookies = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
        .map(|(_, v)| v.trim().to_owned())
        .collect();
    (status, cookies, body.to_owned())
}

#[test]
fn a_browser_logs_in_with_pkce_and_its_sealed_session_admits_it() {
    let idp = provider(3600);
    let (gw, _b, web) = start(&idp, false);
    let app = format!("http://{web}/app/page?x=1");

    // A navigation without a session goes to the provider, with PKCE, state and nonce.
    let browser = Browser::new().unwrap();
    let first = browser.get(&app).unwrap();
    assert_eq!(first.status, 302, "{}", first.body);
    let to = first.location().unwrap();
    assert!(to.starts_with(&format!("{}/auth?", idp.issuer())), "{to}");
    assert_eq!(
        query_param(&to, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&to, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    assert_eq!(query_param(&to, "client_id").as_deref(), Some("gw"));
    assert_eq!(query_param(&to, "scope").as_deref(), Some("openid email"));
    assert_eq!(
        query_param(&to, "redirect_uri"),
        Some(format!("http://{web}/callback"))
    );
    assert!(query_param(&to, "state").is_some() && query_param(&to, "nonce").is_some());
    assert!(
        first
            .set_cookies()
            .iter()
            .any(|c| c.starts_with("tollgate_session_login=")
                && c.contains("HttpOnly")
                && c.contains("SameSite=Lax")),
        "{:?}",
        first.set_cookies()
    );

    // An API call without credentials is not redirected: 401 with a Bearer challenge.
    let api = get(web, "/app/page", &[("accept", "application/json")]);
    assert_eq!(api.status, 401, "{}", api.body);
    assert!(
        api.header("www-authenticate")
            .unwrap()
            .starts_with("Bearer realm=\"app\"")
    );

    // The whole login: provider form, callback, back to the page asked for.
    let (visited, page) = browser.login(&app, "alice").unwrap();
    assert_eq!(page.status, 200, "{visited:?}\n{}", page.body);
    assert_eq!(page.url, app, "back where the login started: {visited:?}");
    assert!(
        visited
            .iter()
            .any(|u| u.starts_with(&format!("http://{web}/callback?code="))),
        "{visited:?}"
    );
    assert_eq!(seen(&page.body, "x-user").as_deref(), Some("alice"));
    assert_eq!(
        seen(&page.body, "x-user-email").as_deref(),
        Some("alice@example.com")
    );
    assert_eq!(seen(&page.body, "x-consumer").as_deref(), Some("alice"));
    assert_eq!(
        seen(&page.body, "x-consumer-groups").as_deref(),
        Some("staff")
    );
    // (The provider's own cookies are there: cookies do not tell ports apart.)
    let upstream_cookies = seen(&page.body, "cookie").unwrap_or_default();
    assert!(
        !upstream_cookies.contains("tollgate_session"),
        "the session never reaches the upstream: {upstream_cookies}"
    );
    assert_eq!(seen(&page.body, "authorization"), None);
    assert_eq!(grants(&idp, "authorization_code"), 1);
    let session = browser
        .cookie("tollgate_session")
        .unwrap()
        .expect("session cookie");
    assert!(
        !session.contains("alice"),
        "the session is encrypted: {session}"
    );

    // The session admits XHR-style calls too; forged identity headers are replaced, and
    // other cookies still reach the upstream.
    let cookie = format!("tollgate_session={session}; theme=dark");
    let r = get(
        web,
        "/app/data",
        &[
            ("cookie", &cookie),
            ("x-user", "mallory"),
            ("x-consumer", "mallory"),
            ("accept", "application/json"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r.body, "x-user").as_deref(), Some("alice"));
    assert_eq!(seen(&r.body, "x-consumer").as_deref(), Some("alice"));
    assert_eq!(seen(&r.body, "cookie").as_deref(), Some("theme=dark"));

    // A tampered session is no session.
    let mut bytes = session.into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let forged = format!("tollgate_session={}", String::from_utf8(bytes).unwrap());
    let r = get(web, "/app/data", &[("cookie", &forged)]);
    assert_eq!(r.status, 401, "{}", r.body);

    // A callback that is not this browser's login is refused.
    let r = get(web, "/callback?code=abc&state=xyz", &[]);
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("no login is in progress"), "{}", r.body);
    let other = Browser::new().unwrap();
    let started = other.get(&app).unwrap();
    assert_eq!(started.status, 302);
    let wrong = other
        .get(&format!(
            "http://{web}/callback?code=abc&state=not-the-state"
        ))
        .unwrap();
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(
        wrong.body.contains("state does not match"),
        "{}",
        wrong.body
    );

    // Logout clears the session here and sends the browser to the provider's logout.
    let out = browser.get(&format!("http://{web}/logout")).unwrap();
    assert_eq!(out.status, 302, "{}", out.body);
    let to = out.location().unwrap();
    assert!(
        to.starts_with(&format!("{}/session/end?", idp.issuer())),
        "{to}"
    );
    assert_eq!(query_param(&to, "client_id").as_deref(), Some("gw"));
    assert!(
        out.set_cookies()
            .iter()
            .any(|c| c.starts_with("tollgate_session=;") && c.contains("Max-Age=0")),
        "{:?}",
        out.set_cookies()
    );
    let again = browser.get(&app).unwrap();
    assert_eq!(again.status, 302, "logged out: to the provider again");

    // The access log names the consumer, never the cookie.
    let log = gw.log();
    assert!(log.contains("OIDC login"), "{log}");
    assert!(!log.contains(&forged[17..]), "no session value in the log");
}

#[test]
fn sessions_refresh_once_and_api_calls_bring_bearer_tokens() {
    // Access tokens live 6 s: the session needs a refresh after that.
    let idp = provider(6);
    let (_gw, _b, web) = start(&idp, true);
    let app = format!("http://{web}/app");
    let browser = Browser::new().unwrap();
    let (_, page) = browser.login(&app, "alice").unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let first_token = seen(&page.body, "authorization").expect("access token forwarded");
    assert!(first_token.starts_with("Bearer "), "{first_token}");
    let session = browser.cookie("tollgate_session").unwrap().unwrap();
    assert_eq!(grants(&idp, "refresh_token"), 0);

    // Past expiry, four requests at once with the same cookie: one refresh, all served,
    // each told the new cookie, upstream sees the new access token.
    std::thread::sleep(std::time::Duration::from_secs(6));
    let cookie = format!("tollgate_session={session}");
    let results: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| curl(&app, &[("cookie", &cookie)])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut new_cookies = Vec::new();
    for (status, cookies, body) in &results {
        assert_eq!(*status, 200, "{body}");
        let c = cookies
            .iter()
            .find(|c| c.starts_with("tollgate_session="))
            .expect("a refreshed session cookie");
        new_cookies.push(c.clone());
        let token = seen(body, "authorization").unwrap();
        assert_ne!(
            token, first_token,
            "the refreshed access token goes upstream"
        );
    }
    assert_eq!(grants(&idp, "refresh_token"), 1, "one refresh for all four");
    new_cookies.dedup();
    assert_eq!(
        new_cookies.len(),
        1,
        "they all got the same session: {new_cookies:?}"
    );

    // API calls: a JWT access token from the same provider, never redirected.
    let token = idp
        .client_credentials_token("gw", CLIENT_SECRET, RESOURCE)
        .unwrap();
    let (header, claims) = jwt_parts(&token).unwrap();
    assert_eq!(claims["aud"], "orders");
    let bearer = format!("Bearer {token}");
    let r = get(
        web,
        "/app/orders",
        &[("authorization", &bearer), ("accept", "text/html")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r.body, "x-user").as_deref(), Some("gw"));
    // A forged signature is refused, not redirected.
    let forged = format!("{}x", &bearer[..bearer.len() - 1]);
    let r = get(
        web,
        "/app/orders",
        &[("authorization", &forged), ("accept", "text/html")],
    );
    assert_eq!(r.status, 401, "{}", r.body);

    // The provider rotates its key: new tokens carry a kid the gateway has not seen, and
    // it fetches the new key set instead of refusing them.
    let jwks_before = idp.stats().unwrap()["jwks_requests"].as_u64().unwrap();
    let kid = idp.rotate().unwrap();
    let token = idp
        .client_credentials_token("gw", CLIENT_SECRET, RESOURCE)
        .unwrap();
    assert_eq!(jwt_parts(&token).unwrap().0["kid"], kid.as_str());
    assert_ne!(header["kid"], kid.as_str());
    let r = get(
        web,
        "/app/orders",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(idp.stats().unwrap()["jwks_requests"].as_u64().unwrap() > jwks_before);
    // And a new browser login gets an ID token signed with the new key.
    let fresh = Browser::new().unwrap();
    let (_, page) = fresh.login(&app, "bob").unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(seen(&page.body, "x-user").as_deref(), Some("bob"));
}

#[test]
fn refused_codes_and_refresh_tokens_end_in_a_new_login() {
    // Access and refresh tokens both live 3 s.
    let idp = provider_with(3, 3);
    let (_gw, _b, web) = start(&idp, false);
    let app = format!("http://{web}/app");

    // A code the provider refuses (here: altered on the way) is a 401, not a session.
    let browser = Browser::new().unwrap();
    let callback = format!("http://{web}/callback");
    let (_, stop) = browser
        .login_while(&app, "alice", |u| !u.starts_with(&callback))
        .unwrap();
    let to = stop.location().unwrap();
    let code = query_param(&to, "code").unwrap();
    let bad = to.replace(&code, &format!("{code}x"));
    let r = browser.get(&bad).unwrap();
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(
        r.body.contains("refused the authorization code"),
        "{}",
        r.body
    );
    assert_eq!(browser.cookie("tollgate_session").unwrap(), None);

    // A session whose refresh token the provider no longer takes (expired here; revoked
    // or rotated away alike) sends the browser to log in again.
    let browser = Browser::new().unwrap();
    let (_, page) = browser.login(&app, "alice").unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    let session = browser.cookie("tollgate_session").unwrap().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let cookie = format!("tollgate_session={session}");
    let (status, _, body) = curl(&app, &[("cookie", &cookie), ("accept", "text/html")]);
    assert_eq!(status, 302, "a navigation goes to log in again: {body}");
    let (status, _, body) = curl(&app, &[("cookie", &cookie)]);
    assert_eq!(status, 401, "an API call is told to authenticate: {body}");
    assert_eq!(grants(&idp, "refresh_token"), 0, "the refresh was refused");
}

#[test]
fn an_unreachable_provider_is_a_503_for_browsers_and_a_401_for_api_calls() {
    let b = Backends::start(&["app"]);
    let config = format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
routes:
  - name: app
    match: {{ path: {{ prefix: / }} }}
    policies:
      oidc: {{ discovery: "http://{dead}", client_id: gw, client_secret: s }}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0),
        dead = dead_port(),
    );
    let gw = gateway(&config);
    let web = gw.listener("web").unwrap();
    let r = get(web, "/", &[("accept", "text/html")]);
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("identity provider"), "{}", r.body);
    let r = get(web, "/", &[]);
    assert_eq!(r.status, 401, "{}", r.body);
}
