//! Gateway API from files, the configuration side end to end: the example directory
//! served as it is, GatewayClasses of other controllers left alone, native and Kubernetes
//! files loaded together, hot reload of an HTTPRoute file (and a malformed manifest
//! refused while the last good configuration keeps serving), and the statuses
//! `tollgate translate` prints.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::k8s::{self, Ports, backend, condition, get_host, status, svc};
use common::*;
use tollgate_test_support::process::TempDir;

fn examples_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/gateway-api")
}

#[test]
fn the_example_directory_serves_world1_and_world2() {
    let dir = examples_dir();
    let out = Command::new(BIN)
        .args(["validate", "-c"])
        .arg(&dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        !stderr.contains("warning"),
        "the example has status warnings: {stderr}"
    );

    let b = Backends::start(&["world1", "world2"]);
    let port1 = b.list[0].addr.port().to_string();
    let port2 = b.list[1].addr.port().to_string();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert_eq!(names, ["gateway.yaml", "routes.yaml", "services.yaml"]);
    // The same files with the ports replaced: the listener's by a free one, the demo
    // backends' by the test backends'.
    let (_gw, p) = k8s::start(|p| {
        names
            .iter()
            .map(|n| {
                let text = std::fs::read_to_string(dir.join(n)).unwrap();
                assert!(n != "gateway.yaml" || text.contains("port: 8080"));
                assert!(n != "services.yaml" || text.contains("port: 9002"));
                let text = text
                    .replace("port: 8080", &format!("port: {}", p.http))
                    .replace("9001", &port1)
                    .replace("9002", &port2);
                (n.clone(), text)
            })
            .collect()
    });
    for world in ["world1", "world2"] {
        let r = get(Ports::addr(p.http), &format!("/{world}/x?q=1"), &[]);
        assert_eq!(r.status, 200, "{world}: {r:?}");
        let e = r.json();
        assert_eq!(e["backend"], world);
        assert_eq!(e["path"], "/x", "prefix replaced by /");
        assert_eq!(e["query"], "q=1");
        let r = get(Ports::addr(p.http), &format!("/{world}"), &[]);
        assert_eq!(r.json()["path"], "/", "{world} alone: {r:?}");
    }
    assert_eq!(get(Ports::addr(p.http), "/world3/x", &[]).status, 404);
    assert_eq!(get(Ports::addr(p.http), "/world1x", &[]).status, 404);
}

#[test]
fn gateways_of_another_controller_are_not_served() {
    let b = Backends::start(&["ours", "theirs"]);
    let (gw, p) = k8s::start(|p| {
        let files = format!(
            r"{ours}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {{ name: other }}
spec: {{ controllerName: example.com/other-controller }}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{ name: foreign }}
spec:
  gatewayClassName: other
  listeners: [{{ name: http, port: {other}, protocol: HTTP }}]
{s0}{s1}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: to-both }}
spec:
  parentRefs: [{{ name: gw }}, {{ name: foreign }}]
  rules: [{{ backendRefs: [{{ name: ours, port: 80 }}] }}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: foreign-only }}
spec:
  parentRefs: [{{ name: foreign }}]
  rules: [{{ backendRefs: [{{ name: theirs, port: 80 }}] }}]
",
            ours = k8s::gateway(p.http),
            other = p.other,
            s0 = svc("ours", &b.ep(0)),
            s1 = svc("theirs", &b.ep(1)),
        );
        vec![("all.yaml".to_owned(), files)]
    });
    assert_eq!(backend(&get(Ports::addr(p.http), "/", &[])), "ours");
    assert!(
        std::net::TcpStream::connect(Ports::addr(p.other)).is_err(),
        "the foreign Gateway's port is not bound"
    );
    assert_eq!(b.list[1].requests(), 0);
    let t = k8s::translate(gw.dir.path());
    let statuses = t["statuses"].as_array().unwrap();
    assert!(
        !statuses
            .iter()
            .any(|s| s["name"] == "other" || s["name"] == "foreign" || s["name"] == "foreign-only"),
        "no status for what is not ours: {t:#}"
    );
    let parents = &status(&t, "HTTPRoute", "to-both")["status"]["parents"];
    assert_eq!(
        parents.as_array().unwrap().len(),
        1,
        "only our parent: {parents:#}"
    );
    assert_eq!(parents[0]["parentRef"]["name"], "gw");
}

