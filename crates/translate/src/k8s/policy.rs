//! A `Policy` spec (`tollgate.dev/v1alpha1`) to IR route policies, with the checks the
//! native `policies:` get (see `crate::policies`), so the proxy only ever compiles what
//! is known to be valid. Every problem is collected into one message for the status.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::crds::{self as crd, Policy};
use tollgate_model::units::Dur;

use super::consumers::{self, Known};
use super::credentials;
use super::index::{Index, Meta};
use crate::policies::JWT_ALGORITHMS;
use crate::syntax;

/// The blocks a policy sets, by their camelCase names (for conflict messages).
pub(crate) fn blocks(p: &ir::RoutePolicies) -> Vec<&'static str> {
    let mut out = Vec::new();
    if p.ip_filter.is_some() {
        out.push("ipFilter");
    }
    if p.key_auth.is_some() {
        out.push("keyAuth");
    }
    if p.basic_auth.is_some() {
        out.push("basicAuth");
    }
    if p.jwt.is_some() {
        out.push("jwt");
    }
    if p.mtls_auth {
        out.push("mtlsAuth");
    }
    if p.oidc.is_some() {
        out.push("oidc");
    }
    if p.acl.is_some() {
        out.push("acl");
    }
    if p.ext_auth.is_some() {
        out.push("extAuth");
    }
    if !p.rate_limits.is_empty() {
        out.push("rateLimits");
    }
    if p.quota.is_some() {
        out.push("quota");
    }
    if p.cache.is_some() {
        out.push("cache");
    }
    if p.cors.is_some() {
        out.push("cors");
    }
    if p.request_size.is_some() {
        out.push("requestSize");
    }
    if p.compression.is_some() {
        out.push("compression");
    }
    out
}

/// Fills the blocks `into` does not set from `from`: per block, the more specific
/// attachment (the one already in `into`) wins. Blocks this translator never sets (rate
/// limits, say) are left alone.
pub(crate) fn fill_missing(into: &mut ir::RoutePolicies, from: &ir::RoutePolicies) {
    if into.ip_filter.is_none() {
        into.ip_filter.clone_from(&from.ip_filter);
    }
    if into.key_auth.is_none() {
        into.key_auth.clone_from(&from.key_auth);
    }
    if into.basic_auth.is_none() {
        into.basic_auth.clone_from(&from.basic_auth);
    }
    if into.jwt.is_none() {
        into.jwt.clone_from(&from.jwt);
    }
    into.mtls_auth |= from.mtls_auth;
    if into.oidc.is_none() {
        into.oidc.clone_from(&from.oidc);
    }
    if into.acl.is_none() {
        into.acl.clone_from(&from.acl);
    }
    if into.ext_auth.is_none() {
        into.ext_auth.clone_from(&from.ext_auth);
    }
    if into.rate_limits.is_empty() {
        into.rate_limits.clone_from(&from.rate_limits);
    }
    if into.quota.is_none() {
        into.quota.clone_from(&from.quota);
    }
    if into.cache.is_none() {
        into.cache.clone_from(&from.cache);
    }
    if into.cors.is_none() {
        into.cors.clone_from(&from.cors);
    }
    if into.request_size.is_none() {
        into.request_size = from.request_size;
    }
    if into.compression.is_none() {
        into.compression.clone_from(&from.compression);
    }
}

