//! External authorization end to end, against a real HTTP authorization service on a
//! socket: admitted requests carry the service's headers upstream, denials reach the
//! client as the service wrote them, the service sees the original request, connections
//! are pooled, and an unreachable or slow service follows `on_error`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the authorization service saw and did.
#[derive(Default)]
struct Seen {
    connections: AtomicU64,
    requests: Mutex<Vec<Vec<(String, String)>>>,
}

/// A keep-alive HTTP/1.1 authorization service on its own threads:
/// - `authorization: Bearer good` → 200 with `x-user: alice` (and `x-internal: 1`);
/// - `authorization: Bearer slow` → 200 after 2 s;
/// - `x-forwarded-uri` under `/app` without a token → 302 to `/login`;
/// - otherwise → 401 with a challenge and a JSON body.
///
/// With `close`, every answer says `Connection: close` and the connection is closed.
fn auth_service(close: bool) -> (SocketAddr, Arc<Seen>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Seen::default());
    let s = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            s.connections.fetch_add(1, Ordering::Relaxed);
            let s = s.clone();
            std::thread::spawn(move || serve(conn, &s, close));
        }
    });
    (addr, seen)
}

fn serve(conn: TcpStream, seen: &Seen, close: bool) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k == n)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        let (auth, uri) = (get("authorization"), get("x-forwarded-uri"));
        seen.requests.lock().unwrap().push(headers);
        let conn_header = if close { "connection: close\r\n" } else { "" };
        let answer = if auth == "Bearer good" || auth == "Bearer slow" {
            if auth == "Bearer slow" {
                std::thread::sleep(Duration::from_secs(2));
            }
            format!(
                "HTTP/1.1 200 OK\r\nx-user: alice\r\nx-internal: 1\r\n{conn_header}content-length: 0\r\n\r\n"
            )
        } else if uri.starts_with("/app") {
            format!(
                "HTTP/1.1 302 Found\r\nlocation: /login\r\n{conn_header}content-length: 0\r\n\r\n"
            )
        } else {
            let body = r#"{"error":"who are you"}"#;
            format!(
                "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Custom realm=\"corp\"\r\ncontent-type: application/json\r\n{conn_header}content-length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        if out.write_all(answer.as_bytes()).is_err() || close {
            return;
        }
    }
}

fn config(b: &Backends, auth: &str, on_error: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
routes:
  - name: guarded
    policies:
      ext_auth:
        url: "http://{auth}/check"
        headers_to_upstream: [x-user]
        timeout: 500ms
        on_error: {on_error}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0)
    )
}

fn seen_upstream(r: &Reply, name: &str) -> Option<String> {
    r.json()["headers"][name][0].as_str().map(str::to_owned)
}

#[test]
fn the_service_decides_and_its_headers_go_upstream() {
    let b = Backends::start(&["app"]);
    let (auth, seen) = auth_service(false);
    let gw = gateway(&config(&b, &auth.to_string(), "deny"));
    let web = gw.listener("web").unwrap();

    let r = get(
        web,
        "/orders/7?x=1",
        &[
            ("authorization", "Bearer good"),
            ("x-user", "mallory"),
            ("host", "shop.example"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        seen_upstream(&r, "x-user").as_deref(),
        Some("alice"),
        "not the forged one"
    );
    assert_eq!(
        seen_upstream(&r, "x-internal"),
        None,
        "only headers_to_upstream"
    );
    {
        let asked = seen.requests.lock().unwrap();
        let last = asked.last().unwrap();
        let get = |n: &str| last.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("x-forwarded-method"), Some("GET"));
        assert_eq!(get("x-forwarded-uri"), Some("/orders/7?x=1"));
        assert_eq!(get("x-forwarded-host"), Some("shop.example"));
        assert_eq!(get("x-forwarded-proto"), Some("http"));
        assert_eq!(get("authorization"), Some("Bearer good"));
    }

    // A denial is the service's own answer.
    let r = get(web, "/orders/7", &[]);
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Custom realm=\"corp\""));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, r#"{"error":"who are you"}"#);
    let r = get(web, "/app/home", &[]);
    assert_eq!(r.status, 302);
    assert_eq!(r.header("location"), Some("/login"));

    // Checks reuse pooled connections.
    for _ in 0..20 {
        let r = get(web, "/orders/1", &[("authorization", "Bearer good")]);
        assert_eq!(r.status, 200);
    }
    let conns = seen.connections.load(Ordering::Relaxed);
    assert!(conns <= 3, "{conns} connections for 23 checks");
}

#[test]
fn a_service_that_closes_its_connections_is_asked_on_new_ones() {
    let b = Backends::start(&["app"]);
    let (auth, seen) = auth_service(true);
    let gw = gateway(&config(&b, &auth.to_string(), "deny"));
    let web = gw.listener("web").unwrap();
    for _ in 0..10 {
        let r = get(web, "/x", &[("authorization", "Bearer good")]);
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(seen.requests.lock().unwrap().len(), 10);
    assert_eq!(seen.connections.load(Ordering::Relaxed), 10);
}

#[test]
fn an_unreachable_or_slow_service_follows_on_error() {
    let b = Backends::start(&["app"]);
    let dead = dead_port();
    let deny = gateway(&config(&b, &dead, "deny"));
    let r = get(
        deny.listener("web").unwrap(),
        "/x",
        &[("authorization", "Bearer good")],
    );
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["message"], "authorization service unavailable");

    let allow = gateway(&config(&b, &dead, "allow"));
    let r = get(allow.listener("web").unwrap(), "/x", &[]);
    assert_eq!(r.status, 200, "{}", r.body);

    // Slow: answered within the timeout's reach, not the service's 2 s.
    let (auth, _seen) = auth_service(false);
    let gw = gateway(&config(&b, &auth.to_string(), "deny"));
    let start = Instant::now();
    let r = get(
        gw.listener("web").unwrap(),
        "/x",
        &[("authorization", "Bearer slow")],
    );
    assert_eq!(r.status, 503);
    assert!(
        start.elapsed() < Duration::from_millis(1900),
        "{:?}",
        start.elapsed()
    );
}
