//! The JWKS source when things go wrong: the identity provider down after the first fetch,
//! slow or down before it, and a `Fetch` that panics.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::idp::{HyperFetch, ISSUER, Idp, JWKS, at, claims, eventually, setup, setup_with};
use common::{TestKey, jwks};
use tollgate_jwt::{Algorithm, BoxFuture, Fetch, FetchError, FetchResponse, JwtError};

#[tokio::test]
async fn cached_keys_keep_verifying_while_the_idp_is_down() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let k2 = TestKey::ec("k2", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    // max-age 0: refresh at the minimum interval, here 100 ms.
    idp.set_max_age(Some(0));
    let s = setup(at(&idp), Some(ISSUER), |c| {
        c.min_refresh = Duration::from_millis(100)
    });
    s.verifier
        .verify(&k1.token(Algorithm::ES256, &claims(0)))
        .await
        .expect("k1 token");

    idp.set_status(503);
    assert!(
        eventually(|| s.source.stats().failures >= 3).await,
        "refreshes fail: {:?}",
        s.source.stats()
    );
    for n in 1..=5 {
        s.verifier
            .verify(&k1.token(Algorithm::ES256, &claims(n)))
            .await
            .expect("stale keys still verify");
    }
    // A token for a key we never saw cannot be judged, but is refused as unknown, not 503.
    let new = k2.token(Algorithm::ES256, &claims(9));
    assert_eq!(
        s.verifier.verify(&new).await.err(),
        Some(JwtError::UnknownKey)
    );

    idp.set_jwks(jwks(&[&k1, &k2]));
    idp.set_status(200);
    s.clock.advance(Duration::from_secs(31));
    let verifier = s.verifier.clone();
    let mut ok = false;
    for _ in 0..50 {
        if verifier.verify(&new).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "back up: the new key is picked up");
}

#[tokio::test]
async fn a_request_before_the_first_fetch_waits_for_it() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    idp.set_delay(Duration::from_millis(400));
    let started = Instant::now();
    let s = setup(at(&idp), Some(ISSUER), |_| {});
    let verified = s
        .verifier
        .verify(&k1.token(Algorithm::ES256, &claims(0)))
        .await;
    assert!(verified.is_ok(), "{verified:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it did wait for the fetch"
    );
    assert_eq!(idp.hits(JWKS), 1);
}

#[tokio::test]
async fn the_wait_for_the_first_fetch_is_bounded() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    idp.set_status(503);
    let s = setup(at(&idp), Some(ISSUER), |c| {
        c.max_wait = Duration::from_millis(300)
    });
    let token = k1.token(Algorithm::ES256, &claims(0));
    let started = Instant::now();
    let err = s.verifier.verify(&token).await.err();
    assert_eq!(err, Some(JwtError::KeysUnavailable));
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(err.map(|e| e.http_status()), Some(503));

    // The refresher retries with backoff; once the provider answers, tokens verify.
    idp.set_status(200);
    let mut ok = false;
    for _ in 0..20 {
        if s.verifier.verify(&token).await.is_ok() {
            ok = true;
            break;
        }
    }
    assert!(ok, "keys arrive after the outage");
}

/// Panics on its first GET, then behaves.
struct PanicsOnce(AtomicBool);

impl Fetch for PanicsOnce {
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<FetchResponse, FetchError>> {
        assert!(
            self.0.swap(true, Ordering::SeqCst),
            "a broken Fetch implementation"
        );
        HyperFetch.get(url)
    }
}

#[tokio::test]
async fn a_panicking_fetch_does_not_stop_refreshes() {
    let k1 = TestKey::ec("k1", Algorithm::ES256);
    let idp = Idp::start(jwks(&[&k1])).await;
    let fetch = Arc::new(PanicsOnce(AtomicBool::new(false)));
    let s = setup_with(at(&idp), Some(ISSUER), fetch, |c| {
        c.max_wait = Duration::from_secs(3)
    });
    let verified = s
        .verifier
        .verify(&k1.token(Algorithm::ES256, &claims(0)))
        .await;
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(idp.hits(JWKS), 1, "the retry after the panic fetched");
    assert_eq!(s.source.stats().fetches, 2);
}
