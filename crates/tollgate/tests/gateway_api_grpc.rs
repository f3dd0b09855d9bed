//! GRPCRoutes and HTTPS Gateway listeners end to end: gRPC calls routed by service,
//! method and header to h2c gRPC echo backends, and certificates from
//! `kubernetes.io/tls` Secrets chosen by SNI (checked with curl, which verifies the
//! certificate against the test CA and the name it asked for).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use std::process::Command;

use bytes::Bytes;
use common::k8s::{self, Ports, service, svc};
use common::*;
use tollgate_test_support::grpc::tonic::{Code, Request};
use tollgate_test_support::grpc::{self, BACKEND_UNIMPLEMENTED, GrpcEcho};
use tollgate_test_support::pki::Ca;
use tollgate_test_support::process::TempDir;

#[test]
fn grpcroute_matches_service_method_and_headers() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let one = rt.block_on(GrpcEcho::start()).unwrap();
    let two = rt.block_on(GrpcEcho::start()).unwrap();
    let (_gw, p) = k8s::start(|p| {
        let files = format!(
            r"{gw}{s1}{s2}
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{ name: echo }}
spec:
  parentRefs: [{{ name: gw }}]
  rules:
  - matches: [{{ method: {{ service: test.Echo, method: Unary }} }}]
    backendRefs: [{{ name: one, port: 80 }}]
  - matches:
    - method: {{ service: test.Echo, method: Unary }}
      headers: [{{ name: x-variant, value: two }}]
    backendRefs: [{{ name: two, port: 80 }}]
  - matches: [{{ method: {{ service: test.Echo, method: Stream }} }}]
    backendRefs: [{{ name: two, port: 80 }}]
  - matches: [{{ method: {{ type: RegularExpression, service: 'test\.E.*', method: 'F.il' }} }}]
    backendRefs: [{{ name: one, port: 80 }}]
",
            gw = k8s::gateway(p.http),
            s1 = service("default", "one", &[(&one.endpoint(), true)]),
            s2 = service("default", "two", &[(&two.endpoint(), true)]),
        );
        vec![("all.yaml".to_owned(), files)]
    });
    let ch = rt.block_on(grpc::channel(Ports::addr(p.http))).unwrap();
    let unary = |md: &[(&'static str, &'static str)]| {
        let mut r = Request::new(Bytes::from_static(b"hello"));
        for (k, v) in md {
            r.metadata_mut().insert(*k, v.parse().unwrap());
        }
        rt.block_on(grpc::unary(&ch, "/test.Echo/Unary", r))
    };

    let r = unary(&[]).unwrap();
    assert_eq!(r.get_ref().as_ref(), b"hello");
    assert_eq!(
        (one.count(), two.count()),
        (1, 0),
        "service + method to one"
    );
    let r = unary(&[("x-variant", "two")]).unwrap();
    assert_eq!(r.get_ref().as_ref(), b"hello");
    assert_eq!((one.count(), two.count()), (1, 1), "a header match wins");
    assert_eq!(two.calls()[0].path, "/test.Echo/Unary");
    assert_eq!(two.calls()[0].headers["x-variant"], "two");

    let mut stream = rt
        .block_on(grpc::server_streaming(
            &ch,
            "/test.Echo/Stream",
            Request::new(Bytes::from_static(b"3")),
        ))
        .unwrap()
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = rt.block_on(stream.message()).unwrap() {
        got.push(String::from_utf8(m.to_vec()).unwrap());
    }
    assert_eq!(
        got,
        ["msg-0", "msg-1", "msg-2"],
        "streaming through the route"
    );
    assert_eq!(two.count(), 2, "Stream goes to two");

    let e = rt
        .block_on(grpc::unary(
            &ch,
            "/test.Echo/Fail",
            Request::new(Bytes::from_static(b"gone")),
        ))
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::NotFound,
        "regex method match reached one: {e:?}"
    );
    assert_eq!(e.message(), "gone");
    assert_eq!(one.count(), 2);

    for path in ["/test.Echo/Other", "/other.Service/Unary"] {
        let e = rt
            .block_on(grpc::unary(
                &ch,
                path,
                Request::new(Bytes::from_static(b"x")),
            ))
            .unwrap_err();
        assert_eq!(e.code(), Code::Unimplemented, "{path}: {e:?}");
        assert_ne!(
            e.message(),
            BACKEND_UNIMPLEMENTED,
            "{path}: the gateway answered"
        );
        assert!(e.message().contains("no route matched"), "{path}: {e:?}");
    }
    assert_eq!(
        one.count() + two.count(),
        4,
        "unmatched calls reach no backend"
    );
}

/// A `kubernetes.io/tls` Secret holding `cert` and `key`.
fn tls_secret(name: &str, cert: &str, key: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "
---
apiVersion: v1
kind: Secret
metadata: {{ name: {name} }}
type: kubernetes.io/tls
stringData:
  tls.crt: |
{}  tls.key: |
{}",
        indent(cert),
        indent(key)
    )
}

