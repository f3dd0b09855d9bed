//! Which certificate each SNI gets.

use tollgate_tls::{MinVersion, PemPair, ServerTlsSettings, server_config};

use crate::support::{Ca, Server, client_trusting, client_trusting_anything, dial};

fn listener(certificates: Vec<PemPair>) -> ServerTlsSettings {
    ServerTlsSettings {
        certificates,
        min_version: MinVersion::Tls12,
        client_auth: None,
        alpn_h2: false,
    }
}

#[tokio::test]
async fn exact_sni_gets_its_certificate() {
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test"]);
    let api = ca.server(&["api.example.com"]);
    let www = ca.server(&["www.example.com", "example.com"]);
    let (cfg, warnings) = server_config(&listener(vec![
        default.pair("default.pem"),
        api.pair("api.pem"),
        www.pair("www.pem"),
    ]))
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut server = Server::start(cfg).await;
    let client = client_trusting(&ca);

    for (name, want) in [
        ("api.example.com", &api),
        ("www.example.com", &www),
        ("example.com", &www),
        ("default.test", &default),
    ] {
        let dialed = dial(client.clone(), server.addr, name).await.unwrap();
        assert_eq!(dialed.leaf, want.der, "{name}");
        assert_eq!(server.next().await.unwrap().sni.as_deref(), Some(name));
    }
}

#[tokio::test]
async fn wildcard_covers_exactly_one_label_and_exact_names_win() {
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test"]);
    let wild = ca.server(&["*.example.com"]);
    let exact = ca.server(&["exact.example.com"]);
    let (cfg, _) = server_config(&listener(vec![
        default.pair("default.pem"),
        wild.pair("wild.pem"),
        exact.pair("exact.pem"),
    ]))
    .unwrap();
    let mut server = Server::start(cfg).await;
    let verified = client_trusting(&ca);
    let anything = client_trusting_anything();

    let got = dial(verified.clone(), server.addr, "a.example.com")
        .await
        .unwrap();
    assert_eq!(got.leaf, wild.der);
    // Listed after the wildcard, but an exact name always beats a wildcard.
    let got = dial(verified, server.addr, "exact.example.com")
        .await
        .unwrap();
    assert_eq!(got.leaf, exact.der);
    // Two labels below, or the bare parent: not the wildcard's.
    for name in ["b.a.example.com", "example.com"] {
        let got = dial(anything.clone(), server.addr, name).await.unwrap();
        assert_eq!(got.leaf, default.der, "{name}");
    }
    for _ in 0..4 {
        server.next().await.unwrap();
    }
}

#[tokio::test]
async fn unknown_sni_and_no_sni_get_the_first_certificate() {
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test", "127.0.0.1"]);
    let other = ca.server(&["other.test"]);
    let (cfg, _) = server_config(&listener(vec![
        default.pair("default.pem"),
        other.pair("other.pem"),
    ]))
    .unwrap();
    let mut server = Server::start(cfg).await;

    let got = dial(client_trusting_anything(), server.addr, "unknown.test")
        .await
        .unwrap();
    assert_eq!(got.leaf, default.der);
    assert_eq!(
        server.next().await.unwrap().sni.as_deref(),
        Some("unknown.test")
    );

    // An IP address as server name: rustls sends no SNI, and verifies the IP SAN.
    let got = dial(client_trusting(&ca), server.addr, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(got.leaf, default.der);
    assert_eq!(server.next().await.unwrap().sni, None);
}

#[tokio::test]
async fn sni_matching_ignores_case() {
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test"]);
    let mixed = ca.server(&["Mixed.Example.COM"]);
    let (cfg, _) = server_config(&listener(vec![
        default.pair("default.pem"),
        mixed.pair("mixed.pem"),
    ]))
    .unwrap();
    let mut server = Server::start(cfg).await;
    let client = client_trusting(&ca);

    for name in ["mixed.example.com", "MIXED.example.Com"] {
        let got = dial(client.clone(), server.addr, name).await.unwrap();
        assert_eq!(got.leaf, mixed.der, "{name}");
        server.next().await.unwrap();
    }
}

#[tokio::test]
async fn common_name_counts_only_when_there_are_no_dns_sans() {
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test"]);
    let mut params = ca.params();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "legacy.test");
    let legacy = ca.issue(&params);
    // CN says one name, the SAN another: the SAN is what counts.
    let mut params = ca.params();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "cn.test");
    params.subject_alt_names = vec![rcgen::SanType::DnsName("san.test".try_into().unwrap())];
    let modern = ca.issue(&params);
    let (cfg, warnings) = server_config(&listener(vec![
        default.pair("default.pem"),
        legacy.pair("legacy.pem"),
        modern.pair("modern.pem"),
    ]))
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let mut server = Server::start(cfg).await;
    let client = client_trusting_anything();

    for (name, want) in [
        ("legacy.test", &legacy),
        ("san.test", &modern),
        ("cn.test", &default),
    ] {
        let got = dial(client.clone(), server.addr, name).await.unwrap();
        assert_eq!(got.leaf, want.der, "{name}");
        server.next().await.unwrap();
    }
}
