use tokio::io::AsyncWrite;

use super::*;

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";

#[tokio::test]
async fn valid_head_passes_and_responses_pass_back() {
    let (mut client, mut guard) = pair();
    client.write_all(GET).await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
    respond(&mut guard, OK).await;
    client.shutdown().await.unwrap();
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, guard) = close_and_collect(client, guard).await;
    assert_eq!(got, s(OK));
    assert_eq!(guard.violation(), None);
}

#[tokio::test]
async fn head_split_into_bytes_is_released_whole_when_complete() {
    let (mut client, mut guard) = pair();
    for b in &GET[..GET.len() - 1] {
        client.write_all(std::slice::from_ref(b)).await.unwrap();
        assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    }
    client.write_all(b"\n").await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
}

#[tokio::test]
async fn initial_bytes_are_inspected_like_the_rest() {
    let (mut client, mut guard) = pair_with(GuardConfig::default(), &GET[..5]);
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    client.write_all(&GET[5..]).await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));

    let (_client, mut refused) = pair_with(GuardConfig::default(), b"GET / HTTP/1.1\r\n\r\n");
    assert_eq!(drain(&mut refused).await, (vec![], End::Eof));
    assert_eq!(refused.violation(), Some(&Violation::MissingHost));
}

/// Each refused head: the server reads nothing but EOF; the client gets the answer.
#[tokio::test]
async fn refused_heads_are_never_released_and_are_answered() {
    let cases: &[(&[u8], Violation)] = &[
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            Violation::ContentLengthWithTransferEncoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            Violation::ConflictingContentLength,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            Violation::UnsupportedTransferCoding,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
            Violation::ChunkedNotLast,
        ),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            Violation::TransferEncodingOnHttp10,
        ),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", Violation::ObsoleteLineFolding),
        (b"GET / HTTP/1.1\nHost: a\n\n", Violation::BareLineFeed),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: \0\r\n\r\n", Violation::InvalidHeaderValue),
        (b"GET / HTTP/1.1\r\n\r\n", Violation::MissingHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Violation::MultipleHost),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Violation::InvalidRequestLine),
    ];
    for (request, violation) in cases {
        let (mut client, mut guard) = pair();
        client.write_all(request).await.unwrap();
        assert_eq!(drain(&mut guard).await, (vec![], End::Eof), "{violation:?}");
        assert_eq!(guard.violation(), Some(violation));
        let (got, _) = close_and_collect(client, guard).await;
        assert_eq!(got, answer(violation));
    }
}

#[tokio::test]
async fn oversized_head_is_refused_before_it_ends() {
    let config = GuardConfig {
        max_head_bytes: 128,
        ..GuardConfig::default()
    };
    let (mut client, mut guard) = pair_with(config, b"");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nX: ")
        .await
        .unwrap();
    let mut sent = 28;
    let end = loop {
        client.write_all(b"aaaaaaaaaa").await.unwrap();
        sent += 10;
        match drain(&mut guard).await {
            (released, End::Pending) => assert!(released.is_empty()),
            (released, end) => {
                assert!(released.is_empty());
                break end;
            }
        }
    };
    assert_eq!(end, End::Eof);
    assert!(sent <= 128 + 10, "noticed after {sent} bytes");
    let violation = Violation::HeadTooLarge { limit: 128 };
    assert_eq!(guard.violation(), Some(&violation));
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(got, answer(&violation));
    assert!(got.starts_with("HTTP/1.1 431 "));
}

#[tokio::test]
async fn too_many_headers_is_431() {
    let config = GuardConfig {
        max_headers: 3,
        ..GuardConfig::default()
    };
    let (mut client, mut guard) = pair_with(config, b"");
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n")
        .await
        .unwrap();
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    assert_eq!(
        guard.violation(),
        Some(&Violation::TooManyHeaders { limit: 3 })
    );
}

#[tokio::test]
async fn refused_pipelined_head_waits_for_the_owed_response() {
    let (mut client, mut guard) = pair();
    let bad = b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
    client.write_all(&[GET, GET, bad].concat()).await.unwrap();
    // Both good requests are released; the bad one is not, and EOF waits because an
    // EOF now would make hyper drop the responses it still owes.
    assert_eq!(drain(&mut guard).await, ([GET, GET].concat(), End::Pending));
    respond(&mut guard, OK).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Pending));
    // Written the way hyper writes with vectored I/O: head and body in separate slices.
    let (head, body) = OK.split_at(OK.len() - 2);
    let slices = [io::IoSlice::new(head), io::IoSlice::new(body)];
    let n = poll_fn(|cx| Pin::new(&mut guard).poll_write_vectored(cx, &slices))
        .await
        .unwrap();
    // The pipe may take only the first slice; hyper would write the rest next.
    respond(&mut guard, &OK[n..]).await;
    assert_eq!(drain(&mut guard).await, (vec![], End::Eof));
    let (got, _) = close_and_collect(client, guard).await;
    let violation = Violation::ConflictingContentLength;
    assert_eq!(got, format!("{}{}{}", s(OK), s(OK), answer(&violation)));
}

#[tokio::test]
async fn no_answer_while_a_response_is_unfinished() {
    let (mut client, mut guard) = pair();
    client.write_all(GET).await.unwrap();
    client.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
    // hyper gives up half-way through the response (say the upstream died).
    respond(&mut guard, &OK[..OK.len() - 1]).await;
    let (got, _) = close_and_collect(client, guard).await;
    assert_eq!(
        got,
        s(&OK[..OK.len() - 1]),
        "an answer here would corrupt the response"
    );
}

#[tokio::test]
async fn pipelining_beyond_the_cap_is_held_back() {
    let (mut client, mut guard) = pair();
    let cap = crate::MAX_IN_FLIGHT as usize;
    client.write_all(&GET.repeat(cap + 2)).await.unwrap();
    assert_eq!(drain(&mut guard).await, (GET.repeat(cap), End::Pending));
    respond(&mut guard, OK).await;
    assert_eq!(drain(&mut guard).await, (GET.to_vec(), End::Pending));
}
