//! Shared limits against a real Redis: exactness across replicas, atomicity of multi-check
//! calls, quotas and their rollover, TTLs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{TestRedis, admin, store, unique_prefix};
use tollgate_ratelimit::{Check, RedisStore, Window};

/// All keys under `prefix` with their PTTL; deletes them (tests clean up after themselves).
fn keys_with_ttl(url: &str, prefix: &str) -> Vec<(String, i64)> {
    let mut c = admin(url);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut c)
        .expect("KEYS");
    keys.into_iter()
        .map(|k| {
            let ttl: i64 = redis::cmd("PTTL").arg(&k).query(&mut c).expect("PTTL");
            (k, ttl)
        })
        .collect()
}

fn cleanup(url: &str, prefix: &str) {
    let mut c = admin(url);
    for (k, _) in keys_with_ttl(url, prefix) {
        let _: i64 = redis::cmd("DEL").arg(k).query(&mut c).expect("DEL");
    }
}

fn hour(n: u64) -> tollgate_ratelimit::Rate {
    tollgate_ratelimit::Rate::new(n, Duration::from_secs(3600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_is_exact_across_two_replicas() {
    let redis = TestRedis::get();
    let prefix = unique_prefix("replicas");
    // Two independent stores = two gateway replicas, each with its own connection. A
    // generous timeout: an error would leave the count unknown, and this test is about
    // exactness, not latency.
    let mk = || {
        Arc::new(
            RedisStore::new(
                &redis.url,
                tollgate_ratelimit::StoreOptions {
                    timeout: Duration::from_secs(5),
                    prefix: prefix.clone(),
                    ..Default::default()
                },
            )
            .expect("store"),
        )
    };
    let replicas = [mk(), mk()];
    let admitted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for t in 0..16 {
        let store = Arc::clone(&replicas[t % 2]);
        let admitted = Arc::clone(&admitted);
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let out = store
                    .check(&[Check::Rate {
                        key: "consumer-a",
                        rate: hour(57),
                    }])
                    .await
                    .expect("redis answers");
                if out.allowed {
                    admitted.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(
        admitted.load(Ordering::Relaxed),
        57,
        "400 attempts, limit 57"
    );
    let keys = keys_with_ttl(&redis.url, &prefix);
    assert_eq!(keys.len(), 1);
    // The key expires when the bucket would be full again: at most an hour.
    assert!(keys[0].1 > 0 && keys[0].1 <= 3_600_000, "ttl {}", keys[0].1);
    cleanup(&redis.url, &prefix);
}

#[tokio::test]
async fn rate_decisions_and_headers() {
    let redis = TestRedis::get();
    let prefix = unique_prefix("rate");
    let s = store(&redis.url, &prefix);
    let check = [Check::Rate {
        key: "c",
        rate: hour(3),
    }];
    for expected in [2, 1, 0] {
        let out = s.check(&check).await.expect("answer");
        assert!(out.allowed);
        assert_eq!(out.decisions[0].remaining, expected);
        assert_eq!(out.decisions[0].limit, 3);
    }
    let out = s.check(&check).await.expect("answer");
    assert!(!out.allowed);
    let d = out.limiting().expect("one decision");
    let retry = d.retry_after.expect("refused has retry_after");
    // Emission interval is 20 min; a little of it has passed since the first request.
    assert!(
        retry <= Duration::from_secs(1200) && retry > Duration::from_secs(1190),
        "{retry:?}"
    );
    assert!(d.reset <= Duration::from_secs(3600) && d.reset > Duration::from_secs(3590));
    let headers: Vec<_> = d.headers().collect();
    assert_eq!(headers[0], ("RateLimit-Limit", "3".to_string()));
    assert_eq!(headers[1], ("RateLimit-Remaining", "0".to_string()));
    assert_eq!(headers[3].0, "Retry-After");
    assert!(s.is_healthy());
    assert_eq!(s.failures(), 0);
    cleanup(&redis.url, &prefix);
}

#[tokio::test]
async fn a_refused_check_consumes_nothing_from_the_others() {
    let redis = TestRedis::get();
    let prefix = unique_prefix("atomic");
    let s = store(&redis.url, &prefix);
    let now = SystemTime::now();
    let tight = Check::Rate {
        key: "c",
        rate: hour(1),
    };
    let loose = Check::Rate {
        key: "c",
        rate: hour(5),
    };
    let quota = Check::Quota {
        key: "c",
        limit: 10,
        window: Window::Day,
        now,
    };
    let out = s.check(&[tight, loose, quota]).await.expect("answer");
    assert!(out.allowed);
    let remaining: Vec<u64> = out.decisions.iter().map(|d| d.remaining).collect();
    assert_eq!(remaining, [0, 4, 9]);
    // `tight` is spent: the request is refused, and neither `loose` nor the quota move.
    for _ in 0..20 {
        let out = s.check(&[tight, loose, quota]).await.expect("answer");
        assert!(!out.allowed);
        let d = &out.decisions;
        assert!(!d[0].allowed && d[1].allowed && d[2].allowed);
        assert_eq!([d[1].remaining, d[2].remaining], [4, 9]);
        assert_eq!(out.limiting(), Some(&d[0]));
    }
    // The loose rate still has exactly its 4 requests.
    for expected in [3, 2, 1, 0] {
        let out = s.check(&[loose]).await.expect("answer");
        assert!(out.allowed);
        assert_eq!(out.decisions[0].remaining, expected);
    }
    assert!(!s.check(&[loose]).await.expect("answer").allowed);
    cleanup(&redis.url, &prefix);
}

/// The next boundary of `window` after the real current time. Quota counters expire at
/// their window's end by the Redis clock, so injected times are taken near a *future*
/// boundary (a past window's counter is already expired: correct, but not testable).
fn next_boundary(window: Window) -> SystemTime {
    let b = window.bounds(SystemTime::now()).expect("bounds");
    UNIX_EPOCH + Duration::from_millis(b.end_ms)
}

#[tokio::test]
async fn quota_counts_and_rolls_over_at_the_month_boundary() {
    let redis = TestRedis::get();
    let prefix = unique_prefix("quota-month");
    let s = store(&redis.url, &prefix);
    let boundary = next_boundary(Window::Month);
    let before = boundary - Duration::from_secs(1);
    let q = |now| {
        [Check::Quota {
            key: "consumer",
            limit: 3,
            window: Window::Month,
            now,
        }]
    };
    for expected in [2, 1, 0] {
        let out = s.check(&q(before)).await.expect("answer");
        assert!(out.allowed);
        assert_eq!(out.decisions[0].remaining, expected);
        assert_eq!(out.decisions[0].reset, Duration::from_secs(1));
    }
    let out = s.check(&q(before)).await.expect("answer");
    assert!(!out.allowed);
    assert_eq!(out.decisions[0].retry_after, Some(Duration::from_secs(1)));
    let headers: Vec<_> = out.decisions[0].headers().collect();
    assert!(headers.contains(&("RateLimit-Reset", "1".to_string())));
    assert!(headers.contains(&("Retry-After", "1".to_string())));
    // One second later: a new month, a new counter.
    let out = s.check(&q(boundary)).await.expect("answer");
    assert!(out.allowed);
    assert_eq!(out.decisions[0].remaining, 2);
    let next = Window::Month.bounds(boundary).expect("bounds");
    assert_eq!(
        out.decisions[0].reset,
        Duration::from_millis(next.end_ms - next.start_ms)
    );
    // Two counters, each with a TTL (window end + grace, by the Redis clock).
    let keys = keys_with_ttl(&redis.url, &prefix);
    assert_eq!(keys.len(), 2, "{keys:?}");
    let max_ttl = (next.end_ms + 60_000).saturating_sub(
        u64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis(),
        )
        .expect("ms"),
    );
    for (k, ttl) in &keys {
        assert!(*ttl > 0 && *ttl as u64 <= max_ttl + 5_000, "{k}: ttl {ttl}");
    }
    cleanup(&redis.url, &prefix);
}

#[tokio::test]
async fn quota_rolls_over_at_the_day_boundary_and_refusals_do_not_count() {
    let redis = TestRedis::get();
    let prefix = unique_prefix("quota-day");
    let s = store(&redis.url, &prefix);
    let boundary = next_boundary(Window::Day);
    let q = |now| {
        [Check::Quota {
            key: "k",
            limit: 1,
            window: Window::Day,
            now,
        }]
    };
    let late = boundary - Duration::from_millis(1);
    assert!(s.check(&q(late)).await.expect("answer").allowed);
    for _ in 0..5 {
        assert!(!s.check(&q(late)).await.expect("answer").allowed);
    }
    let mut c = admin(&redis.url);
    let keys = keys_with_ttl(&redis.url, &prefix);
    assert_eq!(keys.len(), 1);
    let count: i64 = redis::cmd("GET")
        .arg(&keys[0].0)
        .query(&mut c)
        .expect("GET");
    assert_eq!(count, 1, "refused requests must not be counted");
    let out = s.check(&q(boundary)).await.expect("answer");
    assert!(out.allowed);
    assert_eq!(out.decisions[0].reset, Duration::from_secs(86_400));
    cleanup(&redis.url, &prefix);
}

#[tokio::test]
async fn invalid_checks_are_rejected_without_touching_redis() {
    let redis = TestRedis::get();
    let s = store(&redis.url, &unique_prefix("invalid"));
    let err = s
        .check(&[Check::Rate {
            key: "k",
            rate: hour(0),
        }])
        .await
        .expect_err("zero requests");
    assert!(!err.is_store_failure());
    let err = s
        .check(&[Check::Quota {
            key: "k",
            limit: 5,
            window: Window::Fixed(Duration::ZERO),
            now: SystemTime::now(),
        }])
        .await
        .expect_err("zero window");
    assert!(!err.is_store_failure());
    assert!(s.is_healthy());
    assert!(s.check(&[]).await.expect("no checks").allowed);
}
