//! The listener and its connections.
//!
//! Connections are tasks in a `JoinSet` owned by the accept task, so stopping that one task
//! closes the listening socket and every connection at once (abruptly: clients see their
//! connection reset mid-stream): that is both "the API server goes away" and shutdown.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use crate::handler;
use crate::shared::Shared;

/// Binds `addr` with `SO_REUSEADDR`, so that the same port can be bound again right after
/// `set_available(false)` closed it, while old connections sit in TIME_WAIT.
pub(crate) fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Accepts connections until `stop` fires or its sender is dropped; then closes the
/// listener and every connection (open watches included) before the task ends, so awaiting
/// the task means the server is really gone.
pub(crate) fn spawn_accept(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        connections.spawn(serve(Arc::clone(&shared), stream));
                    }
                    // Out of file descriptors and the like: wait instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                },
                // Reap finished connections so the set does not grow without bound.
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        connections.shutdown().await;
    })
}

async fn serve(shared: Arc<Shared>, stream: TcpStream) {
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handler::handle(shared, request).await) }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new());
    // A connection error (client went away mid-request) concerns nobody: the client sees
    // it, and the next request gets a new connection.
    let _ = builder
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
