//! What happens to the upstream's answer on a miss: labelled, and when RFC 9111 and the
//! route's settings allow, copied into the cache while it streams (`tee.rs`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, header};

use super::key::{self, Directives};
use super::{
    Cached, Fill, Miss, Pending, RouteCache, STORED_STATUSES, Stored, X_CACHE, tee, unix_now,
};
use crate::body::ProxyBody;

impl Pending {
    /// Labels the upstream's answer and, when it may be stored, copies it into the cache
    /// as it streams to the client.
    pub(crate) fn finish(self, mut res: Response<ProxyBody>) -> Response<ProxyBody> {
        let Some(miss) = self.miss else {
            res.headers_mut()
                .insert(X_CACHE.clone(), HeaderValue::from_static("BYPASS"));
            return res;
        };
        res.headers_mut()
            .insert(X_CACHE.clone(), HeaderValue::from_static("MISS"));
        let Some(fill) = self.cache.fill(*miss, &res) else {
            return res;
        };
        res.map(|body| ProxyBody::boxed(tee::Tee::new(body, fill)))
    }
}

impl RouteCache {
    /// How the answer is stored, or `None` when it may not be.
    pub(super) fn fill(self: &Arc<Self>, miss: Miss, res: &Response<ProxyBody>) -> Option<Fill> {
        let h = res.headers();
        if miss.head
            || !STORED_STATUSES.contains(&res.status().as_u16())
            || h.contains_key(header::SET_COOKIE)
        {
            return None;
        }
        let d = Directives::of(h);
        if d.no_store || d.private || d.no_cache || (miss.auth && !d.shareable_with_auth()) {
            return None;
        }
        let lifetime = match d.s_maxage.or(d.max_age) {
            Some(s) => Duration::from_secs(s),
            None => self.cfg.ttl?,
        };
        let initial_age = h
            .get(header::AGE)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        let ttl = lifetime
            .checked_sub(Duration::from_secs(initial_age))
            .filter(|t| !t.is_zero())?;
        if http_body::Body::size_hint(res.body()).lower() > self.cfg.max_body {
            return None;
        }
        let variants = match vary_of(h)? {
            names if names.is_empty() => None,
            names => {
                let names: Arc<[HeaderName]> = names.into();
                Some((key::variant(&miss.primary, &names, &miss.headers), names))
            }
        };
        let mut headers = h.clone();
        headers.remove(&X_CACHE);
        headers.remove(header::AGE);
        Some(Fill {
            cache: self.clone(),
            key: miss.primary,
            variants,
            status: res.status().as_u16(),
            headers,
            ttl,
            initial_age,
            auth_ok: d.shareable_with_auth(),
            max_body: self.cfg.max_body,
            flight: miss.flight,
        })
    }
}

/// The request headers a response varies by; `None` for `Vary: *` (never stored).
fn vary_of(h: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names: Vec<HeaderName> = Vec::new();
    for v in h.get_all(header::VARY) {
        for part in v.to_str().ok()?.split(',') {
            let part = part.trim();
            if part == "*" {
                return None;
            }
            if part.is_empty() {
                continue;
            }
            let name = HeaderName::from_bytes(part.as_bytes()).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    Some(names)
}

impl Fill {
    /// Stores the complete body.
    pub(super) fn store(mut self, body: Bytes) {
        let mut headers = std::mem::take(&mut self.headers);
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        headers.remove(header::TRANSFER_ENCODING);
        let entry = Stored::Response(Arc::new(Cached {
            status: self.status,
            headers,
            body,
            stored_at: unix_now(),
            initial_age: self.initial_age,
            auth_ok: self.auth_ok,
        }));
        let entries = match self.variants.take() {
            Some((k, names)) => vec![(k, entry), (self.key, Stored::Variants(names))],
            None => vec![(self.key, entry)],
        };
        let flight = self.flight.take();
        self.cache.put(entries, self.ttl, flight);
    }
}
