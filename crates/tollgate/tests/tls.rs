//! TLS listeners end to end against the real binary: SNI certificate selection, ALPN,
//! minimum versions, and certificate renewal under load (a broken renewal refused).
//! Shared setup: `common/tls_support.rs`; mTLS and upstream TLS: `tls_mtls_upstream.rs`;
//! redirects, `validate`, expiry and `Expect`: `tls_misc.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/tls_support.rs"]
mod tls_support;

use std::time::{Duration, Instant};

use common::*;
use tls_support::*;
use tollgate_test_support::pki::{Ca, write_atomic};
use tollgate_tls::rustls::pki_types::CertificateDer;

#[test]
fn sni_selects_exact_then_wildcard_then_default_certificate() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("SNI Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let wild = ca.server(&["*.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates:\n        - { cert: a.pem, key: a-key.pem }\n        - { cert: wild.pem, key: wild-key.pem }",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("wild.pem", &wild.cert_pem),
            ("wild-key.pem", &wild.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();

    // Exact and wildcard names verify against the CA: the right certificate for the name.
    let verify = trusting(&ca);
    let (leaf, r) = block_on(fetch(addr, "a.example.com", verify.clone(), "/exact")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["path"], "/exact");
    assert!(leaf == a.der, "a.example.com must get certificate A");
    let (leaf, r) = block_on(fetch(addr, "x.example.com", verify, "/wild")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(leaf == wild.der, "x.example.com must get the wildcard");

    // A wildcard covers one label only, and no SNI at all gets the first certificate.
    let any = trusting_anything();
    let (leaf, r) = block_on(fetch(addr, "b.a.example.com", any.clone(), "/")).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        leaf == a.der,
        "b.a.example.com must get the default (first) certificate"
    );
    let (leaf, r) = block_on(fetch(addr, "127.0.0.1", any, "/")).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        leaf == a.der,
        "no SNI must get the default (first) certificate"
    );

    // The same through curl (OpenSSL): verification succeeds for both names…
    let ca_file = gw.dir.path().join("ca.pem");
    let c = curl_https("x.example.com", addr, "/curl", &ca_file, &["-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=*.example.com");
    let c = curl_https("a.example.com", addr, "/curl", &ca_file, &["-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=a.example.com");
    // …and by IP (curl sends no SNI for an address) it sees the default certificate.
    let url = format!("https://127.0.0.1:{}/ip", addr.port());
    let c = curl(&["-k", "-v", &url]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_subject(&c), "CN=a.example.com");
    // b.a.example.com is not covered by the wildcard: curl refuses the default cert.
    let c = curl_https("b.a.example.com", addr, "/", &ca_file, &[]);
    assert_eq!(c.code, 60, "name mismatch expected: {c:?}");
    assert_eq!(b.list[0].requests(), 7);
}

// ---------------------------------------------------------------------------------------
// 2. ALPN
// ---------------------------------------------------------------------------------------

#[test]
fn alpn_negotiates_h2_or_http11() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("ALPN Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");

    let c = curl_https(
        "a.example.com",
        addr,
        "/over-h2?x=1",
        &ca_file,
        &["--http2", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.http_version, "2", "{c:?}");
    assert!(
        c.stderr.contains("ALPN: server accepted h2"),
        "{}",
        c.stderr
    );
    let echo = c.json();
    assert_eq!(echo["path"], "/over-h2");
    assert_eq!(echo["query"], "x=1");
    assert_eq!(echo["method"], "GET");

    let c = curl_https(
        "a.example.com",
        addr,
        "/over-h1",
        &ca_file,
        &["--http1.1", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(c.http_version, "1.1", "{c:?}");
    assert!(
        c.stderr.contains("ALPN: server accepted http/1.1"),
        "{}",
        c.stderr
    );
    assert_eq!(c.json()["path"], "/over-h1");
    assert_eq!(b.list[0].requests(), 2);
}

// ---------------------------------------------------------------------------------------
// 3. Versions
// ---------------------------------------------------------------------------------------

#[test]
fn min_version_13_refuses_tls12_clients() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Version Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]\n      min_version: \"1.3\"",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");
    let failures = metric(&gw, "tollgate_tls_handshake_failures_total");

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--tlsv1.2", "--tls-max", "1.2", "-v"],
    );
    assert_eq!(c.code, 35, "TLS 1.2 must be refused: {c:?}");
    assert_eq!(c.status, 0);
    // The server's refusal (an alert), not a client-side limitation.
    assert!(c.stderr.contains("protocol version"), "{}", c.stderr);

    let c = curl_https("a.example.com", addr, "/", &ca_file, &["--tlsv1.3", "-v"]);
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_tls_version(&c), "TLSv1.3");
    assert_eq!(b.list[0].requests(), 1);
    assert!(
        eventually(Duration::from_secs(2), || metric(
            &gw,
            "tollgate_tls_handshake_failures_total"
        ) > failures),
        "the refused handshake is counted"
    );
}

