//! Upstream behaviour end to end: pooling, balancing, health, ejection, retries, timeouts,
//! circuit breaking, h2c.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::collections::HashMap;
use std::time::Duration;

use common::*;

fn backend_of(r: &Reply) -> String {
    r.json()["backend"].as_str().unwrap_or("").to_owned()
}

fn one_service(endpoints: &[String], extra: &str) -> String {
    let eps: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
    format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - name: s
    endpoints: [{}]
{extra}
routes:
  - {{ name: all, backends: [{{ service: s }}] }}
"#,
        eps.join(", ")
    )
}

#[test]
fn round_robin_spreads_and_keep_alive_reuses_connections() {
    let b = Backends::start(&["a", "b"]);
    let gw = gateway(&one_service(&[b.ep(0), b.ep(1)], ""));
    let web = gw.listener("web").unwrap();
    let mut seen: HashMap<String, u32> = HashMap::new();
    for _ in 0..20 {
        *seen.entry(backend_of(&get(web, "/", &[]))).or_default() += 1;
    }
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&10), "{seen:?}");
    // 20 sequential requests over keep-alive need one upstream connection per endpoint.
    let metrics = admin(&gw, "/metrics").body;
    assert!(
        metrics.contains("tollgate_requests_total{route=\"route/all\",status=\"200\"} 20"),
        "{metrics}"
    );
}

#[test]
fn connect_failure_is_retried_on_another_endpoint_and_ejected() {
    let b = Backends::start(&["a"]);
    let dead = dead_port();
    let extra = "    retries: { attempts: 2, on: [connect-failure] }\n    outlier_detection: { consecutive_failures: 1, ejection_time: 60s }";
    let gw = gateway(&one_service(&[b.ep(0), dead], extra));
    let web = gw.listener("web").unwrap();
    for i in 0..10 {
        let r = get(web, "/", &[]);
        assert_eq!(r.status, 200, "request {i}: {r:?}");
    }
    assert_eq!(b.list[0].requests(), 10);
}

#[test]
fn connect_refused_is_502_and_slow_upstream_is_504() {
    let b = Backends::start(&["a"]);
    let gw = gateway(&one_service(&[dead_port()], ""));
    let r = get(gw.listener("web").unwrap(), "/", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(r.json()["message"], "upstream connect failed");

    let gw = gateway(&one_service(&[b.ep(0)], "    timeouts: { request: 300ms }"));
    let web = gw.listener("web").unwrap();
    let r = get(web, "/delay/2000", &[]);
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(get(web, "/delay/10", &[]).status, 200);
    let m = admin(&gw, "/metrics").body;
    assert!(
        m.contains("tollgate_upstream_errors_total{service=\"s\",kind=\"timeout\"} 1"),
        "{m}"
    );
}

#[test]
fn route_timeout_bounds_the_whole_request() {
    let b = Backends::start(&["a"]);
    let cfg = one_service(&[b.ep(0)], "").replace(
        "- { name: all, backends: [{ service: s }] }",
        "- { name: all, timeout: 200ms, backends: [{ service: s }] }",
    );
    let gw = gateway(&cfg);
    let r = get(gw.listener("web").unwrap(), "/delay/1500", &[]);
    assert_eq!(r.status, 504, "{r:?}");
}

#[test]
fn retries_on_status_only_for_idempotent_requests() {
    let b = Backends::start(&["a", "b"]);
    let extra = "    retries: { attempts: 1, on: [503] }";
    let gw = gateway(&one_service(&[b.ep(0), b.ep(1)], extra));
    let web = gw.listener("web").unwrap();
    // /status/503 fails on both, so a retried GET reaches both backends once.
    let before = b.list[0].requests() + b.list[1].requests();
    let r = get(web, "/status/503", &[]);
    assert_eq!(r.status, 503);
    assert_eq!(
        b.list[0].requests() + b.list[1].requests() - before,
        2,
        "GET retried once"
    );
    let before = b.list[0].requests() + b.list[1].requests();
    let r = client::request(web, "POST", "/status/503", &[], "payload").unwrap();
    assert_eq!(r.status, 503);
    assert_eq!(
        b.list[0].requests() + b.list[1].requests() - before,
        1,
        "POST with a body is not retried"
    );
}

#[test]
fn active_health_checks_take_endpoints_out_and_back() {
    let b = Backends::start(&["a", "b"]);
    let extra = "    health_check: { path: /healthz, interval: 100ms, timeout: 500ms, healthy: 1, unhealthy: 1 }";
    let gw = gateway(&one_service(&[b.ep(0), b.ep(1)], extra));
    let web = gw.listener("web").unwrap();
    b.list[1].set_healthy(false);
    assert!(
        eventually(Duration::from_secs(5), || (0..6).all(|_| backend_of(&get(
            web,
            "/",
            &[]
        )) == "a")),
        "unhealthy endpoint still receives traffic"
    );
    b.list[1].set_healthy(true);
    assert!(
        eventually(Duration::from_secs(5), || (0..6).any(|_| backend_of(&get(
            web,
            "/",
            &[]
        )) == "b")),
        "recovered endpoint gets no traffic"
    );
}

#[test]
fn circuit_breaker_answers_503_at_once() {
    let b = Backends::start(&["a"]);
    let extra = "    circuit_breaker: { max_connections: 1 }";
    let gw = gateway(&one_service(&[b.ep(0)], extra));
    let web = gw.listener("web").unwrap();
    let slow = std::thread::spawn(move || get(web, "/delay/1500", &[]));
    std::thread::sleep(Duration::from_millis(300));
    let started = std::time::Instant::now();
    let r = get(web, "/", &[]);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered without queueing"
    );
    assert_eq!(slow.join().unwrap().status, 200);
    assert_eq!(
        get(web, "/", &[]).status,
        200,
        "connection reused after the slow one"
    );
}

