//! Client certificate authentication on a listener, and the identity it yields.

use tollgate_tls::{ClientAuth, MinVersion, PeerIdentity, ServerTlsSettings, server_config};

use crate::support::{Ca, Minted, Server, client_trusting, dial};

const NAME: &str = "api.example.com";

async fn server(ca: &Ca, client_ca: &Ca, required: bool) -> Server {
    let (cfg, _) = server_config(&ServerTlsSettings {
        certificates: vec![ca.server(&[NAME]).pair("api.pem")],
        min_version: MinVersion::Tls12,
        client_auth: Some(ClientAuth {
            ca_pem: client_ca.pem.clone().into_bytes(),
            required,
        }),
        alpn_h2: false,
    })
    .unwrap();
    Server::start(cfg).await
}

fn alice(client_ca: &Ca) -> Minted {
    client_ca.client(
        "alice",
        "Example",
        vec![
            rcgen::SanType::URI("spiffe://example.org/alice".try_into().unwrap()),
            rcgen::SanType::Rfc822Name("alice@example.com".try_into().unwrap()),
        ],
    )
}

fn client_with_cert(ca: &Ca, cert: &Minted) -> std::sync::Arc<tollgate_tls::rustls::ClientConfig> {
    tollgate_tls::client_config(&tollgate_tls::UpstreamTlsSettings {
        ca_pem: Some(ca.pem.clone().into_bytes()),
        client_cert: Some(cert.pair("alice.pem")),
        ..Default::default()
    })
    .unwrap()
}

#[tokio::test]
async fn required_client_auth_refuses_a_client_without_certificate() {
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let mut server = server(&ca, &client_ca, true).await;

    assert!(dial(client_trusting(&ca), server.addr, NAME).await.is_err());
    let err = server.next().await.unwrap_err();
    assert!(err.contains("no certificates"), "{err}");
}

#[tokio::test]
async fn required_client_auth_accepts_a_certificate_from_the_ca_and_reports_its_identity() {
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let mut server = server(&ca, &client_ca, true).await;
    let client = client_with_cert(&ca, &alice(&client_ca));

    dial(client.clone(), server.addr, NAME).await.unwrap();
    let want = Some(PeerIdentity {
        subject: "CN=alice,O=Example".to_owned(),
        sans: vec![
            "URI:spiffe://example.org/alice".to_owned(),
            "email:alice@example.com".to_owned(),
        ],
    });
    let accepted = server.next().await.unwrap();
    assert!(!accepted.resumed);
    assert_eq!(accepted.peer, want);

    // A resumed session carries the identity verified in the first handshake.
    let again = dial(client, server.addr, NAME).await.unwrap();
    assert!(again.resumed);
    assert_eq!(server.next().await.unwrap().peer, want);
}

#[tokio::test]
async fn optional_client_auth_lets_anonymous_clients_in() {
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let mut server = server(&ca, &client_ca, false).await;

    dial(client_trusting(&ca), server.addr, NAME).await.unwrap();
    assert_eq!(server.next().await.unwrap().peer, None);

    dial(client_with_cert(&ca, &alice(&client_ca)), server.addr, NAME)
        .await
        .unwrap();
    let peer = server.next().await.unwrap().peer.unwrap();
    assert_eq!(peer.subject, "CN=alice,O=Example");
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_refused_even_when_optional() {
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let rogue_ca = Ca::new("Rogue CA");
    for required in [true, false] {
        let mut server = server(&ca, &client_ca, required).await;
        let client = client_with_cert(&ca, &alice(&rogue_ca));
        assert!(dial(client, server.addr, NAME).await.is_err());
        let err = server.next().await.unwrap_err();
        assert!(err.contains("UnknownIssuer"), "{err}");
    }
}