#[test]
fn min_version_12_accepts_tls12_and_refuses_tls11() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Version Test CA").unwrap();
    let a = ca.server(&["a.example.com"]).unwrap();
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]\n      min_version: \"1.2\"",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[
            ("a.pem", &a.cert_pem),
            ("a-key.pem", &a.key_pem),
            ("ca.pem", ca.cert_pem()),
        ],
    );
    let addr = gw.listener("websecure").unwrap();
    let ca_file = gw.dir.path().join("ca.pem");

    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &["--tlsv1.2", "--tls-max", "1.2", "-v"],
    );
    assert_eq!((c.code, c.status), (0, 200), "{c:?}");
    assert_eq!(curl_tls_version(&c), "TLSv1.2");

    // OpenSSL's default security level forbids TLS 1.1 on the client side; level 0 lets
    // curl really offer it, so the refusal seen is the gateway's.
    let c = curl_https(
        "a.example.com",
        addr,
        "/",
        &ca_file,
        &[
            "--tlsv1.1",
            "--tls-max",
            "1.1",
            "--ciphers",
            "DEFAULT:@SECLEVEL=0",
            "-v",
        ],
    );
    assert_eq!(c.code, 35, "TLS 1.1 must be refused: {c:?}");
    assert_eq!(c.status, 0);
    // curl did offer TLS 1.1 and the gateway answered with a fatal alert (rustls sends
    // `handshake_failure` to a hello without TLS 1.2 or 1.3).
    assert!(
        c.stderr
            .contains("TLSv1.1 (OUT), TLS handshake, Client hello"),
        "{}",
        c.stderr
    );
    assert!(c.stderr.contains("(IN), TLS alert"), "{}", c.stderr);
    assert_eq!(b.list[0].requests(), 1);
}

// ---------------------------------------------------------------------------------------
// 4. Renewal under load
// ---------------------------------------------------------------------------------------

/// One request of the load loop: when it started and which certificate it was served.
struct Sample {
    at: Instant,
    outcome: Result<CertificateDer<'static>, String>,
}

