//! The `oidc:` route policy: checked here, so the proxy only compiles valid settings.

use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies as model;

use crate::policies::{claim_headers, jwt_algorithms};
use crate::problems::Scope;
use crate::syntax;

/// The redirect path when none is given (the one oauth2-proxy and Envoy's OAuth2 filter
/// users will recognise).
pub(crate) const DEFAULT_REDIRECT: &str = "/oauth2/callback";

/// Shortest accepted session key material: 256 bits, the AES key it is stretched into.
pub(crate) const MIN_SECRET: usize = 32;

/// The session cookie's name when none is given.
pub(crate) const DEFAULT_COOKIE: &str = "tollgate_session";

/// The longest session when none is given.
pub(crate) const DEFAULT_LIFETIME: Duration = Duration::from_secs(86_400);

/// The clock-skew tolerance when none is given.
pub(crate) const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// Checks an `oidc:` block.
pub(crate) fn oidc(
    o: &Spanned<model::OidcAuth>,
    route_name: &str,
    cx: &mut Scope<'_, '_>,
) -> ir::OidcAuth {
    let here = cx.pos_of(o);
    let v = &o.value;
    let discovery = match &v.discovery {
        Some(d) => {
            if !is_http_url(&d.value) {
                cx.push(
                    cx.pos_of(d),
                    format_args!("oidc.discovery {:?} is not an http(s) URL", d.value),
                );
            }
            d.value.clone()
        }
        None => {
            cx.push(
                here,
                "oidc needs `discovery`: the provider's issuer URL or its /.well-known/openid-configuration URL",
            );
            String::new()
        }
    };
    let client_id = match &v.client_id {
        Some(c) if !c.value.is_empty() => c.value.clone(),
        Some(c) => {
            cx.push(cx.pos_of(c), "oidc.client_id is empty");
            String::new()
        }
        None => {
            cx.push(
                here,
                "oidc needs `client_id`: the client registered at the provider",
            );
            String::new()
        }
    };
    let client_secret = secret(
        "client_secret",
        v.client_secret.as_ref(),
        v.client_secret_file.as_ref(),
        1,
        cx,
    );
    if client_secret.is_none() && (v.client_secret.is_none() && v.client_secret_file.is_none()) {
        cx.push(
            here,
            "oidc needs `client_secret_file` (or `client_secret`): the gateway is a confidential client",
        );
    }
    let session_secret = secret(
        "session_secret",
        v.session_secret.as_ref(),
        v.session_secret_file.as_ref(),
        MIN_SECRET,
        cx,
    );
    let redirect_uri = match &v.redirect_path {
        Some(r) => {
            if !is_redirect(&r.value) {
                cx.push(
                    cx.pos_of(r),
                    format_args!(
                        "oidc.redirect_path {:?} must be a path like /oauth2/callback or a full http(s) URL",
                        r.value
                    ),
                );
            }
            r.value.clone()
        }
        None => DEFAULT_REDIRECT.to_owned(),
    };
    let logout_path = v.logout_path.as_ref().map(|l| {
        if !is_plain_path(&l.value) {
            cx.push(
                cx.pos_of(l),
                format_args!("oidc.logout_path {:?} must be a path like /logout", l.value),
            );
        } else if redirect_uri.ends_with(l.value.as_str()) {
            cx.push(
                cx.pos_of(l),
                "oidc.logout_path must differ from the redirect path",
            );
        }
        l.value.clone()
    });
    let post_logout_redirect_uri = v.post_logout_redirect_uri.as_ref().map(|u| {
        if !is_http_url(&u.value) {
            cx.push(
                cx.pos_of(u),
                format_args!(
                    "oidc.post_logout_redirect_uri {:?} is not an http(s) URL",
                    u.value
                ),
            );
        }
        u.value.clone()
    });
    let mut scopes = v.scopes.clone().unwrap_or_default();
    for s in &scopes {
        if !is_scope(s) {
            cx.push(
                here,
                format_args!("oidc.scopes: {s:?} is not a valid scope (RFC 6749 §3.3)"),
            );
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    let cookie_name = match &v.cookie_name {
        Some(c) => {
            if !syntax::is_token(&c.value) {
                cx.push(
                    cx.pos_of(c),
                    format_args!("oidc.cookie_name {:?} is not a valid cookie name", c.value),
                );
            }
            c.value.clone()
        }
        None => DEFAULT_COOKIE.to_owned(),
    };
    let session_lifetime = match v.session_lifetime {
        Some(d) if d.0.is_zero() => {
            cx.push(here, "oidc.session_lifetime must be greater than 0");
            DEFAULT_LIFETIME
        }
        Some(d) => d.0,
        None => DEFAULT_LIFETIME,
    };
    let audiences = if v.audiences.is_empty() {
        vec![client_id.clone()]
    } else {
        v.audiences.clone()
    };
    ir::OidcAuth {
        discovery,
        issuer: v.issuer.clone(),
        client_id,
        client_secret: client_secret.unwrap_or_default(),
        redirect_uri,
        logout_path,
        post_logout_redirect_uri,
        scopes,
        session_secret,
        cookie_name,
        session_lifetime,
        audiences,
        algorithms: jwt_algorithms("oidc", v.algorithms.as_ref(), false, here, cx),
        leeway: v.leeway.map_or(DEFAULT_LEEWAY, |d| d.0),
        claims_to_headers: claim_headers(&v.claims_to_headers, here, cx),
        forward_access_token: v.forward_access_token,
        realm: v.realm.clone().unwrap_or_else(|| route_name.to_owned()),
    }
}

pub(crate) fn is_http_url(s: &str) -> bool {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"));
    rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/'))
}

/// A redirect URI: a path on this gateway (no query) or a full http(s) URL. The proxy
/// parses a full URL as an `http::Uri`, and one it cannot parse would make it refuse the
/// whole configuration, so it is parsed the same way here.
pub(crate) fn is_redirect(r: &str) -> bool {
    if r.starts_with('/') {
        is_plain_path(r)
    } else {
        is_http_url(r) && r.parse::<http::Uri>().is_ok()
    }
}

/// An absolute path without a query, such as `/logout`.
pub(crate) fn is_plain_path(p: &str) -> bool {
    p.starts_with('/') && syntax::path(p).is_ok() && !p.contains('?')
}

/// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
pub(crate) fn is_scope(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
}

/// A secret given inline or in a file (one of them), at least `min` bytes; a file's
/// trailing newline is not part of it.
fn secret(
    name: &str,
    inline: Option<&Spanned<String>>,
    file: Option<&Spanned<String>>,
    min: usize,
    cx: &mut Scope<'_, '_>,
) -> Option<String> {
    let (value, at) = match (inline, file) {
        (Some(_), Some(f)) => {
            cx.push(
                cx.pos_of(f),
                format_args!("oidc takes only one of `{name}` and `{name}_file`"),
            );
            return None;
        }
        (Some(s), None) => (s.value.clone(), cx.pos_of(s)),
        (None, Some(f)) => {
            let read = cx.file(&f.value).cloned();
            match read {
                Some(Ok(bytes)) => match String::from_utf8(bytes) {
                    Ok(text) => (text.trim_end_matches(['\n', '\r']).to_owned(), cx.pos_of(f)),
                    Err(_) => {
                        cx.push(
                            cx.pos_of(f),
                            format_args!("oidc.{name}_file {:?} is not UTF-8 text", f.value),
                        );
                        return None;
                    }
                },
                Some(Err(e)) => {
                    cx.push(cx.pos_of(f), format_args!("oidc.{name}_file: {e}"));
                    return None;
                }
                None => return None,
            }
        }
        (None, None) => return None,
    };
    if value.len() < min {
        if min == 1 {
            cx.push(at, format_args!("oidc.{name} is empty"));
        } else {
            cx.push(
                at,
                format_args!(
                    "oidc.{name} must be at least {min} bytes (generate one with `openssl rand -base64 48`)"
                ),
            );
        }
    }
    Some(value)
}
