//! The request lifecycle, in one place and in a fixed order (docs/request-lifecycle.md):
//!
//! 1. request id (keep a valid incoming one or make one)
//! 2. host and path normalisation, then route match (the normalised path is what later
//!    phases see and what is forwarded, so a path-scoped policy cannot be bypassed by
//!    spelling the path differently)
//! 3. CORS phase (a preflight is answered here) and the declared body size, then the
//!    access phase: IP filter, authentication, ACL (`policy`), before the route's
//!    action so a redirect or direct answer is protected too
//!    then the rate-limit phase (`limits`; a listener's ceiling runs before routing)
//!    then the cache phase (`cache`: a hit is answered here)
//! 4. rewrite phase: redirect or direct answer, request header changes, URL rewrite
//! 5. upstream: backend by weight, endpoint by balancer, pooled connection, timeouts,
//!    retries, mirrors
//! 6. response phase: hop-by-hop removal, response header changes, `x-request-id`
//! 7. log phase: metrics, access log line
//!
//! Every error from any phase becomes one JSON response through [`ProxyError`].

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use hyper::body::Incoming;
use tollgate_ir as ir;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::forward::{self, Outgoing};
use crate::headers::{self, X_REQUEST_ID};
use crate::router::{CompiledFilters, Route};
use crate::runtime::Runtime;
use crate::shared::Shared;

/// What a request knows about its connection.
pub(crate) struct ConnInfo {
    pub(crate) peer: SocketAddr,
    /// The listener's current name (a rename in place swaps it; see `server::ListenerName`).
    pub(crate) listener: crate::server::ListenerName,
    pub(crate) scheme: &'static str,
    /// The verified client-certificate subject (mTLS listeners).
    pub(crate) client_subject: Option<Arc<str>>,
    /// The peer IP as a header value, for `X-Forwarded-For` (made once per connection).
    pub(crate) peer_header: HeaderValue,
    /// Counts the connection while anything holds this (an upgraded tunnel included).
    _count: crate::server::ConnCount,
    /// Accepted over `server.max_connections`: every request is answered 503.
    pub(crate) overloaded: bool,
}

