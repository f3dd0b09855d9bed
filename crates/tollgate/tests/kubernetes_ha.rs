//! `tollgate run --kubernetes` as it runs in production: readiness held until the first
//! sync, serving through an API-server outage, EndpointSlice changes under load with no
//! failed request, and two replicas sharing a port (SO_REUSEPORT) with one leader
//! writing status and the other taking over when it dies or leaves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use common::cluster::{FakeCluster, metric, ready, within};
use common::k8s::{Ports, backend, gateway, http_route as route, svc};
use common::*;

const LEASE: &str = "tollgate-gateway-controller";
const WRITES: &str = "tollgate_kubernetes_status_writes_total{result=\"ok\"}";

/// Service `a` with one EndpointSlice `a-0` listing `(ip:port, ready, terminating)`
/// endpoints (one port per slice: the backends here all listen on 127.0.0.1).
fn slice(eps: &[(&str, bool, bool)]) -> String {
    let port = eps[0].0.rsplit_once(':').unwrap().1;
    let mut out = format!(
        "\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{ name: a-0, namespace: default, labels: {{ kubernetes.io/service-name: a }} }}\naddressType: IPv4\nports: [{{ name: http, port: {port} }}]\nendpoints:\n"
    );
    for (ep, ready, terminating) in eps {
        let ip = ep.rsplit_once(':').unwrap().0;
        out.push_str(&format!(
            "- addresses: [{ip}]\n  conditions: {{ ready: {ready}, serving: true, terminating: {terminating} }}\n"
        ));
    }
    out
}

fn who(p: &Ports, path: &str) -> String {
    backend(&get(Ports::addr(p.http), path, &[]))
}

