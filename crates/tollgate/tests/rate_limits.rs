//! Rate limits and quotas end to end: local limits (through reloads), keys, consumer
//! groups, the listener ceiling, limits shared exactly by two gateway processes through
//! the real Redis, and Redis killed, paused and restarted under `allow` and `deny`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::time::{Duration, Instant};

use tollgate_test_support::redis_server::{RedisServer, SHARED_URL, unique_prefix};

fn limits_config(b: &Backends, redis: &str, prefix: &str) -> String {
    format!(
        r#"
listeners:
  - name: web
    address: "127.0.0.1:0"
    rate_limit: {{ requests: 40, per: 1h, key: header:x-tenant }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
redis: {{ url: "{redis}", prefix: "{prefix}", timeout: 200ms }}
consumers:
  - {{ name: alice, groups: [gold], keys: ["k-alice-0001"] }}
  - {{ name: bob, groups: [free], keys: ["k-bob-00001"] }}
routes:
  - name: local
    match: {{ path: {{ prefix: /local }} }}
    policies:
      rate_limit: {{ requests: 3, per: 1h, key: ip }}
    backends: [{{ service: app }}]
  - name: by-header
    match: {{ path: {{ prefix: /by-header }} }}
    policies:
      rate_limit: {{ requests: 2, per: 1h, key: header:x-user }}
    backends: [{{ service: app }}]
  - name: tiers
    match: {{ path: {{ prefix: /tiers }} }}
    policies:
      key_auth: {{}}
      rate_limit:
        - {{ requests: 2, per: 1h, key: consumer, groups: [free] }}
        - {{ requests: 4, per: 1h, key: consumer, groups: [gold] }}
      quota: {{ requests: 3, per: day, key: consumer, groups: [gold] }}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0)
    )
}

fn status(addr: std::net::SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    get(addr, path, headers)
}

#[test]
fn local_limits_refuse_with_headers_and_keep_counting_through_reloads() {
    let b = Backends::start(&["app"]);
    let prefix = unique_prefix("local");
    let cfg = limits_config(&b, SHARED_URL, &prefix);
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    for remaining in ["2", "1", "0"] {
        let r = status(web, "/local", &[("x-tenant", "a")]);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(remaining));
    }
    let r = status(web, "/local", &[("x-tenant", "a")]);
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["message"], "rate limit exceeded");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(
        (1..=1200).contains(&retry),
        "one request per 20 min: {retry}"
    );
    assert_eq!(r.header("ratelimit-remaining"), Some("0"));

    // A reload that leaves the limit as it was keeps its counters.
    let reloads = gw.count_log("configuration reloaded");
    gw.write_config("tollgate.yaml", &format!("{cfg}\n# touched\n"))
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || {
        gw.count_log("configuration reloaded") > reloads
    }));
    let r = status(web, "/local", &[("x-tenant", "a")]);
    assert_eq!(r.status, 429, "a reload must not hand out a new burst");

    // Each header value is its own key.
    for user in ["u1", "u1", "u2", "u2"] {
        let r = status(web, "/by-header", &[("x-user", user), ("x-tenant", "b")]);
        assert_eq!(r.status, 200, "{user}");
    }
    let r = status(web, "/by-header", &[("x-user", "u1"), ("x-tenant", "b")]);
    assert_eq!(r.status, 429);

    assert!(eventually(Duration::from_secs(5), || {
        gw.access_log()
            .iter()
            .any(|l| l.contains("\"limited_by\":\"route/local/rate_limit/0\""))
    }));
    let metrics = admin(&gw, "/metrics").body;
    assert!(
        metrics.contains(
            "tollgate_rate_limit_decisions_total{limit=\"route/local/rate_limit/0\",key=\"ip\",outcome=\"limited\"} 2"
        ),
        "{metrics}"
    );
}

#[test]
fn groups_pick_the_limit_quotas_count_per_consumer_and_the_listener_is_a_ceiling() {
    let b = Backends::start(&["app"]);
    let prefix = unique_prefix("tiers");
    let gw = gateway(&limits_config(&b, SHARED_URL, &prefix));
    let web = gw.listener("web").unwrap();
    let bob = [("apikey", "k-bob-00001"), ("x-tenant", "t1")];
    assert_eq!(status(web, "/tiers", &bob).status, 200);
    assert_eq!(status(web, "/tiers", &bob).status, 200);
    assert_eq!(status(web, "/tiers", &bob).status, 429, "free: 2");

    // Gold: the quota (3 a day, in Redis) runs out before the rate limit (4).
    let alice = [("apikey", "k-alice-0001"), ("x-tenant", "t1")];
    for left in ["2", "1", "0"] {
        let r = status(web, "/tiers", &alice);
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("x-quota-limit"), Some("3"));
        assert_eq!(r.header("x-quota-remaining"), Some(left));
        let reset: u64 = r.header("x-quota-reset").unwrap().parse().unwrap();
        assert!(reset <= 86_400, "{reset}");
    }
    let r = status(web, "/tiers", &alice);
    assert_eq!(r.status, 429, "{}", r.body);

    // The listener's ceiling (40 per tenant) covers every route, unmatched ones too.
    let mut codes = Vec::new();
    for _ in 0..45 {
        codes.push(status(web, "/nowhere", &[("x-tenant", "t2")]).status);
    }
    assert_eq!(codes.iter().filter(|c| **c == 404).count(), 40);
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 5);
}

