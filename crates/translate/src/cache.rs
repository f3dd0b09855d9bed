//! The `cache` route policy (issue 9), checked so the proxy compiles only valid ones.
//! The Kubernetes `Policy.cache` block goes through [`check`] too.

use std::time::Duration;

use tollgate_ir as ir;
use tollgate_model::Spanned;
use tollgate_model::policies as model;

use crate::problems::Scope;
use crate::syntax;

/// `max_body` when not given.
pub(crate) const DEFAULT_MAX_BODY: u64 = 1024 * 1024;

/// The values of a cache block, from either source, before checking.
pub(crate) struct Raw<'a> {
    pub(crate) ttl: Option<Duration>,
    pub(crate) max_body: Option<u64>,
    pub(crate) vary: Vec<&'a str>,
    pub(crate) store: Option<&'a str>,
    /// Whether a `redis:` block is configured (`None`: not known here; the proxy falls
    /// back to its local store when there is none).
    pub(crate) redis: Option<bool>,
}

/// Which field a problem is about, so the native source can point at it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    Ttl,
    MaxBody,
    Vary(usize),
    Store,
}

/// Checks a cache block; problems come back with the field they are about.
pub(crate) fn check(raw: &Raw<'_>, problems: &mut Vec<(Field, String)>) -> ir::Cache {
    if raw.ttl.is_some_and(|t| t.is_zero()) {
        problems.push((
            Field::Ttl,
            "cache.ttl must be greater than 0; remove it to store only answers that carry max-age or s-maxage".into(),
        ));
    }
    let max_body = raw.max_body.unwrap_or(DEFAULT_MAX_BODY);
    if max_body == 0 {
        problems.push((
            Field::MaxBody,
            "cache.max_body must be greater than 0".into(),
        ));
    }
    let mut vary: Vec<String> = Vec::with_capacity(raw.vary.len());
    for (i, h) in raw.vary.iter().enumerate() {
        match syntax::header_name(h) {
            Ok(name) if vary.contains(&name) => {
                problems.push((Field::Vary(i), format!("cache.vary: {h:?} is listed twice")));
            }
            Ok(name) if name == "authorization" || name == "cookie" => problems.push((
                Field::Vary(i),
                format!("cache.vary: {h:?} would keep one entry per user; such answers should not be in a shared cache"),
            )),
            Ok(name) => vary.push(name),
            Err(e) => problems.push((Field::Vary(i), format!("cache.vary: {e}"))),
        }
    }
    vary.sort();
    let store = match raw.store {
        None | Some("local") => ir::CacheStore::Local,
        Some("redis") => {
            if raw.redis == Some(false) {
                problems.push((
                    Field::Store,
                    "cache store: redis needs a top-level `redis: { url: redis://… }` block".into(),
                ));
            }
            ir::CacheStore::Redis
        }
        Some(other) => {
            problems.push((
                Field::Store,
                format!("cache: unknown store {other:?}; use `local` or `redis`"),
            ));
            ir::CacheStore::Local
        }
    };
    ir::Cache {
        ttl: raw.ttl.filter(|t| !t.is_zero()),
        max_body,
        vary,
        store,
    }
}

/// The native `cache:` block of a route.
pub(crate) fn cache(
    c: &Spanned<model::Cache>,
    redis: bool,
    forwards: bool,
    cx: &mut Scope<'_, '_>,
) -> ir::Cache {
    let v = &c.value;
    if !forwards {
        cx.push(
            cx.pos_of(c),
            "cache applies to routes that forward to backends; `respond`, `static` and redirects are answered by the gateway itself",
        );
    }
    let raw = Raw {
        ttl: v.ttl.as_ref().map(|t| t.value.0),
        max_body: v.max_body.as_ref().map(|b| b.value.0),
        vary: v.vary.iter().map(|h| h.value.as_str()).collect(),
        store: v.store.as_ref().map(|s| s.value.as_str()),
        redis: Some(redis),
    };
    let mut problems = Vec::new();
    let out = check(&raw, &mut problems);
    for (field, message) in problems {
        let pos = match field {
            Field::Ttl => v.ttl.as_ref().map(|t| cx.pos_of(t)),
            Field::MaxBody => v.max_body.as_ref().map(|b| cx.pos_of(b)),
            Field::Vary(i) => v.vary.get(i).map(|h| cx.pos_of(h)),
            Field::Store => v.store.as_ref().map(|s| cx.pos_of(s)),
        };
        cx.push(pos.unwrap_or_else(|| cx.pos_of(c)), message);
    }
    out
}