#[test]
fn certificate_renewal_under_load_drops_nothing_and_bad_renewal_is_refused() {
    let b = Backends::start(&["app"]);
    let ca = Ca::new("Renewal Test CA").unwrap();
    let old = ca.server(&["a.example.com"]).unwrap();
    let new = ca
        .server(&["a.example.com", "renewed.example.com"])
        .unwrap();
    assert_ne!(old.serial, new.serial);
    let cfg = https_config(
        "      certificates: [{ cert: a.pem, key: a-key.pem }]",
        &b.ep(0),
    );
    let gw = start(
        &cfg,
        &[("a.pem", &old.cert_pem), ("a-key.pem", &old.key_pem)],
    );
    let addr = gw.listener("websecure").unwrap();
    let client = trusting(&ca);
    let rt = multi_thread_rt();

    // A keep-alive connection opened before the renewal.
    let mut kept = rt
        .block_on(TlsConn::open(addr, "a.example.com", client.clone()))
        .unwrap();
    assert_eq!(rt.block_on(kept.get("/kept/1")).unwrap().status, 200);
    assert!(kept.leaf == old.der);

    // New connections continuously for 3 s (at most ~600 requests).
    let load = {
        let client = client.clone();
        rt.spawn(async move {
            let started = Instant::now();
            let mut samples = Vec::new();
            while started.elapsed() < Duration::from_secs(3) && samples.len() < 600 {
                let at = Instant::now();
                let outcome = match fetch(addr, "a.example.com", client.clone(), "/load").await {
                    Ok((leaf, r)) if r.status == 200 => Ok(leaf),
                    Ok((_, r)) => Err(format!("status {}: {}", r.status, r.body)),
                    Err(e) => Err(format!("{e:#}")),
                };
                samples.push(Sample { at, outcome });
                tokio::time::sleep(Duration::from_millis(3)).await;
            }
            samples
        })
    };
    std::thread::sleep(Duration::from_millis(1000));
    let reloads = gw.count_log("configuration reloaded");
    // A certificate manager's renewal: new key and certificate, each renamed into place.
    new.write(gw.dir.path(), "a.pem", "a-key.pem").unwrap();
    let renewed_at = Instant::now();
    let samples = rt.block_on(load).unwrap();

    let failed: Vec<_> = samples
        .iter()
        .filter_map(|s| s.outcome.as_ref().err())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed: {failed:?}",
        failed.len(),
        samples.len()
    );
    let served = |s: &Sample| s.outcome.as_ref().ok().cloned();
    let before = samples.iter().filter(|s| s.at < renewed_at).count();
    assert!(before > 10, "the load ran before the renewal ({before})");
    assert!(
        samples
            .iter()
            .filter(|s| s.at < renewed_at)
            .all(|s| served(s).as_ref() == Some(&old.der)),
        "before the renewal, the old certificate"
    );
    let first_new = samples
        .iter()
        .position(|s| served(s).as_ref() == Some(&new.der))
        .expect("no connection ever got the renewed certificate");
    let switch = samples[first_new].at.saturating_duration_since(renewed_at);
    eprintln!(
        "{} requests ({before} before the renewal); new certificate after {switch:?}",
        samples.len()
    );
    assert!(
        switch < Duration::from_secs(1),
        "new connections got the new certificate only after {switch:?}"
    );
    assert!(
        samples[first_new..]
            .iter()
            .all(|s| served(s).as_ref() == Some(&new.der)),
        "once switched, every new connection gets the new certificate"
    );
    assert!(
        samples.len() - first_new > 10,
        "load continued after the switch"
    );
    assert!(
        gw.count_log("configuration reloaded") > reloads,
        "{}",
        gw.log()
    );
    assert_eq!(
        gw.count_log("configuration rejected"),
        0,
        "key and certificate renamed in turn must not be seen half-done:\n{}",
        gw.log()
    );

    // The connection opened before the renewal is untouched and keeps working.
    let r = rt.block_on(kept.get("/kept/2")).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["path"], "/kept/2");

    // A key that does not match the certificate: refused, the last good one serves on.
    let stranger = ca.server(&["a.example.com"]).unwrap();
    write_atomic(
        &gw.dir.path().join("a-key.pem"),
        stranger.key_pem.as_bytes(),
    )
    .unwrap();
    gw.wait_for_log("configuration rejected", Duration::from_secs(5))
        .unwrap();
    assert!(
        admin(&gw, "/metrics")
            .body
            .contains("tollgate_config_reloads_total{result=\"failed\"} 1"),
        "{}",
        admin(&gw, "/metrics").body
    );
    for i in 0..5 {
        let (leaf, r) = rt
            .block_on(fetch(addr, "a.example.com", client.clone(), "/after-bad"))
            .unwrap_or_else(|e| panic!("request {i} after the bad renewal: {e:#}"));
        assert_eq!(r.status, 200);
        assert!(leaf == new.der, "the last good certificate keeps serving");
    }
    let r = rt.block_on(kept.get("/kept/3")).unwrap();
    assert_eq!(r.status, 200);
}

// ---------------------------------------------------------------------------------------
// 5. Client certificates
// ---------------------------------------------------------------------------------------