fn shared_config(b: &Backends, redis: &str, prefix: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
redis: {{ url: "{redis}", prefix: "{prefix}", timeout: 150ms }}
routes:
  - name: shared
    match: {{ path: {{ prefix: /shared }} }}
    policies:
      rate_limit: {{ requests: 40, per: 1h, key: route, store: redis }}
    backends: [{{ service: app }}]
  - name: open
    match: {{ path: {{ prefix: /open }} }}
    policies:
      rate_limit: {{ requests: 1000, per: 1h, key: ip, store: redis, on_store_failure: allow }}
    backends: [{{ service: app }}]
  - name: closed
    match: {{ path: {{ prefix: /closed }} }}
    policies:
      rate_limit: {{ requests: 1000, per: 1h, key: ip, store: redis, on_store_failure: deny }}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0)
    )
}

#[test]
fn two_gateways_share_one_redis_limit_exactly() {
    let b = Backends::start(&["app"]);
    let prefix = unique_prefix("shared");
    let cfg = shared_config(&b, SHARED_URL, &prefix);
    let one = gateway(&cfg);
    let two = gateway(&cfg);
    let addrs = [one.listener("web").unwrap(), two.listener("web").unwrap()];
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let addr = addrs[i % 2];
            std::thread::spawn(move || {
                (0..20)
                    .map(|_| status(addr, "/shared", &[]).status)
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let codes: Vec<u16> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    assert_eq!(codes.len(), 120);
    assert_eq!(
        codes.iter().filter(|c| **c == 200).count(),
        40,
        "exactly the limit over both replicas: {codes:?}"
    );
    assert_eq!(codes.iter().filter(|c| **c == 429).count(), 80);
}

/// Times a request and returns its status; the gateway must answer within `bound`.
fn timed(addr: std::net::SocketAddr, path: &str, bound: Duration) -> u16 {
    let start = Instant::now();
    let s = status(addr, path, &[]).status;
    let took = start.elapsed();
    assert!(took < bound, "{path} took {took:?} (status {s})");
    s
}

#[test]
fn redis_failures_follow_on_store_failure_without_stalling_and_recover() {
    let b = Backends::start(&["app"]);
    let mut redis = RedisServer::start().unwrap();
    let prefix = unique_prefix("failures");
    let gw = gateway(&shared_config(&b, &redis.url(), &prefix));
    let web = gw.listener("web").unwrap();
    let bound = Duration::from_secs(2);
    assert_eq!(timed(web, "/open", bound), 200);
    assert_eq!(timed(web, "/closed", bound), 200);

    redis.kill();
    for _ in 0..20 {
        assert_eq!(timed(web, "/open", bound), 200, "allow: admitted");
        assert_eq!(timed(web, "/closed", bound), 503, "deny: refused");
    }
    let r = status(web, "/closed", &[]);
    assert_eq!(r.json()["message"], "rate-limit store unavailable");
    assert_eq!(r.header("retry-after"), Some("1"));

    // Paused: DEBUG SLEEP blocks the server; requests still answer within the bound.
    redis.restart().unwrap();
    assert!(eventually(Duration::from_secs(15), || status(
        web,
        "/closed",
        &[]
    )
    .status
        == 200));
    let _sleeper = redis.send("DEBUG SLEEP 2").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(timed(web, "/open", bound), 200);
    assert_eq!(timed(web, "/closed", bound), 503);
    // Back by itself once the pause ends.
    assert!(eventually(Duration::from_secs(15), || status(
        web,
        "/closed",
        &[]
    )
    .status
        == 200));

    let metrics = admin(&gw, "/metrics").body;
    let line = metrics
        .lines()
        .find(|l| {
            l.starts_with("tollgate_rate_limit_decisions_total{limit=\"route/closed/rate_limit/0\"")
                && l.contains("store_failure_denied")
        })
        .unwrap_or("");
    let denied: u64 = line.rsplit(' ').next().unwrap_or("0").parse().unwrap_or(0);
    assert!(denied >= 21, "{line}");
}
