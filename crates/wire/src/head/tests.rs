use super::*;

const MAX_BYTES: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;

/// Scans `head` fed in pieces of `step` bytes, then parses it.
fn check_in_steps(head: &[u8], step: usize) -> Result<HeadInfo, Violation> {
    let mut scan = HeadScan::default();
    let mut fed = 0;
    loop {
        fed = (fed + step).min(head.len());
        match scan.feed(&head[..fed], MAX_BYTES, MAX_HEADERS)? {
            Scan::Complete(len) => {
                assert_eq!(len, head.len(), "head must end exactly at its empty line");
                return parse_head(&head[..len], scan.header_lines());
            }
            Scan::Partial if fed == head.len() => panic!("incomplete head"),
            Scan::Partial => {}
        }
    }
}

fn check(head: &str) -> Result<HeadInfo, Violation> {
    let whole = check_in_steps(head.as_bytes(), head.len());
    let bytewise = check_in_steps(head.as_bytes(), 1);
    assert_eq!(whole, bytewise, "split feeding must not change the verdict");
    whole
}

fn info(body: BodyKind) -> HeadInfo {
    HeadInfo {
        body,
        is_head: false,
        upgrade: None,
    }
}

#[test]
fn plain_requests_pass() {
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(info(BodyKind::None))
    );
    assert_eq!(check("GET / HTTP/1.0\r\n\r\n"), Ok(info(BodyKind::None)));
    assert_eq!(
        check("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
        Ok(info(BodyKind::Length(5)))
    );
    assert_eq!(
        check("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
        Ok(info(BodyKind::None))
    );
    assert_eq!(
        check("POST /x HTTP/1.1\r\nHost: a\r\ntransfer-encoding: Chunked\r\n\r\n"),
        Ok(info(BodyKind::Chunked))
    );
    // Empty lines before the request line are skipped (RFC 9112 §2.2).
    assert_eq!(
        check("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Ok(info(BodyKind::None))
    );
}

#[test]
fn head_and_upgrades_are_flagged() {
    let head = check("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert!(head.is_head);
    let ws =
        check("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
    assert_eq!(ws.upgrade, Some(UpgradeKind::Upgrade));
    let connect = check("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n").unwrap();
    assert_eq!(connect.upgrade, Some(UpgradeKind::Connect));
}

#[test]
fn content_length_rules() {
    let cases: &[(&str, Result<BodyKind, Violation>)] = &[
        (
            "Content-Length: 5\r\nContent-Length: 5",
            Ok(BodyKind::Length(5)),
        ),
        ("Content-Length: 5, 5", Ok(BodyKind::Length(5))),
        (
            "Content-Length: 5\r\nContent-Length: 6",
            Err(Violation::ConflictingContentLength),
        ),
        (
            "Content-Length: 5, 6",
            Err(Violation::ConflictingContentLength),
        ),
        ("Content-Length: +5", Err(Violation::InvalidContentLength)),
        ("Content-Length: -5", Err(Violation::InvalidContentLength)),
        ("Content-Length: 0x5", Err(Violation::InvalidContentLength)),
        ("Content-Length: 5 5", Err(Violation::InvalidContentLength)),
        ("Content-Length: 5,", Err(Violation::InvalidContentLength)),
        ("Content-Length:", Err(Violation::InvalidContentLength)),
        (
            "Content-Length: 18446744073709551616",
            Err(Violation::InvalidContentLength),
        ),
        (
            "Content-Length: 18446744073709551615",
            Ok(BodyKind::Length(u64::MAX)),
        ),
        (
            "Content-Length: 5\r\nTransfer-Encoding: chunked",
            Err(Violation::ContentLengthWithTransferEncoding),
        ),
        (
            "Transfer-Encoding: chunked\r\nContent-Length: x",
            Err(Violation::ContentLengthWithTransferEncoding),
        ),
    ];
    for (headers, want) in cases {
        let head = format!("POST / HTTP/1.1\r\nHost: a\r\n{headers}\r\n\r\n");
        assert_eq!(check(&head).map(|i| i.body), *want, "{headers}");
    }
}

#[test]
fn transfer_encoding_rules() {
    let cases: &[(&str, Result<BodyKind, Violation>)] = &[
        ("chunked", Ok(BodyKind::Chunked)),
        (" chunked ", Ok(BodyKind::Chunked)),
        ("gzip, chunked", Err(Violation::UnsupportedTransferCoding)),
        ("gzip", Err(Violation::UnsupportedTransferCoding)),
        ("foo", Err(Violation::UnsupportedTransferCoding)),
        ("identity", Err(Violation::UnsupportedTransferCoding)),
        ("chunked, gzip", Err(Violation::ChunkedNotLast)),
        ("chunked, chunked", Err(Violation::ChunkedNotLast)),
        (
            "chunked\r\nTransfer-Encoding: chunked",
            Err(Violation::ChunkedNotLast),
        ),
        (
            "chunked\r\nTransfer-Encoding: gzip",
            Err(Violation::ChunkedNotLast),
        ),
        ("chunked,", Err(Violation::InvalidTransferEncoding)),
        (", chunked", Err(Violation::InvalidTransferEncoding)),
        ("chunked;q=1", Err(Violation::InvalidTransferEncoding)),
        ("\"chunked\"", Err(Violation::InvalidTransferEncoding)),
        ("", Err(Violation::InvalidTransferEncoding)),
    ];
    for (value, want) in cases {
        let head = format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {value}\r\n\r\n");
        assert_eq!(check(&head).map(|i| i.body), *want, "{value:?}");
    }
    assert_eq!(
        check("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        Err(Violation::TransferEncodingOnHttp10)
    );
}

#[test]
fn host_rules() {
    assert_eq!(check("GET / HTTP/1.1\r\n\r\n"), Err(Violation::MissingHost));
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"),
        Err(Violation::MultipleHost)
    );
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"),
        Err(Violation::InvalidHost)
    );
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: user@a\r\n\r\n"),
        Err(Violation::InvalidHost)
    );
    assert_eq!(
        check("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"),
        Err(Violation::InvalidHost)
    );
    assert!(check("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n").is_ok());
    // An empty Host is what RFC 9112 §3.2 asks for when there is no authority.
    assert!(check("GET / HTTP/1.1\r\nHost:\r\n\r\n").is_ok());
}

#[test]
fn line_and_syntax_rules() {
    let cases: &[(&[u8], Violation)] = &[
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", Violation::BareLineFeed),
        (b"GET / HTTP/1.1\r\nHost: a\n\r\n", Violation::BareLineFeed),
        (b"GET / HTTP/1.1\r\nHost: a\r\n\n", Violation::BareLineFeed),
        (
            b"\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Violation::BareLineFeed,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
            Violation::ObsoleteLineFolding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n\tX: b\r\n\r\n",
            Violation::ObsoleteLineFolding,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
            Violation::InvalidHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            Violation::InvalidHeaderValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n",
            Violation::InvalidHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",
            Violation::InvalidHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",
            Violation::InvalidHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX(: b\r\n\r\n",
            Violation::InvalidHeaderName,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n",
            Violation::InvalidHeaderName,
        ),
        (
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            Violation::InvalidRequestLine,
        ),
        (
            b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
            Violation::InvalidLineEnding,
        ),
        (
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
            Violation::InvalidRequestLine,
        ),
        (
            b"GET / HTTP/1.2\r\nHost: a\r\n\r\n",
            Violation::InvalidRequestLine,
        ),
        (b"GET /\r\nHost: a\r\n\r\n", Violation::InvalidRequestLine),
        (
            b" GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            Violation::InvalidRequestLine,
        ),
        (
            b"G\x01T / HTTP/1.1\r\nHost: a\r\n\r\n",
            Violation::InvalidRequestLine,
        ),
    ];
    for (head, want) in cases {
        for step in [head.len(), 1] {
            assert_eq!(
                check_in_steps(head, step).as_ref(),
                Err(want),
                "{:?} step {step}",
                String::from_utf8_lossy(head)
            );
        }
    }
}

#[test]
fn too_large_is_found_before_the_head_ends() {
    let mut scan = HeadScan::default();
    let mut head = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    assert_eq!(scan.feed(&head, 64, MAX_HEADERS), Ok(Scan::Partial));
    head.resize(63, b'a');
    assert_eq!(scan.feed(&head, 64, MAX_HEADERS), Ok(Scan::Partial));
    head.push(b'a');
    assert_eq!(
        scan.feed(&head, 64, MAX_HEADERS),
        Err(Violation::HeadTooLarge { limit: 64 })
    );
}

#[test]
fn size_limit_is_inclusive() {
    let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut scan = HeadScan::default();
    assert_eq!(
        scan.feed(head, head.len(), MAX_HEADERS),
        Ok(Scan::Complete(head.len()))
    );
    let mut scan = HeadScan::default();
    assert_eq!(
        scan.feed(head, head.len() - 1, MAX_HEADERS),
        Err(Violation::HeadTooLarge {
            limit: head.len() - 1
        })
    );
}

#[test]
fn too_many_headers_is_found_before_the_head_ends() {
    let mut scan = HeadScan::default();
    let head = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n";
    assert_eq!(
        scan.feed(head, MAX_BYTES, 2),
        Err(Violation::TooManyHeaders { limit: 2 })
    );
}

#[test]
fn many_headers_use_the_heap_array() {
    let mut head = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
    for i in 0..90 {
        head.push_str(&format!("X-{i}: {i}\r\n"));
    }
    head.push_str("Content-Length: 3\r\n\r\n");
    assert_eq!(check(&head), Ok(info(BodyKind::Length(3))));
}