impl ConnInfo {
    pub(crate) fn new(
        peer: SocketAddr,
        listener: crate::server::ListenerName,
        scheme: &'static str,
        client_subject: Option<Arc<str>>,
        count: crate::server::ConnCount,
        overloaded: bool,
    ) -> Self {
        let peer_header = HeaderValue::from_str(&peer.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self {
            peer,
            listener,
            scheme,
            client_subject,
            peer_header,
            _count: count,
            overloaded,
        }
    }
}

/// Facts gathered for the log phase.
struct LogFacts {
    route: Option<Arc<Route>>,
    upstream: Option<Arc<str>>,
    /// The authenticated consumer's name.
    consumer: Option<Arc<str>>,
    /// Limit decisions, for `RateLimit-*` / `X-Quota-*` on an admitted request.
    limits: Option<crate::limits::Verdict>,
    /// The limit that refused the request.
    limited_by: Option<String>,
    /// A refreshed OIDC session's cookie, set on whatever the answer is.
    set_cookie: Option<HeaderValue>,
    /// The request's `Origin`, when the route's CORS policy allows it.
    cors_origin: Option<HeaderValue>,
    /// The answer is the CORS policy's own preflight answer.
    preflight: bool,
    /// The request's `Accept-Encoding`, kept only on a route with `compression`.
    accept_encoding: Option<HeaderValue>,
}

/// Serves one request. Never fails: errors are answered.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    conn: Arc<ConnInfo>,
    req: Request<Incoming>,
) -> Response<ProxyBody> {
    let start = Instant::now();
    // One load per request: this request sees one configuration from start to end.
    let rt = shared.store.load_full();
    let request_id = shared.ids.for_request(req.headers());
    let method = req.method().clone();
    // HTTP/1 answers may carry `Connection: close`; HTTP/2 ones must not.
    let version = req.version();
    let grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    let log_path = shared
        .access_log_on(&rt)
        .then(|| req.uri().path().to_owned());
    let mut facts = LogFacts {
        route: None,
        upstream: None,
        consumer: None,
        limits: None,
        limited_by: None,
        set_cookie: None,
        cors_origin: None,
        preflight: false,
        accept_encoding: None,
    };
    let result = if conn.overloaded {
        Err(ProxyError::Overloaded)
    } else {
        process(&shared, &rt, &conn, req, &request_id, &mut facts).await
    };
    let mut res = match result {
        Ok(res) => res,
        Err(e) => {
            if let ProxyError::RateLimited { limit, .. } = &e {
                facts.limited_by = Some(limit.clone());
            }
            // A refusal carries its own limit headers.
            facts.limits = None;
            error_reply(&shared, &e, &request_id, grpc, method == http::Method::HEAD)
        }
    };
    if let Some(v) = facts.limits.take() {
        for (name, value) in v.headers() {
            res.headers_mut().insert(name, value);
        }
    }
    if let Some(c) = facts.set_cookie.take() {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    // On every answer of the route, errors included, so a browser can read them.
    if let Some(cors) = facts.route.as_ref().and_then(|r| r.cors.as_deref()) {
        cors.finish(facts.cors_origin.take(), facts.preflight, res.headers_mut());
    }
    if let Some(c) = facts.route.as_ref().and_then(|r| r.compression.as_deref()) {
        c.apply(facts.accept_encoding.as_ref(), &method, &mut res);
    }
    if conn.overloaded && version <= http::Version::HTTP_11 {
        res.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    res.headers_mut()
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    let status = res.status().as_u16();
    match &facts.route {
        Some(r) => r.stats.record(status, start.elapsed()),
        None => shared.no_route.record(status, start.elapsed()),
    }
    if let Some(path) = log_path {
        attach_log(
            &shared,
            &conn,
            &mut res,
            start,
            method,
            path,
            &request_id,
            facts,
        );
    }
    res
}

fn error_reply(
    shared: &Shared,
    e: &ProxyError,
    request_id: &HeaderValue,
    grpc: bool,
    head: bool,
) -> Response<ProxyBody> {
    let id = request_id.to_str().unwrap_or("");
    if e.source() == crate::error::ErrorSource::Downstream {
        shared.metrics.rejected(e.status().as_u16());
    }
    if grpc {
        // gRPC clients understand only gRPC statuses.
        return crate::error::grpc_error_response(e.status(), &e.to_string(), id);
    }
    if head {
        // A HEAD answer has no body, so it must not claim a JSON one: clients that
        // parse by Content-Type (the Gateway API conformance suite does) would fail on
        // the empty body. The status and `x-request-id` say everything.
        let mut res = Response::new(ProxyBody::empty());
        *res.status_mut() = e.status();
        e.add_headers(res.headers_mut());
        return res;
    }
    e.to_response(id)
}

async fn process(
    shared: &Arc<Shared>,
    rt: &Runtime,
    conn: &Arc<ConnInfo>,
    req: Request<Incoming>,
    request_id: &HeaderValue,
    facts: &mut LogFacts,
) -> Result<Response<ProxyBody>, ProxyError> {
    let (mut parts, body) = req.into_parts();
    // The authority of an absolute-form or HTTP/2 target wins over Host (RFC 9112 §3.2.2).
    let authority: Option<HeaderValue> = match parts.uri.authority() {
        Some(a) => HeaderValue::from_str(a.as_str()).ok(),
        None => parts.headers.get(header::HOST).cloned(),
    };
    if authority.is_none() && parts.version == Version::HTTP_11 {
        return Err(ProxyError::BadRequest("missing Host header".into()));
    }
    let host = authority
        .as_ref()
        .and_then(|a| a.to_str().ok())
        .map(headers::route_host)
        .unwrap_or(Cow::Borrowed(""));
    let path = tollgate_wire::normalize_path(parts.uri.path())
        .map_err(|e| ProxyError::BadRequest(format!("invalid request path: {e}")))?;
    let query = parts.uri.query();
    let table = rt
        .tables
        .get(conn.listener.load().as_str())
        .ok_or(ProxyError::NoRoute)?;
    let mut client_ip = None;
    if let Some(limits) = &table.limits {
        // The listener's ceiling, before routing: it covers requests no route matches.
        let ip = headers::client_ip(conn.peer.ip(), &parts.headers, &rt.trusted);
        client_ip = Some(ip);
        let who = crate::limits::Subject {
            ip,
            consumer: None,
            headers: &parts.headers,
        };
        facts.limits = Some(limits.check(rt.redis(), &who).await?);
    }
    if let Some(target) = &table.redirect_to_https {
        if host.is_empty() {
            return Err(ProxyError::BadRequest(
                "a redirect to https needs a Host header".into(),
            ));
        }
        return Ok(https_redirect(
            shared,
            rt,
            target,
            &parts.method,
            &host,
            &path,
            query,
        ));
    }
    let route = match table.find(&host, &parts.method, &path, query, &parts.headers) {
        Some(r) => r,
        // A preflight for a route that matches only some methods: the route of the
        // method it asks for answers it, when that route has a CORS policy.
        None => crate::policy::cors::preflight_of(&parts.method, &parts.headers)
            .and_then(|m| table.find(&host, &m, &path, query, &parts.headers))
            .filter(|r| r.cors.is_some())
            .ok_or(ProxyError::NoRoute)?,
    }
    .clone();
    facts.route = Some(route.clone());
    if route.compression.is_some() {
        facts.accept_encoding = crate::compression::accept_encoding(&parts.headers);
    }

    // CORS phase, before everything else: a browser never sends credentials on a
    // preflight, so one must not meet authentication or limits.
    if let Some(cors) = &route.cors
        && let Some(origin) = parts.headers.get(header::ORIGIN)
    {
        if crate::policy::cors::preflight_of(&parts.method, &parts.headers).is_some() {
            let answer = cors.preflight(origin, &parts.headers)?;
            facts.cors_origin = Some(origin.clone());
            facts.preflight = true;
            return Ok(answer);
        }
        if cors.allows(origin) {
            facts.cors_origin = Some(origin.clone());
        }
    }
    // A declared length over the limit is refused before any body byte is read; a
    // streamed body is cut off by the forward phase when it grows past it.
    if let Some(max) = route.max_body
        && http_body::Body::size_hint(&body).lower() > max
    {
        return Err(ProxyError::PayloadTooLarge(max));
    }

    // Access phase, before the route's action, so that a redirect or a direct answer
    // is protected as well as a forward.
    let mut strip_query = None;
    let mut consumer = None;
    if let Some(access) = &route.access {
        let ip = *client_ip
            .get_or_insert_with(|| headers::client_ip(conn.peer.ip(), &parts.headers, &rt.trusted));
        let target = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let caller = crate::policy::Caller {
            ip,
            query,
            path: &path,
            subject: conn.client_subject.as_deref(),
            method: &parts.method,
            target,
            host: authority.as_ref(),
            scheme: conn.scheme,
        };
        let cx = crate::policy::AccessCx {
            consumers: &rt.consumers,
            passwords: &shared.passwords,
        };
        let admitted = access.check(&cx, &mut parts.headers, &caller).await?;
        if let Some(answer) = admitted.answer {
            return Ok(answer);
        }
        facts.set_cookie = admitted.set_cookie;
        facts.consumer = admitted.consumer.as_ref().map(|c| c.name.clone());
        consumer = admitted.consumer;
        strip_query = admitted.strip_query;
    }

    // Rate-limit phase: after access control, so limits can key on the consumer.
    if let Some(limits) = &route.limits {
        let ip = *client_ip
            .get_or_insert_with(|| headers::client_ip(conn.peer.ip(), &parts.headers, &rt.trusted));
        let who = crate::limits::Subject {
            ip,
            consumer: consumer.as_deref(),
            headers: &parts.headers,
        };
        let verdict = limits.check(rt.redis(), &who).await?;
        match &mut facts.limits {
            Some(v) => v.extend(verdict),
            None => facts.limits = Some(verdict),
        }
    }

    // Cache phase: after access and limits, so a cached answer is protected and counted.
    let cached = match &route.cache {
        Some(c) => match c.lookup(&parts, &host, &path, query).await {
            std::ops::ControlFlow::Break(hit) => return Ok(hit),
            std::ops::ControlFlow::Continue(pending) => pending,
        },
        None => None,
    };

    // Rewrite phase. The backend entry is picked first: its own filters (Gateway API
    // backendRef filters) apply after the route's, and an invalid entry answers 500 for
    // its share of the traffic while the valid ones keep working.
    let backend = match &route.action {
        ir::Action::Redirect(r) => {
            return Ok(redirect(
                r,
                conn,
                &host,
                authority.as_ref(),
                &route,
                &path,
                query,
            ));
        }
        ir::Action::Respond(d) => return direct(d),
        ir::Action::Static(sf) => {
            let prefix = route.matched_prefix();
            return crate::static_files::serve(sf, prefix, &path, &parts.method, &parts.headers)
                .await;
        }
        ir::Action::Aggregate(a) => {
            let ip = *client_ip.get_or_insert_with(|| {
                headers::client_ip(conn.peer.ip(), &parts.headers, &rt.trusted)
            });
            let call = crate::aggregate::Call {
                method: &parts.method,
                path: &path,
                host: authority.as_ref(),
                headers: &parts.headers,
                request_id,
                client_ip: ip,
            };
            return crate::aggregate::serve(shared, &route, a, call).await;
        }
        ir::Action::Forward(_) => route.choose_backend().ok_or(ProxyError::NoBackend)?,
    };
    if let Some(d) = &backend.respond {
        return direct(d);
    }
    let filters = [&route.filters, &backend.filters];
    let mut upstream_host = authority.clone();
    let mut upstream_path: Cow<'_, str> = path.clone();
    for f in filters {
        if let Some(ops) = &f.request_headers {
            ops.apply(&mut parts.headers);
        }
        if let Some(rw) = &f.url_rewrite {
            if let Some(h) = &rw.hostname {
                upstream_host = HeaderValue::from_str(h).ok();
            }
            // A backend's path rewrite replaces the route's: both are written against
            // the path the route matched.
            if let Some(p) = &rw.path {
                upstream_path = Cow::Owned(route_rewrite(&route, p, &path));
            }
        }
    }

    // Upstream phase.
    let client_ip = client_ip
        .unwrap_or_else(|| headers::client_ip(conn.peer.ip(), &parts.headers, &rt.trusted));
    let peer_trusted = headers::is_trusted(conn.peer.ip(), &rt.trusted);
    headers::set_forwarded(
        &mut parts.headers,
        &conn.peer_header,
        peer_trusted,
        conn.scheme,
        authority.as_ref(),
    );
    let hop = tollgate_wire::strip_hop_by_hop(&mut parts.headers);
    // An upgrade (WebSocket) needs the client side of the connection, which hyper hands
    // over through the request's extensions; it must be taken before the request moves.
    let upgrade = match hop.upgrade {
        Some(protocol) => match parts.extensions.remove::<hyper::upgrade::OnUpgrade>() {
            Some(on) => {
                parts
                    .headers
                    .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                parts.headers.insert(header::UPGRADE, protocol.clone());
                Some((protocol, on))
            }
            None => None,
        },
        None => None,
    };
    if let Some(expect) = parts.headers.remove(header::EXPECT) {
        // hyper's server sends `100 Continue` itself when the body is first read, so the
        // expectation must not travel upstream (the upstream's 100 would be lost).
        if !expect.as_bytes().eq_ignore_ascii_case(b"100-continue") {
            return Err(ProxyError::ExpectationFailed);
        }
    }
    parts
        .headers
        .insert(X_REQUEST_ID.clone(), request_id.clone());
    if let Some(h) = &table.forward_subject_header {
        // Always replaced: a client must not be able to claim a certificate identity.
        parts.headers.remove(h);
        if let Some(v) = conn
            .client_subject
            .as_deref()
            .and_then(|s| HeaderValue::from_str(s).ok())
        {
            parts.headers.insert(h.clone(), v);
        }
    }
    // The common case (path unchanged by normalisation and filters) reuses the parsed
    // target as it is: no allocation, no second parse.
    let unchanged =
        strip_query.is_none() && matches!(upstream_path, Cow::Borrowed(p) if p == parts.uri.path());
    let kept_query = match (&strip_query, query) {
        (Some(name), Some(q)) => without_param(q, name),
        _ => query.map(Cow::Borrowed),
    };
    let path_and_query = match parts.uri.path_and_query() {
        Some(pq) if unchanged => pq.clone(),
        _ => {
            let s = match kept_query {
                Some(q) => format!("{upstream_path}?{q}"),
                None => upstream_path.into_owned(),
            };
            http::uri::PathAndQuery::from_maybe_shared(bytes::Bytes::from(s))
                .map_err(|_| ProxyError::BadRequest("invalid request target".into()))?
        }
    };
    let wants_upgrade = upgrade.is_some();
    let out = Outgoing {
        upgrade: wants_upgrade,
        method: parts.method,
        path_and_query,
        host: upstream_host,
        headers: parts.headers,
        te_trailers: hop.te_trailers,
        client_ip,
        body: Some(body),
        max_body: route.max_body,
    };
    let (mut res, answered) = forward::forward(shared, &route, backend, out).await?;
    facts.upstream = Some(answered.endpoint);

    // Response phase.
    let res_hop = tollgate_wire::strip_hop_by_hop(res.headers_mut());
    if res.status() == StatusCode::SWITCHING_PROTOCOLS {
        let (Some((protocol, client)), Some(upstream_io)) = (
            upgrade,
            res.extensions_mut().remove::<hyper::upgrade::OnUpgrade>(),
        ) else {
            // A 101 nobody asked for cannot be honoured.
            return Err(ProxyError::UpstreamProtocol);
        };
        let protocol = res_hop.upgrade.unwrap_or(protocol);
        // The tunnel idles out by the service that answered, not the route's first.
        let idle = answered.idle;
        apply_response_headers(filters, &mut res);
        return Ok(crate::upgrade::complete(
            shared,
            client,
            res,
            upstream_io,
            protocol,
            idle,
            conn.clone(),
        ));
    }
    apply_response_headers(filters, &mut res);
    Ok(match cached {
        Some(p) => p.finish(res),
        None => res,
    })
}

/// A query string without any `name=` parameter (an API key that must not travel
/// upstream); `None` when nothing is left.
fn without_param<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let k = pair.split_once('=').map_or(*pair, |(k, _)| k);
            crate::router::query_value(k, name).is_none()
        })
        .collect();
    (!kept.is_empty()).then(|| Cow::Owned(kept.join("&")))
}

