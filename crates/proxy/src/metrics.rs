//! Metrics, rendered in the Prometheus text format at the admin `/metrics`.
//!
//! The per-request path touches only atomics owned by the matched route (found at compile
//! time), never a lock or a label-hash lookup: a status table of a few slots and fixed
//! histogram buckets per route. Route stats are kept by name across reloads so counters
//! do not reset when the configuration changes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency bucket upper bounds, in microseconds.
const BUCKETS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];

/// Distinct status codes tracked per route; more than this is counted as `other`.
const STATUS_SLOTS: usize = 12;

/// Counters for one route.
#[derive(Default)]
pub struct RouteStats {
    codes: [AtomicU16; STATUS_SLOTS],
    counts: [AtomicU64; STATUS_SLOTS],
    other: AtomicU64,
    buckets: [AtomicU64; BUCKETS_US.len()],
    sum_us: AtomicU64,
    count: AtomicU64,
}

impl RouteStats {
    /// Records one request.
    pub fn record(&self, status: u16, elapsed: Duration) {
        self.count_status(status);
        let us = elapsed.as_micros() as u64;
        self.sum_us.fetch_add(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = BUCKETS_US.iter().position(|&b| us <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count_status(&self, status: u16) {
        for i in 0..STATUS_SLOTS {
            let code = self.codes[i].load(Ordering::Relaxed);
            if code == status {
                self.counts[i].fetch_add(1, Ordering::Relaxed);
                return;
            }
            if code == 0 {
                match self.codes[i].compare_exchange(0, status, Ordering::AcqRel, Ordering::Acquire)
                {
                    Ok(_) => {
                        self.counts[i].fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(now) if now == status => {
                        self.counts[i].fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    Err(_) => {}
                }
            }
        }
        self.other.fetch_add(1, Ordering::Relaxed);
    }
}

/// Decisions of one rate limit or quota, by outcome.
#[derive(Default)]
pub struct LimitStats {
    /// What the limit keys on (`consumer`, `ip`, `route`, `header`), a label.
    key: std::sync::OnceLock<&'static str>,
    /// Admitted by the limit.
    pub allowed: AtomicU64,
    /// Refused with 429.
    pub limited: AtomicU64,
    /// The store failed and `on_store_failure: allow` admitted.
    pub failed_open: AtomicU64,
    /// The store failed and `on_store_failure: deny` refused with 503.
    pub failed_closed: AtomicU64,
}

/// Process-wide metrics.
#[derive(Default)]
pub struct Metrics {
    routes: Mutex<BTreeMap<Arc<str>, Arc<RouteStats>>>,
    limits: Mutex<BTreeMap<Arc<str>, Arc<LimitStats>>>,
    caches: Mutex<BTreeMap<Arc<str>, Arc<crate::cache::stats::CacheStats>>>,
    upstream_errors: Mutex<BTreeMap<(Arc<str>, &'static str), u64>>,
    /// Client connections open now.
    pub active_connections: AtomicI64,
    /// Client connections accepted.
    pub connections_total: AtomicU64,
    /// Requests refused before routing (framing, limits), by status.
    pub rejected: Mutex<BTreeMap<u16, u64>>,
    /// Successful configuration reloads.
    pub reloads_ok: AtomicU64,
    /// Refused configuration reloads.
    pub reloads_failed: AtomicU64,
    /// Version of the configuration being served.
    pub config_version: AtomicU64,
    /// Failed or timed-out TLS handshakes from clients.
    pub tls_handshake_failures: AtomicU64,
    /// Metrics of other parts of the process (the Kubernetes source), appended to the
    /// exposition; the proxy knows nothing about what they count.
    collectors: Mutex<Vec<Collector>>,
}

/// Appends its metrics, in Prometheus text format, to the exposition.
type Collector = Box<dyn Fn(&mut String) + Send + Sync>;

impl Metrics {
    /// The stats of a route, created on first use and kept across reloads.
    pub fn route(&self, name: &str) -> Arc<RouteStats> {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = routes.get(name) {
            return s.clone();
        }
        let s = Arc::new(RouteStats::default());
        routes.insert(name.into(), s.clone());
        s
    }

    /// The stats of a rate limit or quota (by its unique name), kept across reloads.
    pub fn limit(&self, name: &str, key: &'static str) -> Arc<LimitStats> {
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        let s = limits.entry(name.into()).or_default().clone();
        let _ = s.key.set(key);
        s
    }

    /// The cache counters of a route, kept by name across reloads.
    pub(crate) fn cache(&self, route: &str) -> Arc<crate::cache::stats::CacheStats> {
        let mut caches = self.caches.lock().unwrap_or_else(|e| e.into_inner());
        caches.entry(route.into()).or_default().clone()
    }

    /// Forgets the stats of routes no runtime uses any more (only this map holds them),
    /// so routes that come and go across reloads do not grow memory and `/metrics`
    /// without bound. A route removed and added back starts counting from zero, as a
    /// new series.
    pub(crate) fn prune_routes(&self) {
        let mut routes = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        routes.retain(|_, s| Arc::strong_count(s) > 1);
        drop(routes);
        let mut limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        limits.retain(|_, s| Arc::strong_count(s) > 1);
    }

    /// Counts an upstream error of a kind for a service. Errors are rare, so a lock is fine.
    pub fn upstream_error(&self, service: &Arc<str>, kind: &'static str) {
        let mut m = self
            .upstream_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        *m.entry((service.clone(), kind)).or_default() += 1;
    }

    /// Adds a collector whose lines are appended to every `/metrics` answer.
    pub fn add_collector(&self, f: impl Fn(&mut String) + Send + Sync + 'static) {
        self.collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Box::new(f));
    }

    /// Counts a failed client TLS handshake.
    pub fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request refused before routing.
    pub fn rejected(&self, status: u16) {
        let mut m = self.rejected.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry(status).or_default() += 1;
    }

    fn render_limits(&self, out: &mut String) {
        let limits = self.limits.lock().unwrap_or_else(|e| e.into_inner());
        if limits.is_empty() {
            return;
        }
        out.push_str("# HELP tollgate_rate_limit_decisions_total Rate-limit and quota decisions by limit, key kind and outcome.\n");
        out.push_str("# TYPE tollgate_rate_limit_decisions_total counter\n");
        for (name, s) in limits.iter() {
            let name = escape(name);
            let key = s.key.get().copied().unwrap_or("");
            for (outcome, n) in [
                ("allowed", &s.allowed),
                ("limited", &s.limited),
                ("store_failure_allowed", &s.failed_open),
                ("store_failure_denied", &s.failed_closed),
            ] {
                let n = n.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "tollgate_rate_limit_decisions_total{{limit=\"{name}\",key=\"{key}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self
            .routes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        out.push_str("# HELP tollgate_requests_total Requests by route and status.\n");
        out.push_str("# TYPE tollgate_requests_total counter\n");
        for (name, s) in &routes {
            let name = escape(name);
            for i in 0..STATUS_SLOTS {
                let code = s.codes[i].load(Ordering::Relaxed);
                if code != 0 {
                    let n = s.counts[i].load(Ordering::Relaxed);
                    let _ = writeln!(
                        out,
                        "tollgate_requests_total{{route=\"{name}\",status=\"{code}\"}} {n}"
                    );
                }
            }
            let other = s.other.load(Ordering::Relaxed);
            if other > 0 {
                let _ = writeln!(
                    out,
                    "tollgate_requests_total{{route=\"{name}\",status=\"other\"}} {other}"
                );
            }
        }
        out.push_str("# HELP tollgate_request_duration_seconds Time to response head, by route.\n");
        out.push_str("# TYPE tollgate_request_duration_seconds histogram\n");
        for (name, s) in &routes {
            let name = escape(name);
            let mut cumulative = 0;
            for (i, b) in BUCKETS_US.iter().enumerate() {
                cumulative += s.buckets[i].load(Ordering::Relaxed);
                let le = *b as f64 / 1e6;
                let _ = writeln!(
                    out,
                    "tollgate_request_duration_seconds_bucket{{route=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let count = s.count.load(Ordering::Relaxed);
            let sum = s.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "tollgate_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
        out.push_str(
            "# HELP tollgate_upstream_errors_total Upstream failures by service and kind.\n",
        );
        out.push_str("# TYPE tollgate_upstream_errors_total counter\n");
        for ((svc, kind), n) in self
            .upstream_errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tollgate_upstream_errors_total{{service=\"{}\",kind=\"{kind}\"}} {n}",
                escape(svc)
            );
        }
        self.render_limits(&mut out);
        crate::cache::stats::render(
            &self.caches.lock().unwrap_or_else(|e| e.into_inner()),
            &mut out,
        );
        out.push_str(
            "# HELP tollgate_rejected_requests_total Requests refused before routing, by status.\n",
        );
        out.push_str("# TYPE tollgate_rejected_requests_total counter\n");
        for (status, n) in self
            .rejected
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "tollgate_rejected_requests_total{{status=\"{status}\"}} {n}"
            );
        }
        let gauges = [
            (
                "tollgate_active_connections",
                "gauge",
                "Client connections open now.",
                self.active_connections.load(Ordering::Relaxed).max(0) as u64,
            ),
            (
                "tollgate_connections_total",
                "counter",
                "Client connections accepted.",
                self.connections_total.load(Ordering::Relaxed),
            ),
            (
                "tollgate_config_version",
                "gauge",
                "Version of the configuration being served.",
                self.config_version.load(Ordering::Relaxed),
            ),
            (
                "tollgate_tls_handshake_failures_total",
                "counter",
                "Failed or timed-out client TLS handshakes.",
                self.tls_handshake_failures.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, v) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}"
            );
        }
        out.push_str("# HELP tollgate_config_reloads_total Configuration reloads by result.\n");
        out.push_str("# TYPE tollgate_config_reloads_total counter\n");
        let _ = writeln!(
            out,
            "tollgate_config_reloads_total{{result=\"ok\"}} {}",
            self.reloads_ok.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "tollgate_config_reloads_total{{result=\"failed\"}} {}",
            self.reloads_failed.load(Ordering::Relaxed)
        );
        for c in self
            .collectors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            c(&mut out);
        }
        out
    }
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_no_runtime_holds_are_pruned() {
        let m = Metrics::default();
        let kept = m.route("route/kept");
        kept.record(200, Duration::from_millis(1));
        m.route("route/gone").record(200, Duration::from_millis(1));
        m.prune_routes();
        let text = m.render();
        assert!(text.contains("route=\"route/kept\""), "{text}");
        assert!(!text.contains("route/gone"), "{text}");
        assert!(
            Arc::ptr_eq(&kept, &m.route("route/kept")),
            "kept stats survive"
        );
    }

    #[test]
    fn counts_by_status_and_renders() {
        let m = Metrics::default();
        let r = m.route("route/a");
        r.record(200, Duration::from_millis(3));
        r.record(200, Duration::from_millis(3));
        r.record(502, Duration::from_secs(20));
        assert!(Arc::ptr_eq(&r, &m.route("route/a")));
        let text = m.render();
        assert!(
            text.contains("tollgate_requests_total{route=\"route/a\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tollgate_requests_total{route=\"route/a\",status=\"502\"} 1"),
            "{text}"
        );
        assert!(
            text.contains(
                "tollgate_request_duration_seconds_bucket{route=\"route/a\",le=\"0.005\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains("tollgate_request_duration_seconds_count{route=\"route/a\"} 3"),
            "{text}"
        );
    }

    #[test]
    fn overflowing_status_slots_count_as_other() {
        let s = RouteStats::default();
        for code in 200..(200 + STATUS_SLOTS as u16 + 3) {
            s.record(code, Duration::ZERO);
        }
        assert_eq!(s.other.load(Ordering::Relaxed), 3);
    }
}
