//! The token endpoint (RFC 6749 §3.2): codes and refresh tokens exchanged for tokens,
//! through the process's pooled outbound client, as a confidential client
//! (`client_secret_basic`).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{HeaderValue, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use serde::Deserialize;

/// Longest a token request may take: a browser is waiting on it.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Largest token response read.
const MAX_BODY: usize = 64 * 1024;

/// A successful token response (RFC 6749 §5.1, OIDC Core §3.1.3.3).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub(crate) access_token: String,
    #[serde(default)]
    pub(crate) expires_in: Option<u64>,
    #[serde(default)]
    pub(crate) refresh_token: Option<String>,
    #[serde(default)]
    pub(crate) id_token: Option<String>,
}

/// Why a token request failed.
#[derive(Debug)]
pub(crate) enum TokenError {
    /// The provider could not be reached or failed (5xx): try again later.
    Unavailable(String),
    /// The provider refused the grant (RFC 6749 §5.2), e.g. `invalid_grant`.
    Refused(String),
}

#[derive(Deserialize)]
struct ErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// The client's credentials and where to send them.
pub(crate) struct Client<'a> {
    pub(crate) endpoint: &'a str,
    pub(crate) id: &'a str,
    pub(crate) secret: &'a str,
}

/// `Authorization: Basic` for a client: RFC 6749 §2.3.1 form-encodes the id and secret
/// before joining them.
fn basic(id: &str, secret: &str) -> Option<HeaderValue> {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let secret: String = form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    HeaderValue::from_str(&format!(
        "Basic {}",
        STANDARD.encode(format!("{id}:{secret}"))
    ))
    .ok()
}

/// POSTs a grant to the token endpoint.
pub(crate) async fn request(
    client: &Client<'_>,
    form: &[(&str, &str)],
) -> Result<TokenResponse, TokenError> {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let uri: http::Uri = client
        .endpoint
        .parse()
        .map_err(|e| TokenError::Unavailable(format!("token endpoint: {e}")))?;
    let auth = basic(client.id, client.secret)
        .ok_or_else(|| TokenError::Unavailable("client credentials are not valid".into()))?;
    let req = Request::post(uri)
        .header(header::AUTHORIZATION, auth)
        .header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )
        .header(header::ACCEPT, HeaderValue::from_static("application/json"))
        .header(header::USER_AGENT, HeaderValue::from_static("tollgate"))
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| TokenError::Unavailable(e.to_string()))?;
    let exchange = async {
        let res = crate::outbound::client()
            .request(req)
            .await
            .map_err(|e| format!("token endpoint: {e}"))?;
        let status = res.status();
        let body = Limited::new(res.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| format!("token endpoint: reading the response: {e}"))?
            .to_bytes();
        Ok::<_, String>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .map_err(|_| TokenError::Unavailable(format!("token endpoint: no answer in {TIMEOUT:?}")))?
        .map_err(TokenError::Unavailable)?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|e| {
            TokenError::Unavailable(format!("token endpoint: not a token response: {e}"))
        });
    }
    if status.is_client_error()
        && let Ok(e) = serde_json::from_slice::<ErrorResponse>(&body)
    {
        let detail = e
            .error_description
            .map(|d| format!(" ({d})"))
            .unwrap_or_default();
        return Err(TokenError::Refused(format!("{}{detail}", e.error)));
    }
    Err(TokenError::Unavailable(format!(
        "token endpoint answered {status}"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_form_encoded_first() {
        // RFC 6749 §2.3.1: "s p:c" becomes "s+p%3Ac" before base64.
        let v = basic("gw", "s p:c").unwrap();
        let b64 = v.to_str().unwrap().strip_prefix("Basic ").unwrap();
        assert_eq!(STANDARD.decode(b64).unwrap(), b"gw:s+p%3Ac");
    }
}
