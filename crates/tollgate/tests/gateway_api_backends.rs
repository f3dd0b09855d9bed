//! Gateway API backendRefs end to end: weighted splits (an invalid entry answering 500
//! for its share), per-backend filters, mirrors, request and backend timeouts,
//! ReferenceGrants, invalid references and EndpointSlice readiness.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::time::Duration;

use common::k8s::{Ports, ROUTE_HEAD, abc, backend, serve, service, svc};
use common::*;

#[test]
fn weighted_backend_refs_split_traffic() {
    let b = Backends::start(&["a", "b", "c"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{svcs}{ROUTE_HEAD}
metadata: {{ name: split }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - backendRefs:
    - {{ name: a, port: 80, weight: 3 }}
    - {{ name: b, port: 80, weight: 1 }}
    - {{ name: c, port: 80, weight: 0 }}
",
            svcs = abc(&b)
        )
    });
    let n = 400;
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..n {
        *counts
            .entry(backend(&get(Ports::addr(p.http), "/", &[])))
            .or_insert(0) += 1;
    }
    let a = counts.get("a").copied().unwrap_or(0);
    let bb = counts.get("b").copied().unwrap_or(0);
    assert_eq!(a + bb, n, "only a and b answer: {counts:?}");
    // 3:1 is 300/100; the bound is many standard deviations wide (sd ~ 8.7).
    assert!((240..=360).contains(&a), "3:1 split gave {counts:?}");
    assert_eq!(b.list[2].requests(), 0, "weight 0 gets nothing");
}

#[test]
fn request_mirror_sends_a_copy_to_the_mirror_backend() {
    let b = Backends::start(&["a", "shadow"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s0}{s1}{ROUTE_HEAD}
metadata: {{ name: mirrored }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ value: /m }} }}]
    filters:
    - type: RequestMirror
      requestMirror: {{ backendRef: {{ name: shadow, port: 80 }} }}
    backendRefs: [{{ name: a, port: 80 }}]
  - backendRefs: [{{ name: a, port: 80 }}]
",
            s0 = svc("a", &b.ep(0)),
            s1 = svc("shadow", &b.ep(1)),
        )
    });
    for i in 0..5 {
        let r = get(Ports::addr(p.http), &format!("/m/{i}"), &[]);
        assert_eq!(backend(&r), "a", "the response is the primary's: {r:?}");
    }
    assert!(
        eventually(Duration::from_secs(10), || b.list[1].requests() == 5),
        "the mirror got {} of 5 copies",
        b.list[1].requests()
    );
    assert_eq!(backend(&get(Ports::addr(p.http), "/other", &[])), "a");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(b.list[1].requests(), 5, "unmirrored rule sends no copy");
    assert_eq!(b.list[0].requests(), 6);
}

#[test]
fn request_timeout_answers_504() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: slow }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - timeouts: {{ request: 300ms }}
    backendRefs: [{{ name: a, port: 80 }}]
",
            s = svc("a", &b.ep(0))
        )
    });
    let r = get(Ports::addr(p.http), "/delay/5000", &[]);
    assert_eq!(r.status, 504, "{r:?}");
    assert!(
        r.json()["message"].is_string(),
        "gateway error shape: {r:?}"
    );
    let r = get(Ports::addr(p.http), "/delay/1", &[]);
    assert_eq!(r.status, 200, "a fast answer passes: {r:?}");
}

#[test]
fn cross_namespace_backend_refs_need_a_reference_grant() {
    let b = Backends::start(&["granted", "ungranted", "local"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s0}{s1}{s2}
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {{ name: apps-to-granted, namespace: infra }}
spec:
  from: [{{ group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: apps }}]
  to: [{{ group: '', kind: Service, name: granted }}]
{ROUTE_HEAD}
metadata: {{ name: cross, namespace: apps }}
spec:
  parentRefs: [{{ name: gw, namespace: default }}]
  rules:
  - matches: [{{ path: {{ value: /granted }} }}]
    backendRefs: [{{ name: granted, namespace: infra, port: 80 }}]
  - matches: [{{ path: {{ value: /ungranted }} }}]
    backendRefs: [{{ name: ungranted, namespace: infra, port: 80 }}]
  - matches: [{{ path: {{ value: /local }} }}]
    backendRefs: [{{ name: local, port: 80 }}]
",
            s0 = service("infra", "granted", &[(&b.ep(0), true)]),
            s1 = service("infra", "ungranted", &[(&b.ep(1), true)]),
            s2 = service("apps", "local", &[(&b.ep(2), true)]),
        )
    });
    let at = |path: &str| get(Ports::addr(p.http), path, &[]);
    assert_eq!(backend(&at("/granted")), "granted", "allowed by the grant");
    let r = at("/ungranted");
    assert_eq!(r.status, 500, "not granted: {r:?}");
    assert_eq!(b.list[1].requests(), 0);
    assert_eq!(
        backend(&at("/local")),
        "local",
        "same namespace needs no grant"
    );
}

#[test]
fn invalid_backend_refs_answer_500_while_other_rules_work() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: mixed }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ value: /missing }} }}]
    backendRefs: [{{ name: does-not-exist, port: 80 }}]
  - matches: [{{ path: {{ value: /kind }} }}]
    backendRefs: [{{ group: example.com, kind: Bucket, name: a, port: 80 }}]
  - matches: [{{ path: {{ value: /port }} }}]
    backendRefs: [{{ name: a, port: 9999 }}]
  - matches: [{{ path: {{ value: /no-backends }} }}]
  - matches: [{{ path: {{ value: /ok }} }}]
    backendRefs: [{{ name: a, port: 80 }}]