#[test]
fn h2c_upstream_and_streaming_responses() {
    let b = Backends::start(&["a"]);
    let gw = gateway(&one_service(&[b.ep(0)], "    protocol: h2c"));
    let web = gw.listener("web").unwrap();
    let r = get(web, "/echo", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["version"], "HTTP/2.0", "{r:?}");
    assert_eq!(r.json()["authority"], "test.local");
    let r = get(web, "/stream/5", &[]);
    assert_eq!(r.body, "chunk\n".repeat(5));
}

#[test]
fn client_h2c_with_curl() {
    let b = Backends::start(&["a"]);
    let gw = gateway(&one_service(&[b.ep(0)], ""));
    let web = gw.listener("web").unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-H", "x-test: 1"])
        .arg(format!("http://{web}/h2"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["path"], "/h2");
    assert_eq!(v["version"], "HTTP/1.1", "h2 client to h1 upstream");
    assert!(
        v["headers"]["host"][0]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "Host from :authority"
    );
}

#[test]
fn request_bodies_stream_both_ways() {
    let b = Backends::start(&["a"]);
    let gw = gateway(&one_service(&[b.ep(0)], ""));
    let web = gw.listener("web").unwrap();
    let big = "y".repeat(1 << 20);
    let r = client::request(web, "POST", "/upload", &[], &big).unwrap();
    assert_eq!(r.json()["body_len"], 1 << 20);
    let r = get(web, "/bytes/3000000", &[]);
    assert_eq!(r.body.len(), 3_000_000);
    // Chunked request body through curl.
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "-H",
            "transfer-encoding: chunked",
            "--data-binary",
            "hello chunks",
        ])
        .arg(format!("http://{web}/c"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["body"], "hello chunks");
}

