//! The `cache` route policy end to end (docs/content-policies.md): hits and misses,
//! `vary` and response `Vary`, `Cache-Control`, `Authorization`, HEAD, `max_body`, one
//! backend call for a stampede, entries shared by two gateways through Redis, and a
//! Redis outage answered as misses.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

use std::time::Duration;

use tollgate_test_support::redis_server::{RedisServer, SHARED_URL, unique_prefix};

fn config(b: &Backends, redis: &str, prefix: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: app, endpoints: ["{app}"] }}
redis: {{ url: "{redis}", prefix: "{prefix}", timeout: 200ms }}
routes:
  - name: local
    match: {{ path: {{ prefix: /local }} }}
    policies:
      cache: {{ ttl: 60s, max_body: 1KiB, vary: [accept-language] }}
    filters:
      url_rewrite: {{ path: {{ replace_prefix: /hdr }} }}
    backends: [{{ service: app }}]
  - name: shared
    match: {{ path: {{ prefix: /shared }} }}
    policies:
      cache: {{ ttl: 60s, store: redis }}
    filters:
      url_rewrite: {{ path: {{ replace_prefix: /hdr }} }}
    backends: [{{ service: app }}]
"#,
        app = b.ep(0),
    )
}

fn setup() -> (Backends, Gateway, std::net::SocketAddr) {
    let b = Backends::start(&["app"]);
    let gw = gateway(&config(&b, SHARED_URL, &unique_prefix("cache-local")));
    let web = gw.listener("web").unwrap();
    (b, gw, web)
}

fn calls(b: &Backends) -> u64 {
    b.list[0].requests()
}

#[test]
fn miss_then_hit_with_age_head_from_get_and_post_untouched() {
    let (b, _gw, web) = setup();
    let first = get(web, "/local/a?x=1&y=2", &[]);
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let body = first.body.clone();
    let hit = get(web, "/local/a?y=2&x=1", &[]);
    assert_eq!(
        hit.header("x-cache"),
        Some("HIT"),
        "query order is not part of the key"
    );
    assert_eq!(hit.body, body);
    assert!(hit.header("age").is_some_and(|a| a.parse::<u64>().is_ok()));
    assert!(
        hit.header("x-request-id").is_some(),
        "per-request headers are added to hits"
    );
    assert_ne!(hit.header("x-request-id"), first.header("x-request-id"));
    assert_eq!(calls(&b), 1);

    let head = client::request(web, "HEAD", "/local/a?x=1&y=2", &[], "").unwrap();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-cache"), Some("HIT"));
    assert_eq!(
        head.header("content-length"),
        Some(body.len().to_string().as_str())
    );
    assert!(head.body.is_empty());
    assert_eq!(calls(&b), 1);

    for _ in 0..2 {
        let post = client::request(web, "POST", "/local/a?x=1&y=2", &[], "data").unwrap();
        assert_eq!(post.status, 200);
        assert_eq!(post.header("x-cache"), None);
    }
    assert_eq!(calls(&b), 3, "POST always reaches the backend");
}

#[test]
fn route_vary_and_response_vary_keep_one_entry_per_variant() {
    let (b, _gw, web) = setup();
    let en = [("accept-language", "en")];
    let fr = [("accept-language", "fr")];
    assert_eq!(get(web, "/local/v", &en).header("x-cache"), Some("MISS"));
    assert_eq!(get(web, "/local/v", &fr).header("x-cache"), Some("MISS"));
    let en_hit = get(web, "/local/v", &en);
    assert_eq!(en_hit.header("x-cache"), Some("HIT"));
    assert!(en_hit.body.ends_with("lang=en"), "{}", en_hit.body);
    assert!(get(web, "/local/v", &fr).body.ends_with("lang=fr"));
    assert_eq!(calls(&b), 2);

    // The answer itself varies by x-variant: one entry per value.
    let path = "/local/vary:x-variant";
    let a = [("x-variant", "a")];
    let c = [("x-variant", "c")];
    assert_eq!(get(web, path, &a).header("x-cache"), Some("MISS"));
    assert_eq!(get(web, path, &a).header("x-cache"), Some("HIT"));
    assert_eq!(get(web, path, &c).header("x-cache"), Some("MISS"));
    assert_eq!(get(web, path, &c).header("x-cache"), Some("HIT"));
    assert_eq!(get(web, path, &a).header("x-cache"), Some("HIT"));
    assert_eq!(calls(&b), 4);
    // `Vary: *` is never stored.
    for _ in 0..2 {
        assert_eq!(
            get(web, "/local/vary:*", &[]).header("x-cache"),
            Some("MISS")
        );
    }
    assert_eq!(calls(&b), 6);
}

