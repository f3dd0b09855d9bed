//! Content policies end to end (docs/content-policies.md): CORS preflights answered by
//! the gateway before authentication, CORS headers on admitted and refused requests, and
//! request body limits by declared length and by a streamed body.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::time::Duration;

const APP: &str = "https://app.example.com";

fn config(b: &Backends) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
  - {{ name: dead, endpoints: ["{dead}"], retries: {{ attempts: 0 }} }}
consumers:
  - {{ name: alice, keys: ["k-alice-0001"] }}
routes:
  - name: api
    match: {{ path: {{ prefix: /api }}, methods: [GET, POST] }}
    policies:
      key_auth: {{}}
      cors:
        allow_origins: ["{APP}", "https://*.example.com"]
        allow_methods: [GET, POST]
        allow_headers: [apikey, content-type]
        expose_headers: [x-request-id]
        allow_credentials: true
        max_age: 10m
    backends: [{{ service: app }}]
  - name: open
    match: {{ path: {{ prefix: /open }} }}
    policies:
      cors: {{ allow_origins: ["*"] }}
    backends: [{{ service: app }}]
  - name: status
    match: {{ path: {{ prefix: /status }} }}
    policies:
      cors: {{ allow_origins: ["{APP}"] }}
    # Stands in for an upstream with CORS headers of its own (response header changes
    # apply before the gateway's CORS headers, as an upstream's would).
    filters:
      response_headers: {{ set: {{ access-control-allow-origin: "*", access-control-allow-methods: PUT, x-stand-in: "1" }} }}
    backends: [{{ service: app }}]
  - name: down
    match: {{ path: {{ prefix: /down }} }}
    policies:
      cors: {{ allow_origins: ["{APP}"] }}
    backends: [{{ service: dead }}]
  - name: upload
    match: {{ path: {{ prefix: /upload }} }}
    policies:
      request_size: {{ max_body: 2KiB }}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0),
        dead = dead_port(),
    )
}

fn setup() -> (Backends, Gateway, std::net::SocketAddr) {
    let b = Backends::start(&["app"]);
    let gw = gateway(&config(&b));
    let web = gw.listener("web").unwrap();
    (b, gw, web)
}

fn preflight(web: std::net::SocketAddr, path: &str, origin: &str, extra: &[(&str, &str)]) -> Reply {
    let mut h = vec![("origin", origin)];
    h.extend_from_slice(extra);
    client::request(web, "OPTIONS", path, &h, "").unwrap()
}

fn assert_json_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{}", r.body);
    assert!(r.json()["message"].is_string(), "{}", r.body);
    assert_eq!(r.json()["request_id"].as_str(), r.header("x-request-id"));
}

#[test]
fn preflights_are_answered_before_authentication() {
    let (b, _gw, web) = setup();
    let r = preflight(
        web,
        "/api/orders",
        APP,
        &[
            ("access-control-request-method", "POST"),
            ("access-control-request-headers", "ApiKey, Content-Type"),
        ],
    );
    assert_eq!(r.status, 204, "no key, still answered: {}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(r.header("access-control-allow-methods"), Some("GET, POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("apikey, content-type")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert_eq!(r.header("vary"), Some("Origin"));
    // The route matches GET and POST only; the preflight for them is still its own.
    assert_eq!(
        b.list[0].requests(),
        0,
        "a preflight never reaches the upstream"
    );

    // A wildcard subdomain, at any depth.
    let ask = [("access-control-request-method", "GET")];
    let r = preflight(web, "/api/orders", "https://a.b.example.com", &ask);
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://a.b.example.com")
    );
    for bad in [
        "https://example.com",
        "https://evil-example.com",
        "http://app.example.com",
    ] {
        let r = preflight(web, "/api/orders", bad, &ask);
        assert_json_error(&r, 403);
        assert_eq!(r.header("access-control-allow-origin"), None, "{bad}");
    }
    // A method or header the policy does not allow (`/open` matches any method; its
    // policy allows the default GET, HEAD and POST).
    let r = preflight(
        web,
        "/open",
        APP,
        &[("access-control-request-method", "DELETE")],
    );
    assert_json_error(&r, 403);
    assert!(r.json()["message"].as_str().unwrap().contains("DELETE"));
    let r = preflight(
        web,
        "/api/orders",
        APP,
        &[
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "apikey,x-secret"),
        ],
    );
    assert_json_error(&r, 403);
    assert!(r.json()["message"].as_str().unwrap().contains("x-secret"));
    assert_eq!(b.list[0].requests(), 0);

    // `*`: any origin, answered with `*` and no Vary.
    let r = preflight(web, "/open", "https://anyone.org", &ask);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_eq!(r.header("access-control-max-age"), None);
}

