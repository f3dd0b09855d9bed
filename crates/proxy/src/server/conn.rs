//! One client connection: TLS when the listener has it (ALPN picks HTTP/2 or HTTP/1.1),
//! otherwise HTTP/2 prior knowledge or HTTP/1.1 told apart by the first bytes; HTTP/1
//! framing guarded; served with hyper; closed gracefully when asked.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tollgate_ir as ir;
use tollgate_wire::{H1Guard, H2_PREFACE, Prefixed};

use super::ConnCount;
use crate::handler::{self, ConnInfo};
use crate::runtime::Runtime;
use crate::shared::Shared;

/// Serves a connection until it closes or `stop` asks it to close gracefully.
pub(crate) async fn serve(
    shared: Arc<Shared>,
    listener: super::ListenerName,
    peer: SocketAddr,
    mut stream: TcpStream,
    stop: CancellationToken,
) {
    let (count, open) = ConnCount::new(&shared);
    let rt = shared.store.load_full();
    let settings = &rt.snapshot.server;
    // Over the limit the connection is still read, so the client gets an answer in its
    // own protocol (a 503 for HTTP/1, a gRPC UNAVAILABLE for gRPC over HTTP/2), and then
    // closed after a short grace instead of being kept.
    let overloaded = open > i64::from(settings.max_connections);
    let stop = if overloaded {
        shared.metrics.rejected(503);
        let token = stop.child_token();
        let t = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            t.cancel();
        });
        token
    } else {
        stop
    };
    let _ = stream.set_nodelay(true);
    let tls = rt
        .tables
        .get(listener.load().as_str())
        .and_then(|t| t.tls.clone());
    let Some(tls) = tls else {
        let Some(initial) = sniff(&mut stream, settings.idle_timeout).await else {
            return;
        };
        let info = Arc::new(ConnInfo::new(
            peer, listener, "http", None, count, overloaded,
        ));
        if initial.starts_with(H2_PREFACE) {
            let io = Prefixed::new(stream, initial.freeze());
            serve_h2(&shared, &rt, info, io, &stop).await;
        } else {
            serve_h1(&shared, &rt, info, stream, initial.freeze(), &stop).await;
        }
        return;
    };
    let acceptor = tollgate_tls::tokio_rustls::TlsAcceptor::from(tls);
    let handshake = tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream));
    let stream = match handshake.await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            shared.metrics.tls_handshake_failed();
            tracing::debug!(%peer, "TLS handshake failed: {e}");
            return;
        }
        Err(_) => {
            shared.metrics.tls_handshake_failed();
            return;
        }
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
    let client_subject = tollgate_tls::stream_peer_identity(&stream).map(|p| Arc::from(p.subject));
    let info = Arc::new(ConnInfo::new(
        peer,
        listener,
        "https",
        client_subject,
        count,
        overloaded,
    ));
    if h2 {
        serve_h2(&shared, &rt, info, stream, &stop).await;
    } else {
        serve_h1(&shared, &rt, info, stream, Bytes::new(), &stop).await;
    }
}

fn service(
    shared: Arc<Shared>,
    info: Arc<ConnInfo>,
) -> impl hyper::service::Service<
    http::Request<hyper::body::Incoming>,
    Response = http::Response<crate::body::ProxyBody>,
    Error = Infallible,
    Future = impl Future<Output = Result<http::Response<crate::body::ProxyBody>, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let info = info.clone();
        async move { Ok::<_, Infallible>(handler::handle(shared, info, req).await) }
    })
}

async fn serve_h2<IO>(
    shared: &Arc<Shared>,
    rt: &Runtime,
    info: Arc<ConnInfo>,
    io: IO,
    stop: &CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings: &ir::ServerSettings = &rt.snapshot.server;
    let mut b = http2::Builder::new(TokioExecutor::new());
    b.timer(TokioTimer::new())
        .max_concurrent_streams(settings.h2_max_concurrent_streams)
        // Rapid-reset and error-reset floods (CVE-2023-44487 and kin).
        .max_pending_accept_reset_streams(Some(64))
        .max_local_error_reset_streams(Some(256))
        .max_header_list_size(settings.max_header_bytes)
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let conn = b.serve_connection(TokioIo::new(io), service(shared.clone(), info));
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

async fn serve_h1<IO>(
    shared: &Arc<Shared>,
    rt: &Runtime,
    info: Arc<ConnInfo>,
    io: IO,
    initial: Bytes,
    stop: &CancellationToken,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let settings: &ir::ServerSettings = &rt.snapshot.server;
    let io = H1Guard::new(io, initial, rt.guard.clone(), shared.responder.clone());
    let mut b = http1::Builder::new();
    b.timer(TokioTimer::new())
        .keep_alive(true)
        // The guard enforces head size and timing before hyper sees a byte, so hyper's
        // own limits sit above ours and never answer with its empty-bodied errors.
        .max_buf_size((settings.max_header_bytes as usize * 2).max(64 * 1024))
        .max_headers(settings.max_header_count as usize + 32)
        .header_read_timeout(None);
    let conn = b
        .serve_connection(TokioIo::new(io), service(shared.clone(), info))
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// Reads until the first bytes tell HTTP/2 prior knowledge apart from HTTP/1. `None` when
/// the client sent nothing before the idle timeout or closed.
async fn sniff(stream: &mut TcpStream, idle: Duration) -> Option<BytesMut> {
    let mut buf = BytesMut::with_capacity(4096);
    let read = async {
        loop {
            let n = stream.read_buf(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            let k = buf.len().min(H2_PREFACE.len());
            if buf.len() >= H2_PREFACE.len() || buf[..k] != H2_PREFACE[..k] {
                return Some(());
            }
        }
    };
    tokio::time::timeout(idle, read).await.ok()??;
    Some(buf)
}
