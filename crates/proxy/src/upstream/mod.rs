//! Upstream services: endpoints, their health, load balancing and the retry budget.
//!
//! An [`Upstream`] is compiled from one `ir::Service`. It is kept across reloads when the
//! service did not change (so pools, health and ejection state survive), and its endpoint
//! pools are kept when only other settings changed.

pub(crate) mod health;
pub(crate) mod lb;
pub(crate) mod pool;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use tollgate_ir as ir;

use self::pool::{Pool, PoolTls, Target};

/// Milliseconds since the process started: a cheap monotonic clock for ejection times.
pub(crate) fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// One endpoint of a service.
pub(crate) struct Endpoint {
    /// As configured, for logs.
    pub(crate) address: Arc<str>,
    pub(crate) pool: Arc<Pool>,
    /// Set by active health checks.
    healthy: AtomicBool,
    /// Passive ejection: out of rotation until this time (ms, [`now_ms`]).
    ejected_until: AtomicU64,
    failures: AtomicU32,
    /// Requests in flight, for least-request balancing.
    pub(crate) in_flight: AtomicU32,
}

impl Endpoint {
    fn new(address: &str, pool: Arc<Pool>) -> Self {
        Self {
            address: address.into(),
            pool,
            healthy: AtomicBool::new(true),
            ejected_until: AtomicU64::new(0),
            failures: AtomicU32::new(0),
            in_flight: AtomicU32::new(0),
        }
    }

    /// Healthy (active checks) and not ejected (passive).
    pub(crate) fn available(&self, now: u64) -> bool {
        self.healthy.load(Ordering::Relaxed) && self.ejected_until.load(Ordering::Relaxed) <= now
    }

    pub(crate) fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Active health state.
    pub(crate) fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// A compiled service.
pub(crate) struct Upstream {
    pub(crate) name: Arc<str>,
    pub(crate) config: ir::Service,
    pub(crate) endpoints: Vec<Arc<Endpoint>>,
    rr: AtomicUsize,
    budget: RetryBudget,
}

impl Upstream {
    /// Builds the service, reusing pools from `previous` for unchanged endpoints.
    pub(crate) fn new(config: &ir::Service, previous: Option<&Upstream>) -> Result<Self, String> {
        let h2 = config.protocol.is_h2();
        let max = config.max_connections_per_endpoint;
        let client_tls = match &config.tls {
            Some(t) => Some(
                crate::tls::client(t, h2)
                    .map_err(|e| format!("{e} (service {:?})", config.name))?,
            ),
            None => None,
        };
        let mut endpoints = Vec::with_capacity(config.endpoints.len());
        for address in &config.endpoints {
            let target = Target::parse(address)
                .ok_or_else(|| format!("service {:?}: bad endpoint {address:?}", config.name))?;
            let reused = previous.and_then(|p| {
                p.endpoints
                    .iter()
                    .find(|e| e.pool.same_as(&target, h2, max, config.tls.as_ref()))
                    .cloned()
            });
            let ep = match reused {
                // Keep health and ejection state along with the connections.
                Some(e) => e,
                None => {
                    let tls = match (&config.tls, &client_tls) {
                        (Some(source), Some(cfg)) => Some(PoolTls {
                            config: cfg.clone(),
                            server_name: source.sni.clone().unwrap_or_else(|| target.host()),
                            source: source.clone(),
                        }),
                        _ => None,
                    };
                    Arc::new(Endpoint::new(
                        address,
                        Arc::new(Pool::new(target, h2, max, tls)),
                    ))
                }
            };
            endpoints.push(ep);
        }
        Ok(Self {
            name: config.name.as_str().into(),
            config: config.clone(),
            endpoints,
            rr: AtomicUsize::new(0),
            budget: RetryBudget::new(config.retries.budget_percent),
        })
    }

    /// Records an outcome for passive ejection.
    pub(crate) fn record(&self, ep: &Endpoint, ok: bool) {
        if ok {
            if ep.failures.load(Ordering::Relaxed) != 0 {
                ep.failures.store(0, Ordering::Relaxed);
            }
            return;
        }
        let od = &self.config.outlier_detection;
        let failures = ep.failures.fetch_add(1, Ordering::Relaxed) + 1;
        if od.consecutive_failures == 0 || failures < od.consecutive_failures {
            return;
        }
        let now = now_ms();
        let ejected = self
            .endpoints
            .iter()
            .filter(|e| e.ejected_until.load(Ordering::Relaxed) > now)
            .count();
        // Never eject more than the configured share: one bad signal must not take the
        // whole service down.
        let allowed = self.endpoints.len() * usize::from(od.max_ejection_percent) / 100;
        if ejected < allowed {
            let until = now + od.ejection_time.as_millis() as u64;
            ep.ejected_until.store(until, Ordering::Relaxed);
            ep.failures.store(0, Ordering::Relaxed);
            tracing::warn!(service = %self.name, endpoint = %ep.address, "endpoint ejected after {failures} consecutive failures");
        }
    }

