use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::time::{Instant, sleep};

use super::*;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";

fn config() -> GuardConfig {
    GuardConfig {
        header_read_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(60),
        body_read_timeout: Duration::from_secs(30),
        ..GuardConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn slow_head_is_answered_with_408() {
    let (mut client, mut guard) = pair_with(config(), b"");
    let started = Instant::now();
    client.write_all(b"GET / HTTP/1.1\r\nHo").await.unwrap();
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    // Trickling bytes does not restart the header timeout.
    sleep(Duration::from_secs(6)).await;
    client.write_all(b"st").await.unwrap();
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(5)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    assert!(started.elapsed() < Duration::from_secs(12));
    assert_eq!(guard.violation(), Some(&Violation::HeadTimeout));
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(got, answer(&Violation::HeadTimeout));
    assert!(got.starts_with("HTTP/1.1 408 "));
}

#[tokio::test(start_paused = true)]
async fn idle_connection_is_closed_silently() {
    let (mut client, mut guard) = pair_with(config(), b"");
    client.write_all(GET).await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
    // A slow response is not idleness.
    sleep(Duration::from_secs(120)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    respond(&mut guard, b"HTTP/1.1 204 No Content\r\n\r\n").await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(59)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(2)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, guard) = close_and_collect(client, guard).await;
    assert_eq!(got, "HTTP/1.1 204 No Content\r\n\r\n");
    assert_eq!(guard.violation(), None);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_restarts_after_each_exchange() {
    let (mut client, mut guard) = pair_with(config(), b"");
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(50)).await;
    client.write_all(GET).await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
    sleep(Duration::from_secs(5)).await;
    respond(&mut guard, b"HTTP/1.1 204 No Content\r\n\r\n").await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(59)).await;
    assert_eq!(
        drain(&mut guard).await,
        (vec![], End::Pending),
        "idle since the response"
    );
    sleep(Duration::from_secs(2)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
}

#[tokio::test(start_paused = true)]
async fn stalled_body_times_out() {
    let (mut client, mut guard) = pair_with(config(), b"");
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
    client
        .write_all(&[&head[..], b"abc"].concat())
        .await
        .unwrap();
    assert_eq!(
        drain(&mut guard).await,
        ([&head[..], b"abc"].concat(), End::Pending)
    );
    // Progress restarts the body timeout.
    sleep(Duration::from_secs(20)).await;
    client.write_all(b"def").await.unwrap();
    assert_eq!(drain(&mut guard).await, (b"def".to_vec(), End::Pending));
    sleep(Duration::from_secs(20)).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    sleep(Duration::from_secs(11)).await;
    assert_eq!(
        drain(&mut guard).await,
        (vec![], End::Error(io::ErrorKind::TimedOut))
    );
    assert_eq!(guard.violation(), Some(&Violation::BodyTimeout));
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(got, answer(&Violation::BodyTimeout));
}

/// Over a real socket: the client sends a refused request followed by an upload and
/// reads the answer before it stops sending. The guard keeps draining the upload after
/// answering (closing with unread bytes would make the kernel send a reset, which can
/// destroy the answer before the client reads it) and stops when the client closes.
#[tokio::test]
async fn lingering_drains_until_the_client_closes() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut guard = H1Guard::new(socket, Bytes::new(), Arc::new(config()), responder());
        let mut sink = Vec::new();
        guard.read_to_end(&mut sink).await.unwrap();
        assert!(sink.is_empty());
        let started = Instant::now();
        guard.shutdown().await.unwrap();
        (guard.violation().cloned(), started.elapsed())
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    let request =
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
    client.write_all(request).await.unwrap();
    let junk = vec![b'x'; 64 * 1024];
    for _ in 0..3 {
        client.write_all(&junk).await.unwrap();
    }
    let violation = Violation::ContentLengthWithTransferEncoding;
    let mut got = vec![0u8; answer(&violation).len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), answer(&violation));
    // The guard shut its write half: EOF after the answer.
    assert_eq!(client.read(&mut [0u8; 16]).await.unwrap(), 0);
    client.shutdown().await.unwrap();
    let (found, lingered) = server.await.unwrap();
    assert_eq!(found, Some(violation));
    assert!(
        lingered < config().linger,
        "lingering ends at the client's EOF"
    );
}

#[tokio::test(start_paused = true)]
async fn lingering_is_bounded_in_time() {
    let (mut client, mut guard) = pair_with(config(), b"");
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let started = Instant::now();
    // The client never closes: shutdown still completes after `linger`.
    guard.shutdown().await.unwrap();
    assert_eq!(started.elapsed(), GuardConfig::default().linger);
    let mut got = vec![0u8; answer(&Violation::MissingHost).len()];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        answer(&Violation::MissingHost)
    );
}
