//! Tollgate's own Kubernetes resources (`tollgate.dev/v1alpha1`): access control for the
//! Kubernetes side, mirroring the native `policies:` and `consumers:` blocks
//! ([`crate::policies`]) in camelCase.
//!
//! - [`Policy`] carries `ipFilter`, `keyAuth`, `basicAuth`, `jwt`, `mtlsAuth`, `oidc`
//!   ([`crate::crds_oidc`]), `acl`, and `extAuth`, `rateLimits` and `quota`
//!   ([`crate::crds_limits`]), `cors`, `requestSize` and `compression`
//!   ([`crate::crds_content`]), and attaches with `targetRefs` (a Gateway, an HTTPRoute,
//!   or an HTTPRoute rule named by `sectionName`: Gateway API's policy attachment) or is
//!   named by an HTTPRoute rule's `ExtensionRef` filter.
//! - [`Consumer`] holds one consumer; its API keys, password hash and JWT HMAC secrets
//!   live in Secrets labelled [`CREDENTIALS_LABEL`], never in the object itself.
//!
//! The CustomResourceDefinitions in `deploy/crds.yaml` are generated from these types
//! ([`crds_yaml`]); a test keeps the file equal to what they generate.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, CustomResourceExt as _};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of Tollgate's resources.
pub const GROUP: &str = "tollgate.dev";
/// `apiVersion` of Tollgate's resources.
pub const API_VERSION: &str = "tollgate.dev/v1alpha1";
/// Secrets with this label (any value) may hold credentials: API keys, password hashes,
/// JWT HMAC secrets, OIDC client and session secrets. The controller watches only these (and TLS Secrets), so it never
/// reads other Secrets' data.
pub const CREDENTIALS_LABEL: &str = "tollgate.dev/credentials";

/// Access control for routes: the native `policies:` blocks, attached by `targetRefs` or
/// named by an HTTPRoute `ExtensionRef` filter (`group: tollgate.dev, kind: Policy`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "Policy",
    plural = "policies",
    namespaced,
    status = "PolicyStatus",
    derive = "Default",
    derive = "PartialEq",
    shortname = "tgpolicy",
    category = "tollgate"
)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// What the policy attaches to, in its own namespace: a `Gateway` or an `HTTPRoute`
    /// (`gateway.networking.k8s.io`), with `sectionName` naming one rule of the route.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_refs: Vec<PolicyTargetRef>,
    /// Client IP allow and deny lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_filter: Option<IpFilter>,
    /// API keys of consumers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_auth: Option<KeyAuth>,
    /// HTTP Basic with consumers' passwords.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic_auth: Option<BasicAuth>,
    /// Bearer JWTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<JwtAuth>,
    /// A verified client certificate (an mTLS listener) mapped to a consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls_auth: Option<MtlsAuth>,
    /// OpenID Connect login for browsers, and bearer tokens from the same provider.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc: Option<crate::crds_oidc::PolicyOidc>,
    /// Which consumers (Consumer objects in this namespace) and groups may pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Acl>,
    /// An external authorization service that must admit the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_auth: Option<crate::crds_limits::ExtAuth>,
    /// Rate limits. One limit wherever the policy attaches: a Gateway's limit is shared by
    /// all its routes (a ceiling), an HTTPRoute's by all its rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_limits: Vec<crate::crds_limits::RateLimit>,
    /// A quota (counted in Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<crate::crds_limits::Quota>,
    /// Response caching (GET and HEAD), locally or shared through Redis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<crate::crds_cache::Cache>,
    /// Cross-origin resource sharing ([`crate::crds_content`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cors: Option<crate::crds_content::Cors>,
    /// A limit on the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_size: Option<crate::crds_content::RequestSize>,
    /// Response compression negotiated by `Accept-Encoding`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<crate::crds_content::Compression>,
}

/// A policy target in the policy's namespace (Gateway API's
/// `LocalPolicyTargetReferenceWithSectionName`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct PolicyTargetRef {
    /// `gateway.networking.k8s.io`.
    pub group: String,
    /// `Gateway` or `HTTPRoute`.
    pub kind: String,
    /// The target's name.
    pub name: String,
    /// Must be the policy's own namespace when given: attachment never crosses
    /// namespaces (Gateway API policy attachment), and another namespace is reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// With an HTTPRoute: the `name` of one of its rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

/// Client IP allow and deny lists (CIDRs or single addresses).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct IpFilter {
    /// When not empty, only these may pass.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// These never pass, even when also allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

/// Where an API key is read from. Neither given: the `apikey` header.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct KeyAuth {
    /// Request header carrying the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// Query parameter carrying the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// HTTP Basic authentication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct BasicAuth {
    /// The realm in `WWW-Authenticate` (default: `<namespace>/<policy name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
}

