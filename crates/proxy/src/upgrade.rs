//! Upgraded connections (WebSocket and other `Upgrade:` protocols).
//!
//! The client's request goes upstream over HTTP/1.1 with `Connection: upgrade` restored
//! (hop-by-hop removal took it off). When the upstream answers 101, both sides are taken
//! over from hyper and bytes are copied both ways until either side closes or nothing
//! moves for the service's idle timeout. Tunnels run as tracked tasks, so shutdown waits
//! for them within the grace period; they do not depend on the runtime, so a reload never
//! cuts them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::body::ProxyBody;
use crate::shared::Shared;
use crate::upstream::now_ms;

/// Finishes an upgrade once the upstream said 101: restores the hop-by-hop headers the
/// client must see, and starts the tunnel.
pub(crate) fn complete(
    shared: &Shared,
    client: OnUpgrade,
    mut res: Response<ProxyBody>,
    upstream: OnUpgrade,
    protocol: HeaderValue,
    idle: Duration,
    connection: Arc<crate::handler::ConnInfo>,
) -> Response<ProxyBody> {
    debug_assert_eq!(res.status(), StatusCode::SWITCHING_PROTOCOLS);
    let h = res.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if !h.contains_key(header::UPGRADE) {
        h.insert(header::UPGRADE, protocol);
    }
    shared.tracker.spawn(async move {
        let (client, upstream) = match tokio::try_join!(client, upstream) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!("upgrade failed: {e}");
                return;
            }
        };
        tunnel(TokioIo::new(client), TokioIo::new(upstream), idle).await;
        // The client connection counts (max_connections, metrics) until the tunnel ends.
        drop(connection);
    });
    res
}

/// Copies both ways until one side closes or both are idle for `idle`.
async fn tunnel<A, B>(a: A, b: B, idle: Duration)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let last = Arc::new(AtomicU64::new(now_ms()));
    let mut a = Activity {
        io: a,
        last: last.clone(),
    };
    let mut b = Activity {
        io: b,
        last: last.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    let idle_ms = idle.as_millis() as u64;
    loop {
        let since = now_ms().saturating_sub(last.load(Ordering::Relaxed));
        let wait = Duration::from_millis(idle_ms.saturating_sub(since).max(1));
        tokio::select! {
            _ = &mut copy => return,
            _ = tokio::time::sleep(wait) => {
                if now_ms().saturating_sub(last.load(Ordering::Relaxed)) >= idle_ms {
                    tracing::debug!("upgraded connection idle for {idle:?}; closing");
                    return;
                }
            }
        }
    }
}

/// Records the time of the last byte moved, for the idle timeout, without a timer reset
/// per read.
struct Activity<T> {
    io: T,
    last: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Activity<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.last.store(now_ms(), Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Activity<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
