//! The JWS compact serialization (RFC 7515 §7.1): `header.payload.signature`.
//!
//! Only what verification needs is read from the header: `alg`, `kid` and `crit`. Header
//! parameters that point at keys (`jku`, `jwk`, `x5u`, `x5c`) are ignored on purpose: a
//! token never chooses where its verification key comes from.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Deserialize;

use crate::alg::Algorithm;
use crate::b64;
use crate::error::JwtError;
use crate::keys::KeySet;

/// Keys tried for one token when it has no `kid` (or its `kid` is unknown and only kid-less
/// keys remain): a token cannot make us run more signature checks than this.
pub(crate) const DEFAULT_MAX_CANDIDATES: usize = 4;

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<serde_json::Value>,
    kid: Option<serde_json::Value>,
    crit: Option<serde_json::Value>,
}

/// A parsed, not yet verified, JWS.
#[derive(Debug)]
pub struct Jws<'a> {
    alg: Algorithm,
    kid: Option<String>,
    signing_input: &'a str,
    payload_b64: &'a str,
    signature: Vec<u8>,
}

impl<'a> Jws<'a> {
    /// Parses a compact JWS. Refuses: anything but three segments (a JWE has five),
    /// non-canonical base64url, a header that is not a JSON object, `alg` missing or
    /// `none` (any letter case), an unknown `alg`, and any `crit` (we implement no JWS
    /// extension, and RFC 7515 §4.1.11 requires refusing the ones we do not understand).
    pub fn parse(token: &'a str) -> Result<Self, JwtError> {
        let (header_b64, rest) = token
            .split_once('.')
            .ok_or(JwtError::Malformed("not a compact JWS"))?;
        let (payload_b64, sig_b64) = rest
            .split_once('.')
            .ok_or(JwtError::Malformed("not a compact JWS"))?;
        if sig_b64.contains('.') {
            return Err(JwtError::Malformed("not a compact JWS"));
        }
        let header_json =
            b64::decode_strict(header_b64).ok_or(JwtError::Malformed("header is not base64url"))?;
        // serde refuses a repeated `alg`/`kid`/`crit`, so a header cannot say two things.
        let header: RawHeader = serde_json::from_slice(&header_json)
            .map_err(|_| JwtError::Malformed("header is not a JSON object"))?;
        let alg = match header.alg {
            Some(serde_json::Value::String(name)) => {
                if name.eq_ignore_ascii_case("none") {
                    return Err(JwtError::AlgNone);
                }
                name.parse::<Algorithm>()
                    .map_err(|_| JwtError::AlgorithmNotAllowed)?
            }
            _ => return Err(JwtError::Malformed("header has no alg")),
        };
        if header.crit.is_some() {
            return Err(JwtError::UnsupportedCritical);
        }
        let kid = match header.kid {
            None => None,
            Some(serde_json::Value::String(kid)) => Some(kid),
            Some(_) => return Err(JwtError::Malformed("kid is not a string")),
        };
        let signature =
            b64::decode_strict(sig_b64).ok_or(JwtError::Malformed("signature is not base64url"))?;
        if signature.is_empty() {
            return Err(JwtError::Malformed("signature is empty"));
        }
        let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
        Ok(Self {
            alg,
            kid,
            signing_input,
            payload_b64,
            signature,
        })
    }

    /// The header's `alg`.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The header's `kid`.
    pub fn key_id(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Verifies the signature with a key from `keys`, if `alg` is in `allowed`, and returns
    /// the payload bytes. For JWS that are not JWTs (the RFC examples sign plain text);
    /// JWTs go through [`crate::Verifier`], which also checks the claims.
    pub fn verify(&self, keys: &KeySet, allowed: &[Algorithm]) -> Result<Vec<u8>, JwtError> {
        if !allowed.contains(&self.alg) {
            return Err(JwtError::AlgorithmNotAllowed);
        }
        self.verify_signature(keys, DEFAULT_MAX_CANDIDATES, None)?;
        self.payload()
    }

    /// Checks the signature against the candidate keys. `UnknownKey` when there is no
    /// candidate (the caller may refresh its keys and retry), `InvalidSignature` when
    /// candidates exist and none verifies. `checks` counts signature operations.
    pub(crate) fn verify_signature(
        &self,
        keys: &KeySet,
        max_candidates: usize,
        checks: Option<&AtomicU64>,
    ) -> Result<(), JwtError> {
        let candidates = keys.candidates(self.alg, self.key_id(), max_candidates);
        if candidates.is_empty() {
            return Err(JwtError::UnknownKey);
        }
        for key in candidates {
            if let Some(c) = checks {
                c.fetch_add(1, Ordering::Relaxed);
            }
            if key.verify(self.alg, self.signing_input.as_bytes(), &self.signature) {
                return Ok(());
            }
        }
        Err(JwtError::InvalidSignature)
    }

    /// The decoded payload. Not authenticated until a verification succeeded.
    pub(crate) fn payload(&self) -> Result<Vec<u8>, JwtError> {
        b64::decode_strict(self.payload_b64).ok_or(JwtError::Malformed("payload is not base64url"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(header: &str, payload: &str) -> String {
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!("{}.{}.c2ln", e.encode(header), e.encode(payload))
    }

    #[test]
    fn refuses_unsecured_unknown_and_critical_headers() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), "{}");
            assert_eq!(Jws::parse(&t).err(), Some(JwtError::AlgNone), "{alg}");
        }
        let t = token(r#"{"alg":"HS1"}"#, "{}");
        assert_eq!(Jws::parse(&t).err(), Some(JwtError::AlgorithmNotAllowed));
        let t = token(r#"{"alg":"RS256","crit":["exp"],"exp":1}"#, "{}");
        assert_eq!(Jws::parse(&t).err(), Some(JwtError::UnsupportedCritical));
        let t = token(r#"{"alg":"RS256","alg":"HS256"}"#, "{}");
        assert!(matches!(Jws::parse(&t), Err(JwtError::Malformed(_))));
        let t = token(r#"{"alg":"RS256","kid":7}"#, "{}");
        assert!(matches!(Jws::parse(&t), Err(JwtError::Malformed(_))));
    }

    #[test]
    fn refuses_shapes_that_are_not_compact_jws() {
        let ok = token(r#"{"alg":"RS256","kid":"k"}"#, "{}");
        let jws = Jws::parse(&ok).expect("well-formed");
        assert_eq!(
            (jws.algorithm(), jws.key_id()),
            (Algorithm::RS256, Some("k"))
        );
        for bad in [
            String::new(),
            "a.b".to_owned(),
            format!("{ok}.x.y"),
            ok.replacen('.', "=.", 1),
            format!("{ok}="),
            ok.rsplit_once('.')
                .map(|(head, _)| format!("{head}."))
                .unwrap_or_default(),
            token("[]", "{}"),
            format!("!{ok}"),
        ] {
            assert!(
                matches!(Jws::parse(&bad), Err(JwtError::Malformed(_))),
                "{bad:?}"
            );
        }
    }
}
