//! Rate limits and quotas in `tollgate.yaml` (issue 8):
//!
//! ```yaml
//! redis: { url: redis://127.0.0.1:6379 }
//! listeners:
//!   - name: web
//!     address: 0.0.0.0:8080
//!     rate_limit: { requests: 5000, per: 1s, key: ip }     # a ceiling over every route
//! routes:
//!   - name: orders
//!     policies:
//!       rate_limit:
//!         - { requests: 100, per: 1m, key: consumer, store: redis, on_store_failure: allow }
//!         - { requests: 20, per: 1s, key: ip }
//!         - { requests: 1000, per: 1m, key: consumer, groups: [gold] }
//!       quota: { requests: 10000, per: month, key: consumer }
//! ```

use serde::Deserialize;

use crate::native::Spanned;
use crate::units::Dur;

/// Where shared limits live.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Redis {
    /// `redis://[user:password@]host:port[/db]` or `rediss://` for TLS.
    pub url: Spanned<String>,
    /// Longest a request waits for Redis before `on_store_failure` applies (default 50ms).
    pub timeout: Option<Dur>,
    /// Prefix of every key Tollgate writes (default `tollgate:`).
    pub prefix: Option<String>,
    /// PEM file of the CA that signed the server's certificate (`rediss://` with a
    /// private CA).
    pub ca_file: Option<Spanned<String>>,
}

/// One limit, or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single item.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The items, in order.
    pub fn items(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

/// A rate limit: at most `requests` per `per` for each key, with a burst of `requests`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Requests admitted per period.
    pub requests: u64,
    /// The period.
    pub per: Dur,
    /// What is limited: `consumer`, `ip`, `route` or `header:NAME` (default `ip`).
    pub key: Option<Spanned<String>>,
    /// `local` (this process; default) or `redis` (shared by every replica).
    pub store: Option<Spanned<String>>,
    /// With `store: redis`, what happens when Redis cannot answer: `allow` (default) or
    /// `deny` (503).
    pub on_store_failure: Option<Spanned<String>>,
    /// Only requests whose consumer is in one of these groups.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// A quota: at most `requests` per calendar window, always shared through Redis.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// Requests per window.
    pub requests: u64,
    /// `hour`, `day`, `month` (UTC calendar windows) or a duration such as `12h`.
    pub per: Spanned<String>,
    /// What is counted (default `consumer`).
    pub key: Option<Spanned<String>>,
    /// What happens when Redis cannot answer: `allow` (default) or `deny`.
    pub on_store_failure: Option<Spanned<String>>,
    /// Only requests whose consumer is in one of these groups.
    #[serde(default)]
    pub groups: Vec<String>,
}
