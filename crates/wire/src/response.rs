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
    scan_response_head(head).and_then(|(_, parsed)| parsed)
}

/// Finds where the head at the start of `data` ends (as [`find_head_end`] with nothing
/// before it) and parses it in the same pass: `None` when `data` holds no complete
/// head, else the index just past its empty line and what [`parse_response_head`] says
/// of `data[..end]`. One pass over the lines, because hyper writes every head whole and
/// usually with its body, and this runs once per response.
pub(crate) fn scan_response_head(data: &[u8]) -> Option<(usize, Option<ResponseHead>)> {
    let first_lf = memchr::memchr(b'\n', data)?;
    let status = parse_status_line(&data[..first_lf]);
    let mut fields = Framing::default();
    let mut valid = status.is_some();
    // The head ends at the first CRLF CRLF: a line that is just CR, after a line
    // that ended with CR.
    let mut prev_cr = data[..first_lf].last() == Some(&b'\r');
    let mut start = first_lf + 1;
    loop {
        let lf = start + memchr::memchr(b'\n', data.get(start..)?)?;
        let line = &data[start..lf];
        if prev_cr && line == b"\r" {
            let parsed = match status {
                Some(status) if valid => Some(ResponseHead {
                    status,
                    body: fields.body(),
                }),
                _ => None,
            };
            return Some((lf + 1, parsed));
        }
        prev_cr = line.last() == Some(&b'\r');
        // After an invalid field the rest is only searched for the end of the head.
        if valid {
            valid = fields.add(line.strip_suffix(b"\r").unwrap_or(line));
        }
        start = lf + 1;
    }
}

/// The status code of an `HTTP/1.0` or `HTTP/1.1` status line (CR included or not).
fn parse_status_line(line: &[u8]) -> Option<u16> {
    let [
        b'H',
        b'T',
        b'T',
        b'P',
        b'/',
        b'1',
        b'.',
        b'0' | b'1',
        b' ',
        a @ b'1'..=b'5',
        b @ b'0'..=b'9',
        c @ b'0'..=b'9',
        b' ' | b'\r',
        ..,
    ] = *line
    else {
        return None;
    };
    Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
}

/// The framing fields of a response head, folded line by line.
#[derive(Default)]
struct Framing {
    length: Option<u64>,
    chunked: Option<bool>,
}

const CONTENT_LENGTH: &[u8] = b"content-length";
const TRANSFER_ENCODING: &[u8] = b"transfer-encoding";

impl Framing {
    /// Folds in one header line (without its line ending). `false` when the head
    /// cannot be followed (an unreadable or conflicting `Content-Length`).
    fn add(&mut self, line: &[u8]) -> bool {
        // The name is what precedes the first colon: checking the first byte and the
        // colon's position first skips the case-insensitive compare for other fields.
        match line.first() {
            Some(b'c' | b'C')
                if line.get(CONTENT_LENGTH.len()) == Some(&b':')
                    && line[..CONTENT_LENGTH.len()].eq_ignore_ascii_case(CONTENT_LENGTH) =>
            {
                let Some(n) = parse_decimal(trim_ows(&line[CONTENT_LENGTH.len() + 1..])) else {
                    return false;
                };
                if self.length.is_some_and(|old| old != n) {
                    return false;
                }
                self.length = Some(n);
            }
            Some(b't' | b'T')
                if line.get(TRANSFER_ENCODING.len()) == Some(&b':')
                    && line[..TRANSFER_ENCODING.len()].eq_ignore_ascii_case(TRANSFER_ENCODING) =>
            {
                // As hyper and RFC 9112 §6.3 do: chunked if it is the final coding.
                let value = trim_ows(&line[TRANSFER_ENCODING.len() + 1..]);
                let last = value.rsplit(|&b| b == b',').next().map(trim_ows);
                self.chunked = Some(last.is_some_and(|c| c.eq_ignore_ascii_case(b"chunked")));
            }
            _ => {}
        }
        true
    }

    fn body(&self) -> ResponseBody {
        match (self.chunked, self.length) {
            (Some(true), _) => ResponseBody::Chunked,
            (Some(false), _) | (None, None) => ResponseBody::UntilClose,
            (None, Some(n)) => ResponseBody::Length(n),
        }
    }
}
