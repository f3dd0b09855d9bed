//! Connections to one upstream endpoint.
//!
//! HTTP/1.1: a LIFO stack of idle keep-alive connections (the most recently used one is the
//! warmest and least likely to have been closed by the peer). A connection goes back to
//! the stack only when its response body has been read to the end; one dropped midway is
//! closed. HTTP/2 (h2c): one multiplexed connection, re-opened when it closes.
//!
//! `max_connections` is a circuit breaker: when every connection is busy and the limit is
//! reached, checkout fails at once (the caller answers 503) instead of queueing without
//! bound.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use crate::body::RequestBody;
use crate::tls::UpstreamIo;

/// Idle connections older than this are closed rather than reused: many servers close
/// idle keep-alive connections after 60–75 s, and reusing one that the peer is closing
/// fails the request.
const MAX_IDLE_AGE: Duration = Duration::from_secs(50);

/// Where an endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// A literal socket address.
    Addr(SocketAddr),
    /// A DNS name, resolved at every connect so address changes are followed.
    Name(String, u16),
}

impl Target {
    /// Parses `ip:port`, `[v6]:port` or `name:port`.
    pub(crate) fn parse(s: &str) -> Option<Self> {
        if let Ok(a) = s.parse() {
            return Some(Self::Addr(a));
        }
        let (host, port) = s.rsplit_once(':')?;
        let port = port.parse().ok()?;
        if host.is_empty() {
            return None;
        }
        Some(Self::Name(host.to_owned(), port))
    }

    /// The host part, for SNI when none is configured.
    pub(crate) fn host(&self) -> String {
        match self {
            Self::Addr(a) => a.ip().to_string(),
            Self::Name(h, _) => h.clone(),
        }
    }

    async fn resolve(&self) -> std::io::Result<SocketAddr> {
        match self {
            Self::Addr(a) => Ok(*a),
            Self::Name(h, p) => tokio::net::lookup_host((h.as_str(), *p))
                .await?
                .next()
                .ok_or_else(|| std::io::Error::other("name resolved to no address")),
        }
    }
}

/// Why a connection could not be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("connect timed out")]
    Timeout,
    #[error("connect failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("connection limit reached")]
    Limit,
    #[error("handshake failed: {0}")]
    Handshake(hyper::Error),
    #[error("{0}")]
    Tls(tollgate_tls::TlsError),
}

/// TLS to an endpoint.
pub(crate) struct PoolTls {
    pub(crate) config: Arc<tollgate_tls::rustls::ClientConfig>,
    pub(crate) server_name: String,
    /// What it was built from, to decide whether a reload can keep the pool.
    pub(crate) source: tollgate_ir::UpstreamTls,
}

/// A connection ready to send one request.
pub(crate) enum Sender {
    H1(http1::SendRequest<RequestBody>),
    H2(http2::SendRequest<RequestBody>),
}

/// A checked-out connection.
pub(crate) struct Conn {
    pub(crate) sender: Sender,
    pool: Arc<Pool>,
}

impl Conn {
    /// After the response head arrived: the handle that gives an HTTP/1.1 connection back
    /// when its body is done. HTTP/2 connections are shared and need none.
    pub(crate) fn into_checkin(self) -> Option<Checkin> {
        match self.sender {
            Sender::H1(sender) => Some(Checkin {
                pool: self.pool,
                sender,
            }),
            Sender::H2(_) => None,
        }
    }
}

struct Idle {
    sender: http1::SendRequest<RequestBody>,
    since: Instant,
}

/// The connections of one endpoint.
pub(crate) struct Pool {
    target: Target,
    h2: bool,
    tls: Option<PoolTls>,
    max_connections: u32,
    open: Arc<AtomicU32>,
    idle: Mutex<Vec<Idle>>,
    h2_conn: Mutex<Option<http2::SendRequest<RequestBody>>>,
    h2_connecting: tokio::sync::Mutex<()>,
}

/// Gives an HTTP/1.1 connection back to its pool once its response has been read.
pub(crate) struct Checkin {
    pool: Arc<Pool>,
    sender: http1::SendRequest<RequestBody>,
}

impl Checkin {
    /// Returns the connection for reuse.
    pub(crate) fn release(self) {
        if self.sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push(Idle {
                sender: self.sender,
                since: Instant::now(),
            });
        }
    }
}

impl Pool {
    pub(crate) fn new(
        target: Target,
        h2: bool,
        max_connections: u32,
        tls: Option<PoolTls>,
    ) -> Self {
        Self {
            target,
            h2,
            tls,
            max_connections: max_connections.max(1),
            open: Arc::new(AtomicU32::new(0)),
            idle: Mutex::new(Vec::new()),
            h2_conn: Mutex::new(None),
            h2_connecting: tokio::sync::Mutex::new(()),
        }
    }

