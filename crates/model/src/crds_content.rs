//! The content blocks of the `Policy` CRD: `cors`, `requestSize` and `compression`, the
//! native blocks ([`crate::policies::Cors`], [`crate::policies::RequestSize`],
//! [`crate::policies::Compression`]) in camelCase. Sizes and durations are strings
//! (`10MiB`, `10m`), as in the native file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Cross-origin resource sharing: preflights answered by the gateway (before
/// authentication), CORS headers on every answer to an allowed origin, errors included.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Cors {
    /// Origins allowed: `https://app.example.com`, `https://*.example.com` (any
    /// subdomain), or `["*"]` alone for any origin.
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Methods a preflight may ask for (default GET, HEAD, POST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    /// Request headers a preflight may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    /// `Access-Control-Allow-Credentials: true` (not with `allowOrigins: ["*"]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// How long a browser may cache a preflight answer, e.g. `10m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<String>,
}

/// A limit on the request body.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct RequestSize {
    /// Largest request body: `10MiB`, `512KiB`, `1000`.
    pub max_body: String,
}

/// Response compression negotiated by the request's `Accept-Encoding`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Compression {
    /// Codings the route may use, most preferred first: `zstd`, `br`, `gzip` (the
    /// default, in that order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// Bodies declared smaller than this are sent as they are, e.g. `1KiB` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<String>,
    /// Media types compressed: `type/subtype`, `type/*` or `type/*+suffix` (default:
    /// text, JSON, JavaScript, XML, SVG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_types: Option<Vec<String>>,
    /// Compression levels per coding (defaults gzip 2, br 4, zstd 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<CompressionLevels>,
}

/// Compression levels; a coding left out keeps its default.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompressionLevels {
    /// gzip, 1 (fastest) to 9.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gzip: Option<i64>,
    /// Brotli quality, 0 to 11.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub br: Option<i64>,
    /// zstd, 1 to 19.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd: Option<i64>,
}
