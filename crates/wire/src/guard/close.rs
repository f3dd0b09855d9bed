//! Closing: the error answer (exactly once), then lingering.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::H1Guard;
use crate::config::LINGER_MAX_BYTES;

/// Progress of `poll_shutdown`: answer, flush, shut the write half, linger.
pub(super) enum Close {
    Open,
    Answer(Bytes),
    Flush,
    Shutdown,
    Linger {
        deadline: Option<Instant>,
        drained: usize,
    },
    Done,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> H1Guard<IO> {
    pub(super) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.close {
                Close::Open => {
                    // Decided once: this is what makes the answer exactly-once.
                    self.close = match self.session.answer_due() {
                        Some(violation) => Close::Answer((self.responder)(violation)),
                        None => Close::Shutdown,
                    };
                }
                Close::Answer(answer) => {
                    while answer.has_remaining() {
                        match std::task::ready!(Pin::new(&mut self.io).poll_write(cx, &answer[..]))
                        {
                            Ok(0) => {
                                self.close = Close::Done;
                                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                            }
                            Ok(n) => answer.advance(n.min(answer.len())),
                            Err(e) => {
                                self.close = Close::Done;
                                return Poll::Ready(Err(e));
                            }
                        }
                    }
                    self.close = Close::Flush;
                }
                Close::Flush => {
                    if let Err(e) = std::task::ready!(Pin::new(&mut self.io).poll_flush(cx)) {
                        self.close = Close::Done;
                        return Poll::Ready(Err(e));
                    }
                    self.close = Close::Shutdown;
                }
                Close::Shutdown => {
                    let shut = std::task::ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                    self.session.close_read();
                    // Linger whenever a request was refused, whoever answered it: closing
                    // with unread client bytes makes the kernel send a reset, which can
                    // destroy the answer before the client reads it.
                    let linger = !self.config.linger.is_zero();
                    self.close = if shut.is_ok() && linger && self.session.violation().is_some() {
                        Close::Linger {
                            deadline: Instant::now().checked_add(self.config.linger),
                            drained: 0,
                        }
                    } else {
                        Close::Done
                    };
                    shut?;
                }
                Close::Linger { deadline, drained } => {
                    let mut scratch = [0u8; 4096];
                    while *drained < LINGER_MAX_BYTES {
                        let mut read = ReadBuf::new(&mut scratch);
                        match Pin::new(&mut self.io).poll_read(cx, &mut read) {
                            Poll::Ready(Ok(())) if !read.filled().is_empty() => {
                                *drained += read.filled().len();
                            }
                            // EOF or error: the client is gone.
                            Poll::Ready(_) => break,
                            Poll::Pending => match *deadline {
                                Some(at) if self.timer.poll_until(cx, at).is_ready() => break,
                                _ => return Poll::Pending,
                            },
                        }
                    }
                    self.close = Close::Done;
                }
                Close::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}
