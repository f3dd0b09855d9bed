//! TLS odds and ends end to end: redirect to the https listener (IPv6 and host-less
//! requests too), `validate` on a mismatched key, expired certificates, and
//! `Expect: 100-continue` over HTTP/1.1 and HTTP/2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::process::Command;
use std::time::Duration;

use common::*;
use tls_support::*;
use tollgate_test_support::pki::Ca;
use tollgate_test_support::process::TempDir;

#[test]
fn http_listener_redirects_to_the_https_listener_port() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Redirect Test CA").unwrap();
    let a = ca.server(&["shop.example.com"]).unwrap();
    let cfg = format!(
        r#"
listeners:
  - name: web
    address: "127.0.0.1:0"
    redirect_to_https: websecure
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls:
      certificates: [{{ cert: a.pem, key: a-key.pem }}]
services:
  - name: app
    endpoints: ["{}"]
routes:
  - {{ name: all, backends: [{{ service: app }}] }}
"#,
        b.ep(0)
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let web = gw.listener("web").unwrap();
    let secure = gw.listener("websecure").unwrap();
    let expected = format!(
        "https://shop.example.com:{}/cart/items?id=7&x=y",
        secure.port()
    );

    let r = get(web, "/cart/items?id=7&x=y", &[("host", "shop.example.com")]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    // The client's port is replaced by the https listener's.
    let r = get(
        web,
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com:8080")],
    );
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    let r = client::request(
        web,
        "HEAD",
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com")],
        "",
    )
    .unwrap();
    assert_eq!(r.status, 301, "{r:?}");
    // Other methods get 308, which keeps the method and body.
    let r = client::request(
        web,
        "POST",
        "/cart/items?id=7&x=y",
        &[("host", "shop.example.com")],
        "{\"n\":1}",
    )
    .unwrap();
    assert_eq!(r.status, 308, "{r:?}");
    assert_eq!(r.header("location"), Some(expected.as_str()), "{r:?}");
    assert_eq!(
        b.list[0].requests(),
        0,
        "the redirect listener routes nothing"
    );

    // A real client follows it to the https listener and reaches the backend.
    let ca_file = gw.dir.path().join("ca.pem");
    let (res_web, _) = resolve("shop.example.com", web, "");
    let (res_secure, _) = resolve("shop.example.com", secure, "");
    let url = format!("http://shop.example.com:{}/cart?id=7", web.port());
    let c = curl(&[
        "-L",
        "--resolve",
        &res_web,
        "--resolve",
        &res_secure,
        "--cacert",
        ca_file.to_str().unwrap(),
        &url,
    ]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    let echo = c.json();
    assert_eq!(echo["path"], "/cart");
    assert_eq!(echo["query"], "id=7");
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// 8. validate and expired certificates
// ---------------------------------------------------------------------------------------

#[test]
fn validate_rejects_a_key_that_does_not_match_its_certificate() {
    let ca = Ca::new("Validate Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let other = ca.server(&["a.example.com"]).unwrap();
    let dir = TempDir::new("validate-tls").unwrap();
    let cfg = "listeners:\n  - name: websecure\n    address: \"127.0.0.1:0\"\n    protocol: https\n    tls:\n      certificates:\n        - { cert: a.pem, key: a-key.pem }\nservices:\n  - name: app\n    endpoints: [\"127.0.0.1:9\"]\nroutes:\n  - { name: all, backends: [{ service: app }] }\n";
    let cert_line = cfg.lines().position(|l| l.contains("a.pem")).unwrap() + 1;
    let config = dir.path().join("tollgate.yaml");
    std::fs::write(&config, cfg).unwrap();
    std::fs::write(dir.path().join("a.pem"), &a.cert_pem).unwrap();
    std::fs::write(dir.path().join("a-key.pem"), &other.key_pem).unwrap();

    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let prefix = format!("{}:{cert_line}:", config.display());
    assert!(
        stderr.starts_with(&prefix),
        "stderr must start with {prefix:?}: {stderr}"
    );
    assert!(stderr.contains("a.pem"), "names the certificate: {stderr}");
    assert!(
        stderr.contains("does not match"),
        "says what is wrong: {stderr}"
    );

    // The same files with the right key validate.
    std::fs::write(dir.path().join("a-key.pem"), &a.key_pem).unwrap();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_expired_certificate_only_warns_and_keeps_serving() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expired Test CA").unwrap();
    let expired = ca.expired_server(&["old.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: old.pem, key: old-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("old.pem", &expired.cert_pem),
            ("old-key.pem", &expired.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let line = gw.wait_for_log("expired", Duration::from_secs(5)).unwrap();
    assert!(
        line.contains("old.pem"),
        "the warning names the file: {line}"
    );
    let addr = gw.listener("websecure").unwrap();
    // Served (clients decide what to make of it): verifying clients refuse it…
    let ca_file = gw.dir.path().join("ca.pem");
    let c = curl_https("old.example.com", addr, "/", &ca_file, &[]);
    assert_eq!(c.code, 60, "{c:?}");
    assert!(c.stderr.contains("expired"), "{}", c.stderr);
    // …and one that does not check gets through.
    let c = curl_https("old.example.com", addr, "/", &ca_file, &["-k"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
}

// ---------------------------------------------------------------------------------------
// 9. Expect
// ---------------------------------------------------------------------------------------

#[test]
fn expect_100_continue_is_answered_by_the_gateway_and_others_get_417() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expect Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let body = gw.dir.path().join("body.bin");
    std::fs::write(&body, vec![b'z'; 1024 * 1024]).unwrap();
    let data = format!("@{}", body.display());

    // curl waits up to --expect100-timeout for the 100 before sending the body: a long
    // one makes a gateway that never answers show up as a slow request.
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http1.1",
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "15",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert!(
        c.stderr.contains("HTTP/1.1 100 Continue"),
        "the gateway answers the expectation: {}",
        c.stderr
    );
    assert!(
        c.elapsed < Duration::from_secs(5),
        "curl waited for a 100 that did not come: {:?}",
        c.elapsed
    );
    let echo = c.json();
    assert_eq!(echo["body_len"], 1024 * 1024);
    assert_eq!(echo["method"], "POST");
    assert!(
        echo["headers"].get("expect").is_none(),
        "the expectation must not travel upstream: {}",
        echo["headers"]
    );

    // Any other expectation: 417 in the gateway's JSON error shape, nothing forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http1.1",
            "-H",
            "Expect: something-else",
            "--data-binary",
            "small",
        ],
    );
    assert_eq!((c.code, c.status), (0, 417), "{c:?}");
    let err = c.json();
    assert!(err["message"].is_string(), "{err}");
    assert!(err["request_id"].is_string(), "{err}");
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// Known limitations, reproduced. Run with `--run-ignored all`.
// ---------------------------------------------------------------------------------------

/// hyper's HTTP/2 server never sends `100 Continue` (hyperium/hyper#2743), and the
/// gateway strips the expectation, so an HTTP/2 client waits its whole expect timeout
/// (curl: 1 s by default) before sending every body.
#[test]
#[ignore = "known limitation: hyper's HTTP/2 server cannot send 100 Continue (hyper#2743); documented in the README"]
fn expect_100_continue_over_http2_is_answered_promptly() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Expect h2 Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let body = gw.dir.path().join("body.bin");
    std::fs::write(&body, vec![b'z'; 64 * 1024]).unwrap();
    let data = format!("@{}", body.display());
    let c = curl_https(
        "a.example.com",
        addr,
        "/upload",
        &ca_file,
        &[
            "--http2",
            "-v",
            "-H",
            "Expect: 100-continue",
            "--expect100-timeout",
            "5",
            "--data-binary",
            &data,
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.json()["body_len"], 64 * 1024);
    assert!(
        !c.stderr.contains("Done waiting for 100-continue"),
        "curl gave up waiting for 100 Continue after {:?}",
        c.elapsed
    );
    assert!(c.elapsed < Duration::from_secs(4), "{:?}", c.elapsed);
}

/// `redirect_to_https` builds the location from the routing host, which has lost the
/// brackets of an IPv6 literal (`https://::1:8443/`), and from an empty host when an
/// HTTP/1.0 request has no Host (`https://:8443/`). Neither is a URL: the first is
/// re-bracketed, the second answered 400.
#[test]
fn https_redirect_location_is_a_valid_url_for_ipv6_and_hostless_requests() {
    let ca = Ca::new("Redirect Test CA").unwrap();
    let a = ca.server(&["shop.example.com"]).unwrap();
    let cfg = r#"
listeners:
  - { name: web, address: "127.0.0.1:0", redirect_to_https: websecure }
  - name: websecure
    address: "127.0.0.1:0"
    protocol: https
    tls: { certificates: [{ cert: a.pem, key: a-key.pem }] }
services: [{ name: app, endpoints: ["127.0.0.1:9"] }]
routes: [{ name: all, backends: [{ service: app }] }]
"#;
    let gw = start(cfg, &[("a.pem", &a.cert_pem), ("a-key.pem", &a.key_pem)]);
    let web = gw.listener("web").unwrap();
    let port = gw.listener("websecure").unwrap().port();

    let r = get(web, "/x", &[("host", "[::1]:8080")]);
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("https://[::1]:{port}/x").as_str())
    );

    let raw = client::raw(web, b"GET /x HTTP/1.0\r\n\r\n", Duration::from_secs(5)).unwrap();
    let r = client::parse(&raw).unwrap();
    let location = r.header("location").unwrap_or("");
    assert!(
        !location.starts_with("https://:"),
        "a redirect needs a host (or a 400 without one): {r:?}"
    );
    assert_eq!(r.status, 400, "{r:?}");
}
