//! Gateway API HTTPRoutes end to end, served from manifest files by the real binary in
//! front of real echo backends that report what they received (method, path, host,
//! headers), the way the upstream conformance suite checks an implementation: matches
//! and their precedence, hostnames, header modifiers, redirects, rewrites, allowedRoutes
//! and parentRefs. Backends (weights, mirrors, timeouts, grants) are in
//! `gateway_api_backends.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::k8s::{self, Ports, ROUTE_HEAD, abc, backend, get_host, serve, service, svc};
use common::*;

#[test]
fn path_header_query_and_method_matches_with_precedence() {
    let b = Backends::start(&["a", "b", "c"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{svcs}{ROUTE_HEAD}
metadata: {{ name: matches }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /orders }} }}]
    backendRefs: [{{ name: a, port: 80 }}]
  - matches: [{{ path: {{ type: Exact, value: /orders/special }} }}]
    backendRefs: [{{ name: b, port: 80 }}]
  - matches: [{{ path: {{ type: RegularExpression, value: '/items/[0-9]+' }} }}]
    backendRefs: [{{ name: c, port: 80 }}]
  - matches:
    - path: {{ value: /orders }}
      headers: [{{ name: X-Env, value: canary }}]
    backendRefs: [{{ name: c, port: 80 }}]
  - matches:
    - path: {{ value: /orders }}
      headers: [{{ name: x-version, type: RegularExpression, value: 'v[23]' }}]
      queryParams: [{{ name: debug, value: 'on' }}]
    backendRefs: [{{ name: b, port: 80 }}]
  - matches: [{{ path: {{ value: /orders }}, method: POST }}]
    backendRefs: [{{ name: b, port: 80 }}]
  - matches: [{{ path: {{ value: /orders }}, queryParams: [{{ name: v, value: '2' }}] }}]
    backendRefs: [{{ name: c, port: 80 }}]
{ROUTE_HEAD}
metadata: {{ name: longer-prefix }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ path: {{ value: /orders/v2 }} }}]
    backendRefs: [{{ name: b, port: 80 }}]
",
            svcs = abc(&b)
        )
    });
    let at = |target: &str, headers: &[(&str, &str)]| {
        let r = get(Ports::addr(p.http), target, headers);
        (backend(&r), r)
    };
    assert_eq!(at("/orders/1", &[]).0, "a", "prefix");
    assert_eq!(at("/orders", &[]).0, "a", "prefix matches itself");
    let (who, r) = at("/orders/special", &[]);
    assert_eq!(who, "b", "exact beats prefix");
    assert_eq!(r.json()["path"], "/orders/special");
    assert_eq!(at("/orders/special/x", &[]).0, "a", "exact is exact");
    assert_eq!(at("/items/42", &[]).0, "c", "regex");
    assert_eq!(at("/items/x", &[]).1.status, 404, "regex is anchored");
    assert_eq!(at("/ordersx", &[]).1.status, 404, "prefix is by segment");
    assert_eq!(
        at("/orders/v2/x", &[("x-env", "canary")]).0,
        "b",
        "a longer prefix (from another route) beats a header condition"
    );
    assert_eq!(at("/orders/1", &[("x-env", "canary")]).0, "c", "header");
    assert_eq!(
        at("/orders/1", &[("x-env", "Canary")]).0,
        "a",
        "header values are exact"
    );
    assert_eq!(
        at("/orders/1?debug=on", &[("x-version", "v3")]).0,
        "b",
        "regex header + query"
    );
    assert_eq!(
        at("/orders/1?debug=on", &[("x-version", "v4")]).0,
        "a",
        "regex header not matched"
    );
    assert_eq!(at("/orders/1?v=2", &[]).0, "c", "query");
    assert_eq!(at("/orders/1?v=3", &[]).0, "a", "query value is exact");
    let post = client::request(Ports::addr(p.http), "POST", "/orders/1", &[], "{}").unwrap();
    assert_eq!(backend(&post), "b", "method");
    assert_eq!(post.json()["method"], "POST");
    // A method condition beats a query condition (Gateway API precedence).
    let post = client::request(Ports::addr(p.http), "POST", "/orders/1?v=2", &[], "{}").unwrap();
    assert_eq!(backend(&post), "b", "method beats query");
}

