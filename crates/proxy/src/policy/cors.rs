//! Cross-origin resource sharing (docs/content-policies.md).
//!
//! A preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered
//! here, before the access phase: browsers never send credentials on one. Every other
//! answer of a route with the policy, errors included, gets the CORS headers when its
//! origin is allowed; the upstream's own `Access-Control-*` headers are replaced.

use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use tollgate_ir as ir;

use crate::body::ProxyBody;
use crate::error::ProxyError;

/// Response headers the gateway owns on a route with the policy.
static OWNED: [HeaderName; 6] = [
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::ACCESS_CONTROL_ALLOW_METHODS,
    header::ACCESS_CONTROL_ALLOW_HEADERS,
    header::ACCESS_CONTROL_MAX_AGE,
];

/// A route's compiled CORS policy.
pub(crate) struct Cors {
    origins: Origins,
    methods: Vec<Method>,
    methods_value: HeaderValue,
    /// Lower case.
    headers: Vec<String>,
    headers_value: Option<HeaderValue>,
    expose_value: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<HeaderValue>,
}

enum Origins {
    /// `*`: any origin, answered with `*` (never with credentials).
    Any,
    List {
        /// Whole origins, lower case.
        exact: Vec<String>,
        /// `(scheme://, .suffix)` of `scheme://*.suffix`, lower case.
        wildcard: Vec<(String, String)>,
    },
}

fn value(s: &str) -> Result<HeaderValue, String> {
    HeaderValue::from_str(s).map_err(|_| format!("cors: invalid header value {s:?}"))
}

fn joined(list: &[String]) -> Result<Option<HeaderValue>, String> {
    if list.is_empty() {
        return Ok(None);
    }
    value(&list.join(", ")).map(Some)
}

impl Cors {
    pub(crate) fn compile(c: &ir::Cors) -> Result<Self, String> {
        let origins = if c.allow_origins.iter().any(|o| o == "*") {
            Origins::Any
        } else {
            let mut exact = Vec::new();
            let mut wildcard = Vec::new();
            for o in &c.allow_origins {
                let o = o.to_ascii_lowercase();
                match o.split_once("://*.") {
                    Some((scheme, suffix)) => {
                        wildcard.push((format!("{scheme}://"), format!(".{suffix}")));
                    }
                    None => exact.push(o),
                }
            }
            Origins::List { exact, wildcard }
        };
        if matches!(origins, Origins::Any) && c.allow_credentials {
            return Err("cors: `*` cannot go with allow_credentials".to_owned());
        }
        let methods = c
            .allow_methods
            .iter()
            .map(|m| Method::from_bytes(m.as_bytes()).map_err(|_| format!("invalid method {m:?}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            origins,
            methods,
            methods_value: value(&c.allow_methods.join(", "))?,
            headers: c
                .allow_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            headers_value: joined(&c.allow_headers)?,
            expose_value: joined(&c.expose_headers)?,
            credentials: c.allow_credentials,
            max_age: c.max_age.map(|d| HeaderValue::from(d.as_secs())),
        })
    }

    /// Whether `origin` may read answers.
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(o) = origin.to_str() else {
            return false;
        };
        match &self.origins {
            Origins::Any => true,
            Origins::List { exact, wildcard } => {
                exact.iter().any(|e| e.eq_ignore_ascii_case(o))
                    || wildcard
                        .iter()
                        .any(|(scheme, suffix)| subdomain(o, scheme, suffix))
            }
        }
    }

    /// The answer to a preflight: 204 with the allowed methods and headers, or 403 when
    /// the origin, the method or a header is not allowed. The origin's headers are added
    /// by [`Cors::finish`].
    pub(crate) fn preflight(
        &self,
        origin: &HeaderValue,
        headers: &HeaderMap,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if !self.allows(origin) {
            return Err(ProxyError::Forbidden(
                "CORS: this origin is not allowed".into(),
            ));
        }
        let method = headers
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .map(HeaderValue::as_bytes)
            .unwrap_or_default();
        if !self.methods.iter().any(|m| m.as_str().as_bytes() == method) {
            return Err(ProxyError::Forbidden(format!(
                "CORS: method {} is not allowed",
                String::from_utf8_lossy(method)
            )));
        }
        for list in headers.get_all(header::ACCESS_CONTROL_REQUEST_HEADERS) {
            let list = list.to_str().map_err(|_| {
                ProxyError::BadRequest("invalid Access-Control-Request-Headers".into())
            })?;
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !self.headers.iter().any(|h| h.eq_ignore_ascii_case(name)) {
                    return Err(ProxyError::Forbidden(format!(
                        "CORS: request header {name} is not allowed"
                    )));
                }
            }
        }
        let mut res = Response::new(ProxyBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            self.methods_value.clone(),
        );
        if let Some(v) = &self.headers_value {
            h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
        }
        if let Some(v) = &self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, v.clone());
        }
        Ok(res)
    }

    /// Sets the CORS headers of an answer: the upstream's are removed, then, for an
    /// allowed `origin`, the gateway's added. `preflight`: the answer is this policy's
    /// own 204, whose method and header lists stay.
    pub(crate) fn finish(&self, origin: Option<HeaderValue>, preflight: bool, h: &mut HeaderMap) {
        if !preflight {
            for name in &OWNED {
                h.remove(name);
            }
        }
        let any = matches!(self.origins, Origins::Any);
        if !any {
            // The answer depends on Origin: a cache must not give one origin's to another.
            let varies = h
                .get_all(header::VARY)
                .iter()
                .any(|v| v.to_str().is_ok_and(vary_has_origin));
            if !varies {
                h.append(header::VARY, HeaderValue::from_static("Origin"));
            }
        }
        let Some(origin) = origin else {
            return;
        };
        let allow = if any {
            HeaderValue::from_static("*")
        } else {
            origin
        };
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        if self.credentials {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
        if !preflight && let Some(v) = &self.expose_value {
            h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v.clone());
        }
    }
}

