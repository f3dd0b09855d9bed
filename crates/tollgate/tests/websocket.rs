//! WebSocket upgrades end to end: a real tokio-tungstenite client and echo server with the
//! real gateway between them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use tollgate_test_support::ws::tokio_tungstenite::tungstenite::{self, Message};
use tollgate_test_support::ws::{REFUSED_BODY, WsEcho, tokio_tungstenite};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain echo backend (`Backends`, whose runtime the WebSocket echo server shares too).
struct Peers {
    b: Backends,
    ws: WsEcho,
}

impl Peers {
    fn start() -> Self {
        let b = Backends::start(&["plain"]);
        let ws = b.rt.block_on(WsEcho::start()).unwrap();
        Self { b, ws }
    }

    fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.b.rt.block_on(f)
    }
}

/// `/ws…` and `/refuse…` go to the WebSocket echo server (`ws_extra` is added to its
/// service), everything else to the plain echo backend.
fn config(p: &Peers, ws_extra: &str, head: &str, more_routes: &str) -> String {
    format!(
        r#"
{head}
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - name: ws
    endpoints: ["{ws}"]
    protocol: http
{ws_extra}
  - name: plain
    endpoints: ["{plain}"]
routes:
  - name: ws
    match: {{ path: {{ prefix: /ws }} }}
    backends: [{{ service: ws }}]
  - name: refuse
    match: {{ path: {{ prefix: /refuse }} }}
    backends: [{{ service: ws }}]
{more_routes}
  - name: plain
    backends: [{{ service: plain }}]
"#,
        ws = p.ws.endpoint(),
        plain = p.b.ep(0),
    )
}

async fn connect(web: SocketAddr, target: &str) -> (Ws, tungstenite::handshake::client::Response) {
    tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(format!("ws://{web}{target}")),
    )
    .await
    .expect("handshake timed out")
    .unwrap_or_else(|e| panic!("handshake through the gateway failed: {e}"))
}

/// The next message that is not a ping/pong, or `None` when the socket ended (close frame,
/// EOF or reset). Panics when nothing happens within `within`.
async fn next_event(ws: &mut Ws, within: Duration) -> Option<Message> {
    loop {
        match tokio::time::timeout(within, ws.next())
            .await
            .expect("no message and no close in time")
        {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return None,
            Some(Ok(m)) => return Some(m),
        }
    }
}

/// Sends `msg` and expects it back unchanged.
async fn echo(ws: &mut Ws, msg: Message) {
    ws.send(msg.clone()).await.expect("send");
    let back = next_event(ws, Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("socket ended instead of echoing {msg:?}"));
    assert_eq!(back, msg);
}

/// Closes from the client side and waits for the close handshake to finish.
async fn close(mut ws: Ws) {
    ws.close(None).await.expect("close");
    assert!(
        next_event(&mut ws, Duration::from_secs(5)).await.is_none(),
        "data after close"
    );
}

#[test]
fn text_and_binary_messages_are_echoed_through_the_gateway() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "", "", ""));
    let web = gw.listener("web").unwrap();
    p.block_on(async {
        let (mut ws, res) = connect(web, "/ws/chat?room=1").await;
        assert_eq!(res.status(), 101);
        let h = res.headers();
        assert!(
            h["upgrade"].as_bytes().eq_ignore_ascii_case(b"websocket"),
            "{h:?}"
        );
        assert!(
            h["connection"]
                .to_str()
                .unwrap()
                .to_ascii_lowercase()
                .contains("upgrade"),
            "{h:?}"
        );
        assert!(h.contains_key("sec-websocket-accept"), "{h:?}");
        assert!(h.contains_key("x-request-id"), "{h:?}");

        echo(&mut ws, Message::text("hello")).await;
        echo(&mut ws, Message::binary(vec![0u8, 1, 2, 254, 255])).await;
        echo(&mut ws, Message::text("ünïcödé ✓")).await;
        close(ws).await;
    });

    let seen = p.ws.handshakes();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/ws/chat?room=1");
    let h = &seen[0].headers;
    assert!(h["upgrade"].as_bytes().eq_ignore_ascii_case(b"websocket"));
    assert!(h.contains_key("sec-websocket-key"), "{h:?}");
    assert_eq!(h["sec-websocket-version"], "13");
    assert!(h.contains_key("x-forwarded-for"), "{h:?}");
    assert!(h.contains_key("x-request-id"), "{h:?}");
    assert_eq!(p.ws.messages(), 3);
    assert!(
        eventually(Duration::from_secs(5), || p.ws.closed() == 1),
        "the backend saw the close"
    );
}

