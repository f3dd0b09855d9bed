//! The upstream phase: choose a backend by weight and an endpoint by the balancer, send on
//! a pooled connection, apply timeouts and retries, and start mirrors.
//!
//! Retries happen only when they cannot duplicate work: a request whose connection never
//! opened (nothing was sent) may always be retried; after bytes reached the upstream only
//! an idempotent method without a body is. Every retry is paid from the service's retry
//! budget, so retries cannot multiply load during an outage.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::{HeaderMap, HeaderValue, Method, Request, Response, Version, header};
use hyper::body::Incoming;
use tollgate_ir as ir;

use crate::body::{ProxyBody, RequestBody, RequestBodyError, UpstreamBody};
use crate::error::ProxyError;
use crate::handler::upstream_uri;
use crate::router::{Backend, Route};
use crate::shared::Shared;
use crate::upstream::pool::{ConnectError, Sender};
use crate::upstream::{Endpoint, Upstream, lb};

/// The request as it will be sent upstream.
pub(crate) struct Outgoing {
    /// The client asked for a protocol upgrade (WebSocket): HTTP/1.1 upstream only.
    pub(crate) upgrade: bool,
    pub(crate) method: Method,
    pub(crate) path_and_query: http::uri::PathAndQuery,
    pub(crate) host: Option<HeaderValue>,
    pub(crate) headers: HeaderMap,
    pub(crate) te_trailers: bool,
    pub(crate) client_ip: IpAddr,
    /// The client's body; `None` for a request the gateway makes itself (aggregation).
    pub(crate) body: Option<Incoming>,
    /// The route's `request_size.max_body`.
    pub(crate) max_body: Option<u64>,
}

/// How one attempt failed.
enum Failure {
    /// Nothing reached the upstream: safe to retry anything.
    Connect(ConnectError),
    /// The upstream broke the connection after the request was (partly) sent.
    Reset,
    /// The client's body failed (malformed framing or stalled).
    ClientBody(ProxyError),
    /// No response head in time.
    Timeout,
}

/// What answered a forwarded request.
pub(crate) struct Answered {
    /// The endpoint, as configured.
    pub(crate) endpoint: Arc<str>,
    /// The service's idle timeout (streams and upgraded connections).
    pub(crate) idle: std::time::Duration,
}

/// Forwards the request to the chosen backend entry's service; returns the response and
/// who answered it.
pub(crate) async fn forward(
    shared: &Arc<Shared>,
    route: &Arc<Route>,
    backend: &Backend,
    out: Outgoing,
) -> Result<(Response<ProxyBody>, Answered), ProxyError> {
    let up = backend.upstream.as_ref().ok_or(ProxyError::NoBackend)?;
    // `run` is made where it is awaited: a future bound to a variable first is one more
    // move of the whole state machine.
    let (res, endpoint) = match route.timeout {
        Some(t) => tokio::time::timeout(t, run(shared, route, backend, up, out))
            .await
            .map_err(|_| ProxyError::UpstreamTimeout)??,
        None => run(shared, route, backend, up, out).await?,
    };
    let idle = up.config.idle_timeout;
    Ok((res, Answered { endpoint, idle }))
}

