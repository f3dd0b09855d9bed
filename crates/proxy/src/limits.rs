//! The rate-limit phase: local GCRA limits, Redis limits and quotas
//! (`tollgate-ratelimit`).
//!
//! Local limits are checked first (no I/O); the first refusal answers 429 without asking
//! Redis. Every Redis limit and the quota of a request then go to Redis in one call, so a
//! request costs one round trip however many shared limits apply. When Redis cannot
//! answer in time each limit follows its `on_store_failure`: admit, or 503.
//!
//! Limiters live longer than one runtime: a reload that keeps a limit unchanged keeps its
//! counters (a reload must not hand every client a fresh burst), and the Redis store is
//! kept while its settings are unchanged.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Instant, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use tollgate_ir as ir;
use tollgate_ratelimit::{Check, Decision, LocalLimiter, Rate, RedisStore, StoreOptions, Window};

use crate::error::ProxyError;
use crate::metrics::{LimitStats, Metrics};
use crate::policy::ConsumerInfo;

/// Distinct keys one local limit tracks at most (about 92 bytes each): past it, keys
/// that have fully recovered are dropped first, then the nearest to recovery.
const MAX_KEYS: usize = 100_000;

/// The limits of a route or a listener.
pub(crate) struct Limits {
    local: Vec<Limit<Arc<LocalLimiter>>>,
    shared: Vec<Limit<Rate>>,
    quota: Option<Limit<Window>>,
}

struct Limit<T> {
    cfg: Arc<LimitCfg>,
    how: T,
}

struct LimitCfg {
    name: Arc<str>,
    requests: u64,
    key: ir::LimitKey,
    groups: Vec<String>,
    allow_on_store_failure: bool,
    stats: Arc<LimitStats>,
}

/// What decides the key of a request.
pub(crate) struct Subject<'a> {
    pub(crate) ip: IpAddr,
    pub(crate) consumer: Option<&'a ConsumerInfo>,
    pub(crate) headers: &'a HeaderMap,
}

/// Response headers made from decisions.
pub(crate) type LimitHeaders = Vec<(HeaderName, HeaderValue)>;

/// What the limits of an admitted request said (listener and route together).
#[derive(Default)]
pub(crate) struct Verdict {
    rates: Vec<Decision>,
    quota: Option<Decision>,
}

impl Verdict {
    /// Adds a later phase's decisions.
    pub(crate) fn extend(&mut self, other: Verdict) {
        self.rates.extend(other.rates);
        if other.quota.is_some() {
            self.quota = other.quota;
        }
    }

    /// `RateLimit-*` of the most restrictive rate limit, `X-Quota-*` of the quota.
    pub(crate) fn headers(&self) -> LimitHeaders {
        let mut headers = LimitHeaders::new();
        if let Some(d) = tollgate_ratelimit::most_restrictive(&self.rates) {
            push_headers(&mut headers, d, "");
        }
        if let Some(d) = &self.quota {
            push_headers(&mut headers, d, "x-quota-");
        }
        headers
    }
}

/// Local limiters by configuration, handed from one runtime to the next.
pub(crate) type Limiters = HashMap<ir::RateLimit, Arc<LocalLimiter>>;

/// Compiles limits; reuses limiters and the Redis store of the previous runtime.
pub(crate) struct LimitCompiler<'a> {
    previous: Option<&'a Limiters>,
    /// Limiters in use by the runtime being compiled.
    pub(crate) limiters: Limiters,
    metrics: &'a Metrics,
}

impl<'a> LimitCompiler<'a> {
    pub(crate) fn new(previous: Option<&'a Limiters>, metrics: &'a Metrics) -> Self {
        Self {
            previous,
            limiters: Limiters::new(),
            metrics,
        }
    }

    /// `None` when there is nothing to check.
    pub(crate) fn compile(
        &mut self,
        rates: &[ir::RateLimit],
        quota: Option<&ir::Quota>,
    ) -> Result<Option<Limits>, String> {
        if rates.is_empty() && quota.is_none() {
            return Ok(None);
        }
        let mut out = Limits {
            local: Vec::new(),
            shared: Vec::new(),
            quota: None,
        };
        for r in rates {
            let rate = Rate::new(r.requests, r.per);
            let cfg = self.cfg(
                &r.name,
                r.requests,
                &r.key,
                &r.groups,
                r.allow_on_store_failure,
            );
            match r.store {
                ir::LimitStore::Local => {
                    // The same limit on several routes (a Policy on a Gateway) is one
                    // limiter: one budget for all of them.
                    let known = self
                        .limiters
                        .get(r)
                        .or_else(|| self.previous.and_then(|p| p.get(r)));
                    let limiter = match known {
                        Some(l) => l.clone(),
                        None => Arc::new(
                            LocalLimiter::new(rate, MAX_KEYS)
                                .map_err(|e| format!("{}: {e}", r.name))?,
                        ),
                    };
                    self.limiters.insert(r.clone(), limiter.clone());
                    out.local.push(Limit { cfg, how: limiter });
                }
                ir::LimitStore::Redis => out.shared.push(Limit { cfg, how: rate }),
            }
        }
        if let Some(q) = quota {
            let window = match q.window {
                ir::QuotaWindow::Hour => Window::Hour,
                ir::QuotaWindow::Day => Window::Day,
                ir::QuotaWindow::Month => Window::Month,
                ir::QuotaWindow::Fixed(d) => Window::Fixed(d),
            };
            let cfg = self.cfg(
                &q.name,
                q.requests,
                &q.key,
                &q.groups,
                q.allow_on_store_failure,
            );
            out.quota = Some(Limit { cfg, how: window });
        }
        Ok(Some(out))
    }

