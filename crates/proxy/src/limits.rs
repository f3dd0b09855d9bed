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

/// What the limits of an admitted request said (listener and route together): only the
/// most restrictive rate decision is kept, as only it goes into the headers.
#[derive(Default)]
pub(crate) struct Verdict {
    rate: Option<Decision>,
    quota: Option<Decision>,
}

impl Verdict {
    fn add_rate(&mut self, d: Decision) {
        self.rate = Some(match self.rate {
            Some(prev) => *tollgate_ratelimit::most_restrictive(&[prev, d]).unwrap_or(&d),
            None => d,
        });
    }

    /// Adds a later phase's decisions.
    pub(crate) fn extend(&mut self, other: Verdict) {
        if let Some(d) = other.rate {
            self.add_rate(d);
        }
        if other.quota.is_some() {
            self.quota = other.quota;
        }
    }

    /// `RateLimit-*` of the most restrictive rate limit, `X-Quota-*` of the quota.
    pub(crate) fn headers(&self) -> LimitHeaders {
        let mut headers = LimitHeaders::with_capacity(6);
        if let Some(d) = &self.rate {
            push_headers(&mut headers, d, &RATE_NAMES);
        }
        if let Some(d) = &self.quota {
            push_headers(&mut headers, d, &QUOTA_NAMES);
        }
        headers
    }
}

static RATE_NAMES: [HeaderName; 3] = [
    HeaderName::from_static("ratelimit-limit"),
    HeaderName::from_static("ratelimit-remaining"),
    HeaderName::from_static("ratelimit-reset"),
];
static QUOTA_NAMES: [HeaderName; 3] = [
    HeaderName::from_static("x-quota-limit"),
    HeaderName::from_static("x-quota-remaining"),
    HeaderName::from_static("x-quota-reset"),
];

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
        let mut verdict = Verdict::default();
        let now = Instant::now();
        for l in &self.local {
            let Some(key) = l.cfg.key_of(who) else {
                continue;
            };
            let d = l.how.check(key.as_str(), now);
            if !d.allowed {
                l.cfg.stats.limited.fetch_add(1, Ordering::Relaxed);
                return Err(limited(&l.cfg, &d));
            }
            l.cfg.stats.allowed.fetch_add(1, Ordering::Relaxed);
            verdict.add_rate(d);
        }
        if !self.shared.is_empty() || self.quota.is_some() {
            self.check_shared(store, who, &mut verdict).await?;
        }
        Ok(verdict)
    }

    async fn check_shared(
        &self,
        store: Option<&RedisStore>,
        who: &Subject<'_>,
        verdict: &mut Verdict,
    ) -> Result<(), ProxyError> {
        let mut keys: Vec<(&LimitCfg, String)> = Vec::new();
        for l in &self.shared {
            if let Some(k) = l.cfg.key_of(who) {
                keys.push((&l.cfg, format!("{}|{}", l.cfg.name, k.as_str())));
            }
        }
        let quota_key = self.quota.as_ref().and_then(|q| {
            q.cfg
                .key_of(who)
                .map(|k| (q, format!("{}|{}", q.cfg.name, k.as_str())))
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
                verdict.quota = Some(*d);
            } else {
                verdict.add_rate(*d);
            }
        }
        Ok(())
    }
}

impl LimitCfg {
    /// The request's key for this limit; `None` when the limit does not apply (its
    /// `groups` do not include the consumer's).
    fn key_of(&self, who: &Subject<'_>) -> Option<Key> {
        use std::fmt::Write as _;
        if !self.groups.is_empty() {
            let c = who.consumer?;
            if !c.groups.iter().any(|g| self.groups.contains(g)) {
                return None;
            }
        }
        let mut k = Key::default();
        match &self.key {
            ir::LimitKey::Consumer => match who.consumer {
                Some(c) => {
                    let _ = write!(k, "c:{}", c.name);
                }
                None => ip_key(&mut k, who.ip),
            },
            ir::LimitKey::Ip => ip_key(&mut k, who.ip),
            ir::LimitKey::Route => {}
            ir::LimitKey::Header(h) => {
                let _ = k.write_str("h:");
                if let Some(v) = who.headers.get(h.as_str()) {
                    let _ = k.write_str(&String::from_utf8_lossy(v.as_bytes()));
                }
            }
        }
        Some(k)
    }
}

