//! gRPC end to end: a tonic client and a tonic-built h2c backend (raw-bytes messages, no
//! protoc) with the real gateway between them. Calls pass through unchanged, and errors
//! the gateway makes itself reach gRPC clients as gRPC statuses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use tollgate_test_support::grpc::tonic::transport::Channel;
use tollgate_test_support::grpc::tonic::{Code, Request, Status};
use tollgate_test_support::grpc::{self, BACKEND_UNIMPLEMENTED, GrpcEcho};

/// The echo backend on a runtime that the test's client code runs on too.
struct Peers {
    rt: tokio::runtime::Runtime,
    echo: GrpcEcho,
}

impl Peers {
    fn start() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let echo = rt.block_on(GrpcEcho::start()).unwrap();
        Self { rt, echo }
    }

    fn channel(&self, gw: SocketAddr) -> Channel {
        self.rt.block_on(grpc::channel(gw)).unwrap()
    }
}

/// Only `/test.Echo/…` is routed. Metadata `x-route` picks a variant: `slow` has a 300 ms
/// route timeout, `dead` goes to a port nothing listens on, `idle` to a service with a
/// 300 ms idle timeout.
fn config(p: &Peers) -> String {
    format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - {{ name: grpc, endpoints: ["{ep}"], protocol: h2c }}
  - {{ name: grpc-idle, endpoints: ["{ep}"], protocol: h2c, timeouts: {{ idle: 300ms }} }}
  - {{ name: dead, endpoints: ["{dead}"], protocol: h2c }}
routes:
  - name: echo
    match: {{ path: {{ prefix: /test.Echo }} }}
    backends: [{{ service: grpc }}]
  - name: slow
    match: {{ path: {{ prefix: /test.Echo }}, headers: [{{ name: x-route, value: slow }}] }}
    timeout: 300ms
    backends: [{{ service: grpc }}]
  - name: dead
    match: {{ path: {{ prefix: /test.Echo }}, headers: [{{ name: x-route, value: dead }}] }}
    backends: [{{ service: dead }}]
  - name: idle
    match: {{ path: {{ prefix: /test.Echo }}, headers: [{{ name: x-route, value: idle }}] }}
    backends: [{{ service: grpc-idle }}]
"#,
        ep = p.echo.endpoint(),
        dead = dead_port(),
    )
}

fn req(message: &'static [u8], metadata: &[(&'static str, &'static str)]) -> Request<Bytes> {
    let mut r = Request::new(Bytes::from_static(message));
    for (k, v) in metadata {
        r.metadata_mut().insert(*k, v.parse().unwrap());
    }
    r
}

fn md(m: &tollgate_test_support::grpc::tonic::metadata::MetadataMap, key: &str) -> String {
    m.get(key)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no {key} in {m:?}"))
}

#[test]
fn unary_call_carries_message_metadata_and_trailers() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let ch = p.channel(web);

    let res =
        p.rt.block_on(grpc::unary(
            &ch,
            "/test.Echo/Unary",
            req(b"hello grpc", &[("x-in", "abc")]),
        ))
        .unwrap_or_else(|s| panic!("unary call failed: {s:?}"));
    let m = res.metadata().clone();
    assert_eq!(res.into_inner(), Bytes::from_static(b"hello grpc"));
    assert_eq!(md(&m, "x-header"), "yes");
    assert_eq!(
        md(&m, "x-in-echo"),
        "abc",
        "request metadata reached the backend"
    );
    assert_eq!(
        md(&m, "x-trailer"),
        "yes",
        "trailing metadata reached the client"
    );
    assert_eq!(md(&m, "grpc-status"), "0");
    assert!(m.get("x-request-id").is_some(), "{m:?}");

    // A larger message (256 KiB, many DATA frames each way).
    let big: Vec<u8> = (0..256 * 1024).map(|i| (i % 253) as u8).collect();
    let res =
        p.rt.block_on(grpc::unary(
            &ch,
            "/test.Echo/Unary",
            Request::new(Bytes::from(big.clone())),
        ))
        .unwrap();
    assert_eq!(res.into_inner(), Bytes::from(big));

    // On the wire: the head has no status, the trailers frame has it and the custom one.
    let raw =
        p.rt.block_on(grpc::raw_call(web, "/test.Echo/Unary", b"raw", &[]))
            .unwrap();
    assert_eq!(raw.status, 200);
    assert!(
        raw.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/grpc"),
        "{raw:?}"
    );
    assert!(!raw.headers.contains_key("grpc-status"), "{raw:?}");
    assert_eq!(raw.headers["x-header"], "yes");
    assert_eq!(raw.messages(), vec![Bytes::from_static(b"raw")]);
    let trailers = raw.trailers.as_ref().expect("a trailers frame");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-trailer"], "yes");

    // The backend saw gRPC requests as a gRPC server expects them.
    let calls = p.echo.calls();
    assert_eq!(calls.len(), 3);
    for c in &calls {
        assert_eq!(c.path, "/test.Echo/Unary");
        assert_eq!(c.headers["te"], "trailers", "{:?}", c.headers);
        assert!(
            c.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/grpc")
        );
    }
}

