//! Access control end to end: API keys, basic auth (argon2 and bcrypt), JWT (HS256 and
//! a JWKS served over HTTP), IP filters, ACLs, several methods on one route, header
//! forging, what reaches the upstream and what the access log says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use serde_json::json;
use tollgate_test_support::jwt::{self, EcKey};

const SECRET: &str = "a-test-secret-that-is-at-least-32-bytes";

/// The argon2id hash `tollgate hash-password` makes of `password`.
fn hash_password(password: &str) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new(BIN)
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn headers_seen(r: &Reply) -> serde_json::Value {
    r.json()["headers"].clone()
}

fn seen(r: &Reply, name: &str) -> Option<String> {
    headers_seen(r)[name][0].as_str().map(str::to_owned)
}

fn config(b: &Backends, alice_hash: &str, bob_bcrypt: &str, jwks: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
trusted_proxies: [127.0.0.1/32]
consumers:
  - name: alice
    groups: [gold, staff]
    keys: ["k-alice-0001"]
    basic: {{ username: alice, password_hash: "{alice_hash}" }}
    jwt: {{ subject: alice@example.com }}
  - name: bob
    groups: [silver]
    keys: ["sha256:{bob_key_digest}"]
    basic: {{ username: bob, password_hash: "{bob_bcrypt}" }}
routes:
  - name: keys
    match: {{ path: {{ prefix: /keys }} }}
    policies:
      key_auth: {{ header: apikey, query: apikey }}
    backends: [{{ service: app }}]
  - name: basic
    match: {{ path: {{ prefix: /basic }} }}
    policies:
      basic_auth: {{ realm: orders }}
    backends: [{{ service: app }}]
  - name: hs
    match: {{ path: {{ prefix: /hs }} }}
    policies:
      jwt: {{ secret: "{SECRET}", audiences: [orders], issuer: https://issuer.test,
              claims_to_headers: {{ sub: x-user, scope: x-scope }} }}
    backends: [{{ service: app }}]
  - name: es
    match: {{ path: {{ prefix: /es }} }}
    policies:
      jwt: {{ jwks_uri: "http://{jwks}/jwks.json", algorithms: [ES256], forward_token: false }}
    backends: [{{ service: app }}]
  - name: either
    match: {{ path: {{ prefix: /either }} }}
    policies:
      key_auth: {{}}
      jwt: {{ secret: "{SECRET}" }}
      acl: {{ allow_groups: [gold] }}
    backends: [{{ service: app }}]
  - name: ip
    match: {{ path: {{ prefix: /ip }} }}
    policies:
      ip_filter: {{ allow: [10.0.0.0/8], deny: [10.0.0.13] }}
    backends: [{{ service: app }}]
  - name: redirect
    match: {{ path: {{ prefix: /moved }} }}
    policies:
      key_auth: {{}}
    filters: {{ redirect: {{ path: {{ replace_full: /elsewhere }} }} }}
"#,
        app = b.ep(0),
        bob_key_digest = "72e557adcbad2ee7a6d13252abed35e52c61dfa44f8ab9a1b9400533ab051f85",
    )
}

struct Setup {
    gw: Gateway,
    web: std::net::SocketAddr,
    _b: Backends,
    _idp: Backends,
    es: EcKey,
}

fn setup() -> Setup {
    let b = Backends::start(&["app"]);
    let es = EcKey::generate("k1");
    let idp = Backends::start(&[]);
    let body = EcKey::jwks(&[&es]).to_string();
    let jwks = idp
        .rt
        .block_on(tollgate_test_support::Backend::start_on(
            "127.0.0.1:0".parse().unwrap(),
            "idp",
            Some(body.into()),
        ))
        .unwrap();
    let jwks_addr = jwks.endpoint();
    let idp = Backends {
        rt: idp.rt,
        list: vec![jwks],
    };
    let alice = hash_password("alice-pw");
    let bob = bcrypt::hash("bob-pw", 4).unwrap();
    let gw = gateway(&config(&b, &alice, &bob, &jwks_addr));
    let web = gw.listener("web").unwrap();
    Setup {
        gw,
        web,
        _b: b,
        _idp: idp,
        es,
    }
}

fn assert_error(r: &Reply, status: u16, message: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    let v = r.json();
    assert_eq!(v["message"], message, "{}", r.body);
    assert_eq!(
        v["request_id"].as_str(),
        r.header("x-request-id"),
        "the error names the request id"
    );
}

