//! What can be wrong with a request on the wire, and how it is answered.

use std::sync::Arc;

use bytes::Bytes;

/// What was wrong with a request. The `Display` text is written for the client (it never
/// echoes client bytes back); [`Violation::status`] is the HTTP status to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// Both `Content-Length` and `Transfer-Encoding`: the classic smuggling shape.
    #[error("request has both Content-Length and Transfer-Encoding")]
    ContentLengthWithTransferEncoding,
    /// Several `Content-Length` values (repeated headers or a list) that differ.
    #[error("request has conflicting Content-Length values")]
    ConflictingContentLength,
    /// A `Content-Length` that is not a plain decimal number that fits in 64 bits.
    #[error("request has an invalid Content-Length")]
    InvalidContentLength,
    /// `Transfer-Encoding` on an HTTP/1.0 request, which has no transfer codings.
    #[error("Transfer-Encoding is not allowed in an HTTP/1.0 request")]
    TransferEncodingOnHttp10,
    /// `chunked` is present but not the final coding (or is applied twice).
    #[error("chunked must be the final transfer coding, applied once")]
    ChunkedNotLast,
    /// A `Transfer-Encoding` list with empty or malformed elements.
    #[error("request has a malformed Transfer-Encoding")]
    InvalidTransferEncoding,
    /// A transfer coding other than `chunked`: the gateway does not implement it (501).
    #[error("request uses a transfer coding that is not implemented")]
    UnsupportedTransferCoding,
    /// A header line starting with a space or tab (obsolete line folding).
    #[error("request header uses obsolete line folding")]
    ObsoleteLineFolding,
    /// A line of the request head ending in a bare LF instead of CRLF.
    #[error("request head lines must end with CRLF")]
    BareLineFeed,
    /// A line with bytes where its CRLF should be (a stray CR, junk after the version).
    #[error("request head has a malformed line ending")]
    InvalidLineEnding,
    /// A header name that is empty, has bytes outside the token set, or space before `:`.
    #[error("request has an invalid header name")]
    InvalidHeaderName,
    /// A header value with NUL, CR, LF or another control byte.
    #[error("request has an invalid header value")]
    InvalidHeaderValue,
    /// An HTTP/1.1 request without `Host`.
    #[error("HTTP/1.1 request has no Host header")]
    MissingHost,
    /// More than one `Host` header.
    #[error("request has more than one Host header")]
    MultipleHost,
    /// A `Host` value with bytes that cannot appear in an authority.
    #[error("request has an invalid Host header")]
    InvalidHost,
    /// A request line that is not `METHOD SP target SP HTTP/1.x`.
    #[error("malformed request line")]
    InvalidRequestLine,
    /// The request head is larger than the configured limit (431).
    #[error("request head is larger than {limit} bytes")]
    HeadTooLarge {
        /// The configured `max_head_bytes`.
        limit: usize,
    },
    /// The request head has more header lines than the configured limit (431).
    #[error("request has more than {limit} header fields")]
    TooManyHeaders {
        /// The configured `max_headers`.
        limit: usize,
    },
    /// The request head did not arrive within `header_read_timeout` (408).
    #[error("timed out waiting for the request head")]
    HeadTimeout,
    /// A chunk-size line that is not hex digits, optionally followed by `;` extensions.
    #[error("malformed chunk size in chunked body")]
    InvalidChunkSize,
    /// A chunk size that does not fit in 64 bits.
    #[error("chunk size too large in chunked body")]
    ChunkSizeOverflow,
    /// A chunk extension with control bytes, or a chunk-size line that is too long.
    #[error("malformed chunk extension in chunked body")]
    InvalidChunkExtension,
    /// Chunk data not followed by CRLF, or a CR not followed by LF.
    #[error("malformed chunk framing in chunked body")]
    InvalidChunkFraming,
    /// A malformed trailer field after the last chunk.
    #[error("malformed trailer in chunked body")]
    InvalidTrailer,
    /// Trailers larger than `max_head_bytes` or more than `max_headers` fields (431).
    #[error("trailers of chunked body are too large")]
    TrailersTooLarge,
    /// A body paused for longer than `body_read_timeout` (408).
    #[error("timed out waiting for the request body")]
    BodyTimeout,
}

impl Violation {
    /// The HTTP status code to answer this violation with.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::UnsupportedTransferCoding => 501,
            Self::HeadTooLarge { .. } | Self::TooManyHeaders { .. } | Self::TrailersTooLarge => 431,
            Self::HeadTimeout | Self::BodyTimeout => 408,
            _ => 400,
        }
    }

    /// Whether the violation was found inside a request body, after the head had been
    /// released to the server (the server saw an I/O error rather than an EOF).
    #[must_use]
    pub fn in_body(&self) -> bool {
        matches!(
            self,
            Self::InvalidChunkSize
                | Self::ChunkSizeOverflow
                | Self::InvalidChunkExtension
                | Self::InvalidChunkFraming
                | Self::InvalidTrailer
                | Self::TrailersTooLarge
                | Self::BodyTimeout
        )
    }
}

/// Renders the error answer for a violation: the complete HTTP/1.1 response bytes
/// (status line, headers including `Connection: close`, body). The proxy supplies it so
/// that one place owns the JSON error shape.
pub type Responder = Arc<dyn Fn(&Violation) -> Bytes + Send + Sync>;

/// A [`Responder`] answering in plain text: `HTTP/1.1 <status>`, `Content-Type:
/// text/plain`, `Connection: close` and the violation's message. Handy in tests and
/// as a fallback; the proxy normally supplies its own JSON responder.
pub fn plain_text_responder() -> Responder {
    Arc::new(render_plain_text)
}

fn render_plain_text(violation: &Violation) -> Bytes {
    let status = violation.status();
    let reason = match status {
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        501 => "Not Implemented",
        _ => "Bad Request",
    };
    let body = format!("{violation}\n");
    Bytes::from(format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain; charset=utf-8\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    ))
}
