//! `tollgate run --kubernetes` with the kinds around routes: a TLS Secret rotated in the
//! cluster is served without a restart, and Namespace labels decide `allowedRoutes`
//! selectors live.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::cluster::{FakeCluster, within};
use common::k8s::{Ports, backend, gateway_with, service};
use common::*;
use tls_support::curl_https;
use tollgate_test_support::pki::{Ca, Minted};
use tollgate_test_support::process::TempDir;

/// A `kubernetes.io/tls` Secret `default/cert` as the API server stores it (base64
/// `data`; the controller does not read `stringData`, which the API server converts).
fn tls_secret(m: &Minted) -> String {
    format!(
        "
---
apiVersion: v1
kind: Secret
metadata: {{ name: cert, namespace: default }}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
",
        STANDARD.encode(&m.cert_pem),
        STANDARD.encode(&m.key_pem)
    )
}

#[test]
fn a_tls_secret_rotated_in_the_cluster_is_served_without_a_restart() {
    let b = Backends::start(&["app"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    let pki = TempDir::new("k8s-rotate").unwrap();
    let (old_ca, new_ca) = (Ca::new("Old CA").unwrap(), Ca::new("New CA").unwrap());
    let old_file = old_ca.write(pki.path(), "old.pem").unwrap();
    let new_file = new_ca.write(pki.path(), "new.pem").unwrap();
    c.apply_yaml(&format!(
        "{}{}{}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app, namespace: default }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ backendRefs: [{{ name: app, port: 80 }}] }}]
",
        gateway_with(&format!(
            "  - name: https\n    port: {}\n    protocol: HTTPS\n    hostname: secure.test\n    tls: {{ certificateRefs: [{{ name: cert }}] }}\n",
            p.other
        )),
        service("default", "app", &[(&b.ep(0), true)]),
        tls_secret(&old_ca.server(&["secure.test"]).unwrap())
    ));
    let gw = c.gateway("pod-a", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    let https = Ports::addr(p.other);
    let r = curl_https("secure.test", https, "/x", &old_file, &[]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["backend"], "app");

    // The certificate is renewed (by cert-manager, say): the Secret changes in place.
    c.apply_yaml(&tls_secret(&new_ca.server(&["secure.test"]).unwrap()));
    assert!(
        within(10, || curl_https(
            "secure.test",
            https,
            "/x",
            &new_file,
            &[]
        )
        .status
            == 200),
        "{}",
        gw.log()
    );
    // Only the new certificate is served now.
    assert_eq!(
        curl_https("secure.test", https, "/x", &old_file, &[]).status,
        0
    );
}

#[test]
fn namespace_labels_decide_which_routes_attach_live() {
    let b = Backends::start(&["shop"]);
    let c = FakeCluster::start();
    let p = Ports::free();
    let ns = |team: &str| {
        format!(
            "\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{ name: shop, labels: {{ team: {team} }} }}\n"
        )
    };
    c.apply_yaml(&format!(
        "{}{}{}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: cart, namespace: shop }}
spec:
  parentRefs: [{{ name: gw, namespace: default }}]
  rules:
  - matches: [{{ path: {{ type: PathPrefix, value: /cart }} }}]
    backendRefs: [{{ name: shop, port: 80 }}]
",
        gateway_with(&format!(
            "  - name: http\n    port: {}\n    protocol: HTTP\n    allowedRoutes:\n      namespaces:\n        from: Selector\n        selector: {{ matchLabels: {{ team: shop }} }}\n",
            p.http
        )),
        ns("shop"),
        service("shop", "shop", &[(&b.ep(0), true)])
    ));
    let gw = c.gateway("pod-a", &p, &[]);
    gw.wait_for_log("serving", Duration::from_secs(20)).unwrap();
    let at = || get(Ports::addr(p.http), "/cart/1", &[]);
    assert_eq!(backend(&at()), "shop");

    // The namespace moves to another team: its route no longer attaches.
    c.apply_yaml(&ns("other"));
    assert!(within(10, || at().status == 404), "{}", gw.log());
    assert!(within(10, || {
        let s = c.status(
            "gateway.networking.k8s.io/v1",
            "HTTPRoute",
            Some("shop"),
            "cart",
        );
        s["parents"][0]["conditions"].as_array().is_some_and(|cs| {
            cs.iter().any(|c| {
                c["type"] == "Accepted"
                    && c["status"] == "False"
                    && c["reason"] == "NotAllowedByListeners"
            })
        })
    }));
    // And back.
    c.apply_yaml(&ns("shop"));
    assert!(within(10, || backend(&at()) == "shop"), "{}", gw.log());
}
