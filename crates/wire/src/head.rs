//! Request heads: finding where one ends as bytes trickle in, then checking it.
//!
//! [`HeadScan`] is fed the growing head and only looks at bytes it has not seen, so a
//! head sent one byte at a time costs linear, not quadratic, work. It enforces the size
//! and line-count limits and the CRLF rule while the head is still incomplete.
//! [`parse_head`] then runs httparse once over the complete head and applies the
//! framing and `Host` rules hyper does not.

use std::mem::MaybeUninit;

use crate::chars::{is_host, is_token, parse_decimal, trim_ows};
use crate::violation::Violation;

#[cfg(test)]
mod tests;

/// Progress of an incomplete request head.
#[derive(Debug, Default)]
pub(crate) struct HeadScan {
    /// Bytes of the head already looked at.
    pos: usize,
    /// Offset of the line being scanned.
    line_start: usize,
    /// Header lines seen (the request line excluded).
    header_lines: usize,
    /// Whether the request line has been seen (empty lines before it are skipped, as
    /// RFC 9112 §2.2 asks and as httparse/hyper do).
    request_line: bool,
}

/// Result of feeding bytes to a [`HeadScan`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    /// The head ends after this many bytes (terminating empty line included).
    Complete(usize),
    /// No end yet: feed the same bytes plus more.
    Partial,
}

impl HeadScan {
    /// Whether any byte of this head has been seen (the header timeout runs from it).
    pub(crate) fn is_started(&self) -> bool {
        self.pos > 0
    }

    /// Header lines of the completed head; sizes httparse's header array exactly.
    pub(crate) fn header_lines(&self) -> usize {
        self.header_lines
    }

    /// Looks at `head[self.pos..]`; `head` is every byte of this head received so far.
    pub(crate) fn feed(
        &mut self,
        head: &[u8],
        max_bytes: usize,
        max_headers: usize,
    ) -> Result<Scan, Violation> {
        let too_large = Violation::HeadTooLarge { limit: max_bytes };
        while let Some(off) = head
            .get(self.pos..)
            .and_then(|rest| memchr::memchr(b'\n', rest))
        {
            let lf = self.pos + off;
            self.pos = lf + 1;
            if lf >= max_bytes {
                return Err(too_large);
            }
            // A bare LF is refused: peers that accept one disagree about where lines end.
            if lf == 0 || head[lf - 1] != b'\r' {
                return Err(Violation::BareLineFeed);
            }
            let line = &head[self.line_start..lf - 1];
            self.line_start = lf + 1;
            let Some(&first) = line.first() else {
                if self.request_line {
                    return Ok(Scan::Complete(lf + 1));
                }
                continue;
            };
            if !self.request_line {
                self.request_line = true;
                continue;
            }
            if first == b' ' || first == b'\t' {
                return Err(Violation::ObsoleteLineFolding);
            }
            self.header_lines += 1;
            if self.header_lines > max_headers {
                return Err(Violation::TooManyHeaders { limit: max_headers });
            }
        }
        self.pos = head.len();
        // The missing LF would make the head at least one byte longer.
        if head.len() >= max_bytes {
            return Err(too_large);
        }
        Ok(Scan::Partial)
    }
}

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// No body (no `Content-Length`, `Content-Length: 0`, no `Transfer-Encoding`).
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A request that leaves HTTP/1 once answered: the guard holds the client's next bytes
/// until it has seen the response's status line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpgradeKind {
    /// Has an `Upgrade` header: `101` switches protocols.
    Upgrade,
    /// `CONNECT`: a `2xx` turns the connection into a tunnel.
    Connect,
}

/// What the guard needs to know about a valid request head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadInfo {
    pub(crate) body: BodyKind,
    /// `HEAD`: its response has headers announcing a body but no body bytes.
    pub(crate) is_head: bool,
    pub(crate) upgrade: Option<UpgradeKind>,
}

/// Heads with at most this many header lines are parsed with a header array on the
/// stack; bigger ones (rare) use a heap array sized exactly.
const INLINE_HEADERS: usize = 48;

