//! The test OpenID provider on its own, without a gateway: a full authorization code
//! login with PKCE through the curl-driven browser, the token exchange, refresh, key
//! rotation (with state kept across it), client changes, logout and the counters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_test_support::oidc::{self, Browser, OidcProvider, jwt_parts, query_param};

const SECRET: &str = "s3cret-for-the-oidc-self-test-0123456789";

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).unwrap();
    let verifier = b64url(&raw);
    let challenge =
        b64url(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes()).as_ref());
    (verifier, challenge)
}

fn client(redirect_uris: &[&str], post_logout: &str) -> Value {
    json!({
        "client_id": "gw", "client_secret": SECRET,
        "redirect_uris": redirect_uris, "post_logout_redirect_uris": [post_logout],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types": ["code"], "token_endpoint_auth_method": "client_secret_basic",
    })
}

/// A token request as a confidential client makes it: client_secret_basic, form body.
fn token(endpoint: &str, fields: &[(&str, &str)]) -> Value {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-u", &format!("gw:{SECRET}")])
        .args(["--data-binary", &oidc::form_encode(fields), endpoint])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn auth_url(endpoint: &str, redirect_uri: &str, state: &str, challenge: Option<&str>) -> String {
    let mut q = vec![
        ("response_type", "code"),
        ("client_id", "gw"),
        ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"),
        ("state", state),
        ("nonce", "n-0S6_WzA2Mj"),
    ];
    if let Some(c) = challenge {
        q.extend([("code_challenge", c), ("code_challenge_method", "S256")]);
    }
    format!("{endpoint}?{}", oidc::form_encode(&q))
}

#[test]
fn logs_in_with_pkce_rotates_keys_and_counts_what_it_served() {
    // Held, never served: the flow must stop at the redirect to it, not request it.
    let rp = TcpListener::bind("127.0.0.1:0").unwrap();
    let rp_origin = format!("http://{}", rp.local_addr().unwrap());
    let cb = format!("{rp_origin}/cb");
    let idp = OidcProvider::start(&json!({
        "clients": [client(&[&cb], &format!("{rp_origin}/"))],
        "resource": { "indicator": "https://orders.example", "audience": "orders", "scope": "orders:read" },
        "access_token_ttl": 2, "id_token_ttl": 120,
    }))
    .unwrap();
    let iss = idp.issuer().to_owned();
    let at_provider = |u: &str| u.starts_with(&iss);
    let browser = Browser::new().unwrap();

    let disco = browser
        .get(&format!("{iss}/.well-known/openid-configuration"))
        .unwrap()
        .json();
    assert_eq!(disco["issuer"], iss.as_str(), "{disco}");
    for (key, path) in [
        ("authorization_endpoint", "/auth"),
        ("token_endpoint", "/token"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/session/end"),
    ] {
        assert_eq!(disco[key], format!("{iss}{path}"), "{key}: {disco}");
    }
    let token_endpoint = disco["token_endpoint"].as_str().unwrap();

    // The login: provider /auth → login form → POST → /auth/… → 303 to the callback.
    let (verifier, challenge) = pkce();
    let start = auth_url(
        disco["authorization_endpoint"].as_str().unwrap(),
        &cb,
        "st-1",
        Some(&challenge),
    );
    let (hops, page) = browser.login_while(&start, "alice", at_provider).unwrap();
    let to = page
        .location()
        .unwrap_or_else(|| panic!("no redirect: {page:?} after {hops:?}"));
    assert!(to.starts_with(&format!("{cb}?")), "{to} after {hops:?}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st-1"), "{to}");
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some(iss.as_str()),
        "{to}"
    );
    let code = query_param(&to, "code").unwrap_or_else(|| panic!("no code in {to}"));
    assert!(hops.iter().any(|h| h.contains("/interaction/")), "{hops:?}");
    assert!(
        browser.cookie("_session").unwrap().is_some(),
        "{:?}",
        browser.cookies()
    );

    let tokens = token(
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &cb),
            ("code_verifier", &verifier),
        ],
    );
    let id_token = tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"));
    let (header, claims) = jwt_parts(id_token).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("RS256"), Some("k1"))
    );
    assert_eq!(claims["nonce"], "n-0S6_WzA2Mj", "{claims}");
    assert_eq!(claims["aud"], "gw", "{claims}");
    assert_eq!(claims["iss"], iss.as_str(), "{claims}");
    assert_eq!(claims["sub"], "alice", "{claims}");
    assert_eq!(claims["email"], "alice@example.com", "{claims}");
    assert_eq!(claims["name"], "Alice", "{claims}");
    assert_eq!(
        claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
        120,
        "{claims}"
    );
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert_eq!(tokens["expires_in"], 2, "{tokens}");
    let refresh = tokens["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_owned();

    // PKCE is required: without a challenge the provider sends the error to the client.
    let no_pkce = auth_url(
        disco["authorization_endpoint"].as_str().unwrap(),
        &cb,
        "st-2",
        None,
    );
    let (_, page) = browser.follow_while(&no_pkce, 10, at_provider).unwrap();
    let to = page.location().unwrap_or_else(|| panic!("{page:?}"));
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request"),
        "{to}"
    );
    assert!(query_param(&to, "code").is_none(), "{to}");

    // Rotation: k2 signs, k1 is still published, and every bit of state is still there.
    assert_eq!(idp.rotate().unwrap(), "k2");
    let jwks = browser
        .get(disco["jwks_uri"].as_str().unwrap())
        .unwrap()
        .json();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k["kid"].as_str())
        .collect();
    assert_eq!(kids, ["k2", "k1"], "{jwks}");
    let at = idp
        .client_credentials_token("gw", SECRET, "https://orders.example")
        .unwrap();
    let (header, claims) = jwt_parts(&at).unwrap();
    assert_eq!(
        (header["alg"].as_str(), header["kid"].as_str()),
        (Some("RS256"), Some("k2")),
        "{header}"
    );
    assert_eq!(claims["aud"], "orders", "{claims}");
    assert_eq!(claims["iss"], iss.as_str(), "{claims}");
    let refreshed = token(
        token_endpoint,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    );
    let (header, _) = jwt_parts(
        refreshed["id_token"]
            .as_str()
            .unwrap_or_else(|| panic!("{refreshed}")),
    )
    .unwrap();
    assert_eq!(header["kid"], "k2", "{header}");

    // New clients (a second callback) keep the session: no login form this time.
    let cb2 = format!("{rp_origin}/cb2");
    idp.set_clients(json!([client(&[&cb, &cb2], &format!("{rp_origin}/"))]))
        .unwrap();
    let (_, c2) = pkce();
    let again = auth_url(
        disco["authorization_endpoint"].as_str().unwrap(),
        &cb2,
        "st-3",
        Some(&c2),
    );
    let (hops, page) = browser.follow_while(&again, 10, at_provider).unwrap();
    let to = page
        .location()
        .unwrap_or_else(|| panic!("{page:?} after {hops:?}"));
    assert!(
        to.starts_with(&format!("{cb2}?")) && to.contains("code="),
        "{to} after {hops:?}"
    );

    // RP-initiated logout: a confirmation form, then back to the client.
    let end = format!(
        "{}?{}",
        disco["end_session_endpoint"].as_str().unwrap(),
        oidc::form_encode(&[
            ("id_token_hint", id_token),
            ("post_logout_redirect_uri", &format!("{rp_origin}/")),
            ("state", "bye")
        ])
    );
    let confirm = browser.get(&end).unwrap();
    let form = confirm.form().unwrap_or_else(|| panic!("{confirm:?}"));
    let done = browser.submit(&form, &[("logout", "yes")]).unwrap();
    let to = done.location().unwrap_or_else(|| panic!("{done:?}"));
    assert!(to.starts_with(&format!("{rp_origin}/?")), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("bye"), "{to}");

    // Without offline_access the refresh token lived with the session that just ended.
    let refresh = refreshed["refresh_token"].as_str().unwrap_or(&refresh);
    let after = token(
        token_endpoint,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    );
    assert_eq!(after["error"], "invalid_grant", "{after}");

    let stats = idp.stats().unwrap();
    assert_eq!(
        stats,
        json!({
            "grants": { "authorization_code": 1, "refresh_token": 1, "client_credentials": 1 },
            "jwks_requests": 1, "token_requests": 4, "end_session_requests": 1, "logouts": 1,
        }),
        "{stats}"
    );
    drop(rp);
}