#[test]
fn cache_control_and_cookies_decide_what_is_stored() {
    let (b, _gw, web) = setup();
    for path in [
        "/local/cache-control:no-store",
        "/local/cache-control:private,max-age=60",
        "/local/cache-control:no-cache",
        "/local/set-cookie:s=1",
        "/local/status:500",
    ] {
        let before = calls(&b);
        assert_eq!(
            get(web, path, &[]).header("x-cache"),
            Some("MISS"),
            "{path}"
        );
        assert_eq!(
            get(web, path, &[]).header("x-cache"),
            Some("MISS"),
            "{path}"
        );
        assert_eq!(calls(&b), before + 2, "{path} must not be stored");
    }
    // 404 is stored like 200.
    get(web, "/local/status:404", &[]);
    assert_eq!(
        get(web, "/local/status:404", &[]).header("x-cache"),
        Some("HIT")
    );

    // max-age=1 wins over the route's 60s: stale after it.
    let path = "/local/cache-control:max-age=1";
    assert_eq!(get(web, path, &[]).header("x-cache"), Some("MISS"));
    assert_eq!(get(web, path, &[]).header("x-cache"), Some("HIT"));
    std::thread::sleep(Duration::from_millis(2100));
    let again = get(web, path, &[]);
    assert_eq!(again.header("x-cache"), Some("MISS"), "expired");
}

#[test]
fn authorization_is_not_served_from_or_stored_in_the_cache_unless_public() {
    let (b, _gw, web) = setup();
    let auth = [("authorization", "Bearer t")];
    get(web, "/local/p", &[]);
    assert_eq!(get(web, "/local/p", &[]).header("x-cache"), Some("HIT"));
    let r = get(web, "/local/p", &auth);
    assert_eq!(
        r.header("x-cache"),
        Some("MISS"),
        "a private entry is not served"
    );
    assert_eq!(get(web, "/local/p2", &auth).header("x-cache"), Some("MISS"));
    assert_eq!(
        get(web, "/local/p2", &auth).header("x-cache"),
        Some("MISS"),
        "not stored"
    );
    assert_eq!(calls(&b), 4);
    // `public` makes the authorized answer shareable.
    let public = "/local/cache-control:public";
    get(web, public, &auth);
    assert_eq!(get(web, public, &auth).header("x-cache"), Some("HIT"));
    assert_eq!(get(web, public, &[]).header("x-cache"), Some("HIT"));
}

#[test]
fn a_body_over_max_body_is_delivered_whole_and_not_stored() {
    let (b, _gw, web) = setup();
    for _ in 0..2 {
        let r = get(web, "/local/bytes:5000", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.body.len(), 5000);
        assert_eq!(r.header("x-cache"), Some("MISS"));
    }
    assert_eq!(calls(&b), 2);
}

#[test]
fn a_stampede_of_fifty_misses_reaches_the_backend_once() {
    let (b, gw, web) = setup();
    let threads: Vec<_> = (0..50)
        .map(|_| std::thread::spawn(move || get(web, "/local/delay:300", &[])))
        .collect();
    let replies: Vec<Reply> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(replies.iter().all(|r| r.status == 200));
    let misses = replies
        .iter()
        .filter(|r| r.header("x-cache") == Some("MISS"))
        .count();
    let hits = replies
        .iter()
        .filter(|r| r.header("x-cache") == Some("HIT"))
        .count();
    assert_eq!((misses, hits), (1, 49));
    assert!(replies.iter().all(|r| r.body == replies[0].body));
    assert_eq!(calls(&b), 1, "one backend call for fifty requests");

    let metrics = admin(&gw, "/metrics").body;
    assert!(
        metrics.contains("tollgate_cache_requests_total{route=\"route/local\",result=\"hit\"} 49"),
        "{metrics}"
    );
}

