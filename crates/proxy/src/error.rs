//! Every error the gateway answers, and the one place that turns them into responses.
//!
//! All gateway-made errors share one JSON shape, `{"message": "...", "request_id": "..."}`,
//! with `content-type: application/json`. Internal details (socket errors, hyper errors)
//! are logged, not shown.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

use crate::body::ProxyBody;

/// Who failed, for logs and passive health: the client, the upstream, or us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something we refuse.
    Downstream,
    /// The upstream failed.
    Upstream,
    /// The gateway itself (no route, limits).
    Gateway,
}

/// An error answered by the gateway.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// No route matched the request.
    #[error("no route matched")]
    NoRoute,
    /// The request is malformed; the text says how.
    #[error("{0}")]
    BadRequest(String),
    /// The client body stalled.
    #[error("timed out reading the request body")]
    ClientBodyTimeout,
    /// An `Expect` other than `100-continue`.
    #[error("unsupported Expect header")]
    ExpectationFailed,
    /// The route has no usable backend (all weights zero, or none defined).
    #[error("no backend available for this route")]
    NoBackend,
    /// Every endpoint is at its connection limit.
    #[error("upstream connection limit reached")]
    CircuitOpen,
    /// The retry budget or endpoints are exhausted and the last attempt could not connect.
    #[error("upstream connect failed")]
    UpstreamConnect,
    /// The upstream closed or reset the connection before answering.
    #[error("upstream connection reset")]
    UpstreamReset,
    /// The upstream sent something that is not HTTP.
    #[error("invalid upstream response")]
    UpstreamProtocol,
    /// The upstream did not answer in time.
    #[error("upstream request timed out")]
    UpstreamTimeout,
    /// Too many client connections.
    #[error("too many connections")]
    Overloaded,
    /// A direct response configured on the route (status, message).
    #[error("{1}")]
    Direct(u16, String),
    /// Missing or invalid credentials: 401 with these `WWW-Authenticate` challenges.
    #[error("{message}")]
    Unauthorized {
        /// What was wrong, without any credential in it.
        message: String,
        /// One value per authentication method the route takes.
        challenges: Vec<HeaderValue>,
    },
    /// Authenticated (or not needed) but not allowed: IP filter or ACL.
    #[error("{0}")]
    Forbidden(String),
    /// A rate limit or quota refused the request: 429 with `Retry-After` and
    /// `RateLimit-*`.
    #[error("rate limit exceeded")]
    RateLimited {
        /// The refusing limit's name (for the access log).
        limit: String,
        /// `Retry-After` and `RateLimit-*`.
        headers: Vec<(http::HeaderName, HeaderValue)>,
    },
    /// Redis could not answer and the limit says `on_store_failure: deny`.
    #[error("rate-limit store unavailable")]
    LimitStoreUnavailable(String),
    /// The external authorization service said no: its status, relayed headers and body
    /// go to the client.
    #[error("denied by the authorization service")]
    ExtAuthDenied {
        /// The service's status.
        status: u16,
        /// `WWW-Authenticate`, `Location`, `Set-Cookie`, `Content-Type` of its answer.
        headers: Vec<(http::HeaderName, HeaderValue)>,
        /// Its body (bounded).
        body: Bytes,
    },
    /// The request body is larger than the route's `request_size.max_body` (bytes).
    #[error("request body larger than the limit of {0} bytes")]
    PayloadTooLarge(u64),
    /// The method is not one the route serves: 405 with `Allow` (these methods).
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// A `Range` outside the file: 416 with `Content-Range: bytes */LENGTH`.
    #[error("range not satisfiable")]
    RangeNotSatisfiable(u64),
    /// A required part of an `aggregate` answer failed (which part, and how).
    #[error("{0}")]
    AggregatePart(String),
    /// Credentials could not be judged right now (keys still loading, password checks
    /// saturated): 503, so a valid client is not told to log in again.
    #[error("{0}")]
    AuthUnavailable(String),
}

