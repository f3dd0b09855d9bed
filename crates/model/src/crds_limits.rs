//! The rate-limit, quota and external-authorization blocks of the `Policy` CRD: the
//! native blocks (`crate::limits`, `crate::policies::ExtAuth`) in camelCase.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A rate limit: at most `requests` per `per` for each key, with a burst of `requests`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Requests admitted per period.
    pub requests: u64,
    /// The period, e.g. `1s`, `1m`.
    pub per: String,
    /// `consumer`, `ip` (default), `route` or `header:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `local` (default) or `redis` (needs a `redis:` block in the gateway's config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// With `store: redis`: `allow` (default) or `deny` when Redis cannot answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_store_failure: Option<String>,
    /// Only consumers in one of these groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A quota over a calendar window, counted in Redis.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Requests per window.
    pub requests: u64,
    /// `hour`, `day`, `month` or a duration such as `12h`.
    pub per: String,
    /// `consumer` (default), `ip`, `route` or `header:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `allow` (default) or `deny` when Redis cannot answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_store_failure: Option<String>,
    /// Only consumers in one of these groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// An external authorization service.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct ExtAuth {
    /// `http://` or `https://` URL the check is sent to (GET).
    pub url: String,
    /// Headers of the service's 2xx answer copied onto the upstream request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_upstream: Vec<String>,
    /// Request headers sent to the service (default: all but hop-by-hop ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers_to_auth: Vec<String>,
    /// Longest the check may take, e.g. `1s` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `deny` (default) or `allow` when the service cannot answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_error: Option<String>,
}