    /// Called once per original request: feeds the retry budget.
    pub(crate) fn note_request(&self) {
        self.budget.deposit();
    }

    /// May this request be retried once more?
    pub(crate) fn try_retry(&self) -> bool {
        self.budget.withdraw()
    }

    pub(crate) fn next_rr(&self) -> usize {
        self.rr.fetch_add(1, Ordering::Relaxed)
    }
}

/// Retries may add at most `percent` % of the request rate. Each request deposits
/// `percent` units and each retry costs 100, so the balance never lets retries multiply
/// load during an outage. The balance starts with 10 retries so a quiet service can still
/// retry, and is capped so a long calm spell cannot fund a storm.
struct RetryBudget {
    percent: i64,
    balance: AtomicI64,
}

const RETRY_COST: i64 = 100;
const RETRY_BALANCE_START: i64 = 10 * RETRY_COST;
const RETRY_BALANCE_CAP: i64 = 100 * RETRY_COST;

impl RetryBudget {
    fn new(percent: u8) -> Self {
        Self {
            percent: i64::from(percent),
            balance: AtomicI64::new(RETRY_BALANCE_START),
        }
    }

    fn deposit(&self) {
        if self.percent == 0 {
            return;
        }
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b < RETRY_BALANCE_CAP).then_some((b + self.percent).min(RETRY_BALANCE_CAP))
            });
    }

    fn withdraw(&self) -> bool {
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                (b >= RETRY_COST).then_some(b - RETRY_COST)
            })
            .is_ok()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::time::Duration;

    /// A plain service for tests (also used by the balancer's tests).
    pub(crate) fn service(endpoints: &[&str]) -> ir::Service {
        ir::Service {
            name: "s".into(),
            endpoints: endpoints.iter().map(|s| (*s).to_owned()).collect(),
            protocol: ir::UpstreamProtocol::Http,
            load_balancer: ir::LoadBalancer::RoundRobin,
            health_check: None,
            outlier_detection: ir::OutlierDetection {
                consecutive_failures: 2,
                ejection_time: Duration::from_secs(60),
                max_ejection_percent: 50,
            },
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            retries: ir::Retries::default(),
            max_connections_per_endpoint: 10,
            tls: None,
        }
    }

    #[test]
    fn ejection_is_capped_at_the_configured_share() {
        let up = Upstream::new(&service(&["127.0.0.1:1", "127.0.0.1:2"]), None).expect("ok");
        let now = now_ms();
        for _ in 0..2 {
            up.record(&up.endpoints[0], false);
            up.record(&up.endpoints[1], false);
        }
        let available = up.endpoints.iter().filter(|e| e.available(now + 1)).count();
        assert_eq!(
            available, 1,
            "50% of 2 endpoints: exactly one may be ejected"
        );
    }

    #[test]
    fn single_endpoint_is_never_ejected_at_50_percent() {
        let up = Upstream::new(&service(&["127.0.0.1:1"]), None).expect("ok");
        for _ in 0..10 {
            up.record(&up.endpoints[0], false);
        }
        assert!(up.endpoints[0].available(now_ms() + 1));
    }

    #[test]
    fn success_resets_the_failure_count() {
        let up = Upstream::new(&service(&["127.0.0.1:1", "127.0.0.1:2"]), None).expect("ok");
        up.record(&up.endpoints[0], false);
        up.record(&up.endpoints[0], true);
        up.record(&up.endpoints[0], false);
        assert!(up.endpoints[0].available(now_ms() + 1));
    }

    #[test]
    fn retry_budget_limits_retries_to_a_share_of_requests() {
        let b = RetryBudget::new(20);
        let mut granted = 0;
        for _ in 0..1000 {
            b.deposit();
            if b.withdraw() {
                granted += 1;
            }
        }
        // 10 starting retries plus 20% of 1000 requests.
        assert!((200..=210).contains(&granted), "granted {granted}");
    }

    #[test]
    fn pools_survive_unrelated_changes() {
        let old = Upstream::new(&service(&["127.0.0.1:1", "127.0.0.1:2"]), None).expect("ok");
        let mut cfg = service(&["127.0.0.1:2", "127.0.0.1:3"]);
        cfg.request_timeout = Duration::from_secs(9);
        let new = Upstream::new(&cfg, Some(&old)).expect("ok");
        assert!(Arc::ptr_eq(&new.endpoints[0], &old.endpoints[1]));
        assert!(!Arc::ptr_eq(&new.endpoints[1], &old.endpoints[0]));
    }
}
