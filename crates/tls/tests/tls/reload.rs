//! Swapping a listener's configuration on renewal.

use std::sync::Arc;

use tollgate_tls::{LiveServerConfig, MinVersion, PemPair, ServerTlsSettings, TlsError};

use crate::support::{Ca, Server, client_trusting, dial};

fn listener(pair: PemPair) -> ServerTlsSettings {
    ServerTlsSettings {
        certificates: vec![pair],
        min_version: MinVersion::Tls12,
        client_auth: None,
        alpn_h2: true,
    }
}

#[tokio::test]
async fn replace_serves_the_new_certificate_and_keeps_the_last_good_one_on_error() {
    let ca = Ca::new("Test CA");
    let old = ca.server(&["api.example.com"]);
    let (live, _) = LiveServerConfig::new(&listener(old.pair("api.pem"))).unwrap();
    let live = Arc::new(live);
    let mut server = Server::start_live(live.clone()).await;
    let client = client_trusting(&ca);

    let got = dial(client.clone(), server.addr, "api.example.com")
        .await
        .unwrap();
    assert_eq!(got.leaf, old.der);
    server.next().await.unwrap();

    // A half-written renewal: refused, the old certificate keeps serving.
    let mut broken = ca.server(&["api.example.com"]).pair("api.pem");
    broken.key_pem.truncate(40);
    let err = live.replace(&listener(broken)).unwrap_err();
    assert!(matches!(err, TlsError::MalformedPem { .. }), "{err}");
    let got = dial(client.clone(), server.addr, "api.example.com")
        .await
        .unwrap();
    assert_eq!(got.leaf, old.der);
    server.next().await.unwrap();

    let renewed = ca.server(&["api.example.com"]);
    let warnings = live.replace(&listener(renewed.pair("api.pem"))).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let got = dial(client, server.addr, "api.example.com").await.unwrap();
    assert_eq!(got.leaf, renewed.der);
    server.next().await.unwrap();
}
