//! Request-side helpers: reading the bearer token, and `claims_to_headers`.

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::error::{ConfigError, JwtError};

/// The token of an `Authorization: Bearer <token>` value (RFC 6750 §2.1): the scheme is
/// case-insensitive, the token a non-empty run of token68 characters. `None` for any
/// other scheme or shape (then the request has no bearer token).
pub fn bearer_token(authorization: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(authorization).ok()?;
    let (scheme, rest) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = rest.trim_matches(' ');
    let token68 = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    (!token.is_empty() && token.chars().all(token68)).then_some(token)
}

/// `claims_to_headers`: verified claims copied into request headers for the upstream.
///
/// The proxy must also remove these headers from the incoming request before adding
/// them, or a client could send its own `x-user` alongside (or instead of) the token's.
#[derive(Clone, Debug, Default)]
pub struct ClaimHeaders {
    mappings: Vec<(String, HeaderName)>,
}

impl ClaimHeaders {
    /// From `(claim, header)` pairs; header names are checked (and lowercased) here, at
    /// configuration time.
    pub fn new<I, C, H>(pairs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = (C, H)>,
        C: Into<String>,
        H: AsRef<str>,
    {
        let mappings = pairs
            .into_iter()
            .map(|(claim, header)| {
                let claim = claim.into();
                let name = HeaderName::from_bytes(header.as_ref().to_ascii_lowercase().as_bytes())
                    .map_err(|_| ConfigError::InvalidHeaderName {
                        claim: claim.clone(),
                        header: header.as_ref().to_owned(),
                    })?;
                Ok((claim, name))
            })
            .collect::<Result<_, ConfigError>>()?;
        Ok(Self { mappings })
    }

    /// The header names this mapping sets: strip these from the client's request.
    pub fn header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.mappings.iter().map(|(_, h)| h)
    }

    /// The claims this mapping reads (a session keeps only these).
    pub fn claim_names(&self) -> impl Iterator<Item = &str> {
        self.mappings.iter().map(|(c, _)| c.as_str())
    }

    /// The headers for these claims, in configuration order. A missing or `null` claim
    /// sets no header. Strings go as they are; numbers and booleans as JSON text; arrays
    /// of those joined with `,`; objects and nested arrays as compact JSON (whose escaping
    /// cannot produce a raw control character). A string holding a control character
    /// (CR, LF, NUL, tab, DEL, …) refuses the whole request with
    /// [`JwtError::UnsafeClaimValue`] rather than forwarding part of what the token said.
    pub fn headers(
        &self,
        claims: &Map<String, Value>,
    ) -> Result<Vec<(HeaderName, HeaderValue)>, JwtError> {
        let mut out = Vec::with_capacity(self.mappings.len());
        for (claim, name) in &self.mappings {
            let Some(text) = claims.get(claim).and_then(|v| render(v).transpose()) else {
                continue;
            };
            let text = text?;
            let value =
                HeaderValue::from_bytes(text.as_bytes()).map_err(|_| JwtError::UnsafeClaimValue)?;
            out.push((name.clone(), value));
        }
        Ok(out)
    }
}

fn render(value: &Value) -> Result<Option<String>, JwtError> {
    Ok(Some(match value {
        Value::Null => return Ok(None),
        Value::String(s) => {
            if s.chars().any(|c| c.is_control()) {
                return Err(JwtError::UnsafeClaimValue);
            }
            s.clone()
        }
        Value::Array(items) => {
            let mut parts = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    Value::Array(_) | Value::Object(_) => parts.push(item.to_string()),
                    Value::Null => {}
                    scalar => parts.extend(render(scalar)?),
                }
            }
            parts.join(",")
        }
        Value::Bool(_) | Value::Number(_) | Value::Object(_) => value.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token(b"Bearer abc.def-_~+/="), Some("abc.def-_~+/="));
        assert_eq!(bearer_token(b"bearer   abc "), Some("abc"));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer a b"), None);
        assert_eq!(bearer_token(b"Bearer a,b"), None);
    }

    #[test]
    fn claims_become_safe_headers() {
        let map = ClaimHeaders::new([
            ("sub", "X-User"),
            ("roles", "x-roles"),
            ("n", "x-n"),
            ("obj", "x-obj"),
            ("missing", "x-missing"),
        ])
        .expect("valid names");
        let Value::Object(claims) = json!({
            "sub": "alice@example.com", "roles": ["a", "b", 3, true],
            "n": 42, "obj": {"k": "v\n"}
        }) else {
            panic!("object")
        };
        let got: Vec<_> = map
            .headers(&claims)
            .expect("safe values")
            .into_iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    v.to_str().map(str::to_owned).unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("x-user", "alice@example.com"),
                ("x-roles", "a,b,3,true"),
                ("x-n", "42"),
                ("x-obj", r#"{"k":"v\n"}"#),
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
        for bad in [
            json!("a\r\nx-admin: 1"),
            json!("a\u{0}"),
            json!(["ok", "a\tb"]),
            json!("\u{7f}"),
        ] {
            let Value::Object(claims) = json!({ "sub": bad }) else {
                panic!("object")
            };
            assert_eq!(
                map.headers(&claims).err(),
                Some(JwtError::UnsafeClaimValue),
                "{claims:?}"
            );
        }
        assert!(ClaimHeaders::new([("sub", "bad header")]).is_err());
    }
}