fn lease_holder(c: &FakeCluster) -> String {
    c.api
        .get("coordination.k8s.io/v1", "Lease", Some("default"), LEASE)
        .unwrap()
        .map(|l| {
            l["spec"]["holderIdentity"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .unwrap_or_default()
}

/// A cluster with our Gateway `gw`, Service `a` (one backend) and the route `/one` → a,
/// plus `more` manifests.
fn one_route(more: &str) -> (Backends, FakeCluster, Ports) {
    let b = Backends::start(&["a"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    c.apply_yaml(&format!(
        "{}{}{}{more}",
        gateway(p.http),
        svc("a", &b.ep(0)),
        route("r1", "/one", "a")
    ));
    (b, c, p)
}

/// Has the API server got a status for HTTPRoute `name`?
fn has_route_status(c: &FakeCluster, name: &str) -> bool {
    !c.status(
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        Some("default"),
        name,
    )
    .is_null()
}

#[test]
fn readiness_waits_for_the_first_sync_and_an_outage_keeps_the_last_config_serving() {
    let b = Backends::start(&["a"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    c.apply_yaml(&format!(
        "{}{}{}",
        gateway(p.http),
        svc("a", &b.ep(0)),
        route("r", "/", "a")
    ));
    // The API server is away when the gateway starts: not ready, nothing served.
    c.rt.block_on(c.api.set_available(false)).unwrap();
    let gw = c.gateway("pod-a", &p, &[]);
    for _ in 0..5 {
        assert_eq!(ready(&gw), 503);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(client::request(Ports::addr(p.http), "GET", "/", &[], "").is_err());
    assert_eq!(metric(&gw, "tollgate_kubernetes_connected"), Some(0.0));

    // It comes back: the first full sync is served, then the replica is ready.
    c.rt.block_on(c.api.set_available(true)).unwrap();
    assert!(within(20, || ready(&gw) == 200), "{}", gw.log());
    assert_eq!(who(&p, "/x"), "a");

    // Away again while serving: the last good configuration keeps serving, readiness
    // stays (the data plane is fine), and the metrics say the source is gone.
    c.rt.block_on(c.api.set_available(false)).unwrap();
    assert!(within(15, || metric(&gw, "tollgate_kubernetes_connected")
        == Some(0.0)));
    for _ in 0..20 {
        assert_eq!(who(&p, "/x"), "a");
    }
    assert_eq!(ready(&gw), 200);
    // Back: it reconnects by itself and follows changes again.
    c.rt.block_on(c.api.set_available(true)).unwrap();
    assert!(within(15, || metric(&gw, "tollgate_kubernetes_connected")
        == Some(1.0)));
    c.apply_yaml(&route("r2", "/two", "a"));
    assert!(within(10, || who(&p, "/two/x") == "a"), "{}", gw.log());
}

#[test]
fn endpoint_changes_under_load_lose_no_request_and_a_terminating_endpoint_drains() {
    let b = Backends::start(&["a", "b"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    c.apply_yaml(&format!(
        "{}\n---\napiVersion: v1\nkind: Service\nmetadata: {{ name: a, namespace: default }}\nspec:\n  ports: [{{ name: http, port: 80 }}]\n{}{}",
        gateway(p.http),
        slice(&[(&b.ep(0), true, false)]),
        route("r", "/", "a")
    ));
    let gw = c.gateway("pod-a", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    // Both backends listen on 127.0.0.1 with their own ports, and a slice has one
    // port: so "b joins" is the slice switching to b's port with a's address kept
    // terminating is modelled by two slices below.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load = {
        let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
        let addr = Ports::addr(p.http);
        std::thread::spawn(move || {
            // Bounded: at most 60 s or until told to stop.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while !stop.load(Ordering::Relaxed) && std::time::Instant::now() < deadline {
                match client::request(addr, "GET", "/load", &[], "") {
                    Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    // A slow request in flight on a, which is about to start terminating.
    let slow = {
        let addr = Ports::addr(p.http);
        std::thread::spawn(move || client::request(addr, "GET", "/delay/1500", &[], "").unwrap())
    };
    std::thread::sleep(Duration::from_millis(300));
    // a terminates (not ready, still serving) and b takes over, in a second slice.
    c.apply_yaml(&format!(
        "{}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{ name: a-1, namespace: default, labels: {{ kubernetes.io/service-name: a }} }}\naddressType: IPv4\nports: [{{ name: http, port: {} }}]\nendpoints:\n- addresses: [127.0.0.1]\n  conditions: {{ ready: true }}\n",
        slice(&[(&b.ep(0), false, true)]),
        b.ep(1).rsplit_once(':').unwrap().1
    ));
    assert!(within(5, || who(&p, "/x") == "b"), "{}", gw.log());
    // From now on only b answers.
    for _ in 0..20 {
        assert_eq!(who(&p, "/x"), "b");
    }
    // The request that was in flight on a finished there.
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(backend(&r), "a");
    // Back and forth a few more times under load.
    for i in 0..4 {
        let (ready_a, ready_b) = if i % 2 == 0 {
            (true, false)
        } else {
            (false, true)
        };
        c.apply_yaml(&format!(
            "{}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {{ name: a-1, namespace: default, labels: {{ kubernetes.io/service-name: a }} }}\naddressType: IPv4\nports: [{{ name: http, port: {} }}]\nendpoints:\n- addresses: [127.0.0.1]\n  conditions: {{ ready: {ready_b} }}\n",
            slice(&[(&b.ep(0), ready_a, !ready_a)]),
            b.ep(1).rsplit_once(':').unwrap().1
        ));
        let want = if ready_a { "a" } else { "b" };
        let t = std::time::Instant::now();
        assert!(within(5, || who(&p, "/x") == want), "{}", gw.log());
        // Reported, not asserted (no timing assertions in tests): the issue's budget
        // for an EndpointSlice change is 1 s.
        eprintln!("endpoint change {i} served after {:?}", t.elapsed());
    }
    stop.store(true, Ordering::Relaxed);
    load.join().unwrap();
    assert!(ok.load(Ordering::Relaxed) > 50, "load ran");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{}", gw.log());
}

#[test]
fn two_replicas_share_the_port_one_leads_and_the_other_takes_over_when_it_dies() {
    let (_b, c, p) = one_route("");
    let lease = ["--lease-duration", "3s"];
    let mut gws = vec![
        Some(c.gateway("pod-a", &p, &lease)),
        Some(c.gateway("pod-b", &p, &lease)),
    ];
    for g in gws.iter().flatten() {
        assert!(within(20, || ready(g) == 200), "{}", g.log());
    }
    // Both bound the same Gateway port (SO_REUSEPORT) and both serve it.
    for _ in 0..60 {
        assert_eq!(who(&p, "/one"), "a");
    }
    for g in gws.iter().flatten() {
        // (The access log is written in batches, every 100 ms.)
        assert!(
            within(5, || !g.access_log().is_empty()),
            "a replica got no traffic: {}",
            g.log()
        );
    }
    // Exactly one leader: the Lease holder, the only one writing status.
    let leader_of = |gws: &[Option<Gateway>]| -> Option<usize> {
        let leaders: Vec<usize> = gws
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                g.as_ref()
                    .is_some_and(|g| metric(g, "tollgate_kubernetes_leader") == Some(1.0))
            })
            .map(|(i, _)| i)
            .collect();
        (leaders.len() == 1).then(|| leaders[0])
    };
    assert!(within(15, || leader_of(&gws).is_some()));
    let first = leader_of(&gws).unwrap();
    let other = 1 - first;
    assert_eq!(lease_holder(&c), ["pod-a", "pod-b"][first]);
    assert!(within(10, || gws[first]
        .as_ref()
        .is_some_and(|g| metric(g, WRITES).is_some_and(|n| n > 0.0))));
    c.apply_yaml(&route("r2", "/two", "a"));
    assert!(within(10, || has_route_status(&c, "r2")));
    let follower = gws[other].as_ref().unwrap();
    assert_eq!(metric(follower, WRITES), Some(0.0), "{}", follower.log());
    assert_eq!(metric(follower, "tollgate_kubernetes_leader"), Some(0.0));

    // The leader dies without a word (SIGKILL): the other takes over once the lease
    // expires, and writes the status of what changes next.
    drop(gws[first].take());
    assert!(within(20, || lease_holder(&c) == ["pod-a", "pod-b"][other]));
    let survivor = gws[other].as_ref().unwrap();
    assert!(within(10, || metric(
        survivor,
        "tollgate_kubernetes_leader"
    ) == Some(1.0)));
    c.apply_yaml(&route("r3", "/three", "a"));
    assert!(
        within(15, || metric(survivor, WRITES).is_some_and(|n| n > 0.0)),
        "{}",
        survivor.log()
    );
    assert!(within(10, || has_route_status(&c, "r3")));
    let lease = c
        .api
        .get("coordination.k8s.io/v1", "Lease", Some("default"), LEASE)
        .unwrap()
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1, "{lease:#}");
    // The port is still served by the survivor alone.
    assert_eq!(who(&p, "/three"), "a");
}

#[test]
fn a_leader_stopping_gracefully_hands_the_lease_over_at_once() {
    let (_b, c, p) = one_route("");
    // A lease far longer than the test's waits: a takeover within them can only come
    // from the release.
    let lease = ["--lease-duration", "120s"];
    let mut a = c.gateway("pod-a", &p, &lease);
    assert!(within(20, || lease_holder(&c) == "pod-a"), "{}", a.log());
    let b2 = c.gateway("pod-b", &p, &lease);
    assert!(within(20, || ready(&b2) == 200));
    assert_eq!(metric(&b2, "tollgate_kubernetes_leader"), Some(0.0));
    a.signal("TERM").unwrap();
    a.wait_for_log("lease released", Duration::from_secs(10))
        .unwrap();
    assert_eq!(a.wait_exit(Duration::from_secs(30)).unwrap(), Some(0));
    assert!(within(30, || lease_holder(&c) == "pod-b"), "{}", b2.log());
    assert!(within(10, || metric(&b2, "tollgate_kubernetes_leader")
        == Some(1.0)));
}

#[test]
fn the_published_address_is_written_to_gateway_and_ingress_status() {
    let (_b, c, p) = one_route(
        "
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: { name: shop, namespace: default }
spec:
  ingressClassName: tollgate
  rules:
  - http:
      paths:
      - { path: /shop, pathType: Prefix, backend: { service: { name: a, port: { number: 80 } } } }
",
    );
    let gw = c.gateway("pod-a", &p, &["--publish-address", "192.0.2.10"]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    let ingress = Ports::addr(p.ingress_http);
    assert_eq!(backend(&get(ingress, "/shop/1", &[])), "a");
    assert!(
        within(10, || {
            c.status("networking.k8s.io/v1", "Ingress", Some("default"), "shop")["loadBalancer"]["ingress"]
                [0]["ip"]
                == "192.0.2.10"
        }),
        "{}",
        gw.log()
    );
    assert!(within(10, || {
        c.status(
            "gateway.networking.k8s.io/v1",
            "Gateway",
            Some("default"),
            "gw",
        )["addresses"]
            == serde_json::json!([{"type": "IPAddress", "value": "192.0.2.10"}])
    }));
}
