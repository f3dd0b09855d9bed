//! [`H1Guard`]: the I/O wrapper that puts [`Session`] between the client socket and
//! hyper. See the crate docs for the state machine.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use crate::config::GuardConfig;
use crate::session::{Phase, ReadMode, Session, Stop};
use crate::violation::{Responder, Violation};

mod close;
mod stash;
mod timer;

#[cfg(test)]
mod tests;

use close::Close;
use stash::Stash;
use timer::Timer;

/// Wraps a client connection of the HTTP/1 server: every request head is checked before
/// the server (hyper) can read any of it, body framing is followed so the next head is
/// found, and a refused request is answered with the proxy's [`Responder`] once hyper
/// has finished what it owes and shuts the connection down.
///
/// Reads hand out only checked bytes; writes go straight to the socket (the guard just
/// watches response heads go by). Give it to hyper instead of the socket.
pub struct H1Guard<IO> {
    io: IO,
    session: Session,
    stash: Stash,
    config: Arc<GuardConfig>,
    responder: Responder,
    timer: Timer,
    /// The timeout that is running and since when. Cleared on every release of bytes
    /// and every change seen on the write side, so that it restarts at the next wait.
    clock: Option<(Phase, Instant)>,
    /// The reader's waker, while it waits for something the write side does.
    read_waker: Option<Waker>,
    close: Close,
}

impl<IO> H1Guard<IO> {
    /// Wraps `io`. `initial`: bytes already read from the socket (the proxy peeks to
    /// tell h2c from HTTP/1); they are inspected like any others.
    pub fn new(io: IO, initial: Bytes, config: Arc<GuardConfig>, responder: Responder) -> Self {
        Self {
            io,
            session: Session::new(&config),
            stash: Stash::with(&initial),
            config,
            responder,
            timer: Timer::default(),
            clock: None,
            read_waker: None,
            close: Close::Open,
        }
    }

    /// The first violation found on this connection, if any (for logs and metrics).
    pub fn violation(&self) -> Option<&Violation> {
        self.session.violation()
    }

    /// The wrapped connection.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    fn park(&mut self, cx: &Context<'_>) {
        match &self.read_waker {
            Some(waker) if waker.will_wake(cx.waker()) => {}
            _ => self.read_waker = Some(cx.waker().clone()),
        }
    }

    /// Follows written bytes and wakes a reader waiting on the write side.
    fn observe(&mut self, written: &[u8]) {
        self.session.observe_write(written);
        if self.session.take_wake() {
            // The phase changed (a response completed, say): its timeout starts anew.
            self.clock = None;
            if let Some(waker) = &self.read_waker {
                waker.wake_by_ref();
            }
        }
    }
}

