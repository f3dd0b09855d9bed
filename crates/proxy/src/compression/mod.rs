//! The `compression` route policy (docs/content-policies.md#compression): answers
//! compressed with the coding the request's `Accept-Encoding` prefers among the route's,
//! streamed frame by frame (`body.rs`), never buffered whole.
//!
//! The handler keeps the request's `Accept-Encoding` when the route has this policy and
//! calls [`Compression::apply`] on the answer, whatever made it (upstream, `static`,
//! `respond`, an error). Routes without it pay one `Option` check.

mod body;
mod encoder;
mod negotiate;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};
use tollgate_ir as ir;

use crate::body::ProxyBody;

pub(crate) use body::CompressBody;

/// A route's compiled `compression`.
pub(crate) struct Compression {
    algorithms: Vec<ir::Coding>,
    min_size: u64,
    types: Vec<TypePattern>,
    levels: ir::CompressionLevels,
    /// `Content-Encoding` values, made once.
    encodings: [HeaderValue; 3],
}

/// A compressible media type: `type/subtype`, `type/*`, `type/*+suffix`, `*/*+suffix`.
struct TypePattern {
    ty: Option<String>,
    sub: Sub,
}

enum Sub {
    Any,
    Exact(String),
    Suffix(String),
}

impl TypePattern {
    fn parse(p: &str) -> Option<Self> {
        let (ty, sub) = p.split_once('/')?;
        let ty = (ty != "*").then(|| ty.to_ascii_lowercase());
        let sub = match sub {
            "*" => Sub::Any,
            s => match s.strip_prefix("*+") {
                Some(suffix) => Sub::Suffix(format!("+{}", suffix.to_ascii_lowercase())),
                None => Sub::Exact(s.to_ascii_lowercase()),
            },
        };
        Some(Self { ty, sub })
    }

    /// `ty` and `sub` are lower case.
    fn matches(&self, ty: &str, sub: &str) -> bool {
        self.ty.as_deref().is_none_or(|t| t == ty)
            && match &self.sub {
                Sub::Any => true,
                Sub::Exact(s) => s == sub,
                Sub::Suffix(s) => sub.ends_with(s.as_str()),
            }
    }
}

/// What to do with one answer.
#[derive(Debug, PartialEq, Eq)]
enum Plan {
    /// Not ours to touch (already encoded, partial, not a compressible type…).
    Leave,
    /// A compressible answer sent as it is: only `Vary: Accept-Encoding`.
    Vary,
    /// Compress with this coding.
    Compress(ir::Coding),
}

impl Compression {
    pub(crate) fn compile(c: &ir::Compression) -> Result<Self, String> {
        let types = c
            .content_types
            .iter()
            .map(|p| TypePattern::parse(p).ok_or_else(|| format!("invalid media type {p:?}")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            algorithms: c.algorithms.clone(),
            min_size: c.min_size,
            types,
            levels: c.levels,
            encodings: ir::Coding::ALL.map(|c| HeaderValue::from_static(c.token())),
        })
    }

    fn compressible(&self, content_type: Option<&HeaderValue>) -> bool {
        let Some(ct) = content_type.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let essence = ct.split(';').next().unwrap_or("").trim();
        let Some((ty, sub)) = essence.split_once('/') else {
            return false;
        };
        let ty = ty.to_ascii_lowercase();
        let sub = sub.to_ascii_lowercase();
        // Never, whatever the patterns say: gRPC frames its own (compressed) messages,
        // and an event stream must reach the client event by event.
        if ty == "application" && sub.starts_with("grpc") || ty == "text" && sub == "event-stream" {
            return false;
        }
        self.types.iter().any(|p| p.matches(&ty, &sub))
    }

