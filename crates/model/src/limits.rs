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
///
/// Deserialized by hand rather than `#[serde(untagged)]`: untagged buffers the input and
/// so loses the line and column of every `Spanned` inside it. (The single form cannot
/// be `Spanned` as a whole, so items carry positions on their fields.)
#[derive(Debug)]
pub enum OneOrMany<T> {
    /// A single item.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrMany<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for V<T> {
            type Value = OneOrMany<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("one limit (a map) or a list of them")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(item) = seq.next_element()? {
                    out.push(item);
                }
                Ok(OneOrMany::Many(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<Self::Value, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(OneOrMany::One)
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
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
    pub requests: Spanned<u64>,
    /// The period.
    pub per: Spanned<Dur>,
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
