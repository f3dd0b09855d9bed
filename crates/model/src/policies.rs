//! Access control in `tollgate.yaml`: who calls the APIs (`consumers:`) and what a route
//! asks of them (`policies:` on a route).
//!
//! ```yaml
//! consumers:
//!   - name: alice
//!     groups: [gold]
//!     keys: ["k-alice-1", "sha256:9f86d0…"]
//!     basic: { username: alice, password_hash: "$argon2id$…" }
//!     jwt: { subject: "alice@example.com" }
//!     mtls: { subject: "CN=alice" }
//! routes:
//!   - name: orders
//!     policies:
//!       ip_filter: { allow: [10.0.0.0/8], deny: [10.0.0.13/32] }
//!       key_auth: { header: apikey, query: apikey }
//!       basic_auth: { realm: orders }
//!       jwt: { issuer: …, audiences: [orders], jwks_uri: …, claims_to_headers: { sub: x-user } }
//!       mtls_auth: {}
//!       acl: { allow_groups: [gold], allow_consumers: [bob] }
//!       cors: { allow_origins: ["https://*.example.com"], allow_credentials: true }
//!       request_size: { max_body: 10MiB }
//!       cache: { ttl: 30s, max_body: 1MiB, vary: [accept-language], store: local }
//!       compression: { algorithms: [zstd, br, gzip], min_size: 1KiB }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::native::Spanned;
use crate::units::Dur;

/// Someone who calls the APIs, and the credentials that identify them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    /// Unique consumer name; forwarded upstream in `x-consumer`.
    pub name: Spanned<String>,
    /// Groups, for `acl` policies; forwarded in `x-consumer-groups`.
    #[serde(default)]
    pub groups: Vec<Spanned<String>>,
    /// API keys: plaintext, or `sha256:<64 hex digits>` so the file need not hold them.
    #[serde(default)]
    pub keys: Vec<Spanned<String>>,
    /// A username and password hash for `basic_auth`.
    pub basic: Option<Spanned<BasicCredential>>,
    /// Maps a verified JWT to this consumer.
    pub jwt: Option<Spanned<JwtIdentity>>,
    /// Maps a verified client certificate to this consumer.
    pub mtls: Option<Spanned<MtlsIdentity>>,
}

/// A basic-auth credential. Only the hash is stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicCredential {
    /// The username.
    pub username: String,
    /// An argon2 (`$argon2id$…`) or bcrypt (`$2b$…`) hash of the password.
    pub password_hash: String,
}

/// Which verified tokens are this consumer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtIdentity {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `iss`, when subjects from several issuers could collide.
    pub issuer: Option<String>,
}

/// Which verified client certificates are this consumer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsIdentity {
    /// The certificate subject as the listener reports it, e.g. `CN=alice`.
    pub subject: String,
}

/// What a route asks of a request before it is forwarded, checked in the order
/// `ip_filter`, authentication (any one method succeeding admits), `acl`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    /// Client IP allow and deny lists.
    pub ip_filter: Option<Spanned<IpFilter>>,
    /// API keys of consumers.
    pub key_auth: Option<Spanned<KeyAuth>>,
    /// HTTP Basic with consumers' passwords.
    pub basic_auth: Option<Spanned<BasicAuth>>,
    /// Bearer JWTs.
    pub jwt: Option<Spanned<JwtAuth>>,
    /// A verified client certificate (an mTLS listener) mapped to a consumer.
    pub mtls_auth: Option<Spanned<MtlsAuth>>,
    /// OpenID Connect browser login with a session cookie; bearer tokens from the same
    /// provider for API calls.
    pub oidc: Option<Spanned<OidcAuth>>,
    /// Which consumers and groups may pass.
    pub acl: Option<Spanned<Acl>>,
    /// An external authorization service that must admit the request.
    pub ext_auth: Option<Spanned<ExtAuth>>,
    /// Rate limits: one or a list.
    pub rate_limit: Option<Spanned<crate::limits::OneOrMany<crate::limits::RateLimit>>>,
    /// A quota over a calendar window.
    pub quota: Option<Spanned<crate::limits::Quota>>,
    /// Cross-origin resource sharing: preflights answered by the gateway, CORS headers on
    /// every answer to an allowed origin.
    pub cors: Option<Spanned<Cors>>,
    /// A limit on the request body.
    pub request_size: Option<Spanned<RequestSize>>,
    /// Response caching (GET and HEAD), locally or shared through Redis.
    pub cache: Option<Spanned<Cache>>,
    /// Response compression negotiated by `Accept-Encoding`.
    pub compression: Option<Spanned<Compression>>,
}

