//! Tokens that must be refused, and why; with keys generated for the test.

mod common;

use std::sync::Arc;

use common::{TestKey, b64, jwks};
use serde_json::{Value, json};
use tollgate_jwt::{
    Algorithm, ConfigError, JwtError, KeySet, KeySource, ManualClock, Verifier, VerifierConfig,
    VerifyingKey,
};

const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://idp.example";

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "orders", "sub": "alice", "exp": NOW + 600, "iat": NOW})
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn verifier(keys: KeySet, algorithms: Vec<Algorithm>) -> Result<Verifier, ConfigError> {
    let mut config = VerifierConfig::new(algorithms);
    config.issuer = Some(ISSUER.into());
    config.audiences = vec!["orders".into()];
    Verifier::new(
        config,
        KeySource::Static(Arc::new(keys)),
        Arc::new(ManualClock::new(NOW)),
    )
}

fn keyset(keys: &[&TestKey]) -> KeySet {
    KeySet::from_jwks(jwks(keys).to_string().as_bytes())
        .expect("test JWKS")
        .0
}

#[tokio::test]
async fn valid_tokens_of_every_public_key_family_verify() {
    let rsa = TestKey::rsa("r");
    let p256 = TestKey::ec("e256", Algorithm::ES256);
    let p384 = TestKey::ec("e384", Algorithm::ES384);
    let ed = TestKey::ed25519("ed");
    let v = verifier(
        keyset(&[&rsa, &p256, &p384, &ed]),
        Algorithm::ALL
            .into_iter()
            .filter(|a| !a.is_hmac())
            .collect(),
    )
    .expect("verifier");
    for (key, alg) in [
        (&rsa, Algorithm::RS256),
        (&rsa, Algorithm::RS512),
        (&rsa, Algorithm::PS256),
        (&rsa, Algorithm::PS512),
        (&p256, Algorithm::ES256),
        (&p384, Algorithm::ES384),
        (&ed, Algorithm::EdDSA),
    ] {
        let verified = v
            .verify(&key.token(alg, &claims()))
            .await
            .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(
            (verified.subject(), verified.algorithm(), verified.key_id()),
            (Some("alice"), alg, Some(&*key.kid))
        );
    }
}

#[tokio::test]
async fn forged_expired_early_and_misaddressed_tokens_are_refused() {
    let key = TestKey::ec("k", Algorithm::ES256);
    let v = verifier(keyset(&[&key]), vec![Algorithm::ES256]).expect("verifier");
    // Same kid, another key: a forgery.
    let forger = TestKey::ec("k", Algorithm::ES256);
    let cases = [
        (
            "forged",
            forger.token(Algorithm::ES256, &claims()),
            JwtError::InvalidSignature,
        ),
        (
            "expired",
            key.token(Algorithm::ES256, &with(claims(), "exp", json!(NOW - 31))),
            JwtError::Expired,
        ),
        (
            "not yet valid",
            key.token(Algorithm::ES256, &with(claims(), "nbf", json!(NOW + 31))),
            JwtError::NotYetValid,
        ),
        (
            "issued in the future",
            key.token(Algorithm::ES256, &with(claims(), "iat", json!(NOW + 3600))),
            JwtError::IssuedInFuture,
        ),
        (
            "wrong issuer",
            key.token(
                Algorithm::ES256,
                &with(claims(), "iss", json!("https://evil.example")),
            ),
            JwtError::InvalidIssuer,
        ),
        (
            "wrong audience",
            key.token(Algorithm::ES256, &with(claims(), "aud", json!(["billing"]))),
            JwtError::InvalidAudience,
        ),
        (
            "no exp",
            key.token(Algorithm::ES256, &with(claims(), "exp", Value::Null)),
            JwtError::InvalidClaim("exp"),
        ),
    ];
    for (name, token, expected) in cases {
        assert_eq!(v.verify(&token).await.err(), Some(expected), "{name}");
    }
    // Within the 30 s leeway: accepted.
    assert!(
        v.verify(&key.token(Algorithm::ES256, &with(claims(), "exp", json!(NOW - 29))))
            .await
            .is_ok()
    );
    assert!(
        v.verify(&key.token(Algorithm::ES256, &with(claims(), "nbf", json!(NOW + 29))))
            .await
            .is_ok()
    );
    let mut no_exp = claims();
    no_exp.as_object_mut().map(|c| c.remove("exp"));
    assert_eq!(
        v.verify(&key.token(Algorithm::ES256, &no_exp)).await.err(),
        Some(JwtError::MissingClaim("exp"))
    );
}

