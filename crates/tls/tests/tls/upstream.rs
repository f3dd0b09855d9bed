//! Gateway → backend TLS: verification, SNI, client certificates, ALPN.

use tollgate_tls::{
    ClientAuth, MinVersion, ServerTlsSettings, TlsError, UpstreamAlpn, UpstreamTlsSettings,
    client_config, server_config,
};

use crate::support::{Ca, Server, client_trusting, client_trusting_anything, dial};

async fn backend(ca: &Ca, names: &[&str], client_auth: Option<ClientAuth>) -> Server {
    let (cfg, _) = server_config(&ServerTlsSettings {
        certificates: vec![ca.server(names).pair("backend.pem")],
        min_version: MinVersion::Tls12,
        client_auth,
        alpn_h2: false,
    })
    .unwrap();
    Server::start(cfg).await
}

/// The handshake error as text, source chain included.
async fn refusal(cfg: UpstreamTlsSettings, server: &Server, name: &str) -> String {
    let err = dial(client_config(&cfg).unwrap(), server.addr, name)
        .await
        .unwrap_err();
    format!("{err:#}")
}

#[tokio::test]
async fn a_custom_ca_verifies_the_backend() {
    let ca = Ca::new("Backend CA");
    let mut server = backend(&ca, &["backend.internal"], None).await;
    dial(client_trusting(&ca), server.addr, "backend.internal")
        .await
        .unwrap();
    server.next().await.unwrap();
}

#[tokio::test]
async fn a_backend_certificate_from_another_ca_or_for_another_name_is_refused() {
    let ca = Ca::new("Backend CA");
    let other_ca = Ca::new("Other CA");
    let server = backend(&other_ca, &["backend.internal"], None).await;
    let trusting_ca = UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        ..UpstreamTlsSettings::default()
    };
    let err = refusal(trusting_ca.clone(), &server, "backend.internal").await;
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(
        err.starts_with("TLS handshake with backend.internal failed"),
        "{err}"
    );

    let server = backend(&ca, &["backend.internal"], None).await;
    let err = refusal(trusting_ca, &server, "elsewhere.internal").await;
    assert!(err.contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn without_a_ca_the_public_roots_are_used_and_a_private_ca_is_not_trusted() {
    let ca = Ca::new("Backend CA");
    let server = backend(&ca, &["backend.internal"], None).await;
    let err = refusal(UpstreamTlsSettings::default(), &server, "backend.internal").await;
    assert!(err.contains("UnknownIssuer"), "{err}");
}

#[tokio::test]
async fn an_ip_address_server_name_is_verified_against_ip_sans() {
    let ca = Ca::new("Backend CA");
    let mut server = backend(&ca, &["backend.internal", "127.0.0.1"], None).await;
    dial(client_trusting(&ca), server.addr, "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(server.next().await.unwrap().sni, None);

    let server = backend(&ca, &["backend.internal"], None).await;
    let settings = UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        ..UpstreamTlsSettings::default()
    };
    let err = refusal(settings, &server, "127.0.0.1").await;
    assert!(err.contains("not valid for name"), "{err}");
}

#[tokio::test]
async fn the_sni_setting_overrides_the_address_host() {
    let ca = Ca::new("Backend CA");
    let mut server = backend(&ca, &["api.internal"], None).await;
    let settings = UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        sni: Some("api.internal".to_owned()),
        ..UpstreamTlsSettings::default()
    };
    let name = settings.server_name("127.0.0.1");
    dial(client_config(&settings).unwrap(), server.addr, name)
        .await
        .unwrap();
    assert_eq!(
        server.next().await.unwrap().sni.as_deref(),
        Some("api.internal")
    );
}

#[tokio::test]
async fn the_client_certificate_is_presented_to_an_mtls_backend() {
    let ca = Ca::new("Backend CA");
    let gateway_ca = Ca::new("Gateway CA");
    let client_auth = ClientAuth {
        ca_pem: gateway_ca.pem.clone().into_bytes(),
        required: true,
    };
    let mut server = backend(&ca, &["backend.internal"], Some(client_auth)).await;
    let gateway = gateway_ca.client("tollgate", "Tollgate", Vec::new());
    let settings = UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        client_cert: Some(gateway.pair("gateway.pem")),
        ..UpstreamTlsSettings::default()
    };
    dial(
        client_config(&settings).unwrap(),
        server.addr,
        "backend.internal",
    )
    .await
    .unwrap();
    let peer = server.next().await.unwrap().peer.unwrap();
    assert_eq!(peer.subject, "CN=tollgate,O=Tollgate");
}

#[test]
fn a_client_certificate_with_the_wrong_key_is_an_error() {
    let ca = Ca::new("Gateway CA");
    let mut pair = ca
        .client("tollgate", "Tollgate", Vec::new())
        .pair("gateway.pem");
    pair.key_pem = ca
        .client("other", "Tollgate", Vec::new())
        .key_pem
        .into_bytes();
    let err = client_config(&UpstreamTlsSettings {
        client_cert: Some(pair),
        ..UpstreamTlsSettings::default()
    })
    .unwrap_err();
    assert!(
        matches!(&err, TlsError::KeyMismatch { label } if label == "gateway.pem"),
        "{err}"
    );

    let err = client_config(&UpstreamTlsSettings {
        ca_pem: Some(b"garbage".to_vec()),
        ..UpstreamTlsSettings::default()
    })
    .unwrap_err();
    assert!(err.to_string().starts_with("upstream CA: "), "{err}");
}

#[tokio::test]
async fn insecure_skip_verify_accepts_any_certificate() {
    let ca = Ca::new("Unknown CA");
    let mut server = backend(&ca, &["backend.internal"], None).await;
    dial(client_trusting_anything(), server.addr, "not-the-name.test")
        .await
        .unwrap();
    server.next().await.unwrap();
}

#[tokio::test]
async fn an_h2_upstream_fails_against_a_backend_without_h2() {
    let ca = Ca::new("Backend CA");
    let server = backend(&ca, &["backend.internal"], None).await;
    let settings = UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        alpn: UpstreamAlpn::H2,
        ..UpstreamTlsSettings::default()
    };
    let err = refusal(settings, &server, "backend.internal").await;
    assert!(err.contains("NoApplicationProtocol"), "{err}");
}
