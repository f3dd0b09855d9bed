//! A response body streamed to the client while a copy is kept for the cache; the copy
//! is stored when the body ends complete and within `max_body`, and dropped otherwise
//! (the client still gets every byte).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::Fill;
use crate::body::{BodyError, ProxyBody};

pub(crate) struct Tee {
    inner: ProxyBody,
    fill: Option<Fill>,
    chunks: Vec<Bytes>,
    len: u64,
}

impl Tee {
    pub(crate) fn new(inner: ProxyBody, fill: Fill) -> Self {
        Self {
            inner,
            fill: Some(fill),
            chunks: Vec::new(),
            len: 0,
        }
    }

    fn complete(&mut self) {
        let Some(fill) = self.fill.take() else {
            return;
        };
        let body = match self.chunks.len() {
            0 => Bytes::new(),
            1 => self.chunks.swap_remove(0),
            _ => {
                let mut b = bytes::BytesMut::with_capacity(self.len as usize);
                for c in self.chunks.drain(..) {
                    b.extend_from_slice(&c);
                }
                b.freeze()
            }
        };
        fill.store(body);
    }
}

impl Body for Tee {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let res = Pin::new(&mut this.inner).poll_frame(cx);
        match &res {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(fill) = &this.fill {
                    match frame.data_ref() {
                        Some(d) if this.len + d.len() as u64 <= fill.max_body => {
                            this.len += d.len() as u64;
                            this.chunks.push(d.clone());
                        }
                        // Too large, or trailers (which are not stored): no entry.
                        _ => {
                            this.fill = None;
                            this.chunks = Vec::new();
                        }
                    }
                }
                if this.inner.is_end_stream() {
                    this.complete();
                }
            }
            Poll::Ready(None) => this.complete(),
            Poll::Ready(Some(Err(_))) => this.fill = None,
            Poll::Pending => {}
        }
        res
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
