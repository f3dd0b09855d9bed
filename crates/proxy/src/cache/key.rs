//! Cache keys and the `Cache-Control` directives a shared cache reads (RFC 9111 §5.2).

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};

/// A cache key: the SHA-256 of what identifies an entry, so every key has the same size
/// locally and in Redis, whatever the path, query and header values.
pub(crate) type Key = [u8; 32];

/// Feeds a length-prefixed field, so `("ab", "c")` and `("a", "bc")` differ.
fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// The key of a request before any response `Vary`: the route (and its cache settings,
/// so a changed block starts clean), host, normalised path, the query with its
/// parameters in a canonical order, and the values of the route's `vary` headers.
pub(crate) fn primary(
    scope: &[u8],
    host: &str,
    path: &str,
    query: Option<&str>,
    vary: &[HeaderName],
    headers: &HeaderMap,
) -> Key {
    let mut h = Sha256::new();
    field(&mut h, scope);
    field(&mut h, host.as_bytes());
    field(&mut h, path.as_bytes());
    match query {
        // `?b=2&a=1` and `?a=1&b=2` are one resource to every API we know of; the order
        // of repeated names is kept (sorting is stable).
        Some(q) if q.contains('&') => {
            let mut pairs: Vec<&str> = q.split('&').filter(|p| !p.is_empty()).collect();
            pairs.sort_by(|a, b| param_name(a).cmp(param_name(b)));
            h.update([1]);
            for p in pairs {
                field(&mut h, p.as_bytes());
            }
        }
        Some(q) => {
            h.update([1]);
            field(&mut h, q.as_bytes());
        }
        None => h.update([0]),
    }
    header_values(&mut h, vary, headers);
    h.finalize().into()
}

fn param_name(pair: &str) -> &str {
    pair.split_once('=').map_or(pair, |(k, _)| k)
}

/// The key of one variant of `primary`, by the values of the request headers a response
/// `Vary` named.
pub(crate) fn variant(primary: &Key, names: &[HeaderName], headers: &HeaderMap) -> Key {
    let mut h = Sha256::new();
    h.update(primary);
    header_values(&mut h, names, headers);
    h.finalize().into()
}

fn header_values(h: &mut Sha256, names: &[HeaderName], headers: &HeaderMap) {
    for name in names {
        field(h, name.as_str().as_bytes());
        // An absent header and an empty one are different variants.
        let mut values = headers.get_all(name).iter().peekable();
        if values.peek().is_none() {
            h.update([0]);
            continue;
        }
        h.update([1]);
        for v in values {
            field(h, v.as_bytes());
        }
    }
}

/// Lower-case hex of a key, for Redis.
pub(crate) fn hex(key: &Key) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in key {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The response directives that decide whether and how long an answer is stored.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Directives {
    pub(crate) no_store: bool,
    pub(crate) private: bool,
    pub(crate) no_cache: bool,
    pub(crate) public: bool,
    pub(crate) must_revalidate: bool,
    pub(crate) max_age: Option<u64>,
    pub(crate) s_maxage: Option<u64>,
}

impl Directives {
    /// Every `Cache-Control` header of `headers`. Unknown directives are ignored; a
    /// malformed age counts as 0 (stale), as RFC 9111 §4.2.1 asks.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut d = Self::default();
        for v in headers.get_all(http::header::CACHE_CONTROL) {
            let Ok(v) = v.to_str() else {
                d.no_store = true;
                continue;
            };
            for part in v.split(',') {
                let (name, arg) = match part.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (part.trim(), None),
                };
                let secs = || arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
                if name.eq_ignore_ascii_case("no-store") {
                    d.no_store = true;
                } else if name.eq_ignore_ascii_case("private") {
                    d.private = true;
                } else if name.eq_ignore_ascii_case("no-cache") {
                    d.no_cache = true;
                } else if name.eq_ignore_ascii_case("public") {
                    d.public = true;
                } else if name.eq_ignore_ascii_case("must-revalidate") {
                    d.must_revalidate = true;
                } else if name.eq_ignore_ascii_case("max-age") {
                    d.max_age = Some(secs());
                } else if name.eq_ignore_ascii_case("s-maxage") {
                    d.s_maxage = Some(secs());
                }
            }
        }
        d
    }

    /// An answer to a request with `Authorization` may be shared (RFC 9111 §3.5).
    pub(crate) fn shareable_with_auth(&self) -> bool {
        self.public || self.s_maxage.is_some() || self.must_revalidate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc(v: &str) -> Directives {
        let mut h = HeaderMap::new();
        h.insert(http::header::CACHE_CONTROL, v.parse().unwrap());
        Directives::of(&h)
    }

    #[test]
    fn directives() {
        let d = cc("public, max-age=60, s-maxage=\"30\"");
        assert!(d.public && d.shareable_with_auth());
        assert_eq!((d.max_age, d.s_maxage), (Some(60), Some(30)));
        assert!(cc("No-Store").no_store);
        assert!(cc("private=\"set-cookie\"").private);
        assert_eq!(cc("max-age=abc").max_age, Some(0));
        assert!(!cc("max-age=5").shareable_with_auth());
    }

    #[test]
    fn keys() {
        let h = HeaderMap::new();
        let k = |q: Option<&str>| primary(b"r", "h", "/p", q, &[], &h);
        assert_eq!(k(Some("a=1&b=2")), k(Some("b=2&a=1")));
        assert_ne!(k(Some("a=1&a=2")), k(Some("a=2&a=1")));
        assert_ne!(k(None), k(Some("")));
        assert_ne!(
            primary(b"r", "ab", "/c", None, &[], &h),
            primary(b"r", "a", "b/c", None, &[], &h)
        );
        let lang = HeaderName::from_static("accept-language");
        let mut en = HeaderMap::new();
        en.insert(&lang, "en".parse().unwrap());
        let mut empty = HeaderMap::new();
        empty.insert(&lang, "".parse().unwrap());
        let v = |hm: &HeaderMap| primary(b"r", "h", "/p", None, std::slice::from_ref(&lang), hm);
        assert_ne!(v(&en), v(&h));
        assert_ne!(v(&empty), v(&h));
        assert_eq!(hex(&[0xab; 32]).len(), 64);
    }
}
