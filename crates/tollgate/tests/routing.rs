//! Routing end to end: precedence, hosts, rewrites, redirects, weights, errors, ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn config(b: &Backends) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: a, endpoints: ["{a}"] }}
  - {{ name: b, endpoints: ["{b}"] }}
  - {{ name: c, endpoints: ["{c}"] }}
routes:
  - name: prefix-orders
    match: {{ path: {{ prefix: /orders }} }}
    backends: [{{ service: a }}]
  - name: exact-orders
    match: {{ path: {{ exact: /orders/special }} }}
    backends: [{{ service: b }}]
  - name: canary
    match: {{ path: {{ prefix: /orders }}, headers: [{{ name: x-env, value: canary }}] }}
    backends: [{{ service: c }}]
  - name: post-orders
    match: {{ path: {{ prefix: /orders }}, methods: [POST] }}
    backends: [{{ service: b }}]
  - name: query-v2
    match: {{ path: {{ prefix: /orders }}, query: [{{ name: v, value: "2" }}] }}
    backends: [{{ service: c }}]
  - name: strip
    match: {{ path: {{ prefix: /api/v1 }} }}
    filters:
      strip_prefix: true
      request_headers: {{ set: {{ x-added: yes }}, remove: [x-secret] }}
      response_headers: {{ add: {{ x-gw: tollgate }} }}
    backends: [{{ service: a }}]
  - name: rewrite
    match: {{ path: {{ prefix: /old }} }}
    filters: {{ url_rewrite: {{ hostname: internal.example, path: {{ replace_prefix: /new }} }} }}
    backends: [{{ service: a }}]
  - name: redirect
    match: {{ path: {{ prefix: /shop }} }}
    filters: {{ redirect: {{ scheme: https, path: {{ replace_prefix: /store }}, status: 301 }} }}
  - name: host-only
    hosts: ["*.example.com"]
    backends: [{{ service: c }}]
  - name: regex
    match: {{ path: {{ regex: "/items/[0-9]+" }} }}
    backends: [{{ service: b }}]
"#,
        a = b.ep(0),
        b = b.ep(1),
        c = b.ep(2)
    )
}

fn backend_of(r: &Reply) -> String {
    r.json()["backend"].as_str().unwrap_or("").to_owned()
}

#[test]
fn precedence_and_matching() {
    let b = Backends::start(&["a", "b", "c"]);
    let gw = gateway(&config(&b));
    let web = gw.listener("web").unwrap();
    assert_eq!(backend_of(&get(web, "/orders/1", &[])), "a", "prefix");
    assert_eq!(
        backend_of(&get(web, "/orders/special", &[])),
        "b",
        "exact beats prefix"
    );
    assert_eq!(
        backend_of(&get(web, "/orders/1", &[("x-env", "canary")])),
        "c",
        "header match beats plain prefix"
    );
    let post = client::request(web, "POST", "/orders", &[], "{}").unwrap();
    assert_eq!(backend_of(&post), "b", "method match");
    assert_eq!(
        backend_of(&get(web, "/orders?v=2", &[])),
        "c",
        "query match"
    );
    assert_eq!(backend_of(&get(web, "/items/42", &[])), "b", "regex");
    assert_eq!(get(web, "/items/x", &[]).status, 404, "regex is anchored");
    assert_eq!(
        get(web, "/ordersx", &[]).status,
        404,
        "prefix is segment-wise"
    );
    assert_eq!(
        backend_of(&get(web, "/anything", &[("host", "shop.example.com")])),
        "c",
        "wildcard host"
    );
}

#[test]
fn filters_rewrites_and_redirects() {
    let b = Backends::start(&["a", "b", "c"]);
    let gw = gateway(&config(&b));
    let web = gw.listener("web").unwrap();

    let r = get(web, "/api/v1/users?id=7", &[("x-secret", "s")]);
    let echo = r.json();
    assert_eq!(echo["path"], "/users", "strip_prefix");
    assert_eq!(echo["query"], "id=7");
    assert_eq!(echo["headers"]["x-added"][0], "yes");
    assert!(echo["headers"]["x-secret"].is_null(), "removed header");
    assert_eq!(r.header("x-gw"), Some("tollgate"), "response header added");

    let r = get(web, "/old/thing", &[]);
    assert_eq!(r.json()["path"], "/new/thing");
    assert_eq!(r.json()["headers"]["host"][0], "internal.example");

    let r = get(web, "/shop/item?x=1", &[("host", "store.test:8080")]);
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://store.test/store/item?x=1")
    );
}