#[test]
fn server_streaming_arrives_in_order_and_ends_ok() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let ch = p.channel(web);
    p.rt.block_on(async {
        let res = grpc::server_streaming(&ch, "/test.Echo/Stream", req(b"20", &[]))
            .await
            .unwrap_or_else(|s| panic!("stream call failed: {s:?}"));
        let mut stream = res.into_inner();
        let mut got = Vec::new();
        while let Some(m) = stream.message().await.unwrap() {
            got.push(String::from_utf8(m.to_vec()).unwrap());
        }
        let want: Vec<String> = (0..20).map(|i| format!("msg-{i}")).collect();
        assert_eq!(got, want);
        let trailers = stream.trailers().await.unwrap().expect("trailers");
        assert_eq!(md(&trailers, "grpc-status"), "0");
        assert_eq!(md(&trailers, "x-trailer"), "yes");

        // Messages are streamed as they come, not buffered until the end: 5 messages
        // 150 ms apart; the first arrives long before the last is sent.
        let start = Instant::now();
        let res =
            grpc::server_streaming(&ch, "/test.Echo/Stream", req(b"5", &[("x-gap-ms", "150")]))
                .await
                .unwrap();
        let mut stream = res.into_inner();
        assert_eq!(stream.message().await.unwrap().unwrap(), "msg-0");
        let first = start.elapsed();
        let mut n = 1;
        while stream.message().await.unwrap().is_some() {
            n += 1;
        }
        let all = start.elapsed();
        assert_eq!(n, 5);
        assert!(
            first < Duration::from_millis(400) && all >= Duration::from_millis(550),
            "first after {first:?}, all after {all:?}"
        );
    });
}

#[test]
fn backend_statuses_pass_through_unchanged() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let ch = p.channel(web);
    p.rt.block_on(async {
        let s = grpc::unary(&ch, "/test.Echo/Fail", req(b"x", &[]))
            .await
            .expect_err("the backend answers NOT_FOUND");
        assert_eq!(s.code(), Code::NotFound, "{s:?}");
        assert_eq!(s.message(), "x");
        assert_eq!(md(s.metadata(), "x-detail"), "missing");

        let s = grpc::unary(&ch, "/test.Echo/Fail", req(b"no such order: 42 %", &[]))
            .await
            .expect_err("NOT_FOUND");
        assert_eq!(s.code(), Code::NotFound);
        assert_eq!(s.message(), "no such order: 42 %");

        // The backend's own UNIMPLEMENTED for a method it lacks (routed: /test.Echo/…).
        let s = grpc::unary(&ch, "/test.Echo/Missing", req(b"", &[]))
            .await
            .expect_err("UNIMPLEMENTED");
        assert_eq!(s.code(), Code::Unimplemented);
        assert_eq!(s.message(), BACKEND_UNIMPLEMENTED);

        // The channel is still good.
        let ok = grpc::unary(&ch, "/test.Echo/Unary", req(b"ok", &[])).await;
        assert_eq!(ok.unwrap().into_inner(), "ok");
    });
    assert_eq!(p.echo.count(), 4);
}

fn assert_gateway_status(s: &Status, code: Code, message: &str) {
    assert_eq!(s.code(), code, "{s:?}");
    assert!(
        s.message().starts_with(message) && s.message().contains("request id"),
        "{s:?}"
    );
    assert!(s.metadata().get("x-request-id").is_some(), "{s:?}");
}

