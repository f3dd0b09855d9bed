//! Per-route cache counters for `/metrics`, kept by route name across reloads.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a route's cache did.
#[derive(Default)]
pub(crate) struct CacheStats {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) bypasses: AtomicU64,
    /// Redis errors and timeouts (each answered as a miss, or an entry not stored).
    pub(crate) store_errors: AtomicU64,
}

impl CacheStats {
    pub(crate) fn count(n: &AtomicU64) {
        n.fetch_add(1, Ordering::Relaxed);
    }
}

/// Appends the `tollgate_cache_*` series.
pub(crate) fn render(all: &BTreeMap<Arc<str>, Arc<CacheStats>>, out: &mut String) {
    if all.is_empty() {
        return;
    }
    out.push_str("# HELP tollgate_cache_requests_total Cacheable requests by route and result (hit, miss, bypass).\n");
    out.push_str("# TYPE tollgate_cache_requests_total counter\n");
    for (name, s) in all {
        let name = crate::metrics::escape(name);
        for (result, n) in [
            ("hit", &s.hits),
            ("miss", &s.misses),
            ("bypass", &s.bypasses),
        ] {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "tollgate_cache_requests_total{{route=\"{name}\",result=\"{result}\"}} {n}"
            );
        }
    }
    out.push_str("# HELP tollgate_cache_store_errors_total Redis cache errors and timeouts by route (answered as misses).\n");
    out.push_str("# TYPE tollgate_cache_store_errors_total counter\n");
    for (name, s) in all {
        let name = crate::metrics::escape(name);
        let n = s.store_errors.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "tollgate_cache_store_errors_total{{route=\"{name}\"}} {n}"
        );
    }
}