/// The route's response header changes, then the chosen backend entry's.
fn apply_response_headers(filters: [&CompiledFilters; 2], res: &mut Response<ProxyBody>) {
    for f in filters {
        if let Some(ops) = &f.response_headers {
            ops.apply(res.headers_mut());
        }
    }
}

/// A route's path rewrite: a full replacement with `{var}`s is filled from the route's
/// path template; anything else is [`rewrite_path`].
fn route_rewrite(route: &Route, rw: &ir::PathRewrite, path: &str) -> String {
    if let ir::PathRewrite::Full(p) = rw
        && p.contains('{')
        && let Some(c) = route.captures(path)
    {
        return c.fill(p);
    }
    rewrite_path(rw, route.matched_prefix(), path)
}

/// Gateway API path rewrite: a full replacement, or the route's matched prefix replaced.
pub(crate) fn rewrite_path(
    rw: &ir::PathRewrite,
    matched_prefix: Option<&str>,
    path: &str,
) -> String {
    match rw {
        ir::PathRewrite::Full(p) => p.clone(),
        ir::PathRewrite::Prefix(replacement) => {
            let prefix = matched_prefix.unwrap_or("");
            let rest = path.get(prefix.len()..).unwrap_or("");
            let replacement = replacement.trim_end_matches('/');
            let joined = if rest.is_empty() || rest.starts_with('/') {
                format!("{replacement}{rest}")
            } else {
                format!("{replacement}/{rest}")
            };
            if joined.is_empty() {
                "/".to_owned()
            } else {
                joined
            }
        }
    }
}