impl<IO: AsyncRead + Unpin> H1Guard<IO> {
    fn read_checked(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            // Examined bytes go first and in order, whatever was found after them.
            if self.stash.has_approved() {
                self.stash.release_into(buf);
                self.clock = None;
                return Poll::Ready(Ok(()));
            }
            match self.session.read_mode() {
                ReadMode::Eof => return Poll::Ready(Ok(())),
                ReadMode::BodyError => {
                    self.session.close_read();
                    let message = self
                        .session
                        .violation()
                        .map_or_else(|| "malformed request body".to_owned(), ToString::to_string);
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, message)));
                }
                ReadMode::Hold => {
                    self.park(cx);
                    return Poll::Pending;
                }
                ReadMode::Opaque if self.stash.is_empty() => {
                    return Pin::new(&mut self.io).poll_read(cx, buf);
                }
                ReadMode::Opaque | ReadMode::Inspect => {}
            }

            if !self.stash.is_empty() {
                let (approved, stop) = self.session.examine(self.stash.unexamined());
                self.stash.approve(approved);
                match stop {
                    Some(Stop::Refused) => self.stash.drop_unexamined(),
                    Some(Stop::Hold) if approved == 0 => {
                        self.park(cx);
                        return Poll::Pending;
                    }
                    Some(Stop::NeedMore) if approved == 0 => {
                        // Only an incomplete head is stashed: read more onto its end.
                        match self.fill_stash(cx) {
                            Poll::Ready(Ok(0)) => {
                                // The client gave up mid-head: nothing to answer.
                                self.stash.drop_unexamined();
                                self.session.close_read();
                            }
                            Poll::Ready(Ok(_)) => {}
                            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                            Poll::Pending => match self.on_pending(cx) {
                                Some(poll) => return poll,
                                None => self.stash.drop_unexamined(),
                            },
                        }
                    }
                    _ => {}
                }
                continue;
            }

            // Nothing stashed: read straight into the caller's buffer and examine the
            // bytes there, so released bytes (bodies above all) are never copied.
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let start = buf.filled().len();
            match Pin::new(&mut self.io).poll_read(cx, buf) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => match self.on_pending(cx) {
                    Some(poll) => return poll,
                    None => continue,
                },
            }
            let end = buf.filled().len();
            if end == start {
                self.session.close_read();
                return Poll::Ready(Ok(()));
            }
            let (approved, stop) = self.session.examine(&buf.filled()[start..]);
            if start + approved < end {
                // Bytes past what may be released now: an incomplete head or held-back
                // bytes are kept; bytes of a refused request are dropped.
                if stop != Some(Stop::Refused) {
                    self.stash.push(&buf.filled()[start + approved..]);
                }
                buf.set_filled(start + approved);
            }
            if approved > 0 {
                self.clock = None;
                return Poll::Ready(Ok(()));
            }
        }
    }

    fn fill_stash(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut read = ReadBuf::new(self.stash.spare());
        std::task::ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
        let n = read.filled().len();
        self.stash.commit(n);
        Poll::Ready(Ok(n))
    }

    /// The socket has nothing: run the timeout of the current phase. `None` means a
    /// head timed out and the caller should look at the new state.
    fn on_pending(&mut self, cx: &mut Context<'_>) -> Option<Poll<io::Result<()>>> {
        self.park(cx);
        let phase = self.session.phase();
        let limit = match phase {
            Phase::None => {
                self.clock = None;
                return Some(Poll::Pending);
            }
            Phase::Idle => self.config.idle_timeout,
            Phase::Head => self.config.header_read_timeout,
            Phase::Body => self.config.body_read_timeout,
        };
        let since = match self.clock {
            Some((running, since)) if running == phase => since,
            _ => {
                let now = Instant::now();
                self.clock = Some((phase, now));
                now
            }
        };
        let Some(deadline) = since.checked_add(limit) else {
            // A limit too large to add is no limit.
            return Some(Poll::Pending);
        };
        if self.timer.poll_until(cx, deadline).is_pending() {
            return Some(Poll::Pending);
        }
        self.clock = None;
        match phase {
            Phase::Idle => {
                // Quietly: EOF makes hyper close; nothing is answered.
                self.session.close_read();
                Some(Poll::Ready(Ok(())))
            }
            Phase::Head => {
                self.session.fail_head(Violation::HeadTimeout);
                None
            }
            Phase::Body => {
                self.session.fail_body_timeout();
                let e = io::Error::new(io::ErrorKind::TimedOut, Violation::BodyTimeout);
                Some(Poll::Ready(Err(e)))
            }
            Phase::None => Some(Poll::Pending),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for H1Guard<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.get_mut().read_checked(cx, buf)
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for H1Guard<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = std::task::ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.observe(buf.get(..n).unwrap_or(buf));
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = std::task::ready!(Pin::new(&mut this.io).poll_write_vectored(cx, bufs))?;
        let mut left = n;
        for slice in bufs {
            if left == 0 {
                break;
            }
            let take = left.min(slice.len());
            this.observe(&slice[..take]);
            left -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_close(cx)
    }
}

impl<IO: fmt::Debug> fmt::Debug for H1Guard<IO> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1Guard")
            .field("io", &self.io)
            .field("session", &self.session)
            .field("stash", &self.stash)
            .finish_non_exhaustive()
    }
}
