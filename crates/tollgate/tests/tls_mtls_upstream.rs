//! Client certificates (mTLS: required and optional, the subject header) and TLS to
//! backends (custom CA, SNI override, client certificate, h2), end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::time::Duration;

use common::*;
use tls_support::*;
use tollgate_test_support::pki::{Ca, Minted};

/// Files for a listener with client auth: server cert, client CA, alice's cert, and a
/// cert from a CA the listener does not trust.
struct MtlsFiles {
    server_ca: Ca,
    server: Minted,
    clients_ca: Ca,
    alice: Minted,
    mallory: Minted,
}

impl MtlsFiles {
    fn new() -> Self {
        let server_ca = Ca::new("Server CA").unwrap();
        let clients_ca = Ca::new("Clients CA").unwrap();
        let other_ca = Ca::new("Other CA").unwrap();
        Self {
            server: server_ca.server(&["a.example.com"]).unwrap(),
            alice: clients_ca.client("alice").unwrap(),
            mallory: other_ca.client("mallory").unwrap(),
            server_ca,
            clients_ca,
        }
    }

    fn gateway(&self, required: bool, backend: &str) -> Gateway {
        let tls = format!(
            "      certificates: [{{ cert: a.pem, key: a-key.pem }}]\n      client_auth: {{ ca: clients-ca.pem, required: {required}, forward_subject_header: x-client-subject }}"
        );
        start(
            &https_config(&tls, backend),
            &[
                ("a.pem", &self.server.cert_pem),
                ("a-key.pem", &self.server.key_pem),
                ("clients-ca.pem", self.clients_ca.cert_pem()),
                ("ca.pem", self.server_ca.cert_pem()),
                ("alice.pem", &self.alice.cert_pem),
                ("alice-key.pem", &self.alice.key_pem),
                ("mallory.pem", &self.mallory.cert_pem),
                ("mallory-key.pem", &self.mallory.key_pem),
            ],
        )
    }
}

fn path_str(gw: &Gateway, name: &str) -> String {
    gw.dir.path().join(name).to_str().unwrap().to_owned()
}

#[test]
fn required_client_certificates_gate_the_listener_and_set_the_subject_header() {
    let b = Backends::start(&["app"]);
    let files = MtlsFiles::new();
    let gw = files.gateway(true, &b.ep(0));
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let (alice, alice_key) = (path_str(&gw, "alice.pem"), path_str(&gw, "alice-key.pem"));
    let (mallory, mallory_key) = (
        path_str(&gw, "mallory.pem"),
        path_str(&gw, "mallory-key.pem"),
    );
    let failures = metric(&gw, "tollgate_tls_handshake_failures_total");

    // No certificate: no HTTP exchange at all, and the failed handshake is counted.
    let c = curl_https("a.example.com", addr, "/", &ca_file, &[]);
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    // rustls says why: TLS 1.3 reports the refusal after the client's side of the
    // handshake, as an alert on the first read.
    let err = block_on(fetch(
        addr,
        "a.example.com",
        trusting(&files.server_ca),
        "/",
    ))
    .expect_err("a client without a certificate must be refused");
    assert!(
        format!("{err:#}").contains("CertificateRequired"),
        "{err:#}"
    );
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) == failures + 2),
        "tollgate_tls_handshake_failures_total must count it: {}",
        metric(&gw, "tollgate_tls_handshake_failures_total")
    );

    // A certificate from a CA the listener does not trust: refused as well.
    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--cert", &mallory, "--key", &mallory_key],
    );
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) == failures + 3),
        "{}",
        metric(&gw, "tollgate_tls_handshake_failures_total")
    );
    assert_eq!(b.list[0].requests(), 0);

    // Alice's certificate: in, and the backend learns who she is, over h1 and h2.
    for version in ["--http1.1", "--http2"] {
        let c = curl_https(
            "a.example.com",
            addr,
            "/whoami",
            &ca_file,
            &[version, "--cert", &alice, "--key", &alice_key],
        );
        assert_eq!((c.code, c.status), (0, 200), "{c:?}");
        let echo = c.json();
        assert_eq!(
            echo["headers"]["x-client-subject"],
            serde_json::json!(["CN=alice,O=Tollgate Tests"]),
            "{version}: {echo}"
        );
    }

    // A client claiming an identity in the header gets its claim replaced.
    let c = curl_https(
        "a.example.com",
        addr,
        "/whoami",
        &ca_file,
        &[
            "--cert",
            &alice,
            "--key",
            &alice_key,
            "-H",
            "x-client-subject: CN=admin",
        ],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-client-subject"],
        serde_json::json!(["CN=alice,O=Tollgate Tests"]),
        "{}",
        c.body
    );
    assert_eq!(b.list[0].requests(), 3);
}

