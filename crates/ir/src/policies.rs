//! Access policies of a route and the consumers they identify.
//!
//! Secrets are stored as the proxy needs them and no more: API keys as SHA-256 digests
//! (the proxy hashes the presented key and looks the digest up), passwords as the
//! argon2/bcrypt hash the user wrote. [`crate::Snapshot::redacted`] hides all of them.

use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Someone who calls the APIs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consumer {
    /// Unique name; forwarded upstream in `x-consumer`.
    pub name: String,
    /// Groups, sorted; forwarded in `x-consumer-groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// SHA-256 digests of the consumer's API keys, lower-case hex.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_digests: Vec<String>,
    /// Basic-auth credential.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<BasicCredential>,
    /// The verified JWT identity that is this consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtIdentity>,
    /// The verified client-certificate subject that is this consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls_subject: Option<String>,
}

/// A username and the hash of its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicCredential {
    /// The username.
    pub username: String,
    /// argon2 PHC string or bcrypt hash.
    pub password_hash: String,
}

/// A token subject, optionally tied to one issuer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtIdentity {
    /// `sub`.
    pub subject: String,
    /// `iss`; any issuer when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// What a route asks of a request: `ip_filter`, then authentication (any configured
/// method succeeding admits), then `acl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePolicies {
    /// Client IP allow and deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_filter: Option<IpFilter>,
    /// API keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_auth: Option<KeyAuth>,
    /// HTTP Basic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Bearer JWTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtAuth>,
    /// Verified client certificates mapped to consumers.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mtls_auth: bool,
    /// OpenID Connect browser login (and bearer tokens from the same provider).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<Box<OidcAuth>>,
    /// Consumer and group authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// External authorization, after authentication and `acl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_auth: Option<ExtAuth>,
    /// Rate limits, checked after access control.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<crate::RateLimit>,
    /// A quota, checked with the Redis rate limits in one round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<crate::Quota>,
    /// Cross-origin resource sharing, before everything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<Cors>,
    /// Request size limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_size: Option<RequestSize>,
    /// Response caching, after access control and rate limits, before the upstream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<Cache>,
    /// Response compression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<crate::Compression>,
}

impl RoutePolicies {
    /// Whether any authentication method is configured.
    pub fn authenticates(&self) -> bool {
        self.key_auth.is_some()
            || self.basic_auth.is_some()
            || self.jwt.is_some()
            || self.mtls_auth
            || self.oidc.is_some()
    }
}

/// Client IP allow and deny lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpFilter {
    /// When not empty, only these pass.
    pub allow: Vec<IpNet>,
    /// Never pass; wins over `allow`.
    pub deny: Vec<IpNet>,
}

/// Where the API key is read from. At least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyAuth {
    /// Header name, lower case.
    pub header: Option<String>,
    /// Query parameter name.
    pub query: Option<String>,
}

/// HTTP Basic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BasicAuth {
    /// `WWW-Authenticate` realm.
    pub realm: String,
}

/// Bearer JWT verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwtAuth {
    /// Where the keys come from.
    pub keys: JwtKeys,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Accepted `aud` values; empty accepts any.
    pub audiences: Vec<String>,
    /// Allowed algorithms (`RS256`, `ES256`, …).
    pub algorithms: Vec<String>,
    /// Clock-skew tolerance.
    #[serde(with = "crate::duration")]
    pub leeway: Duration,
    /// `(claim, header)` pairs copied upstream; header names lower case.
    pub claims_to_headers: Vec<(String, String)>,
    /// `WWW-Authenticate` realm.
    pub realm: String,
    /// Keep `Authorization` on the upstream request.
    pub forward_token: bool,
}

/// Where JWT verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JwtKeys {
    /// A JWKS URL.
    JwksUri(String),
    /// An OIDC discovery URL.
    Discovery(String),
    /// An HMAC secret.
    Secret(String),
}

/// OpenID Connect login: the authorization code flow with PKCE, a sealed session
/// cookie, refresh and logout; `Authorization: Bearer` tokens from the same provider are
/// verified instead of redirecting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcAuth {
    /// The issuer URL or its `/.well-known/openid-configuration` URL.
    pub discovery: String,
    /// Required `iss`; the discovered one when `None`.
    pub issuer: Option<String>,
    /// The client registered at the provider.
    pub client_id: String,
    /// Its secret (`client_secret_basic`).
    pub client_secret: String,
    /// Path of the redirect URI on this gateway, e.g. `/callback`; or a full URL.
    pub redirect_uri: String,
    /// Path that ends the session.
    pub logout_path: Option<String>,
    /// Where the provider sends the browser after logout.
    pub post_logout_redirect_uri: Option<String>,
    /// Scopes requested; `openid` is always among them.
    pub scopes: Vec<String>,
    /// Session-cookie key material; `None`: a random key per process.
    pub session_secret: Option<String>,
    /// Session cookie name.
    pub cookie_name: String,
    /// Longest a session lasts, refreshes included.
    #[serde(with = "crate::duration")]
    pub session_lifetime: Duration,
    /// Accepted `aud` of bearer tokens; empty: the client id.
    pub audiences: Vec<String>,
    /// Allowed signing algorithms.
    pub algorithms: Vec<String>,
    /// Clock-skew tolerance.
    #[serde(with = "crate::duration")]
    pub leeway: Duration,
    /// `(claim, header)` pairs copied upstream from the ID token (or bearer token).
    pub claims_to_headers: Vec<(String, String)>,
    /// Send the session's access token upstream as `Authorization: Bearer`.
    pub forward_access_token: bool,
    /// `WWW-Authenticate` realm for API requests.
    pub realm: String,
}

/// External authorization service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtAuth {
    /// Where the check goes (GET).
    pub url: String,
    /// Headers of a 2xx answer copied upstream (lower case).
    pub headers_to_upstream: Vec<String>,
    /// Request headers sent to the service (lower case); empty: all but hop-by-hop.
    pub headers_to_auth: Vec<String>,
    /// Longest the check may take.
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
    /// Admit when the service cannot answer.
    pub allow_on_error: bool,
}

/// Consumer and group authorization.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    /// Groups allowed.
    pub allow_groups: Vec<String>,
    /// Consumers allowed.
    pub allow_consumers: Vec<String>,
    /// Groups refused.
    pub deny_groups: Vec<String>,
    /// Consumers refused.
    pub deny_consumers: Vec<String>,
}

/// Cross-origin resource sharing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cors {
    /// `["*"]` alone, or origins (`scheme://host[:port]`, lower case), where a host may
    /// start with `*.` for any subdomain.
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for.
    pub allow_methods: Vec<String>,
    /// Request headers a preflight may ask for, lower case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers exposed to scripts, lower case.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_credentials: bool,
    /// `Access-Control-Max-Age`.
    #[serde(
        default,
        with = "crate::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
}

/// Request size limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSize {
    /// Largest request body, in bytes.
    pub max_body: u64,
}

/// Response caching of a route (a shared cache in RFC 9111's sense).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Cache {
    /// Freshness of an answer without `s-maxage` or `max-age`; `None`: such answers are
    /// not stored.
    #[serde(
        default,
        with = "crate::opt_duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub ttl: Option<Duration>,
    /// Largest body stored, in bytes.
    pub max_body: u64,
    /// Request headers (lower case) whose values are part of the key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<String>,
    /// Where entries live.
    pub store: CacheStore,
}

/// Where a route's cache entries live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheStore {
    /// This process, within `server.cache_max_memory`.
    Local,
    /// The `redis:` store, shared by every replica.
    Redis,
}