#[test]
fn many_messages_both_ways_and_a_one_mebibyte_message() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "", "", ""));
    let web = gw.listener("web").unwrap();
    p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        // Ping-pong: 200 round trips.
        for i in 0..200 {
            echo(&mut ws, Message::text(format!("ping {i}"))).await;
        }
        // A burst: 200 messages written before any is read back; order is kept.
        for i in 0..200 {
            ws.feed(Message::binary(format!("burst {i}").into_bytes()))
                .await
                .unwrap();
        }
        ws.flush().await.unwrap();
        for i in 0..200 {
            let m = next_event(&mut ws, Duration::from_secs(10)).await.unwrap();
            assert_eq!(m.into_data(), format!("burst {i}").into_bytes());
        }
        // 1 MiB in one message, a pattern that shows reordering or loss.
        let big: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
        echo(&mut ws, Message::binary(big)).await;
        close(ws).await;
    });
    assert_eq!(p.ws.messages(), 401);
    assert_eq!(p.ws.upgraded(), 1);
}

#[test]
fn an_upgraded_connection_survives_an_unrelated_reload() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "", "", ""));
    let web = gw.listener("web").unwrap();
    let mut ws = p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("before")).await;
        ws
    });
    assert_eq!(get(web, "/added/1", &[]).json()["path"], "/added/1");

    let added = "  - name: added\n    match: { path: { prefix: /added } }\n    filters: { strip_prefix: true }\n    backends: [{ service: plain }]";
    gw.write_config("tollgate.yaml", &config(&p, "", "", added))
        .unwrap();
    gw.wait_for_log("configuration reloaded", Duration::from_secs(10))
        .unwrap();
    // The reload took effect for new requests...
    let r = get(web, "/added/1", &[]);
    assert_eq!(r.json()["path"], "/1", "{r:?}");

    // ...and the socket opened before it still works.
    p.block_on(async {
        for i in 0..20 {
            echo(&mut ws, Message::text(format!("after {i}"))).await;
        }
        echo(&mut ws, Message::binary(vec![7u8; 64 * 1024])).await;
        close(ws).await;
    });
    assert_eq!(p.ws.upgraded(), 1, "the same socket, no reconnect");
    assert_eq!(p.ws.messages(), 22);
}

#[test]
fn idle_upgraded_connections_are_closed_and_busy_ones_are_not() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "    timeouts: { idle: 500ms }", "", ""));
    let web = gw.listener("web").unwrap();
    p.block_on(async {
        let (mut idle, _) = connect(web, "/ws/idle").await;
        let (mut busy, _) = connect(web, "/ws/busy").await;
        echo(&mut idle, Message::text("one")).await;

        let idle_side = async {
            let quiet_since = Instant::now();
            let ended = next_event(&mut idle, Duration::from_secs(5)).await;
            assert!(ended.is_none(), "idle socket got {ended:?}");
            quiet_since.elapsed()
        };
        let busy_side = async {
            let start = Instant::now();
            let mut i = 0;
            while start.elapsed() < Duration::from_millis(1500) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                echo(&mut busy, Message::text(format!("tick {i}"))).await;
                i += 1;
            }
            i
        };
        let (idle_for, ticks) = tokio::join!(idle_side, busy_side);
        assert!(
            idle_for >= Duration::from_millis(400),
            "closed too early: {idle_for:?}"
        );
        assert!(
            idle_for < Duration::from_secs(3),
            "closed too late: {idle_for:?}"
        );
        assert!(ticks >= 10, "{ticks} ticks");
        // 1.5 s of traffic 100 ms apart, three times the idle timeout: still open.
        echo(&mut busy, Message::text("still here")).await;
        close(busy).await;
    });
    // The gateway closed the upstream side of the idle tunnel too.
    assert!(
        eventually(Duration::from_secs(5), || p.ws.closed() == 2),
        "backend connections ended: {}",
        p.ws.closed()
    );
}

const DRAIN: &str = "server: { shutdown_delay: 0s, shutdown_grace: 2s }";

#[test]
fn shutdown_waits_for_an_open_websocket_until_it_closes() {
    let p = Peers::start();
    let mut gw = gateway(&config(&p, "", DRAIN, ""));
    let web = gw.listener("web").unwrap();
    let mut ws = p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("before")).await;
        ws
    });

    gw.signal("TERM").unwrap();
    let term = Instant::now();
    gw.wait_for_log("shutting down", Duration::from_secs(5))
        .unwrap();
    assert!(
        gw.wait_exit(Duration::from_millis(400)).is_err(),
        "exited with a WebSocket open"
    );
    assert!(
        eventually(Duration::from_secs(2), || std::net::TcpStream::connect(web)
            .is_err()),
        "still accepting new connections while draining"
    );
    p.block_on(async {
        // The tunnel keeps working during the drain.
        echo(&mut ws, Message::text("during drain")).await;
        close(ws).await;
    });
    let code = gw.wait_exit(Duration::from_secs(5)).unwrap();
    let took = term.elapsed();
    assert_eq!(code, Some(0), "{}", gw.log());
    assert!(
        took < Duration::from_millis(1800),
        "exit took {took:?}: it waited for the grace period, not for the socket"
    );
    assert!(!gw.log().contains("grace period over"), "{}", gw.log());
}

