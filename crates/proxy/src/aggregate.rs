//! Gateway aggregation: one client request, several backend calls made at once, one JSON
//! answer `{"<part>": <its JSON>, …}`.
//!
//! Each part goes through the same upstream machinery as a forwarded request (balancer,
//! pooled connections, retries, passive health), bounded by the aggregate's timeout for
//! the whole answer including its body. A part that fails (no connection, timeout, a
//! non-2xx status, a body over `max_body` or not JSON) is `null` with an entry in
//! `errors` when it is optional; a required one makes the whole answer a 502 in the
//! gateway's error shape, naming the part. Bodies are collected whole (they must be
//! merged), so `max_body` bounds the memory a request can take.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Response, header};
use http_body_util::BodyExt as _;
use tollgate_ir as ir;

use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::forward::{self, Outgoing};
use crate::headers::X_REQUEST_ID;
use crate::router::{Backend, Route};
use crate::shared::Shared;

/// What the parts need from the client's request.
pub(crate) struct Call<'a> {
    /// Only GET and HEAD are aggregated: the parts are reads.
    pub(crate) method: &'a Method,
    /// The normalised request path (template variables come from it).
    pub(crate) path: &'a str,
    /// The client's authority, sent as the parts' `Host`.
    pub(crate) host: Option<&'a HeaderValue>,
    /// The client's headers, after access policies (identity headers included).
    pub(crate) headers: &'a HeaderMap,
    pub(crate) request_id: &'a HeaderValue,
    pub(crate) client_ip: IpAddr,
}

/// How one part failed, as reported in `errors`.
struct Failure {
    /// The upstream's status, or the one the gateway would have answered with.
    status: u16,
    message: String,
}

/// Makes every call of `a` at once and answers with the merged JSON.
pub(crate) async fn serve(
    shared: &Arc<Shared>,
    route: &Arc<Route>,
    a: &ir::Aggregate,
    call: Call<'_>,
) -> Result<Response<ProxyBody>, ProxyError> {
    if !matches!(*call.method, Method::GET | Method::HEAD) {
        return Err(ProxyError::MethodNotAllowed("GET, HEAD"));
    }
    let caps = route.captures(call.path);
    let headers = part_headers(a, &call);
    let calls = a.parts.iter().zip(&route.backends).map(|(part, backend)| {
        let target = match &caps {
            Some(c) => c.fill(&part.path),
            None => part.path.clone(),
        };
        let out = Outgoing {
            upgrade: false,
            method: Method::GET,
            // Filled below; a target that does not parse fails this part only.
            path_and_query: http::uri::PathAndQuery::from_static("/"),
            host: call.host.cloned(),
            headers: headers.clone(),
            te_trailers: false,
            client_ip: call.client_ip,
            body: None,
            max_body: None,
        };
        one(shared, route, backend, target, out, a.timeout, a.max_body)
    });
    let results = futures::future::join_all(calls).await;

    let mut body = String::with_capacity(256);
    let mut errors = String::new();
    body.push('{');
    for (i, (part, result)) in a.parts.iter().zip(results).enumerate() {
        if i > 0 {
            body.push(',');
        }
        push_key(&mut body, &part.name);
        match result {
            Ok(json) => body.push_str(&json),
            Err(f) if part.optional => {
                body.push_str("null");
                if !errors.is_empty() {
                    errors.push(',');
                }
                push_key(&mut errors, &part.name);
                let _ = write!(
                    errors,
                    "{{\"status\":{},\"message\":{}}}",
                    f.status,
                    json_string(&f.message)
                );
            }
            Err(f) => {
                return Err(ProxyError::AggregatePart(format!(
                    "aggregate part {:?} failed: {}",
                    part.name, f.message
                )));
            }
        }
    }
    if !errors.is_empty() {
        body.push_str(",\"errors\":{");
        body.push_str(&errors);
        body.push('}');
    }
    body.push('}');
    let mut res = Response::new(ProxyBody::full(Bytes::from(body)));
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(res)
}

/// One call, to its whole body, within `timeout`: the body as JSON text.
async fn one(
    shared: &Arc<Shared>,
    route: &Arc<Route>,
    backend: &Backend,
    target: String,
    mut out: Outgoing,
    timeout: Duration,
    max_body: u64,
) -> Result<String, Failure> {
    out.path_and_query =
        http::uri::PathAndQuery::from_maybe_shared(Bytes::from(target)).map_err(|_| Failure {
            status: 502,
            message: "the part's path is not a valid request target".to_owned(),
        })?;
    let call = async {
        let (res, _) = forward::forward(shared, route, backend, out)
            .await
            .map_err(|e| Failure {
                status: e.status().as_u16(),
                message: e.to_string(),
            })?;
        let status = res.status();
        if !status.is_success() {
            return Err(Failure {
                status: status.as_u16(),
                message: format!("the upstream answered {status}"),
            });
        }
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        let bytes = http_body_util::Limited::new(res.into_body(), limit)
            .collect()
            .await
            .map_err(|e| Failure {
                status: 502,
                message: if e.is::<http_body_util::LengthLimitError>() {
                    format!("the answer is larger than max_body ({max_body} bytes)")
                } else {
                    "the answer's body broke off".to_owned()
                },
            })?
            .to_bytes();
        json_text(&bytes)
    };
    match tokio::time::timeout(timeout, call).await {
        Ok(r) => r,
        Err(_) => Err(Failure {
            status: 504,
            message: format!("no complete answer within {}ms", timeout.as_millis()),
        }),
    }
}

/// The body as JSON text to embed: checked to be one JSON value (an empty body is
/// `null`), so the merged answer is always valid JSON.
fn json_text(bytes: &[u8]) -> Result<String, Failure> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| not_json())?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    if text.is_empty() {
        return Ok("null".to_owned());
    }
    serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| not_json())?;
    Ok(text.to_owned())
}

fn not_json() -> Failure {
    Failure {
        status: 502,
        message: "the answer is not JSON".to_owned(),
    }
}

/// The headers every part is sent with: the configured client headers, the request id
/// (so the calls can be traced to the client's request) and `Accept: application/json`
/// unless the client's is forwarded.
fn part_headers(a: &ir::Aggregate, call: &Call<'_>) -> HeaderMap {
    let mut h = HeaderMap::with_capacity(a.forward_headers.len() + 3);
    for name in &a.forward_headers {
        for v in call.headers.get_all(name.as_str()) {
            if let Ok(n) = http::HeaderName::from_bytes(name.as_bytes()) {
                h.append(n, v.clone());
            }
        }
    }
    if !h.contains_key(header::ACCEPT) {
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    }
    h.insert(X_REQUEST_ID.clone(), call.request_id.clone());
    if let Ok(v) = HeaderValue::from_str(&call.client_ip.to_string()) {
        h.insert(crate::headers::XFF.clone(), v);
    }
    h
}

fn push_key(out: &mut String, key: &str) {
    out.push_str(&json_string(key));
    out.push(':');
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_embedded_only_as_json() {
        assert_eq!(
            json_text(b" {\"a\":1}\n").ok().as_deref(),
            Some("{\"a\":1}")
        );
        assert_eq!(json_text(b"").ok().as_deref(), Some("null"));
        assert_eq!(json_text(b"[1,2]").ok().as_deref(), Some("[1,2]"));
        assert!(json_text(b"{\"a\":").is_err());
        assert!(json_text(b"<html>").is_err());
        // Two values would make the merged object invalid.
        assert!(json_text(b"1 2").is_err());
        assert!(json_text(&[0xff, 0xfe]).is_err());
    }
}
