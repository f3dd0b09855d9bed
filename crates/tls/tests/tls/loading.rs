//! Loading errors, validity warnings, `describe`, and keeping keys out of messages.

use tollgate_tls::{
    ClientAuth, MinVersion, PemPair, ServerTlsSettings, TlsError, describe, server_config,
};

use crate::support::{Ca, DAY, now, validity};

fn listener(certificates: Vec<PemPair>) -> ServerTlsSettings {
    ServerTlsSettings {
        certificates,
        min_version: MinVersion::Tls12,
        client_auth: None,
        alpn_h2: true,
    }
}

fn load_error(certificates: Vec<PemPair>) -> TlsError {
    server_config(&listener(certificates)).unwrap_err()
}

#[test]
fn a_key_that_does_not_match_the_certificate_is_an_error_naming_the_label() {
    let ca = Ca::new("Test CA");
    let good = ca.server(&["good.test"]);
    let mut mixed = ca.server(&["mixed.test"]).pair("/etc/tollgate/mixed.pem");
    mixed.key_pem = ca.server(&["other.test"]).key_pem.into_bytes();

    let err = load_error(vec![good.pair("good.pem"), mixed]);
    assert!(matches!(&err, TlsError::KeyMismatch { label } if label == "/etc/tollgate/mixed.pem"));
    assert_eq!(
        err.to_string(),
        "/etc/tollgate/mixed.pem: the private key does not match the certificate"
    );
}

#[test]
fn unreadable_empty_or_missing_material_is_an_error() {
    let ca = Ca::new("Test CA");
    let minted = ca.server(&["a.test"]);
    let with = |cert: &str, key: &str| PemPair {
        cert_pem: cert.as_bytes().to_vec(),
        key_pem: key.as_bytes().to_vec(),
        label: "a.pem".to_owned(),
    };
    let garbage_der_key = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
    let garbage_der_cert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    let cases = [
        (with("", &minted.key_pem), "EmptyPem"),
        (with(" \n", &minted.key_pem), "EmptyPem"),
        (with(&minted.cert_pem, ""), "EmptyPem"),
        (
            with("-----BEGIN CERTIFICATE-----\nMIIB", &minted.key_pem),
            "MalformedPem",
        ),
        (
            with(
                &minted.cert_pem,
                "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
            ),
            "MalformedPem",
        ),
        (with("not pem at all", &minted.key_pem), "NoCertificate"),
        (with(&minted.key_pem, &minted.key_pem), "NoCertificate"),
        (with(&minted.cert_pem, &minted.cert_pem), "NoPrivateKey"),
        (with(&minted.cert_pem, garbage_der_key), "InvalidKey"),
        (
            with(garbage_der_cert, &minted.key_pem),
            "InvalidCertificate",
        ),
    ];
    for (pair, want) in cases {
        let err = load_error(vec![pair]);
        let got = format!("{err:?}");
        assert!(got.starts_with(want), "want {want}, got {got}");
        assert!(err.to_string().starts_with("a.pem: "), "{err}");
    }
    assert!(matches!(load_error(Vec::new()), TlsError::NoCertificates));
}

#[test]
fn a_bad_client_ca_is_an_error() {
    let ca = Ca::new("Test CA");
    let pair = ca.server(&["a.test"]).pair("a.pem");
    for ca_pem in [
        "".to_owned(),
        "no certificate here".to_owned(),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_owned(),
    ] {
        let mut settings = listener(vec![pair.clone()]);
        settings.client_auth = Some(ClientAuth {
            ca_pem: ca_pem.into_bytes(),
            required: true,
        });
        let err = server_config(&settings).unwrap_err();
        assert!(err.to_string().starts_with("client CA: "), "{err}");
    }
}

