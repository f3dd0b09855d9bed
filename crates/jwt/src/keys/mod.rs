//! Verification keys: one [`VerifyingKey`] per JWK, PEM public key or shared secret, and
//! the [`KeySet`] a token's key is chosen from.
//!
//! Each key is parsed once, when it is loaded, into one aws-lc-rs verifier per algorithm it
//! may serve, so verifying a token never parses key material. Which algorithms a key may
//! serve is fixed by its type (`kty`/`crv`) and narrowed by the JWK's `alg` when present:
//! an RSA key serves RS*/PS* only, a P-256 key ES256 only, a secret HS* only. That is the
//! key-confusion defence: no code path turns a public key into an HMAC secret.

mod jwk;
mod pem;

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::{self, ParsedPublicKey, RsaPublicKeyComponents};
use aws_lc_rs::{hmac, rsa};

use crate::alg::{Algorithm, Family};
use crate::error::ConfigError;

pub(crate) use jwk::parse_remote_jwks;

/// The type of a key, as JWK `kty` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyType {
    /// `RSA`.
    Rsa,
    /// `EC` (P-256, P-384, P-521).
    Ec,
    /// `OKP` (Ed25519).
    Okp,
    /// `oct`: a shared HMAC secret.
    Oct,
}

/// One aws-lc-rs verifier, bound to one algorithm. The HMAC key (its precomputed inner
/// and outer digest states, over a kilobyte) is boxed to keep the public-key case small.
enum Check {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

/// A key that can verify signatures for a fixed set of algorithms.
pub struct VerifyingKey {
    kid: Option<Arc<str>>,
    key_type: KeyType,
    checks: Vec<(Algorithm, Check)>,
    /// The key type and material, to tell a rotated-away key from one that stayed.
    identity: Vec<u8>,
}

impl fmt::Debug for VerifyingKey {
    // Never prints key material (an HMAC secret is one).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("key_type", &self.key_type)
            .field("algorithms", &self.algorithms().collect::<Vec<_>>())
            .finish()
    }
}