#[test]
fn native_and_kubernetes_files_are_served_together() {
    let b = Backends::start(&["native", "k8s"]);
    let (gw, p) = k8s::start(|p| {
        vec![
            (
                "tollgate.yaml".to_owned(),
                format!(
                    r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services: [{{ name: app, endpoints: ["{}"] }}]
routes: [{{ name: app, match: {{ path: {{ prefix: /native }} }}, backends: [{{ service: app }}] }}]
"#,
                    b.ep(0)
                ),
            ),
            (
                "gateway.yaml".to_owned(),
                format!(
                    r"{gw}{s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ matches: [{{ path: {{ value: /k8s }} }}], backendRefs: [{{ name: app, port: 80 }}] }}]
",
                    gw = k8s::gateway(p.http),
                    s = svc("app", &b.ep(1))
                ),
            ),
        ]
    });
    let web = gw.listener("web").unwrap();
    assert_eq!(backend(&get(web, "/native/1", &[])), "native");
    assert_eq!(
        get(web, "/k8s", &[]).status,
        404,
        "HTTPRoutes are not on native listeners"
    );
    let k = gw.listener("gw/default/gw/http").unwrap();
    assert_eq!(
        k,
        Ports::addr(p.http),
        "the Gateway listener binds its own port"
    );
    assert_eq!(backend(&get(k, "/k8s/1", &[])), "k8s");
    assert_eq!(
        get(k, "/native", &[]).status,
        404,
        "native routes are not on Gateways"
    );
    let config = admin(&gw, "/config").json();
    assert!(
        config["snapshot"]["services"]["app"].is_object(),
        "{config:#}"
    );
    assert!(
        config["snapshot"]["services"]["svc/default/app/80"].is_object(),
        "{config:#}"
    );
}

fn route_to(service: &str, path: &str) -> String {
    format!(
        r"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ matches: [{{ path: {{ value: {path} }} }}], backendRefs: [{{ name: {service}, port: 80 }}] }}]
"
    )
}

/// Reads a counter with labels from `/metrics` (0 when absent).
fn metric(gw: &Gateway, series: &str) -> u64 {
    admin(gw, "/metrics")
        .body
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn editing_an_httproute_file_reroutes_and_a_malformed_manifest_is_refused() {
    let b = Backends::start(&["a", "b", "c"]);
    let (gw, p) = k8s::start(|p| {
        vec![
            (
                "gateway.yaml".to_owned(),
                format!(
                    "{}{}{}{}",
                    k8s::gateway(p.http),
                    svc("a", &b.ep(0)),
                    svc("b", &b.ep(1)),
                    svc("c", &b.ep(2))
                ),
            ),
            ("route.yaml".to_owned(), route_to("a", "/app")),
        ]
    });
    let addr = Ports::addr(p.http);
    let who = |path: &str| backend(&get(addr, path, &[]));
    assert_eq!(who("/app/1"), "a");

    gw.write_config("route.yaml", &route_to("b", "/app"))
        .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || who("/app/1") == "b"),
        "the edited route did not take effect:\n{}",
        gw.log()
    );
    gw.write_config("route.yaml", &route_to("b", "/moved"))
        .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || who("/moved") == "b"),
        "the new path did not take effect"
    );
    assert_eq!(get(addr, "/app/1", &[]).status, 404, "the old path is gone");

    // Not YAML at all, then a known kind with a field of the wrong shape.
    let failed = metric(&gw, "tollgate_config_reloads_total{result=\"failed\"}");
    gw.write_config(
        "route.yaml",
        "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: app\n",
    )
    .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || {
            metric(&gw, "tollgate_config_reloads_total{result=\"failed\"}") > failed
        }),
        "the broken file was not refused:\n{}",
        gw.log()
    );
    assert_eq!(
        who("/moved"),
        "b",
        "the last good configuration keeps serving"
    );
    let failed = metric(&gw, "tollgate_config_reloads_total{result=\"failed\"}");
    let wrong_shape = route_to("c", "/moved").replace("rules: [", "rules: 5 #[");
    gw.write_config("route.yaml", &wrong_shape).unwrap();
    assert!(
        eventually(Duration::from_secs(15), || {
            metric(&gw, "tollgate_config_reloads_total{result=\"failed\"}") > failed
        }),
        "the malformed HTTPRoute was not refused:\n{}",
        gw.log()
    );
    assert!(
        gw.log().contains("route.yaml"),
        "the problem names the file:\n{}",
        gw.log()
    );
    assert_eq!(who("/moved"), "b", "still the last good configuration");

    gw.write_config("route.yaml", &route_to("c", "/moved"))
        .unwrap();
    assert!(
        eventually(Duration::from_secs(15), || who("/moved") == "c"),
        "a fixed file is applied again"
    );
}

