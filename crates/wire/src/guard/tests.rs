//! Drives the guard through in-memory duplex pipes (and real sockets for lingering):
//! the test plays the client on one end and hyper on the other, and asserts the exact
//! bytes each side gets.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, DuplexStream, ReadBuf, duplex};

use super::H1Guard;
use crate::config::GuardConfig;
use crate::violation::{Responder, Violation};

mod bodies;
mod heads;
mod timeouts;
mod upgrades;

type Guard = H1Guard<DuplexStream>;

/// What a drain of the guard's read side ended with.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Nothing more is released for now.
    Pending,
    Eof,
    Error(io::ErrorKind),
}

fn responder() -> Responder {
    Arc::new(|v: &Violation| Bytes::from(answer(v)))
}

/// What the test responder answers for `v`.
fn answer(v: &Violation) -> String {
    format!(
        "HTTP/1.1 {} X\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{v}",
        v.status()
    )
}

fn pair_with(config: GuardConfig, initial: &[u8]) -> (DuplexStream, Guard) {
    let (client, server) = duplex(1 << 20);
    let guard = H1Guard::new(
        server,
        Bytes::copy_from_slice(initial),
        Arc::new(config),
        responder(),
    );
    (client, guard)
}

fn pair() -> (DuplexStream, Guard) {
    pair_with(GuardConfig::default(), b"")
}

/// Reads from the guard (as hyper would) until it has nothing more for now.
async fn drain(guard: &mut Guard) -> (Vec<u8>, End) {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let mut read = ReadBuf::new(&mut buf);
        let poll = poll_fn(|cx| Poll::Ready(Pin::new(&mut *guard).poll_read(cx, &mut read))).await;
        match poll {
            Poll::Pending => return (got, End::Pending),
            Poll::Ready(Ok(())) if read.filled().is_empty() => return (got, End::Eof),
            Poll::Ready(Ok(())) => got.extend_from_slice(read.filled()),
            Poll::Ready(Err(e)) => return (got, End::Error(e.kind())),
        }
    }
}

/// Writes as hyper would.
async fn respond(guard: &mut Guard, response: &[u8]) {
    guard.write_all(response).await.unwrap();
    guard.flush().await.unwrap();
}

/// Everything the client receives until the guard's side is closed.
async fn client_reads(client: &mut DuplexStream) -> String {
    let mut got = Vec::new();
    client.read_to_end(&mut got).await.unwrap();
    String::from_utf8(got).unwrap()
}

/// Shuts the guard down (as hyper does after EOF) while the client closes its side
/// once it has read everything, which ends the lingering; returns what it read.
async fn close_and_collect(mut client: DuplexStream, mut guard: Guard) -> (String, Guard) {
    let shutdown = async {
        guard.shutdown().await.unwrap();
        guard
    };
    let read = async {
        let got = client_reads(&mut client).await;
        drop(client);
        got
    };
    let (guard, got) = tokio::join!(shutdown, read);
    (got, guard)
}

fn s(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn prefixed_replays_initial_bytes_first() {
    let (mut client, server) = duplex(1024);
    let mut prefixed = crate::Prefixed::new(server, Bytes::from_static(crate::H2_PREFACE));
    client.write_all(b"frames").await.unwrap();
    drop(client);
    let mut got = Vec::new();
    prefixed.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, [crate::H2_PREFACE, b"frames"].concat());
}

#[test]
fn guard_is_unpin_and_send() {
    fn assert_traits<T: Unpin + Send + Sync>() {}
    assert_traits::<H1Guard<tokio::net::TcpStream>>();
    assert_traits::<crate::Prefixed<tokio::net::TcpStream>>();
}
