//! Tokens for tests: HS256 and ES256 JWTs signed with aws-lc-rs, and `alg: none` ones.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine as _;
use serde_json::{Value, json};

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn signing_input(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    )
}

/// An HS256 token over `claims`.
pub fn hs256(secret: &[u8], claims: &Value) -> String {
    let input = signing_input(&json!({"alg": "HS256", "typ": "JWT"}), claims);
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

/// An unsecured token (`alg: none`), which must always be refused.
pub fn unsecured(claims: &Value) -> String {
    format!("{}.", signing_input(&json!({"alg": "none"}), claims))
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A P-256 key that signs ES256 tokens and publishes itself as a JWK.
pub struct EcKey {
    pair: EcdsaKeyPair,
    kid: String,
}

impl EcKey {
    /// A fresh key with this `kid`.
    pub fn generate(kid: &str) -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .unwrap_or_else(|e| panic!("generating a P-256 key: {e}"));
        Self {
            pair,
            kid: kid.to_owned(),
        }
    }

    /// The public key as a JWK (uncompressed point split into x and y).
    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": self.kid,
            "x": b64(&point[1..33]), "y": b64(&point[33..65]),
        })
    }

    /// A JWKS document holding `keys`.
    pub fn jwks(keys: &[&EcKey]) -> Value {
        json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
    }

    /// An ES256 token over `claims`, with this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "ES256", "typ": "JWT", "kid": self.kid});
        let input = signing_input(&header, claims);
        let sig = self
            .pair
            .sign(&SystemRandom::new(), input.as_bytes())
            .unwrap_or_else(|e| panic!("signing: {e}"));
        format!("{input}.{}", b64(sig.as_ref()))
    }
}