impl VerifyingKey {
    /// A key from one JWK (RFC 7517) given as JSON. `oct` keys are accepted here: this is
    /// for configured keys. Private members (`d`, …) are ignored.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, ConfigError> {
        jwk::from_jwk(jwk, true)
    }

    /// A key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo: RSA, P-256/384/521, Ed25519).
    /// `alg` narrows it to one algorithm; without it an RSA key serves RS* and PS*.
    pub fn from_pem(
        pem: &str,
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let der = pem::public_key_der(pem)?;
        Self::from_spki_der(&der, kid, alg)
    }

    /// A key from DER SubjectPublicKeyInfo bytes; see [`VerifyingKey::from_pem`].
    pub fn from_spki_der(
        der: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        // Curve keys first: their parsers check the SPKI algorithm and curve, so an RSA
        // key is never mistaken for one.
        if let Ok(key) = ParsedPublicKey::new(&signature::ED25519, der) {
            return Self::public(
                kid,
                KeyType::Okp,
                der,
                alg,
                vec![(Algorithm::EdDSA, Check::Public(key))],
            );
        }
        for ec in [Algorithm::ES256, Algorithm::ES384, Algorithm::ES512] {
            if let Some(params) = ec.ecdsa()
                && let Ok(key) = ParsedPublicKey::new(params, der)
            {
                return Self::public(kid, KeyType::Ec, der, alg, vec![(ec, Check::Public(key))]);
            }
        }
        let rsa = rsa::PublicEncryptingKey::from_der(der)
            .map_err(|_| ConfigError::InvalidKey("not an RSA, EC or Ed25519 public key".into()))?;
        check_rsa_size(rsa.key_size_bits())?;
        let mut checks = Vec::new();
        for alg in rsa_algorithms(alg) {
            if let Some(params) = alg.rsa_params() {
                let key = ParsedPublicKey::new(params, der)
                    .map_err(|e| ConfigError::InvalidKey(format!("RSA key: {e}")))?;
                checks.push((alg, Check::Public(key)));
            }
        }
        Self::public(kid, KeyType::Rsa, der, alg, checks)
    }

    /// A shared HMAC secret. It serves each HS algorithm whose hash is no longer than the
    /// secret (RFC 7518 §3.2), or only `alg` when given.
    pub fn hmac_secret(
        secret: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        if alg.is_some_and(|a| !a.is_hmac()) {
            return Err(ConfigError::InvalidKey(
                "a shared secret serves HS256/384/512 only".into(),
            ));
        }
        let checks: Vec<_> = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]
            .into_iter()
            .filter(|a| alg.is_none_or(|only| only == *a))
            .filter_map(|a| {
                let (digest, min_len) = a.hmac()?;
                (secret.len() >= min_len)
                    .then(|| (a, Check::Hmac(Box::new(hmac::Key::new(digest, secret)))))
            })
            .collect();
        if checks.is_empty() {
            return Err(ConfigError::InvalidKey(
                "HMAC secret is shorter than the hash (32 bytes for HS256, RFC 7518 §3.2)".into(),
            ));
        }
        let mut identity = b"oct\0".to_vec();
        // The secret itself is not kept as identity: a digest of it tells keys apart.
        identity.extend_from_slice(
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret).as_ref(),
        );
        Ok(Self {
            kid: kid.map(Arc::from),
            key_type: KeyType::Oct,
            checks,
            identity,
        })
    }

    /// An RSA key from its big-endian modulus and exponent (JWK `n`, `e`).
    pub(crate) fn rsa(
        n: &[u8],
        e: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        // RFC 7518 says no leading zeros, but some providers send them; aws-lc refuses them.
        let n = strip_zeros(n);
        let e = strip_zeros(e);
        let bits = n
            .first()
            .map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize));
        check_rsa_size(bits)?;
        let components = RsaPublicKeyComponents { n, e };
        let mut checks = Vec::new();
        for a in rsa_algorithms(alg) {
            if let Some(params) = a.rsa_params() {
                let key = components
                    .to_parsed_public_key(params)
                    .map_err(|e| ConfigError::InvalidKey(format!("RSA key: {e}")))?;
                checks.push((a, Check::Public(key)));
            }
        }
        let mut identity = n.to_vec();
        identity.extend_from_slice(e);
        Self::public(kid, KeyType::Rsa, &identity, alg, checks)
    }

    /// An EC or Ed25519 key from its public bytes (uncompressed point, or Ed25519 `x`).
    pub(crate) fn curve(
        alg_for_curve: Algorithm,
        public: &[u8],
        kid: Option<&str>,
        alg: Option<Algorithm>,
    ) -> Result<Self, ConfigError> {
        let (key_type, verify): (_, &'static dyn signature::VerificationAlgorithm) =
            match alg_for_curve.family() {
                Family::Ed25519 => (KeyType::Okp, &signature::ED25519),
                Family::Ec(_) => match alg_for_curve.ecdsa() {
                    Some(v) => (KeyType::Ec, v),
                    None => return Err(ConfigError::InvalidKey("unsupported curve".into())),
                },
                _ => return Err(ConfigError::InvalidKey("not a curve algorithm".into())),
            };
        let key = ParsedPublicKey::new(verify, public)
            .map_err(|e| ConfigError::InvalidKey(format!("{alg_for_curve} key: {e}")))?;
        Self::public(
            kid,
            key_type,
            public,
            alg,
            vec![(alg_for_curve, Check::Public(key))],
        )
    }

    fn public(
        kid: Option<&str>,
        key_type: KeyType,
        material: &[u8],
        alg: Option<Algorithm>,
        checks: Vec<(Algorithm, Check)>,
    ) -> Result<Self, ConfigError> {
        if let Some(a) = alg
            && !checks.iter().any(|(c, _)| *c == a)
        {
            return Err(ConfigError::InvalidKey(format!(
                "key of type {key_type:?} cannot serve {a}"
            )));
        }
        let mut identity = format!("{key_type:?}\0").into_bytes();
        identity.extend_from_slice(material);
        Ok(Self {
            kid: kid.map(Arc::from),
            key_type,
            checks,
            identity,
        })
    }

    /// The key id (`kid`), if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key type.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The algorithms this key can verify.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.checks.iter().map(|(a, _)| *a)
    }

    /// Whether this key can verify `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.checks.iter().any(|(a, _)| *a == alg)
    }

    /// Verifies `signature` over `message` with `alg`; false when the key cannot serve
    /// `alg` or the signature does not verify. HMAC tags are compared in constant time.
    pub fn verify(&self, alg: Algorithm, message: &[u8], sig: &[u8]) -> bool {
        self.checks
            .iter()
            .filter(|(a, _)| *a == alg)
            .any(|(_, check)| match check {
                Check::Public(key) => key.verify_sig(message, sig).is_ok(),
                Check::Hmac(key) => hmac::verify(key, message, sig).is_ok(),
            })
    }

    pub(crate) fn identity(&self) -> &[u8] {
        &self.identity
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

/// 2048 bits is RFC 7518 §3.3's minimum; 8192 is aws-lc's maximum for verification.
fn check_rsa_size(bits: usize) -> Result<(), ConfigError> {
    if (2048..=8192).contains(&bits) {
        Ok(())
    } else {
        Err(ConfigError::InvalidKey(format!(
            "RSA key of {bits} bits; 2048 to 8192 are accepted"
        )))
    }
}

fn rsa_algorithms(alg: Option<Algorithm>) -> impl Iterator<Item = Algorithm> {
    Algorithm::ALL
        .into_iter()
        .filter(|a| a.family() == Family::Rsa)
        .filter(move |a| alg.is_none_or(|only| only == *a))
}

/// The keys a token may be verified with.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyingKey>>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A configured (inline) JWKS document: `{"keys": [...]}`. Keys this crate cannot use
    /// (`use: enc`, unsupported types or curves) are skipped and listed in the second value
    /// so the caller can warn; a malformed key or a set mixing `oct` with public keys is an
    /// error, and so is a set with no usable key.
    pub fn from_jwks(json: &[u8]) -> Result<(Self, Vec<String>), ConfigError> {
        jwk::parse_config_jwks(json)
    }

    /// Adds a key.
    pub fn push(&mut self, key: VerifyingKey) {
        self.keys.push(Arc::new(key));
    }

    /// The keys.
    pub fn iter(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter().map(|k| &**k)
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether some key can verify `alg`.
    pub fn supports(&self, alg: Algorithm) -> bool {
        self.iter().any(|k| k.supports(alg))
    }

    /// The candidate keys for a token, in the order they are tried. With a `kid`: the keys
    /// with that `kid` that serve `alg`, else the kid-less keys that do (a PEM key
    /// configured without one). Without a `kid`: every key that serves `alg`. At most
    /// `limit` keys, so a token without `kid` costs a bounded number of verifications.
    pub(crate) fn candidates<'a>(
        &'a self,
        alg: Algorithm,
        kid: Option<&'a str>,
        limit: usize,
    ) -> Vec<&'a VerifyingKey> {
        let serving = || self.iter().filter(move |k| k.supports(alg));
        let picked: Vec<_> = match kid {
            Some(kid) => {
                let by_kid: Vec<_> = serving().filter(|k| k.kid() == Some(kid)).collect();
                if by_kid.is_empty() {
                    serving().filter(|k| k.kid().is_none()).collect()
                } else {
                    by_kid
                }
            }
            None => serving().collect(),
        };
        picked.into_iter().take(limit).collect()
    }

    /// The keys' identities, sorted: equal for equal sets, whatever the order.
    pub(crate) fn identities(&self) -> Vec<(Option<&str>, &[u8])> {
        let mut ids: Vec<_> = self.iter().map(|k| (k.kid(), k.identity())).collect();
        ids.sort();
        ids
    }
}