#[test]
fn actual_requests_get_cors_headers_on_success_and_on_errors() {
    let (b, _gw, web) = setup();
    let r = get(
        web,
        "/api/orders",
        &[("origin", APP), ("apikey", "k-alice-0001")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(r.header("vary"), Some("Origin"));
    assert_eq!(
        r.header("access-control-allow-methods"),
        None,
        "preflight only"
    );
    // The upstream sees the Origin as it came.
    assert_eq!(r.json()["headers"]["origin"][0], APP);

    // A 401 from the gateway is readable by the page that caused it.
    let r = get(web, "/api/orders", &[("origin", "https://x.example.com")]);
    assert_json_error(&r, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://x.example.com")
    );
    assert_eq!(r.header("access-control-allow-credentials"), Some("true"));

    // An upstream 404 and a gateway 502 as well.
    let r = get(web, "/status/404", &[("origin", APP)]);
    assert_eq!(r.status, 404, "{}", r.body);
    assert_eq!(r.body, "status 404 from app", "the upstream's own answer");
    assert_eq!(
        r.header("x-stand-in"),
        Some("1"),
        "the stand-in headers were set"
    );
    assert_eq!(r.header("access-control-allow-methods"), None, "replaced");
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));
    let r = get(web, "/status/200", &[("origin", "https://other.org")]);
    assert_eq!(
        r.header("access-control-allow-origin"),
        None,
        "not the upstream's *"
    );
    let r = get(web, "/down", &[("origin", APP)]);
    assert_json_error(&r, 502);
    assert_eq!(r.header("access-control-allow-origin"), Some(APP));

    // A disallowed origin passes through without CORS headers (the browser blocks it).
    let r = get(
        web,
        "/api/orders",
        &[
            ("origin", "https://evil-example.com"),
            ("apikey", "k-alice-0001"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    assert_eq!(r.header("access-control-allow-credentials"), None);
    assert_eq!(r.header("vary"), Some("Origin"));
    // No Origin at all: not a CORS request.
    let r = get(web, "/api/orders", &[("apikey", "k-alice-0001")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);

    // `*` answers `*`.
    let r = get(web, "/open/x", &[("origin", "https://anyone.org")]);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    // A plain OPTIONS (no Access-Control-Request-Method) is not a preflight.
    let r = client::request(web, "OPTIONS", "/open/x", &[("origin", APP)], "").unwrap();
    assert_eq!(r.json()["method"], "OPTIONS", "{}", r.body);
    assert!(b.list[0].requests() >= 3);
}

#[test]
fn a_declared_body_over_the_limit_is_refused_before_the_upstream() {
    let (b, _gw, web) = setup();
    let small = "x".repeat(2048);
    let r = client::request(web, "POST", "/upload", &[], &small).unwrap();
    assert_eq!(r.status, 200, "exactly the limit passes: {}", r.body);
    assert_eq!(r.json()["body_len"], 2048);
    let before = b.list[0].requests();

    let big = "x".repeat(2049);
    let r = client::request(web, "POST", "/upload", &[], &big).unwrap();
    assert_json_error(&r, 413);
    assert!(
        r.json()["message"].as_str().unwrap().contains("2048"),
        "{}",
        r.body
    );
    // A client that waits for `100 Continue` never sends the body at all.
    let head = "POST /upload HTTP/1.1\r\nhost: t\r\ncontent-length: 1000000\r\nexpect: 100-continue\r\n\r\n";
    let text = client::raw(web, head.as_bytes(), Duration::from_secs(5)).unwrap();
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(!text.contains("100 Continue"), "{text}");
    // curl sending a large declared body without waiting still reads the answer.
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Expect:",
        ])
        .args(["--data-binary", "@-"])
        .arg(format!("http://{web}/upload"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            // Written from a thread: the gateway answers before reading it all.
            let mut stdin = c.stdin.take().unwrap();
            std::thread::spawn(move || stdin.write_all(&vec![b'z'; 500_000]));
            c.wait_with_output()
        })
        .expect("run curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
    assert_eq!(
        b.list[0].requests(),
        before,
        "the upstream was never called"
    );
}

#[test]
fn a_streamed_body_is_cut_off_past_the_limit() {
    let (b, _gw, web) = setup();
    let chunk = format!("400\r\n{}\r\n", "y".repeat(0x400));
    // Under the limit: passes whole.
    let req = format!(
        "POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(2)
    );
    let text = client::raw(web, req.as_bytes(), Duration::from_secs(5)).unwrap();
    let r = client::parse(&text).unwrap();
    assert_eq!(r.status, 200, "{text}");
    assert_eq!(r.json()["body_len"], 2048);
    // Over it: 413 in the gateway's error shape, though no length was declared.
    let req = format!(
        "POST /upload HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{}0\r\n\r\n",
        chunk.repeat(3)
    );
    let text = client::raw(web, req.as_bytes(), Duration::from_secs(5)).unwrap();
    let r = client::parse(&text).unwrap_or_else(|| panic!("{text:?}"));
    assert_json_error(&r, 413);

    // curl streaming a file chunked.
    let file = std::env::temp_dir().join(format!("tollgate-body-{}", std::process::id()));
    std::fs::write(&file, vec![b'z'; 100_000]).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["-H", "Transfer-Encoding: chunked", "--data-binary"])
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{web}/upload"))
        .output()
        .expect("run curl");
    let _ = std::fs::remove_file(&file);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");

    // HTTP/2 (h2c) without content-length: under the limit passes, over it 413.
    assert_eq!(h2_upload(&b, web, 2), (200, 2048));
    let (status, _) = h2_upload(&b, web, 200);
    assert_eq!(status, 413);
}

/// POSTs `kib` KiB to `/upload` over h2c in 1 KiB DATA frames without a content-length;
/// the status and the `body_len` the echo saw (0 when it did not answer).
fn h2_upload(b: &Backends, web: std::net::SocketAddr, kib: usize) -> (u16, u64) {
    b.rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(web).await.unwrap();
        let (client, conn) = h2::client::handshake(tcp).await.unwrap();
        tokio::spawn(conn);
        let mut client = client.ready().await.unwrap();
        let req = http::Request::post(format!("http://{web}/upload"))
            .body(())
            .unwrap();
        let (resp, mut stream) = client.send_request(req, false).unwrap();
        for i in 0..kib {
            let chunk = bytes::Bytes::from(vec![b'h'; 1024]);
            if stream.send_data(chunk, i + 1 == kib).is_err() {
                break;
            }
        }
        let resp = resp.await.unwrap();
        let status = resp.status().as_u16();
        let mut body = resp.into_body();
        let mut data = Vec::new();
        while let Some(Ok(c)) = body.data().await {
            let _ = body.flow_control().release_capacity(c.len());
            data.extend_from_slice(&c);
        }
        let v: serde_json::Value = serde_json::from_slice(&data).unwrap_or_default();
        (status, v["body_len"].as_u64().unwrap_or(0))
    })
}
