//! External authorization: the request's method, URI, host and headers go to an HTTP
//! service first; a 2xx admits the request (copying chosen headers of the answer
//! upstream), anything else is the client's answer as the service wrote it.
//!
//! Checks go through the process's pooled outbound client (`crate::outbound`).

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
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
        headers: &mut HeaderMap,
        asked: &Asked<'_>,
    ) -> Result<(), ProxyError> {
        let mut req = Request::get(self.url.clone())
            .body(Full::<Bytes>::default())
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
            let res = crate::outbound::client()
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