    fn plan(
        &self,
        accept: Option<&HeaderValue>,
        method: &Method,
        h: &HeaderMap,
        status: StatusCode,
    ) -> Plan {
        if status.is_informational()
            || status == StatusCode::NO_CONTENT
            || status == StatusCode::PARTIAL_CONTENT
        {
            return Plan::Leave;
        }
        let encoded = h
            .get(header::CONTENT_ENCODING)
            .is_some_and(|v| !v.as_bytes().eq_ignore_ascii_case(b"identity"));
        if encoded || h.contains_key(header::CONTENT_RANGE) || no_transform(h) {
            return Plan::Leave;
        }
        if status == StatusCode::NOT_MODIFIED {
            // A 304 carries the Vary its 200 would have (RFC 9110 §15.4.5); it has no
            // Content-Type to judge by.
            return Plan::Vary;
        }
        if !self.compressible(h.get(header::CONTENT_TYPE)) {
            return Plan::Leave;
        }
        if method == Method::HEAD {
            return Plan::Vary;
        }
        let small = h
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n < self.min_size);
        if small {
            return Plan::Vary;
        }
        match accept.and_then(|a| negotiate::choose(a.as_bytes(), &self.algorithms)) {
            Some(c) => Plan::Compress(c),
            None => Plan::Vary,
        }
    }

    /// Compresses `res` when it qualifies and the request accepts one of the route's
    /// codings; marks compressible answers `Vary: Accept-Encoding` either way.
    pub(crate) fn apply(
        &self,
        accept: Option<&HeaderValue>,
        method: &Method,
        res: &mut Response<ProxyBody>,
    ) {
        let coding = match self.plan(accept, method, res.headers(), res.status()) {
            Plan::Leave => return,
            Plan::Vary => {
                add_vary(res.headers_mut());
                return;
            }
            Plan::Compress(c) => c,
        };
        let encoder = match encoder::Encoder::new(coding, &self.levels) {
            Ok(e) => e,
            Err(e) => {
                // The answer is still good uncompressed.
                tracing::warn!(
                    "compression: cannot start a {} encoder: {e}",
                    coding.token()
                );
                add_vary(res.headers_mut());
                return;
            }
        };
        let h = res.headers_mut();
        add_vary(h);
        h.insert(
            header::CONTENT_ENCODING,
            self.encodings[index(coding)].clone(),
        );
        h.remove(header::CONTENT_LENGTH);
        // Ranges would be of the compressed bytes, which no one can ask for.
        h.remove(header::ACCEPT_RANGES);
        weaken_etag(h);
        let body = std::mem::replace(res.body_mut(), ProxyBody::empty());
        *res.body_mut() = ProxyBody::compressed(CompressBody::new(body, encoder));
    }
}

/// The request's `Accept-Encoding`, its lines joined when it came in several (rare:
/// only that case allocates).
pub(crate) fn accept_encoding(h: &HeaderMap) -> Option<HeaderValue> {
    let mut all = h.get_all(header::ACCEPT_ENCODING).iter();
    let first = all.next()?;
    let Some(second) = all.next() else {
        return Some(first.clone());
    };
    let mut joined = first.as_bytes().to_vec();
    for v in std::iter::once(second).chain(all) {
        joined.push(b',');
        joined.extend_from_slice(v.as_bytes());
    }
    HeaderValue::from_bytes(&joined).ok()
}

fn index(c: ir::Coding) -> usize {
    match c {
        ir::Coding::Zstd => 0,
        ir::Coding::Br => 1,
        ir::Coding::Gzip => 2,
    }
}

/// `Cache-Control: no-transform` forbids changing the content coding.
fn no_transform(h: &HeaderMap) -> bool {
    h.get_all(header::CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-transform"))
        })
    })
}

/// Appends `Accept-Encoding` to `Vary` unless it is listed already (or `*` is).
fn add_vary(h: &mut HeaderMap) {
    let listed = h.get_all(header::VARY).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.eq_ignore_ascii_case("accept-encoding")
            })
        })
    });
    if !listed {
        h.append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    }
}