async fn run(
    shared: &Arc<Shared>,
    route: &Arc<Route>,
    backend: &Backend,
    up: &Arc<Upstream>,
    out: Outgoing,
) -> Result<(Response<ProxyBody>, Arc<str>), ProxyError> {
    let h2 = up.config.protocol.is_h2();
    if out.upgrade && h2 {
        // Upgrades are an HTTP/1.1 mechanism; an HTTP/2 upstream cannot take one.
        return Err(ProxyError::BadRequest(
            "this route's upstream speaks HTTP/2 and cannot take a protocol upgrade".into(),
        ));
    }
    let uri = upstream_uri(h2, out.host.as_ref(), &out.path_and_query)?;
    let mut headers = out.headers;
    if h2 {
        // HTTP/2 carries the host in :authority (from the URI); a Host header next to a
        // different :authority may be refused (RFC 9113 §8.3.1).
        headers.remove(header::HOST);
        if out.te_trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
    } else if let Some(h) = &out.host {
        headers.insert(header::HOST, h.clone());
    }
    let hash_key = hash_key(
        &up.config.load_balancer,
        out.client_ip,
        out.path_and_query.as_str(),
        &headers,
    );
    let no_body = out.body.as_ref().is_none_or(EndHint::is_end_stream_hint);
    let retries = &up.config.retries;
    let idempotent = matches!(
        out.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    );
    let may_retry_sent = idempotent && no_body;
    // Most routes mirror nothing: skip the call and its iterator outright.
    if !(route.filters.mirrors.is_empty() && backend.filters.mirrors.is_empty()) {
        let mirrors = route.filters.mirrors.iter().chain(&backend.filters.mirrors);
        start_mirrors(mirrors, &out.method, &uri, &headers, no_body);
    }
    let try_timeout = route.backend_timeout.unwrap_or(up.config.request_timeout);
    up.note_request();

    let mut body = Some(match (out.body, out.max_body) {
        (None, _) => RequestBody::Empty,
        _ if no_body => RequestBody::Empty,
        (Some(b), None) => RequestBody::Client(b),
        (Some(body), Some(limit)) => RequestBody::Capped {
            body,
            limit,
            left: limit,
        },
    });
    let mut avoid = None;
    let mut attempt = 0u32;
    loop {
        let idx = lb::pick(up, hash_key.as_deref(), avoid).ok_or(ProxyError::NoBackend)?;
        let ep = &up.endpoints[idx];
        // Keep headers for a possible retry only when one can happen.
        let can_retry_more = attempt < retries.attempts;
        let req_headers = if can_retry_more {
            headers.clone()
        } else {
            std::mem::take(&mut headers)
        };
        let head = Head {
            method: out.method.clone(),
            uri: uri.clone(),
            version: if h2 {
                Version::HTTP_2
            } else {
                Version::HTTP_11
            },
            headers: req_headers,
        };
        // Boxed: one attempt's state (pooled connection, hyper's send future, the try
        // timer) is most of this future, and every future around it (`forward`,
        // `handler::process`, hyper's dispatcher) is moved by value as it is built and
        // awaited. On the heap it is moved once (measured: the moves saved cost more
        // than the allocation).
        let result = Box::pin(attempt_once(up, ep, head, &mut body, try_timeout)).await;
        let retryable = match &result {
            Ok(res) => {
                let s = res.status().as_u16();
                up.record(ep, !matches!(s, 502..=504));
                may_retry_sent && retries.on_status.contains(&s)
            }
            Err(Failure::Connect(ConnectError::Limit)) => false,
            // Nothing was sent and the body is still ours: any method may go again.
            Err(Failure::Connect(_)) => {
                up.record(ep, false);
                retries.on_connect_failure
            }
            Err(Failure::Reset) => {
                up.record(ep, false);
                retries.on_reset && may_retry_sent
            }
            Err(Failure::Timeout) => {
                up.record(ep, false);
                false
            }
            Err(Failure::ClientBody(_)) => false,
        };
        if body.is_none() && no_body {
            body = Some(RequestBody::Empty);
        }
        if retryable && can_retry_more && body.is_some() && up.try_retry() {
            attempt += 1;
            avoid = Some(idx);
            continue;
        }
        return match result {
            Ok(res) => Ok((res, ep.address.clone())),
            Err(f) => Err(failure_error(shared, up, f)),
        };
    }
}

/// A request head, kept apart from the body so a connection can be had first.
struct Head {
    method: Method,
    uri: http::Uri,
    version: Version,
    headers: HeaderMap,
}

fn failure_error(shared: &Shared, up: &Upstream, f: Failure) -> ProxyError {
    let e = match f {
        Failure::Connect(ConnectError::Limit) => ProxyError::CircuitOpen,
        Failure::Connect(_) => ProxyError::UpstreamConnect,
        Failure::Reset => ProxyError::UpstreamReset,
        Failure::Timeout => ProxyError::UpstreamTimeout,
        Failure::ClientBody(e) => return e,
    };
    shared.metrics.upstream_error(&up.name, e.kind());
    e
}

