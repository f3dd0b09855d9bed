//! Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy
//! removes them before forwarding, on requests and on responses alike.

use http::HeaderMap;
use http::header::{
    CONNECTION, Entry, HeaderName, HeaderValue, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};

use crate::chars::trim_ows;

#[cfg(test)]
mod tests;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// What [`strip_hop_by_hop`] removed that the caller may have to put back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HopByHop {
    /// `TE` listed `trailers`: re-add `te: trailers` when forwarding over HTTP/2 (gRPC
    /// needs it).
    pub te_trailers: bool,
    /// The `Upgrade` value, when `Connection` listed `upgrade`: re-add `Upgrade` and
    /// `Connection: upgrade` when forwarding the upgrade.
    pub upgrade: Option<HeaderValue>,
}

/// Removes `Connection`, every header named in `Connection`'s comma-separated tokens
/// (case-insensitive, trimmed), `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`,
/// `Transfer-Encoding` and `Upgrade`.
///
/// Allocation-free unless there are several `Connection` lines. Call it before adding
/// the proxy's own headers, since a client can name any header in `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) -> HopByHop {
    let mut found = HopByHop::default();
    // The common case has none of these headers: one pass over the (few) names with cheap
    // comparisons beats eight hashed lookups and removals on every request and response.
    if !headers.keys().any(is_hop_by_hop) {
        return found;
    }
    // TE first: `Connection: te` would remove it before we read it.
    found.te_trailers = headers
        .get_all(TE)
        .iter()
        .any(|value| tokens(value.as_bytes()).any(is_trailers));

    let mut connection_upgrade = false;
    if let Entry::Occupied(entry) = headers.entry(CONNECTION) {
        // `remove` hands back the first value; later lines (rare) must be copied out
        // before the map can be changed.
        let more: Vec<HeaderValue> = if entry.iter().nth(1).is_some() {
            entry.iter().skip(1).cloned().collect()
        } else {
            Vec::new()
        };
        let first = entry.remove();
        for value in std::iter::once(&first).chain(&more) {
            for token in tokens(value.as_bytes()) {
                if token.eq_ignore_ascii_case(b"upgrade") {
                    connection_upgrade = true;
                } else if let Ok(name) = std::str::from_utf8(token) {
                    // An invalid header name matches nothing, which is what we want.
                    headers.remove(name);
                }
            }
        }
    }
    for name in [KEEP_ALIVE, PROXY_CONNECTION, TE, TRAILER, TRANSFER_ENCODING] {
        headers.remove(name);
    }
    let upgrade = headers.remove(UPGRADE);
    if connection_upgrade {
        found.upgrade = upgrade;
    }
    found
}

/// A name that is always hop-by-hop. Standard names compare as enum values, the two
/// custom ones as short strings.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// The non-empty, trimmed elements of a comma-separated list.
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// `trailers`, possibly with (meaningless) parameters.
fn is_trailers(token: &[u8]) -> bool {
    let name = token.split(|&b| b == b';').next().map_or(token, trim_ows);
    name.eq_ignore_ascii_case(b"trailers")
}
