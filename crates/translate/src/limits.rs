//! Rate limits, quotas and the Redis settings they share.

use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::limits::{OneOrMany, Quota, RateLimit, Redis};

use crate::problems::{At, Problems, Scope};
use crate::syntax;

/// The `redis:` block.
pub(crate) fn redis(
    r: Option<At<'_, Spanned<Redis>>>,
    p: &mut Problems<'_>,
) -> Option<ir::RedisSettings> {
    let at = r?;
    let v = &at.item.value;
    let url = &v.url.value;
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        p.push(
            at.pos(&v.url),
            format!("redis.url {url:?} must start with redis:// or rediss://"),
        );
    }
    let timeout = match v.timeout {
        Some(t) if t.0.is_zero() => {
            p.push(at.pos(at.item), "redis.timeout must be greater than 0");
            Duration::from_millis(50)
        }
        Some(t) => t.0,
        None => Duration::from_millis(50),
    };
    let ca_pem = v
        .ca_file
        .as_ref()
        .and_then(|f| match p.file(at.doc, &f.value) {
            Some(Ok(bytes)) => Some(String::from_utf8_lossy(bytes).into_owned()),
            Some(Err(e)) => {
                p.push(at.pos(f), format!("redis.ca_file: {e}"));
                None
            }
            None => None,
        });
    Some(ir::RedisSettings {
        url: url.clone(),
        timeout,
        prefix: v.prefix.clone().unwrap_or_else(|| "tollgate:".to_owned()),
        ca_pem,
    })
}

/// Where a limit is configured, for what it may key on.
pub(crate) struct Owner<'a> {
    /// `route/orders` or `listener/web`.
    pub(crate) name: &'a str,
    /// Whether the owner authenticates (so `key: consumer` and `groups` make sense).
    pub(crate) authenticates: bool,
    /// Whether a `redis:` block is configured.
    pub(crate) redis: bool,
}

/// Rate limits, named `<owner>/rate_limit/<i>`.
pub(crate) fn rate_limits(
    list: Option<&Spanned<OneOrMany<RateLimit>>>,
    owner: &Owner<'_>,
    cx: &mut Scope<'_, '_>,
) -> Vec<ir::RateLimit> {
    let Some(list) = list else {
        return Vec::new();
    };
    let items = list.value.items();
    if items.is_empty() {
        cx.push(
            cx.pos_of(list),
            "rate_limit is empty; remove it or give a limit",
        );
    }
    items
        .iter()
        .enumerate()
        .map(|(i, l)| rate_limit(l, i, owner, cx))
        .collect()
}

fn rate_limit(v: &RateLimit, i: usize, owner: &Owner<'_>, cx: &mut Scope<'_, '_>) -> ir::RateLimit {
    let here = cx.pos_of(&v.requests);
    let requests = v.requests.value;
    let per = v.per.value.0;
    if requests == 0 {
        cx.push(here, "rate_limit.requests must be at least 1");
    }
    if per.is_zero() {
        cx.push(cx.pos_of(&v.per), "rate_limit.per must be greater than 0");
    } else if requests > 0 && per.as_nanos() / u128::from(requests) < 1_000 {
        cx.push(
            here,
            "rate_limit: more than one request per microsecond cannot be limited; use a longer `per`",
        );
    }
    let store = match v.store.as_ref().map(|s| (s, s.value.as_str())) {
        None | Some((_, "local")) => ir::LimitStore::Local,
        Some((s, "redis")) => {
            if !owner.redis {
                cx.push(
                    cx.pos_of(s),
                    "store: redis needs a top-level `redis: { url: redis://… }` block",
                );
            }
            ir::LimitStore::Redis
        }
        Some((s, other)) => {
            cx.push(
                cx.pos_of(s),
                format_args!("unknown store {other:?}; use `local` or `redis`"),
            );
            ir::LimitStore::Local
        }
    };
    if store == ir::LimitStore::Local
        && let Some(f) = &v.on_store_failure
    {
        cx.push(
            cx.pos_of(f),
            "on_store_failure applies to `store: redis` only; a local limit cannot fail",
        );
    }
    ir::RateLimit {
        name: format!("{}/rate_limit/{i}", owner.name),
        requests,
        per,
        key: key(v.key.as_ref(), ir::LimitKey::Ip, owner, cx),
        store,
        allow_on_store_failure: on_failure(v.on_store_failure.as_ref(), cx),
        groups: groups(&v.groups, here, owner, cx),
    }
}

