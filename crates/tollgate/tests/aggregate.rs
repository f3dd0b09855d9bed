//! Path templates and aggregation end to end (docs/content-policies.md): `{name}`
//! captures fill rewrite paths and aggregation part paths; an aggregate makes its calls at
//! once and merges their JSON; optional parts that fail become `null` with an `errors`
//! entry, a required one that fails makes the answer 502 in the gateway's error shape.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

fn config(users: &str, orders: &str) -> String {
    format!(
        r#"
listeners:
  - {{ name: web, address: "127.0.0.1:0" }}
services:
  - {{ name: users, endpoints: ["{users}"] }}
  - {{ name: orders, endpoints: ["{orders}"] }}
  - {{ name: gone, endpoints: ["{dead}"] }}
routes:
  - name: me
    match: {{ path: {{ exact: /users/me }} }}
    respond: {{ status: 200, body: "me" }}
  - name: user
    match: {{ path: {{ template: "/users/{{id}}" }} }}
    filters: {{ url_rewrite: {{ path: {{ replace_full: "/v2/accounts/{{id}}/profile" }} }} }}
    backends: [{{ service: users }}]
  - name: dashboard
    match: {{ path: {{ template: "/api/dashboard/{{user}}" }} }}
    aggregate:
      timeout: 2s
      forward_headers: [accept-language, x-consumer]
      parts:
        - {{ name: profile, service: users, path: "/users/{{user}}" }}
        - {{ name: orders, service: orders, path: "/orders?user={{user}}", optional: true }}
  - name: together
    match: {{ path: {{ exact: /together }} }}
    aggregate:
      parts:
        - {{ name: a, service: users, path: "/barrier/together/3" }}
        - {{ name: b, service: orders, path: "/barrier/together/3" }}
        - {{ name: c, service: users, path: "/barrier/together/3" }}
  - name: degraded
    match: {{ path: {{ template: "/degraded/{{user}}" }} }}
    aggregate:
      timeout: 300ms
      parts:
        - {{ name: profile, service: users, path: "/users/{{user}}" }}
        - {{ name: slow, service: orders, path: "/delay/3000", optional: true }}
        - {{ name: broken, service: orders, path: "/status/503", optional: true }}
        - {{ name: html, service: orders, path: "/bytes/10", optional: true }}
        - {{ name: down, service: gone, path: "/x", optional: true }}
  - name: required-fails
    match: {{ path: {{ exact: /required }} }}
    aggregate:
      parts:
        - {{ name: fine, service: users, path: "/ok" }}
        - {{ name: profile, service: orders, path: "/status/500" }}
  - name: required-down
    match: {{ path: {{ exact: /required-down }} }}
    aggregate:
      parts:
        - {{ name: profile, service: gone, path: "/x" }}
"#,
        dead = dead_port(),
    )
}

fn setup() -> (Backends, Gateway, std::net::SocketAddr) {
    let b = Backends::start(&["users", "orders"]);
    let gw = gateway(&config(&b.ep(0), &b.ep(1)));
    let web = gw.listener("web").unwrap();
    (b, gw, web)
}

#[test]
fn templates_capture_and_fill_rewrites() {
    let (_b, _gw, web) = setup();
    let r = get(web, "/users/alice", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["path"], "/v2/accounts/alice/profile");
    // An exact route outranks the template.
    let r = get(web, "/users/me", &[]);
    assert_eq!(r.body, "me");
    // A variable is one segment: more segments, or none, do not match.
    assert_eq!(get(web, "/users/alice/extra", &[]).status, 404);
    assert_eq!(get(web, "/users/", &[]).status, 404);
}

#[test]
fn aggregate_merges_parts_and_fills_variables() {
    let (b, _gw, web) = setup();
    let r = get(
        web,
        "/api/dashboard/al%20ice",
        &[("accept-language", "fr"), ("x-not-forwarded", "1")],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let j = r.json();
    assert_eq!(j["profile"]["backend"], "users");
    assert_eq!(j["profile"]["path"], "/users/al%20ice");
    assert_eq!(j["orders"]["backend"], "orders");
    assert_eq!(j["orders"]["query"], "user=al%20ice");
    assert!(j.get("errors").is_none(), "{j}");
    // The configured headers and the request id travel; others do not.
    let h = &j["profile"]["headers"];
    assert_eq!(h["accept-language"][0], "fr");
    assert!(h.get("x-not-forwarded").is_none(), "{h}");
    assert_eq!(
        h["x-request-id"][0].as_str(),
        r.header("x-request-id"),
        "the parts carry the client's request id"
    );
    assert_eq!(b.list[0].requests(), 1);
    assert_eq!(b.list[1].requests(), 1);
    // Parts are reads: other methods are refused before any call.
    let r = client::request(web, "POST", "/api/dashboard/x", &[], "{}").unwrap();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    assert_eq!(b.list[0].requests(), 1);
}

#[test]
fn aggregate_calls_run_at_the_same_time() {
    let (_b, _gw, web) = setup();
    // Each part is answered only once all three are waiting at the backends: one after
    // another they would time out (504) and the required parts would fail the answer.
    let r = get(web, "/together", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    for part in ["a", "b", "c"] {
        assert_eq!(j[part]["path"], "/barrier/together/3", "{j}");
    }
}

#[test]
fn optional_parts_that_fail_are_null_with_errors() {
    let (_b, _gw, web) = setup();
    let r = get(web, "/degraded/bob", &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["profile"]["path"], "/users/bob");
    for part in ["slow", "broken", "html", "down"] {
        assert!(j[part].is_null(), "{part}: {j}");
    }
    let e = &j["errors"];
    assert_eq!(e["slow"]["status"], 504, "{e}");
    assert_eq!(e["broken"]["status"], 503, "{e}");
    assert_eq!(e["html"]["status"], 502, "{e}");
    assert!(
        e["html"]["message"].as_str().unwrap().contains("not JSON"),
        "{e}"
    );
    assert_eq!(e["down"]["status"], 502, "{e}");
    assert!(e.get("profile").is_none());
}

#[test]
fn a_required_part_that_fails_makes_a_502() {
    let (_b, _gw, web) = setup();
    for path in ["/required", "/required-down"] {
        let r = get(web, path, &[]);
        assert_eq!(r.status, 502, "{path}: {}", r.body);
        let j = r.json();
        let msg = j["message"].as_str().unwrap();
        assert!(msg.contains("\"profile\""), "{msg}");
        assert_eq!(j["request_id"].as_str(), r.header("x-request-id"));
    }
}
