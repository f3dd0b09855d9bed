//! Framing defences: smuggling-shaped and malformed requests are answered with a JSON 4xx
//! and never reach the upstream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

struct World {
    b: Backends,
    gw: Gateway,
}

fn world() -> World {
    let b = Backends::start(&["a"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
server: {{ header_read_timeout: 1s, body_read_timeout: 1s }}
services: [{{ name: s, endpoints: ["{}"] }}]
routes: [{{ name: all, backends: [{{ service: s }}] }}]
"#,
        b.ep(0)
    );
    World {
        gw: gateway(&cfg),
        b,
    }
}

fn status_of(raw_reply: &str) -> u16 {
    client::parse(raw_reply).map_or(0, |r| r.status)
}

fn send(w: &World, bytes: &str) -> String {
    client::raw(
        w.gw.listener("web").unwrap(),
        bytes.as_bytes(),
        Duration::from_secs(5),
    )
    .unwrap()
}

fn assert_refused(w: &World, bytes: &str, status: u16, what: &str) {
    let before = w.b.list[0].requests();
    let reply = send(w, bytes);
    assert_eq!(status_of(&reply), status, "{what}: {reply:?}");
    let r = client::parse(&reply).unwrap();
    assert!(
        r.json()["message"].is_string(),
        "{what}: JSON body: {reply:?}"
    );
    assert!(
        r.json()["request_id"].is_string(),
        "{what}: request id: {reply:?}"
    );
    assert_eq!(
        w.b.list[0].requests(),
        before,
        "{what}: must not reach the upstream"
    );
}

#[test]
fn smuggling_shapes_are_refused() {
    let w = world();
    assert_refused(
        &w,
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "CL+TE",
    );
    assert_refused(
        &w,
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        "conflicting CL",
    );
    assert_refused(
        &w,
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!",
        400,
        "CL list",
    );
    assert_refused(
        &w,
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked2\r\n\r\n",
        501,
        "unknown coding",
    );
    assert_refused(
        &w,
        "GET / HTTP/1.1\r\nHost: a\r\nX-Folded: a\r\n b\r\n\r\n",
        400,
        "obs-fold",
    );
    assert_refused(&w, "GET / HTTP/1.1\r\n\r\n", 400, "missing Host");
    assert_refused(
        &w,
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
        "two Hosts",
    );
    assert_refused(
        &w,
        "GET / HTTP/1.1\r\nHost: a\r\nBad\x01Name: x\r\n\r\n",
        400,
        "invalid header name bytes",
    );
    assert_refused(
        &w,
        "GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        400,
        "NUL in value",
    );
}

#[test]
fn malformed_chunk_sizes_are_400_not_502() {
    let w = world();
    let reply = send(
        &w,
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 400, "{reply:?}");
    let r = client::parse(&reply).unwrap();
    assert!(r.json()["message"].is_string(), "{reply:?}");
}

#[test]
fn oversized_heads_are_431_even_when_split_across_writes() {
    let w = world();
    let web = w.gw.listener("web").unwrap();
    let mut s = TcpStream::connect(web).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let line = format!("X-Pad: {}\r\n", "p".repeat(500));
    let mut refused_early = false;
    for _ in 0..60 {
        // 60 × ~510 bytes = ~30 KiB, more than the 16 KiB limit; the head never ends.
        if s.write_all(line.as_bytes()).is_err() {
            refused_early = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(status_of(&out), 431, "early={refused_early} {out:?}");
    assert!(out.contains("request_id"), "{out:?}");

    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let reply = send(&w, &format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n"));
    assert_eq!(status_of(&reply), 431, "too many header lines: {reply:?}");
}

#[test]
fn slow_heads_time_out_with_408() {
    let w = world();
    let web = w.gw.listener("web").unwrap();
    let mut s = TcpStream::connect(web).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(status_of(&out), 408, "{out:?}");
}

#[test]
fn pipelined_requests_are_each_inspected() {
    let w = world();
    let reply = send(
        &w,
        "GET /one HTTP/1.1\r\nHost: a\r\n\r\nGET /two HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert!(
        reply.starts_with("HTTP/1.1 200"),
        "first request served: {reply:?}"
    );
    assert!(reply.contains("HTTP/1.1 400"), "second refused: {reply:?}");
    assert_eq!(w.b.list[0].requests(), 1);
}

#[test]
fn connection_limit_answers_503() {
    let b = Backends::start(&["a"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
server: {{ max_connections: 2 }}
services: [{{ name: s, endpoints: ["{}"] }}]
routes: [{{ name: all, backends: [{{ service: s }}] }}]
"#,
        b.ep(0)
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let _c1 = TcpStream::connect(web).unwrap();
    let _c2 = TcpStream::connect(web).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let reply = client::raw(
        web,
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        Duration::from_secs(3),
    )
    .unwrap();
    assert_eq!(status_of(&reply), 503, "{reply:?}");
    drop((_c1, _c2));
    assert!(eventually(Duration::from_secs(3), || get(web, "/", &[])
        .status
        == 200));
}

#[test]
fn running_out_of_file_descriptors_is_survived() {
    let b = Backends::start(&["a"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services: [{{ name: s, endpoints: ["{}"] }}]
routes: [{{ name: all, backends: [{{ service: s }}] }}]
"#,
        b.ep(0)
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let pid = gw.pid().unwrap();
    // Lower the running gateway's descriptor limit so a few hundred connections exhaust it.
    let ok = std::process::Command::new("prlimit")
        .args(["--nofile=96:96", "--pid", &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "prlimit failed");
    let mut held = Vec::new();
    for _ in 0..200 {
        match TcpStream::connect(web) {
            Ok(s) => held.push(s),
            Err(_) => break,
        }
    }
    assert!(
        eventually(Duration::from_secs(5), || gw.count_log("accept failed") > 0),
        "descriptors were never exhausted ({} connections held):\n{}",
        held.len(),
        gw.log()
    );
    drop(held);
    assert!(
        eventually(Duration::from_secs(5), || client::get(web, "/")
            .is_ok_and(|r| r.status == 200)),
        "gateway did not recover after descriptors were freed:\n{}",
        gw.log()
    );
    assert!(gw.pid().is_some());
}

#[test]
fn slow_bodies_time_out_with_408_and_idle_connections_close() {
    let w = world();
    let web = w.gw.listener("web").unwrap();
    let mut s = TcpStream::connect(web).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert_eq!(status_of(&out), 408, "{out:?}");
}

#[test]
fn idle_keep_alive_connections_are_closed() {
    let b = Backends::start(&["a"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
server: {{ idle_timeout: 300ms }}
services: [{{ name: s, endpoints: ["{}"] }}]
routes: [{{ name: all, backends: [{{ service: s }}] }}]
"#,
        b.ep(0)
    );
    let gw = gateway(&cfg);
    let mut s = TcpStream::connect(gw.listener("web").unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let started = std::time::Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(3),
        "closed after {waited:?}"
    );
}

#[test]
fn http2_rapid_reset_floods_are_cut_off() {
    let b = Backends::start(&["a"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services: [{{ name: s, endpoints: ["{}"] }}]
routes: [{{ name: all, backends: [{{ service: s }}] }}]
"#,
        b.ep(0)
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let outcome = b.rt.block_on(async move {
        let tcp = tokio::net::TcpStream::connect(web).await.unwrap();
        let (mut client, conn) = h2::client::handshake(tcp).await.unwrap();
        let conn = tokio::spawn(conn);
        let mut sent = 0;
        for _ in 0..20_000 {
            let req = http::Request::get(format!("http://{web}/delay/1000"))
                .body(())
                .unwrap();
            let Ok((_resp, mut stream)) = client.send_request(req, false) else {
                break;
            };
            stream.send_reset(h2::Reason::CANCEL);
            sent += 1;
            if sent % 100 == 0 {
                tokio::task::yield_now().await;
            }
            if conn.is_finished() {
                break;
            }
        }
        let ended = tokio::time::timeout(Duration::from_secs(5), conn).await;
        (sent, ended)
    });
    let (sent, ended) = outcome;
    let ended = ended.expect("the gateway must end a rapid-reset connection");
    let err = ended
        .unwrap()
        .expect_err("the connection ends with an error, not cleanly");
    // The gateway sends GOAWAY and closes; the client sees either the GOAWAY or, when it
    // is still writing, the closed socket.
    assert!(
        sent < 20_000,
        "flood of {sent} resets was never cut off ({err:?})"
    );
    // Other clients are unaffected.
    assert_eq!(get(web, "/", &[]).status, 200);
}