#[test]
fn api_keys_admit_their_consumer_and_never_reach_the_upstream() {
    let s = setup();
    let r = get(
        s.web,
        "/keys/1",
        &[("apikey", "k-alice-0001"), ("x-consumer", "bob")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        seen(&r, "x-consumer").as_deref(),
        Some("alice"),
        "not the forged one"
    );
    assert_eq!(seen(&r, "x-consumer-groups").as_deref(), Some("gold,staff"));
    assert_eq!(seen(&r, "apikey"), None, "the key is stripped");

    // In the query: the parameter is removed, the others stay.
    let r = get(s.web, "/keys/2?a=1&apikey=k-alice-0001&b=2", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["query"], "a=1&b=2");
    let r = get(s.web, "/keys/2?apikey=k-alice-0001", &[]);
    assert_eq!(r.status, 200);
    assert!(r.json()["query"].is_null(), "{}", r.body);

    // A key stored as `sha256:` works like a plaintext one.
    let r = get(s.web, "/keys/3", &[("apikey", "bob-key-123456")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "x-consumer").as_deref(), Some("bob"));

    let r = get(s.web, "/keys/4", &[("apikey", "k-wrong-0001")]);
    assert_error(&r, 401, "invalid API key");
    assert_eq!(
        r.header("www-authenticate"),
        Some("ApiKey header=\"apikey\"")
    );
    let r = get(s.web, "/keys/5", &[("x-consumer", "alice")]);
    assert_error(&r, 401, "authentication required");

    // The access log names the consumer and never holds a key.
    assert!(eventually(std::time::Duration::from_secs(5), || {
        s.gw.access_log()
            .iter()
            .filter(|l| l.contains("\"/keys/"))
            .count()
            >= 6
    }));
    let lines = s.gw.access_log().join("\n");
    assert!(lines.contains("\"consumer\":\"alice\""), "{lines}");
    assert!(
        !lines.contains("k-alice-0001") && !lines.contains("bob-key"),
        "{lines}"
    );
}

#[test]
fn basic_auth_checks_argon2_and_bcrypt_hashes() {
    let s = setup();
    let r = get(
        s.web,
        "/basic",
        &[("authorization", &basic("alice", "alice-pw"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "x-consumer").as_deref(), Some("alice"));
    assert_eq!(
        seen(&r, "authorization"),
        None,
        "the password stays at the gateway"
    );
    // Again: answered from the verified-credential cache, same result.
    let r = get(
        s.web,
        "/basic",
        &[("authorization", &basic("alice", "alice-pw"))],
    );
    assert_eq!(r.status, 200);

    let r = get(
        s.web,
        "/basic",
        &[("authorization", &basic("bob", "bob-pw"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "x-consumer").as_deref(), Some("bob"));

    for (user, pw) in [("alice", "wrong"), ("bob", "alice-pw"), ("carol", "x")] {
        let r = get(s.web, "/basic", &[("authorization", &basic(user, pw))]);
        assert_error(&r, 401, "invalid username or password");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Basic realm=\"orders\", charset=\"UTF-8\"")
        );
    }
    let r = get(s.web, "/basic", &[]);
    assert_error(&r, 401, "authentication required");
}

#[test]
fn jwt_tokens_are_verified_and_their_claims_forwarded() {
    let s = setup();
    let now = jwt::now();
    let claims = |aud: &str, exp: u64| {
        json!({"iss": "https://issuer.test", "sub": "alice@example.com", "aud": aud,
               "exp": exp, "iat": now, "scope": ["read", "write"]})
    };
    let good = jwt::hs256(SECRET.as_bytes(), &claims("orders", now + 300));
    let bearer = format!("Bearer {good}");
    let r = get(
        s.web,
        "/hs/1",
        &[("authorization", &bearer), ("x-user", "mallory")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "x-user").as_deref(), Some("alice@example.com"));
    assert_eq!(seen(&r, "x-scope").as_deref(), Some("read,write"));
    assert_eq!(
        seen(&r, "x-consumer").as_deref(),
        Some("alice"),
        "jwt.subject maps"
    );
    assert_eq!(seen(&r, "authorization").as_deref(), Some(bearer.as_str()));

    let refused = [
        (
            jwt::hs256(SECRET.as_bytes(), &claims("orders", now - 3600)),
            "token has expired",
        ),
        (
            jwt::hs256(SECRET.as_bytes(), &claims("billing", now + 300)),
            "",
        ),
        (
            jwt::hs256(
                b"another-secret-of-at-least-32-bytes!",
                &claims("orders", now + 300),
            ),
            "",
        ),
        (
            jwt::unsecured(&claims("orders", now + 300)),
            "unsecured tokens are not accepted",
        ),
    ];
    for (token, message) in refused {
        let r = get(
            s.web,
            "/hs/2",
            &[("authorization", &format!("Bearer {token}"))],
        );
        assert_eq!(r.status, 401, "{token}: {}", r.body);
        if !message.is_empty() {
            assert_eq!(r.json()["message"], message);
        }
        let challenge = r.header("www-authenticate").unwrap_or("");
        assert!(challenge.starts_with("Bearer realm=\"hs\""), "{challenge}");
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    let r = get(s.web, "/hs/3", &[("x-user", "mallory")]);
    assert_error(&r, 401, "authentication required");
    assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"hs\""));

    // ES256 with keys fetched from a JWKS URL; the token is not forwarded.
    let token = s.es.sign(&json!({"sub": "svc-1", "exp": now + 300}));
    let r = get(
        s.web,
        "/es",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "authorization"), None);
    assert_eq!(seen(&r, "x-consumer"), None, "no consumer maps svc-1");
    let other = EcKey::generate("k1").sign(&json!({"sub": "svc-1", "exp": now + 300}));
    let r = get(
        s.web,
        "/es",
        &[("authorization", &format!("Bearer {other}"))],
    );
    assert_error(&r, 401, "token signature is invalid");
}

#[test]
fn any_method_admits_and_the_acl_decides_by_group() {
    let s = setup();
    let now = jwt::now();
    let r = get(s.web, "/either", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let alice = jwt::hs256(
        SECRET.as_bytes(),
        &json!({"sub": "alice@example.com", "exp": now + 60}),
    );
    // A wrong key does not stop a good token.
    let r = get(
        s.web,
        "/either",
        &[
            ("apikey", "k-wrong-0001"),
            ("authorization", &format!("Bearer {alice}")),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(seen(&r, "x-consumer").as_deref(), Some("alice"));
    // Bob is authenticated but not in gold; a token of nobody known is not a consumer.
    let r = get(s.web, "/either", &[("apikey", "bob-key-123456")]);
    assert_error(&r, 403, "consumer is not allowed");
    let nobody = jwt::hs256(SECRET.as_bytes(), &json!({"sub": "x", "exp": now + 60}));
    let r = get(
        s.web,
        "/either",
        &[("authorization", &format!("Bearer {nobody}"))],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = get(s.web, "/either", &[]);
    assert_eq!(r.status, 401);
    let challenges = r.header("www-authenticate").unwrap_or("");
    assert!(
        challenges.contains("ApiKey") || challenges.contains("Bearer"),
        "{challenges}"
    );

    // A redirect route is protected too.
    let r = get(s.web, "/moved", &[]);
    assert_eq!(r.status, 401);
    let r = get(s.web, "/moved", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 302);
}

#[test]
fn ip_filter_uses_the_client_address_behind_trusted_proxies() {
    let s = setup();
    // The direct peer is 127.0.0.1, outside the allow list.
    let r = get(s.web, "/ip", &[]);
    assert_error(&r, 403, "client address is not allowed");
    // 127.0.0.1 is a trusted proxy, so X-Forwarded-For names the client.
    let r = get(s.web, "/ip", &[("x-forwarded-for", "10.1.2.3")]);
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(s.web, "/ip", &[("x-forwarded-for", "10.0.0.13")]);
    assert_error(&r, 403, "client address is not allowed");
    let r = get(s.web, "/ip", &[("x-forwarded-for", "192.168.1.1")]);
    assert_eq!(r.status, 403);
}

#[test]
fn bad_policies_are_refused_with_their_line_and_the_last_good_config_serves() {
    let s = setup();
    let bad = r#"
listeners:
  - { name: web, address: "127.0.0.1:0" }
services:
  - { name: app, endpoints: ["127.0.0.1:1"] }
consumers:
  - { name: carol, keys: [short], basic: { username: carol, password_hash: plaintext } }
routes:
  - name: r
    policies:
      jwt: { jwks_uri: "ftp://x", secret: "s" }
      acl: { allow_consumers: [dave] }
    backends: [{ service: app }]
"#;
    let dir = tollgate_test_support::process::TempDir::new("bad-policies").unwrap();
    let file = dir.path().join("tollgate.yaml");
    std::fs::write(&file, bad).unwrap();
    let out = std::process::Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    for needle in [
        "tollgate.yaml:7:",
        "at least 8 printable characters",
        "not a plaintext password",
        "only one of `jwks_uri`, `discovery` or `secret`",
        "unknown consumer \"dave\"",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in:\n{err}");
    }

    // The same mistakes in a running gateway's file: refused, the last good one serves.
    s.gw.write_config("tollgate.yaml", bad).unwrap();
    s.gw.wait_for_log("configuration rejected", std::time::Duration::from_secs(10))
        .unwrap();
    let r = get(s.web, "/keys/1", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 200, "{}", r.body);
}
