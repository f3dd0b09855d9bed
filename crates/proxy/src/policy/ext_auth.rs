//! External authorization: the request's method, URI, host and headers go to an HTTP
//! service first; a 2xx admits the request (copying chosen headers of the answer
//! upstream), anything else is the client's answer as the service wrote it.
//!
//! One pooled client per process (hyper-util's, over plain TCP or rustls): a check per
//! request must not pay a connection setup each time, and a connection the service closed
//! while idle is replaced by the pool rather than failing a request.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tollgate_ir as ir;

use crate::error::ProxyError;

/// The largest denial body relayed to the client.
const MAX_DENIAL_BODY: usize = 64 * 1024;
/// Headers of a denial relayed to the client (a challenge, a login redirect, cookies).
const RELAYED: [HeaderName; 4] = [
    header::WWW_AUTHENTICATE,
    header::LOCATION,
    header::SET_COOKIE,
    header::CONTENT_TYPE,
];
/// Request headers never sent to the service: hop-by-hop, and framing of a body it does
/// not get.
const NOT_SENT: [HeaderName; 7] = [
    header::CONNECTION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::CONTENT_LENGTH,
    header::EXPECT,
];

/// A compiled `ext_auth:` policy.
pub(crate) struct ExtAuth {
    url: Uri,
    to_upstream: Vec<HeaderName>,
    to_auth: Vec<HeaderName>,
    timeout: Duration,
    allow_on_error: bool,
}

/// The request facts the service is told (as `X-Forwarded-*`).
pub(crate) struct Asked<'a> {
    pub(crate) method: &'a Method,
    pub(crate) uri: &'a str,
    pub(crate) host: Option<&'a HeaderValue>,
    pub(crate) scheme: &'static str,
    pub(crate) client_ip: std::net::IpAddr,
}

impl ExtAuth {
    pub(crate) fn compile(e: &ir::ExtAuth) -> Result<Self, String> {
        let name = |h: &String| {
            HeaderName::from_bytes(h.as_bytes()).map_err(|_| format!("ext_auth: bad header {h:?}"))
        };
        Ok(Self {
            url: e
                .url
                .parse()
                .map_err(|err| format!("ext_auth.url {:?}: {err}", e.url))?,
            to_upstream: e
                .headers_to_upstream
                .iter()
                .map(name)
                .collect::<Result<_, _>>()?,
            to_auth: e
                .headers_to_auth
                .iter()
                .map(name)
                .collect::<Result<_, _>>()?,
            timeout: e.timeout,
            allow_on_error: e.allow_on_error,
        })
    }

    /// Asks the service; on a 2xx copies the chosen answer headers into `headers`.
    pub(crate) async fn check(
        &self,
        client: &AuthClient,
        headers: &mut HeaderMap,
        asked: &Asked<'_>,
    ) -> Result<(), ProxyError> {
        let mut req = Request::get(self.url.clone())
            .body(Empty::<Bytes>::new())
            .map_err(|_| ProxyError::BadRequest("invalid request".into()))?;
        let h = req.headers_mut();
        if self.to_auth.is_empty() {
            for (name, value) in headers.iter() {
                if !NOT_SENT.contains(name) && *name != header::HOST {
                    h.append(name.clone(), value.clone());
                }
            }
        } else {
            for name in &self.to_auth {
                for value in headers.get_all(name) {
                    h.append(name.clone(), value.clone());
                }
            }
        }
        let forwarded = [
            (
                "x-forwarded-method",
                HeaderValue::from_str(asked.method.as_str()).ok(),
            ),
            ("x-forwarded-uri", HeaderValue::from_str(asked.uri).ok()),
            ("x-forwarded-host", asked.host.cloned()),
            (
                "x-forwarded-proto",
                Some(HeaderValue::from_static(asked.scheme)),
            ),
            (
                "x-forwarded-for",
                HeaderValue::from_str(&asked.client_ip.to_string()).ok(),
            ),
        ];
        for (name, value) in forwarded {
            if let Some(v) = value {
                h.insert(HeaderName::from_static(name), v);
            }
        }
        let answer = tokio::time::timeout(self.timeout, async {
            let res = client
                .client
                .request(req)
                .await
                .map_err(|e| e.to_string())?;
            let (parts, body) = res.into_parts();
            let body = Limited::new(body, MAX_DENIAL_BODY)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            Ok::<_, String>((parts, body))
        })
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)));
        let (parts, body) = match answer {
            Ok(a) => a,
            Err(e) if self.allow_on_error => {
                tracing::warn!(url = %self.url, "ext_auth failed, admitting (on_error: allow): {e}");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(url = %self.url, "ext_auth failed: {e}");
                return Err(ProxyError::AuthUnavailable(
                    "authorization service unavailable".into(),
                ));
            }
        };
        if parts.status.is_success() {
            for name in &self.to_upstream {
                headers.remove(name);
                for v in parts.headers.get_all(name) {
                    headers.append(name.clone(), v.clone());
                }
            }
            return Ok(());
        }
        let relayed = RELAYED
            .iter()
            .flat_map(|n| {
                parts
                    .headers
                    .get_all(n)
                    .iter()
                    .map(|v| (n.clone(), v.clone()))
            })
            .collect();
        Err(ProxyError::ExtAuthDenied {
            status: parts.status.as_u16(),
            headers: relayed,
            body,
        })
    }

    /// Headers the service's answer writes upstream: a client must not send its own.
    pub(crate) fn written_headers(&self) -> impl Iterator<Item = &HeaderName> {
        self.to_upstream.iter()
    }
}

/// The process's pooled client for authorization services.
pub(crate) struct AuthClient {
    client: Client<Connector, Empty<Bytes>>,
}

impl AuthClient {
    pub(crate) fn new() -> Self {
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(Connector {
                tls: Arc::new(std::sync::OnceLock::new()),
            });
        Self { client }
    }
}

/// Plain TCP or rustls (Mozilla roots), by the URI's scheme.
#[derive(Clone)]
struct Connector {
    tls: Arc<std::sync::OnceLock<Result<Arc<tollgate_tls::rustls::ClientConfig>, String>>>,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<AuthStream>;
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
            let bare = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((bare, port)))
                .await
                .map_err(|_| bad("connect timed out"))??;
            let _ = tcp.set_nodelay(true);
            if !https {
                return Ok(TokioIo::new(AuthStream::Plain(tcp)));
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
            Ok(TokioIo::new(AuthStream::Tls(Box::new(stream))))
        })
    }
}

/// A connection to an authorization service.
pub(crate) enum AuthStream {
    Plain(TcpStream),
    Tls(Box<tollgate_tls::tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Connection for AuthStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for AuthStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AuthStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}
