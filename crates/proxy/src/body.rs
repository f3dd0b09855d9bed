//! Body types. Bodies stream frame by frame in both directions; nothing is buffered whole
//! (trailers survive, memory stays flat).

use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::io::AsyncRead as _;
use tokio::time::Sleep;

use crate::upstream::pool::Checkin;

/// Errors a streamed body can end with.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;

/// Called once when a response body ends, with the bytes sent and whether it completed.
pub type OnDone = Box<dyn FnOnce(u64, bool) + Send>;

/// The response body the gateway sends to clients.
pub struct ProxyBody {
    inner: Inner,
    on_done: Option<OnDone>,
    sent: u64,
}

enum Inner {
    Full(Option<Bytes>),
    Upstream(UpstreamBody),
    File(FileBody),
    /// A body wrapped by a policy (the cache's copy on its way to the client).
    Boxed(Pin<Box<dyn Body<Data = Bytes, Error = BodyError> + Send>>),
    /// An answer compressed on its way out (`compression::CompressBody`).
    Compressed(Box<crate::compression::CompressBody>),
}

impl ProxyBody {
    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new())
    }

    /// A body of known bytes.
    pub fn full(bytes: Bytes) -> Self {
        let inner = if bytes.is_empty() { None } else { Some(bytes) };
        Self {
            inner: Inner::Full(inner),
            on_done: None,
            sent: 0,
        }
    }

    pub(crate) fn upstream(body: UpstreamBody) -> Self {
        Self {
            inner: Inner::Upstream(body),
            on_done: None,
            sent: 0,
        }
    }

    /// `len` bytes of an open file from its current position, read as the client takes
    /// them (never buffered whole).
    pub(crate) fn file(file: tokio::fs::File, len: u64) -> Self {
        Self {
            inner: Inner::File(FileBody {
                file,
                left: len,
                buf: bytes::BytesMut::new(),
            }),
            on_done: None,
            sent: 0,
        }
    }

    /// A body of another type, polled through a box.
    pub(crate) fn boxed(body: impl Body<Data = Bytes, Error = BodyError> + Send + 'static) -> Self {
        Self {
            inner: Inner::Boxed(Box::pin(body)),
            on_done: None,
            sent: 0,
        }
    }

    /// `body` compressed as it streams.
    pub(crate) fn compressed(body: crate::compression::CompressBody) -> Self {
        Self {
            inner: Inner::Compressed(Box::new(body)),
            on_done: None,
            sent: 0,
        }
    }

    /// Runs `f` when the body ends (or is dropped), with the bytes sent.
    pub fn on_done(&mut self, f: OnDone) {
        self.on_done = Some(f);
    }

    fn finish(&mut self, complete: bool) {
        if let Some(f) = self.on_done.take() {
            f(self.sent, complete);
        }
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        let complete = self.is_end_stream();
        self.finish(complete);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let res = match &mut this.inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Upstream(u) => Pin::new(u).poll_frame(cx),
            Inner::File(f) => f.poll_chunk(cx),
            Inner::Boxed(b) => b.as_mut().poll_frame(cx),
            Inner::Compressed(c) => Pin::new(c.as_mut()).poll_frame(cx),
        };
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(d) = frame.data_ref() {
                    this.sent += d.len() as u64;
                }
            }
            Poll::Ready(None) => this.finish(true),
            Poll::Ready(Some(Err(_))) => this.finish(false),
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(b) => b.is_none(),
            Inner::Upstream(u) => u.is_end_stream(),
            Inner::File(f) => f.left == 0,
            Inner::Boxed(b) => b.is_end_stream(),
            Inner::Compressed(c) => c.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Inner::Full(None) => SizeHint::with_exact(0),
            Inner::Upstream(u) => u.size_hint(),
            Inner::File(f) => SizeHint::with_exact(f.left),
            Inner::Boxed(b) => b.size_hint(),
            Inner::Compressed(c) => c.size_hint(),
        }
    }
}

/// A file read in chunks of at most [`FileBody::CHUNK`] bytes.
struct FileBody {
    file: tokio::fs::File,
    left: u64,
    // Kept across a pending read (tokio reads files on a blocking thread).
    buf: bytes::BytesMut,
}

