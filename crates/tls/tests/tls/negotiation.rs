//! ALPN, protocol versions and session resumption.

use std::sync::Arc;

use tollgate_tls::rustls::crypto::aws_lc_rs;
use tollgate_tls::rustls::pki_types::CertificateDer;
use tollgate_tls::rustls::pki_types::pem::PemObject;
use tollgate_tls::rustls::version::TLS12;
use tollgate_tls::rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use tollgate_tls::{
    MinVersion, ServerTlsSettings, UpstreamAlpn, UpstreamTlsSettings, client_config, server_config,
};

use crate::support::{Ca, Server, client_trusting, dial};

const NAME: &str = "api.example.com";

async fn server(ca: &Ca, min_version: MinVersion, alpn_h2: bool) -> Server {
    let (cfg, _) = server_config(&ServerTlsSettings {
        certificates: vec![ca.server(&[NAME]).pair("api.pem")],
        min_version,
        client_auth: None,
        alpn_h2,
    })
    .unwrap();
    Server::start(cfg).await
}

fn client_offering(ca: &Ca, alpn: &[&[u8]]) -> Arc<ClientConfig> {
    let mut cfg = (*client_trusting(ca)).clone();
    cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(cfg)
}

fn h2_client(ca: &Ca) -> Arc<ClientConfig> {
    client_config(&UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        alpn: UpstreamAlpn::H2,
        ..UpstreamTlsSettings::default()
    })
    .unwrap()
}

/// A client that speaks only TLS 1.2.
fn tls12_client(ca: &Ca) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.pem.as_bytes()).unwrap())
        .unwrap();
    let cfg = ClientConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_protocol_versions(&[&TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(cfg)
}

#[tokio::test]
async fn alpn_picks_h2_when_both_sides_offer_it() {
    let ca = Ca::new("Test CA");
    let mut server = server(&ca, MinVersion::Tls12, true).await;

    let got = dial(h2_client(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(got.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        server.next().await.unwrap().alpn.as_deref(),
        Some(&b"h2"[..])
    );

    let got = dial(
        client_offering(&ca, &[b"h2", b"http/1.1"]),
        server.addr,
        NAME,
    )
    .await;
    assert_eq!(got.unwrap().alpn.as_deref(), Some(&b"h2"[..]));
    server.next().await.unwrap();

    // Our Http1 upstream setting offers http/1.1 only.
    let got = dial(client_trusting(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(got.alpn.as_deref(), Some(&b"http/1.1"[..]));
    server.next().await.unwrap();
}

#[tokio::test]
async fn alpn_is_http1_only_when_h2_is_off() {
    let ca = Ca::new("Test CA");
    let mut server = server(&ca, MinVersion::Tls12, false).await;

    let got = dial(
        client_offering(&ca, &[b"h2", b"http/1.1"]),
        server.addr,
        NAME,
    )
    .await;
    assert_eq!(got.unwrap().alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(
        server.next().await.unwrap().alpn.as_deref(),
        Some(&b"http/1.1"[..])
    );

    // A client that insists on h2 is refused rather than silently downgraded.
    assert!(dial(h2_client(&ca), server.addr, NAME).await.is_err());
    let err = server.next().await.unwrap_err();
    assert!(err.contains("any known protocol"), "{err}");

    // No ALPN at all is fine: that client speaks HTTP/1.1.
    let got = dial(client_offering(&ca, &[]), server.addr, NAME)
        .await
        .unwrap();
    assert_eq!(got.alpn, None);
    server.next().await.unwrap();
}

#[tokio::test]
async fn tls13_minimum_refuses_a_tls12_client() {
    let ca = Ca::new("Test CA");
    let mut server = server(&ca, MinVersion::Tls13, true).await;

    assert!(dial(tls12_client(&ca), server.addr, NAME).await.is_err());
    let err = server.next().await.unwrap_err();
    assert!(err.contains("Tls12NotOfferedOrEnabled"), "{err}");

    let got = dial(client_trusting(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(got.version, Some(ProtocolVersion::TLSv1_3));
    server.next().await.unwrap();
}

#[tokio::test]
async fn tls12_minimum_serves_tls12_and_prefers_tls13() {
    let ca = Ca::new("Test CA");
    let mut server = server(&ca, MinVersion::Tls12, true).await;

    let got = dial(tls12_client(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(got.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        server.next().await.unwrap().version,
        Some(ProtocolVersion::TLSv1_2)
    );

    let got = dial(client_trusting(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(got.version, Some(ProtocolVersion::TLSv1_3));
    server.next().await.unwrap();
}

#[tokio::test]
async fn sessions_resume_with_tls13_and_tls12() {
    let ca = Ca::new("Test CA");
    let mut server = server(&ca, MinVersion::Tls12, true).await;

    for client in [client_trusting(&ca), tls12_client(&ca)] {
        let first = dial(client.clone(), server.addr, NAME).await.unwrap();
        assert!(!first.resumed);
        assert!(!server.next().await.unwrap().resumed);

        let second = dial(client, server.addr, NAME).await.unwrap();
        assert!(second.resumed, "{:?} not resumed", second.version);
        assert!(server.next().await.unwrap().resumed);
    }
}