#[test]
fn passive_ejection_takes_a_failing_endpoint_out_and_lets_it_back() {
    let b = Backends::start(&["a"]);
    let dead = dead_port();
    let extra = "    outlier_detection: { consecutive_failures: 1, ejection_time: 1s, max_ejection_percent: 50 }\n    retries: { attempts: 0 }";
    let gw = gateway(&one_service(&[b.ep(0), dead], extra));
    let web = gw.listener("web").unwrap();
    let statuses: Vec<u16> = (0..10).map(|_| get(web, "/", &[]).status).collect();
    let failures = statuses.iter().filter(|s| **s == 502).count();
    assert_eq!(
        failures, 1,
        "one failure ejects the dead endpoint: {statuses:?}"
    );
    std::thread::sleep(std::time::Duration::from_millis(1200));
    let statuses: Vec<u16> = (0..4).map(|_| get(web, "/", &[]).status).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        1,
        "after the ejection time it is tried again: {statuses:?}"
    );
}

#[test]
fn connect_timeout_is_502() {
    // A listener that never accepts, with its backlog full: further SYNs are dropped, so
    // a connect hangs until the gateway's connect timeout.
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        s.set_nonblocking(true).unwrap();
        let _ = s.connect(&addr.into());
        fillers.push(s);
    }
    std::thread::sleep(std::time::Duration::from_millis(100));
    let extra = "    timeouts: { connect: 300ms }\n    retries: { attempts: 0 }";
    let gw = gateway(&one_service(&[addr.to_string()], extra));
    let started = std::time::Instant::now();
    let r = get(gw.listener("web").unwrap(), "/", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
    drop((sock, fillers));
}

#[test]
fn long_streams_use_the_idle_timeout_not_the_request_timeout() {
    let b = Backends::start(&["a"]);
    let extra = "    timeouts: { request: 500ms, idle: 300ms }";
    let gw = gateway(&one_service(&[b.ep(0)], extra));
    let web = gw.listener("web").unwrap();
    // 20 chunks 50 ms apart: 1 s in all, longer than the request timeout.
    let r = get(web, "/slowstream/20/50", &[]);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.body,
        "chunk\n".repeat(20),
        "not cut by the request timeout"
    );
    // A pause longer than the idle timeout cuts the stream.
    let r = get(web, "/slowstream/3/800", &[]);
    assert!(
        r.body.len() < "chunk\n".len() * 3,
        "stalled stream was not cut: {r:?}"
    );
}

#[test]
fn hop_by_hop_headers_are_removed_both_ways() {
    let b = Backends::start(&["a"]);
    let gw = gateway(&one_service(&[b.ep(0)], ""));
    let web = gw.listener("web").unwrap();
    let echo = get(
        web,
        "/",
        &[
            ("connection", "x-private, keep-alive"),
            ("x-private", "1"),
            ("keep-alive", "300"),
            ("proxy-connection", "x"),
            ("x-kept", "1"),
        ],
    )
    .json();
    for h in [
        "x-private",
        "keep-alive",
        "proxy-connection",
        "te",
        "upgrade",
    ] {
        assert!(echo["headers"][h].is_null(), "{h} forwarded: {echo}");
    }
    assert_eq!(echo["headers"]["x-kept"][0], "1");
    let r = get(web, "/hop", &[]);
    assert_eq!(r.header("x-hop"), None, "{r:?}");
    assert_eq!(r.header("keep-alive"), None, "{r:?}");
    assert_eq!(r.header("x-end-to-end"), Some("1"));
}

#[test]
fn h2_stream_limit_is_advertised() {
    let b = Backends::start(&["a"]);
    let cfg = one_service(&[b.ep(0)], "").replace(
        "listeners:",
        "server: { h2_max_concurrent_streams: 7 }\nlisteners:",
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let out = std::process::Command::new("nghttp")
        .args(["-nv", &format!("http://{web}/")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SETTINGS_MAX_CONCURRENT_STREAMS(0x03):7"),
        "{text}"
    );
    // And many streams on one connection all succeed through the limit.
    let out = std::process::Command::new("h2load")
        .args(["-n", "200", "-c", "1", "-m", "7", &format!("http://{web}/")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("200 succeeded"), "{text}");
}
