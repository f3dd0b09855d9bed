//! JWT bearer authentication for Tollgate, as a library the proxy calls: verify a token,
//! get its claims, or a refusal that maps to 401 (or 503 while keys are loading).
//!
//! ```text
//!  Authorization: Bearer <token>
//!        │ bearer_token()
//!        ▼
//!  Verifier::verify ──cache hit──────────────────────────────▶ Arc<Verified>
//!        │ miss                                                   │ ClaimHeaders::headers
//!        ▼                                                        │ Verified::consumer
//!  Jws::parse (alg allow-list, no `none`, no `crit`)              ▼
//!        │                                                  upstream headers / consumer
//!        ▼
//!  KeySource ── Static(KeySet) ─────────────┐
//!            └─ Jwks(JwksSource) ── ready() ─┤  (first fetch: bounded wait)
//!                 ▲ unknown kid: refresh ───┤  (rate-limited, single flight)
//!                 │ Fetch (the proxy's      ▼
//!                 │ hyper client)     signature (aws-lc-rs) → claims (exp/nbf/iat/iss/aud)
//! ```
//!
//! Crypto is aws-lc-rs only, the provider the rest of the tree uses; `ring` must never be
//! in the tree. This crate depends on no server or proxy crate: the one outbound HTTP call
//! it needs goes through the [`Fetch`] trait.
//!
//! Algorithms: HS256/384/512, RS256/384/512, PS256/384/512, ES256/384/512, EdDSA
//! (Ed25519). The verifier's allow-list decides; the key's type, curve and JWK `alg`
//! must agree with the token's `alg`; HMAC secrets only ever come from configuration.

#![warn(missing_docs)]

mod alg;
mod b64;
mod cache;
mod claims;
mod clock;
mod consumer;
mod discovery;
mod error;
mod fetch;
mod headers;
mod jwks;
mod jws;
mod keys;
mod verifier;

pub use alg::{Algorithm, UnknownAlgorithm};
pub use clock::{Clock, ManualClock, SystemClock};
pub use consumer::{ConsumerLookup, ConsumerMap};
pub use discovery::ProviderMetadata;
pub use error::{ConfigError, JwtError, www_authenticate_missing};
pub use fetch::{BoxFuture, Fetch, FetchError, FetchResponse, max_age};
pub use headers::{ClaimHeaders, bearer_token};
pub use jwks::{JwksConfig, JwksLocation, JwksSource, JwksStats, KeySnapshot};
pub use jws::Jws;
pub use keys::{KeySet, KeyType, VerifyingKey};
pub use verifier::{KeySource, Verified, Verifier, VerifierConfig, VerifierStats};