fn redirect(
    r: &ir::Redirect,
    conn: &ConnInfo,
    host: &str,
    authority: Option<&HeaderValue>,
    route: &Route,
    path: &str,
    query: Option<&str>,
) -> Response<ProxyBody> {
    let scheme = r.scheme.as_deref().unwrap_or(conn.scheme);
    let hostname = r.hostname.as_deref().unwrap_or(host);
    let request_port = authority
        .and_then(|a| a.to_str().ok())
        .and_then(|a| a.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok());
    // A changed scheme without an explicit port means that scheme's default port.
    let port = match (r.port, &r.scheme) {
        (Some(p), _) => Some(p),
        (None, Some(_)) => None,
        (None, None) => request_port,
    };
    let default_port = if scheme == "https" { 443 } else { 80 };
    let mut location = format!("{scheme}://{hostname}");
    if let Some(p) = port.filter(|p| *p != default_port) {
        location.push_str(&format!(":{p}"));
    }
    match &r.path {
        Some(rw) => location.push_str(&route_rewrite(route, rw, path)),
        None => location.push_str(path),
    }
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    let mut res = Response::new(ProxyBody::empty());
    *res.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FOUND);
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// `redirect_to_https`: the same host and path on the https listener. 301 keeps the
/// method only for GET and HEAD in practice, so other methods get 308.
fn https_redirect(
    shared: &Shared,
    rt: &Runtime,
    target: &str,
    method: &http::Method,
    host: &str,
    path: &str,
    query: Option<&str>,
) -> Response<ProxyBody> {
    let port = shared
        .bound
        .load()
        .get(target)
        .map(|a| a.port())
        .or_else(|| rt.snapshot.listeners.get(target).map(|l| l.address.port()))
        .unwrap_or(443);
    // `route_host` dropped the brackets of an IPv6 literal; a URL needs them back.
    let mut location = if host.contains(':') {
        format!("https://[{host}]")
    } else {
        format!("https://{host}")
    };
    if port != 443 {
        location.push_str(&format!(":{port}"));
    }
    location.push_str(path);
    if let Some(q) = query {
        location.push('?');
        location.push_str(q);
    }
    let status = if matches!(*method, http::Method::GET | http::Method::HEAD) {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::PERMANENT_REDIRECT
    };
    let mut res = Response::new(ProxyBody::empty());
    *res.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(&location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

fn direct(d: &ir::DirectResponse) -> Result<Response<ProxyBody>, ProxyError> {
    let status = StatusCode::from_u16(d.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if d.as_written {
        return Ok(as_written(d, status));
    }
    if status.is_client_error() || status.is_server_error() {
        // Errors take the one error shape (JSON, or gRPC for gRPC clients).
        return Err(ProxyError::Direct(status.as_u16(), d.body.clone()));
    }
    let mut res = Response::new(ProxyBody::full(d.body.clone().into()));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(res)
}

/// A `respond` action: status, body and headers exactly as configured (translation
/// checked the names and values, so none is dropped here in practice).
fn as_written(d: &ir::DirectResponse, status: StatusCode) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::full(d.body.clone().into()));
    *res.status_mut() = status;
    let h = res.headers_mut();
    let content_type = match &d.content_type {
        Some(ct) => HeaderValue::from_bytes(ct.as_bytes()).ok(),
        None => Some(HeaderValue::from_static("text/plain; charset=utf-8")),
    };
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    for (name, value) in &d.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value.as_bytes()),
        ) {
            h.append(n, v);
        }
    }
    res
}