fn vary_has_origin(v: &str) -> bool {
    v.split(',')
        .any(|t| matches!(t.trim(), "*") || t.trim().eq_ignore_ascii_case("origin"))
}

/// Is `origin` `scheme://<labels><suffix>`, with at least one label before the suffix?
fn subdomain(origin: &str, scheme: &str, suffix: &str) -> bool {
    let (Some(head), Some(tail)) = (
        origin.get(..scheme.len()),
        origin
            .len()
            .checked_sub(suffix.len())
            .and_then(|i| origin.get(i..)),
    ) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(scheme) || !tail.eq_ignore_ascii_case(suffix) {
        return false;
    }
    let labels = origin
        .get(scheme.len()..origin.len() - suffix.len())
        .unwrap_or("");
    !labels.is_empty()
        && !labels.starts_with('.')
        && !labels.ends_with('.')
        && labels
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Is this request a CORS preflight? The method it asks for when it is.
pub(crate) fn preflight_of(method: &Method, headers: &HeaderMap) -> Option<Method> {
    if method != Method::OPTIONS || !headers.contains_key(header::ORIGIN) {
        return None;
    }
    let m = headers.get(header::ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(m.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors(origins: &[&str]) -> Cors {
        Cors::compile(&ir::Cors {
            allow_origins: origins.iter().map(|s| (*s).to_owned()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["authorization".into()],
            ..ir::Cors::default()
        })
        .unwrap()
    }

    fn allows(c: &Cors, o: &str) -> bool {
        c.allows(&HeaderValue::from_str(o).unwrap())
    }

    #[test]
    fn origins_match_exactly_or_by_subdomain() {
        let c = cors(&["https://app.example.com", "https://*.example.com"]);
        assert!(allows(&c, "https://app.example.com"));
        assert!(allows(&c, "https://APP.example.com"));
        assert!(allows(&c, "https://a.example.com"));
        assert!(allows(&c, "https://a.b.example.com"));
        assert!(!allows(&c, "https://example.com"));
        assert!(!allows(&c, "https://evil-example.com"));
        assert!(!allows(&c, "http://a.example.com"));
        assert!(!allows(&c, "https://a.example.com:8443"));
        assert!(!allows(&c, "https://a.example.com.evil.org"));
        assert!(!allows(&c, "https://x/.example.com"));
        assert!(!allows(&c, "https://.example.com"));
        assert!(allows(&cors(&["*"]), "https://anything.org"));
    }

    #[test]
    fn preflight_checks_method_and_headers() {
        let c = cors(&["https://app.example.com"]);
        let origin = HeaderValue::from_static("https://app.example.com");
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("Authorization, "),
        );
        assert_eq!(c.preflight(&origin, &h).unwrap().status(), 204);
        h.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization,x-other"),
        );
        assert!(c.preflight(&origin, &h).is_err());
        h.remove(header::ACCESS_CONTROL_REQUEST_HEADERS);
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("DELETE"),
        );
        assert!(c.preflight(&origin, &h).is_err());
    }

    #[test]
    fn finish_replaces_upstream_headers() {
        let c = cors(&["https://app.example.com"]);
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        c.finish(None, false, &mut h);
        assert!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
        assert_eq!(h.get(header::VARY).unwrap(), "Origin");
        let origin = HeaderValue::from_static("https://app.example.com");
        c.finish(Some(origin.clone()), false, &mut h);
        assert_eq!(h.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(), origin);
        assert_eq!(h.get_all(header::VARY).iter().count(), 1);
    }
}