impl ProxyError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::RangeNotSatisfiable(_) => StatusCode::RANGE_NOT_SATISFIABLE,
            Self::ClientBodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::ExpectationFailed => StatusCode::EXPECTATION_FAILED,
            Self::NoBackend => StatusCode::INTERNAL_SERVER_ERROR,
            Self::CircuitOpen | Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamConnect
            | Self::UpstreamReset
            | Self::UpstreamProtocol
            | Self::AggregatePart(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Direct(s, _) => {
                StatusCode::from_u16(*s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::AuthUnavailable(_) | Self::LimitStoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::ExtAuthDenied { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::FORBIDDEN)
            }
        }
    }

    /// Who failed.
    pub fn source(&self) -> ErrorSource {
        match self {
            Self::BadRequest(_)
            | Self::PayloadTooLarge(_)
            | Self::MethodNotAllowed(_)
            | Self::RangeNotSatisfiable(_)
            | Self::ClientBodyTimeout
            | Self::ExpectationFailed
            | Self::Unauthorized { .. }
            | Self::Forbidden(_)
            | Self::ExtAuthDenied { .. } => ErrorSource::Downstream,
            Self::CircuitOpen
            | Self::UpstreamConnect
            | Self::UpstreamReset
            | Self::UpstreamProtocol
            | Self::UpstreamTimeout
            | Self::AggregatePart(_) => ErrorSource::Upstream,
            Self::NoRoute
            | Self::NoBackend
            | Self::Overloaded
            | Self::Direct(..)
            | Self::AuthUnavailable(_)
            | Self::RateLimited { .. }
            | Self::LimitStoreUnavailable(_) => ErrorSource::Gateway,
        }
    }

    /// A short label for metrics (`tollgate_upstream_errors_total{kind}`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::BadRequest(_) => "bad_request",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::RangeNotSatisfiable(_) => "range_not_satisfiable",
            Self::ClientBodyTimeout => "client_body_timeout",
            Self::ExpectationFailed => "expectation_failed",
            Self::NoBackend => "no_backend",
            Self::CircuitOpen => "circuit_open",
            Self::UpstreamConnect => "connect",
            Self::UpstreamReset => "reset",
            Self::UpstreamProtocol => "protocol",
            Self::UpstreamTimeout => "timeout",
            Self::AggregatePart(_) => "aggregate_part",
            Self::Overloaded => "overloaded",
            Self::Direct(..) => "direct",
            Self::Unauthorized { .. } => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::AuthUnavailable(_) => "auth_unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::ExtAuthDenied { .. } => "ext_auth_denied",
            Self::LimitStoreUnavailable(_) => "limit_store_unavailable",
        }
    }

    /// The response for this error.
    pub fn to_response(&self, request_id: &str) -> Response<ProxyBody> {
        if let Self::ExtAuthDenied { body, .. } = self
            && !body.is_empty()
        {
            // The service's own answer, as it wrote it (a login page, its JSON).
            let mut res = Response::new(ProxyBody::full(body.clone()));
            *res.status_mut() = self.status();
            self.add_headers(res.headers_mut());
            return res;
        }
        let mut res = error_response(self.status(), &self.to_string(), request_id);
        self.add_headers(res.headers_mut());
        res
    }

    /// Headers the error's status calls for: `WWW-Authenticate` on a 401 (RFC 9110
    /// §15.5.2 requires one), `Retry-After` when credentials could not be judged yet.
    pub fn add_headers(&self, headers: &mut http::HeaderMap) {
        match self {
            Self::Unauthorized { challenges, .. } => {
                for c in challenges {
                    headers.append(header::WWW_AUTHENTICATE, c.clone());
                }
            }
            Self::AuthUnavailable(_) | Self::LimitStoreUnavailable(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Self::ExtAuthDenied {
                headers: h, body, ..
            } => {
                for (n, v) in h {
                    // An empty body becomes the JSON error, whose type is ours.
                    if *n == header::CONTENT_TYPE && body.is_empty() {
                        continue;
                    }
                    headers.append(n.clone(), v.clone());
                }
            }
            Self::MethodNotAllowed(allow) => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::RangeNotSatisfiable(len) => {
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                    headers.insert(header::CONTENT_RANGE, v);
                }
            }
            Self::RateLimited { headers: h, .. } => {
                for (n, v) in h {
                    headers.insert(n.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
}

/// The gRPC status code for an HTTP status made by the gateway (the mapping gRPC's own
/// HTTP-to-gRPC table uses).
pub fn grpc_code(status: StatusCode) -> u8 {
    match status.as_u16() {
        400 => 13,       // INTERNAL
        401 => 16,       // UNAUTHENTICATED
        403 => 7,        // PERMISSION_DENIED
        404 => 12,       // UNIMPLEMENTED
        408 | 504 => 4,  // DEADLINE_EXCEEDED
        413 | 431 => 8,  // RESOURCE_EXHAUSTED
        429 => 8,        // RESOURCE_EXHAUSTED
        502 | 503 => 14, // UNAVAILABLE
        _ => 2,          // UNKNOWN
    }
}

/// A gRPC error as a trailers-only response: HTTP 200 with `grpc-status` and
/// `grpc-message` in the head, so gRPC clients see a gRPC error instead of an HTTP one.
pub fn grpc_error_response(
    status: StatusCode,
    message: &str,
    request_id: &str,
) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::empty());
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert(
        "grpc-status",
        HeaderValue::from(u16::from(grpc_code(status))),
    );
    let msg = format!("{message} (request id {request_id})");
    if let Ok(v) = HeaderValue::from_str(&percent_encode(&msg)) {
        h.insert("grpc-message", v);
    }
    res
}

/// gRPC's `grpc-message` is percent-encoded (only printable ASCII except `%` is kept).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The one JSON error body.
pub fn error_body(message: &str, request_id: &str) -> Bytes {
    let body = serde_json::json!({ "message": message, "request_id": request_id });
    Bytes::from(body.to_string())
}

/// A complete error response in the one shape.
pub fn error_response(status: StatusCode, message: &str, request_id: &str) -> Response<ProxyBody> {
    let mut res = Response::new(ProxyBody::full(error_body(message, request_id)));
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    res
}

/// The raw HTTP/1.1 bytes of an error answer, for errors found before hyper sees a
/// request (framing violations, connection limits). Always closes the connection.
pub fn raw_error_response(status: u16, message: &str, request_id: &str) -> Bytes {
    let body = error_body(message, request_id);
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-request-id: {request_id}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(&body);
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(ProxyError::NoRoute.status(), 404);
        assert_eq!(ProxyError::UpstreamTimeout.status(), 504);
        assert_eq!(ProxyError::CircuitOpen.status(), 503);
        assert_eq!(ProxyError::UpstreamConnect.status(), 502);
        assert_eq!(ProxyError::Direct(418, "teapot".into()).status(), 418);
    }

    #[test]
    fn grpc_errors_are_trailers_only() {
        let res = grpc_error_response(StatusCode::NOT_FOUND, "no route matched", "id1");
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers()["grpc-status"], "12");
        assert_eq!(
            res.headers()["grpc-message"],
            "no route matched (request id id1)"
        );
        assert_eq!(grpc_code(StatusCode::SERVICE_UNAVAILABLE), 14);
        assert_eq!(percent_encode("a%b\n"), "a%25b%0A");
    }

    #[test]
    fn raw_response_is_valid_http() {
        let raw = raw_error_response(431, "request header fields too large", "abc");
        let text = String::from_utf8(raw.to_vec()).expect("utf8");
        assert!(text.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").expect("head");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).expect("json");
        assert_eq!(v["request_id"], "abc");
    }
}
