//! The JWKS source against a real local identity provider (hyper on 127.0.0.1) through a
//! real hyper client: rotation, the unknown-`kid` rate limit, single flight, OIDC discovery
//! and Cache-Control. Outages and the first fetch are in `jwks_faults.rs`.

mod common;

use std::time::Duration;

use common::idp::{DISCOVERY, ISSUER, Idp, JWKS, NOW, at, claims, setup};
use common::{TestKey, jwks};
use serde_json::{Value, json};
use tollgate_jwt::{Algorithm, JwksConfig, JwksLocation, JwtError};

#[tokio::test]
async fn a_rotated_key_triggers_one_refresh_and_a_dropped_key_stops_verifying() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let k2 = TestKey::ec("k2", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    let s = setup(at(&idp), Some(ISSUER), |_| {});
    let old = k1.token(Algorithm::ES256, &claims(1));
    s.verifier.verify(&old).await.expect("k1 token");
    assert_eq!(idp.hits(JWKS), 1);

    // The provider publishes k2; the first k2 token makes us look, once.
    idp.set_jwks(jwks(&[&k1, &k2]));
    s.verifier
        .verify(&k2.token(Algorithm::ES256, &claims(2)))
        .await
        .expect("k2 token after refresh");
    s.verifier
        .verify(&k2.token(Algorithm::ES256, &claims(3)))
        .await
        .expect("k2 known now");
    assert_eq!(idp.hits(JWKS), 2);
    assert_eq!(s.source.stats().unknown_kid_refreshes, 1);

    // k1 is withdrawn. Its token was cached; once a refresh drops k1 it is not served.
    s.verifier.verify(&old).await.expect("cached");
    idp.set_jwks(jwks(&[&k2]));
    s.clock.advance(Duration::from_secs(31));
    let ghost = TestKey::ec("k3", Algorithm::ES256).token(Algorithm::ES256, &claims(4));
    assert_eq!(
        s.verifier.verify(&ghost).await.err(),
        Some(JwtError::UnknownKey)
    );
    assert_eq!(idp.hits(JWKS), 3);
    assert_eq!(
        s.verifier.verify(&old).await.err(),
        Some(JwtError::UnknownKey)
    );
    assert_eq!(
        idp.hits(JWKS),
        3,
        "the rate limit holds for the withdrawn kid too"
    );
}

#[tokio::test]
async fn unknown_kid_refreshes_are_rate_limited() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    let s = setup(at(&idp), Some(ISSUER), |c| {
        c.unknown_kid_interval = Duration::from_secs(30)
    });
    s.verifier
        .verify(&k1.token(Algorithm::ES256, &claims(0)))
        .await
        .expect("k1 token");
    assert_eq!(idp.hits(JWKS), 1);

    let forger = TestKey::ec("forger", Algorithm::ES256);
    let ghost = |n: u64| {
        forger.sign_raw(
            Algorithm::ES256,
            &json!({"alg": "ES256", "kid": format!("ghost-{n}")}),
            claims(n).to_string().as_bytes(),
        )
    };
    assert_eq!(
        s.verifier.verify(&ghost(1)).await.err(),
        Some(JwtError::UnknownKey)
    );
    assert_eq!(idp.hits(JWKS), 2, "the first unknown kid refreshes");
    let mut set = tokio::task::JoinSet::new();
    for n in 2..52 {
        let (v, t) = (s.verifier.clone(), ghost(n));
        set.spawn(async move { v.verify(&t).await.err() });
    }
    while let Some(result) = set.join_next().await {
        assert_eq!(result.expect("task"), Some(JwtError::UnknownKey));
    }
    assert_eq!(
        idp.hits(JWKS),
        2,
        "50 more unknown kids within the interval: no fetch"
    );

    s.clock.advance(Duration::from_secs(31));
    assert_eq!(
        s.verifier.verify(&ghost(99)).await.err(),
        Some(JwtError::UnknownKey)
    );
    assert_eq!(idp.hits(JWKS), 3, "after the interval, one more");
    assert_eq!(s.source.stats().unknown_kid_refreshes, 2);
}

