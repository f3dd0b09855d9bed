//! The `rateLimits`, `quota` and `extAuth` blocks of a `Policy`, with the checks their
//! native forms get (`crate::limits`, `crate::policies`). Limits are named after the
//! Policy (`policy/<ns>/<name>/rate_limit/<i>`), so one Policy's limit is one limit
//! wherever it attaches: the same counters for every route of a targeted Gateway.

use std::str::FromStr;
use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::crds_limits as crd;
use tollgate_model::units::Dur;

use crate::syntax;

fn duration(what: &str, s: &str, problems: &mut Vec<String>) -> Option<Duration> {
    match Dur::from_str(s) {
        Ok(d) if !d.0.is_zero() => Some(d.0),
        _ => {
            problems.push(format!(
                "{what} {s:?} is not a positive duration such as 1s or 5m"
            ));
            None
        }
    }
}

fn key(k: Option<&str>, default: ir::LimitKey, problems: &mut Vec<String>) -> ir::LimitKey {
    match k {
        None => default,
        Some("consumer") => ir::LimitKey::Consumer,
        Some("ip") => ir::LimitKey::Ip,
        Some("route") => ir::LimitKey::Route,
        Some(other) => match other.strip_prefix("header:").map(syntax::header_name) {
            Some(Ok(h)) => ir::LimitKey::Header(h),
            Some(Err(e)) => {
                problems.push(format!("key: {e}"));
                default
            }
            None => {
                problems.push(format!(
                    "unknown key {other:?}; use consumer, ip, route or header:NAME"
                ));
                default
            }
        },
    }
}

fn allow_on_failure(f: Option<&str>, what: &str, problems: &mut Vec<String>) -> bool {
    match f {
        None | Some("allow") => true,
        Some("deny") => false,
        Some(other) => {
            problems.push(format!("{what} {other:?}: use allow or deny"));
            true
        }
    }
}

fn groups(g: &[String]) -> Vec<String> {
    let mut g = g.to_vec();
    g.sort();
    g.dedup();
    g
}

/// `rateLimits`.
pub(crate) fn rate_limits(
    list: &[crd::RateLimit],
    owner: &str,
    problems: &mut Vec<String>,
) -> Vec<ir::RateLimit> {
    list.iter()
        .enumerate()
        .map(|(i, l)| {
            if l.requests == 0 {
                problems.push("rateLimits: requests must be at least 1".to_owned());
            }
            let per =
                duration("rateLimits: per", &l.per, problems).unwrap_or(Duration::from_secs(1));
            if l.requests > 0 && per.as_nanos() / u128::from(l.requests) < 1_000 {
                problems.push(
                    "rateLimits: more than one request per microsecond cannot be limited"
                        .to_owned(),
                );
            }
            let store = match l.store.as_deref() {
                None | Some("local") => ir::LimitStore::Local,
                Some("redis") => ir::LimitStore::Redis,
                Some(other) => {
                    problems.push(format!(
                        "rateLimits: unknown store {other:?}; use local or redis"
                    ));
                    ir::LimitStore::Local
                }
            };
            ir::RateLimit {
                name: format!("{owner}/rate_limit/{i}"),
                requests: l.requests,
                per,
                key: key(l.key.as_deref(), ir::LimitKey::Ip, problems),
                store,
                allow_on_store_failure: allow_on_failure(
                    l.on_store_failure.as_deref(),
                    "rateLimits: onStoreFailure",
                    problems,
                ),
                groups: groups(&l.groups),
            }
        })
        .collect()
}

/// `quota`.
pub(crate) fn quota(q: &crd::Quota, owner: &str, problems: &mut Vec<String>) -> ir::Quota {
    if q.requests == 0 {
        problems.push("quota: requests must be at least 1".to_owned());
    }
    let window = match q.per.as_str() {
        "hour" => ir::QuotaWindow::Hour,
        "day" => ir::QuotaWindow::Day,
        "month" => ir::QuotaWindow::Month,
        other => ir::QuotaWindow::Fixed(
            duration("quota: per", other, problems).unwrap_or(Duration::from_secs(86_400)),
        ),
    };
    ir::Quota {
        name: format!("{owner}/quota"),
        requests: q.requests,
        window,
        key: key(q.key.as_deref(), ir::LimitKey::Consumer, problems),
        allow_on_store_failure: allow_on_failure(
            q.on_store_failure.as_deref(),
            "quota: onStoreFailure",
            problems,
        ),
        groups: groups(&q.groups),
    }
}

/// `extAuth`.
pub(crate) fn ext_auth(e: &crd::ExtAuth, problems: &mut Vec<String>) -> ir::ExtAuth {
    let ok = e.url.split_once("://").is_some_and(|(scheme, rest)| {
        matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.starts_with('/')
    });
    if !ok {
        problems.push(format!(
            "extAuth: url {:?} must be an http:// or https:// URL with a host",
            e.url
        ));
    }
    let mut names = |list: &[String]| {
        list.iter()
            .filter_map(|h| match syntax::header_name(h) {
                Ok(n) => Some(n),
                Err(err) => {
                    problems.push(format!("extAuth: {err}"));
                    None
                }
            })
            .collect::<Vec<_>>()
    };
    let headers_to_upstream = names(&e.headers_to_upstream);
    let headers_to_auth = names(&e.headers_to_auth);
    let timeout = match &e.timeout {
        Some(t) => duration("extAuth: timeout", t, problems).unwrap_or(Duration::from_secs(1)),
        None => Duration::from_secs(1),
    };
    let allow_on_error = match e.on_error.as_deref() {
        None | Some("deny") => false,
        Some("allow") => true,
        Some(other) => {
            problems.push(format!("extAuth: onError {other:?}: use allow or deny"));
            false
        }
    };
    ir::ExtAuth {
        url: e.url.clone(),
        headers_to_upstream,
        headers_to_auth,
        timeout,
        allow_on_error,
    }
}
