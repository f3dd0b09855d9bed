use super::*;

#[test]
fn finds_the_end_in_one_write() {
    assert_eq!(find_head_end(b"", b"HTTP/1.1 200 OK\r\n\r\nbody"), Some(19));
    assert_eq!(find_head_end(b"", b"HTTP/1.1 200 OK\r\n"), None);
}

#[test]
fn finds_the_end_straddling_writes() {
    let head = b"HTTP/1.1 204 No Content\r\n\r\n";
    for split in 1..head.len() {
        let (prev, data) = head.split_at(split);
        assert_eq!(
            find_head_end(prev, data),
            Some(data.len()),
            "split at {split}"
        );
    }
    // `\r\n` then `\r\n`: the first write alone is not an end.
    assert_eq!(find_head_end(b"", b"HTTP/1.1 200 OK\r\nA: b\r\n"), None);
    assert_eq!(
        find_head_end(b"HTTP/1.1 200 OK\r\nA: b\r\n", b"\r\nx"),
        Some(2)
    );
}

#[test]
fn reads_status_and_framing() {
    let cases: &[(&[u8], Option<ResponseHead>)] = &[
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n",
            Some(ResponseHead {
                status: 200,
                body: ResponseBody::Length(12),
            }),
        ),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            Some(ResponseHead {
                status: 200,
                body: ResponseBody::Chunked,
            }),
        ),
        (
            b"HTTP/1.0 200 OK\r\n\r\n",
            Some(ResponseHead {
                status: 200,
                body: ResponseBody::UntilClose,
            }),
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n",
            Some(ResponseHead {
                status: 101,
                body: ResponseBody::UntilClose,
            }),
        ),
        (
            b"HTTP/1.1 100 Continue\r\n\r\n",
            Some(ResponseHead {
                status: 100,
                body: ResponseBody::UntilClose,
            }),
        ),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            None,
        ),
        (b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n", None),
        (b"HTTP/2 200\r\n\r\n", None),
        (b"HTTP/1.1 2000 OK\r\n\r\n", None),
        (b"garbage\r\n\r\n", None),
    ];
    for (head, want) in cases {
        assert_eq!(
            parse_response_head(head),
            *want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}
