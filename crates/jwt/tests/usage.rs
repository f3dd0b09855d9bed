//! The verification cache (with an injected clock), and what the proxy does with a
//! verified token: headers for the upstream, the consumer, the refusal's HTTP answer.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{TestKey, jwks};
use serde_json::{Value, json};
use tollgate_jwt::{
    Algorithm, ClaimHeaders, ConsumerMap, JwtError, KeySet, KeySource, ManualClock, Verifier,
    VerifierConfig, bearer_token,
};

const NOW: u64 = 1_700_000_000;

fn setup(tune: impl FnOnce(&mut VerifierConfig)) -> (Verifier, TestKey, Arc<ManualClock>) {
    let key = TestKey::ec("k", Algorithm::ES256);
    let keys = KeySet::from_jwks(jwks(&[&key]).to_string().as_bytes())
        .expect("JWKS")
        .0;
    let clock = Arc::new(ManualClock::new(NOW));
    let mut config = VerifierConfig::new(vec![Algorithm::ES256]);
    config.issuer = Some("https://idp.example".into());
    tune(&mut config);
    let verifier =
        Verifier::new(config, KeySource::Static(Arc::new(keys)), clock.clone()).expect("verifier");
    (verifier, key, clock)
}

fn claims(exp: u64) -> Value {
    json!({"iss": "https://idp.example", "sub": "alice@example.com", "exp": exp, "roles": ["read", "write"]})
}

#[tokio::test]
async fn a_verified_token_is_not_verified_again() {
    let (v, key, _) = setup(|_| {});
    let token = key.token(Algorithm::ES256, &claims(NOW + 600));
    let first = v.verify(&token).await.expect("valid");
    assert_eq!(v.stats().signature_checks, 1);
    for _ in 0..10 {
        let again = v.verify(&token).await.expect("cached");
        assert!(
            Arc::ptr_eq(&first, &again),
            "the same result, not a re-verification"
        );
    }
    let stats = v.stats();
    assert_eq!(
        (
            stats.signature_checks,
            stats.cache_hits,
            stats.cache_entries
        ),
        (1, 10, 1)
    );
}

#[tokio::test]
async fn an_expired_cached_entry_is_not_served() {
    let (v, key, clock) = setup(|_| {});
    let token = key.token(Algorithm::ES256, &claims(NOW + 60));
    v.verify(&token).await.expect("valid");
    clock.advance(Duration::from_secs(59));
    v.verify(&token).await.expect("still cached");
    assert_eq!(v.stats().signature_checks, 1);
    // Past exp the entry is gone; inside the leeway the token is judged afresh, and passes.
    clock.advance(Duration::from_secs(2));
    v.verify(&token).await.expect("within the 30 s leeway");
    assert_eq!(v.stats().signature_checks, 2);
    clock.advance(Duration::from_secs(30));
    assert_eq!(v.verify(&token).await.err(), Some(JwtError::Expired));
}

#[tokio::test]
async fn the_ttl_bounds_reuse_and_refusals_are_never_cached() {
    let (v, key, clock) = setup(|c| c.cache_ttl = Duration::from_secs(10));
    let token = key.token(Algorithm::ES256, &claims(NOW + 3600));
    v.verify(&token).await.expect("valid");
    clock.advance(Duration::from_secs(11));
    v.verify(&token).await.expect("valid, re-verified");
    assert_eq!(v.stats().signature_checks, 2);

    let forged = TestKey::ec("k", Algorithm::ES256).token(Algorithm::ES256, &claims(NOW + 3600));
    for _ in 0..3 {
        assert_eq!(
            v.verify(&forged).await.err(),
            Some(JwtError::InvalidSignature)
        );
    }
    assert_eq!(v.stats().signature_checks, 5);

    let (off, key, _) = setup(|c| c.cache_capacity = 0);
    let token = key.token(Algorithm::ES256, &claims(NOW + 3600));
    off.verify(&token).await.expect("valid");
    off.verify(&token).await.expect("valid");
    assert_eq!(
        (off.stats().signature_checks, off.stats().cache_hits),
        (2, 0)
    );
}

#[tokio::test]
async fn the_cache_stays_bounded() {
    let (v, key, _) = setup(|c| c.cache_capacity = 64);
    for n in 0..500 {
        let token = key.token(
            Algorithm::ES256,
            &json!({"iss": "https://idp.example", "exp": NOW + 600, "n": n}),
        );
        v.verify(&token).await.expect("valid");
    }
    assert!(v.stats().cache_entries <= 64, "{:?}", v.stats());
}

#[tokio::test]
async fn a_verified_token_becomes_upstream_headers_and_a_consumer() {
    let (v, key, _) = setup(|_| {});
    let header = format!("Bearer {}", key.token(Algorithm::ES256, &claims(NOW + 600)));
    let token = bearer_token(header.as_bytes()).expect("bearer token");
    let verified = v.verify(token).await.expect("valid");

    let mapping = ClaimHeaders::new([("sub", "x-user"), ("roles", "x-roles")]).expect("mapping");
    let names: Vec<_> = mapping.header_names().map(|h| h.as_str()).collect();
    assert_eq!(names, ["x-user", "x-roles"]);
    let headers: Vec<_> = mapping
        .headers(verified.claims())
        .expect("safe claims")
        .into_iter()
        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap_or("?")))
        .collect();
    assert_eq!(
        headers,
        ["x-user: alice@example.com", "x-roles: read,write"]
    );

    let mut consumers = ConsumerMap::new();
    consumers.insert(None, "alice@example.com", "alice");
    assert_eq!(verified.consumer(&consumers).as_deref(), Some("alice"));

    // A signed but hostile claim is refused before it reaches a header.
    let hostile = key.token(
        Algorithm::ES256,
        &json!({"iss": "https://idp.example", "exp": NOW + 600, "sub": "alice\r\nx-admin: true"}),
    );
    let verified = v.verify(&hostile).await.expect("the signature is fine");
    let err = mapping.headers(verified.claims()).err();
    assert_eq!(err, Some(JwtError::UnsafeClaimValue));
    assert_eq!(err.map(|e| e.http_status()), Some(401));
}
