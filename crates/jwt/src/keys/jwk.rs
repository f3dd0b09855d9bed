//! JWK (RFC 7517, RFC 7518 §6, RFC 8037 §2) and JWKS parsing.

use serde::Deserialize;

use super::{KeySet, KeyType, VerifyingKey};
use crate::alg::Algorithm;
use crate::b64;
use crate::error::ConfigError;

/// The members we read; others (private parts, `x5c`, …) are ignored. The certificate
/// chain is not used: the key is `n`/`e` or `x`/`y`, as RFC 7517 §4.7 requires them to match.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
    k: Option<String>,
}

#[derive(Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

/// Why a JWK was not turned into a key.
enum Refusal {
    /// Not for us (encryption key, unsupported type or curve, a secret in a fetched set).
    Skip(String),
    /// Meant for signatures but broken.
    Invalid(String),
}

pub(super) fn from_jwk(
    value: &serde_json::Value,
    allow_oct: bool,
) -> Result<VerifyingKey, ConfigError> {
    parse(value, allow_oct).map_err(|r| match r {
        Refusal::Skip(why) | Refusal::Invalid(why) => ConfigError::InvalidKey(why),
    })
}

fn parse(value: &serde_json::Value, allow_oct: bool) -> Result<VerifyingKey, Refusal> {
    let raw =
        RawJwk::deserialize(value).map_err(|e| Refusal::Invalid(format!("not a JWK: {e}")))?;
    let kid = raw.kid.as_deref();
    if let Some(u) = raw.use_.as_deref()
        && u != "sig"
    {
        return Err(Refusal::Skip(format!("use {u:?} is not sig")));
    }
    if let Some(ops) = &raw.key_ops
        && !ops.iter().any(|o| o == "verify")
    {
        return Err(Refusal::Skip("key_ops lacks verify".into()));
    }
    let alg =
        match raw.alg.as_deref() {
            None => None,
            Some(a) => Some(a.parse::<Algorithm>().map_err(|_| {
                Refusal::Skip(format!("alg {a:?} is not a supported JWS algorithm"))
            })?),
        };
    let invalid = |e: ConfigError| Refusal::Invalid(e.to_string());
    match raw.kty.as_str() {
        "RSA" => {
            let n = member(&raw.n, "n")?;
            let e = member(&raw.e, "e")?;
            VerifyingKey::rsa(&n, &e, kid, alg).map_err(invalid)
        }
        "EC" => {
            let (curve_alg, size) = match raw.crv.as_deref() {
                Some("P-256") => (Algorithm::ES256, 32),
                Some("P-384") => (Algorithm::ES384, 48),
                Some("P-521") => (Algorithm::ES512, 66),
                other => {
                    return Err(Refusal::Skip(format!(
                        "EC curve {other:?} is not supported"
                    )));
                }
            };
            let x = member(&raw.x, "x")?;
            let y = member(&raw.y, "y")?;
            // RFC 7518 §6.2.1.2: coordinates are exactly the field size.
            if x.len() != size || y.len() != size {
                return Err(Refusal::Invalid(format!(
                    "{curve_alg} key coordinates are not {size} bytes"
                )));
            }
            let mut point = Vec::with_capacity(1 + 2 * size);
            point.push(0x04);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            VerifyingKey::curve(curve_alg, &point, kid, alg).map_err(invalid)
        }
        "OKP" => {
            if raw.crv.as_deref() != Some("Ed25519") {
                return Err(Refusal::Skip(format!(
                    "OKP curve {:?} is not supported",
                    raw.crv
                )));
            }
            let x = member(&raw.x, "x")?;
            if x.len() != 32 {
                return Err(Refusal::Invalid("Ed25519 key is not 32 bytes".into()));
            }
            VerifyingKey::curve(Algorithm::EdDSA, &x, kid, alg).map_err(invalid)
        }
        "oct" if allow_oct => {
            let k = member(&raw.k, "k")?;
            VerifyingKey::hmac_secret(&k, kid, alg).map_err(invalid)
        }
        "oct" => Err(Refusal::Skip("symmetric key in a fetched JWKS".into())),
        other => Err(Refusal::Skip(format!(
            "key type {other:?} is not supported"
        ))),
    }
}

fn member(value: &Option<String>, name: &str) -> Result<Vec<u8>, Refusal> {
    let text = value
        .as_deref()
        .ok_or_else(|| Refusal::Invalid(format!("missing member {name}")))?;
    b64::decode_lenient(text)
        .ok_or_else(|| Refusal::Invalid(format!("member {name} is not base64url")))
}

fn describe(index: usize, value: &serde_json::Value, why: &str) -> String {
    match value.get("kid").and_then(|k| k.as_str()) {
        Some(kid) => format!("key {index} (kid {kid:?}): {why}"),
        None => format!("key {index}: {why}"),
    }
}

