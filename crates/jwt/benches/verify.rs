//! Token verification cost: a full RS256 and ES256 verification (cache off: parse,
//! signature, claims) and a verification-cache hit.
//!
//! `cargo bench -p tollgate-jwt --bench verify` (add `-- --warm-up-time 1
//! --measurement-time 3` for a quick run).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use common::{TestKey, jwks};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use tollgate_jwt::{Algorithm, KeySet, KeySource, ManualClock, Verifier, VerifierConfig};

const NOW: u64 = 1_700_000_000;

/// Static keys never make `verify` wait, so one poll completes it: no runtime in the
/// measurement.
fn run<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("verification with static keys never waits"),
    }
}

fn verifier(key: &TestKey, alg: Algorithm, cache_capacity: usize) -> Verifier {
    let keys = KeySet::from_jwks(jwks(&[key]).to_string().as_bytes())
        .unwrap()
        .0;
    let mut config = VerifierConfig::new(vec![alg]);
    config.issuer = Some("https://idp.example".into());
    config.audiences = vec!["orders".into()];
    config.cache_capacity = cache_capacity;
    Verifier::new(
        config,
        KeySource::Static(Arc::new(keys)),
        Arc::new(ManualClock::new(NOW)),
    )
    .unwrap()
}

/// A realistic access token: about 700 bytes with an RSA-2048 signature.
fn claims() -> serde_json::Value {
    json!({
        "iss": "https://idp.example", "aud": ["orders", "billing"], "sub": "alice@example.com",
        "exp": NOW + 3600, "iat": NOW, "nbf": NOW, "jti": "3b9a4c0e-5f7d-4c8e-9a41-2f0e8d6b7c11",
        "scope": "orders:read orders:write", "azp": "web-frontend", "roles": ["reader", "writer"],
    })
}

fn bench(c: &mut Criterion) {
    let rsa = TestKey::rsa("rsa-1");
    let ec = TestKey::ec("ec-1", Algorithm::ES256);
    let mut group = c.benchmark_group("jwt_verify");
    for (name, key, alg) in [
        ("rs256", &rsa, Algorithm::RS256),
        ("es256", &ec, Algorithm::ES256),
    ] {
        let v = verifier(key, alg, 0);
        let token = key.token(alg, &claims());
        run(v.verify(&token)).unwrap();
        group.bench_function(name, |b| {
            b.iter(|| run(v.verify(black_box(&token))).unwrap())
        });
    }
    let v = verifier(&rsa, Algorithm::RS256, 10_000);
    let token = rsa.token(Algorithm::RS256, &claims());
    run(v.verify(&token)).unwrap();
    group.bench_function("cache_hit_rs256", |b| {
        b.iter(|| run(v.verify(black_box(&token))).unwrap())
    });
    group.finish();
    assert_eq!(
        v.stats().signature_checks,
        1,
        "the cache-hit bench never re-verified"
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