#[test]
fn hostnames_are_the_listener_and_route_intersection() {
    let b = Backends::start(&["wild", "exact", "any", "suffix"]);
    let (_gw, p) = k8s::start(|p| {
        let port = p.http;
        let gateway = k8s::gateway_with(&format!(
            "  - {{ name: wild, port: {port}, protocol: HTTP, hostname: '*.example.com' }}
  - {{ name: any, port: {port}, protocol: HTTP }}
"
        ));
        let routes = format!(
            r"{s0}{s1}{s2}{s3}{ROUTE_HEAD}
metadata: {{ name: all-of-wild }}
spec:
  parentRefs: [{{ name: gw, sectionName: wild }}]
  rules: [{{ backendRefs: [{{ name: wild, port: 80 }}] }}]
{ROUTE_HEAD}
metadata: {{ name: one-host }}
spec:
  parentRefs: [{{ name: gw, sectionName: wild }}]
  hostnames: [a.example.com, other.org]
  rules: [{{ backendRefs: [{{ name: exact, port: 80 }}] }}]
{ROUTE_HEAD}
metadata: {{ name: any-listener }}
spec:
  parentRefs: [{{ name: gw, sectionName: any }}]
  hostnames: [other.org, '*.wild.test']
  rules: [{{ backendRefs: [{{ name: any, port: 80 }}] }}]
{ROUTE_HEAD}
metadata: {{ name: narrower }}
spec:
  parentRefs: [{{ name: gw, sectionName: wild }}]
  hostnames: ['*.deep.example.com']
  rules: [{{ backendRefs: [{{ name: suffix, port: 80 }}] }}]
{ROUTE_HEAD}
metadata: {{ name: no-intersection }}
spec:
  parentRefs: [{{ name: gw, sectionName: wild }}]
  hostnames: [nope.org]
  rules: [{{ backendRefs: [{{ name: exact, port: 80 }}] }}]
",
            s0 = svc("wild", &b.ep(0)),
            s1 = svc("exact", &b.ep(1)),
            s2 = svc("any", &b.ep(2)),
            s3 = svc("suffix", &b.ep(3)),
        );
        vec![
            ("gateway.yaml".to_owned(), gateway),
            ("routes.yaml".to_owned(), routes),
        ]
    });
    let who = |host: &str| backend(&get_host(p.http, host, "/x"));
    assert_eq!(
        who("a.example.com"),
        "exact",
        "route hostname inside listener"
    );
    assert_eq!(
        who("A.Example.COM"),
        "exact",
        "hosts compare case-insensitively"
    );
    assert_eq!(
        who("a.example.com:8080"),
        "exact",
        "the port is not the host"
    );
    assert_eq!(who("b.example.com"), "wild", "listener wildcard");
    assert_eq!(
        who("x.deep.example.com"),
        "suffix",
        "narrower route wildcard"
    );
    assert_eq!(
        who("other.org"),
        "any",
        "other.org is not on the wild listener"
    );
    assert_eq!(
        who("x.wild.test"),
        "any",
        "route wildcard on an any-host listener"
    );
    let r = get_host(p.http, "nope.org", "/x");
    assert_eq!(r.status, 404, "route hostnames outside its listener: {r:?}");
    assert_eq!(
        get_host(p.http, "example.com", "/x").status,
        404,
        "*. needs a label"
    );
    assert_eq!(
        get_host(p.http, "wild.test", "/x").status,
        404,
        "route wildcard needs a label"
    );
}

#[test]
fn request_and_response_header_modifiers() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: headers }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - filters:
    - type: RequestHeaderModifier
      requestHeaderModifier:
        set: [{{ name: X-Set, value: from-gateway }}]
        add: [{{ name: X-Add, value: added }}]
        remove: [X-Remove]
    - type: ResponseHeaderModifier
      responseHeaderModifier:
        set: [{{ name: X-Resp-Set, value: r1 }}]
        add: [{{ name: X-Resp-Add, value: r2 }}]
        remove: [X-Backend]
    backendRefs: [{{ name: a, port: 80 }}]