/// A quota, named `<owner>/quota`.
pub(crate) fn quota(
    q: Option<&Spanned<Quota>>,
    owner: &Owner<'_>,
    cx: &mut Scope<'_, '_>,
) -> Option<ir::Quota> {
    let q = q?;
    let here = cx.pos_of(q);
    let v = &q.value;
    if !owner.redis {
        cx.push(
            here,
            "a quota is shared by every replica through Redis: add a top-level `redis: { url: redis://… }` block",
        );
    }
    if v.requests == 0 {
        cx.push(here, "quota.requests must be at least 1");
    }
    let window = match v.per.value.as_str() {
        "hour" => ir::QuotaWindow::Hour,
        "day" => ir::QuotaWindow::Day,
        "month" => ir::QuotaWindow::Month,
        other => match other.parse::<tollgate_model::units::Dur>() {
            Ok(d) if d.0 >= Duration::from_secs(1) => ir::QuotaWindow::Fixed(d.0),
            _ => {
                cx.push(
                    cx.pos_of(&v.per),
                    format_args!(
                        "quota.per {other:?}: use hour, day, month or a duration of at least 1s such as 12h"
                    ),
                );
                ir::QuotaWindow::Day
            }
        },
    };
    Some(ir::Quota {
        name: format!("{}/quota", owner.name),
        requests: v.requests,
        window,
        key: key(v.key.as_ref(), ir::LimitKey::Consumer, owner, cx),
        allow_on_store_failure: on_failure(v.on_store_failure.as_ref(), cx),
        groups: groups(&v.groups, here, owner, cx),
    })
}

fn key(
    k: Option<&Spanned<String>>,
    default: ir::LimitKey,
    owner: &Owner<'_>,
    cx: &mut Scope<'_, '_>,
) -> ir::LimitKey {
    let Some(k) = k else {
        if default == ir::LimitKey::Consumer && !owner.authenticates {
            cx.here("a quota counts by consumer by default, which needs an authentication policy on the same route; authenticate or set `key:`");
        }
        return default;
    };
    let at = cx.pos_of(k);
    match k.value.as_str() {
        "consumer" => {
            if !owner.authenticates {
                cx.push(
                    at,
                    "key: consumer needs an authentication policy on the same route (key_auth, basic_auth, jwt or mtls_auth)",
                );
            }
            ir::LimitKey::Consumer
        }
        "ip" => ir::LimitKey::Ip,
        "route" => ir::LimitKey::Route,
        other => match other.strip_prefix("header:") {
            Some(h) => match syntax::header_name(h) {
                Ok(name) => ir::LimitKey::Header(name),
                Err(e) => {
                    cx.push(at, format_args!("key: {e}"));
                    ir::LimitKey::Ip
                }
            },
            None => {
                cx.push(
                    at,
                    format_args!("unknown key {other:?}; use consumer, ip, route or header:NAME"),
                );
                ir::LimitKey::Ip
            }
        },
    }
}

fn on_failure(f: Option<&Spanned<String>>, cx: &mut Scope<'_, '_>) -> bool {
    match f.map(|f| (f, f.value.as_str())) {
        None | Some((_, "allow")) => true,
        Some((_, "deny")) => false,
        Some((f, other)) => {
            cx.push(
                cx.pos_of(f),
                format_args!("on_store_failure {other:?}: use allow or deny"),
            );
            true
        }
    }
}

fn groups(
    list: &[String],
    here: crate::problems::Pos,
    owner: &Owner<'_>,
    cx: &mut Scope<'_, '_>,
) -> Vec<String> {
    if !list.is_empty() && !owner.authenticates {
        cx.push(
            here,
            "groups select consumers, which needs an authentication policy on the same route",
        );
    }
    let mut g = list.to_vec();
    g.sort();
    g.dedup();
    g
}