    fn cfg(
        &self,
        name: &str,
        requests: u64,
        key: &ir::LimitKey,
        groups: &[String],
        allow: bool,
    ) -> Arc<LimitCfg> {
        let kind = match key {
            ir::LimitKey::Consumer => "consumer",
            ir::LimitKey::Ip => "ip",
            ir::LimitKey::Route => "route",
            ir::LimitKey::Header(_) => "header",
        };
        Arc::new(LimitCfg {
            name: name.into(),
            requests,
            key: key.clone(),
            groups: groups.to_vec(),
            allow_on_store_failure: allow,
            stats: self.metrics.limit(name, kind),
        })
    }
}

/// The Redis store for `settings`, reusing `previous` when its settings are the same.
pub(crate) fn store(
    settings: Option<&ir::RedisSettings>,
    previous: Option<&(ir::RedisSettings, Arc<RedisStore>)>,
    start_tasks: bool,
) -> Result<Option<(ir::RedisSettings, Arc<RedisStore>)>, String> {
    let Some(s) = settings else {
        return Ok(None);
    };
    if let Some(p) = previous.filter(|p| p.0 == *s) {
        return Ok(Some(p.clone()));
    }
    if !start_tasks {
        // `tollgate validate`: no runtime to create the connection manager on.
        return Ok(None);
    }
    let options = StoreOptions {
        timeout: s.timeout,
        prefix: s.prefix.clone(),
        tls_root_ca_pem: s.ca_pem.as_ref().map(|p| p.clone().into_bytes()),
        ..StoreOptions::default()
    };
    let store = RedisStore::new(&s.url, options).map_err(|e| format!("redis: {e}"))?;
    Ok(Some((s.clone(), Arc::new(store))))
}

impl Limits {
    /// Checks a request. `Ok` carries the decisions for the response headers; `Err` is
    /// the 429 (or the 503 of a failed store with `on_store_failure: deny`).
    pub(crate) async fn check(
        &self,
        store: Option<&RedisStore>,
        who: &Subject<'_>,
    ) -> Result<Verdict, ProxyError> {
        let mut rate_decisions: Vec<Decision> = Vec::new();
        let now = Instant::now();
        for l in &self.local {
            let Some(key) = l.cfg.key_of(who) else {
                continue;
            };
            let d = l.how.check(&key, now);
            if !d.allowed {
                l.cfg.stats.limited.fetch_add(1, Ordering::Relaxed);
                return Err(limited(&l.cfg, &d));
            }
            l.cfg.stats.allowed.fetch_add(1, Ordering::Relaxed);
            rate_decisions.push(d);
        }
        let mut quota_decision = None;
        if !self.shared.is_empty() || self.quota.is_some() {
            self.check_shared(store, who, &mut rate_decisions, &mut quota_decision)
                .await?;
        }
        Ok(Verdict {
            rates: rate_decisions,
            quota: quota_decision,
        })
    }

    async fn check_shared(
        &self,
        store: Option<&RedisStore>,
        who: &Subject<'_>,
        rates: &mut Vec<Decision>,
        quota: &mut Option<Decision>,
    ) -> Result<(), ProxyError> {
        let mut keys: Vec<(&LimitCfg, String)> = Vec::new();
        for l in &self.shared {
            if let Some(k) = l.cfg.key_of(who) {
                keys.push((&l.cfg, format!("{}|{k}", l.cfg.name)));
            }
        }
        let quota_key = self.quota.as_ref().and_then(|q| {
            q.cfg
                .key_of(who)
                .map(|k| (q, format!("{}|{k}", q.cfg.name)))
        });
        let mut checks: Vec<Check<'_>> = Vec::with_capacity(keys.len() + 1);
        for ((_, key), l) in keys.iter().zip(&self.shared) {
            checks.push(Check::Rate { key, rate: l.how });
        }
        if let Some((q, key)) = &quota_key {
            checks.push(Check::Quota {
                key,
                limit: q.cfg.requests,
                window: q.how,
                now: SystemTime::now(),
            });
        }
        if checks.is_empty() {
            return Ok(());
        }
        let mut cfgs: Vec<&LimitCfg> = keys.iter().map(|(c, _)| *c).collect();
        if let Some((q, _)) = &quota_key {
            cfgs.push(&q.cfg);
        }
        let result = match store {
            Some(s) => s.check(&checks).await.map_err(|e| e.to_string()),
            None => Err("no redis store is configured".to_owned()),
        };
        let outcome = match result {
            Ok(o) => o,
            Err(e) => {
                for c in &cfgs {
                    if c.allow_on_store_failure {
                        c.stats.failed_open.fetch_add(1, Ordering::Relaxed);
                    } else {
                        c.stats.failed_closed.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(limit = %c.name, "rate-limit store failed: {e}");
                        return Err(ProxyError::LimitStoreUnavailable(c.name.to_string()));
                    }
                }
                return Ok(());
            }
        };
        let quota_index = quota_key.is_some().then(|| cfgs.len() - 1);
        for (i, (c, d)) in cfgs.iter().zip(&outcome.decisions).enumerate() {
            if !d.allowed {
                c.stats.limited.fetch_add(1, Ordering::Relaxed);
                return Err(limited(c, d));
            }
            c.stats.allowed.fetch_add(1, Ordering::Relaxed);
            if Some(i) == quota_index {
                *quota = Some(*d);
            } else {
                rates.push(*d);
            }
        }
        Ok(())
    }
}

