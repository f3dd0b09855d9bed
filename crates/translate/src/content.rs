//! Content policies of a route (issue 9): `cors` and `request_size`, checked so the
//! proxy compiles only valid ones.

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies as model;

use crate::problems::Scope;
use crate::syntax;

/// Methods a preflight may ask for when `allow_methods` is not given: the CORS-safelisted
/// ones, which a browser sends without asking anyway.
const DEFAULT_METHODS: [&str; 3] = ["GET", "HEAD", "POST"];

/// `cors`, checked: origins are `*` alone or `scheme://host[:port]` (a host may start
/// with `*.`), methods and header names are tokens, `*` never goes with credentials.
pub(crate) fn cors(c: &Spanned<model::Cors>, cx: &mut Scope<'_, '_>) -> ir::Cors {
    let v = &c.value;
    let credentials = v.allow_credentials.as_ref().is_some_and(|b| b.value);
    if v.allow_origins.is_empty() {
        cx.push(
            cx.pos_of(c),
            "cors.allow_origins is empty; list the origins allowed, or `*` for any",
        );
    }
    let any = v.allow_origins.iter().find(|o| o.value == "*");
    if let Some(star) = any {
        if v.allow_origins.len() > 1 {
            cx.push(
                cx.pos_of(star),
                "cors.allow_origins: `*` allows every origin and must be the only entry",
            );
        }
        if credentials {
            cx.push(
                cx.pos_of(star),
                "cors.allow_origins `*` cannot go with allow_credentials: true (browsers refuse a wildcard with credentials); list the origins",
            );
        }
    }
    let mut allow_origins = Vec::with_capacity(v.allow_origins.len());
    for o in &v.allow_origins {
        if o.value == "*" {
            allow_origins.push("*".to_owned());
            continue;
        }
        match origin(&o.value) {
            Ok(norm) => {
                if allow_origins.contains(&norm) {
                    cx.push(
                        cx.pos_of(o),
                        format_args!("cors.allow_origins: {:?} is listed twice", o.value),
                    );
                }
                allow_origins.push(norm);
            }
            Err(e) => cx.push(cx.pos_of(o), format_args!("cors.allow_origins: {e}")),
        }
    }
    let allow_methods = match &v.allow_methods {
        None => DEFAULT_METHODS.map(str::to_owned).to_vec(),
        Some(list) => {
            if list.is_empty() {
                cx.push(
                    cx.pos_of(c),
                    "cors.allow_methods is empty; remove it for the default (GET, HEAD, POST)",
                );
            }
            let mut out = Vec::with_capacity(list.len());
            for m in list {
                match syntax::method(&m.value) {
                    Ok(m) if !out.contains(&m) => out.push(m),
                    Ok(_) => {}
                    Err(e) => cx.push(cx.pos_of(m), format_args!("cors.allow_methods: {e}")),
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
        max_age: v.max_age.as_ref().map(|d| d.value.0),
    }
}

fn header_names(list: &[Spanned<String>], key: &str, cx: &mut Scope<'_, '_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for h in list {
        if h.value == "*" {
            cx.push(
                cx.pos_of(h),
                format_args!("cors.{key}: `*` is not supported; list the header names"),
            );
            continue;
        }
        match syntax::header_name(&h.value) {
            Ok(n) if !out.contains(&n) => out.push(n),
            Ok(_) => {}
            Err(e) => cx.push(cx.pos_of(h), format_args!("cors.{key}: {e}")),
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

/// `request_size`, checked: a limit of 0 would refuse every request with a body.
pub(crate) fn request_size(
    r: &Spanned<model::RequestSize>,
    cx: &mut Scope<'_, '_>,
) -> ir::RequestSize {
    let max_body = r.value.max_body.value.0;
    if max_body == 0 {
        cx.push(
            cx.pos_of(&r.value.max_body),
            "request_size.max_body must be greater than 0",
        );
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
