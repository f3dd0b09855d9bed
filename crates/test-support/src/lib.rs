//! Real backends and helpers for Tollgate's tests, demos and benchmarks.
//!
//! [`Backend`] is a small HTTP/1.1 + h2c server on a real socket. By default it answers
//! every request with a JSON echo of what it received (method, path, query, headers, body
//! size, its own name), which is what routing tests assert on. A few paths change that:
//!
//! - `/status/<code>`: answers with that status.
//! - `/delay/<ms>`: waits before answering.
//! - `/bytes/<n>`: answers `n` bytes of `x`.
//! - `/stream/<n>`: answers `n` chunks of `chunk\n`, 50 ms apart.
//! - `/slowstream/<n>/<gap_ms>`: the same with a chosen gap.
//! - `/text/<n>`: answers `n` bytes of JSON-like text (records that repeat with small
//!   differences: compressible like a real API answer), `application/json`.
//! - `/barrier/<key>/<n>`: waits until `n` requests for the same path are waiting
//!   (then echoes), or answers 504 after 5 s (see `barrier`).
//! - `/hop`: answers with hop-by-hop headers (`Connection: x-hop`, `X-Hop`, `Keep-Alive`)
//!   that a proxy must remove.
//!
//! On any path, the query parameters `type`, `encoding`, `cache_control` and `etag` set
//! the answer's `Content-Type`, `Content-Encoding`, `Cache-Control` and `ETag` (`etag=abc`
//! sends `"abc"`, `etag=W/abc` sends `W/"abc"`), for compression tests.
//!
//! The health path (`/healthz`) answers 200 or 503 as set with [`Backend::set_healthy`].
//!
//! [`Backend::start_tls`] serves the same over TLS (see the `tls` module: the echo then
//! says which SNI, ALPN and client certificate it saw); [`pki`] mints the certificates.

mod barrier;
pub mod client;
pub mod grpc;
pub mod jwt;
pub mod oidc;
pub mod pki;
pub mod process;
pub mod redis_server;
mod tls;
pub mod ws;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Shared state of a running backend.
#[derive(Debug)]
pub struct BackendState {
    name: String,
    healthy: AtomicBool,
    requests: AtomicU64,
    connections: AtomicU64,
    fixed_body: Option<Bytes>,
}

/// A running backend. Dropping it stops the server.
#[derive(Debug)]
pub struct Backend {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<BackendState>,
    stop: watch::Sender<bool>,
}

impl Backend {
    /// Starts an echo backend on 127.0.0.1 with an OS-chosen port.
    pub async fn start(name: &str) -> std::io::Result<Self> {
        Self::start_on(
            "127.0.0.1:0".parse().map_err(std::io::Error::other)?,
            name,
            None,
        )
        .await
    }

    /// Starts a backend on `addr`; with `fixed_body`, every non-special path answers it
    /// (for benchmarks).
    pub async fn start_on(
        addr: SocketAddr,
        name: &str,
        fixed_body: Option<Bytes>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(BackendState {
            name: name.to_owned(),
            healthy: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            fixed_body,
        });
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(serve(listener, state.clone(), stopped));
        Ok(Self { addr, state, stop })
    }

    /// Requests received so far (health probes excluded).
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// What `/healthz` answers: 200 when true, 503 when false.
    pub fn set_healthy(&self, healthy: bool) {
        self.state.healthy.store(healthy, Ordering::Relaxed);
    }

    /// `ip:port` as a string, for configs.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    listener: TcpListener,
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
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| handle(state.clone(), req));
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stopped.changed() => {}
            }
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).boxed()
}

async fn handle(
    state: Arc<BackendState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let query = req.uri().query().map(str::to_owned);
    let mut res = respond(state, req).await?;
    if let Some(q) = query {
        shape(&q, res.headers_mut());
    }
    Ok(res)
}

