//! The compressing body: each data frame of the answer goes through the encoder as it
//! arrives, and what the encoder produced goes out. The encoder is flushed whenever the
//! inner body has nothing ready, so a slowly streamed answer reaches the client piece by
//! piece instead of waiting in the encoder.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::encoder::Encoder;
use crate::body::{BodyError, ProxyBody};

pub(crate) struct CompressBody {
    inner: ProxyBody,
    /// `None` once finished.
    encoder: Option<Encoder>,
    /// Data fed since the last flush, so a pending inner body is worth a flush.
    unflushed: bool,
    /// Trailers of the inner body, sent after the encoder's last bytes.
    trailers: Option<http::HeaderMap>,
    done: bool,
}

impl CompressBody {
    pub(crate) fn new(inner: ProxyBody, encoder: Encoder) -> Self {
        Self {
            inner,
            encoder: Some(encoder),
            unflushed: false,
            trailers: None,
            done: false,
        }
    }

    fn finish(&mut self) -> Result<Bytes, BodyError> {
        self.done = true;
        match self.encoder.take() {
            Some(e) => Ok(e.finish()?),
            None => Ok(Bytes::new()),
        }
    }
}

fn data(b: Bytes) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
    Poll::Ready(Some(Ok(Frame::data(b))))
}

impl Body for CompressBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        loop {
            if this.done {
                return Poll::Ready(this.trailers.take().map(|t| Ok(Frame::trailers(t))));
            }
            let Some(encoder) = this.encoder.as_mut() else {
                this.done = true;
                continue;
            };
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(d) => {
                        let out = encoder.write(&d)?;
                        this.unflushed = true;
                        if !out.is_empty() {
                            return data(out);
                        }
                    }
                    Err(frame) => {
                        // Trailers end the body: the encoder's last bytes go first.
                        this.trailers = frame.into_trailers().ok();
                        let out = this.finish()?;
                        if !out.is_empty() {
                            return data(out);
                        }
                    }
                },
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.encoder = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    let out = this.finish()?;
                    if !out.is_empty() {
                        return data(out);
                    }
                }
                Poll::Pending => {
                    if !this.unflushed {
                        return Poll::Pending;
                    }
                    this.unflushed = false;
                    let out = encoder.flush()?;
                    // The inner body has registered the waker: returning data now is
                    // fine, the next poll asks it again.
                    return if out.is_empty() {
                        Poll::Pending
                    } else {
                        data(out)
                    };
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // The compressed length is known only at the end.
        SizeHint::default()
    }
}
