//! The echo backend over TLS: [`Backend::start_tls`].
//!
//! The backend serves HTTP/1.1 and HTTP/2 over TLS (HTTP/2 when the client speaks it,
//! which it does after negotiating ALPN `h2`), with the same paths as the plain backend.
//! Its JSON echo gains a `tls` object describing the connection the request came on:
//!
//! ```json
//! "tls": { "sni": "payments.internal", "alpn": "h2", "version": "TLSv1_3",
//!          "peer_subject": "CN=gateway,O=Tollgate Tests" }
//! ```
//!
//! `peer_subject` is the verified client certificate's subject (RFC 4514), or `null`
//! when the client presented none. On the plain backend `tls` is `null`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tollgate_tls::rustls::ServerConfig;
use tollgate_tls::tokio_rustls::TlsAcceptor;

use crate::{Backend, BackendState, handle};

/// What the backend saw of the TLS connection a request arrived on.
#[derive(Debug, Clone)]
pub(crate) struct TlsInfo {
    sni: Option<String>,
    alpn: Option<String>,
    version: Option<String>,
    peer_subject: Option<String>,
}

impl TlsInfo {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "sni": self.sni,
            "alpn": self.alpn,
            "version": self.version,
            "peer_subject": self.peer_subject,
        })
    }
}

impl Backend {
    /// Starts an echo backend speaking TLS with `config` on 127.0.0.1 with an OS-chosen
    /// port. Build `config` with `tollgate_tls::server_config` (or
    /// [`Minted::server_config`](crate::pki::Minted::server_config)) so that it offers
    /// ALPN `h2` and, if wanted, verifies client certificates.
    ///
    /// [`connections`](Self::connections) counts TCP connections, including those
    /// whose handshake then failed; [`requests`](Self::requests) only requests.
    ///
    /// # Errors
    ///
    /// The listener could not bind.
    pub async fn start_tls(name: &str, config: Arc<ServerConfig>) -> std::io::Result<Self> {
        let addr: SocketAddr = "127.0.0.1:0".parse().map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(BackendState {
            name: name.to_owned(),
            healthy: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            fixed_body: None,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve_tls(
            listener,
            TlsAcceptor::from(config),
            state.clone(),
            stopped,
        ));
        Ok(Self { addr, state, stop })
    }
}

async fn serve_tls(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<BackendState>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stopped.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        state.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let acceptor = acceptor.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let serve = async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let conn = tls.get_ref().1;
                let info = TlsInfo {
                    sni: conn.server_name().map(str::to_owned),
                    alpn: conn
                        .alpn_protocol()
                        .map(|p| String::from_utf8_lossy(p).into_owned()),
                    version: conn.protocol_version().map(|v| format!("{v:?}")),
                    peer_subject: tollgate_tls::stream_peer_identity(&tls).map(|p| p.subject),
                };
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    req.extensions_mut().insert(info.clone());
                    handle(state.clone(), req)
                });
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(tls), svc)
                    .await;
            };
            tokio::select! {
                () = serve => {}
                _ = stopped.changed() => {}
            }
        });
    }
}
