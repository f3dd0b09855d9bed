//! The JWT claims set (RFC 7519 §4.1): parsing and the registered-claim checks.

use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::error::JwtError;

/// What the claims must satisfy.
#[derive(Clone, Debug)]
pub(crate) struct ClaimRules<'a> {
    /// Required exact `iss`, when known (configured or discovered).
    pub(crate) issuer: Option<&'a str>,
    /// When not empty, `aud` must contain one of these.
    pub(crate) audiences: &'a [String],
    /// Clock-skew tolerance, seconds.
    pub(crate) leeway: f64,
    /// Whether a token without `exp` is refused.
    pub(crate) require_exp: bool,
}

/// Parses the payload as a JSON object, refusing repeated member names: RFC 7519 §4 lets
/// us, and two parsers that resolve a duplicate `sub` differently must never disagree on
/// who the caller is.
pub(crate) fn parse(payload: &[u8]) -> Result<Map<String, Value>, JwtError> {
    let mut de = serde_json::Deserializer::from_slice(payload);
    let map = de.deserialize_map(StrictObject).map_err(|_| {
        JwtError::Malformed("claims are not a JSON object without duplicate members")
    })?;
    de.end().map_err(|_| {
        JwtError::Malformed("claims are not a JSON object without duplicate members")
    })?;
    Ok(map)
}

struct StrictObject;

impl<'de> Visitor<'de> for StrictObject {
    type Value = Map<String, Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut map = Map::new();
        while let Some((key, value)) = access.next_entry::<String, Value>()? {
            if map.insert(key, value).is_some() {
                return Err(serde::de::Error::custom("duplicate member"));
            }
        }
        Ok(map)
    }
}

/// A NumericDate (seconds, possibly fractional); `None` when absent.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<f64>, JwtError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(JwtError::InvalidClaim(name)),
        Some(_) => Err(JwtError::InvalidClaim(name)),
    }
}

/// Checks the time claims, then `iss`, then `aud`. `now` is seconds since the epoch.
/// Returns `exp`, which bounds how long the result may be cached.
pub(crate) fn validate(
    claims: &Map<String, Value>,
    rules: &ClaimRules<'_>,
    now: f64,
) -> Result<Option<f64>, JwtError> {
    let exp = numeric_date(claims, "exp")?;
    match exp {
        // RFC 7519 §4.1.4: valid only while now is before exp.
        Some(exp) if now >= exp + rules.leeway => return Err(JwtError::Expired),
        None if rules.require_exp => return Err(JwtError::MissingClaim("exp")),
        _ => {}
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now + rules.leeway < nbf
    {
        return Err(JwtError::NotYetValid);
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat > now + rules.leeway
    {
        return Err(JwtError::IssuedInFuture);
    }
    if let Some(sub) = claims.get("sub")
        && !sub.is_string()
    {
        return Err(JwtError::InvalidClaim("sub"));
    }
    if let Some(expected) = rules.issuer {
        match claims.get("iss") {
            None => return Err(JwtError::MissingClaim("iss")),
            Some(Value::String(iss)) if iss == expected => {}
            Some(Value::String(_)) => return Err(JwtError::InvalidIssuer),
            Some(_) => return Err(JwtError::InvalidClaim("iss")),
        }
    }
    if !rules.audiences.is_empty() {
        let wanted = |a: &str| rules.audiences.iter().any(|w| w == a);
        // RFC 7519 §4.1.3: a string or an array of strings.
        let ok = match claims.get("aud") {
            None => return Err(JwtError::MissingClaim("aud")),
            Some(Value::String(aud)) => wanted(aud),
            Some(Value::Array(auds)) => {
                if !auds.iter().all(Value::is_string) {
                    return Err(JwtError::InvalidClaim("aud"));
                }
                auds.iter().filter_map(Value::as_str).any(wanted)
            }
            Some(_) => return Err(JwtError::InvalidClaim("aud")),
        };
        if !ok {
            return Err(JwtError::InvalidAudience);
        }
    }
    Ok(exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(claims: Value, now: f64) -> Result<Option<f64>, JwtError> {
        let audiences = ["orders".to_owned()];
        let rules = ClaimRules {
            issuer: Some("idp"),
            audiences: &audiences,
            leeway: 30.0,
            require_exp: true,
        };
        let Value::Object(map) = claims else {
            panic!("test claims are an object")
        };
        validate(&map, &rules, now)
    }

    #[test]
    fn time_claims_honour_the_leeway() {
        let base = json!({"iss": "idp", "aud": "orders"});
        let with = |k: &str, v: Value| {
            let mut c = base.clone();
            c[k] = v;
            if k != "exp" {
                c["exp"] = json!(2000);
            }
            c
        };
        assert_eq!(check(with("exp", json!(1000)), 1029.0), Ok(Some(1000.0)));
        assert_eq!(
            check(with("exp", json!(1000)), 1030.0),
            Err(JwtError::Expired)
        );
        assert_eq!(check(with("exp", json!(1000.5)), 1030.0), Ok(Some(1000.5)));
        assert_eq!(
            check(with("exp", json!("1000")), 0.0),
            Err(JwtError::InvalidClaim("exp"))
        );
        assert_eq!(check(base.clone(), 0.0), Err(JwtError::MissingClaim("exp")));
        assert_eq!(check(with("nbf", json!(1030)), 1000.0), Ok(Some(2000.0)));
        assert_eq!(
            check(with("nbf", json!(1031)), 1000.0),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(
            check(with("iat", json!(1031)), 1000.0),
            Err(JwtError::IssuedInFuture)
        );
        assert_eq!(check(with("iat", json!(900)), 1000.0), Ok(Some(2000.0)));
    }

    #[test]
    fn issuer_is_exact_and_audience_intersects() {
        let c = |iss: Value, aud: Value| json!({"exp": 2000, "iss": iss, "aud": aud});
        assert!(check(c(json!("idp"), json!(["x", "orders"])), 0.0).is_ok());
        assert_eq!(
            check(c(json!("idp/"), json!("orders")), 0.0),
            Err(JwtError::InvalidIssuer)
        );
        assert_eq!(
            check(c(json!(["idp"]), json!("orders")), 0.0),
            Err(JwtError::InvalidClaim("iss"))
        );
        assert_eq!(
            check(c(json!("idp"), json!(["x"])), 0.0),
            Err(JwtError::InvalidAudience)
        );
        assert_eq!(
            check(c(json!("idp"), json!([])), 0.0),
            Err(JwtError::InvalidAudience)
        );
        assert_eq!(
            check(c(json!("idp"), json!([1])), 0.0),
            Err(JwtError::InvalidClaim("aud"))
        );
        assert_eq!(
            check(json!({"exp": 2000, "iss": "idp"}), 0.0),
            Err(JwtError::MissingClaim("aud"))
        );
    }

    #[test]
    fn duplicate_members_and_non_objects_are_malformed() {
        assert!(parse(br#"{"sub":"a","x":{"y":1,"y":2}}"#).is_ok());
        assert!(parse(br#"{"sub":"alice","sub":"admin"}"#).is_err());
        assert!(parse(b"[1]").is_err());
        assert!(parse(br#"{"a":1} {"b":2}"#).is_err());
        assert!(parse(b"Payload").is_err());
    }
}
