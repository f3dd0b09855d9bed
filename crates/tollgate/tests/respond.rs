//! `respond` routes end to end (docs/content-policies.md): the status, body and headers
//! go out as written (a 503 keeps its own body, not the gateway's JSON error shape),
//! HEAD gets the head only, and access policies run before the answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

const CONFIG: &str = r#"
listeners:
  - { name: web, address: "127.0.0.1:0" }
consumers:
  - { name: alice, keys: ["k-alice-0001"] }
routes:
  - name: health
    match: { path: { exact: /healthz } }
    respond: { status: 200, body: "ok" }
  - name: maintenance
    match: { path: { prefix: /shop } }
    respond:
      status: 503
      body: "maintenance"
      headers: { Retry-After: "120", X-Reason: planned }
  - name: teapot
    match: { path: { prefix: /brew } }
    respond: { status: 418, body: '{"short":"stout"}', content_type: application/json }
  - name: private
    match: { path: { prefix: /private } }
    policies:
      key_auth: {}
    respond: { status: 200, body: "secret" }
"#;

fn setup() -> (Gateway, std::net::SocketAddr) {
    let gw = gateway(CONFIG);
    let web = gw.listener("web").unwrap();
    (gw, web)
}

#[test]
fn respond_sends_status_body_and_content_type() {
    let (_gw, web) = setup();
    let r = get(web, "/healthz", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "ok");
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert_eq!(r.header("content-length"), Some("2"));
    let r = get(web, "/brew/pot", &[]);
    assert_eq!(r.status, 418);
    assert_eq!(r.body, r#"{"short":"stout"}"#);
    assert_eq!(r.header("content-type"), Some("application/json"));
    // No gateway error shape: the body is exactly what was written.
    assert!(r.header("x-request-id").is_some());
}

#[test]
fn respond_error_status_keeps_its_body_and_headers() {
    let (_gw, web) = setup();
    let r = get(web, "/shop/cart", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(
        r.body, "maintenance",
        "sent as written, not as a JSON error"
    );
    assert_eq!(r.header("retry-after"), Some("120"));
    assert_eq!(r.header("x-reason"), Some("planned"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));

    let r = client::request(web, "HEAD", "/shop", &[], "").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(r.body, "", "HEAD: the head only");
    assert_eq!(r.header("retry-after"), Some("120"));
}

#[test]
fn access_policies_run_before_respond() {
    let (_gw, web) = setup();
    let r = get(web, "/private", &[]);
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.json()["message"].is_string(), "{}", r.body);
    let r = get(web, "/private", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "secret");
}

#[test]
fn respond_works_over_curl_and_h2c() {
    let (_gw, web) = setup();
    for flags in [&["--http1.1"][..], &["--http2-prior-knowledge"][..]] {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-i"])
            .args(flags)
            .arg(format!("http://{web}/shop/x"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(out.status.success(), "{text}");
        assert!(text.contains(" 503"), "{text}");
        assert!(text.contains("retry-after: 120"), "{text}");
        assert!(text.ends_with("\r\n\r\nmaintenance"), "{text}");
    }
}
