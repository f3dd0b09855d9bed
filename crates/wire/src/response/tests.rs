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

#[test]
fn one_pass_scan_agrees_with_find_then_parse() {
    let heads: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 6\r\n\r\nxxxxxx",
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 6\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nContent-Length: 7\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\ncontent-length: 7\r\n\r\nrest",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\ncontent-length: 3\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked, gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-lengthx: 3\r\ncontent-length : 4\r\n\r\n",
        b"HTTP/1.1 200 OK\ncontent-length: 3\n\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n\n\r\ncontent-length: 3\r\n\r\n",
        b"\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 204\r\n\r\n",
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n",
        b"HTTP/1.1 200 OK",
        b"",
    ];
    for data in heads {
        let want = find_head_end(b"", data).map(|end| (end, parse_old(&data[..end])));
        assert_eq!(
            scan_response_head(data),
            want,
            "{:?}",
            String::from_utf8_lossy(data)
        );
    }
}

/// The line-splitting reader `scan_response_head` replaced, kept as the reference.
fn parse_old(head: &[u8]) -> Option<ResponseHead> {
    use crate::chars::{parse_decimal, trim_ows};
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next()?;
    let status = parse_status_line(status_line)?;
    let mut length = None;
    let mut chunked = None;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = memchr::memchr(b':', line) else {
            continue;
        };
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_decimal(value)?;
            if length.is_some_and(|old| old != n) {
                return None;
            }
            length = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&b| b == b',').next().map(trim_ows);
            chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
        }
    }
    let body = match (chunked, length) {
        (Some(true), _) => ResponseBody::Chunked,
        (Some(false), _) | (None, None) => ResponseBody::UntilClose,
        (None, Some(n)) => ResponseBody::Length(n),
    };
    Some(ResponseHead { status, body })
}
