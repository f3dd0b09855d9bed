//! A `Policy`'s `oidc` block to [`ir::OidcAuth`]: the checks and defaults of the native
//! `oidc:` block (`crate::oidc`), with the client and session secrets read from Secrets
//! labelled `tollgate.dev/credentials` in the Policy's namespace (`super::credentials`:
//! the only Secrets the controller receives whole, so a change to one re-translates like
//! a changed API key).

use tollgate_ir as ir;
use tollgate_model::crds::SecretKeyRef;
use tollgate_model::crds_oidc::PolicyOidc;

use super::credentials;
use super::index::Index;
use super::policy::{claim_headers, duration};
use crate::oidc::{
    DEFAULT_COOKIE, DEFAULT_LEEWAY, DEFAULT_LIFETIME, DEFAULT_REDIRECT, MIN_SECRET, is_http_url,
    is_plain_path, is_redirect, is_scope,
};
use crate::policies::JWT_ALGORITHMS;
use crate::syntax;

/// The `oidc` block; every problem is pushed to `problems` (any problem makes the whole
/// Policy invalid, so the placeholders left behind are never used).
pub(super) fn oidc(
    o: &PolicyOidc,
    ns: &str,
    realm: &str,
    idx: &Index<'_>,
    problems: &mut Vec<String>,
) -> ir::OidcAuth {
    if !is_http_url(&o.discovery) {
        problems.push(format!(
            "oidc.discovery {:?} is not an http(s) URL",
            o.discovery
        ));
    }
    if o.client_id.is_empty() {
        problems.push("oidc.clientId is empty".to_owned());
    }
    let client = SecretKeyRef {
        name: o.client_secret_ref.name.clone(),
        key: o.client_secret_ref.key.clone(),
    };
    let client_secret = secret("clientSecretRef", idx, ns, &client, 1, problems);
    let session_secret = o.session_secret_ref.as_ref().map(|r| {
        let r = SecretKeyRef {
            name: r.name.clone(),
            key: r.key.clone(),
        };
        secret("sessionSecretRef", idx, ns, &r, MIN_SECRET, problems)
    });
    let redirect_uri = match &o.redirect_path {
        Some(r) => {
            if !is_redirect(r) {
                problems.push(format!(
                    "oidc.redirectPath {r:?} must be a path like /oauth2/callback or a full http(s) URL"
                ));
            }
            r.clone()
        }
        None => DEFAULT_REDIRECT.to_owned(),
    };
    if let Some(l) = &o.logout_path {
        if !is_plain_path(l) {
            problems.push(format!("oidc.logoutPath {l:?} must be a path like /logout"));
        } else if redirect_uri.ends_with(l.as_str()) {
            problems.push("oidc.logoutPath must differ from the redirect path".to_owned());
        }
    }
    if let Some(u) = &o.post_logout_redirect_uri
        && !is_http_url(u)
    {
        problems.push(format!(
            "oidc.postLogoutRedirectUri {u:?} is not an http(s) URL"
        ));
    }
    let mut scopes = o.scopes.clone();
    for s in &scopes {
        if !is_scope(s) {
            problems.push(format!(
                "oidc.scopes: {s:?} is not a valid scope (RFC 6749 §3.3)"
            ));
        }
    }
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".to_owned());
    }
    let cookie_name = match &o.cookie_name {
        Some(c) => {
            if !syntax::is_token(c) {
                problems.push(format!("oidc.cookieName {c:?} is not a valid cookie name"));
            }
            c.clone()
        }
        None => DEFAULT_COOKIE.to_owned(),
    };
    let session_lifetime = duration(
        "oidc.sessionLifetime",
        o.session_lifetime.as_deref(),
        DEFAULT_LIFETIME,
        problems,
    );
    if session_lifetime.is_zero() {
        problems.push("oidc.sessionLifetime must be greater than 0".to_owned());
    }
    let audiences = if o.audiences.is_empty() {
        vec![o.client_id.clone()]
    } else {
        o.audiences.clone()
    };
    ir::OidcAuth {
        discovery: o.discovery.clone(),
        issuer: o.issuer.clone(),
        client_id: o.client_id.clone(),
        client_secret: client_secret.unwrap_or_default(),
        redirect_uri,
        logout_path: o.logout_path.clone(),
        post_logout_redirect_uri: o.post_logout_redirect_uri.clone(),
        scopes,
        session_secret: session_secret.flatten(),
        cookie_name,
        session_lifetime,
        audiences,
        algorithms: algorithms(o.algorithms.as_deref(), problems),
        leeway: duration("oidc.leeway", o.leeway.as_deref(), DEFAULT_LEEWAY, problems),
        claims_to_headers: claim_headers("oidc", &o.claims_to_headers, problems),
        forward_access_token: o.forward_access_token.unwrap_or(false),
        realm: o.realm.clone().unwrap_or_else(|| realm.to_owned()),
    }
}

/// One key of a labelled Secret, at least `min` bytes.
fn secret(
    field: &str,
    idx: &Index<'_>,
    ns: &str,
    r: &SecretKeyRef,
    min: usize,
    problems: &mut Vec<String>,
) -> Option<String> {
    let value = credentials::one(idx, ns, r)
        .map_err(|e| problems.push(format!("oidc.{field}: {e}")))
        .ok()?;
    if value.len() < min {
        let what = format!("Secret {ns}/{} key {:?}", r.name, r.key);
        problems.push(if min == 1 {
            format!("oidc.{field}: {what} is empty")
        } else {
            format!(
                "oidc.{field}: {what} must be at least {min} bytes (generate one with `openssl rand -base64 48`)"
            )
        });
    }
    Some(value)
}

/// The allow-list: the provider's keys come from its JWKS, so never an HMAC algorithm.
fn algorithms(list: Option<&[String]>, problems: &mut Vec<String>) -> Vec<String> {
    let Some(list) = list else {
        return ["RS256", "PS256", "ES256", "EdDSA"]
            .map(str::to_owned)
            .to_vec();
    };
    if list.is_empty() {
        problems.push("oidc.algorithms is empty; leave it out for the default".to_owned());
    }
    for a in list {
        if !JWT_ALGORITHMS.contains(&a.as_str()) {
            problems.push(format!(
                "oidc: unknown algorithm {a:?} (known: {}); `none` is never accepted",
                JWT_ALGORITHMS.join(", ")
            ));
        } else if a.starts_with("HS") {
            problems.push(format!(
                "oidc: {a} is an HMAC algorithm; the provider's keys come from its JWKS, and an HMAC key never does"
            ));
        }
    }
    list.to_vec()
}
