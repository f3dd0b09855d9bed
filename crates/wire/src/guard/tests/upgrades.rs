use super::*;

const WS: &[u8] =
    b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n";
/// Not HTTP: would be refused if it were inspected.
const FRAMES: &[u8] = b"\x81\x05hello\nnot http\r\n\r\n";

#[tokio::test]
async fn switching_protocols_makes_the_connection_opaque() {
    let (mut client, mut guard) = pair();
    client.write_all(&[WS, FRAMES].concat()).await.unwrap();
    // Held until the response's status line is seen.
    assert_eq!(drain(&mut guard).await, (WS.to_vec(), End::Pending));
    let switching =
        b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    respond(&mut guard, switching).await;
    respond(&mut guard, b"\x81\x02hi").await;
    assert_eq!(drain(&mut guard).await, (FRAMES.to_vec(), End::Pending));
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(
        drain(&mut guard).await,
        (b"GET / HTTP/1.1\r\n\r\n".to_vec(), End::Pending)
    );
    let mut got = vec![0u8; switching.len() + 4];
    client.read_exact(&mut got).await.unwrap();
    assert_eq!(got, [&switching[..], b"\x81\x02hi"].concat());
    assert_eq!(guard.violation(), None);
}

#[tokio::test]
async fn refused_upgrade_resumes_inspection() {
    let (mut client, mut guard) = pair();
    client
        .write_all(&[WS, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"].concat())
        .await
        .unwrap();
    assert_eq!(drain(&mut guard).await, (WS.to_vec(), End::Pending));
    let refused = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n";
    respond(&mut guard, refused).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(
        got,
        format!("{}{}", s(refused), answer(&Violation::MultipleHost))
    );
}

#[tokio::test]
async fn connect_2xx_opens_a_tunnel() {
    let (mut client, mut guard) = pair();
    let connect = b"CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n";
    client
        .write_all(&[&connect[..], FRAMES].concat())
        .await
        .unwrap();
    assert_eq!(drain(&mut guard).await, (connect.to_vec(), End::Pending));
    respond(&mut guard, b"HTTP/1.1 200 OK\r\n\r\n").await;
    assert_eq!(drain(&mut guard).await, (FRAMES.to_vec(), End::Pending));
}