/// The answer headers a test asked for in the query.
fn shape(query: &str, h: &mut http::HeaderMap) {
    for pair in query.split('&') {
        let Some((k, v)) = pair.split_once('=') else {
            continue;
        };
        let value = match k {
            "etag" => match v.strip_prefix("W/") {
                Some(weak) => format!("W/\"{weak}\""),
                None => format!("\"{v}\""),
            },
            _ => v.replace("%20", " ").replace("%2C", ","),
        };
        let name = match k {
            "type" => http::header::CONTENT_TYPE,
            "encoding" => http::header::CONTENT_ENCODING,
            "cache_control" => http::header::CACHE_CONTROL,
            "etag" => http::header::ETAG,
            _ => continue,
        };
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
}

/// `n` bytes of JSON-like records: what an API answers, compressible as such.
pub fn json_text(n: usize) -> Bytes {
    let mut out = Vec::with_capacity(n + 64);
    let mut i = 0u64;
    out.push(b'[');
    while out.len() < n {
        let line = format!(
            "{{\"id\":{i},\"sku\":\"SKU-{:05}\",\"name\":\"item {i}\",\"price\":{}.{:02},\"stock\":{}}},\n",
            (i * 7919) % 100_000,
            (i * 37) % 500,
            (i * 13) % 100,
            (i * 11) % 250
        );
        out.extend_from_slice(line.as_bytes());
        i += 1;
    }
    out.truncate(n);
    Bytes::from(out)
}

async fn respond(
    state: Arc<BackendState>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if path == "/healthz" {
        let ok = state.healthy.load(Ordering::Relaxed);
        let status = if ok {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        return Ok(with_status(
            status,
            full(if ok { "ok" } else { "unhealthy" }),
        ));
    }
    state.requests.fetch_add(1, Ordering::Relaxed);
    if let Some(body) = &state.fixed_body
        && !path.starts_with("/status/")
        && !path.starts_with("/delay/")
    {
        let mut res = Response::new(full(body.clone()));
        res.headers_mut()
            .insert("content-type", http::HeaderValue::from_static("text/plain"));
        return Ok(res);
    }
    if let Some(n) = path
        .strip_prefix("/status/")
        .and_then(|s| s.parse::<u16>().ok())
    {
        let status = StatusCode::from_u16(n).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(with_status(
            status,
            full(format!("status {n} from {}", state.name)),
        ));
    }
    if let Some(ms) = path
        .strip_prefix("/delay/")
        .and_then(|s| s.parse::<u64>().ok())
    {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if let Some(n) = path
        .strip_prefix("/bytes/")
        .and_then(|s| s.parse::<usize>().ok())
    {
        return Ok(Response::new(full(vec![b'x'; n])));
    }
    if let Some(rest) = path.strip_prefix("/hdr/") {
        return Ok(with_headers(&state, rest, req.headers()).await);
    }
    if let Some(n) = path
        .strip_prefix("/text/")
        .and_then(|s| s.parse::<usize>().ok())
    {
        let mut res = Response::new(full(json_text(n)));
        res.headers_mut().insert(
            "content-type",
            http::HeaderValue::from_static("application/json"),
        );
        return Ok(res);
    }
    if let Some(met) = barrier::wait(&path).await
        && !met
    {
        return Ok(with_status(
            StatusCode::GATEWAY_TIMEOUT,
            full("the other requests never came"),
        ));
    }
    if path == "/hop" {
        let mut res = Response::new(full("hop"));
        let h = res.headers_mut();
        h.insert("connection", http::HeaderValue::from_static("x-hop"));
        h.insert("x-hop", http::HeaderValue::from_static("1"));
        h.insert("keep-alive", http::HeaderValue::from_static("timeout=5"));
        h.insert("x-end-to-end", http::HeaderValue::from_static("1"));
        return Ok(res);
    }
    if let Some(rest) = path.strip_prefix("/slowstream/") {
        let mut it = rest.split('/').map(|s| s.parse::<u64>().ok());
        if let (Some(Some(n)), Some(Some(gap))) = (it.next(), it.next()) {
            let stream = futures_stream(n as usize, Duration::from_millis(gap));
            return Ok(Response::new(BodyExt::boxed(StreamBody::new(stream))));
        }
    }
    if let Some(n) = path
        .strip_prefix("/stream/")
        .and_then(|s| s.parse::<usize>().ok())
    {
        let stream = futures_stream(n, Duration::from_millis(50));
        return Ok(Response::new(BodyExt::boxed(StreamBody::new(stream))));
    }
    Ok(echo(&state, req).await)
}

fn futures_stream(
    n: usize,
    gap: Duration,
) -> impl futures_core::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        for _ in 0..n {
            if tx
                .send(Ok(Frame::data(Bytes::from_static(b"chunk\n"))))
                .await
                .is_err()
            {
                return;
            }
            tokio::time::sleep(gap).await;
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures_core::Stream<Item = T> + Send + 'static {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `/hdr/<name>:<value>/…`: an answer with those headers and the body
/// `n=<requests so far> lang=<accept-language>` (so a test can tell a stored answer from
/// a new one). `delay:<ms>` waits first, `bytes:<n>` sends `n` bytes of `x` instead, and
/// `status:<code>` sets the status.
async fn with_headers(state: &BackendState, rest: &str, req: &http::HeaderMap) -> Response<Body> {
    let n = state.requests.load(Ordering::Relaxed);
    let lang = req
        .get("accept-language")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let mut res = Response::new(full(format!("n={n} lang={lang}")));
    for seg in rest.split('/') {
        let Some((k, v)) = seg.split_once(':') else {
            continue;
        };
        match k {
            "delay" => tokio::time::sleep(Duration::from_millis(v.parse().unwrap_or(0))).await,
            "bytes" => *res.body_mut() = full(vec![b'x'; v.parse().unwrap_or(0)]),
            "status" => *res.status_mut() = v.parse().unwrap_or(StatusCode::OK),
            _ => {
                if let (Ok(name), Ok(value)) = (
                    http::HeaderName::from_bytes(k.as_bytes()),
                    http::HeaderValue::from_str(v),
                ) {
                    res.headers_mut().append(name, value);
                }
            }
        }
    }
    res
}

fn with_status(status: StatusCode, body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res
}

async fn echo(state: &BackendState, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let mut headers = serde_json::Map::new();
    for (name, value) in &parts.headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match headers.get_mut(name.as_str()) {
            Some(serde_json::Value::Array(a)) => a.push(v.into()),
            _ => {
                headers.insert(
                    name.as_str().to_owned(),
                    serde_json::Value::Array(vec![v.into()]),
                );
            }
        }
    }
    let json = serde_json::json!({
        "backend": state.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "version": format!("{:?}", parts.version),
        "authority": parts.uri.authority().map(|a| a.as_str()),
        "headers": headers,
        "body_len": body.len(),
        "body": String::from_utf8_lossy(&body),
        "tls": parts.extensions.get::<tls::TlsInfo>().map(tls::TlsInfo::json),
    });
    let mut res = Response::new(full(json.to_string()));
    res.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    res.headers_mut().insert(
        "x-backend",
        http::HeaderValue::from_str(&state.name).unwrap_or(http::HeaderValue::from_static("?")),
    );
    res
}
