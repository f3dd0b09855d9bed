//! Rate limits and quotas.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Where `store: redis` limits and quotas keep their counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedisSettings {
    /// `redis://…` or `rediss://…` (a password in it is redacted by `Snapshot::redacted`).
    pub url: String,
    /// Longest a request waits for Redis.
    #[serde(with = "crate::duration")]
    pub timeout: Duration,
    /// Key prefix.
    pub prefix: String,
    /// PEM CA bundle for `rediss://` with a private CA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_pem: Option<String>,
}

/// What a limit counts by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// The authenticated consumer (the client IP when there is none).
    Consumer,
    /// The client IP (after `trusted_proxies`); IPv6 by /64.
    Ip,
    /// The route (or listener) as a whole.
    Route,
    /// A request header's value (lower-case name); requests without it share one key.
    Header(String),
}

/// Where a limit's counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitStore {
    /// This process.
    Local,
    /// Redis, shared by every replica.
    Redis,
}

/// A GCRA rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RateLimit {
    /// Unique name: the route or listener and the limit's position, e.g.
    /// `route/orders/rate_limit/0`. Names the limit in logs, metrics and Redis keys.
    pub name: String,
    /// Requests per period (and the burst).
    pub requests: u64,
    /// The period.
    #[serde(with = "crate::duration")]
    pub per: Duration,
    /// What is limited.
    pub key: LimitKey,
    /// Where the counters live.
    pub store: LimitStore,
    /// With Redis unreachable: admit (`true`) or answer 503.
    pub allow_on_store_failure: bool,
    /// Only consumers in one of these groups; empty: every request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// A quota window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaWindow {
    /// Calendar hour, UTC.
    Hour,
    /// Calendar day, UTC.
    Day,
    /// Calendar month, UTC.
    Month,
    /// Fixed windows of this length from the Unix epoch.
    Fixed(#[serde(with = "crate::duration")] Duration),
}

/// A quota, always counted in Redis.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quota {
    /// Unique name, e.g. `route/orders/quota`.
    pub name: String,
    /// Requests per window.
    pub requests: u64,
    /// The window.
    pub window: QuotaWindow,
    /// What is counted.
    pub key: LimitKey,
    /// With Redis unreachable: admit (`true`) or answer 503.
    pub allow_on_store_failure: bool,
    /// Only consumers in one of these groups; empty: every request.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<String>,
}

/// The URL with any password replaced by [`crate::REDACTED`].
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:{}@{host}{path}", crate::REDACTED)
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_in_redis_urls_are_redacted() {
        assert_eq!(
            super::redact_url("redis://:s3cret@cache:6379/2"),
            "redis://:<redacted>@cache:6379/2"
        );
        assert_eq!(
            super::redact_url("rediss://app:pw@cache:6380"),
            "rediss://app:<redacted>@cache:6380"
        );
        assert_eq!(
            super::redact_url("redis://cache:6379"),
            "redis://cache:6379"
        );
    }
}
