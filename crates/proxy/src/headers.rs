//! Request identity and forwarding headers: `x-request-id`, the client IP under the
//! `trusted_proxies` rule, and `X-Forwarded-For/-Proto/-Host`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, header};
use ipnet::IpNet;

/// The request-id header (a static name: inserting it allocates nothing).
pub(crate) static X_REQUEST_ID: header::HeaderName =
    header::HeaderName::from_static("x-request-id");
pub(crate) static XFF: header::HeaderName = header::HeaderName::from_static("x-forwarded-for");
static XFP: header::HeaderName = header::HeaderName::from_static("x-forwarded-proto");
static XFH: header::HeaderName = header::HeaderName::from_static("x-forwarded-host");

/// Ids are made this many at a time, into one buffer that each id then slices: a
/// reference count per request instead of an allocation and a free.
const IDS_PER_BLOCK: usize = 64;
const ID_LEN: usize = 32;

/// Makes request ids: a random per-process prefix and a counter, 32 hex digits. Unique
/// without a random draw per request.
pub(crate) struct RequestIds {
    /// The prefix's 16 hex digits, written once.
    prefix: [u8; 16],
    /// The counter of the next block's first id: each block reserves its range here,
    /// so ids stay unique even when two threads refill at once.
    counter: AtomicU64,
    /// Ids made but not handed out yet.
    block: Mutex<Block>,
}

/// `bytes[used * ID_LEN..]` are ids not handed out yet.
struct Block {
    bytes: Bytes,
    used: usize,
}

impl RequestIds {
    pub(crate) fn new() -> Self {
        let mut prefix = [0u8; 16];
        hex16(rand::random(), &mut prefix);
        Self {
            prefix,
            counter: AtomicU64::new(rand::random::<u32>().into()),
            block: Mutex::new(Block {
                bytes: Bytes::new(),
                used: IDS_PER_BLOCK,
            }),
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
        let id = self.take().unwrap_or_else(|| self.refill());
        // Hex digits are always a valid header value.
        HeaderValue::from_maybe_shared(id).unwrap_or_else(|_| HeaderValue::from_static("0"))
    }

    /// The next id of the current block, if it has one left.
    fn take(&self) -> Option<Bytes> {
        // The lock only guards a slice and a count, so a poisoned one is still sound.
        let mut block = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        if block.used == IDS_PER_BLOCK {
            return None;
        }
        let start = block.used * ID_LEN;
        block.used += 1;
        Some(block.bytes.slice(start..start + ID_LEN))
    }

    /// Makes a new block outside the lock, keeps its first id and installs the rest.
    /// Two threads refilling at once just skip the ids of the block that loses.
    fn refill(&self) -> Bytes {
        let first = self
            .counter
            .fetch_add(IDS_PER_BLOCK as u64, Ordering::Relaxed);
        let mut buf = Vec::with_capacity(ID_LEN * IDS_PER_BLOCK);
        for i in 0..IDS_PER_BLOCK as u64 {
            let mut id = [0u8; ID_LEN];
            id[..16].copy_from_slice(&self.prefix);
            hex16(first.wrapping_add(i), &mut id[16..]);
            buf.extend_from_slice(&id);
        }
        let bytes = Bytes::from(buf);
        let mine = bytes.slice(..ID_LEN);
        let mut block = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        let old = std::mem::replace(&mut *block, Block { bytes, used: 1 });
        drop(block);
        // Freed (if no id of it is still alive) after the lock is released.
        drop(old);
        mine
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
        // Across block refills too.
        let many: std::collections::HashSet<_> = (0..IDS_PER_BLOCK * 3)
            .map(|_| ids.generate().to_str().map(str::to_owned).expect("hex"))
            .collect();
        assert_eq!(many.len(), IDS_PER_BLOCK * 3);
        assert!(many.iter().all(|id| id.len() == ID_LEN));
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