/// Response caching of a route.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cache {
    /// Freshness of an answer that has no `s-maxage`/`max-age` (default: such answers
    /// are not stored).
    pub ttl: Option<Spanned<Dur>>,
    /// Largest body stored (default 1MiB); a larger answer is still delivered whole.
    pub max_body: Option<Spanned<crate::units::ByteSize>>,
    /// Request headers whose values are part of the key, e.g. `accept-language`.
    #[serde(default)]
    pub vary: Vec<Spanned<String>>,
    /// `local` (default, this process) or `redis` (shared through the `redis:` block).
    pub store: Option<Spanned<String>>,
}

/// Cross-origin resource sharing (the Fetch standard's CORS protocol).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    /// Origins allowed: `https://app.example.com`, `https://*.example.com` (any
    /// subdomain), or `["*"]` alone for any origin.
    #[serde(default)]
    pub allow_origins: Vec<Spanned<String>>,
    /// Methods a preflight may ask for (default GET, HEAD, POST).
    pub allow_methods: Option<Vec<Spanned<String>>>,
    /// Request headers a preflight may ask for (default none beyond the CORS-safelisted).
    #[serde(default)]
    pub allow_headers: Vec<Spanned<String>>,
    /// Response headers the browser may show to scripts.
    #[serde(default)]
    pub expose_headers: Vec<Spanned<String>>,
    /// Let the browser send cookies and credentials (not with `allow_origins: ["*"]`).
    pub allow_credentials: Option<Spanned<bool>>,
    /// How long a browser may cache a preflight answer.
    pub max_age: Option<Spanned<Dur>>,
}

/// Request size limits.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSize {
    /// Largest request body: `10MiB`, `512KiB`, `1000`.
    pub max_body: Spanned<crate::units::ByteSize>,
}

/// Response compression: codings negotiated by the request's `Accept-Encoding`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Compression {
    /// Codings the route may use, most preferred first: `zstd`, `br`, `gzip` (the
    /// default, in that order).
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// Bodies declared smaller than this are sent as they are (default `1KiB`).
    pub min_size: Option<Spanned<crate::units::ByteSize>>,
    /// Media types compressed: `type/subtype`, `type/*` or `type/*+suffix` (default:
    /// text, JSON, JavaScript, XML, SVG).
    pub content_types: Option<Vec<Spanned<String>>>,
    /// Compression levels per coding (defaults gzip 2, br 4, zstd 3).
    pub levels: Option<Spanned<CompressionLevels>>,
}

/// Compression levels; a coding left out keeps its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompressionLevels {
    /// gzip, 1 (fastest) to 9.
    pub gzip: Option<Spanned<i64>>,
    /// Brotli quality, 0 to 11.
    pub br: Option<Spanned<i64>>,
    /// zstd, 1 to 19.
    pub zstd: Option<Spanned<i64>>,
}

/// Client IP allow and deny lists (after `trusted_proxies`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpFilter {
    /// When not empty, only these CIDRs (or single IPs) may pass.
    #[serde(default)]
    pub allow: Vec<Spanned<String>>,
    /// These never pass, even when also allowed.
    #[serde(default)]
    pub deny: Vec<Spanned<String>>,
}

/// Where an API key is read from. Neither given: the `apikey` header.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuth {
    /// Request header carrying the key.
    pub header: Option<Spanned<String>>,
    /// Query parameter carrying the key.
    pub query: Option<Spanned<String>>,
}

/// HTTP Basic authentication.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    /// The realm in `WWW-Authenticate` (default: the route name).
    pub realm: Option<String>,
}

/// Bearer JWT verification. Keys come from exactly one of `jwks_uri`, `discovery` or
/// `secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuth {
    /// Required `iss`; with `discovery`, the discovered issuer when not given.
    pub issuer: Option<String>,
    /// When not empty, `aud` must name one of these.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The provider's JWKS URL.
    pub jwks_uri: Option<Spanned<String>>,
    /// OIDC discovery: the issuer URL or its `/.well-known/openid-configuration` URL.
    pub discovery: Option<Spanned<String>>,
    /// An HMAC secret (HS256/384/512), as written.
    pub secret: Option<Spanned<String>>,
    /// The algorithm allow-list (default: RS256, PS256, ES256, EdDSA with JWKS; HS256
    /// with a secret).
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// Copy claims into upstream request headers: `{ claim: header }`.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat` (default 30s).
    pub leeway: Option<Dur>,
    /// The realm in `WWW-Authenticate` (default: the route name).
    pub realm: Option<String>,
    /// Keep the `Authorization` header on the upstream request (default true).
    pub forward_token: Option<bool>,
}