impl FileBody {
    const CHUNK: u64 = 64 * 1024;

    fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.left == 0 {
            return Poll::Ready(None);
        }
        // Bounded by CHUNK, so the cast cannot truncate.
        let want = self.left.min(Self::CHUNK) as usize;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let mut read = tokio::io::ReadBuf::new(&mut self.buf[..want]);
        if let Err(e) = ready!(Pin::new(&mut self.file).poll_read(cx, &mut read)) {
            return Poll::Ready(Some(Err(e.into())));
        }
        let n = read.filled().len();
        if n == 0 {
            // The file shrank after its length was sent.
            self.left = 0;
            return Poll::Ready(Some(Err("file ended before its length".into())));
        }
        self.left -= n as u64;
        Poll::Ready(Some(Ok(Frame::data(self.buf.split_to(n).freeze()))))
    }
}

/// A response body from an upstream. Gives the connection back to its pool when the body
/// ends, and fails the stream when the upstream pauses longer than the idle timeout.
pub(crate) struct UpstreamBody {
    body: Incoming,
    checkin: Option<Checkin>,
    idle: Duration,
    // Armed only while the upstream is pending, so a fast stream pays no timer cost.
    sleep: Option<Pin<Box<Sleep>>>,
}

impl UpstreamBody {
    pub(crate) fn new(body: Incoming, checkin: Option<Checkin>, idle: Duration) -> Self {
        let mut this = Self {
            body,
            checkin,
            idle,
            sleep: None,
        };
        if this.body.is_end_stream() {
            this.release();
        }
        this
    }

    fn release(&mut self) {
        if let Some(c) = self.checkin.take() {
            c.release();
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match Pin::new(&mut self.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(f))) => {
                self.sleep = None;
                if self.body.is_end_stream() {
                    self.release();
                }
                Poll::Ready(Some(Ok(f)))
            }
            Poll::Ready(Some(Err(e))) => {
                // A broken connection must not go back to the pool.
                self.checkin = None;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                self.release();
                Poll::Ready(None)
            }
            Poll::Pending => {
                let idle = self.idle;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                ready!(sleep.as_mut().poll(cx));
                self.checkin = None;
                Poll::Ready(Some(Err("upstream body idle timeout".into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The request body sent upstream.
pub(crate) enum RequestBody {
    Empty,
    Client(Incoming),
    /// A client body under the route's `request_size.max_body`: `left` bytes may still
    /// come, and one more fails the stream (which aborts the upstream request).
    Capped {
        body: Incoming,
        limit: u64,
        left: u64,
    },
}

/// Why a request body stopped.
#[derive(Debug)]
pub(crate) enum RequestBodyError {
    /// The client's body failed (bad framing, stalled, connection lost).
    Client(hyper::Error),
    /// The body grew past this many bytes.
    TooLarge(u64),
}

impl std::fmt::Display for RequestBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(e) => write!(f, "client body: {e}"),
            Self::TooLarge(n) => write!(f, "request body larger than {n} bytes"),
        }
    }
}

impl std::error::Error for RequestBodyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Client(e) => Some(e),
            Self::TooLarge(_) => None,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = RequestBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, RequestBodyError>>> {
        match self.get_mut() {
            Self::Empty => Poll::Ready(None),
            Self::Client(b) => Pin::new(b).poll_frame(cx).map_err(RequestBodyError::Client),
            Self::Capped { body, limit, left } => {
                let frame = ready!(Pin::new(body).poll_frame(cx));
                if let Some(Ok(f)) = &frame
                    && let Some(d) = f.data_ref()
                {
                    let n = d.len() as u64;
                    if n > *left {
                        *left = 0;
                        return Poll::Ready(Some(Err(RequestBodyError::TooLarge(*limit))));
                    }
                    *left -= n;
                }
                Poll::Ready(frame.map(|r| r.map_err(RequestBodyError::Client)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Empty => true,
            Self::Client(b) | Self::Capped { body: b, .. } => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Empty => SizeHint::with_exact(0),
            Self::Client(b) | Self::Capped { body: b, .. } => b.size_hint(),
        }
    }
}

use std::future::Future as _;