#[test]
fn expired_and_future_certificates_are_warnings_with_label_and_date() {
    let ca = Ca::new("Test CA");
    let mut params = ca.params();
    params.subject_alt_names = vec![rcgen::SanType::DnsName("old.test".try_into().unwrap())];
    validity(&mut params, 1_577_836_800, 1_625_011_200); // 2020-01-01 .. 2021-06-30
    let expired = ca.issue(&params);
    params.subject_alt_names = vec![rcgen::SanType::DnsName("new.test".try_into().unwrap())];
    validity(&mut params, 3_755_376_000, 3_786_912_000); // 2089-01-01 .. 2090-01-01
    let future = ca.issue(&params);
    let fresh = ca.server(&["fresh.test"]);

    let (_, warnings) = server_config(&listener(vec![
        fresh.pair("fresh.pem"),
        expired.pair("expired.pem"),
        future.pair("future.pem"),
    ]))
    .unwrap();
    assert_eq!(
        warnings,
        [
            "expired.pem: certificate expired on 2021-06-30T00:00:00Z",
            "future.pem: certificate is not valid until 2089-01-01T00:00:00Z",
        ]
    );
}

#[test]
fn a_certificate_expiring_within_14_days_is_a_warning() {
    let ca = Ca::new("Test CA");
    let mut params = ca.params();
    params.subject_alt_names = vec![rcgen::SanType::DnsName("soon.test".try_into().unwrap())];
    validity(&mut params, now() - DAY, now() + 5 * DAY);
    let soon = ca.issue(&params);
    params.subject_alt_names = vec![rcgen::SanType::DnsName("later.test".try_into().unwrap())];
    validity(&mut params, now() - DAY, now() + 15 * DAY);
    let later = ca.issue(&params);

    let (_, warnings) = server_config(&listener(vec![
        soon.pair("soon.pem"),
        later.pair("later.pem"),
    ]))
    .unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("soon.pem: certificate expires on 20"),
        "{warnings:?}"
    );
    assert!(warnings[0].ends_with("(in 4 days)") || warnings[0].ends_with("(in 5 days)"));
}

#[test]
fn describe_reports_subject_sans_and_expiry() {
    let ca = Ca::new("Test CA");
    let mut params = ca.params();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "api.example.com");
    params.subject_alt_names = vec![
        rcgen::SanType::DnsName("api.example.com".try_into().unwrap()),
        rcgen::SanType::DnsName("*.api.example.com".try_into().unwrap()),
        rcgen::SanType::IpAddress("10.0.0.7".parse().unwrap()),
    ];
    validity(&mut params, 1_577_836_800, 3_786_912_000);
    let leaf = ca.issue(&params);
    let mut pair = leaf.pair("api.pem");
    // Chain with the CA (valid until rcgen's default, 4096) appended.
    pair.cert_pem.extend_from_slice(ca.pem.as_bytes());

    let info = describe(&pair).unwrap();
    assert_eq!(info.label, "api.pem");
    assert_eq!(info.subject, "CN=api.example.com");
    assert_eq!(info.issuer, "CN=Test CA");
    assert_eq!(
        info.sans,
        [
            "DNS:api.example.com",
            "DNS:*.api.example.com",
            "IP:10.0.0.7"
        ]
    );
    assert_eq!(info.not_before, 1_577_836_800);
    assert_eq!(info.not_after, 3_786_912_000);
    assert_eq!(info.chain_len, 2);
    assert_eq!(info.chain_not_after, 3_786_912_000);
}

#[test]
fn private_keys_never_reach_debug_or_error_messages() {
    let ca = Ca::new("Test CA");
    let minted = ca.server(&["a.test"]);
    let key_body: String = minted.key_pem.lines().nth(1).unwrap().to_owned();
    let pair = minted.pair("a.pem");

    let debug = format!("{pair:?} {:?}", listener(vec![pair.clone()]));
    assert!(debug.contains("a.pem"));
    assert!(
        !debug.contains(&key_body) && !debug.contains("PRIVATE KEY"),
        "{debug}"
    );

    // A key file broken right after a line of real key material.
    let mut broken = pair;
    broken.key_pem = format!("-----BEGIN PRIVATE KEY-----\n{key_body}\n").into_bytes();
    let err = server_config(&listener(vec![broken])).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(&key_body), "{shown}");
}