/// A limit key, built on the stack when it fits: the common keys (an IP, a consumer
/// name) cost no allocation per request.
struct Key {
    buf: [u8; 64],
    len: usize,
    heap: Option<String>,
}

impl Default for Key {
    fn default() -> Self {
        Self {
            buf: [0; 64],
            len: 0,
            heap: None,
        }
    }
}

impl Key {
    /// Appends ASCII digits of `n`: an IPv4 key is built without `fmt`, whose
    /// machinery cost more than the limiter itself (callgrind, `bench/callgrind.sh`).
    fn push_u8(&mut self, n: u8) {
        let digits = [b'0' + n / 100, b'0' + (n / 10) % 10, b'0' + n % 10];
        let skip = if n >= 100 {
            0
        } else if n >= 10 {
            1
        } else {
            2
        };
        // ASCII digits: valid UTF-8.
        self.push(std::str::from_utf8(&digits[skip..]).unwrap_or(""));
    }

    fn push(&mut self, s: &str) {
        if let Some(h) = &mut self.heap {
            h.push_str(s);
        } else if self.len + s.len() <= self.buf.len() {
            self.buf[self.len..self.len + s.len()].copy_from_slice(s.as_bytes());
            self.len += s.len();
        } else {
            let mut h = String::with_capacity(self.len + s.len());
            h.push_str(self.as_str());
            h.push_str(s);
            self.heap = Some(h);
        }
    }

    fn as_str(&self) -> &str {
        match &self.heap {
            Some(s) => s,
            // Only whole `&str`s are ever copied in, so the bytes are UTF-8.
            None => std::str::from_utf8(&self.buf[..self.len]).unwrap_or(""),
        }
    }
}

impl std::fmt::Write for Key {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s);
        Ok(())
    }
}

/// An IP as a key; IPv6 by its /64, which one client usually holds whole (a key per
/// address would let it rotate through 2^64 of them).
fn ip_key(k: &mut Key, ip: IpAddr) {
    use std::fmt::Write as _;
    let v4 = match ip {
        IpAddr::V4(v4) => v4,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4,
            None => {
                let s = v6.segments();
                let _ = write!(k, "ip:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]);
                return;
            }
        },
    };
    k.push("ip:");
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            k.push(".");
        }
        k.push_u8(octet);
    }
}

fn limited(cfg: &LimitCfg, d: &Decision) -> ProxyError {
    let mut headers = LimitHeaders::with_capacity(4);
    push_headers(&mut headers, d, &RATE_NAMES);
    ProxyError::RateLimited {
        limit: cfg.name.to_string(),
        headers,
    }
}

/// `limit`, `remaining`, `reset` (seconds, rounded up), and `Retry-After` when refused
/// (never 0: clients read 0 as "now"), as `tollgate_ratelimit::Decision::headers` says,
/// with names made once.
fn push_headers(out: &mut LimitHeaders, d: &Decision, names: &[HeaderName; 3]) {
    let ceil = |t: std::time::Duration| t.as_secs() + u64::from(t.subsec_nanos() > 0);
    out.push((names[0].clone(), HeaderValue::from(d.limit)));
    out.push((names[1].clone(), HeaderValue::from(d.remaining)));
    out.push((names[2].clone(), HeaderValue::from(ceil(d.reset))));
    if !d.allowed {
        let wait = ceil(d.retry_after.unwrap_or(d.reset)).max(1);
        out.push((http::header::RETRY_AFTER, HeaderValue::from(wait)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_64() {
        let key = |s: &str| {
            let mut k = Key::default();
            ip_key(&mut k, s.parse().unwrap_or(IpAddr::from([0; 4])));
            k.as_str().to_owned()
        };
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
        assert_eq!(key("::ffff:10.0.0.1"), "ip:10.0.0.1");
        assert_eq!(key("192.168.7.255"), "ip:192.168.7.255");
        assert_eq!(key("0.9.10.100"), "ip:0.9.10.100");
        let mut long = Key::default();
        let text = "h:".to_owned() + &"x".repeat(100);
        std::fmt::Write::write_str(&mut long, &text).ok();
        assert_eq!(long.as_str(), text);
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
        push_headers(&mut h, &d, &QUOTA_NAMES);
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["x-quota-limit", "x-quota-remaining", "x-quota-reset"]
        );
        assert_eq!(h[2].1, "2");
    }
}
