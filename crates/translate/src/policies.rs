//! Consumers and route access policies: checked here so the proxy only compiles what is
//! already known to be valid (its own errors then mean a bug, not a typo).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies::{self as model, Consumer, Policies};

use crate::problems::{At, Pos, Problems, Scope, list_names};
use crate::syntax;

/// Algorithms a JWT policy may allow; the proxy's verifier knows the same names.
pub(crate) const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "ES512", "EdDSA",
];

/// Consumer names, groups and identities, for checking references from policies.
#[derive(Default)]
pub(crate) struct KnownConsumers<'a> {
    names: BTreeSet<&'a str>,
    groups: BTreeSet<&'a str>,
    /// Whether any consumer has each kind of credential (a policy no consumer can pass
    /// is almost certainly a mistake worth saying).
    any_keys: bool,
    any_basic: bool,
    any_mtls: bool,
    /// Whether a `redis:` block is set (for `store: redis` limits and quotas).
    pub(crate) redis: bool,
}

/// Every consumer, sorted by name, with keys hashed.
pub(crate) fn consumers<'a>(
    list: &[At<'a, Consumer>],
    p: &mut Problems<'_>,
) -> (Vec<ir::Consumer>, KnownConsumers<'a>) {
    let mut known = KnownConsumers::default();
    let mut keys_seen: BTreeMap<String, Pos> = BTreeMap::new();
    let mut users_seen: BTreeMap<&str, Pos> = BTreeMap::new();
    let mut out = Vec::with_capacity(list.len());
    for at in list {
        let c = at.item;
        known.names.insert(&c.name.value);
        known
            .groups
            .extend(c.groups.iter().map(|g| g.value.as_str()));
        let mut cx = Scope::new("consumer", &c.name, at.doc, p);
        let mut groups: Vec<String> = Vec::with_capacity(c.groups.len());
        for g in &c.groups {
            if !syntax::is_token(&g.value) {
                cx.push(
                    cx.pos_of(g),
                    format_args!(
                        "group {:?} must be a non-empty token without spaces or commas (it is sent in x-consumer-groups)",
                        g.value
                    ),
                );
            }
            groups.push(g.value.clone());
        }
        groups.sort();
        groups.dedup();
        let mut key_digests = Vec::with_capacity(c.keys.len());
        for k in &c.keys {
            let Some(digest) = key_digest(k, &mut cx) else {
                continue;
            };
            let here = cx.pos_of(k);
            if let Some(first) = keys_seen.get(&digest) {
                let first = cx.place(*first);
                cx.push(
                    here,
                    format_args!(
                        "this API key is already given at {first}; a key must identify one consumer"
                    ),
                );
            } else {
                keys_seen.insert(digest.clone(), here);
            }
            key_digests.push(digest);
        }
        known.any_keys |= !key_digests.is_empty();
        let basic = c.basic.as_ref().map(|b| {
            known.any_basic = true;
            let here = cx.pos_of(b);
            let user = b.value.username.as_str();
            if user.is_empty() || user.contains(':') {
                cx.push(
                    here,
                    "basic.username must be non-empty and cannot contain ':'",
                );
            }
            if let Some(first) = users_seen.get(user) {
                let first = cx.place(*first);
                cx.push(
                    here,
                    format_args!("basic username {user:?} is already used at {first}"),
                );
            } else {
                users_seen.insert(user, here);
            }
            if let Err(e) = syntax::password_hash(&b.value.password_hash) {
                cx.push(here, format_args!("basic.password_hash: {e}"));
            }
            ir::BasicCredential {
                username: b.value.username.clone(),
                password_hash: b.value.password_hash.clone(),
            }
        });
        let jwt = c.jwt.as_ref().map(|j| {
            if j.value.subject.is_empty() {
                cx.push(cx.pos_of(j), "jwt.subject is empty");
            }
            ir::JwtIdentity {
                subject: j.value.subject.clone(),
                issuer: j.value.issuer.clone(),
            }
        });
        let mtls_subject = c.mtls.as_ref().map(|m| {
            known.any_mtls = true;
            if m.value.subject.is_empty() {
                cx.push(cx.pos_of(m), "mtls.subject is empty");
            }
            m.value.subject.clone()
        });
        out.push(ir::Consumer {
            name: c.name.value.clone(),
            groups,
            key_digests,
            basic,
            jwt,
            mtls_subject,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    (out, known)
}

/// `sha256:<hex>` as written (lower-cased), or the digest of a plaintext key.
fn key_digest(k: &Spanned<String>, cx: &mut Scope<'_, '_>) -> Option<String> {
    let v = k.value.as_str();
    if let Some(hex) = v.strip_prefix("sha256:") {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(hex.to_ascii_lowercase());
        }
        cx.push(
            cx.pos_of(k),
            "a hashed key is `sha256:` and 64 hex digits (make one with `printf %s KEY | sha256sum`)",
        );
        return None;
    }
    if v.len() < 8 || v.bytes().any(|b| !(0x21..=0x7e).contains(&b)) {
        cx.push(
            cx.pos_of(k),
            "an API key must be at least 8 printable characters without spaces",
        );
        return None;
    }
    Some(hex(&Sha256::digest(v.as_bytes())))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A route's policies; `None` when it has none.
pub(crate) fn route_policies(
    policies: Option<&Spanned<Policies>>,
    route_name: &str,
    known: &KnownConsumers<'_>,
    forwards: bool,
    cx: &mut Scope<'_, '_>,
) -> Option<Box<ir::RoutePolicies>> {
    let spanned = policies?;
    let pol = &spanned.value;
    let mut out = ir::RoutePolicies {
        ip_filter: pol.ip_filter.as_ref().map(|f| ip_filter(&f.value, cx)),
        key_auth: pol.key_auth.as_ref().map(|k| key_auth(k, known, cx)),
        basic_auth: pol.basic_auth.as_ref().map(|b| {
            if !known.any_basic {
                cx.push(
                    cx.pos_of(b),
                    "basic_auth: no consumer has `basic:` credentials, so every request would be refused",
                );
            }
            ir::BasicAuth {
                realm: b.value.realm.clone().unwrap_or_else(|| route_name.to_owned()),
            }
        }),
        jwt: pol.jwt.as_ref().map(|j| jwt(j, route_name, cx)),
        oidc: pol
            .oidc
            .as_ref()
            .map(|o| Box::new(crate::oidc::oidc(o, route_name, cx))),
        mtls_auth: pol.mtls_auth.as_ref().is_some_and(|m| {
            if !known.any_mtls {
                cx.push(
                    cx.pos_of(m),
                    "mtls_auth: no consumer has an `mtls:` subject, so every request would be refused",
                );
            }
            true
        }),
        acl: pol.acl.as_ref().map(|a| acl(&a.value, known, cx)),
        ext_auth: pol.ext_auth.as_ref().map(|e| ext_auth(e, cx)),
        cors: pol.cors.as_ref().map(|c| crate::content::cors(c, cx)),
        request_size: pol
            .request_size
            .as_ref()
            .map(|r| crate::content::request_size(r, cx)),
        cache: pol
            .cache
            .as_ref()
            .map(|c| crate::cache::cache(c, known.redis, forwards, cx)),
        compression: pol
            .compression
            .as_ref()
            .map(|c| crate::compression::compression(c, cx)),
        ..ir::RoutePolicies::default()
    };
    let owner = crate::limits::Owner {
        name: &format!("route/{route_name}"),
        authenticates: out.authenticates(),
        redis: known.redis,
    };
    out.rate_limits = crate::limits::rate_limits(pol.rate_limit.as_ref(), &owner, cx);
    out.quota = crate::limits::quota(pol.quota.as_ref(), &owner, cx);
    if out.acl.is_some() && !out.authenticates() {
        cx.push(
            cx.pos_of(spanned),
            "acl needs an authentication policy on the same route (key_auth, basic_auth, jwt, oidc or mtls_auth) to know the consumer",
        );
    }
    Some(Box::new(out))
}

fn ip_filter(f: &model::IpFilter, cx: &mut Scope<'_, '_>) -> ir::IpFilter {
    let mut nets = |list: &[Spanned<String>]| {
        list.iter()
            .filter_map(|e| match syntax::cidr(&e.value) {
                Ok(n) => Some(n),
                Err(err) => {
                    cx.push(cx.pos_of(e), format_args!("ip_filter: {err}"));
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let allow = nets(&f.allow);
    let deny = nets(&f.deny);
    if allow.is_empty() && deny.is_empty() {
        cx.here("ip_filter has neither `allow` nor `deny`; give one or remove it");
    }
    ir::IpFilter { allow, deny }
}

fn key_auth(
    k: &Spanned<model::KeyAuth>,
    known: &KnownConsumers<'_>,
    cx: &mut Scope<'_, '_>,
) -> ir::KeyAuth {
    if !known.any_keys {
        cx.push(
            cx.pos_of(k),
            "key_auth: no consumer has `keys:`, so every request would be refused",
        );
    }
    let header = k.value.header.as_ref().map(|h| {
        if !syntax::is_token(&h.value) {
            cx.push(
                cx.pos_of(h),
                format_args!("key_auth.header {:?} is not a valid header name", h.value),
            );
        }
        h.value.to_ascii_lowercase()
    });
    let query = k.value.query.as_ref().map(|q| {
        if q.value.is_empty() {
            cx.push(cx.pos_of(q), "key_auth.query is empty");
        }
        q.value.clone()
    });
    let header = match (&header, &query) {
        (None, None) => Some("apikey".to_owned()),
        _ => header,
    };
    ir::KeyAuth { header, query }
}

fn jwt(j: &Spanned<model::JwtAuth>, route_name: &str, cx: &mut Scope<'_, '_>) -> ir::JwtAuth {
    let here = cx.pos_of(j);
    let v = &j.value;
    type MakeKeys = fn(String) -> ir::JwtKeys;
    let sources: Vec<(&Spanned<String>, MakeKeys)> = [
        (v.jwks_uri.as_ref(), ir::JwtKeys::JwksUri as MakeKeys),
        (v.discovery.as_ref(), ir::JwtKeys::Discovery),
        (v.secret.as_ref(), ir::JwtKeys::Secret),
    ]
    .into_iter()
    .filter_map(|(s, f)| s.map(|s| (s, f)))
    .collect();
    let keys = match sources.as_slice() {
        [(s, make)] => {
            let is_secret = v.secret.is_some();
            if !is_secret && !crate::oidc::is_http_url(&s.value) {
                cx.push(
                    cx.pos_of(s),
                    format_args!("{:?} is not an http(s) URL", s.value),
                );
            }
            if is_secret && s.value.len() < 32 {
                cx.push(
                    cx.pos_of(s),
                    "jwt.secret must be at least 32 bytes (RFC 7518 §3.2 asks for a key as long as the hash)",
                );
            }
            make(s.value.clone())
        }
        [] => {
            cx.push(here, "jwt needs one of `jwks_uri`, `discovery` or `secret`");
            ir::JwtKeys::Secret(String::new())
        }
        _ => {
            cx.push(
                here,
                "jwt takes only one of `jwks_uri`, `discovery` or `secret`",
            );
            ir::JwtKeys::Secret(String::new())
        }
    };
    let hmac = matches!(keys, ir::JwtKeys::Secret(_));
    let algorithms = jwt_algorithms("jwt", v.algorithms.as_ref(), hmac, here, cx);
    let claims_to_headers = claim_headers(&v.claims_to_headers, here, cx);
    ir::JwtAuth {
        keys,
        issuer: v.issuer.clone(),
        audiences: v.audiences.clone(),
        algorithms,
        leeway: v.leeway.map_or(Duration::from_secs(30), |d| d.0),
        claims_to_headers,
        realm: v.realm.clone().unwrap_or_else(|| route_name.to_owned()),
        forward_token: v.forward_token.unwrap_or(true),
    }
}

fn ext_auth(e: &Spanned<model::ExtAuth>, cx: &mut Scope<'_, '_>) -> ir::ExtAuth {
    let v = &e.value;
    let url = &v.url.value;
    let authority_ok = url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
    });
    if !authority_ok {
        cx.push(
            cx.pos_of(&v.url),
            format_args!("ext_auth.url {url:?} must be an http:// or https:// URL with a host"),
        );
    }
    let mut names = |list: &[String], what: &str| {
        list.iter()
            .filter_map(|h| match syntax::header_name(h) {
                Ok(n) => Some(n),
                Err(err) => {
                    cx.push(cx.pos_of(e), format_args!("ext_auth.{what}: {err}"));
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let headers_to_upstream = names(&v.headers_to_upstream, "headers_to_upstream");
    let headers_to_auth = names(
        v.headers_to_auth.as_deref().unwrap_or(&[]),
        "headers_to_auth",
    );
    if v.headers_to_auth.as_ref().is_some_and(Vec::is_empty) {
        cx.push(
            cx.pos_of(e),
            "ext_auth.headers_to_auth is empty; remove it to send every header",
        );
    }
    let timeout = match v.timeout {
        Some(t) if t.0.is_zero() => {
            cx.push(cx.pos_of(e), "ext_auth.timeout must be greater than 0");
            Duration::from_secs(1)
        }
        Some(t) => t.0,
        None => Duration::from_secs(1),
    };
    let allow_on_error = match v.on_error.as_ref().map(|o| (o, o.value.as_str())) {
        None | Some((_, "deny")) => false,
        Some((_, "allow")) => true,
        Some((o, other)) => {
            cx.push(
                cx.pos_of(o),
                format_args!("ext_auth.on_error {other:?}: use allow or deny"),
            );
            false
        }
    };
    ir::ExtAuth {
        url: url.clone(),
        headers_to_upstream,
        headers_to_auth,
        timeout,
        allow_on_error,
    }
}

fn acl(a: &model::Acl, known: &KnownConsumers<'_>, cx: &mut Scope<'_, '_>) -> ir::Acl {
    let mut names = |list: &[Spanned<String>]| {
        for n in list {
            if !known.names.contains(n.value.as_str()) {
                cx.push(
                    cx.pos_of(n),
                    format_args!(
                        "acl: unknown consumer {:?} (defined consumers: {})",
                        n.value,
                        list_names(known.names.iter().copied())
                    ),
                );
            }
        }
        list.iter().map(|n| n.value.clone()).collect::<Vec<_>>()
    };
    let allow_consumers = names(&a.allow_consumers);
    let deny_consumers = names(&a.deny_consumers);
    for g in a.allow_groups.iter().chain(&a.deny_groups) {
        if !known.groups.contains(g.as_str()) {
            cx.here(format_args!(
                "acl: no consumer is in group {g:?} (groups in use: {})",
                list_names(known.groups.iter().copied())
            ));
        }
    }
    let out = ir::Acl {
        allow_groups: a.allow_groups.clone(),
        allow_consumers,
        deny_groups: a.deny_groups.clone(),
        deny_consumers,
    };
    if out.allow_groups.is_empty()
        && out.allow_consumers.is_empty()
        && out.deny_groups.is_empty()
        && out.deny_consumers.is_empty()
    {
        cx.here("acl is empty; give allow_* or deny_* lists or remove it");
    }
    out
}

/// A JWT algorithm allow-list: the given one, checked, or the default for the key kind.
pub(crate) fn jwt_algorithms(
    block: &str,
    list: Option<&Vec<Spanned<String>>>,
    hmac: bool,
    here: Pos,
    cx: &mut Scope<'_, '_>,
) -> Vec<String> {
    let Some(list) = list else {
        return if hmac {
            vec!["HS256".to_owned()]
        } else {
            ["RS256", "PS256", "ES256", "EdDSA"]
                .map(str::to_owned)
                .to_vec()
        };
    };
    if list.is_empty() {
        cx.push(
            here,
            format_args!("{block}.algorithms is empty; remove it for the default"),
        );
    }
    for a in list {
        if !JWT_ALGORITHMS.contains(&a.value.as_str()) {
            cx.push(
                cx.pos_of(a),
                format_args!(
                    "unknown algorithm {:?} (known: {}); `none` is never accepted",
                    a.value,
                    JWT_ALGORITHMS.join(", ")
                ),
            );
        } else if a.value.starts_with("HS") != hmac {
            cx.push(
                cx.pos_of(a),
                format_args!(
                    "{} needs {}",
                    a.value,
                    if hmac {
                        "a public key from `jwks_uri` or `discovery`, not `secret`"
                    } else {
                        "`secret` (an HMAC key never comes from a JWKS or a provider)"
                    }
                ),
            );
        }
    }
    list.iter().map(|a| a.value.clone()).collect()
}

/// `claims_to_headers`, with header names checked and lower-cased.
pub(crate) fn claim_headers(
    map: &BTreeMap<String, String>,
    here: Pos,
    cx: &mut Scope<'_, '_>,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(map.len());
    for (claim, header) in map {
        if !syntax::is_token(header) {
            cx.push(
                here,
                format_args!("claims_to_headers: {header:?} is not a valid header name"),
            );
        }
        out.push((claim.clone(), header.to_ascii_lowercase()));
    }
    out
}