#[test]
fn optional_client_certificates_let_anonymous_clients_in_without_a_subject() {
    let b = Backends::start(&["app"]);
    let files = MtlsFiles::new();
    let gw = files.gateway(false, &b.ep(0));
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let (alice, alice_key) = (path_str(&gw, "alice.pem"), path_str(&gw, "alice-key.pem"));
    let (mallory, mallory_key) = (
        path_str(&gw, "mallory.pem"),
        path_str(&gw, "mallory-key.pem"),
    );

    // Anonymous: served, and a forged subject header is removed, not forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/anon",
        &ca_file,
        &["-H", "x-client-subject: CN=admin"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    let echo = c.json();
    assert!(
        echo["headers"].get("x-client-subject").is_none(),
        "a forged subject must not reach the backend: {echo}"
    );

    // With a certificate: verified and forwarded.
    let c = curl_https(
        "a.example.com",
        addr,
        "/alice",
        &ca_file,
        &["--cert", &alice, "--key", &alice_key],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-client-subject"],
        serde_json::json!(["CN=alice,O=Tollgate Tests"])
    );

    // Optional does not mean unverified: an untrusted certificate is still refused.
    let c = curl_https(
        "a.example.com",
        addr,
        "/mallory",
        &ca_file,
        &["--cert", &mallory, "--key", &mallory_key],
    );
    assert_ne!(c.code, 0, "{c:?}");
    assert_eq!(c.status, 0, "{c:?}");
    assert_eq!(b.list[0].requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 6. TLS to backends
// ---------------------------------------------------------------------------------------

#[test]
fn upstream_tls_verifies_with_its_ca_uses_sni_presents_client_cert_and_speaks_h2() {
    let backend_ca = Ca::new("Backend CA").unwrap();
    let other_ca = Ca::new("Unrelated CA").unwrap();
    let gateway_ca = Ca::new("Gateway Client CA").unwrap();
    // The backend's certificate names only its internal DNS name, not 127.0.0.1.
    let backend_cert = backend_ca.server(&["payments.internal"]).unwrap();
    let gw_cert = gateway_ca.client("tollgate-gateway").unwrap();

    let rt = multi_thread_rt();
    let plain_tls = rt
        .block_on(Backend::start_tls(
            "payments",
            backend_cert.server_config(None, false).unwrap(),
        ))
        .unwrap();
    let mtls = rt
        .block_on(Backend::start_tls(
            "payments-mtls",
            backend_cert.server_config(Some(&gateway_ca), true).unwrap(),
        ))
        .unwrap();
    let (p1, p2) = (plain_tls.endpoint(), mtls.endpoint());

    let cfg = format!(
        r#"
listeners: [{{ name: web, address: "127.0.0.1:0" }}]
services:
  - name: verified
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
  - name: wrong-ca
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: other-ca.pem, sni: payments.internal }}
  - name: no-sni
    endpoints: ["{p1}"]
    protocol: https
    tls: {{ ca: backend-ca.pem }}
  - name: h2
    endpoints: ["{p1}"]
    protocol: h2
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
  - name: mtls
    endpoints: ["{p2}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal, cert: gw.pem, key: gw-key.pem }}
  - name: mtls-no-cert
    endpoints: ["{p2}"]
    protocol: https
    tls: {{ ca: backend-ca.pem, sni: payments.internal }}
routes:
  - {{ name: verified, match: {{ path: {{ prefix: /verified }} }}, backends: [{{ service: verified }}] }}
  - {{ name: wrong-ca, match: {{ path: {{ prefix: /wrong-ca }} }}, backends: [{{ service: wrong-ca }}] }}
  - {{ name: no-sni, match: {{ path: {{ prefix: /no-sni }} }}, backends: [{{ service: no-sni }}] }}
  - {{ name: h2, match: {{ path: {{ prefix: /h2 }} }}, backends: [{{ service: h2 }}] }}
  - {{ name: mtls, match: {{ path: {{ prefix: /mtls }} }}, backends: [{{ service: mtls }}] }}
  - {{ name: mtls-no-cert, match: {{ path: {{ prefix: /nocert }} }}, backends: [{{ service: mtls-no-cert }}] }}
"#
    );
    let gw = start(
        &cfg,
        &[
            ("backend-ca.pem", backend_ca.cert_pem()),
            ("other-ca.pem", other_ca.cert_pem()),
            ("gw.pem", &gw_cert.cert_pem),
            ("gw-key.pem", &gw_cert.key_pem),
        ],
    );
    let web = gw.listener("web").unwrap();

    // The backend's own CA and the SNI override: verified, and the override is what the
    // backend saw.
    let r = get(web, "/verified/x", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["backend"], "payments");
    assert_eq!(echo["version"], "HTTP/1.1");
    assert_eq!(echo["tls"]["sni"], "payments.internal", "{echo}");
    assert_eq!(echo["tls"]["alpn"], "http/1.1", "{echo}");
    assert_eq!(echo["tls"]["peer_subject"], serde_json::Value::Null);

    // A CA that did not sign the backend's certificate: 502.
    let before = plain_tls.requests();
    let r = get(web, "/wrong-ca", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    // Without the override the gateway verifies against 127.0.0.1, which the
    // certificate does not name: 502 too.
    let r = get(web, "/no-sni", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(
        plain_tls.requests(),
        before,
        "no request may reach it unverified"
    );

    // protocol h2: ALPN h2 over TLS, and the backend sees HTTP/2.
    let r = get(web, "/h2", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["version"], "HTTP/2.0", "{echo}");
    assert_eq!(echo["tls"]["alpn"], "h2", "{echo}");
    assert_eq!(echo["tls"]["sni"], "payments.internal", "{echo}");

    // mTLS to the backend: the gateway's certificate is presented and verified.
    let r = get(web, "/mtls", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let echo = r.json();
    assert_eq!(echo["backend"], "payments-mtls");
    assert_eq!(
        echo["tls"]["peer_subject"], "CN=tollgate-gateway,O=Tollgate Tests",
        "{echo}"
    );
    // A service without the certificate cannot get through that backend's handshake.
    let before = mtls.requests();
    let r = get(web, "/nocert", &[]);
    assert_eq!(r.status, 502, "{r:?}");
    assert_eq!(mtls.requests(), before);
}

// ---------------------------------------------------------------------------------------
// 7. Redirect to https
// ---------------------------------------------------------------------------------------

/// `mtls_auth`: a verified client certificate is a consumer's credential; with optional
/// client auth, a request without a certificate can still use an API key.
#[test]
fn a_client_certificate_authenticates_a_consumer() {
    let b = Backends::start(&["app"]);
    let files = MtlsFiles::new();
    let tls = "      certificates: [{ cert: a.pem, key: a-key.pem }]\n      client_auth: { ca: clients-ca.pem, required: false }";
    let cfg = https_config(tls, &b.ep(0)).replace(
        "routes:\n  - { name: all, backends: [{ service: app }] }",
        r#"consumers:
  - { name: alice, groups: [staff], mtls: { subject: "CN=alice,O=Tollgate Tests" } }
  - { name: bob, keys: ["k-bob-00001"] }
routes:
  - name: all
    policies: { mtls_auth: {}, key_auth: {}, acl: { allow_groups: [staff], allow_consumers: [bob] } }
    backends: [{ service: app }]"#,
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &files.server.cert_pem),
            ("a-key.pem", &files.server.key_pem),
            ("clients-ca.pem", files.clients_ca.cert_pem()),
            ("ca.pem", files.server_ca.cert_pem()),
            ("alice.pem", &files.alice.cert_pem),
            ("alice-key.pem", &files.alice.key_pem),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let (alice, alice_key) = (path_str(&gw, "alice.pem"), path_str(&gw, "alice-key.pem"));

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &[
            "--cert",
            &alice,
            "--key",
            &alice_key,
            "-H",
            "x-consumer: bob",
        ],
    );
    assert_eq!(c.status, 200, "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-consumer"],
        serde_json::json!(["alice"])
    );
    assert_eq!(
        c.json()["headers"]["x-consumer-groups"],
        serde_json::json!(["staff"])
    );

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["-H", "apikey: k-bob-00001"],
    );
    assert_eq!(c.status, 200, "{c:?}");
    assert_eq!(
        c.json()["headers"]["x-consumer"],
        serde_json::json!(["bob"])
    );

    let c = curl_https("a.example.com", addr, "/", &ca_file, &[]);
    assert_eq!(c.status, 401, "{c:?}");
}