/// One try. The body is taken only once a connection is open, so a connect failure
/// leaves it unsent and the request can still go elsewhere.
async fn attempt_once(
    up: &Upstream,
    ep: &Arc<Endpoint>,
    head: Head,
    body: &mut Option<RequestBody>,
    try_timeout: std::time::Duration,
) -> Result<Response<ProxyBody>, Failure> {
    let _in_flight = InFlight::new(ep);
    let mut conn = ep
        .pool
        .checkout(up.config.connect_timeout)
        .await
        .map_err(Failure::Connect)?;
    let mut req = Request::new(body.take().unwrap_or(RequestBody::Empty));
    *req.method_mut() = head.method;
    *req.uri_mut() = head.uri;
    *req.version_mut() = head.version;
    *req.headers_mut() = head.headers;
    let sent = async {
        match &mut conn.sender {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    };
    let res = match tokio::time::timeout(try_timeout, sent).await {
        Err(_) => return Err(Failure::Timeout),
        Ok(Err(e)) => return Err(classify(&e)),
        Ok(Ok(res)) => res,
    };
    // An upgraded connection belongs to its tunnel now, never to the pool.
    let checkin = if res.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        None
    } else {
        conn.into_checkin()
    };
    let (parts, body) = res.into_parts();
    let body = UpstreamBody::new(body, checkin, up.config.idle_timeout);
    Ok(Response::from_parts(parts, ProxyBody::upstream(body)))
}

/// Was it the client's body or the upstream?
fn classify(e: &hyper::Error) -> Failure {
    if e.is_user() || e.is_body_write_aborted() {
        // The request body we were streaming failed: that is the client's fault.
        let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
        while let Some(s) = src {
            if let Some(RequestBodyError::TooLarge(limit)) = s.downcast_ref() {
                return Failure::ClientBody(ProxyError::PayloadTooLarge(*limit));
            }
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::TimedOut
            {
                return Failure::ClientBody(ProxyError::ClientBodyTimeout);
            }
            src = s.source();
        }
        return Failure::ClientBody(ProxyError::BadRequest("malformed request body".into()));
    }
    Failure::Reset
}

fn hash_key(lb: &ir::LoadBalancer, ip: IpAddr, pq: &str, headers: &HeaderMap) -> Option<Vec<u8>> {
    let ir::LoadBalancer::ConsistentHash(on) = lb else {
        return None;
    };
    Some(match on {
        ir::HashOn::ClientIp => ip.to_string().into_bytes(),
        ir::HashOn::Path => pq.split('?').next().unwrap_or(pq).as_bytes().to_vec(),
        ir::HashOn::Header(h) => headers
            .get(h.as_str())
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default(),
    })
}

/// Mirrors get a copy of the request head (bodiless requests only: a streamed body can be
/// read once) and their answers are dropped. They never delay the real request.
fn start_mirrors<'a>(
    mirrors: impl Iterator<Item = &'a (Arc<Upstream>, u8)>,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
    no_body: bool,
) {
    if !no_body {
        return;
    }
    for (up, percent) in mirrors {
        if *percent < 100 && rand::random_range(0..100u8) >= *percent {
            continue;
        }
        let up = up.clone();
        let method = method.clone();
        let headers = headers.clone();
        let h2 = up.config.protocol.is_h2();
        let host = headers.get(header::HOST).cloned().or_else(|| {
            uri.authority()
                .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
        });
        let pq = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        tokio::spawn(async move {
            let Some(idx) = lb::pick(&up, None, None) else {
                return;
            };
            let Ok(uri) = upstream_uri(h2, host.as_ref(), &pq) else {
                return;
            };
            let mut headers = headers;
            if h2 {
                headers.remove(header::HOST);
            }
            let head = Head {
                method,
                uri,
                version: if h2 {
                    Version::HTTP_2
                } else {
                    Version::HTTP_11
                },
                headers,
            };
            let mut body = Some(RequestBody::Empty);
            let timeout = up.config.request_timeout;
            if let Ok(res) = attempt_once(&up, &up.endpoints[idx], head, &mut body, timeout).await {
                // Drain so the connection can be reused.
                let _ = http_body_util::BodyExt::collect(res.into_body()).await;
            }
        });
    }
}

/// Counts a request in flight on an endpoint (least-request balancing).
struct InFlight<'a>(&'a Endpoint);

impl<'a> InFlight<'a> {
    fn new(ep: &'a Endpoint) -> Self {
        ep.in_flight.fetch_add(1, Ordering::Relaxed);
        Self(ep)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `Incoming::is_end_stream` under a name that says what we use it for.
trait EndHint {
    fn is_end_stream_hint(&self) -> bool;
}

impl EndHint for Incoming {
    fn is_end_stream_hint(&self) -> bool {
        http_body::Body::is_end_stream(self)
    }
}
