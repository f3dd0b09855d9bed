//! The `cache` route policy: a shared HTTP cache (RFC 9111) in front of the upstream.
//!
//! `handler.rs` calls [`RouteCache::lookup`] after the rate-limit phase (so a cached
//! answer is still protected by access control and counted by limits) and
//! [`Pending::finish`] on the upstream's answer after the route's response-header
//! filters, so what is stored is the upstream's answer as this route shapes it; the
//! per-request headers (`x-request-id`, CORS, rate-limit headers, cookies set by
//! authentication) are added by `handle` afterwards, on hits and misses alike.
//! See docs/content-policies.md for the rules.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, StatusCode, header};
use tollgate_ir as ir;
use tollgate_ratelimit::RedisStore;

use crate::body::ProxyBody;

mod flight;
mod key;
mod local;
mod policy;
mod redis;
pub(crate) mod stats;
mod tee;

use flight::{FlightGuard, Flights, Join};
use key::Key;
pub(crate) use local::LocalStore;
use stats::CacheStats;

/// `x-cache`, on every GET and HEAD answer of a cached route.
pub(crate) static X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// Statuses stored (RFC 9111 §4.2.2's heuristically cacheable ones, minus those that
/// are rarely what an API wants replayed: 204, 206, 300, 308, 405, 414, 501).
const STORED_STATUSES: [u16; 5] = [200, 203, 301, 404, 410];

/// What a key holds.
#[derive(Clone)]
pub(crate) enum Stored {
    /// An answer.
    Response(Arc<Cached>),
    /// The answer varies by these request headers (its response `Vary`): the variants
    /// live under [`key::variant`] keys.
    Variants(Arc<[HeaderName]>),
}

/// A stored answer.
pub(crate) struct Cached {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// Unix seconds when stored.
    pub(crate) stored_at: u64,
    /// The upstream's `Age` when stored.
    pub(crate) initial_age: u64,
    /// May answer a request with `Authorization` (RFC 9111 §3.5).
    pub(crate) auth_ok: bool,
}

impl Stored {
    /// Bytes it holds, for the local store's budget.
    fn weight(&self) -> u64 {
        match self {
            Self::Response(c) => {
                let h: usize = c
                    .headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len() + 16)
                    .sum();
                (c.body.len() + h + 128) as u64
            }
            Self::Variants(n) => n.iter().map(|n| n.as_str().len() as u64 + 16).sum::<u64>() + 64,
        }
    }
}

/// Where a route's entries live.
enum Backend {
    Local(Arc<LocalStore>),
    Redis {
        store: Arc<RedisStore>,
        prefix: Arc<str>,
    },
}

/// The stores a runtime's routes share, made once per runtime compile.
pub(crate) struct Stores {
    pub(crate) local: Arc<LocalStore>,
    pub(crate) redis: Option<(Arc<RedisStore>, Arc<str>)>,
}

impl Stores {
    /// The previous runtime's local store when its budget is unchanged (entries survive
    /// reloads), else a new one.
    pub(crate) fn carry(
        previous: Option<&Arc<LocalStore>>,
        budget: u64,
        redis: Option<&(ir::RedisSettings, Arc<RedisStore>)>,
    ) -> Self {
        let local = match previous {
            Some(p) if p.budget() == budget => p.clone(),
            _ => Arc::new(LocalStore::new(budget)),
        };
        Self {
            local,
            redis: redis.map(|(s, r)| (r.clone(), format!("{}cache:", s.prefix).into())),
        }
    }
}

/// A route's compiled cache policy.
pub(crate) struct RouteCache {
    cfg: ir::Cache,
    /// Route name and settings, hashed into every key: a changed block starts clean.
    scope: Vec<u8>,
    vary: Vec<HeaderName>,
    backend: Backend,
    flights: Arc<Flights>,
    /// Longest a miss waits for another request's fetch of the same key.
    wait: Duration,
    stats: Arc<CacheStats>,
}

/// What `process` does after a lookup that did not hit.
pub(crate) struct Pending {
    cache: Arc<RouteCache>,
    miss: Option<Box<Miss>>,
}

struct Miss {
    primary: Key,
    /// The request's headers, for the values of a response `Vary`.
    headers: HeaderMap,
    auth: bool,
    head: bool,
    flight: Option<FlightGuard>,
}

/// An answer being copied into the cache (see `tee.rs`).
pub(crate) struct Fill {
    cache: Arc<RouteCache>,
    key: Key,
    /// Set when the answer varies: stored under the primary key too.
    variants: Option<(Key, Arc<[HeaderName]>)>,
    status: u16,
    headers: HeaderMap,
    ttl: Duration,
    initial_age: u64,
    auth_ok: bool,
    max_body: u64,
    /// Released when the entry is stored (or given up), waking the waiters.
    flight: Option<FlightGuard>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RouteCache {
    /// Compiles a route's `cache` block. A `store: redis` block with no Redis store
    /// (a Kubernetes Policy, whose translator cannot know) runs on the local store.
    pub(crate) fn compile(
        route: &str,
        cfg: &ir::Cache,
        stores: &Stores,
        wait: Duration,
        metrics: &crate::metrics::Metrics,
    ) -> Result<Self, String> {
        let vary = cfg
            .vary
            .iter()
            .map(|h| {
                HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| format!("cache.vary: invalid header name {h:?}"))
            })
            .collect::<Result<_, _>>()?;
        let backend = match (cfg.store, &stores.redis) {
            (ir::CacheStore::Redis, Some((store, prefix))) => Backend::Redis {
                store: store.clone(),
                prefix: prefix.clone(),
            },
            (ir::CacheStore::Redis, None) => {
                tracing::warn!(
                    route,
                    "cache store: redis without a redis: block; using the local store"
                );
                Backend::Local(stores.local.clone())
            }
            (ir::CacheStore::Local, _) => Backend::Local(stores.local.clone()),
        };
        let settings = serde_json::to_string(cfg).map_err(|e| e.to_string())?;
        let mut scope = Vec::with_capacity(route.len() + settings.len() + 1);
        scope.extend_from_slice(route.as_bytes());
        scope.push(0);
        scope.extend_from_slice(settings.as_bytes());
        Ok(Self {
            cfg: cfg.clone(),
            scope,
            vary,
            backend,
            flights: Arc::new(Flights::default()),
            wait,
            stats: metrics.cache(route),
        })
    }

