//! Content policies of a route (issue 9): `cors` and `request_size` (and, in
//! `crate::compression`, `compression`), checked so the proxy compiles only valid ones.
//!
//! The checks are written once for both sources: native `policies:` (problems at a
//! `file:line:col`) and the Kubernetes `Policy` (problems joined into its status). A
//! [`Sink`] takes the problems; values come as [`Item`]s carrying where they were
//! written, which is nothing for a Kubernetes object.

use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies as model;

use crate::problems::{Pos, Scope};
use crate::syntax;

/// Where problems of a content policy go.
pub(crate) trait Sink {
    /// Where a value was written.
    type At: Copy;
    /// Records a problem at `at`.
    fn problem(&mut self, at: Self::At, message: std::fmt::Arguments<'_>);
    /// A key as this source spells it (`allow_origins` natively).
    fn key(&self, snake: &str) -> String {
        snake.to_owned()
    }
}

impl Sink for Scope<'_, '_> {
    type At = Pos;
    fn problem(&mut self, at: Pos, message: std::fmt::Arguments<'_>) {
        self.push(at, message);
    }
}

/// A Kubernetes `Policy`'s problems: no positions, camelCase keys.
impl Sink for Vec<String> {
    type At = ();
    fn problem(&mut self, _: (), message: std::fmt::Arguments<'_>) {
        self.push(message.to_string());
    }
    fn key(&self, snake: &str) -> String {
        camel(snake)
    }
}

/// `request_size.max_body` → `requestSize.maxBody`.
pub(crate) fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut up = false;
    for c in snake.chars() {
        if c == '_' {
            up = true;
        } else if up {
            out.push(c.to_ascii_uppercase());
            up = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A value and where it was written.
#[derive(Clone, Copy)]
pub(crate) struct Item<'a, A> {
    pub(crate) at: A,
    pub(crate) value: &'a str,
}

/// The native items of a list.
pub(crate) fn items<'a>(list: &'a [Spanned<String>], cx: &Scope<'_, '_>) -> Vec<Item<'a, Pos>> {
    list.iter()
        .map(|s| Item {
            at: cx.pos_of(s),
            value: &s.value,
        })
        .collect()
}

/// The items of a Kubernetes list.
pub(crate) fn plain(list: &[String]) -> Vec<Item<'_, ()>> {
    list.iter()
        .map(|s| Item {
            at: (),
            value: s.as_str(),
        })
        .collect()
}

/// A `cors` block from either source.
pub(crate) struct CorsIn<'a, A> {
    /// Where the block is.
    pub(crate) at: A,
    pub(crate) allow_origins: Vec<Item<'a, A>>,
    pub(crate) allow_methods: Option<Vec<Item<'a, A>>>,
    pub(crate) allow_headers: Vec<Item<'a, A>>,
    pub(crate) expose_headers: Vec<Item<'a, A>>,
    pub(crate) allow_credentials: bool,
    pub(crate) max_age: Option<Duration>,
}

/// Methods a preflight may ask for when `allow_methods` is not given: the CORS-safelisted
/// ones, which a browser sends without asking anyway.
const DEFAULT_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// Native `cors`.
pub(crate) fn cors(c: &Spanned<model::Cors>, cx: &mut Scope<'_, '_>) -> ir::Cors {
    let v = &c.value;
    let input = CorsIn {
        at: cx.pos_of(c),
        allow_origins: items(&v.allow_origins, cx),
        allow_methods: v.allow_methods.as_ref().map(|m| items(m, cx)),
        allow_headers: items(&v.allow_headers, cx),
        expose_headers: items(&v.expose_headers, cx),
        allow_credentials: v.allow_credentials.as_ref().is_some_and(|b| b.value),
        max_age: v.max_age.as_ref().map(|d| d.value.0),
    };
    check_cors(input, cx)
}