#[test]
fn gateway_errors_are_grpc_statuses() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let ch = p.channel(web);
    p.rt.block_on(async {
        // No route: UNIMPLEMENTED, answered by the gateway (the backend never sees it).
        let s = grpc::unary(&ch, "/other.Svc/M", req(b"?", &[]))
            .await
            .expect_err("no route");
        assert_gateway_status(&s, Code::Unimplemented, "no route matched");
        assert_eq!(p.echo.count(), 0);

        // Nothing listens: UNAVAILABLE.
        let s = grpc::unary(&ch, "/test.Echo/Unary", req(b"?", &[("x-route", "dead")]))
            .await
            .expect_err("dead backend");
        assert_gateway_status(&s, Code::Unavailable, "upstream connect failed");

        // Slower than the route timeout: DEADLINE_EXCEEDED, after the route's 300 ms.
        let start = Instant::now();
        let s = grpc::unary(
            &ch,
            "/test.Echo/Unary",
            req(b"?", &[("x-route", "slow"), ("x-delay-ms", "3000")]),
        )
        .await
        .expect_err("slow backend");
        let took = start.elapsed();
        assert_gateway_status(&s, Code::DeadlineExceeded, "upstream request timed out");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(p.echo.count(), 1, "the slow call reached the backend once");

        // The same connection keeps working after each error.
        let ok = grpc::unary(&ch, "/test.Echo/Unary", req(b"after", &[])).await;
        assert_eq!(ok.unwrap().into_inner(), "after");

        // Server streaming sees the same statuses.
        let s = grpc::server_streaming(&ch, "/other.Svc/Stream", req(b"3", &[]))
            .await
            .expect_err("no route");
        assert_eq!(s.code(), Code::Unimplemented, "{s:?}");
    });

    // On the wire: trailers-only (HTTP 200, status in the head, no body, no trailers).
    let raw =
        p.rt.block_on(grpc::raw_call(web, "/other.Svc/M", b"?", &[]))
            .unwrap();
    assert_eq!(raw.status, 200, "{raw:?}");
    assert_eq!(raw.headers["grpc-status"], "12", "{raw:?}");
    assert_eq!(raw.headers["content-type"], "application/grpc");
    assert!(
        raw.headers["grpc-message"]
            .to_str()
            .unwrap()
            .starts_with("no route matched"),
        "{raw:?}"
    );
    assert!(raw.body.is_empty(), "{raw:?}");
    assert!(raw.trailers.is_none(), "{raw:?}");
}

#[test]
fn a_stream_stalled_past_the_idle_timeout_does_not_end_ok() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let ch = p.channel(web);
    p.rt.block_on(async {
        // 3 messages 1 s apart through a service whose idle timeout is 300 ms.
        let res = grpc::server_streaming(
            &ch,
            "/test.Echo/Stream",
            req(b"3", &[("x-route", "idle"), ("x-gap-ms", "1000")]),
        )
        .await
        .unwrap();
        let mut stream = res.into_inner();
        assert_eq!(stream.message().await.unwrap().unwrap(), "msg-0");
        let start = Instant::now();
        let end = stream.message().await;
        let took = start.elapsed();
        let status = end.expect_err("a cut stream must not look complete");
        assert_ne!(status.code(), Code::Ok, "{status:?}");
        assert!(took < Duration::from_millis(900), "{took:?}");
    });
}

#[test]
fn curl_sees_a_trailers_only_grpc_error_not_json() {
    let p = Peers::start();
    let gw = gateway(&config(&p));
    let web = gw.listener("web").unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "--http2-prior-knowledge",
            "-sS",
            "-D",
            "-",
            "-H",
            "content-type: application/grpc",
            "-X",
            "POST",
            &format!("http://{web}/nope"),
        ])
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (head, body) = text.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/2 200"), "{text}");
    let lines: Vec<String> = head.lines().map(str::to_ascii_lowercase).collect();
    assert!(lines.iter().any(|l| l == "grpc-status: 12"), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("content-type: application/grpc")),
        "{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("grpc-message: no route matched")),
        "{text}"
    );
    assert!(body.is_empty(), "body {body:?}");
    assert!(!text.contains("application/json"), "{text}");

    // Without the gRPC content type the same request gets the JSON error.
    let out = std::process::Command::new("curl")
        .args([
            "--http2-prior-knowledge",
            "-sS",
            "-X",
            "POST",
            &format!("http://{web}/nope"),
        ])
        .output()
        .expect("curl runs");
    let body = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
    assert_eq!(v["message"], "no route matched");
}

#[test]
fn over_the_connection_limit_a_grpc_client_gets_unavailable() {
    let p = Peers::start();
    let cfg = format!("server: {{ max_connections: 1 }}\n{}", config(&p));
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    // One client connection that sends nothing holds the only place.
    let _hold = std::net::TcpStream::connect(web).unwrap();
    assert!(eventually(Duration::from_secs(5), || admin(
        &gw, "/metrics"
    )
    .body
    .contains("\ntollgate_active_connections 1\n")));
    let s = p.rt.block_on(async {
        let ch = grpc::channel(web)
            .await
            .expect("the h2 connection opens; the call is what is refused");
        grpc::unary(&ch, "/test.Echo/Unary", req(b"?", &[]))
            .await
            .expect_err("over the limit")
    });
    assert_eq!(s.code(), Code::Unavailable, "{s:?}");
    assert_eq!(p.echo.count(), 0);
}