    /// Answers from the cache (`Break`), or says what to do with the upstream's answer
    /// (`Continue`; `None` for methods the cache leaves alone).
    pub(crate) async fn lookup(
        self: &Arc<Self>,
        parts: &http::request::Parts,
        host: &str,
        path: &str,
        query: Option<&str>,
    ) -> ControlFlow<Response<ProxyBody>, Option<Pending>> {
        let head = parts.method == Method::HEAD;
        if parts.method != Method::GET && !head {
            return ControlFlow::Continue(None);
        }
        if parts.headers.contains_key(header::UPGRADE) {
            CacheStats::count(&self.stats.bypasses);
            return ControlFlow::Continue(Some(Pending {
                cache: self.clone(),
                miss: None,
            }));
        }
        let headers = &parts.headers;
        let auth = headers.contains_key(header::AUTHORIZATION);
        let primary = key::primary(&self.scope, host, path, query, &self.vary, headers);
        let (found, at) = self.find(&primary, headers).await;
        if let Some(hit) = self.hit(found, auth, head) {
            return ControlFlow::Break(hit);
        }
        // HEAD and authorized requests fetch for themselves: a HEAD answer has no body
        // to store, and an authorized answer may turn out private.
        let mut flight = None;
        if !head && !auth {
            match self.flights.join(at) {
                Join::Lead(g) => flight = Some(g),
                Join::Wait(rx) => {
                    if flight::wait(rx, self.wait).await {
                        let (found, _) = self.find(&primary, headers).await;
                        if let Some(hit) = self.hit(found, auth, head) {
                            return ControlFlow::Break(hit);
                        }
                    }
                }
            }
        }
        CacheStats::count(&self.stats.misses);
        ControlFlow::Continue(Some(Pending {
            cache: self.clone(),
            miss: Some(Box::new(Miss {
                primary,
                headers: headers.clone(),
                auth,
                head,
                flight,
            })),
        }))
    }

    /// The entry for a request (through a `Variants` marker when the answer varies),
    /// and the key it is, or would be, under.
    async fn find(&self, primary: &Key, headers: &HeaderMap) -> (Option<Arc<Cached>>, Key) {
        match self.get(primary).await {
            Some(Stored::Response(c)) => (Some(c), *primary),
            Some(Stored::Variants(names)) => {
                let k = key::variant(primary, &names, headers);
                match self.get(&k).await {
                    Some(Stored::Response(c)) => (Some(c), k),
                    _ => (None, k),
                }
            }
            None => (None, *primary),
        }
    }

    fn hit(
        &self,
        found: Option<Arc<Cached>>,
        auth: bool,
        head: bool,
    ) -> Option<Response<ProxyBody>> {
        let c = found.filter(|c| !auth || c.auth_ok)?;
        CacheStats::count(&self.stats.hits);
        let body = if head {
            ProxyBody::empty()
        } else {
            ProxyBody::full(c.body.clone())
        };
        let mut res = Response::new(body);
        *res.status_mut() = StatusCode::from_u16(c.status).unwrap_or(StatusCode::OK);
        *res.headers_mut() = c.headers.clone();
        let age = c.initial_age + unix_now().saturating_sub(c.stored_at);
        res.headers_mut()
            .insert(header::AGE, HeaderValue::from(age));
        res.headers_mut()
            .insert(X_CACHE.clone(), HeaderValue::from_static("HIT"));
        Some(res)
    }

    async fn get(&self, key: &Key) -> Option<Stored> {
        match &self.backend {
            Backend::Local(l) => l.get(key, Instant::now()),
            Backend::Redis { store, prefix } => {
                let k = format!("{prefix}{}", key::hex(key));
                match store.get_bytes(&k).await {
                    Ok(v) => v.and_then(redis::decode),
                    Err(e) => {
                        self.store_failed(&e);
                        None
                    }
                }
            }
        }
    }

    fn store_failed(&self, e: &tollgate_ratelimit::StoreError) {
        CacheStats::count(&self.stats.store_errors);
        if matches!(e, tollgate_ratelimit::StoreError::Backoff { .. }) {
            tracing::debug!(error = %e, "cache: redis skipped; answering as a miss");
        } else {
            tracing::warn!(error = %e, "cache: redis failed; answering as a miss");
        }
    }

    fn put(
        self: &Arc<Self>,
        entries: Vec<(Key, Stored)>,
        ttl: Duration,
        flight: Option<FlightGuard>,
    ) {
        match &self.backend {
            Backend::Local(l) => {
                let now = Instant::now();
                for (k, v) in entries {
                    l.insert(k, v, ttl, now);
                }
                drop(flight);
            }
            Backend::Redis { store, prefix } => {
                let (this, store, prefix) = (self.clone(), store.clone(), prefix.clone());
                // The waiters wake when the entry is in Redis, so they find it there.
                tokio::spawn(async move {
                    for (k, v) in entries {
                        let k = format!("{prefix}{}", key::hex(&k));
                        if let Err(e) = store.set_bytes(&k, &redis::encode(&v), ttl).await {
                            this.store_failed(&e);
                            break;
                        }
                    }
                    drop(flight);
                });
            }
        }
    }
}
