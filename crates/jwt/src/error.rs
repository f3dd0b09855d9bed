//! Errors: why a token was refused (and what the proxy answers), and why a configuration
//! could not be built.
//!
//! A refusal's text goes to clients in `WWW-Authenticate` (RFC 6750 §3), so every message
//! here is a fixed string: it never repeats a token's header, claims, key id or issuer,
//! and it contains no `"` or `\` that would need quoting.

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwtError {
    /// Not a JWS compact serialization, bad base64url, a header or claims set that is not
    /// a JSON object, a duplicate member, or larger than the configured limit.
    #[error("token is malformed: {0}")]
    Malformed(&'static str),
    /// `alg: none` (in any letter case): unsecured tokens are never accepted.
    #[error("unsecured tokens are not accepted")]
    AlgNone,
    /// The token's `alg` is unknown to us or not on the verifier's allow-list.
    #[error("token algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// The header has `crit`: we implement no JWS extension, so RFC 7515 §4.1.11 says reject.
    #[error("token uses an unsupported critical header extension")]
    UnsupportedCritical,
    /// No key has the token's `kid` (after a rate-limited JWKS refresh) or fits its `alg`.
    #[error("no key matches the token")]
    UnknownKey,
    /// A matching key did not verify the signature (forged, altered, or wrong key).
    #[error("token signature is invalid")]
    InvalidSignature,
    /// `exp` is in the past, beyond the leeway.
    #[error("token has expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token is not valid yet")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token was issued in the future")]
    IssuedInFuture,
    /// A claim the configuration requires is absent (`exp`, `iss`, `aud`).
    #[error("token lacks the required claim {0}")]
    MissingClaim(&'static str),
    /// A registered claim has the wrong JSON type (e.g. `exp` that is not a number).
    #[error("token claim {0} has an invalid value")]
    InvalidClaim(&'static str),
    /// `iss` is not the configured (or discovered) issuer.
    #[error("token issuer is not accepted")]
    InvalidIssuer,
    /// No `aud` value is one of the configured audiences.
    #[error("token audience is not accepted")]
    InvalidAudience,
    /// A claim mapped to a request header holds control characters (header injection).
    #[error("token claim cannot be forwarded as a header")]
    UnsafeClaimValue,
    /// No signing keys yet: the first JWKS fetch did not finish within the wait bound, or
    /// the identity provider has never answered. Not the client's fault.
    #[error("signing keys are not available")]
    KeysUnavailable,
}

impl JwtError {
    /// The HTTP status the gateway should answer with: 401 for a token we refuse, 503 when
    /// we could not judge it because the keys are not loaded (a valid token must not be
    /// told to re-authenticate because the identity provider is slow to start).
    pub fn http_status(&self) -> u16 {
        match self {
            Self::KeysUnavailable => 503,
            _ => 401,
        }
    }

    /// The `WWW-Authenticate` value for a 401 (RFC 6750 §3: `error="invalid_token"` with a
    /// description); `None` for a 503, which carries `Retry-After` instead.
    pub fn www_authenticate(&self, realm: Option<&str>) -> Option<String> {
        if self.http_status() != 401 {
            return None;
        }
        let mut value = bearer_prefix(realm);
        value.push_str(&format!(
            "error=\"invalid_token\", error_description=\"{self}\""
        ));
        Some(value)
    }
}

/// The `WWW-Authenticate` value for a request that carried no token at all: RFC 6750 §3.1
/// says such a challenge should have no error code.
pub fn www_authenticate_missing(realm: Option<&str>) -> String {
    bearer_prefix(realm).trim_end_matches([',', ' ']).to_owned()
}

/// `Bearer ` plus a `realm="…", ` parameter when the realm is safe to quote as is; one that
/// is not (quotes, backslashes, control characters) is left out rather than escaped.
fn bearer_prefix(realm: Option<&str>) -> String {
    match realm {
        Some(r) if !r.is_empty() && r.chars().all(|c| !c.is_control() && c != '"' && c != '\\') => {
            format!("Bearer realm=\"{r}\", ")
        }
        _ => "Bearer ".to_owned(),
    }
}

/// Why a verifier, key or key source could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key (JWK, PEM or secret) that cannot be used; the text says why.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// The algorithm allow-list is empty.
    #[error("the algorithm allow-list is empty")]
    NoAlgorithms,
    /// HS* algorithms are allowed but no shared secret is configured. JWKS and PEM public
    /// keys never serve as HMAC secrets (key-confusion defence).
    #[error("HMAC algorithms need a configured secret; public keys never serve as one")]
    HmacWithoutSecret,
    /// An inline JWKS mixes symmetric (`oct`) keys with public keys.
    #[error("a JWKS may not mix symmetric (oct) keys with public keys")]
    MixedKeySet,
    /// None of the configured keys can verify any allowed algorithm.
    #[error("no configured key can verify any allowed algorithm")]
    NoUsableKey,
    /// A `claims_to_headers` target is not a valid HTTP header name.
    #[error("claim {claim:?}: {header:?} is not a valid header name")]
    InvalidHeaderName {
        /// The claim.
        claim: String,
        /// The rejected header name.
        header: String,
    },
    /// A URL that cannot be used (JWKS or discovery).
    #[error("invalid URL {0:?}")]
    InvalidUrl(String),
    /// A JWKS source must be started inside a tokio runtime (it spawns its refresher).
    #[error("a JWKS source must be started inside a tokio runtime")]
    NoRuntime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_follow_rfc_6750() {
        assert_eq!(
            JwtError::Expired.www_authenticate(Some("api")).as_deref(),
            Some(
                "Bearer realm=\"api\", error=\"invalid_token\", error_description=\"token has expired\""
            )
        );
        assert_eq!(
            JwtError::MissingClaim("aud")
                .www_authenticate(None)
                .as_deref(),
            Some(
                "Bearer error=\"invalid_token\", error_description=\"token lacks the required claim aud\""
            )
        );
        assert_eq!(JwtError::KeysUnavailable.www_authenticate(None), None);
        assert_eq!(JwtError::KeysUnavailable.http_status(), 503);
        assert_eq!(www_authenticate_missing(None), "Bearer");
        assert_eq!(www_authenticate_missing(Some("a\"b")), "Bearer");
        assert_eq!(
            www_authenticate_missing(Some("api")),
            "Bearer realm=\"api\""
        );
    }
}