/// A configured JWKS: strict about broken keys and about mixing secrets with public keys.
pub(super) fn parse_config_jwks(json: &[u8]) -> Result<(KeySet, Vec<String>), ConfigError> {
    let raw: RawJwks = serde_json::from_slice(json)
        .map_err(|e| ConfigError::InvalidKey(format!("not a JWKS document: {e}")))?;
    let mut set = KeySet::new();
    let mut skipped = Vec::new();
    for (i, value) in raw.keys.iter().enumerate() {
        match parse(value, true) {
            Ok(key) => set.push(key),
            Err(Refusal::Skip(why)) => skipped.push(describe(i, value, &why)),
            Err(Refusal::Invalid(why)) => {
                return Err(ConfigError::InvalidKey(describe(i, value, &why)));
            }
        }
    }
    let oct = set.iter().filter(|k| k.key_type() == KeyType::Oct).count();
    if oct > 0 && oct < set.len() {
        return Err(ConfigError::MixedKeySet);
    }
    if set.is_empty() {
        return Err(ConfigError::NoUsableKey);
    }
    Ok((set, skipped))
}

/// A JWKS fetched from an identity provider. Secrets are never taken from it, and one bad
/// key does not throw away the good ones (they are listed for a log line instead).
pub(crate) fn parse_remote_jwks(json: &[u8]) -> Result<(KeySet, Vec<String>), String> {
    let raw: RawJwks =
        serde_json::from_slice(json).map_err(|e| format!("not a JWKS document: {e}"))?;
    let mut set = KeySet::new();
    let mut skipped = Vec::new();
    for (i, value) in raw.keys.iter().enumerate() {
        match parse(value, false) {
            Ok(key) => set.push(key),
            Err(Refusal::Skip(why) | Refusal::Invalid(why)) => {
                skipped.push(describe(i, value, &why))
            }
        }
    }
    if set.is_empty() {
        return Err(format!("no usable signing key ({} skipped)", skipped.len()));
    }
    Ok((set, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // RFC 7515 Appendix A.3's P-256 key and RFC 7520 §3.5's secret.
    const P256_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    const P256_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    const SECRET: &str = "hJtXIZ2uSN5kbQfbtTNWbpdmhkV8FJG-Onbc6mxCcYg";

    #[test]
    fn jwk_alg_and_curve_narrow_what_a_key_serves() {
        let ec = json!({"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "e"});
        let key = VerifyingKey::from_jwk(&ec).expect("valid P-256 JWK");
        assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::ES256]);
        let mismatched =
            json!({"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "alg": "ES384"});
        assert!(VerifyingKey::from_jwk(&mismatched).is_err());
        let oct = json!({"kty": "oct", "k": SECRET});
        let key = VerifyingKey::from_jwk(&oct).expect("32-byte secret");
        // 32 bytes are enough for HS256 only.
        assert_eq!(key.algorithms().collect::<Vec<_>>(), [Algorithm::HS256]);
    }

    #[test]
    fn fetched_sets_never_yield_secrets_and_configured_sets_may_not_mix() {
        let doc = json!({"keys": [
            {"kty": "oct", "k": SECRET, "kid": "s"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "kid": "e"},
            {"kty": "EC", "crv": "P-256", "x": P256_X, "y": P256_Y, "use": "enc"},
            {"kty": "OKP", "crv": "X25519", "x": P256_X},
        ]})
        .to_string();
        let (set, skipped) = parse_remote_jwks(doc.as_bytes()).expect("one usable key");
        assert_eq!(set.len(), 1);
        assert_eq!(set.iter().next().and_then(VerifyingKey::kid), Some("e"));
        assert_eq!(skipped.len(), 3, "{skipped:?}");
        assert!(matches!(
            KeySet::from_jwks(doc.as_bytes()),
            Err(ConfigError::MixedKeySet)
        ));
        let only_secret = json!({"keys": [{"kty": "oct", "k": SECRET}]}).to_string();
        assert!(KeySet::from_jwks(only_secret.as_bytes()).is_ok());
    }

    #[test]
    fn broken_keys_are_refused_in_configuration() {
        let short =
            json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": P256_Y}]}).to_string();
        assert!(matches!(
            KeySet::from_jwks(short.as_bytes()),
            Err(ConfigError::InvalidKey(_))
        ));
        let small_rsa = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]}).to_string();
        assert!(matches!(
            KeySet::from_jwks(small_rsa.as_bytes()),
            Err(ConfigError::InvalidKey(_))
        ));
        let short_secret = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
        assert!(KeySet::from_jwks(short_secret.as_bytes()).is_err());
    }
}