",
            s = svc("a", &b.ep(0))
        )
    });
    for path in ["/missing", "/kind", "/port", "/no-backends"] {
        let r = get(Ports::addr(p.http), path, &[]);
        assert_eq!(r.status, 500, "{path}: {r:?}");
        assert!(r.json()["message"].is_string(), "{path}: {r:?}");
    }
    assert_eq!(
        b.list[0].requests(),
        0,
        "nothing invalid reached the backend"
    );
    assert_eq!(backend(&get(Ports::addr(p.http), "/ok", &[])), "a");
}

#[test]
fn endpoint_slices_send_traffic_to_ready_endpoints_only() {
    let b = Backends::start(&["ready-1", "ready-2", "not-ready"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: pods }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ backendRefs: [{{ name: pods, port: 80 }}] }}]
",
            s = service(
                "default",
                "pods",
                &[(&b.ep(0), true), (&b.ep(1), true), (&b.ep(2), false)]
            )
        )
    });
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..40 {
        *seen
            .entry(backend(&get(Ports::addr(p.http), "/", &[])))
            .or_insert(0) += 1;
    }
    assert_eq!(
        b.list[2].requests(),
        0,
        "not-ready endpoint got traffic: {seen:?}"
    );
    assert!(
        seen.get("ready-1").copied().unwrap_or(0) > 0
            && seen.get("ready-2").copied().unwrap_or(0) > 0,
        "both ready endpoints serve: {seen:?}"
    );
    assert_eq!(seen.values().sum::<i32>(), 40, "{seen:?}");
}

#[test]
fn backend_ref_filters_apply_to_their_backend_only_after_the_rules() {
    let b = Backends::start(&["a", "b"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s0}{s1}{ROUTE_HEAD}
metadata: {{ name: per-backend }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /api }} }}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {{ set: [{{ name: X-Rule, value: rule }}, {{ name: X-Which, value: rule }}] }}
    backendRefs:
    - name: a
      port: 80
      filters:
      - type: RequestHeaderModifier
        requestHeaderModifier: {{ set: [{{ name: X-Which, value: a }}] }}
      - type: ResponseHeaderModifier
        responseHeaderModifier: {{ add: [{{ name: X-Served-By, value: a }}] }}
    - name: b
      port: 80
      filters:
      - type: URLRewrite
        urlRewrite: {{ path: {{ type: ReplacePrefixMatch, replacePrefixMatch: /v2 }} }}
",
            s0 = svc("a", &b.ep(0)),
            s1 = svc("b", &b.ep(1)),
        )
    });
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..60 {
        let r = get(Ports::addr(p.http), &format!("/api/x{i}"), &[]);
        assert_eq!(r.status, 200, "{r:?}");
        let j = r.json();
        let h = &j["headers"];
        assert_eq!(h["x-rule"], serde_json::json!(["rule"]), "rule filter: {j}");
        match backend(&r).as_str() {
            "a" => {
                assert_eq!(h["x-which"], serde_json::json!(["a"]), "a's set wins: {j}");
                assert_eq!(j["path"], format!("/api/x{i}"), "a is not rewritten");
                assert_eq!(r.header("x-served-by"), Some("a"));
            }
            "b" => {
                assert_eq!(h["x-which"], serde_json::json!(["rule"]), "{j}");
                assert_eq!(j["path"], format!("/v2/x{i}"), "b's rewrite: {j}");
                assert_eq!(r.header("x-served-by"), None, "a's filter only on a");
            }
            other => panic!("unexpected backend {other:?}: {r:?}"),
        }
        seen.insert(backend(&r));
    }
    assert_eq!(seen.len(), 2, "both backends served 60 requests: {seen:?}");
}

#[test]
fn an_invalid_weighted_backend_answers_500_for_its_share_only() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: half-broken }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - backendRefs:
    - {{ name: a, port: 80, weight: 1 }}
    - {{ name: missing, port: 80, weight: 1 }}
",
            s = svc("a", &b.ep(0))
        )
    });
    let n = 200;
    let (mut ok, mut failed) = (0u64, 0u64);
    for _ in 0..n {
        let r = get(Ports::addr(p.http), "/", &[]);
        match r.status {
            200 => {
                assert_eq!(backend(&r), "a");
                ok += 1;
            }
            500 => failed += 1,
            s => panic!("unexpected status {s}: {r:?}"),
        }
    }
    assert_eq!(ok + failed, n);
    // 1:1 is 100/100; sd ~ 7, so the bound is wide.
    assert!((60..=140).contains(&failed), "500 share {failed} of {n}");
    assert_eq!(b.list[0].requests(), ok, "every 200 came from a");
}

#[test]
fn backend_request_timeout_bounds_each_try() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: per-try }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - timeouts: {{ request: 10s, backendRequest: 300ms }}
    backendRefs: [{{ name: a, port: 80 }}]
",
            s = svc("a", &b.ep(0))
        )
    });
    // The backend answers after 5 s, inside the 10 s request timeout: only the 300 ms
    // per-try timeout can make this a 504.
    let r = get(Ports::addr(p.http), "/delay/5000", &[]);
    assert_eq!(r.status, 504, "{r:?}");
    assert_eq!(get(Ports::addr(p.http), "/delay/1", &[]).status, 200);
}
