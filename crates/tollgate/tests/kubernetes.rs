//! `tollgate run --kubernetes` against a fake API server (real sockets, the real kube
//! client, watcher and reflectors): routes follow the cluster, status is written with
//! server-side apply and only when it changes, and watches survive breaks and 410s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::time::Duration;

use common::cluster::{FakeCluster, ready, within};
use common::k8s::{Ports, backend, gateway, http_route as route, svc};
use common::*;
use serde_json::Value;

const GW_API: &str = "gateway.networking.k8s.io/v1";

/// The cluster of the README walkthrough: our class, Gateway `gw`, Services `a` and
/// `b`, and the route `/world1` → `a`.
fn world(c: &FakeCluster, b: &Backends, p: &Ports) {
    c.apply_yaml(&format!(
        "{}{}{}{}",
        gateway(p.http),
        svc("a", &b.ep(0)),
        svc("b", &b.ep(1)),
        route("world1", "/world1", "a")
    ));
}

fn who(p: &Ports, path: &str) -> String {
    backend(&get(Ports::addr(p.http), path, &[]))
}

fn status_code(p: &Ports, path: &str) -> u16 {
    client::request(Ports::addr(p.http), "GET", path, &[], "").map_or(0, |r| r.status)
}

fn condition<'a>(conditions: &'a Value, type_: &str) -> &'a Value {
    conditions
        .as_array()
        .unwrap_or_else(|| panic!("no conditions in {conditions}"))
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {conditions:#}"))
}

/// Status patches sent so far for objects whose path ends with `suffix`.
fn status_patches(c: &FakeCluster, suffix: &str) -> Vec<tollgate_kube_fake::RecordedRequest> {
    c.api
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path.ends_with(suffix))
        .collect()
}

