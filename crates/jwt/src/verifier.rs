//! The verifier: a token in, verified claims (or the reason for refusal) out.
//!
//! Order of checks, cheapest and least revealing first:
//! 1. size bound, then the verification cache (a hit costs one SHA-256 and a shard lock);
//! 2. JWS shape, `alg` (never `none`, must be on the allow-list), no `crit`;
//! 3. the signature, with a key chosen by `kid` whose type and `alg` fit the token's `alg`
//!    (a JWKS source refreshes once, rate-limited, when no key fits);
//! 4. only then the claims — so a forged token learns nothing about `exp`, `iss` or `aud`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::{Map, Value};

use crate::alg::Algorithm;
use crate::cache::{self, VerifiedCache};
use crate::claims::{self, ClaimRules};
use crate::clock::Clock;
use crate::error::{ConfigError, JwtError};
use crate::jwks::JwksSource;
use crate::jws::{DEFAULT_MAX_CANDIDATES, Jws};
use crate::keys::{KeySet, KeyType};

/// What a verifier accepts.
#[derive(Clone, Debug)]
pub struct VerifierConfig {
    /// The allow-list. A token's `alg` must be on it, whatever its key supports.
    pub algorithms: Vec<Algorithm>,
    /// Required exact `iss`. With OIDC discovery and no issuer here, the discovered one.
    pub issuer: Option<String>,
    /// When not empty, the token's `aud` must name one of these.
    pub audiences: Vec<String>,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat` (default 30 s).
    pub leeway: Duration,
    /// Refuse tokens without `exp` (default true).
    pub require_exp: bool,
    /// Longest token accepted, in bytes (default 16 KiB).
    pub max_token_bytes: usize,
    /// Verification-cache entries (default 10 000; 0 turns the cache off).
    pub cache_capacity: usize,
    /// Longest a verification result is reused, however late the token expires
    /// (default 5 min).
    pub cache_ttl: Duration,
    /// Keys tried for one token that has no (known) `kid` (default 4).
    pub max_candidate_keys: usize,
}

impl VerifierConfig {
    /// Defaults with this allow-list.
    pub fn new(algorithms: Vec<Algorithm>) -> Self {
        Self {
            algorithms,
            issuer: None,
            audiences: Vec::new(),
            leeway: Duration::from_secs(30),
            require_exp: true,
            max_token_bytes: 16 * 1024,
            cache_capacity: 10_000,
            cache_ttl: Duration::from_secs(300),
            max_candidate_keys: DEFAULT_MAX_CANDIDATES,
        }
    }
}

/// Where a verifier's keys come from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// Keys from configuration (`keys:`: inline JWKS, PEM public keys, HMAC secrets).
    Static(Arc<KeySet>),
    /// A provider's JWKS, fetched and cached (`jwks_uri:` or `discovery:`).
    Jwks(JwksSource),
}

/// A verified token: its claims, and how it was signed.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    claims: Map<String, Value>,
    alg: Algorithm,
    kid: Option<String>,
}

impl Verified {
    pub(crate) fn new(claims: Map<String, Value>, alg: Algorithm, kid: Option<String>) -> Self {
        Self { claims, alg, kid }
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.claims.get("iss").and_then(Value::as_str)
    }

    /// `sub` (verified to be a string when present).
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The algorithm the token was signed with.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The `kid` of the token's header.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// Counters, for metrics and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// Signature operations run (a token without `kid` may need several).
    pub signature_checks: u64,
    /// Tokens answered from the verification cache.
    pub cache_hits: u64,
    /// Entries in the cache now.
    pub cache_entries: usize,
}

/// Verifies bearer tokens. Cheap to clone (one `Arc`); build one per configured `jwt:`
/// policy and share it between requests.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    config: VerifierConfig,
    keys: KeySource,
    clock: Arc<dyn Clock>,
    cache: VerifiedCache,
    checks: AtomicU64,
    hits: AtomicU64,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("config", &self.inner.config)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// Checks the configuration against the keys: an allow-list that is empty, HS*
    /// allowed without a configured secret (public keys never serve as one), or static
    /// keys that cannot serve any allowed algorithm are errors.
    pub fn new(
        config: VerifierConfig,
        keys: KeySource,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        if config.algorithms.is_empty() {
            return Err(ConfigError::NoAlgorithms);
        }
        let hmac_allowed = config.algorithms.iter().any(|a| a.is_hmac());
        match &keys {
            KeySource::Static(set) => {
                if hmac_allowed && !set.iter().any(|k| k.key_type() == KeyType::Oct) {
                    return Err(ConfigError::HmacWithoutSecret);
                }
                if !config.algorithms.iter().any(|a| set.supports(*a)) {
                    return Err(ConfigError::NoUsableKey);
                }
            }
            KeySource::Jwks(_) if hmac_allowed => return Err(ConfigError::HmacWithoutSecret),
            KeySource::Jwks(_) => {}
        }
        let cache = VerifiedCache::new(config.cache_capacity);
        let inner = Inner {
            config,
            keys,
            clock,
            cache,
            checks: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &VerifierConfig {
        &self.inner.config
    }

    /// Where the keys come from (an OIDC client reads the provider's endpoints from a
    /// discovery source's snapshot).
    pub fn key_source(&self) -> &KeySource {
        &self.inner.keys
    }

    /// Counters.
    pub fn stats(&self) -> VerifierStats {
        VerifierStats {
            signature_checks: self.inner.checks.load(Ordering::Relaxed),
            cache_hits: self.inner.hits.load(Ordering::Relaxed),
            cache_entries: self.inner.cache.len(),
        }
    }

    /// Verifies `token` (the bearer credential, without `Bearer `). Waits only when a JWKS
    /// source has no keys yet (bounded) or a refresh for an unknown `kid` is allowed.
    pub async fn verify(&self, token: &str) -> Result<Arc<Verified>, JwtError> {
        let inner = &*self.inner;
        let config = &inner.config;
        if token.len() > config.max_token_bytes {
            return Err(JwtError::Malformed("token is too large"));
        }
        // Read before the keys are taken; see `JwksSource::removals`.
        let generation = match &inner.keys {
            KeySource::Static(_) => 0,
            KeySource::Jwks(source) => source.removals(),
        };
        let now = inner.clock.seconds();
        let cache_key = cache::key(token);
        if let Some(hit) = inner.cache.get(&cache_key, now, generation) {
            inner.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }

        let jws = Jws::parse(token)?;
        if !config.algorithms.contains(&jws.algorithm()) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        let limit = config.max_candidate_keys.max(1);
        let checks = Some(&inner.checks);
        let snapshot;
        let issuer = match &inner.keys {
            KeySource::Static(set) => {
                jws.verify_signature(set, limit, checks)?;
                config.issuer.as_deref()
            }
            KeySource::Jwks(source) => {
                let seen = source.ready().await?;
                snapshot = match jws.verify_signature(seen.keys(), limit, checks) {
                    Err(JwtError::UnknownKey) => {
                        let newer = source
                            .refresh_for_unknown_kid(&seen)
                            .await
                            .ok_or(JwtError::UnknownKey)?;
                        jws.verify_signature(newer.keys(), limit, checks)?;
                        newer
                    }
                    result => result.map(|()| seen)?,
                };
                config.issuer.as_deref().or(snapshot.issuer())
            }
        };

        let claims = claims::parse(&jws.payload()?)?;
        let rules = ClaimRules {
            issuer,
            audiences: &config.audiences,
            leeway: config.leeway.as_secs_f64(),
            require_exp: config.require_exp,
        };
        let exp = claims::validate(&claims, &rules, now)?;
        let verified = Arc::new(Verified::new(
            claims,
            jws.algorithm(),
            jws.key_id().map(str::to_owned),
        ));
        // Until `exp` itself, not `exp` + leeway: past `exp` the leeway is re-judged.
        let ttl_end = now + config.cache_ttl.as_secs_f64();
        let until = exp.map_or(ttl_end, |exp| exp.min(ttl_end));
        if until > now {
            inner
                .cache
                .insert(cache_key, Arc::clone(&verified), until, generation);
        }
        Ok(verified)
    }
}