",
            s = svc("a", &b.ep(0))
        )
    });
    let r = get(
        Ports::addr(p.http),
        "/h",
        &[
            ("x-set", "from-client"),
            ("x-add", "client"),
            ("x-remove", "secret"),
            ("x-keep", "kept"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let h = &r.json()["headers"];
    assert_eq!(
        h["x-set"],
        serde_json::json!(["from-gateway"]),
        "set replaces"
    );
    assert_eq!(
        h["x-add"],
        serde_json::json!(["client", "added"]),
        "add appends"
    );
    assert!(h["x-remove"].is_null(), "removed: {h}");
    assert_eq!(h["x-keep"], serde_json::json!(["kept"]), "others untouched");
    assert_eq!(r.header("x-resp-set"), Some("r1"));
    assert_eq!(r.header("x-resp-add"), Some("r2"));
    assert_eq!(r.header("x-backend"), None, "response header removed");
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "others kept"
    );
}

#[test]
fn redirects_set_scheme_host_port_path_and_status() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        let redirect = |path: &str, spec: &str| {
            format!(
                "
  - matches: [{{ path: {{ value: {path} }} }}]
    filters: [{{ type: RequestRedirect, requestRedirect: {spec} }}]"
            )
        };
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: redirects }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:{r1}{r2}{r3}{r4}{r5}
  - backendRefs: [{{ name: a, port: 80 }}]
",
            s = svc("a", &b.ep(0)),
            r1 = redirect("/secure", "{ scheme: https, statusCode: 301 }"),
            r2 = redirect("/moved", "{ hostname: new.example, port: 8081 }"),
            r3 = redirect(
                "/full",
                "{ path: { type: ReplaceFullPath, replaceFullPath: /landing }, statusCode: 308 }"
            ),
            r4 = redirect(
                "/old",
                "{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /new }, statusCode: 307 }"
            ),
            r5 = redirect("/samehost", "{ hostname: other.example }"),
        )
    });
    let port = p.http;
    let at = |target: &str| get_host(port, "shop.test", target);
    let r = at("/secure/a?x=1");
    assert_eq!(r.status, 301, "{r:?}");
    assert_eq!(r.header("location"), Some("https://shop.test/secure/a?x=1"));
    let r = at("/moved/a");
    assert_eq!(r.status, 302, "default status");
    assert_eq!(
        r.header("location"),
        Some("http://new.example:8081/moved/a")
    );
    let r = at("/full/deep/path");
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some(&*format!("http://shop.test:{port}/landing"))
    );
    let r = at("/old/thing/1");
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(&*format!("http://shop.test:{port}/new/thing/1"))
    );
    let r = at("/samehost/x");
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some(&*format!("http://other.example:{port}/samehost/x")),
        "no scheme and no port: the listener's port"
    );
    assert_eq!(
        backend(&at("/other")),
        "a",
        "unredirected rule still forwards"
    );
}

#[test]
fn url_rewrites_hostname_full_path_and_prefix() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        let rewrite = |path: &str, spec: &str| {
            format!(
                "
  - matches: [{{ path: {{ value: {path} }} }}]
    filters: [{{ type: URLRewrite, urlRewrite: {spec} }}]
    backendRefs: [{{ name: a, port: 80 }}]"
            )
        };
        format!(
            r"{s}{ROUTE_HEAD}
metadata: {{ name: rewrites }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:{r1}{r2}{r3}{r4}
",
            s = svc("a", &b.ep(0)),
            r1 = rewrite("/host", "{ hostname: internal.example }"),
            r2 = rewrite(
                "/full",
                "{ path: { type: ReplaceFullPath, replaceFullPath: /replaced } }"
            ),
            r3 = rewrite(
                "/api",
                "{ hostname: api.internal, path: { type: ReplacePrefixMatch, replacePrefixMatch: /v2 } }"
            ),
            r4 = rewrite(
                "/strip",
                "{ path: { type: ReplacePrefixMatch, replacePrefixMatch: / } }"
            ),
        )
    });
    let echo = |target: &str| {
        let r = get_host(p.http, "front.test", target);
        assert_eq!(r.status, 200, "{target}: {r:?}");
        r.json()
    };
    let e = echo("/host/x");
    assert_eq!(e["headers"]["host"][0], "internal.example");
    assert_eq!(e["path"], "/host/x", "path untouched");
    let e = echo("/full/a/b?q=1");
    assert_eq!(e["path"], "/replaced");
    assert_eq!(e["query"], "q=1", "query kept");
    assert_eq!(e["headers"]["host"][0], "front.test", "host untouched");
    let e = echo("/api/users/7");
    assert_eq!(e["path"], "/v2/users/7");
    assert_eq!(e["headers"]["host"][0], "api.internal");
    assert_eq!(echo("/api").get("path").unwrap(), "/v2");
    assert_eq!(echo("/strip/x/y").get("path").unwrap(), "/x/y");
    assert_eq!(echo("/strip").get("path").unwrap(), "/");
    assert_eq!(echo("/strip/").get("path").unwrap(), "/");
}

