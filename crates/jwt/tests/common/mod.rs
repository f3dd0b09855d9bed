//! Shared test helpers: keys generated at test time (aws-lc-rs) and token signing; in
//! `idp`, a real local identity provider and a real hyper client behind `Fetch`.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub(crate) mod idp;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use serde_json::{Value, json};
use tollgate_jwt::Algorithm;

/// Unpadded base64url.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `token` with one bit of its signature flipped.
pub(crate) fn flip_signature_bit(token: &str) -> String {
    let (head, sig) = token.rsplit_once('.').expect("a compact JWS");
    let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sig)
        .expect("base64url signature");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    format!("{head}.{}", b64(&bytes))
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
    Hmac(Vec<u8>),
}

/// A signing key made for the test.
pub(crate) struct TestKey {
    pub(crate) kid: String,
    signer: Signer,
}

impl TestKey {
    pub(crate) fn rsa(kid: &str) -> Self {
        let key = RsaKeyPair::generate(rsa::KeySize::Rsa2048).expect("RSA key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Rsa(key),
        }
    }

    /// An EC key for ES256, ES384 or ES512.
    pub(crate) fn ec(kid: &str, alg: Algorithm) -> Self {
        let curve = match alg {
            Algorithm::ES256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            Algorithm::ES384 => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
            Algorithm::ES512 => &signature::ECDSA_P521_SHA512_FIXED_SIGNING,
            other => panic!("{other} is not an EC algorithm"),
        };
        let key = EcdsaKeyPair::generate(curve).expect("EC key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Ec(key),
        }
    }

    pub(crate) fn ed25519(kid: &str) -> Self {
        let key = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        Self {
            kid: kid.into(),
            signer: Signer::Ed(key),
        }
    }

    pub(crate) fn hmac(kid: &str, secret: &[u8]) -> Self {
        Self {
            kid: kid.into(),
            signer: Signer::Hmac(secret.to_vec()),
        }
    }

    /// The public JWK (for an HMAC key: the `oct` JWK with the secret).
    pub(crate) fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(k) => json!({
                "kty": "RSA", "kid": self.kid, "use": "sig",
                "n": b64(k.public_key().modulus().big_endian_without_leading_zero()),
                "e": b64(k.public_key().exponent().big_endian_without_leading_zero()),
            }),
            Signer::Ec(k) => {
                let point = k.public_key().as_ref();
                let size = (point.len() - 1) / 2;
                let crv = match size {
                    32 => "P-256",
                    48 => "P-384",
                    _ => "P-521",
                };
                json!({
                    "kty": "EC", "kid": self.kid, "crv": crv,
                    "x": b64(&point[1..=size]), "y": b64(&point[1 + size..]),
                })
            }
            Signer::Ed(k) => json!({
                "kty": "OKP", "kid": self.kid, "crv": "Ed25519", "x": b64(k.public_key().as_ref()),
            }),
            Signer::Hmac(secret) => json!({"kty": "oct", "kid": self.kid, "k": b64(secret)}),
        }
    }

    /// The public key as PEM SubjectPublicKeyInfo.
    pub(crate) fn pem(&self) -> String {
        let der = match &self.signer {
            Signer::Rsa(k) => k.public_key().as_der().expect("RSA SPKI").as_ref().to_vec(),
            Signer::Ec(k) => k.public_key().as_der().expect("EC SPKI").as_ref().to_vec(),
            Signer::Ed(k) => k
                .public_key()
                .as_der()
                .expect("Ed25519 SPKI")
                .as_ref()
                .to_vec(),
            Signer::Hmac(_) => panic!("an HMAC secret has no PEM form"),
        };
        let body = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<_> = body
            .as_bytes()
            .chunks(64)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// Signs `input` (the JWS signing input) with `alg`.
    pub(crate) fn sign_bytes(&self, alg: Algorithm, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let padding: &'static dyn signature::RsaEncoding = match alg {
                    Algorithm::RS256 => &signature::RSA_PKCS1_SHA256,
                    Algorithm::RS384 => &signature::RSA_PKCS1_SHA384,
                    Algorithm::RS512 => &signature::RSA_PKCS1_SHA512,
                    Algorithm::PS256 => &signature::RSA_PSS_SHA256,
                    Algorithm::PS384 => &signature::RSA_PSS_SHA384,
                    Algorithm::PS512 => &signature::RSA_PSS_SHA512,
                    other => panic!("RSA cannot sign {other}"),
                };
                let mut sig = vec![0; k.public_modulus_len()];
                k.sign(padding, &rng, input, &mut sig).expect("RSA signing");
                sig
            }
            Signer::Ec(k) => k
                .sign(&rng, input)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            Signer::Ed(k) => k.sign(input).as_ref().to_vec(),
            Signer::Hmac(secret) => {
                let digest = match alg {
                    Algorithm::HS384 => hmac::HMAC_SHA384,
                    Algorithm::HS512 => hmac::HMAC_SHA512,
                    _ => hmac::HMAC_SHA256,
                };
                hmac::sign(&hmac::Key::new(digest, secret), input)
                    .as_ref()
                    .to_vec()
            }
        }
    }

    /// A compact JWS of `payload` under `header` (taken as is).
    pub(crate) fn sign_raw(&self, alg: Algorithm, header: &Value, payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(payload));
        let sig = self.sign_bytes(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A JWT with header `{"alg", "kid"}` and these claims.
    pub(crate) fn token(&self, alg: Algorithm, claims: &Value) -> String {
        self.sign_raw(
            alg,
            &json!({"alg": alg.as_str(), "kid": self.kid}),
            claims.to_string().as_bytes(),
        )
    }
}

/// `{"keys": [...]}` of these keys' JWKs.
pub(crate) fn jwks(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}