/// [`world`], served by a gateway `pod-a` with `extra` flags.
fn started(extra: &[&str]) -> (Backends, FakeCluster, Ports, Gateway) {
    let b = Backends::start(&["a", "b"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    world(&c, &b, &p);
    let gw = c.gateway("pod-a", &p, extra);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    (b, c, p, gw)
}

#[test]
fn serves_the_cluster_and_follows_adds_changes_and_deletes() {
    let (b, c, p, gw) = started(&[]);
    assert_eq!(ready(&gw), 200);
    assert_eq!(who(&p, "/world1/x"), "a");
    // A keep-alive connection opened now must outlive every change below.
    let mut kept = std::net::TcpStream::connect(Ports::addr(p.http)).unwrap();
    assert_eq!(backend(&keepalive_get(&mut kept, "/world1/x")), "a");

    // Added: served without a restart.
    c.apply_yaml(&route("world2", "/world2", "b"));
    assert!(within(5, || who(&p, "/world2") == "b"), "{}", gw.log());
    // Changed: /world1 now goes to b.
    c.apply_yaml(&route("world1", "/world1", "b"));
    assert!(within(5, || who(&p, "/world1") == "b"), "{}", gw.log());
    // Deleted: no longer matched.
    c.delete(GW_API, "HTTPRoute", Some("default"), "world2");
    assert!(
        within(5, || status_code(&p, "/world2") == 404),
        "{}",
        gw.log()
    );
    // A Service's endpoints moved: traffic follows.
    c.apply_yaml(&svc("b", &b.ep(0)));
    assert!(within(5, || who(&p, "/world1") == "a"), "{}", gw.log());
    assert_eq!(backend(&keepalive_get(&mut kept, "/world1/y")), "a");
    assert_eq!(
        common::cluster::metric(&gw, "tollgate_kubernetes_connected"),
        Some(1.0)
    );
}

#[test]
fn status_is_written_with_server_side_apply_field_by_field_and_only_on_change() {
    let (b, c, p, gw) = started(&[]);

    let gw_patch =
        c.rt.block_on(c.api.wait_for_request(
            |r| r.method == "PATCH" && r.path.ends_with("/gateways/gw/status"),
            Duration::from_secs(15),
        ))
        .unwrap_or_else(|e| panic!("no Gateway status patch ({e}):\n{}", gw.log()));
    assert_eq!(
        gw_patch.path,
        "/apis/gateway.networking.k8s.io/v1/namespaces/default/gateways/gw/status"
    );
    assert_eq!(
        gw_patch.content_type.as_deref(),
        Some("application/apply-patch+yaml")
    );
    assert_eq!(gw_patch.param("fieldManager"), Some("tollgate"));
    assert_eq!(gw_patch.param("force"), Some("true"));
    let body = gw_patch.body.unwrap();
    assert_eq!(body["apiVersion"], GW_API);
    assert_eq!(body["kind"], "Gateway");
    assert_eq!(body["metadata"]["name"], "gw");
    assert_eq!(body["metadata"]["namespace"], "default");
    let st = &body["status"];
    for t in ["Accepted", "Programmed"] {
        let cond = condition(&st["conditions"], t);
        assert_eq!(cond["status"], "True", "{t}: {st:#}");
        assert_eq!(cond["observedGeneration"], 1);
        assert!(
            cond["lastTransitionTime"]
                .as_str()
                .is_some_and(|s| s.ends_with('Z'))
        );
    }
    let l = &st["listeners"][0];
    assert_eq!(l["name"], "http");
    assert_eq!(l["attachedRoutes"], 1);
    assert!(
        l["supportedKinds"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kind"] == "HTTPRoute")
    );
    assert_eq!(condition(&l["conditions"], "Programmed")["status"], "True");

    // The route and the class, as the API server now stores them.
    assert!(within(10, || !c
        .status(GW_API, "HTTPRoute", Some("default"), "world1")
        .is_null()));
    let rs = c.status(GW_API, "HTTPRoute", Some("default"), "world1");
    let parent = &rs["parents"][0];
    assert_eq!(parent["parentRef"]["name"], "gw");
    assert_eq!(parent["controllerName"], "tollgate.dev/gateway-controller");
    assert_eq!(
        condition(&parent["conditions"], "Accepted")["status"],
        "True"
    );
    assert_eq!(
        condition(&parent["conditions"], "ResolvedRefs")["status"],
        "True"
    );
    assert!(within(10, || {
        let s = c.status(GW_API, "GatewayClass", None, "tollgate");
        !s.is_null() && condition(&s["conditions"], "Accepted")["status"] == "True"
    }));

    // Changes that leave statuses as they are write nothing: a Service moves, twice.
    // The fake stores a status before it logs the request, so wait for the log entry of
    // the last initial write (the writer patches one object at a time, the route last)
    // before counting, or a loaded machine counts one write short.
    c.rt.block_on(c.api.wait_for_request(
        |r| r.method == "PATCH" && r.path.ends_with("/httproutes/world1/status"),
        Duration::from_secs(10),
    ))
    .unwrap_or_else(|e| panic!("no HTTPRoute status patch ({e}):\n{}", gw.log()));
    let before = status_patches(&c, "/status").len();
    c.apply_yaml(&svc("a", &b.ep(1)));
    assert!(within(5, || who(&p, "/world1") == "b"));
    c.apply_yaml(&svc("a", &b.ep(0)));
    assert!(within(5, || who(&p, "/world1") == "a"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status_patches(&c, "/status").len(), before, "{}", gw.log());

    // The route now names a Service that does not exist: ResolvedRefs turns False with
    // the reason and the new generation; Accepted keeps its transition time.
    let accepted_at = condition(&parent["conditions"], "Accepted")["lastTransitionTime"].clone();
    c.apply_yaml(&route("world1", "/world1", "nope"));
    assert!(within(10, || {
        let s = c.status(GW_API, "HTTPRoute", Some("default"), "world1");
        s["parents"][0]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "ResolvedRefs" && c["status"] == "False")
        })
    }));
    let rs = c.status(GW_API, "HTTPRoute", Some("default"), "world1");
    let conds = &rs["parents"][0]["conditions"];
    let resolved = condition(conds, "ResolvedRefs");
    assert_eq!(resolved["reason"], "BackendNotFound");
    assert_eq!(resolved["observedGeneration"], 2);
    assert_eq!(
        condition(conds, "Accepted")["lastTransitionTime"],
        accepted_at
    );
    assert_eq!(condition(conds, "Accepted")["observedGeneration"], 2);
    assert_eq!(status_code(&p, "/world1"), 500);
}

#[test]
fn watches_resume_after_breaks_and_relist_after_410_gone() {
    let b = Backends::start(&["a", "b"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    world(&c, &b, &p);
    c.apply_yaml(&route("old", "/old", "a"));
    let gw = c.gateway("pod-a", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    assert_eq!(who(&p, "/old"), "a");

    // A broken watch resumes from its resourceVersion: a change made while no watch
    // was open still arrives.
    c.api.hold_watches(true);
    c.api.break_watches();
    c.apply_yaml(&route("gap", "/gap", "b"));
    c.api.hold_watches(false);
    assert!(within(10, || who(&p, "/gap") == "b"), "{}", gw.log());

    // History compacted while disconnected: the resumed watch gets 410 Gone and the
    // controller lists again, seeing an add and a delete it never got events for.
    c.api.hold_watches(true);
    c.api.break_watches();
    c.apply_yaml(&route("after-410", "/after", "b"));
    c.delete(GW_API, "HTTPRoute", Some("default"), "old");
    c.api.compact();
    c.api.hold_watches(false);
    assert!(within(10, || who(&p, "/after") == "b"), "{}", gw.log());
    assert!(
        within(10, || status_code(&p, "/old") == 404),
        "{}",
        gw.log()
    );
    // Relisting means a new LIST of HTTPRoutes after the first.
    let lists = c
        .api
        .requests()
        .iter()
        .filter(|r| {
            r.method == "GET" && r.path.ends_with("/httproutes") && !r.query.contains_key("watch")
        })
        .count();
    assert!(lists >= 2, "expected a relist, saw {lists} LISTs");
}

/// `(apiGroup, resource or resource/subresource, verb, namespace)` of an API request.
fn rbac_view(r: &tollgate_kube_fake::RecordedRequest) -> Option<(String, String, String, String)> {
    let seg: Vec<&str> = r.path.trim_matches('/').split('/').collect();
    let (group, rest) = match seg.as_slice() {
        ["api", _v, rest @ ..] => ("", rest),
        ["apis", g, _v, rest @ ..] => (*g, rest),
        _ => return None, // /version and other non-resource paths
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, rest @ ..] if !rest.is_empty() => (*ns, rest),
        _ => ("", rest),
    };
    let (resource, named) = match rest {
        [res] => ((*res).to_owned(), false),
        [res, _name] => ((*res).to_owned(), true),
        [res, _name, sub] => (format!("{res}/{sub}"), true),
        _ => return None,
    };
    let verb = match (r.method.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if r.query.contains_key("watch") => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", _) => "delete",
        _ => "?",
    };
    Some((group.to_owned(), resource, verb.to_owned(), ns.to_owned()))
}

#[test]
fn every_request_the_controller_makes_is_allowed_by_the_install_rbac() {
    let (_b, c, _p, _gw) = started(&["--lease-namespace", "tollgate-system"]);
    assert!(within(10, || !c
        .status(GW_API, "HTTPRoute", Some("default"), "world1")
        .is_null()));
    assert!(within(10, || c
        .api
        .get(
            "coordination.k8s.io/v1",
            "Lease",
            Some("tollgate-system"),
            "tollgate-gateway-controller"
        )
        .unwrap()
        .is_some()));
    // ...and renewed at least once (every 2 s).
    assert!(within(10, || c
        .api
        .requests()
        .iter()
        .any(|r| r.method == "PUT" && r.path.contains("/leases/"))));

    let rbac = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rbac.yaml"
    ))
    .unwrap();
    // (kind, namespace, rules) of every Role and ClusterRole.
    let roles: Vec<(String, String, Vec<Value>)> = rbac
        .split("\n---")
        .filter_map(|d| serde_saphyr::from_str::<Value>(d).ok())
        .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_owned(),
                d["metadata"]["namespace"].as_str().unwrap_or("").to_owned(),
                d["rules"].as_array().unwrap().clone(),
            )
        })
        .collect();
    let has = |list: &Value, x: &str| list.as_array().unwrap().iter().any(|v| v == x);
    let allowed = |(group, resource, verb, ns): &(String, String, String, String)| {
        roles.iter().any(|(kind, role_ns, rules)| {
            (kind == "ClusterRole" || role_ns == ns)
                && rules.iter().any(|r| {
                    has(&r["apiGroups"], group)
                        && has(&r["resources"], resource)
                        && has(&r["verbs"], verb)
                })
        })
    };
    // Only TLS Secrets and Secrets labelled for credentials are listed and watched: the
    // API server filters the rest out, so no other Secret's data reaches the gateway.
    let secret_reads: Vec<_> = c
        .api
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path == "/api/v1/secrets")
        .collect();
    // (fieldSelector, labelSelector) of each: exactly one of the two filters.
    let filters: Vec<_> = secret_reads
        .iter()
        .map(|r| (r.param("fieldSelector"), r.param("labelSelector")))
        .collect();
    let tls = (Some("type=kubernetes.io/tls"), None);
    let credentials = (None, Some("tollgate.dev/credentials"));
    assert!(
        filters.iter().all(|f| *f == tls || *f == credentials),
        "{secret_reads:?}"
    );
    for which in [tls, credentials] {
        let n = filters.iter().filter(|f| **f == which).count();
        assert!(n >= 2, "a list and a watch of {which:?}: {secret_reads:?}");
    }
    let seen: std::collections::BTreeSet<_> =
        c.api.requests().iter().filter_map(rbac_view).collect();
    assert!(seen.len() > 10, "{seen:?}");
    let denied: Vec<_> = seen.iter().filter(|v| !allowed(v)).collect();
    assert!(
        denied.is_empty(),
        "requests deploy/rbac.yaml does not allow: {denied:?}"
    );
}

