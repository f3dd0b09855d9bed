//! HTTP wire hygiene for Tollgate: what hyper lets through and a gateway must not.
//!
//! Depends on tokio, bytes, http, httparse and memchr only; no other Tollgate crate.
//!
//! - [`H1Guard`]: wraps each HTTP/1 client connection before hyper reads it.
//! - [`Prefixed`] / [`H2_PREFACE`]: replay peeked bytes for h2c connections.
//! - [`normalize_path`]: one spelling per path, before routing.
//! - [`strip_hop_by_hop`]: connection-scoped headers out, before forwarding.
//!
//! # Why the guard exists
//!
//! hyper's HTTP/1 server is lenient: it drops `Content-Length` when `Transfer-Encoding`
//! is present, accepts a missing or repeated `Host`, and answers its own parse errors
//! with empty 400/431 bodies. A gateway must refuse smuggling-shaped requests with a
//! clear 4xx and never forward them. So the proxy reads every client connection
//! through [`H1Guard`], which checks each request head before hyper sees one byte of
//! it, and follows body framing to find the next head on keep-alive and pipelined
//! connections.
//!
//! ```text
//!  client ──bytes──▶ H1Guard::poll_read ── checked bytes only ──▶ hyper
//!  client ◀─bytes─── H1Guard::poll_write ◀── responses (watched) ── hyper
//! ```
//!
//! # The read side, per request
//!
//! ```text
//! Head            --complete valid head, no body------------> Head (or AwaitResponse)
//! Head            --complete valid head, CL / chunked-------> Length / Chunked
//! Length, Chunked --end of the body-------------------------> Head (or AwaitResponse)
//! AwaitResponse   --response 101, or 2xx to CONNECT---------> Opaque
//! AwaitResponse   --any other final response----------------> Head
//! Head            --violation, header_read_timeout----------> Failed: EOF once nothing is in flight
//! Chunked         --malformed framing-----------------------> BodyFailed: one InvalidData error, then Closed
//! Length, Chunked --body_read_timeout-----------------------> Closed, after one TimedOut error
//! any             --client EOF, idle_timeout----------------> Closed: EOF
//! ```
//!
//! "(or AwaitResponse)": after a request with an `Upgrade` header or a `CONNECT`.
//!
//! - **Head**: bytes are held until the empty line ending the head, counting bytes
//!   and lines as they arrive, so an oversized head is refused (431) before it ends.
//!   Then httparse parses it once, and the framing and `Host` rules are applied. A
//!   valid head is released whole; a refused head is never released at all.
//! - **Length / Chunked**: body bytes pass through untouched (read straight into
//!   hyper's buffer when nothing is stashed) until the framing says the message ended;
//!   bytes after that are the next head and are examined before release.
//! - **AwaitResponse**: after an upgrade or CONNECT request the guard stops reading
//!   until it sees the response's status line on the write side.
//! - **Opaque**: after `101` (or a CONNECT `2xx`) both directions pass untouched.
//!
//! # The write side
//!
//! The guard follows response heads and bodies (`Content-Length`, chunked, 1xx, HEAD,
//! 204/304) to count requests in flight: heads released minus responses completed.
//! That count decides two things. EOF after a refused head waits until it is zero,
//! because hyper treats EOF while it owes a response as an abort and drops that
//! response. And the error answer is written only between responses, never inside one.
//! At most [`MAX_IN_FLIGHT`] requests are released ahead of their responses.
//!
//! # Answers
//!
//! | Found | Reader (hyper) gets | Client gets |
//! |---|---|---|
//! | violation in a head (400, 431, 501) | EOF once nothing is in flight | the [`Responder`]'s answer |
//! | `header_read_timeout` (408) | same | same |
//! | malformed chunked body (400, 431) | one `InvalidData` error, then EOF | the proxy's response, or the [`Responder`]'s if hyper shuts down without one |
//! | `body_read_timeout` (408) | one `TimedOut` error, then EOF | same |
//! | `idle_timeout` | EOF | nothing: the connection just closes |
//!
//! The answer is written in `poll_shutdown` (hyper shuts the connection down after
//! EOF or an error), decided once so it is written at most once. Then the write half is
//! shut and the guard lingers, reading and discarding client bytes for up to
//! [`GuardConfig::linger`] or [`LINGER_MAX_BYTES`], so that the client reads the answer
//! rather than a TCP reset.
//!
//! The proxy may enable hyper's `half_close`; the guard does not depend on it.

mod chars;
mod chunked;
mod config;
mod guard;
mod head;
mod hop;
mod path;
mod prefixed;
mod response;
mod session;
mod violation;

pub use config::{GuardConfig, LINGER_MAX_BYTES, MAX_IN_FLIGHT};
pub use guard::H1Guard;
pub use hop::{HopByHop, strip_hop_by_hop};
pub use path::{PathError, normalize_path};
pub use prefixed::{H2_PREFACE, Prefixed};
pub use violation::{Responder, Violation, plain_text_responder};
