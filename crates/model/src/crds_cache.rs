//! The `cache` block of the `Policy` CRD: the native `cache:` route policy
//! (`crate::policies::Cache`) in camelCase.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Response caching of the routes the policy attaches to.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(deny_unknown_fields)]
#[serde(rename_all = "camelCase")]
pub struct Cache {
    /// Freshness of an answer without `s-maxage`/`max-age`, e.g. `30s` (default: such
    /// answers are not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
    /// Largest body stored, e.g. `1MiB` (default 1MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<String>,
    /// Request headers whose values are part of the key, e.g. `accept-language`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vary: Vec<String>,
    /// `local` (default) or `redis` (needs a `redis:` block in the gateway's config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}