#[test]
fn two_gateways_share_entries_through_redis() {
    let b = Backends::start(&["app"]);
    let prefix = unique_prefix("cache-shared");
    let a = gateway(&config(&b, SHARED_URL, &prefix));
    let c = gateway(&config(&b, SHARED_URL, &prefix));
    let (wa, wc) = (a.listener("web").unwrap(), c.listener("web").unwrap());
    let first = get(wa, "/shared/s", &[]);
    assert_eq!(first.header("x-cache"), Some("MISS"));
    // The entry is written right after the body ends. Wait for it in Redis itself:
    // asking B before it lands would be a miss of B's own, and a second backend call.
    let stored = || {
        let out = std::process::Command::new("redis-cli")
            .args(["-u", SHARED_URL, "--scan", "--pattern"])
            .arg(format!("{prefix}cache:*"))
            .output()
            .unwrap();
        !out.stdout.is_empty()
    };
    assert!(eventually(Duration::from_secs(5), stored));
    assert_eq!(get(wc, "/shared/s", &[]).header("x-cache"), Some("HIT"));
    let hit = get(wc, "/shared/s", &[]);
    assert_eq!(hit.body, first.body);
    assert_eq!(calls(&b), 1);
}

#[test]
fn redis_down_is_a_miss_not_an_error() {
    let b = Backends::start(&["app"]);
    let mut redis = RedisServer::start().unwrap();
    let gw = gateway(&config(&b, &redis.url(), &unique_prefix("cache-down")));
    let web = gw.listener("web").unwrap();
    get(web, "/shared/d", &[]);
    assert!(eventually(Duration::from_secs(5), || get(
        web,
        "/shared/d",
        &[]
    )
    .header("x-cache")
        == Some("HIT")));
    redis.kill();
    for _ in 0..5 {
        let r = get(web, "/shared/d", &[]);
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-cache"), Some("MISS"));
    }
    let metrics = admin(&gw, "/metrics").body;
    assert!(metrics.contains("tollgate_cache_store_errors_total{route=\"route/shared\"}"));
    assert!(!metrics.contains("tollgate_cache_store_errors_total{route=\"route/shared\"} 0"));
}

#[test]
fn entries_survive_a_reload_and_a_changed_cache_block_starts_clean() {
    let b = Backends::start(&["app"]);
    let prefix = unique_prefix("cache-reload");
    let cfg = |marker: &str, ttl: &str| {
        config(&b, SHARED_URL, &prefix).replace("ttl: 60s, max_body: 1KiB", ttl)
            + &format!(
                "  - name: marker\n    match: {{ path: {{ exact: /marker }} }}\n    respond: {{ status: 200, body: \"{marker}\" }}\n"
            )
    };
    let gw = gateway(&cfg("v1", "ttl: 60s, max_body: 1KiB"));
    let web = gw.listener("web").unwrap();
    get(web, "/local/r", &[]);
    assert_eq!(get(web, "/local/r", &[]).header("x-cache"), Some("HIT"));

    // Another route changes: the store and the entry are kept.
    gw.write_config("tollgate.yaml", &cfg("v2", "ttl: 60s, max_body: 1KiB"))
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || get(
        web,
        "/marker",
        &[]
    )
    .body
        == "v2"));
    assert_eq!(get(web, "/local/r", &[]).header("x-cache"), Some("HIT"));
    assert_eq!(calls(&b), 1);

    // The route's cache block changes: it starts clean.
    gw.write_config("tollgate.yaml", &cfg("v3", "ttl: 61s, max_body: 1KiB"))
        .unwrap();
    assert!(eventually(Duration::from_secs(5), || get(
        web,
        "/marker",
        &[]
    )
    .body
        == "v3"));
    assert_eq!(get(web, "/local/r", &[]).header("x-cache"), Some("MISS"));
    assert_eq!(get(web, "/local/r", &[]).header("x-cache"), Some("HIT"));
    assert_eq!(calls(&b), 2);
}
