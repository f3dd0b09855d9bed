//! Request identity and forwarding headers: `x-request-id`, the client IP under the
//! `trusted_proxies` rule, and `X-Forwarded-For/-Proto/-Host`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderMap, HeaderValue, header};
use ipnet::IpNet;

/// The request-id header (a static name: inserting it allocates nothing).
pub(crate) static X_REQUEST_ID: header::HeaderName =
    header::HeaderName::from_static("x-request-id");
static XFF: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");
static XFP: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");
static XFH: header::HeaderName = header::HeaderName::from_static("x-forwarded-host");

/// Makes request ids: a random per-process prefix and a counter, 32 hex digits. Unique
/// without a random draw per request.
pub(crate) struct RequestIds {
    prefix: u64,
    counter: AtomicU64,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        Self {
            prefix: rand::random(),
            counter: AtomicU64::new(rand::random::<u32>().into()),
        }
    }

    /// Keeps a valid incoming id (1–128 visible ASCII characters), otherwise makes one.
    pub(crate) fn for_request(&self, headers: &HeaderMap) -> HeaderValue {
        if let Some(v) = headers.get(&X_REQUEST_ID) {
            let b = v.as_bytes();
            if !b.is_empty() && b.len() <= 128 && b.iter().all(|c| (0x21..=0x7e).contains(c)) {
                return v.clone();
            }
        }
        self.generate()
    }

    pub(crate) fn generate(&self) -> HeaderValue {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 32];
        hex16(self.prefix, &mut buf[..16]);
        hex16(n, &mut buf[16..]);
        // Hex digits are always a valid header value.
        HeaderValue::from_bytes(&buf).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }
}

fn hex16(mut v: u64, out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for slot in out.iter_mut().rev() {
        *slot = HEX[(v & 0xf) as usize];
        v >>= 4;
    }
}

fn trusted(ip: IpAddr, nets: &[IpNet]) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

/// The client IP: the peer, unless the peer is a trusted proxy, in which case the
/// right-most untrusted address of `X-Forwarded-For` (right-most because each proxy
/// appends; everything left of the first untrusted hop may be forged).
pub(crate) fn client_ip(peer: IpAddr, headers: &HeaderMap, nets: &[IpNet]) -> IpAddr {
    if nets.is_empty() || !trusted(peer, nets) {
        return peer;
    }
    let mut last = peer;
    for v in headers.get_all(&XFF).iter().rev() {
        let Ok(s) = v.to_str() else { return last };
        for part in s.rsplit(',') {
            let Ok(ip) = part.trim().parse::<IpAddr>() else {
                return last;
            };
            if !trusted(ip, nets) {
                return ip;
            }
            last = ip;
        }
    }
    last
}

/// Sets `X-Forwarded-*` for the upstream request. Values from an untrusted peer are
/// replaced, never extended.
/// `peer_value` is the peer IP as a header value, made once per connection so the common
/// (untrusted) case costs no allocation.
pub(crate) fn set_forwarded(
    headers: &mut HeaderMap,
    peer_value: &HeaderValue,
    peer_trusted: bool,
    scheme: &'static str,
    host: Option<&HeaderValue>,
) {
    let existing: Vec<&str> = if peer_trusted {
        headers
            .get_all(&XFF)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect()
    } else {
        Vec::new()
    };
    if existing.is_empty() {
        headers.insert(XFF.clone(), peer_value.clone());
    } else {
        let peer = peer_value.to_str().unwrap_or("");
        if let Ok(v) = HeaderValue::from_str(&format!("{}, {peer}", existing.join(", "))) {
            headers.insert(XFF.clone(), v);
        }
    }
    if !(peer_trusted && headers.contains_key(&XFP)) {
        headers.insert(XFP.clone(), HeaderValue::from_static(scheme));
    }
    if !(peer_trusted && headers.contains_key(&XFH)) {
        match host {
            Some(h) => {
                headers.insert(XFH.clone(), h.clone());
            }
            None => {
                headers.remove(&XFH);
            }
        }
    }
}

/// Is `peer` a trusted proxy?
pub(crate) fn is_trusted(peer: IpAddr, nets: &[IpNet]) -> bool {
    trusted(peer, nets)
}

/// The host to route on: lower case, without port. `None` when absent or not valid.
pub(crate) fn route_host(authority: &str) -> std::borrow::Cow<'_, str> {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        })
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        std::borrow::Cow::Owned(host.to_ascii_lowercase())
    } else {
        std::borrow::Cow::Borrowed(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().expect("net")).collect()
    }

    #[test]
    fn request_ids_are_kept_or_made() {
        let ids = RequestIds::new();
        let mut h = HeaderMap::new();
        h.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("abc-123"));
        assert_eq!(ids.for_request(&h), "abc-123");
        h.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("has space"));
        let made = ids.for_request(&h);
        assert_eq!(made.len(), 32);
        assert_ne!(ids.generate(), ids.generate());
        h.insert(
            X_REQUEST_ID.clone(),
            HeaderValue::from_str(&"a".repeat(129)).expect("v"),
        );
        assert_eq!(ids.for_request(&h).len(), 32);
    }

    #[test]
    fn client_ip_follows_trust() {
        let peer: IpAddr = "10.0.0.1".parse().expect("ip");
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("1.2.3.4, 5.6.7.8, 10.0.0.2"),
        );
        assert_eq!(client_ip(peer, &h, &[]), peer, "no trust: the peer");
        let t = nets(&["10.0.0.0/8"]);
        assert_eq!(
            client_ip(peer, &h, &t),
            "5.6.7.8".parse::<IpAddr>().expect("ip")
        );
        let untrusted: IpAddr = "9.9.9.9".parse().expect("ip");
        assert_eq!(client_ip(untrusted, &h, &t), untrusted);
    }

    #[test]
    fn forwarded_headers_replace_untrusted_values() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        let host = HeaderValue::from_static("api.example.com");
        set_forwarded(
            &mut h,
            &HeaderValue::from_static("9.9.9.9"),
            false,
            "http",
            Some(&host),
        );
        assert_eq!(h["x-forwarded-for"], "9.9.9.9");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "api.example.com");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        set_forwarded(
            &mut h,
            &HeaderValue::from_static("10.0.0.1"),
            true,
            "http",
            Some(&host),
        );
        assert_eq!(h["x-forwarded-for"], "1.1.1.1, 10.0.0.1");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn route_host_strips_port_and_case() {
        assert_eq!(route_host("API.Example.com:8080"), "api.example.com");
        assert_eq!(route_host("[::1]:80"), "::1");
        assert_eq!(route_host("example.com."), "example.com");
        assert_eq!(route_host("plain"), "plain");
    }
}