/// `cors`, checked: origins are `*` alone or `scheme://host[:port]` (a host may start
/// with `*.`), methods and header names are tokens, `*` never goes with credentials.
pub(crate) fn check_cors<S: Sink>(v: CorsIn<'_, S::At>, cx: &mut S) -> ir::Cors {
    let credentials = v.allow_credentials;
    let origins_key = format!("cors.{}", cx.key("allow_origins"));
    if v.allow_origins.is_empty() {
        cx.problem(
            v.at,
            format_args!("{origins_key} is empty; list the origins allowed, or `*` for any"),
        );
    }
    let any = v.allow_origins.iter().find(|o| o.value == "*");
    if let Some(star) = any {
        if v.allow_origins.len() > 1 {
            cx.problem(
                star.at,
                format_args!("{origins_key}: `*` allows every origin and must be the only entry"),
            );
        }
        if credentials {
            let creds = cx.key("allow_credentials");
            cx.problem(
                star.at,
                format_args!(
                    "{origins_key} `*` cannot go with {creds}: true (browsers refuse a wildcard with credentials); list the origins"
                ),
            );
        }
    }
    let mut allow_origins = Vec::with_capacity(v.allow_origins.len());
    for o in &v.allow_origins {
        if o.value == "*" {
            allow_origins.push("*".to_owned());
            continue;
        }
        match origin(o.value) {
            Ok(norm) => {
                if allow_origins.contains(&norm) {
                    cx.problem(
                        o.at,
                        format_args!("{origins_key}: {:?} is listed twice", o.value),
                    );
                }
                allow_origins.push(norm);
            }
            Err(e) => cx.problem(o.at, format_args!("{origins_key}: {e}")),
        }
    }
    let methods_key = format!("cors.{}", cx.key("allow_methods"));
    let allow_methods = match &v.allow_methods {
        None => DEFAULT_METHODS.map(str::to_owned).to_vec(),
        Some(list) => {
            if list.is_empty() {
                cx.problem(
                    v.at,
                    format_args!(
                        "{methods_key} is empty; remove it for the default (GET, HEAD, POST)"
                    ),
                );
            }
            let mut out = Vec::with_capacity(list.len());
            for m in list {
                match syntax::method(m.value) {
                    Ok(m) if !out.contains(&m) => out.push(m),
                    Ok(_) => {}
                    Err(e) => cx.problem(m.at, format_args!("{methods_key}: {e}")),
                }
            }
            out
        }
    };
    let allow_headers = header_names(&v.allow_headers, "allow_headers", cx);
    let expose_headers = header_names(&v.expose_headers, "expose_headers", cx);
    ir::Cors {
        allow_origins,
        allow_methods,
        allow_headers,
        expose_headers,
        allow_credentials: credentials,
        max_age: v.max_age,
    }
}

fn header_names<S: Sink>(list: &[Item<'_, S::At>], key: &str, cx: &mut S) -> Vec<String> {
    let key = format!("cors.{}", cx.key(key));
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for h in list {
        if h.value == "*" {
            cx.problem(
                h.at,
                format_args!("{key}: `*` is not supported; list the header names"),
            );
            continue;
        }
        match syntax::header_name(h.value) {
            Ok(n) if !out.contains(&n) => out.push(n),
            Ok(_) => {}
            Err(e) => cx.problem(h.at, format_args!("{key}: {e}")),
        }
    }
    out
}

/// An origin as browsers send it, `scheme://host[:port]`, lower-cased; the host may be
/// `*.suffix` for any subdomain of suffix.
fn origin(s: &str) -> Result<String, String> {
    let o = s.to_ascii_lowercase();
    let Some((scheme, rest)) = o.split_once("://") else {
        return Err(format!(
            "{s:?} is not an origin; write scheme://host[:port], e.g. https://app.example.com"
        ));
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    if !scheme_ok {
        return Err(format!("{s:?}: {scheme:?} is not a URL scheme"));
    }
    if rest.contains(['/', '?', '#', '@']) {
        return Err(format!(
            "{s:?}: an origin has no path, query or user (browsers send scheme://host[:port] only)"
        ));
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || !p.is_empty() => (h, Some(p)),
        _ => (rest, None),
    };
    if let Some(p) = port
        && !matches!(p.parse::<u16>(), Ok(n) if n > 0)
    {
        return Err(format!("{s:?}: port {p:?} is not a number from 1 to 65535"));
    }
    if host.starts_with('[') {
        let ok = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .is_some_and(|h| h.parse::<std::net::Ipv6Addr>().is_ok());
        return if ok {
            Ok(o)
        } else {
            Err(format!("{s:?}: {host:?} is not an IPv6 address"))
        };
    }
    if host == "*" {
        return Err(format!(
            "{s:?}: a wildcard needs a domain after it (https://*.example.com), or write `*` alone for any origin"
        ));
    }
    syntax::host_pattern(host).map_err(|e| format!("{s:?}: {e}"))?;
    Ok(o)
}

/// Native `request_size`.
pub(crate) fn request_size(
    r: &Spanned<model::RequestSize>,
    cx: &mut Scope<'_, '_>,
) -> ir::RequestSize {
    let at = cx.pos_of(&r.value.max_body);
    check_request_size(at, r.value.max_body.value.0, cx)
}

/// `request_size`, checked: a limit of 0 would refuse every request with a body.
pub(crate) fn check_request_size<S: Sink>(at: S::At, max_body: u64, cx: &mut S) -> ir::RequestSize {
    if max_body == 0 {
        let key = format!("{}.{}", cx.key("request_size"), cx.key("max_body"));
        cx.problem(at, format_args!("{key} must be greater than 0"));
    }
    ir::RequestSize { max_body }
}

#[cfg(test)]
mod tests {
    use super::origin;

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://App.Example.com").unwrap(),
            "https://app.example.com"
        );
        assert!(origin("https://*.example.com").is_ok());
        assert!(origin("http://localhost:3000").is_ok());
        assert!(origin("http://[::1]:8080").is_ok());
        assert!(origin("https://example.com/").is_err());
        assert!(origin("example.com").is_err());
        assert!(origin("https://a.*.example.com").is_err());
        assert!(origin("https://*").is_err());
        assert!(origin("https://example.com:0").is_err());
        assert!(origin("https://example.com:x").is_err());
    }
}