#[tokio::test]
async fn alg_none_and_algorithms_off_the_allow_list_are_refused() {
    let rsa = TestKey::rsa("r");
    let ec = TestKey::ec("e", Algorithm::ES256);
    let v = verifier(keyset(&[&rsa, &ec]), vec![Algorithm::RS256]).expect("verifier");
    let payload = b64(claims().to_string().as_bytes());
    for alg in ["none", "None", "NONE"] {
        let header = b64(json!({"alg": alg, "kid": "r"}).to_string().as_bytes());
        assert_eq!(
            v.verify(&format!("{header}.{payload}.")).await.err(),
            Some(JwtError::AlgNone)
        );
        assert_eq!(
            v.verify(&format!("{header}.{payload}.c2ln")).await.err(),
            Some(JwtError::AlgNone)
        );
    }
    // A valid ES256 token whose key is known, but ES256 is not allowed here.
    let es = ec.token(Algorithm::ES256, &claims());
    assert_eq!(
        v.verify(&es).await.err(),
        Some(JwtError::AlgorithmNotAllowed)
    );
    // RS384 with the right key: still not on the list.
    let rs384 = rsa.token(Algorithm::RS384, &claims());
    assert_eq!(
        v.verify(&rs384).await.err(),
        Some(JwtError::AlgorithmNotAllowed)
    );
    assert!(
        v.verify(&rsa.token(Algorithm::RS256, &claims()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn an_rsa_public_key_never_serves_as_an_hmac_secret() {
    let rsa = TestKey::rsa("r");
    let pem = rsa.pem();
    let public = VerifyingKey::from_pem(&pem, Some("r"), None).expect("PEM public key");
    assert!(!public.supports(Algorithm::HS256));
    assert!(VerifyingKey::from_pem(&pem, None, Some(Algorithm::HS256)).is_err());

    // The classic attack: HS256 "signed" with the public key's bytes as the secret.
    let jwk = rsa.jwk();
    let n = jwk["n"].as_str().unwrap_or_default().to_owned();
    let forgeries = [pem.as_bytes().to_vec(), n.into_bytes()]
        .map(|secret| TestKey::hmac("r", &secret).token(Algorithm::HS256, &claims()));

    let mut keys = KeySet::new();
    keys.push(public);
    // HS256 allowed with only public keys: refused at configuration time.
    assert!(matches!(
        verifier(keys.clone(), vec![Algorithm::RS256, Algorithm::HS256]),
        Err(ConfigError::HmacWithoutSecret)
    ));
    // RS256 only: the forged HS256 token is off the allow-list.
    let v = verifier(keys.clone(), vec![Algorithm::RS256]).expect("verifier");
    for forged in &forgeries {
        assert_eq!(
            v.verify(forged).await.err(),
            Some(JwtError::AlgorithmNotAllowed)
        );
    }
    // Both allowed, with a real (different) secret configured: the RSA key is still never
    // an HMAC key, so the forgery meets only the real secret and fails.
    keys.push(VerifyingKey::hmac_secret(&[7; 32], Some("r"), None).expect("secret"));
    let v = verifier(keys, vec![Algorithm::RS256, Algorithm::HS256]).expect("verifier");
    for forged in &forgeries {
        assert_eq!(
            v.verify(forged).await.err(),
            Some(JwtError::InvalidSignature)
        );
    }
    assert!(
        v.verify(&rsa.token(Algorithm::RS256, &claims()))
            .await
            .is_ok()
    );
    let honest = TestKey::hmac("r", &[7; 32]).token(Algorithm::HS256, &claims());
    assert!(v.verify(&honest).await.is_ok());
}

#[tokio::test]
async fn keys_are_chosen_by_kid_and_must_fit_the_alg() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let k2 = TestKey::ec("k2", Algorithm::ES256);
    let v = verifier(
        keyset(&[&k1, &k2]),
        vec![Algorithm::ES256, Algorithm::ES384],
    )
    .expect("verifier");
    // Signed by k1, but its header names k2: only k2 is tried.
    let mismatched = k1.sign_raw(
        Algorithm::ES256,
        &json!({"alg": "ES256", "kid": "k2"}),
        claims().to_string().as_bytes(),
    );
    assert_eq!(
        v.verify(&mismatched).await.err(),
        Some(JwtError::InvalidSignature)
    );
    let unknown = k1.sign_raw(
        Algorithm::ES256,
        &json!({"alg": "ES256", "kid": "k9"}),
        claims().to_string().as_bytes(),
    );
    assert_eq!(v.verify(&unknown).await.err(), Some(JwtError::UnknownKey));
    // Without kid, each ES256 key is tried (bounded).
    let kidless = k2.sign_raw(
        Algorithm::ES256,
        &json!({"alg": "ES256"}),
        claims().to_string().as_bytes(),
    );
    assert!(v.verify(&kidless).await.is_ok());
    // The P-256 key cannot serve ES384, whatever the header says.
    let wrong_curve = k1.sign_raw(
        Algorithm::ES256,
        &json!({"alg": "ES384", "kid": "k1"}),
        claims().to_string().as_bytes(),
    );
    assert_eq!(
        v.verify(&wrong_curve).await.err(),
        Some(JwtError::UnknownKey)
    );

    // A JWK that says alg RS384 serves RS384 only.
    let rsa = TestKey::rsa("r");
    let mut jwk = rsa.jwk();
    jwk["alg"] = json!("RS384");
    let mut keys = KeySet::new();
    keys.push(VerifyingKey::from_jwk(&jwk).expect("JWK"));
    let v = verifier(keys, vec![Algorithm::RS256, Algorithm::RS384]).expect("verifier");
    assert_eq!(
        v.verify(&rsa.token(Algorithm::RS256, &claims()))
            .await
            .err(),
        Some(JwtError::UnknownKey)
    );
    assert!(
        v.verify(&rsa.token(Algorithm::RS384, &claims()))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn malformed_tokens_and_critical_extensions_are_refused() {
    let key = TestKey::ec("k", Algorithm::ES256);
    let v = verifier(keyset(&[&key]), vec![Algorithm::ES256]).expect("verifier");
    let good = key.token(Algorithm::ES256, &claims());
    let (header, rest) = good.split_once('.').expect("three segments");
    let (payload, sig) = rest.split_once('.').expect("three segments");
    let hdr = |h: Value| b64(h.to_string().as_bytes());
    let malformed = [
        String::new(),
        "garbage".to_owned(),
        format!("{header}.{payload}"),
        format!("{header}.{payload}.{sig}.x.y"),
        format!("{header}=.{payload}.{sig}"),
        format!("{header}.{payload}.{sig}=="),
        format!("{header}.{payload}.!!!"),
        format!("{}.{payload}.{sig}", b64(b"not json")),
        format!("{}.{payload}.{sig}", hdr(json!(["ES256"]))),
        format!("{}.{payload}.{sig}", hdr(json!({"kid": "k"}))),
        "x".repeat(20_000),
    ];
    for token in malformed {
        assert!(
            matches!(v.verify(&token).await, Err(JwtError::Malformed(_))),
            "{token:.60}"
        );
    }
    // Correctly signed, but the payload is not a JSON object, or repeats a member.
    for payload in [
        &b"[1,2]"[..],
        b"not json",
        br#"{"sub":"alice","sub":"admin","exp":1700000600}"#,
    ] {
        let token = key.sign_raw(
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": "k"}),
            payload,
        );
        assert!(
            matches!(v.verify(&token).await, Err(JwtError::Malformed(_))),
            "{payload:?}"
        );
    }
    for crit in [json!(["exp"]), json!(["b64"]), json!([])] {
        let header = json!({"alg": "ES256", "kid": "k", "crit": crit, "exp": 1, "b64": true});
        let token = key.sign_raw(Algorithm::ES256, &header, claims().to_string().as_bytes());
        assert_eq!(
            v.verify(&token).await.err(),
            Some(JwtError::UnsupportedCritical)
        );
    }
    // A key embedded in the header is ignored, not trusted.
    let attacker = TestKey::ec("k", Algorithm::ES256);
    let header = json!({"alg": "ES256", "kid": "k", "jwk": attacker.jwk(), "jku": "https://evil.example/jwks"});
    let token = attacker.sign_raw(Algorithm::ES256, &header, claims().to_string().as_bytes());
    assert_eq!(
        v.verify(&token).await.err(),
        Some(JwtError::InvalidSignature)
    );
}

#[test]
fn configuration_mistakes_are_refused() {
    let rsa = TestKey::rsa("r");
    assert!(matches!(
        verifier(keyset(&[&rsa]), vec![]),
        Err(ConfigError::NoAlgorithms)
    ));
    assert!(matches!(
        verifier(keyset(&[&rsa]), vec![Algorithm::ES256]),
        Err(ConfigError::NoUsableKey)
    ));
    let secret = TestKey::hmac("s", &[1; 32]);
    let mixed = jwks(&[&rsa, &secret]).to_string();
    assert!(matches!(
        KeySet::from_jwks(mixed.as_bytes()),
        Err(ConfigError::MixedKeySet)
    ));
    assert!(VerifyingKey::hmac_secret(b"short", None, None).is_err());
    assert!(
        VerifyingKey::from_pem(
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----",
            None,
            None
        )
        .is_err()
    );
}