/// A strong validator names the uncompressed bytes; the compressed answer gets the
/// weak form (as NGINX does), so `If-None-Match` still matches it weakly.
fn weaken_etag(h: &mut HeaderMap) {
    if let Some(tag) = h.get(header::ETAG)
        && tag.as_bytes().first() == Some(&b'"')
    {
        let mut weak = Vec::with_capacity(tag.len() + 2);
        weak.extend_from_slice(b"W/");
        weak.extend_from_slice(tag.as_bytes());
        if let Ok(v) = HeaderValue::from_bytes(&weak) {
            h.insert(header::ETAG, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(types: &[&str]) -> Compression {
        Compression::compile(&ir::Compression {
            algorithms: ir::Coding::ALL.to_vec(),
            min_size: 1024,
            content_types: types.iter().map(|s| (*s).to_owned()).collect(),
            levels: ir::CompressionLevels::default(),
        })
        .unwrap()
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(*n, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn media_types() {
        let p = policy(&ir::DEFAULT_COMPRESSIBLE_TYPES);
        let ct = |s: &'static str| p.compressible(Some(&HeaderValue::from_static(s)));
        assert!(ct("text/html; charset=utf-8"));
        assert!(ct("Application/JSON"));
        assert!(ct("application/problem+json"));
        assert!(ct("application/atom+xml"));
        assert!(ct("image/svg+xml"));
        assert!(!ct("image/png"));
        assert!(!ct("application/zip"));
        assert!(!ct("application/grpc"));
        assert!(!ct("application/grpc+proto"));
        assert!(!ct("text/event-stream"));
        assert!(!ct("nonsense"));
        assert!(!p.compressible(None));
        let any_xml = policy(&["*/*+xml"]);
        assert!(any_xml.compressible(Some(&HeaderValue::from_static("image/svg+xml"))));
        assert!(!any_xml.compressible(Some(&HeaderValue::from_static("text/plain"))));
    }

    #[test]
    fn plans() {
        let p = policy(&ir::DEFAULT_COMPRESSIBLE_TYPES);
        let gzip = HeaderValue::from_static("gzip");
        let ok = StatusCode::OK;
        let json = headers(&[("content-type", "application/json")]);
        let plan = |h: &HeaderMap, m: &Method, s| p.plan(Some(&gzip), m, h, s);
        assert_eq!(
            plan(&json, &Method::GET, ok),
            Plan::Compress(ir::Coding::Gzip)
        );
        assert_eq!(p.plan(None, &Method::GET, &json, ok), Plan::Vary);
        assert_eq!(plan(&json, &Method::HEAD, ok), Plan::Vary);
        assert_eq!(
            plan(&json, &Method::GET, StatusCode::NO_CONTENT),
            Plan::Leave
        );
        assert_eq!(
            plan(&json, &Method::GET, StatusCode::PARTIAL_CONTENT),
            Plan::Leave
        );
        assert_eq!(
            plan(&json, &Method::GET, StatusCode::SWITCHING_PROTOCOLS),
            Plan::Leave
        );
        assert_eq!(
            plan(&json, &Method::GET, StatusCode::NOT_MODIFIED),
            Plan::Vary
        );
        let small = headers(&[("content-type", "text/plain"), ("content-length", "1023")]);
        assert_eq!(plan(&small, &Method::GET, ok), Plan::Vary);
        let big = headers(&[("content-type", "text/plain"), ("content-length", "1024")]);
        assert_eq!(
            plan(&big, &Method::GET, ok),
            Plan::Compress(ir::Coding::Gzip)
        );
        let done = headers(&[("content-type", "text/plain"), ("content-encoding", "br")]);
        assert_eq!(plan(&done, &Method::GET, ok), Plan::Leave);
        let nt = headers(&[
            ("content-type", "text/plain"),
            ("cache-control", "public, No-Transform"),
        ]);
        assert_eq!(plan(&nt, &Method::GET, ok), Plan::Leave);
        let range = headers(&[
            ("content-type", "text/plain"),
            ("content-range", "bytes 0-1/2"),
        ]);
        assert_eq!(plan(&range, &Method::GET, ok), Plan::Leave);
    }

    #[test]
    fn vary_and_etag() {
        let mut h = headers(&[("vary", "Origin"), ("etag", "\"abc\"")]);
        add_vary(&mut h);
        add_vary(&mut h);
        let vary: Vec<_> = h.get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
        weaken_etag(&mut h);
        assert_eq!(h["etag"], "W/\"abc\"");
        weaken_etag(&mut h);
        assert_eq!(h["etag"], "W/\"abc\"");
        let mut star = headers(&[("vary", "*")]);
        add_vary(&mut star);
        assert_eq!(star.get_all("vary").iter().count(), 1);
    }
}