/// The policy's blocks, or every problem found, joined.
pub(crate) fn compile(
    p: &Policy,
    idx: &Index<'_>,
    known: &Known<'_>,
) -> Result<ir::RoutePolicies, String> {
    let ns = p.ns();
    let realm = format!("{ns}/{}", p.name());
    let spec = &p.spec;
    let mut problems: Vec<String> = Vec::new();
    let owner = format!("policy/{ns}/{}", p.name());
    let out = ir::RoutePolicies {
        ip_filter: spec.ip_filter.as_ref().map(|f| ip_filter(f, &mut problems)),
        key_auth: spec.key_auth.as_ref().map(|k| key_auth(k, &mut problems)),
        basic_auth: spec.basic_auth.as_ref().map(|b| ir::BasicAuth {
            realm: b.realm.clone().unwrap_or_else(|| realm.clone()),
        }),
        jwt: spec
            .jwt
            .as_ref()
            .map(|j| jwt(j, ns, &realm, idx, &mut problems)),
        mtls_auth: spec.mtls_auth.is_some(),
        oidc: spec
            .oidc
            .as_ref()
            .map(|o| Box::new(super::policy_oidc::oidc(o, ns, &realm, idx, &mut problems))),
        acl: spec.acl.as_ref().map(|a| acl(a, ns, known, &mut problems)),
        ext_auth: spec
            .ext_auth
            .as_ref()
            .map(|e| super::policy_limits::ext_auth(e, &mut problems)),
        rate_limits: super::policy_limits::rate_limits(&spec.rate_limits, &owner, &mut problems),
        quota: spec
            .quota
            .as_ref()
            .map(|q| super::policy_limits::quota(q, &owner, &mut problems)),
        cors: spec
            .cors
            .as_ref()
            .map(|c| super::policy_content::cors(c, &mut problems)),
        request_size: spec
            .request_size
            .as_ref()
            .map(|r| super::policy_content::request_size(r, &mut problems)),
        compression: spec
            .compression
            .as_ref()
            .map(|c| super::policy_content::compression(c, &mut problems)),
        cache: spec
            .cache
            .as_ref()
            .map(|c| super::policy_cache::cache(c, &mut problems)),
    };
    if blocks(&out).is_empty() {
        problems.push(
            "the policy sets nothing; give ipFilter, keyAuth, basicAuth, jwt, mtlsAuth, oidc, acl, extAuth, rateLimits, quota, cors, requestSize, compression or cache"
                .to_owned(),
        );
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems.join("; "))
    }
}

fn ip_filter(f: &crd::IpFilter, problems: &mut Vec<String>) -> ir::IpFilter {
    let mut nets = |list: &[String]| {
        list.iter()
            .filter_map(|e| {
                syntax::cidr(e)
                    .map_err(|err| problems.push(format!("ipFilter: {err}")))
                    .ok()
            })
            .collect::<Vec<_>>()
    };
    let out = ir::IpFilter {
        allow: nets(&f.allow),
        deny: nets(&f.deny),
    };
    if f.allow.is_empty() && f.deny.is_empty() {
        problems.push("ipFilter has neither `allow` nor `deny`".to_owned());
    }
    out
}

fn key_auth(k: &crd::KeyAuth, problems: &mut Vec<String>) -> ir::KeyAuth {
    if let Some(h) = &k.header
        && !syntax::is_token(h)
    {
        problems.push(format!("keyAuth.header {h:?} is not a valid header name"));
    }
    if k.query.as_ref().is_some_and(String::is_empty) {
        problems.push("keyAuth.query is empty".to_owned());
    }
    let header = match (&k.header, &k.query) {
        (None, None) => Some("apikey".to_owned()),
        (h, _) => h.as_ref().map(|h| h.to_ascii_lowercase()),
    };
    ir::KeyAuth {
        header,
        query: k.query.clone(),
    }
}

