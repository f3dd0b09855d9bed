//! Failure behaviour against a private `redis-server` that the test kills, puts to sleep,
//! pauses and restarts: bounded errors, fail-fast backoff, self-recovery, NOSCRIPT, and
//! one round trip per request.

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{RedisServer, admin, unique_prefix};
use tollgate_ratelimit::{Check, Rate, RedisStore, StoreError, StoreOptions, Window};

const TIMEOUT: Duration = Duration::from_millis(100);
/// What "bounded" means in assertions: far above the timeout, far below a stall.
const BOUND: Duration = Duration::from_millis(500);

fn store(url: &str) -> RedisStore {
    store_with_backoff(url, Duration::from_millis(200))
}

fn store_with_backoff(url: &str, backoff: Duration) -> RedisStore {
    RedisStore::new(
        url,
        StoreOptions {
            timeout: TIMEOUT,
            prefix: unique_prefix("fail"),
            backoff,
            max_backoff: backoff * 4,
            ..Default::default()
        },
    )
    .expect("store")
}

const CHECK: [Check<'static>; 1] = [Check::Rate {
    key: "k",
    rate: Rate::new(1_000_000, Duration::from_secs(3600)),
}];

/// Calls until one succeeds; panics after `within`.
async fn until_recovered(s: &RedisStore, within: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let t = Instant::now();
        let r = s.check(&CHECK).await;
        assert!(t.elapsed() < BOUND, "a call took {:?}", t.elapsed());
        if r.is_ok() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "no recovery within {within:?}: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn killed_server_fails_fast_then_recovers_by_itself() {
    let mut server = RedisServer::start();
    // A long first backoff, so that the burst below surely runs inside it even on a
    // loaded machine.
    let s = store_with_backoff(&server.url(), Duration::from_secs(1));
    assert!(s.check(&CHECK).await.is_ok());
    server.kill();

    let t = Instant::now();
    let err = s.check(&CHECK).await.expect_err("server is gone");
    assert!(t.elapsed() < BOUND, "first failure took {:?}", t.elapsed());
    assert!(err.is_store_failure());
    assert!(!s.is_healthy());

    // During the backoff calls fail without a network attempt: a burst is instant.
    let t = Instant::now();
    for _ in 0..1000 {
        match s.check(&CHECK).await {
            Err(StoreError::Backoff { retry_in }) => assert!(retry_in <= Duration::from_secs(1)),
            other => panic!("expected a fast failure, got {other:?}"),
        }
    }
    assert!(
        t.elapsed() < BOUND,
        "1000 fast failures took {:?}",
        t.elapsed()
    );
    assert!(s.failures() >= 1001);

    // Still down after the backoff expired: probes fail, every call stays bounded.
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(2500) {
        let c = Instant::now();
        assert!(s.check(&CHECK).await.is_err());
        assert!(c.elapsed() < BOUND, "a call took {:?}", c.elapsed());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    server.restart();
    let took = until_recovered(&s, Duration::from_secs(10)).await;
    println!("recovered {took:?} after restart");
    assert!(s.is_healthy());
}

#[tokio::test]
async fn store_created_while_redis_is_down_connects_later() {
    let mut server = RedisServer::start();
    server.kill();
    let s = store(&server.url());
    let t = Instant::now();
    assert!(s.check(&CHECK).await.is_err());
    assert!(t.elapsed() < BOUND);
    server.restart();
    until_recovered(&s, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_sleeping_server_times_out_within_the_bound_and_recovers() {
    let server = RedisServer::start();
    let s = store(&server.url());
    assert!(s.check(&CHECK).await.is_ok());
    let url = server.url();
    // DEBUG SLEEP blocks the whole server (like a long fork or a slow command).
    let sleeper = std::thread::spawn(move || {
        let mut c = admin(&url);
        let _: redis::RedisResult<String> = redis::cmd("DEBUG").arg("SLEEP").arg(2).query(&mut c);
    });
    // Call until the sleep is over: every call returns promptly (success before the
    // server fell asleep, then timeouts or fast failures), and at least one timed out.
    let mut timeouts = 0;
    while !sleeper.is_finished() {
        let c = Instant::now();
        let r = s.check(&CHECK).await;
        assert!(c.elapsed() < BOUND, "a call took {:?}", c.elapsed());
        if matches!(r, Err(StoreError::Timeout(_))) {
            timeouts += 1;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(timeouts >= 1);
    sleeper.join().expect("sleeper");
    until_recovered(&s, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_paused_server_times_out_within_the_bound_and_recovers() {
    let server = RedisServer::start();
    let s = store(&server.url());
    assert!(s.check(&CHECK).await.is_ok());
    let mut c = admin(&server.url());
    let _: String = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(3000)
        .arg("ALL")
        .query(&mut c)
        .expect("CLIENT PAUSE");
    let t = Instant::now();
    assert!(s.check(&CHECK).await.is_err());
    assert!(t.elapsed() < BOUND, "took {:?}", t.elapsed());
    until_recovered(&s, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn script_flush_is_handled_transparently() {
    let server = RedisServer::start();
    let s = store(&server.url());
    assert!(s.check(&CHECK).await.is_ok());
    let mut c = admin(&server.url());
    let _: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query(&mut c)
        .expect("flush");
    let out = s.check(&CHECK).await.expect("reloaded transparently");
    assert!(out.allowed);
    assert_eq!(out.decisions[0].remaining, 1_000_000 - 2);
    assert_eq!(s.failures(), 0);
}

/// Reads `calls=N` of one command from INFO commandstats (0 when absent).
fn calls(info: &str, command: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn several_limits_and_a_quota_take_one_round_trip() {
    let server = RedisServer::start();
    let s = store(&server.url());
    let now = SystemTime::now();
    let checks = [
        Check::Rate {
            key: "consumer",
            rate: Rate::new(100, Duration::from_secs(60)),
        },
        Check::Rate {
            key: "consumer",
            rate: Rate::new(20, Duration::from_secs(1)),
        },
        Check::Quota {
            key: "consumer",
            limit: 10_000,
            window: Window::Month,
            now,
        },
    ];
    // The first call loads the script (NOSCRIPT, SCRIPT LOAD); measure a warm one.
    assert!(s.check(&checks).await.expect("answer").allowed);
    let mut c = admin(&server.url());
    let _: String = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut c)
        .expect("reset");
    let n = 200;
    let t = Instant::now();
    for _ in 0..n {
        s.check(&checks).await.expect("answer");
    }
    let per_call = t.elapsed() / n;
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut c)
        .expect("info");
    assert_eq!(calls(&info, "evalsha"), u64::from(n), "{info}");
    assert_eq!(calls(&info, "eval"), 0);
    assert_eq!(calls(&info, "script|load"), 0);
    println!("redis check with 2 rates + 1 quota: {per_call:?} per call (one EVALSHA)");
}

/// A "Redis" that accepts connections and never answers (hung process, full network
/// buffer): calls stay bounded, and the backoff keeps connection attempts few.
#[tokio::test]
async fn an_unresponsive_server_is_not_hammered() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    // Accepts and holds every connection, reads nothing, answers nothing. The thread
    // ends with the test process.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            counter.fetch_add(1, Ordering::Relaxed);
            held.push(conn);
        }
    });
    let s = store(&format!("redis://127.0.0.1:{port}"));
    let start = Instant::now();
    let mut calls = 0;
    while start.elapsed() < Duration::from_secs(2) {
        let c = Instant::now();
        let r = s.check(&CHECK).await;
        assert!(r.as_ref().is_err_and(StoreError::is_store_failure), "{r:?}");
        assert!(c.elapsed() < BOUND, "a call took {:?}", c.elapsed());
        calls += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connections = accepted.load(Ordering::Relaxed);
    println!("{calls} calls in 2 s against a silent server: {connections} connections");
    assert!(calls >= 50, "{calls}");
    // Backoff 200 ms doubling to 800 ms: about 5 probes in 2 s; allow plenty of slack.
    assert!(
        connections <= 15,
        "{connections} connections for {calls} calls"
    );
}