#[test]
fn shutdown_ends_an_open_websocket_when_the_grace_period_is_over() {
    let p = Peers::start();
    let mut gw = gateway(&config(&p, "", DRAIN, ""));
    let web = gw.listener("web").unwrap();
    let mut ws = p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("before")).await;
        ws
    });

    gw.signal("TERM").unwrap();
    let term = Instant::now();
    let code = gw.wait_exit(Duration::from_secs(10)).unwrap();
    let took = term.elapsed();
    assert_eq!(code, Some(0), "{}", gw.log());
    assert!(
        took >= Duration::from_millis(1800),
        "exited after {took:?}, before the 2 s grace period was over"
    );
    assert!(
        took < Duration::from_secs(6),
        "exited after {took:?}, long after the grace period"
    );
    assert!(gw.log().contains("grace period over"), "{}", gw.log());
    p.block_on(async {
        assert!(
            next_event(&mut ws, Duration::from_secs(5)).await.is_none(),
            "socket still open after the gateway exited"
        );
    });
}

#[test]
fn a_refused_upgrade_returns_the_backend_answer_and_the_gateway_keeps_serving() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "", "", ""));
    let web = gw.listener("web").unwrap();
    p.block_on(async {
        let err = tokio_tungstenite::connect_async(format!("ws://{web}/refuse/here"))
            .await
            .expect_err("a refused upgrade must not become a WebSocket");
        let tungstenite::Error::Http(res) = err else {
            panic!("expected the backend's HTTP answer, got {err:?}");
        };
        assert_eq!(res.status(), 404);
        assert!(!res.headers().contains_key("upgrade"), "{res:?}");
        let body = res.body().as_deref().unwrap_or_default();
        assert_eq!(body, REFUSED_BODY.as_bytes());
    });
    let seen = p.ws.handshakes();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].target, "/refuse/here");
    assert!(
        seen[0].headers["upgrade"]
            .as_bytes()
            .eq_ignore_ascii_case(b"websocket")
    );
    assert_eq!(p.ws.upgraded(), 0);

    // New connections: plain requests and a real upgrade still work.
    for i in 0..3 {
        let r = get(web, &format!("/after/{i}"), &[]);
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["backend"], "plain");
    }
    p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("works")).await;
        close(ws).await;
    });
}

// Two proxy bugs found while writing these tests, kept as ignored tests so the fix can be
// checked with `cargo nextest run -p tollgate --test websocket --run-ignored only`.

#[test]
fn upgraded_connections_count_against_max_connections() {
    let p = Peers::start();
    let gw = gateway(&config(&p, "", "server: { max_connections: 1 }", ""));
    let web = gw.listener("web").unwrap();
    p.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("first")).await;
        let m = admin(&gw, "/metrics").body;
        assert!(m.contains("\ntollgate_active_connections 1\n"), "{m}");
        // The open WebSocket is the one connection allowed: a second one is refused.
        match tokio_tungstenite::connect_async(format!("ws://{web}/ws")).await {
            Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 503),
            Err(e) => panic!("expected a 503 answer, got {e}"),
            Ok((_, res)) => panic!(
                "second connection upgraded ({}) past max_connections 1",
                res.status()
            ),
        }
        echo(&mut ws, Message::text("still open")).await;
        close(ws).await;
    });
}

#[test]
fn the_tunnel_idle_timeout_is_the_serving_services() {
    let b = Backends::start(&[]);
    let first = b.rt.block_on(WsEcho::start()).unwrap();
    let second = b.rt.block_on(WsEcho::start()).unwrap();
    // Weight 0 makes the choice deterministic; a 50/50 split goes wrong the same way half
    // of the time.
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - {{ name: patient, endpoints: ["{a}"], timeouts: {{ idle: 300s }} }}
  - {{ name: brisk, endpoints: ["{b}"], timeouts: {{ idle: 500ms }} }}
routes:
  - {{ name: ws, backends: [{{ service: patient, weight: 0 }}, {{ service: brisk, weight: 1 }}] }}
"#,
        a = first.endpoint(),
        b = second.endpoint(),
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    b.rt.block_on(async {
        let (mut ws, _) = connect(web, "/ws").await;
        echo(&mut ws, Message::text("one")).await;
        assert_eq!(
            (first.upgraded(), second.upgraded()),
            (0, 1),
            "served by brisk"
        );
        let quiet_since = Instant::now();
        let ended = tokio::time::timeout(Duration::from_secs(4), ws.next()).await;
        let idle_for = quiet_since.elapsed();
        assert!(
            matches!(ended, Ok(None | Some(Err(_)) | Some(Ok(Message::Close(_))))),
            "brisk's 500 ms idle timeout did not close the tunnel within {idle_for:?}: {ended:?}"
        );
    });
}