#[test]
fn path_normalisation_is_applied_before_matching_and_forwarded() {
    let b = Backends::start(&["a", "b", "c"]);
    let gw = gateway(&config(&b));
    let web = gw.listener("web").unwrap();
    let r = get(web, "/x/../orders//special", &[]);
    assert_eq!(backend_of(&r), "b", "normalised to /orders/special");
    assert_eq!(r.json()["path"], "/orders/special");
    let r = get(web, "/%6Frders/special", &[]);
    assert_eq!(backend_of(&r), "b", "unreserved percent-decoding");
    let r = get(web, "/orders%2Fspecial", &[]);
    assert_eq!(r.status, 400, "encoded slash refused: {r:?}");
    assert!(r.json()["message"].as_str().unwrap_or("").contains("path"));
}

#[test]
fn errors_have_one_json_shape_and_request_ids() {
    let b = Backends::start(&["a", "b", "c"]);
    let cfg = config(&b);
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let r = get(web, "/nothing-here", &[]);
    assert_eq!(r.status, 404);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["message"], "no route matched");
    let id = j["request_id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("x-request-id"), Some(id.as_str()));
    assert_eq!(id.len(), 32);

    // A valid incoming id is kept and forwarded; an invalid one is replaced.
    let r = get(web, "/orders/1", &[("x-request-id", "my-id-1")]);
    assert_eq!(r.header("x-request-id"), Some("my-id-1"));
    assert_eq!(r.json()["headers"]["x-request-id"][0], "my-id-1");
    let long = "z".repeat(200);
    let r = get(web, "/orders/1", &[("x-request-id", &long)]);
    assert_ne!(r.header("x-request-id"), Some(long.as_str()));
}

#[test]
fn forwarded_headers_follow_trusted_proxies() {
    let b = Backends::start(&["a", "b", "c"]);
    let untrusted = gateway(&config(&b));
    let web = untrusted.listener("web").unwrap();
    let echo = get(
        web,
        "/orders/1",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .json();
    assert_eq!(
        echo["headers"]["x-forwarded-for"][0], "127.0.0.1",
        "untrusted values replaced"
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "http");
    assert_eq!(echo["headers"]["x-forwarded-host"][0], "test.local");

    let trusted = gateway(&format!("trusted_proxies: [127.0.0.0/8]\n{}", config(&b)));
    let web = trusted.listener("web").unwrap();
    let echo = get(
        web,
        "/orders/1",
        &[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
        ],
    )
    .json();
    assert_eq!(
        echo["headers"]["x-forwarded-for"][0], "6.6.6.6, 127.0.0.1",
        "trusted: appended"
    );
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
}

#[test]
fn weights_split_traffic() {
    let b = Backends::start(&["a", "b"]);
    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - {{ name: a, endpoints: ["{}"] }}
  - {{ name: b, endpoints: ["{}"] }}
routes:
  - {{ name: split, backends: [{{ service: a, weight: 80 }}, {{ service: b, weight: 20 }}] }}
  - {{ name: zero, match: {{ path: {{ prefix: /zero }} }}, backends: [{{ service: a, weight: 0 }}] }}
"#,
        b.ep(0),
        b.ep(1)
    );
    let gw = gateway(&cfg);
    let web = gw.listener("web").unwrap();
    let mut a = 0;
    for _ in 0..200 {
        if backend_of(&get(web, "/", &[])) == "a" {
            a += 1;
        }
    }
    assert!((130..=190).contains(&a), "80/20 split gave {a}/200 to a");
    let r = get(web, "/zero", &[]);
    assert_eq!(r.status, 500, "all weights zero: 500 {r:?}");
}