#[test]
fn allowed_routes_namespaces_same_all_and_selector() {
    let b = Backends::start(&["infra", "apps", "sandbox"]);
    let (_gw, p) = k8s::start(|p| {
        let port = p.http;
        let mut y = k8s::gateway_in(
            "infra",
            &format!(
                r"  - {{ name: same, port: {port}, protocol: HTTP, hostname: same.test }}
  - name: all
    port: {port}
    protocol: HTTP
    hostname: all.test
    allowedRoutes: {{ namespaces: {{ from: All }} }}
  - name: selector
    port: {port}
    protocol: HTTP
    hostname: sel.test
    allowedRoutes: {{ namespaces: {{ from: Selector, selector: {{ matchLabels: {{ team: apps }} }} }} }}
"
            ),
        );
        y.push_str(
            "
---
apiVersion: v1
kind: Namespace
metadata: { name: apps, labels: { team: apps } }
",
        );
        for (i, ns) in ["infra", "apps", "sandbox"].iter().enumerate() {
            y.push_str(&service(ns, "echo", &[(&b.ep(i), true)]));
            y.push_str(&format!(
                r"{ROUTE_HEAD}
metadata: {{ name: r, namespace: {ns} }}
spec:
  parentRefs: [{{ name: gw, namespace: infra }}]
  rules: [{{ matches: [{{ path: {{ value: /{ns} }} }}], backendRefs: [{{ name: echo, port: 80 }}] }}]
"
            ));
        }
        vec![("all.yaml".to_owned(), y)]
    });
    let status = |host: &str, ns: &str| get_host(p.http, host, &format!("/{ns}")).status;
    assert_eq!(backend(&get_host(p.http, "same.test", "/infra")), "infra");
    assert_eq!(
        status("same.test", "apps"),
        404,
        "Same: other namespaces out"
    );
    assert_eq!(status("same.test", "sandbox"), 404);
    assert_eq!(backend(&get_host(p.http, "all.test", "/infra")), "infra");
    assert_eq!(backend(&get_host(p.http, "all.test", "/apps")), "apps");
    assert_eq!(
        backend(&get_host(p.http, "all.test", "/sandbox")),
        "sandbox"
    );
    assert_eq!(
        backend(&get_host(p.http, "sel.test", "/apps")),
        "apps",
        "labels match"
    );
    assert_eq!(status("sel.test", "infra"), 404, "selector: unlabelled out");
    assert_eq!(status("sel.test", "sandbox"), 404);
}

#[test]
fn routes_whose_parent_ref_does_not_match_are_not_served() {
    let b = Backends::start(&["a"]);
    let (_gw, p) = serve(|_| {
        let route = |name: &str, parent: &str| {
            format!(
                r"{ROUTE_HEAD}
metadata: {{ name: {name} }}
spec:
  parentRefs: [{parent}]
  rules: [{{ matches: [{{ path: {{ value: /{name} }} }}], backendRefs: [{{ name: a, port: 80 }}] }}]
"
            )
        };
        format!(
            "{}{}{}{}{}{}",
            svc("a", &b.ep(0)),
            route("served", "{ name: gw }"),
            route("other-gateway", "{ name: nope }"),
            route("other-listener", "{ name: gw, sectionName: nope }"),
            route("other-port", "{ name: gw, port: 1 }"),
            route("other-namespace", "{ name: gw, namespace: elsewhere }"),
        )
    });
    assert_eq!(backend(&get(Ports::addr(p.http), "/served", &[])), "a");
    for name in [
        "other-gateway",
        "other-listener",
        "other-port",
        "other-namespace",
    ] {
        let r = get(Ports::addr(p.http), &format!("/{name}"), &[]);
        assert_eq!(r.status, 404, "{name}: {r:?}");
    }
    assert_eq!(b.list[0].requests(), 1);
}
