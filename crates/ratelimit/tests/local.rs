//! Local (per-process) GCRA: exactness with injected instants, memory bound, sweeping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_ratelimit::{LocalLimiter, Rate};

#[test]
fn exact_counts_at_a_fixed_instant_and_recovery() {
    let lim = LocalLimiter::new(Rate::new(100, Duration::from_secs(60)), 10_000).expect("valid");
    let t0 = Instant::now();
    for i in 0..100 {
        let d = lim.check("consumer-1", t0);
        assert!(d.allowed, "request {i} should be admitted");
        assert_eq!(d.remaining, 99 - i);
    }
    let d = lim.check("consumer-1", t0);
    assert!(!d.allowed);
    // Emission interval: 60 s / 100 = 600 ms.
    assert_eq!(d.retry_after, Some(Duration::from_millis(600)));
    let headers: Vec<_> = d.headers().collect();
    assert!(headers.contains(&("Retry-After", "1".to_string())));
    assert!(headers.contains(&("RateLimit-Reset", "60".to_string())));
    // One interval later exactly one more fits.
    let t1 = t0 + Duration::from_millis(600);
    assert!(lim.check("consumer-1", t1).allowed);
    assert!(!lim.check("consumer-1", t1).allowed);
}

#[test]
fn exact_under_concurrency() {
    let lim =
        Arc::new(LocalLimiter::new(Rate::new(1000, Duration::from_secs(3600)), 64).expect("valid"));
    let t0 = Instant::now();
    let admitted: usize = (0..4)
        .map(|_| {
            let lim = Arc::clone(&lim);
            std::thread::spawn(move || (0..2000).filter(|_| lim.check("k", t0).allowed).count())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .sum();
    assert_eq!(admitted, 1000);
}

#[test]
fn a_hundred_thousand_keys_stay_within_the_bound() {
    const CAP: usize = 50_000;
    // Live for an hour: nothing recovers during the test, so the cap must evict.
    let lim = LocalLimiter::new(Rate::new(10, Duration::from_secs(3600)), CAP).expect("valid");
    let t0 = Instant::now();
    let mut max_key_len = 0;
    for i in 0..100_000u32 {
        let key = format!("203.0.113.{}:{i}", i % 256);
        max_key_len = max_key_len.max(key.len());
        // A new key always gets its burst (eviction never refuses a newcomer).
        assert!(lim.check(&key, t0).allowed);
    }
    assert!(lim.len() <= CAP, "len {} > cap {CAP}", lim.len());
    assert!(
        lim.len() >= CAP * 9 / 10,
        "the cap should be used, len {}",
        lim.len()
    );
    let bytes = lim.approx_memory_bytes();
    let bound = lim.memory_bound(max_key_len);
    println!(
        "100000 keys, cap {CAP}: {} tracked, ~{} KiB (bound {} KiB, {} B/key)",
        lim.len(),
        bytes / 1024,
        bound / 1024,
        bytes / lim.len()
    );
    assert!(bytes <= bound, "{bytes} bytes > bound {bound}");
    // The bound stated in the docs: under 64 bytes of table per key plus the key.
    assert!(bound <= CAP * (64 + max_key_len + 16), "bound {bound}");
}

#[test]
fn small_caps_have_a_bound_too() {
    for cap in [1, 7, 100, 1000, 5000, 100_000] {
        let lim = LocalLimiter::new(Rate::new(1, Duration::from_secs(60)), cap).expect("valid");
        assert!(
            lim.max_keys() <= cap && lim.max_keys() >= cap * 9 / 10,
            "cap {cap}"
        );
        let t0 = Instant::now();
        for i in 0..cap * 3 {
            lim.check(&format!("{i:08}"), t0);
        }
        assert!(lim.len() <= lim.max_keys());
        assert!(lim.approx_memory_bytes() <= lim.memory_bound(8));
        let per_key = (lim.memory_bound(8) - std::mem::size_of::<LocalLimiter>()) / lim.max_keys();
        assert!(per_key <= 64 * 4 + 8 + 16, "cap {cap}: {per_key} B/key");
    }
}

#[test]
fn recovered_keys_are_swept() {
    let lim = LocalLimiter::new(Rate::new(10, Duration::from_secs(1)), 10_000).expect("valid");
    let t0 = Instant::now();
    for i in 0..1000 {
        lim.check(&format!("k{i}"), t0);
    }
    // Two requests on one key: it recovers later than the others.
    lim.check("k0", t0);
    assert_eq!(lim.len(), 1000);
    // Not recovered yet (one request = 100 ms of budget).
    assert_eq!(lim.sweep(t0 + Duration::from_millis(99)), 0);
    assert_eq!(lim.sweep(t0 + Duration::from_millis(100)), 999);
    assert_eq!(lim.len(), 1);
    assert_eq!(lim.sweep(t0 + Duration::from_millis(200)), 1);
    assert!(lim.is_empty());
    // A swept key behaves like a new one: full burst.
    let d = lim.check("k0", t0 + Duration::from_millis(200));
    assert_eq!(d.remaining, 9);
}

#[test]
fn a_full_table_reclaims_recovered_keys_before_evicting_live_ones() {
    let lim = LocalLimiter::new(Rate::new(2, Duration::from_secs(1)), 200).expect("valid");
    let t0 = Instant::now();
    // One key that stays busy (not recovered at t1).
    for _ in 0..2 {
        assert!(lim.check("busy", t0 + Duration::from_millis(900)).allowed);
    }
    for i in 0..199 {
        lim.check(&format!("old{i}"), t0);
    }
    assert_eq!(lim.len(), lim.max_keys());
    // At t1 every "old" key has recovered; "busy" has not (TAT = t0 + 1.9 s).
    let t1 = t0 + Duration::from_secs(1);
    for i in 0..150 {
        assert!(lim.check(&format!("new{i}"), t1).allowed);
    }
    assert!(lim.len() <= lim.max_keys());
    // The busy key's state survived: it is still refused.
    assert!(!lim.check("busy", t1).allowed);
}

#[test]
fn hot_path_timing() {
    // Printed, not asserted: timing on a shared 2-core machine is noise-prone.
    let lim = LocalLimiter::new(Rate::new(1_000_000_000, Duration::from_secs(3600)), 100_000)
        .expect("valid");
    let now = Instant::now();
    for i in 0..10_000 {
        lim.check(&format!("key-{i}"), now);
    }
    let keys: Vec<String> = (0..1024).map(|i| format!("key-{i}")).collect();
    let n = 1_000_000;
    let start = Instant::now();
    let mut allowed = 0u64;
    for i in 0..n {
        allowed += u64::from(lim.check(&keys[i % keys.len()], now).allowed);
    }
    let elapsed = start.elapsed();
    assert_eq!(allowed, n as u64);
    println!(
        "local check, existing key, allowed: {:.0} ns/op ({} build)",
        elapsed.as_nanos() as f64 / n as f64,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
}
