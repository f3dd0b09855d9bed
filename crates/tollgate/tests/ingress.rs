//! Ingress end to end from manifest files: host and path rules, the default backend, the
//! `tollgate.dev/strip-path` annotation, TLS from a Secret, and which Ingresses are ours
//! (class `tollgate`, or an IngressClass naming Tollgate's Ingress controller).
//! `--ingress-http-port` / `--ingress-https-port` put the Ingress listeners on free ports.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::process::Command;

use common::k8s::{self, Ports, backend, get_host, svc};
use common::*;
use tollgate_test_support::pki::Ca;
use tollgate_test_support::process::TempDir;

fn ingress(name: &str, meta_extra: &str, spec: &str) -> String {
    format!(
        "
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{ name: {name}, namespace: default{meta_extra} }}
spec:
{spec}"
    )
}

fn serve(files: impl Fn(&Ports) -> String) -> (Gateway, Ports) {
    k8s::start(|p| vec![("ingress.yaml".to_owned(), files(p))])
}

#[test]
fn ingress_host_and_path_rules_and_the_default_backend() {
    let b = Backends::start(&["app", "exact", "anyhost", "fallback"]);
    let (gw, p) = serve(|_| {
        format!(
            "{}{}{}{}{}",
            svc("app", &b.ep(0)),
            svc("exact", &b.ep(1)),
            svc("anyhost", &b.ep(2)),
            svc("fallback", &b.ep(3)),
            ingress(
                "web",
                "",
                r"  ingressClassName: tollgate
  defaultBackend: { service: { name: fallback, port: { number: 80 } } }
  rules:
  - host: shop.test
    http:
      paths:
      - { path: /app, pathType: Prefix, backend: { service: { name: app, port: { name: http } } } }
      - { path: /exact, pathType: Exact, backend: { service: { name: exact, port: { number: 80 } } } }
      - { path: /missing, pathType: Prefix, backend: { service: { name: nope, port: { number: 80 } } } }
  - http:
      paths:
      - { path: /any, pathType: ImplementationSpecific, backend: { service: { name: anyhost, port: { number: 80 } } } }
"
            )
        )
    });
    assert_eq!(
        gw.listener("ingress/http").unwrap(),
        Ports::addr(p.ingress_http),
        "--ingress-http-port"
    );
    let who = |host: &str, path: &str| backend(&get_host(p.ingress_http, host, path));
    let r = get_host(p.ingress_http, "shop.test", "/app/1");
    assert_eq!(backend(&r), "app", "host + prefix: {r:?}");
    assert_eq!(
        r.json()["path"],
        "/app/1",
        "no strip without the annotation"
    );
    assert_eq!(who("shop.test", "/app"), "app");
    assert_eq!(
        who("shop.test", "/appx"),
        "fallback",
        "prefix is by segment"
    );
    assert_eq!(who("shop.test", "/exact"), "exact");
    assert_eq!(who("shop.test", "/exact/1"), "fallback", "exact is exact");
    assert_eq!(
        who("other.test", "/app/1"),
        "fallback",
        "host rule is for its host"
    );
    assert_eq!(
        who("other.test", "/any/1"),
        "anyhost",
        "a rule without host"
    );
    assert_eq!(who("shop.test", "/nothing"), "fallback", "default backend");
    let r = get_host(p.ingress_http, "shop.test", "/missing/1");
    assert_eq!(r.status, 500, "a backend that does not exist: {r:?}");
}

#[test]
fn strip_path_annotation_removes_the_matched_prefix() {
    let b = Backends::start(&["app"]);
    let (_gw, p) = serve(|_| {
        format!(
            "{}{}",
            svc("app", &b.ep(0)),
            ingress(
                "strip",
                ", annotations: { tollgate.dev/strip-path: 'true' }",
                r"  ingressClassName: tollgate
  rules:
  - http:
      paths:
      - { path: /api/v1, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }
      - { path: /login, pathType: Exact, backend: { service: { name: app, port: { number: 80 } } } }
"
            )
        )
    });
    let path = |target: &str| {
        let r = get_host(p.ingress_http, "any.test", target);
        assert_eq!(r.status, 200, "{target}: {r:?}");
        r.json()["path"].as_str().unwrap().to_owned()
    };
    assert_eq!(path("/api/v1/users/7"), "/users/7");
    assert_eq!(path("/api/v1"), "/");
    assert_eq!(path("/login"), "/", "an exact path is replaced whole");
}