#[allow(clippy::too_many_arguments)]
fn attach_log(
    shared: &Arc<Shared>,
    conn: &ConnInfo,
    res: &mut Response<ProxyBody>,
    start: Instant,
    method: http::Method,
    path: String,
    request_id: &HeaderValue,
    facts: LogFacts,
) {
    let log = shared.log.clone();
    let status = res.status().as_u16();
    let request_id = request_id.to_str().unwrap_or("").to_owned();
    let peer = conn.peer;
    let listener = conn.listener.load_full();
    let route = facts.route.map(|r| r.name.clone());
    let upstream = facts.upstream;
    let consumer = facts.consumer;
    let limited_by = facts.limited_by;
    res.body_mut().on_done(Box::new(move |bytes, complete| {
        let line = crate::access_log::Entry {
            request_id: &request_id,
            client: peer,
            listener: listener.as_str(),
            method: method.as_str(),
            path: &path,
            route: route.as_deref(),
            upstream: upstream.as_deref(),
            consumer: consumer.as_deref(),
            limited_by: limited_by.as_deref(),
            status,
            duration: start.elapsed(),
            bytes,
            complete,
        };
        log.write(&line.to_json());
    }));
}

/// The URI of an upstream request: origin-form for HTTP/1.1, absolute for HTTP/2 (whose
/// `:authority` comes from it).
pub(crate) fn upstream_uri(
    h2: bool,
    host: Option<&HeaderValue>,
    path_and_query: &http::uri::PathAndQuery,
) -> Result<Uri, ProxyError> {
    let bad = || ProxyError::BadRequest("invalid request target".into());
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path_and_query.clone());
    if h2 {
        let authority = host.and_then(|h| h.to_str().ok()).unwrap_or("localhost");
        parts.scheme = Some(http::uri::Scheme::HTTP);
        parts.authority = Some(authority.parse().map_err(|_| bad())?);
    }
    Uri::from_parts(parts).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_rewrites_follow_gateway_api() {
        let p = |r: &str, prefix: &str, path: &str| {
            rewrite_path(&ir::PathRewrite::Prefix(r.into()), Some(prefix), path)
        };
        assert_eq!(p("/", "/orders", "/orders/1"), "/1");
        assert_eq!(p("/", "/orders", "/orders"), "/");
        assert_eq!(p("/v2", "/orders", "/orders/1"), "/v2/1");
        assert_eq!(p("/v2/", "/orders", "/orders/1"), "/v2/1");
        assert_eq!(p("/v2", "/orders", "/orders"), "/v2");
        assert_eq!(p("/x", "", "/a/b"), "/x/a/b");
        let full = rewrite_path(&ir::PathRewrite::Full("/new".into()), Some("/o"), "/o/1");
        assert_eq!(full, "/new");
    }
}