    /// Same endpoint, protocol and limit: the pool can be kept across a reload.
    pub(crate) fn same_as(
        &self,
        target: &Target,
        h2: bool,
        max: u32,
        tls: Option<&tollgate_ir::UpstreamTls>,
    ) -> bool {
        self.target == *target
            && self.h2 == h2
            && self.max_connections == max.max(1)
            && self.tls.as_ref().map(|t| &t.source) == tls
    }

    /// A connection to send one request on.
    pub(crate) async fn checkout(
        self: &Arc<Self>,
        connect_timeout: Duration,
    ) -> Result<Conn, ConnectError> {
        let sender = self.checkout_sender(connect_timeout).await?;
        Ok(Conn {
            sender,
            pool: self.clone(),
        })
    }

    async fn checkout_sender(&self, connect_timeout: Duration) -> Result<Sender, ConnectError> {
        if self.h2 {
            return self.checkout_h2(connect_timeout).await;
        }
        while let Some(mut idle) = self.pop_idle() {
            if idle.since.elapsed() > MAX_IDLE_AGE {
                continue;
            }
            if futures::future::poll_fn(|cx| idle.sender.poll_ready(cx))
                .await
                .is_ok()
            {
                return Ok(Sender::H1(idle.sender));
            }
        }
        let io = self.connect(connect_timeout).await?;
        let (sender, conn) = http1::Builder::new()
            .handshake(io.0)
            .await
            .map_err(ConnectError::Handshake)?;
        let guard = io.1;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
            drop(guard);
        });
        Ok(Sender::H1(sender))
    }

    fn pop_idle(&self) -> Option<Idle> {
        self.idle.lock().ok()?.pop()
    }

    async fn checkout_h2(&self, connect_timeout: Duration) -> Result<Sender, ConnectError> {
        if let Some(s) = self.live_h2() {
            return Ok(Sender::H2(s));
        }
        // One task connects; the others wait and share its connection.
        let _connecting = self.h2_connecting.lock().await;
        if let Some(s) = self.live_h2() {
            return Ok(Sender::H2(s));
        }
        let (io, guard) = self.connect(connect_timeout).await?;
        let (sender, conn) = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Duration::from_secs(30))
            .handshake(io)
            .await
            .map_err(ConnectError::Handshake)?;
        tokio::spawn(async move {
            let _ = conn.await;
            drop(guard);
        });
        if let Ok(mut slot) = self.h2_conn.lock() {
            *slot = Some(sender.clone());
        }
        Ok(Sender::H2(sender))
    }

    fn live_h2(&self) -> Option<http2::SendRequest<RequestBody>> {
        let slot = self.h2_conn.lock().ok()?;
        slot.as_ref().filter(|s| !s.is_closed()).cloned()
    }

    /// A new connection outside the pool and its limit, for health probes.
    pub(crate) async fn connect_unpooled(
        &self,
        timeout: Duration,
    ) -> Result<TokioIo<UpstreamIo>, ConnectError> {
        tokio::time::timeout(timeout, self.open_io())
            .await
            .map_err(|_| ConnectError::Timeout)?
    }

    /// Speaks HTTP/2.
    pub(crate) fn is_h2(&self) -> bool {
        self.h2
    }

    async fn open_io(&self) -> Result<TokioIo<UpstreamIo>, ConnectError> {
        let addr = self.target.resolve().await?;
        let stream = TcpStream::connect(addr).await?;
        let _ = stream.set_nodelay(true);
        let io = match &self.tls {
            None => UpstreamIo::Plain(stream),
            Some(t) => tollgate_tls::connect(t.config.clone(), &t.server_name, stream)
                .await
                .map(|s| UpstreamIo::Tls(Box::new(s)))
                .map_err(ConnectError::Tls)?,
        };
        Ok(TokioIo::new(io))
    }

    async fn connect(
        &self,
        timeout: Duration,
    ) -> Result<(TokioIo<UpstreamIo>, OpenGuard), ConnectError> {
        // Reserve a slot first so concurrent connects cannot overshoot the limit.
        let reserved = self
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max_connections).then_some(n + 1)
            });
        if reserved.is_err() {
            return Err(ConnectError::Limit);
        }
        let guard = OpenGuard(self.open.clone());
        // One timeout covers resolution, TCP and the TLS handshake.
        let io = tokio::time::timeout(timeout, self.open_io())
            .await
            .map_err(|_| ConnectError::Timeout)??;
        Ok((io, guard))
    }
}

/// Counts an open connection until dropped.
struct OpenGuard(Arc<AtomicU32>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