/// The README walkthrough, with the fake cluster standing in for a real one: our
/// GatewayClass from deploy/, the example Gateway (on a free port instead of 80), the two
/// example HTTPRoutes, the example Services, and EndpointSlices as the EndpointSlice
/// controller would write them for the example pods (here: real echo backends).
#[test]
fn the_readme_walkthrough_serves_world1_and_world2() {
    let b = Backends::start(&["world1", "world2"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap();
    c.apply_yaml(&read("deploy/gatewayclass.yaml"));
    c.apply_yaml(
        &read("examples/kubernetes/gateway.yaml").replace("port: 80", &format!("port: {}", p.http)),
    );
    c.apply_yaml(&read("examples/gateway-api/routes.yaml"));
    // The fake API server has no Deployments (no pods run here): only the Services.
    let echo = read("examples/kubernetes/echo.yaml");
    let services: Vec<&str> = echo
        .split("\n---")
        .filter(|d| d.contains("kind: Service"))
        .collect();
    assert_eq!(services.len(), 2);
    for s in services {
        c.apply_yaml(s);
    }
    for (i, name) in ["world1", "world2"].iter().enumerate() {
        let (ip, port) = b
            .ep(i)
            .rsplit_once(':')
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
            .unwrap();
        c.apply_yaml(&format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{ name: {name}-abcde, namespace: default, labels: {{ kubernetes.io/service-name: {name} }} }}\naddressType: IPv4\nports: [{{ name: http, port: {port} }}]\nendpoints:\n- addresses: [{ip}]\n  conditions: {{ ready: true }}\n"
        ));
    }
    let gw = c.gateway("tollgate-0", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    for name in ["world1", "world2"] {
        let r = get(Ports::addr(p.http), &format!("/{name}/hello"), &[]);
        assert_eq!(backend(&r), name, "{}", r.body);
        assert_eq!(r.json()["path"], "/hello");
    }
    assert!(within(10, || {
        let s = c.status(GW_API, "Gateway", Some("default"), "demo");
        s["listeners"][0]["attachedRoutes"] == 2
    }));
}