/// Answers every request on `listener` with 200 and the request line, like a client
/// application's callback would (after checking the code, which this one does not).
fn serve_callbacks(listener: TcpListener) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut head = String::new();
            let _ = BufReader::new(&s).read_line(&mut head);
            let body = format!("callback: {}", head.trim());
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
}

#[test]
fn login_follows_through_to_the_client_and_a_bad_client_list_is_refused() {
    let rp = TcpListener::bind("127.0.0.1:0").unwrap();
    let rp_origin = format!("http://{}", rp.local_addr().unwrap());
    let cb = format!("{rp_origin}/callback");
    serve_callbacks(rp);
    let idp =
        OidcProvider::start(&json!({ "clients": [client(&[&cb], &format!("{rp_origin}/"))] }))
            .unwrap();
    let (_, challenge) = pkce();
    let start = auth_url(
        &format!("{}/auth", idp.issuer()),
        &cb,
        "s",
        Some(&challenge),
    );

    let browser = Browser::new().unwrap();
    let (hops, page) = browser.login(&start, "bob").unwrap();
    assert_eq!(page.status, 200, "{page:?}");
    assert!(
        page.body.starts_with("callback: GET /callback?code="),
        "{}",
        page.body
    );
    assert_eq!(hops.first(), Some(&start));
    assert!(hops.last().unwrap().starts_with(&cb), "{hops:?}");

    // A client the package rejects (no secret for client_secret_basic) is refused at once
    // and the old list stays.
    let err = idp
        .set_clients(json!([{ "client_id": "broken" }]))
        .unwrap_err();
    assert!(format!("{err:#}").contains("400"), "{err:#}");
    let (_, challenge) = pkce();
    let again = auth_url(
        &format!("{}/auth", idp.issuer()),
        &cb,
        "s2",
        Some(&challenge),
    );
    let (_, page) = Browser::new().unwrap().follow(&again, 10).unwrap();
    assert!(
        page.form()
            .is_some_and(|f| f.fields.iter().any(|(k, _)| k == "login")),
        "{page:?}"
    );

    // Dropping the handle stops the process.
    let addr = idp.addr();
    drop(idp);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still listening on {addr}"
    );
}