/// Parses and checks a complete head (`head` ends with the empty line).
pub(crate) fn parse_head(head: &[u8], header_lines: usize) -> Result<HeadInfo, Violation> {
    if header_lines <= INLINE_HEADERS {
        let mut storage = [MaybeUninit::<httparse::Header<'_>>::uninit(); INLINE_HEADERS];
        parse_with(head, &mut storage[..header_lines])
    } else {
        let mut storage = Vec::new();
        storage.resize_with(header_lines, MaybeUninit::uninit);
        parse_with(head, &mut storage)
    }
}

fn parse_with<'b>(
    head: &'b [u8],
    storage: &mut [MaybeUninit<httparse::Header<'b>>],
) -> Result<HeadInfo, Violation> {
    let mut req = httparse::Request::new(&mut []);
    // Default config: no obs-fold, no space before `:`, single spaces in the request
    // line, invalid header lines are errors rather than skipped.
    match req.parse_with_uninit_headers(head, storage) {
        Ok(httparse::Status::Complete(n)) if n == head.len() => {}
        Ok(_) => return Err(Violation::InvalidRequestLine),
        Err(e) => return Err(map_httparse(e)),
    }
    let (Some(method), Some(version)) = (req.method, req.version) else {
        return Err(Violation::InvalidRequestLine);
    };

    let mut hosts = 0usize;
    let mut content_length = ContentLength::Absent;
    let mut codings = Codings::default();
    let mut upgrade = false;
    for h in req.headers.iter() {
        let name = h.name.as_bytes();
        if name.eq_ignore_ascii_case(b"host") {
            hosts += 1;
            if !h.value.iter().all(|&b| is_host(b)) {
                return Err(Violation::InvalidHost);
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            content_length.add(h.value);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            codings.add(h.value);
        } else if name.eq_ignore_ascii_case(b"upgrade") {
            upgrade = true;
        }
    }

    // Framing first: it is what smuggling attacks play with.
    let body = match (content_length, codings.seen) {
        (ContentLength::Absent, false) => BodyKind::None,
        (ContentLength::Absent, true) => codings.check(version)?,
        (_, true) => return Err(Violation::ContentLengthWithTransferEncoding),
        (ContentLength::Invalid, false) => return Err(Violation::InvalidContentLength),
        (ContentLength::Conflict, false) => return Err(Violation::ConflictingContentLength),
        (ContentLength::Value(0), false) => BodyKind::None,
        (ContentLength::Value(n), false) => BodyKind::Length(n),
    };
    match hosts {
        0 if version == 1 => return Err(Violation::MissingHost),
        0 | 1 => {}
        _ => return Err(Violation::MultipleHost),
    }
    let upgrade = if method == "CONNECT" {
        Some(UpgradeKind::Connect)
    } else if upgrade {
        Some(UpgradeKind::Upgrade)
    } else {
        None
    };
    Ok(HeadInfo {
        body,
        is_head: method == "HEAD",
        upgrade,
    })
}

fn map_httparse(e: httparse::Error) -> Violation {
    match e {
        httparse::Error::HeaderName => Violation::InvalidHeaderName,
        httparse::Error::HeaderValue => Violation::InvalidHeaderValue,
        httparse::Error::NewLine => Violation::InvalidLineEnding,
        // Token (method / target) and Version errors are all request-line problems;
        // Status and TooManyHeaders cannot happen for a request sized by our scan.
        _ => Violation::InvalidRequestLine,
    }
}

/// All `Content-Length` values of a head, folded as they are read.
#[derive(Debug, Clone, Copy)]
enum ContentLength {
    Absent,
    Value(u64),
    Invalid,
    Conflict,
}

impl ContentLength {
    /// Folds in one header value, which may itself be a comma-separated list.
    fn add(&mut self, value: &[u8]) {
        for item in value.split(|&b| b == b',') {
            let parsed = parse_decimal(trim_ows(item));
            *self = match (*self, parsed) {
                (Self::Invalid, _) | (_, None) => Self::Invalid,
                (Self::Absent, Some(n)) => Self::Value(n),
                (Self::Value(old), Some(n)) if old == n => Self::Value(n),
                (Self::Value(_) | Self::Conflict, Some(_)) => Self::Conflict,
            };
        }
    }
}

/// The transfer codings of a head, across all `Transfer-Encoding` lines, in order.
#[derive(Debug, Default)]
struct Codings {
    seen: bool,
    /// The previous coding was `chunked` (so another one follows it).
    last_chunked: bool,
    chunked_not_last: bool,
    malformed: bool,
    unsupported: bool,
}

impl Codings {
    fn add(&mut self, value: &[u8]) {
        self.seen = true;
        for item in value.split(|&b| b == b',') {
            let item = trim_ows(item);
            if self.last_chunked {
                self.chunked_not_last = true;
            }
            self.last_chunked = item.eq_ignore_ascii_case(b"chunked");
            if self.last_chunked {
                continue;
            }
            // `name *( OWS ";" OWS param )`; only the name matters for the verdict.
            let name = item.split(|&b| b == b';').next().map_or(item, trim_ows);
            if name.is_empty() || !name.iter().all(|&b| is_token(b)) {
                self.malformed = true;
            } else if name.eq_ignore_ascii_case(b"chunked") {
                // `chunked` with parameters: none are defined.
                self.malformed = true;
            } else {
                self.unsupported = true;
            }
        }
    }

    /// The verdict once every `Transfer-Encoding` line has been read.
    fn check(&self, version: u8) -> Result<BodyKind, Violation> {
        if version == 0 {
            Err(Violation::TransferEncodingOnHttp10)
        } else if self.malformed {
            Err(Violation::InvalidTransferEncoding)
        } else if self.chunked_not_last {
            Err(Violation::ChunkedNotLast)
        } else if self.unsupported {
            // hyper would decode the chunked framing and hand on a body still in the
            // other coding, while the proxy strips Transfer-Encoding: refuse instead.
            Err(Violation::UnsupportedTransferCoding)
        } else if self.last_chunked {
            Ok(BodyKind::Chunked)
        } else {
            Err(Violation::InvalidTransferEncoding)
        }
    }
}
