//! Listening sockets and their accept loops.
//!
//! A listener is identified by its name and configured address. A reload keeps the
//! listeners that did not change (same socket, same connections; a listener renamed on
//! the same address counts as unchanged, see [`ListenerName`]), binds new ones before
//! the new configuration is swapped in (so a port that cannot be bound refuses the whole
//! reload), and stops removed ones: they stop accepting and their connections are closed
//! gracefully (in-flight requests finish).

pub(crate) mod conn;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::shared::Shared;

/// A listener's name, shared by its accept loop and every connection it accepted.
///
/// Requests find their route table by this name. A reload that renames a listener but
/// keeps its address (a Kubernetes port listener is named after the first Gateway
/// listener on the port, so removing that one renames it) swaps the name here: the socket
/// and its open connections stay.
pub(crate) type ListenerName = Arc<ArcSwap<String>>;

/// A running listener.
pub(crate) struct RunningListener {
    pub(crate) configured: SocketAddr,
    pub(crate) bound: SocketAddr,
    pub(crate) stop: CancellationToken,
    pub(crate) name: ListenerName,
}

/// Binds a listening socket. `SO_REUSEADDR` so a restart is not refused while old
/// connections sit in TIME_WAIT; `SO_REUSEPORT` so two processes can serve one port on
/// one host: two replicas on a node, or an old and a new process during an upgrade
/// (the kernel spreads new connections across them; either can stop without the port
/// ever refusing connections). Only sockets that also ask for it, as the same user, can
/// share: a port held by anything else still refuses the bind.
pub(crate) fn bind(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, Some(socket2::Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// Starts accepting on `listener`.
pub(crate) fn spawn_accept(
    shared: Arc<Shared>,
    name: ListenerName,
    listener: std::net::TcpListener,
    stop: CancellationToken,
    tracker: TaskTracker,
) -> std::io::Result<()> {
    let listener = TcpListener::from_std(listener)?;
    let t = tracker.clone();
    t.spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = stop.cancelled() => return,
                a = listener.accept() => a,
            };
            match accepted {
                Ok((stream, peer)) => {
                    tracker.spawn(conn::serve(
                        shared.clone(),
                        name.clone(),
                        peer,
                        stream,
                        stop.clone(),
                    ));
                }
                Err(e) => accept_error(&e).await,
            }
        }
    });
    Ok(())
}

/// Out of file descriptors (or memory) is a condition to wait out, not a reason to exit or
/// to spin: back off briefly so connections that are closing can free descriptors.
async fn accept_error(e: &std::io::Error) {
    let code = e.raw_os_error().unwrap_or(0);
    if matches!(
        code,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
    ) {
        tracing::warn!("accept failed: {e}; backing off");
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!("accept failed: {e}");
    }
}

/// Counts a client connection for its lifetime.
pub(crate) struct ConnCount(Arc<Shared>);

impl ConnCount {
    pub(crate) fn new(shared: &Arc<Shared>) -> (Self, i64) {
        shared
            .metrics
            .connections_total
            .fetch_add(1, Ordering::Relaxed);
        let n = shared
            .metrics
            .active_connections
            .fetch_add(1, Ordering::AcqRel)
            + 1;
        (Self(shared.clone()), n)
    }
}

impl Drop for ConnCount {
    fn drop(&mut self) {
        self.0
            .metrics
            .active_connections
            .fetch_sub(1, Ordering::AcqRel);
    }
}
