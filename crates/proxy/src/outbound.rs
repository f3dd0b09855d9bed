//! The gateway's own outbound HTTP calls (not proxied traffic): `ext_auth` checks and
//! JWKS / OIDC discovery fetches. One pooled hyper-util client for the process, over
//! plain TCP or rustls with the Mozilla roots, on the same `UpstreamIo` the upstream pools
//! use: a check per request must not pay a connection setup each time, and a connection
//! the far side closed while idle is replaced by the pool instead of failing a request.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::tls::UpstreamIo;

/// Bound on opening one connection (TCP and TLS).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The pooled client. Built on first use; it spawns nothing until
/// a request is made.
pub(crate) fn client() -> &'static Client<Connector, Full<Bytes>> {
    static CLIENT: OnceLock<Client<Connector, Full<Bytes>>> = OnceLock::new();
    CLIENT.get_or_init(|| {
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(Connector {
                tls: Arc::new(OnceLock::new()),
            })
    })
}

/// Plain TCP or rustls, by the URI's scheme.
#[derive(Clone)]
pub(crate) struct Connector {
    tls: Arc<OnceLock<Result<Arc<tollgate_tls::rustls::ClientConfig>, String>>>,
}

impl Connection for UpstreamIo {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<UpstreamIo>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let tls = self.tls.clone();
        Box::pin(async move {
            let bad = |m: &str| std::io::Error::other(m.to_owned());
            let https = uri.scheme_str() == Some("https");
            let host = uri
                .host()
                .ok_or_else(|| bad("URL without host"))?
                .to_owned();
            let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
            let bare = host.trim_start_matches('[').trim_end_matches(']');
            let connect = async {
                let tcp = TcpStream::connect((bare, port)).await?;
                let _ = tcp.set_nodelay(true);
                if !https {
                    return Ok::<_, std::io::Error>(UpstreamIo::Plain(tcp));
                }
                let cfg = tls
                    .get_or_init(|| {
                        tollgate_tls::client_config(&tollgate_tls::UpstreamTlsSettings::default())
                            .map_err(|e| e.to_string())
                    })
                    .clone()
                    .map_err(|e| bad(&e))?;
                let stream = tollgate_tls::connect(cfg, &host, tcp)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok(UpstreamIo::Tls(Box::new(stream)))
            };
            let io = tokio::time::timeout(CONNECT_TIMEOUT, connect)
                .await
                .map_err(|_| bad("connect timed out"))??;
            Ok(TokioIo::new(io))
        })
    }
}