#[tokio::test]
async fn concurrent_requests_for_a_new_kid_share_one_fetch() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let k2 = TestKey::rsa("k2");
    let idp = Idp::start(jwks(&[&k1])).await;
    let s = setup(at(&idp), Some(ISSUER), |_| {});
    s.verifier
        .verify(&k1.token(Algorithm::ES256, &claims(0)))
        .await
        .expect("k1 token");
    idp.set_jwks(jwks(&[&k1, &k2]));
    idp.set_delay(Duration::from_millis(300));
    let mut set = tokio::task::JoinSet::new();
    for n in 1..=20 {
        let (v, t) = (s.verifier.clone(), k2.token(Algorithm::RS256, &claims(n)));
        set.spawn(async move { v.verify(&t).await.map(|_| ()) });
    }
    while let Some(result) = set.join_next().await {
        result
            .expect("task")
            .expect("every request waits for the one refresh");
    }
    assert_eq!(idp.hits(JWKS), 2, "one initial fetch, one shared refresh");
}

#[tokio::test]
async fn discovery_supplies_the_issuer_and_the_jwks_uri() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    let issuer = idp.url("");
    idp.set_discovery(&issuer);
    let location = JwksLocation::Discovery {
        url: issuer.clone(),
        issuer: None,
    };
    let s = setup(location, None, |_| {});
    let token = |iss: Value| {
        k1.token(
            Algorithm::ES256,
            &json!({"iss": iss, "sub": "a", "exp": NOW + 60}),
        )
    };
    let verified = s
        .verifier
        .verify(&token(json!(issuer)))
        .await
        .expect("discovered issuer");
    assert_eq!(verified.issuer(), Some(issuer.as_str()));
    assert_eq!(
        s.source
            .current()
            .and_then(|k| k.issuer().map(str::to_owned)),
        Some(issuer.clone())
    );
    assert_eq!(
        s.verifier.verify(&token(json!(ISSUER))).await.err(),
        Some(JwtError::InvalidIssuer)
    );
    assert_eq!(
        s.verifier
            .verify(&k1.token(Algorithm::ES256, &json!({"exp": NOW + 60})))
            .await
            .err(),
        Some(JwtError::MissingClaim("iss"))
    );
    assert_eq!((idp.hits(DISCOVERY), idp.hits(JWKS)), (1, 1));

    // Metadata naming another issuer is refused: no keys ever load from it.
    let evil = Idp::start(jwks(&[&k1])).await;
    evil.set_discovery("https://evil.example");
    let location = JwksLocation::Discovery {
        url: evil.url(DISCOVERY),
        issuer: None,
    };
    let s = setup(location, None, |c| c.max_wait = Duration::from_millis(300));
    assert_eq!(
        s.verifier
            .verify(&token(json!("https://evil.example")))
            .await
            .err(),
        Some(JwtError::KeysUnavailable)
    );
    assert_eq!(evil.hits(JWKS), 0);
}

#[tokio::test]
async fn refreshes_follow_max_age_within_bounds_and_stop_with_the_source() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let eager = Idp::start(jwks(&[&k1])).await;
    eager.set_max_age(Some(0));
    let lazy = Idp::start(jwks(&[&k1])).await;
    lazy.set_max_age(Some(86_400));
    let tune = |c: &mut JwksConfig| {
        c.min_refresh = Duration::from_millis(200);
        c.max_refresh = Duration::from_secs(3600);
    };
    let a = setup(at(&eager), Some(ISSUER), tune);
    let b = setup(at(&lazy), Some(ISSUER), tune);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // max-age 0 is raised to the 200 ms floor: about 6 fetches, not hundreds.
    let hits = eager.hits(JWKS);
    assert!((2..=8).contains(&hits), "{hits}");
    assert_eq!(lazy.hits(JWKS), 1, "a day of max-age: no refetch yet");

    drop(a);
    tokio::time::sleep(Duration::from_millis(250)).await;
    let after_drop = eager.hits(JWKS);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        eager.hits(JWKS),
        after_drop,
        "the refresher stopped with its source"
    );
    drop(b);
}
