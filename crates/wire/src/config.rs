//! Limits and timeouts of the HTTP/1 guard.

use std::time::Duration;

/// Most bytes read and thrown away while lingering after an error answer. Past this the
/// client is clearly not listening for the answer, so we stop paying for its upload.
pub const LINGER_MAX_BYTES: usize = 256 * 1024;

/// Most requests whose heads were released to the server but whose responses are not
/// complete yet. The guard stops reading the client past this, which bounds pipelining
/// and lets it keep the per-request bookkeeping in a `u64` bit set (no allocation).
pub const MAX_IN_FLIGHT: u32 = 64;

/// Limits and timeouts for [`H1Guard`](crate::H1Guard).
///
/// Share one value between connections through an `Arc`; the guard never mutates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// Largest request head: request line, header lines and the empty line ending the
    /// head, in bytes. A longer head is refused with 431 as soon as it grows past this,
    /// without waiting for its end. Also caps chunked-body trailers.
    pub max_head_bytes: usize,
    /// Most header lines in one request head (431 beyond). Also caps trailer lines.
    pub max_headers: usize,
    /// From the first byte of a request head until the head is complete; past it the
    /// request is refused with 408.
    pub header_read_timeout: Duration,
    /// Keep-alive: how long a connection with no request in flight may stay silent
    /// before the guard closes it (EOF to the server, no answer to the client).
    pub idle_timeout: Duration,
    /// While a request body is outstanding, the longest pause between body bytes; past
    /// it the reader gets an `io::ErrorKind::TimedOut` error.
    pub body_read_timeout: Duration,
    /// After an error answer, how long to keep reading (and discarding) client bytes
    /// before closing, so that the client reads the answer instead of a TCP reset.
    /// At most [`LINGER_MAX_BYTES`] are drained. Zero turns lingering off.
    pub linger: Duration,
}

impl Default for GuardConfig {
    fn default() -> Self {
        Self {
            max_head_bytes: 16 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(30),
            linger: Duration::from_secs(2),
        }
    }
}
