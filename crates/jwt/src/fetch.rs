//! The one outbound call this crate needs, an HTTP GET, as a trait: the proxy plugs in its
//! own hyper client (with its TLS roots and timeouts), tests a plain local one.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;

/// A boxed, sendable future: what [`Fetch::get`] returns, so `Arc<dyn Fetch>` works.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a GET returned.
#[derive(Clone, Debug)]
pub struct FetchResponse {
    /// HTTP status code; only 200 is accepted.
    pub status: u16,
    /// The body. Implementations should stop reading past a bound (1 MiB is plenty for a
    /// JWKS); this crate refuses bodies over [`crate::JwksConfig::max_body_bytes`].
    pub body: Bytes,
    /// `Cache-Control: max-age`, when the response had one; see [`max_age`].
    pub max_age: Option<Duration>,
}

/// A failed GET (connection, TLS, timeout, body read).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

impl FetchError {
    /// An error with this message.
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}

/// An HTTP GET client. Implementations follow no redirects they were not configured for
/// and apply their own connect timeout; this crate wraps each call in
/// [`crate::JwksConfig::fetch_timeout`] as well.
pub trait Fetch: Send + Sync + 'static {
    /// GETs `url`.
    fn get<'a>(&'a self, url: &'a str) -> BoxFuture<'a, Result<FetchResponse, FetchError>>;
}

/// Reads `max-age` from a `Cache-Control` value. `no-cache`/`no-store` give zero, which the
/// JWKS refresher raises to its minimum interval (an IdP cannot make us poll constantly).
pub fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',') {
        let directive = directive.trim();
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.trim().to_ascii_lowercase().as_str() {
            "no-cache" | "no-store" => return Some(Duration::ZERO),
            "max-age" if age.is_none() => {
                age = value
                    .trim()
                    .trim_matches('"')
                    .parse::<u64>()
                    .ok()
                    .map(Duration::from_secs);
            }
            _ => {}
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=3600"),
            Some(Duration::from_secs(3600))
        );
        assert_eq!(
            max_age("Max-Age=\"60\", must-revalidate"),
            Some(Duration::from_secs(60))
        );
        assert_eq!(max_age("max-age=60, no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("private"), None);
        assert_eq!(max_age("max-age=-1"), None);
    }
}