#[test]
fn only_ingresses_of_our_class_are_served() {
    let b = Backends::start(&["ours", "theirs"]);
    let (_gw, p) = serve(|_| {
        let rule = |path: &str, service: &str| {
            format!(
                "  rules:
  - http:
      paths:
      - {{ path: {path}, pathType: Prefix, backend: {{ service: {{ name: {service}, port: {{ number: 80 }} }} }} }}
"
            )
        };
        format!(
            r"{s0}{s1}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{ name: custom }}
spec: {{ controller: tollgate.dev/ingress-controller }}
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {{ name: nginx }}
spec: {{ controller: k8s.io/ingress-nginx }}
{i1}{i2}{i3}{i4}{i5}",
            s0 = svc("ours", &b.ep(0)),
            s1 = svc("theirs", &b.ep(1)),
            i1 = ingress(
                "mine",
                "",
                &format!("  ingressClassName: tollgate\n{}", rule("/mine", "ours"))
            ),
            i2 = ingress(
                "custom",
                "",
                &format!("  ingressClassName: custom\n{}", rule("/custom", "ours"))
            ),
            i3 = ingress(
                "legacy",
                ", annotations: { kubernetes.io/ingress.class: tollgate }",
                &rule("/legacy", "ours")
            ),
            i4 = ingress(
                "nginx",
                "",
                &format!("  ingressClassName: nginx\n{}", rule("/nginx", "theirs"))
            ),
            i5 = ingress("classless", "", &rule("/classless", "theirs")),
        )
    });
    for path in ["/mine", "/custom", "/legacy"] {
        assert_eq!(
            backend(&get_host(p.ingress_http, "x.test", path)),
            "ours",
            "{path}"
        );
    }
    for path in ["/nginx", "/classless"] {
        let r = get_host(p.ingress_http, "x.test", path);
        assert_eq!(r.status, 404, "{path} is not ours: {r:?}");
    }
    assert_eq!(b.list[1].requests(), 0);
}

#[test]
fn ingress_tls_serves_https_with_the_secret_certificate() {
    let ca = Ca::new("Ingress Test CA").unwrap();
    let cert = ca.server(&["secure.test"]).unwrap();
    let pki = TempDir::new("ingress-pki").unwrap();
    let ca_file = ca.write(pki.path(), "ca.pem").unwrap();
    let b = Backends::start(&["app"]);
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let (gw, p) = serve(|_| {
        format!(
            "{s}
---
apiVersion: v1
kind: Secret
metadata: {{ name: secure-cert, namespace: default }}
type: kubernetes.io/tls
stringData:
  tls.crt: |
{crt}  tls.key: |
{key}{i}",
            s = svc("app", &b.ep(0)),
            crt = indent(&cert.cert_pem),
            key = indent(&cert.key_pem),
            i = ingress(
                "secure",
                "",
                r"  ingressClassName: tollgate
  tls: [{ hosts: [secure.test], secretName: secure-cert }]
  rules:
  - host: secure.test
    http:
      paths:
      - { path: /, pathType: Prefix, backend: { service: { name: app, port: { number: 80 } } } }
"
            ),
        )
    });
    assert_eq!(
        gw.listener("ingress/https").unwrap(),
        Ports::addr(p.ingress_https)
    );
    let port = p.ingress_https;
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--resolve"])
        .arg(format!("secure.test:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(&ca_file)
        .arg(format!("https://secure.test:{port}/hello"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let echo: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(echo["backend"], "app");
    assert_eq!(echo["path"], "/hello");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
    // The same rules in clear on the HTTP listener.
    assert_eq!(
        backend(&get_host(p.ingress_http, "secure.test", "/x")),
        "app"
    );
}