impl LimitCfg {
    /// The request's key for this limit; `None` when the limit does not apply (its
    /// `groups` do not include the consumer's).
    fn key_of(&self, who: &Subject<'_>) -> Option<String> {
        if !self.groups.is_empty() {
            let c = who.consumer?;
            if !c.groups.iter().any(|g| self.groups.contains(g)) {
                return None;
            }
        }
        Some(match &self.key {
            ir::LimitKey::Consumer => match who.consumer {
                Some(c) => format!("c:{}", c.name),
                None => ip_key(who.ip),
            },
            ir::LimitKey::Ip => ip_key(who.ip),
            ir::LimitKey::Route => String::new(),
            ir::LimitKey::Header(h) => match who.headers.get(h.as_str()) {
                Some(v) => format!("h:{}", String::from_utf8_lossy(v.as_bytes())),
                None => "h".to_owned(),
            },
        })
    }
}

/// An IP as a key; IPv6 by its /64, which one client usually holds whole (a key per
/// address would let it rotate through 2^64 of them).
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => format!("ip:{v4}"),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => format!("ip:{v4}"),
            None => {
                let s = v6.segments();
                format!("ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

fn limited(cfg: &LimitCfg, d: &Decision) -> ProxyError {
    let mut headers = LimitHeaders::new();
    push_headers(&mut headers, d, "");
    ProxyError::RateLimited {
        limit: cfg.name.to_string(),
        headers,
    }
}

fn push_headers(out: &mut LimitHeaders, d: &Decision, prefix: &str) {
    for (name, value) in d.headers() {
        let name = if prefix.is_empty() || name == "Retry-After" {
            name.to_ascii_lowercase()
        } else {
            format!(
                "{prefix}{}",
                name.trim_start_matches("RateLimit-").to_ascii_lowercase()
            )
        };
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            out.push((n, v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        let b: IpAddr = "2001:db8:1:2:bbbb::9"
            .parse()
            .unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_key(a), ip_key(b));
        assert_eq!(ip_key(a), "ip:2001:db8:1:2::/64");
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_key(mapped), "ip:10.0.0.1");
    }

    #[test]
    fn one_limit_on_several_routes_is_one_limiter_and_survives_a_reload() {
        let metrics = Metrics::default();
        let rate = ir::RateLimit {
            name: "policy/apps/p/rate_limit/0".into(),
            requests: 5,
            per: std::time::Duration::from_secs(60),
            key: ir::LimitKey::Route,
            store: ir::LimitStore::Local,
            allow_on_store_failure: true,
            groups: Vec::new(),
        };
        let mut c = LimitCompiler::new(None, &metrics);
        let a = c.compile(std::slice::from_ref(&rate), None).ok().flatten();
        let b = c.compile(std::slice::from_ref(&rate), None).ok().flatten();
        let (Some(a), Some(b)) = (a, b) else {
            panic!("both compile");
        };
        assert!(Arc::ptr_eq(&a.local[0].how, &b.local[0].how));
        let previous = c.limiters;
        let mut next = LimitCompiler::new(Some(&previous), &metrics);
        let again = next
            .compile(std::slice::from_ref(&rate), None)
            .ok()
            .flatten();
        assert!(again.is_some_and(|x| Arc::ptr_eq(&x.local[0].how, &a.local[0].how)));
    }

    #[test]
    fn quota_headers_get_their_own_names() {
        let d = Decision {
            allowed: true,
            limit: 10,
            remaining: 3,
            reset: std::time::Duration::from_millis(1500),
            retry_after: None,
        };
        let mut h = LimitHeaders::new();
        push_headers(&mut h, &d, "x-quota-");
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["x-quota-limit", "x-quota-remaining", "x-quota-reset"]
        );
        assert_eq!(h[2].1, "2");
    }
}
