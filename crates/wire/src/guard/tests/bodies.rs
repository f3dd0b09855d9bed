use super::*;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const BAD_REQUEST: &[u8] = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";

#[tokio::test]
async fn content_length_body_then_the_next_head_is_inspected() {
    let (mut client, mut guard) = pair();
    let post = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello";
    // The bad head arrives in the same write as the body: it must not slip through.
    client
        .write_all(
            &[
                &post[..],
                b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x\r\n\r\n",
            ]
            .concat(),
        )
        .await
        .unwrap();
    assert_eq!(drain(&mut guard).await, (post.to_vec(), End::Pending));
    respond(&mut guard, OK).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, _) = close_and_collect(client, guard).await;
    let violation = Violation::UnsupportedTransferCoding;
    assert_eq!(got, format!("{}{}", s(OK), answer(&violation)));
    assert!(got.contains("HTTP/1.1 501 "));
}

#[tokio::test]
async fn large_body_passes_through_unchanged() {
    let (mut client, mut guard) = pair();
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let head = format!(
        "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let next = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let writer = async {
        client.write_all(head.as_bytes()).await.unwrap();
        for piece in body.chunks(7_777) {
            client.write_all(piece).await.unwrap();
        }
        client.write_all(next).await.unwrap();
        client
    };
    let reader = async {
        let mut got = Vec::new();
        let want = head.len() + body.len() + next.len();
        while got.len() < want {
            let mut buf = vec![0u8; 16 * 1024];
            let n = guard.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    let (_client, got) = tokio::join!(writer, reader);
    assert_eq!(got, [head.as_bytes(), &body, next].concat());
}

#[tokio::test]
async fn chunked_body_with_trailers_then_the_next_request() {
    let (mut client, mut guard) = pair();
    let post = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5;ext=1\r\nhello\r\n0\r\nX-Sum: 5\r\n\r\n";
    let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    // Split awkwardly: inside the size line, the data and the trailer.
    let all = [&post[..], get].concat();
    for piece in all.chunks(9) {
        client.write_all(piece).await.unwrap();
    }
    assert_eq!(drain(&mut guard).await, (all.clone(), End::Pending));
}

#[tokio::test]
async fn malformed_chunk_size_is_an_error_after_the_valid_prefix() {
    let (mut client, mut guard) = pair();
    let valid = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
    client
        .write_all(&[&valid[..], b"-1\r\nGET /smuggled HTTP/1.1\r\n"].concat())
        .await
        .unwrap();
    assert_eq!(
        drain(&mut guard).await,
        (valid.to_vec(), End::Error(io::ErrorKind::InvalidData))
    );
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    // hyper shuts down without having written a response: the guard answers.
    let (got, guard) = close_and_collect(client, guard).await;
    assert_eq!(got, answer(&Violation::InvalidChunkSize));
    assert_eq!(guard.violation(), Some(&Violation::InvalidChunkSize));
}

#[tokio::test]
async fn malformed_chunk_answered_by_the_proxy_is_not_answered_twice() {
    let (mut client, mut guard) = pair();
    let valid = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    client
        .write_all(&[&valid[..], b"5\r\nhelloXX"].concat())
        .await
        .unwrap();
    let (released, end) = drain(&mut guard).await;
    assert_eq!(end, End::Error(io::ErrorKind::InvalidData));
    assert_eq!(released, [&valid[..], b"5\r\nhello"].concat());
    respond(&mut guard, BAD_REQUEST).await;
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(got, s(BAD_REQUEST));
}

#[tokio::test]
async fn interim_and_head_responses_keep_the_count_right() {
    let (mut client, mut guard) = pair();
    let post = b"POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi";
    let head = b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n";
    client
        .write_all(&[&post[..], head, b"GET / HTTP/1.1\r\n\r\n"].concat())
        .await
        .unwrap();
    assert_eq!(
        drain(&mut guard).await,
        ([&post[..], head].concat(), End::Pending)
    );
    respond(&mut guard, b"HTTP/1.1 100 Continue\r\n\r\n").await;
    respond(&mut guard, OK).await;
    assert_eq!(
        drain(&mut guard).await,
        (vec![], End::Pending),
        "HEAD still owed"
    );
    let head_response = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n";
    respond(&mut guard, head_response).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, _) = close_and_collect(client, guard).await;
    assert!(got.ends_with(&answer(&Violation::MissingHost)));
}