/// curl `https://host:port/path` resolved to 127.0.0.1, trusting `ca`; `(exit code,
/// body)`.
pub(crate) fn curl_https(host: &str, port: u16, path: &str, ca: &std::path::Path) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--resolve"])
        .arg(format!("{host}:{port}:127.0.0.1"))
        .arg("--cacert")
        .arg(ca)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .expect("run curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn https_listener_serves_secret_certificates_chosen_by_sni() {
    let ca = Ca::new("Gateway API Test CA").unwrap();
    let a = ca.server(&["a.example.test"]).unwrap();
    let b_cert = ca.server(&["b.example.test"]).unwrap();
    let pki = TempDir::new("gwapi-pki").unwrap();
    let ca_file = ca.write(pki.path(), "ca.pem").unwrap();
    let b = Backends::start(&["app"]);
    let (_gw, p) = k8s::start(|p| {
        let files = format!(
            r"{head}
  - {{ name: http, port: {http}, protocol: HTTP }}
  - name: https
    port: {https}
    protocol: HTTPS
    tls:
      mode: Terminate
      certificateRefs: [{{ name: a-cert }}, {{ kind: Secret, group: '', name: b-cert }}]
{sa}{sb}{s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ backendRefs: [{{ name: app, port: 80 }}] }}]
",
            head = k8s::gateway_with(""),
            http = p.http,
            https = p.other,
            sa = tls_secret("a-cert", &a.cert_pem, &a.key_pem),
            sb = tls_secret("b-cert", &b_cert.cert_pem, &b_cert.key_pem),
            s = svc("app", &b.ep(0)),
        );
        vec![("all.yaml".to_owned(), files)]
    });
    for host in ["a.example.test", "b.example.test"] {
        let (code, out) = curl_https(host, p.other, "/x", &ca_file);
        assert_eq!(
            code, 0,
            "{host}: the certificate for the SNI name verifies: {out}"
        );
        let echo: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(echo["backend"], "app", "{host}: {out}");
        assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https", "{host}");
        assert_eq!(echo["headers"]["host"][0], format!("{host}:{}", p.other));
    }
    // An unknown name gets the first certificate, which is not valid for it.
    let (code, out) = curl_https("c.example.test", p.other, "/x", &ca_file);
    assert_ne!(code, 0, "c.example.test must not verify: {out}");
    assert_eq!(b.list[0].requests(), 2);
    // The HTTP listener of the same Gateway serves the same route in clear.
    let r = get(Ports::addr(p.http), "/x", &[]);
    assert_eq!(k8s::backend(&r), "app");
    assert_eq!(r.json()["headers"]["x-forwarded-proto"][0], "http");
}

#[test]
fn a_secret_whose_key_does_not_match_is_dropped_and_the_rest_is_served() {
    let ca = Ca::new("Gateway API Test CA").unwrap();
    let good = ca.server(&["good.example.test"]).unwrap();
    let bad = ca.server(&["bad.example.test"]).unwrap();
    let pki = TempDir::new("gwapi-pki").unwrap();
    let ca_file = ca.write(pki.path(), "ca.pem").unwrap();
    let b = Backends::start(&["app"]);
    let (gw, p) = k8s::start(|p| {
        let files = format!(
            r"{head}
  - name: https
    port: {https}
    protocol: HTTPS
    tls: {{ certificateRefs: [{{ name: good }}, {{ name: mismatched }}] }}
{sg}{sb}{s}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{ name: app }}
spec:
  parentRefs: [{{ name: gw }}]
  rules: [{{ backendRefs: [{{ name: app, port: 80 }}] }}]
",
            head = k8s::gateway_with(""),
            https = p.other,
            sg = tls_secret("good", &good.cert_pem, &good.key_pem),
            // bad's certificate with good's key: valid PEM, unusable pair.
            sb = tls_secret("mismatched", &bad.cert_pem, &good.key_pem),
            s = svc("app", &b.ep(0)),
        );
        vec![("all.yaml".to_owned(), files)]
    });
    let (code, out) = curl_https("good.example.test", p.other, "/x", &ca_file);
    assert_eq!(code, 0, "the good Secret is served: {out}");
    let (code, out) = curl_https("bad.example.test", p.other, "/x", &ca_file);
    assert_ne!(code, 0, "the mismatched pair is not served: {out}");

    let t = k8s::translate(gw.dir.path());
    let listener = &k8s::status(&t, "Gateway", "gw")["status"]["listeners"][0];
    let refs = k8s::condition(&listener["conditions"], "ResolvedRefs");
    assert_eq!(refs["status"], "False", "{listener:#}");
    assert_eq!(refs["reason"], "InvalidCertificateRef", "{listener:#}");
    let message = refs["message"].as_str().unwrap_or("");
    assert!(
        message.contains("default/mismatched") && message.contains("key"),
        "names the Secret and the problem: {message}"
    );
    let programmed = k8s::condition(&listener["conditions"], "Programmed");
    assert_eq!(programmed["status"], "True", "one good certificate serves");
}