/// Bearer JWT verification. Keys come from exactly one of `jwksUri`, `discovery` or
/// `secretRef` (an HMAC secret in a labelled Secret).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct JwtAuth {
    /// Required `iss`; with `discovery`, the discovered issuer when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// When not empty, `aud` must name one of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audiences: Vec<String>,
    /// The provider's JWKS URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// OIDC discovery: the issuer URL or its `/.well-known/openid-configuration` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<String>,
    /// An HMAC secret: one key of a Secret labelled `tollgate.dev/credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<SecretKeyRef>,
    /// The algorithm allow-list (default: RS256, PS256, ES256, EdDSA with JWKS; HS256
    /// with a secret).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Copy claims into upstream request headers: `{ claim: header }`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claims_to_headers: BTreeMap<String, String>,
    /// Clock-skew tolerance for `exp`, `nbf` and `iat`, e.g. `30s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<String>,
    /// The realm in `WWW-Authenticate` (default: `<namespace>/<policy name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    /// Keep the `Authorization` header on the upstream request (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_token: Option<bool>,
}

/// mTLS authentication: the listener verified a client certificate, and its subject must
/// be a Consumer's `mtls.subject`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MtlsAuth {}

/// Authorization by consumer and group; deny lists win over allow lists. Consumer names
/// are Consumer objects in the policy's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Acl {
    /// Groups allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_groups: Vec<String>,
    /// Consumers allowed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_consumers: Vec<String>,
    /// Groups refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_groups: Vec<String>,
    /// Consumers refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_consumers: Vec<String>,
}

/// One key of a Secret in the referring object's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key in its `data` (or `stringData`).
    pub key: String,
}

/// A Secret in the referring object's namespace, and optionally one of its keys.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The Secret's name.
    pub name: String,
    /// One key; without it, every key of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What a [`Policy`] reports: a summary condition, and one entry per place it attaches.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyStatus {
    /// `Accepted`: whether the spec is valid (reason `Accepted` or `Invalid`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Per target (Gateway API `PolicyAncestorStatus`): `Accepted` with reason
    /// `Accepted`, `Invalid`, `TargetNotFound` or `Conflicted`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<PolicyAncestorStatus>,
}

/// The policy's status at one target (Gateway API `PolicyAncestorStatus`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyAncestorStatus {
    /// The target: a Gateway, an HTTPRoute, or a rule of one (`sectionName`).
    pub ancestor_ref: AncestorRef,
    /// `tollgate.dev/gateway-controller`.
    pub controller_name: String,
    /// `Accepted`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A reference to a Gateway or route (Gateway API `ParentReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AncestorRef {
    /// API group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// A rule name (routes) or listener name (Gateways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

/// Someone who calls the APIs, with credentials read from labelled Secrets. Its name in
/// `x-consumer` and logs is `<namespace>/<name>`.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "tollgate.dev",
    version = "v1alpha1",
    kind = "Consumer",
    plural = "consumers",
    namespaced,
    status = "ConsumerStatus",
    derive = "Default",
    derive = "PartialEq",
    shortname = "tgconsumer",
    category = "tollgate"
)]
#[serde(rename_all = "camelCase")]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    /// Groups, for `acl` policies; forwarded in `x-consumer-groups`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
    /// API keys: each value of the referenced Secret keys is one key (at least 8
    /// printable characters, or `sha256:` and 64 hex digits).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<ConsumerKeys>,
    /// A username and password hash for `basicAuth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basic: Option<ConsumerBasic>,
    /// Maps a verified JWT to this consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<ConsumerJwt>,
    /// Maps a verified client certificate to this consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtls: Option<ConsumerMtls>,
}

/// Where some of a consumer's API keys are.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerKeys {
    /// A Secret labelled `tollgate.dev/credentials`, and optionally one of its keys.
    pub secret_ref: SecretRef,
}

/// A basic-auth credential; the hash lives in a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerBasic {
    /// The username.
    pub username: String,
    /// An argon2 or bcrypt hash of the password (`tollgate hash-password`), in a Secret
    /// labelled `tollgate.dev/credentials`.
    pub password_hash_secret_ref: SecretKeyRef,
}

/// Which verified tokens are this consumer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerJwt {
    /// The token's `sub`.
    pub subject: String,
    /// The token's `iss`, when subjects from several issuers could collide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
}

/// Which verified client certificates are this consumer.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsumerMtls {
    /// The certificate subject as the listener reports it, e.g. `CN=alice`.
    pub subject: String,
}

/// What a [`Consumer`] reports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct ConsumerStatus {
    /// `Accepted`: whether its credentials were read and are valid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Why the CRDs could not be rendered (a bug: the types are fixed).
#[derive(Debug, thiserror::Error)]
#[error("rendering the CustomResourceDefinitions: {0}")]
pub struct RenderError(String);

/// The CustomResourceDefinitions of [`Policy`] and [`Consumer`], as the multi-document
/// YAML in `deploy/crds.yaml`.
pub fn crds_yaml() -> Result<String, RenderError> {
    let mut out = String::from(
        "# Generated from crates/model/src/crds.rs: do not edit. Regenerate with\n\
         # UPDATE_CRDS=1 cargo test -p tollgate-model --test crds\n",
    );
    for (i, crd) in [Policy::crd(), Consumer::crd()].iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_saphyr::to_string(crd).map_err(|e| RenderError(e.to_string()))?);
    }
    Ok(out)
}