/// OpenID Connect login (authorization code flow with PKCE). A browser without a session
/// is sent to the provider and comes back to `redirect_path` with a code, which the
/// gateway exchanges for tokens and turns into an encrypted session cookie. Requests
/// with `Authorization: Bearer` are API calls: the token is verified, nobody is redirected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcAuth {
    /// The issuer URL or its `/.well-known/openid-configuration` URL.
    pub discovery: Option<Spanned<String>>,
    /// Required `iss` (default: the discovered issuer).
    pub issuer: Option<String>,
    /// The client id registered at the provider.
    pub client_id: Option<Spanned<String>>,
    /// The client secret, as written (prefer `client_secret_file`).
    pub client_secret: Option<Spanned<String>>,
    /// A file holding the client secret (trailing newline ignored).
    pub client_secret_file: Option<Spanned<String>>,
    /// The redirect URI registered at the provider: a path on this gateway
    /// (default `/oauth2/callback`) or a full URL.
    pub redirect_path: Option<Spanned<String>>,
    /// A path that ends the session (and the provider's, when it has an
    /// `end_session_endpoint`).
    pub logout_path: Option<Spanned<String>>,
    /// Where the provider sends the browser after logout (registered at the provider).
    pub post_logout_redirect_uri: Option<Spanned<String>>,
    /// Scopes to request (default `[openid]`; `openid` is added when missing).
    pub scopes: Option<Vec<String>>,
    /// Key material for the session cookie, at least 32 bytes, as written.
    pub session_secret: Option<Spanned<String>>,
    /// A file holding it. Without either, each process makes a random key: sessions then
    /// end when it restarts and are not shared between replicas.
    pub session_secret_file: Option<Spanned<String>>,
    /// Session cookie name (default `tollgate_session`).
    pub cookie_name: Option<Spanned<String>>,
    /// Longest a session lasts, refreshes included (default 24h).
    pub session_lifetime: Option<Dur>,
    /// Accepted `aud` of bearer tokens (default: the client id).
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The algorithm allow-list (default RS256, PS256, ES256, EdDSA).
    pub algorithms: Option<Vec<Spanned<String>>>,
    /// Clock-skew tolerance (default 30s).
    pub leeway: Option<Dur>,
    /// Copy ID-token claims into upstream request headers: `{ claim: header }`.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Send the session's access token upstream as `Authorization: Bearer` (default false).
    #[serde(default)]
    pub forward_access_token: bool,
    /// The realm in `WWW-Authenticate` for API requests (default: the route name).
    pub realm: Option<String>,
}

/// mTLS authentication: the listener verified a client certificate; its subject must
/// belong to a consumer (`consumers[].mtls.subject`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MtlsAuth {}

/// External authorization: every request is first shown to an HTTP service (its method,
/// URI, host and headers); a 2xx admits it, any other answer goes back to the client as
/// it is (so the service can answer 401 with a challenge, or redirect to a login page).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExtAuth {
    /// `http://` or `https://` URL the check is sent to (GET).
    pub url: Spanned<String>,
    /// Headers of the service's 2xx answer copied onto the upstream request.
    #[serde(default)]
    pub headers_to_upstream: Vec<String>,
    /// Request headers sent to the service (default: all but hop-by-hop ones).
    pub headers_to_auth: Option<Vec<String>>,
    /// Longest the check may take (default 1s).
    pub timeout: Option<Dur>,
    /// When the service cannot be reached or answers too late: `deny` (503, default) or
    /// `allow`.
    pub on_error: Option<Spanned<String>>,
}

/// Authorization by consumer and group. Deny lists win over allow lists; with allow
/// lists set, a consumer must be in one of them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acl {
    /// Groups allowed.
    #[serde(default)]
    pub allow_groups: Vec<String>,
    /// Consumers allowed.
    #[serde(default)]
    pub allow_consumers: Vec<Spanned<String>>,
    /// Groups refused.
    #[serde(default)]
    pub deny_groups: Vec<String>,
    /// Consumers refused.
    #[serde(default)]
    pub deny_consumers: Vec<Spanned<String>>,
}
