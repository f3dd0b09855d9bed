//! Endpoint choice. Every algorithm skips endpoints that are unhealthy or ejected; when
//! none is available it uses all of them ("panic mode", as Envoy does), because sending
//! traffic to possibly-bad endpoints beats failing every request on a bad health signal.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tollgate_ir as ir;

use super::{Endpoint, Upstream, now_ms};

/// Picks an endpoint, avoiding `avoid` (the one that just failed) when another exists.
pub(crate) fn pick(up: &Upstream, hash_key: Option<&[u8]>, avoid: Option<usize>) -> Option<usize> {
    let n = up.endpoints.len();
    if n == 0 {
        return None;
    }
    if n == 1 {
        return Some(0);
    }
    let now = now_ms();
    let ok = |i: usize| Some(i) != avoid && up.endpoints[i].available(now);
    let any_ok = (0..n).any(ok);
    let usable = |i: usize| {
        if any_ok {
            ok(i)
        } else {
            Some(i) != avoid || n == 1
        }
    };
    match &up.config.load_balancer {
        ir::LoadBalancer::RoundRobin => {
            let start = up.next_rr();
            (0..n).map(|k| (start + k) % n).find(|&i| usable(i))
        }
        ir::LoadBalancer::Random => {
            let start = rand::random_range(0..n);
            (0..n).map(|k| (start + k) % n).find(|&i| usable(i))
        }
        ir::LoadBalancer::LeastRequest => least_request(&up.endpoints, usable),
        ir::LoadBalancer::ConsistentHash(_) => {
            let key = hash_key.unwrap_or_default();
            rendezvous(&up.endpoints, key, usable)
        }
    }
}

/// Power of two choices: two random usable endpoints, the one with fewer in flight.
fn least_request(eps: &[Arc<Endpoint>], usable: impl Fn(usize) -> bool) -> Option<usize> {
    let n = eps.len();
    let a = {
        let s = rand::random_range(0..n);
        (0..n).map(|k| (s + k) % n).find(|&i| usable(i))?
    };
    let b = {
        let s = rand::random_range(0..n);
        (0..n).map(|k| (s + k) % n).find(|&i| usable(i) && i != a)
    };
    let Some(b) = b else { return Some(a) };
    let load = |i: usize| eps[i].in_flight.load(Ordering::Relaxed);
    Some(if load(b) < load(a) { b } else { a })
}

/// Rendezvous (highest random weight) hashing: each key goes to the endpoint with the
/// highest hash(key, endpoint). Removing an endpoint moves only its own keys.
fn rendezvous(eps: &[Arc<Endpoint>], key: &[u8], usable: impl Fn(usize) -> bool) -> Option<usize> {
    // A fixed-key hasher: the choice must be the same in every process and replica.
    let state =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    (0..eps.len()).filter(|&i| usable(i)).max_by_key(|&i| {
        let mut h = state.build_hasher();
        h.write(key);
        h.write(eps[i].address.as_bytes());
        h.finish()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(lb: ir::LoadBalancer, n: usize) -> Upstream {
        let endpoints: Vec<String> = (0..n).map(|i| format!("127.0.0.1:{}", 1000 + i)).collect();
        let refs: Vec<&str> = endpoints.iter().map(String::as_str).collect();
        let mut cfg = crate::upstream::tests::service(&refs);
        cfg.load_balancer = lb;
        cfg.outlier_detection = ir::OutlierDetection::default();
        Upstream::new(&cfg, None).expect("ok")
    }

    #[test]
    fn round_robin_cycles_and_skips_unhealthy() {
        let u = up(ir::LoadBalancer::RoundRobin, 3);
        let picks: Vec<_> = (0..6).filter_map(|_| pick(&u, None, None)).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
        u.endpoints[1].set_healthy(false);
        let picks: Vec<_> = (0..4).filter_map(|_| pick(&u, None, None)).collect();
        assert!(!picks.contains(&1), "{picks:?}");
    }

    #[test]
    fn panic_mode_when_nothing_is_healthy() {
        let u = up(ir::LoadBalancer::RoundRobin, 2);
        u.endpoints[0].set_healthy(false);
        u.endpoints[1].set_healthy(false);
        assert!(pick(&u, None, None).is_some());
    }

    #[test]
    fn retry_avoids_the_failed_endpoint() {
        let u = up(ir::LoadBalancer::Random, 3);
        for _ in 0..50 {
            assert_ne!(pick(&u, None, Some(2)), Some(2));
        }
    }

    #[test]
    fn consistent_hash_is_stable_and_spreads() {
        let u = up(ir::LoadBalancer::ConsistentHash(ir::HashOn::ClientIp), 4);
        let a = pick(&u, Some(b"10.0.0.1"), None);
        for _ in 0..10 {
            assert_eq!(pick(&u, Some(b"10.0.0.1"), None), a);
        }
        let distinct: std::collections::HashSet<_> = (0..64)
            .filter_map(|i| pick(&u, Some(format!("k{i}").as_bytes()), None))
            .collect();
        assert!(distinct.len() >= 3, "{distinct:?}");
    }

    #[test]
    fn least_request_prefers_the_idle_endpoint() {
        let u = up(ir::LoadBalancer::LeastRequest, 2);
        u.endpoints[0].in_flight.store(100, Ordering::Relaxed);
        let ones = (0..100).filter(|_| pick(&u, None, None) == Some(1)).count();
        assert!(ones > 60, "{ones}");
    }
}
