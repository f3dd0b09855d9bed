//! OpenID Connect Discovery 1.0: the provider metadata document supplies `issuer` and
//! `jwks_uri` (for verification) and the endpoints a login flow needs.

use serde::Deserialize;

/// The well-known path (OpenID Connect Discovery 1.0 §4).
pub(crate) const WELL_KNOWN: &str = "/.well-known/openid-configuration";

/// What we take from a provider's metadata document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProviderMetadata {
    /// `issuer`, exactly as tokens must carry it.
    pub issuer: String,
    /// `jwks_uri`.
    pub jwks_uri: String,
    /// `authorization_endpoint`: where a browser login starts.
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint`: where codes and refresh tokens are exchanged.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// `end_session_endpoint` (RP-Initiated Logout 1.0).
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

/// The metadata URL and the issuer it implies. `url` may be the issuer itself or the full
/// well-known URL.
pub(crate) fn locate(url: &str) -> (String, String) {
    match url.strip_suffix(WELL_KNOWN) {
        Some(issuer) => (url.to_owned(), issuer.to_owned()),
        None => (
            format!("{}{WELL_KNOWN}", url.trim_end_matches('/')),
            url.to_owned(),
        ),
    }
}

/// Parses metadata and checks its `issuer`. OIDC Discovery §4.3 requires it to be
/// identical to the issuer the document was fetched for: a configured issuer must match
/// exactly; one implied by the URL may differ by a trailing `/` (the URL loses it when the
/// well-known path is appended), and the document's spelling is then the one tokens must
/// carry.
pub(crate) fn parse(body: &[u8], expected: &str, exact: bool) -> Result<ProviderMetadata, String> {
    let meta: ProviderMetadata = serde_json::from_slice(body)
        .map_err(|e| format!("not an OpenID provider metadata document: {e}"))?;
    let same = if exact {
        meta.issuer == expected
    } else {
        meta.issuer.trim_end_matches('/') == expected.trim_end_matches('/')
    };
    if !same {
        return Err(format!(
            "metadata issuer {:?} is not the expected issuer {expected:?}",
            meta.issuer
        ));
    }
    let endpoints = [
        ("jwks_uri", Some(&meta.jwks_uri)),
        (
            "authorization_endpoint",
            meta.authorization_endpoint.as_ref(),
        ),
        ("token_endpoint", meta.token_endpoint.as_ref()),
        ("end_session_endpoint", meta.end_session_endpoint.as_ref()),
    ];
    for (name, url) in endpoints {
        if let Some(url) = url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(format!("{name} {url:?} is not an http(s) URL"));
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_and_checks_the_issuer() {
        assert_eq!(
            locate("https://idp.example/"),
            (
                "https://idp.example/.well-known/openid-configuration".to_owned(),
                "https://idp.example/".to_owned()
            )
        );
        assert_eq!(
            locate("https://idp.example/t/.well-known/openid-configuration").1,
            "https://idp.example/t"
        );
        let doc = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/k"}"#;
        assert!(parse(doc, "https://idp.example/", false).is_ok());
        assert!(parse(doc, "https://idp.example/", true).is_err());
        assert!(parse(doc, "https://evil.example", false).is_err());
        let bad = br#"{"issuer":"https://idp.example","jwks_uri":"file:///etc/passwd"}"#;
        assert!(parse(bad, "https://idp.example", true).is_err());
        let full = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/k",
            "authorization_endpoint":"https://idp.example/auth","token_endpoint":"https://idp.example/token",
            "end_session_endpoint":"https://idp.example/logout","scopes_supported":["openid"]}"#;
        let meta = parse(full, "https://idp.example", true).expect("metadata");
        assert_eq!(
            meta.token_endpoint.as_deref(),
            Some("https://idp.example/token")
        );
        assert_eq!(
            meta.end_session_endpoint.as_deref(),
            Some("https://idp.example/logout")
        );
        let bad = br#"{"issuer":"https://idp.example","jwks_uri":"https://idp.example/k",
            "token_endpoint":"javascript:alert(1)"}"#;
        assert!(parse(bad, "https://idp.example", true).is_err());
    }
}
