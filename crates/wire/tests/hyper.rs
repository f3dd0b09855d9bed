//! The guard in front of the real hyper 1.x HTTP/1 server, over real sockets: checks the
//! EOF / answer timing the guard relies on (hyper finishing owed responses, calling
//! `poll_shutdown`, 100-continue, upgrades) against hyper itself.
// Test helpers outside `#[test]` functions: panicking is how they fail the test.
#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONNECTION, UPGRADE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_wire::{GuardConfig, H1Guard, Responder, Violation, plain_text_responder};

type Answered = Arc<Mutex<Vec<Violation>>>;

/// The proxy's part, reduced: echo what was received; a body error becomes a 400; an
/// upgrade request is switched and echoed.
async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.headers().contains_key(UPGRADE) {
        let on_upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 64];
                while let Ok(n @ 1..) = io.read(&mut buf).await {
                    if io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        let mut response = Response::new(Full::default());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response
            .headers_mut()
            .insert(CONNECTION, "upgrade".parse().unwrap());
        response
            .headers_mut()
            .insert(UPGRADE, "echo".parse().unwrap());
        return Ok(response);
    }
    let line = format!("{} {}", req.method(), req.uri());
    Ok(match req.into_body().collect().await {
        Ok(body) => Response::new(Full::from(format!("{line} {}", body.to_bytes().len()))),
        Err(_) => {
            let mut response = Response::new(Full::from("proxy says bad body"));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            response
        }
    })
}

/// Serves one connection through the guard; records the violations it answered.
async fn server() -> (SocketAddr, Answered) {
    server_with(GuardConfig::default()).await
}

async fn server_with(config: GuardConfig) -> (SocketAddr, Answered) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answered: Answered = Arc::default();
    let record = answered.clone();
    let plain = plain_text_responder();
    let responder: Responder = Arc::new(move |v: &Violation| {
        record.lock().unwrap().push(v.clone());
        plain(v)
    });
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let guard = H1Guard::new(socket, Bytes::new(), Arc::new(config), responder);
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(guard), service_fn(handle))
            .with_upgrades()
            .await;
    });
    (addr, answered)
}

/// Sends `request` and reads until the server closes.
async fn exchange(request: &[u8]) -> (String, Vec<Violation>) {
    let (addr, answered) = server().await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(request).await.unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    let answered = answered.lock().unwrap().clone();
    (String::from_utf8(got).unwrap(), answered)
}

fn count_responses(got: &str) -> usize {
    got.matches("HTTP/1.1 ").count()
}

#[tokio::test]
async fn smuggling_shape_gets_a_clear_400_from_the_responder() {
    let (got, answered) = exchange(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.ends_with("request has both Content-Length and Transfer-Encoding\n"));
    assert_eq!(count_responses(&got), 1);
    assert_eq!(answered, [Violation::ContentLengthWithTransferEncoding]);
}

#[tokio::test]
async fn missing_host_gets_400_instead_of_200() {
    let (got, _) = exchange(b"GET / HTTP/1.1\r\n\r\n").await;
    assert!(got.starts_with("HTTP/1.1 400 "), "{got}");
    assert!(got.ends_with("HTTP/1.1 request has no Host header\n"));
}

#[tokio::test]
async fn pipelined_good_requests_are_answered_before_the_refusal() {
    let (got, answered) = exchange(
        b"GET /one HTTP/1.1\r\nHost: a\r\n\r\n\
          POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc\
          GET /three HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    )
    .await;
    let one = got.find("GET /one 0").expect("first response");
    let two = got.find("POST /two 3").expect("second response");
    let refusal = got.find("HTTP/1.1 400 ").expect("the refusal");
    assert!(one < two && two < refusal, "{got}");
    assert!(got.ends_with("request has more than one Host header\n"));
    assert_eq!(count_responses(&got), 3);
    assert_eq!(answered, [Violation::MultipleHost]);
}

#[tokio::test]
async fn malformed_chunk_is_answered_once_by_the_proxy() {
    let (got, answered) = exchange(
        b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n\r\n",
    )
    .await;
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.ends_with("proxy says bad body"), "{got}");
    assert_eq!(count_responses(&got), 1);
    assert!(
        answered.is_empty(),
        "the guard must not answer a second time"
    );
}

#[tokio::test]
async fn keep_alive_chunked_and_expect_continue_pass() {
    let (got, answered) = exchange(
        b"POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
          HEAD /b HTTP/1.1\r\nHost: a\r\n\r\n\
          PUT /c HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi\
          GET /d HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(got.contains("POST /a 3"), "{got}");
    assert!(got.contains("PUT /c 2"), "{got}");
    assert!(got.ends_with("GET /d 0"), "{got}");
    assert!(answered.is_empty());
}

#[tokio::test]
async fn upgrade_switches_to_opaque_pass_through() {
    let (addr, answered) = server().await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    // The first "frame" comes right behind the request, before the 101.
    client
        .write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\nGET / HTTP/9\n\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    while !got.ends_with(b"GET / HTTP/9\n\n") {
        let mut buf = [0u8; 256];
        let n = client.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let got = String::from_utf8(got).unwrap();
    assert!(
        got.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{got}"
    );
    client.write_all(b"\0\r\r\n").await.unwrap();
    let mut echo = [0u8; 4];
    client.read_exact(&mut echo).await.unwrap();
    assert_eq!(&echo, b"\0\r\r\n");
    assert!(answered.lock().unwrap().is_empty());
}

#[tokio::test]
async fn slow_head_gets_408_through_hyper() {
    let config = GuardConfig {
        header_read_timeout: Duration::from_millis(100),
        ..GuardConfig::default()
    };
    let (addr, answered) = server_with(config).await;
    let mut client = TcpStream::connect(addr).await.unwrap();
    client.write_all(b"GET / HTTP/1.1\r\nHost:").await.unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    let got = String::from_utf8(got).unwrap();
    assert!(got.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{got}");
    assert_eq!(*answered.lock().unwrap(), [Violation::HeadTimeout]);
}