fn jwt(
    j: &crd::JwtAuth,
    ns: &str,
    realm: &str,
    idx: &Index<'_>,
    problems: &mut Vec<String>,
) -> ir::JwtAuth {
    let given = [
        j.jwks_uri.is_some(),
        j.discovery.is_some(),
        j.secret_ref.is_some(),
    ];
    let keys = match (given.iter().filter(|g| **g).count(), j) {
        (
            1,
            crd::JwtAuth {
                jwks_uri: Some(u), ..
            },
        )
        | (
            1,
            crd::JwtAuth {
                discovery: Some(u), ..
            },
        ) => {
            if !(u.starts_with("https://") || u.starts_with("http://")) {
                problems.push(format!("jwt: {u:?} is not an http(s) URL"));
            }
            if j.jwks_uri.is_some() {
                ir::JwtKeys::JwksUri(u.clone())
            } else {
                ir::JwtKeys::Discovery(u.clone())
            }
        }
        (
            1,
            crd::JwtAuth {
                secret_ref: Some(r),
                ..
            },
        ) => match credentials::one(idx, ns, r) {
            Ok(s) if s.len() >= 32 => ir::JwtKeys::Secret(s),
            Ok(_) => {
                problems.push(format!(
                    "jwt: the secret in Secret {ns}/{} key {:?} must be at least 32 bytes (RFC 7518 §3.2)",
                    r.name, r.key
                ));
                ir::JwtKeys::Secret(String::new())
            }
            Err(e) => {
                problems.push(format!("jwt.secretRef: {e}"));
                ir::JwtKeys::Secret(String::new())
            }
        },
        (0, _) => {
            problems.push("jwt needs one of `jwksUri`, `discovery` or `secretRef`".to_owned());
            ir::JwtKeys::Secret(String::new())
        }
        _ => {
            problems.push("jwt takes only one of `jwksUri`, `discovery` or `secretRef`".to_owned());
            ir::JwtKeys::Secret(String::new())
        }
    };
    let hmac = j.secret_ref.is_some();
    let algorithms: Vec<String> = match &j.algorithms {
        Some(list) => {
            if list.is_empty() {
                problems.push("jwt.algorithms is empty; leave it out for the default".to_owned());
            }
            for a in list {
                if !JWT_ALGORITHMS.contains(&a.as_str()) {
                    problems.push(format!(
                        "jwt: unknown algorithm {a:?} (known: {}); `none` is never accepted",
                        JWT_ALGORITHMS.join(", ")
                    ));
                } else if a.starts_with("HS") != hmac {
                    problems.push(format!(
                        "jwt: {a} needs {}",
                        if hmac {
                            "a public key from `jwksUri` or `discovery`, not `secretRef`"
                        } else {
                            "`secretRef` (an HMAC key never comes from a JWKS)"
                        }
                    ));
                }
            }
            list.clone()
        }
        None if hmac => vec!["HS256".to_owned()],
        None => ["RS256", "PS256", "ES256", "EdDSA"]
            .map(str::to_owned)
            .to_vec(),
    };
    let claims_to_headers = claim_headers("jwt", &j.claims_to_headers, problems);
    let leeway = duration(
        "jwt.leeway",
        j.leeway.as_deref(),
        Duration::from_secs(30),
        problems,
    );
    ir::JwtAuth {
        keys,
        issuer: j.issuer.clone(),
        audiences: j.audiences.clone(),
        algorithms,
        leeway,
        claims_to_headers,
        realm: j.realm.clone().unwrap_or_else(|| realm.to_owned()),
        forward_token: j.forward_token.unwrap_or(true),
    }
}

/// `claimsToHeaders` of `block`, with header names checked and lower-cased.
pub(super) fn claim_headers(
    block: &str,
    map: &BTreeMap<String, String>,
    problems: &mut Vec<String>,
) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(map.len());
    for (claim, header) in map {
        if !syntax::is_token(header) {
            problems.push(format!(
                "{block}.claimsToHeaders: {header:?} is not a valid header name"
            ));
        }
        out.push((claim.clone(), header.to_ascii_lowercase()));
    }
    out
}

/// A duration such as `30s` in `field`, or `default` when not given.
pub(super) fn duration(
    field: &str,
    v: Option<&str>,
    default: Duration,
    problems: &mut Vec<String>,
) -> Duration {
    match v.map(Dur::from_str) {
        None => default,
        Some(Ok(d)) => d.0,
        Some(Err(e)) => {
            problems.push(format!("{field}: {e}"));
            default
        }
    }
}

fn acl(a: &crd::Acl, ns: &str, known: &Known<'_>, problems: &mut Vec<String>) -> ir::Acl {
    let mut names = |list: &[String]| {
        list.iter()
            .map(|n| {
                if !known.exists(ns, n) {
                    let defined = known.in_namespace(ns);
                    problems.push(format!(
                        "acl: there is no Consumer {ns}/{n} (Consumers in {ns}: {})",
                        if defined.is_empty() {
                            "none".to_owned()
                        } else {
                            defined.join(", ")
                        }
                    ));
                }
                consumers::ir_name(ns, n)
            })
            .collect::<Vec<_>>()
    };
    let out = ir::Acl {
        allow_groups: a.allow_groups.clone(),
        allow_consumers: names(&a.allow_consumers),
        deny_groups: a.deny_groups.clone(),
        deny_consumers: names(&a.deny_consumers),
    };
    if out.allow_groups.is_empty()
        && out.allow_consumers.is_empty()
        && out.deny_groups.is_empty()
        && out.deny_consumers.is_empty()
    {
        problems.push("acl is empty; give allow* or deny* lists".to_owned());
    }
    out
}