#[test]
fn translate_prints_route_and_listener_statuses() {
    let dir = TempDir::new("translate").unwrap();
    let route = |name: &str, parent: &str, backend: &str| {
        format!(
            r"
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: {name}, namespace: default }}
spec:
  parentRefs: [{parent}]
  rules:
  - matches: [{{ path: {{ value: /{name}/ok }} }}]
    backendRefs: [{{ name: app, port: 80 }}]
  - matches: [{{ path: {{ value: /{name}/bad }} }}]
    backendRefs: [{backend}]
"
        )
    };
    let text = format!(
        "{gw}{svc}{r1}{r2}{r3}{r4}",
        // translate binds nothing, so a fixed port is fine here.
        gw = k8s::gateway(18080),
        svc = svc("app", "127.0.0.1:9"),
        r1 = route("missing", "{ name: gw }", "{ name: nope, port: 80 }"),
        r2 = route(
            "foreign",
            "{ name: gw }",
            "{ name: app, namespace: elsewhere, port: 80 }"
        ),
        r3 = route(
            "kind",
            "{ name: gw }",
            "{ group: example.com, kind: Bucket, name: b }"
        ),
        r4 = route(
            "lost",
            "{ name: no-such-gateway }",
            "{ name: app, port: 80 }"
        ),
    );
    std::fs::write(dir.path().join("all.yaml"), text).unwrap();
    let t = k8s::translate(dir.path());

    let l = &t["snapshot"]["listeners"]["gw/default/gw/http"];
    assert_eq!(
        l["address"], "127.0.0.1:18080",
        "--k8s-address is used: {t:#}"
    );

    let class = &status(&t, "GatewayClass", "tollgate")["status"]["conditions"];
    assert_eq!(condition(class, "Accepted")["status"], "True");

    let g = &status(&t, "Gateway", "gw")["status"];
    assert_eq!(condition(&g["conditions"], "Programmed")["status"], "True");
    let listener = &g["listeners"][0];
    assert_eq!(listener["name"], "http");
    assert_eq!(
        listener["attachedRoutes"], 3,
        "missing, foreign, kind: {g:#}"
    );
    assert_eq!(
        condition(&listener["conditions"], "Accepted")["status"],
        "True"
    );
    assert_eq!(
        condition(&listener["conditions"], "Conflicted")["reason"],
        "NoConflicts"
    );

    for (name, reason) in [
        ("missing", "BackendNotFound"),
        ("foreign", "RefNotPermitted"),
        ("kind", "InvalidKind"),
    ] {
        let parent = &status(&t, "HTTPRoute", name)["status"]["parents"][0];
        assert_eq!(parent["controllerName"], "tollgate.dev/gateway-controller");
        let accepted = condition(&parent["conditions"], "Accepted");
        assert_eq!(accepted["status"], "True", "{name}: {parent:#}");
        assert_eq!(accepted["reason"], "Accepted");
        let resolved = condition(&parent["conditions"], "ResolvedRefs");
        assert_eq!(resolved["status"], "False", "{name}: {parent:#}");
        assert_eq!(resolved["reason"], reason, "{name}: {parent:#}");
    }
    let lost = &status(&t, "HTTPRoute", "lost")["status"]["parents"][0];
    let accepted = condition(&lost["conditions"], "Accepted");
    assert_eq!(accepted["status"], "False");
    assert_eq!(accepted["reason"], "NoMatchingParent");
}

/// A Gateway with listeners `first` (host a.test) and `second` (host b.test) sharing `port`,
/// or just `second` when `with_first` is false.
fn two_listener_gateway(port: u16, with_first: bool) -> String {
    let first = if with_first {
        format!("  - {{ name: first, port: {port}, protocol: HTTP, hostname: a.test }}\n")
    } else {
        String::new()
    };
    k8s::gateway_with(&format!(
        "{first}  - {{ name: second, port: {port}, protocol: HTTP, hostname: b.test }}\n"
    ))
}

#[test]
fn removing_the_first_listener_on_a_port_keeps_the_socket_and_its_connections() {
    let b = Backends::start(&["a"]);
    let routes = |b: &Backends| {
        format!(
            r"{s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: r }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ backendRefs: [{{ name: a, port: 80 }}] }}]
",
            s = svc("a", &b.ep(0))
        )
    };
    let (gw, p) = k8s::start(|p| {
        vec![
            (
                "gateway.yaml".to_owned(),
                two_listener_gateway(p.http, true),
            ),
            ("routes.yaml".to_owned(), routes(&b)),
        ]
    });
    let addr = Ports::addr(p.http);
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(backend(&keepalive_get_host(&mut conn, "b.test", "/")), "a");
    assert_eq!(backend(&keepalive_get_host(&mut conn, "a.test", "/")), "a");

    // The port's IR listener was named after `first`; now it is named after `second`.
    gw.write_config("gateway.yaml", &two_listener_gateway(p.http, false))
        .unwrap();
    gw.wait_for_log("listener renamed", Duration::from_secs(15))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", gw.log()));
    assert!(
        !gw.log().contains("cannot bind"),
        "the same port was not bound twice:\n{}",
        gw.log()
    );
    // The connection opened before the change is still served, on the new table.
    assert_eq!(backend(&keepalive_get_host(&mut conn, "b.test", "/")), "a");
    assert_eq!(
        keepalive_get_host(&mut conn, "a.test", "/").status,
        404,
        "a.test left with its listener"
    );
    assert_eq!(
        get_host(p.http, "b.test", "/").status,
        200,
        "new connections too"
    );
}
