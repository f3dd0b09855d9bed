//! The `oidc` block of the `Policy` CRD: the native `oidc:` block
//! ([`crate::policies::OidcAuth`]) in camelCase, with its secrets read from Secrets in
//! the Policy's namespace instead of written inline or in files.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// OpenID Connect login for browsers (authorization code flow with PKCE, a sealed session
/// cookie), and bearer tokens from the same provider for API clients. The gateway is a
/// confidential client of the provider: its secret, and the session cookie's key, come
/// from Secrets labelled `tollgate.dev/credentials` in the Policy's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PolicyOidc {
    /// The provider's issuer URL or its `/.well-known/openid-configuration` URL.
    pub discovery: String,
    /// Required `iss` (default: the discovered issuer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret: one key of a Secret labelled `tollgate.dev/credentials` in the
    /// Policy's namespace (only labelled Secrets are read, and a change to one takes
    /// effect live). Surrounding whitespace is ignored.
    pub client_secret_ref: OidcClientSecretRef,
    /// The redirect URI registered at the provider: a path on this gateway (default
    /// `/oauth2/callback`) or a full URL. The gateway answers it itself, so it must be a
    /// path the routes under this policy match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_path: Option<String>,
    /// A path that ends the session (and the provider's, when it has an
    /// `end_session_endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logout_path: Option<String>,
    /// Where the provider sends the browser after logout (registered at the provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uri: Option<String>,
    /// Scopes to request (default `[openid]`; `openid` is added when missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Key material for the session cookie, at least 32 bytes (`openssl rand -base64
    /// 48`): one key of a Secret labelled `tollgate.dev/credentials` in the Policy's
    /// namespace. Without it, each gateway process makes a random key: sessions then end
    /// when it restarts and are not shared between replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_secret_ref: Option<OidcSessionSecretRef>,
    /// Session cookie name (default `tollgate_session`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cookie_name: Option<String>,
    /// Longest a session lasts, refreshes included, e.g. `8h` (default `24h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_lifetime: Option<String>,
    /// Accepted `aud` of bearer tokens (default: the client id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The algorithm allow-list (default: RS256, PS256, ES256, EdDSA). HMAC algorithms
    /// and `none` are never accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat`, e.g. `30s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<String>,
    /// Copy ID-token (or bearer-token) claims into upstream request headers:
    /// `{ claim: header }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Send the session's access token upstream as `Authorization: Bearer` (default
    /// false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_access_token: Option<bool>,
    /// The realm in `WWW-Authenticate` for API requests (default: `<namespace>/<policy
    /// name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// The OIDC client secret: a key of a Secret in the Policy's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcClientSecretRef {
    /// The Secret's name; it must be labelled `tollgate.dev/credentials`.
    pub name: String,
    /// The key in its `data` (or `stringData`).
    #[serde(default = "client_secret_key")]
    pub key: String,
}

/// The session cookie's key material: a key of a Secret in the Policy's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OidcSessionSecretRef {
    /// The Secret's name; it must be labelled `tollgate.dev/credentials`.
    pub name: String,
    /// The key in its `data` (or `stringData`).
    #[serde(default = "session_secret_key")]
    pub key: String,
}

fn client_secret_key() -> String {
    "client-secret".to_owned()
}

fn session_secret_key() -> String {
    "session-secret".to_owned()
}
