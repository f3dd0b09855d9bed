//! The little the guard needs to know about the responses hyper writes: where each
//! response head ends, its status, and how its body is framed, so that the guard can
//! tell when a response is complete. The writer is hyper, so this is a reader of
//! well-formed output, not a validator: anything unexpected makes the caller stop
//! tracking (and then the guard stops answering on its own, which is the safe side).

use crate::chars::{parse_decimal, trim_ows};

#[cfg(test)]
mod tests;

/// How a response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseBody {
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding` ending in `chunked`.
    Chunked,
    /// Neither: the body runs until the connection closes.
    UntilClose,
}

/// A parsed response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ResponseHead {
    pub(crate) status: u16,
    pub(crate) body: ResponseBody,
}

const END: &[u8; 4] = b"\r\n\r\n";

/// Where the head ends in `data` (the index just past its empty line), given `prev`, the
/// bytes of this head already seen in earlier writes. The terminator may straddle both.
pub(crate) fn find_head_end(prev: &[u8], data: &[u8]) -> Option<usize> {
    // The terminator can start in the last three bytes of `prev` and end in `data`.
    let keep = prev.len().min(3);
    let take = data.len().min(3);
    let mut window = [0u8; 6];
    window[..keep].copy_from_slice(&prev[prev.len() - keep..]);
    window[keep..keep + take].copy_from_slice(&data[..take]);
    for start in 0..keep {
        if window.get(start..start + 4) == Some(END.as_slice()) && start + 4 <= keep + take {
            return Some(start + 4 - keep);
        }
    }
    memchr::memmem::find(data, END).map(|at| at + END.len())
}

/// Parses a complete response head (ending with the empty line). `None` when it is not
/// an HTTP/1.x response head the guard can follow.
pub(crate) fn parse_response_head(head: &[u8]) -> Option<ResponseHead> {
    let mut lines = head.split(|&b| b == b'\n');
    let status_line = lines.next()?;
    let status = match status_line {
        [
            b'H',
            b'T',
            b'T',
            b'P',
            b'/',
            b'1',
            b'.',
            b'0' | b'1',
            b' ',
            rest @ ..,
        ] => {
            let [
                a @ b'1'..=b'5',
                b @ b'0'..=b'9',
                c @ b'0'..=b'9',
                b' ' | b'\r',
                ..,
            ] = *rest
            else {
                return None;
            };
            u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0')
        }
        _ => return None,
    };
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
            // As hyper and RFC 9112 §6.3 do: chunked if it is the final coding.
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
